"""The `engram-sop` rule catalogue: every rule with its metadata and its pulumi-policy object.

Rules look only at resources, their tags and the stack, never at the program's code, so the pack
judges any stack. Nothing here starts the policy server: `policies/__main__.py` does that.
"""

from __future__ import annotations

from pulumi_policy import Policy

from . import (
    app_settings,
    audit,
    azure,
    database,
    hosting,
    identity,
    keyvault,
    network,
    recordings,
    secrets,
    tagging,
)
from .common import Entry, Rule

CATALOGUE: list[Entry] = [
    *network.CATALOGUE,
    *keyvault.CATALOGUE,
    *database.CATALOGUE,
    *recordings.CATALOGUE,
    *hosting.CATALOGUE,
    *app_settings.CATALOGUE,
    *secrets.CATALOGUE,
    *audit.CATALOGUE,
    *identity.CATALOGUE,
    *tagging.CATALOGUE,
    *azure.CATALOGUE,  # deployability: Azure's own rules, each citing its source
]


def all_policies() -> list[Policy]:
    return [entry.policy for entry in CATALOGUE]


def rule_by_name() -> dict[str, Rule]:
    return {entry.rule.name: entry.rule for entry in CATALOGUE}


def default_config() -> dict[str, dict[str, object]]:
    """Each policy's config with the schema defaults filled in, as `pulumi` would send it."""
    config: dict[str, dict[str, object]] = {}
    for entry in CATALOGUE:
        schema = entry.rule.config_schema
        if schema is not None:
            config[entry.rule.name] = {
                key: prop["default"] for key, prop in schema.properties.items() if "default" in prop
            }
    return config
