#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A full disk: the log lives on a 1 MiB tmpfs. Appends through the writer
# must fail with errors (never hang, never crash the writer), the log must
# verify at every point, every acknowledged record must be in it, and once
# space is freed the same writer must accept records again. Needs root to
# mount the tmpfs; skips (77) otherwise.
set -u
B="${1:?usage: full_disk.sh SEKIMORI_LOG_DEV}"
if [ "$(id -u)" -ne 0 ]; then
  echo "full_disk: not root, cannot mount a tmpfs: skipped"
  exit 77
fi
T="$(mktemp -d /tmp/evlog-full.XXXXXX)"
M="$T/mnt"
mkdir -p "$M"
MAIN=$BASHPID
cleanup() {
  [ "$BASHPID" = "$MAIN" ] || return 0
  [ -n "${spid:-}" ] && kill -9 "$spid" 2>/dev/null
  umount "$M" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
if ! mount -t tmpfs -o size=1m tmpfs "$M" 2>"$T/mount.err"; then
  echo "full_disk: cannot mount a tmpfs ($(cat "$T/mount.err")): skipped"
  exit 77
fi
fail() { echo "full_disk: $*"; exit 1; }
"$B" keygen --key "$T/key" >/dev/null || fail "keygen"
D="$M/log" S="$T/sock"
"$B" serve --dir "$D" --key "$T/key" --socket "$S" --durability group \
  --checkpoint-every 200 --segment-mb 1 2>"$T/serve.err" &
spid=$!
for _ in $(seq 1 400); do [ -S "$S" ] && break; sleep 0.01; done
[ -S "$S" ] || fail "writer did not start: $(cat "$T/serve.err")"
body='{"client_ip":"10.0.0.9","path":"/checkout","pad":"'$(head -c 300 /dev/zero | tr '\0' x)'"}'
# Fill the disk in batches of 50: an append must fail with an error,
# never hang. 1 MiB cannot hold 200 * 50 records of 400 bytes.
acked=0 rc=0
for _ in $(seq 1 200); do
  timeout 60 "$B" append --socket "$S" --source proxy --type waf.block \
    --count 50 "$body" >"$T/acked" 2>"$T/append.err"
  rc=$?
  [ $rc -eq 124 ] && fail "appender hung on a full disk"
  l=$(tail -n 1 "$T/acked")
  [ -n "$l" ] && acked=$l
  [ $rc -ne 0 ] && break
done
[ $rc -ne 0 ] || fail "10000 records of 400 bytes fit in 1 MiB?"
grep -q "No space" "$T/append.err" ||
  fail "no disk error reported: $(cat "$T/append.err")"
kill -0 "$spid" 2>/dev/null || fail "the writer died on a full disk"
echo "full_disk: disk full after $acked acknowledged records: $(head -c 200 "$T/append.err")"
# More attempts while full: errors again, the writer stays up.
for _ in 1 2 3; do
  "$B" append --socket "$S" --source proxy --type waf.block --count 50 \
    "$body" >/dev/null 2>&1 && fail "50 more records fit on a full disk?"
done
kill -0 "$spid" 2>/dev/null || fail "the writer died on a full disk"
"$B" verify --dir "$D" --quiet >"$T/v" || fail "verify on a full disk: $(cat "$T/v")"
last=$(sed -n 's/^OK: records [0-9]*\.\.\([0-9]*\) .*/\1/p' "$T/v")
[ "$last" -ge "$acked" ] || fail "acknowledged $acked but the log ends at $last"
# Give the log room (as an operator would): the same writer goes on.
mount -o remount,size=4m "$M" || fail "remount"
n=$("$B" append --socket "$S" --source cli --type note '{"after":"space"}') ||
  fail "append after freeing space: $(tail -3 "$T/serve.err")"
[ "$n" -eq $((last + 1)) ] || fail "record $n after $last"
kill -TERM "$spid"; wait "$spid"; spid=
"$B" verify --dir "$D" --strict --quiet >"$T/v" || fail "verify: $(cat "$T/v")"
echo "full_disk: $(cat "$T/v")"
