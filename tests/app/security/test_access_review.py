"""The monthly access review: identities from the trail (pseudonymised), admins first, dormant privileged
flagged, the app roles to compare with Entra, and the review's own record in the trail.

Runs on SQLite and PostgreSQL (the `engine` fixture), since the review is two aggregate queries.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.audit.trail import AuditEvent, AuditTrail
from app.db.engine import session_factory
from app.security.access_review import (
    CLIENT_ID_PLACEHOLDER,
    REVIEW_EVENT,
    ReviewError,
    parse_assignments,
    parse_period,
    run_review,
    stack_app_roles,
)
from app.security.entra import APP_ROLES as CLAIM_ROLES
from tests.app.audit.helpers import KEY

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
MONTH = timedelta(days=30)


def _event(user: str, roles: list[str], days_ago: float, tenant: str = "t1") -> AuditEvent:
    return AuditEvent(
        event="http",
        user_id=user,
        tenant_id=tenant,
        roles=roles,
        method="GET",
        route="/api/v1/agents",
        status=200,
        at=NOW - timedelta(days=days_ago),
    )


@pytest.fixture
def trail(engine: AsyncEngine) -> AuditTrail:
    return AuditTrail(session_factory(engine), KEY)


async def _seed(trail: AuditTrail) -> None:
    for event in (
        _event("old-admin", ["admin"], 90),  # privileged, silent for 60 days: dormant
        _event("old-admin", ["admin"], 45),
        _event("busy-admin", ["admin", "analyst"], 70),
        _event("busy-admin", ["admin", "analyst"], 2),
        _event("analyst", ["analyst"], 40),  # privileged and dormant
        _event("user-a", ["user"], 50),  # not privileged: never flagged
        _event("user-b", ["user"], 5),
        _event("user-b", ["user"], 1),
        _event("promoted", ["user"], 20),  # the roles of the newest record count
        _event("promoted", ["admin"], 3),
        AuditEvent(event="retention", detail={"episodes": 1}, at=NOW - timedelta(days=1)),  # no actor
    ):
        await trail.append(event)


async def test_review_orders_admins_first_and_flags_dormant_privileged(trail: AuditTrail) -> None:
    await _seed(trail)
    review = await run_review(trail, reviewer="reviewer@example.test", period=MONTH, now=NOW)
    refs = {
        trail.user_ref(name): name
        for name in ("old-admin", "busy-admin", "analyst", "user-a", "user-b", "promoted")
    }
    names = [refs[i.user_ref] for i in review.identities]
    # Admins first (the dormant one at the top), then analysts, then users by last activity.
    assert names == ["old-admin", "busy-admin", "promoted", "analyst", "user-b", "user-a"]
    by_name = {refs[i.user_ref]: i for i in review.identities}
    assert by_name["old-admin"].dormant and by_name["analyst"].dormant
    assert not by_name["user-a"].dormant  # a silent user is not privileged
    assert not by_name["busy-admin"].dormant and by_name["busy-admin"].records_in_period == 1
    assert by_name["promoted"].roles == ("admin",)
    assert by_name["old-admin"].first_activity == NOW - timedelta(days=90)
    assert by_name["old-admin"].last_activity == NOW - timedelta(days=45)
    assert review.counts == {
        "identities": 6,
        "admins": 3,
        "privileged": 4,
        "dormant_privileged": 2,
        "active_in_period": 3,
    }


async def test_review_never_shows_a_user_id(trail: AuditTrail) -> None:
    await _seed(trail)
    review = await run_review(trail, reviewer="reviewer@example.test", period=MONTH, now=NOW)
    text = str(review.as_dict())
    for name in ("old-admin", "busy-admin", "user-a", "reviewer@example.test"):
        assert name not in text


async def test_review_is_recorded_in_the_trail_and_is_not_activity(trail: AuditTrail) -> None:
    await _seed(trail)
    first = await run_review(trail, reviewer="reviewer@example.test", period=MONTH, now=NOW)
    second = await run_review(trail, reviewer="reviewer@example.test", period=MONTH, now=NOW)
    # The reviewer's own records do not make them an identity under review.
    assert len(second.identities) == len(first.identities) == 6
    records = [r for r in await trail.query(limit=1000) if r.event == REVIEW_EVENT]
    assert len(records) == 2
    assert records[0].user_ref == trail.user_ref("reviewer@example.test") == first.reviewer_ref
    assert records[0].detail["dormant_privileged"] == 2 and records[0].detail["identities"] == 6
    assert records[0].detail["since"] == (NOW - MONTH).isoformat(timespec="seconds")
    assert (await trail.verify()).ok


async def test_review_of_an_empty_trail(trail: AuditTrail) -> None:
    review = await run_review(trail, reviewer="r", period=MONTH, now=NOW)
    assert review.identities == [] and review.counts["identities"] == 0


async def test_compare_with_entra_names_the_app_roles_and_the_graph_call(trail: AuditTrail) -> None:
    review = await run_review(
        trail, reviewer="r", period=MONTH, now=NOW, client_id="00000000-1111-2222-3333-444444444444"
    )
    assert (
        "servicePrincipals(appId='00000000-1111-2222-3333-444444444444')/appRoleAssignedTo"
        in review.az_command
    )
    assert review.az_command.startswith("az rest --method GET --url ")
    without = await run_review(trail, reviewer="r", period=MONTH, now=NOW)
    assert CLIENT_ID_PLACEHOLDER in without.graph_url
    assert any("apiClientId" in note for note in without.notes)


def test_app_roles_are_the_stacks_with_the_ids_entra_uses() -> None:
    from components.identity import APP_ROLE_NAMESPACE, APP_ROLES

    roles, notes = stack_app_roles()
    assert notes == []
    assert [r.value for r in roles] == [value for value, _ in APP_ROLES]
    assert {r.value: r.id for r in roles} == {v: str(uuid.uuid5(APP_ROLE_NAMESPACE, v)) for v, _ in APP_ROLES}
    # Every role the app registration defines is one the service maps, and the other way round.
    assert {r.value for r in roles} == set(CLAIM_ROLES)
    assert {r.value: r.service_role for r in roles} == {k: v.value for k, v in CLAIM_ROLES.items()}


async def test_blank_reviewer_is_refused(trail: AuditTrail) -> None:
    with pytest.raises(ReviewError, match="--reviewer"):
        await run_review(trail, reviewer="  ", period=MONTH)


@pytest.mark.parametrize(
    ("text", "hours"), [("30d", 720), ("4w", 672), ("720h", 720), ("1h", 1), ("730d", 17520)]
)
def test_parse_period(text: str, hours: int) -> None:
    assert parse_period(text) == timedelta(hours=hours)


@pytest.mark.parametrize("text", ["30", "d", "-3d", "3y", "0h", "731d", "3.5d", ""])
def test_parse_period_refuses(text: str) -> None:
    with pytest.raises(ReviewError, match="--since"):
        parse_period(text)


def _graph(*rows: tuple[str, str, str]) -> dict[str, object]:
    """The Graph answer's shape: principalId, principalType, appRoleId (plus fields we ignore)."""
    ids = {r.value: r.id for r in stack_app_roles()[0]}
    return {
        "value": [
            {
                "principalId": p,
                "principalType": t,
                "appRoleId": ids.get(role, role),
                "principalDisplayName": "x",
            }
            for p, t, role in rows
        ]
    }


