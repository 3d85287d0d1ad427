"""Configuration as code: validate, apply and export the YAML file (tocsin check/apply/export)."""
