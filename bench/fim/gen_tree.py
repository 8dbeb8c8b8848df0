#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Generates the bench/fim trees, deterministically (fixed seed).

  web   ~50,000 files like a PHP web application, ~1.2 GB: mostly PHP and
        templates of a few KB, some JS/CSS bundles and vendor archives of
        hundreds of KB to a few MB, nested 3-6 levels deep.
  small 200,000 small files (200 B - 4 KB) in 2,000 directories.

Content is text-like (words from a fixed pool) so that compression in the
content store behaves as on real code; every file starts with its own
path so that no two files share a hash unless meant to.
Usage: gen_tree.py web|small DIR
"""
import os
import random
import sys

WORDS = (b"function class public private return array echo if else foreach "
         b"$this->request $order $payment $card new static use namespace "
         b"require_once include isset empty null true false var let const "
         b"document.querySelector addEventListener fetch JSON.stringify "
         b"{{ block }} {% endblock %} <div class=\"row\"> </div>").split()


def filler(rng, n):
    out = bytearray()
    while len(out) < n:
        line = b" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12)))
        out += line + b";\n"
    return bytes(out[:n])


def main():
    kind, root = sys.argv[1], sys.argv[2]
    rng = random.Random(20261122 if kind == "web" else 42)
    # A pool of text blocks reused across files keeps generation fast.
    pool = [filler(rng, 65536) for _ in range(64)]

    def content(path, size):
        head = ("<?php // %s\n" % path).encode()
        body = bytearray(head)
        while len(body) < size:
            body += pool[rng.randrange(len(pool))]
        return bytes(body[:max(size, len(head))])

    total = 0
    if kind == "web":
        n = 50000
        exts = [".php"] * 60 + [".twig", ".tpl", ".html", ".js", ".css",
                                ".json", ".xml", ".yml"] * 5
        dirs = []
        for a in range(25):
            for b in range(20):
                depth = rng.randint(1, 4)
                d = os.path.join(root, "app%02d" % a, "mod%02d" % b,
                                 *["sub%d" % rng.randint(0, 3)
                                   for _ in range(depth)])
                dirs.append(d)
        for i in range(n):
            d = dirs[i % len(dirs)]
            ext = rng.choice(exts)
            r = rng.random()
            if r < 0.975:
                size = int(rng.lognormvariate(8.9, 0.9))  # median ~7 KB
            elif r < 0.997:
                size = rng.randint(100_000, 500_000)
            else:
                size = rng.randint(1_000_000, 3_000_000)
            size = min(size, 8_000_000)
            os.makedirs(d, exist_ok=True)
            p = os.path.join(d, "f%05d%s" % (i, ext))
            with open(p, "wb") as f:
                f.write(content(p, size))
            total += size
        with open(os.path.join(root, ".htaccess"), "w") as f:
            f.write("RewriteEngine On\n")
    else:
        n = 200000
        for i in range(n):
            d = os.path.join(root, "d%02d" % (i % 20), "e%03d" % (i % 2000 // 20))
            if i < 2000:
                os.makedirs(d, exist_ok=True)
            size = rng.randint(200, 4096)
            p = os.path.join(d, "f%06d.php" % i)
            with open(p, "wb") as f:
                f.write(content(p, size))
            total += size
    print("%s: %d files, %d bytes" % (kind, n, total))


if __name__ == "__main__":
    main()
