"""The hub's rules without a socket, a database or a clock: `DeliveryState` driven by events,
its decisions carried out by a small harness that plays the database and the timers."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ws_service.delivery.room_state import (
    AccountGone,
    Announce,
    Close,
    Decision,
    Deliver,
    DeliveryState,
    ReadPresence,
    ReadRange,
    ScheduleFill,
)


@dataclass(frozen=True, eq=False)
class Member:
    room_id: str
    user_id: int = 1
    session_id: uuid.UUID = field(default_factory=uuid.uuid4)


@dataclass(frozen=True)
class Message:
    room_id: str
    seq: int


State = DeliveryState[Member, Message]


class Harness:
    """Carries out decisions: deliveries are recorded per member, timers and database
    reads wait until the test lets them run (`fire`, `land`)."""

    def __init__(self, *, gap_wait: float = 0.25, fill_limit: int = 500) -> None:
        self.state: State = DeliveryState(gap_wait=gap_wait, fill_limit=fill_limit)
        self.received: dict[Member, list[int]] = {}
        self.timers: list[ScheduleFill] = []
        self.reads: list[ReadRange] = []
        self.presence_reads: list[tuple[str, int, int]] = []
        self.announced: list[tuple[str, int]] = []
        self.closed: list[tuple[Member, int]] = []

    def apply(self, decisions: Sequence[Decision[Member, Message]]) -> None:
        for decision in decisions:
            if isinstance(decision, Deliver):
                seqs = [m.seq for m in decision.messages]
                for member in decision.members:
                    skip = decision.skip.get(member, 0)
                    self.received.setdefault(member, []).extend(seqs[skip:])
            elif isinstance(decision, Announce):
                self.announced.append((decision.kind, decision.user_id))
            elif isinstance(decision, ScheduleFill):
                self.timers.append(decision)
            elif isinstance(decision, ReadRange):
                self.reads.append(decision)
            elif isinstance(decision, ReadPresence):
                self.presence_reads.extend(decision.rooms)
            elif isinstance(decision, Close):
                self.closed.extend((member, decision.code) for member in decision.members)

    def join(
        self, room_id: str, *, stored: int, after: int | None = None, user_id: int = 1
    ) -> tuple[Member, int]:
        member = Member(room_id, user_id)
        point, decisions = self.state.register(member, stored_last_seq=stored, after=after)
        self.received[member] = []
        self.apply(decisions)
        return member, point

    def arrive(self, room_id: str, *seqs: int) -> None:
        self.apply(self.state.arrived([Message(room_id, seq) for seq in seqs]))

    def fire(self) -> None:
        """Every timer due, at once."""
        timers, self.timers = self.timers, []
        for timer in timers:
            self.apply(self.state.fill_due(timer.room_id, timer.epoch))

    def land(self, stored: dict[str, int]) -> None:
        """Every read running, answered from a database holding seqs 1..stored[room]."""
        reads, self.reads = self.reads, []
        for read in reads:
            self.apply(self.state.fill_landed(read, database_rows(read, stored)))

    def settle(self, stored: dict[str, int]) -> None:
        """Timers and reads until nothing is left to do."""
        for _ in range(1000):
            if not self.timers and not self.reads:
                return
            self.fire()
            self.land(stored)
        raise AssertionError("the state keeps asking for reads")


def database_rows(read: ReadRange, stored: dict[str, int]) -> list[Message]:
    last = stored.get(read.room_id, 0) if read.last is None else read.last
    last = min(last, stored.get(read.room_id, 0))
    seqs = range(read.first, last + 1)[: read.limit]
    return [Message(read.room_id, seq) for seq in seqs]


# -- defects of issue 11 as plain unit tests ---------------------------------------------


def test_a_resume_on_an_instance_that_is_behind_repeats_nothing() -> None:
    """Defect 3: the join point is max(after, what this instance delivered through)."""
    harness = Harness()
    watcher, point = harness.join("r", stored=0)
    assert point == 0
    # Seqs 1..5 are stored; this instance has seen none of them yet.
    resumed, point = harness.join("r", stored=5, after=5)
    assert point == 5  # ready.last_id: the client has 1..5 already
    harness.arrive("r", 1, 2, 3, 4, 5, 6)
    assert harness.received[watcher] == [1, 2, 3, 4, 5, 6]
    assert harness.received[resumed] == [6]


def test_a_resume_point_beyond_what_was_stored_is_not_believed() -> None:
    harness = Harness()
    harness.join("r", stored=0)
    resumed, point = harness.join("r", stored=2, after=99)
    assert point == 2
    harness.arrive("r", 1, 2, 3)
    assert harness.received[resumed] == [3]


def test_a_reset_during_a_running_fill_is_caught_up() -> None:
    """Defect 4: the read that was running may have missed what the reset dropped."""
    harness = Harness()
    member, _ = harness.join("r", stored=0)
    harness.arrive("r", 3)  # 1..2 missing
    harness.fire()
    assert [(r.first, r.last) for r in harness.reads] == [(1, 3)]
    harness.apply(harness.state.stream_reset())  # 4 and 5 were dropped with the reset
    harness.land({"r": 3})  # the running read saw only 1..3
    assert harness.received[member] == [1, 2, 3]
    harness.settle({"r": 5})
    assert harness.received[member] == [1, 2, 3, 4, 5]


def test_a_stored_head_ahead_of_the_stream_is_read() -> None:
    """Defect 5: a message stored whose publish gave up, in a quiet room."""
    harness = Harness()
    member, _ = harness.join("r", stored=0)
    harness.arrive("r", 1)
    harness.apply(harness.state.stored_heads({"r": 1}))
    assert harness.timers == []  # nothing new
    harness.apply(harness.state.stored_heads({"r": 3, "elsewhere": 9}))
    harness.settle({"r": 3})
    assert harness.received[member] == [1, 2, 3]


def test_presence_is_repaired_from_a_snapshot_after_a_reset() -> None:
    """Defect 8: a join and a leave lost with a reset reach the room from the snapshot;
    a repair's echo is not sent twice."""
    harness = Harness()
    harness.join("r", stored=0)
    (room_id, epoch, asked) = harness.presence_reads.pop()
    harness.apply(harness.state.presence_snapshot(room_id, epoch, asked, {1: "ann", 2: "bo"}))
    assert harness.announced == []  # the first snapshot is what clients fetch themselves
    # A join the first snapshot already held, arriving on the stream after it, still goes out.
    harness.apply(harness.state.presence(kind="join", room_id="r", user_id=1, username="ann"))
    assert harness.announced == [("join", 1)]
    harness.announced.clear()
    harness.apply(harness.state.stream_reset())
    (room_id, epoch, asked) = harness.presence_reads.pop()
    # While the snapshot is read, the stream says 4 joined; 2 left and 3 joined unseen.
    harness.apply(harness.state.presence(kind="join", room_id="r", user_id=4, username="di"))
    harness.apply(harness.state.presence_snapshot(room_id, epoch, asked, {1: "ann", 3: "cy"}))
    assert sorted(harness.announced) == [("join", 3), ("join", 4), ("leave", 2)]
    harness.announced.clear()
    harness.apply(harness.state.presence(kind="join", room_id="r", user_id=3, username="cy"))
    harness.apply(harness.state.presence(kind="leave", room_id="r", user_id=2, username="bo"))
    assert harness.announced == []


