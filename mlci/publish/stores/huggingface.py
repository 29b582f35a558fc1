"""A Hugging Face Hub artifact store (huggingface_hub; `endpoint` for self-hosted hubs).

Each published job becomes one commit on its own branch `<project>-<job-id>` holding the outputs
and a model card generated from the run record. Large folders are uploaded in batches
(`preupload_lfs_files`) before that single commit, so the branch goes from "nothing" to
"complete" in one step. The tag `published-<project>-<job-id>` is created last and is what marks
the job as published: re-publishing a tagged job returns its URL without uploading anything when
its outputs are the same (the commit description names their sha256), and is refused when they differ.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mlci.errors import UsageError
from mlci.publish.stores.base import ArtifactStore, RepublishConflict, content_digest, content_entries, output_files
from mlci.publish.stores.promotions import Promotions
from mlci.publish.stores.retry import with_retry
from mlci.record.store import RunRecord

# huggingface_hub is an optional extra (mlci[hub]): imported in the functions that need it.

CARD_NAME = "README.md"
DIGEST_KEY = "mlci-content-sha256:"  # in the commit description: what a re-publish is compared with
DEFAULT_ENDPOINT = "https://huggingface.co"


def revision_for(record: RunRecord) -> str:
    return f"{record.project}-{record.job_id}"


def tag_for(record: RunRecord) -> str:
    return f"published-{record.project}-{record.job_id}"


def batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _fmt(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def model_card(record: RunRecord, repo: str) -> str:
    """README.md for the published revision: what was trained, from what, and how well."""
    state = record.state
    build, gate, metrics = state.build, state.gate, state.metrics
    lines = [
        "---",
        "library_name: mlci",
        "tags:",
        "- mlci",
        f"- {record.project}",
        "---",
        "",
        f"# {record.project} — run {record.job_id}",
        "",
        f"Published by mlci from run `{record.job_id}` of project `{record.project}` to `{repo}`.",
        "",
        "## Metrics",
        "",
    ]
    if metrics:
        lines += ["| metric | value |", "| --- | --- |"]
        lines += [f"| {name} | {_fmt(value)} |" for name, value in sorted(metrics.items())]
    else:
        lines.append("No metrics were reported.")
    lines += ["", "## Evaluation gate", ""]
    if gate is not None and gate.metric:  # gate-less projects record metric None, reason "no gate"
        verdict = "passed" if gate.passed else "failed"
        lines.append(
            f"`{gate.metric} {gate.op} {_fmt(gate.threshold)}`: "
            f"{_fmt(gate.value)} — {verdict} on attempt {gate.attempt} of {len(state.attempts) or 1}."
        )
    else:
        lines.append("No gate: every run passes.")
    lines += [
        "",
        "## Provenance",
        "",
        f"- source commit: `{state.commit or 'unknown'}`",
        f"- image: `{build.image_uri or 'unknown'}`",
        f"- image digest: `{build.digest or build.image_id or 'not pushed'}`",
        f"- config hash: `{state.config_hash or 'unknown'}`",
        f"- finished: {state.finished_at or 'unknown'}",
        "",
    ]
    return "\n".join(lines)


class HubStore(ArtifactStore):
    def __init__(
        self,
        name: str,
        api: Any,
        repo: str,
        *,
        repo_type: str = "model",
        private: bool = True,
        batch_files: int = 100,
        sleep: Any = None,
    ):
        super().__init__(name)
        self.api = api
        self.repo = repo
        self.repo_type = repo_type
        self.private = private
        self.batch_files = batch_files
        self._retry: dict[str, Any] = {"sleep": sleep} if sleep else {}

    def promotions(self, project: str) -> Promotions:
        raise UsageError(
            f"store '{self.name}' (huggingface) cannot hold an environment's promotions: mlci appends to a"
            " promotion log only where two promoters cannot lose each other's entry (a local store's flock, S3's"
            " conditional writes), and it keeps no such log on the Hub",
            hint="point the environment's store at a local or s3 store; publishing to the Hub is unaffected",
        )

    def url(self, revision: str) -> str:
        endpoint = (getattr(self.api, "endpoint", None) or DEFAULT_ENDPOINT).rstrip("/")
        kind = "" if self.repo_type == "model" else f"{self.repo_type}s/"
        return f"{endpoint}/{kind}{self.repo}/tree/{quote(revision, safe='')}"

    def publish(self, record: RunRecord, outputs: Path) -> str:
        from huggingface_hub import CommitOperationAdd
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()  # per-file bars would flood Jenkins logs

        revision, tag = revision_for(record), tag_for(record)
        repo = {"repo_id": self.repo, "repo_type": self.repo_type}
        # The outputs as uploaded (the card is generated, so it is not part of what must match).
        digest = content_digest([e for e in content_entries(outputs, self.max_output_bytes) if e["path"] != CARD_NAME])
        self._call("create repo", lambda: self.api.create_repo(**repo, private=self.private, exist_ok=True))
        refs = self._call("list refs", lambda: self.api.list_repo_refs(**repo))
        if any(ref.name == tag for ref in refs.tags):
            self._refuse_different(record, tag, digest)
            return self.url(revision)

        self._call("create branch", lambda: self.api.create_branch(**repo, branch=revision, exist_ok=True))
        additions = [
            CommitOperationAdd(path_in_repo=path.relative_to(outputs).as_posix(), path_or_fileobj=str(path))
            for path in output_files(outputs, self.max_output_bytes)
            if path.relative_to(outputs).as_posix() != CARD_NAME
        ]
        additions.append(
            CommitOperationAdd(path_in_repo=CARD_NAME, path_or_fileobj=model_card(record, self.repo).encode())
        )
        for batch in batches(additions, self.batch_files):
            self._call(
                "upload files",
                lambda batch=batch: self.api.preupload_lfs_files(**repo, additions=batch, revision=revision),
            )
        commit = self._call(
            "commit",
            lambda: self.api.create_commit(
                **repo,
                operations=additions,
                revision=revision,
                commit_message=f"mlci: publish {record.project} run {record.job_id}",
                commit_description=f"source commit {record.state.commit or 'unknown'}\n{DIGEST_KEY} {digest}",
            ),
        )
        self._call(
            "tag",
            lambda: self.api.create_tag(
                **repo, tag=tag, revision=commit.oid, tag_message="published by mlci", exist_ok=True
            ),
        )
        return self.url(revision)

    def _refuse_different(self, record: RunRecord, tag: str, digest: str) -> None:
        """A published job's commit names its content digest; different outputs under its id are refused."""
        repo = {"repo_id": self.repo, "repo_type": self.repo_type}
        commits = self._call("list commits", lambda: self.api.list_repo_commits(**repo, revision=tag))
        message = commits[0].message if commits else ""
        published = next((line.split()[1] for line in message.splitlines() if line.startswith(DIGEST_KEY + " ")), None)
        if published is not None and published != digest:
            raise RepublishConflict(
                f"store '{self.name}' already has different outputs for {record.project} job {record.job_id} "
                f"at {self.url(revision_for(record))} (content sha256 {published[:12]}…, this run {digest[:12]}…); "
                "nothing was published",
                hint="a job id must never be reused for other outputs: publish this run under a new job id "
                "(Jenkins ids are <commit>-<job>-<build>)",
            )

    def _call(self, what: str, action: Any) -> Any:
        return with_retry(action, what=f"huggingface {what}", **self._retry)
