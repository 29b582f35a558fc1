"""`mlci notify`: the Block Kit payload Slack receives, and failures that only warn."""

from __future__ import annotations

import socket

import pytest

from mlci.cli import main
from mlci.record.model import RunStatus
from mlci.run.gate import judge
from tests.record_support import finished_run

from .fake_slack import FakeSlack

BUILD_URL = "https://ci.example.com/job/mlci-release/42/"


@pytest.fixture
def slack():
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def repo(tmp_path, slack, monkeypatch):
    (tmp_path / "mlci.yaml").write_text(
        "version: 1\nname: t\nnotifications: {slack: {webhook: MLCI_TEST_SLACK, channel: '#ml-runs'}}\n"
    )
    monkeypatch.setenv("MLCI_TEST_SLACK", slack.url)
    monkeypatch.setenv("BUILD_URL", BUILD_URL)
    monkeypatch.setattr("mlci.publish.stores.retry._sleep", lambda s: None)
    return tmp_path


def run(root, job, *, created, status="Succeeded", metrics=None, published=None, error=None):
    record = finished_run(root, "digits", job, values=(0.85, 0.93), close=False)
    state = record.state
    state.created_at, state.metrics = created, metrics or {}
    if published:
        state.published("hub", published)
    state.close(RunStatus(status), error)
    record.save()
    return record


def texts(payload) -> str:
    out = []
    for block in payload["blocks"]:
        out += [block.get("text", {}).get("text", "")]
        out += [f["text"] for f in block.get("fields", [])]
        out += [
            e.get("text", {}).get("text", "") if isinstance(e.get("text"), dict) else e.get("text", "")
            for e in block.get("elements", [])
        ]
    return "\n".join(out)


def test_succeeded_compares_with_the_previous_published_run(repo, slack, capsys):
    run(
        repo,
        "job-1",
        created="2026-11-20T10:00:00.000Z",
        metrics={"accuracy": 0.90, "loss": 0.30},
        published="https://hub.example.com/acme/models/tree/digits-job-1",
    )
    run(repo, "job-2", created="2026-11-21T10:00:00.000Z", metrics={"accuracy": 0.99})  # newer, never published
    run(
        repo,
        "job-3",
        created="2026-11-22T10:00:00.000Z",
        metrics={"accuracy": 0.93, "loss": 0.35, "f1": 0.8},
        published="https://hub.example.com/acme/models/tree/digits-job-3",
    )
    # job-3 is compared with job-1: job-2 was not published
    assert main(["--root", str(repo), "notify", "--event", "succeeded", "digits", "job-3"]) == 0

    [post] = slack.posts
    assert post["path"] == FakeSlack.PATH and post["content_type"] == "application/json"
    payload = post["json"]
    assert payload["text"] == "✅ digits run job-3 succeeded"
    assert payload["channel"] == "#ml-runs"
    assert payload["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "✅ digits run job-3 succeeded"},
    }
    body = texts(payload)
    assert "*Project*\ndigits" in body and "*Status*\nSucceeded" in body and "*Attempts*\n2" in body
    assert "*Gate*\naccuracy >= 0.9: passed" in body
    assert "*accuracy*: 0.93  (▲ +0.03 from 0.9)" in body
    assert "*loss*: 0.35  (▲ +0.05 from 0.3)" in body
    assert "*f1*: 0.8  (new)" in body
    assert "_compared with published run job-1_" in body
    [actions] = [b for b in payload["blocks"] if b["type"] == "actions"]
    assert [(e["text"]["text"], e["url"]) for e in actions["elements"]] == [
        ("Jenkins build", BUILD_URL),
        ("Artifacts", "https://hub.example.com/acme/models/tree/digits-job-3"),
    ]
    assert "Slack notified" in capsys.readouterr().out


def test_approval_links_to_the_input_step(repo, slack):
    run(repo, "job-1", created="2026-11-20T10:00:00.000Z", metrics={"accuracy": 0.93})
    assert main(["--root", str(repo), "notify", "--event", "approval", "digits"]) == 0
    payload = slack.posts[0]["json"]
    assert payload["text"] == "✋ digits run job-1 is waiting for approval"
    [actions] = [b for b in payload["blocks"] if b["type"] == "actions"]
    assert actions["elements"][0]["url"] == BUILD_URL + "input/"


def test_non_http_artifacts_are_shown_not_linked(repo, slack):
    run(repo, "job-1", created="2026-11-20T10:00:00.000Z", published="s3://bucket/runs/digits/job-1/")
    assert main(["--root", str(repo), "notify", "--event", "succeeded", "digits"]) == 0
    payload = slack.posts[0]["json"]
    assert "Artifacts: `s3://bucket/runs/digits/job-1/`" in texts(payload)
    assert all(
        e.get("url", "").startswith("http") for b in payload["blocks"] if b["type"] == "actions" for e in b["elements"]
    )


def test_started_before_the_record_exists(repo, slack):
    assert main(["--root", str(repo), "notify", "--event", "started", "digits"]) == 0
    # the Jenkins library names the job id it is about to run
    assert main(["--root", str(repo), "notify", "--event=started", "digits", "jenkins-42-digits"]) == 0
    texts_sent = [p["json"]["text"] for p in slack.posts]
    assert texts_sent == ["🚀 digits started", "🚀 digits run jenkins-42-digits started"]
    assert "*Job*\njenkins-42-digits" in texts(slack.posts[1]["json"])


