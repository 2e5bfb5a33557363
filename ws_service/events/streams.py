"""Every person's live stream on this instance (`/ws/events`): who is connected, the rooms
each one watches, and what each is sent.

Stored messages and presence changes come decoded from the instance's room feed (shared
with the hub: each broker message is decoded once); the dispatcher holds a room's channel
in the feed while any connected person watches the room, so a person's `room_activity`
comes for rooms they have not opened on this instance. The people channel (person events,
posts for followers) comes through the feed too, on the same connection, so a `read` event
never overtakes the messages it covers. The state is plain code
the connection handlers call synchronously (`connect`, `disconnect`); nothing per person
runs a task of its own, and every frame goes through the person's `Outlet` (bounded
queue, cut off with 1013 when it stays full).

What it costs, so that 10,000 connected people stay cheap:
- a stored message: O(1), whatever the room's watchers (a counter per room, and one per
  watcher for their own messages); a person's unread count is worked out only when a frame
  is sent: `base + (seen - origin) - own`;
- a room's watchers are visited when its activity is flushed: flushes are at least
  FLUSH_SECONDS apart (the first after a quiet spell goes at once), so a busy room sends
  each watcher at most ~4 `room_activity` frames a second, each encoded once per distinct
  unread count;
- a person event: a dictionary lookup per person named;
- a post: one query per IDS_PER_STATEMENT connected people, for all posts queued meanwhile
  ("which of the people connected here follow these authors"), never the author's whole
  follower list.

Counts are as good as the stream: a message missed between the snapshot's read and the
registration (a few milliseconds), or while the broker was away, is made good by the next
`read` event of that room or the next snapshot (a reconnect).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.broker import Broker
from shared.database import unit_of_work
from shared.people import PersonEvent
from shared.supervision import OnFailure
from shared.tasks import cancel_and_wait
from ws_service.connection.close_codes import CLOSE_SERVICE_RESTART, CLOSE_SESSION_ENDED
from ws_service.connection.protocol import StoredMessage, encode
from ws_service.delivery.feed import FeedItem, FeedReset, PeopleMessage, RoomFeed
from ws_service.delivery.sinks import OutgoingFrames
from ws_service.delivery.subscriber import Outlet
from ws_service.events import frames, queries
from ws_service.events.frames import RemovalReason
from ws_service.messages.stream import PresenceChange, StoredBatch, TypingEvent
from ws_service.presence.base import Presence
from ws_service.rooms.unread import last_message_of, preview

logger = logging.getLogger("gochat.ws.events")

FLUSH_SECONDS = 0.25  # room_activity and presence frames per room at most this often
MAX_QUEUED_POSTS = 1000  # posts waiting for the followers query; later ones are dropped
UNREAD_CAP = queries.UNREAD_CAP


class StreamsClosed(Exception):
    """The instance is stopping: no new stream is taken."""


@dataclass(frozen=True, slots=True)
class RoomSeen:
    """One room of a snapshot, as the stream starts from it."""

    room_id: str
    unread: int
    last_id: int
    last_message: dict[str, Any] | None
    online: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    frame: bytes  # the `snapshot` frame, sent first
    rooms: list[RoomSeen]


@dataclass(eq=False, slots=True)
class _Watch:
    """A person's unread count in one room: `base + (room.seen - origin) - own`."""

    base: int
    origin: int
    own: int = 0


@dataclass(eq=False, slots=True)
class _Room:
    id: str
    last_id: int
    last_message: dict[str, Any] | StoredMessage | None
    online: int
    watchers: dict[int, _Watch] = field(default_factory=dict)  # user_id -> watch
    seen: int = 0  # messages stored since this record was made
    activity: bool = False  # a room_activity frame is due
    presence: bool = False  # a presence frame is due

    def unread(self, watch: _Watch) -> int:
        return min(UNREAD_CAP, max(0, watch.base + self.seen - watch.origin - watch.own))

    def last_message_fields(self) -> dict[str, Any] | None:
        last = self.last_message
        if isinstance(last, StoredMessage):
            last = self.last_message = last_message_of(last).model_dump(mode="json")
        return last


@dataclass(eq=False, slots=True)
class _Person:
    user_id: int
    outlets: list[Outlet] = field(default_factory=list)
    rooms: set[str] = field(default_factory=set)

    def deliver(self, frames: OutgoingFrames) -> None:
        for outlet in self.outlets:
            outlet.deliver(frames)


