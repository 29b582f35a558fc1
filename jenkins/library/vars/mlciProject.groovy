import mlci.PlanCheck

/**
 * The per-project manual job `mlci-project-<name>`: train one project at the checked-out commit,
 * whether or not it changed. Parameters: GPUS ('' = the project's setting, none, all or a count),
 * MAX_ATTEMPTS ('' = project.yaml's retrain.max_attempts, else 1 to 20) and PUBLISH (publish after
 * the gate passes, with the project's approval if it asks for one).
 */
def call(Map config = [:]) {
    Map cfg = [
        label  : 'mlci',
        mlci   : 'mlci',
        head   : 'HEAD',
        gpus   : params.GPUS ?: '',
        maxAttempts: params.MAX_ATTEMPTS ?: '',
        publish: params.PUBLISH == true || params.PUBLISH == 'true',
    ] << config
    if (!PlanCheck.isName(cfg.project)) {
        error('mlciProject: project must be a project name (lowercase letters, digits and dashes), e.g. ' +
            "mlciProject(project: 'vision')")
    }
    Integer gpus = null
    String maxAttempts = null
    try {
        gpus = PlanCheck.gpusOverride(cfg.gpus)
        maxAttempts = PlanCheck.maxAttemptsOverride(cfg.maxAttempts)
    } catch (IllegalArgumentException bad) {
        error(bad.getMessage())
    }
    Map plan = null
    stage('Plan') {
        node(cfg.label) {
            checkout(scm)
            // The plan's time limit counts MAX_ATTEMPTS attempts, as mlci run will make.
            plan = mlciPlan(mlci: cfg.mlci, head: cfg.head, projects: cfg.project, force: true,
                            maxAttempts: maxAttempts)
        }
    }
    if (plan.projects.size() != 1 || plan.projects[0].name != cfg.project) {
        error("mlci plan did not return project ${cfg.project}")
    }
    Map project = plan.projects[0]
    if (gpus != null) {
        project.gpus = gpus
        project.gpus_spec = cfg.gpus.toString().trim()
    }
    currentBuild.displayName = "#${env.BUILD_NUMBER} ${cfg.project} @ ${plan.commit.take(7)}"
    currentBuild.description = "Trains ${cfg.project} at ${plan.commit}" + (cfg.publish ? ', then publishes' : '')
    mlciTrain(project: project, commit: plan.commit, label: cfg.label, mlci: cfg.mlci, publish: cfg.publish,
              notifySecrets: plan.notify_secrets, hostGpus: plan.host_gpus, maxAttempts: maxAttempts)
}
