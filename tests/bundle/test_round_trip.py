"""The edge bundle end to end on real engines: the digits example trained and published as v1,
bundled from the first engine, verified with no engine reachable, then copied into a second, empty
engine, where start.sh loads the image from the bundle and serves the model — and /predict there
answers exactly what the model, loaded in the image on the first engine, predicts."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import mlci

pytestmark = [pytest.mark.docker, pytest.mark.slow]

# Runs in the version's image on the first engine: the first 60 images of scikit-learn's bundled
# digits, and what the served code (src/serve.py: its input scaling, its model) predicts for them.
REFERENCE = """
import json, sys
sys.path.insert(0, "src")
from sklearn.datasets import load_digits
import serve
instances = load_digits().data[:60].astype(int).tolist()
body = json.dumps({"instances": instances}).encode()
print(json.dumps({"instances": instances, "predictions": [int(p) for p in serve.MODEL.predict(serve.parse_instances(body))]}))
"""
# Runs in the second engine's container (its Python, no third-party packages): the service there.
CLIENT = """
import json, sys, urllib.request
url = "http://127.0.0.1:8080" + sys.argv[1]
data = sys.stdin.buffer.read() or None
request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
with urllib.request.urlopen(request, timeout=10) as reply:
    print(reply.read().decode())
"""


def version_entry(root) -> dict:
    listed = mlci(root, "versions", "digits", "--json")
    assert listed.returncode == 0, listed.stderr
    return next(e for e in json.loads(listed.stdout) if e["version"] == "v1")


def reference_predictions(docker_client, root, entry: dict) -> dict:
    model_dir = root / "store" / "digits" / entry["jobId"]
    output = docker_client.containers.run(
        entry["imageDigest"],
        ["python", "-c", REFERENCE],
        volumes={str(model_dir): {"bind": "/mlci/model", "mode": "ro"}},
        environment={"MLCI_MODEL_DIR": "/mlci/model"},
        network_mode="none",
        remove=True,
    )
    return json.loads(output.decode().strip().splitlines()[-1])


def served(engine, path: str, body: dict | None = None, *, wait_s: float = 0) -> dict | None:
    """GET (or POST `body` to) `path` of the service in the second engine; None when it does not answer."""
    deadline = time.monotonic() + wait_s
    while True:
        done = engine.exec(
            "python3", "-c", CLIENT, path, input=json.dumps(body) if body is not None else "", check=False
        )
        if done.returncode == 0:
            return json.loads(done.stdout)
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.5)


def test_a_bundle_serves_the_same_predictions_on_a_second_engine(
    digits_version, second_engine, docker_client, tmp_path
):
    root, engine = digits_version, second_engine
    entry = version_entry(root)
    bundle = tmp_path / "digits-v1.tar.gz"

    made = mlci(root, "bundle", "digits", "v1", "--out", str(bundle))
    assert made.returncode == 0, made.stderr[-3000:]
    assert "docker save" in made.stderr and "write gzip archive" in made.stderr  # the long parts report progress
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits-v1.tar.gz"]  # no temporary file left behind

    # verified where no engine is reachable
    checked = mlci(root, "bundle", "--verify", str(bundle), "--json", env={"DOCKER_HOST": "unix:///nonexistent.sock"})
    assert checked.returncode == 0, checked.stdout + checked.stderr
    result = json.loads(checked.stdout)
    assert result["ok"] and result["imageId"] == entry["imageDigest"] and result["jobId"] == entry["jobId"]

    # the second engine has nothing: whatever serves there came from the bundle
    assert engine.docker("images", "--all", "--quiet").stdout.strip() == ""
    assert engine.docker("image", "inspect", entry["imageDigest"], check=False).returncode != 0
    engine.exec("mkdir", "-p", "/edge")
    engine.copy_in(bundle, "/edge/digits-v1.tar.gz")
    engine.exec("tar", "-C", "/edge", "-xzf", "/edge/digits-v1.tar.gz")
    started = engine.exec("/bin/sh", "/edge/digits-v1/start.sh", check=False)
    assert started.returncode == 0, started.stderr
    assert "loading the image of digits v1 from image.tar" in started.stderr
    assert "digits v1 runs as container digits on 127.0.0.1:8080" in started.stdout
    loaded = engine.docker("image", "inspect", "--format", "{{.Id}}", "mlci-bundle/digits:v1").stdout.strip()
    assert loaded == entry["imageDigest"]

    assert served(engine, "/health", wait_s=90) == {"status": "ok", "version": "v1"}
    reference = reference_predictions(docker_client, root, entry)
    answer = served(engine, "/predict", {"instances": reference["instances"]})
    assert answer == {"predictions": reference["predictions"], "version": "v1"}
    assert len(set(reference["predictions"])) == 10  # a real model on real digits, not a constant

    inspected = json.loads(engine.docker("container", "inspect", "digits").stdout)[0]
    assert [(m["Destination"], m["RW"]) for m in inspected["Mounts"]] == [("/mlci/model", False)]
    assert inspected["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert inspected["HostConfig"]["PortBindings"] == {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}
    assert {
        "MLCI_MODEL_DIR=/mlci/model",
        "MLCI_SERVE_PORT=8080",
        "MLCI_MODEL_VERSION=v1",
        "MLCI_PROJECT=digits",
    } <= set(inspected["Config"]["Env"])
    assert inspected["Config"]["Cmd"] == ["sh", "-c", "python src/serve.py"]

    # starting again replaces the container and reuses the loaded image
    again = engine.exec("/bin/sh", "/edge/digits-v1/start.sh", check=False)
    assert again.returncode == 0 and "replacing the container digits" in again.stderr
    assert "loading the image" not in again.stderr
    assert served(engine, "/health", wait_s=90) == {"status": "ok", "version": "v1"}
