"""`mlci doctor`: each check's verdict and fix, and the exit code from the required ones."""

from __future__ import annotations

import io
import tarfile
import uuid

import pytest

from mlci.cli import main
from mlci.host.doctor import Check, docker_checks, jenkins_check, manifest_check, secrets_check
from mlci.manifest import load_manifest
from tests.jenkins.fake_jenkins import FakeJenkins


class FakeDocker:
    """Answers version/info/images.get like docker.DockerClient, for GPU-less hosts."""

    def __init__(self, runtimes=("runc",), images=(), api="1.41"):
        self._runtimes, self._api = runtimes, api
        outer = self

        class Images:
            def get(self, name):
                import docker.errors

                if name not in images:
                    raise docker.errors.ImageNotFound(f"No such image: {name}")
                return type("Image", (), {"short_id": "sha256:0123456789ab"})()

        self.images = Images()
        del outer

    def version(self):
        return {"Version": "27.5.1", "ApiVersion": self._api}

    def info(self):
        return {"Runtimes": {name: {} for name in self._runtimes}}


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def test_nvidia_runtime_and_base_image_from_the_engine():
    checks = by_name(
        docker_checks(lambda: FakeDocker(runtimes=("nvidia", "runc"), images=("base:1",)), "base:1", strict=True)
    )
    assert checks["Docker engine"].line() == "✓ Docker engine: 27.5.1 (API 1.41)"
    assert checks["NVIDIA runtime"].ok and checks["base image"].ok


def test_missing_nvidia_runtime_is_advisory_unless_strict():
    lax = by_name(docker_checks(lambda: FakeDocker(images=("b",)), "b", strict=False))["NVIDIA runtime"]
    strict = by_name(docker_checks(lambda: FakeDocker(images=("b",)), "b", strict=True))["NVIDIA runtime"]
    assert lax.ok is False and not lax.failed_required and lax.line().endswith("(advisory)")
    assert strict.failed_required
    assert "nvidia-ctk runtime configure --runtime=docker" in strict.line()


def test_old_engine_and_missing_base_image_fail_with_fixes():
    checks = by_name(docker_checks(lambda: FakeDocker(api="1.39"), "mlci/python:3.11-bookworm", strict=False))
    assert checks["Docker engine"].failed_required and "API >= 1.41" in checks["Docker engine"].line()
    assert checks["base image"].line() == (
        "✗ base image: mlci/python:3.11-bookworm is not on this host"
        " — build it offline: `mlci base-image build --tag mlci/python:3.11-bookworm`"
    )


def test_unreachable_docker_fails_and_skips_what_depends_on_it():
    def refuse():
        raise ConnectionError("Error while fetching server API version: connection refused")

    checks = by_name(docker_checks(refuse, "b", strict=False))
    assert checks["Docker engine"].failed_required and "sudo systemctl start docker" in checks["Docker engine"].line()
    assert checks["base image"].ok is None


def test_invalid_manifest_points_at_the_line(tmp_path):
    (tmp_path / "mlci.yaml").write_text("version: 1\nname: ok\nbuild:\n  registy: x\n")
    check, manifest = manifest_check(tmp_path)
    assert manifest is None and check.failed_required
    assert "mlci.yaml:4:3: build.registy: unknown key 'registy' — did you mean 'registry'?" in check.line()


def test_secrets_are_listed_by_name_never_by_value(monkeypatch, tmp_path):
    monkeypatch.setenv("MLCI_SECRETS_DIR", str(tmp_path))
    monkeypatch.setenv("HAVE_ONE", "value-that-must-not-print")
    (tmp_path / "FROM_FILE").write_text("file-secret-value\n")
    check = secrets_check(["FROM_FILE", "HAVE_ONE", "MISSING_ONE"], strict=True)
    assert check.line() == (f"✗ secrets: missing MISSING_ONE (of 3) — export them or put them in {tmp_path}/<NAME>")
    assert (
        secrets_check(["FROM_FILE", "HAVE_ONE"], strict=False).line() == "✓ secrets: all 2 present: FROM_FILE, HAVE_ONE"
    )


@pytest.fixture
def jenkins_repo(tmp_path, monkeypatch):
    with FakeJenkins(token="doctor-token-value") as fake:
        (tmp_path / "mlci.yaml").write_text(
            f"version: 1\nname: t\njenkins: {{url: '{fake.url}', api_token: MLCI_TEST_JENKINS}}\n"
        )
        monkeypatch.setenv("MLCI_TEST_JENKINS", "doctor-token-value")
        monkeypatch.delenv("MLCI_JENKINS_URL", raising=False)
        yield tmp_path, fake


