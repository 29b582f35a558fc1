"""junit.xml: one test case per stage per attempt, the outputs check and the gate, so Jenkins
charts gate history. A cancelled stage is `skipped`, not a failure: nothing in it failed."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from mlci.atomic import write_text_atomic
from mlci.record.model import BuildStatus, Record, StageStatus
from mlci.record.store import RunRecord
from mlci.secrets import redact


def junit_xml(state: Record) -> str:
    cases: list[str] = []

    def case(classname: str, name: str, body: str, time_s: float | None = 0) -> None:
        cases.append(
            f'  <testcase classname={quoteattr(classname)} name={quoteattr(name)} time="{time_s or 0}">{body}</testcase>'
        )

    for attempt in state.attempts:
        classname = f"mlci.{state.project}.attempt-{attempt.n}"
        for stage in attempt.stages:
            if stage.status == StageStatus.SUCCEEDED:
                body = ""
            elif stage.status == StageStatus.CANCELLED:
                body = f"<skipped message={quoteattr(stage.error or 'cancelled')}/>"
            else:
                why = escape(stage.error or stage.status.value)
                body = f"<failure message={quoteattr(stage.status.value)}>{why}</failure>"
            case(classname, stage.name, body, stage.duration_s)
        if attempt.outputs:
            reason = attempt.outputs.reason or "refused"
            case(classname, "outputs", "" if attempt.outputs.passed else f"<failure message={quoteattr(reason)}/>")
        if attempt.gate:
            gate = attempt.gate
            case(classname, "gate", "" if gate.passed else f"<failure message={quoteattr(gate.reason)}/>")
    if state.build.status in (BuildStatus.FAILED, BuildStatus.CANCELLED):
        failed = state.build.status == BuildStatus.FAILED
        body = '<failure message="Failed"/>' if failed else '<skipped message="cancelled"/>'
        case(f"mlci.{state.project}", "build", body, state.build.duration_s)
    failures = sum("<failure" in c for c in cases)
    skipped = sum("<skipped" in c for c in cases)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name={quoteattr("mlci." + state.project)}'
        f' tests="{len(cases)}" failures="{failures}" skipped="{skipped}">\n' + "\n".join(cases) + "\n</testsuite>\n"
    )


def write_junit(record: RunRecord) -> None:
    write_text_atomic(record.path("junit.xml"), redact(junit_xml(record.state)), mode=0o644)
