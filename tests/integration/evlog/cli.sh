#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The `sekimori log` command line end to end: keygen (mode 0600, never
# overwritten), append, verify exit codes (0 intact, 1 tampered), query
# filters in table and JSON lines, tail -n and tail -f, export jsonl,
# prune --dry-run and prune, prove, and the peer-credential check.
set -u
B="${1:?usage: cli.sh SEKIMORI_LOG_DEV}"
T="$(mktemp -d /tmp/evlog-cli.XXXXXX)"
MAIN=$BASHPID
cleanup() {
  [ "$BASHPID" = "$MAIN" ] || return 0
  [ -n "${spid:-}" ] && kill "$spid" 2>/dev/null
  [ -n "${tpid:-}" ] && kill "$tpid" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "cli: $*"; exit 1; }
D="$T/log"

"$B" keygen --key "$T/key" >/dev/null || fail "keygen"
[ "$(stat -c %a "$T/key")" = 600 ] || fail "private key mode $(stat -c %a "$T/key")"
"$B" keygen --key "$T/key" 2>/dev/null; [ $? -eq 2 ] || fail "keygen overwrote a key"
"$B" keygen --key "$T/other" >/dev/null || fail "keygen 2"
chmod 644 "$T/other"
"$B" append --dir "$D" --key "$T/other" --source a --type b '{}' 2>/dev/null &&
  fail "a world-readable key was accepted"
chmod 600 "$T/other"

app() { "$B" append --dir "$D" --key "$T/key" "$@" >/dev/null || fail "append $*"; }
app --source proxy --type waf.block '{"client_ip":"192.0.2.7","path":"/admin/login.php","rule_id":"941100","card":"5500-0000-0000-0004"}'
app --source fim --type file.change '{"file":"/var/www/html/skimmer.php","action":"create"}'
app --source proxy --type response --count 50 '{"client_ip":"192.0.2.8","status":200}'
echo '{"password":"s3cret","client_ip":"192.0.2.7","path":"/checkout"}' |
  "$B" append --dir "$D" --key "$T/key" --source proxy --type waf.block - >/dev/null || fail "stdin"
# A different key is refused for an existing log.
"$B" append --dir "$D" --key "$T/other" --source a --type b '{}' 2>/dev/null &&
  fail "foreign key accepted"

"$B" verify --dir "$D" --quiet >"$T/v" || fail "verify: $(cat "$T/v")"
grep -q "^OK: records 1..53 " "$T/v" || fail "verify said $(cat "$T/v")"
"$B" verify --dir "$D" --pubkey "$T/key.pub" --quiet >/dev/null || fail "verify --pubkey"
"$B" verify --dir "$D" --pubkey "$T/other.pub" --quiet >/dev/null; [ $? -eq 1 ] ||
  fail "verify with the wrong public key passed"

q() { "$B" query --dir "$D" "$@" || fail "query $*"; }
[ "$(q --ip 192.0.2.7 | wc -l)" -eq 2 ] || fail "--ip"
[ "$(q --source fim | wc -l)" -eq 1 ] || fail "--source"
[ "$(q --type response | wc -l)" -eq 50 ] || fail "--type"
[ "$(q --rule 941100 | wc -l)" -eq 1 ] || fail "--rule"
[ "$(q --path /admin | wc -l)" -eq 1 ] || fail "--path"
[ "$(q --file skimmer | wc -l)" -eq 1 ] || fail "--file"
[ "$(q --text login.php | wc -l)" -eq 1 ] || fail "--text"
[ "$(q --since -1h --until now | wc -l)" -eq 53 ] || fail "--since/--until"
[ "$(q --until 2000-01-01T00:00:00Z | wc -l)" -eq 0 ] || fail "--until"
[ "$(q --limit 5 | wc -l)" -eq 5 ] || fail "--limit"
q --ip 192.0.2.7 --json | python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin]
assert rows[0]["body"]["card"] == "****-****-****-0004", rows[0]
assert rows[1]["body"]["password"] == "[REDACTED]", rows[1]
' || fail "json lines"
[ "$("$B" tail --dir "$D" --lines 3 | wc -l)" -eq 3 ] || fail "tail -n"
"$B" tail --dir "$D" --lines 1 | grep -q '"/checkout"' || fail "tail shows the last"
"$B" export --dir "$D" --format jsonl | python3 -c '
import json, sys
n = sum(1 for l in sys.stdin if json.loads(l)["seq"])
assert n == 53, n' || fail "export jsonl"
"$B" prove --dir "$D" --seq 7 --size 53 | grep -q verified || fail "prove inclusion"
"$B" prove --dir "$D" --consistency 10:53 | grep -q verified || fail "prove consistency"

