"""How big and how long each scenario is: the full run (`make bench`, under 15 minutes) and
the smoke run (`--smoke`, every scenario tiny, seconds)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Ramp:
    """Open-loop ramp in messages per second: up (or down) by `factor` until the verdict
    flips, then `refine` bisections; a failing step is tried once more before it counts."""

    start: float
    factor: float
    refine: int
    minimum: float
    maximum: float
    budget_s: float
    p99_limit_ms: float = 100.0
    confirm_fraction: float = 0.8
    warmup_s: float = 0.5
    duration_s: float = 2.5
    # Each step run this many times back to back; it passes when most runs pass and none lost
    # anything (so one stall cannot decide it). With 1, a narrow failure is tried once more.
    repeats: int = 1

    def plan(self) -> dict[str, object]:
        return {
            "start": self.start,
            "factor": self.factor,
            "refine": self.refine,
            "min": self.minimum,
            "max": self.maximum,
            "budgetS": self.budget_s,
            "p99LimitMs": self.p99_limit_ms,
            "confirmFraction": self.confirm_fraction,
            "retryFailures": 1 if self.repeats == 1 else 0,
            "repeats": self.repeats,
            "timing": {"warmupS": self.warmup_s, "durationS": self.duration_s},
        }


@dataclass(frozen=True)
class Fanout:
    clients: int
    fixed_rate: float  # messages per second, all senders together
    ramp: Ramp
    # Also ramp the Node reference hub, the load generator's own ceiling.
    with_reference: bool = True


@dataclass(frozen=True)
class Profile:
    name: str
    fanouts: tuple[Fanout, ...]
    senders: int
    payload_bytes: int
    warmup_s: float
    duration_s: float
    confirm_s: float
    idle_sockets: int
    idle_rooms: int
    idle_warm: int
    cluster: Fanout
    login_flood: int
    login_seconds: float
    probe_rate: float
    follow_concurrency: int
    follow_seconds: float
    feed_posts: int
    feed_followed: int
    feed_rate: float
    feed_concurrency: int
    feed_seconds: float
    feed_reposts: int
    feed_likes: int
    likes_concurrency: int
    likes_seconds: float
    notifications: int
    notifications_rate: float
    notifications_seconds: float
    # Issue 13: getRooms?mine=true for a reader in 100 rooms among `unread_rooms`.
    unread_messages: int = 1_000_000
    unread_rooms: int = 1000
    unread_rate: float = 20.0  # a request costs ~10 ms of server CPU: far from saturation
    unread_seconds: float = 8.0
    unread_statement_runs: int = 200


FULL = Profile(
    name="full",
    fanouts=(
        Fanout(
            100,
            40,
            Ramp(start=200, factor=2, refine=3, minimum=5, maximum=20000, budget_s=45),
            with_reference=False,
        ),
        Fanout(1000, 10, Ramp(start=20, factor=2, refine=3, minimum=1, maximum=3000, budget_s=50)),
    ),
    senders=5,
    payload_bytes=60,
    warmup_s=1.0,
    duration_s=5.0,
    confirm_s=5.0,
    idle_sockets=10_000,
    idle_rooms=100,
    idle_warm=50,
    cluster=Fanout(
        1000, 10, Ramp(start=20, factor=2, refine=3, minimum=1, maximum=3000, budget_s=40)
    ),
    login_flood=100,
    login_seconds=10.0,
    probe_rate=100.0,
    follow_concurrency=32,
    follow_seconds=5.0,
    feed_posts=1_000_000,
    feed_followed=1000,
    feed_rate=50.0,
    feed_concurrency=8,
    feed_seconds=8.0,
    feed_reposts=20_000,
    feed_likes=5_000,
    likes_concurrency=32,
    likes_seconds=5.0,
    notifications=100_000,
    notifications_rate=50.0,
    notifications_seconds=8.0,
)

SMOKE_RAMP = Ramp(
    start=5, factor=2, refine=0, minimum=2, maximum=10, budget_s=3, warmup_s=0.1, duration_s=0.3
)

SMOKE = Profile(
    name="smoke",
    fanouts=(Fanout(10, 5, SMOKE_RAMP),),
    senders=2,
    payload_bytes=20,
    warmup_s=0.1,
    duration_s=0.3,
    confirm_s=0.3,
    idle_sockets=20,
    idle_rooms=2,
    idle_warm=2,
    cluster=Fanout(10, 5, SMOKE_RAMP),
    login_flood=4,
    login_seconds=1.0,
    probe_rate=20.0,
    follow_concurrency=2,
    follow_seconds=0.5,
    feed_posts=2000,
    feed_followed=10,
    feed_rate=20.0,
    feed_concurrency=2,
    feed_seconds=0.5,
    feed_reposts=50,
    feed_likes=20,
    likes_concurrency=2,
    likes_seconds=0.5,
    notifications=200,
    notifications_rate=20.0,
    notifications_seconds=0.5,
    unread_messages=2000,
    unread_rooms=200,
    unread_rate=10.0,
    unread_seconds=0.5,
    unread_statement_runs=5,
)


# ---- many small rooms, handshakes, reconnect storm (issue 15) --------------------------------


@dataclass(frozen=True)
class ManyRooms:
    """`rooms` x `members` sockets, every member sending (each message reaches its own room's
    members only): the handshakes of opening them all, a fixed rate held for `fixed_s` (the
    server's pause histograms are read before and after it), then the open-loop ramp."""

    rooms: int
    members: int
    fixed_rate: float  # messages per second, all senders together
    fixed_s: float
    ramp: Ramp
    connect_concurrency: int

    @property
    def sockets(self) -> int:
        return self.rooms * self.members


@dataclass(frozen=True)
class Storm:
    """`rooms` rooms, each with one talker that stays and `members` who drop at once, miss
    `missed` messages per room, and reconnect all at once with `?after=`."""

    rooms: int
    members: int
    before: int  # messages per room while everyone is there
    missed: int  # messages per room while the members are away
    during_rate: float  # messages per second, all talkers, while the members reconnect
    rate: float  # messages per second for the `before` and `missed` messages
    connect_concurrency: int
    storm_concurrency: int  # handshakes in flight at once in the storm

    @property
    def sockets(self) -> int:
        return self.rooms * (self.members + 1)


@dataclass(frozen=True)
class ScaleOut:
    """Two GoChat instances on one Redis, each with its own `rooms` rooms of `members` (no
    room on both), every member sending at `rate` msg/s in all for `seconds`: how much of
    the other instance's traffic each one receives (none, with per-room channels)."""

    rooms: int  # per instance
    members: int
    rate: float  # messages per second, all senders of both instances together
    seconds: float
    connect_concurrency: int

    @property
    def sockets(self) -> int:
        return 2 * self.rooms * self.members


@dataclass(frozen=True)
class RoomsProfile:
    many_rooms: ManyRooms
    storm: Storm
    scale_out: ScaleOut = ScaleOut(
        rooms=200, members=10, rate=400, seconds=20, connect_concurrency=100
    )


ROOMS_FULL = RoomsProfile(
    many_rooms=ManyRooms(
        rooms=1000,
        members=10,
        # Below what GoChat sustained in many rooms when issue 15 was filed (367-727 msg/s),
        # so that the fixed phase measures pauses, not a backlog.
        fixed_rate=250,
        fixed_s=30,
        ramp=Ramp(
            start=500,
            factor=2,
            refine=2,
            minimum=50,
            maximum=20000,
            budget_s=360,
            warmup_s=1.0,
            duration_s=5.0,
            repeats=3,
        ),
        connect_concurrency=100,
    ),
    storm=Storm(
        rooms=500,
        members=10,
        before=2,
        missed=20,
        during_rate=100,
        rate=500,
        connect_concurrency=100,
        storm_concurrency=5000,
    ),
)

ROOMS_SMOKE = RoomsProfile(
    many_rooms=ManyRooms(
        rooms=3,
        members=3,
        fixed_rate=10,
        fixed_s=0.3,
        ramp=Ramp(
            start=5,
            factor=2,
            refine=0,
            minimum=2,
            maximum=10,
            budget_s=5,
            warmup_s=0.1,
            duration_s=0.3,
            repeats=2,
        ),
        connect_concurrency=10,
    ),
    storm=Storm(
        rooms=2,
        members=3,
        before=2,
        missed=3,
        during_rate=5,
        rate=50,
        connect_concurrency=10,
        storm_concurrency=10,
    ),
    scale_out=ScaleOut(rooms=3, members=3, rate=20, seconds=1.0, connect_concurrency=10),
)
