"""The Zep mirror against an erasure that lands while a mirror write is in flight (another replica
erasing: this process's queue never hears of it). Nothing about the user may be left behind, in
the SQL mapping tables or in Zep, by the late write. SQLite and PostgreSQL, real `zep-cloud` SDK."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.tables import ZepThreadRow, ZepUserRow
from app.memory.sql import SqlMemoryStore
from app.memory.store import NewTurn
from app.memory.zep import ZepMirror, build_client
from tests.doubles.zep_server import API_KEY, ZepDouble


def turn(session_id: str = "s1", owner: str = "alice") -> NewTurn:
    return NewTurn(
        session_id=session_id,
        owner_id=owner,
        tenant_id=None,
        role="user",
        content="Plan the Orion launch",
        agent_id="elena",
        channel="chat",
    )


async def mapping_rows(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessions() as session:
        users = (await session.execute(select(ZepUserRow.owner_id))).scalars().all()
        threads = (await session.execute(select(ZepThreadRow.owner_id))).scalars().all()
    return [*users, *threads]


def mirror_for(zep: ZepDouble, sessions: async_sessionmaker[AsyncSession]) -> ZepMirror:
    return ZepMirror(build_client(API_KEY, zep.base_url, 2.0), sessions, timeout_s=2.0)


def erase_on(zep: ZepDouble, store: SqlMemoryStore, call: str) -> None:
    async def before(request: str) -> None:
        if request == call:
            zep.before = None
            await store.erase_owner("alice")

    zep.before = before


async def test_a_mirror_write_for_an_erased_conversation_calls_zep_not_at_all(
    sessions: async_sessionmaker[AsyncSession], zep: ZepDouble
) -> None:
    store = SqlMemoryStore(sessions)
    await store.append_turn(turn())
    await store.erase_owner("alice")
    assert await mirror_for(zep, sessions).mirror_turns([turn()]) is False
    assert zep.state.calls == []
    assert await mapping_rows(sessions) == []


async def test_an_erasure_during_user_creation_leaves_no_zep_user_and_no_mapping(
    sessions: async_sessionmaker[AsyncSession], zep: ZepDouble
) -> None:
    store = SqlMemoryStore(sessions)
    await store.append_turn(turn())
    erase_on(zep, store, "POST /api/v4/users")
    assert await mirror_for(zep, sessions).mirror_turns([turn()]) is False
    assert await mapping_rows(sessions) == []
    assert zep.state.users == {} and len(zep.state.deleted_users) == 1  # the late user was undone
    assert zep.state.threads == {}


async def test_an_erasure_during_thread_creation_leaves_no_thread_and_no_mapping(
    sessions: async_sessionmaker[AsyncSession], zep: ZepDouble
) -> None:
    store = SqlMemoryStore(sessions)
    await store.append_turn(turn())
    erase_on(zep, store, "POST /api/v4/threads")
    assert await mirror_for(zep, sessions).mirror_turns([turn()]) is False
    assert await mapping_rows(sessions) == []
    assert zep.state.threads == {} and len(zep.state.deleted_threads) == 1
    assert zep.state.messages == {} or all(not m for m in zep.state.messages.values())


async def test_another_users_mirror_is_untouched_by_the_erasure(
    sessions: async_sessionmaker[AsyncSession], zep: ZepDouble
) -> None:
    store = SqlMemoryStore(sessions)
    await store.append_turn(turn("s1", "alice"))
    await store.append_turn(turn("s2", "bob"))
    erase_on(zep, store, "POST /api/v4/users")
    mirror = mirror_for(zep, sessions)
    assert await mirror.mirror_turns([turn("s1", "alice")]) is False
    assert await mirror.mirror_turns([turn("s2", "bob")]) is True
    assert sorted(await mapping_rows(sessions)) == ["bob", "bob"]
    assert [m["content"] for m in zep.thread_for_user("bob")] == ["Plan the Orion launch"]
