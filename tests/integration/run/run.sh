#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# `sekimori run` and `sekimori status` end to end, in a temp directory:
# the log writer and the file monitor start in order, a killed part is
# restarted and its exit and restart are in the event log, a part killed
# too often is given up on while the others stay up, `status --json`
# reports each field, SIGTERM stops everything, and bad configurations
# are refused with file:line:col. Every wait is bounded.
#
# usage: run.sh SEKIMORI_BINARY
set -euo pipefail

S=$(realpath "$1")
tmp=$(mktemp -d /tmp/sk-run-test.XXXXXX)
runpid=

cleanup() {
    if [[ -n "$runpid" ]] && kill -0 "$runpid" 2>/dev/null; then
        kill -TERM "$runpid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$runpid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$runpid" 2>/dev/null || true
    fi
    # Parts die with the supervisor (PR_SET_PDEATHSIG); wait for them.
    for f in "$tmp"/state/{log,fim,proxy}.json; do
        [[ -f "$f" ]] || continue
        p=$(jq -r .pid "$f" 2>/dev/null || echo 0)
        [[ "$p" -gt 0 ]] && kill -KILL "$p" 2>/dev/null || true
    done
    [[ -n "${phppid:-}" ]] && kill "$phppid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    [[ -f "$tmp/run.err" ]] && { echo "--- run.err" >&2; cat "$tmp/run.err" >&2; }
    exit 1
}

# wait_for SECONDS COMMAND...: polls every 0.1 s.
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

# The proxy runs too once this binary has it: in front of `php -S` on
# random loopback ports, with one blocking rule.
have_proxy=0
if "$S" proxy --help >/dev/null 2>&1 && command -v php >/dev/null &&
    command -v curl >/dev/null; then
    have_proxy=1
fi
read -r P U <<<"$(python3 -c '
import socket
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')"
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$P$1"; }
is_code() { [[ "$(code "$2")" == "$1" ]]; }
nparts=2

# A web root, the FIM's config, keys and baseline; the log key.
mkdir -p "$tmp/www"
echo '<?php echo "shop";' >"$tmp/www/index.php"
cat >"$tmp/fim.conf" <<EOF
baseline $tmp/fim.db
key $tmp/fim.key
store $tmp/store
quarantine $tmp/quarantine
check_interval 3600
rule $tmp/www {
    respond alert quarantine restore
}
EOF
"$S" fim keygen -c "$tmp/fim.conf" >/dev/null 2>&1
"$S" fim init -c "$tmp/fim.conf" >/dev/null 2>&1

