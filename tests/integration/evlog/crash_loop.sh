#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Crash recovery at random kill points: 200 rounds of starting the writer,
# appending through its socket, kill -9 at a random moment (during start,
# recovery, appends or commits), then recovery and a full verify. Checks
# that recovery cuts at most an incomplete tail, that verify passes, and
# that no record acknowledged as durable is lost. Bounded to ~60 s.
set -u
B="${1:?usage: crash_loop.sh SEKIMORI_LOG_DEV}"
ROUNDS="${EVLOG_KILL_ROUNDS:-200}"
T="$(mktemp -d /tmp/evlog-crash.XXXXXX)"
MAIN=$BASHPID
cleanup() {
  [ "$BASHPID" = "$MAIN" ] || return 0
  exec 2>/dev/null
  kill -9 $(jobs -p)
  rm -rf "$T"
}
trap cleanup EXIT
"$B" keygen --key "$T/key" >/dev/null || exit 1
D="$T/log" S="$T/sock"
modes=(group none record group)
acked_max=0 cuts=0 start=$(date +%s)
for i in $(seq 1 "$ROUNDS"); do
  mode=${modes[$((i % 4))]}
  "$B" serve --dir "$D" --key "$T/key" --socket "$S" --durability "$mode" \
    --checkpoint-every 500 --segment-mb 1 --quiet 2>>"$T/serve.err" &
  spid=$!
  # The appender starts at once and retries until the socket is there.
  (
    for _ in $(seq 1 200); do
      [ -S "$S" ] && break
      kill -0 "$spid" 2>/dev/null || exit 0
      sleep 0.005
    done
    exec "$B" append --socket "$S" --source proxy --type waf.block \
      --count 100000 '{"client_ip":"10.0.0.1","path":"/checkout","card":"4111111111111111","n":'"$i"'}'
  ) >"$T/acked" 2>/dev/null &
  cpid=$!
  # A random moment between 0 and ~60 ms after the start.
  sleep "0.0$(printf '%02d' $((RANDOM % 60)))"
  kill -9 "$spid" 2>/dev/null
  wait "$spid" 2>/dev/null
  # The client sees the writer die and exits; do not wait for it forever.
  ( sleep 2; kill -9 "$cpid" 2>/dev/null ) &
  guard=$!
  wait "$cpid" 2>/dev/null
  kill "$guard" 2>/dev/null; wait "$guard" 2>/dev/null
  rm -f "$S"
  last=$(tail -n 1 "$T/acked" 2>/dev/null)
  [ -n "$last" ] && [ "$last" -gt "$acked_max" ] && acked_max=$last
  out=$("$B" recover --dir "$D" --key "$T/key" --quiet 2>"$T/recover.err")
  rc=$?
  if [ $rc -ne 0 ]; then
    echo "round $i ($mode): recovery failed:"; cat "$T/recover.err"; exit 1
  fi
  grep -q "cut an incomplete tail" "$T/recover.err" && cuts=$((cuts + 1))
  if [ "$out" -lt "$acked_max" ]; then
    echo "round $i ($mode): lost acknowledged records: log has $out, acked $acked_max"
    exit 1
  fi
  if ! "$B" verify --dir "$D" --strict --quiet >"$T/verify.out"; then
    echo "round $i ($mode): verify failed:"; cat "$T/verify.out"; exit 1
  fi
  # ~55 s in a release build; sanitizer builds on a busy machine are
  # slower, and a safety bound keeps a broken run from hanging CI.
  if [ $(( $(date +%s) - start )) -gt 600 ]; then
    echo "crash_loop: time budget exhausted after $i rounds"; break
  fi
done
echo "crash_loop: $i rounds in $(( $(date +%s) - start )) s, $(cat "$T/verify.out")"
echo "crash_loop: $cuts recoveries cut an incomplete tail; highest acked record $acked_max"
[ "$i" -ge 200 ] || [ "$ROUNDS" -lt 200 ] || exit 1
exit 0
