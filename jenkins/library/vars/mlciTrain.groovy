import mlci.GpuLease
import mlci.JobId
import mlci.Json
import mlci.PlanCheck
import mlci.Records
import mlci.Shell

/**
 * One project of a release, as one stage: on a node (a `gpu` node when the project needs GPUs)
 * lease its GPUs, `mlci run` with the project's secrets bound, archive the run record (record,
 * logs, JUnit; not the model outputs) and publish; a project that asks for approval waits for a
 * person with no node and no GPU held, then publishes on a node again: the node it trained on when
 * the record lives on the host (MLCI_RUNS_DIR), else any node, with the record stashed.
 * `project` is one entry of mlciPlan's output, `commit` the planned commit. With `experiment` (a
 * name) the run is an experiment, never published: `overrides` (key=value lines) reach mlci only as a
 * file it reads (`--set-file`), never as words of a shell script.
 */
def call(Map config) {
    Map cfg = [label: 'mlci', gpuLabel: 'gpu', mlci: 'mlci', publish: true, commit: null, notifySecrets: [],
               hostGpus: [:], lockTimeoutS: 6 * 3600, recordWaitS: 60, maxAttempts: null, experiment: null, overrides: ''] << config
    Map project = cfg.project
    String problem = PlanCheck.entryProblem(project)
    if (problem != null) {
        error("mlciTrain: ${problem}")
    }
    try {
        // digits only, 1-20, or null (project.yaml's retrain.max_attempts): never raw text into `sh`
        cfg.maxAttempts = PlanCheck.maxAttemptsOverride(cfg.maxAttempts)
    } catch (IllegalArgumentException bad) {
        error("mlciTrain: ${bad.getMessage()}")
    }
    if (cfg.experiment != null) {
        if (!PlanCheck.isExperiment(cfg.experiment)) {
            error('mlciTrain: experiment must be a name of letters, digits, ., _ and - (at most 128)')
        }
        cfg.publish = false  // an experiment is never published, so it never waits for an approval either
    }
    String name = project.name
    String jobId = null
    try {
        jobId = JobId.of(cfg.commit, env.JOB_NAME, env.BUILD_NUMBER)
    } catch (IllegalArgumentException bad) {
        error("mlciTrain: ${bad.getMessage()}")
    }
    // GPU projects only on GPU nodes: `auto` falls back to the CPU only where mlci plan allows it.
    String label = project.gpu_node ? "${cfg.label} && ${cfg.gpuLabel}" : cfg.label
    // The job id is known before anything runs, so the backstop (removeLeftovers) can find the run's containers.
    Map state = [notified: false, waitForApproval: false, onHost: false, trainedOn: null, runStarted: false,
                 setFile: null]
    stage(name) {
        node(label) {
            notifyOnFailure(cfg, state, name, jobId) {
                String record = recordDir(name, jobId, state)
                checkoutCommit(cfg)
                state.setFile = writeOverrides(cfg, name, jobId)
                train(cfg, project, jobId, record, state)
                if (!cfg.publish) {
                    echo "${name}: passed its gate; not published (publishing is off for this build)"
                } else if (project.approval) {
                    // The wait must hold no executor and no GPU. A record on the host stays there (the
                    // publish comes back to this node); one in the workspace goes with the build,
                    // outputs included, since a later node may get another workspace.
                    if (!state.onHost) {
                        stash(name: "mlci-${name}", includes: "${record}/**")
                    }
                    announce(cfg, 'approval', name, jobId)
                    state.waitForApproval = true
                } else {
                    publish(cfg, project, jobId, state)
                }
            }
        }
        if (state.waitForApproval && approved(cfg, project, jobId, state)) {
            node(state.onHost ? state.trainedOn : cfg.label) {
                notifyOnFailure(cfg, state, name, jobId) {
                    checkoutCommit(cfg)
                    if (!state.onHost) {
                        unstash("mlci-${name}")
                    }
                    publish(cfg, project, jobId, state)
                }
            }
        }
    }
}

