"""`secrets_status` and `rotate` through the real azure-keyvault-secrets client against a local Key Vault.

The double speaks the Key Vault REST subset over TLS (a self-signed certificate made by the test) and
plays the bearer challenge; the rotation's restart goes through the real azure-mgmt-appcontainers client
to the ARM double. Checked: each secret's state against the SOP table, the challenge handshake, the
SDK's own refusals (plain http, a challenge for another domain), and the rotation order (a failed
verification disables nothing).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ServiceRequestError
from azure.keyvault.secrets.aio import SecretClient
from cryptography.fernet import Fernet

from app.ops.secrets import (
    ROTATED_BY_TAG,
    AppTarget,
    SecretsError,
    State,
    needs_action,
    rotate,
    rotation_plan,
    secrets_status,
)
from tests.app.ops.test_rollback import APP, RG, client_for, three_revisions
from tests.doubles.arm_server import ArmDouble
from tests.doubles.keyvault_server import TOKEN, KeyVaultDouble

NOW = datetime.now(UTC).replace(microsecond=0)
DAY = 86400.0


class StaticCredential:
    """A fixed bearer token for the double; records the scopes the SDK asked for."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(TOKEN, int(time.time()) + 3600)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> StaticCredential:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


def ago(days: float) -> float:
    return NOW.timestamp() - days * DAY


@pytest.fixture
async def kv(tmp_path: Path) -> AsyncIterator[KeyVaultDouble]:
    async with KeyVaultDouble(tmp_path) as double:
        yield double


@pytest.fixture
async def client(kv: KeyVaultDouble) -> AsyncIterator[SecretClient]:
    # verify_challenge_resource=False: the challenge names vault.azure.net, the double is 127.0.0.1.
    async with SecretClient(
        kv.url, StaticCredential(), verify_challenge_resource=False, connection_verify=str(kv.ca)
    ) as secrets:
        yield secrets


@pytest.fixture
async def arm() -> AsyncIterator[ArmDouble]:
    async with ArmDouble(three_revisions()) as double:
        yield double


async def test_status_of_each_secret_against_the_sop_table(kv: KeyVaultDouble, client: SecretClient) -> None:
    kv.add("azure-ai-key", "a", created=ago(100))  # API key: 90 days -> overdue
    kv.add("zep-api-key", "z", created=ago(70))  # deadline in 20 days -> due soon
    kv.add("database-url", "d", created=ago(10), expires=ago(-170))  # 180 days -> ok
    kv.add("encryption-key", "e", created=ago(10), expires=ago(1))  # past its Key Vault expiry
    kv.add("audit-pseudonym-key", "p", created=ago(5), enabled=False)  # references would fail
    kv.add("customer-extra", "x", created=ago(900))  # not the stacks': no schedule
    statuses = {s.name: s for s in await secrets_status(client, now=NOW)}
    assert {n: s.state for n, s in statuses.items()} == {
        "azure-ai-key": State.OVERDUE,
        "zep-api-key": State.DUE_SOON,
        "database-url": State.OK,
        "encryption-key": State.EXPIRED,
        "audit-pseudonym-key": State.DISABLED,
        "customer-extra": State.UNSCHEDULED,
    }
    ai = statuses["azure-ai-key"]
    assert ai.kind == "api-key" and ai.period_days == 90 and ai.age_days == 100
    assert ai.sop_deadline == NOW - timedelta(days=10)
    assert statuses["database-url"].expires == NOW + timedelta(days=170)
    assert {s.name for s in needs_action(statuses.values())} == {  # type: ignore[arg-type]
        "azure-ai-key",
        "encryption-key",
        "audit-pseudonym-key",
    }
    # The SDK's challenge handshake: a first request without a token, then the authorized one.
    assert [(r.method, r.path, r.authorized) for r in kv.requests[:2]] == [
        ("GET", "/secrets", False),
        ("GET", "/secrets", True),
    ]


async def test_status_of_an_empty_vault(client: SecretClient) -> None:
    assert await secrets_status(client) == []


async def test_the_sdk_refuses_plain_http(kv: KeyVaultDouble) -> None:
    async with SecretClient(kv.url.replace("https", "http"), StaticCredential(), retry_total=0) as plain:
        with pytest.raises(ServiceRequestError, match="non-TLS"):
            await secrets_status(plain)


async def test_the_sdk_checks_the_challenge_domain_by_default(kv: KeyVaultDouble) -> None:
    async with SecretClient(kv.url, StaticCredential(), connection_verify=str(kv.ca)) as strict:
        with pytest.raises(ValueError, match="does not match"):
            await secrets_status(strict)


