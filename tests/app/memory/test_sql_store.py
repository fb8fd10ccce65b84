"""SqlMemoryStore on SQLite and PostgreSQL: episodes, idempotency, ownership, facts, erasure, retention."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.tables import ZepThreadRow
from app.memory.sql import SqlMemoryStore
from app.memory.store import Channel, EpisodeOwnedByAnother, NewTurn, OwnerErased, Role


def turn(
    content: str,
    *,
    session_id: str = "s1",
    owner: str = "alice",
    role: Role = "user",
    agent: str = "elena",
    channel: Channel = "chat",
    event: str | None = None,
    at: datetime | None = None,
    opened: datetime | None = None,
) -> NewTurn:
    return NewTurn(
        session_id=session_id,
        owner_id=owner,
        tenant_id="t1",
        role=role,
        content=content,
        agent_id=agent,
        channel=channel,
        source_event_id=event,
        created_at=at,
        opened_at=opened,
    )


async def test_first_turn_creates_episode_and_later_turns_accumulate(store: SqlMemoryStore) -> None:
    assert await store.append_turn(turn("hello", event="e1"))
    assert await store.append_turn(turn("hi, Elena here", role="assistant", event="e2"))
    assert await store.append_turn(turn("plan please", agent="marcus", channel="voice", event="e3"))
    episode = await store.get_episode("s1")
    assert episode is not None
    assert (episode.owner_id, episode.tenant_id) == ("alice", "t1")
    assert episode.agents == ["elena", "marcus"]
    assert episode.channels == ["chat", "voice"]
    assert [t.content for t in episode.turns] == ["hello", "hi, Elena here", "plan please"]
    assert [t.channel for t in episode.turns] == ["chat", "chat", "voice"]
    assert all(t.timestamp.tzinfo is not None for t in episode.turns)
    assert episode.last_activity_at >= episode.started_at


async def test_repeated_source_event_is_not_written_twice(store: SqlMemoryStore) -> None:
    assert await store.append_turn(turn("hello", event="e1")) is True
    assert await store.append_turn(turn("hello again", event="e1")) is False
    assert await store.append_turn(turn("no event id")) is True
    assert await store.append_turn(turn("no event id")) is True  # without an id every write counts
    episode = await store.get_episode("s1")
    assert episode is not None
    assert [t.content for t in episode.turns] == ["hello", "no event id", "no event id"]


async def test_another_users_session_id_is_refused(store: SqlMemoryStore) -> None:
    await store.append_turn(turn("mine"))
    with pytest.raises(EpisodeOwnedByAnother):
        await store.append_turn(turn("sneaky", owner="mallory"))
    episode = await store.get_episode("s1")
    assert episode is not None and [t.content for t in episode.turns] == ["mine"]
    assert await store.episode_owner("s1") == "alice"
    assert await store.episode_owner("nope") is None


async def test_concurrent_first_turns_make_one_episode(store: SqlMemoryStore) -> None:
    results = await asyncio.gather(*(store.append_turn(turn(f"t{i}", event=f"e{i}")) for i in range(8)))
    assert all(results)
    episode = await store.get_episode("s1")
    assert episode is not None and len(episode.turns) == 8


async def test_recent_turns_are_the_last_n_oldest_first(store: SqlMemoryStore) -> None:
    for i in range(5):
        await store.append_turn(turn(f"t{i}"))
    assert [t.content for t in await store.recent_turns("s1", 3)] == ["t2", "t3", "t4"]
    assert await store.recent_turns("s1", 0) == []
    assert await store.recent_turns("unknown", 3) == []


async def test_list_episodes_by_owner_and_for_admins(store: SqlMemoryStore) -> None:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(3):
        await store.append_turn(turn("x", session_id=f"a{i}", at=base + timedelta(minutes=i)))
    await store.append_turn(turn("y", session_id="b0", owner="bob", at=base))
    mine = await store.list_episodes("alice", limit=2, offset=0)
    assert [e.id for e in mine] == ["a2", "a1"]  # most recent first
    assert [e.id for e in await store.list_episodes("alice", limit=2, offset=2)] == ["a0"]
    assert {e.id for e in await store.list_episodes(None, limit=10)} == {"a0", "a1", "a2", "b0"}
    assert await store.count_episodes("alice") == 3
    assert await store.count_episodes(None) == 4


async def test_facts_search_by_words_and_stay_per_owner(store: SqlMemoryStore) -> None:
    await store.add_fact("alice", "Alice owns the payments migration project", tenant_id="t1")
    await store.add_fact("alice", "Alice prefers weekly status reports on Friday")
    await store.add_fact("bob", "Bob owns the payments team budget")
    found = await store.search_facts("alice", "who owns payments?", 5)
    assert [f.text for f in found][0] == "Alice owns the payments migration project"
    assert all("Bob" not in f.text for f in found)
    stemmed = await store.search_facts("alice", "report", 5)  # "reports" matches by stemming
    assert [f.text for f in stemmed] == ["Alice prefers weekly status reports on Friday"]
    assert await store.search_facts("alice", "kubernetes", 5) == []
    newest = await store.search_facts("alice", "   ", 1)  # no words: the newest facts
    assert [f.text for f in newest] == ["Alice prefers weekly status reports on Friday"]


async def test_fact_search_treats_operators_as_text(store: SqlMemoryStore) -> None:
    await store.add_fact("alice", "The NEAR term risk is vendor lock-in")
    for hostile in ['"unbalanced', "risk AND OR NOT", "vendor* ^ (lock", "':* & | !"]:
        await store.search_facts("alice", hostile, 5)  # no syntax error reaches the caller
    assert len(await store.search_facts("alice", 'risk" OR "x', 5)) == 1


async def test_erase_owner_removes_everything_of_that_owner_only(store: SqlMemoryStore) -> None:
    await store.append_turn(turn("a1", session_id="s1"))
    await store.append_turn(turn("a2", session_id="s1", role="assistant"))
    await store.append_turn(turn("a3", session_id="s2"))
    await store.append_turn(turn("b1", session_id="s3", owner="bob"))
    await store.add_fact("alice", "Alice likes risk registers", episode_id="s1")
    await store.add_fact("alice", "Alice is in finance")
    await store.add_fact("bob", "Bob likes risk registers")
    counts = await store.erase_owner("alice")
    assert counts == {"episodes": 2, "turns": 3, "facts": 2}
    assert await store.get_episode("s1") is None
    assert await store.search_facts("alice", "risk finance", 10) == []
    assert [f.text for f in await store.search_facts("bob", "risk", 10)] == ["Bob likes risk registers"]
    assert await store.get_episode("s3") is not None
    assert await store.erase_owner("alice") == {"episodes": 0, "turns": 0, "facts": 0}


async def test_purge_before_removes_old_episodes_and_facts(
    store: SqlMemoryStore, sessions: async_sessionmaker[AsyncSession]
) -> None:
    old, new = datetime(2025, 1, 1, tzinfo=UTC), datetime.now(UTC)
    await store.append_turn(turn("old", session_id="old", at=old))
    await store.append_turn(turn("new", session_id="new", at=new))
    await store.add_fact("alice", "old fact about risk", episode_id="old")
    await store.add_fact("alice", "fresh fact about risk")
    assert (await store.purge_before(datetime(2025, 6, 1, tzinfo=UTC))).episodes == 1
    assert await store.get_episode("old") is None
    assert await store.get_episode("new") is not None
    assert [f.text for f in await store.search_facts("alice", "risk", 10)] == ["fresh fact about risk"]
    async with sessions() as session:
        left = (await session.execute(text("SELECT count(*) FROM turns"))).scalar_one()
    assert left == 1


async def test_cipher_encrypts_turns_at_rest(sessions: async_sessionmaker[AsyncSession]) -> None:
    fernet = Fernet(Fernet.generate_key())

    class FernetCipher:
        def encrypt(self, plaintext: str) -> str:
            return fernet.encrypt(plaintext.encode()).decode()

        def decrypt(self, stored: str) -> str:
            return fernet.decrypt(stored.encode()).decode()

    store = SqlMemoryStore(sessions, cipher=FernetCipher())
    await store.append_turn(turn("my salary is 90k"))
    async with sessions() as session:
        raw = (await session.execute(text("SELECT content FROM turns"))).scalar_one()
    assert "salary" not in raw
    assert [t.content for t in await store.recent_turns("s1", 5)] == ["my salary is 90k"]


# --- the chat read path (one session) and the batched turn write -----------------------------------


async def test_chat_memory_reads_owner_turns_and_facts_in_one_go(store: SqlMemoryStore) -> None:
    fresh = await store.chat_memory("s1", "alice", "billing", turns=10, facts=5)
    assert (fresh.owner_id, fresh.turns, fresh.facts) == (None, [], [])
    await store.append_turns([turn("q1", event="e1"), turn("a1", role="assistant", event="e2")])
    await store.append_turn(turn("other session", session_id="s2", event="e3"))
    read = await store.chat_memory("s1", "alice", "billing", turns=10, facts=5)
    assert read.owner_id == "alice"
    assert [t.content for t in read.turns] == ["q1", "a1"]
    assert read.facts == []  # alice has no facts: the search is skipped
    limited = await store.chat_memory("s1", "alice", "", turns=1, facts=5)
    assert [t.content for t in limited.turns] == ["a1"]


async def test_a_fact_added_is_found_by_the_next_chat_read(store: SqlMemoryStore) -> None:
    await store.append_turn(turn("q1", event="e1"))
    assert (await store.chat_memory("s1", "alice", "billing", turns=10, facts=5)).facts == []
    await store.add_fact("alice", "Alice owns the billing migration")
    await store.add_fact("bob", "Bob also likes billing")
    facts = (await store.chat_memory("s1", "alice", "billing", turns=10, facts=5)).facts
    assert [f.text for f in facts] == ["Alice owns the billing migration"]


async def test_chat_memory_refuses_someone_elses_episode(store: SqlMemoryStore) -> None:
    await store.append_turn(turn("secret", owner="alice", event="e1"))
    with pytest.raises(EpisodeOwnedByAnother):
        await store.chat_memory("s1", "bob", "secret", turns=10, facts=5)
    # Erased and reopened by bob: the session is now bob's, and alice's old turns are gone.
    await store.erase_owner("alice")
    await store.append_turn(turn("bob's", owner="bob", event="e2"))
    read = await store.chat_memory("s1", "bob", "", turns=10, facts=5)
    assert [t.content for t in read.turns] == ["bob's"]
    with pytest.raises(EpisodeOwnedByAnother):
        await store.chat_memory("s1", "alice", "", turns=10, facts=5)


async def test_batched_write_reports_each_turn_and_skips_repeats(store: SqlMemoryStore) -> None:
    assert await store.append_turns([turn("a", event="x"), turn("b", event="x"), turn("c"), turn("d")]) == [
        True,
        False,
        True,
        True,
    ]
    assert await store.append_turns([turn("a again", event="x"), turn("e", event="y")]) == [False, True]
    assert await store.append_turns([turn("a", event="x")]) == [False]
    episode = await store.get_episode("s1")
    assert episode is not None
    assert [t.content for t in episode.turns] == ["a", "c", "d", "e"]
    assert episode.channels == ["chat"] and episode.agents == ["elena"]


async def test_batched_write_merges_channels_agents_and_activity(store: SqlMemoryStore) -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    await store.append_turns([turn("q", at=t0, event="1"), turn("a", role="assistant", at=t0, event="2")])
    later = t0 + timedelta(minutes=5)
    await store.append_turns(
        [turn("spoken", channel="voice", agent="marcus", at=later, event="3"), turn("x", at=t0, event="4")]
    )
    episode = await store.get_episode("s1", with_turns=False)
    assert episode is not None
    assert episode.channels == ["chat", "voice"] and episode.agents == ["elena", "marcus"]
    assert episode.started_at == t0 and episode.last_activity_at == later
    with pytest.raises(EpisodeOwnedByAnother):
        await store.append_turns([turn("intrusion", owner="mallory", event="5")])
    assert len((await store.get_episode("s1")).turns) == 4  # type: ignore[union-attr]


async def test_a_late_write_from_before_the_erasure_is_refused_and_recreates_nothing(
    store: SqlMemoryStore, sessions: async_sessionmaker[AsyncSession]
) -> None:
    opened = datetime.now(UTC) - timedelta(seconds=5)  # a voice session open during the erasure
    assert await store.append_turn(turn("my plan", session_id="live", opened=opened, event="e1"))
    await store.append_turn(turn("bob's", session_id="b1", owner="bob"))
    await store.erase_owner("alice")
    with pytest.raises(OwnerErased):  # its next transcript (another replica, a slow writer)
        await store.append_turn(turn("said before", session_id="live", opened=opened, event="e2"))
    with pytest.raises(OwnerErased):  # a chat request asked before the erasure, answered after
        await store.append_turns([turn("asked before", session_id="chat", at=opened)])
    assert await store.get_episode("live") is None and await store.get_episode("chat") is None
    async with sessions() as session:
        markers = (await session.execute(text("SELECT subject_ref, erased_at FROM erasures"))).all()
        turns_left = (await session.execute(text("SELECT count(*) FROM turns"))).scalar_one()
    assert len(markers) == 1 and "alice" not in str(markers)  # a keyed hash, never the id
    assert turns_left == 1  # bob's
    # The user may come back: conversations begun after the erasure are theirs again.
    assert await store.append_turn(turn("hello again", session_id="live", event="e3"))
    assert await store.append_turn(turn("bob goes on", session_id="b1", owner="bob", opened=opened))


async def test_purge_returns_the_zep_threads_of_purged_episodes_and_prunes_old_markers(
    store: SqlMemoryStore, sessions: async_sessionmaker[AsyncSession]
) -> None:
    old = datetime(2025, 1, 1, tzinfo=UTC)
    await store.append_turn(turn("old", session_id="old", at=old))
    await store.append_turn(turn("new", session_id="new"))
    async with sessions.begin() as session:
        for sid in ("old", "new"):
            session.add(
                ZepThreadRow(session_id=sid, owner_id="alice", thread_uuid=f"thread-{sid}", created_at=old)
            )
    await store.erase_owner("carol")
    purged = await store.purge_before(datetime(2025, 6, 1, tzinfo=UTC))
    assert (purged.episodes, purged.zep_threads) == (1, ("thread-old",))
    assert (await store.purge_before(datetime(2025, 6, 1, tzinfo=UTC))).zep_threads == ()
    async with sessions() as session:
        markers = (await session.execute(text("SELECT count(*) FROM erasures"))).scalar_one()
    assert markers == 1  # younger than the cutoff: kept
    await store.purge_before(datetime.now(UTC) + timedelta(seconds=1))
    async with sessions() as session:
        markers = (await session.execute(text("SELECT count(*) FROM erasures"))).scalar_one()
    assert markers == 0


async def test_episode_digests_count_turns_first_user_line_and_last_agent(store: SqlMemoryStore) -> None:
    await store.append_turn(turn("  \n  First line  \nsecond line", session_id="d1"))
    await store.append_turn(turn("Answer.", session_id="d1", role="assistant"))
    await store.append_turn(turn("Over to Marcus", session_id="d1", agent="marcus", channel="voice"))
    await store.append_turn(turn("Only an answer", session_id="d2", role="assistant"))
    digests = await store.episode_digests(["d1", "d2", "absent"])
    assert (digests["d1"].turn_count, digests["d1"].first_user_line, digests["d1"].last_agent) == (
        3,
        "First line",
        "marcus",
    )
    assert (digests["d2"].turn_count, digests["d2"].first_user_line) == (1, "")
    assert (digests["absent"].turn_count, digests["absent"].last_agent) == (0, None)
    assert await store.episode_digests([]) == {}


async def test_delete_episode_removes_its_turns_facts_and_zep_mapping_only(
    store: SqlMemoryStore, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await store.append_turn(turn("gone", session_id="x1"))
    await store.append_turn(turn("kept", session_id="x2"))
    await store.add_fact("alice", "from x1", episode_id="x1")
    await store.add_fact("alice", "free-standing")
    async with sessions.begin() as session:
        session.add(
            ZepThreadRow(session_id="x1", owner_id="alice", thread_uuid="th-1", created_at=datetime.now(UTC))
        )
    deleted = await store.delete_episode("x1")
    assert (deleted.episodes, deleted.turns, deleted.facts, deleted.zep_threads) == (1, 1, 1, ("th-1",))
    assert await store.get_episode("x1") is None
    assert await store.get_episode("x2") is not None
    assert [f.text for f in await store.search_facts("alice", "", 10)] == ["free-standing"]
    assert (await store.delete_episode("x1")).episodes == 0
