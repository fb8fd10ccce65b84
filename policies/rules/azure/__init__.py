"""The deployability rule set (`AZ-*`): what Azure itself refuses at creation, what a tier cannot do,
and the pairings a resource needs to work once deployed.

The SOP rules (`SOP-*`) say what the operating procedure demands; these say what Azure demands, so a
plan that passes them is one Azure would accept. Every rule names, in `Rule.source`, the Azure document,
REST API spec or provider issue it encodes. They apply at every level (Azure does not care which
environment a resource belongs to) and are mandatory: a violation is a failed or useless deployment.
Each module covers one service; its docstring lists its rules.
"""

from __future__ import annotations

from ..common import Entry
from . import (
    ai_services,
    apim,
    container_apps,
    entra,
    eventgrid,
    keyvault,
    monitor,
    paths,
    postgres,
    private_link,
    redis,
    registry,
    static_sites,
    storage,
    vnet,
)

CATALOGUE: list[Entry] = [
    *apim.CATALOGUE,
    *ai_services.CATALOGUE,
    *container_apps.CATALOGUE,
    *registry.CATALOGUE,
    *postgres.CATALOGUE,
    *redis.CATALOGUE,
    *keyvault.CATALOGUE,
    *static_sites.CATALOGUE,
    *storage.CATALOGUE,
    *private_link.CATALOGUE,
    *monitor.CATALOGUE,
    *eventgrid.CATALOGUE,
    *entra.CATALOGUE,
    *vnet.CATALOGUE,
    *paths.CATALOGUE,  # AZ-PATH-001: every runtime network path reachable
]
