"""`docker compose up` for real, as README "Deploy" tells an operator: a copy of the project
with its own .env and key pair, `build`, `up --wait`, then a user's whole path through the
gateway published on 127.0.0.1 (nothing else is reached but through `docker`), scaling and
losing a chat instance, and `down -v` leaving nothing behind.

It needs a Docker engine with Compose v2 and takes minutes, so it runs only with
GOCHAT_TEST_COMPOSE=1 (`.ci/compose/run` sets it, after starting Docker). Where no registry
is reachable, GOCHAT_TEST_COMPOSE_OVERRIDE names the compose file that swaps in local base
images (`.ci/compose/standins/compose.override.yml`). Every docker call has a time limit;
the stack is taken down (`down -v`) even when a test fails, after its state and logs are
printed.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import ClientConnection

from gochat.processes import free_port
from shared.tokens import PRIVATE_KEY_FILENAME, generate_key_pair, write_key_pair
from tests.support.compose import ROOT, ComposeProject, copy_project
from tests.support.users import PASSWORD, Account, register
from tests.ws.chat_client import close_code, create_room, join, messages, send_message, until_ready

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("GOCHAT_TEST_COMPOSE") != "1",
        reason="builds and runs the compose stack (minutes): GOCHAT_TEST_COMPOSE=1",
    ),
]

IMAGE_USER = 10001  # the Dockerfile's `USER`
BUILD_SECONDS = 600  # a cold build downloads every runtime wheel
UP_SECONDS = 180


@dataclass
class Deployment:
    project: ComposeProject
    url: str
    image: str
    down: bool = False

    def up(self, *options: str, step: str) -> None:
        """`up --wait`: returns once every container is healthy (or fails naming the one not)."""
        wait = ("--detach", "--wait", "--wait-timeout", str(UP_SECONDS))
        self.project.run("up", *wait, *options, timeout=UP_SECONDS + 30, step=step)

    def stop(self, container: str) -> None:
        self.project.docker("stop", "--time", "15", container, timeout=60, step="docker stop ws")

    def ws_instances(self) -> list[str]:
        return self.project.containers("ws")

    async def join_placed(
        self, room_id: str, account: Account, *, after: int | None = None
    ) -> tuple[ClientConnection, str]:
        """A chat socket opened through the gateway, and the ws container the gateway gave it
        to (the one whose log has the socket's request id)."""
        request_id = f"place-{secrets.token_hex(8)}"
        placed = {"X-Request-ID": request_id}
        ws = await join(self.url, room_id, account, after=after, headers=placed)
        for _ in range(50):
            for container in self.ws_instances():
                logs = await asyncio.to_thread(self.project.logs, container)
                if f'"request_id":"{request_id}"' in logs:
                    return ws, container
            await asyncio.sleep(0.2)
        await ws.close()
        raise AssertionError(f"no ws container logged {request_id}")


def operator_setup(directory: Path, *, port: int) -> None:
    """README "Deploy": .env with a database password, the key pair, the private key owned by
    the image's user; the gateway published on loopback only, on a free port."""
    (directory / ".env").write_text(
        f"POSTGRES_PASSWORD={secrets.token_hex(16)}\n"
        "GOCHAT_GATEWAY_ADDRESS=127.0.0.1\n"
        f"GOCHAT_GATEWAY_PORT={port}\n"
        "GOCHAT_IMAGE_TAG=e2e\n"
    )
    keys = directory / "deploy" / "secrets"
    write_key_pair(keys, generate_key_pair())
    if os.geteuid() == 0:
        os.chown(keys / PRIVATE_KEY_FILENAME, IMAGE_USER, IMAGE_USER)
    else:  # a throwaway key in a temporary copy: readable is as good as owned
        (keys / PRIVATE_KEY_FILENAME).chmod(0o644)


def to_terminal(config: pytest.Config, lines: list[str]) -> None:
    """Straight to the terminal, past pytest's capture: printed whether the tests pass or fail."""
    capture = config.pluginmanager.get_plugin("capturemanager")
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if capture is None or reporter is None:
        return
    with capture.global_and_fixture_disabled():
        for line in lines:
            reporter.write_line(line)


def report(config: pytest.Config, project: ComposeProject, image: str) -> None:
    lines = [f"  {step}: {seconds:.1f} s" for step, seconds in project.timings]
    try:
        size = project.docker("image", "inspect", "--format", "{{.Size}}", image, timeout=30)
        lines.append(f"  image {image}: {int(size) / 1e6:.0f} MB")
    except AssertionError:
        lines.append(f"  image {image}: not built")
    to_terminal(config, ["", "compose end-to-end timings:", *lines])


def diagnose(config: pytest.Config, project: ComposeProject) -> None:
    """What a failing run leaves for the reader: each container's state and log tail."""
    lines = ["", "compose state at the failure:"]
    try:
        lines.append(repr(project.states()))
        for container in project.containers(every=True):
            name = project.docker("inspect", "--format", "{{.Name}}", container).strip()
            lines += [f"--- {name}", *project.logs(container).splitlines()[-15:]]
    except (AssertionError, subprocess.SubprocessError) as exc:
        lines.append(f"(could not read the state: {exc})")
    to_terminal(config, lines)


@pytest.fixture(scope="module")
def docker() -> str:
    """Docker with Compose v2. Asked for (GOCHAT_TEST_COMPOSE=1) and missing is a failure."""
    found = shutil.which("docker")
    if found is None:
        pytest.fail("GOCHAT_TEST_COMPOSE=1 but there is no docker command")
    probe = subprocess.run(
        [found, "compose", "version"], capture_output=True, text=True, timeout=30, check=False
    )
    if probe.returncode != 0:
        pytest.fail(f"GOCHAT_TEST_COMPOSE=1 but docker compose does not run: {probe.stderr}")
    return found


@pytest.fixture(scope="module")
def deployment(
    docker: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    directory = copy_project(tmp_path_factory.mktemp("compose-project"))
    port = free_port()
    operator_setup(directory, port=port)
    override = os.environ.get("GOCHAT_TEST_COMPOSE_OVERRIDE")
    project = ComposeProject(
        directory=directory,
        name=f"gochat-e2e-{secrets.token_hex(3)}",
        overrides=[ROOT / override] if override else [],
    )
    deployed = Deployment(project, url=f"http://127.0.0.1:{port}", image="gochat:e2e")
    failures = request.session.testsfailed
    try:
        project.run("build", timeout=BUILD_SECONDS, step="build")
        deployed.up(step="up --wait")
        yield deployed
    except BaseException:
        diagnose(request.config, project)
        raise
    finally:
        if request.session.testsfailed > failures:
            diagnose(request.config, project)
        if not deployed.down:
            project.run("down", "--volumes", "--timeout", "10", timeout=180, step="down (cleanup)")
        report(request.config, project, deployed.image)


@pytest.fixture
async def gateway(deployment: Deployment) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=deployment.url, timeout=30) as http:
        yield http


def test_the_image_runs_as_its_own_user_with_no_development_tool(
    deployment: Deployment,
) -> None:
    """The image holds what runs (the runtime lock), not the test, lint or benchmark tools."""
    probe = (
        "import importlib.util as u, os; "
        "print(os.getuid(), *[m for m in ('gochat', 'uvicorn', 'asyncpg', 'pip', 'pytest', "
        "'mypy', 'ruff', 'numpy', 'matplotlib', 'playwright') if u.find_spec(m)])"
    )
    found = deployment.project.docker(
        "run", "--rm", "--entrypoint", "python", deployment.image, "-c", probe
    ).split()
    assert found == [str(IMAGE_USER), "gochat", "uvicorn", "asyncpg"]


def test_every_service_is_healthy_and_the_gateway_answers(
    deployment: Deployment,
) -> None:
    states = deployment.project.states()
    assert states.pop("migrate") == ["exited/-"]
    assert states.pop("ws") == ["running/healthy"] * 2
    assert states == {
        name: ["running/healthy"]
        for name in ("postgres", "redis", "auth", "user", "web", "gateway")
    }
    with httpx.Client(base_url=deployment.url, timeout=10) as http:
        assert http.get("/healthz").json() == {"service": "gateway", "status": "ok"}
        assert http.get("/").headers["content-type"].startswith("text/html")
        for path in ("/auth/readyz", "/users/readyz", "/chat/readyz"):
            ready = http.get(path)
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"] == {"database": "ok", "redis": "ok"}


async def test_register_log_in_follow_post_and_read_the_feed(
    gateway: httpx.AsyncClient,
) -> None:
    alice = await register(gateway, "alice")
    bob = await register(gateway, "bob")
    login = await gateway.post("/auth/login", json={"email": bob.username, "password": PASSWORD})
    assert login.status_code == 200, login.text
    bob_headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert (await gateway.get("/auth/me", headers=bob_headers)).json()["id"] == bob.id

    followed = await gateway.post(f"/users/follow?toFollowId={alice.id}", headers=bob_headers)
    assert followed.status_code == 200, followed.text
    posted = await gateway.post(
        "/users/posts", json={"content": "hello from compose"}, headers=alice.headers
    )
    assert posted.status_code == 201, posted.text
    feed = await gateway.get("/users/feed", headers=bob_headers)
    assert feed.status_code == 200, feed.text
    assert [p["content"] for p in feed.json()["items"]] == ["hello from compose"]


async def test_two_clients_chat_in_a_new_room(
    deployment: Deployment, gateway: httpx.AsyncClient
) -> None:
    alice = await register(gateway, "alice")
    bob = await register(gateway, "bob")
    room_id = await create_room(gateway, alice, name="compose")
    # A browser on the published address: the default allowed origins follow the port.
    async with (
        join(deployment.url, room_id, alice, headers={"Origin": deployment.url}) as alice_ws,
        join(deployment.url, room_id, bob) as bob_ws,
    ):
        await until_ready(alice_ws)
        await until_ready(bob_ws)
        await send_message(alice_ws, "hi bob", client_id="a1")
        await send_message(bob_ws, "hi alice", client_id="b1")
        seen_by_alice = await messages(alice_ws, 2)
        seen_by_bob = await messages(bob_ws, 2)
    assert seen_by_alice == seen_by_bob
    assert {m["content"] for m in seen_by_bob} == {"hi bob", "hi alice"}
    assert [m["id"] for m in seen_by_bob] == [1, 2]


async def test_a_scaled_up_instance_gets_the_next_client(
    deployment: Deployment, gateway: httpx.AsyncClient
) -> None:
    """One socket held on each of the two instances; after `--scale ws=3`, the gateway finds
    the third through Docker's DNS and sends the next socket there (the fewest sockets)."""
    alice = await register(gateway, "alice")
    room_id = await create_room(gateway, alice)
    first, first_on = await deployment.join_placed(room_id, alice)
    second, second_on = await deployment.join_placed(room_id, alice)
    assert {first_on, second_on} == set(deployment.ws_instances())

    await asyncio.to_thread(
        deployment.up, "--no-recreate", "--scale", "ws=3", step="up --scale ws=3 --wait"
    )
    (new,) = set(deployment.ws_instances()) - {first_on, second_on}
    # The gateway asks the DNS again every 5 s: a socket placed before that may miss it.
    placed_on = []
    for _ in range(10):
        third, third_on = await deployment.join_placed(room_id, alice)
        await until_ready(third)
        await third.close()
        placed_on.append(third_on)
        if third_on == new:
            break
        await asyncio.sleep(1)
    await first.close()
    await second.close()
    assert placed_on[-1] == new, placed_on


async def test_a_stopped_instance_s_client_resumes_elsewhere_missing_and_repeating_nothing(
    deployment: Deployment, gateway: httpx.AsyncClient
) -> None:
    """`docker stop` on the container holding alice's socket: closed with 1012, she comes
    back through the gateway with ?after= her last id and gets exactly what she missed."""
    alice = await register(gateway, "alice")
    bob = await register(gateway, "bob")
    room_id = await create_room(gateway, alice)
    alice_ws, alice_on = await deployment.join_placed(room_id, alice)
    bob_ws, bob_on = await deployment.join_placed(room_id, bob)
    assert alice_on != bob_on
    await until_ready(alice_ws)
    await until_ready(bob_ws)
    await send_message(alice_ws, "before", client_id="a1")
    (before,) = await messages(alice_ws, 1)
    assert (await messages(bob_ws, 1)) == [before]

    stopping = asyncio.create_task(asyncio.to_thread(deployment.stop, alice_on))
    try:
        assert await close_code(alice_ws, timeout=20) == 1012
        await stopping
        missed = [f"while alice was away {n}" for n in range(3)]
        for n, content in enumerate(missed):
            await send_message(bob_ws, content, client_id=f"b-away-{n}")
        await messages(bob_ws, 3)

        back, back_on = await deployment.join_placed(room_id, alice, after=before["id"])
        assert back_on != alice_on
        history, ready = await until_ready(back)
        assert [m["content"] for m in history] == missed
        assert [m["id"] for m in history] == [before["id"] + n for n in (1, 2, 3)]
        assert ready["last_id"] == before["id"] + 3
        await send_message(back, "back again", client_id="a2")
        (again,) = await messages(bob_ws, 1)
        assert again["id"] == before["id"] + 4
        await back.close()
        await bob_ws.close()
    finally:
        await stopping


async def test_metrics_are_not_reachable_through_the_gateway(
    gateway: httpx.AsyncClient,
) -> None:
    for path in ("/auth/metrics", "/users/metrics", "/chat/metrics"):
        hidden = await gateway.get(path)
        assert hidden.status_code == 404, path
        assert hidden.json() == {"detail": "not found"}
    root = await gateway.get("/metrics")
    assert root.status_code == 404
    assert "gochat_http_requests_total" not in root.text


def test_down_v_leaves_no_container_network_or_volume(deployment: Deployment) -> None:
    deployment.project.run("down", "--volumes", "--timeout", "15", timeout=180, step="down -v")
    deployment.down = True
    assert deployment.project.leftovers() == {"containers": [], "networks": [], "volumes": []}
