"""Recreating the controller's container while a stage trains loses no training and double-books no GPU.

What is real here: the stack file `mlci render` writes (compose/docker-compose.yml, its `jenkins`
service as rendered: home and runs bind mounts, the Docker socket, secrets, `extra_hosts`, the named
HOME volume), Debian's docker-compose v1 running `up -d --force-recreate` of that service on the real
engine, `mlci run` with its real stage container, the run record, and the rendered casc.yaml, from
which the test decides where the build's `sh` step runs (the node a `node('mlci')` block can get: one
with executors whose labels hold `mlci`).

What is stood in, and why: Jenkins itself cannot run here, so
- the controller's image is a stand-in tagged with the rendered image name (Python's HTTP server on
  8080 in the offline base image, in place of java; `up --no-build` uses it), and the published port
  is made dynamic (the network rule of this suite);
- the `sh` step is launched the way the durable-task plugin's BourneShellScript launches it
  (jenkinsci/durable-task-plugin, BourneShellScript.scriptLauncherCmd, the shell wrapper path):
  `nohup sh -c '({ while [ -d CONTROL -a ! -f RESULT ]; do touch LOG; sleep 3; done } &
  jsc=COOKIE; JENKINS_SERVER_COOKIE=$jsc sh -xe SCRIPT > LOG 2>&1; echo $? > RESULT.tmp;
  mv RESULT.tmp RESULT; wait) >&- 2>&- &'` in the workspace — on the host for an SSH agent (the
  agent user's login there; agent.jar is not modelled: the wrapper is detached from it by nohup and
  the background `&`, so agent.jar's exit when its SSH channel drops with the controller does not
  reach it), and with `docker exec` in the controller's container for the built-in node;
- the sh step ends, and the `lock` around it is released, when the controller finds the result file
  (FileMonitoringTask.FileMonitoringController.exitStatus): the test reads the same file, and checks
  at that moment that no container of the job is left holding the GPU;
- the GPU lease is lockable-resources' state, which Jenkins keeps in $JENKINS_HOME
  (org.jenkins.plugins.lockableresources.LockableResourcesManager.xml); the test writes a file there
  from inside the container and reads it after the recreate, so a resumed build still holds its lease.
  No GPU exists here: the stage runs with `--gpus none`, and the lease is the rendered resource name;
- an abort after the controller is back is Jenkins core's ProcessTree.killAll(Map) on the agent:
  every process whose environment carries the step's JENKINS_SERVER_COOKIE gets SIGTERM. That includes
  the step's own `sh -xe` shell, which dies at once, so the wrapper writes its result while mlci is
  still stopping its container; what the test waits for then is mlci's final record, as the library
  does after an interruption (mlciTrain.waitForFinalRecord).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

from tests.conftest import commit_all, mlci, write_project

pytestmark = [pytest.mark.docker, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SITE_PACKAGES = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
PROJECT = "vision"
# The stage waits for a file the test creates, so the recreate happens while it runs, whatever the
# machine's speed; then it writes its metrics.
STAGE = """\
    gpus: none
    stages:
      - name: train
        run: "touch /mlci/out/started; while [ ! -f /mlci/cache/go ]; do sleep 0.2; done; echo '{\\"accuracy\\": 0.9}' > /mlci/out/metrics.json"
    gate: {metric: accuracy, min: 0.5}
