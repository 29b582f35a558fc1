"""`mlci deploy` of a version published to an S3 store (moto on 127.0.0.1) on the real engine: the
outputs are fetched into a checked copy under the stage-cache root, which is mounted and serves;
the next deploy reuses the copy after re-checking it."""

from __future__ import annotations

import shutil
import subprocess
import uuid

import pytest

from tests.conftest import REPO, commit_all, mlci
from tests.deploy.conftest import _remove_environment
from tests.record_support import finished_run
from tests.stores.conftest import start_moto
from tests.stores.promotion_support import BUCKET, emptied_bucket, remove_bucket

pytestmark = pytest.mark.docker
pytest.importorskip("moto.server")

CREDENTIALS = {"MLCI_TEST_S3_KEY": "AKIAMLCITESTKEY0001", "MLCI_TEST_S3_SECRET": "s3-secret-value-never-printed"}


@pytest.fixture
def bucket():
    url, stop = start_moto()
    client = emptied_bucket(url)
    try:
        yield url
    finally:
        remove_bucket(client)
        stop()


def test_a_version_in_s3_is_fetched_checked_and_served(scratch, bucket, docker_client, tmp_path):
    env = f"s3-{uuid.uuid4().hex[:6]}"
    root = tmp_path / "repo"
    shutil.copytree(REPO / "projects" / "digits", root / "projects" / "digits")
    project_yaml = root / "projects" / "digits" / "project.yaml"
    assert "publish: {store: local}" in project_yaml.read_text()
    project_yaml.write_text(project_yaml.read_text().replace("publish: {store: local}", "publish: {store: s3}"))
    (root / "mlci.yaml").write_text(
        "version: 1\nname: s3-deploy\n"
        "artifacts:\n  default: s3\n  stores:\n"
        f"    s3: {{type: s3, bucket: {BUCKET}, prefix: team, endpoint_url: '{bucket}', region: us-east-1,"
        " access_key_id: MLCI_TEST_S3_KEY, secret_access_key: MLCI_TEST_S3_SECRET}\n"
        f"environments:\n  {env}: {{store: s3}}\n"
    )
    (root / ".gitignore").write_text(".mlci/\n")
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    commit = commit_all(root)
    model = (scratch.root / ".mlci/artifacts/digits/j2/model.joblib").read_bytes()
    finished_run(root, "digits", "js3", files={"model.joblib": model}, image_id=scratch.image, commit=commit)
    variables = {"MLCI_CACHE_DIR": str(tmp_path / "cache"), "MLCI_USER": "alice", **CREDENTIALS}
    published = mlci(root, "publish", "digits", "js3", env=variables)
    assert published.returncode == 0, published.stderr
    try:
        done = mlci(root, "deploy", "digits", "--env", env, "--version", "v1", env=variables)
        assert done.returncode == 0, done.stderr
        copy = tmp_path / "cache" / "deploy" / "digits" / "js3"
        assert "fetching its outputs from store 's3'" in done.stderr
        assert (copy / "model.joblib").read_bytes() == model
        info = docker_client.api.inspect_container(f"{env}-digits")
        assert info["State"]["Running"]  # and healthy: the deploy waited for its health check
        mount = next(m for m in info["Mounts"] if m["Destination"] == "/mlci/model")
        assert (mount["Source"], mount["RW"]) == (str(copy), False)
        assert "s3-secret-value-never-printed" not in done.stdout + done.stderr

        _remove_environment(docker_client, env)
        again = mlci(root, "deploy", "digits", "--env", env, "--version", "v1", env=variables)
        assert again.returncode == 0, again.stderr
        assert "reusing the checked copy" in again.stderr and "fetching" not in again.stderr
    finally:
        _remove_environment(docker_client, env)
