"""Integration-test verdicts, and the gate an environment with `after: <env>` puts before itself.

A version may be promoted into an environment that comes `after` another only when it is current in
that other environment — the same job and content, not just the same version name — and the newest
integration-test verdict recorded for it there passed. The verdicts live in the itest log of the
other environment's store, beside its promotion log (promotion_log.py).
"""

from __future__ import annotations

import re

from mlci import secrets
from mlci.errors import UsageError
from mlci.publish.promotion_log import ITEST_JOB_RE, MAX_DETAIL, ItestVerdict, in_env
from mlci.publish.stores.promotions import Promotions
from mlci.publish.versions import VersionEntry

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class PromotionRefused(UsageError):
    """A promotion the environment's `after` rule does not allow (yet)."""


def itest_verdict(
    env: str, project: str, version: str, *, passed: bool, by: str, job: str | None, detail: str, at: str
) -> ItestVerdict:
    """The verdict to record; `detail` is redacted of known secrets, stripped of control characters
    (newlines and tabs stay) and cut to MAX_DETAIL characters."""
    if not isinstance(passed, bool):
        raise UsageError(f"an integration-test verdict is passed or failed, not {str(passed)[:40]!r}")
    if job is not None and not re.fullmatch(ITEST_JOB_RE, job):
        raise UsageError(
            f"{job[:64]!r} is not a job name",
            hint="a build URL or id: letters, digits and . _ : / # @ % ~ + = -, at most 200 characters",
        )
    text = _CONTROL.sub("?", secrets.redact(detail if isinstance(detail, str) else str(detail)))
    if len(text) > MAX_DETAIL:
        text = text[: MAX_DETAIL - 1] + "…"
    return ItestVerdict(env=env, project=project, version=version, passed=passed, by=by, job=job, detail=text, at=at)


def refuse_unless_passed_before(before: Promotions, after: str, env: str, entry: VersionEntry) -> None:
    """Refuse promoting `entry` to `env` unless it is current in `after` and its newest
    integration-test verdict there passed; `before` holds `after`'s logs."""
    project, version = entry.project, entry.version
    what = f"refusing to promote {project} {version} to {env}: {env} takes only what is current in {after}"
    first_step = f"promote it to {after} first (mlci promote {project} {version} --to {after}), then test it there"
    current = next(iter(in_env(before.read(), after)), None)
    if current is None:
        raise PromotionRefused(f"{what}, and nothing of {project} was promoted to {after}", hint=first_step)
    if current.version != version:
        raise PromotionRefused(f"{what}, which is {current.version}", hint=first_step)
    if (current.job_id, current.digest) != (entry.job_id, entry.digest):
        raise PromotionRefused(
            f"{what}: {after}'s {version} is job {current.job_id} from store '{current.source_store}', not job"
            f" {entry.job_id} from store '{entry.store}'",
            hint=f"promote from the store {after}'s version came from: --store {current.source_store}",
        )
    verdicts = [v for v in in_env(before.itests(), after) if v.version == version]
    if not verdicts:
        raise PromotionRefused(
            f"{what} and has passed its integration test there; {version} has no verdict in {after} yet",
            hint=f"run the integration test against {after} (mlci itest), which records its verdict",
        )
    newest = verdicts[0]
    if not newest.passed:
        job = f", job {newest.job}" if newest.job else ""
        detail = f": {newest.detail[:200]}" if newest.detail else ""
        raise PromotionRefused(
            f"{what} and has passed its integration test there; {version}'s newest test in {after} failed"
            f" ({newest.at}, by {newest.by}{job}){detail}",
            hint=f"fix it and promote a version whose test passes, or test {version} in {after} again",
        )
