"""Secrets by name (environment, then the secrets directory) and redaction of their values."""

from __future__ import annotations

import pytest

from mlci import secrets
from mlci.errors import MlciError, UsageError


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    monkeypatch.setattr(secrets, "_known", set())
    monkeypatch.setenv("MLCI_SECRETS_DIR", str(tmp_path))
    return tmp_path


def test_environment_first_then_secret_file(monkeypatch, isolated):
    (isolated / "HF_TOKEN").write_text("from-file-value\n")
    assert secrets.lookup("HF_TOKEN") == "from-file-value"
    monkeypatch.setenv("HF_TOKEN", "from-env-value")
    assert secrets.lookup("HF_TOKEN") == "from-env-value"


def test_missing_secret_names_where_to_put_it(isolated):
    with pytest.raises(UsageError) as err:
        secrets.resolve("SLACK_WEBHOOK_URL", purpose="notifications.slack.webhook")
    assert str(err.value) == (
        f"secret SLACK_WEBHOOK_URL (notifications.slack.webhook) is not set"
        f" — export SLACK_WEBHOOK_URL=... or put it in {isolated}/SLACK_WEBHOOK_URL"
    )


def test_resolved_values_are_redacted_everywhere(isolated):
    (isolated / "PLAIN_NAME").write_text("s3cr3t-value-42")  # a name that does not look secret
    secrets.lookup("PLAIN_NAME")
    assert secrets.redact("url=https://x/s3cr3t-value-42/y") == "url=https://x/****/y"
    assert secrets.redact_data({"a": ["s3cr3t-value-42", 3], "b": {"c": "ok"}}) == {"a": ["****", 3], "b": {"c": "ok"}}


def test_secret_looking_environment_values_are_redacted_before_any_lookup(monkeypatch):
    monkeypatch.setenv("SOME_API_TOKEN", "tok-abcdef")
    monkeypatch.setenv("MY_PASSWORD", "hunter2hunter2")
    monkeypatch.setenv("HOME_DIR_NAME", "visible-value")
    text = "tok-abcdef hunter2hunter2 visible-value"
    assert secrets.redact(text) == "**** **** visible-value"


def test_longer_secrets_are_masked_whole(monkeypatch):
    secrets.remember("abcd")
    secrets.remember("abcdefgh")
    assert secrets.redact("xabcdefghx") == "x****x"


def test_short_values_are_not_treated_as_secrets():
    secrets.remember("1")
    assert secrets.redact("1 2 3") == "1 2 3"


def test_redacted_errors_masks_messages_and_library_errors():
    secrets.remember("topsecret-xyz")

    @secrets.redacted_errors
    def mlci_failure():
        raise UsageError("bad token topsecret-xyz", hint="not topsecret-xyz")

    @secrets.redacted_errors
    def library_failure():
        raise RuntimeError("GET https://h/?token=topsecret-xyz failed")

    with pytest.raises(UsageError) as first:
        mlci_failure()
    assert str(first.value) == "bad token **** — not ****"
    with pytest.raises(MlciError) as second:
        library_failure()
    assert str(second.value) == "RuntimeError: GET https://h/?token=**** failed"
