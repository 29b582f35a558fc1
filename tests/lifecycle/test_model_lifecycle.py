"""Issue #25's whole flow on the real engine, as a team runs it from the command line, in a scratch
monorepo holding the digits example: two trained versions and a broken third, three environments
(dev; qa; prod after qa, approval-guarded), deployments that serve real predictions, the itest gate
between qa and prod, a broken version that never replaces a healthy one, and a rollback.

Each step is the real CLI in a subprocess; what serves is asked over the environment's Docker
network from another container, so the test checks what a client would get, not mlci's own report.
(Concurrent publishers and promoters: tests/stores/test_versions_*.py, test_promotion_concurrent.py;
the edge bundle on a second engine: tests/bundle/test_round_trip.py.)"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from mlci import contract
from tests.conftest import REPO, commit_all, mlci
from tests.record_support import finished_run
from tests.serve_support import ask_service

pytestmark = pytest.mark.usefixtures("base_image")


class Flow:
    def __init__(self, root: Path, tag: str, client):
        self.root, self.client = root, client
        self.dev, self.qa, self.prod = f"dev-{tag}", f"qa-{tag}", f"prod-{tag}"
        self.env = {"MLCI_CACHE_DIR": str(root.parent / "cache"), "MLCI_USER": "alice"}
        self.image = ""
        self.sample: dict = {}

    def mlci(self, *args: str, approved: str | None = None) -> subprocess.CompletedProcess:
        extra = {"MLCI_PROMOTE_APPROVED": approved} if approved else {}
        return mlci(self.root, *args, env={**self.env, **extra})

    def ok(self, *args: str, approved: str | None = None) -> str:
        done = self.mlci(*args, approved=approved)
        assert done.returncode == 0, f"mlci {' '.join(args)}: {done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        return done.stdout

    def ask(self, env: str, path: str, payload: dict | None = None) -> dict:
        """What a client on the environment's network gets from `{env}-digits`."""
        return ask_service(self.client, self.image, f"mlci-{env}", f"http://{env}-digits:8080{path}", payload)

    def serving(self, env: str) -> str:
        """The version `{env}-digits` answers with, checked against the label mlci put on it."""
        version = self.ask(env, "/health")["version"]
        labels = self.client.api.inspect_container(f"{env}-digits")["Config"]["Labels"]
        assert labels[contract.LABEL_ENV] == env and labels["mlci.version"] == version
        return version

    def predicts_well(self, env: str) -> bool:
        """The service classifies at least 18 of the 20 sample digits right (the model is ~99% accurate)."""
        if not self.sample:
            out = self.client.containers.run(self.image, ["python", "-c", DIGITS], remove=True)
            self.sample = json.loads(out.decode().strip().splitlines()[-1])
        predictions = self.ask(env, "/predict", {"instances": self.sample["x"]})["predictions"]
        return sum(p == y for p, y in zip(predictions, self.sample["y"], strict=True)) >= 18

    def current(self, env: str) -> dict:
        return json.loads(self.ok("versions", "digits", "--env", env, "--json"))


DIGITS = (  # 20 images of scikit-learn's digits and their labels, read in the project's own image
    "import json; from sklearn.datasets import load_digits; d = load_digits();"
    " print(json.dumps({'x': d.data[:20].astype(int).tolist(), 'y': d.target[:20].tolist()}))"
)


@pytest.fixture
def flow(tmp_path, docker_client):
    tag = uuid.uuid4().hex[:6]
    root = tmp_path / "repo"
    shutil.copytree(REPO / "projects" / "digits", root / "projects" / "digits")
    flow = Flow(root, tag, docker_client)
    (root / "mlci.yaml").write_text(
        "version: 1\nname: lifecycle\n"
        "artifacts:\n  default: local\n  stores:\n"
        "    local: {type: local, path: .mlci/artifacts}\n"
        "    shelf: {type: local, path: .mlci/shelf}\n"
        "environments:\n"
        f"  {flow.dev}: {{store: local}}\n"
        f"  {flow.qa}: {{store: shelf}}\n"
        f"  {flow.prod}: {{store: shelf, after: {flow.qa}, approval: true}}\n"
    )
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    commit_all(root)
    try:
        yield flow
    finally:
        for env in (flow.dev, flow.qa, flow.prod):
            for info in docker_client.api.containers(all=True, filters={"label": [f"{contract.LABEL_ENV}={env}"]}):
                docker_client.api.remove_container(info["Id"], force=True)
            for net in docker_client.api.networks(names=[f"mlci-{env}"]):
                docker_client.api.remove_network(net["Id"])


