// Stand-in for org.jenkinsci.plugins.workflow.libs.Library, which Jenkins imports into every
// Jenkinsfile: with it on the class path, plain Groovy 2.4 compiles `@Library('mlci') _`.
import java.lang.annotation.Retention
import java.lang.annotation.RetentionPolicy

@Retention(RetentionPolicy.SOURCE)
@interface Library {
    String[] value()
}
