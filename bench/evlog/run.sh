#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Event log benchmark, side by side with `logger` into rsyslog writing a
# file, in the same run: appends per second and MB/s for each durability
# setting (in-process and through the writer socket), verify throughput,
# queries over a log of 10 million records. Medians of RUNS runs; results
# go to stdout and to the "evlog" section of bench/RESULTS.md.
#   bench/evlog/run.sh [BUILD_DIR]     (env: N, RUNS, QN, KEEP_TMP)
set -euo pipefail
top="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="${1:-$top/build}"
BE="$BUILD/src/evlog/bench_evlog"
SEKIMORI="$BUILD/sekimori"
sk_log() { "$SEKIMORI" log "$@"; }
N="${N:-300000}"         # records per append run
NREC="${NREC:-2000}"     # records per fsync-per-record run
RUNS="${RUNS:-3}"
QN="${QN:-10000000}"     # records of the query/verify log
T="$(mktemp -d /var/tmp/evlog-bench.XXXXXX)"
cleanup() {
  [ -f "$T/rsyslogd.pid" ] && kill "$(cat "$T/rsyslogd.pid")" 2>/dev/null
  [ -n "${KEEP_TMP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
sk_log keygen --key "$T/key" >/dev/null

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A R
metric() { # name value
  R[$1]+="$2 "
}
runs() { # label cmd... : runs RUNS times on fresh dirs, records each metric
  shift
  for r in $(seq 1 "$RUNS"); do
    rm -rf "$T/run"
    "$@" "$T/run" | while read -r k v _; do echo "$k $v"; done >"$T/out"
    while read -r k v; do metric "$k" "$v"; done <"$T/out"
    rm -rf "$T/run" "$T/run.sock"
  done
}
get() { echo "${R[$1]}" | tr ' ' '\n' | grep . | median; }

echo "evlog bench: N=$N NREC=$NREC RUNS=$RUNS QN=$QN in $T" >&2
for mode in none group; do
  runs append sh -c "'$BE' append \"\$0\" '$T/key' $mode $N"
  runs socket sh -c "'$BE' socket \"\$0\" '$T/key' $mode $N"
done
runs append sh -c "'$BE' append \"\$0\" '$T/key' record $NREC"
runs socket sh -c "'$BE' socket \"\$0\" '$T/key' record $NREC"

# The incumbent: logger into rsyslogd (imuxsock) writing a file (omfile),
# N messages of the same body, timed until the last line is in the file.
if command -v rsyslogd >/dev/null || [ -x /usr/sbin/rsyslogd ]; then
  RSD=$(command -v rsyslogd || echo /usr/sbin/rsyslogd)
  cat >"$T/rsyslog.conf" <<CONF
global(workDirectory="$T")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" socket="$T/log.sock" ruleset="b")
ruleset(name="b") { action(type="omfile" file="$T/rsyslog.out") }
CONF
  "$RSD" -n -f "$T/rsyslog.conf" -i "$T/rsyslogd.pid" 2>"$T/rsyslogd.err" &
  for _ in $(seq 1 300); do [ -S "$T/log.sock" ] && break; sleep 0.02; done
  body='{"client_ip":"203.0.1.2","method":"POST","path":"/shopping/checkout/1234","rule_id":"942100","msg":"SQL Injection Attack Detected via libinjection","severity":"CRITICAL","status":403,"tx":"Z0000000012345678"}'
  awk -v n="$N" -v b="$body" 'BEGIN {for (i = 0; i < n; i++) print b}' >"$T/lines"
  for r in $(seq 1 "$RUNS"); do
    : >"$T/rsyslog.out"
    t0=$(date +%s.%N)
    logger -u "$T/log.sock" -d -t sekimori -f "$T/lines"
    while [ "$(wc -l <"$T/rsyslog.out")" -lt "$N" ]; do sleep 0.01; done
    t1=$(date +%s.%N)
    metric logger_rsyslog_rps "$(awk -v n="$N" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n / (b - a)}')"
    bytes=$(wc -c <"$T/rsyslog.out")
    metric logger_rsyslog_mbps "$(awk -v n="$bytes" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", n / (b - a) / 1e6}')"
  done
  kill "$(cat "$T/rsyslogd.pid")"; rm -f "$T/rsyslogd.pid"
else
  echo "rsyslogd not installed: no logger comparison" >&2
fi

# Verify a log that fits in the page cache: the CPU-bound rate.
"$BE" fill "$T/warm" "$T/key" "$N" >/dev/null
for r in $(seq 1 "$RUNS"); do
  "$BE" verify "$T/warm" | while read -r k v _; do echo "warm_$k $v"; done >"$T/out"
  while read -r k v; do metric "$k" "$v"; done <"$T/out"
done
rm -rf "$T/warm"

# Verify and query over a log of QN records.
echo "filling a log of $QN records..." >&2
"$BE" fill "$T/big" "$T/key" "$QN" >"$T/fill"
fill_end=$(($(date +%s) - 1)) # the query "since" this finds the last segment
while read -r k v _; do metric "fill_$k" "$v"; done <"$T/fill"
for r in $(seq 1 "$RUNS"); do
  "$BE" verify "$T/big" | while read -r k v _; do echo "$k $v"; done >"$T/out"
  while read -r k v; do metric "$k" "$v"; done <"$T/out"
done
"$BE" query "$T/big" "$fill_end" >"$T/query"
cat "$T/query" >&2
du -sb "$T/big" | awk '{print "big log bytes:", $1}' >&2

now=$(date -u +%Y-%m-%dT%H:%MZ)
lr=$(get logger_rsyslog_rps || echo 0)
ratio() { [ -n "$lr" ] && [ "$lr" != 0 ] && echo "$1 $lr" | awk '{printf "%.2f", $1 / $2}' || echo "n/a"; }
{
  echo "## evlog"
  echo
  echo "\`bench/evlog/run.sh\`, $now, medians of $RUNS runs. Machine: \`$(uname -a)\`, nproc $(nproc)."
  echo "Shared, busy machine (load average $(cut -d' ' -f1-3 /proc/loadavg)): wall-clock rates are low and noisy;"
  echo "the cpu-s rates (records per second of process CPU time) are steadier. Record body ~210 bytes"
  echo "(a WAF block event), ~290 bytes stored per record."
  echo
  echo "| path | durability | records/s (wall) | MB/s body (wall) | records per cpu-s | vs logger+rsyslog (wall) |"
  echo "| --- | --- | ---: | ---: | ---: | ---: |"
  for p in append socket; do
    for m in none group record; do
      echo "| $p | $m | $(get ${p}_${m}_rps) | $(get ${p}_${m}_mbps) | $(get ${p}_${m}_rps_cpu) | $(ratio "$(get ${p}_${m}_rps)") |"
    done
  done
  echo "| logger -> rsyslogd -> file | (rsyslog: none) | $lr | $(get logger_rsyslog_mbps || true) | | 1.00 |"
  echo
  echo "append = in-process \`sk_evlog_append\` + commit every 2 ms (group) or per record;"
  echo "socket = a client pipelining through \`sk_evlog_serve\` (window 4096, 64 for record), acks after commit."
  echo
  echo "Verify, log in the page cache ($N records, $(get warm_verify_bytes) bytes): $(get warm_verify_mbps) MB/s wall, $(get warm_verify_mbps_cpu) MB per cpu-s."
  echo "Verify over $QN records ($(get verify_bytes) bytes, more than this VM's page cache may keep): $(get verify_mbps) MB/s wall, $(get verify_mbps_cpu) MB per cpu-s, $(get verify_rps) records/s."
  echo "Fill (append, durability none) of that log: $(get fill_append_none_rps) records/s wall, $(get fill_append_none_rps_cpu) per cpu-s."
  echo
  echo "Queries over the $QN-record log (one run each):"
  echo
  sed 's/^/    /' "$T/query"
  echo
} >"$T/section.md"
cat "$T/section.md"
RES="$top/bench/RESULTS.md"
if [ -f "$RES" ]; then
  # Replace our section (from "## evlog" to the next "## ") and keep the rest.
  awk -v sec="$T/section.md" '
    /^## evlog$/ {skip=1; while ((getline l < sec) > 0) print l; next}
    /^## / && skip {skip=0}
    !skip {print}' "$RES" >"$T/res.md"
  grep -q '^## evlog$' "$RES" || cat "$T/section.md" >>"$T/res.md"
  cp "$T/res.md" "$RES"
else
  { echo "# Benchmark results"; echo; cat "$T/section.md"; } >"$RES"
fi
echo "wrote $RES" >&2
