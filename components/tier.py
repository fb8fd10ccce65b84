"""TierArgs: what every tier's args begin with, where its resources go (resource group, region, tags).

The platform fills these three from the profile once (`components/platform.py`); a tier hands them on
to the private endpoint it creates (`components/private_endpoint.private_endpoint`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi


@dataclass(frozen=True, kw_only=True)
class TierArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    tags: Mapping[str, str]  # the profile's tags; the policy pack keys off them
