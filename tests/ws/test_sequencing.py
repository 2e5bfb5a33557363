"""Per-room ordering rules, without a socket."""

from __future__ import annotations

from ws_service.delivery.sequencing import RoomSequence


def test_in_order_messages_are_released_at_once() -> None:
    sequence: RoomSequence[str] = RoomSequence(next_seq=1)
    assert sequence.offer(1, "a") == ["a"]
    assert sequence.offer(2, "b") == ["b"]
    assert sequence.missing is None


def test_repeats_and_old_messages_are_dropped() -> None:
    sequence: RoomSequence[str] = RoomSequence(next_seq=5)
    assert sequence.offer(4, "old") == []
    assert sequence.offer(5, "e") == ["e"]
    assert sequence.offer(5, "e again") == []


def test_early_messages_are_held_until_the_gap_closes() -> None:
    sequence: RoomSequence[str] = RoomSequence(next_seq=1)
    assert sequence.offer(3, "c") == []
    assert sequence.offer(2, "b") == []
    assert sequence.offer(3, "c twice") == []
    assert sequence.missing == (1, 3)
    assert sequence.offer(1, "a") == ["a", "b", "c"]
    assert sequence.missing is None and sequence.held == 0


def test_a_fill_from_the_database_releases_everything_through_its_end() -> None:
    sequence: RoomSequence[str] = RoomSequence(next_seq=1)
    sequence.offer(4, "d")
    assert sequence.fill([(1, "a"), (2, "b"), (3, "c"), (4, "d")], through=4) == [
        "a",
        "b",
        "c",
        "d",
    ]
    assert sequence.next_seq == 5


def test_a_fill_skips_numbers_the_database_no_longer_has() -> None:
    """A deleted user's messages are deleted with them: their numbers never come."""
    sequence: RoomSequence[str] = RoomSequence(next_seq=1)
    sequence.offer(5, "e")
    assert sequence.fill([(1, "a"), (3, "c")], through=5) == ["a", "c", "e"]
    assert sequence.next_seq == 6 and sequence.missing is None


def test_expected_numbers_are_missing_until_seen() -> None:
    sequence: RoomSequence[str] = RoomSequence(next_seq=3)
    sequence.expect(4)
    assert sequence.missing == (3, 4)
    sequence.offer(3, "c")
    sequence.offer(4, "d")
    assert sequence.missing is None and sequence.last_known == 4


def test_a_fill_that_ends_early_leaves_the_rest_missing() -> None:
    sequence: RoomSequence[str] = RoomSequence(next_seq=1)
    sequence.offer(10, "j")
    assert sequence.fill([(1, "a"), (2, "b")], through=2) == ["a", "b"]
    assert sequence.missing == (3, 10)


def test_dropped_held_messages_are_still_missing_and_come_back_in_a_fill() -> None:
    sequence: RoomSequence[str] = RoomSequence(next_seq=1)
    sequence.offer(2, "b")
    sequence.offer(3, "c")
    sequence.drop_held()
    assert sequence.held == 0 and sequence.missing == (1, 3)
    assert sequence.fill([(1, "a"), (2, "b"), (3, "c")], through=3) == ["a", "b", "c"]
