#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Every command of `sekimori` (and every fim, log and proxy ctl
# subcommand) answers --help with its usage on standard output and exit
# 0, the man page has a section for each command, and the reference in
# docs/configuration.md is the output of `sekimori config-doc`.
#
# usage: help.sh SEKIMORI_BINARY MAN_PAGE
set -uo pipefail
S=$1
MAN=$2
bad=0
check() {
    local out rc
    out=$("$S" "$@" 2>/dev/null </dev/null)
    rc=$?
    if [[ $rc -ne 0 || "$out" != *usage* ]]; then
        echo "FAIL: sekimori $* exits $rc or prints no usage on stdout"
        bad=1
    fi
}
check --help
cmds=$("$S" --help | awk '/^commands:/ {on=1; next} on && /^  [^ ]/ {print $1}')
[[ -n "$cmds" ]] || { echo "FAIL: no commands in sekimori --help"; exit 1; }
for c in $cmds; do
    [[ $c == version ]] && { "$S" version --help >/dev/null || bad=1; continue; }
    check "$c" --help
    if ! grep -q "^\.SS sekimori $(sed 's/-/\\\\-/g' <<<"$c")\( \|$\)" "$MAN"; then
        echo "FAIL: $MAN has no section for '$c'"
        bad=1
    fi
done
for c in keygen init check accept watch restore; do check fim "$c" --help; done
for c in keygen serve append verify query tail export prune prove recover; do
    check log "$c" --help
done
check proxy ctl --help
# The reference part of docs/configuration.md is what config-doc prints.
DOC=$(dirname "$MAN")/../configuration.md
if ! diff <("$S" config-doc) <(sed -n '/^## `run`/,$p' "$DOC") >/dev/null; then
    echo "FAIL: $DOC is not up to date: regenerate its reference with"
    echo "      sekimori config-doc (everything from '## \`run\`' on)"
    bad=1
fi
[[ $bad == 0 ]] && echo "ok: --help of every command, the man page, the config reference"
exit $bad
