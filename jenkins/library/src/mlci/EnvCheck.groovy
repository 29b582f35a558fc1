package mlci

/**
 * Checks the promote and deploy jobs' parameters and `mlci plan --env --json` output before any of
 * it reaches a shell command, an `input` or the build page. The rules are mlci's own (each names the
 * Python it copies; tests/library/test_contract_names.py compares them).
 */
class EnvCheck implements Serializable {
    static final String NAME = /[a-z0-9][a-z0-9-]{0,62}/  // mlci.contract.PROJECT_PATTERN, environment names too
    static final String VERSION = /v[1-9][0-9]{0,17}/  // mlci.record.parts.VERSION_PATTERN, bounded
    static final String WHO = /[A-Za-z0-9][A-Za-z0-9._@-]{0,63}/  // mlci.publish.promotion_log.WHO_RE
    static final String USER = /[a-z_][a-z0-9_-]{0,31}/  // mlci.manifest.fields.POSIX_USER_RE (Jenkins users)
    static final String SHA = /[0-9a-f]{40}([0-9a-f]{24})?/

    static boolean isName(Object value) {
        return value instanceof String && value ==~ NAME
    }

    static boolean isVersion(Object value) {
        return value instanceof String && value ==~ VERSION
    }

    static boolean isWho(Object value) {
        return value instanceof String && value ==~ WHO
    }

    /** A comma list of Jenkins user ids, for `input(submitter:)`. */
    static boolean isSubmitter(Object value) {
        if (!(value instanceof String) || value.isEmpty() || value.length() > 4000) {
            return false
        }
        for (String user : value.split(',', -1)) {
            if (!(user ==~ USER)) {
                return false
            }
        }
        return true
    }

    /**
     * The jobs' parameters PROJECT, VERSION and ENV, trimmed; VERSION may be empty when `versionOptional`
     * (a deployment of the current version). Throws IllegalArgumentException naming the first bad one.
     */
    static Map params(Object project, Object version, Object env, boolean versionOptional) {
        String p = project == null ? '' : project.toString().trim()
        String v = version == null ? '' : version.toString().trim()
        String e = env == null ? '' : env.toString().trim()
        if (!isName(p)) {
            throw new IllegalArgumentException('PROJECT must be a project name (lowercase letters, digits and dashes)')
        }
        if (!(v.isEmpty() && versionOptional) && !isVersion(v)) {
            throw new IllegalArgumentException('VERSION must be a model version such as v3 (see mlci versions PROJECT)' +
                (versionOptional ? ', or empty for the version current in ENV' : ''))
        }
        if (!isName(e)) {
            throw new IllegalArgumentException('ENV must be an environment name of mlci.yaml (lowercase letters, digits and dashes)')
        }
        return [project: p, version: v, env: e]
    }

    /** What is wrong with `mlci plan --env` output for `project` in `env`, or null. */
    static String problem(Map plan, String project, String env) {
        if (!(plan.commit instanceof String && plan.commit ==~ SHA)) {
            return 'commit is not a commit sha'
        }
        if (plan.project != project || plan.env != env) {
            return "it plans ${plan.project} in ${plan.env}, not ${project} in ${env}"
        }
        for (String key : ['approval', 'deploy', 'itest']) {
            if (!(plan[key] instanceof Boolean)) {
                return "${key} is not true or false"
            }
        }
        if (!isSubmitter(plan.submitter)) {
            return 'submitter is not a list of Jenkins user ids'
        }
        for (String key : ['source_store', 'store']) {
            if (!isName(plan[key])) {
                return "${key} is not a store name"
            }
        }
        for (String key : ['promote_secrets', 'deploy_secrets', 'notify_secrets']) {
            if (!(plan[key] instanceof List) || !PlanCheck.secretNames(plan[key])) {
                return "${key} is not a list of secret names"
            }
        }
        if (!(plan.deploy_hosts instanceof List)) {
            return 'deploy_hosts is not a list'
        }
        for (Object host : plan.deploy_hosts) {
            if (!isName(host)) {
                return 'deploy_hosts holds something that is not a host name'
            }
        }
        if (plan.deploy != !((List) plan.deploy_hosts).isEmpty() || (plan.itest && !plan.deploy)) {
            return 'deploy, deploy_hosts and itest disagree'
        }
        for (String key : ['approval_timeout_s', 'deploy_timeout_s', 'itest_timeout_s']) {
            if (!(plan[key] instanceof Integer && (Integer) plan[key] >= 0)) {
                return "${key} is not a number of seconds"
            }
        }
        if ((Integer) plan.approval_timeout_s == 0 || (plan.deploy && (Integer) plan.deploy_timeout_s == 0) ||
            (plan.itest && (Integer) plan.itest_timeout_s == 0)) {
            return 'a time limit it needs is 0'
        }
        return null
    }
}
