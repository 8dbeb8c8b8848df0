#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `sekimori fim watch --evlog`: a tampering seen by the file monitor lands
# in the tamper-evident event log (a real `sekimori log serve` on a UNIX
# socket in a temp dir), and the log still verifies. Bounded: every wait
# gives up after 20 s, and the watcher stops itself after 60 s.
set -u
SK="${1:?usage: evlog.sh PATH/TO/sekimori}"
T="$(mktemp -d /tmp/sk-fim-evlog.XXXXXX)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL $*"; exit 1; }
wait_for() { # wait_for SECONDS COMMAND...
  local n=$(( $1 * 10 )); shift
  while [ "$n" -gt 0 ]; do "$@" && return 0; sleep 0.1; n=$((n - 1)); done
  return 1
}

"$SK" keygen --key "$T/log.key" >/dev/null || fail "keygen"
"$SK" log serve --dir "$T/log" --key "$T/log.key" --socket "$T/log.sock" \
  --durability record 2>"$T/serve.err" &
PIDS+=($!)
wait_for 20 test -S "$T/log.sock" || fail "log serve did not start: $(cat "$T/serve.err")"

mkdir -p "$T/www" "$T/state"
chmod 700 "$T/state"
printf '<?php echo "pay";\n' > "$T/www/pay.php"
cat > "$T/fim.conf" <<CONF
baseline $T/state/fim.db
key $T/state/fim.key
store $T/state/store
quarantine $T/state/q
coalesce_ms 10
check_interval 3600
rule $T/www {
    include *.php
    attrs all
    respond alert quarantine restore
}
CONF
"$SK" fim keygen -c "$T/fim.conf" 2>/dev/null || fail "fim keygen"
"$SK" fim init -c "$T/fim.conf" --force 2>/dev/null || fail "fim init"
"$SK" fim watch -c "$T/fim.conf" --events "$T/ev" --evlog "$T/log.sock" \
  --ready "$T/ready" --max-seconds 60 2>"$T/watch.err" &
PIDS+=($!)
wait_for 20 test -f "$T/ready" || fail "watch did not start: $(cat "$T/watch.err")"

printf '<?php echo "pay"; file_put_contents("/tmp/x", $_POST);\n' > "$T/www/pay.php"
wait_for 20 grep -q '"fim.restored"' "$T/ev" || fail "no restore event: $(cat "$T/ev")"
logged() { "$SK" log query --dir "$T/log" --type "$1" 2>/dev/null | grep -q "$1"; }
for type in fim.tamper fim.quarantined fim.restored; do
  wait_for 20 logged "$type" || fail "$type not in the event log: $("$SK" log query --dir "$T/log" 2>&1 | tail -n 5)"
  echo "ok   $type in the event log"
done
grep -q 'file_put_contents' "$T/www/pay.php" && fail "the file was not restored"
echo "ok   the good file is back"
"$SK" log verify --dir "$T/log" --quiet 2>/dev/null || fail "the event log does not verify"
echo "ok   the event log verifies"
if grep -q 'fim.refused\|event log .* refused' "$T/watch.err"; then
  fail "watch reported: $(cat "$T/watch.err")"
fi
echo "1 passed, 0 failed"
