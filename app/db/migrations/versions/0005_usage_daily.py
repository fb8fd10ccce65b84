"""Usage metering: tokens and voice seconds per day, tenant, user (pseudonym), agent, model, channel.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _count(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "usage_daily",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("user_ref", sa.String(64), nullable=False),
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        _count("requests"),
        _count("requests_without_usage"),
        _count("text_input_tokens"),
        _count("text_output_tokens"),
        _count("audio_input_tokens"),
        _count("audio_output_tokens"),
        sa.Column("voice_seconds", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "day", "tenant_id", "user_ref", "agent_id", "model", "channel", name="pk_usage_daily"
        ),
    )
    # The caller's own usage and the budget read by user and day; the admin view by tenant and day.
    op.create_index("ix_usage_daily_user_ref_day", "usage_daily", ["user_ref", "day"])
    op.create_index("ix_usage_daily_tenant_id_day", "usage_daily", ["tenant_id", "day"])


def downgrade() -> None:
    op.drop_index("ix_usage_daily_tenant_id_day", table_name="usage_daily")
    op.drop_index("ix_usage_daily_user_ref_day", table_name="usage_daily")
    op.drop_table("usage_daily")