def test_plan_orders_new_version_restart_verify_disable() -> None:
    for secret in ("azure-ai-key", "zep-api-key", "database-url", "encryption-key", "audit-pseudonym-key"):
        kinds = [s.kind for s in rotation_plan(secret).steps if s.kind != "manual"]
        assert kinds == ["set", "restart", "verify", "disable-old"], secret
    encryption = rotation_plan("encryption-key", stack="prod")
    assert encryption.mode == "generate"
    assert any("engram db reencrypt" in s.text for s in encryption.steps)
    assert any("engram:encryption-key" in s.text and "--stack prod" in s.text for s in encryption.steps)
    assert rotation_plan("database-url").mode == "existing"


def test_plan_refuses_unknown_secret_and_mode() -> None:
    with pytest.raises(SecretsError, match="not a secret the stacks rotate"):
        rotation_plan("nope")
    with pytest.raises(SecretsError, match="reaffirm or existing"):
        rotation_plan("audit-pseudonym-key", "generate")  # type: ignore[arg-type]


async def test_rotate_api_key_in_the_safe_order(
    kv: KeyVaultDouble, client: SecretClient, arm: ArmDouble
) -> None:
    old = kv.add("zep-api-key", "old-key", created=ago(95))
    calls: list[str] = []

    async def verify() -> bool:
        calls.append(f"verify after {len(kv.secrets['zep-api-key'])} versions")
        # At verification time the old version must still be enabled (nothing disabled yet).
        return all(v.enabled for v in kv.secrets["zep-api-key"])

    async with client_for(arm) as apps:
        result = await rotate(
            rotation_plan("zep-api-key"),
            secrets=client,
            apps=apps,
            target=AppTarget(RG, APP),
            verify=verify,
            value="new-key",
            now=NOW,
        )
    assert result.completed and result.verified
    assert calls == ["verify after 2 versions"]
    current = kv.current("zep-api-key")
    assert current.value == "new-key" and current.version == result.new_version
    assert current.expires == int((NOW + timedelta(days=90)).timestamp())
    assert current.tags == {ROTATED_BY_TAG: "engram secrets rotate"}
    assert result.disabled == [old] and not kv.secrets["zep-api-key"][0].enabled
    # Only the active revision is restarted, after the new version and before the disable.
    restarts = [r.path for r in arm.requests if r.path.endswith("/restart")]
    assert restarts and all(f"{APP}--r3/restart" in p for p in restarts)
    assert result.restarted == [f"{APP}--r3"]
    order = [(r.method, r.path.rsplit("/", 1)[-1]) for r in kv.requests if r.authorized]
    put, patch = order.index(("PUT", "zep-api-key")), order.index(("PATCH", old))
    assert put < patch


async def test_failed_verification_disables_nothing(
    kv: KeyVaultDouble, client: SecretClient, arm: ArmDouble
) -> None:
    kv.add("azure-ai-key", "old", created=ago(95))

    async def verify() -> bool:
        return False

    async with client_for(arm) as apps:
        result = await rotate(
            rotation_plan("azure-ai-key"),
            secrets=client,
            apps=apps,
            target=AppTarget(RG, APP),
            verify=verify,
            value="new",
        )
    assert not result.completed and result.verified is False
    assert "old versions are left enabled" in (result.stopped or "")
    assert result.disabled == [] and all(v.enabled for v in kv.secrets["azure-ai-key"])
    assert not any(r.method == "PATCH" for r in kv.requests)


async def test_value_mode_needs_a_value(kv: KeyVaultDouble, client: SecretClient, arm: ArmDouble) -> None:
    kv.add("azure-ai-key", "old", created=ago(95))

    async def verify() -> bool:  # pragma: no cover - never reached
        return True

    async with client_for(arm) as apps:
        with pytest.raises(SecretsError, match="standard input"):
            await rotate(
                rotation_plan("azure-ai-key"),
                secrets=client,
                apps=apps,
                target=AppTarget(RG, APP),
                verify=verify,
            )
    assert len(kv.secrets["azure-ai-key"]) == 1


async def test_encryption_key_prepend_then_drop(
    kv: KeyVaultDouble, client: SecretClient, arm: ArmDouble
) -> None:
    first = Fernet.generate_key().decode()
    kv.add("encryption-key", first, created=ago(370))

    async def verify() -> bool:
        return True

    async with client_for(arm) as apps:
        target = AppTarget(RG, APP)
        await rotate(rotation_plan("encryption-key"), secrets=client, apps=apps, target=target, verify=verify)
        keys = kv.current("encryption-key").value.split(",")
        assert len(keys) == 2 and keys[1] == first and keys[0] != first
        Fernet(keys[0].encode())  # a valid key
        await rotate(
            rotation_plan("encryption-key", "drop-old-keys"),
            secrets=client,
            apps=apps,
            target=target,
            verify=verify,
        )
    assert kv.current("encryption-key").value == keys[0]
    assert [v.enabled for v in kv.secrets["encryption-key"]] == [False, False, True]
    async with client_for(arm) as apps:
        with pytest.raises(SecretsError, match="single key"):
            await rotate(
                rotation_plan("encryption-key", "drop-old-keys"),
                secrets=client,
                apps=apps,
                target=AppTarget(RG, APP),
                verify=verify,
            )


