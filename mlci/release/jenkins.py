"""Drive Jenkins with python-jenkins: start a job, follow its queue item to the build it becomes
(never "last build + 1", which races with other triggers), stream the console, read the result.

Every library or HTTP failure is translated into an MlciError that says what to fix: bad
credentials, a job that does not exist, a server that does not answer, a build that never starts.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

from mlci import secrets
from mlci.errors import MlciError, UsageError

# python-jenkins and requests (~0.2 s) are imported in the functions that call Jenkins, so that other
# commands do not pay for them.

RELEASE_JOB = "mlci-release"
RELEASE_PARAMS = ("BASE_REF", "HEAD_REF", "PROJECTS", "FORCE")
PROJECT_PARAMS = ("GPUS", "PUBLISH")
EXPERIMENT_JOB = "mlci-experiment"
EXPERIMENT_PARAMS = ("REF", "PROJECTS", "EXPERIMENT", "OVERRIDES")
# Jenkins results mapped to mlci exit codes: only SUCCESS passes.
PASSING_RESULTS = ("SUCCESS",)


def project_job(project: str) -> str:
    return f"mlci-project-{project}"


class JenkinsError(MlciError):
    pass


class BuildFailed(MlciError):
    """The build ran and finished with a result other than SUCCESS."""


class JenkinsClient:
    def __init__(
        self,
        url: str,
        user: str | None,
        token: str | None,
        *,
        token_name: str = "JENKINS_API_TOKEN",
        timeout: float = 30,
        poll_interval: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        import jenkins

        self.url = url if url.endswith("/") else url + "/"
        self.token_name = token_name
        self.user = user
        self.poll_interval = poll_interval
        self._sleep = sleep
        self._clock = clock
        secrets.remember(token)
        self.server = jenkins.Jenkins(self.url, username=user, password=token, timeout=timeout)

    # ------------------------------------------------------------ error translation
    @contextmanager
    def _errors(self, job: str | None = None) -> Iterator[None]:
        import requests

        import jenkins

        try:
            yield
        except MlciError:
            raise
        except jenkins.NotFoundException:
            if job:
                raise UsageError(
                    f"Jenkins at {self.url} has no job '{job}'",
                    hint="apply the rendered Jenkins configuration (`mlci render`, then restart or reload JCasC)",
                ) from None
            raise JenkinsError(f"Jenkins at {self.url} answered 404 (not found)") from None
        except jenkins.TimeoutException:
            raise JenkinsError(
                f"Jenkins at {self.url} did not answer in time", hint="check that it is up and reachable"
            ) from None
        except jenkins.JenkinsException as exc:
            text = str(exc)
            for status in ("401", "403"):
                if f"[{status}]" in text:
                    raise UsageError(
                        f"Jenkins at {self.url} rejected the credentials of user '{self.user}' (HTTP {status})",
                        hint=f"check jenkins.api_user and the API token in secret {self.token_name}",
                    ) from None
            raise JenkinsError(secrets.redact(f"Jenkins at {self.url}: {text.splitlines()[0]}")) from None
        except requests.Timeout:
            raise JenkinsError(f"Jenkins at {self.url} did not answer in time") from None
        except requests.ConnectionError:
            raise JenkinsError(
                f"cannot connect to Jenkins at {self.url}",
                hint="check jenkins.url (or MLCI_JENKINS_URL) and the network",
            ) from None
        except requests.RequestException as exc:
            raise JenkinsError(secrets.redact(f"Jenkins at {self.url}: {exc}")) from None

    # ------------------------------------------------------------ queries
    def version(self) -> str:
        with self._errors():
            self.server.get_whoami()  # authenticates: get_version alone passes anonymously
            return self.server.get_version()

    def plugins(self) -> dict[str, str]:
        """shortName → version of the active plugins."""
        with self._errors():
            found = self.server.get_plugins(depth=1)  # multi-key dict: (shortName, longName) → Plugin
        plugins = {str(p["shortName"]): str(p.get("version", "")) for p in found.values()}
        return {name: version for name, version in plugins.items() if found[name].get("active", True)}

    # ------------------------------------------------------------ builds
    def start(self, job: str, params: dict[str, str]) -> int:
        """Queue `job` with `params`; returns the queue item id from the Location header."""
        with self._errors(job):
            return self.server.build_job(job, parameters=params or None)

    def wait_for_build(self, queue_id: int, *, timeout: float) -> tuple[int, str]:
        """Follow queue item `queue_id` until it becomes a build: (number, url)."""
        deadline = self._clock() + timeout
        why = "queued"
        while True:
            with self._errors():
                item = self.server.get_queue_item(queue_id)
            if item.get("cancelled"):
                raise JenkinsError(f"queue item {queue_id} was cancelled before it started")
            executable = item.get("executable")
            if executable:
                return int(executable["number"]), executable.get("url") or ""
            why = item.get("why") or why
            if self._clock() >= deadline:
                raise JenkinsError(
                    f"the build did not start within {timeout:g}s (queue item {queue_id}: {why})",
                    hint="free an executor or GPU lease, or raise --queue-timeout",
                )
            self._sleep(self.poll_interval)

    def wait_for_result(self, job: str, number: int, *, timeout: float) -> str:
        deadline = self._clock() + timeout
        while True:
            with self._errors(job):
                info = self.server.get_build_info(job, number)
            if not info.get("building") and info.get("result"):
                return info["result"]
            if self._clock() >= deadline:
                raise JenkinsError(f"{job} #{number} did not finish within {timeout:g}s", hint="raise --timeout")
            self._sleep(self.poll_interval)

    def stream_console(self, job: str, number: int, write: Callable[[str], None], *, timeout: float) -> str:
        """Write the build's console as it grows (progressive text API); return its result."""
        import requests

        deadline = self._clock() + timeout
        offset = 0
        url = f"{self.url}job/{quote(job, safe='')}/{number}/logText/progressiveText"
        while True:
            with self._errors(job):
                response = self.server.jenkins_request(requests.Request("GET", url, params={"start": offset}))
            if response.text:
                write(secrets.redact(response.text))
            offset = int(response.headers.get("X-Text-Size", offset + len(response.content)))
            if response.headers.get("X-More-Data", "").lower() != "true":
                return self.wait_for_result(job, number, timeout=max(0.0, deadline - self._clock()))
            if self._clock() >= deadline:
                raise JenkinsError(f"{job} #{number} did not finish within {timeout:g}s", hint="raise --timeout")
            self._sleep(self.poll_interval)