/**
 * Where `mlci run` writes the record on this node: $MLCI_RUNS_DIR (a host directory mlci render
 * sets on every node, outside any workspace) or else the workspace's .mlci/runs.
 */
String recordDir(String name, String jobId, Map state) {
    String runs = env.MLCI_RUNS_DIR
    if (!runs) {
        return ".mlci/runs/${name}/${jobId}"
    }
    if (!(runs ==~ /\/[A-Za-z0-9._\/@+~-]{0,4095}/) || runs.split('/').contains('..') || runs.replace('/', '') == '') {
        error("node ${env.NODE_NAME}: MLCI_RUNS_DIR must be an absolute path without '..' (mlci render sets " +
            'jenkins.runs_dir, default /srv/mlci/runs)')
    }
    state.onHost = true
    state.trainedOn = env.NODE_NAME
    return "${runs.replaceAll('/+$', '')}/${name}/${jobId}"
}

def checkoutCommit(Map cfg) {
    checkout(scm)
    sh(script: "git checkout --quiet --detach ${Shell.quote(cfg.commit)}", label: 'check out the planned commit')
}

/**
 * An experiment's overrides, written as they are to a file in the workspace for `mlci run --set-file`
 * (which checks every line as it checks --set); null when there are none. The path holds only
 * checked names; the values never reach a shell.
 */
String writeOverrides(Map cfg, String name, String jobId) {
    String text = cfg.overrides == null ? '' : cfg.overrides.toString()
    if (text.trim().isEmpty()) {
        return null
    }
    if (cfg.experiment == null) {
        error("mlciTrain: overrides apply to an experiment only: give experiment: 'NAME' as well")
    }
    String file = ".mlci/experiments/${name}/${jobId}.overrides"
    writeFile(file: file, text: text, encoding: 'UTF-8')
    return file
}

/** Runs body; any failure not yet announced sends `failed` (or `cancelled` for an abort) once, then goes on. */
def notifyOnFailure(Map cfg, Map state, String name, String jobId, Closure body) {
    try {
        body()
    } catch (e) {
        if (!state.notified) {
            state.notified = true
            announce(cfg, interruption(e) ? 'cancelled' : 'failed', name, jobId)
        }
        throw e
    }
}

/** `mlci run` under the project's time limit; returns when the gate passed, else fails or aborts the build. */
def train(Map cfg, Map project, String jobId, String record, Map state) {
    String name = project.name
    announce(cfg, 'started', name, jobId)
    int status = -1
    Throwable stopped = null
    try {
        status = runWithGpus(cfg, project, jobId, state)
    } catch (e) {
        if (!interruption(e)) {
            keepRecord(record)
            throw e
        }
        stopped = e
    }
    if (stopped != null && !state.runStarted) {
        // Stopped while queued for the GPUs: mlci never ran, so there is no record to wait for.
        state.notified = true
        announce(cfg, 'cancelled', name, jobId)
        appendDescription("${name}: cancelled while waiting for its GPUs (nothing ran)")
        currentBuild.result = 'ABORTED'
        throw stopped
    }
    if (stopped != null) {
        // The `sh` step ends once mlci exits, or after Jenkins gave up waiting for it (see the
        // library README): mlci may still be stopping its containers and writing its final record.
        waitForFinalRecord(cfg, record)
        keepRecord(record)
        describe(name, record)
        state.notified = true
        if (expired(stopped)) {
            announce(cfg, 'failed', name, jobId)
            error("${name}: stopped at its time limit of ${project.timeout_s} s (${limitParts(project)}); " +
                "raise timeout or the stages' timeouts in projects/${name}/project.yaml, or lower retrain.max_attempts. " +
                "Its run record is archived under ${archiveDir(record)}/")
        }
        announce(cfg, 'cancelled', name, jobId)
        currentBuild.result = 'ABORTED'
        throw stopped
    }
    keepRecord(record)
    describe(name, record)
    if (status != 0) {
        state.notified = true
        announce(cfg, status == 130 ? 'cancelled' : 'failed', name, jobId)
        if (status == 130) {
            currentBuild.result = 'ABORTED'
        }
        error("${name}: ${runFailure(status)} (mlci run exited ${status}); its run record is archived under ${archiveDir(record)}/")
    }
}