async def test_assignments_are_matched_to_activity(trail: AuditTrail) -> None:
    await _seed(trail)
    document = _graph(
        ("busy-admin", "User", "engram.admin"),  # active in the period
        ("old-admin", "User", "engram.admin"),  # seen, but not in the period
        ("never-signed-in", "User", "engram.analyst"),  # holds a role, never used it
        ("group-1", "Group", "engram.user"),
    )
    assignments = parse_assignments(document, stack_app_roles()[0])
    review = await run_review(trail, reviewer="r", period=MONTH, now=NOW, assignments=assignments)
    assert review.assignments is not None
    states = [(m.principal_id, m.app_role, m.state) for m in review.assignments]
    assert states == [
        ("never-signed-in", "engram.analyst", "never-used"),
        ("old-admin", "engram.admin", "dormant"),
        ("group-1", "engram.user", "group"),
        ("busy-admin", "engram.admin", "active"),
    ]
    old = next(m for m in review.assignments if m.principal_id == "old-admin")
    assert old.user_ref == trail.user_ref("old-admin") and old.last_activity == NOW - timedelta(days=45)
    assert review.counts["assignments"] == 4 and review.counts["assignments_never_used"] == 1
    record = [r for r in await trail.query(limit=1000) if r.event == REVIEW_EVENT][-1]
    assert record.detail["assignments_never_used"] == 1
    assert "never-signed-in" not in str(record.detail)  # object ids stay out of the trail


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"nope": 1}, "Graph answer"),
        ({"value": [{"appRoleId": "x"}]}, "entry 0 has no principalId"),
        ("x", "Graph"),
    ],
)
def test_bad_assignments_are_refused(document: object, message: str) -> None:
    with pytest.raises(ReviewError, match=message):
        parse_assignments(document, stack_app_roles()[0])


def test_az_command_survives_a_posix_shell() -> None:
    """`$select` must reach Graph: unescaped inside double quotes the shell would expand it to nothing."""
    import subprocess

    from app.security.access_review import GRAPH_ASSIGNMENTS, AccessReview

    url = GRAPH_ASSIGNMENTS.format(client_id="abc")
    review = AccessReview("ref", NOW, NOW - MONTH, [], [], url)
    assert review.az_command.startswith("az rest --method GET --url ")
    echo = review.az_command.replace("az rest --method GET --url", "printf %s", 1)
    shown = subprocess.run(["bash", "-c", echo], capture_output=True, text=True, check=True).stdout
    assert shown == url and "$select=" in shown
