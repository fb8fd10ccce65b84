"""Runtime paths: every network path the running service needs must be reachable in the plan.

AZ-PATH-001  stack policy: each required path (browser -> UI/API, API -> gateway, gateway -> AI Services,
             API -> VoiceLive, PostgreSQL, Key Vault references, registry pull, Zep, telemetry) has a
             route - a public endpoint the source may use, or a private endpoint whose DNS zone is right
             and linked to the source's VNet. The model is `policies/paths.py` (planned resources only).

An unreachable path is a violation on the target, naming the hop that fails and the fix. When no path is
unreachable but one depends on a value unknown at preview, the policy is undecided (the analyzer's
advisory "can't run during preview") and runs again at `pulumi up`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy.proxy import UnknownValueError

from ..common import Entry, StackResource
from ._factory import rule_maker

try:  # in the repository (`engram check`, tests)
    from policies import paths as model
except ImportError:  # the standalone pack runs with policies/ itself on sys.path
    import paths as model  # type: ignore[no-redef]


class PathsUndecided(UnknownValueError):
    """Some path depends on a value unknown at preview (and none is unreachable)."""

    def __init__(self, message: str) -> None:
        Exception.__init__(self, message)
        self.unknown_type_sentinel = ""
        self.props: list[str] = []
        self.message = message


def check_paths(
    resources: Sequence[StackResource], stack_tags: Mapping[str, str], config: Mapping[str, Any]
) -> list[tuple[str, str]]:
    results = model.analyse(resources)
    broken = model.unreachable(results)
    if broken:
        return [(model.describe(r), r.urn or "") for r in broken]
    undecided = [r for r in results if r.verdict == model.UNDECIDED]
    if undecided:
        raise PathsUndecided("; ".join(model.describe(r) for r in undecided))
    return []


RUNTIME_PATHS = rule_maker("PATH", types=("stack",))(
    1,
    "engram-stack-network-require-reachable-paths",
    "Every network path the running service needs must be reachable in the planned network.",
    "A deployment can succeed and still not work: a private endpoint whose DNS zone is not linked to "
    "the caller's VNet, a gateway with no way into the VNet, a database firewall with no rule, an "
    "internal environment whose name resolves nowhere. Each is an outage found only at runtime.",
    "Follow the fix in the message: e.g. link the private DNS zone to the caller's VNet, give the "
    "gateway VNet injection, add a PostgreSQL firewall rule or a private endpoint; `engram check` "
    "prints every path with its route.",
    "https://learn.microsoft.com/azure/private-link/private-endpoint-dns",
)

CATALOGUE: list[Entry] = [RUNTIME_PATHS.stack(check_paths)]
