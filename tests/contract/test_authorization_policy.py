"""The object-level check's table (tests/contract/authorization.py) names every operation of
the three services, and nothing else: a new endpoint must say what Bob gets on Alice's."""

from __future__ import annotations

from shared.settings import Settings
from tests.contract.authorization import ALLOWED, POLICY
from tests.shared.test_openapi import documents, operations


def test_every_operation_has_a_rule_and_every_rule_an_operation(settings: Settings) -> None:
    labels = {
        f"{method.upper()} {path}"
        for document in documents(settings).values()
        for path, method, _ in operations(document)
    }
    assert sorted(labels - POLICY.keys()) == []
    assert sorted(POLICY.keys() - labels) == []


def test_every_operation_bob_may_succeed_at_says_why() -> None:
    assert [
        label for label, rule in POLICY.items() if rule.kind == ALLOWED and not rule.reason
    ] == []