# The writer: tail -f sees new records; a uid not allowed is refused.
S="$T/sock"
"$B" serve --dir "$D" --key "$T/key" --socket "$S" --quiet 2>"$T/serve.err" &
spid=$!
for _ in $(seq 1 300); do [ -S "$S" ] && break; sleep 0.01; done
"$B" tail --dir "$D" -f --source cli >"$T/follow" &
tpid=$!
sleep 0.5
"$B" append --socket "$S" --source cli --type note '{"hello":"follow"}' >/dev/null || fail "socket append"
for _ in $(seq 1 100); do grep -q follow "$T/follow" && break; sleep 0.05; done
grep -q '"hello":"follow"' "$T/follow" || fail "tail -f did not show the record"
kill "$tpid"; wait "$tpid" 2>/dev/null; tpid=
kill "$spid"; wait "$spid"
"$B" serve --dir "$D" --key "$T/key" --socket "$S" --allow-uid 4242 --quiet 2>/dev/null &
spid=$!
for _ in $(seq 1 300); do [ -S "$S" ] && break; sleep 0.01; done
"$B" append --socket "$S" --source cli --type note '{}' >/dev/null 2>"$T/denied" &&
  fail "a uid not in --allow-uid was accepted"
grep -q "permission denied" "$T/denied" || fail "no permission error: $(cat "$T/denied")"
kill "$spid"; wait "$spid"; spid=

# Tampering turns the exit status to 1 and names the record.
seg="$D/seg-0000000000000001.log"
python3 - "$seg" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
i = b.find(b"skimmer")
b[i] ^= 0x20
open(p, "wb").write(b)
PY
"$B" verify --dir "$D" --quiet >"$T/v"; rc=$?
[ $rc -eq 1 ] || fail "verify exit $rc on a tampered log"
grep -q "^FAIL: first bad record 2: " "$T/v" || fail "verify said $(cat "$T/v")"

# Retention on a fresh log: dry run changes nothing, prune keeps verify green.
D2="$T/log2"
for i in 1 2 3; do
  # Each run finds the segment older than a second and starts a new one.
  "$B" append --dir "$D2" --key "$T/key" --source proxy --type response \
    --count 300 --segment-secs 1 '{"i":1}' >/dev/null || fail "append $i"
  sleep 1.05
done
"$B" append --dir "$D2" --key "$T/key" --source proxy --type response \
  --segment-secs 1 '{"i":2}' >/dev/null || fail "append"
before=$(ls "$D2" | grep -c '^seg-')
[ "$before" -ge 2 ] || fail "expected several segments, got $before"
future=$(( $(date +%s) + 500 * 86400 ))
SK_EVLOG_NOW=$future "$B" prune --dir "$D2" --key "$T/key" --keep 13m --dry-run >"$T/p" || fail "prune --dry-run"
grep -q "would remove" "$T/p" || fail "dry run: $(cat "$T/p")"
[ "$(ls "$D2" | grep -c '^seg-')" -eq "$before" ] || fail "dry run removed files"
SK_EVLOG_NOW=$future "$B" prune --dir "$D2" --key "$T/key" --keep 13m >"$T/p" || fail "prune"
[ "$(ls "$D2" | grep -c '^seg-')" -eq 1 ] || fail "prune left $(ls "$D2")"
"$B" verify --dir "$D2" --quiet >"$T/v" || fail "verify after prune: $(cat "$T/v")"
grep -q "from a signed anchor" "$T/v" || fail "no anchor: $(cat "$T/v")"
echo "cli: all checks passed"