String limitParts(Map project) {
    Map limit = project.time_limit instanceof Map ? project.time_limit : [:]
    if (limit.build_s instanceof Integer && limit.attempts instanceof Integer && limit.stages_s instanceof Integer) {
        String slack = limit.slack_s instanceof Integer ? " + slack ${limit.slack_s} s" : ''
        return "image build ${limit.build_s} s + ${limit.attempts} attempt(s) × stages ${limit.stages_s} s${slack}"
    }
    return 'from mlci plan'
}

/**
 * Locks the project's GPUs (none: no lock; -1: every GPU of this node) around `mlci run`, the one
 * process that runs every attempt and stage: the lease is taken before it starts and held until it
 * (and the leftover cleanup) ends, so a retrain never waits for GPUs another build took. A project
 * whose every stage says `gpus: none` (the plan's gpu_stages is empty) takes no lock at all. A request
 * the host cannot meet (its GPU count in mlci.yaml, from the plan's host_gpus) fails at once; a lock
 * Jenkins cannot grant within lockTimeoutS fails with the likely reason instead of waiting forever.
 */
int runWithGpus(Map cfg, Map project, String jobId, Map state) {
    int gpus = project.gpus
    if (!PlanCheck.needsGpuLease(project)) {
        if (gpus != 0) {
            echo "${project.name}: every stage runs with gpus: none; no GPU lease"
        }
        return runMlci(cfg, project, jobId, 'none', state)
    }
    String host = env.MLCI_HOST
    if (!PlanCheck.isName(host)) {
        error("node ${env.NODE_NAME} has no valid MLCI_HOST environment variable: add it to the node " +
            "(mlci render configures it for every host in mlci.yaml)")
    }
    Object available = (cfg.hostGpus ?: [:])[host]
    if (available == 0 && gpus == -1) {
        // A host without GPUs (allowed only when mlci plan let the project fall back to the CPU):
        // nothing to lock; mlci run decides (`auto` runs on the CPU, `all` explains the missing GPU).
        return runMlci(cfg, project, jobId, project.gpus_spec == 'all' ? 'all' : 'auto', state)
    }
    if (available instanceof Integer && gpus > (Integer) available) {
        error("${project.name} needs ${gpus} GPU(s) but host ${host} has ${available} in mlci.yaml: " +
            'lower gpus in its project.yaml or run it on a larger host')
    }
    Map request = [label: GpuLease.label(host), variable: 'MLCI_LOCKED']
    if (gpus > 0) {
        request.quantity = gpus  // without a quantity, lock takes every resource with the label
    }
    // lockable-resources serves the first queued request that fits, so a whole-host request could
    // be overtaken forever by 1-GPU requests. Every request first passes a per-host turnstile; a
    // whole-host request holds it while it waits and runs, so later requests queue behind it.
    String turnstile = GpuLease.turnstile(host)
    int status = -1
    boolean locked = false
    try {
        timeout(time: cfg.lockTimeoutS + project.timeout_s, unit: 'SECONDS') {
            if (gpus == -1) {
                lock(resource: turnstile) {
                    lock(request) {
                        locked = true
                        status = runLocked(cfg, project, jobId, host, state)
                    }
                }
            } else {
                lock(resource: turnstile) {
                    echo "${project.name}: in the GPU queue of ${host}"
                }
                lock(request) {
                    locked = true
                    status = runLocked(cfg, project, jobId, host, state)
                }
            }
        }
    } catch (e) {
        if (!locked && expired(e)) {
            error("${project.name}: waited ${cfg.lockTimeoutS} s for ${gpus == -1 ? 'every' : gpus} GPU(s) of " +
                "${GpuLease.label(host)} without getting them. If mlci.yaml declares more GPUs than Jenkins has " +
                'lockable resources, run `mlci render` and apply it (ansible-playbook) so they match; otherwise ' +
                'other builds held the GPUs all that time')
        }
        throw e
    }
    return status
}

