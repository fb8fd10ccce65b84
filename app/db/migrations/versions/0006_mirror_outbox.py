"""The durable Zep mirror: an outbox written with the turns, and per-session leases.

`mirror_outbox` holds one row per transaction of turns that Zep has not yet been given (the turn ids,
so content stays in `turns`, encrypted as ever); a replica deletes the row once Zep accepted it.
`mirror_leases` names the replica mirroring a session and until when, so writes stay in order and
an expired lease lets another replica finish a dead one's work.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mirror_outbox",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("owner_id", sa.String(128), nullable=False),
        sa.Column("turn_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("trace_parent", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_mirror_outbox"),
    )
    op.create_index("ix_mirror_outbox_session_id_id", "mirror_outbox", ["session_id", "id"])
    op.create_index("ix_mirror_outbox_owner_id", "mirror_outbox", ["owner_id"])
    op.create_index("ix_mirror_outbox_created_at", "mirror_outbox", ["created_at"])
    op.create_table(
        "mirror_leases",
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("session_id", name="pk_mirror_leases"),
    )
    op.create_index("ix_mirror_leases_lease_until", "mirror_leases", ["lease_until"])


def downgrade() -> None:
    op.drop_table("mirror_leases")
    op.drop_table("mirror_outbox")
