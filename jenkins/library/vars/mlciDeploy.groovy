import mlci.EnvCheck

/**
 * The deploy job `mlci-deploy`: deploy VERSION (empty: the version current in ENV) of PROJECT to ENV
 * on the environment's hosts, with its integration test when the project has one (mlciRollout), and
 * notify `deployed` (or `deploy-failed` / `deploy-cancelled`). Started from Jenkins, by
 * `mlci trigger --deploy`, or through the webhook's deploy route (a chat command or a button):
 * the parameters are checked here whatever started the build.
 *
 * Job parameters (rendered by mlci render when mlci.yaml has environments): PROJECT, VERSION, ENV.
 */
def call(Map config = [:]) {
    Map cfg = [label: 'mlci', mlci: 'mlci', project: params.PROJECT, version: params.VERSION, env: params.ENV] << config
    Map job = null
    try {
        job = EnvCheck.params(cfg.project, cfg.version, cfg.env, true)
    } catch (IllegalArgumentException bad) {
        error(bad.getMessage())
    }
    String shown = job.version ?: '(the current version)'
    currentBuild.displayName = "#${env.BUILD_NUMBER} ${job.project} ${job.version ?: 'current'} to ${job.env}"
    Map state = [notified: false, plan: null, by: mlciBuildUser()]
    try {
        stage('Plan') {
            node(cfg.label) {
                checkout(scm)
                state.plan = mlciEnvPlan(mlci: cfg.mlci, project: job.project, env: job.env)
                if (!state.plan.deploy) {
                    state.notified = true
                    announce(cfg, job, state, 'deploy-failed')
                    error("${job.project} has nothing to deploy in ${job.env}: give it serve: in its project.yaml " +
                        "and the environment hosts (environments.${job.env}.hosts in mlci.yaml)")
                }
            }
        }
        currentBuild.description = "Deploys ${job.project} ${shown} to ${job.env} on ${state.plan.deploy_hosts.join(', ')}" +
            " (started by ${state.by})"
        mlciRollout(plan: state.plan, version: job.version, by: state.by, mlci: cfg.mlci, state: state, done: 'deployed')
    } catch (e) {
        if (!state.notified && state.plan != null) {
            state.notified = true  // stopped while waiting for the deploy lock or a host: a node just to tell Slack
            node(cfg.label) {
                announce(cfg, job, state, e.getClass().getSimpleName() == 'FlowInterruptedException' ? 'deploy-cancelled' : 'deploy-failed')
            }
        }
        throw e
    }
}

def announce(Map cfg, Map job, Map state, String event) {
    mlciNotify(event: event, project: job.project, env: job.env, version: job.version, by: state.by,
               mlci: cfg.mlci, secrets: state.plan.notify_secrets)
}
