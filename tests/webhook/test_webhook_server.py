"""The filter's HTTP side, in-process and as `python -m mlci.webhook`: bounds, deadlines, forwarding."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from frp_support import WebhookStandIn, free_port, raw_request, wait_until

from mlci.webhook.rule import WEBHOOK_PATH, Policy
from mlci.webhook.server import Limits, Upstream, WebhookFilter

TOKEN = "s3cret-token"
POLICY = Policy("hooks.acme.example", (TOKEN.encode(),), max_body=1000)
BODY = b'{"head":"abc"}'
HEAD = (
    f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: hooks.acme.example\r\nContent-Type: application/json\r\n"
    f"token: {TOKEN}\r\nContent-Length: {len(BODY)}\r\n"
).encode()


@contextmanager
def running_filter(upstream_port: int, limits: Limits | None = None, policy: Policy = POLICY) -> Iterator[int]:
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(
        WebhookFilter(policy, Upstream("127.0.0.1", upstream_port), limits or Limits()).serve("127.0.0.1", 0)
    )
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        asyncio.run_coroutine_threadsafe(_shutdown(server), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


async def _shutdown(server: asyncio.Server) -> None:
    """Close the listener and end the connections still open (a test's idle one)."""
    server.close()
    handlers = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in handlers:
        task.cancel()
    await asyncio.gather(*handlers, return_exceptions=True)


@pytest.fixture(scope="module")
def jenkins() -> Iterator[tuple[WebhookStandIn, int]]:
    stand_in = WebhookStandIn(TOKEN)
    server, port = stand_in.start()
    yield stand_in, port
    server.shutdown()


def test_jenkins_gets_the_constant_target_and_the_answer_comes_back(jenkins) -> None:
    stand_in, port = jenkins
    stand_in.take()
    with running_filter(port) as filter_port:
        status, answer = raw_request(filter_port, HEAD + b"Cookie: JSESSIONID=1\r\n\r\n" + BODY)
    assert status == 200 and b"Triggered jobs." in answer
    (seen,) = stand_in.take()
    assert (seen.method, seen.target, seen.body) == ("POST", WEBHOOK_PATH, BODY)
    assert "cookie" not in seen.headers and seen.headers["host"] == f"127.0.0.1:{port}"


def test_expect_100_continue_gets_the_interim_answer_before_the_body_is_sent(jenkins) -> None:
    stand_in, port = jenkins
    stand_in.take()
    with running_filter(port) as filter_port, socket.create_connection(("127.0.0.1", filter_port), timeout=30) as c:
        c.sendall(HEAD + b"Expect: 100-continue\r\n\r\n")
        assert c.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        c.sendall(BODY)
        assert c.recv(100).startswith(b"HTTP/1.1 200 ")
    assert [s.body for s in stand_in.take()] == [BODY]


def test_a_head_past_16_kib_is_refused_unread(jenkins) -> None:
    stand_in, port = jenkins
    stand_in.take()
    with running_filter(port) as filter_port:
        status, _ = raw_request(filter_port, HEAD + b"X-Pad: " + b"a" * 20000 + b"\r\n\r\n" + BODY)
    assert status == 431 and stand_in.take() == []


def test_a_sender_that_stalls_is_cut_off(jenkins) -> None:
    stand_in, port = jenkins
    stand_in.take()
    with running_filter(port, Limits(head_timeout=0.5, body_timeout=0.5)) as filter_port:
        stalled_head = raw_request(filter_port, HEAD)  # the empty line never comes
        stalled_body = raw_request(filter_port, HEAD + b"\r\n" + BODY[:5])  # 5 of 14 bytes
    assert stalled_head[0] == 408 and stalled_body[0] == 408
    assert stand_in.take() == []


def test_connections_past_the_cap_are_turned_away(jenkins) -> None:
    _, port = jenkins
    with (
        running_filter(port, Limits(head_timeout=30, max_connections=1)) as filter_port,
        socket.create_connection(("127.0.0.1", filter_port)) as idle,
    ):
        idle.sendall(b"POST ")  # holds the only slot
        wait_until(lambda: raw_request(filter_port, HEAD + b"\r\n" + BODY)[0] == 503, "the cap to apply", 10)


def test_jenkins_down_is_a_bad_gateway() -> None:
    with running_filter(free_port()) as filter_port:
        status, answer = raw_request(filter_port, HEAD + b"\r\n" + BODY)
    assert status == 502 and b"Jenkins did not answer" in answer


def test_the_module_refuses_to_start_without_a_usable_token(tmp_path) -> None:
    empty = tmp_path / "token"
    empty.write_text("\n")
    argv = [sys.executable, "-m", "mlci.webhook", "--upstream", "127.0.0.1:9", "--host", "hooks.acme.example"]
    for token_file in (str(empty), str(tmp_path / "missing")):
        run = subprocess.run([*argv, "--token-file", token_file], capture_output=True, text=True, timeout=60)
        assert run.returncode == 2 and "webhook-filter:" in run.stderr and "Traceback" not in run.stderr
    run = subprocess.run([*argv[:-2], "--token-file", str(empty)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "--host" in run.stderr


def test_the_module_stops_on_sigterm_as_pid_1_would_be_asked_to(tmp_path) -> None:
    (tmp_path / "token").write_text(TOKEN)
    port = free_port()
    argv = ["--listen", f"127.0.0.1:{port}", "--upstream", "127.0.0.1:9", "--host", "hooks.acme.example"]
    process = subprocess.Popen(
        [sys.executable, "-m", "mlci.webhook", *argv, "--token-file", str(tmp_path / "token")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert "listening on" in process.stdout.readline()  # type: ignore[union-attr]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
