"""`rollback` through the real azure-mgmt-appcontainers client against a local ARM stand-in.

Checks the revision chosen (previous healthy, a named one, skipping failed ones), the activation of an
inactive target, the minimal PATCH that moves traffic (ingress settings kept), and each refusal.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.mgmt.appcontainers.aio import ContainerAppsAPIClient

from app.ops.rollback import RollbackError, rollback
from tests.doubles.arm_server import SUBSCRIPTION, ArmDouble, FakeContainerApp, FakeRevision

RG, APP = "rg-engram-prod", "engram-prod-api"


class StaticToken(SansIOHTTPPolicy):  # type: ignore[type-arg]
    """Stands in for the bearer-token policy (which insists on https) with a fixed test token."""

    def on_request(self, request: Any) -> None:
        request.http_request.headers["Authorization"] = "Bearer test-arm-token"


class NoCredential:
    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:  # pragma: no cover - unused
        raise AssertionError("the static policy signs requests")

    async def close(self) -> None:
        return None


def three_revisions(**changes: Any) -> FakeContainerApp:
    revisions = [
        FakeRevision("r1", "2026-01-01T10:00:00Z", active=False),
        FakeRevision("r2", "2026-01-02T10:00:00Z", active=False),
        FakeRevision("r3", "2026-01-03T10:00:00Z", weight=100),
    ]
    return FakeContainerApp(RG, APP, revisions, **changes)


@pytest.fixture
async def arm() -> AsyncIterator[ArmDouble]:
    async with ArmDouble(three_revisions()) as double:
        yield double


def client_for(double: ArmDouble) -> ContainerAppsAPIClient:
    return ContainerAppsAPIClient(
        NoCredential(),  # type: ignore[arg-type]
        SUBSCRIPTION,
        base_url=double.url,
        authentication_policy=StaticToken(),
        polling_interval=0,
    )


async def test_previous_revision_is_activated_and_takes_all_traffic(arm: ArmDouble) -> None:
    async with client_for(arm) as client:
        result = await rollback(client, RG, APP)
    assert (result.previous, result.target, result.activated) == (f"{APP}--r3", f"{APP}--r2", True)
    assert result.app_url == f"https://{arm.app.fqdn}"
    assert arm.app.traffic() == [{"revisionName": f"{APP}--r2", "weight": 100}]
    patch = next(r for r in arm.requests if r.method == "PATCH")
    ingress = patch.body["properties"]["configuration"]["ingress"]
    assert ingress["targetPort"] == 8080 and ingress["external"] is True  # the rest of ingress is kept
    assert "fqdn" not in ingress and set(patch.body) == {"location", "properties"}
    assert set(patch.body["properties"]["configuration"]) == {"ingress"}  # nothing else is touched
    assert [r.method for r in arm.requests] == ["GET", "GET", "POST", "PATCH"]


async def test_a_named_revision_by_suffix(arm: ArmDouble) -> None:
    async with client_for(arm) as client:
        result = await rollback(client, RG, APP, "r1")
    assert result.target == f"{APP}--r1"
    assert arm.app.traffic() == [{"revisionName": f"{APP}--r1", "weight": 100}]


async def test_failed_revisions_are_skipped() -> None:
    app = three_revisions()
    app.revisions[1].provisioning = "Failed"
    async with ArmDouble(app) as double, client_for(double) as client:
        result = await rollback(client, RG, APP)
    assert result.target == f"{APP}--r1"


async def test_active_target_is_not_reactivated() -> None:
    app = three_revisions()
    app.revisions[1].active = True
    async with ArmDouble(app) as double, client_for(double) as client:
        result = await rollback(client, RG, APP)
    assert result.activated is False
    assert "POST" not in [r.method for r in double.requests]


@pytest.mark.parametrize(
    ("app", "revision", "message"),
    [
        (three_revisions(mode="Single"), None, "revision-mode|revision mode.*--mode multiple"),
        (three_revisions(), "r9", "does not exist.*--r1, .*--r2, .*--r3"),
        (
            FakeContainerApp(RG, APP, [FakeRevision("r1", "2026-01-01T10:00:00Z", weight=100)]),
            None,
            "no earlier",
        ),
        (FakeContainerApp("other-rg", APP, [FakeRevision("r1", "2026-01-01T10:00:00Z")]), None, "not found"),
    ],
)
async def test_refusals_say_why(app: FakeContainerApp, revision: str | None, message: str) -> None:
    async with ArmDouble(app) as double, client_for(double) as client:
        with pytest.raises(RollbackError, match=message):
            await rollback(client, RG, APP, revision)
    assert "PATCH" not in [r.method for r in double.requests]