def test_a_room_first_presence_read_landing_after_a_reset_is_compared() -> None:
    """The first read may hold a join whose frame the reset dropped; an older read that
    lands after a newer one changes nothing."""
    harness = Harness()
    harness.join("r", stored=0)
    first = harness.presence_reads.pop()
    harness.apply(harness.state.stream_reset())
    second = harness.presence_reads.pop()
    harness.apply(harness.state.presence_snapshot(*second, {2: "bo"}))
    assert harness.announced == [("join", 2)]
    harness.apply(harness.state.presence_snapshot(*first, {}))
    assert harness.announced == [("join", 2)]


def test_a_failed_read_is_retried_and_a_late_one_for_an_emptied_room_ignored() -> None:
    harness = Harness()
    member, _ = harness.join("r", stored=0)
    harness.arrive("r", 2)
    harness.fire()
    (read,) = harness.reads
    harness.reads.clear()
    harness.apply(harness.state.fill_failed(read))
    assert [t.delay for t in harness.timers] == [1.0]
    harness.settle({"r": 2})
    assert harness.received[member] == [1, 2]
    harness.state.leave(member)
    harness.arrive("r", 4)
    again, point = harness.join("r", stored=4)
    assert point == 4
    # A read asked for by the room's earlier life lands: it is ignored.
    harness.apply(harness.state.fill_landed(read, [Message("r", 1), Message("r", 2)]))
    assert harness.received[again] == []


