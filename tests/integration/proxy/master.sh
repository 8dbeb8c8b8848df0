#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The proxy's master process end to end (docs/proxy.md): `sekimori proxy`
# on loopback in front of `php -S`, checking -t, forwarding, SIGHUP with
# changed and with broken rules, maintenance mode through `proxy ctl` and
# through a raw FIM-style JSON line, /metrics, SIGUSR1 log reopening, a
# SIGKILLed worker restarted, and SIGTERM draining a slow request.
# Bounded: every wait gives up after a few seconds, the whole script
# stops itself after 90 s; random high ports; everything it starts is
# stopped by the trap.
set -u
SK="${SEKIMORI:-${1:-}}"
[ -n "$SK" ] || { echo "usage: SEKIMORI=PATH master.sh"; exit 2; }
HERE="$(cd "$(dirname "$0")" && pwd)"
command -v php >/dev/null || { echo "SKIP: no php"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: no curl"; exit 77; }
"$SK" proxy --help >/dev/null 2>&1 || { echo "SKIP: no proxy command"; exit 77; }

T="$(mktemp -d /tmp/sk-proxy-master.XXXXXX)"
PIDS=()
MASTER=""
PHP_GROUP=""
cleanup() {
  [ -n "$MASTER" ] && kill -TERM "$MASTER" 2>/dev/null
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "$PHP_GROUP" ] && kill -TERM -- "-$PHP_GROUP" 2>/dev/null
  wait 2>/dev/null
  [ -n "${KEEP:-}" ] && { echo "kept $T"; return; }
  rm -rf "$T"
}
trap cleanup EXIT
# The watchdog holds no output open (a test runner waits for EOF), and
# takes its sleep along when it is stopped.
trap 'echo "FAIL: timeout (90 s)"; exit 1' TERM
( exec >/dev/null 2>&1; sleep 90 & s=$!; trap 'kill $s; exit 0' TERM
  wait $s; kill -TERM $$ ) &
WATCHDOG=$!
PIDS+=($WATCHDOG)
fail() { echo "FAIL: $*"; echo "--- proxy log:"; tail -n 40 "$T/proxy.log" 2>/dev/null; exit 1; }
ok() { echo "ok - $*"; }
wait_for() { # wait_for SECONDS COMMAND...
  local n=$(( $1 * 10 )); shift
  while [ "$n" -gt 0 ]; do "$@" && return 0; sleep 0.1; n=$((n - 1)); done
  return 1
}
free_ports() { # three distinct free high ports
  python3 - <<'PY'
import socket
ss = []
for _ in range(3):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); ss.append(s)
print(" ".join(str(s.getsockname()[1]) for s in ss))
PY
}
read -r P M U <<<"$(free_ports)"
read -r PT _ _ <<<"$(free_ports)"
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$P$1"; }
is_code() { [ "$(code "$2")" = "$1" ]; }
ctl() { "$SK" proxy ctl --socket "$T/ctl.sock" "$@"; }
children() { pgrep -P "$MASTER" | sort | tr '\n' ' '; }

# ---- upstream -------------------------------------------------------------
# In its own process group: with workers, php -S forks children that
# outlive a signal to the parent alone.
PHP_CLI_SERVER_WORKERS=4 setsid php -S "127.0.0.1:$U" \
  "$HERE/master-upstream.php" >"$T/php.log" 2>&1 &
PHP_GROUP=$!
wait_for 10 curl -s -o /dev/null "http://127.0.0.1:$U/" || fail "php -S did not start"

# ---- event log ------------------------------------------------------------
# As root, the workers run as nobody: the temp dir must let them in.
USER_LINE=""
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
  chmod 755 "$T"
  USER_LINE="    user nobody"
fi
"$SK" log keygen --key "$T/log.key" >/dev/null || fail "log keygen"
"$SK" log serve --dir "$T/evlog" --key "$T/log.key" --socket "$T/log.sock" \
  --allow-uid "$(id -u)" --allow-uid "$(id -u nobody 2>/dev/null || echo 65534)" \
  --durability record 2>"$T/serve.err" &
