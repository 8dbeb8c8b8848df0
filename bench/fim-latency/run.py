#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""bench/fim-latency: from a write by another process to `sekimori fim
watch`'s detection event (fim.tamper) and to its completed restore
(fim.restored), over N modifications of distinct files of the bench/fim
web tree (50,000 files). Times are the daemon's own event timestamps
(CLOCK_REALTIME, microseconds) minus the writer's clock just before its
open(2); both on this machine. Also reports the daemon's memory.

Usage: run.py BUILD_DIR [WORK_DIR] [N] [web|small] [fanotify|inotify]
The rule is the default's: alert quarantine restore, coalesce_ms 10.
"""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

build = os.path.abspath(sys.argv[1])
work = sys.argv[2] if len(sys.argv) > 2 else "/tmp/sk-fim-bench"
n = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
kind = sys.argv[4] if len(sys.argv) > 4 else "web"
mode = sys.argv[5] if len(sys.argv) > 5 else "fanotify"
fim = [os.path.join(build, "sekimori"), "fim"]
here = os.path.dirname(os.path.abspath(__file__))
tree = os.path.join(work, kind)
os.makedirs(work, exist_ok=True)
if not os.path.exists(os.path.join(work, kind + ".done")):
    shutil.rmtree(tree, ignore_errors=True)
    subprocess.run([sys.executable, os.path.join(here, "../fim/gen_tree.py"),
                    kind, tree], check=True)
    open(os.path.join(work, kind + ".done"), "w").close()

st = os.path.join(work, "lat-state-" + kind)
shutil.rmtree(st, ignore_errors=True)
os.makedirs(st, mode=0o700)
conf = os.path.join(st, "fim.conf")
with open(conf, "w") as f:
    f.write(f"""baseline {st}/fim.db
key {st}/fim.key
store {st}/store
quarantine {st}/q
store_max_total 8G
coalesce_ms 10
escalate 1000 10
check_interval 3600
rule {tree} {{
    attrs type size mode uid gid inode nlink mtime ctime target sha256
    respond alert quarantine restore
}}
""")
subprocess.run([*fim, "keygen", "-c", conf], check=True,
               stderr=subprocess.DEVNULL)
subprocess.run([*fim, "init", "-c", conf, "--force"], check=True,
               stderr=subprocess.DEVNULL)
ev = os.path.join(st, "events.jsonl")
ready = os.path.join(st, "ready")
w = subprocess.Popen([*fim, "watch", "-c", conf, "--events", ev, "--ready",
                      ready] + (["--no-fanotify"] if mode == "inotify" else []),
                     stderr=subprocess.DEVNULL)
deadline = time.time() + 300
while not os.path.exists(ready):
    if time.time() > deadline or w.poll() is not None:
        sys.exit("watch did not start")
    time.sleep(0.05)


def status():
    out = {}
    with open(f"/proc/{w.pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
    return out


time.sleep(0.5)
mem = status()
entries = None
fh = open(ev)


def next_events():
    out = []
    while True:
        line = fh.readline()
        if not line:
            return out
        out.append(json.loads(line))


for e in next_events():
    if e["type"] == "fim.start":
        entries = e["body"]["entries"]
        watches = e["body"]["watches"]
        fan = e["body"]["mode"]

files = []
for root, dirs, names in os.walk(tree):
    for nm in names:
        files.append(os.path.join(root, nm))
files.sort()
rng = random.Random(7)
sample = rng.sample(files, min(n, len(files)))
detect, restore, missed = [], [], 0
for path in sample:
    t0 = time.time()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    os.write(fd, b"<script src=//evil.example/s.js></script>\n")
    os.close(fd)
    got_d = got_r = None
    end = time.time() + 5
    while time.time() < end and got_r is None:
        for e in next_events():
            b = e["body"]
            p = b.get("change", {}).get("path", b.get("path"))
            if p != path:
                continue
            if e["type"] == "fim.tamper" and got_d is None:
                got_d = e["ts"] - t0
            elif e["type"] == "fim.restored":
                got_r = e["ts"] - t0
        if got_r is None:
            time.sleep(0.0005)
    if got_d is None or got_r is None:
        missed += 1
        continue
    detect.append(got_d * 1000)
    restore.append(got_r * 1000)
mem_after = status()
w.send_signal(signal.SIGTERM)
w.wait(timeout=30)


def q(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


print(f"tree {kind}: {entries} entries, {watches} inotify watches, "
      f"mode {fan}")
print(f"modifications {len(sample)}, missed {missed}")
if detect:
    print(f"detect  ms: median {q(detect, 50):.1f}  p99 {q(detect, 99):.1f}"
          f"  max {max(detect):.1f}")
    print(f"restore ms: median {q(restore, 50):.1f}  p99 {q(restore, 99):.1f}"
          f"  max {max(restore):.1f}")
print(f"watch daemon memory: RSS {mem['VmRSS'] / 1024:.1f} MiB at start, "
      f"peak {mem_after['VmHWM'] / 1024:.1f} MiB; per 100,000 entries "
      f"{mem['VmRSS'] / 1024 * 100000 / max(entries, 1):.1f} MiB (RSS)")
