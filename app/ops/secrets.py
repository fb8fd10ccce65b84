"""Secret rotation (SOP 8.3): each Key Vault secret's age against the schedule, and the safe rotation order.

`secrets_status` reads the vault with `azure-keyvault-secrets` (the caller's Azure credential) and
compares each secret's current version with the rotation table of `components/profile.py`
(`ROTATION_DAYS` by `SECRET_KINDS`): its age, its Key Vault expiry and its SOP deadline (created + the
period of its kind). A secret past its deadline, expired, or whose current version is disabled (the
app's Key Vault reference can no longer read it) needs action.

`rotation_plan` + `rotate` perform a rotation in the one order that never leaves the app without a
working value: a new Key Vault version first; then a restart of the app's active revisions (a
versionless Key Vault reference picks up the latest version on restart instead of within 30 minutes);
then `engram verify` against the app; and only when that passes, the old versions are disabled. A
failed verification stops before anything old is disabled, so the previous value is still there to
set back. Steps that happen outside Azure's APIs (creating a key at its issuer, `pulumi config set`,
`engram db reencrypt` in the app's network) are part of the plan as manual steps.

Values are never logged or printed: only names, versions and dates.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from azure.keyvault.secrets.aio import SecretClient
    from azure.mgmt.appcontainers.aio import ContainerAppsAPIClient

    from components.profile import SecretKind

#: Key Vault raises SecretNearExpiry this many days ahead; the status warns from the same point.
NEAR_DAYS = 30
ROTATED_BY_TAG = "rotated-by"


class SecretsError(Exception):
    """The command cannot proceed; the message says why and what to do (never a secret value)."""


def schedule() -> tuple[Mapping[SecretKind, int], Mapping[str, SecretKind]]:
    """`ROTATION_DAYS` and `SECRET_KINDS` from the profile, imported late: the service's image ships
    `app/` alone, and `engram secrets` runs where the infra extra is installed (it needs the Azure SDKs
    of that extra too)."""
    try:
        from components.profile import ROTATION_DAYS, SECRET_KINDS
    except ImportError:
        raise SecretsError("engram secrets needs the infra extra: pip install -e '.[infra]'") from None
    return ROTATION_DAYS, SECRET_KINDS


class State(StrEnum):
    OK = "ok"
    DUE_SOON = "due-soon"  # within NEAR_DAYS of its SOP deadline or expiry
    OVERDUE = "overdue"  # older than its SOP period
    EXPIRED = "expired"  # past its Key Vault expiry
    DISABLED = "disabled"  # current version disabled: Key Vault references fail
    UNSCHEDULED = "unscheduled"  # not a secret the stacks know: no SOP period


FAILING = frozenset({State.OVERDUE, State.EXPIRED, State.DISABLED})


@dataclass(frozen=True)
class SecretStatus:
    name: str
    kind: SecretKind | None
    created: datetime | None
    expires: datetime | None
    period_days: int | None
    state: State
    age_days: int | None

    @property
    def sop_deadline(self) -> datetime | None:
        if self.created is None or self.period_days is None:
            return None
        return self.created + timedelta(days=self.period_days)

    @property
    def needs_action(self) -> bool:
        return self.state in FAILING

    def as_dict(self) -> dict[str, object]:
        def _iso(at: datetime | None) -> str | None:
            return None if at is None else at.isoformat(timespec="seconds")

        return {
            "name": self.name,
            "kind": self.kind,
            "state": self.state.value,
            "age_days": self.age_days,
            "created": _iso(self.created),
            "expires": _iso(self.expires),
            "period_days": self.period_days,
            "sop_deadline": _iso(self.sop_deadline),
        }


def _state(
    created: datetime | None, expires: datetime | None, enabled: bool, period: int | None, now: datetime
) -> State:
    if not enabled:
        return State.DISABLED
    if expires is not None and expires <= now:
        return State.EXPIRED
    if period is None:
        return State.UNSCHEDULED
    deadline = (created or now) + timedelta(days=period)
    if deadline <= now:
        return State.OVERDUE
    soon = now + timedelta(days=NEAR_DAYS)
    if deadline <= soon or (expires is not None and expires <= soon):
        return State.DUE_SOON
    return State.OK


async def secrets_status(client: SecretClient, *, now: datetime | None = None) -> list[SecretStatus]:
    """Every secret in the vault (its current version), schedule-known ones first, by name."""
    now = now or datetime.now(UTC)
    rotation_days, secret_kinds = schedule()
    found: list[SecretStatus] = []
    async for props in client.list_properties_of_secrets():
        name = str(props.name)
        kind = secret_kinds.get(name)
        period = rotation_days[kind] if kind else None
        created, expires = props.created_on, props.expires_on
        found.append(
            SecretStatus(
                name=name,
                kind=kind,
                created=created,
                expires=expires,
                period_days=period,
                state=_state(created, expires, bool(props.enabled), period, now),
                age_days=None if created is None else (now - created).days,
            )
        )
    return sorted(found, key=lambda s: (s.kind is None, s.name))


# --- rotation ---------------------------------------------------------------------------------

Mode = Literal["value", "existing", "generate", "drop-old-keys", "reaffirm"]
StepKind = Literal["manual", "set", "restart", "verify", "disable-old", "reencrypt"]

#: How a secret's new version is made, per secret: the first mode is the default.
MODES: dict[str, tuple[Mode, ...]] = {
    "azure-ai-key": ("value", "existing"),
    "zep-api-key": ("value", "existing"),
    "database-url": ("existing",),  # pulumi up writes it from engram:postgres-admin-password
    "encryption-key": ("generate", "drop-old-keys", "existing"),
    "audit-pseudonym-key": ("reaffirm", "existing"),  # a new value would re-key every pseudonym
    "appinsights-connection-string": ("reaffirm", "existing"),
}
#: The `pulumi config set --secret` key that holds each vault secret's value (None: derived by Pulumi).
CONFIG_KEYS: dict[str, str | None] = {
    "azure-ai-key": "azure-ai-key",
    "zep-api-key": "zep-api-key",
    "database-url": "postgres-admin-password",
    "encryption-key": "encryption-key",
    "audit-pseudonym-key": "audit-pseudonym-key",
    "appinsights-connection-string": None,
}
_ISSUER = {
    "azure-ai-key": "the AI gateway (API Management: regenerate the subscription key not in use; or the "
    "customer's gateway)",
    "zep-api-key": "Zep (create a new project API key; keep the old one valid until the end)",
}


@dataclass(frozen=True)
class Step:
    kind: StepKind
    text: str


@dataclass(frozen=True)
class RotationPlan:
    secret: str
    kind: SecretKind
    mode: Mode
    steps: tuple[Step, ...]

    def as_dict(self) -> dict[str, object]:
        return {
            "secret": self.secret,
            "kind": self.kind,
            "mode": self.mode,
            "steps": [{"kind": s.kind, "text": s.text} for s in self.steps],
        }


def rotation_plan(
    secret: str, mode: Mode | None = None, *, stack: str = "<STACK>", reencrypt: bool = False
) -> RotationPlan:
    """The ordered steps for one secret (see the module docstring); refuses unknown secrets and modes.

    `reencrypt` (encryption-key, mode generate): re-encrypt the stored transcripts in the same run, with
    this machine's DATABASE_URL (`app.security.reencrypt`, what `engram db reencrypt` runs).
    """
    if secret not in MODES:
        known = ", ".join(sorted(MODES))
        raise SecretsError(f"{secret!r} is not a secret the stacks rotate; one of: {known}")
    allowed = MODES[secret]
    mode = mode or allowed[0]
    if mode not in allowed:
        raise SecretsError(f"{secret} rotates with --mode {' or '.join(allowed)}, not {mode!r}")
    rotation_days, secret_kinds = schedule()
    kind = secret_kinds[secret]
    period = rotation_days[kind]
    config_key = CONFIG_KEYS[secret]
    before: list[Step] = []
    after: list[Step] = []
    if secret in _ISSUER:
        before.append(Step("manual", f"Create the new key at {_ISSUER[secret]}."))
        after.append(Step("manual", "Revoke the old key at its issuer once the app has run on the new one."))
    if secret == "database-url":  # noqa: S105 - a secret's name, not its value
        before.append(
            Step(
                "manual",
                f"In a maintenance window (one admin login: the old password stops working at once): "
                f"pulumi config set --secret --stack {stack} engram:postgres-admin-password <NEW>, then "
                f"pulumi up --stack {stack}; it changes the server's password and writes the new "
                "database-url version.",
            )
        )
    if reencrypt and mode != "generate":
        raise SecretsError("--reencrypt goes with encryption-key --mode generate")
    if mode == "generate" and reencrypt:
        after.append(
            Step(
                "reencrypt",
                "Re-encrypt stored transcripts under the new key here (engram db reencrypt's batches, with "
                "this machine's DATABASE_URL and the new value, never shown); stop if any row is "
                "undecryptable.",
            )
        )
        after.append(
            Step(
                "manual",
                "When it reported 0 undecryptable: engram secrets rotate encryption-key --mode "
                "drop-old-keys.",
            )
        )
    elif mode == "generate":
        after.append(
            Step(
                "manual",
                "Re-encrypt stored transcripts under the new key: run `engram db reencrypt` where the "
                "database is reachable, with the app's DATABASE_URL and the new ENCRYPTION_KEY (e.g. az "
                "containerapp exec into the app), or rotate with --reencrypt from there. Then run `engram "
                "secrets rotate encryption-key --mode drop-old-keys`.",
            )
        )
    set_text = {
        "value": "Write the new value (read from standard input) as a new Key Vault version, expiring "
        f"in {period} days.",
        "existing": "Take the newest Key Vault version as the new one (it was written already, e.g. by "
        "pulumi up); nothing is written.",
        "generate": "Generate a new Fernet key and write 'NEW,OLD' (the current keys after it) as a new "
        f"version, expiring in {period} days: the app decrypts old rows and writes new ones with NEW.",
        "drop-old-keys": "Write a version holding only the newest key (after `engram db reencrypt` reported "
        f"0 undecryptable), expiring in {period} days.",
        "reaffirm": f"Write the current value again as a new version, expiring in {period} days (a key the "
        "SOP does not list; changing it would re-key what depends on it).",
    }[mode]
    steps = [
        *before,
        Step("set", set_text),
        Step("restart", "Restart the app's active revisions so they read the newest version now."),
        Step("verify", "Run engram verify against the app; stop here if any check fails."),
        Step("disable-old", "Disable every older enabled version (they stay recoverable)."),
        *after,
    ]
    if config_key is not None and mode not in ("existing", "reaffirm"):
        # Copied vault to config without showing it (a generated key is never printed).
        steps.append(
            Step(
                "manual",
                f"Keep the stack in step, or the next pulumi up writes the old value back: pulumi config set "
                f'--secret --stack {stack} engram:{config_key} "$(az keyvault secret show --vault-name '
                f'<VAULT_NAME> --name {secret} --query value -o tsv)".',
            )
        )
    steps.append(
        Step(
            "manual",
            "Set engram:keyVault.secretsRotatedOn to today in the stack file, so the next pulumi up keeps "
            "the expiry on the schedule.",
        )
    )
    return RotationPlan(secret, kind, mode, tuple(steps))


@dataclass(frozen=True)
class AppTarget:
    resource_group: str
    app: str


@dataclass
class RotationResult:
    secret: str
    new_version: str | None = None
    restarted: list[str] = field(default_factory=list)
    verified: bool | None = None
    disabled: list[str] = field(default_factory=list)
    reencrypted: dict[str, int] | None = None  # the re-encryption's counts, when the plan has the step
    stopped: str | None = None  # why the rotation stopped early (old versions left enabled)

    @property
    def completed(self) -> bool:
        return self.stopped is None

    def as_dict(self) -> dict[str, object]:
        return {
            "secret": self.secret,
            "new_version": self.new_version,
            "restarted": self.restarted,
            "verified": self.verified,
            "disabled": self.disabled,
            "reencrypted": self.reencrypted,
            "completed": self.completed,
            "stopped": self.stopped,
        }


def _newest_first_keys(value: str) -> list[str]:
    return [k.strip() for k in value.split(",") if k.strip()]


async def _new_value(client: SecretClient, plan: RotationPlan, supplied: str | None) -> str:
    """The value of the new version, by the plan's mode (never logged)."""
    if plan.mode == "value":
        if not supplied:
            raise SecretsError(f"{plan.secret}: pipe the new value on standard input (--value-stdin)")
        return supplied
    current = (await client.get_secret(plan.secret)).value or ""
    if plan.mode == "reaffirm":
        return current
    from cryptography.fernet import Fernet

    keys = _newest_first_keys(current)
    for key in keys:
        try:
            Fernet(key.encode())
        except ValueError:
            raise SecretsError(
                "the current encryption-key is not a comma-separated list of Fernet keys; fix it before "
                "rotating"
            ) from None
    if plan.mode == "generate":
        return ",".join([Fernet.generate_key().decode(), *keys])
    if len(keys) < 2:
        raise SecretsError("encryption-key holds a single key: nothing to drop")
    return keys[0]  # drop-old-keys


