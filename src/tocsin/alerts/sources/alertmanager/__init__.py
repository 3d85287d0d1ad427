"""Prometheus Alertmanager's webhook receiver."""
