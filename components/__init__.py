"""Pulumi component resources, one tier per module, composed by `components.platform`."""