"""
CONTROLLER_STAND_IN = """\
FROM mlci/python:3.11-bookworm
CMD ["python3", "-m", "http.server", "8080"]
"""


def _wait(predicate, what: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _sh(command: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


class Stack:
    """A monorepo rendered with `hosts`, and its compose stack laid out as Ansible's mlci_stack does."""

    def __init__(self, work: Path, hosts: list[dict]):
        self.work = work
        self.repo = work / "repo"
        self.home, self.runs, self.cache = work / "jenkins_home", work / "runs", work / "cache"
        self.workspaces = work / "workspaces"
        self.jobs: list[str] = []  # removed at the end, whatever state a test left them in
        self.project_name = f"mlci-restart-{uuid.uuid4().hex[:8]}"
        manifest = {
            "version": 1,
            "name": "restart",
            "repository": {"url": "https://git.example.com/team/ml.git"},
            "hosts": hosts,
            "jenkins": {"home": str(self.home), "runs_dir": str(self.runs)},
            "portainer": {"enabled": False},
        }
        self.repo.mkdir(parents=True)
        (self.repo / "mlci.yaml").write_text(yaml.safe_dump(manifest))
        _ok(_sh("git init -q -b main", self.repo))
        write_project(self.repo, PROJECT, STAGE)
        _ok(mlci(self.repo, "render"))
        commit_all(self.repo)
        self.casc = yaml.safe_load((self.repo / "jenkins/casc.yaml").read_text())
        self._lay_out()

    def _lay_out(self) -> None:
        stack = self.work / "stack"
        (stack / "compose").mkdir(parents=True)
        shutil.copytree(self.repo / "jenkins", stack / "jenkins")  # the image's build context, as Ansible copies it
        compose = yaml.safe_load((self.repo / "compose/docker-compose.yml").read_text())
        jenkins = compose["services"]["jenkins"]
        self.image = jenkins["image"]
        # The one change to the rendered service: a dynamic host port (tests bind no fixed port).
        jenkins["ports"] = ["127.0.0.1::8080"]
        (stack / "compose/docker-compose.yml").write_text(yaml.safe_dump(compose))
        # The stand-in has no mlci of its own (the real image has /opt/mlci): this checkout's, at the
        # same paths, for a build the built-in node runs in the container.
        override = {
            "services": {
                "jenkins": {
                    "volumes": [
                        f"{REPO}:{REPO}:ro",
                        *(f"{path}:{path}" for path in (self.repo, self.cache, self.workspaces)),
                    ],
                    "environment": {"PYTHONPATH": f"{REPO}:{SITE_PACKAGES}"},
                }
            }
        }
        (stack / "compose/override.yml").write_text(yaml.safe_dump(override))
        (stack / "secrets").mkdir()
        for name, spec in compose["secrets"].items():
            (stack / "compose" / spec["file"]).resolve().write_text(f"stand-in value of {name}\n")
        gid = os.stat("/var/run/docker.sock").st_gid
        (stack / "compose/.env").write_text(f"COMPOSE_PROJECT_NAME={self.project_name}\nDOCKER_GID={gid}\n")
        for path in (self.home, self.runs, self.cache, self.workspaces):
            path.mkdir(parents=True, exist_ok=True)
        self.compose_dir = stack / "compose"
        built = subprocess.run(
            ["docker", "build", "-q", "-t", self.image, "-"], input=CONTROLLER_STAND_IN, capture_output=True, text=True
        )
        _ok(built)

    def compose(self, *args: str) -> str:
        return _ok(
            _sh(
                shlex.join(["docker-compose", "-f", "docker-compose.yml", "-f", "override.yml", *args]),
                self.compose_dir,
            )
        )

    def controller_id(self) -> str:
        return self.compose("ps", "-q", "jenkins").strip()

    def build_node(self) -> str:
        """Where `node('mlci')` runs: the nodes of the rendered casc with executors and the label."""
        jenkins = self.casc["jenkins"]
        nodes = [("built-in", jenkins.get("numExecutors", 0), jenkins.get("labelString", ""))]
        for node in jenkins.get("nodes", []):
            permanent = node["permanent"]
            nodes.append((permanent["name"], permanent["numExecutors"], permanent["labelString"]))
        candidates = [name for name, executors, labels in nodes if executors > 0 and "mlci" in labels.split()]
        assert len(candidates) == 1, nodes
        return candidates[0]

    def close(self) -> None:
        # By the project's labels and names, so a stack compose cannot read any more is removed too.
        label = f"label=com.docker.compose.project={self.project_name}"
        listed = subprocess.run(["docker", "ps", "-aq", "--filter", label], capture_output=True, text=True)
        for container in listed.stdout.split():
            subprocess.run(["docker", "rm", "-f", "-v", container], capture_output=True)
        subprocess.run(["docker", "network", "rm", f"{self.project_name}_default"], capture_output=True)
        subprocess.run(["docker", "volume", "rm", f"{self.project_name}_jenkins_user_home"], capture_output=True)
        for job in self.jobs:
            for container in job_containers(job):
                subprocess.run(["docker", "rm", "-f", container], capture_output=True)
        subprocess.run(["docker", "image", "rm", "-f", self.image], capture_output=True)


