"""`make bench --smoke` end to end, so the harness keeps working; no timing is asserted."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not os.environ.get("GOCHAT_TEST_DATABASE_URL"):
        pytest.skip("the bench needs PostgreSQL: set GOCHAT_TEST_DATABASE_URL")
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("the bench's load generator needs node and npm")
    out = tmp_path_factory.mktemp("bench")
    completed = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return out


def test_smoke_run_measures_every_system_and_writes_the_report(smoke_run: Path) -> None:
    results = json.loads((smoke_run / "results.json").read_text())
    assert results["errors"] == {}
    for per_system in results["fanout"].values():
        for key in ("socketio", "starlette", "reference"):
            fixed = per_system[key]["fixed"]
            assert fixed["lost"] == 0 and fixed["doubled"] == 0
            assert fixed["delivered"] == fixed["expected"] > 0
            assert per_system[key]["ramp"]["steps"]
    for figures in results["idle"].values():
        assert figures["ready"] == figures["sockets"]
    assert results["login"]["flood"]["workloads"][0]["statuses"].get("200", 0) > 0
    report = (smoke_run / "RESULTS.md").read_text()
    assert "## Targets (issues 7 and 17)" in report
    assert "## Targets (issue 15)" in report
    assert (smoke_run / "latency.png").stat().st_size > 0


def _assert_every_room_got_its_own(result: dict[str, Any]) -> None:
    opened = result["opened"]
    assert opened["ready"] == opened["clients"] and opened["admitted_per_s"] > 0
    fixed = result["fixed"]
    assert 1 < fixed["rooms"] <= result["rooms"]  # messages went to several rooms
    assert fixed["lost"] == fixed["doubled"] == fixed["misrouted"] == fixed["errors"] == 0
    assert fixed["delivered"] == fixed["expected"] == fixed["sent"] * result["members"] > 0
    steps = result["ramp"]["steps"]
    assert steps and all(len(step["repeats"]) > 1 for step in steps)
    assert all(step["misrouted"] == 0 and step["doubled"] == 0 for step in steps)


def test_smoke_run_measures_many_rooms_on_the_peers(smoke_run: Path) -> None:
    results = json.loads((smoke_run / "results.json").read_text())
    for key in ("starlette", "reference"):
        _assert_every_room_got_its_own(results["rooms"][key])
    assert "### Many small rooms" in (smoke_run / "RESULTS.md").read_text()


def test_smoke_run_covers_gochat_once_its_services_serve(smoke_run: Path) -> None:
    results = json.loads((smoke_run / "results.json").read_text())
    notes = " ".join(results["notes"])
    if "ws_service" not in notes:
        fixed = results["fanout"]["10"]["gochat"]["fixed"]
        assert fixed["lost"] == 0 and fixed["doubled"] == 0 and fixed["errors"] == 0
        assert fixed["delivered"] == fixed["expected"] > 0
        assert results["idle"]["gochat"]["ready"] == results["idle"]["gochat"]["sockets"]
        if "cluster" in results:  # only where Redis answers
            assert results["cluster"]["fixed"]["lost"] == 0
        rooms = results["rooms"]["gochat"]
        _assert_every_room_got_its_own(rooms)
        assert rooms["stored"] == rooms["sent"] > 0
        assert set(rooms["pauses"]) == {"opening", "fixed", "ramp", "closing"}
        storm = results["storm"]
        assert storm["back"] == storm["members"] > 0 and storm["gave_up"] == 0
        assert storm["lost"] == storm["doubled"] == storm["misrouted"] == storm["errors"] == 0
        assert storm["delivered"] == storm["expected"] > 0
        assert storm["stored"] == storm["sent"]
        spread = results["scaleout"]
        assert spread["fixed"]["lost"] == spread["fixed"]["misrouted"] == 0
        received = [instance["broker_events"] for instance in spread["instances"]]
        assert all(0 < n < spread["published"] for n in received)  # each its own rooms' only
        assert sum(received) == spread["published"]
        assert [instance["unwanted"] for instance in spread["instances"]] == [0, 0]
        assert "### Scale-out" in (smoke_run / "RESULTS.md").read_text()
        assert set(storm["pauses"]) == {"gochat_event_loop_lag_seconds", "gochat_gc_pause_seconds"}
    if "user_service" not in notes:
        for key in ("busy", "quiet"):
            assert set(results["feed"][key]["workloads"][0]["statuses"]) == {"200"}
        follow = results["follow"]["workloads"][0]["statuses"]
        assert follow.get("200", 0) > 0 and set(follow) == {"200"}


def test_smoke_run_lists_my_rooms_with_unread_counts(smoke_run: Path) -> None:
    unread = json.loads((smoke_run / "results.json").read_text())["unread"]
    assert unread["listed"] == unread["reader_rooms"] == 100
    assert unread["latency"]["workloads"][0]["statuses"] == {
        "200": unread["latency"]["workloads"][0]["requests"]
    }
    assert unread["server_cpu_ms"] > 0 and "Execution Time" in unread["statement"]["explain"]
    assert "getRooms?mine=true" in (smoke_run / "RESULTS.md").read_text()
