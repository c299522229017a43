#!/usr/bin/env python3
"""Writes a `git fast-import` stream of a synthetic history to stdout.

usage: gen_history.py COMMITS FILES [SEED]

About 200 authors, files spread over nested directories, most commits
touching 1-5 files (sometimes a file and its "test" together, so change
coupling has structure), one in 200 commits touching 40 files (left out of
coupling), renames now and then, deletes and re-adds. Commit times go up
to the present so that "recent contributors" has something to show.
"""
import random
import sys
import time


def main():
    commits = int(sys.argv[1])
    nfiles = int(sys.argv[2])
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 42)
    out = sys.stdout.buffer
    w = out.write
    authors = ["Dev %03d" % i for i in range(200)]
    dirs = ["src/mod%02d/sub%d" % (i // 4, i % 4) for i in range(100)]
    paths = []
    alive = []
    rev = {}
    end = int(time.time())
    start = end - commits * 600
    mark = 0
    for i in range(commits):
        a = authors[min(int(rng.paretovariate(1.2)) - 1, 199)]
        t = start + i * 600
        ops = []
        if len(paths) < nfiles and (i < nfiles or rng.random() < 0.3):
            p = "%s/file%05d.c" % (dirs[len(paths) % len(dirs)], len(paths))
            paths.append(p)
            alive.append(p)
            ops.append(("M", p))
        elif i % 200 == 199:
            for p in rng.sample(alive, min(40, len(alive))):
                ops.append(("M", p))
        elif rng.random() < 0.01 and alive:
            old = rng.choice(alive)
            new = old.replace(".c", "_r%d.c" % i)
            alive[alive.index(old)] = new
            ops.append(("R", old, new))
        else:
            k = min(len(alive), 1 + int(rng.expovariate(0.8)))
            base = rng.randrange(len(alive))
            # neighbours in the list are often changed together
            for j in range(k):
                ops.append(("M", alive[(base + j * rng.choice((1, 1, 1, 7))) % len(alive)]))
        w(b"commit refs/heads/main\n")
        mark += 1
        w(b"mark :%d\n" % mark)
        email = a.lower().replace(" ", ".") + "@example.com"
        w(("author %s <%s> %d +0000\n" % (a, email, t)).encode())
        w(("committer %s <%s> %d +0000\n" % (a, email, t)).encode())
        msg = ("change %d\n" % i).encode()
        w(b"data %d\n%s" % (len(msg), msg))
        seen = set()
        for op in ops:
            if op[0] == "R":
                w(("R %s %s\n" % (op[1], op[2])).encode())
                continue
            p = op[1]
            if p in seen:
                continue
            seen.add(p)
            rev[p] = rev.get(p, 0) + 1
            body = ("%s\nrevision %d\n" % (p, rev[p])).encode() + b"x" * 64 + b"\n"
            w(("M 100644 inline %s\n" % p).encode())
            w(b"data %d\n%s" % (len(body), body))
        w(b"\n")
    w(b"done\n")
    out.flush()


main()