PIDS+=($!)
wait_for 10 test -S "$T/log.sock" || fail "log serve did not start: $(cat "$T/serve.err")"
# The socket is 0660: workers that run as nobody reach it through its group.
[ -n "$USER_LINE" ] && chgrp "$(id -gn nobody)" "$T/log.sock"
events() { "$SK" log query --dir "$T/evlog" --type "$1" --json 2>/dev/null; }
has_event() { events "$1" | grep -q "$2"; }

# ---- TLS material: a matching pair and a key of another pair --------------
for n in a b; do
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=localhost" \
    -keyout "$T/$n.key" -out "$T/$n.pem" >/dev/null 2>&1 || fail "openssl req"
done

# ---- config ---------------------------------------------------------------
mkdir -p "$T/rules"
cat > "$T/rules/10-base.conf" <<'R'
SecRuleEngine On
SecRule ARGS:attack "@streq yes" "id:1001,phase:1,deny,status:403,log,msg:'attack'"
R
cat > "$T/sekimori.conf" <<C
proxy {
    listen 127.0.0.1:$P
    listen 127.0.0.1:$PT tls cert=$T/a.pem key=$T/a.key
    upstream 127.0.0.1:$U
    rules "$T/rules/*.conf"
    workers 2
    access_log $T/access.log
    audit_log $T/audit.log
    error_log $T/proxy.log
    control_socket $T/ctl.sock
    metrics_listen 127.0.0.1:$M
    pid_file $T/proxy.pid
    drain_timeout 10s
$USER_LINE
}
log {
    dir $T/evlog
    key $T/log.key
    socket $T/log.sock
}
C

# ---- -t -------------------------------------------------------------------
out="$("$SK" proxy -t -c "$T/sekimori.conf" 2>&1)" || fail "-t refused a good config: $out"
echo "$out" | grep -q "configuration OK" || fail "-t summary: $out"
echo "$out" | grep -Eq "rules: +[0-9]+ \(from [0-9]+ files; [0-9]+ settled at load time\)" ||
  fail "-t rules line: $out"
echo "$out" | grep -q "rules: *1 " || fail "-t rule count: $out"
sed 's/^    workers 2$/    workers 2\n    no_such_option 1/' "$T/sekimori.conf" > "$T/bad.conf"
out="$("$SK" proxy -t -c "$T/bad.conf" 2>&1)"; rc=$?
[ $rc -eq 2 ] || fail "-t on a bad config: exit $rc"
echo "$out" | grep -q "bad.conf:7:" || fail "-t did not give file:line: $out"
mkdir -p "$T/badrules"
printf 'SecRule ARGS "@rx (" "id:5,phase:1,deny"\n' > "$T/badrules/x.conf"
sed "s|$T/rules/\\*.conf|$T/badrules/x.conf|" "$T/sekimori.conf" > "$T/badrules.conf"
out="$("$SK" proxy -t -c "$T/badrules.conf" 2>&1)"; rc=$?
[ $rc -eq 2 ] || fail "-t on bad rules: exit $rc"
echo "$out" | grep -q "x.conf:1:" || fail "-t did not give the rule's file:line: $out"
sed "s|key=$T/a.key|key=$T/b.key|" "$T/sekimori.conf" > "$T/badkey.conf"
out="$("$SK" proxy -t -c "$T/badkey.conf" 2>&1)"; rc=$?
[ $rc -eq 2 ] || fail "-t with a key of another certificate: exit $rc"
echo "$out" | grep -q "badkey.conf:3:.*tls" || fail "-t did not name the TLS listener: $out"
ok "-t accepts a good config, refuses bad ones with file:line"

