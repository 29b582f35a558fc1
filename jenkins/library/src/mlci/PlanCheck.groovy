package mlci

/**
 * Checks `mlci plan --json` output before any of it reaches a shell command or the build page,
 * so that even a broken or hostile plan cannot inject anything. Returns a problem or null.
 */
class PlanCheck implements Serializable {
    static final String NAME = /[a-z0-9][a-z0-9-]{0,62}/
    static final String SHA = /[0-9a-f]{40}([0-9a-f]{24})?/
    static final String SUBMITTER = /[A-Za-z0-9_.@,-]{1,4000}/  // project.yaml's names + mlci.yaml's approvers
    static final String SECRET = /[A-Z][A-Z0-9_]{0,127}/
    static final String GPU_SPEC = /auto|all|none|[0-9]{1,2}|[0-9]{1,3}(,[0-9]{1,3}){0,63}/
    static final String STAGE = /[a-z0-9][a-z0-9_-]{0,62}/
    static final int MAX_ATTEMPTS = 20  // project.yaml's retrain.max_attempts bound (mlci/manifest/project.py)
    static final String EXPERIMENT = /[A-Za-z0-9][A-Za-z0-9._-]{0,127}/  // mlci.contract.JOB_ID_PATTERN
    static final String REF = /[A-Za-z0-9_.\/@+~^{}-]{1,255}/  // mlci.contract.REF_PATTERN

    static boolean isName(Object value) {
        return value instanceof String && value ==~ NAME
    }

    /** An experiment name: the rule of job ids (it names records and MLflow runs). */
    static boolean isExperiment(Object value) {
        return value instanceof String && value ==~ EXPERIMENT
    }

    /** A Git ref for `mlci plan --head`: no whitespace or shell characters, not an option. */
    static boolean isRef(Object value) {
        return value instanceof String && value ==~ REF && !value.startsWith('-')
    }

    /**
     * The PROJECTS parameter of the experiment job: names separated by commas, spaces or newlines,
     * each once, in the order given. Throws IllegalArgumentException naming the first bad one.
     */
    static List projectNames(Object value) {
        List names = []
        for (String word : (value == null ? '' : value.toString()).split(/[\s,]+/)) {
            if (word.isEmpty() || names.contains(word)) {
                continue
            }
            if (!isName(word)) {
                throw new IllegalArgumentException('PROJECTS: ' + word.take(80) + ' is not a project name ' +
                    '(lowercase letters, digits and dashes)')
            }
            names.add(word)
        }
        if (names.isEmpty()) {
            throw new IllegalArgumentException('PROJECTS: name at least one project, e.g. vision or vision,nlp')
        }
        return names
    }

    static String problem(Map plan) {
        if (!(plan.commit instanceof String && plan.commit ==~ SHA)) {
            return "commit ${plan.commit} is not a commit sha"
        }
        if (plan.base != null && !(plan.base instanceof String && plan.base ==~ SHA)) {
            return "base ${plan.base} is not a commit sha"
        }
        if (!(plan.projects instanceof List)) {
            return 'projects is not a list'
        }
        if (!secretNames(plan.notify_secrets)) {
            return 'notify_secrets is not a list of secret names'
        }
        if (plan.host_gpus != null && !(plan.host_gpus instanceof Map)) {
            return 'host_gpus is not an object'
        }
        for (Object host : plan.host_gpus?.keySet() ?: []) {
            Object count = plan.host_gpus[host]
            if (!isName(host) || !(count instanceof Integer && (Integer) count >= 0)) {
                return "host_gpus: ${host} is not a host name with a GPU count"
            }
        }
        for (Object entry : plan.projects) {
            String found = entryProblem(entry)
            if (found != null) {
                return found
            }
        }
        return null
    }

