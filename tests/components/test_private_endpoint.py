"""PrivateEndpoint: its args refuse a target without a DNS zone."""

from __future__ import annotations

import pytest

from components.private_endpoint import PrivateEndpointArgs, PrivateLinkPlacement
from components.static_site import StaticSiteArgs


def test_private_endpoint_needs_its_dns_zone() -> None:
    placement = PrivateLinkPlacement(subnet_id="snet", zone_ids={"vault": ["zone"]})
    with pytest.raises(ValueError, match="no private DNS zone was provisioned for group id 'account'"):
        PrivateEndpointArgs(
            resource_group_name="rg",
            location="eastus2",
            tags={},
            target_id="x",
            group_id="account",
            placement=placement,
        )
    with pytest.raises(ValueError, match="Standard SKU"):
        StaticSiteArgs(
            resource_group_name="rg", location="eastus2", tags={}, sku="Free", private_link=placement
        )