def parse_params(pairs: tuple[str, ...], allowed: tuple[str, ...], job: str) -> dict[str, str]:
    """`K=V` strings → dict, rejecting names the job does not declare (Jenkins would drop them silently)."""
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--param {pair!r} is not KEY=VALUE", hint=f"e.g. --param {allowed[0]}=...")
        if key not in allowed:
            raise UsageError(f"job {job} has no parameter {key}", hint=f"its parameters are: {', '.join(allowed)}")
        params[key] = value
    return params


def result_exit(job: str, number: int, result: str) -> None:
    if result not in PASSING_RESULTS:
        raise BuildFailed(f"{job} #{number} finished {result}")


def connect(manifest: Any, url: str | None = None, *, timeout: float = 30, poll_interval: float = 2.0) -> JenkinsClient:
    """A client for the manifest's Jenkins (or `url` / $MLCI_JENKINS_URL), with its API token secret."""
    target = url or os.environ.get("MLCI_JENKINS_URL") or manifest.jenkins.url
    if not target:
        raise UsageError("jenkins.url is not set in mlci.yaml", hint="set it, or pass --url / MLCI_JENKINS_URL")
    token = secrets.resolve(manifest.jenkins.api_token, purpose="the Jenkins API token (jenkins.api_token)")
    return JenkinsClient(
        target,
        manifest.jenkins.api_user,
        token,
        token_name=manifest.jenkins.api_token,
        timeout=timeout,
        poll_interval=poll_interval,
    )
