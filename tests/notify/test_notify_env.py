"""`mlci notify` about promotions and deployments (Jenkins' mlci-promote and mlci-deploy): the payload
Slack receives from the real client, in English and Japanese, filled from the promotion log, and
arguments that are refused before anything is read or sent."""

from __future__ import annotations

import json

import pytest

from mlci.cli import main
from mlci.release.notify_env import ENV_EVENTS, EnvChange, build_env_message

from .fake_slack import FakeSlack
from .test_notify import texts

BUILD_URL = "https://ci.example.com/job/mlci-promote/7/"
MANIFEST = """version: 1
name: t
notifications: {slack: {webhook: MLCI_TEST_SLACK}}
artifacts:
  default: shelf
  stores: {shelf: {type: local, path: shelf}}
environments:
  prod: {store: shelf, approval: true}
"""


def promotion(version: str, previous: str | None, by: str) -> dict:
    return {
        "env": "prod",
        "project": "digits",
        "version": version,
        "previous": previous,
        "jobId": f"job-{version}",
        "sourceStore": "shelf",
        "by": by,
        "at": "2026-11-20T10:00:00.000Z",
        "digest": None,
        "url": f"file:///shelf/digits/envs/prod/{version}",
    }


@pytest.fixture
def slack():
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def repo(tmp_path, slack, monkeypatch):
    (tmp_path / "mlci.yaml").write_text(MANIFEST)
    log = tmp_path / "shelf" / "digits" / "promotions.json"
    log.parent.mkdir(parents=True)
    entries = [promotion("v1", None, "dave"), promotion("v3", "v1", "alice")]
    log.write_text(json.dumps({"schemaVersion": 1, "project": "digits", "promotions": entries}))
    monkeypatch.setenv("MLCI_TEST_SLACK", slack.url)
    monkeypatch.setenv("BUILD_URL", BUILD_URL)
    monkeypatch.setattr("mlci.publish.stores.retry._sleep", lambda s: None)
    return tmp_path


def notify(repo, *args: str) -> int:
    return main(["--root", str(repo), "notify", *args])


def test_promoted_names_version_environment_previous_and_who_from_the_log(repo, slack, capsys):
    assert notify(repo, "--event", "promoted", "digits", "--env", "prod", "--version", "v3") == 0
    [post] = slack.posts
    payload = post["json"]
    assert payload["text"] == "✅ digits v3 promoted to prod"
    body = texts(payload)
    for field in ("*Project*\ndigits", "*Version*\nv3", "*Environment*\nprod", "*Previous version*\nv1", "*By*\nalice"):
        assert field in body
    [actions] = [b for b in payload["blocks"] if b["type"] == "actions"]
    assert [(e["text"]["text"], e["url"]) for e in actions["elements"]] == [("Jenkins build", BUILD_URL)]
    assert "Slack notified: ✅ digits v3 promoted to prod" in capsys.readouterr().out


def test_a_first_promotion_replaced_nothing(repo, slack):
    assert notify(repo, "--event=promoted", "digits", "--env=prod", "--version=v1") == 0
    body = texts(slack.posts[0]["json"])
    assert "*Previous version*\nnone" in body and "*By*\ndave" in body


def test_what_the_caller_passes_wins_over_the_log(repo, slack):
    args = ("--env", "prod", "--version", "v3", "--previous", "v2", "--by", "ci-bot")
    assert notify(repo, "--event", "promoted", "digits", *args) == 0
    body = texts(slack.posts[0]["json"])
    assert "*Previous version*\nv2" in body and "*By*\nci-bot" in body


def test_approval_links_to_the_input_page(repo, slack):
    assert notify(repo, "--event", "promotion-approval", "digits", "--env", "prod", "--version", "v4") == 0
    payload = slack.posts[0]["json"]
    assert payload["text"] == "✋ digits v4 to prod is waiting for approval"
    [actions] = [b for b in payload["blocks"] if b["type"] == "actions"]
    assert [e["url"] for e in actions["elements"]] == [BUILD_URL + "input/", BUILD_URL]
    assert "Previous version" not in texts(payload)  # v4 was never promoted: nothing known


