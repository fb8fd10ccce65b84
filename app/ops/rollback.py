"""Roll the Engram API back to an earlier Container Apps revision (SOP 6.5), through the Azure SDK.

We use `azure-mgmt-appcontainers` (async client) rather than shelling out to `az`: the pipeline and an
on-call laptop need only Python and a credential (`DefaultAzureCredential`: `az login`, the workflow's
OIDC identity or a managed identity), and the tests run the real SDK against a local stand-in for the
Azure Resource Manager endpoints (`base_url` is a client parameter).

The steps: read the app and its revisions, choose the target (the revision asked for, or the newest
revision created before the one serving traffic that provisioned and is not unhealthy), activate it if
it is inactive, then move 100 % of the ingress traffic to it. Pinning traffic to one revision needs the
app in multiple-revision mode (blue-green already runs it so). Infrastructure is not rolled back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azure.mgmt.appcontainers.aio import ContainerAppsAPIClient

_EPOCH = datetime.min.replace(tzinfo=UTC)


class RollbackError(Exception):
    """The rollback cannot proceed; the message says why and what to do."""


@dataclass(frozen=True)
class Revision:
    name: str
    created: datetime
    active: bool
    traffic_weight: int
    health: str  # Healthy | Unhealthy | None
    provisioning: str  # Provisioning | Provisioned | Failed
    fqdn: str | None

    @property
    def usable(self) -> bool:
        """Provisioned and not reported unhealthy (inactive revisions report health None)."""
        return self.provisioning == "Provisioned" and self.health != "Unhealthy"


@dataclass(frozen=True)
class RollbackResult:
    app: str
    resource_group: str
    previous: str | None  # the revision that served traffic before
    target: str
    activated: bool  # the target was inactive and had to be activated
    app_url: str | None  # https://<app ingress fqdn>, for the verification that follows


def _text(value: Any) -> str:
    return str(getattr(value, "value", value)) if value is not None else "None"


def _revision(model: Any) -> Revision:
    props = model.properties
    return Revision(
        name=model.name,
        created=props.created_time or _EPOCH,
        active=bool(props.active),
        traffic_weight=int(props.traffic_weight or 0),
        health=_text(props.health_state),
        provisioning=_text(props.provisioning_state),
        fqdn=props.fqdn,
    )


def serving_revision(app: Any) -> str | None:
    """The revision taking the largest share of traffic (resolving `latestRevision` entries)."""
    props = app.properties
    ingress = props.configuration.ingress if props.configuration else None
    weights = list(ingress.traffic or []) if ingress else []
    if not weights:
        return props.latest_ready_revision_name or props.latest_revision_name  # type: ignore[no-any-return]
    top = max(weights, key=lambda w: w.weight or 0)
    if top.latest_revision:
        return props.latest_ready_revision_name or props.latest_revision_name  # type: ignore[no-any-return]
    return top.revision_name  # type: ignore[no-any-return]


def choose_target(
    revisions: list[Revision], serving: str | None, requested: str | None, app_name: str
) -> Revision:
    """The revision to roll back to, or a RollbackError naming the candidates."""
    by_name = {r.name: r for r in revisions}
    if requested:
        name = requested if "--" in requested else f"{app_name}--{requested}"  # a bare suffix is accepted
        if name not in by_name:
            known = ", ".join(sorted(by_name)) or "none"
            raise RollbackError(f"revision {name!r} does not exist on {app_name}; revisions: {known}")
        target = by_name[name]
        if target.provisioning != "Provisioned":
            raise RollbackError(f"revision {name!r} is {target.provisioning}, not Provisioned; pick another")
        return target
    current = by_name.get(serving or "")
    if current is None:
        raise RollbackError("cannot tell which revision serves traffic; name one with --revision")
    older = [r for r in revisions if r.created < current.created and r.name != current.name and r.usable]
    if not older:
        raise RollbackError(
            f"no earlier healthy revision than {current.name}; revisions are kept only while Container Apps "
            "retains them - deploy the previous image instead"
        )
    return max(older, key=lambda r: r.created)


async def rollback(
    client: ContainerAppsAPIClient, resource_group: str, app_name: str, revision: str | None = None
) -> RollbackResult:
    """Move all traffic to the chosen earlier revision; returns what was done."""
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
    from azure.mgmt.appcontainers.models import ContainerApp

    try:
        app: Any = await client.container_apps.get(resource_group, app_name)
    except ResourceNotFoundError:
        raise RollbackError(
            f"container app {app_name!r} not found in resource group {resource_group!r}"
        ) from None
    except HttpResponseError as exc:
        raise RollbackError(f"Azure refused to read the container app (HTTP {exc.status_code})") from None
    configuration = app.properties.configuration
    mode = _text(configuration.active_revisions_mode if configuration else None)
    if mode != "Multiple":
        raise RollbackError(
            f"{app_name} runs in {mode} revision mode; pinning traffic to an earlier revision needs "
            f"multiple-revision mode (az containerapp revision set-mode -g {resource_group} -n {app_name} "
            "--mode multiple), which blue-green deployments use"
        )
    if configuration.ingress is None:
        raise RollbackError(f"{app_name} has no ingress: there is no traffic to move")
    revisions = [
        _revision(r) async for r in client.container_apps_revisions.list_revisions(resource_group, app_name)
    ]
    serving = serving_revision(app)
    target = choose_target(revisions, serving, revision, app_name)
    activated = False
    try:
        if not target.active:
            await client.container_apps_revisions.activate_revision(resource_group, app_name, target.name)
            activated = True
        ingress = {k: v for k, v in dict(configuration.ingress).items() if k != "fqdn"}  # fqdn is read-only
        ingress["traffic"] = [{"revisionName": target.name, "weight": 100}]
        body: dict[str, Any] = {
            "location": app.location,
            "properties": {"configuration": {"ingress": ingress}},
        }
        envelope = ContainerApp(body)  # only these keys go on the wire: a minimal PATCH
        poller = await client.container_apps.begin_update(resource_group, app_name, envelope)
        await poller.result()
    except HttpResponseError as exc:
        raise RollbackError(f"Azure refused the rollback to {target.name} (HTTP {exc.status_code})") from None
    fqdn = configuration.ingress.fqdn if configuration.ingress else None
    return RollbackResult(
        app=app_name,
        resource_group=resource_group,
        previous=serving,
        target=target.name,
        activated=activated,
        app_url=f"https://{fqdn}" if fqdn else None,
    )
