#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# `sekimori run` with a hung event-log writer: the writer part is stopped
# (SIGSTOP) while the supervisor has events to send. The supervisor must
# stay responsive (a killed fim part is still restarted), say that the
# event is kept queued, and, once the writer runs again, deliver the
# queued events (run.exit and run.restart of that fim) rather than lose
# them. Every wait is bounded; everything started is stopped on exit.
#
# usage: hung-writer.sh SEKIMORI_BINARY
set -euo pipefail

S=$(realpath "$1")
tmp=$(mktemp -d /tmp/sk-run-hung.XXXXXX)
runpid=
logpid=

cleanup() {
    [[ -n "$logpid" ]] && kill -CONT "$logpid" 2>/dev/null || true
    if [[ -n "$runpid" ]] && kill -0 "$runpid" 2>/dev/null; then
        kill -TERM "$runpid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$runpid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$runpid" 2>/dev/null || true
    fi
    for f in "$tmp"/state/{log,fim}.json; do
        [[ -f "$f" ]] || continue
        p=$(jq -r .pid "$f" 2>/dev/null || echo 0)
        [[ "$p" -gt 0 ]] && kill -KILL "$p" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    [[ -f "$tmp/run.err" ]] && { echo "--- run.err" >&2; cat "$tmp/run.err" >&2; }
    exit 1
}

wait_for() {
    local secs=$1
    shift
    for _ in $(seq $((secs * 10))); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    return 1
}

state() { jq -r ".$2" "$tmp/state/$1.json"; }

mkdir -p "$tmp/www"
echo '<?php echo "shop";' >"$tmp/www/index.php"
cat >"$tmp/fim.conf" <<CONF
baseline $tmp/fim.db
key $tmp/fim.key
store $tmp/store
quarantine $tmp/quarantine
check_interval 3600
rule $tmp/www {
    respond alert
}
CONF
"$S" fim keygen -c "$tmp/fim.conf" >/dev/null 2>&1
"$S" fim init -c "$tmp/fim.conf" >/dev/null 2>&1
"$S" log keygen --key "$tmp/log.key" >/dev/null
cat >"$tmp/sekimori.conf" <<CONF
run {
    state_dir $tmp/state
    restart_delay 200ms
    max_restarts 5
}
log {
    dir $tmp/log
    key $tmp/log.key
    socket $tmp/log.sock
}
fim {
    config $tmp/fim.conf
    fanotify off
}
CONF

"$S" run -c "$tmp/sekimori.conf" --ready "$tmp/ready" >"$tmp/run.out" 2>"$tmp/run.err" &
runpid=$!
wait_for 20 test -f "$tmp/ready" || fail "not ready in 20 s"
logpid=$(state log pid)
fimpid=$(state fim pid)
# The start events are in: the supervisor's connection is established.
wait_for 10 bash -c "'$S' log query --dir '$tmp/log' --type run.start --json |
    jq -e 'select(.body.part == \"fim\")'" || fail "no run.start event"

# Hang the writer, then give the supervisor events to send.
kill -STOP "$logpid"
kill -KILL "$fimpid"
# (The new fim may not get ready while the writer hangs: it sends events
# too. What matters is that the supervisor went on and restarted it.)
wait_for 15 bash -c "[[ \$(jq -r .restarts '$tmp/state/fim.json') == 1 &&
    \$(jq -r .pid '$tmp/state/fim.json') != $fimpid ]]" ||
    fail "the supervisor froze on a hung writer: fim not restarted"
echo "ok   a killed part is restarted while the writer hangs"
wait_for 10 grep -q "run.exit: .*kept queued, retrying later" "$tmp/run.err" ||
    fail "the timed-out send is not reported"
echo "ok   the timed-out send is reported and kept queued"

# The writer runs again: the queued events arrive (backoff at most 30 s).
kill -CONT "$logpid"
wait_for 40 bash -c "'$S' log query --dir '$tmp/log' --type run.exit --json |
    jq -e 'select(.body.part == \"fim\" and .body.pid == $fimpid)'" ||
    fail "the queued run.exit was lost"
wait_for 10 bash -c "'$S' log query --dir '$tmp/log' --type run.restart --json |
    jq -e 'select(.body.part == \"fim\")'" || fail "the queued run.restart was lost"
echo "ok   the queued events reach the log once the writer runs"

# A clean stop.
kill -TERM "$runpid"
wait_for 20 bash -c "! kill -0 $runpid" || fail "run did not stop"
wait "$runpid" || fail "run exited non-zero"
runpid=
echo "ok   stopped"
