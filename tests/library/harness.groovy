// Runs the shared library's vars under plain Groovy 2.4.21 with Pipeline steps that behave like Jenkins
// where the library depends on it. Usage: groovy harness.groovy LIBRARY_DIR JENKINSFILE REQUEST.json
// → one JSON object on stdout. Request: {annotation, steps (steps.json), compile, evals, scenarios}.
//
// What makes it behave like Jenkins rather than accept anything:
// - every step call is checked against steps.json, the parameters the pinned plugins accept: an
//   unknown or misspelled parameter, a wrong type, a missing body or a step that needs a workspace
//   called outside `node` fails the scenario with a HarnessError (an Error: `catch (e)` cannot hide it);
// - branches of `parallel` are real threads, scheduled cooperatively like CPS: one runs at a time
//   and every step call is a point where the next branch gets its turn, so they interleave;
// - time is virtual (seconds): `sh` rules may take `seconds`, `input` answers `after` seconds,
//   `timeout` expires and interrupts the step running in its body, `abortAt` aborts the build;
//   an interruption is thrown from the running step as FlowInterruptedException, whatever
//   returnStatus says (as durable-task's `sh` does);
// - `lock` grants at once when free, else queues; on release the queue is served in order, the
//   first request that can be satisfied wins (lockable-resources' getNextQueuedContext); `node`
//   waits for a free executor on a node whose labels match;
// - nothing left to run but waiting with no timer to end it is a deadlock: the build would hang
//   forever in Jenkins, here it fails with a HarnessError saying what waited.
// - with `realSh` (the release rehearsal) `sh` runs the script for real in `workdir`, as durable-task
//   runs it (`sh -xe SCRIPT` with a JENKINS_SERVER_COOKIE of its own), bound credentials in its
//   environment and masked in the console; time is then the wall clock.
// - every `node` block gets a workspace of its own, as Jenkins' WorkspaceList#allocate gives one:
//   the job's workspace when no other block holds it, else the first free `<workspace>@2`, `@3`...
//   (jenkinsci/jenkins 00c7c075, core/src/main/java/hudson/slaves/WorkspaceList.java, allocate();
//   each `node` step allocates with a context of its own). With `realSh`, `checkout` makes such a
//   workspace a clone of the job workspace's origin (fetched again on reuse), as the Git plugin would;
//   the job workspace itself is the one the test prepared. Concurrent branches thus never run Git in
//   one checkout, as they never do in Jenkins.
//
// How Jenkins stops a running `sh` (an aborted build, an expired `timeout`), modelled exactly below
// (stopSh / stopDuration), from the sources of the versions current when this was written:
// - The step's stop runs on the pipeline's single CPS VM thread, cut off after 30 s: workflow-cps
//   CpsThread#stop, `Timeout.limit(30, TimeUnit.SECONDS)` around `s.stop(t)` (jenkinsci/workflow-cps-plugin
//   e007b7ff, plugin/src/main/java/org/jenkinsci/plugins/workflow/cps/CpsThread.java lines 309-330).
//   Nothing else of the build runs meanwhile.
// - Aborting the build stops every innermost CPS thread (each parallel branch) one after another, the
//   youngest first, in that one CPS VM task: CpsFlowExecution#interrupt (same commit,
//   .../cps/CpsFlowExecution.java lines 1300-1323); an expired `timeout` cancels its body the same way
//   (CpsBodyExecution#cancel, .../cps/CpsBodyExecution.java lines 247-280).
// - durable-task's stop is `launcher.kill(JENKINS_SERVER_COOKIE=<the step's cookie>)` (jenkinsci/durable-task-plugin
//   8dcdaa8d, src/main/java/org/jenkinsci/plugins/durabletask/FileMonitoringTask.java lines 484-489); the
//   cookie is in the environment of the script's `sh -xe` and everything it starts, not of the wrapper
//   (BourneShellScript.java lines 160-161, 234-262).
// - Jenkins core kills every process carrying the cookie, each with its descendants, children first:
//   SIGTERM (ProcessHandle#destroy), then it polls /proc/PID/status until the process is gone or the
//   deadline — SoftKillWaitSeconds, default 5, one deadline per killRecursively call — passes, and then
//   only asks ProcessKiller extensions, of which core has none: on Linux nothing ever sends SIGKILL
//   (jenkinsci/jenkins ff9430ee, core/src/main/java/hudson/util/ProcessTree.java line 166, lines 753-757
//   Unix#killAll, lines 808-832 UnixProcess#kill, lines 835-852 UnixProcess#killRecursively).
// - The step itself ends when the script has exited, or 20 s after its stop began if it has not
//   ("After 20s process did not stop"), leaving the processes running: DurableTaskStep.REMOTE_TIMEOUT
//   and Execution#stop (jenkinsci/workflow-durable-task-step-plugin 46cb22ff,
//   src/main/java/org/jenkinsci/plugins/workflow/steps/durable_task/DurableTaskStep.java lines 213-215, 505-532)
//   — but the build only goes on once the CPS VM thread is free again.
// So an `mlci run` that ignores SIGTERM is never killed: the build goes on after min(2 × SoftKillWaitSeconds,
// 30 s) (the script's shell and mlci each carry the cookie, each gets its own deadline) with mlci and its
// stage container still running. The library's backstop (`mlci cleanup` in a finally) removes the container.
import groovy.json.JsonOutput
import groovy.json.JsonSlurper

class HarnessError extends Error {  // a test failure, not something the library may catch
    HarnessError(String message) { super(message) }
}

class AbortException extends RuntimeException {  // hudson.AbortException
    AbortException(String message) { super(message) }
}

