"""The monthly access review (SOP 6.7): who used the service, with which roles, and who should lose them.

The review is built from the audit trail alone, so it names identities only by their pseudonym (the
keyed hash the trail stores; `engram audit` and erasure use the same key) and never by name: the
reviewer resolves a pseudonym to a person in Entra, where the assignments are changed. Each identity
carries the roles of its newest record, its first and last activity and its activity in the period.
Admins come first, then analysts, then the rest; a privileged identity (admin or analyst: both read
beyond their own memory) with no activity in the period is flagged dormant, the first candidate for
removal.

The trail cannot show who holds a role but never signed in. That is why the review also lists the app
roles of the stack's Entra app registration and the Graph call that lists their assignments. Given that
call's output (`assignments`), the review joins the two: each assignment's principal id (the Entra
object id, the same id the service pseudonymises) is pseudonymised with the trail's key and matched to
its activity, so assignments never used, or not used in the period, stand out; groups are marked, since
their members' use cannot be told apart here.

Running a review appends an `access.review` record (who ran it, the period, the counts) to the trail,
so the trail itself shows that the monthly review happened.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

from app.audit.trail import ActorActivity, AuditEvent, AuditTrail
from app.security.entra import APP_ROLES as CLAIM_ROLES
from app.security.identity import Role

#: The audit event a review leaves; its own records are not activity of the identities reviewed.
REVIEW_EVENT = "access.review"
#: Roles whose holders read beyond their own memory (ROLE_PERMISSIONS): dormant holders are flagged.
PRIVILEGED = (Role.ADMIN, Role.ANALYST)
_RANK = {Role.ADMIN.value: 0, Role.ANALYST.value: 1, Role.USER.value: 2, Role.VIEWER.value: 3}

#: Graph lists a service principal's app role assignments; `appId` is the stack's `apiClientId` output.
GRAPH_ASSIGNMENTS = (
    "https://graph.microsoft.com/v1.0/servicePrincipals(appId='{client_id}')/appRoleAssignedTo"
    "?$select=principalDisplayName,principalType,principalId,appRoleId,createdDateTime"
)
CLIENT_ID_PLACEHOLDER = "<API_CLIENT_ID>"


class ReviewError(ValueError):
    """The review cannot be made as asked; the message says what to change."""


def parse_period(text: str) -> timedelta:
    """`30d`, `4w`, `720h`: the look-back of a review (1 hour to 2 years)."""
    units = {"h": 1, "d": 24, "w": 24 * 7}
    value, unit = text.strip()[:-1], text.strip()[-1:].lower()
    if unit not in units or not value.isdigit():
        raise ReviewError(f"--since must be a number followed by h, d or w (e.g. 30d), got {text!r}")
    hours = int(value) * units[unit]
    if not 1 <= hours <= 2 * 365 * 24:
        raise ReviewError(f"--since must be between 1h and 730d, got {text!r}")
    return timedelta(hours=hours)


@dataclass(frozen=True)
class ReviewedIdentity:
    user_ref: str  # the trail's pseudonym; resolve it in Entra, never print a name here
    tenant_id: str | None
    roles: tuple[str, ...]  # as of its newest record
    first_activity: datetime
    last_activity: datetime
    records_in_period: int
    privileged: bool
    dormant: bool  # privileged, and no activity in the period

    @property
    def rank(self) -> int:
        return min((_RANK.get(role, 4) for role in self.roles), default=4)


@dataclass(frozen=True)
class AppRole:
    """One app role of the stack's Entra app registration (`components/identity.py`)."""

    value: str
    id: str  # the appRoleId Graph reports in an assignment
    description: str
    service_role: str | None  # the service's role it maps to (app/security/entra.py)


AssignmentState = str  # active | dormant | never-used | group


