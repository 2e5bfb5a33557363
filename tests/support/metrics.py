"""Reading a service's /metrics (Prometheus text) in tests."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

Sample = tuple[str, frozenset[tuple[str, str]]]  # name and labels


def samples(exposition: str) -> dict[Sample, float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def unlabelled(exposition: str) -> dict[str, float]:
    """The samples without labels, by name (`gochat_ws_connections_open`, ...)."""
    return {name: value for (name, labels), value in samples(exposition).items() if not labels}
