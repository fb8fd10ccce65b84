"""Table metadata shared by the stores and by Alembic's autogenerate.

Each area adds its tables here (and a migration under `migrations/versions/`).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


# --- memory: episodes (one per session id, shared by chat and voice), turns and facts -------------


class EpisodeRow(Base):
    """One conversation session; chat and voice with the same session id share it."""

    __tablename__ = "episodes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the session id
    owner_id: Mapped[str] = mapped_column(String(128), index=True)
    tenant_id: Mapped[str | None] = mapped_column(String(64))
    channels: Mapped[list[str]] = mapped_column(JSON, default=list)
    agents: Mapped[list[str]] = mapped_column(JSON, default=list)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_activity_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class TurnRow(Base):
    """One utterance; `content` may be application-encrypted (see app.security)."""

    __tablename__ = "turns"
    __table_args__ = (
        UniqueConstraint("episode_id", "source_event_id", name="uq_turns_episode_source_event"),
        Index("ix_turns_episode_id_id", "episode_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    episode_id: Mapped[str] = mapped_column(ForeignKey("episodes.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))  # user | assistant
    content: Mapped[str] = mapped_column(Text)
    agent_id: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(8))  # chat | voice
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    source_event_id: Mapped[str | None] = mapped_column(String(128))


class FactRow(Base):
    """A semantic fact about a user, searchable by text."""

    __tablename__ = "facts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner_id: Mapped[str] = mapped_column(String(128), index=True)
    tenant_id: Mapped[str | None] = mapped_column(String(64))
    episode_id: Mapped[str | None] = mapped_column(ForeignKey("episodes.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    # Text search lives outside the ORM (migration 0002): FTS5 table `facts_fts` on SQLite,
    # generated column `search_vector` on PostgreSQL.


# --- memory: the Zep mirror's id mapping (Zep v4 ids are server-generated) ------------------------


class ZepUserRow(Base):
    """The Zep user (uuid) that mirrors an Engram user."""

    __tablename__ = "zep_users"

    owner_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    user_uuid: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ZepThreadRow(Base):
    """The Zep thread (uuid) that mirrors an episode; removed with its episode."""

    __tablename__ = "zep_threads"

    session_id: Mapped[str] = mapped_column(ForeignKey("episodes.id", ondelete="CASCADE"), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(128), index=True)
    thread_uuid: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# --- security: the hash-chained audit trail and single-use websocket tickets ---------------------


class AuditRow(Base):
    """One audit record; append-only (triggers refuse UPDATE and DELETE), chained by `prev_hash`.

    `seq` is assigned by the writer as previous + 1 (not autoincrement): two writers that raced to
    the same predecessor collide on the primary key instead of forking the chain.
    """

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    # http | ws.start | ws.end | erasure | retention | reencrypt
    event: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[str | None] = mapped_column(String(64))
    user_ref: Mapped[str | None] = mapped_column(String(64), index=True)  # keyed hash of the user id
    tenant_id: Mapped[str | None] = mapped_column(String(64))
    roles: Mapped[str] = mapped_column(String(128))
    method: Mapped[str | None] = mapped_column(String(16))
    route: Mapped[str | None] = mapped_column(String(256))  # the route template, never the raw path
    status: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    client_ip: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)  # counts and outcomes only
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class WsTicketRow(Base):
    """A single-use websocket ticket; only its SHA-256 is stored, so a database reader cannot use it."""

    __tablename__ = "ws_tickets"

    ticket_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    identity: Mapped[dict[str, object]] = mapped_column(JSON)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    # Whose ticket: erasure deletes by it. NULL only on rows written by pre-0004 replicas.
    user_id: Mapped[str | None] = mapped_column(String(128), index=True)


class ErasureRow(Base):
    """An erased user, as a keyed hash, and when: writes from conversations opened earlier are refused.

    Kept until the retention purge passes it (a conversation cannot stay open that long).
    """

    __tablename__ = "erasures"

    subject_ref: Mapped[str] = mapped_column(String(64), primary_key=True)
    erased_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


# --- usage metering: tokens and voice seconds per day (app/usage) ---------------------------------


class UsageDailyRow(Base):
    """One day's usage of one user with one agent, model and channel; written by upsert-increment.

    `user_ref` is the keyed hash of the user id (the audit trail's pseudonym), never the id; erasure
    folds the user's rows into `user_ref = "erased"` so tenant totals survive without the person.
    `tenant_id` is "" for callers without a tenant (a NULL would never conflict, so never merge).
    """

    __tablename__ = "usage_daily"
    __table_args__ = (
        Index("ix_usage_daily_user_ref_day", "user_ref", "day"),
        Index("ix_usage_daily_tenant_id_day", "tenant_id", "day"),
    )

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_ref: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(128), primary_key=True)
    channel: Mapped[str] = mapped_column(String(8), primary_key=True)  # chat | voice
    requests: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    # Requests whose gateway answer carried no usage (counted, their tokens unknown).
    requests_without_usage: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), default=0
    )
    text_input_tokens: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    text_output_tokens: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    audio_input_tokens: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    audio_output_tokens: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    voice_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# --- memory: the durable Zep mirror (outbox written with the turns; app/memory/outbox.py) ---------


class MirrorOutboxRow(Base):
    """Turns written in one transaction that Zep has not yet been given; deleted once it has.

    One row per transaction (a chat question and answer, one voice turn): the batch is the same on
    every retry, so its idempotency key is too and Zep keeps it once. Order per session: `id`.
    """

    __tablename__ = "mirror_outbox"
    __table_args__ = (Index("ix_mirror_outbox_session_id_id", "session_id", "id"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    session_id: Mapped[str] = mapped_column(String(64))
    owner_id: Mapped[str] = mapped_column(String(128), index=True)
    turn_ids: Mapped[list[int]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The W3C traceparent of the request that wrote the turns: the Zep calls join its trace.
    trace_parent: Mapped[str | None] = mapped_column(String(64))


class MirrorLeaseRow(Base):
    """Which replica mirrors a session now, until when: one writer per session keeps Zep in order,
    and an expired lease lets any replica finish what a dead one left."""

    __tablename__ = "mirror_leases"

    session_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    lease_until: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
