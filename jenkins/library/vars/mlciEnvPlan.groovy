import mlci.EnvCheck
import mlci.Json
import mlci.Shell

/**
 * Runs `mlci plan --env=ENV --projects=PROJECT --json` in the current workspace and returns the checked
 * plan of one project in one environment: [commit, project, env, approval, submitter, approval_timeout_s,
 * source_store, store, promote_secrets, deploy, deploy_hosts, itest, deploy_timeout_s, itest_timeout_s,
 * deploy_secrets, notify_secrets]. mlci decides (mlci.yaml's environments, project.yaml's serve:); this
 * only reads it, and re-checks every value that reaches a shell, an `input` or the build page.
 */
Map call(Map config) {
    Map cfg = [mlci: 'mlci'] << config
    if (!EnvCheck.isName(cfg.project) || !EnvCheck.isName(cfg.env)) {
        error('mlciEnvPlan: project and env must be names (lowercase letters, digits and dashes)')
    }
    String command = "${Shell.quote(cfg.mlci)} plan --env=${Shell.quote(cfg.env)} " +
        "--projects=${Shell.quote(cfg.project)} --json"
    String out = sh(script: command, returnStdout: true, label: "mlci plan --env=${cfg.env}")
    Object parsed = null
    try {
        parsed = Json.parse(out)
    } catch (e) {
        error("mlci plan --env printed no JSON (${e.getMessage()}): update mlci on the agent")
    }
    if (!(parsed instanceof Map)) {
        error('mlci plan --env printed JSON that is not an object: update mlci on the agent')
    }
    String problem = EnvCheck.problem((Map) parsed, cfg.project, cfg.env)
    if (problem != null) {
        error("mlci plan --env printed an unusable plan: ${problem}")
    }
    return (Map) parsed
}