int runLocked(Map cfg, Map project, String jobId, String host, Map state) {
    String devices = null
    try {
        devices = GpuLease.devices(env.MLCI_LOCKED, host)
    } catch (IllegalArgumentException bad) {
        error(bad.getMessage())
    }
    return runMlci(cfg, project, jobId, devices, state)
}

int runMlci(Map cfg, Map project, String jobId, String devices, Map state) {
    String name = project.name
    String command = "${Shell.quote(cfg.mlci)} run ${Shell.quote(name)} --job-id=${Shell.quote(jobId)} " +
        "--gpus=${Shell.quote(devices)}"
    if (cfg.maxAttempts != null) {
        // checked in call(): digits only; quoted all the same, as its own word
        command += " --max-attempts ${Shell.quote(cfg.maxAttempts)}"
    }
    if (cfg.experiment != null) {
        command += " --experiment=${Shell.quote(cfg.experiment)}"
    }
    if (state.setFile != null) {
        command += " --set-file=${Shell.quote(state.setFile)}"
    }
    int status = -1
    try {
        timeout(time: project.timeout_s, unit: 'SECONDS') {
            // The project's own secrets (e.g. HF_TOKEN for its downloads), for this command only.
            status = mlciSecrets(project.secrets ?: []) {
                state.runStarted = true
                sh(script: command, returnStatus: true, label: "mlci run ${name}")
            }
        }
    } finally {
        // Still inside the GPU lock: the GPU is free again before another build can be granted it.
        removeLeftovers(cfg, name, jobId, state)
    }
    return status
}

/**
 * The backstop, in a `finally` right after `mlci run` on its node (inside its GPU lock), however the
 * step ended (exit, abort, time limit, lost agent): removes the containers labelled with this
 * project and job id. Jenkins never SIGKILLs a step's processes
 * on Linux and stops waiting for them after a while, so an mlci that hangs after SIGTERM would
 * otherwise leave its stage container holding the GPU the build's lock no longer protects.
 * Never masks how the build ended: a failure here is a warning.
 */
def removeLeftovers(Map cfg, String name, String jobId, Map state) {
    if (!state.runStarted) {
        return
    }
    String command = "${Shell.quote(cfg.mlci)} cleanup ${Shell.quote(name)} --job=${Shell.quote(jobId)}"
    try {
        int removed = sh(script: command, returnStatus: true, label: "remove leftover containers of ${name}")
        if (removed != 0) {
            echo "WARNING: ${command} exited ${removed}; check `docker ps --filter label=mlci.job=${jobId}` on ${env.NODE_NAME}"
        }
    } catch (e) {
        echo "WARNING: could not remove leftover containers of ${name} on ${env.NODE_NAME}: ${e.getMessage()}"
    }
}

/** Waits (bounded) until mlci has written a final status.json; archives what there is either way. */
def waitForFinalRecord(Map cfg, String record) {
    String file = "${record}/status.json"
    try {
        timeout(time: cfg.recordWaitS, unit: 'SECONDS') {
            waitUntil(initialRecurrencePeriod: 1000, quiet: true) {
                return finalRecord(file)
            }
        }
    } catch (e) {
        if (!expired(e)) {
            throw e
        }
        echo "WARNING: ${file} was not final ${cfg.recordWaitS} s after the interruption; archiving it as it is"
    }
}

boolean finalRecord(String file) {
    if (!fileExists(file)) {
        return false
    }
    try {
        return Records.isFinal(Json.parse(readFile(file: file, encoding: 'UTF-8')))
    } catch (e) {
        if (interruption(e)) {
            throw e
        }
        return false  // mid-write or unreadable: look again
    }
}

