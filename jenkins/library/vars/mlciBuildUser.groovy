import mlci.EnvCheck

/**
 * Who started this build, for `mlci promote --by` and the notifications: the Jenkins user id of a
 * person's (or the API user's) build, `webhook` for a build the webhook's deploy route started, else
 * `jenkins`. Only ids mlci's promotion log accepts come back.
 */
String call() {
    for (Object cause : currentBuild.getBuildCauses('hudson.model.Cause$UserIdCause')) {
        if (cause instanceof Map && EnvCheck.isWho(cause.userId)) {
            return cause.userId
        }
    }
    if (!currentBuild.getBuildCauses('org.jenkinsci.plugins.gwt.GenericCause').isEmpty()) {
        return 'webhook'
    }
    return 'jenkins'
}