# ---- start ----------------------------------------------------------------
"$SK" proxy -c "$T/sekimori.conf" --ready "$T/ready" 2>>"$T/proxy.log" &
MASTER=$!
wait_for 10 test -s "$T/ready" || fail "no ready file"
[ "$(cat "$T/ready")" = "$MASTER" ] || fail "ready file has $(cat "$T/ready")"
[ "$(cat "$T/proxy.pid")" = "$MASTER" ] || fail "pid file"
wait_for 10 is_code 200 /hello || fail "GET /hello: $(code /hello)"
body="$(curl -s --max-time 5 "http://127.0.0.1:$P/hello")"
[ "$body" = "ok /hello" ] || fail "body: $body"
is_code 403 "/?attack=yes" || fail "rule 1001 did not block"
body="$(curl -sk --max-time 5 "https://127.0.0.1:$PT/tls")"
[ "$body" = "ok /tls" ] || fail "TLS listener: '$body'"
ok "requests pass (plain and TLS), the rule blocks"
if [ -n "$USER_LINE" ]; then
  for w in $(children); do
    uid="$(awk '/^Uid:/ {print $2}' "/proc/$w/status")"
    [ "$uid" = "$(id -u nobody)" ] || fail "worker $w runs as uid $uid"
  done
  ok "workers run as nobody"
fi
wait_for 10 has_event proxy.block '1001' || fail "no proxy.block event in the event log"
ok "the block is recorded in the event log"

# ---- reload with changed rules ---------------------------------------------
is_code 200 "/?evil=yes" || fail "evil before reload"
cat > "$T/rules/20-more.conf" <<'R'
SecRule ARGS:evil "@streq yes" "id:1002,phase:1,deny,status:403,log,msg:'evil'"
R
kill -HUP "$MASTER"
wait_for 10 is_code 403 "/?evil=yes" || fail "reload did not take the new rule"
gen="$(ctl status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["generation"])')"
[ "$gen" = "1" ] || fail "generation after reload: $gen"
wait_for 10 has_event proxy.reload '"ok":true' || fail "no proxy.reload event"
ok "SIGHUP reload takes changed rules (generation 1)"

# ---- reloads under a steady stream of requests lose none --------------------
python3 - "$P" "$T/stream" <<'PY' &
import http.client, sys, time
bad = n = 0
end = time.time() + 3
while time.time() < end:
    c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=5)
    try:
        c.request("GET", "/stream%d" % n)
        r = c.getresponse(); r.read()
        bad += r.status != 200
    except Exception:
        bad += 1
    n += 1
    c.close()
open(sys.argv[2], "w").write("%d %d\n" % (n, bad))
PY
STREAM=$!
for i in 1 2 3; do sleep 0.6; kill -HUP "$MASTER"; done
wait "$STREAM"
read -r n bad < "$T/stream"
[ "$n" -gt 20 ] && [ "$bad" = 0 ] || fail "reloads under requests: $bad of $n failed"
ok "3 reloads during $n requests: none failed"
gen_base=3

# ---- reload adds and removes a listener; `ctl reload` ------------------------
read -r P2 _ _ <<<"$(free_ports)"
sed -i "s|^    listen 127.0.0.1:$P\$|&\n    listen 127.0.0.1:$P2|" "$T/sekimori.conf"
out="$(ctl reload)" || fail "ctl reload: $out"
echo "$out" | grep -q "generation $((gen_base + 2))" || fail "ctl reload: $out"
[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$P2/x")" = 200 ] \
  || fail "the new listener does not serve"
