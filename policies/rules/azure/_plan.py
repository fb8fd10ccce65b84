"""Reading links between resources of a plan, for the deployability stack rules.

A link is a property whose value is another resource's id or name. At preview the id is unknown, so a
link is found first through the property's dependencies (the URNs the engine reports for it), then
through a known id string whose last segment names the target.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from ..common import StackResource, depends_on, is_list, is_map, items, peek

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def last_segment(arm_id: Any) -> str | None:
    """`/subscriptions/.../privateDnsZones/privatelink.x.net` -> `privatelink.x.net` (lower case)."""
    if not isinstance(arm_id, str) or "/" not in arm_id:
        return None
    return arm_id.rstrip("/").rsplit("/", 1)[-1].lower() or None


def id_names(value: Any, segment: str) -> str | None:
    """The name after `/<segment>/` in an ARM id (case-insensitive), or None."""
    if not isinstance(value, str):
        return None
    lowered = value.lower()
    marker = f"/{segment.lower()}/"
    if marker not in lowered:
        return None
    return lowered.split(marker, 1)[1].split("/", 1)[0] or None


def linked(
    resource: StackResource,
    key: str,
    targets: Iterable[StackResource],
    value: Any = None,
    name_key: str | None = None,
    segment: str | None = None,
) -> list[StackResource]:
    """The targets `resource` links to through `key`: by dependency, else by the id's name segment."""
    found = [t for t in targets if depends_on(resource, key, t)]
    if found or value is None or name_key is None:
        return found
    wanted = id_names(value, segment) if segment else last_segment(value)
    if wanted is None and isinstance(value, str) and "/" not in value:
        wanted = value.lower()
    if not wanted:
        return []
    return [t for t in targets if str(peek(t.props, name_key) or "").lower() == wanted]


def networks(prefixes: Iterable[Any]) -> list[Network]:
    """The CIDR prefixes that parse (unknown or malformed ones are skipped)."""
    found: list[Network] = []
    for prefix in prefixes:
        if isinstance(prefix, str):
            try:
                found.append(ipaddress.ip_network(prefix, strict=False))
            except ValueError:
                continue
    return found


def address_prefixes(vnet_props: Mapping[str, Any]) -> list[Network]:
    space = peek(vnet_props, "addressSpace")
    if not is_map(space):
        return []
    return networks(_list(peek(space, "addressPrefixes")))


def _list(value: Any) -> list[Any]:
    return list(value) if is_list(value) else []


def subnet_prefixes(subnet_props: Mapping[str, Any]) -> list[Network]:
    """A subnet's `addressPrefix` and `addressPrefixes`, whichever are set."""
    single = peek(subnet_props, "addressPrefix")
    many = peek(subnet_props, "addressPrefixes")
    return networks([single, *_list(many)])


def delegations(subnet_props: Mapping[str, Any]) -> list[str]:
    """Service names a subnet is delegated to (`Microsoft.App/environments`, ...), lower case."""
    names: list[str] = []
    for delegation in items(subnet_props, "delegations") if "delegations" in list(subnet_props) else []:
        if not is_map(delegation):
            continue
        service = peek(delegation, "serviceName")
        if not isinstance(service, str):
            service = peek(peek(delegation, "properties", {}) or {}, "serviceName")
        if isinstance(service, str):
            names.append(service.lower())
    return names
