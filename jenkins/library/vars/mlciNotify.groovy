import mlci.Shell

/**
 * `mlci notify --event=EVENT PROJECT JOB_ID` about a run, or, with `env:`, `mlci notify --event=EVENT
 * PROJECT --env=ENV [--version=V] [--by=WHO]` about a promotion or deployment; the notification secrets
 * (`secrets`) bound. A notification never fails the build: a non-zero exit or an error only prints a
 * warning. Only an interruption (build aborted) is passed on.
 */
def call(Map config) {
    Map cfg = [mlci: 'mlci'] << config
    String command = "${Shell.quote(cfg.mlci)} notify --event=${Shell.quote(cfg.event)} ${Shell.quote(cfg.project)}"
    if (cfg.env != null) {
        command += " --env=${Shell.quote(cfg.env)}"
        if (cfg.version) {
            command += " --version=${Shell.quote(cfg.version)}"
        }
        if (cfg.by) {
            command += " --by=${Shell.quote(cfg.by)}"
        }
    } else {
        command += " ${Shell.quote(cfg.jobId)}"
    }
    try {
        int status = mlciSecrets(cfg.secrets) {
            sh(script: command, returnStatus: true, label: "notify ${cfg.event}")
        }
        if (status != 0) {
            echo "WARNING: mlci notify --event=${cfg.event} exited ${status}; the build goes on"
        }
    } catch (e) {
        if (e.getClass().getSimpleName() == 'FlowInterruptedException') {
            throw e
        }
        echo "WARNING: mlci notify --event=${cfg.event} failed (${e.getMessage()}); the build goes on"
    }
}
