#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Export into a real rsyslog (Debian's rsyslogd) on loopback: our own
# rsyslogd with its own config listens on a free TCP port on 127.0.0.1 and
# on a UNIX socket in a temp dir (no system config touched), writes what
# it receives to a file, and we check every line: one per record, in
# order, the structured data, the message id and the JSON body intact,
# the checkpoint copies sent by the writer, and no raw card number.
# Skips (77) when rsyslogd is not installed (scripts/setup-deps adds it).
set -u
B="${1:?usage: rsyslog_export.sh SEKIMORI_LOG_DEV}"
RSYSLOGD=$(command -v rsyslogd || echo /usr/sbin/rsyslogd)
if [ ! -x "$RSYSLOGD" ]; then
  echo "rsyslog_export: rsyslogd not installed: skipped"
  exit 77
fi
T="$(mktemp -d /tmp/evlog-rsyslog.XXXXXX)"
MAIN=$BASHPID
cleanup() {
  [ "$BASHPID" = "$MAIN" ] || return 0
  [ -f "$T/rsyslogd.pid" ] && kill "$(cat "$T/rsyslogd.pid")" 2>/dev/null
  [ -n "${spid:-}" ] && kill "$spid" 2>/dev/null
  sleep 0.2
  rm -rf "$T"
}
trap cleanup EXIT
fail() {
  echo "rsyslog_export: $*"
  [ -f "$T/rsyslogd.err" ] && tail -5 "$T/rsyslogd.err"
  exit 1
}
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$T/rsyslog.conf" <<CONF
global(workDirectory="$T" maxMessageSize="64k")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="$PORT" ruleset="evlog")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" socket="$T/log.sock" ruleset="evlog"
      useSpecialParser="off" parseHostname="on")
template(name="evlog" type="string"
         string="%msgid%|%structured-data%|%app-name%|%msg%\n")
ruleset(name="evlog") {
  action(type="omfile" file="$T/received.log" template="evlog")
}
CONF
"$RSYSLOGD" -N1 -f "$T/rsyslog.conf" >"$T/rsyslogd.err" 2>&1 ||
  fail "rsyslogd rejects the config"
"$RSYSLOGD" -n -f "$T/rsyslog.conf" -i "$T/rsyslogd.pid" >>"$T/rsyslogd.err" 2>&1 &
for _ in $(seq 1 300); do
  [ -S "$T/log.sock" ] && (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break
  sleep 0.02
done
[ -S "$T/log.sock" ] || fail "rsyslogd did not start"

"$B" keygen --key "$T/key" >/dev/null || fail keygen
D="$T/log" S="$T/sock"
# The writer sends its checkpoints to rsyslog's UNIX socket.
"$B" serve --dir "$D" --key "$T/key" --socket "$S" --checkpoint-every 100 \
  --syslog "unix:$T/log.sock" --quiet 2>"$T/serve.err" &
spid=$!
for _ in $(seq 1 300); do [ -S "$S" ] && break; sleep 0.01; done
N=300
for i in $(seq 1 $N); do
  case $((i % 3)) in
  0) printf '%s\n' "proxy waf.block {\"client_ip\":\"10.0.0.$((i % 250))\",\"path\":\"/p/$i\",\"rule_id\":942100,\"card\":\"4111 1111 1111 1111\"}" ;;
  1) printf '%s\n' "fim file.change {\"file\":\"/var/www/html/x$i.php\",\"sha256\":\"ab\\\"c\"}" ;;
  2) printf '%s\n' "proxy response {\"status\":200,\"note\":\"ünïcode ✓ $i\"}" ;;
  esac
done >"$T/records"
while read -r src typ body; do
  "$B" append --socket "$S" --source "$src" --type "$typ" "$body" >/dev/null ||
    fail "append"
done <"$T/records"
kill -TERM "$spid"; wait "$spid"; spid=
"$B" verify --dir "$D" --quiet >/dev/null || fail "verify"

"$B" export --dir "$D" --format syslog --to "tcp:127.0.0.1:$PORT" ||
  fail "export to tcp:127.0.0.1:$PORT"
"$B" query --dir "$D" --json >"$T/expected.jsonl" || fail "query"
# Wait for rsyslog to write every line.
want=$((N + 3))
for _ in $(seq 1 500); do
  got=$(grep -c . "$T/received.log" 2>/dev/null || echo 0)
  [ "$got" -ge "$want" ] && break
  sleep 0.02
done
python3 - "$T/received.log" "$T/expected.jsonl" "$N" <<'PY' || fail "received lines differ"
import json, re, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
expected = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8")]
n = int(sys.argv[3])
cps = [l for l in lines if l.startswith("checkpoint|")]
recs = [l for l in lines if not l.startswith("checkpoint|")]
assert len(cps) >= 3, "expected >= 3 checkpoint messages, got %d" % len(cps)
for c in cps:
    assert re.search(r"\|SKCP1 \d+ \d+ [0-9a-f]{64} [0-9a-f]{64} [0-9a-f]{16} [0-9a-f]{128}$", c), c
assert len(recs) == n, "expected %d record lines, got %d" % (n, len(recs))
for line, exp in zip(recs, expected):
    msgid, sd, app, msg = line.split("|", 3)
    assert app == "sekimori", line
    assert msgid == exp["type"], (msgid, exp)
    want_sd = '[sekimori@32473 seq="%d" src="%s"]' % (exp["seq"], exp["source"])
    assert sd == want_sd, (sd, want_sd)
    assert json.loads(msg) == exp["body"], (msg, exp["body"])
    assert "4111 1111 1111 1111" not in msg and "4111111111111111" not in msg
print("rsyslog_export: %d records and %d checkpoints received intact" % (len(recs), len(cps)))
PY
grep -q "4111 1111 1111 1111\|4111111111111111" "$T/received.log" && fail "raw card number exported"
exit 0