def job_containers(job: str) -> list[str]:
    """Containers of a job (its GPU holders), by the label every mlci stage container carries."""
    listed = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=mlci.job={job}"], capture_output=True, text=True, check=True
    )
    return listed.stdout.split()


class ShStep:
    """One `sh` step launched as durable-task's shell wrapper does, in a control directory."""

    def __init__(self, stack: Stack, job: str, where: str):
        job = f"{job}-{stack.project_name[-8:]}"  # unique on this engine
        self.job, self.stack = job, stack
        stack.jobs.append(job)
        self.cookie = f"durable-{uuid.uuid4().hex}"
        workspace = stack.workspaces / job
        control = workspace / f".{self.cookie[:16]}"
        control.mkdir(parents=True)
        self.result, self.log = control / "jenkins-result.txt", control / "jenkins-log.txt"
        # The library's `mlci run` (mlciTrain), in the node's environment (casc nodeProperties).
        script = control / "script.sh"
        python = "python3" if where == "built-in" else shlex.quote(sys.executable)  # the image's, or the host's
        script.write_text(
            f"MLCI_ROOT={shlex.quote(str(stack.repo))} MLCI_CACHE_DIR={shlex.quote(str(stack.cache))} "
            f"MLCI_RUNS_DIR={shlex.quote(str(stack.runs))} "
            f"{python} -m mlci run {PROJECT} --job-id {job} --gpus none -q\n"
        )
        wrapper = (
            f"{{ while [ -d '{control}' -a \\! -f '{self.result}' ]; do touch '{self.log}'; sleep 3; done }} & "
            f"jsc={self.cookie}; JENKINS_SERVER_COOKIE=$jsc 'sh' -xe '{script}' > '{self.log}' 2>&1; "
            f"echo $? > '{self.result}.tmp'; mv '{self.result}.tmp' '{self.result}'; wait"
        )
        launch = ["nohup", "sh", "-c", f"({wrapper}) >&- 2>&- &"]
        if where == "built-in":  # the built-in node's launcher: a process of the controller's JVM container
            launch = ["docker", "exec", "-w", str(workspace), stack.controller_id(), *launch]
        _ok(subprocess.run(launch, cwd=workspace, capture_output=True, text=True, timeout=60))

    def exit_status(self) -> int | None:
        text = self.result.read_text().strip() if self.result.is_file() else ""
        return int(text) if text else None

    def record(self) -> dict:
        path = self.stack.runs / PROJECT / self.job / "status.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    def stage_running(self) -> bool:
        return self.record().get("overallStatus") == "Running" and bool(job_containers(self.job))