@dataclass(frozen=True)
class Assignment:
    """One app role assignment as Graph lists it (`appRoleAssignedTo`)."""

    principal_id: str  # the Entra object id (the `oid` the service pseudonymises)
    principal_type: str  # User | Group | ServicePrincipal
    app_role: str  # the role value, or the appRoleId when it is not one of the stack's roles


@dataclass(frozen=True)
class AssignmentMatch:
    principal_id: str
    principal_type: str
    app_role: str
    user_ref: str | None  # its pseudonym; None for a group
    state: AssignmentState
    last_activity: datetime | None


def parse_assignments(document: object, app_roles: Sequence[AppRole]) -> list[Assignment]:
    """The Graph answer (`{"value": [...]}` or the bare list) as assignments; a clear error otherwise."""
    rows = document.get("value") if isinstance(document, dict) else document
    if not isinstance(rows, list):
        raise ReviewError('--assignments must hold the Graph answer: {"value": [ ...assignments... ]}')
    by_id = {role.id: role.value for role in app_roles if role.id}
    found: list[Assignment] = []
    for index, row in enumerate(rows):
        principal = row.get("principalId") if isinstance(row, dict) else None
        if not isinstance(principal, str) or not principal:
            raise ReviewError(f"--assignments: entry {index} has no principalId")
        role_id = str(row.get("appRoleId") or "")
        found.append(
            Assignment(principal, str(row.get("principalType") or "User"), by_id.get(role_id, role_id))
        )
    return found


def _match(
    assignments: Sequence[Assignment], by_ref: dict[str, ReviewedIdentity], trail: AuditTrail
) -> list[AssignmentMatch]:
    matches: list[AssignmentMatch] = []
    for a in assignments:
        if a.principal_type == "Group":
            matches.append(AssignmentMatch(a.principal_id, a.principal_type, a.app_role, None, "group", None))
            continue
        ref = trail.user_ref(a.principal_id)
        seen = by_ref.get(ref)
        if seen is None:
            state, last = "never-used", None
        else:
            state, last = ("active" if seen.records_in_period else "dormant"), seen.last_activity
        matches.append(AssignmentMatch(a.principal_id, a.principal_type, a.app_role, ref, state, last))
    order = {"never-used": 0, "dormant": 1, "group": 2, "active": 3}
    return sorted(matches, key=lambda m: (order[m.state], m.app_role, m.principal_id))


@dataclass(frozen=True)
class AccessReview:
    reviewer_ref: str
    generated_at: datetime
    since: datetime
    identities: list[ReviewedIdentity]
    app_roles: list[AppRole]
    graph_url: str
    notes: list[str] = field(default_factory=list)
    assignments: list[AssignmentMatch] | None = None  # when the Graph answer was given

    @property
    def counts(self) -> dict[str, int]:
        counts = {
            "identities": len(self.identities),
            "admins": sum(Role.ADMIN.value in i.roles for i in self.identities),
            "privileged": sum(i.privileged for i in self.identities),
            "dormant_privileged": sum(i.dormant for i in self.identities),
            "active_in_period": sum(i.records_in_period > 0 for i in self.identities),
        }
        if self.assignments is not None:
            counts["assignments"] = len(self.assignments)
            counts["assignments_never_used"] = sum(m.state == "never-used" for m in self.assignments)
            counts["assignments_dormant"] = sum(m.state == "dormant" for m in self.assignments)
        return counts

    @property
    def az_command(self) -> str:
        """For a POSIX shell: `$select` escaped inside the double quotes (the URL holds single quotes)."""
        escaped = self.graph_url.replace("$", "\\$")
        return f'az rest --method GET --url "{escaped}"'

    def as_dict(self) -> dict[str, object]:
        def _iso(at: datetime) -> str:
            return at.isoformat(timespec="seconds")

        return {
            "reviewer_ref": self.reviewer_ref,
            "generated_at": _iso(self.generated_at),
            "since": _iso(self.since),
            "counts": self.counts,
            "identities": [
                {
                    **{k: v for k, v in asdict(i).items() if k not in ("first_activity", "last_activity")},
                    "roles": list(i.roles),
                    "first_activity": _iso(i.first_activity),
                    "last_activity": _iso(i.last_activity),
                }
                for i in self.identities
            ],
            "app_roles": [asdict(r) for r in self.app_roles],
            "assignments": None
            if self.assignments is None
            else [
                {**asdict(m), "last_activity": None if m.last_activity is None else _iso(m.last_activity)}
                for m in self.assignments
            ],
            "compare_with_entra": {"graph_url": self.graph_url, "az": self.az_command},
            "notes": list(self.notes),
        }


