#!/usr/bin/env bash
# CodeNarc's Jenkins rule set over the shared library and the root Jenkinsfile, with the CodeNarc
# jars that npm's npm-groovy-lint ships, run by plain java (no Node at run time). Exit 1 on any
# violation. Usage: scripts/codenarc.sh [BASEDIR] — BASEDIR (default: the repository) holds
# jenkins/library/ and Jenkinsfile. CODENARC_JARS overrides where the jars are.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
base=$(cd "${1:-$repo}" && pwd)
jars=${CODENARC_JARS:-$repo/.tools/npm/node_modules/npm-groovy-lint/lib/java}
codenarc=$(find "$jars" -maxdepth 1 -name 'CodeNarc-*.jar' | head -n 1)
if [[ -z "$codenarc" ]]; then
  echo "CodeNarc jars not found under $jars: run scripts/setup.sh --test (installs npm-groovy-lint)" >&2
  exit 2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
groovy_cp="$jars/groovy/lib/*"
# The Jenkins rules compile each file to semantic analysis: the library's classes and the two
# annotations Jenkins provides (@Library, @NonCPS) must be on the class path.
java -cp "$groovy_cp" org.codehaus.groovy.tools.FileSystemCompiler -d "$work/classes" \
  "$base"/jenkins/library/src/mlci/*.groovy "$repo/tests/library/Library.groovy" \
  "$repo/tests/library/codenarc/NonCPS.groovy" >"$work/compile.log" 2>&1 || {
  cat "$work/compile.log" >&2
  exit 1
}
cp="$codenarc:$(find "$jars" -maxdepth 1 -name 'GMetrics-*.jar' -o -maxdepth 1 -name 'slf4j-api-*.jar' | tr '\n' ':')$groovy_cp:$work/classes"
java -Dlogback.configurationFile="$jars/logback.xml" -cp "$cp" org.codenarc.CodeNarc \
  -basedir="$base" -includes='jenkins/library/**/*.groovy,Jenkinsfile' \
  -rulesetfiles="file:$repo/tests/library/codenarc/jenkins-ruleset.groovy" \
  -report="text:$work/report.txt" >"$work/run.log" 2>&1 || {
  cat "$work/run.log" >&2
  exit 1
}
if grep -q 'Compilation failed' "$work/run.log"; then  # a rule that cannot compile a file checks nothing
  grep -A3 'Compilation failed' "$work/run.log" >&2
  exit 1
fi
if ! grep -q 'Summary: TotalFiles=[1-9][0-9]* FilesWithViolations=0 ' "$work/report.txt"; then
  cat "$work/report.txt" >&2
  exit 1
fi
grep 'Summary:' "$work/report.txt"
