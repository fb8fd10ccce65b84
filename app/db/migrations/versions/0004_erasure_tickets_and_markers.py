"""Erasure completeness: ticket owners as a column, and erasure markers that refuse late writes.

`ws_tickets.user_id` lets an erasure delete the user's unredeemed tickets. It is nullable so a
replica still on 0003 code can keep issuing tickets during a rolling deploy; erasure also deletes
rows without it (they expire within 30 s anyway).

`erasures` holds one row per erased user: a keyed hash of the user id (never the id) and when the
erasure ran. The memory store refuses a write from a conversation opened before that time, so a
session still open on another replica cannot re-create what the erasure removed.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ws_tickets", sa.Column("user_id", sa.String(128), nullable=True))
    op.create_index("ix_ws_tickets_user_id", "ws_tickets", ["user_id"])
    op.create_table(
        "erasures",
        sa.Column("subject_ref", sa.String(64), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("subject_ref", name="pk_erasures"),
    )
    op.create_index("ix_erasures_erased_at", "erasures", ["erased_at"])


def downgrade() -> None:
    op.drop_table("erasures")
    op.drop_index("ix_ws_tickets_user_id", table_name="ws_tickets")
    with op.batch_alter_table("ws_tickets") as batch:
        batch.drop_column("user_id")