is_code 200 /hello || fail "the kept listener does not serve"
sed -i "/^    listen 127.0.0.1:$P2\$/d" "$T/sekimori.conf"
ctl reload >/dev/null || fail "ctl reload (remove)"
gone() { ! curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$P2/x"; }
wait_for 15 gone || fail "the removed listener still accepts"
is_code 200 /hello || fail "the kept listener after removal"
ok "reload binds an added listener, keeps the others, closes a removed one"

# ---- reload with broken rules keeps the old ones ----------------------------
printf 'SecRule ARGS:x "@streq y" "id:1003,phase:1,deny,nonsense_action"\n' > "$T/rules/30-broken.conf"
kill -HUP "$MASTER"
wait_for 10 grep -q "reload failed" "$T/proxy.log" || fail "no 'reload failed' in the log"
grep -q "30-broken.conf:1" "$T/proxy.log" || fail "the reason (file:line) was not logged"
is_code 403 "/?evil=yes" || fail "old rules lost after a failed reload"
is_code 200 /hello || fail "requests fail after a failed reload"
out="$(ctl reload 2>&1)"; rc=$?
[ $rc -eq 1 ] || fail "ctl reload with broken rules: exit $rc"
echo "$out" | grep -q "30-broken.conf:1" || fail "ctl reload did not say why: $out"
rm "$T/rules/30-broken.conf"
# A new listener whose port is taken: the reload fails, nothing changes.
python3 - "$P2" "$T/busy" <<'PY' &
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1)
open(sys.argv[2], "w").close(); time.sleep(4)
PY
BUSY=$!
PIDS+=($BUSY)
wait_for 5 test -e "$T/busy" || fail "could not take port $P2"
cp "$T/sekimori.conf" "$T/sekimori.conf.good"
sed -i "s|^    listen 127.0.0.1:$P\$|&\n    listen 127.0.0.1:$P2|" "$T/sekimori.conf"
out="$(ctl reload 2>&1)"; rc=$?
[ $rc -eq 1 ] || fail "reload onto a taken port: exit $rc"
echo "$out" | grep -q "sekimori.conf:3:.*$P2.*in use" || fail "reload onto a taken port: $out"
mv "$T/sekimori.conf.good" "$T/sekimori.conf"
is_code 200 /hello || fail "requests after a reload that could not bind"
kill "$BUSY" 2>/dev/null
gen="$(ctl status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["generation"])')"
[ "$gen" = "$((gen_base + 3))" ] || fail "generation after failed reloads: $gen"
ok "a reload onto a port in use fails and keeps the running listeners"
wait_for 10 has_event proxy.reload '"ok":false' || fail "no failed proxy.reload event"
ok "a broken rules file keeps the old rules, the reason is logged"

# ---- maintenance -----------------------------------------------------------
ctl maintenance on --reason "test" /pay/ >/dev/null || fail "ctl maintenance on"
is_code 503 /pay/x.php || fail "/pay/x.php not 503"
is_code 503 /pay/./x.php || fail "/pay/./x.php not 503"
is_code 503 //pay//x.php || fail "//pay//x.php not 503"
is_code 503 /%70ay/x.php || fail "/%70ay/x.php not 503"
is_code 200 /payment/x.php || fail "/payment/x.php is not 200"
is_code 200 /hello || fail "/hello under maintenance"
ctl status | grep -q "maintenance: ON" || fail "status does not show maintenance"
ctl maintenance off >/dev/null || fail "ctl maintenance off"
is_code 200 /pay/x.php || fail "/pay/x.php after off"
# Exactly what `sekimori fim watch` sends: write one line and close.
python3 - "$T/ctl.sock" <<'PY' || fail "raw fim request"
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b'{"op":"maintenance","on":true,"reason":"fim.tamper",'
          b'"file":"/var/www/html/shop/pay.php","paths":["/shop/"]}\n')
