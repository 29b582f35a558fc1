import mlci.GpuLease
import mlci.Json
import mlci.PlanCheck
import mlci.Shell

/**
 * One project of a release, as one stage on an `mlci` node: lease its GPUs, `mlci run`, archive
 * the run record and its JUnit gate report, ask for approval if the project wants it, publish,
 * notify. `project` is one entry of mlciPlan's output.
 */
def call(Map config) {
    Map cfg = [label: 'mlci', mlci: 'mlci', publish: true, commit: null, notifySecrets: [], hostGpus: [:]] << config
    Map project = cfg.project
    String problem = PlanCheck.entryProblem(project)
    if (problem != null) {
        error("mlciTrain: ${problem}")
    }
    String name = project.name
    String jobId = "jenkins-${env.BUILD_NUMBER}-${name}"
    stage(name) {
        // The node is held until publishing, approval wait included: the trained outputs live in
        // this workspace. The GPUs are released as soon as `mlci run` ends.
        node(cfg.label) {
            checkout(scm)
            if (cfg.commit) {
                sh(script: "git checkout --quiet --detach ${Shell.quote(cfg.commit)}", label: 'check out the planned commit')
            }
            trainAndPublish(cfg, project, jobId)
        }
    }
}

def trainAndPublish(Map cfg, Map project, String jobId) {
    String name = project.name
    boolean failureSent = false
    announce(cfg, 'started', name, jobId)
    try {
        String record = ".mlci/runs/${name}/${jobId}"
        int status = -1
        try {
            status = runWithGpus(cfg, project, jobId)
        } finally {
            keepRecord(record)
        }
        describe(name, record)
        if (status != 0) {
            failureSent = true
            announce(cfg, 'failed', name, jobId)
            if (status == 130) {
                currentBuild.result = 'ABORTED'
            }
            error("${name}: ${runFailure(status)} (mlci run exited ${status}); its run record is archived under ${record}/")
        }
        if (!cfg.publish) {
            echo "${name}: passed its gate; not published (publishing is off for this build)"
            return
        }
        if (project.approval && !approved(cfg, project, jobId)) {
            return
        }
        String store = project.store
        String publish = "${Shell.quote(cfg.mlci)} publish ${Shell.quote(name)} ${Shell.quote(jobId)} --store=${Shell.quote(store)}"
        int published = mlciSecrets(project.publish_secrets ?: []) {
            sh(script: publish, returnStatus: true, label: "publish ${name}")
        }
        if (published != 0) {
            failureSent = true
            announce(cfg, 'failed', name, jobId)
            error("${name}: mlci publish to store ${store} failed (exit ${published}); the trained run is kept in its record")
        }
        announce(cfg, 'succeeded', name, jobId)
    } catch (e) {
        if (!failureSent) {
            announce(cfg, 'failed', name, jobId)
        }
        throw e
    }
}

/**
 * Locks the project's GPUs (none: no lock; -1: every GPU of this node) around `mlci run`. A request
 * the host cannot meet (its GPU count in mlci.yaml, from the plan's host_gpus) fails at once
 * instead of waiting forever for a lock.
 */
int runWithGpus(Map cfg, Map project, String jobId) {
    int gpus = project.gpus
    if (gpus == 0) {
        return runMlci(cfg, project, jobId, 'none')
    }
    String host = env.MLCI_HOST
    if (!PlanCheck.isName(host)) {
        error("node ${env.NODE_NAME} has no valid MLCI_HOST environment variable: add it to the node " +
            "(mlci render configures it for every host in mlci.yaml)")
    }
    Object available = (cfg.hostGpus ?: [:])[host]
    if (available == 0 && gpus == -1) {
        // No GPU on this host: nothing to lock; mlci run falls back to the CPU for `auto` and
        // explains the missing GPU for `all`.
        return runMlci(cfg, project, jobId, project.gpus_spec == 'all' ? 'all' : 'auto')
    }
    if (available instanceof Integer && gpus > (Integer) available) {
        error("${project.name} needs ${gpus} GPU(s) but host ${host} has ${available} in mlci.yaml: " +
            'lower gpus in its project.yaml or run it on a larger host')
    }
    Map request = [label: GpuLease.label(host), variable: 'MLCI_LOCKED']
    if (gpus > 0) {
        request.quantity = gpus  // without a quantity, lock takes every resource with the label
    }
    int status = -1
    lock(request) {
        String devices = null
        try {
            devices = GpuLease.devices(env.MLCI_LOCKED, host)
        } catch (IllegalArgumentException bad) {
            error(bad.getMessage())
        }
        status = runMlci(cfg, project, jobId, devices)
    }
    return status
}

