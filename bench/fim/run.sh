#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/fim: `sekimori fim init/check` side by side with AIDE 0.18 (Debian's
# aide, SHA-256 and the same attributes, num_workers=100% so that it uses
# every core too) on two generated trees, plus the machine's stat+hash
# floor (bench_fim_limit). Warm cache: one untimed check first, then the
# median of RUNS timed runs. Prints a Markdown table for bench/RESULTS.md.
# Usage: bench/fim/run.sh BUILD_DIR [WORK_DIR] [web|small|both]
set -euo pipefail

BUILD="$(cd "$1" && pwd)"
WORK="${2:-/tmp/sk-fim-bench}"
WHICH="${3:-both}"
RUNS="${RUNS:-3}"
FIM=("$BUILD/sekimori" fim)
LIMIT="$BUILD/src/fim/bench_fim_limit"
HERE="$(cd "$(dirname "$0")" && pwd)"
command -v aide > /dev/null || { echo "aide is not installed (scripts/setup-deps)"; exit 1; }
mkdir -p "$WORK"

# measure CMD...: prints "wall cpu maxrss_kb" (GNU time), exit status kept.
measure() {
  local out="$WORK/time.$$"
  /usr/bin/time -f '%e %U %S %M' -o "$out" "$@" > /dev/null 2>&1 || true
  awk '{printf "%.2f %.2f %d\n", $1, $2 + $3, $4}' "$out"
}
median3() { sort -n | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}'; }
# runs CMD RUNS times after one warm-up, prints the run with median wall
timed() {
  "$@" > /dev/null 2>&1 || true
  local rows=()
  for _ in $(seq 1 "$RUNS"); do rows+=("$(measure "$@")"); done
  printf '%s\n' "${rows[@]}" | median3
}

bench_tree() {
  local kind="$1" tree="$WORK/$1"
  if [ ! -f "$WORK/$kind.done" ]; then
    rm -rf "$tree"
    python3 "$HERE/gen_tree.py" "$kind" "$tree"
    touch "$WORK/$kind.done"
  fi
  local st="$WORK/state-$kind"
  rm -rf "$st" && mkdir -p "$st" && chmod 700 "$st"
  cat > "$st/fim.conf" <<EOC
baseline $st/fim.db
key $st/fim.key
store $st/store
quarantine $st/q
store_max_total 8G
rule $tree {
    attrs type size mode uid gid inode nlink mtime ctime target sha256
    respond alert
}
EOC
  cat > "$st/aide.conf" <<EOC
database_in=file:$st/aide.db
database_out=file:$st/aide.db.new
gzip_dbout=no
num_workers=100%
report_url=stdout
log_level=error
R = ftype+p+i+n+u+g+s+m+c+l+sha256
$tree R
EOC
  "${FIM[@]}" keygen -c "$st/fim.conf" 2> /dev/null
  local files bytes
  files="$(find "$tree" -type f | wc -l)"
  bytes="$(du -sb "$tree" | cut -f1)"
  find "$tree" -type f -print0 | xargs -0 cat > /dev/null   # warm the cache

  # init: sekimori writes the store too (compression), AIDE only its db.
  local sk_init aide_init
  sk_init="$(measure "${FIM[@]}" init -c "$st/fim.conf" --force)"
  aide_init="$(measure aide -c "$st/aide.conf" --init)"
  mv "$st/aide.db.new" "$st/aide.db"
  local sk_check aide_check lim
  sk_check="$(timed "${FIM[@]}" check -c "$st/fim.conf")"
  aide_check="$(timed aide -c "$st/aide.conf" --check)"
  lim="$(for _ in 1 2 3; do "$LIMIT" "$tree" | awk '{print $10}'; done | median3)"
  # Same findings: a fixed set of changes, then both checks.
  local some; some="$(find "$tree" -type f -name '*.php' | sort | sed -n 1,40p)"
  local i=0
  for f in $some; do
    case $((i % 4)) in
      0) echo '/* x */' >> "$f" ;;
      1) chmod 600 "$f" ;;
      2) rm "$f" ;;
      3) touch -d '2001-01-01' "$f" ;;
    esac
    i=$((i + 1))
  done
  for j in 1 2 3 4 5; do echo new > "$tree/app00/added$j.php" 2>/dev/null || echo new > "$tree/d00/added$j.php"; done
  local sk_sum aide_sum
  # The same findings: the lists of (kind, path) of both, compared.
  "${FIM[@]}" check -c "$st/fim.conf" --json > "$st/sk.json" || true
  aide -c "$st/aide.conf" --check > "$st/aide.txt" || true
  local same
  same="$(python3 - "$st/sk.json" "$st/aide.txt" <<'EOP'
import json, re, sys
sk = {(e["kind"], e["path"]) for e in json.load(open(sys.argv[1]))["entries"]}
aide, sec = set(), None
for line in open(sys.argv[2]):
    m = re.match(r"^(Added|Removed|Changed) entries:\s*$", line.strip())
    if m:
        sec = m.group(1).lower()
        continue
    m = re.match(r"^[fdl][ <>=+-].*: (/.*)$", line.rstrip("\n"))
    if sec and m:
        aide.add((sec, m.group(1)))
only_sk, only_aide = sorted(sk - aide), sorted(aide - sk)
print("sekimori %d findings, AIDE %d, in common %d; only sekimori: %s; only AIDE: %s" % (
    len(sk), len(aide), len(sk & aide), only_sk[:6] or "none", only_aide[:6] or "none"))
EOP
)"
  # Put the tree back (from sekimori's own store) for the next run.
  local restore=()
  for f in $some; do restore+=("$f"); done
  "${FIM[@]}" restore -c "$st/fim.conf" "${restore[@]}" 2> /dev/null || rm -f "$WORK/$kind.done"
  rm -f "$tree"/app00/added?.php "$tree"/d00/added?.php

  echo "### $kind tree: $files files, $((bytes / 1048576)) MiB"
  echo
  echo "| | wall s | CPU s | peak RSS MiB |"
  echo "|---|---|---|---|"
  for row in "sekimori init (+store)|$sk_init" "AIDE init|$aide_init" \
             "sekimori check|$sk_check" "AIDE check|$aide_check"; do
    local name="${row%%|*}" v="${row#*|}"
    read -r w c r <<< "$v"
    echo "| $name | $w | $c | $((r / 1024)) |"
  done
  echo "| stat+hash floor (bench_fim_limit, all cores) | $lim | | |"
  read -r skw skc _ <<< "$sk_check"
  read -r aw ac _ <<< "$aide_check"
  read -r siw _ _ <<< "$sk_init"
  read -r aiw _ _ <<< "$aide_init"
  echo
  awk -v a="$aw" -v s="$skw" -v ac="$ac" -v sc="$skc" -v l="$lim" \
      -v ai="$aiw" -v si="$siw" 'BEGIN {
    printf "check: AIDE/sekimori wall %.1fx, CPU %.1fx; sekimori/floor %.2fx. init: AIDE/sekimori wall %.1fx\n",
      a / s, ac / sc, s / l, ai / si }'
  echo
  echo "Findings after the same 40 changes + 5 new files: $same"
  echo
}

echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/ {print $2}') GB RAM, kernel $(uname -r); $(aide --version 2>&1 | sed -n 1p); runs: median of $RUNS, warm cache."
echo
if [ "$WHICH" = web ] || [ "$WHICH" = both ]; then bench_tree web; fi
if [ "$WHICH" = small ] || [ "$WHICH" = both ]; then bench_tree small; fi