class FlowInterruptedException extends RuntimeException {  // org.jenkinsci.plugins.workflow.steps
    List causes
    FlowInterruptedException(List causes) {
        super('interrupted: ' + causes*.getClass()*.simpleName.join(', '))
        this.causes = causes
    }
    List getCauses() { causes }
    String getResult() { 'ABORTED' }
}

class Rejection { String user }          // input's Abort button (pipeline-input-step's Rejection)
class ExceededTimeout {}                  // TimeoutStepExecution.ExceededTimeout
class UserInterruption { String user }    // CauseOfInterruption.UserInterruption: the build was aborted

class CurrentBuild {
    static final List ORDER = ['SUCCESS', 'UNSTABLE', 'FAILURE', 'NOT_BUILT', 'ABORTED']
    String result
    String displayName
    String description

    synchronized void setResult(String value) {  // hudson.model.Run#setResult: a result can only get worse
        if (!ORDER.contains(value)) throw new HarnessError("unknown result ${value}")
        if (result == null || ORDER.indexOf(value) > ORDER.indexOf(result)) result = value
    }
    String getCurrentResult() { result ?: 'SUCCESS' }

    // RunWrapper#getBuildCauses(String className) (workflow-support): the causes of that class (or a
    // subclass: listed in the scenario under every class name they are), as JSON objects with _class,
    // shortDescription and, for a user's cause, userId and userName.
    List causes = []
    List getBuildCauses(String className) {
        return causes.findAll { it._class == className || (it.classes ?: []).contains(className) }
            .collect { it.findAll { k, v -> k != 'classes' } }
    }
}

/** One thread of the pipeline program: the main script or a parallel branch. */
class Fiber {
    String name
    Fiber parent
    Thread thread
    boolean done
    Closure ready          // null: runnable; else runnable once it returns true
    Double wakeAt          // runnable once the clock reaches it
    String waitingFor      // what it waits for, for the deadlock message
    Throwable pending      // an interruption to throw at its next step or from its blocked step
    List stages = []
    Map node               // [name:, workspace:] while inside node
    List locks = []
    List secrets = []      // [name: value] maps of bound credentials
    Map env = [:]

    Fiber child(String branch) {
        Fiber f = new Fiber(name: "${name}/${branch}", parent: this, stages: new ArrayList(stages), node: node,
                            locks: new ArrayList(locks), secrets: new ArrayList(secrets), env: new LinkedHashMap(env))
        return f
    }

    boolean runnable(double now) {
        if (done) return false
        if (pending != null) return true
        if (wakeAt != null && wakeAt <= now) return true
        return ready == null ? wakeAt == null : ready()
    }
}

class Pipeline {
    static final double CPS_STOP_LIMIT_S = 30      // CpsThread#stop: Timeout.limit(30, SECONDS)
    static final double REMOTE_TIMEOUT_S = 20      // DurableTaskStep.REMOTE_TIMEOUT
    static final double DEFAULT_SOFT_KILL_S = 5    // ProcessTree: Integer.getInteger("SoftKillWaitSeconds", 5)
    Map scenario
    Map table
    List calls = []
    List log = []
    CurrentBuild currentBuild = new CurrentBuild()
    Map files = [:]
    Map stashes = [:]
    List nodes = []
    Map pools = [:]            // label → resource names
    Set busy = [] as Set       // locked resources
    List queue = []            // waiting lock requests, in request order
    List timers = []
    List fibers = []
    Fiber current
    final Object mon = new Object()
    double now = 0
    long started = System.nanoTime()
    boolean real
    double softKillS           // the node's -DSoftKillWaitSeconds
    boolean aborted
    String harnessError
    int sequence = 0
    Set workspacesInUse = [] as Set  // WorkspaceList#inUse: paths held by a `node` block

    Pipeline(Map scenario, Map table) {
        this.scenario = scenario
        this.table = table
        real = scenario.realSh == true
        softKillS = scenario.softKillWaitS != null ? scenario.softKillWaitS as double : DEFAULT_SOFT_KILL_S
        files.putAll(scenario.files ?: [:])
        currentBuild.causes = scenario.causes ?: []
        pools.putAll(scenario.resources ?: [:])
        if (scenario.nodes) {
            nodes = scenario.nodes.collect { [name: it.name, labels: it.labels, executors: it.executors ?: 2, env: it.env ?: [:], used: 0] }
        } else {
            String name = scenario.nodeName ?: 'gpu-01'
            Map env = [:]
            if (!scenario.containsKey('host') || scenario.host) env.MLCI_HOST = scenario.host ?: name
            nodes = [[name: name, labels: ['mlci', 'docker', 'gpu', name], executors: scenario.executors ?: 2, env: env, used: 0]]
        }
        if (scenario.abortAt != null) {
            timers << [at: scenario.abortAt as double, fire: { abortBuild(scenario.abortBy ?: 'carol') }]
        }
    }

    // ------------------------------------------------------------------ scheduling

    double clock() { real ? (System.nanoTime() - started) / 1e9 : now }

    Fiber me() {
        Fiber f = fibers.find { it.thread == Thread.currentThread() }
        if (f == null) throw new HarnessError('a step was called from a thread the harness did not start')
        return f
    }

    /** Blocks the calling fiber until `ready` holds, the clock reaches `wakeAt`, or it is interrupted. */
    void block(Fiber f, Closure ready, Double wakeAt, String what) {
        synchronized (mon) {
            f.ready = ready
            f.wakeAt = wakeAt
            f.waitingFor = what
            pass(f)
            while (current != f) mon.wait()
            f.ready = null
            f.wakeAt = null
            f.waitingFor = null
            if (f.pending != null) {
                Throwable t = f.pending
                f.pending = null
                throw t
            }
        }
    }