int runMlci(Map cfg, Map project, String jobId, String devices) {
    String name = project.name
    String command = "${Shell.quote(cfg.mlci)} run ${Shell.quote(name)} --job-id=${Shell.quote(jobId)} " +
        "--gpus=${Shell.quote(devices)}"
    int status = -1
    timeout(time: project.timeout_s, unit: 'SECONDS') {
        status = sh(script: command, returnStatus: true, label: "mlci run ${name}")
    }
    return status
}

/** Archives the run record (status.json, logs, outputs) and feeds the gate's JUnit report to Jenkins. */
def keepRecord(String record) {
    archiveArtifacts(artifacts: "${record}/**", allowEmptyArchive: true, fingerprint: false)
    // The exit code decides the result (a retrain may pass after a failed attempt), so a failed
    // gate attempt in the report must not mark the build unstable on its own.
    junit(testResults: "${record}/junit.xml", allowEmptyResults: true, skipMarkingBuildUnstable: true)
}

/** Adds the run's outcome and gate value to the build description. */
def describe(String name, String record) {
    String file = "${record}/status.json"
    if (!fileExists(file)) {
        appendDescription("${name}: no run record (mlci run did not get far enough to write one)")
        return
    }
    Map status
    try {
        status = Json.parse(readFile(file: file, encoding: 'UTF-8'))
    } catch (e) {
        if (e.getClass().getSimpleName() == 'FlowInterruptedException') {
            throw e
        }
        appendDescription("${name}: unreadable run record (${file})")
        return
    }
    String overall = status.overallStatus instanceof String && status.overallStatus ==~ /[A-Za-z ]{1,32}/ ?
        status.overallStatus : 'unknown'
    String line = "${name}: ${overall}"
    Map gate = status.gate instanceof Map ? status.gate : [:]
    if (gate.metric instanceof String && gate.metric ==~ /[A-Za-z0-9_.-]{1,128}/ && gate.value instanceof Number) {
        line += ", ${gate.metric} = ${gate.value}"
        if (gate.threshold instanceof Number) {
            line += " (gate ${gate.threshold}: ${gate.passed == true ? 'passed' : 'failed'})"
        }
    }
    appendDescription(line)
}

def appendDescription(String line) {
    currentBuild.description = currentBuild.description ? "${currentBuild.description}\n${line}" : line
}

/** Waits for a person to approve publishing; rejection or timeout → false (not published). */
boolean approved(Map cfg, Map project, String jobId) {
    String name = project.name
    announce(cfg, 'approval', name, jobId)
    Map request = [message: "Publish ${name} (${jobId}) to store ${project.store}?", ok: 'Publish',
                   submitterParameter: 'MLCI_APPROVER']
    if (project.submitter) {
        request.submitter = project.submitter
    }
    try {
        def approver = null
        timeout(time: project.approval_timeout_s, unit: 'SECONDS') {
            approver = input(request)
        }
        echo "${name}: publishing approved by ${approver}"
        return true
    } catch (e) {
        if (!refusedOrExpired(e)) {
            throw e
        }
        unstable("${name}: not published: approval was rejected or did not come within ${project.approval_timeout_s} s")
        return false
    }
}

/** input's reject button or the approval timeout, as opposed to an abort of the whole build. */
boolean refusedOrExpired(Throwable e) {
    if (e.getClass().getSimpleName() != 'FlowInterruptedException') {
        return false
    }
    for (Object cause : e.getCauses()) {
        String kind = cause.getClass().getSimpleName()
        if (kind == 'Rejection' || kind == 'ExceededTimeout') {
            return true
        }
    }
    return false
}

String runFailure(int status) {
    switch (status) {
        case 1: return 'a stage or the evaluation gate failed'
        case 2: return 'configuration or usage error'
        case 130: return 'the run was cancelled'
        default: return 'mlci run crashed'
    }
}

def announce(Map cfg, String event, String name, String jobId) {
    mlciNotify(event: event, project: name, jobId: jobId, mlci: cfg.mlci, secrets: cfg.notifySecrets)
}
