#!/usr/bin/python3
"""make layering: checks that src/ is in layers and free of dependency circles.

A module is a .c file under src/LAYER/ and its header include/shardpipe/NAME.h
(a header without a .c file names its layer in a line "layer: NAME" of its
opening comment). Module A depends on B when A's .c or .h includes
"shardpipe/B.h". The rules:

  1. A module includes only headers of its own layer or of lower ones.
     Ranks: core 0, aws 1, pipe 2, sources 2, app 3; pipe and sources are
     side by side and use neither each other.
  2. No circle: no two modules depend on each other, directly or through
     other modules.
  3. No .c file is longer than MAX_LINES lines.
  4. Every .c file is in a layer folder; every header belongs to a module.

Prints each violation on a line of its own and exits 1 when there is any;
prints one summary line and exits 0 otherwise."""
import os
import re
import sys

RANK = {"core": 0, "aws": 1, "pipe": 2, "sources": 2, "app": 3}
MAX_LINES = 1000
INCLUDE = re.compile(r'^\s*#\s*include\s+"shardpipe/([A-Za-z0-9_]+)\.h"', re.M)
LAYER_NOTE = re.compile(r"layer:\s*([a-z]+)")


def main(root):
    src, inc = os.path.join(root, "src"), os.path.join(root, "include", "shardpipe")
    problems = []
    layer = {}      # module -> layer
    files = {}      # module -> [paths]
    for entry in sorted(os.listdir(src)):
        path = os.path.join(src, entry)
        if os.path.isfile(path) and entry.endswith(".c"):
            problems.append("src/%s: not in a layer folder (%s)" % (entry, ", ".join(RANK)))
            continue
        if not os.path.isdir(path):
            continue
        if entry not in RANK:
            problems.append("src/%s/: not a layer (%s)" % (entry, ", ".join(RANK)))
            continue
        for name in sorted(os.listdir(path)):
            if not name.endswith(".c"):
                continue
            mod = name[:-2]
            if mod in layer:
                problems.append("src/%s/%s: module %s is also in %s/" % (entry, name, mod, layer[mod]))
            layer[mod] = entry
            files.setdefault(mod, []).append(os.path.join(path, name))
            with open(os.path.join(path, name), encoding="utf-8", errors="replace") as f:
                n = sum(1 for _ in f)
            if n > MAX_LINES:
                problems.append("src/%s/%s: %d lines, more than %d" % (entry, name, n, MAX_LINES))
    for name in sorted(os.listdir(inc)):
        if not name.endswith(".h"):
            continue
        mod = name[:-2]
        path = os.path.join(inc, name)
        files.setdefault(mod, []).append(path)
        if mod not in layer:
            with open(path, encoding="utf-8", errors="replace") as f:
                head = f.read(2000)
            m = LAYER_NOTE.search(head.split("*/", 1)[0])
            if m and m.group(1) in RANK:
                layer[mod] = m.group(1)
            else:
                problems.append("include/shardpipe/%s: no src/LAYER/%s.c and no \"layer: NAME\" in its "
                                "opening comment" % (name, mod))

    deps = {m: set() for m in files}
    for mod, paths in files.items():
        for p in paths:
            with open(p, encoding="utf-8", errors="replace") as f:
                text = f.read()
            rel = os.path.relpath(p, root)
            for dep in INCLUDE.findall(text):
                if dep == mod:
                    continue
                if dep not in files:
                    problems.append("%s: includes shardpipe/%s.h, which does not exist" % (rel, dep))
                    continue
                deps[mod].add(dep)
                a, b = layer.get(mod), layer.get(dep)
                if a is None or b is None:
                    continue
                if RANK[b] > RANK[a] or (RANK[b] == RANK[a] and a != b):
                    problems.append("%s: %s (%s) includes %s.h of %s, a layer it may not use"
                                    % (rel, mod, a, dep, b))

    for cycle in circles(deps):
        problems.append("circle: %s" % " -> ".join(cycle + [cycle[0]]))

    for p in problems:
        print("layering: " + p)
    if problems:
        print("layering: %d problem%s" % (len(problems), "" if len(problems) == 1 else "s"))
        return 1
    counts = {}
    for m, l in layer.items():
        counts[l] = counts.get(l, 0) + 1
    print("layering: ok: %s; no circles; no .c file over %d lines"
          % (", ".join("%s %d" % (l, counts.get(l, 0)) for l in RANK), MAX_LINES))
    return 0


def circles(deps):
    """Strongly connected components of more than one module (Tarjan), each
    as one cycle through its members, so a message names a real path."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(deps[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(path_through(deps, set(comp)))

    sys.setrecursionlimit(10000)
    for v in sorted(deps):
        if v not in index:
            visit(v)
    return out


def path_through(deps, comp):
    """A cycle inside comp, found by walking from its smallest member."""
    start = min(comp)
    prev, seen, todo = {start: None}, {start}, [start]
    while todo:
        v = todo.pop(0)
        for w in sorted(deps[v] & comp):
            if w == start:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return list(reversed(path))
            if w not in seen:
                seen.add(w)
                prev[w] = v
                todo.append(w)
    return sorted(comp)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")))