    /** A step boundary: the other branches get their turn, and a pending interruption is thrown here. */
    void yieldPoint(Fiber f) { block(f, null, null, null) }

    /** Hands the baton to the next runnable fiber after `from` (round robin; `from` itself last). */
    void pass(Fiber from) {
        while (true) {
            fireTimers()
            // Interrupted branches are stopped first, the youngest first, one after another
            // (CpsFlowExecution#interrupt); each one's stop runs while it holds the baton.
            Fiber stopping = fibers.reverse().find { !it.done && it.pending != null && it.thread != null }
            if (stopping != null) {
                current = stopping
                mon.notifyAll()
                return
            }
            int start = fibers.indexOf(from)
            for (int i = 1; i <= fibers.size(); i++) {
                Fiber f = fibers[(start + i) % fibers.size()]
                if (f.runnable(clock())) {
                    current = f
                    mon.notifyAll()
                    return
                }
            }
            List waits = fibers.findAll { !it.done && it.wakeAt != null }*.wakeAt + timers*.at
            if (real && fibers.any { !it.done }) {
                mon.wait(20)  // real processes end on their own: poll
                continue
            }
            if (waits) {
                now = Math.max(now, waits.min() as double)
                continue
            }
            List stuck = fibers.findAll { !it.done }
            if (!stuck) {
                current = null
                mon.notifyAll()
                return
            }
            String message = 'deadlock: the build would wait forever: ' + stuck.collect { "${it.name} waits for ${it.waitingFor}" }.join('; ')
            harnessError = harnessError ?: message
            stuck.each { it.pending = new HarnessError(message) }
        }
    }

    void fireTimers() {
        if (real && scenario.abortWhenFile && !aborted && found(scenario.abortWhenFile.toString())) {
            aborted = true
            abortBuild(scenario.abortBy ?: 'carol')
        }
        double t = clock()
        List due = timers.findAll { it.at <= t }
        timers.removeAll(due)
        due.sort { it.at }.each { it.fire() }
    }

    void interrupt(Fiber f, Object cause) {
        if (f.done) return
        if (f.pending == null) f.pending = new FlowInterruptedException([cause])
        fibers.findAll { it.parent == f }.each { interrupt(it, cause) }
    }

    void abortBuild(String user) {
        currentBuild.result = 'ABORTED'  // Executor#interrupt(ABORTED): the result stays ABORTED
        log << "Aborted by ${user}".toString()
        fibers.findAll { !it.done }.each { if (it.pending == null) it.pending = new FlowInterruptedException([new UserInterruption(user: user)]) }
    }

    Fiber start(Fiber f, Closure body, Closure after) {
        f.thread = new Thread({
            synchronized (mon) { while (current != f) mon.wait() }
            try {
                body()
            } catch (Throwable t) {
                after(t)
            } finally {
                synchronized (mon) {
                    f.done = true
                    pass(f)
                }
            }
        })
        fibers << f
        f.thread.setDaemon(true)
        f.thread.start()
        return f
    }

    // ------------------------------------------------------------------ checking arguments

    Map check(String step, List args, Closure body) {
        Map spec = table[step]
        if (spec == null) throw new HarnessError("${step}: no such step in the pinned plugins (steps.json)")
        if (spec.block && body == null) throw new HarnessError("${step}: needs a body { ... } (${spec.source})")
        if (!spec.block && body != null) throw new HarnessError("${step}: takes no body (${spec.source})")
        Map named
        if (args.size() == 1 && args[0] instanceof Map) {
            named = args[0]
        } else if (args.size() == 1 && spec.positional) {
            named = [(spec.positional): args[0]]
        } else if (args.isEmpty()) {
            named = [:]
        } else {
            throw new HarnessError("${step}: called with ${args.size()} positional arguments; use named parameters (${spec.source})")
        }
        named.each { key, value ->
            String type = spec.params[key.toString()]
            if (type == null) {
                throw new HarnessError("${step}: unknown parameter '${key}' — ${spec.source} accepts ${spec.params.keySet().join(', ')}")
            }
            if (!typed(value, type)) {
                throw new HarnessError("${step}: parameter '${key}' must be ${type}, got ${value?.getClass()?.simpleName}: ${value}")
            }
        }
        for (String key : spec.required ?: []) {
            if (named[key] == null) throw new HarnessError("${step}: missing required parameter '${key}' (${spec.source})")
        }
        for (List pair : spec.exclusive ?: []) {
            if (pair.every { named[it] }) throw new HarnessError("${step}: ${pair.join(' and ')} cannot be given together")
        }
        return named
    }

    static boolean typed(Object value, String type) {
        if (value == null) return true
        switch (type) {
            case 'String': return value instanceof String || value instanceof GString
            case 'boolean': return value instanceof Boolean
            case 'int': return (value instanceof Integer || value instanceof Long) && Math.abs(value as long) <= Integer.MAX_VALUE
            case 'TimeUnit': return value.toString() in ['NANOSECONDS', 'MICROSECONDS', 'MILLISECONDS', 'SECONDS', 'MINUTES', 'HOURS', 'DAYS']
            case 'List': return value instanceof List
            case 'Map': return value instanceof Map
            default: return true
        }
    }

    static Object plain(Object value) {
        if (value instanceof Closure) return '<body>'
        if (value instanceof GString) return value.toString()
        if (value instanceof Map) return value.collectEntries { k, v -> [(k.toString()): plain(v)] }
        if (value instanceof List || value instanceof Object[]) return value.collect { plain(it) }
        return value
    }