cat >"$tmp/sekimori.conf" <<EOF
run {
    state_dir $tmp/state
    restart_delay 200ms
    max_restarts 3
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
EOF
if [[ $have_proxy == 1 ]]; then
    nparts=3
    mkdir -p "$tmp/site" "$tmp/rules"
    echo '<?php echo "shop\n";' >"$tmp/site/index.php"
    php -S "127.0.0.1:$U" -t "$tmp/site" >"$tmp/php.log" 2>&1 &
    phppid=$!
    wait_for 10 curl -s -o /dev/null "http://127.0.0.1:$U/" || fail "php -S did not start"
    cat >"$tmp/rules/10.conf" <<'R'
SecRuleEngine On
SecRule ARGS:attack "@streq yes" "id:1001,phase:1,deny,status:403,log,msg:'attack'"
R
    cat >>"$tmp/sekimori.conf" <<EOF
proxy {
    listen 127.0.0.1:$P
    upstream 127.0.0.1:$U
    rules $tmp/rules/*.conf
    workers 1
    error_log $tmp/proxy.log
    control_socket $tmp/ctl.sock
    drain_timeout 2s
}
EOF
fi

# 1. No log key: refused with how to make one, nothing started.
set +e
out=$("$S" run -c "$tmp/sekimori.conf" 2>&1)
rc=$?
set -e
[[ $rc -eq 2 ]] || fail "run without a log key: exit $rc"
grep -q "sekimori.conf:8:5: error: log key" <<<"$out" || fail "no key error: $out"
grep -q "sekimori log keygen --key $tmp/log.key" <<<"$out" || fail "no keygen hint: $out"
[[ ! -d "$tmp/state" ]] || fail "state written for a refused config"
"$S" log keygen --key "$tmp/log.key" >/dev/null

# 2. A bad config: every error with file:line:col, exit 2.
printf 'run {\n  max_restarts none\n  bogus 1\n}\nproxy {\n}\n' >"$tmp/bad.conf"
set +e
out=$("$S" run -c "$tmp/bad.conf" 2>&1)
rc=$?
set -e
[[ $rc -eq 2 ]] || fail "bad config: exit $rc"
grep -q "bad.conf:2:16: error: 'max_restarts' takes a number" <<<"$out" || fail "$out"
grep -q "bad.conf:3:3: error: unknown option 'bogus'" <<<"$out" || fail "$out"
grep -q "bad.conf:5:1: error: the proxy needs at least one 'listen'" <<<"$out" || fail "$out"

# 2b. -t checks everything the parts would refuse, then exits.
out=$("$S" run -t -c "$tmp/sekimori.conf" 2>&1) || fail "run -t: $out"
grep -q "OK: log fim" <<<"$out" || fail "run -t summary: $out"
sed "s|config $tmp/fim.conf|config $tmp/sekimori.conf|" "$tmp/sekimori.conf" >"$tmp/badfim.conf"
set +e
out=$("$S" run -t -c "$tmp/badfim.conf" 2>&1)
rc=$?
set -e
[[ $rc -eq 2 ]] || fail "run -t with a bad fim config: exit $rc"
grep -q "sekimori.conf:1:" <<<"$out" || fail "run -t fim error position: $out"
# A monitor that takes pages offline needs the proxy's control socket.
sed -e "s|^check_interval 3600|check_interval 3600\nmaintenance_socket $tmp/other.sock\nmaintenance_path /pay/|" \
    -e "s|respond alert quarantine restore|respond alert maintenance|" \
    "$tmp/fim.conf" >"$tmp/fim-maint.conf"
sed -e "s|config $tmp/fim.conf|config $tmp/fim-maint.conf|" -e '/^proxy {/,$d' \
    "$tmp/sekimori.conf" >"$tmp/maint.conf"
out=$("$S" run -t -c "$tmp/maint.conf" 2>&1) || fail "run -t maint: $out"
grep -q "responds 'maintenance' but .* has no proxy section" <<<"$out" ||
    fail "no maintenance warning: $out"
if [[ $have_proxy == 1 ]]; then
    sed "s|config $tmp/fim.conf|config $tmp/fim-maint.conf|" "$tmp/sekimori.conf" >"$tmp/maint.conf"
    out=$("$S" run -t -c "$tmp/maint.conf" 2>&1) || fail "run -t maint: $out"
    grep -q "maintenance_socket $tmp/other.sock is not the proxy's control_socket $tmp/ctl.sock" \
        <<<"$out" || fail "no socket mismatch warning: $out"
    printf 'SecRule ARGS "@rx (" "id:5,phase:1,deny"\n' >"$tmp/rules/99-bad.conf"
    set +e
    out=$("$S" run -t -c "$tmp/sekimori.conf" 2>&1)
    rc=$?
    set -e
    [[ $rc -eq 2 ]] || fail "run -t with a bad rule: exit $rc"
    grep -q "99-bad.conf:1:" <<<"$out" || fail "run -t rule error position: $out"
    rm "$tmp/rules/99-bad.conf"
fi

# 3. Start: log first, then fim; both running, the ready file made.
"$S" run -c "$tmp/sekimori.conf" --ready "$tmp/ready" >"$tmp/run.out" 2>"$tmp/run.err" &
runpid=$!
wait_for 20 test -f "$tmp/ready" || fail "not ready in 20 s"
[[ $(state log state) == running ]] || fail "log not running"
[[ $(state fim state) == running ]] || fail "fim not running"
logpid=$(state log pid)
fimpid=$(state fim pid)
kill -0 "$logpid" && kill -0 "$fimpid" || fail "part pids not alive"
[[ $(jq -r .state "$tmp/state/run.json") == running ]] || fail "run.json"
grep -q "log: started" "$tmp/run.err" || fail "no start line"
# Order: the log was ready before fim started.
awk '/log: ready/ {r=NR} /fim: started/ {f=NR} END {exit !(r && f && r < f)}' \
    "$tmp/run.err" || fail "fim started before the log was ready"

# A second supervisor on the same state directory is refused.
set +e
out=$(timeout 10 "$S" run -c "$tmp/sekimori.conf" 2>&1)
rc=$?
set -e
[[ $rc -eq 3 ]] || fail "second run: exit $rc"
grep -q "another sekimori run is using" <<<"$out" || fail "second run: $out"
[[ $(state log pid) == "$logpid" ]] || fail "second run touched the state"

# 4. status: healthy, every field there.
wait_for 10 test -f "$tmp/state/fim-watch.json" || fail "no fim watch status"
"$S" status -c "$tmp/sekimori.conf" --json >"$tmp/st.json" ||
    { cat "$tmp/st.json"; fail "status not healthy at start"; }
jq -e '.healthy == true and (.alerts | length) == 0' "$tmp/st.json" >/dev/null || fail "healthy"
jq -e '.supervisor.alive == true and .supervisor.state == "running"' "$tmp/st.json" >/dev/null ||
    fail "supervisor fields"
jq -e "[.parts[] | select(.alive and .state == \"running\")] | length == $nparts" "$tmp/st.json" >/dev/null ||
    fail "parts fields"
jq -e '.fim.baseline.verified == true and .fim.baseline.generation == 1 and
       (.fim.baseline.age_s >= 0) and (.fim.last_check > 0) and
       .fim.quarantined == 0 and .fim.mode == "inotify"' "$tmp/st.json" >/dev/null ||
    fail "fim fields"
jq -e ".log.verify.ok == true and (.log.events | length) >= 3 and
       ([.log.events[] | select(.type == \"run.start\")] | length) == $nparts" "$tmp/st.json" >/dev/null ||
    fail "log fields"
"$S" status -c "$tmp/sekimori.conf" | grep -q "^sekimori: HEALTHY" || fail "text status"

# 4b. The proxy: started after fim, forwards, blocks (the block is in the
#     event log), reports its rules; SIGHUP reloads it; maintenance mode
#     is an open alert; a killed proxy is restarted.
if [[ $have_proxy == 1 ]]; then
    awk '/fim: ready/ {r=NR} /proxy: started/ {f=NR} END {exit !(r && f && r < f)}' \
        "$tmp/run.err" || fail "proxy started before fim was ready"
    jq -e '.proxy.reachable == true and .proxy.rules == 1 and
           .proxy.maintenance.on == false' "$tmp/st.json" >/dev/null ||
        fail "proxy fields: $(jq -c .proxy "$tmp/st.json")"
    wait_for 10 is_code 200 / || fail "GET / through the proxy: $(code /)"
    is_code 403 "/?attack=yes" || fail "the rule did not block"
    wait_for 10 bash -c "'$S' log query --dir '$tmp/log' --source proxy | grep -q 1001" ||
        fail "no proxy block event in the log"
    gen=$(jq .proxy.generation "$tmp/st.json")
    kill -HUP "$runpid"
    wait_for 10 bash -c "'$S' status -c '$tmp/sekimori.conf' --json |
        jq -e '.proxy.generation == $((gen + 1))'" || fail "SIGHUP did not reload the proxy"
    "$S" proxy ctl --socket "$tmp/ctl.sock" maintenance on --reason test /pay/ >/dev/null ||
        fail "maintenance on"
    set +e
    "$S" status -c "$tmp/sekimori.conf" --json >"$tmp/st.json"
    rc=$?
    set -e
    [[ $rc -eq 1 ]] || fail "status in maintenance: exit $rc"
    jq -e '.proxy.maintenance.on == true and
           (.alerts | map(test("maintenance mode is on: test")) | any)' "$tmp/st.json" \
        >/dev/null || fail "maintenance alert: $(jq -c .alerts "$tmp/st.json")"
    "$S" proxy ctl --socket "$tmp/ctl.sock" maintenance off >/dev/null || fail "maintenance off"
    pxpid=$(state proxy pid)
    kill -KILL "$pxpid"
    wait_for 15 bash -c "[[ \$(jq -r .restarts '$tmp/state/proxy.json') == 1 &&
        \$(jq -r .state '$tmp/state/proxy.json') == running ]]" || fail "proxy not restarted"
    wait_for 10 is_code 200 / || fail "GET / after the proxy restart: $(code /)"
    "$S" status -c "$tmp/sekimori.conf" --json >"$tmp/st.json" ||
        fail "not healthy after the proxy restart: $(jq -c .alerts "$tmp/st.json")"
fi

# 5. Kill fim: restarted after restart_delay, exit and restart logged.
kill -KILL "$fimpid"
wait_for 10 bash -c "[[ \$(jq -r .restarts '$tmp/state/fim.json') == 1 &&
    \$(jq -r .state '$tmp/state/fim.json') == running ]]" || fail "fim not restarted"
newpid=$(state fim pid)
[[ "$newpid" != "$fimpid" ]] && kill -0 "$newpid" || fail "no new fim pid"
[[ $(state fim last_exit) == "signal 9" ]] || fail "last_exit: $(state fim last_exit)"
wait_for 10 bash -c "'$S' log query --dir '$tmp/log' --type run.restart --json |
    jq -e 'select(.body.part == \"fim\" and .body.restarts == 1)'" ||
    fail "no run.restart event"
"$S" log query --dir "$tmp/log" --type run.exit --json |
    jq -e "select(.body.part == \"fim\" and .body.pid == $fimpid and .body.exit == \"signal 9\")" \
        >/dev/null || fail "no run.exit event"

# 6. The restarted watcher still works: a tampered file is quarantined,
#    restored, and shows as an open alert (status exits 1).
echo 'skimmer' >>"$tmp/www/index.php"
wait_for 10 bash -c "ls '$tmp/quarantine' | grep -q ." || fail "not quarantined"
wait_for 10 bash -c "'$S' log query --dir '$tmp/log' --type fim.restored | grep -q index.php" ||
    fail "fim events do not reach the log after a restart"
set +e
"$S" status -c "$tmp/sekimori.conf" --json >"$tmp/st.json"
rc=$?
set -e
[[ $rc -eq 1 ]] || fail "status with a quarantined file: exit $rc"
jq -e '.healthy == false and .fim.quarantined == 1 and
       (.alerts | map(test("quarantine")) | any)' "$tmp/st.json" >/dev/null || fail "alert"
rm -rf "${tmp:?}/quarantine"/*

# 7. Kill the log writer: restarted, and the events of the outage reach it.
kill -KILL "$logpid"
wait_for 10 bash -c "[[ \$(jq -r .restarts '$tmp/state/log.json') == 1 &&
    \$(jq -r .state '$tmp/state/log.json') == running ]]" || fail "log not restarted"
wait_for 10 bash -c "'$S' log query --dir '$tmp/log' --type run.exit --json |
    jq -e 'select(.body.part == \"log\")'" || fail "log's own exit not logged after restart"

# 8. Kill fim more than max_restarts times a minute: given up, the others
#    stay up, status says so.
for _ in 1 2 3 4; do
    p=$(state fim pid)
    if [[ "$p" -gt 0 ]]; then kill -KILL "$p" 2>/dev/null || true; fi
    wait_for 5 bash -c "p2=\$(jq -r .pid '$tmp/state/fim.json');
        s=\$(jq -r .state '$tmp/state/fim.json');
        [[ \$s == gave_up || ( \$s == running && \$p2 != $p ) ]]" || fail "fim restart loop"
done
[[ $(state fim state) == gave_up ]] || fail "fim not given up: $(state fim state)"
kill -0 "$runpid" || fail "supervisor died"
[[ $(state log state) == running ]] || fail "log stopped with fim"
set +e
"$S" status -c "$tmp/sekimori.conf" --json >"$tmp/st.json"
rc=$?
set -e
[[ $rc -eq 1 ]] || fail "status with a given-up part: exit $rc"
jq -e '.alerts | map(test("part fim was given up on")) | any' "$tmp/st.json" >/dev/null ||
    fail "given-up alert: $(jq -c .alerts "$tmp/st.json")"
wait_for 10 bash -c "'$S' log query --dir '$tmp/log' --type run.giveup | grep -q fim" ||
    fail "no run.giveup event"

# 9. SIGTERM stops everything, the proxy first.
logpid=$(state log pid)
[[ $have_proxy == 1 ]] && pxpid=$(state proxy pid)
kill -TERM "$runpid"
wait_for 20 bash -c "! kill -0 $runpid" || fail "not stopped in 20 s"
set +e
wait "$runpid"
rc=$?
set -e
runpid=
[[ $rc -eq 0 ]] || fail "run exit $rc after SIGTERM"
! kill -0 "$logpid" 2>/dev/null || fail "log writer still running"
if [[ $have_proxy == 1 ]]; then
    ! kill -0 "$pxpid" 2>/dev/null || fail "proxy still running"
    [[ $(state proxy state) == stopped ]] || fail "proxy.json not stopped"
    awk '/proxy: stopping/ {p=NR} /log: stopping/ {l=NR} END {exit !(p && l && p < l)}' \
        "$tmp/run.err" || fail "stop order"
fi
[[ $(jq -r .state "$tmp/state/run.json") == stopped ]] || fail "run.json not stopped"
[[ $(state log state) == stopped ]] || fail "log.json not stopped"
"$S" log query --dir "$tmp/log" --type run.stop | grep -q run.stop || fail "no run.stop event"
"$S" log verify --dir "$tmp/log" --pubkey "$tmp/log.key.pub" >/dev/null 2>&1 ||
    fail "the event log does not verify"
set +e
"$S" status -c "$tmp/sekimori.conf" >/dev/null
rc=$?
set -e
[[ $rc -eq 1 ]] || fail "status after stop: exit $rc"

echo "ok: sekimori run / status ($nparts parts)"
