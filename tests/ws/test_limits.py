from __future__ import annotations

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
