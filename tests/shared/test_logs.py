from __future__ import annotations

import json
import signal
from pathlib import Path

import httpx

from tests.support.servers import ProcessServer


async def test_gochat_serve_logs_one_json_object_a_line_with_the_request_id(
    database_url: str, data_dir: Path, tmp_path: Path
) -> None:
    log = tmp_path / "auth.log"
    env = {"GOCHAT_DATABASE_URL": database_url, "GOCHAT_DATA_DIR": str(data_dir)}
    server = ProcessServer(["serve", "auth"], env, log_path=log).start()
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            response = await http.get("/", headers={"X-Request-ID": "trace-me-0042"})
            generated = (await http.get("/nowhere")).headers["x-request-id"]
        assert server.proc is not None
        server.proc.send_signal(signal.SIGINT)  # Ctrl-C: no traceback after the JSON lines
        assert server.proc.wait(timeout=15) == 130
    finally:
        server.stop()

    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert entries and all({"ts", "level", "logger", "message"} <= set(e) for e in entries)
    access = {e["request_id"]: e for e in entries if e["logger"] == "uvicorn.access"}
    assert response.headers["x-request-id"] == "trace-me-0042"
    assert access["trace-me-0042"]["method"] == "GET"
    assert access["trace-me-0042"]["path"] == "/"
    assert access["trace-me-0042"]["status"] == 200
    assert access[generated]["status"] == 404
