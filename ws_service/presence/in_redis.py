"""Presence shared by every instance through Redis.

Per room, a sorted set of `user_id:instance:username` entries scored by their expiry, and a
hash counting each user's live entries. Every instance refreshes its entries every heartbeat;
a killed instance's entries expire after the TTL and the next instance that touches the room
announces the users that left with them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.tasks import cancel_and_wait
from ws_service.messages.stream import PresenceChange
from ws_service.presence.base import Announce, Presence, PresentUser

logger = logging.getLogger("gochat.ws.presence")


# KEYS[1]: the room's entries, KEYS[2]: its per-user entry counts.
# ARGV[1]: "enter" or "leave"; ARGV[2]: TTL in seconds; ARGV[3...]: entries.
# Expired entries are swept first. Returns kind, entry, kind, entry... for users who joined
# or left the room as a whole.
_UPDATE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local ttl = tonumber(ARGV[2])
local changes = {}
local function drop(entry)
  local user = string.match(entry, '^(%d+):')
  if redis.call('HINCRBY', KEYS[2], user, -1) <= 0 then
    redis.call('HDEL', KEYS[2], user)
    table.insert(changes, 'leave')
    table.insert(changes, entry)
  end
end
for _, entry in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)) do
  redis.call('ZREM', KEYS[1], entry)
  drop(entry)
end
for i = 3, #ARGV do
  local entry = ARGV[i]
  if ARGV[1] == 'leave' then
    if redis.call('ZREM', KEYS[1], entry) == 1 then drop(entry) end
  elseif redis.call('ZADD', KEYS[1], now + ttl, entry) == 1 then
    if redis.call('HINCRBY', KEYS[2], string.match(entry, '^(%d+):'), 1) == 1 then
      table.insert(changes, 'join')
      table.insert(changes, entry)
    end
  end
end
local keep = math.ceil(ttl) * 2
redis.call('EXPIRE', KEYS[1], keep)
redis.call('EXPIRE', KEYS[2], keep)
return changes
"""