def test_a_deployment_of_the_current_version_names_it(repo, slack):
    assert notify(repo, "--event", "deployed", "digits", "--env", "prod", "--by", "alice") == 0
    payload = slack.posts[0]["json"]
    assert payload["text"] == "🚢 digits v3 deployed to prod"  # v3 is current in prod's log
    assert "*By*\nalice" in texts(payload)


def test_a_failed_deployment_without_a_readable_log_still_notifies(repo, slack):
    (repo / "shelf" / "digits" / "promotions.json").write_text("{not json")
    assert notify(repo, "--event", "deploy-failed", "digits", "--env", "prod") == 0
    assert slack.posts[0]["json"]["text"] == "❌ deploying digits (the current version) to prod failed"


def test_cancelled_and_failed_promotions(repo, slack):
    for event in ("promotion-failed", "promotion-cancelled"):
        assert notify(repo, "--event", event, "digits", "--env", "prod", "--version", "v4", "--by", "bob") == 0
    assert [p["json"]["text"] for p in slack.posts] == [
        "❌ promoting digits v4 to prod failed",
        "⏹️ promoting digits v4 to prod was cancelled",
    ]


def test_locale_ja_writes_it_in_japanese(repo, slack):
    (repo / "mlci.yaml").write_text(MANIFEST + "locale: ja\n")
    assert notify(repo, "--event", "promoted", "digits", "--env", "prod", "--version", "v3") == 0
    payload = slack.posts[0]["json"]
    assert payload["text"] == "✅ digits v3 を prod に昇格しました"
    body = texts(payload)
    assert "*バージョン*\nv3" in body and "*環境*\nprod" in body and "*以前のバージョン*\nv1" in body
    assert "*実行者*\nalice" in body and "Jenkins のビルド" in body
    assert not any(word in body for word in ("Version", "Environment", "Previous", "By\n"))


def test_every_environment_event_has_a_headline_in_both_languages():
    change = EnvChange("digits", "prod", "v2")
    for event in ENV_EVENTS:
        english = build_env_message(event, change, build_url=None)["text"]
        japanese = build_env_message(event, change, build_url=None, lang="ja")["text"]
        assert all(word in english and word in japanese for word in ("digits", "v2", "prod"))
        assert english != japanese


def test_slack_down_is_only_a_warning(repo, slack, capsys):
    slack.statuses = [500, 500, 500]
    assert notify(repo, "--event", "deployed", "digits", "--env", "prod", "--version", "v3") == 0
    err = capsys.readouterr().err
    assert "warning: notification not sent: Slack webhook failed (HTTP 500" in err
    assert "webhookSecretPart123" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--event", "promoted", "digits", "--env", "prod"), "--event promoted needs --version V"),
        (("--event", "deployed", "digits"), "--event deployed needs --env ENV"),
        (("--event", "deployed", "digits", "job-1", "--env", "prod"), "--event deployed takes no JOB"),
        (("--event", "deployed", "digits", "--env", "prod;id"), "--env 'prod;id' is not valid"),
        (("--event", "deployed", "digits", "--env", "prod\n"), "is not valid"),
        (("--event", "deployed", "digits", "--env", "prod", "--version", "3"), "--version '3' is not valid"),
        (("--event", "promoted", "digits", "--env", "prod", "--version", "v3", "--previous", "v0"), "--previous"),
        (("--event", "promoted", "digits", "--env", "prod", "--version", "v3", "--by", "$(id)"), "--by '$(id)'"),
        (("--event", "deployed", "Digits!", "--env", "prod"), "project 'Digits!' is not valid"),
        (("--event", "succeeded", "digits", "--env", "prod"), "apply to promotion and deployment events"),
    ],
)
def test_bad_arguments_are_usage_errors_and_send_nothing(repo, slack, capsys, args, message):
    assert notify(repo, *args) == 2
    assert message in capsys.readouterr().err
    assert slack.posts == []
