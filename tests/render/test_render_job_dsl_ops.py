"""The job DSL JCasC runs: the release job lets builds run concurrently (a release waiting for an
approval must not hold back the next one), and jobs of projects that left the repository are removed
— JCasC's `jobs` never removes anything itself (job-dsl's SeedJobConfigurator has no removedJobAction).
The removal runs here under real Groovy against stand-ins of the two Jenkins classes it touches."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from render_support import by_path, job_dsl

from mlci.render import plan
from tests.library.harness import groovy

HERE = Path(__file__).parent

STUBS = {
    "jenkins/model/Jenkins.groovy": """
        package jenkins.model
        class Jenkins {
            static Jenkins instance = new Jenkins()
            List items = []
            static Jenkins get() { instance }
            List getItems() { items }
        }
    """,
    "org/jenkinsci/plugins/workflow/job/WorkflowJob.groovy": """
        package org.jenkinsci.plugins.workflow.job
        class WorkflowJob {
            String name
            static List deleted = []
            void delete() { deleted << name }
        }
    """,
    "hudson/model/FreeStyleProject.groovy": """
        package hudson.model
        class FreeStyleProject {
            String name
            void delete() { throw new IllegalStateException('deleted a job that is not a pipeline') }
        }
    """,
}

RUNNER = """
import org.jenkinsci.plugins.workflow.job.WorkflowJob
import hudson.model.FreeStyleProject
import jenkins.model.Jenkins

['mlci-release', 'mlci-project-digits', 'mlci-project-vision', 'mlci-project-gone', 'team-nightly'].each {
    Jenkins.instance.items << new WorkflowJob(name: it)
}
Jenkins.instance.items << new FreeStyleProject(name: 'mlci-project-handmade')
// The DSL's own methods (pipelineJob { ... }) are job-dsl's: ignored here, only the plain Groovy runs.
abstract class Dsl extends Script { def methodMissing(String name, Object args) { null } }
def config = new org.codehaus.groovy.control.CompilerConfiguration(scriptBaseClass: Dsl.name)
new GroovyShell(this.class.classLoader, new Binding(), config).evaluate(new File(args[0]).text)
println groovy.json.JsonOutput.toJson(WorkflowJob.deleted)
"""


def run_dsl(tmp_path: Path, script: str) -> list[str]:
    for rel, text in STUBS.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    (tmp_path / "dsl.groovy").write_text(script)
    (tmp_path / "runner.groovy").write_text(RUNNER)
    done = subprocess.run(
        [groovy(), "-cp", str(tmp_path), str(tmp_path / "runner.groovy"), str(tmp_path / "dsl.groovy")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "mlci: removing job mlci-project-gone" in done.stdout
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_jobs_of_removed_projects_are_removed_and_nothing_else(tmp_path):
    script = job_dsl(plan(HERE / "scenarios" / "one-host"))  # projects digits and vision
    assert run_dsl(tmp_path, script) == ["mlci-project-gone"]


def test_a_project_removed_from_the_repository_loses_its_job(tmp_path):
    root = tmp_path / "repo"
    shutil.copytree(HERE / "scenarios" / "one-host", root, ignore=shutil.ignore_patterns("expected"))
    shutil.rmtree(root / "projects" / "vision")
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    assert sorted(run_dsl(stubs, job_dsl(plan(root)))) == ["mlci-project-gone", "mlci-project-vision"]


def test_the_release_job_allows_concurrent_builds():
    script = job_dsl(plan(HERE / "scenarios" / "one-host"))
    release = script[script.index("pipelineJob('mlci-release')") : script.index("pipelineJob('mlci-project-")]
    assert not re.search(r"^\s*disableConcurrentBuilds\(", release, re.M)
    # a manual run of one project still runs one at a time
    project = script[script.index("pipelineJob('mlci-project-digits')") :]
    assert re.search(r"^\s*disableConcurrentBuilds\(\)", project, re.M)


def test_the_casc_holds_the_removal():
    files = by_path(plan(HERE / "scenarios" / "one-host"))
    assert "def keep = ['mlci-project-digits', 'mlci-project-vision'] as Set" in files["jenkins/casc.yaml"].content
