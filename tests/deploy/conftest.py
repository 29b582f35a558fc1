"""A scratch monorepo with the digits example serving from a local store: its image built once, four
published versions — v1 and v2 trained by `mlci run`, v3 whose model.joblib is garbage (it never
becomes healthy) and v4 a constant classifier (healthy, but wrong) — and an environment of its own,
whose containers and network are removed at the end."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlci import contract
from tests.conftest import REPO, commit_all, mlci
from tests.record_support import finished_run
from tests.serve_support import ask_service

SECRET_NAME = "MLCI_TEST_DEPLOY_TOKEN"
SECRET_VALUE = "tok-" + uuid.uuid4().hex  # an env secret: passed to the service, never printed
WRONG_MODEL = (
    "import joblib, numpy as np; from sklearn.dummy import DummyClassifier;"
    " joblib.dump(DummyClassifier(strategy='constant', constant=0).fit(np.zeros((2, 64)), [0, 1]),"
    " '/out/model.joblib')"
)


class Scratch:
    """The repository, its environment names and the digits image."""

    def __init__(self, root: Path, env: str, other_env: str, image: str):
        self.root, self.env, self.other_env, self.image = root, env, other_env, image
        self.name = f"{env}-digits"
        self.network = f"mlci-{env}"
        self.project_yaml = root / "projects" / "digits" / "project.yaml"
        self.env_vars = environment(root.parent)

    def mlci(self, *args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
        return mlci(self.root, *args, env={**self.env_vars, **(env or {})}, **kwargs)

    def deploy(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return self.mlci("deploy", "digits", "--env", self.env, *args, **kwargs)


def environment(base: Path) -> dict[str, str]:
    """What every mlci of these tests sees: its own cache (and deploy locks), the secret, a user."""
    return {"MLCI_CACHE_DIR": str(base / "cache"), SECRET_NAME: SECRET_VALUE, "MLCI_USER": "alice"}


def _publish_record(root: Path, job: str, model: bytes, image_id: str) -> None:
    finished_run(root, "digits", job, files={"model.joblib": model}, image_id=image_id)
    done = mlci(root, "publish", "digits", job, env=environment(root.parent))
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="session")
def scratch(tmp_path_factory, base_image, docker_client) -> Iterator[Scratch]:
    """Built once for all the deploy tests; each test starts by undeploying what it does not want."""
    tag = uuid.uuid4().hex[:6]
    env, other = f"dev-{tag}", f"qa-{tag}"
    base = tmp_path_factory.mktemp("deploy")
    root = base / "repo"
    shutil.copytree(REPO / "projects" / "digits", root / "projects" / "digits")
    (root / "mlci.yaml").write_text(
        "version: 1\nname: deploy-test\n"
        "artifacts: {default: local, stores: {local: {type: local, path: .mlci/artifacts}}}\n"
        "environments:\n"
        f"  {env}: {{store: local, secrets: [{SECRET_NAME}]}}\n"
        f"  {other}: {{store: local}}\n"
    )
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    commit_all(root)
    env_vars = environment(base)
    for job in ("j1", "j2"):  # v1, v2: the image is built by the first (or reused), trained twice
        done = mlci(root, "run", "digits", "--job-id", job, env=env_vars)
        assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((root / ".mlci/runs/digits/j1/status.json").read_text())
    image = record["build"]["imageId"]
    out = base / "wrong"
    out.mkdir()
    docker_client.containers.run(
        image, ["python", "-c", WRONG_MODEL], volumes={str(out): {"bind": "/out", "mode": "rw"}}, remove=True
    )
    _publish_record(root, "j3", b"garbage, not a pickle", image)  # v3: never healthy
    _publish_record(root, "j4", (out / "model.joblib").read_bytes(), image)  # v4: healthy, answers 0
    try:
        yield Scratch(root, env, other, image)
    finally:
        _remove_environment(docker_client, env)
        _remove_environment(docker_client, other)


@pytest.fixture(autouse=True)
def _scratch_environment(request, monkeypatch):
    """In-process calls (itest_project, resolve_target, the deploy lock) see what the CLI sees."""
    if "scratch" in request.fixturenames:
        scratch = request.getfixturevalue("scratch")
        for key, value in scratch.env_vars.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("MLCI_ROOT", str(scratch.root))


def _remove_environment(client, env: str) -> None:
    for info in client.api.containers(all=True, filters={"label": [f"{contract.LABEL_ENV}={env}"]}):
        client.api.remove_container(info["Id"], force=True)
    for info in client.api.networks(names=[f"mlci-{env}"]):
        if info["Name"] == f"mlci-{env}":
            client.api.remove_network(info["Id"])


def undeploy(client, scratch: Scratch) -> None:
    """A clean slate: nothing serves in the test environment."""
    _remove_environment(client, scratch.env)


def ask(client, scratch: Scratch, path: str, payload: dict | None = None) -> dict:
    """Call the service by its name from another container on the environment's network."""
    return ask_service(client, scratch.image, scratch.network, f"http://{scratch.name}:8080{path}", payload)


def serving(client, scratch: Scratch) -> dict:
    return client.api.inspect_container(scratch.name)


@contextlib.contextmanager
def serve_settings(scratch: Scratch, old: str, new: str) -> Iterator[None]:
    """The versions' serve: settings changed for the block (the image does not change), restored after.

    A version's serve: is project.yaml at its commit; for the block the version index forgets the
    commits, so mlci falls back (with its notice) to the checkout's project.yaml, which is changed."""
    saved = scratch.project_yaml.read_text()
    index = scratch.root / ".mlci/artifacts/digits/versions.json"
    saved_index = index.read_bytes()
    assert old in saved
    data = json.loads(saved_index)
    for entry in data["versions"]:
        entry["commit"] = None
    index.write_text(json.dumps(data, indent=2) + "\n")
    scratch.project_yaml.write_text(saved.replace(old, new))
    try:
        yield
    finally:
        scratch.project_yaml.write_text(saved)
        index.write_bytes(saved_index)