def test_sessions_end_by_id_or_by_user() -> None:
    harness = Harness()
    phone, _ = harness.join("r", stored=0, user_id=1)
    laptop, _ = harness.join("s", stored=0, user_id=1)
    other, _ = harness.join("r", stored=0, user_id=2)
    harness.apply(harness.state.end_sessions(session_ids=[phone.session_id], code=4401, reason=""))
    assert harness.closed == [(phone, 4401)]
    harness.apply(harness.state.end_sessions(user_id=1, code=4401, reason=""))
    assert {m for m, _ in harness.closed} == {phone, laptop}
    assert other not in {m for m, _ in harness.closed}


def test_a_removal_closes_that_user_in_that_room_only() -> None:
    harness = Harness()
    phone, _ = harness.join("r", stored=0, user_id=1)
    laptop, _ = harness.join("r", stored=0, user_id=1)
    harness.join("s", stored=0, user_id=1)  # the same user in another room
    harness.join("r", stored=0, user_id=2)  # someone else in the room
    harness.apply(harness.state.remove_member(room_id="r", user_id=1, code=4403, reason="x"))
    assert {m for m, _ in harness.closed} == {phone, laptop}
    assert {code for _, code in harness.closed} == {4403}
    assert harness.state.remove_member(room_id="nowhere", user_id=1, code=4403, reason="") == []


def test_an_account_gone_is_told_to_every_room_with_members_here_once() -> None:
    harness = Harness()
    first, _ = harness.join("r", stored=0, user_id=1)
    second, _ = harness.join("r", stored=0, user_id=2)
    elsewhere, _ = harness.join("s", stored=0, user_id=3)
    harness.apply(harness.state.leave(elsewhere))  # "s" has nobody here now
    harness.join("t", stored=0, user_id=4)
    decisions = harness.state.account_gone(9)
    assert [(d.room_id, d.user_id, set(d.members)) for d in decisions] == [
        ("r", 9, {first, second}),
        ("t", 9, {m for m in harness.received if m.room_id == "t"}),
    ]
    assert all(isinstance(d, AccountGone) for d in decisions)


# -- the property ------------------------------------------------------------------------

ROOMS = ("a", "b")

actions = st.lists(
    st.one_of(
        st.tuples(st.just("commit"), st.sampled_from(ROOMS), st.integers(1, 3)),
        st.tuples(st.just("publish"), st.sampled_from(ROOMS), st.integers(0, 30)),
        st.tuples(st.just("again"), st.sampled_from(ROOMS), st.integers(0, 30)),
        st.tuples(st.just("give up"), st.sampled_from(ROOMS), st.integers(0, 30)),
        st.tuples(st.just("join"), st.sampled_from(ROOMS), st.integers(0, 30)),
        st.tuples(st.just("leave"), st.sampled_from(ROOMS), st.integers(0, 30)),
        st.tuples(st.just("reset"), st.just(""), st.just(0)),
        st.tuples(st.just("heads"), st.just(""), st.just(0)),
        st.tuples(st.just("fire"), st.just(""), st.integers(0, 30)),
        st.tuples(st.just("read"), st.just(""), st.integers(0, 30)),
        st.tuples(st.just("land"), st.just(""), st.integers(0, 30)),
        st.tuples(st.just("fail"), st.just(""), st.integers(0, 30)),
    ),
    max_size=150,
)