def test_publish_deploy_promote_through_qa_to_prod_refuse_a_broken_version_and_roll_back(flow):
    # --- publish v1 and v2 (trained), v3 whose model does not load
    for job in ("j1", "j2"):
        flow.ok("run", "digits", "--job-id", job)
    flow.image = json.loads((flow.root / ".mlci/runs/digits/j1/status.json").read_text())["build"]["imageId"]
    finished_run(flow.root, "digits", "j3", files={"model.joblib": b"not a pickle"}, image_id=flow.image)
    flow.ok("publish", "digits", "j3")
    versions = json.loads(flow.ok("versions", "digits", "--json"))
    assert [v["version"] for v in versions] == ["v3", "v2", "v1"]

    # --- deploy v1 to dev: it serves real predictions
    flow.ok("deploy", "digits", "--env", flow.dev, "--version", "v1")
    assert flow.serving(flow.dev) == "v1"
    assert flow.predicts_well(flow.dev)

    # --- v1 through qa to prod: prod's gate wants qa's itest, and a person's approval
    flow.ok("promote", "digits", "v1", "--to", flow.qa)
    flow.ok("deploy", "digits", "--env", flow.qa)
    refused = flow.mlci("promote", "digits", "v1", "--to", flow.prod, approved=flow.prod)
    assert refused.returncode == 2 and "no verdict" in refused.stderr
    flow.ok("itest", "digits", "--env", flow.qa)
    assert flow.mlci("promote", "digits", "v1", "--to", flow.prod).returncode == 2  # not approved
    flow.ok("promote", "digits", "v1", "--to", flow.prod, approved=flow.prod)
    flow.ok("deploy", "digits", "--env", flow.prod)
    assert flow.serving(flow.prod) == "v1"

    # --- v2 through qa (itest passes, recorded) to prod
    flow.ok("promote", "digits", "v2", "--to", flow.qa)
    flow.ok("deploy", "digits", "--env", flow.qa)
    assert flow.serving(flow.qa) == "v2"
    flow.ok("itest", "digits", "--env", flow.qa)
    qa = flow.current(flow.qa)
    assert qa["itests"][0]["version"] == "v2" and qa["itests"][0]["passed"] is True
    flow.ok("promote", "digits", "v2", "--to", flow.prod, approved=flow.prod)
    flow.ok("deploy", "digits", "--env", flow.prod)
    assert flow.serving(flow.prod) == "v2"
    assert flow.predicts_well(flow.prod)

    # --- broken v3: promoted to qa, its deploy fails its health check and qa keeps serving v2
    flow.ok("promote", "digits", "v3", "--to", flow.qa)
    failed = flow.mlci("deploy", "digits", "--env", flow.qa)
    assert failed.returncode == 1
    log = flow.root / ".mlci" / "deploy" / f"{flow.qa}-digits-v3.log"
    assert str(log.relative_to(flow.root)) in failed.stderr + failed.stdout and log.is_file()
    assert flow.serving(flow.qa) == "v2"
    # ... it never reaches prod: not by promotion (no passing itest in qa), not by a direct deploy
    gate = flow.mlci("promote", "digits", "v3", "--to", flow.prod, approved=flow.prod)
    assert gate.returncode == 2 and "refusing to promote" in gate.stderr
    direct = flow.mlci("deploy", "digits", "--env", flow.prod, "--version", "v3")
    assert direct.returncode == 2 and "never promoted to" in direct.stderr, direct.stderr
    assert flow.serving(flow.prod) == "v2"

    # --- roll prod back to v1: what prod ran before comes back without waiting for qa
    flow.ok("promote", "digits", "v1", "--to", flow.prod, approved=flow.prod)
    flow.ok("deploy", "digits", "--env", flow.prod)
    assert flow.serving(flow.prod) == "v1"
    prod = flow.current(flow.prod)
    history = [(p["version"], p["previous"], p["by"]) for p in prod["history"]]
    assert history == [("v1", "v2", "alice"), ("v2", "v1", "alice"), ("v1", None, "alice")]
    assert flow.serving(flow.dev) == "v1"  # dev was never touched by any of this
    # an itest of a version deployed without promotion is run but gives no verdict a gate could trust
    untested = flow.mlci("itest", "digits", "--env", flow.dev)
    assert untested.returncode == 0 and "not recorded" in untested.stderr