async def _versions(client: SecretClient, name: str) -> list[Any]:
    return [v async for v in client.list_properties_of_secret_versions(name)]


async def _restart(apps: ContainerAppsAPIClient, target: AppTarget) -> list[str]:
    """Restart every active revision of the app (they all hold Key Vault references)."""
    restarted: list[str] = []
    async for revision in apps.container_apps_revisions.list_revisions(target.resource_group, target.app):
        if revision.name and revision.properties is not None and revision.properties.active:
            await apps.container_apps_revisions.restart_revision(
                target.resource_group, target.app, revision.name
            )
            restarted.append(str(revision.name))
    return restarted


async def rotate(
    plan: RotationPlan,
    *,
    secrets: SecretClient,
    apps: ContainerAppsAPIClient,
    target: AppTarget,
    verify: Callable[[], Awaitable[bool]],
    value: str | None = None,
    reencrypt: Callable[[str], Awaitable[dict[str, int]]] | None = None,
    now: datetime | None = None,
) -> RotationResult:
    """Run the plan's automated steps in order; a failed step stops the rest (see the module docstring).

    `reencrypt(new_value)` runs the plan's re-encryption step and returns its counts (`undecryptable`
    among them); the value stays in memory.
    """
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

    result = RotationResult(plan.secret)
    now = now or datetime.now(UTC)
    new_value: str | None = None
    try:
        if plan.mode == "existing":
            versions = [v for v in await _versions(secrets, plan.secret) if v.enabled]
            if not versions:
                raise SecretsError(f"{plan.secret} has no enabled version to take as the new one")
            newest = max(versions, key=lambda v: v.created_on or datetime.min.replace(tzinfo=UTC))
            result.new_version = newest.version
        else:
            new_value = await _new_value(secrets, plan, value)
            new = await secrets.set_secret(
                plan.secret,
                new_value,
                content_type="text/plain",
                expires_on=now + timedelta(days=schedule()[0][plan.kind]),
                tags={ROTATED_BY_TAG: "engram secrets rotate"},
            )
            result.new_version = new.properties.version
        result.restarted = await _restart(apps, target)
        result.verified = await verify()
        if not result.verified:
            result.stopped = (
                "verification failed after the restart: old versions are left enabled. To go back, write the "
                "previous value as a new version (az keyvault secret set) and restart again."
            )
            return result
        for version in await _versions(secrets, plan.secret):
            if version.version != result.new_version and version.enabled:
                await secrets.update_secret_properties(plan.secret, version.version, enabled=False)
                result.disabled.append(str(version.version))
        if any(step.kind == "reencrypt" for step in plan.steps):
            if reencrypt is None or new_value is None:
                raise SecretsError("the plan re-encrypts, but no re-encryption was given")
            result.reencrypted = await reencrypt(new_value)
            if result.reencrypted.get("undecryptable"):
                result.stopped = (
                    f"{result.reencrypted['undecryptable']} stored turns no key decrypts (left as they are; "
                    "engram db reencrypt lists their ids): keep the old keys, do not run drop-old-keys"
                )
    except ResourceNotFoundError:
        raise SecretsError(
            f"{plan.secret} or the app {target.app} was not found; check --stack, the vault URL and --app"
        ) from None
    except HttpResponseError as exc:
        raise SecretsError(
            f"Azure refused a rotation step (HTTP {exc.status_code}); nothing after it ran"
        ) from None
    return result


def needs_action(statuses: Sequence[SecretStatus]) -> list[SecretStatus]:
    return [s for s in statuses if s.needs_action]
