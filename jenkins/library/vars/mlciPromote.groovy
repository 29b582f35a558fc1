import mlci.EnvCheck
import mlci.Shell

/**
 * The promote job `mlci-promote`: make VERSION of PROJECT current in ENV, then deploy it there.
 *
 * Stage Plan (on an `mlci` node): `mlci plan --env=ENV --projects=PROJECT --json`. Stage Approve, only
 * for an environment with `approval: true`: the `promotion-approval` notification, then `input` —
 * outside any node, so the wait holds no executor — with the environment's approvers (else the admin)
 * as submitters, inside `timeout(approval_timeout_s)`. Stage Promote (on an `mlci` node):
 * `MLCI_PROMOTE_APPROVED=ENV` (approval environments only) `mlci promote PROJECT VERSION --to=ENV
 * --by=WHO`, WHO being the approver, else the build's user. Then, when the project has serve: and the
 * environment hosts, mlciRollout deploys and integration-tests it on each host. Notifies `promoted` at
 * the end; `promotion-failed`, `promotion-cancelled` (aborted, rejected or not approved in time),
 * `deploy-failed` or `deploy-cancelled` when it stops.
 *
 * Job parameters (rendered by mlci render when mlci.yaml has environments): PROJECT, VERSION, ENV.
 */
def call(Map config = [:]) {
    Map cfg = [label: 'mlci', mlci: 'mlci', project: params.PROJECT, version: params.VERSION, env: params.ENV] << config
    Map job = null
    try {
        job = EnvCheck.params(cfg.project, cfg.version, cfg.env, false)
    } catch (IllegalArgumentException bad) {
        error(bad.getMessage())
    }
    currentBuild.displayName = "#${env.BUILD_NUMBER} ${job.project} ${job.version} to ${job.env}"
    Map state = [notified: false, plan: null, by: mlciBuildUser(), phase: 'promotion']
    try {
        stage('Plan') {
            node(cfg.label) {
                checkout(scm)
                state.plan = mlciEnvPlan(mlci: cfg.mlci, project: job.project, env: job.env)
                if (state.plan.approval) {
                    announce(cfg, job, state, 'promotion-approval')
                }
            }
        }
        Map plan = state.plan
        currentBuild.description = "Promotes ${job.project} ${job.version} to ${job.env}" +
            (plan.approval ? " once ${plan.submitter.replace(',', ' or ')} approves" : '') +
            (plan.deploy ? ", then deploys it on ${plan.deploy_hosts.join(', ')}" : '')
        if (plan.approval) {
            stage('Approve') {
                state.by = approve(job, plan)
            }
        }
        stage('Promote') {
            node(cfg.label) {
                failing(cfg, job, state) {
                    promote(cfg, job, state)
                }
            }
        }
        state.phase = 'deploy'
        if (plan.deploy) {
            mlciRollout(plan: plan, version: job.version, by: state.by, mlci: cfg.mlci, state: state, done: 'promoted')
        }
    } catch (e) {
        if (!state.notified && state.plan != null) {
            // Outside any node (the approval, or waiting for one): a node just to tell Slack.
            state.notified = true
            node(cfg.label) {
                // an abort, a rejection or no approval in time: cancelled; anything else: failed
                announce(cfg, job, state, "${state.phase}-${interruption(e) ? 'cancelled' : 'failed'}")
            }
        }
        throw e
    }
}

def promote(Map cfg, Map job, Map state) {
    Map plan = state.plan
    checkout(scm)
    sh(script: "git checkout --quiet --detach ${Shell.quote(plan.commit)}", label: 'check out the planned commit')
    // The guard mlci promote checks for an approval environment: set only here, after the approval.
    String guard = plan.approval ? "MLCI_PROMOTE_APPROVED=${Shell.quote(job.env)} " : ''
    String command = guard + "${Shell.quote(cfg.mlci)} promote ${Shell.quote(job.project)} ${Shell.quote(job.version)} " +
        "--to=${Shell.quote(job.env)} --by=${Shell.quote(state.by)}"
    int status = mlciSecrets(plan.promote_secrets) {
        sh(script: command, returnStatus: true, label: "mlci promote ${job.project} ${job.version} to ${job.env}")
    }
    if (status != 0) {
        error("${job.project} ${job.version}: mlci promote to ${job.env} exited ${status}" +
            (status == 2 ? ' (configuration or usage error: see its message above)' : '') + '; nothing was deployed')
    }
    if (!plan.deploy) {
        echo "${job.project}: nothing to deploy in ${job.env} (no serve: in its project.yaml, or the environment names no hosts)"
        state.notified = true
        announce(cfg, job, state, 'promoted')
    }
}

/**
 * Waits, outside any node, for one of the plan's submitters; returns who approved. Rejected, not
 * approved within approval_timeout_s, or aborted: the interruption goes on (the build ends ABORTED).
 */
String approve(Map job, Map plan) {
    Map request = [message: "Promote ${job.project} ${job.version} to ${job.env}?", ok: 'Promote',
                   submitter: plan.submitter, submitterParameter: 'MLCI_APPROVER']
    Object approver = null
    try {
        timeout(time: plan.approval_timeout_s, unit: 'SECONDS') {
            approver = input(request)
        }
    } catch (e) {
        if (expired(e, 'Rejection')) {
            currentBuild.description = "${job.project} ${job.version} was not promoted to ${job.env}: the promotion was rejected"
        } else if (expired(e, 'ExceededTimeout')) {
            currentBuild.description = "${job.project} ${job.version} was not promoted to ${job.env}: " +
                "no approval within ${plan.approval_timeout_s} s"
        }
        throw e
    }
    String who = approver == null ? '' : approver.toString()
    if (!EnvCheck.isWho(who)) {
        error("the approver's user id cannot be recorded as who promoted (letters, digits, . _ @ -): nothing was promoted")
    }
    echo "${job.project} ${job.version} to ${job.env}: approved by ${who}"
    return who
}

/** Runs body on a node; a failure not yet announced sends promotion-failed (-cancelled for an abort) once. */
def failing(Map cfg, Map job, Map state, Closure body) {
    try {
        body()
    } catch (e) {
        if (!state.notified) {
            state.notified = true
            announce(cfg, job, state, interruption(e) ? 'promotion-cancelled' : 'promotion-failed')
        }
        throw e
    }
}

def announce(Map cfg, Map job, Map state, String event) {
    mlciNotify(event: event, project: job.project, env: job.env, version: job.version, by: state.by,
               mlci: cfg.mlci, secrets: state.plan.notify_secrets)
}

boolean interruption(Throwable e) {
    return e.getClass().getSimpleName() == 'FlowInterruptedException'
}

/** An interruption caused by `kind` (ExceededTimeout: a timeout step expired; Rejection: input's Abort). */
boolean expired(Throwable e, String kind) {
    if (!interruption(e)) {
        return false
    }
    for (Object cause : e.getCauses()) {
        if (cause.getClass().getSimpleName() == kind) {
            return true
        }
    }
    return false
}
