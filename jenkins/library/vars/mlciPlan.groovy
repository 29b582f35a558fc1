import mlci.Json
import mlci.PlanCheck
import mlci.Shell

/**
 * Runs `mlci plan ... --json` in the current workspace and returns the checked plan:
 * [base, head, commit, projects: [[name, gpus, gpus_spec, approval, submitter, approval_timeout_s, store,
 * timeout_s (Jenkins' time limit), time_limit [build_s, attempts, stages_s], secrets (bound around mlci run),
 * publish_secrets, gpu_node, gpu_stages]], skipped, notify_secrets, host_gpus].
 * `maxAttempts` (digits, 1-20; empty: each project's retrain.max_attempts) plans that many attempts.
 * Every decision (what changed, GPU counts, stores) is made by mlci in Python; this only reads it.
 */
Map call(Map config = [:]) {
    Map cfg = [mlci: 'mlci', base: '', head: 'HEAD', projects: '', force: false, maxAttempts: null] << config
    String maxAttempts = null
    try {
        maxAttempts = PlanCheck.maxAttemptsOverride(cfg.maxAttempts)
    } catch (IllegalArgumentException bad) {
        error("mlciPlan: ${bad.getMessage()}")
    }
    String command = "${Shell.quote(cfg.mlci)} plan"
    if (cfg.base) {
        command += " --base=${Shell.quote(cfg.base)}"
    }
    command += " --head=${Shell.quote(cfg.head ?: 'HEAD')}"
    if (cfg.projects) {
        command += " --projects=${Shell.quote(cfg.projects)}"
    }
    if (cfg.force) {
        command += ' --force'
    }
    if (maxAttempts != null) {
        command += " --max-attempts ${Shell.quote(maxAttempts)}"
    }
    command += ' --json'
    String out = sh(script: command, returnStdout: true, label: 'mlci plan')
    Object parsed = null
    try {
        parsed = Json.parse(out)
    } catch (e) {
        error("mlci plan printed no JSON (${e.getMessage()}): update mlci on the agent")
    }
    if (!(parsed instanceof Map)) {
        error('mlci plan printed JSON that is not an object: update mlci on the agent')
    }
    Map plan = parsed
    String problem = PlanCheck.problem(plan)
    if (problem != null) {
        error("mlci plan printed an unusable plan: ${problem}")
    }
    for (String key : ['skipped', 'notify_secrets']) {
        if (!(plan[key] instanceof List)) {
            plan[key] = []
        }
    }
    return plan
}
