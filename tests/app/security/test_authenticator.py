"""POC identity and dev tokens: where they are honoured and where they are just bad tokens."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.security.authenticator import Authenticator, AuthError, bearer_token
from app.security.identity import Permission, Role
from tests.conftest import make_settings


async def test_poc_mode_gives_anonymous_analyst(tmp_path: Path) -> None:
    identity = await Authenticator(make_settings(tmp_path)).authenticate(None)
    assert identity.user_id == "poc-user"
    assert identity.roles == {Role.ANALYST}
    assert not identity.is_admin
    assert identity.can(Permission.MEMORY_SEARCH)


@pytest.mark.parametrize(
    ("token", "user", "role"),
    [
        ("dev_alice_analyst", "alice", Role.ANALYST),
        ("dev_bob_admin", "bob", Role.ADMIN),
        ("dev_carol_viewer", "carol", Role.VIEWER),
    ],
)
async def test_dev_tokens_in_development(tmp_path: Path, token: str, user: str, role: Role) -> None:
    auth = Authenticator(make_settings(tmp_path, auth_required=True))
    identity = await auth.authenticate(token)
    assert (identity.user_id, identity.roles, identity.auth_method) == (user, {role}, "dev")


@pytest.mark.parametrize("environment", ["test", "uat", "production"])
async def test_dev_tokens_are_bad_tokens_elsewhere(tmp_path: Path, environment: str) -> None:
    auth = Authenticator(make_settings(tmp_path, environment=environment, auth_required=True))
    with pytest.raises(AuthError) as info:
        await auth.authenticate("dev_alice_admin")
    assert info.value.reason == "invalid_token"


async def test_missing_token_when_required(tmp_path: Path) -> None:
    with pytest.raises(AuthError, match="authentication required"):
        await Authenticator(make_settings(tmp_path, auth_required=True)).authenticate(None)


def test_viewer_cannot_chat_admin_can_read_audit() -> None:
    from app.security.identity import ROLE_PERMISSIONS

    assert Permission.CHAT not in ROLE_PERMISSIONS[Role.VIEWER]
    assert Permission.AUDIT_READ in ROLE_PERMISSIONS[Role.ADMIN]
    assert Permission.AUDIT_READ not in ROLE_PERMISSIONS[Role.ANALYST]


@pytest.mark.parametrize(
    ("header", "expected"),
    [("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("Basic abc", None), ("Bearer ", None), (None, None)],
)
def test_bearer_token_parsing(header: str | None, expected: str | None) -> None:
    assert bearer_token(header) == expected
