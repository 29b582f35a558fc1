"""When a serving container is healthy: `GET http://127.0.0.1:<port><health>` answers 2xx, asked from
*inside* the container — so it works the same on a remote engine (DOCKER_HOST) and needs no port on
the host.

The probe is one shell script using whatever the image has (python3, python, curl or wget; no proxy).
It is the container's HEALTHCHECK (every 10 s, so Portainer and `mlci deploy --status` show health
for as long as it runs), and during a deploy mlci runs the same script with `docker exec` every
second, so a new version is taken as soon as it answers rather than at the engine's next tick.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlci.manifest.serve import Serve

ENGINE_INTERVAL_S = 10
PROBE_TIMEOUT_S = 5
POLL_S = 1.0
PROGRESS_EVERY_S = 5.0
NO_TOOL = "mlci health check: the image has no python3, python, curl or wget"
_PY = (
    "import sys,urllib.request as u;"
    f"r=u.build_opener(u.ProxyHandler({{}})).open(sys.argv[1],timeout={PROBE_TIMEOUT_S});"
    "sys.exit(0 if 200<=r.status<300 else 1)"
)


def health_url(serve: Serve) -> str:
    # port is an int and the path matches HEALTH_PATH_RE ([A-Za-z0-9._~/-]): nothing a shell reinterprets
    return f"http://127.0.0.1:{serve.port}{serve.health}"


def probe_script(serve: Serve) -> str:
    url = health_url(serve)
    t = PROBE_TIMEOUT_S
    return (
        f"u='{url}'; "
        "for p in python3 python; do if command -v $p >/dev/null 2>&1; then "
        f'exec $p -c "{_PY}" "$u"; fi; done; '
        f'if command -v curl >/dev/null 2>&1; then exec curl -fsS -o /dev/null --noproxy "*" --max-time {t} "$u"; fi; '
        f'if command -v wget >/dev/null 2>&1; then exec wget -q -O /dev/null --no-proxy -T {t} "$u"; fi; '
        f'echo "{NO_TOOL} to ask $u" >&2; exit 1'
    )


def healthcheck(serve: Serve) -> dict[str, Any]:
    """The engine's HEALTHCHECK (durations in nanoseconds)."""
    return {
        "test": ["CMD-SHELL", probe_script(serve)],
        "interval": ENGINE_INTERVAL_S * 10**9,
        "timeout": 2 * PROBE_TIMEOUT_S * 10**9,
        "retries": 3,
        "start_period": serve.health_timeout * 10**9,
    }


@dataclass(frozen=True)
class Health:
    healthy: bool
    why: str = ""  # when not healthy: exited, no tool, or the probe's last words
    exit_code: int | None = None


def probe(api: Any, container: str, serve: Serve) -> tuple[bool, str]:
    """Run the probe in the container once: (answered 2xx, the last line it printed)."""
    return run_probe(api, container, probe_script(serve))


def run_probe(api: Any, container: str, script: str) -> tuple[bool, str]:
    from docker.errors import APIError

    try:
        exec_id = api.exec_create(container, ["sh", "-c", script], stdout=True, stderr=True)["Id"]
        output = api.exec_start(exec_id) or b""
        code = api.exec_inspect(exec_id).get("ExitCode")
    except APIError as exc:  # not running (any more): the caller's next look at the state says why
        return False, str(getattr(exc, "explanation", None) or exc)[:300]
    lines = output[-4096:].decode("utf-8", "replace").strip().splitlines()
    return code == 0, (lines[-1] if lines else f"exit code {code}")[:300]


def state_of(api: Any, container: str) -> dict[str, Any]:
    return api.inspect_container(container).get("State") or {}


def wait_healthy(api: Any, container: str, name: str, serve: Serve, say: Callable[[str], None]) -> Health:
    """Healthy within serve.health_timeout, else why not; progress every few seconds."""
    asked = f"GET :{serve.port}{serve.health}"
    return _wait(api, container, name, probe_script(serve), serve.health_timeout, asked, say)


def wait_restored(api: Any, info: dict[str, Any], name: str, say: Callable[[str], None]) -> Health:
    """A container started again (the previous version, after a failed swap): healthy by its *own*
    health check (its settings may differ from project.yaml's now)."""
    check = (info.get("Config") or {}).get("Healthcheck") or {}
    test = check.get("Test") or []
    if len(test) != 2 or test[0] != "CMD-SHELL":
        return Health(True)  # not one of ours to ask
    timeout = int((check.get("StartPeriod") or 60 * 10**9) / 10**9)
    return _wait(api, info["Id"], name, test[1], timeout, "its health check", say)


def _wait(
    api: Any, container: str, name: str, script: str, timeout: int, asked: str, say: Callable[[str], None]
) -> Health:
    started = time.monotonic()
    deadline = started + timeout
    said = started
    last = "no answer yet"
    say(f"waiting for {name} to answer {asked} (up to {timeout}s)")
    while True:
        state = state_of(api, container)
        if state.get("Status") in ("exited", "dead") or state.get("OOMKilled"):
            code = state.get("ExitCode")
            why = "was killed: out of memory (serve.memory)" if state.get("OOMKilled") else f"exited with code {code}"
            return Health(False, why, code)
        if (state.get("Health") or {}).get("Status") == "healthy":
            break
        ok, last = run_probe(api, container, script)
        if ok:
            break
        if NO_TOOL in last:
            return Health(False, last)
        now = time.monotonic()
        if now >= deadline:
            return Health(False, f"not healthy after {timeout}s (last probe: {last})")
        if now - said >= PROGRESS_EVERY_S:
            said = now
            say(f"  {name} not healthy yet ({now - started:.0f}s of {timeout}s): {last}")
        time.sleep(POLL_S)
    say(f"{name} is healthy ({time.monotonic() - started:.1f}s)")
    return Health(True)
