import mlci.PlanCheck

/**
 * The experiment job `mlci-experiment`: train one or more projects at a Git ref as a named
 * experiment with config.yaml overrides, exactly as a release trains them (same node choice, GPU
 * lease and time limit: mlciTrain), but never published and never waiting for an approval.
 *
 * Job parameters (rendered by mlci render): REF (branch, tag or commit), PROJECTS (names separated
 * by commas, spaces or newlines), EXPERIMENT (a name, as for job ids), OVERRIDES (key=value lines).
 * The overrides reach `mlci run` as a file (--set-file), never as words of a shell script.
 */
def call(Map config = [:]) {
    Map cfg = [
        label     : 'mlci',
        mlci      : 'mlci',
        ref       : params.REF ?: '',
        projects  : params.PROJECTS ?: '',
        experiment: params.EXPERIMENT ?: '',
        overrides : params.OVERRIDES ?: '',
    ] << config
    String ref = cfg.ref.toString().trim()
    String experiment = cfg.experiment.toString().trim()
    if (!PlanCheck.isRef(ref)) {
        error('REF must be a branch, tag or commit (letters, digits and ._/@+~^{}-, not starting with -)')
    }
    if (!PlanCheck.isExperiment(experiment)) {
        error('EXPERIMENT must be a name of letters, digits, ., _ and - (at most 128, starting with a letter or digit)')
    }
    List names = null
    try {
        names = PlanCheck.projectNames(cfg.projects)
    } catch (IllegalArgumentException bad) {
        error(bad.getMessage())
    }
    Map plan = null
    stage('Plan') {
        node(cfg.label) {
            checkout(scm)
            // mlci checks the names against the projects at REF (an unknown one is an error there).
            plan = mlciPlan(mlci: cfg.mlci, head: ref, projects: names.join(','), force: true)
        }
    }
    List planned = []
    for (Object entry : plan.projects) {
        planned.add(entry.name)
    }
    if (planned.sort(false) != names.sort(false)) {
        error("mlci plan returned projects ${planned.join(', ')} instead of ${names.join(', ')}")
    }
    String commit = plan.commit
    currentBuild.displayName = "#${env.BUILD_NUMBER} ${experiment} @ ${commit.take(7)}"
    currentBuild.description = "Experiment ${experiment}: trains ${names.join(', ')} at ${commit}; never published"

    Map branches = [:]
    for (int i = 0; i < plan.projects.size(); i++) {
        Map project = plan.projects[i]  // a fresh variable per branch: each closure keeps its own project
        branches[project.name] = {
            mlciTrain(project: project, commit: commit, label: cfg.label, mlci: cfg.mlci, publish: false,
                      experiment: experiment, overrides: cfg.overrides.toString(),
                      notifySecrets: plan.notify_secrets, hostGpus: plan.host_gpus)
        }
    }
    parallel(branches)
}
