"""AZ-ACR-*: registry names and tier-only features."""

from __future__ import annotations

from policies.rules.azure import registry as rules
from tests.policies.builders import REGISTRY, messages, registry, run_resource

NAME, PREMIUM, ANONYMOUS = rules.CATALOGUE


def _registry(sku: str = "Premium") -> dict[str, object]:
    props = registry()
    props["sku"] = {"name": sku}
    props["publicNetworkAccess"] = "Disabled"
    return props


def test_compliant_registry_passes() -> None:
    for entry in rules.CATALOGUE:
        assert run_resource(entry, REGISTRY, _registry()) == []


def test_hyphenated_name_is_refused() -> None:
    props = _registry()
    props["registryName"] = "acr-engram"
    assert messages(run_resource(NAME, REGISTRY, props)) == [
        "Container registry registryName 'acr-engram' is not 5-50 letters and digits; rename it (no hyphens: "
        "it becomes <name>.azurecr.io)."
    ]


def test_network_restrictions_need_premium() -> None:
    props = _registry("Standard")
    assert messages(run_resource(PREMIUM, REGISTRY, props)) == [
        "Container registry sku is 'Standard' but uses publicNetworkAccess=\"Disabled\"; set sku.name to "
        '"Premium" or drop them.'
    ]


def test_anonymous_pull_needs_standard() -> None:
    props = _registry("Basic")
    del props["publicNetworkAccess"]
    props["anonymousPullEnabled"] = True
    assert messages(run_resource(ANONYMOUS, REGISTRY, props)) == [
        "Container registry sku is 'Basic' with anonymousPullEnabled=true; use sku \"Standard\" or "
        '"Premium", or turn anonymous pull off.'
    ]
