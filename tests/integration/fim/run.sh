#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Integration test of `sekimori fim` on a generated tree: every tampering
# kind of issue 4 (content, mode, owner, new file, deleted file, symlink
# swapped in, rename over, new hard link, content rewritten with the old
# mtime put back) is detected by `check` (exit bitmask and JSON) and by
# `watch` (event, then quarantine and restore verified byte for byte); a
# `touch` alone is not tampering; a forged, altered or foreign-signed
# baseline and an altered store object are refused; `accept` takes a
# change into a new signed baseline. Bounded: every wait has a deadline.
# Usage: run.sh PROGRAM   (a program that runs `sekimori fim`)
set -euo pipefail

FIM="$1"
T="$(mktemp -d /tmp/sk-fim-it.XXXXXX)"
WATCH_PID=""
cleanup() {
  if [ -n "$WATCH_PID" ]; then kill "$WATCH_PID" 2>/dev/null || true; fi
  rm -rf "$T"
}
trap cleanup EXIT
fails=0
pass() { echo "ok   $*"; }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
is_root() { [ "$(id -u)" -eq 0 ]; }

W="$T/www"
CONF="$T/fim.conf"
cat > "$CONF" <<EOF
baseline $T/state/fim.db
key $T/state/fim.key
store $T/state/store
quarantine $T/state/q
coalesce_ms 10
check_interval 3600
escalate 3 10
maintenance_socket $T/proxy.sock
maintenance_path /checkout /payment
rule $W {
    include *.php *.js .htaccess *.twig
    exclude cache
    attrs all
    respond alert quarantine restore
}
rule $T/conf {
    attrs all
    respond alert maintenance exec
    exec $T/hook.sh
}
EOF
mkdir -p "$T/conf"
echo 'listen 80;' > "$T/conf/site.conf"
cat > "$T/hook.sh" <<EOF
#!/bin/sh
echo "\$1 \$2" >> "$T/hook.out"
EOF
chmod 755 "$T/hook.sh"

gen_tree() {
  rm -rf "$W" "$T/orig"
  mkdir -p "$W/app/cache" "$W/app/views" "$W/js"
  for i in $(seq 1 40); do
    printf '<?php // file %d\necho "%d";\n' "$i" "$i" > "$W/app/f$i.php"
    printf 'console.log(%d);\n' "$i" > "$W/js/s$i.js"
  done
  printf '{{ title }}\n' > "$W/app/views/page.twig"
  printf 'Deny from all\n' > "$W/.htaccess"
  printf 'cache\n' > "$W/app/cache/x.php"
  ln -s app/f1.php "$W/link.php"
  cp -a "$W" "$T/orig"
}

mkdir -p "$T/state"
chmod 700 "$T/state"
"$FIM" keygen -c "$CONF" 2>/dev/null
[ "$(stat -c %a "$T/state/fim.key")" = 600 ] && pass "key is 0600" || fail "key mode"

# ---- check ---------------------------------------------------------------

# tamper NAME; each case starts from a fresh tree and baseline.
run_check() {
  local name="$1" want_bits="$2" jq_path="$3" jq_what="$4"
  gen_tree
  "$FIM" init -c "$CONF" --force 2>/dev/null
  "tamper_$name"
  local out rc=0
  out="$("$FIM" check -c "$CONF" --json)" || rc=$?
  if [ $((rc & 7)) -ne 0 ] && [ $((rc & want_bits)) -eq "$want_bits" ] &&
     python3 - "$out" "$jq_path" "$jq_what" <<'EOF'
import json, sys
doc = json.loads(sys.argv[1]); path = sys.argv[2]; what = sys.argv[3]
kind, _, attr = what.partition(":")
for e in doc["entries"]:
    if e["path"] == path and e["kind"] == kind and (not attr or attr in e.get("changes", {})):
        sys.exit(0)
sys.exit(1)
EOF
  then pass "check: $name (exit $rc)"
  else fail "check: $name (exit $rc) $out"; fi
}

tamper_content() { echo 'eval($_POST[x]);' >> "$W/app/f3.php"; }
tamper_mode() { chmod 666 "$W/app/f4.php"; }
tamper_owner() { chown 33:33 "$W/app/f5.php"; }
tamper_newfile() { echo '<?php skim();' > "$W/app/skimmer.php"; }
tamper_deleted() { rm "$W/js/s6.js"; }
tamper_symswap() { ln -s /etc/passwd "$W/app/tmp.x" && mv -T "$W/app/tmp.x" "$W/app/f7.php"; }
tamper_renameover() { echo '<?php skim();' > "$W/app/evil.x" && mv "$W/app/evil.x" "$W/app/f8.php"; }
tamper_hardlink() { ln "$W/app/f9.php" "$W/app/f9-copy.php"; }
tamper_touchr() {
  touch -r "$W/app/f10.php" "$T/ref"
  printf '<?php // file 10\necho "X";\n' > "$W/app/f10.php"
  touch -r "$T/ref" "$W/app/f10.php"
}
tamper_touch() { touch -d '2001-02-03' "$W/app/f11.php"; }

