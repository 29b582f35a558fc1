import mlci.EnvCheck
import mlci.Shell

/**
 * Deploys `plan.project` to `plan.env` (an mlciEnvPlan) on each of the plan's `deploy_hosts`, one
 * after another and each on its own node (`node('<host>')`): check out the planned commit,
 * `mlci deploy PROJECT --env=ENV [--version=V]` (VERSION empty: the version current in ENV), then
 * `mlci itest PROJECT --env=ENV` when the project has serve.itest, each inside its time limit from the
 * plan and with the environment's secrets bound. A failure stops the rollout at that host. One
 * rollout of a project to an environment at a time: the hosts are taken under
 * `lock(resource: 'mlci-deploy-<env>-<project>')`, which waits with no executor held.
 *
 * Notifies `done` (deployed, or promoted for mlciPromote) on the last host once everything passed, or
 * `deploy-failed` / `deploy-cancelled` once, on the node where it stopped; `state.notified` says that
 * a notification was sent (the caller sends one for what happens outside these nodes).
 */
def call(Map config) {
    Map cfg = [mlci: 'mlci', version: '', by: null, done: 'deployed', state: [notified: false]] << config
    Map plan = cfg.plan
    if (!EnvCheck.isName(plan.project) || !EnvCheck.isName(plan.env) || !(plan.deploy_hosts instanceof List)) {
        error('mlciRollout: plan must be an mlciEnvPlan')
    }
    if (cfg.version && !EnvCheck.isVersion(cfg.version)) {
        error('mlciRollout: version must be a model version such as v3, or empty for the current one')
    }
    List hosts = plan.deploy_hosts
    lock(resource: "mlci-deploy-${plan.env}-${plan.project}") {
        for (int i = 0; i < hosts.size(); i++) {
            String host = hosts[i]
            boolean last = i == hosts.size() - 1
            stage("Deploy to ${host}") {
                node(host) {
                    failing(cfg) {
                        checkout(scm)
                        sh(script: "git checkout --quiet --detach ${Shell.quote(plan.commit)}",
                           label: 'check out the planned commit')
                        String deploy = "${Shell.quote(cfg.mlci)} deploy ${Shell.quote(plan.project)} --env=${Shell.quote(plan.env)}"
                        if (cfg.version) {
                            deploy += " --version=${Shell.quote(cfg.version)}"
                        }
                        runOn(cfg, host, 'deploy', deploy, plan.deploy_timeout_s)
                        if (plan.itest) {
                            String itest = "${Shell.quote(cfg.mlci)} itest ${Shell.quote(plan.project)} --env=${Shell.quote(plan.env)}"
                            runOn(cfg, host, 'itest', itest, plan.itest_timeout_s)
                        }
                        echo "${plan.project}: deployed to ${plan.env} on ${host}" + (plan.itest ? ', integration test passed' : '')
                        if (last) {
                            cfg.state.notified = true
                            announce(cfg, cfg.done)
                        }
                    }
                }
            }
        }
    }
}

/** One mlci command on this host within `limitS`; a non-zero exit or the limit fails the build. */
def runOn(Map cfg, String host, String what, String command, int limitS) {
    Map plan = cfg.plan
    int status = -1
    try {
        timeout(time: limitS, unit: 'SECONDS') {
            status = mlciSecrets(plan.deploy_secrets ?: []) {
                sh(script: command, returnStatus: true, label: "mlci ${what} on ${host}")
            }
        }
    } catch (e) {
        if (expired(e)) {
            error("${plan.project}: mlci ${what} to ${plan.env} on ${host} was stopped at its time limit of ${limitS} s")
        }
        throw e
    }
    if (status != 0) {
        String why = status == 2 ? 'configuration or usage error' : (what == 'itest' ? 'the integration test failed' : 'the deployment failed')
        error("${plan.project}: mlci ${what} to ${plan.env} on ${host} exited ${status} (${why}); " +
            (what == 'itest' ? 'the new version is running there but did not pass' : 'see its output above'))
    }
}

/** Runs body; a failure not yet announced sends deploy-failed (deploy-cancelled for an abort) once. */
def failing(Map cfg, Closure body) {
    try {
        body()
    } catch (e) {
        if (!cfg.state.notified) {
            cfg.state.notified = true
            announce(cfg, interruption(e) && !expired(e) ? 'deploy-cancelled' : 'deploy-failed')
        }
        throw e
    }
}

def announce(Map cfg, String event) {
    Map plan = cfg.plan
    mlciNotify(event: event, project: plan.project, env: plan.env, version: cfg.version, by: cfg.by,
               mlci: cfg.mlci, secrets: plan.notify_secrets)
}

boolean interruption(Throwable e) {
    return e.getClass().getSimpleName() == 'FlowInterruptedException'
}

boolean expired(Throwable e) {
    if (!interruption(e)) {
        return false
    }
    for (Object cause : e.getCauses()) {
        if (cause.getClass().getSimpleName() == 'ExceededTimeout') {
            return true
        }
    }
    return false
}
