"""The hub's rules as plain code: events in, decisions out. No I/O and no asyncio here.

`DeliveryState` knows which members are in which room on this instance and what each of
them has been sent. The hub (`hub.py`) feeds it events (a member registered with its resume
point, a member left, stored messages arrived, a gap fill landed or failed, the stream was
reset, the database's last sequence numbers, a presence change or snapshot, sessions ended)
and carries out what it answers: deliver these messages to these members, read this range
of a room from the database (now or after a delay), read who is present, close these
members.

A "message" here is any row of a room's sequence: edit and delete events take a seq like
messages and are ordered, held back, filled and delivered exactly alike.

Guarantees, per room (the property test in tests/ws/test_room_state.py drives them with
random interleavings):
- a member is sent every message after its join point exactly once, in sequence order,
  whatever order, repeats and losses the stream brings, as long as the database is read
  when asked (a failed read is asked again);
- the join point is never below the member's own resume point (`after`), so a resume on an
  instance that is behind repeats nothing;
- a loss the state cannot see (a stream reset, or the database's `last_seq` ahead of what
  arrived) is read from the database, also while another read of that room is running.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, Literal, Protocol, TypeVar

from ws_service.delivery.sequencing import RoomSequence

FILL_LIMIT = 500  # messages read from the database per range read
RECENT_ROOMS = 4096  # rooms without members whose last sequence number is remembered
RETRY_FILL_SECONDS = 1.0
# Messages held back behind a gap, per room, before they are dropped and read again from
# the database (which holds every one of them) once it answers.
MAX_HELD = 2 * FILL_LIMIT


class Member(Hashable, Protocol):
    """What the state needs of a connection (a `Subscriber` in the service)."""

    @property
    def room_id(self) -> str: ...

    @property
    def user_id(self) -> int: ...

    @property
    def session_id(self) -> uuid.UUID: ...


class Stored(Protocol):
    """What the state needs of a stored message (a `StoredMessage` in the service)."""

    @property
    def room_id(self) -> str: ...

    @property
    def seq(self) -> int: ...


M = TypeVar("M", bound=Member)
T = TypeVar("T", bound=Stored)

# -- decisions ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Deliver(Generic[M, T]):
    """Send `messages` (in order) to each of `members`, except that a member in `skip`
    already has the first `skip[member]` of them. `members` is the room's own set: carry
    the decision out before handing the state its next event."""

    members: Collection[M]
    messages: Sequence[T]
    skip: Mapping[M, int]


@dataclass(frozen=True, slots=True)
class Announce(Generic[M]):
    """Send a join or leave frame to each of `members` (the room's own set, as above)."""

    members: Collection[M]
    kind: Literal["join", "leave"]
    room_id: str
    user_id: int
    username: str


@dataclass(frozen=True, slots=True)
class AccountGone(Generic[M]):
    """Tell each of `members` (the room's own set, as above) that `user_id`'s account is
    gone: their messages are tombstones now."""

    members: Collection[M]
    room_id: str
    user_id: int


@dataclass(frozen=True, slots=True)
class ScheduleFill:
    """After `delay` seconds, hand the state `fill_due(room_id, epoch)`."""

    room_id: str
    epoch: int
    delay: float


@dataclass(frozen=True, slots=True)
class ReadRange:
    """Read the room's messages with `first <= seq <= last` (no upper bound when `last` is
    None), oldest first, at most `limit`; hand them to `fill_landed`, or call `fill_failed`."""

    room_id: str
    epoch: int
    first: int
    last: int | None
    limit: int


@dataclass(frozen=True, slots=True)
class ReadPresence:
    """Read who is present in each room now; hand each to `presence_snapshot` with `asked`."""

    rooms: tuple[tuple[str, int, int], ...]  # (room_id, epoch, asked)


@dataclass(frozen=True, slots=True)
class Close(Generic[M]):
    members: tuple[M, ...]
    code: int
    reason: str


Decision = (
    Deliver[M, T]
    | Announce[M]
    | AccountGone[M]
    | ScheduleFill
    | ReadRange
    | ReadPresence
    | Close[M]
)


# -- the state ---------------------------------------------------------------------------


@dataclass(eq=False, slots=True)
class _Room(Generic[M, T]):
    id: str
    epoch: int  # a room that empties and fills again is a new room: old reads are ignored
    sequence: RoomSequence[T]
    members: set[M] = field(default_factory=set)
    # Members that resumed ahead of this instance: the seq through which each has it all.
    ahead: dict[M, int] = field(default_factory=dict)
    fill_scheduled: bool = False
    filling: bool = False
    catch_up: bool = False  # read everything after next_seq, not just a known gap
    present: dict[int, str] = field(default_factory=dict)  # user_id -> username
    presence_known: bool = False  # `present` has been checked against a snapshot
    told: dict[int, str] = field(default_factory=dict)  # user_id -> last frame sent: join/leave
    presence_asked: int = 0  # snapshots asked for so far
    presence_landed: int = 0  # the newest snapshot applied
    touched: dict[int, int] = field(default_factory=dict)  # user_id -> presence_asked then


class DeliveryState(Generic[M, T]):
    def __init__(self, *, gap_wait: float, fill_limit: int = FILL_LIMIT) -> None:
        self.gap_wait = gap_wait
        self.fill_limit = fill_limit
        self._rooms: dict[str, _Room[M, T]] = {}
        # Last sequence number seen in rooms without members here: a client joining one
        # is sent as history what went by just before it registered.
        self._recent: dict[str, int] = {}
        self._by_session: dict[uuid.UUID, set[M]] = {}
        self._epochs = itertools.count(1)

    # -- what the hub reads ------------------------------------------------------------

    @property
    def connections(self) -> int:
        return sum(len(room.members) for room in self._rooms.values())

    def room_ids(self) -> list[str]:
        """Rooms with members here."""
        return list(self._rooms)

    def session_ids(self) -> set[uuid.UUID]:
        """Sessions with a connection here."""
        return set(self._by_session)

    def members(self) -> list[M]:
        return [member for room in self._rooms.values() for member in room.members]

    def members_of(self, room_id: str) -> Collection[M]:
        """A room's members here (its own set: read it before the next event), for what is
        delivered outside the sequence (typing)."""
        room = self._rooms.get(room_id)
        return room.members if room is not None else ()

    # -- membership --------------------------------------------------------------------

    def register(
        self, member: M, *, stored_last_seq: int, after: int | None = None
    ) -> tuple[int, list[Decision[M, T]]]:
        """Adds the member; returns its join point: the member's history must cover every
        message up to it, and every later one reaches it from here, once.

        `stored_last_seq` is the room's `last_seq` as read before registering; `after` is the
        member's resume point (the last id it has), if any. The join point is the seq this
        instance has delivered through, or `after` when that is further (the instance is
        behind: the member must not be sent again what it has), capped by `stored_last_seq`
        (a resume point beyond what was stored is not believed)."""
        decisions: list[Decision[M, T]] = []
        room = self._rooms.get(member.room_id)
        if room is None:
            last = max(stored_last_seq, self._recent.pop(member.room_id, 0))
            room = self._rooms[member.room_id] = _Room(
                member.room_id, next(self._epochs), RoomSequence(last + 1)
            )
            decisions.append(self._ask_presence([room], after_loss=False))
        elif stored_last_seq >= room.sequence.next_seq:
            # Stored, not yet seen here: wait for the stream briefly, then read them.
            room.sequence.expect(stored_last_seq)
            decisions.extend(self._schedule_fill(room, self.gap_wait))
        join_point = room.sequence.next_seq - 1
        if after is not None and min(after, stored_last_seq) > join_point:
            join_point = min(after, stored_last_seq)
            room.ahead[member] = join_point
        room.members.add(member)
        self._by_session.setdefault(member.session_id, set()).add(member)
        return join_point, decisions

    def first_join(self, room_id: str) -> list[Decision[M, T]]:
        """The room's first member here just registered: its channel was subscribed only
        just before, so a message published between the member's read of `last_seq` and
        that subscription never came by. Everything after the join point is read from the
        database (stored before published: the read finds it)."""
        room = self._rooms.get(room_id)
        if room is None:
            return []
        room.catch_up = True
        return self._schedule_fill(room, 0.0)

    def leave(self, member: M) -> list[Decision[M, T]]:
        """Nothing more is sent to the member."""
        room = self._rooms.get(member.room_id)
        if room is not None and member in room.members:
            room.members.discard(member)
            room.ahead.pop(member, None)
            if not room.members:
                del self._rooms[room.id]
                self._remember(room.id, room.sequence.last_known)
        sessions = self._by_session.get(member.session_id)
        if sessions is not None:
            sessions.discard(member)
            if not sessions:
                del self._by_session[member.session_id]
        return []

    def _remember(self, room_id: str, seq: int) -> None:
        recent = self._recent
        seq = max(seq, recent.pop(room_id, 0))
        recent[room_id] = seq
        if len(recent) > RECENT_ROOMS:
            del recent[next(iter(recent))]

    # -- messages ----------------------------------------------------------------------

    def arrived(self, messages: Iterable[T]) -> list[Decision[M, T]]:
        """Stored messages from the stream, in any order, maybe repeated. Each room's
        messages this releases go to each member as one delivery."""
        released: dict[str, list[T]] = {}
        touched: list[_Room[M, T]] = []
        for message in messages:
            room = self._rooms.get(message.room_id)
            if room is None:
                self._remember(message.room_id, message.seq)
                continue
            out = room.sequence.offer(message.seq, message)
            if out:
                released.setdefault(room.id, []).extend(out)
            touched.append(room)
        decisions: list[Decision[M, T]] = [
            self._deliver(self._rooms[room_id], out) for room_id, out in released.items()
        ]
        for room in touched:
            if room.sequence.missing is None:
                continue
            if room.sequence.held > MAX_HELD:
                room.sequence.drop_held()
                room.catch_up = True
            decisions.extend(self._schedule_fill(room, self.gap_wait))
        return decisions

    def stored_heads(self, heads: Mapping[str, int]) -> list[Decision[M, T]]:
        """The database's `last_seq` of rooms with members (a periodic check): a room whose
        messages were stored but never broadcast (the publish gave up) is read."""
        decisions: list[Decision[M, T]] = []
        for room_id, last_seq in heads.items():
            room = self._rooms.get(room_id)
            if room is not None and last_seq > room.sequence.last_known:
                room.sequence.expect(last_seq)
                decisions.extend(self._schedule_fill(room, self.gap_wait))
        return decisions

    def stream_reset(self) -> list[Decision[M, T]]:
        """The stream missed messages (and presence changes) of any room: read every room
        from where it is, and check who is present."""
        decisions: list[Decision[M, T]] = []
        for room in self._rooms.values():
            room.catch_up = True
            decisions.extend(self._schedule_fill(room, 0.0))
        if self._rooms:
            decisions.append(self._ask_presence(list(self._rooms.values())))
        return decisions

    def fill_due(self, room_id: str, epoch: int) -> list[Decision[M, T]]:
        room = self._current(room_id, epoch)
        if room is None:
            return []
        room.fill_scheduled = False
        if room.filling:
            return []  # its landing looks again
        missing = room.sequence.missing
        if missing is None and not room.catch_up:
            return []  # the stream closed the gap meanwhile
        last = None if room.catch_up or missing is None else missing[1]
        room.catch_up = False
        room.filling = True
        first = room.sequence.next_seq
        return [ReadRange(room.id, epoch, first, last, self.fill_limit)]

    def fill_landed(self, read: ReadRange, messages: Sequence[T]) -> list[Decision[M, T]]:
        """What the database held for `read` (all of it, up to `read.limit`)."""
        room = self._current(read.room_id, read.epoch)
        if room is None:
            return []
        room.filling = False
        more = len(messages) >= read.limit
        if more or read.last is None:
            through = messages[-1].seq if messages else read.first - 1
        else:
            through = read.last
        released = room.sequence.fill(((m.seq, m) for m in messages), through=through)
        decisions: list[Decision[M, T]] = [self._deliver(room, released)] if released else []
        if more:
            room.catch_up = True
        decisions.extend(self._after_read(room))
        return decisions

    def fill_failed(self, read: ReadRange) -> list[Decision[M, T]]:
        room = self._current(read.room_id, read.epoch)
        if room is None:
            return []
        room.filling = False
        room.catch_up = True
        return self._schedule_fill(room, RETRY_FILL_SECONDS)

    def _after_read(self, room: _Room[M, T]) -> list[Decision[M, T]]:
        # A reset or a longer gap seen while the read ran is read now: that read may have
        # run before the lost messages were committed.
        if room.catch_up:
            return self._schedule_fill(room, 0.0)
        if room.sequence.missing is not None:
            return self._schedule_fill(room, self.gap_wait)
        return []

    def _schedule_fill(self, room: _Room[M, T], delay: float) -> list[Decision[M, T]]:
        if room.fill_scheduled or room.filling:
            return []
        room.fill_scheduled = True
        return [ScheduleFill(room.id, room.epoch, delay)]

    def _current(self, room_id: str, epoch: int) -> _Room[M, T] | None:
        room = self._rooms.get(room_id)
        return room if room is not None and room.epoch == epoch else None

    def _deliver(self, room: _Room[M, T], released: list[T]) -> Deliver[M, T]:
        if not room.ahead:
            return Deliver(room.members, released, {})
        skip: dict[M, int] = {}
        last = released[-1].seq
        for member, floor in list(room.ahead.items()):
            skip[member] = sum(1 for message in released if message.seq <= floor)
            if floor <= last:
                del room.ahead[member]  # from now on it needs everything
        return Deliver(room.members, released, skip)

    # -- presence ----------------------------------------------------------------------

    def presence(
        self, kind: Literal["join", "leave"], *, room_id: str, user_id: int, username: str
    ) -> list[Decision[M, T]]:
        """A join or leave from the stream. One that repeats what members were last told of
        that user (the echo of a repair, or of a heartbeat after a Redis restart) is not
        sent again."""
        room = self._rooms.get(room_id)
        if room is None:
            return []
        if kind == "join":
            room.present[user_id] = username
        else:
            room.present.pop(user_id, None)
        room.touched[user_id] = room.presence_asked
        if room.told.get(user_id) == kind:
            return []
        room.told[user_id] = kind
        return [Announce(room.members, kind, room_id, user_id, username)]

    def presence_snapshot(
        self, room_id: str, epoch: int, asked: int, users: Mapping[int, str]
    ) -> list[Decision[M, T]]:
        """Who the presence record holds now, as read for snapshot number `asked`: every
        difference from what the state knew becomes a join or leave frame (the first
        snapshot of a room only sets what is known: its members fetched the list
        themselves). A user whose join or leave came on the stream after the snapshot was
        asked for keeps what the stream said."""
        room = self._current(room_id, epoch)
        if room is None or asked <= room.presence_landed:
            return []  # a newer snapshot landed first
        room.presence_landed = asked
        newer = {user for user, at in room.touched.items() if at >= asked}
        changes: list[tuple[Literal["join", "leave"], int, str]] = []
        for user_id, username in users.items():
            if user_id not in room.present and user_id not in newer:
                room.present[user_id] = username
                changes.append(("join", user_id, username))
        for user_id in [u for u in room.present if u not in users and u not in newer]:
            changes.append(("leave", user_id, room.present.pop(user_id)))
        room.touched = {user: at for user, at in room.touched.items() if at >= asked}
        decisions: list[Decision[M, T]] = []
        if room.presence_known:
            for kind, user_id, username in changes:
                room.told[user_id] = kind
                decisions.append(Announce(room.members, kind, room_id, user_id, username))
        room.presence_known = True
        return decisions

    def presence_lost(self) -> list[Decision[M, T]]:
        """A presence change may not have been announced: check every room."""
        return [self._ask_presence(list(self._rooms.values()))] if self._rooms else []

    def _ask_presence(self, rooms: list[_Room[M, T]], *, after_loss: bool = True) -> ReadPresence:
        """`after_loss`: changes may have been lost. A room whose first snapshot is still
        out then counts as known from what the stream said: that snapshot, landing later,
        may hold a change whose frame was lost, and is compared, not just taken."""
        asked = []
        for room in rooms:
            if after_loss:
                room.presence_known = True
            room.presence_asked += 1
            asked.append((room.id, room.epoch, room.presence_asked))
        return ReadPresence(tuple(asked))

    # -- accounts ----------------------------------------------------------------------

    def account_gone(self, user_id: int) -> list[Decision[M, T]]:
        """`user_id`'s account was deleted (its messages erased): every room with members
        here is told, whether or not that user wrote in it (the cheapest correct rule)."""
        return [AccountGone(room.members, room.id, user_id) for room in self._rooms.values()]

    # -- sessions ----------------------------------------------------------------------

    def end_sessions(
        self,
        *,
        user_id: int | None = None,
        session_ids: Collection[uuid.UUID] = (),
        code: int,
        reason: str,
    ) -> list[Decision[M, T]]:
        """Close the members of these sessions, or of every session of `user_id`."""
        ending: list[M] = []
        for session_id in session_ids:
            ending.extend(self._by_session.get(session_id, ()))
        if user_id is not None:
            ending.extend(m for m in self.members() if m.user_id == user_id)
        return [Close(tuple(ending), code, reason)] if ending else []

    def remove_member(
        self, *, room_id: str, user_id: int, code: int, reason: str
    ) -> list[Decision[M, T]]:
        """Close every connection of `user_id` in `room_id` (a kick, a ban or a leave)."""
        room = self._rooms.get(room_id)
        ending = tuple(m for m in room.members if m.user_id == user_id) if room else ()
        return [Close(ending, code, reason)] if ending else []

    def close_all(self, *, code: int, reason: str) -> list[Decision[M, T]]:
        members = tuple(self.members())
        return [Close(members, code, reason)] if members else []
