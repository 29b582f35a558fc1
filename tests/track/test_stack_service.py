"""The stack's MLflow service as rendered, the warning for publishing it beyond loopback, and
`mlci doctor`'s MLflow check against the real server, a closed port and a server that is not MLflow."""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path

import yaml

from mlci.host.mlflow_check import mlflow_check
from mlci.manifest.schema import Manifest
from mlci.render import plan
from mlci.render.checks import adoption_warnings
from tests.conftest import commit_all, mlci, write_project

BASE = {
    "version": 1,
    "name": "tracked",
    "repository": {"url": "https://git.example.com/ml/repo.git"},
    "hosts": [{"name": "box", "address": "198.51.100.7"}],
}


def rendered(tmp_path: Path, mlflow: dict) -> dict[str, str]:
    (tmp_path / "mlci.yaml").write_text(yaml.safe_dump({**BASE, "tracking": {"mlflow": mlflow}}))
    return {f.path: f.content for f in plan(tmp_path)}


def test_the_service_is_rendered_only_when_enabled(tmp_path):
    files = rendered(tmp_path, {"uri": "https://mlflow.example.com"})
    assert "mlflow" not in yaml.safe_load(files["compose/docker-compose.yml"])["services"]
    assert not any(p.startswith("compose/mlflow/") for p in files)

    files = rendered(tmp_path, {"server": {"enabled": True, "port": 5001, "data_dir": "/data/mlflow"}})
    compose = yaml.safe_load(files["compose/docker-compose.yml"])
    service = compose["services"]["mlflow"]
    assert service["ports"] == ["127.0.0.1:5001:5000"]  # loopback, like Jenkins
    assert service["volumes"] == ["/data/mlflow:/mlflow"]
    assert service["build"]["context"] == "./mlflow" and "image" in service
    command = service["command"]
    assert command[command.index("--backend-store-uri") + 1] == "sqlite:////mlflow/mlflow.db"
    assert command[command.index("--artifacts-destination") + 1] == "/mlflow/artifacts"
    # Jenkins reaches it by the service name; stages and records get the same URI
    assert compose["services"]["jenkins"]["environment"]["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert "mlflow==3.17.2" in files["compose/mlflow/Dockerfile"]
    group_vars = yaml.safe_load(files["ansible/group_vars/all.yml"])
    assert group_vars["mlci_mlflow_data_dir"] == "/data/mlflow"
    assert "compose/mlflow/Dockerfile" in group_vars["mlci_stack_files"]


def test_publishing_it_beyond_loopback_is_a_warning():
    manifest = Manifest.model_validate(
        {**BASE, "tracking": {"mlflow": {"server": {"enabled": True, "bind": "10.0.0.5"}}}}
    )
    warnings = adoption_warnings(manifest, None)
    assert any("tracking.mlflow.server is published on 10.0.0.5" in w for w in warnings)


def doctor_manifest(uri: str) -> Manifest:
    return Manifest.model_validate({"version": 1, "name": "t", "tracking": {"mlflow": {"uri": uri, "timeout": "30s"}}})


def test_doctor_checks_the_server(mlflow_server, closed_port):
    ok, detail, _ = mlflow_check(doctor_manifest(mlflow_server.uri))
    assert ok is True and mlflow_server.uri in detail
    ok, detail, fix = mlflow_check(doctor_manifest(closed_port))
    assert ok is False and "not reachable" in detail and "mlci track" in fix
    assert mlflow_check(Manifest.model_validate({"version": 1, "name": "t"}))[0] is None


def test_doctor_tells_a_server_that_is_not_mlflow():
    class NotMlflow(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"<html>a wiki</html>")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), NotMlflow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        ok, detail, fix = mlflow_check(doctor_manifest(f"http://127.0.0.1:{server.server_port}"))
    finally:
        server.shutdown()
    assert ok is False and "'<html>a wiki</html>'" in detail and "is this an MLflow server?" in fix


def test_the_trackers_credentials_are_jenkins_credentials_bound_around_mlci_run(monorepo):
    """Jenkins credentials of the same names (JCasC), bound around `mlci run` by the plan the
    library reads (mlciSecrets), so a run in Jenkins can authenticate to the tracker."""
    (monorepo / "mlci.yaml").write_text(
        yaml.safe_dump(
            {
                **BASE,
                "tracking": {
                    "mlflow": {"uri": "https://mlflow.example.com", "username": "MLF_USER", "password": "MLF_PASS"}
                },
            }
        )
    )
    write_project(monorepo, "tiny", "secrets: [HF_TOKEN]\n")
    commit_all(monorepo)
    planned = json.loads(mlci(monorepo, "plan", "--force", "--json").stdout)
    assert planned["projects"][0]["secrets"] == ["HF_TOKEN", "MLF_PASS", "MLF_USER"]
    files = {f.path: f.content for f in plan(monorepo)}
    casc = yaml.safe_load(files["jenkins/casc.yaml"])
    ids = {
        c["string"]["id"] for c in casc["credentials"]["system"]["domainCredentials"][0]["credentials"] if "string" in c
    }
    assert {"MLF_USER", "MLF_PASS"} <= ids