@settings(
    max_examples=500,
    deadline=None,
    derandomize=True,  # the same examples every run: a failure is a bug, never a flake
    suppress_health_check=[HealthCheck.too_slow],
)
@given(steps=actions, fill_limit=st.integers(1, 6))
def test_every_member_gets_every_message_after_its_join_point_once_in_order(
    steps: list[tuple[str, str, int]], fill_limit: int
) -> None:
    """Commits; publishes in any order, repeated, or lost: dropped by a stream reset (every
    message not yet delivered when it happens) or given up by their publisher (no reset:
    only the periodic head check can see those); gap timers; database reads that run at one
    moment and land at a later one, or fail; joins with resume points; leaves; in any
    interleaving. Once the stream has brought what it still had and every read has landed,
    each member has received every message after its join point exactly once, in order;
    one that left, a prefix of them."""
    harness = Harness(fill_limit=fill_limit)
    state = harness.state
    stored = dict.fromkeys(ROOMS, 0)
    unpublished: dict[str, list[int]] = {room: [] for room in ROOMS}
    published: dict[str, list[int]] = {room: [] for room in ROOMS}
    join_points: dict[Member, int] = {}
    present: list[Member] = []
    departed: list[Member] = []
    ran: list[tuple[ReadRange, list[Message]]] = []  # reads run, not landed yet

    def take(items: list[Any], n: int) -> Any:
        return items.pop(n % len(items))

    def heads() -> None:
        harness.apply(state.stored_heads({r: stored[r] for r in state.room_ids()}))

    for action, room_id, n in steps:
        if action == "commit":
            first = stored[room_id] + 1
            stored[room_id] += n
            unpublished[room_id].extend(range(first, stored[room_id] + 1))
        elif action == "publish" and unpublished[room_id]:
            seq = take(unpublished[room_id], n)
            published[room_id].append(seq)
            harness.arrive(room_id, seq)
        elif action == "again" and published[room_id]:
            # Every instance publishes what it stores; a message can also come twice.
            harness.arrive(room_id, published[room_id][n % len(published[room_id])])
        elif action == "give up" and unpublished[room_id]:
            take(unpublished[room_id], n)
        elif action == "join":
            after = None if n % 3 == 0 else n % (stored[room_id] + 1)
            # The room's last_seq was read a little before registering.
            seen = max(0, stored[room_id] - n % 2)
            member, point = harness.join(room_id, stored=seen, after=after)
            join_points[member] = point
            present.append(member)
        elif action == "leave" and present:
            member = take(present, n)
            harness.apply(state.leave(member))
            departed.append(member)
        elif action == "reset":
            for waiting in unpublished.values():
                waiting.clear()
            harness.apply(state.stream_reset())
        elif action == "heads":
            heads()
        elif action == "fire" and harness.timers:
            timer = take(harness.timers, n)
            harness.apply(state.fill_due(timer.room_id, timer.epoch))
        elif action == "read" and harness.reads:
            read = take(harness.reads, n)
            ran.append((read, database_rows(read, stored)))
        elif action == "land" and ran:
            read, rows = take(ran, n)
            harness.apply(state.fill_landed(read, rows))
        elif action == "fail" and harness.reads:
            harness.apply(state.fill_failed(take(harness.reads, n)))

    # Quiet: what ran lands, the stream brings what it still has, and the periodic check
    # runs (a message given up, or lost in a reset before its room had members here, is
    # seen by nothing else); then every timer and read ends.
    for read, rows in ran:
        harness.apply(state.fill_landed(read, rows))
    for room_id in ROOMS:
        harness.arrive(room_id, *unpublished[room_id])
    heads()
    harness.settle(stored)

    for member in present:
        expected = list(range(join_points[member] + 1, stored[member.room_id] + 1))
        assert harness.received[member] == expected, (member.room_id, join_points[member])
    for member in departed:
        got = harness.received[member]
        start = join_points[member] + 1
        assert got == list(range(start, start + len(got)))
