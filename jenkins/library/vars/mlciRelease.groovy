import mlci.PlanCheck

/**
 * The release pipeline (the root Jenkinsfile's one step): check out, ask `mlci plan` which
 * projects changed, then train each as its own parallel stage (see mlciTrain). Nothing to
 * train → the build is NOT_BUILT with a message saying why.
 *
 * Job parameters (rendered by mlci render): BASE_REF, HEAD_REF, PROJECTS (comma list; empty =
 * every affected project), FORCE (train the named or all projects even if unchanged).
 */
def call(Map config = [:]) {
    Map cfg = [
        label   : 'mlci',
        mlci    : 'mlci',
        base    : params.BASE_REF ?: '',
        head    : params.HEAD_REF ?: 'HEAD',
        projects: params.PROJECTS ?: '',
        force   : params.FORCE == true || params.FORCE == 'true',
    ] << config
    Map plan = null
    stage('Plan') {
        node(cfg.label) {
            checkout(scm)
            plan = mlciPlan(mlci: cfg.mlci, base: cfg.base, head: cfg.head, projects: cfg.projects, force: cfg.force)
        }
    }
    List projects = plan.projects
    String commit = plan.commit
    String range = plan.base ? "${plan.base.take(12)}..${commit.take(12)}" : "${commit.take(12)} (first release)"
    for (Object skipped : plan.skipped) {
        if (PlanCheck.isName(skipped)) {
            echo "${skipped}: unchanged in ${range}, skipped (set FORCE to train it anyway)"
        }
    }
    if (projects.isEmpty()) {
        String message = "Nothing to train: no project changed in ${range}"
        currentBuild.displayName = "#${env.BUILD_NUMBER} nothing to train"
        currentBuild.description = message
        echo message
        currentBuild.result = 'NOT_BUILT'
        return
    }
    List names = []
    for (Object entry : projects) {
        names.add(entry.name)
    }
    String shown = names.size() > 3 ? "${names.take(3).join(', ')} +${names.size() - 3}" : names.join(', ')
    currentBuild.displayName = "#${env.BUILD_NUMBER} ${shown} @ ${commit.take(7)}"
    currentBuild.description = "Trains ${names.join(', ')} at ${commit} (${range})"

    Map branches = [:]
    for (int i = 0; i < projects.size(); i++) {
        Map project = projects[i]  // a fresh variable per branch: each closure keeps its own project
        branches[project.name] = {
            mlciTrain(project: project, commit: commit, label: cfg.label, mlci: cfg.mlci,
                      notifySecrets: plan.notify_secrets, hostGpus: plan.host_gpus)
        }
    }
    parallel(branches)
}