def _with_cookie(cookie: str) -> list[int]:
    """The processes ProcessTree.killAll(Map) finds on Linux: those whose environment holds the cookie
    (host-wide /proc: a process in a container is one too)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"JENKINS_SERVER_COOKIE={cookie}".encode() in environ:
            found.append(int(proc.name))
    return found


def _kill_by_cookie(cookie: str, sig: int) -> int:
    hit = 0
    for pid in _with_cookie(cookie):
        try:
            os.kill(pid, sig)
            hit += 1
        except ProcessLookupError:
            pass
    return hit


@pytest.fixture
def stack(tmp_path, base_image, request):
    hosts = request.param
    if shutil.which("docker-compose") is None:
        pytest.fail("the restart test runs Debian's docker-compose v1: apt-get install docker-compose")
    made = Stack(tmp_path, hosts)
    try:
        made.compose("up", "-d", "--no-build", "jenkins")
        yield made
    finally:
        made.close()


def _recreate(stack: Stack) -> None:
    before = stack.controller_id()
    stack.compose("up", "-d", "--no-build", "--force-recreate", "jenkins")
    after = stack.controller_id()
    assert after and after != before  # a new container: the old one, and every process in it, is gone


def _hold_lease(stack: Stack, job: str) -> Path:
    """The lease as Jenkins keeps it: written by the controller into its home (a bind mount)."""
    lease = stack.home / "org.jenkins.plugins.lockableresources.LockableResourcesManager.xml"
    content = f"<reservedBy>{job}</reservedBy>"
    _ok(subprocess.run(["docker", "exec", stack.controller_id(), "sh", "-c", f"echo '{content}' > {lease}"]))
    return lease


HOSTED = [{"name": "gpu-01", "address": "192.0.2.10", "gpus": 1, "roles": ["controller", "agent"]}]


@pytest.mark.parametrize("stack", [HOSTED], indirect=True, ids=["controller-and-agent"])
def test_recreating_the_controller_mid_stage_loses_no_training(stack: Stack) -> None:
    node = stack.build_node()
    assert node == "gpu-01"  # the controller's host, as an SSH agent: outside the container
    lease = _hold_lease(stack, "build-1")
    step = ShStep(stack, "restart-1", node)
    _wait(step.stage_running, "the stage to run")

    _recreate(stack)
    assert lease.read_text().strip() == "<reservedBy>build-1</reservedBy>"  # the resumed build still holds it
    assert step.stage_running() and step.exit_status() is None  # untouched by the recreate

    (stack.cache / "projects" / PROJECT / "go").touch()
    _wait(lambda: step.exit_status() is not None, "the sh step's result")
    # The moment the controller would return from `sh` and release the lease: nothing holds the GPU.
    assert job_containers(step.job) == []
    assert step.exit_status() == 0, step.log.read_text()[-3000:]
    record = step.record()
    assert record["overallStatus"] == "Succeeded" and record["gate"]["passed"] is True


@pytest.mark.parametrize("stack", [HOSTED], indirect=True, ids=["controller-and-agent"])
def test_an_abort_after_the_recreate_cancels_the_stage_cleanly(stack: Stack) -> None:
    step = ShStep(stack, "restart-2", stack.build_node())
    _wait(step.stage_running, "the stage to run")
    _recreate(stack)
    assert step.stage_running()
    # The resumed build is aborted: Jenkins signals the step's processes on the agent by cookie.
    assert _kill_by_cookie(step.cookie, signal.SIGTERM) >= 1
    # The library then waits for mlci's final record (mlciTrain.waitForFinalRecord): mlci has stopped
    # and removed its stage container by the time it writes it.
    _wait(lambda: step.record().get("overallStatus") not in ("Queued", "Building", "Running"), "a final record")
    assert job_containers(step.job) == []
    record = step.record()
    assert record["overallStatus"] == "Cancelled"
    assert record["attempts"][-1]["stages"][-1]["status"] == "Cancelled"
    _wait(lambda: step.exit_status() is not None, "the sh step's result")
    assert step.exit_status() != 0


@pytest.mark.parametrize("stack", [[]], indirect=True, ids=["no-hosts"])
def test_without_hosts_a_build_on_the_built_in_node_dies_with_the_container(stack: Stack) -> None:
    # What the agent layout prevents, shown on the layout that still has it (no hosts: a stack started
    # by hand, whose builds run in the controller's container): the recreate SIGKILLs `mlci run`, its
    # stage container keeps running on the host's engine (with its GPUs, on a GPU host), the record
    # stays Running with a dead owner, and the sh step never gets a result.
    node = stack.build_node()
    assert node == "built-in"
    step = ShStep(stack, "restart-3", node)
    _wait(step.stage_running, "the stage to run")
    assert _with_cookie(step.cookie)  # mlci run and its wrapper, in the container
    _recreate(stack)
    assert _with_cookie(step.cookie) == []  # SIGKILLed with the container: no handler ran
    assert job_containers(step.job), "the orphaned stage container"
    assert step.record()["overallStatus"] == "Running" and step.exit_status() is None