    Map record(Fiber f, String step, Object args) {
        Map call = [step: step, args: plain(args), stage: f.stages.join(' / '), node: f.node?.name,
                    locked: f.locks ? f.locks.last() : null, secrets: f.secrets.collect { it.name },
                    branch: f.name, time: clock()]
        synchronized (mon) { call.seq = sequence++; calls << call }
        return call
    }

    void needsWorkspace(Fiber f, String step) {
        if (f.node == null) {
            throw new HarnessError("${step}: Required context class hudson.FilePath is missing — Perhaps you forgot to surround the code with a step that provides this, such as: node")
        }
    }

    static long seconds(Map args) {
        long time = args.time as long
        String unit = (args.unit ?: 'MINUTES').toString()
        return java.util.concurrent.TimeUnit.valueOf(unit).toSeconds(time)
    }

    // ------------------------------------------------------------------ steps

    Object invoke(String step, Object[] a) {
        List args = a as List
        Closure body = args && args.last() instanceof Closure ? args.remove(args.size() - 1) : null
        Fiber f = me()
        if (step == 'parallel') return parallel(f, args)
        Map p = check(step, args, body)
        yieldPoint(f)
        switch (step) {
            case 'sh': return sh(f, p)
            case 'echo': record(f, step, p.message); log << mask(f, p.message.toString()); return null
            case 'error': record(f, step, p.message); throw new AbortException(p.message.toString())
            case 'unstable':
                record(f, step, p.message); log << p.message.toString(); currentBuild.result = 'UNSTABLE'; return null
            case 'sleep': record(f, step, p); block(f, null, clock() + seconds(p), 'sleep'); return null
            case 'stage':
                record(f, step, p.name); f.stages << p.name.toString()
                try { return body() } finally { f.stages.remove(f.stages.size() - 1) }
            case 'node': return onNode(f, p, body)
            case 'lock': return lock(f, p, body)
            case 'timeout': return timeout(f, p, body)
            case 'waitUntil': return waitUntil(f, p, body)
            case 'input': return input(f, p)
            case 'readFile':
                record(f, step, p); needsWorkspace(f, step); return readFile(f, p.file.toString())
            case 'writeFile':
                record(f, step, p); needsWorkspace(f, step); writeFile(f, p.file.toString(), p.text.toString()); return null
            case 'fileExists':
                record(f, step, p.file); needsWorkspace(f, step); return exists(f, p.file.toString())
            case 'string': return [credentialsId: p.credentialsId, variable: p.variable]
            case 'withCredentials': return withCredentials(f, p.bindings, body)
            case 'stash':
                record(f, step, p); needsWorkspace(f, step); stashes[p.name] = true; return null
            case 'unstash':
                record(f, step, p); needsWorkspace(f, step)
                if (!stashes[p.name]) throw new AbortException("No such saved stash ‘${p.name}’")
                return null
            case ['checkout', 'archiveArtifacts', 'junit']:
                record(f, step, step == 'checkout' ? p.scm : p); needsWorkspace(f, step)
                if (real && step == 'checkout') checkoutScm(f)
                if (real && step == 'archiveArtifacts' && scenario.archiveDir) archive(f, p)
                return null
            default: throw new HarnessError("no stub for step ${step}")
        }
    }

    String mask(Fiber f, String text) {
        String out = text
        for (Map s : f.secrets) if (s.value) out = out.replace(s.value, '****')
        return out
    }

    Object sh(Fiber f, Map p) {
        needsWorkspace(f, 'sh')
        String script = p.script.toString()
        Map call = record(f, 'sh', [script: script, returnStatus: p.returnStatus ?: false, returnStdout: p.returnStdout ?: false])
        if (real) return realSh(f, p, call)
        Map rule = (scenario.sh ?: []).find { script =~ it.match } ?: [:]
        if (rule.throws) throw new AbortException(rule.throws)
        if (rule.seconds) {
            try {
                block(f, null, clock() + (rule.seconds as double), "sh '${script}'")
            } catch (FlowInterruptedException e) {
                call.interrupted = e.causes*.getClass()*.simpleName
                call.terminatedAt = clock()
                // What the process does after SIGTERM: exits `after` s later (e.g. mlci writing its
                // final record), or, with `ignore`, never (a hung mlci: nothing will kill it).
                Map reaction = rule.onInterrupt ?: [:]
                Double exitsAfter = reaction.ignore ? null : (reaction.after ?: 0) as double
                if (exitsAfter != null) {
                    timers << [at: clock() + exitsAfter, fire: { files.putAll(reaction.files ?: [:]) }]
                }
                double stopping = stopDuration(exitsAfter)
                call.stoppedAt = clock() + stopping
                call.survived = exitsAfter == null || exitsAfter > stopping
                now += stopping  // the CPS VM thread is busy: nothing else of the build runs meanwhile
                throw e
            }
        }
        files.putAll(rule.writes ?: [:])
        int status = rule.status ?: 0
        call.status = status
        if (status != 0 && !p.returnStatus) throw new AbortException("script returned exit code ${status}")
        if (p.returnStatus) return status
        if (!p.returnStdout) return null
        return rule.stdout instanceof String ? rule.stdout : JsonOutput.toJson(rule.stdout)
    }

