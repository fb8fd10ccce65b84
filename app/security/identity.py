"""The caller's identity and the role -> permission table (the one place permissions are written)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"
    USER = "user"
    ANALYST = "analyst"
    ADMIN = "admin"


class Permission(StrEnum):
    CHAT = "chat"
    VOICE = "voice"
    MEMORY_OWN = "memory:own"
    MEMORY_SEARCH = "memory:search"
    MEMORY_FACTS = "memory:facts"
    MEMORY_ANY = "memory:any"
    AUDIT_READ = "audit:read"
    ERASE_ANY = "erase:any"
    METRICS_READ = "metrics:read"
    USAGE_ANY = "usage:any"  # every tenant's and user's usage (admin)
    RECORDING_READ = "recording:read"


_USER = frozenset({Permission.CHAT, Permission.VOICE, Permission.MEMORY_OWN})
_ANALYST = _USER | {Permission.MEMORY_SEARCH, Permission.MEMORY_FACTS}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.MEMORY_OWN}),
    Role.USER: _USER,
    Role.ANALYST: _ANALYST,
    Role.ADMIN: _ANALYST
    | {
        Permission.MEMORY_ANY,
        Permission.AUDIT_READ,
        Permission.ERASE_ANY,
        Permission.METRICS_READ,
        Permission.USAGE_ANY,
        Permission.RECORDING_READ,
    },
}


@dataclass(frozen=True)
class Identity:
    """An authenticated (or POC-anonymous) caller."""

    user_id: str
    tenant_id: str | None
    roles: frozenset[Role]
    auth_method: str  # poc | dev | entra
    claims: dict[str, object] = field(default_factory=dict, compare=False, repr=False)

    @property
    def permissions(self) -> frozenset[Permission]:
        granted: set[Permission] = set()
        for role in self.roles:
            granted |= ROLE_PERMISSIONS[role]
        return frozenset(granted)

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles


POC_IDENTITY = Identity(
    user_id="poc-user", tenant_id=None, roles=frozenset({Role.ANALYST}), auth_method="poc"
)
