"""The filter's HTTP side: read one request within bounds, judge it (`rule`), forward what passes.

One request per connection (every answer says `Connection: close`), a bounded head and body, a
deadline on every read, a cap on open connections. Jenkins gets a request the filter writes itself:
the constant endpoint, the allowed headers, the body, nothing the client could shape into another path.
"""

from __future__ import annotations

import asyncio
import http.client
import signal
import sys
from dataclasses import dataclass
from http import HTTPStatus

from mlci.webhook.deploy import judge_body
from mlci.webhook.rule import MAX_HEAD, WEBHOOK_PATH, Admitted, Policy, Refusal, admit, parse_head

MAX_RESPONSE = 64 * 1024  # Jenkins' answer relayed to the sender (GWT's JSON is a few hundred bytes)


@dataclass(frozen=True)
class Limits:
    head_timeout: float = 10.0  # to send the request line and headers
    body_timeout: float = 30.0  # to send the body
    upstream_timeout: float = 30.0  # for Jenkins to answer
    max_connections: int = 64


@dataclass(frozen=True)
class Upstream:
    host: str
    port: int


def response(status: int, body: bytes, content_type: str = "text/plain; charset=utf-8", extra: str = "") -> bytes:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:  # a status Jenkins made up; relayed as it is
        reason = "Unknown"
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def refusal_response(refusal: Refusal) -> bytes:
    extra = "Allow: POST\r\n" if refusal.status == 405 else ""
    return response(refusal.status, f"{refusal.why}\n".encode("ascii"), extra=extra)


def forward(upstream: Upstream, admitted: Admitted, body: bytes, timeout: float) -> bytes:
    """POST the body to Jenkins' endpoint (blocking; run in a thread) and return the answer to relay."""
    connection = http.client.HTTPConnection(upstream.host, upstream.port, timeout=timeout)
    try:
        connection.request("POST", WEBHOOK_PATH, body=body, headers={**dict(admitted.forward), "Connection": "close"})
        answer = connection.getresponse()
        payload = answer.read(MAX_RESPONSE)
        content_type = answer.getheader("Content-Type", "")
        status = answer.status
    finally:
        connection.close()
    if not content_type.startswith("application/json"):
        content_type = "text/plain; charset=utf-8"
    return response(status, payload, content_type)


def log(peer: str, method: str, target: str, status: int, why: str) -> None:
    # ascii() keeps a hostile target on one line and free of terminal escapes; headers are never logged.
    print(f"webhook-filter: {peer} {method[:16]!a} {target[:200]!a} -> {status} {why}", flush=True)


class WebhookFilter:
    def __init__(self, policy: Policy, upstream: Upstream, limits: Limits = Limits()) -> None:
        self.policy, self.upstream, self.limits = policy, upstream, limits
        self.open_connections = 0

    async def serve(self, host: str, port: int) -> asyncio.Server:
        # limit: a head longer than MAX_HEAD never fits in the reader's buffer (LimitOverrunError → 431).
        return await asyncio.start_server(self.handle, host, port, limit=MAX_HEAD)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = str(writer.get_extra_info("peername"))
        self.open_connections += 1
        try:
            if self.open_connections > self.limits.max_connections:
                writer.write(response(503, b"busy\n"))
            else:
                writer.write(await self.answer(reader, writer, peer))
            await asyncio.wait_for(writer.drain(), self.limits.head_timeout)
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError):
            pass
        finally:
            self.open_connections -= 1
            writer.close()

    async def answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str) -> bytes:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.limits.head_timeout)
        except asyncio.LimitOverrunError:
            return refusal_response(Refusal(431, "request head too large"))
        except TimeoutError:
            return refusal_response(Refusal(408, "request head not received in time"))
        request = parse_head(head[:-4])
        if isinstance(request, Refusal):
            log(peer, "?", "?", request.status, request.why)
            return refusal_response(request)
        verdict = admit(request, self.policy)
        if isinstance(verdict, Refusal):
            log(peer, request.method, request.target, verdict.status, verdict.why)
            return refusal_response(verdict)
        if verdict.expect_continue:  # the sender waits for this before it sends the body
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await asyncio.wait_for(writer.drain(), self.limits.head_timeout)
        return await self._forward(reader, peer, request.target, verdict)

    async def _forward(self, reader: asyncio.StreamReader, peer: str, target: str, verdict: Admitted) -> bytes:
        try:
            body = await asyncio.wait_for(reader.readexactly(verdict.content_length), self.limits.body_timeout)
        except TimeoutError:
            log(peer, "POST", target, 408, "body not received in time")
            return refusal_response(Refusal(408, "body not received in time"))
        judged = judge_body(body, self.policy.environments)
        if isinstance(judged, Refusal):
            log(peer, "POST", target, judged.status, judged.why)
            return refusal_response(judged)
        try:
            answer = await asyncio.to_thread(forward, self.upstream, verdict, judged.body, self.limits.upstream_timeout)
        except (OSError, http.client.HTTPException) as error:
            log(peer, "POST", target, 502, f"Jenkins did not answer ({type(error).__name__})")
            return response(502, b"Jenkins did not answer\n")
        log(peer, "POST", target, int(answer.split(b" ", 2)[1]), judged.note)
        return answer


def main_loop(policy: Policy, upstream: Upstream, listen: tuple[str, int], limits: Limits = Limits()) -> None:
    asyncio.run(_run(policy, upstream, listen, limits))


async def _run(policy: Policy, upstream: Upstream, listen: tuple[str, int], limits: Limits) -> None:
    server = await WebhookFilter(policy, upstream, limits).serve(*listen)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)  # PID 1 in its container: no default SIGTERM action
    bound = ", ".join(str(s.getsockname()[:2]) for s in server.sockets)
    print(f"webhook-filter: listening on {bound}, forwarding {WEBHOOK_PATH} to {upstream.host}:{upstream.port}")
    sys.stdout.flush()
    async with server:
        await stop.wait()