run_check content 4 "$W/app/f3.php" changed:sha256
run_check mode 4 "$W/app/f4.php" changed:mode
if is_root; then run_check owner 4 "$W/app/f5.php" changed:uid; fi
run_check newfile 1 "$W/app/skimmer.php" added
run_check deleted 2 "$W/js/s6.js" removed
run_check symswap 4 "$W/app/f7.php" changed:type
run_check renameover 4 "$W/app/f8.php" changed:sha256
run_check hardlink 5 "$W/app/f9.php" changed:nlink
run_check touchr 4 "$W/app/f10.php" changed:sha256
run_check touch 4 "$W/app/f11.php" changed:mtime
# ... and the rewrite with the old mtime put back shows no mtime change,
# which is exactly why the hash is checked.
gen_tree; "$FIM" init -c "$CONF" --force 2>/dev/null; tamper_touchr
if "$FIM" check -c "$CONF" --json | grep -q '"mtime"'; then
  fail "touch -r: mtime restored yet reported"; else pass "touch -r: mtime unchanged, hash caught it"; fi

# An unchanged tree checks clean, and the exclude is honoured.
gen_tree; "$FIM" init -c "$CONF" --force 2>/dev/null
echo changed >> "$W/app/cache/x.php"
if "$FIM" check -c "$CONF" > /dev/null; then pass "clean check exits 0"; else fail "clean check"; fi

# ---- accept ----------------------------------------------------------------
echo '<?php // v2' > "$W/app/f12.php"
echo '<?php // other' > "$W/app/f13.php"
"$FIM" accept -c "$CONF" --reason "deploy 1.2" "$W/app/f12.php" 2>/dev/null
out="$("$FIM" check -c "$CONF" --json || true)"
if ! grep -q "f12.php" <<<"$out" && grep -q "f13.php" <<<"$out"; then
  pass "accept takes only the named path"; else fail "accept: $out"; fi
"$FIM" accept -c "$CONF" --reason "deploy 1.3" 2>/dev/null
if "$FIM" check -c "$CONF" > /dev/null; then pass "accept all: clean"; else fail "accept all"; fi