class EventStreams:
    def __init__(
        self,
        *,
        broker: Broker,
        namespace: str,
        sessionmaker: async_sessionmaker[AsyncSession],
        presence: Presence | None,
        queue_size: int,
        feed: RoomFeed | None = None,
        on_failure: OnFailure,
    ) -> None:
        """`feed`: the instance's room feed, shared with the hub; without one the
        dispatcher opens its own."""
        self._broker = broker
        self._own_feed = feed is None
        self._feed = feed or RoomFeed(
            broker=broker, namespace=namespace, queue_size=queue_size, on_failure=on_failure
        )
        self._namespace = namespace
        self._sessionmaker = sessionmaker
        self._presence = presence
        self._queue_size = queue_size
        self._on_failure = on_failure
        self._people: dict[int, _Person] = {}
        self._rooms: dict[str, _Room] = {}
        self._due: dict[str, None] = {}  # rooms with a frame due, in the order they became due
        self._flush_at = 0.0  # the earliest time the next flush may run
        self._flush_timer: asyncio.TimerHandle | None = None
        self._posts: list[PersonEvent] = []
        self._unknown_online: set[str] = set()  # rooms whose online count is to be read
        self._posts_task: asyncio.Task[None] | None = None
        self._online_task: asyncio.Task[None] | None = None
        self._stack = AsyncExitStack()
        self._closed = True
        self._registered: Callable[[Outlet], None] | None = None
        # For measurements: frames handed to outlets; room_activity frames among them; and
        # how many a stream without coalescing would have sent (a frame per message per
        # watcher).
        self.delivered = 0
        self.activity_frames = 0
        self.uncoalesced = 0

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> EventStreams:
        try:
            if self._own_feed:
                await self._stack.enter_async_context(self._feed)
        except BaseException:
            await self._stack.aclose()
            raise
        self._feed.listen(self._from_feed)
        self._closed = False
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Streams are closed with 1012 by their handlers' outlets (clients reconnect to
        another instance and get a fresh snapshot); the task and helpers are awaited."""
        self._closed = True
        if self._flush_timer is not None:
            self._flush_timer.cancel()
        for person in list(self._people.values()):
            for outlet in list(person.outlets):
                outlet.close(CLOSE_SERVICE_RESTART, "server restarting")
        await cancel_and_wait(self._posts_task, self._online_task)
        await self._stack.aclose()

    def on_registered(self, callback: Callable[[Outlet], None]) -> None:
        """`callback(outlet)` after each stream connects (its session is re-checked)."""
        self._registered = callback

    # -- the connection handlers' side ------------------------------------------------------

    @property
    def connections(self) -> int:
        return sum(len(person.outlets) for person in self._people.values())

    @property
    def people(self) -> int:
        return len(self._people)

    def connect(self, outlet: Outlet, snapshot: Snapshot) -> None:
        """Sends the snapshot, then everything after it. A person's later snapshot (a new
        tab) restarts their counts from it: it is the fresher one."""
        if self._closed:
            raise StreamsClosed
        person = self._people.get(outlet.user_id)
        if person is None:
            person = self._people[outlet.user_id] = _Person(outlet.user_id)
        person.outlets.append(outlet)
        outlet.deliver(OutgoingFrames(snapshot.frame))
        self.delivered += 1
        listed = {seen.room_id for seen in snapshot.rooms}
        for room_id in person.rooms - listed:  # gone since an older tab's snapshot
            self._unwatch(person, room_id)
        for seen in snapshot.rooms:
            self._watch(person, seen)
        if self._registered is not None:
            self._registered(outlet)

    def disconnect(self, outlet: Outlet) -> None:
        person = self._people.get(outlet.user_id)
        if person is None or outlet not in person.outlets:
            return
        person.outlets.remove(outlet)
        if person.outlets:
            return
        for room_id in list(person.rooms):
            self._unwatch(person, room_id)
        del self._people[person.user_id]

    def session_ids(self) -> set[uuid.UUID]:
        return {o.session_id for person in self._people.values() for o in person.outlets}

    def end_sessions(
        self, *, user_id: int | None = None, session_ids: frozenset[uuid.UUID] = frozenset()
    ) -> None:
        """Close with 4401 the streams of these sessions, or of every session of `user_id`."""
        for person in list(self._people.values()):
            for outlet in list(person.outlets):
                if person.user_id == user_id or outlet.session_id in session_ids:
                    outlet.close(CLOSE_SESSION_ENDED, "session ended")

    def removed(self, *, room_id: str, user_id: int, reason: RemovalReason) -> None:
        """A kick or a ban (the control channel): the person's streams drop the room."""
        person = self._people.get(user_id)
        if person is not None:
            self._unwatch(person, room_id)
            self._send(person, encode(frames.room_removed(room_id, reason)))

    # -- watching rooms ----------------------------------------------------------------------

    def _watch(self, person: _Person, seen: RoomSeen) -> None:
        room = self._rooms.get(seen.room_id)
        if room is None:
            room = self._rooms[seen.room_id] = _Room(
                seen.room_id, seen.last_id, seen.last_message, seen.online
            )
            self._feed.hold(room.id)
        else:
            room.online = seen.online
            if seen.last_id > room.last_id:
                room.last_id, room.last_message = seen.last_id, seen.last_message
        room.watchers[person.user_id] = _Watch(base=seen.unread, origin=room.seen)
        person.rooms.add(room.id)

    def _unwatch(self, person: _Person, room_id: str) -> None:
        person.rooms.discard(room_id)
        room = self._rooms.get(room_id)
        if room is None:
            return
        room.watchers.pop(person.user_id, None)
        if not room.watchers:
            del self._rooms[room_id]
            self._due.pop(room_id, None)
            self._feed.release(room_id)

    # -- what the feed brings ----------------------------------------------------------------

    def _person_event(self, data: bytes) -> None:
        if not self._people:
            return  # nobody connected here: nothing to decode
        person_event = PersonEvent.decode(data)
        if person_event is None:
            logger.warning("ignored a malformed person event")
        elif person_event.followers_of is not None:
            self._queue_post(person_event)
        else:
            self._for_people(person_event.user_ids, person_event.event)

    async def _from_feed(self, item: FeedItem) -> None:
        """What the feed brings: person events, the watched rooms' events, resets."""
        try:
            if isinstance(item, PeopleMessage):
                self._person_event(item.data)
            else:
                self._on_room_event(item)
        except Exception:  # a bug must not stop every person's stream
            logger.exception("the events dispatcher failed to handle a room event")

    def _on_room_event(self, item: StoredBatch | PresenceChange | TypingEvent | FeedReset) -> None:
        if isinstance(item, FeedReset):
            logger.warning("the room feed missed events; re-reading online counts")
            self._read_online(self._rooms)
        elif isinstance(item, StoredBatch):
            self._stored(item.messages)
        elif isinstance(item, PresenceChange):
            room = self._rooms.get(item.room_id)
            if room is not None:
                room.online = max(0, room.online + (1 if item.kind == "join" else -1))
                room.presence = True
                self._mark_due(room)

    def _stored(self, messages: Iterable[StoredMessage]) -> None:
        rooms = self._rooms
        for message in messages:
            room = rooms.get(message.room_id)
            if room is None:
                continue
            if message.kind != "message":  # an edit or deletion: no new message to count
                if message.target == room.last_id:  # of the last message: its preview changes
                    fields = room.last_message_fields()
                    if fields is not None:
                        gone = message.kind == "delete"
                        room.last_message = {
                            **fields,
                            "preview": "" if gone else preview(message.content),
                            "deleted": gone,
                        }
                    room.activity = True
                    self._mark_due(room)
                continue
            room.seen += 1
            self.uncoalesced += len(room.watchers)
            own = room.watchers.get(message.user_id) if message.user_id is not None else None
            if own is not None:
                own.own += 1
            if message.seq > room.last_id:
                room.last_id, room.last_message = message.seq, message
            room.activity = True
            self._mark_due(room)

    def _for_people(self, user_ids: Iterable[int], event: dict[str, Any]) -> None:
        payload: bytes | None = None
        for user_id in user_ids:
            person = self._people.get(user_id)
            if person is None:
                continue
            self._apply(person, event)
            if payload is None:
                payload = encode(event)
            self._send(person, payload)

    def _apply(self, person: _Person, event: dict[str, Any]) -> None:
        """What the stream's own state learns from a person event it forwards."""
        kind = event.get("type")
        try:
            if kind == "room_added":
                item = event["room"]
                room_id = str(item["id"])
                if room_id in person.rooms:
                    return  # already watched: its counts stand
                last = item.get("last_message")
                self._watch(
                    person,
                    RoomSeen(
                        room_id=room_id,
                        unread=int(item.get("unread") or 0),
                        last_id=int(last["id"]) if last else 0,
                        last_message=last,
                        online=int(item.get("online") or 0),
                    ),
                )
                self._read_online([room_id])
            elif kind == "room_removed":
                self._unwatch(person, str(event["room_id"]))
            elif kind == "read":
                room = self._rooms.get(str(event["room_id"]))
                watch = room.watchers.get(person.user_id) if room is not None else None
                if room is not None and watch is not None:
                    watch.base, watch.origin, watch.own = int(event["unread"]), room.seen, 0
        except (KeyError, TypeError, ValueError):
            logger.warning("a %s event with unexpected fields was forwarded as it is", kind)

    def _send(self, person: _Person, payload: bytes) -> None:
        person.deliver(OutgoingFrames(payload))
        self.delivered += len(person.outlets)

    # -- coalescing ----------------------------------------------------------------------------

    def _mark_due(self, room: _Room) -> None:
        if room.id in self._due:
            return
        self._due[room.id] = None
        if self._flush_timer is None and not self._closed:
            loop = asyncio.get_running_loop()
            delay = max(0.0, self._flush_at - loop.time())
            self._flush_timer = loop.call_later(delay, self._flush)

    def _flush(self) -> None:
        """Every due room: one room_activity frame per watcher (encoded once per distinct
        unread count) and one presence frame for all of them."""
        self._flush_timer = None
        self._flush_at = asyncio.get_running_loop().time() + FLUSH_SECONDS
        due, self._due = self._due, {}
        for room_id in due:
            room = self._rooms.get(room_id)
            if room is None:
                continue
            try:
                self._flush_room(room)
            except Exception:
                logger.exception("flushing room %s failed", room_id)

    def _flush_room(self, room: _Room) -> None:
        people = self._people
        if room.activity:
            room.activity = False
            by_unread: dict[int, OutgoingFrames] = {}
            last_message = room.last_message_fields()
            for user_id, watch in room.watchers.items():
                unread = room.unread(watch)
                out = by_unread.get(unread)
                if out is None:
                    out = by_unread[unread] = OutgoingFrames(
                        frames.room_activity(
                            room_id=room.id,
                            last_id=room.last_id,
                            unread=unread,
                            last_message=last_message,
                        )
                    )
                person = people[user_id]
                person.deliver(out)
                self.delivered += len(person.outlets)
                self.activity_frames += len(person.outlets)
        if room.presence:
            room.presence = False
            out = OutgoingFrames(frames.presence(room_id=room.id, online=room.online))
            for user_id in room.watchers:
                person = people[user_id]
                person.deliver(out)
                self.delivered += len(person.outlets)

    # -- helpers that read the database or presence -----------------------------------------

    def _queue_post(self, event: PersonEvent) -> None:
        if len(self._posts) >= MAX_QUEUED_POSTS:
            logger.warning("post events are arriving faster than followers are read; dropped")
            return
        self._posts.append(event)
        if self._posts_task is None and not self._closed:
            self._posts_task = asyncio.create_task(self._deliver_posts(), name="ws-events-posts")

    async def _deliver_posts(self) -> None:
        """One followers query (per IDS_PER_STATEMENT connected people) for all the posts
        queued meanwhile; runs until none are left."""
        try:
            while self._posts and self._people:
                posts, self._posts = self._posts, []
                authors = {post.followers_of for post in posts if post.followers_of is not None}
                try:
                    async with unit_of_work(self._sessionmaker) as db:
                        pairs = await queries.followers_among(
                            db, author_ids=authors, user_ids=list(self._people)
                        )
                except Exception as exc:
                    logger.warning("reading followers for %d posts failed: %s", len(posts), exc)
                    continue
                followers: dict[int, list[int]] = {}
                for follower, author in pairs:
                    followers.setdefault(author, []).append(follower)
                for post in posts:
                    assert post.followers_of is not None
                    self._for_people(followers.get(post.followers_of, ()), post.event)
        finally:
            self._posts_task = None
            if not self._people:
                self._posts.clear()  # nobody here to tell

    def _read_online(self, room_ids: Iterable[str]) -> None:
        """The online counts of these rooms, read from presence, then sent if they changed."""
        if self._presence is None:
            return
        self._unknown_online.update(room_ids)
        if self._online_task is None and not self._closed and self._unknown_online:
            self._online_task = asyncio.create_task(self._refresh_online(), name="ws-events-online")

    async def _refresh_online(self) -> None:
        presence = self._presence
        assert presence is not None
        try:
            while self._unknown_online:
                asked, self._unknown_online = self._unknown_online, set()
                try:
                    counts = await presence.online_counts(list(asked))
                except Exception as exc:
                    logger.warning("reading online counts failed: %s", exc)
                    return
                for room_id in asked:
                    room = self._rooms.get(room_id)
                    online = counts.get(room_id, 0)
                    if room is not None and room.online != online:
                        room.online = online
                        room.presence = True
                        self._mark_due(room)
        finally:
            self._online_task = None


def snapshot_frame(
    rooms: list[dict[str, Any]], *, invites: int, notifications_unread: int
) -> bytes:
    return encode(
        {
            "type": "snapshot",
            "rooms": rooms,
            "invites": invites,
            "notifications_unread": notifications_unread,
        }
    )
