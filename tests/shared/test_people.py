"""Person events: what one service publishes reaches a subscriber of the people channel as
it was, and nothing malformed gets through."""

from __future__ import annotations

from shared.broker import MemoryBroker
from shared.people import PersonEvent, people_channel, publish_person_event


async def test_a_person_event_reaches_the_people_channel_once_per_publish() -> None:
    broker = MemoryBroker()
    async with broker.subscribe(people_channel("ns"), maxsize=10) as subscription:
        assert await publish_person_event(
            broker, "ns", user_ids=[3, 1, 3], event={"type": "follower", "user_id": 7}
        )
        assert await publish_person_event(broker, "ns", user_ids=[], event={"type": "x"})
        received = subscription.get_nowait()
        assert received is not None
        assert PersonEvent.decode(received.data) == PersonEvent(
            user_ids=(1, 3), event={"type": "follower", "user_id": 7}
        )
        assert subscription.get_nowait() is None


def test_malformed_person_events_decode_to_none() -> None:
    for data in (
        b"",
        b"[]",
        b'{"user_ids": ["x"], "event": {"type": "a"}}',
        b'{"user_ids": [1], "event": {"kind": "a"}}',
        b'{"user_ids": [1]}',
    ):
        assert PersonEvent.decode(data) is None