    static String entryProblem(Object entry) {
        if (!(entry instanceof Map)) {
            return "project entry ${entry} is not an object"
        }
        Map p = (Map) entry
        if (!isName(p.name)) {
            return "project name ${p.name} is not a valid name"
        }
        if (!(p.gpus instanceof Integer && (Integer) p.gpus >= -1)) {
            return "${p.name}: gpus ${p.gpus} is not a count (-1 = all GPUs of the node)"
        }
        if (p.gpus_spec != null && !(p.gpus_spec instanceof String && p.gpus_spec ==~ GPU_SPEC)) {
            return "${p.name}: gpus_spec is not auto, all, none, a count or device indexes"
        }
        if (!(p.approval instanceof Boolean)) {
            return "${p.name}: approval ${p.approval} is not true or false"
        }
        if (p.submitter != null && !(p.submitter instanceof String && p.submitter ==~ SUBMITTER)) {
            return "${p.name}: submitter is not a list of Jenkins user or group names"
        }
        if (!isName(p.store)) {
            return "${p.name}: store ${p.store} is not a store name"
        }
        if (!secretNames(p.publish_secrets)) {
            return "${p.name}: publish_secrets is not a list of secret names"
        }
        if (!secretNames(p.secrets)) {
            return "${p.name}: secrets is not a list of secret names"
        }
        if (!stageNames(p.gpu_stages)) {
            return "${p.name}: gpu_stages is not a list of stage names"
        }
        if (p.gpu_node != null && !(p.gpu_node instanceof Boolean)) {
            return "${p.name}: gpu_node ${p.gpu_node} is not true or false"
        }
        for (String key : ['timeout_s', 'approval_timeout_s']) {
            if (!(p[key] instanceof Integer && (Integer) p[key] > 0)) {
                return "${p.name}: ${key} ${p[key]} is not a positive number of seconds"
            }
        }
        return null
    }

    /** Absent (null: a plan from an mlci before gpu_stages) or a list of stage names. */
    static boolean stageNames(Object value) {
        if (value == null) {
            return true
        }
        if (!(value instanceof List)) {
            return false
        }
        for (Object name : value) {
            if (!(name instanceof String && name ==~ STAGE)) {
                return false
            }
        }
        return true
    }

    /**
     * Whether the run takes the GPU lease: not for 0 GPUs, and not when every stage says `gpus: none`
     * (the plan's gpu_stages is empty). A plan without gpu_stages leases as before.
     */
    static boolean needsGpuLease(Map p) {
        if (p.gpus == 0) {
            return false
        }
        return !(p.gpu_stages instanceof List && ((List) p.gpu_stages).isEmpty())
    }

    /** Absent (null) or a list of secret names, which are also the Jenkins credential ids. */
    static boolean secretNames(Object value) {
        if (value == null) {
            return true
        }
        if (!(value instanceof List)) {
            return false
        }
        for (Object name : value) {
            if (!(name instanceof String && name ==~ SECRET)) {
                return false
            }
        }
        return true
    }

    /** The GPUS job parameter: '' keeps the project's setting, else none | all | a count. */
    static Integer gpusOverride(Object value) {
        String text = value == null ? '' : value.toString().trim()
        if (text.isEmpty()) {
            return null
        }
        if (text == 'none') {
            return 0
        }
        if (text == 'all') {
            return -1
        }
        if (text ==~ /[0-9]{1,2}/) {
            return Integer.valueOf(text)
        }
        throw new IllegalArgumentException("GPUS must be empty (the project's setting), none, all or a count such as 2")
    }

    /**
     * The MAX_ATTEMPTS job parameter: '' (or null) keeps project.yaml's retrain.max_attempts, else
     * digits only, 1 to 20. The result is what reaches `mlci plan` and `mlci run --max-attempts`.
     */
    static String maxAttemptsOverride(Object value) {
        String text = value == null ? '' : value.toString().trim()
        if (text.isEmpty()) {
            return null
        }
        if (text ==~ /[0-9]{1,2}/ && Integer.valueOf(text) >= 1 && Integer.valueOf(text) <= MAX_ATTEMPTS) {
            return Integer.valueOf(text).toString()
        }
        throw new IllegalArgumentException("MAX_ATTEMPTS must be empty (the project's retrain.max_attempts) or a " +
            "whole number from 1 to ${MAX_ATTEMPTS}")
    }
}
