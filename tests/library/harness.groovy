// Runs the shared library's vars under plain Groovy 2.4.21 with every pipeline step stubbed.
// Usage: groovy harness.groovy LIBRARY_DIR JENKINSFILE REQUEST.json  → one JSON object on stdout.
// Request: {annotation: Library.groovy, compile: [files], evals: [{class, method, args}], scenarios: [...]}
// (built by harness.py).
// Each scenario runs in a fresh binding; every step call is recorded with the stage, node and
// lock it ran in. Step semantics follow Jenkins where the library depends on them: sh throws on
// a non-zero exit unless returnStatus, currentBuild.result only gets worse, parallel runs every
// branch and then rethrows the first failure, an uncaught exception fails the build.
import groovy.json.JsonOutput
import groovy.json.JsonSlurper

class AbortException extends RuntimeException {  // hudson.AbortException
    AbortException(String message) { super(message) }
}

class FlowInterruptedException extends RuntimeException {
    List causes
    FlowInterruptedException(List causes) { super('interrupted: ' + causes*.getClass()*.simpleName.join(', ')); this.causes = causes }
}

class Rejection { String user }          // input's Abort/reject button
class ExceededTimeout {}                  // the timeout step expired
class UserInterruption { String user }    // the whole build was aborted

class CurrentBuild {
    static final List ORDER = ['SUCCESS', 'UNSTABLE', 'FAILURE', 'NOT_BUILT', 'ABORTED']
    String result
    String displayName
    String description

    void setResult(String value) {  // hudson.model.Run#setResult: a result can only get worse
        if (!ORDER.contains(value)) throw new IllegalArgumentException("unknown result ${value}")
        if (result == null || ORDER.indexOf(value) > ORDER.indexOf(result)) result = value
    }
    String getCurrentResult() { result ?: 'SUCCESS' }
}

class Pipeline {
    Map scenario
    List calls = []
    List log = []
    List stages = []
    List locks = []
    List secrets = []
    String node
    Map env
    CurrentBuild currentBuild = new CurrentBuild()
    Set busy = [] as Set

    Pipeline(Map scenario) {
        this.scenario = scenario
        env = [BUILD_NUMBER: String.valueOf(scenario.build ?: 7), JOB_NAME: 'mlci-release'] + (scenario.env ?: [:])
    }

    static Object plain(Object value) {
        if (value instanceof Closure) return '<body>'
        if (value instanceof GString) return value.toString()
        if (value instanceof Map) return value.collectEntries { k, v -> [(k.toString()): plain(v)] }
        if (value instanceof List || value instanceof Object[]) return value.collect { plain(it) }
        return value
    }

    Map record(String step, Object args) {
        Map call = [step: step, args: plain(args), stage: stages.join(' / '), node: node,
                    locked: locks ? locks.last() : null, secrets: secrets.flatten()]
        calls << call
        return call
    }

    Object invoke(String step, Object[] a) {
        List args = a as List
        Closure body = args && args.last() instanceof Closure ? args.remove(args.size() - 1) : null
        Object first = args ? args[0] : null
        switch (step) {
            case 'sh': return sh(first instanceof Map ? first : [script: first])
            case 'echo': record(step, first); log << first.toString(); return null
            case 'error': record(step, first); throw new AbortException(first.toString())
            case 'unstable': record(step, first); log << first.toString(); currentBuild.result = 'UNSTABLE'; return null
            case 'stage':
                record(step, first); stages << first.toString()
                try { return body() } finally { stages.remove(stages.size() - 1) }
            case 'node': return onNode(first, body)
            case 'lock': return lock(first, body)
            case 'timeout': record(step, first); return body()
            case 'parallel': return parallel(first)
            case 'input': return input(first)
            case 'readFile': record(step, first); return readFile(first instanceof Map ? first.file : first)
            case 'string': return [credentialsId: first.credentialsId, variable: first.variable]
            case 'withCredentials': return withCredentials(first, body)
            case 'fileExists': record(step, first); return (scenario.files ?: [:]).containsKey(first.toString())
            case ['checkout', 'archiveArtifacts', 'junit']: record(step, first); return null
            default: throw new IllegalStateException("no stub for step ${step}")
        }
    }

    Object sh(Map args) {
        String script = args.script.toString()
        Map call = record('sh', [script: script, returnStatus: args.returnStatus ?: false,
                                 returnStdout: args.returnStdout ?: false])
        Map rule = (scenario.sh ?: []).find { script =~ it.match } ?: [:]
        if (rule.throws) throw new AbortException(rule.throws)
        int status = rule.status ?: 0
        call.status = status
        if (status != 0 && !args.returnStatus) throw new AbortException("script returned exit code ${status}")
        if (args.returnStatus) return status
        return args.returnStdout ? (rule.stdout instanceof String ? rule.stdout : JsonOutput.toJson(rule.stdout)) : null
    }

    Object onNode(Object label, Closure body) {
        record('node', label)
        String saved = node
        Map savedEnv = new LinkedHashMap(env)
        node = scenario.nodeName ?: 'gpu-01'
        env.NODE_NAME = node
        if (!scenario.containsKey('host') || scenario.host) env.MLCI_HOST = scenario.host ?: node
        try { return body() } finally { node = saved; env.clear(); env.putAll(savedEnv) }
    }

