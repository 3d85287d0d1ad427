"""Grafana unified alerting's webhook contact point."""
