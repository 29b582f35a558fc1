"""Secret scan: with known secret values in the environment, run publish, notify, trigger and
doctor through their success and failure paths, and find none of the values in any output,
record or file the commands wrote."""

from __future__ import annotations

import pytest

from mlci.cli import main
from mlci.record.model import RunStatus
from tests.jenkins.fake_jenkins import FakeJenkins, Job
from tests.notify.fake_slack import FakeSlack
from tests.record_support import finished_run
from tests.stores.fake_hub import FakeHub

SECRETS = {
    "SCAN_HF_TOKEN": "hf_scanTokenValue000111222",
    "SCAN_JENKINS_TOKEN": "jenkinsScanToken333444555",
    "SCAN_ADMIN_PASSWORD": "adminScanPassword666777",
    "SCAN_FRP": "frpScanValue888999",
}


@pytest.fixture
def world(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr("mlci.publish.stores.retry._sleep", lambda s: None)
    with FakeHub() as hub, FakeSlack() as slack, FakeJenkins(token=SECRETS["SCAN_JENKINS_TOKEN"]) as jenkins:
        values = {**SECRETS, "SCAN_SLACK": slack.url}
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("MLCI_JENKINS_URL", raising=False)
        monkeypatch.setenv("MLCI_CACHE_DIR", str(tmp_path / "cache"))
        monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")  # doctor's failure path
        (tmp_path / "mlci.yaml").write_text(
            "version: 1\nname: scan\n"
            f"jenkins: {{url: '{jenkins.url}', api_token: SCAN_JENKINS_TOKEN, admin_password: SCAN_ADMIN_PASSWORD}}\n"
            "webhook: {frp: {server: frps.example.com, token: SCAN_FRP}}\n"
            "artifacts:\n  default: hub\n  stores:\n"
            f"    hub: {{type: huggingface, repo: acme/models, token: SCAN_HF_TOKEN, endpoint: '{hub.endpoint}'}}\n"
            "notifications: {slack: {webhook: SCAN_SLACK}}\n"
        )
        yield tmp_path, values, hub, slack, jenkins


def snapshot(root):
    return {p: p.read_text(errors="replace") for p in root.rglob("*") if p.is_file()}


def make_run(root, job, status="Succeeded", error=None):
    record = finished_run(
        root, "digits", job, values=(0.95,), files={"metrics.json": b'{"accuracy": 0.95}'}, close=False
    )
    record.state.close(RunStatus(status), error)
    record.save()
    return record


def test_no_secret_value_appears_in_any_output_record_or_file(world, capsys):
    root, values, hub, slack, jenkins = world
    make_run(root, "job-ok")
    # a failed run whose error text quotes a secret (a stage printed it)
    make_run(root, "job-bad", status="Failed", error=f"stage train failed: token={values['SCAN_HF_TOKEN']}")
    jenkins.add(Job("mlci-release", console=[f"using token {values['SCAN_JENKINS_TOKEN']}\n", "Finished: SUCCESS\n"]))
    before = snapshot(root)  # the planted error above is the runner's to redact; scan what these commands write

    codes = [
        main(["--root", str(root), "publish", "digits", "job-ok"]),
        main(["--root", str(root), "publish", "digits", "job-bad"]),  # refused
        main(["--root", str(root), "notify", "--event", "succeeded", "digits", "job-ok"]),
        main(["--root", str(root), "notify", "--event", "failed", "digits", "job-bad"]),
        main(["--root", str(root), "trigger", "--release", "--follow", "--poll-interval", "0.01"]),
        main(["--root", str(root), "trigger", "nosuch", "--poll-interval", "0.01"]),
        main(["--root", str(root), "doctor", "--min-free-gb", "0.001"]),
    ]
    slack.statuses = [500, 500, 500]  # Slack failing: its error path must not quote the webhook URL
    codes.append(main(["--root", str(root), "notify", "--event", "failed", "digits", "job-bad"]))
    jenkins.state.token = "rotated-token"  # now the configured token is rejected (401)
    codes.append(main(["--root", str(root), "trigger", "--release", "--poll-interval", "0.01"]))

    assert codes == [0, 1, 0, 0, 0, 2, 1, 0, 2]
    out = capsys.readouterr()
    assert "using token ****" in out.out  # the console line came through, masked
    after = snapshot(root)
    written = "\n".join(text for path, text in after.items() if before.get(path) != text)
    assert "job-ok" in written  # publish rewrote job-ok's status.json, so the scan covers it
    sent_to_slack = "\n".join(str(p["json"]) for p in slack.posts)
    for name, value in values.items():
        for where, text in (("stdout", out.out), ("stderr", out.err), ("files", written), ("slack", sent_to_slack)):
            assert value not in text, f"{name}'s value leaked into {where}"
    # the commands really used the secrets: the hub got the token, Slack got the messages
    assert any(r.headers.get("authorization") == f"Bearer {values['SCAN_HF_TOKEN']}" for r in hub.state.requests)
    assert len(slack.posts) == 5
