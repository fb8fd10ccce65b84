"""A local stand-in for the Azure Resource Manager endpoints of one container app (never shipped).

Just what `engram rollback` calls through `azure-mgmt-appcontainers`, with ARM's response shapes:
`GET .../containerApps/{app}`, `GET .../containerApps/{app}/revisions`,
`POST .../revisions/{rev}/activate`, `POST .../revisions/{rev}/restart` (`engram secrets rotate`) and
`PATCH .../containerApps/{app}` (merging `properties.configuration.ingress`, answering 200 with the
updated app). Requests are recorded, so a test
can assert what went over the wire. Point the SDK at it with `base_url=double.url`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.doubles.server import LoopbackServer

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
_PREFIX = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.App/containerApps/{app}"


@dataclass
class FakeRevision:
    suffix: str
    created: str  # RFC 3339
    active: bool = True
    weight: int = 0
    health: str = "Healthy"
    provisioning: str = "Provisioned"


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeContainerApp:
    resource_group: str
    name: str
    revisions: list[FakeRevision]
    mode: str = "Multiple"
    target_port: int = 8080
    requests: list[Recorded] = field(default_factory=list)

    def revision_name(self, suffix: str) -> str:
        return f"{self.name}--{suffix}"

    @property
    def fqdn(self) -> str:
        return f"{self.name}.example-env.eastus2.azurecontainerapps.io"

    def traffic(self) -> list[dict[str, Any]]:
        return [
            {"revisionName": self.revision_name(r.suffix), "weight": r.weight}
            for r in self.revisions
            if r.weight
        ]

    def app_body(self) -> dict[str, Any]:
        latest = self.revision_name(self.revisions[-1].suffix)
        return {
            "id": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.App/containerApps/{self.name}",
            "name": self.name,
            "type": "Microsoft.App/containerApps",
            "location": "East US 2",
            "properties": {
                "provisioningState": "Succeeded",
                "latestRevisionName": latest,
                "latestReadyRevisionName": latest,
                "configuration": {
                    "activeRevisionsMode": self.mode,
                    "ingress": {
                        "fqdn": self.fqdn,
                        "external": True,
                        "targetPort": self.target_port,
                        "transport": "Auto",
                        "allowInsecure": False,
                        "traffic": self.traffic(),
                    },
                },
            },
        }

    def revision_body(self, revision: FakeRevision) -> dict[str, Any]:
        name = self.revision_name(revision.suffix)
        return {
            "id": self.app_body()["id"] + f"/revisions/{name}",
            "name": name,
            "type": "Microsoft.App/containerApps/revisions",
            "properties": {
                "createdTime": revision.created,
                "fqdn": f"{name}.example-env.eastus2.azurecontainerapps.io",
                "active": revision.active,
                "replicas": 1 if revision.active else 0,
                "trafficWeight": revision.weight,
                "healthState": revision.health if revision.active else "None",
                "provisioningState": revision.provisioning,
                "runningState": "Running" if revision.active else "Stopped",
            },
        }


class ArmDouble:
    def __init__(self, app: FakeContainerApp) -> None:
        self.app = app
        base = _PREFIX.format(sub=SUBSCRIPTION, rg="{rg}", app="{app}")
        web_app = web.Application()
        web_app.router.add_get(base, self._get_app)
        web_app.router.add_patch(base, self._patch_app)
        web_app.router.add_get(base + "/revisions", self._list_revisions)
        web_app.router.add_post(base + "/revisions/{rev}/activate", self._activate)
        web_app.router.add_post(base + "/revisions/{rev}/restart", self._restart)
        self._server = LoopbackServer(web_app)

    @property
    def url(self) -> str:
        return self._server.url

    async def __aenter__(self) -> ArmDouble:
        await self._server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._server.stop()

    @property
    def requests(self) -> list[Recorded]:
        return self.app.requests

    async def _record(self, request: web.Request) -> web.Response | None:
        body = await request.json() if request.can_read_body else None
        self.app.requests.append(Recorded(request.method, request.path, dict(request.headers), body))
        if "api-version" not in request.query:
            return _error(400, "MissingApiVersionParameter", "The api-version query parameter is required.")
        if not request.headers.get("Authorization", "").startswith("Bearer "):
            return _error(401, "AuthenticationFailed", "Authentication failed.")
        info = request.match_info
        if info["rg"].lower() != self.app.resource_group.lower() or info["app"] != self.app.name:
            return _error(404, "ResourceNotFound", f"The Resource '{info['app']}' was not found.")
        return None

    async def _get_app(self, request: web.Request) -> web.Response:
        return await self._record(request) or web.json_response(self.app.app_body())

    async def _list_revisions(self, request: web.Request) -> web.Response:
        refused = await self._record(request)
        if refused:
            return refused
        return web.json_response({"value": [self.app.revision_body(r) for r in self.app.revisions]})

    async def _activate(self, request: web.Request) -> web.Response:
        refused = await self._record(request)
        if refused:
            return refused
        for revision in self.app.revisions:
            if self.app.revision_name(revision.suffix) == request.match_info["rev"]:
                revision.active = True
                return web.Response(status=200)
        return _error(404, "ContainerAppRevisionNotFound", "revision not found")

    async def _restart(self, request: web.Request) -> web.Response:
        refused = await self._record(request)
        if refused:
            return refused
        for revision in self.app.revisions:
            if self.app.revision_name(revision.suffix) == request.match_info["rev"] and revision.active:
                return web.Response(status=200)
        return _error(404, "ContainerAppRevisionNotFound", "revision not found or not active")

    async def _patch_app(self, request: web.Request) -> web.Response:
        refused = await self._record(request)
        if refused:
            return refused
        body = self.app.requests[-1].body
        traffic = body["properties"]["configuration"]["ingress"]["traffic"]
        weights = {t["revisionName"]: t["weight"] for t in traffic}
        for revision in self.app.revisions:
            revision.weight = weights.get(self.app.revision_name(revision.suffix), 0)
        return web.json_response(self.app.app_body())


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)
