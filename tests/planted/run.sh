#!/usr/bin/env bash
# Plants each known bug (tests/planted/*.patch) in turn and checks that the tests named in its
# "Caught by:" line fail; restores the tree after each. Not part of CI: it rebuilds once per
# patch (a few minutes on 2 cores). Usage: tests/planted/run.sh [PATCH...]
set -uo pipefail
cd "$(dirname "$0")/../.."
if ! git diff --quiet; then
    echo "the work tree has changes: commit or stash them first" >&2
    exit 2
fi
patches=("$@")
[[ ${#patches[@]} -eq 0 ]] && patches=(tests/planted/*.patch)
survivors=0
for patch in "${patches[@]}"; do
    command=$(sed -n 's/^Caught by: //p' "$patch" | head -1)
    echo "==> $(basename "$patch"): $(sed -n 's/^Planted bug: //p' "$patch" | head -1)"
    git apply "$patch" || { echo "    does not apply" >&2; exit 2; }
    if (eval "$command") > "/tmp/planted-$(basename "$patch" .patch).log" 2>&1; then
        echo "    NOT CAUGHT: '$command' passed"
        survivors=$((survivors + 1))
    else
        echo "    caught: '$command' failed:"
        grep -E "panicked at|outside their bounds|^test .* FAILED" "/tmp/planted-$(basename "$patch" .patch).log" | head -5 | sed 's/^/      /'
    fi
    git apply -R "$patch"
done
echo "$survivors planted bug(s) not caught"
[[ $survivors -eq 0 ]]