# ---- refused baselines and store -----------------------------------------
cp "$T/state/fim.db" "$T/good.db"
python3 - "$T/state/fim.db" <<'EOF'
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[100] ^= 1
open(p, "wb").write(b)
EOF
rc=0; "$FIM" check -c "$CONF" > /dev/null 2>"$T/err" || rc=$?
[ "$rc" -eq 18 ] && grep -q REFUSED "$T/err" && pass "altered baseline refused (18)" || fail "altered baseline: rc=$rc"
rc=0; "$FIM" watch -c "$CONF" --events "$T/ev-refused" --max-seconds 2 2>/dev/null || rc=$?
[ "$rc" -eq 18 ] && grep -q fim.refused "$T/ev-refused" && pass "watch refuses it too" || fail "watch on altered baseline: rc=$rc"
# A baseline re-signed by another key (the attacker's own) is refused.
sed "s|$T/state/fim.key|$T/evil.key|" "$CONF" > "$T/evil.conf"
"$FIM" keygen -c "$T/evil.conf" 2>/dev/null
"$FIM" init -c "$T/evil.conf" --force 2>/dev/null
rc=0; "$FIM" check -c "$CONF" > /dev/null 2>&1 || rc=$?
[ "$rc" -eq 18 ] && pass "foreign-signed baseline refused" || fail "foreign key: rc=$rc"
cp "$T/good.db" "$T/state/fim.db"
# An altered store object is refused at restore time.
obj="$(find "$T/state/store" -name '*.zst' -print -quit)"
cp "$obj" "$T/obj.bak"
printf 'not a zstd frame' > "$obj"
victim=""
for f in "$W"/app/*.php "$W"/js/*.js; do
  echo junk >> "$f"
  rc=0; "$FIM" restore -c "$CONF" "$f" 2>/dev/null || rc=$?
  if [ "$rc" -eq 18 ]; then victim="$f"; break; fi
  "$FIM" restore -c "$CONF" "$f" 2>/dev/null || true
done
[ -n "$victim" ] && pass "altered store object refused" || fail "store object not verified"
cp "$T/obj.bak" "$obj"

watch_phase() {
MODE="$1"
# ---- watch -----------------------------------------------------------------
gen_tree; "$FIM" init -c "$CONF" --force 2>/dev/null
rm -rf "$T/state/q" "$T/hook.out" "$T/maint.out" "$T/proxy.sock" "$T/ready"
echo 'listen 80;' > "$T/conf/site.conf"
"$FIM" accept -c "$CONF" --reason "reset $MODE" 2>/dev/null
EV="$T/events-$MODE.jsonl"
: > "$EV"
local flag=""
[ "$MODE" = inotify ] && flag="--no-fanotify"
"$FIM" watch -c "$CONF" --events "$EV" --ready "$T/ready" --max-seconds 150 $flag 2>"$T/watch.err" &
WATCH_PID=$!
for _ in $(seq 1 200); do [ -f "$T/ready" ] && break; sleep 0.05; done
[ -f "$T/ready" ] || { fail "[$MODE] watch did not start: $(cat "$T/watch.err")"; exit 1; }
if grep -q "\"mode\":\"$MODE\"" "$EV"; then pass "[$MODE] watch runs on $MODE"; else fail "[$MODE] mode: $(head -n 1 "$EV")"; fi

# wait_event TYPE PATH [KIND]: waits up to 15 s for an event line. The
# watcher answers within milliseconds on a quiet machine; the margin is for
# ASan builds on a busy one (a filesystem-wide fanotify mark sees every
# write on the filesystem, builds included).
wait_event() {
  local type="$1" path="$2" kind="${3:-}"
  local end=$((SECONDS + 15))
  while [ "$SECONDS" -lt "$end" ]; do
    if python3 - "$EV" "$type" "$path" "$kind" <<'EOF'
import json, sys
ev, typ, path, kind = sys.argv[1:]
for line in open(ev):
    d = json.loads(line)
    b = d["body"]
    ch = b.get("change", {})
    p = ch.get("path", b.get("path"))
    if d["type"] == typ and p == path and (not kind or kind in ch.get("changes", {}) or kind == ch.get("kind")):
        sys.exit(0)
sys.exit(1)
EOF
    then return 0; fi
    sleep 0.05
  done
  return 1
}
same_as_orig() { # byte for byte, with mode and owner
  local rel="$1"
  cmp -s "$W/$rel" "$T/orig/$rel" &&
    [ "$(stat -c '%a %u %g %F' "$W/$rel")" = "$(stat -c '%a %u %g %F' "$T/orig/$rel")" ]
}
watch_case() {
  local name="$1" rel="$2" kind="$3"
  "tamper_$name"
  if wait_event fim.tamper "$W/$rel" "$kind"; then
    pass "[$MODE] watch: $name detected"
  else
    fail "[$MODE] watch: $name not detected"; return
  fi
  if [ "$name" = newfile ] || [ "$name" = hardlink ]; then
    for _ in $(seq 1 100); do [ ! -e "$W/$rel" ] && break; sleep 0.05; done
    [ ! -e "$W/$rel" ] && pass "[$MODE] watch: $name removed" || fail "[$MODE] watch: $name still there"
    return
  fi
  if wait_event fim.restored "$W/$rel" && same_as_orig "$rel"; then
    pass "[$MODE] watch: $name restored byte for byte"
  else
    fail "[$MODE] watch: $name not restored"
  fi
}

watch_case content app/f3.php sha256
if [ "$MODE" = fanotify ]; then
  if python3 - "$EV" "$W/app/f3.php" "$$" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    w = d["body"].get("writer")
    if d["type"] == "fim.tamper" and d["body"]["change"]["path"] == sys.argv[2] and w and w["pid"] == int(sys.argv[3]) and w["exe"].endswith("bash"):
        sys.exit(0)
sys.exit(1)
EOF
  then pass "[$MODE] writer identified (pid, exe)"; else fail "[$MODE] writer not identified"; fi
fi
watch_case mode app/f4.php mode
if is_root; then watch_case owner app/f5.php uid; fi
watch_case newfile app/skimmer.php added
watch_case deleted js/s6.js removed
watch_case symswap app/f7.php type
watch_case renameover app/f8.php sha256
watch_case hardlink app/f9-copy.php added
watch_case touchr app/f10.php sha256

# The quarantined copy of the content change holds the tampered bytes.
if grep -rl 'eval(\$_POST\[x\]);' "$T/state/q"/*/data > /dev/null 2>&1; then
  pass "[$MODE] quarantine kept the tampered bytes"