s.close()
PY
wait_for 5 is_code 503 /shop/pay.php || fail "fim-style request did not turn maintenance on"
is_code 200 /pay/x.php || fail "/pay/x.php is 503 after the fim request"
st="$(ctl status --json)"
echo "$st" | grep -q '"reason":"fim.tamper"' || fail "status: $st"
echo "$st" | grep -q '"file":"/var/www/html/shop/pay.php"' || fail "status: $st"
grep -q "maintenance ON for /shop/" "$T/proxy.log" || fail "maintenance not logged"
wait_for 10 has_event proxy.maintenance 'fim.tamper' || fail "no proxy.maintenance event"
ctl maintenance off /shop/ >/dev/null || fail "ctl maintenance off /shop/"
is_code 200 /shop/pay.php || fail "/shop/ still in maintenance"
out="$(printf '{"op":"nope"}\n' | python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(sys.stdin.buffer.read()); print(s.makefile().readline().strip())' "$T/ctl.sock")"
echo "$out" | grep -q '"ok":false' || fail "unknown op reply: $out"
# Several requests on one connection, written at once: one reply each.
n="$(python3 - "$T/ctl.sock" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(5)
s.sendall(b'{"op":"status"}\n{"op":"bad"}\n{"op":"status"}\n')
f = s.makefile()
print(sum(1 for _ in range(3) if f.readline().startswith('{"ok"')))
PY
)"
[ "$n" = 3 ] || fail "pipelined control requests: $n replies of 3"
ok "maintenance on/off via ctl and via a FIM-style line; 503 on that path only"

# ---- the real thing: `sekimori fim watch` sees a skimmer, the proxy 503s -----
mkdir -p "$T/www/checkout" "$T/fimstate"
chmod 700 "$T/fimstate"
printf '<?php echo "pay";\n' > "$T/www/checkout/pay.php"
cat > "$T/fim.conf" <<CONF
baseline $T/fimstate/fim.db
key $T/fimstate/fim.key
store $T/fimstate/store
quarantine $T/fimstate/q
coalesce_ms 10
check_interval 3600
maintenance_socket $T/ctl.sock
maintenance_path /checkout/
rule $T/www {
    include *.php
    attrs all
    respond alert maintenance
}
CONF
"$SK" fim keygen -c "$T/fim.conf" >/dev/null 2>&1 || fail "fim keygen"
"$SK" fim init -c "$T/fim.conf" --force >/dev/null 2>&1 || fail "fim init"
"$SK" fim watch -c "$T/fim.conf" --events "$T/fim.ev" --ready "$T/fim.ready" \
  --max-seconds 60 --no-fanotify 2>"$T/fim.err" &
FIMW=$!
PIDS+=($FIMW)
wait_for 10 test -f "$T/fim.ready" || fail "fim watch did not start: $(cat "$T/fim.err")"
is_code 200 /checkout/pay.php || fail "/checkout/ before the tampering"
printf '<?php echo "pay"; file_put_contents("/tmp/cards", $_POST);\n' > "$T/www/checkout/pay.php"
wait_for 10 is_code 503 /checkout/pay.php || fail "fim watch did not put /checkout/ in maintenance: $(cat "$T/fim.ev" | tail -n 3)"
is_code 200 /hello || fail "/hello is 503 after the fim request"
ctl status | grep -q "file $T/www/checkout/pay.php" || fail "status does not name the tampered file"
kill "$FIMW" 2>/dev/null
ctl maintenance off >/dev/null || fail "ctl maintenance off after fim"
is_code 200 /checkout/pay.php || fail "/checkout/ after off"
ok "sekimori fim watch on a tampered file puts its URL path in maintenance"

# ---- metrics ----------------------------------------------------------------
met="$(curl -s --max-time 5 "http://127.0.0.1:$M/metrics")"
echo "$met" | grep -q '^sekimori_requests_total{code="200"} [1-9]' || fail "metrics: no 200 count"
echo "$met" | grep -q '^sekimori_requests_total{code="503"} [1-9]' || fail "metrics: no 503 count"
echo "$met" | grep -q '^sekimori_blocked_total [1-9]' || fail "metrics: no blocked count"
echo "$met" | grep -q '^sekimori_workers 2$' || fail "metrics: workers"
echo "$met" | grep -q "^sekimori_generation $((gen_base + 3))\$" || fail "metrics: generation"
echo "$met" | grep -q '^sekimori_reload_failures_total 3$' || fail "metrics: reload failures"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$M/other")" = 404 ] || fail "metrics: /other not 404"
ok "/metrics shows the counters and the master's gauges"

