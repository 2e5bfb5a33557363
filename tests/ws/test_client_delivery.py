"""The delivery rules of one client, without a socket: an in-memory sink that can push back."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.ws.memory_sink import MemorySink
from ws_service.connection.close_codes import CLOSE_TRY_AGAIN_LATER
from ws_service.delivery.sinks import OutgoingFrames
from ws_service.delivery.subscriber import Subscriber


def frames(*payloads: bytes) -> list[OutgoingFrames]:
    return [OutgoingFrames(p) for p in payloads]


def live_client(sink: MemorySink, queue_limit: int = 3) -> Subscriber:
    client = Subscriber(
        sink, room_id="r", user_id=1, username="u", session_id=uuid.uuid4(), queue_limit=queue_limit
    )
    client.go_live()
    return client


async def test_a_client_that_keeps_up_is_written_directly_without_a_task() -> None:
    sink = MemorySink()
    client = live_client(sink)
    for frame in frames(b"1", b"2", b"3", b"4", b"5"):
        client.deliver(frame)
    assert sink.written == [b"1", b"2", b"3", b"4", b"5"]
    assert client.queued == 0 and client._writer is None


async def test_pushback_queues_in_order_and_the_writer_drains_it() -> None:
    sink = MemorySink()
    client = live_client(sink)
    client.deliver(OutgoingFrames(b"1"))
    sink.open.clear()
    client.deliver(OutgoingFrames(b"2"))
    client.deliver(OutgoingFrames(b"3"))
    assert sink.written == [b"1"] and client.queued == 2
    sink.open.set()
    client.deliver(OutgoingFrames(b"4"))  # behind the queue, though the sink is open again
    assert sink.written == [b"1"]
    for _ in range(5):
        await asyncio.sleep(0)
    assert sink.written == [b"1", b"2", b"3", b"4"]
    assert client.queued == 0 and client._writer is None
    client.deliver(OutgoingFrames(b"5"))
    assert sink.written[-1] == b"5"  # direct again


async def test_a_full_queue_closes_the_client_with_1013() -> None:
    sink = MemorySink()
    client = live_client(sink, queue_limit=3)
    sink.open.clear()
    for frame in frames(b"1", b"2", b"3"):
        client.deliver(frame)
    assert sink.closed_with is None
    client.deliver(OutgoingFrames(b"4"))
    assert sink.closed_with == CLOSE_TRY_AGAIN_LATER
    assert client.close_code == CLOSE_TRY_AGAIN_LATER and client.queued == 0
    client.deliver(OutgoingFrames(b"5"))
    assert client.queued == 0
    await client.aclose()


async def test_live_frames_wait_behind_history_until_go_live() -> None:
    sink = MemorySink()
    client = Subscriber(
        sink, room_id="r", user_id=1, username="u", session_id=uuid.uuid4(), queue_limit=10
    )
    client.deliver(OutgoingFrames(b"live 1"))
    await client.send_before_live(OutgoingFrames(b"history"))
    client.deliver(OutgoingFrames(b"live 2"))
    await client.send_before_live(OutgoingFrames(b"ready"))
    assert sink.written == [b"history", b"ready"]
    client.go_live()
    for _ in range(5):
        await asyncio.sleep(0)
    assert sink.written == [b"history", b"ready", b"live 1", b"live 2"]


async def test_aclose_stops_a_writer_stuck_on_a_client_that_never_reads() -> None:
    sink = MemorySink()
    client = live_client(sink)
    sink.open.clear()
    client.deliver(OutgoingFrames(b"1"))
    await asyncio.sleep(0)
    writer = client._writer
    assert writer is not None and not writer.done()
    await client.aclose()
    assert writer.cancelled()


async def test_the_queue_limit_counts_frames_not_writes() -> None:
    sink = MemorySink()
    client = live_client(sink, queue_limit=3)
    sink.open.clear()
    client.deliver(OutgoingFrames(b"1", b"2"))
    assert client.queued == 2 and sink.closed_with is None
    client.deliver(OutgoingFrames(b"3", b"4"))
    assert sink.closed_with == CLOSE_TRY_AGAIN_LATER
    await client.aclose()


@pytest.mark.parametrize("payload", [b'{"a":1}', "é".encode(), b"x" * 200])
def test_outgoing_frames_are_unmasked_text_frames(payload: bytes) -> None:
    frames = OutgoingFrames(payload)
    header = bytes([0x81, len(payload)]) if len(payload) < 126 else bytes([0x81, 126, 0, 200])
    assert frames.wire == header + payload
    assert frames.wire is frames.wire  # encoded once


def test_several_frames_are_one_write() -> None:
    frames = OutgoingFrames(b"a", b"bc")
    assert frames.wire == b"\x81\x01a\x81\x02bc"
    assert len(frames) == 2