def test_jenkins_with_the_rendered_plugins(jenkins_repo):
    from mlci.release.jenkins import connect

    root, fake = jenkins_repo
    (root / "jenkins").mkdir()
    (root / "jenkins" / "plugins.txt").write_text("# generated\ngit:5.7.0\njob-dsl:1.93\n")
    fake.state.plugins = ["git", "job-dsl", "other"]
    assert (
        jenkins_check(load_manifest(root), root, connect).line()
        == f"✓ Jenkins: {fake.url} 2.462.3, required plugins present"
    )

    fake.state.plugins = ["git"]
    check = jenkins_check(load_manifest(root), root, connect)
    assert check.failed_required and "lacks plugins: job-dsl" in check.line()


def test_jenkins_bad_token(jenkins_repo, monkeypatch):
    from mlci.release.jenkins import connect

    root, _ = jenkins_repo
    monkeypatch.setenv("MLCI_TEST_JENKINS", "not-the-token")
    check = jenkins_check(load_manifest(root), root, connect)
    assert check.failed_required and "rejected the credentials of user 'admin' (HTTP 401)" in check.line()
    assert "not-the-token" not in check.line()


def test_jenkins_skipped_without_token(jenkins_repo, monkeypatch, tmp_path):
    from mlci.release.jenkins import connect

    root, fake = jenkins_repo
    monkeypatch.delenv("MLCI_TEST_JENKINS")
    monkeypatch.setenv("MLCI_SECRETS_DIR", str(tmp_path / "none"))
    check = jenkins_check(load_manifest(root), root, connect)
    assert check.ok is None and check.line() == "– Jenkins: skipped: no API token in secret MLCI_TEST_JENKINS"
    assert fake.state.requests == []


@pytest.fixture
def tiny_base_image():
    docker = pytest.importorskip("docker")
    client = docker.from_env()
    tag = f"mlci-i4-test-doctor-{uuid.uuid4().hex[:8]}"
    payload = io.BytesIO()
    with tarfile.open(fileobj=payload, mode="w") as tar:
        info = tarfile.TarInfo("marker")
        tar.addfile(info, io.BytesIO(b""))
    client.api.import_image_from_data(payload.getvalue(), repository=tag, tag="v1")
    yield f"{tag}:v1"
    client.images.remove(f"{tag}:v1", force=True)


@pytest.mark.docker
def test_doctor_command_on_this_host(tmp_path, tiny_base_image, monkeypatch, capsys):
    (tmp_path / "mlci.yaml").write_text(f"version: 1\nname: t\nbuild: {{base_image: '{tiny_base_image}'}}\n")
    monkeypatch.setenv("MLCI_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("JENKINS_ADMIN_PASSWORD", "admin-pass-value")
    monkeypatch.setenv("JENKINS_API_TOKEN", "api-token-value")
    monkeypatch.setenv("MLCI_WEBHOOK_TOKEN", "webhook-token-value")
    monkeypatch.setenv("PORTAINER_ADMIN_PASSWORD", "portainer-pass-value")
    monkeypatch.delenv("MLCI_JENKINS_URL", raising=False)

    code = main(["--root", str(tmp_path), "doctor", "--min-free-gb", "0.001"])

    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("✓ Docker engine: ") and "(API 1." in lines[0]
    assert [line.split(":")[0] for line in lines] == [
        "✓ Docker engine",
        lines[1].split(":")[0],
        lines[2].split(":")[0],
        "✓ base image",
        "✓ cache disk",
        "✓ manifest",
        "✓ secrets",
        "– Jenkins",
    ]
    assert code == 0  # GPU checks are advisory without --strict, whatever this host has
    assert "admin-pass-value" not in out and "api-token-value" not in out


def test_doctor_command_fails_when_docker_is_unreachable(tmp_path, monkeypatch, capsys):
    (tmp_path / "mlci.yaml").write_text("version: 1\nname: t\n")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    monkeypatch.setenv("MLCI_CACHE_DIR", str(tmp_path))
    assert main(["--root", str(tmp_path), "doctor", "--min-free-gb", "0.001"]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("✗ Docker engine: not reachable")
    assert "1 required check(s) failed: Docker engine" in captured.err


def test_doctor_command_fails_on_too_little_disk(tmp_path, monkeypatch, capsys):
    (tmp_path / "mlci.yaml").write_text("version: 1\nname: t\n")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    monkeypatch.setenv("MLCI_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["--root", str(tmp_path), "doctor", "--min-free-gb", "100000000"]) == 1
    assert "✗ cache disk: " in capsys.readouterr().out
