"""`mlci trigger` through the real python-jenkins client against a local Jenkins API on 127.0.0.1."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from mlci.cli import main
from mlci.errors import MlciError
from mlci.release.jenkins import JenkinsClient

from .fake_jenkins import FakeJenkins, Job

TOKEN = "jenkins-api-token-value"


@pytest.fixture
def jenkins_server():
    with FakeJenkins(token=TOKEN) as fake:
        yield fake


@pytest.fixture
def repo(tmp_path, jenkins_server, monkeypatch):
    (tmp_path / "mlci.yaml").write_text(
        f"version: 1\nname: t\njenkins: {{url: '{jenkins_server.url}', api_user: admin, api_token: MLCI_TEST_JENKINS}}\n"
    )
    monkeypatch.setenv("MLCI_TEST_JENKINS", TOKEN)
    monkeypatch.delenv("MLCI_JENKINS_URL", raising=False)
    return tmp_path


def trigger(repo, *args):
    return main(["--root", str(repo), "trigger", "--poll-interval", "0.01", *args])


def test_release_follows_the_queue_item_to_its_build_and_streams_the_console(repo, jenkins_server, capsys):
    job = jenkins_server.add(Job("mlci-release", queue_polls=2, number=17, last_build=41))

    code = trigger(repo, "--release", "--base", "v1.2", "--head", "main", "--param", "PROJECTS=digits", "--follow")

    assert code == 0
    assert jenkins_server.state.triggered == [
        ("mlci-release", {"BASE_REF": "v1.2", "HEAD_REF": "main", "PROJECTS": "digits"})
    ]
    out = capsys.readouterr()
    # build #17 from the queue item, not lastBuild + 1 = 42
    assert f"mlci-release #17: {jenkins_server.url}job/mlci-release/17/" in out.out
    assert "Started\ntraining...\nFinished: SUCCESS\n" in out.out
    assert "mlci-release #17 finished: SUCCESS" in out.err
    consoles = [p for m, p, _ in jenkins_server.state.requests if p.endswith("progressiveText")]
    assert len(consoles) == len(job.console)  # read chunk by chunk, from the offset Jenkins gave


def test_failed_build_exits_non_zero(repo, jenkins_server, capsys):
    jenkins_server.add(Job("mlci-project-digits", result="FAILURE", console=["boom\n"]))
    assert trigger(repo, "digits", "--param", "GPUS=1", "--param", "PUBLISH=false", "--wait") == 1
    assert jenkins_server.state.triggered == [("mlci-project-digits", {"GPUS": "1", "PUBLISH": "false"})]
    assert "mlci-project-digits #17 finished FAILURE" in capsys.readouterr().err


def test_without_wait_it_reports_the_build_and_returns(repo, jenkins_server, capsys):
    jenkins_server.add(Job("mlci-project-digits", number=5, result="FAILURE"))
    assert trigger(repo, "digits") == 0
    assert "mlci-project-digits #5:" in capsys.readouterr().out
    assert not any("/5/api/json" in p for _, p, _ in jenkins_server.state.requests)


def test_bad_credentials_are_a_clear_error(repo, jenkins_server, monkeypatch, capsys):
    jenkins_server.add(Job("mlci-release"))
    monkeypatch.setenv("MLCI_TEST_JENKINS", "wrong-token-value")
    assert trigger(repo, "--release") == 2
    err = capsys.readouterr().err
    assert "rejected the credentials of user 'admin' (HTTP 401)" in err
    assert "secret MLCI_TEST_JENKINS" in err
    assert "wrong-token-value" not in err
    assert jenkins_server.state.triggered == []


def test_missing_job_is_a_clear_error(repo, jenkins_server, capsys):
    assert trigger(repo, "nosuch") == 2
    assert f"Jenkins at {jenkins_server.url} has no job 'mlci-project-nosuch'" in capsys.readouterr().err


def test_a_build_that_never_starts_times_out(repo, jenkins_server, capsys):
    jenkins_server.add(Job("mlci-release", never_starts=True))
    assert trigger(repo, "--release", "--queue-timeout", "1s") == 1
    assert (
        "did not start within 1s (queue item 300: Waiting for next available executor on gpu)"
        in capsys.readouterr().err
    )


def test_a_cancelled_queue_item_is_reported(repo, jenkins_server, capsys):
    jenkins_server.add(Job("mlci-release", cancelled=True))
    assert trigger(repo, "--release", "--wait") == 1
    assert "queue item 300 was cancelled" in capsys.readouterr().err


def test_a_server_that_does_not_answer_is_a_timeout(jenkins_server):
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts connections, never answers
    try:
        client = JenkinsClient(f"http://127.0.0.1:{listener.getsockname()[1]}/", "admin", TOKEN, timeout=0.3)
        with pytest.raises(MlciError, match="did not answer in time"):
            client.start("mlci-release", {})
    finally:
        listener.close()


def test_unreachable_jenkins(repo, monkeypatch, capsys):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("MLCI_JENKINS_URL", f"http://127.0.0.1:{port}/")
    assert trigger(repo, "--release") == 1
    assert f"cannot connect to Jenkins at http://127.0.0.1:{port}/" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give either --release or a PROJECT"),
        (("--release", "digits"), "give either --release or a PROJECT"),
        (("digits", "--base", "v1"), "--base and --head apply to --release only"),
        (("digits", "--param", "BASE_REF=x"), "job mlci-project-digits has no parameter BASE_REF"),
        (("--release", "--param", "FORCE"), "--param 'FORCE' is not KEY=VALUE"),
    ],
)
def test_usage_errors(repo, jenkins_server, capsys, args, message):
    assert trigger(repo, *args) == 2
    assert message in capsys.readouterr().err
    assert jenkins_server.state.triggered == []


def test_missing_token_secret_names_it(repo, monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("MLCI_TEST_JENKINS")
    monkeypatch.setenv("MLCI_SECRETS_DIR", str(tmp_path / "none"))
    assert trigger(repo, "--release") == 2
    assert "secret MLCI_TEST_JENKINS (the Jenkins API token (jenkins.api_token)) is not set" in capsys.readouterr().err


# ---------------------------------------------------------------- --experiment

HOSTILE_SET = ("model.name=$(touch /tmp/pwned)", 'model.note="\'; rm -rf / #"', "lr=1e-3")


def test_experiment_starts_the_experiment_job_with_its_parameters(repo, jenkins_server, capsys):
    jenkins_server.add(Job("mlci-experiment", number=9))
    sets = [arg for item in HOSTILE_SET for arg in ("--set", item)]
    code = trigger(repo, "--experiment", "lr-sweep", "--ref", "feature/x", "digits", "vision", *sets, "--follow")

    assert code == 0
    expected = {
        "REF": "feature/x",
        "PROJECTS": "digits,vision",
        "EXPERIMENT": "lr-sweep",
        "OVERRIDES": "\n".join(HOSTILE_SET),
    }
    assert jenkins_server.state.triggered == [("mlci-experiment", expected)]
    # what python-jenkins put on the wire: buildWithParameters, every parameter form-encoded in the query
    (post,) = [(m, p) for m, p, _ in jenkins_server.state.requests if m == "POST"]
    assert post == ("POST", "/job/mlci-experiment/buildWithParameters")
    (query,) = [q for q in jenkins_server.state.queries if "EXPERIMENT=" in q]
    assert query == urlencode(expected)
    out = capsys.readouterr()
    assert f"mlci-experiment #9: {jenkins_server.url}job/mlci-experiment/9/" in out.out
    assert "mlci-experiment #9 finished: SUCCESS" in out.err


def test_experiment_without_ref_or_overrides_leaves_ref_to_the_job(repo, jenkins_server):
    jenkins_server.add(Job("mlci-experiment", result="FAILURE"))
    assert trigger(repo, "--experiment", "e1", "digits", "digits", "--wait") == 1
    assert jenkins_server.state.triggered == [
        ("mlci-experiment", {"PROJECTS": "digits", "EXPERIMENT": "e1", "OVERRIDES": ""})
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--experiment", "e", "digits", "--set", "lr"), "--set 'lr' is not key=value"),
        (("--experiment", "e", "digits", "--set", "a..b=1"), "is not key=value"),
        (("--experiment", "e", "digits", "--set", "$(id)=1"), "is not key=value"),
        (("--experiment", "e", "digits", "--set", "a=[1, 2]"), "must be a single value"),
        (("--experiment", "e", "digits", "--set", "a='; rm -rf / #"), "is not a YAML value"),
        (("--experiment", "x'; rm -rf / #", "digits"), 'experiment name "x\'; rm -rf / #" is not valid'),
        (("--experiment", "a\nb", "digits"), "is not valid"),
        (("--experiment", "e", "digits;reboot"), "'digits;reboot' is not a valid project name"),
        (("--experiment", "e"), "--experiment needs one or more PROJECTs"),
        (("--experiment", "e", "--ref", "--upload-pack=x", "digits"), "is not a Git ref"),
        (("--experiment", "e", "--ref", "main; id", "digits"), "is not a Git ref"),
        (("--experiment", "e", "--release", "digits"), "--experiment takes PROJECT..., --ref and --set"),
        (("--experiment", "e", "digits", "--param", "REF=main"), "--experiment takes PROJECT..., --ref and --set"),
        (("digits", "--set", "lr=1"), "--ref and --set apply to --experiment only"),
        (("--release", "--ref", "main"), "--ref and --set apply to --experiment only"),
        (("digits", "vision"), "give either --release or a PROJECT"),
    ],
)
def test_experiment_usage_errors_never_reach_jenkins(repo, jenkins_server, capsys, args, message):
    assert trigger(repo, *args) == 2
    assert message in capsys.readouterr().err
    assert jenkins_server.state.triggered == []
    assert jenkins_server.state.requests == []


# ---------------------------------------------------------------- --promote and --deploy

ENVIRONMENTS = """artifacts: {default: shelf, stores: {shelf: {type: local, path: shelf}}}
environments: {qa: {store: shelf}, prod: {store: shelf, approval: true}}
"""


@pytest.fixture
def env_repo(repo):
    (repo / "mlci.yaml").write_text((repo / "mlci.yaml").read_text() + ENVIRONMENTS)
    return repo


def test_promote_starts_mlci_promote_with_its_parameters(env_repo, jenkins_server, capsys):
    jenkins_server.add(Job("mlci-promote", number=4))
    assert trigger(env_repo, "--promote", "digits", "v3", "--to", "prod", "--wait") == 0
    expected = {"PROJECT": "digits", "VERSION": "v3", "ENV": "prod"}
    assert jenkins_server.state.triggered == [("mlci-promote", expected)]
    (post,) = [(m, p) for m, p, _ in jenkins_server.state.requests if m == "POST"]
    assert post == ("POST", "/job/mlci-promote/buildWithParameters")
    (query,) = [q for q in jenkins_server.state.queries if "VERSION=" in q]
    assert query == urlencode(expected)
    assert f"mlci-promote #4: {jenkins_server.url}job/mlci-promote/4/" in capsys.readouterr().out


def test_deploy_starts_mlci_deploy_with_the_current_version_by_default(env_repo, jenkins_server):
    jenkins_server.add(Job("mlci-deploy", result="FAILURE"))
    assert trigger(env_repo, "--deploy", "digits", "--env", "qa", "--wait") == 1  # the build failed
    assert trigger(env_repo, "--deploy", "digits", "--env", "qa", "--version", "v2") == 0
    assert jenkins_server.state.triggered == [
        ("mlci-deploy", {"PROJECT": "digits", "VERSION": "", "ENV": "qa"}),
        ("mlci-deploy", {"PROJECT": "digits", "VERSION": "v2", "ENV": "qa"}),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--promote", "digits", "--to", "prod"), "--promote takes PROJECT VERSION and --to ENV"),
        (("--promote", "digits", "v3"), "--promote takes PROJECT VERSION and --to ENV"),
        (("--promote", "digits", "3", "--to", "prod"), "'3' is not a model version"),
        (("--promote", "digits", "v3\n", "--to", "prod"), "is not a model version"),
        (("--promote", "digits;id", "v3", "--to", "prod"), "'digits;id' is not a valid project name"),
        (("--promote", "digits", "v3", "--to", "prd"), "no environment 'prd' in mlci.yaml"),
        (("--promote", "digits", "v3", "--to", "prod;id"), "'prod;id' is not an environment name"),
        (("--promote", "digits", "v3", "--to", "prod", "--release"), "--promote and --deploy take their own"),
        (("--promote", "digits", "v3", "--to", "prod", "--param", "ENV=qa"), "--promote and --deploy take their own"),
        (("--deploy", "digits"), "--deploy takes PROJECT and --env ENV"),
        (("--deploy", "digits", "vision", "--env", "qa"), "--deploy takes PROJECT and --env ENV"),
        (("--deploy", "digits", "--env", "qa", "--version", "latest"), "'latest' is not a model version"),
        (("--deploy", "digits", "--env", "staging"), "no environment 'staging' in mlci.yaml"),
        (("--deploy", "digits", "--to", "qa"), "--to applies to --promote only"),
        (("digits", "--env", "qa"), "--env and --version apply to --deploy only"),
        (("--promote", "--deploy", "digits", "v3", "--to", "qa"), "give either --promote or --deploy"),
        (("--promote", "--deploy", "digits", "--to", "qa", "--env", "qa"), "give either --promote or --deploy"),
    ],
)
def test_promote_and_deploy_usage_errors_never_reach_jenkins(env_repo, jenkins_server, capsys, args, message):
    assert trigger(env_repo, *args) == 2
    assert message in capsys.readouterr().err
    assert jenkins_server.state.requests == []