# ---- SIGUSR1 ----------------------------------------------------------------
wait_for 5 grep -q '"GET /hello' "$T/access.log" || fail "access log has no request"
mv "$T/access.log" "$T/access.log.1"
mv "$T/proxy.log" "$T/proxy.log.1"
kill -USR1 "$MASTER"
sleep 0.5
wait_for 5 grep -q "logs reopened" "$T/proxy.log" 2>/dev/null || fail "the master did not reopen error_log"
for w in $(children); do
  [ "$(readlink "/proc/$w/fd/2")" = "$T/proxy.log" ] \
    || fail "worker $w still writes its log to $(readlink "/proc/$w/fd/2")"
done
is_code 200 /after-rotate || fail "request after USR1"
wait_for 5 grep -q '/after-rotate' "$T/access.log" 2>/dev/null || fail "the access log was not reopened"
! grep -q '/after-rotate' "$T/access.log.1" || fail "the moved log still written"
ok "SIGUSR1 reopens a moved access log and error_log (master and workers)"

# ---- a SIGKILLed worker is restarted ---------------------------------------
before="$(children)"
[ "$(echo $before | wc -w)" = 2 ] || fail "expected 2 workers, got: $before"
victim="$(echo $before | cut -d' ' -f1)"
kill -KILL "$victim"
wait_for 10 sh -c "[ \"\$(pgrep -P $MASTER | wc -l)\" = 2 ] && ! pgrep -P $MASTER | grep -qx $victim" \
  || fail "worker not restarted: $(children)"
grep -q "died unexpectedly" "$T/proxy.log" || fail "the death was not logged"
is_code 200 /hello || fail "requests after a restart"
ok "a SIGKILLed worker is restarted"

# Connections held by killed workers no longer count (max_connections).
conns() { ctl status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["connections"])'; }
conns_ge() { [ "$(conns)" -ge "$1" ]; }
conns_eq() { [ "$(conns)" = "$1" ]; }
nworkers_eq() { [ "$(pgrep -P "$MASTER" | wc -l)" = "$1" ]; }
python3 - "$P" "$T/held" <<'PY' &
import socket, sys, time
ss = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(4)]
open(sys.argv[2], "w").close()
time.sleep(1.5)
PY
HOLD=$!
PIDS+=($HOLD)
wait_for 5 test -e "$T/held" || fail "could not open idle connections"
wait_for 5 conns_ge 4 || fail "status counts $(conns) connections, expected >= 4"
for w in $(children); do kill -KILL "$w"; done
wait_for 10 nworkers_eq 2 || fail "workers not restarted: $(children)"
wait "$HOLD"
wait_for 5 conns_eq 0 || fail "killed workers' connections still counted: $(conns)"
is_code 200 /hello || fail "requests after restarting both workers"
# The worker killed twice within 10 s waits twice as long the second time.
grep -q "restarting in 200 ms" "$T/proxy.log" || fail "no restart backoff: $(grep restarting "$T/proxy.log")"
ok "connections of killed workers are no longer counted"

# ---- SIGTERM drains a slow request --------------------------------------------
curl -s --max-time 20 "http://127.0.0.1:$P/slow?s=3" > "$T/slow.out" &
CURL=$!
PIDS+=($CURL)
sleep 0.7
kill -TERM "$MASTER"
wait "$CURL" || fail "the slow request failed during the drain"
[ "$(cat "$T/slow.out")" = "slow done" ] || fail "slow body: $(cat "$T/slow.out")"
wait_for 15 sh -c "! kill -0 $MASTER 2>/dev/null" || fail "master did not exit"
wait "$MASTER"; rc=$?
MASTER=""
[ $rc -eq 0 ] || fail "master exit status $rc"
[ ! -e "$T/proxy.pid" ] || fail "pid file left"
[ ! -e "$T/ctl.sock" ] || fail "control socket left"
[ ! -e "$T/ready" ] || fail "ready file left"
ok "SIGTERM drains an in-flight request, the master exits 0 and cleans up"
kill "$WATCHDOG" 2>/dev/null
echo "PASS"
