from __future__ import annotations

import pytest

from ws_service.connection.caps import CapReached, ConnectionCaps
from ws_service.connection.limits import TokenBucket


def test_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate=10, burst=20, now=0.0)
    assert all(bucket.take(0.0) for _ in range(20))
    assert not bucket.take(0.0)
    assert bucket.take(0.1)  # one token a tenth of a second
    assert not bucket.take(0.1)
    assert sum(bucket.take(1.1) for _ in range(30)) == 10


def test_tokens_never_exceed_the_burst() -> None:
    bucket = TokenBucket(rate=10, burst=5, now=0.0)
    assert sum(bucket.take(1000.0) for _ in range(50)) == 5


def test_sockets_per_user_and_per_address_are_capped_and_given_back() -> None:
    caps = ConnectionCaps(per_user=2, per_address=3, handshake_rate=1.0, handshake_burst=10)
    first = caps.open(user_id=1, address="10.0.0.1")
    caps.open(user_id=1, address="10.0.0.1")
    with pytest.raises(CapReached, match="for this user"):
        caps.open(user_id=1, address="10.0.0.2")
    caps.open(user_id=2, address="10.0.0.1")
    with pytest.raises(CapReached, match="from this address"):
        caps.open(user_id=3, address="10.0.0.1")
    caps.release(first)
    assert caps.open_for(user_id=1) == 1
    caps.open(user_id=3, address="10.0.0.1")
    assert caps.open_for(address="10.0.0.1") == 3


def test_handshakes_per_address_are_rate_limited() -> None:
    caps = ConnectionCaps(per_user=9, per_address=9, handshake_rate=2.0, handshake_burst=3)
    for _ in range(3):
        caps.handshake("10.0.0.1", now=0.0)
    with pytest.raises(CapReached) as refused:
        caps.handshake("10.0.0.1", now=0.0)
    assert refused.value.status_code == 429 and refused.value.retry_after >= 1
    caps.handshake("10.0.0.2", now=0.0)  # another address has its own budget
    caps.handshake("10.0.0.1", now=0.5)  # two a second after the burst
