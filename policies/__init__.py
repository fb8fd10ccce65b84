"""The `engram-sop` policy pack: importable rules under `policies.rules`, the pack in `__main__`."""
