"""The filter under the rendered service's container settings, on the real engine.

The controller image cannot be built here, so the filter runs from the offline base image (the same
Debian Python 3.11 the controller image has) with mlci's source mounted; what is checked is that the
service's confinement — read-only root, no capabilities, no-new-privileges, the jenkins uid, the token
as a 0400 file of that uid — leaves it working, and that it stops on the engine's SIGTERM.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml
from corpus import BODY, PATH
from frp_support import WEBHOOK_TOKEN, WebhookStandIn, free_port, raw_request, wait_until, webhook

pytestmark = [pytest.mark.docker, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
JENKINS_UID = 1000


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120, check=check)


def test_the_service_works_confined_and_stops_on_sigterm(rendered, base_image, tmp_path) -> None:
    service = yaml.safe_load(rendered["compose/docker-compose.yml"])["services"]["webhook-filter"]
    stand_in = WebhookStandIn(WEBHOOK_TOKEN)
    server, jenkins_port = stand_in.start()
    port = free_port()
    token = tmp_path / "token"
    token.write_text(WEBHOOK_TOKEN)
    os.chown(token, JENKINS_UID, JENKINS_UID)
    token.chmod(0o400)
    secret = f"/run/secrets/{service['secrets'][0]}"
    argv = service["entrypoint"][1:]  # -m mlci.webhook --listen ... (the interpreter is the image's)
    local = {"--listen": f"127.0.0.1:{port}", "--upstream": f"127.0.0.1:{jenkins_port}"}
    for i, arg in enumerate(argv[:-1]):
        argv[i + 1] = local.get(arg, argv[i + 1])
    assert argv[argv.index("--token-file") + 1] == secret
    flags = ["--read-only"] if service["read_only"] else []
    flags += [f"--cap-drop={c}" for c in service["cap_drop"]]
    flags += [f"--security-opt={o}" for o in service["security_opt"]]
    name = f"mlci-webhook-filter-test-{os.getpid()}"
    run = docker(
        "run", "-d", "--name", name, "--network", "host", "--user", f"{JENKINS_UID}:{JENKINS_UID}", *flags,
        "-v", f"{REPO / 'mlci'}:/src/mlci:ro", "-e", "PYTHONPATH=/src", "-e", "PYTHONDONTWRITEBYTECODE=1",
        "-v", f"{token}:{secret}:ro", "--entrypoint", "python3", base_image, *argv,
    )  # fmt: skip
    try:
        wait_until(lambda: "listening on" in docker("logs", name).stdout, "the filter to listen", 60)
        status, answer = raw_request(port, webhook(body=BODY))
        assert status == 200, answer
        assert [(s.target, s.body) for s in stand_in.take()] == [(PATH, BODY)]
        assert raw_request(port, webhook(f"{PATH}/../../script"))[0] == 404
        assert stand_in.take() == []
        docker("stop", "--time", "30", name)
        state = docker("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip()
        assert state == "0"  # ended by its own SIGTERM handler, not killed after the grace period
    finally:
        docker("rm", "-f", name, check=False)
        server.shutdown()
        assert run.returncode == 0, run.stderr