    /**
     * How long the stop of a stubbed `sh` holds the CPS VM thread, for a process tree like durable-task's:
     * the script's shell and mlci under it, both carrying the cookie; mlci exits `exitsAfter` s after its
     * first SIGTERM (null: never). killRecursively of the first one found waits for mlci until its
     * deadline (SoftKillWaitSeconds), then SIGTERMs the shell (no trap: it dies); the second killRecursively
     * (mlci, its own deadline) waits again. Whichever comes first in the process table, that is
     * min(exitsAfter, 2 × SoftKillWaitSeconds), and never more than the CPS thread's 30 s.
     */
    double stopDuration(Double exitsAfter) {
        double stopping = Math.min(2 * softKillS, CPS_STOP_LIMIT_S)
        return exitsAfter == null ? stopping : Math.min(exitsAfter, stopping)
    }

    Object realSh(Fiber f, Map p, Map call) {
        Map env = new LinkedHashMap(System.getenv())
        env.putAll(scenario.shEnv ?: [:])
        env.putAll(f.env.findAll { k, v -> v != null }.collectEntries { k, v -> [(k): v.toString()] })
        f.secrets.each { env[it.name] = it.value }
        // As durable-task runs a script: written to a file, `sh -xe FILE`, the step's cookie in its environment.
        String cookie = 'durable-' + UUID.randomUUID().toString().replace('-', '')
        env.JENKINS_SERVER_COOKIE = cookie
        File scriptFile = File.createTempFile('mlci-harness-', '.sh')
        scriptFile.deleteOnExit()
        scriptFile.setText(p.script.toString(), 'UTF-8')
        ProcessBuilder pb = new ProcessBuilder(['sh', '-xe', scriptFile.path])
        pb.directory(new File(f.node.workspace.toString()))
        pb.environment().clear()
        pb.environment().putAll(env)
        pb.redirectErrorStream(!p.returnStdout)
        Process proc = pb.start()
        StringBuffer stdout = new StringBuffer()
        // Daemon readers: a process that survives its stop keeps the pipe open, and must not keep the JVM.
        Thread reader = Thread.startDaemon {
            proc.inputStream.eachLine('UTF-8') { line ->
                if (p.returnStdout) stdout.append(line).append('\n')
                else synchronized (mon) { log << mask(f, line) }
            }
        }
        Thread errReader = p.returnStdout ? Thread.startDaemon {
            proc.errorStream.eachLine('UTF-8') { line -> synchronized (mon) { log << mask(f, line) } }
        } : null
        try {
            block(f, { !proc.isAlive() }, null, "sh '${p.script}'")
        } catch (FlowInterruptedException e) {
            call.interrupted = e.causes*.getClass()*.simpleName
            call.terminatedAt = clock()
            Map stopped = stopSh(cookie)
            call.signalled = stopped.signalled
            call.survivors = stopped.survivors
            call.survived = !stopped.survivors.isEmpty()
            // The step ends once the script exited, or REMOTE_TIMEOUT after the stop began.
            double left = call.terminatedAt + REMOTE_TIMEOUT_S - clock()
            if (left > 0) proc.waitFor((long) (left * 1000), java.util.concurrent.TimeUnit.MILLISECONDS)
            call.stoppedAt = clock()
            reader.join(1000)
            throw e
        }
        reader.join()
        errReader?.join()
        int status = proc.exitValue()
        call.status = status
        if (status != 0 && !p.returnStatus) throw new AbortException("script returned exit code ${status}")
        if (p.returnStatus) return status
        return p.returnStdout ? stdout.toString() : null
    }

    /**
     * Jenkins core's ProcessTree.Linux#killAll(JENKINS_SERVER_COOKIE=cookie) on this machine, as the
     * sources cited at the top do it, run while this branch holds the baton (the CPS VM thread) and
     * cut off after 30 s as CpsThread#stop is: SIGTERM only, never SIGKILL.
     * Returns [signalled: pids, survivors: pids still alive afterwards].
     */
    Map stopSh(String cookie) {
        long limit = System.nanoTime() + (long) (CPS_STOP_LIMIT_S * 1e9)
        // The snapshot: a HashMap keyed by pid, filled in /proc's order, iterated as Jenkins iterates its own.
        Map<Integer, Integer> parents = new HashMap<>()
        Map<Integer, Boolean> marked = new HashMap<>()
        for (File dir : new File('/proc').listFiles()) {
            if (!(dir.name ==~ /[0-9]+/)) continue
            try {
                String status = new File(dir, 'status').getText('UTF-8')
                int ppid = Integer.parseInt((status =~ /(?m)^PPid:\s*([0-9]+)/)[0][1])
                byte[] environ = new File(dir, 'environ').bytes
                int pid = Integer.parseInt(dir.name)
                parents.put(pid, ppid)
                marked.put(pid, new String(environ, 'UTF-8').split('\u0000').contains('JENKINS_SERVER_COOKIE=' + cookie))
            } catch (Exception ignored) {
                // gone since the listing, or not ours to read
            }
        }
        List signalled = []
        try {
            for (Integer pid : parents.keySet()) {
                if (marked[pid]) killRecursively(pid, parents, System.nanoTime() + (long) (softKillS * 1e9), limit, signalled)
            }
        } catch (InterruptedException cutOff) {
            // Timeout.limit interrupted the CPS VM thread: the rest is never signalled
        }
        List survivors = signalled.unique(false).findAll { new File("/proc/${it}/status").exists() }
        return [signalled: signalled.unique(false), survivors: survivors]
    }

