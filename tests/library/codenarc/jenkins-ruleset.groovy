// CodeNarc's Jenkins rule set (CPS interpreter and serialization pitfalls), applied to the shared
// library's *.groovy files and the root Jenkinsfile (the rules default to Jenkinsfile names only).
ruleset {
    ruleset('rulesets/jenkins.xml') {
        'ClassNotSerializable' { applyToFileNames = '*.groovy,Jenkinsfile' }
        'ClosureInGString' { applyToFileNames = '*.groovy,Jenkinsfile' }
        'CpsCallFromNonCpsMethod' { applyToFileNames = '*.groovy,Jenkinsfile' }
        'ExpressionInCpsMethodNotSerializable' { applyToFileNames = '*.groovy,Jenkinsfile' }
        'ForbiddenCallInCpsMethod' { applyToFileNames = '*.groovy,Jenkinsfile' }
        'ObjectOverrideOnlyNonCpsMethods' { applyToFileNames = '*.groovy,Jenkinsfile' }
        'ParameterOrReturnTypeNotSerializable' { applyToFileNames = '*.groovy,Jenkinsfile' }
    }
}