else fail "[$MODE] quarantine copy missing"; fi
qmeta="$(grep -l "app/f3.php" "$T/state/q"/*/meta.json | sed -n 1p)"
[ -n "$qmeta" ] && [ "$(stat -c %a "$(dirname "$qmeta")")" = 700 ] &&
  pass "[$MODE] quarantine is root-only with metadata" || fail "[$MODE] quarantine metadata"

# A touch alone is reported as such and nothing is restored.
tamper_touch
if wait_event fim.touch "$W/app/f11.php"; then pass "[$MODE] watch: touch reported as touch"; else fail "[$MODE] watch: touch"; fi
if wait_event fim.tamper "$W/app/f11.php" 2>/dev/null; then fail "[$MODE] watch: touch called tampering"; else pass "[$MODE] watch: touch not tampering"; fi

# A new directory is followed.
mkdir "$W/app/newdir"
sleep 0.2
echo '<?php x();' > "$W/app/newdir/drop.php"
if wait_event fim.tamper "$W/app/newdir/drop.php" added; then pass "[$MODE] watch: new directory followed"; else fail "[$MODE] watch: new directory"; fi

# Escalation: the third tampering of one path within the window is not
# restored (the config says escalate 3 10).
E="$W/app/f20.php"
for k in 1 2; do
  echo "attack $k" >> "$E"
  wait_event fim.restored "$E" || true
  for _ in $(seq 1 100); do cmp -s "$E" "$T/orig/app/f20.php" && break; sleep 0.05; done
done
echo "attack 3" >> "$E"
if wait_event fim.escalate "$E" && grep -q "attack 3" "$E"; then
  pass "[$MODE] watch: escalation stops restoring"; else fail "[$MODE] watch: escalation"; fi

# An accept while watching is taken up by the daemon.
"$FIM" accept -c "$CONF" --reason "hotfix $MODE" "$E" 2>/dev/null
if wait_event fim.baseline_reloaded "$T/state/fim.db"; then
  pass "watch: accepted baseline reloaded"; else fail "watch: accept not reloaded"; fi

# Maintenance request to the (stand-in) proxy control socket, and the hook.
python3 - "$T/proxy.sock" "$T/maint.out" <<'EOF' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(1); s.settimeout(20)
c, _ = s.accept(); data = c.recv(65536)
open(sys.argv[2], "wb").write(data)
EOF
MAINT_PID=$!
for _ in $(seq 1 100); do [ -S "$T/proxy.sock" ] && break; sleep 0.05; done
echo 'listen 8080;' > "$T/conf/site.conf"
if wait_event fim.maintenance "$T/conf/site.conf"; then
  wait "$MAINT_PID" || true
  if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["op"]=="maintenance" and d["paths"]==["/checkout","/payment"] and d["file"].endswith("site.conf") else 1)' "$T/maint.out"
  then pass "[$MODE] watch: maintenance request sent"; else fail "[$MODE] watch: maintenance request $(cat "$T/maint.out")"; fi
else fail "[$MODE] watch: no maintenance event"; kill "$MAINT_PID" 2>/dev/null || true; fi
for _ in $(seq 1 100); do [ -s "$T/hook.out" ] && break; sleep 0.05; done
if grep -q "fim.tamper $T/conf/site.conf" "$T/hook.out" 2>/dev/null; then
  pass "[$MODE] watch: exec hook ran"; else fail "[$MODE] watch: exec hook"; fi

# Tampering with the baseline while watching is raised.
cp "$T/state/fim.db" "$T/watch-good.db"
printf 'x' >> "$T/state/fim.db"
if wait_event fim.refused "$T/state/fim.db"; then pass "[$MODE] watch: altered baseline raised"; else fail "[$MODE] watch: baseline guard"; fi
cp "$T/watch-good.db" "$T/state/fim.db"

kill "$WATCH_PID"
wait "$WATCH_PID" || true
WATCH_PID=""

# After all the restores, `check` finds content, mode and owner intact.
out="$("$FIM" check -c "$CONF" --json || true)"
if python3 - "$out" <<'EOF'
import json, sys
doc = json.loads(sys.argv[1])
bad = [e for e in doc["entries"] if e["kind"] == "changed" and
       set(e.get("changes", {})) - {"inode", "ctime", "mtime", "nlink"} and e["type"] != "directory"
       # left tampered on purpose: escalated, and a rule without restore
       and not e["path"].endswith("/f20.php") and "/conf/" not in e["path"]]
sys.exit(1 if bad else 0)
EOF
then pass "[$MODE] check after watch: content, mode, owner as in the baseline"
else fail "[$MODE] check after watch: $out"; fi

}
if is_root; then watch_phase fanotify; fi
watch_phase inotify

echo "fim integration: $fails failure(s)"
[ "$fails" -eq 0 ]