    /** UnixProcess#killRecursively(deadline): the children first, then the process, one deadline for all. */
    void killRecursively(Integer pid, Map<Integer, Integer> parents, long deadline, long limit, List signalled) {
        for (Integer child : parents.keySet()) {
            if (parents[child] == pid) killRecursively(child, parents, deadline, limit, signalled)
        }
        // UnixProcess#kill(deadline): SIGTERM, then wait for /proc/PID/status to go (a zombie still has one)
        ProcessHandle.of(pid as long).ifPresent { it.destroy() }
        signalled << pid
        long sleep = 10
        File status = new File("/proc/${pid}/status")
        while (true) {
            if (!status.exists()) break
            if (System.nanoTime() >= limit) throw new InterruptedException('CpsThread#stop: 30 s')
            Thread.sleep(Math.max(1L, Math.min(sleep, (long) ((limit - System.nanoTime()) / 1e6))))
            sleep = Math.min(sleep * 2, 1000)
            if (System.nanoTime() >= deadline) break
        }
    }

    /**
     * Whether a file matching `glob` exists: the rehearsal's abort trigger. A relative glob is looked
     * for under the workspace's .mlci, an absolute one under its fixed leading directories.
     */
    boolean found(String glob) {
        java.nio.file.Path base = new File(scenario.workdir.toString()).toPath()
        def matcher = java.nio.file.FileSystems.getDefault().getPathMatcher('glob:' + glob)
        boolean absolute = glob.startsWith('/')
        String fixed = glob.indexOf('*') < 0 ? glob : glob.substring(0, glob.indexOf('*'))
        java.nio.file.Path top = absolute ? new File(fixed.substring(0, fixed.lastIndexOf('/') + 1)).toPath() : base.resolve('.mlci')
        if (!top.toFile().isDirectory()) return false
        def stream = java.nio.file.Files.walk(top, 8)
        try {
            for (java.nio.file.Path path : stream.iterator()) {
                if (matcher.matches(absolute ? path : base.relativize(path))) return true
            }
            return false
        } catch (Exception ignored) {
            return false  // a run directory removed while walking
        } finally {
            stream.close()
        }
    }

    /** archiveArtifacts for real: copies what `artifacts` matches in the block's workspace, minus `excludes`, to archiveDir. */
    void archive(Fiber f, Map p) {
        java.nio.file.Path base = new File(f.node.workspace.toString()).toPath()
        java.nio.file.Path into = new File(scenario.archiveDir.toString()).toPath()
        def fs = java.nio.file.FileSystems.getDefault()
        List includes = p.artifacts.toString().split(',').collect { fs.getPathMatcher('glob:' + it.trim()) }
        List excludes = (p.excludes ?: '').toString().split(',').findAll { it.trim() }.collect { fs.getPathMatcher('glob:' + it.trim()) }
        List copied = []
        def stream = java.nio.file.Files.walk(base)
        try {
            for (java.nio.file.Path path : stream.iterator()) {
                java.nio.file.Path rel = base.relativize(path)
                if (java.nio.file.Files.isRegularFile(path, java.nio.file.LinkOption.NOFOLLOW_LINKS) &&
                    includes.any { it.matches(rel) } && !excludes.any { it.matches(rel) }) {
                    copied << rel
                }
            }
        } finally {
            stream.close()
        }
        if (copied.isEmpty() && !p.allowEmptyArchive) throw new AbortException("No artifacts found that match the file pattern \"${p.artifacts}\"")
        copied.each { rel ->
            java.nio.file.Path target = into.resolve(rel)
            java.nio.file.Files.createDirectories(target.parent)
            java.nio.file.Files.copy(base.resolve(rel), target, java.nio.file.StandardCopyOption.REPLACE_EXISTING)
        }
    }

    /** A step's path: relative to the workspace, or absolute as it is (FilePath#child). */
    File workspaceFile(Fiber f, String path) {
        return path.startsWith('/') ? new File(path) : new File(f.node.workspace.toString(), path)
    }

    /** WorkspaceList#allocate: the job's workspace if no `node` block holds it, else the first free `@N`. */
    String allocateWorkspace() {
        String base = (scenario.workdir ?: 'workspace').toString()
        synchronized (mon) {
            for (int i = 1; ; i++) {
                String candidate = i == 1 ? base : "${base}@${i}".toString()
                if (workspacesInUse.add(candidate)) return candidate
            }
        }
    }

    /**
     * `checkout scm` for real in a workspace other than the prepared one: a clone of the prepared
     * workspace's origin, or a fetch where an earlier build left one (the library checks out the
     * planned commit itself).
     */
    void checkoutScm(Fiber f) {
        String ws = f.node.workspace.toString()
        String base = scenario.workdir.toString()
        if (ws == base) return
        if (new File(ws, '.git').exists()) {
            runGit(base, ['git', '-C', ws, 'fetch', '-q', '--prune', 'origin'])
        } else {
            String origin = runGit(base, ['git', 'remote', 'get-url', 'origin']).trim()
            runGit(base, ['git', 'clone', '-q', origin, ws])
        }
    }

    String runGit(String dir, List command) {
        ProcessBuilder pb = new ProcessBuilder(command)
        pb.directory(new File(dir))
        pb.redirectErrorStream(true)
        Process proc = pb.start()
        String out = proc.inputStream.getText('UTF-8')
        if (proc.waitFor() != 0) throw new AbortException("${command.join(' ')} failed: ${out}")
        return out
    }

    /** writeFile: into the workspace for real (parent directories made, as FilePath#write does), else kept. */
    void writeFile(Fiber f, String path, String text) {
        if (!real) {
            files[path] = text
            return
        }
        File file = workspaceFile(f, path)
        file.parentFile.mkdirs()
        file.setText(text, 'UTF-8')
    }

    boolean exists(Fiber f, String path) {
        return real ? workspaceFile(f, path).exists() : files.containsKey(path)
    }

