#!/usr/bin/env bash
# The setup-python stand-in's one step (see action.yml).
set -euo pipefail
fail() { echo "::error::$*" >&2; exit 1; }
version=$IN_VERSION
if [ -z "$version" ] && [ -n "$IN_VERSION_FILE" ]; then
  [ -f "$IN_VERSION_FILE" ] || fail "The specified python version file at: $IN_VERSION_FILE doesn't exist."
  version=$(head -n1 "$IN_VERSION_FILE" | tr -d '[:space:]')
fi
[ -n "$version" ] || fail "this stand-in needs python-version (the real action would fall back to the runner's python)"
[ "$IN_ARCH" = x64 ] || fail "The version '$version' with architecture '$IN_ARCH' was not found for this operating system."
[ -z "$IN_CACHE" ] || fail "this stand-in does not cache (cache: $IN_CACHE); the rendered workflows ask for no cache"
[[ $version =~ ^[0-9]+\.[0-9]+(\.[0-9]+)?$ ]] || fail "The version '$version' with architecture 'x64' was not found for this operating system."
host=$(command -v "python$(echo "$version" | cut -d. -f1,2)" 2>/dev/null || true)
[ -n "$host" ] || fail "The version '$version' with architecture 'x64' was not found for this operating system."
full=$("$host" -c 'import platform; print(platform.python_version())')
case "$full" in "$version" | "$version".*) ;; *) fail "The version '$version' with architecture 'x64' was not found for this operating system." ;; esac
prefix="${RUNNER_TEMP:?}/setup-python-stand-in/$full"
rm -rf "$prefix"
"$host" -m venv "$prefix"
echo "$prefix/bin" >> "$GITHUB_PATH"
{ echo "pythonLocation=$prefix"; echo "Python_ROOT_DIR=$prefix"; } >> "$GITHUB_ENV"
{ echo "python-version=$full"; echo "python-path=$prefix/bin/python"; } >> "$GITHUB_OUTPUT"
echo "Successfully set up CPython ($full) from $host"
