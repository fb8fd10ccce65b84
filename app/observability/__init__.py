"""Logging with redaction and request ids; the telemetry signal names (one place for the alert rules)."""
