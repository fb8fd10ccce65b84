"""Fact text search (FTS5 on SQLite, tsvector on PostgreSQL) and the Zep id mapping.

SQLite: an external-content FTS5 table `facts_fts` kept in step with `facts` by triggers (so the
cascade from an erased episode also cleans the index). PostgreSQL: a generated `search_vector`
column with a GIN index. Both use English stemming, so "risks" finds "risk".

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_SQLITE_UP = [
    "CREATE VIRTUAL TABLE facts_fts USING fts5(text, content='facts', content_rowid='id', "
    "tokenize='porter unicode61')",
    "CREATE TRIGGER facts_fts_ai AFTER INSERT ON facts BEGIN "
    "INSERT INTO facts_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER facts_fts_ad AFTER DELETE ON facts BEGIN "
    "INSERT INTO facts_fts(facts_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
    "CREATE TRIGGER facts_fts_au AFTER UPDATE OF text ON facts BEGIN "
    "INSERT INTO facts_fts(facts_fts, rowid, text) VALUES ('delete', old.id, old.text); "
    "INSERT INTO facts_fts(rowid, text) VALUES (new.id, new.text); END",
    "INSERT INTO facts_fts(facts_fts) VALUES ('rebuild')",
]
_SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS facts_fts_au",
    "DROP TRIGGER IF EXISTS facts_fts_ad",
    "DROP TRIGGER IF EXISTS facts_fts_ai",
    "DROP TABLE IF EXISTS facts_fts",
]
_POSTGRES_UP = [
    "ALTER TABLE facts ADD COLUMN search_vector tsvector "
    "GENERATED ALWAYS AS (to_tsvector('english', text)) STORED",
    "CREATE INDEX ix_facts_search_vector ON facts USING gin (search_vector)",
]
_POSTGRES_DOWN = [
    "DROP INDEX IF EXISTS ix_facts_search_vector",
    "ALTER TABLE facts DROP COLUMN IF EXISTS search_vector",
]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in _SQLITE_UP if dialect == "sqlite" else _POSTGRES_UP:
        op.execute(statement)
    op.create_index("ix_facts_created_at", "facts", ["created_at"])
    op.create_table(
        "zep_users",
        sa.Column("owner_id", sa.String(128), nullable=False),
        sa.Column("user_uuid", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("owner_id", name="pk_zep_users"),
    )
    op.create_table(
        "zep_threads",
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("owner_id", sa.String(128), nullable=False),
        sa.Column("thread_uuid", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"], ["episodes.id"], name="fk_zep_threads_session_id_episodes", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("session_id", name="pk_zep_threads"),
    )
    op.create_index("ix_zep_threads_owner_id", "zep_threads", ["owner_id"])


def downgrade() -> None:
    op.drop_index("ix_zep_threads_owner_id", table_name="zep_threads")
    op.drop_table("zep_threads")
    op.drop_table("zep_users")
    op.drop_index("ix_facts_created_at", table_name="facts")
    dialect = op.get_bind().dialect.name
    for statement in _SQLITE_DOWN if dialect == "sqlite" else _POSTGRES_DOWN:
        op.execute(statement)
