"""Memory core: episodes, turns, facts.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "episodes",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("owner_id", sa.String(128), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=True),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("agents", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_episodes"),
    )
    op.create_index("ix_episodes_owner_id", "episodes", ["owner_id"])
    op.create_index("ix_episodes_last_activity_at", "episodes", ["last_activity_at"])
    op.create_table(
        "turns",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("episode_id", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source_event_id", sa.String(128), nullable=True),
        sa.ForeignKeyConstraint(
            ["episode_id"], ["episodes.id"], name="fk_turns_episode_id_episodes", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_turns"),
        sa.UniqueConstraint("episode_id", "source_event_id", name="uq_turns_episode_source_event"),
    )
    op.create_index("ix_turns_episode_id_id", "turns", ["episode_id", "id"])
    op.create_table(
        "facts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("owner_id", sa.String(128), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=True),
        sa.Column("episode_id", sa.String(64), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["episode_id"], ["episodes.id"], name="fk_facts_episode_id_episodes", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_facts"),
    )
    op.create_index("ix_facts_owner_id", "facts", ["owner_id"])


def downgrade() -> None:
    op.drop_table("facts")
    op.drop_table("turns")
    op.drop_index("ix_episodes_last_activity_at", table_name="episodes")
    op.drop_index("ix_episodes_owner_id", table_name="episodes")
    op.drop_table("episodes")
