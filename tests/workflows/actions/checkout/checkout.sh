#!/usr/bin/env bash
# The checkout stand-in's one step (see action.yml).
set -euo pipefail
fail() { echo "::error::$*" >&2; exit 1; }
[[ $IN_REPOSITORY =~ ^[^/]+/[^/]+$ ]] || fail "Invalid repository '$IN_REPOSITORY'. Expected format {owner}/{repo}."
[ -n "$IN_TOKEN" ] || fail "Input required and not supplied: token"
workspace=$(realpath "$GITHUB_WORKSPACE")
target=$(realpath -m "$workspace/$IN_PATH")
case "$target/" in "$workspace"/*) ;; *) fail "Repository path '$target' is not under '$workspace'" ;; esac
remote="${STANDIN_GIT_ROOT:?the test sets STANDIN_GIT_ROOT}/$IN_REPOSITORY.git"
[ -d "$remote" ] || fail "repository $IN_REPOSITORY not found (the stand-in serves $STANDIN_GIT_ROOT)"
# fetch-depth: a number; NaN or negative means the whole history (0), as in the real action
depth=$IN_FETCH_DEPTH
[[ $depth =~ ^[0-9]+$ ]] || depth=0
ref=$IN_REF
if [ -z "$ref" ]; then ref=$EVENT_SHA; fi
[ -n "$ref" ] || fail "no ref to check out"
mkdir -p "$target"
find "$target" -mindepth 1 -maxdepth 1 -exec rm -rf {} +  # the real action empties a non-matching directory
git -C "$target" init -q
git -C "$target" remote add origin "file://$remote"
fetch=(git -C "$target" -c protocol.version=2 fetch -q --no-tags --prune)
if [ "$depth" -gt 0 ]; then fetch+=("--depth=$depth"); fi
if [[ $ref =~ ^[0-9a-fA-F]{40}$ ]]; then
  "${fetch[@]}" origin "+$ref:refs/remotes/origin/checkout"
else
  case "$ref" in refs/*) ;; *) ref="refs/heads/$ref" ;; esac
  "${fetch[@]}" origin "+$ref:refs/remotes/origin/checkout"
fi
git -C "$target" checkout -q --force --detach refs/remotes/origin/checkout
echo "checked out $(git -C "$target" rev-parse HEAD) of $IN_REPOSITORY (depth $depth)"