/** Publishes the trained run to its store, with the store's credentials bound. */
def publish(Map cfg, Map project, String jobId, Map state) {
    String name = project.name
    String store = project.store
    String command = "${Shell.quote(cfg.mlci)} publish ${Shell.quote(name)} ${Shell.quote(jobId)} --store=${Shell.quote(store)}"
    int published = mlciSecrets(project.publish_secrets ?: []) {
        sh(script: command, returnStatus: true, label: "publish ${name}")
    }
    if (published != 0) {
        state.notified = true
        announce(cfg, 'failed', name, jobId)
        error("${name}: mlci publish to store ${store} failed (exit ${published}); the trained run is kept in its record")
    }
    announce(cfg, 'succeeded', name, jobId)
}

/**
 * Archives the run record: status.json, the logs and the JUnit gate report, not the model outputs
 * (attempt-N/out/: they live in the store once published, and would fill JENKINS_HOME). The record
 * may live outside the workspace (MLCI_RUNS_DIR), where archiveArtifacts cannot reach: it is first
 * copied, without the outputs, into the workspace's .mlci/archive/, and archived from there.
 */
def keepRecord(String record) {
    String archive = archiveDir(record)
    String from = Shell.quote(record)
    String into = Shell.quote(archive)
    // tar, not cp: it can leave attempt-*/out out, and it copies links as links (never their targets).
    String copy = "rm -rf ${into} && mkdir -p ${into} && if [ -d ${from} ]; then " +
        "tar -C ${from} --anchored --no-wildcards-match-slash --exclude='./attempt-*/out' -cf - . | tar -C ${into} -xf -; fi"
    int copied = sh(script: copy, returnStatus: true, label: 'copy the run record without its outputs')
    if (copied != 0) {
        echo "WARNING: copying the run record ${record} for archiving failed (exit ${copied}); archiving what was copied"
    }
    archiveArtifacts(artifacts: "${archive}/**", allowEmptyArchive: true, fingerprint: false, followSymlinks: false)
    // The exit code decides the result (a retrain may pass after a failed attempt), so a failed
    // gate attempt in the report must not mark the build unstable on its own.
    junit(testResults: "${archive}/junit.xml", allowEmptyResults: true, skipMarkingBuildUnstable: true)
}

/** The workspace copy of a record that Jenkins archives: .mlci/archive/<project>/<job>. */
String archiveDir(String record) {
    List parts = record.tokenize('/')
    return ".mlci/archive/${parts[parts.size() - 2]}/${parts[parts.size() - 1]}"
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
        if (interruption(e)) {
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

/**
 * Waits, outside any node, for a person to approve publishing; rejection or the approval timeout
 * → false (not published, UNSTABLE). `submitter` holds Jenkins user ids (groups need a security
 * realm that has groups; the local realm mlci renders has none).
 */
boolean approved(Map cfg, Map project, String jobId, Map state) {
    String name = project.name
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
            if (!state.notified) {
                state.notified = true
                node(cfg.label) {
                    announce(cfg, interruption(e) ? 'cancelled' : 'failed', name, jobId)
                }
            }
            throw e
        }
        unstable("${name}: not published: approval was rejected or did not come within ${project.approval_timeout_s} s")
        return false
    }
}

boolean interruption(Throwable e) {
    return e.getClass().getSimpleName() == 'FlowInterruptedException'
}

/** A `timeout` step expired (as opposed to the build being aborted). */
boolean expired(Throwable e) {
    return causedBy(e, ['ExceededTimeout'])
}

/** input's reject button or the approval timeout, as opposed to an abort of the whole build. */
boolean refusedOrExpired(Throwable e) {
    return causedBy(e, ['Rejection', 'ExceededTimeout'])
}

boolean causedBy(Throwable e, List kinds) {
    if (!interruption(e)) {
        return false
    }
    for (Object cause : e.getCauses()) {
        if (kinds.contains(cause.getClass().getSimpleName())) {
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