    String readFile(Fiber f, String path) {
        if (real) {
            File file = workspaceFile(f, path)
            if (!file.exists()) throw new java.nio.file.NoSuchFileException(file.path)
            return file.getText('UTF-8')
        }
        Object content = files[path]
        if (content == null) throw new java.nio.file.NoSuchFileException(path)
        return content instanceof String ? content : JsonOutput.toJson(content)
    }

    static boolean matches(Map node, String label) {
        if (!label) return true
        // every node also carries its own name as a label (Node#getSelfLabel)
        return label.split(/\|\|/).any { alt -> alt.split('&&').every { node.labels.contains(it.trim()) || node.name == it.trim() } }
    }

    Object onNode(Fiber f, Map p, Closure body) {
        record(f, 'node', p.label)
        String label = p.label?.toString()
        Map granted = null
        if (!nodes.any { matches(it, label) }) log << "There are no nodes with the label ‘${label}’".toString()
        block(f, {
            granted = nodes.find { matches(it, label) && it.used < it.executors }
            if (granted != null) granted.used++
            return granted != null
        }, null, "an executor on a node labelled '${label}'")
        Map savedNode = f.node
        Map savedEnv = new LinkedHashMap(f.env)
        String workspace = allocateWorkspace()
        f.node = [name: granted.name, workspace: workspace]
        f.env.NODE_NAME = granted.name
        f.env.putAll(granted.env)
        try {
            return body()
        } finally {
            synchronized (mon) { granted.used--; workspacesInUse.remove(workspace) }
            f.node = savedNode
            f.env.clear()
            f.env.putAll(savedEnv)
        }
    }

    /** Resources a request can take now, or null (LockableResourcesManager#getAvailableResources). */
    List available(Map req) {
        if (req.resource) return busy.contains(req.resource) ? null : [req.resource]
        List pool = pools[req.label] ?: []
        List free = pool.findAll { !busy.contains(it) }
        int quantity = req.quantity ?: pool.size()  // no quantity: every resource with the label
        return free.size() >= quantity && quantity > 0 ? free.take(quantity) : null
    }

    Object lock(Fiber f, Map p, Closure body) {
        record(f, 'lock', p)
        if (p.label && !pools.containsKey(p.label)) {
            throw new AbortException("The label ${p.label} does not exist in the lockable resources")
        }
        Map req = [fiber: f, label: p.label, resource: p.resource, quantity: p.quantity ?: 0, granted: null]
        synchronized (mon) {
            List now = available(req)
            if (now != null) {
                req.granted = now
                busy.addAll(now)
            } else {
                log << "[${p.label ?: p.resource}] is locked, waiting...".toString()
                if (p.inversePrecedence) queue.add(0, req) else queue << req
            }
        }
        try {
            block(f, { req.granted != null }, null, "lock ${p.label ?: p.resource} x${req.quantity ?: 'all'}")
        } catch (Throwable t) {
            synchronized (mon) {
                queue.remove(req)
                if (req.granted) release(req.granted)
            }
            throw t
        }
        f.locks << [label: p.label, quantity: p.quantity, resources: req.granted]
        if (p.variable) f.env[p.variable] = req.granted.join(',')
        try {
            return body()
        } finally {
            f.locks.remove(f.locks.size() - 1)
            if (p.variable) f.env.remove(p.variable)
            synchronized (mon) { release(req.granted) }
        }
    }

    void release(List resources) {
        busy.removeAll(resources)
        boolean served = true
        while (served) {  // the first queued request that can be satisfied now wins, in queue order
            served = false
            for (Map req : new ArrayList(queue)) {
                List now = available(req)
                if (now != null) {
                    req.granted = now
                    busy.addAll(now)
                    queue.remove(req)
                    served = true
                    break
                }
            }
        }
    }

    Object timeout(Fiber f, Map p, Closure body) {
        record(f, 'timeout', p)
        // The rehearsal shortens chosen limits (e.g. a 4200 s time limit to 8 s): an explicit map, by value.
        Object shortened = (scenario.timeoutOverrides ?: [:])[String.valueOf(seconds(p))]
        Map timer = [at: clock() + (shortened != null ? shortened as double : seconds(p)), fired: false]
        timer.fire = { timer.fired = true; interrupt(f, new ExceededTimeout()) }
        synchronized (mon) { timers << timer }
        try {
            return body()
        } finally {
            synchronized (mon) {
                timers.remove(timer)
                if (!timer.fired && f.pending instanceof FlowInterruptedException && f.pending.causes[0] instanceof ExceededTimeout) {
                    f.pending = null
                }
            }
        }
    }

    Object waitUntil(Fiber f, Map p, Closure body) {
        record(f, 'waitUntil', p)
        double delay = (p.initialRecurrencePeriod ?: 250) / 1000.0
        while (!body()) {
            block(f, null, clock() + delay, 'waitUntil')
            delay = Math.min(delay * 1.2, 15)
        }
        return null
    }

    Object parallel(Fiber f, List args) {
        if (args.size() != 1 || !(args[0] instanceof Map)) throw new HarnessError('parallel: takes one map of branch name to closure')
        Map branches = new LinkedHashMap(args[0])
        Object failFast = branches.remove('failFast')
        if (failFast != null && !(failFast instanceof Boolean)) throw new HarnessError('parallel: failFast must be boolean')
        branches.each { k, v -> if (!(v instanceof Closure)) throw new HarnessError("parallel: branch ${k} is not a closure") }
        record(f, 'parallel', branches.keySet() as List)
        yieldPoint(f)
        Map errors = [:]
        List children = []
        synchronized (mon) {
            branches.each { name, body ->
                Fiber child = f.child(name.toString())
                children << child
                start(child, body, { Throwable t -> errors[name] = t })
            }
        }
        Throwable interruption = null
        while (true) {
            try {
                block(f, { children.every { it.done } }, null, 'its parallel branches')
                break
            } catch (FlowInterruptedException e) {
                interruption = interruption ?: e  // the branches got it too: wait for them to finish
            }
        }
        Throwable harness = errors.values().find { it instanceof Error }
        if (harness) throw harness
        if (interruption) throw interruption
        if (errors) throw errors.values().first()
        return null
    }

