"""The per-socket read-marker writer and the unread rules, as plain code (no server)."""

from __future__ import annotations

import asyncio

import pytest

from ws_service.connection.protocol import FrameRefused, ReadRequest, parse_client_frame
from ws_service.connection.read_marker import ReadMarkerWriter
from ws_service.rooms.queries import MINE_COUNT_CAP
from ws_service.rooms.unread import UNREAD_MANY, preview, unread_count


async def test_a_stream_of_reports_costs_one_write_per_interval_and_ends_at_the_highest() -> None:
    written: list[int] = []

    async def write(up_to: int) -> None:
        await asyncio.sleep(0.01)  # a transaction's round trip
        written.append(up_to)

    interval = 0.2
    writer = ReadMarkerWriter(write, interval=interval)
    started = asyncio.get_running_loop().time()
    for up_to in range(1, 101):  # 100 reports over ~0.5 s, one of them going backwards
        writer.report(up_to if up_to != 60 else 3)
        await asyncio.sleep(0.005)
    elapsed = asyncio.get_running_loop().time() - started  # longer on a busy machine
    await writer.aclose()
    # At once, then at most one per interval, then the flush.
    assert len(written) <= 2 + elapsed / interval < 100
    assert written == sorted(written) and written[-1] == 100


async def test_a_report_waiting_when_the_socket_closes_is_written() -> None:
    written: list[int] = []

    async def write(up_to: int) -> None:
        written.append(up_to)

    writer = ReadMarkerWriter(write, interval=10)
    writer.report(1)
    await asyncio.sleep(0.05)
    writer.report(7)
    writer.report(5)
    await writer.aclose()
    assert written == [1, 7]


async def test_a_failed_write_is_dropped_and_the_writer_goes_on() -> None:
    written: list[int] = []

    async def write(up_to: int) -> None:
        if up_to == 1:
            raise RuntimeError("database away")
        written.append(up_to)

    writer = ReadMarkerWriter(write, interval=0.05)
    writer.report(1)
    await asyncio.sleep(0.1)
    writer.report(2)
    await asyncio.sleep(0.1)
    await writer.aclose()
    assert written == [2]


def test_read_frames_parse_and_bad_ones_are_refused() -> None:
    assert parse_client_frame('{"type": "read", "up_to": 42}') == ReadRequest(42)
    for bad in (
        '{"type": "read"}',
        '{"type": "read", "up_to": -1}',
        '{"type": "read", "up_to": 1.5}',
        '{"type": "read", "up_to": true}',
        '{"type": "read", "up_to": null}',
        f'{{"type": "read", "up_to": {2**63}}}',
        '{"type": "read", "up_to": 1, "extra": 1}',
    ):
        with pytest.raises(FrameRefused) as refused:
            parse_client_frame(bad)
        assert refused.value.code == "bad_frame"


def test_unread_is_exact_to_999_then_999_plus() -> None:
    assert unread_count(message_count=10, read_number=4, mine_after=2) == 4
    assert unread_count(message_count=1003, read_number=4, mine_after=0) == 999
    assert unread_count(message_count=5000, read_number=0, mine_after=3) == UNREAD_MANY == 1000
    assert unread_count(message_count=3, read_number=3, mine_after=0) == 0
    # Past the cap, my messages are not all subtracted: an upper bound, never negative.
    capped = unread_count(message_count=5000, read_number=0, mine_after=MINE_COUNT_CAP)
    assert capped == UNREAD_MANY
    assert unread_count(message_count=2, read_number=5, mine_after=0) == 0


def test_a_preview_is_one_line_of_at_most_100_characters() -> None:
    assert preview("  hello\n\n  world\t!  ") == "hello world !"
    assert preview("é" * 300) == "é" * 100
