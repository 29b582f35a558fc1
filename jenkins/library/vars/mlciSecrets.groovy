import mlci.PlanCheck

/**
 * Runs `body` with each named secret bound as an environment variable of the same name (the
 * Jenkins credential id is the secret's name, as `mlci render` creates them); mlci reads secrets
 * from the environment, and Jenkins masks their values in the log. No names: just runs `body`.
 */
def call(List names, Closure body) {
    List bindings = []
    for (Object name : names ?: []) {
        if (!PlanCheck.secretNames([name])) {
            error("mlciSecrets: ${name} is not a secret name (UPPER_SNAKE_CASE)")
        }
        bindings.add(string(credentialsId: name, variable: name))
    }
    if (bindings.isEmpty()) {
        return body()
    }
    return withCredentials(bindings) {
        body()
    }
}