# KEYS[1]: the room's entries. Returns those not expired.
_LIVE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
"""

CHANGE_QUEUE_SIZE = 10_000
CHANGE_BATCH_MAX = 500


@dataclass(slots=True)
class _Change:
    kind: str  # "enter" or "leave"
    room_id: str
    entry: str
    done: asyncio.Future[None]


class RedisPresence(Presence):
    """One worker task applies this instance's changes in order, batched into pipelines,
    and refreshes its entries every heartbeat; Redis errors are logged and healed by the
    next heartbeat, which re-adds whatever is missing."""

    def __init__(
        self,
        announce: Announce,
        redis: Redis,
        *,
        namespace: str,
        ttl_seconds: float,
        heartbeat_seconds: float,
    ) -> None:
        super().__init__(announce)
        self._redis = redis
        self._namespace = namespace
        self._ttl = ttl_seconds
        self._heartbeat = heartbeat_seconds
        self.instance = secrets.token_hex(6)
        self._update = redis.register_script(_UPDATE)
        self._live = redis.register_script(_LIVE)
        self._changes: asyncio.Queue[_Change] = asyncio.Queue(CHANGE_QUEUE_SIZE)
        self._worker: asyncio.Task[None] | None = None

    def _keys(self, room_id: str) -> list[str]:
        # The hash tag keeps a room's two keys in one Redis Cluster slot.
        base = f"{self._namespace}:presence:{{{room_id}}}"
        return [base, f"{base}:n"]

    def _entry(self, user_id: int, username: str) -> str:
        return f"{user_id}:{self.instance}:{username}"

    async def __aenter__(self) -> RedisPresence:
        self._worker = asyncio.create_task(self._work(), name="ws-presence")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        worker, self._worker = self._worker, None
        await cancel_and_wait(worker)
        leaving: list[_Change] = []
        while not self._changes.empty():
            change = self._changes.get_nowait()
            if change.kind == "leave":
                leaving.append(change)
            elif not change.done.done():
                change.done.set_result(None)
        loop = asyncio.get_running_loop()
        for room_id, users in self._local.items():
            for user_id, here in users.items():
                entry = self._entry(user_id, here.username)
                leaving.append(_Change("leave", room_id, entry, loop.create_future()))
        self._local.clear()
        # Tell the others now rather than after the TTL.
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            async with asyncio.timeout(2):
                await self._apply(leaving)

    async def _first_here(self, room_id: str, user_id: int, username: str) -> None:
        await self._submit("enter", room_id, self._entry(user_id, username))

    async def _last_here(self, room_id: str, user_id: int, username: str) -> None:
        await self._submit("leave", room_id, self._entry(user_id, username))

    async def _submit(self, kind: str, room_id: str, entry: str) -> None:
        if self._worker is None:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._changes.put(_Change(kind, room_id, entry, done))
        await done

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        next_beat = loop.time() + self._heartbeat
        while True:
            batch: list[_Change] = []
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, next_beat - loop.time())):
                    batch.append(await self._changes.get())
            while batch and len(batch) < CHANGE_BATCH_MAX and not self._changes.empty():
                batch.append(self._changes.get_nowait())
            if batch:
                await self._apply_logged(batch)
            if loop.time() >= next_beat:
                next_beat = loop.time() + self._heartbeat
                await self._apply_logged(self._refreshes())

    def _refreshes(self) -> list[_Change]:
        """Every local entry re-entered: extends its expiry, re-adds it if it was lost."""
        loop = asyncio.get_running_loop()
        return [
            _Change("enter", room_id, self._entry(user_id, here.username), loop.create_future())
            for room_id, users in self._local.items()
            for user_id, here in users.items()
        ]

    async def _apply_logged(self, changes: list[_Change]) -> None:
        try:
            await self._apply(changes)
        except (RedisError, OSError) as exc:
            logger.warning("presence update failed (%s); the next heartbeat repairs it", exc)
        finally:
            for change in changes:
                if not change.done.done():
                    change.done.set_result(None)

    async def _apply(self, changes: list[_Change]) -> None:
        if not changes:
            return
        # One script call per room and kind, keeping the order of the changes.
        calls: list[tuple[str, str, list[str]]] = []
        for change in changes:
            if calls and calls[-1][0] == change.kind and calls[-1][1] == change.room_id:
                calls[-1][2].append(change.entry)
            else:
                calls.append((change.kind, change.room_id, [change.entry]))
        async with self._redis.pipeline(transaction=False) as pipe:
            for kind, room_id, entries in calls:
                await self._update(
                    keys=self._keys(room_id), args=[kind, self._ttl, *entries], client=pipe
                )
            results = await pipe.execute()
        for (_kind, room_id, _entries), result in zip(calls, results, strict=True):
            for kind, entry in zip(result[::2], result[1::2], strict=True):
                user_id, _instance, username = _decode(entry).split(":", 2)
                await self._announce(
                    PresenceChange(
                        "join" if _decode(kind) == "join" else "leave",
                        room_id,
                        int(user_id),
                        username,
                    )
                )
        for change in changes:
            if not change.done.done():
                change.done.set_result(None)

    async def members(self, room_id: str) -> list[PresentUser]:
        entries = await self._live(keys=self._keys(room_id)[:1])
        present: dict[int, PresentUser] = {}
        for entry in entries:
            user_id, _instance, username = _decode(entry).split(":", 2)
            present[int(user_id)] = PresentUser(int(user_id), username)
        return sorted(present.values(), key=lambda user: (user.username.lower(), user.user_id))

    async def online_counts(self, room_ids: Sequence[str]) -> dict[str, int]:
        if not room_ids:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for room_id in room_ids:
                await self._live(keys=self._keys(room_id)[:1], client=pipe)
            results = await pipe.execute()
        return {
            room_id: len({_decode(entry).split(":", 1)[0] for entry in entries})
            for room_id, entries in zip(room_ids, results, strict=True)
        }


def _decode(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