async def test_reaffirm_and_existing(kv: KeyVaultDouble, client: SecretClient, arm: ArmDouble) -> None:
    kv.add("audit-pseudonym-key", "same", created=ago(400))
    kv.add("database-url", "postgresql://old", created=ago(200))
    newest = kv.add("database-url", "postgresql://new", created=ago(0.01))  # written by pulumi up

    async def verify() -> bool:
        return True

    async with client_for(arm) as apps:
        target = AppTarget(RG, APP)
        reaffirmed = await rotate(
            rotation_plan("audit-pseudonym-key"),
            secrets=client,
            apps=apps,
            target=target,
            verify=verify,
            now=NOW,
        )
        existing = await rotate(
            rotation_plan("database-url"), secrets=client, apps=apps, target=target, verify=verify
        )
    assert [v.value for v in kv.secrets["audit-pseudonym-key"]] == ["same", "same"]
    assert reaffirmed.disabled == [kv.secrets["audit-pseudonym-key"][0].version]
    assert existing.new_version == newest and len(kv.secrets["database-url"]) == 2
    assert [v.enabled for v in kv.secrets["database-url"]] == [False, True]


async def test_encryption_key_rotation_reencrypts_in_the_same_run(
    kv: KeyVaultDouble, client: SecretClient, arm: ArmDouble, tmp_path: Path
) -> None:
    """`--reencrypt`: the stored turns end under the generated key, through app.security.reencrypt."""
    from app.audit.trail import AuditTrail
    from app.db.engine import create_engine, session_factory
    from app.db.migrate import upgrade
    from app.memory.sql import SqlMemoryStore
    from app.security.crypto import FernetCipher
    from app.security.reencrypt import reencrypt_turns
    from tests.app.audit.helpers import KEY
    from tests.app.security.test_reencrypt import raw_rows, turn
    from tests.conftest import make_settings

    old = Fernet.generate_key().decode()
    kv.add("encryption-key", old, created=ago(370))
    engine = create_engine(make_settings(tmp_path))
    try:
        await upgrade(engine)
        await SqlMemoryStore(session_factory(engine), FernetCipher([old])).append_turns(
            [turn("s1", "my phone is 555 0101"), turn("s1", "and my PIN is 1234")]
        )

        async def reencrypt(value: str) -> dict[str, int]:
            done = await reencrypt_turns(
                engine, FernetCipher.from_setting(value), trail=AuditTrail(session_factory(engine), KEY)
            )
            return {"rewritten": done.rewritten, "undecryptable": len(done.undecryptable)}

        async def verify() -> bool:
            return True

        plan = rotation_plan("encryption-key", reencrypt=True)
        assert [s.kind for s in plan.steps if s.kind != "manual"][-1] == "reencrypt"
        async with client_for(arm) as apps:
            result = await rotate(
                plan, secrets=client, apps=apps, target=AppTarget(RG, APP), verify=verify, reencrypt=reencrypt
            )
        assert result.completed and result.reencrypted == {"rewritten": 2, "undecryptable": 0}
        new_key = kv.current("encryption-key").value.split(",")[0]
        stored = await raw_rows(engine)
        assert all(FernetCipher([new_key]).is_current(content) for content in stored.values())
    finally:
        await engine.dispose()


async def test_reencrypt_that_finds_undecryptable_rows_stops(
    kv: KeyVaultDouble, client: SecretClient, arm: ArmDouble
) -> None:
    kv.add("encryption-key", Fernet.generate_key().decode(), created=ago(370))

    async def verify() -> bool:
        return True

    async def reencrypt(value: str) -> dict[str, int]:
        return {"rewritten": 5, "undecryptable": 2}

    async with client_for(arm) as apps:
        result = await rotate(
            rotation_plan("encryption-key", reencrypt=True),
            secrets=client,
            apps=apps,
            target=AppTarget(RG, APP),
            verify=verify,
            reencrypt=reencrypt,
        )
    assert not result.completed and "do not run drop-old-keys" in (result.stopped or "")


def test_reencrypt_goes_with_generate_only() -> None:
    with pytest.raises(SecretsError, match="--reencrypt goes with encryption-key --mode generate"):
        rotation_plan("zep-api-key", reencrypt=True)
