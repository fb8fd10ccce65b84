"""StaticSite: the SKU per stack and the partition DNS zone."""

from __future__ import annotations

from components.static_site import partition_zone
from policies.plan import OfflinePlan


def test_static_web_app_sku(plan: OfflinePlan) -> None:
    sites = plan.of_type("azure-native:web:StaticSite")
    if plan.stack == "dev":
        assert sites == []
        return
    expected = "Standard" if plan.stack in ("uat", "prod") else "Free"
    assert sites[0].inputs["sku"] == {"name": expected, "tier": expected}


def test_static_site_partition_zone() -> None:
    assert partition_zone("nice-rock-0a1.2.azurestaticapps.net") == "privatelink.2.azurestaticapps.net"
    assert partition_zone("nice-rock-0a1.azurestaticapps.net") == "privatelink.azurestaticapps.net"
