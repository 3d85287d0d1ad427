"""PagerDuty's Events API v2 (alert events and change events), wire-compatible."""