    Object input(Fiber f, Map p) {
        Map call = record(f, 'input', p)
        String project = f.stages ? f.stages.last() : ''
        Object given = (scenario.input ?: [:])[project] ?: 'approve'
        Map answer = given instanceof Map ? given : [decision: given]
        String user = answer.user ?: scenario.approver ?: 'alice'
        List submitters = p.submitter ? p.submitter.toString().split(',')*.trim() : null
        List groups = (scenario.groups ?: [:])[user] ?: []  // the local security realm has no groups
        boolean allowed = submitters == null || submitters.contains(user) || groups.any { submitters.contains(it) }
        if (!allowed && answer.decision in ['approve', 'reject']) {
            call.refused = "${user} is not among the submitters ${p.submitter}".toString()
            block(f, { false }, null, "input '${p.message}' (only ${p.submitter} may answer)")
        }
        switch (answer.decision) {
            case 'approve':
                block(f, null, clock() + (answer.after ?: 1), 'approval')
                return p.submitterParameter ? user : null
            case 'reject':
                block(f, null, clock() + (answer.after ?: 1), 'approval')
                throw new FlowInterruptedException([new Rejection(user: user)])
            case 'never':  // nobody answers: only a timeout or an abort ends the wait
                block(f, { false }, null, "input '${p.message}'")
                return null
            case 'abort':  // someone aborts the whole build while it waits
                synchronized (mon) { timers << [at: clock() + (answer.after ?: 1), fire: { abortBuild(user) }] }
                block(f, { false }, null, "input '${p.message}'")
                return null
            default: throw new HarnessError("unknown input decision ${answer.decision}")
        }
    }

    Object withCredentials(Fiber f, List bindings, Closure body) {
        record(f, 'withCredentials', bindings)
        Map store = scenario.credentials instanceof Map ? scenario.credentials :
            (scenario.credentials ?: []).collectEntries { [(it): "secret-value-of-${it}".toString()] }
        List missing = bindings.findAll { !store.containsKey(it.credentialsId) }
        if (missing) throw new AbortException("Could not find credentials entry with ID '${missing[0].credentialsId}'")
        List bound = bindings.collect { [name: it.variable, value: store[it.credentialsId]] }
        f.secrets.addAll(bound)
        try { return body() } finally { f.secrets.removeAll(bound) }
    }
}

String libraryDir = args[0]
File jenkinsfile = new File(args[1])
Map request = new JsonSlurper().parse(new File(args[2]))
Map table = new JsonSlurper().parse(new File(request.steps))

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
List steps = table.keySet().findAll { !it.startsWith('_') } as List

for (Map scenario : request.scenarios ?: []) {
    Pipeline pipeline = new Pipeline(scenario, table)
    Fiber main = new Fiber(name: 'main')
    main.env = [BUILD_NUMBER: String.valueOf(scenario.build ?: 7), JOB_NAME: scenario.job ?: 'mlci-release',
                BUILD_URL: "http://jenkins.test/job/${scenario.job ?: 'mlci-release'}/${scenario.build ?: 7}/".toString()] +
               (scenario.env ?: [:])
    Binding binding = new Binding()
    steps.each { name -> binding.setVariable(name, { Object[] a -> pipeline.invoke(name, a) }) }
    binding.setVariable('env', new EnvProxy(pipeline: pipeline))
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
    } else if (scenario.script) {  // a pipeline of its own (the harness' own tests)
        entry = loader.parseClass(scenario.script.toString(), 'Scenario.groovy').newInstance()
        entry.binding = binding
    }
    String error = null
    String errorType = null
    pipeline.current = main
    pipeline.start(main, {
        if (entry != null) entry.run() else binding.getVariable(scenario.step).call(scenario.args ?: [:])
    }, { Throwable e ->
        if (e instanceof HarnessError) {
            pipeline.harnessError = pipeline.harnessError ?: e.message
        } else if (e instanceof FlowInterruptedException) {
            pipeline.currentBuild.result = 'ABORTED'
        } else {
            pipeline.currentBuild.result = 'FAILURE'
        }
        error = e.message
        errorType = e.getClass().simpleName
    })
    main.thread.join()
    pipeline.fibers.each { it.thread.join(10000) }
    output.scenarios[scenario.name] = [
        result      : pipeline.currentBuild.currentResult,
        error       : error,
        errorType   : errorType,
        harnessError: pipeline.harnessError,
        calls       : pipeline.calls,
        log         : pipeline.log,
        time        : pipeline.clock(),
        displayName : pipeline.currentBuild.displayName?.toString(),
        description : pipeline.currentBuild.description?.toString(),
    ]
}
println JsonOutput.toJson(output)

/** `env`: each fiber sees its own node's and lock's variables, like Jenkins' per-branch environment. */
class EnvProxy {
    Pipeline pipeline
    Object getProperty(String name) { this.@pipeline.me().env[name] }
    void setProperty(String name, Object value) { this.@pipeline.me().env[name] = value?.toString() }
}