def stack_app_roles() -> tuple[list[AppRole], list[str]]:
    """The app roles the stacks create, with the ids Entra keys assignments by; notes when unknown.

    They are defined once, with the app registration (`components/identity.py`, the infra extra). Without
    Pulumi installed the service's own claim names are listed instead, without ids.
    """
    service = {claim: role.value for claim, role in CLAIM_ROLES.items()}
    try:
        from components.identity import APP_ROLE_NAMESPACE, APP_ROLES
    except ImportError:
        note = (
            "the stack's app role ids are unknown here (install the infra extra: pip install -e '.[infra]'); "
            "listed are the role values the service accepts"
        )
        return [AppRole(value, "", "", role) for value, role in service.items()], [note]
    return [
        AppRole(value, str(uuid.uuid5(APP_ROLE_NAMESPACE, value)), description, service.get(value))
        for value, description in APP_ROLES
    ], []


def _reviewed(actor: ActorActivity) -> ReviewedIdentity:
    privileged = any(role.value in actor.roles for role in PRIVILEGED)
    return ReviewedIdentity(
        user_ref=actor.user_ref,
        tenant_id=actor.tenant_id,
        roles=tuple(sorted(actor.roles, key=lambda r: (_RANK.get(r, 4), r))),
        first_activity=actor.first_at,
        last_activity=actor.last_at,
        records_in_period=actor.records_since,
        privileged=privileged,
        dormant=privileged and actor.records_since == 0,
    )


async def run_review(
    trail: AuditTrail,
    *,
    reviewer: str,
    period: timedelta,
    client_id: str | None = None,
    assignments: Sequence[Assignment] | None = None,
    now: datetime | None = None,
) -> AccessReview:
    """Build the review from the trail and record that it was made (see the module docstring)."""
    if not reviewer.strip():
        raise ReviewError("--reviewer must name who runs the review (it is stored as a pseudonym)")
    generated_at = (now or datetime.now(UTC)).astimezone(UTC)
    since = generated_at - period
    actors = await trail.actors(since, exclude_events=(REVIEW_EVENT,))
    identities = sorted(
        (_reviewed(a) for a in actors),
        key=lambda i: (i.rank, not i.dormant, -i.last_activity.timestamp(), i.user_ref),
    )
    app_roles, notes = stack_app_roles()
    if not client_id:
        notes.append(
            f"replace {CLIENT_ID_PLACEHOLDER} with the stack's apiClientId "
            "(pulumi stack output apiClientId), or pass --stack"
        )
    review = AccessReview(
        reviewer_ref=trail.user_ref(reviewer),
        generated_at=generated_at,
        since=since,
        identities=identities,
        app_roles=app_roles,
        graph_url=GRAPH_ASSIGNMENTS.format(client_id=client_id or CLIENT_ID_PLACEHOLDER),
        notes=notes,
        assignments=None
        if assignments is None
        # One identity per pseudonym (it may appear in several tenants): its latest activity counts.
        else _match(
            assignments, {i.user_ref: i for i in sorted(identities, key=lambda i: i.last_activity)}, trail
        ),
    )
    await trail.append(
        AuditEvent(
            event=REVIEW_EVENT,
            user_id=reviewer,
            at=generated_at,
            detail={"since": since.isoformat(timespec="seconds"), **review.counts},
        )
    )
    return review