def test_slack_errors_warn_and_exit_zero_without_leaking_the_webhook(repo, slack, capsys):
    run(repo, "job-1", created="2026-11-20T10:00:00.000Z", status="Failed")
    slack.statuses = [500, 500, 500]
    assert main(["--root", str(repo), "notify", "--event", "failed", "digits"]) == 0
    assert len(slack.posts) == 3  # 500 is transient: retried
    err = capsys.readouterr().err
    assert "warning: notification not sent: Slack webhook failed (HTTP 500: invalid_payload)" in err
    assert "webhookSecretPart123" not in err


def test_a_rejected_payload_is_not_retried(repo, slack, capsys):
    run(repo, "job-1", created="2026-11-20T10:00:00.000Z")
    slack.statuses = [400]
    assert main(["--root", str(repo), "notify", "--event", "succeeded", "digits"]) == 0
    assert len(slack.posts) == 1
    assert "HTTP 400" in capsys.readouterr().err


def test_unreachable_slack_warns(repo, monkeypatch, capsys):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("MLCI_TEST_SLACK", f"http://127.0.0.1:{port}/services/T/B/hiddenWebhookToken")
    run(repo, "job-1", created="2026-11-20T10:00:00.000Z")
    assert main(["--root", str(repo), "notify", "--event", "succeeded", "digits"]) == 0
    err = capsys.readouterr().err
    assert "warning: notification not sent: Slack webhook failed (ConnectionError)" in err
    assert "hiddenWebhookToken" not in err


def test_missing_webhook_secret_warns(repo, monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("MLCI_TEST_SLACK")
    monkeypatch.setenv("MLCI_SECRETS_DIR", str(tmp_path / "no-secrets"))
    assert main(["--root", str(repo), "notify", "--event", "started", "digits"]) == 0
    assert "secret MLCI_TEST_SLACK (notifications.slack.webhook) is not set" in capsys.readouterr().err


def test_unknown_job_warns(repo, slack, capsys):
    assert main(["--root", str(repo), "notify", "--event", "succeeded", "digits", "nope"]) == 0
    assert "no run 'nope' for project 'digits'" in capsys.readouterr().err
    assert slack.posts == []


def test_without_slack_nothing_is_sent(tmp_path, capsys):
    (tmp_path / "mlci.yaml").write_text("version: 1\nname: t\n")
    assert main(["--root", str(tmp_path), "notify", "--event", "started", "digits"]) == 0
    assert "nothing sent" in capsys.readouterr().out


def test_bad_event_is_a_usage_error(repo):
    assert main(["--root", str(repo), "notify", "--event", "exploded", "digits"]) == 2


def test_gate_less_runs_show_no_gate(repo, slack):
    record = run(repo, "job-1", created="2026-11-20T10:00:00.000Z", metrics={"loss": 0.2})
    record.state.gate = judge(None, {}, None)  # the verdict mlci run records for a project without a gate
    record.save()
    assert main(["--root", str(repo), "notify", "--event", "succeeded", "digits"]) == 0
    body = texts(slack.posts[0]["json"])
    assert "*Gate*" not in body and "None" not in body


def test_a_cancelled_run_is_announced_as_cancelled():
    from mlci.release.notify import EVENTS, build_message

    assert "cancelled" in EVENTS  # Jenkins sends it when a build is aborted
    payload = build_message("cancelled", "digits", None, None, job="job-1", build_url=None)
    assert payload["text"] == "⏹️ digits run job-1 was cancelled"


def test_locale_ja_writes_the_message_in_japanese(repo, slack):
    (repo / "mlci.yaml").write_text((repo / "mlci.yaml").read_text() + "locale: ja\n")
    run(
        repo,
        "job-1",
        created="2026-11-20T10:00:00.000Z",
        metrics={"accuracy": 0.90},
        published="https://hub.example.com/acme/models/tree/digits-job-1",
    )
    run(repo, "job-2", created="2026-11-22T10:00:00.000Z", metrics={"accuracy": 0.93, "f1": 0.8})
    assert main(["--root", str(repo), "notify", "--event", "succeeded", "digits", "job-2"]) == 0
    [post] = slack.posts
    payload = post["json"]
    assert payload["text"] == "✅ digits の学習が成功しました（ジョブ job-2）"
    body = texts(payload)
    assert "*ステータス*\n成功" in body and "*試行回数*\n" in body and "*ゲート*\naccuracy >= 0.9: 合格" in body
    assert "*accuracy*: 0.93  （前回 0.9 から ▲ +0.03）" in body and "*f1*: 0.8  （新規）" in body
    assert "_公開済みの前回のジョブ job-1 との比較_" in body
    assert "Jenkins のビルド" in body
    assert not any(word in body for word in ("Status", "Attempts", "passed", "compared with"))


def test_every_event_has_a_headline_in_both_languages():
    from mlci.release.notify import EVENTS, build_message

    for event in EVENTS:
        english = build_message(event, "digits", None, None, job="j", build_url=None)["text"]
        japanese = build_message(event, "digits", None, None, job="j", build_url=None, lang="ja")["text"]
        assert "digits" in english and "digits" in japanese and english != japanese
        assert "（ジョブ j）" in japanese
