// Stand-in for Jenkins' com.cloudbees.groovy.cps.NonCPS, so CodeNarc's Jenkins rules (which compile
// the code to the semantic-analysis phase) can resolve it.
package com.cloudbees.groovy.cps

import java.lang.annotation.ElementType
import java.lang.annotation.Retention
import java.lang.annotation.RetentionPolicy
import java.lang.annotation.Target

@Retention(RetentionPolicy.RUNTIME)
@Target([ElementType.METHOD])
@interface NonCPS {
}