    Object lock(Map args, Closure body) {
        record('lock', args)
        List pool = (scenario.resources ?: [:])[args.label] ?: []
        List free = pool.findAll { !busy.contains(it) }
        int quantity = args.quantity ?: pool.size()  // no quantity: every resource with the label
        if (pool.isEmpty() || free.size() < quantity) throw new IllegalStateException("lock on ${args.label} x${quantity} would wait forever")
        List granted = free.take(quantity)
        busy.addAll(granted)
        locks << [label: args.label, quantity: args.quantity, resources: granted]
        env[args.variable] = granted.join(',')
        try { return body() } finally { locks.remove(locks.size() - 1); busy.removeAll(granted); env.remove(args.variable) }
    }

    Object parallel(Map branches) {
        record('parallel', branches.keySet() as List)
        Throwable first = null
        branches.each { name, body ->
            try { body() } catch (Throwable e) { if (first == null) first = e }
        }
        if (first != null) throw first
        return null
    }

    Object input(Map args) {
        record('input', args)
        String project = stages ? stages.last() : ''
        String decision = (scenario.input ?: [:])[project] ?: 'approve'
        switch (decision) {
            case 'approve': return scenario.approver ?: 'alice'
            case 'reject': throw new FlowInterruptedException([new Rejection(user: 'bob')])
            case 'timeout': throw new FlowInterruptedException([new ExceededTimeout()])
            case 'abort': throw new FlowInterruptedException([new UserInterruption(user: 'carol')])
            default: throw new IllegalStateException("unknown input decision ${decision}")
        }
    }

    String readFile(Object path) {
        Object content = (scenario.files ?: [:])[path.toString()]
        if (content == null) throw new AbortException("${path} does not exist")
        return content instanceof String ? content : JsonOutput.toJson(content)
    }

    Object withCredentials(List bindings, Closure body) {
        record('withCredentials', bindings)
        List missing = bindings.findAll { !(scenario.credentials ?: []).contains(it.credentialsId) }
        if (missing) throw new AbortException("Could not find credentials entry with ID '${missing[0].credentialsId}'")
        secrets << bindings*.variable
        try { return body() } finally { secrets.remove(secrets.size() - 1) }
    }
}

String libraryDir = args[0]
File jenkinsfile = new File(args[1])
Map request = new JsonSlurper().parse(new File(args[2]))

GroovyClassLoader loaderWith(String libraryDir, String annotationStub) {
    def loader = new GroovyClassLoader(this.class.classLoader)
    loader.parseClass(new File(annotationStub))
    loader.addClasspath(new File(libraryDir, 'src').path)
    return loader
}

Map output = [compile: [:], evals: [], scenarios: [:]]
for (String path : request.compile ?: []) {
    try {
        def loader = loaderWith(libraryDir, request.annotation)
        File file = new File(path)
        loader.parseClass(file.text, file.name == 'Jenkinsfile' ? 'Jenkinsfile' : file.name)
        output.compile[path] = null
    } catch (Throwable e) {
        output.compile[path] = e.message
    }
}

def loader = loaderWith(libraryDir, request.annotation)
for (Map e : request.evals ?: []) {
    try {
        output.evals << [value: loader.loadClass(e['class']).invokeMethod(e.method, e.args as Object[])]
    } catch (Throwable t) {
        Throwable cause = t.cause ?: t
        output.evals << [error: cause.getClass().simpleName + ': ' + cause.message]
    }
}

Map varClasses = [:]
new File(libraryDir, 'vars').eachFileMatch(~/.*\.groovy/) { f -> varClasses[f.name - '.groovy'] = loader.parseClass(f) }
Class jenkinsfileClass = loader.parseClass(jenkinsfile.text, 'Jenkinsfile')
List steps = ['sh', 'echo', 'error', 'unstable', 'stage', 'node', 'lock', 'timeout', 'parallel', 'input', 'readFile',
              'fileExists', 'checkout', 'archiveArtifacts', 'junit', 'string', 'withCredentials']

for (Map scenario : request.scenarios ?: []) {
    Pipeline pipeline = new Pipeline(scenario)
    Binding binding = new Binding()
    steps.each { name -> binding.setVariable(name, { Object[] a -> pipeline.invoke(name, a) }) }
    binding.setVariable('env', pipeline.env)
    binding.setVariable('params', scenario.params ?: [:])
    binding.setVariable('currentBuild', pipeline.currentBuild)
    binding.setVariable('scm', 'scm')
    varClasses.each { name, cls ->
        Script script = cls.newInstance()
        script.binding = binding
        binding.setVariable(name, { Object[] a -> script.invokeMethod('call', a) })
    }
    Script entry
    if (scenario.step == 'Jenkinsfile') {
        entry = jenkinsfileClass.newInstance()
        entry.binding = binding
    }
    String error = null
    String errorType = null
    try {
        if (entry != null) entry.run() else binding.getVariable(scenario.step).call(scenario.args ?: [:])
    } catch (FlowInterruptedException e) {
        pipeline.currentBuild.result = 'ABORTED'; error = e.message; errorType = 'FlowInterruptedException'
    } catch (Throwable e) {
        pipeline.currentBuild.result = 'FAILURE'; error = e.message; errorType = e.getClass().simpleName
    }
    output.scenarios[scenario.name] = [
        result     : pipeline.currentBuild.currentResult,
        error      : error,
        errorType  : errorType,
        calls      : pipeline.calls,
        log        : pipeline.log,
        displayName: pipeline.currentBuild.displayName?.toString(),
        description: pipeline.currentBuild.description?.toString(),
    ]
}
println JsonOutput.toJson(output)
