#!/usr/bin/python3
"""What a gigabyte costs: shardpipe against the C sink (bench/sink.c), with
the sink's limits off and shardpipe at --shard-rate 1000%, so that neither
the server nor a write limit is what is measured (see bench/README.md).

For each scenario: MB/s and lines/s (wall clock, from the start of shardpipe
to the sink holding every line), CPU seconds per GB (user + sys of the
shardpipe process only, measured by /usr/bin/time), its peak RSS, the
PutRecords requests the sink answered, the exactly-once check (the sink's
count, bytes, sum and xor of a 64-bit hash of every stored record against
the same figures over the input lines), and the sink's own CPU share. Then
callgrind's instructions per line of one 200 B run, and the boto3
baselines on samples of the same input, per GB and as a ratio to shardpipe.

    cost.py [--scale 1.0] [--file-mb 1024] [--only TEXT[;TEXT]] [--no-callgrind]
            [--no-baselines] [--out FILE]

Prints a markdown table on stdout, progress on stderr. 127.0.0.1 only."""
import argparse
import json
import os
import platform
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import sinklib  # noqa: E402

SHARDPIPE = os.environ.get("SHARDPIPE", os.path.join(ROOT, "shardpipe"))
STREAM = "bench"
GB = 1e9
BASE_SHARDS = 1024


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def env(home):
    e = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BOTO_")) and
         k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
    e.update(AWS_ACCESS_KEY_ID="AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY="bench-secret", AWS_REGION="us-east-1",
             AWS_EC2_METADATA_DISABLED="true", HOME=home, NO_PROXY="127.0.0.1", no_proxy="127.0.0.1")
    return e


def gen(path, size, n, seed=1):
    """n distinct lines of size bytes (+ newline): a 12-digit counter, then hex."""
    rng = random.Random(seed)
    pool = [("%x" % rng.getrandbits(4 * size)).encode().rjust(size, b"0")[:size] for _ in range(64)]
    with open(path, "wb") as f:
        out = []
        for i in range(n):
            out.append(b"%012d" % i + pool[i & 63][12:] + b"\n")
            if len(out) == 4096:
                f.write(b"".join(out))
                out = []
        f.write(b"".join(out))
    return path


def head(src, dst, n):
    """The first n lines of src into dst."""
    with open(src, "rb") as f, open(dst, "wb") as g:
        for _ in range(n):
            g.write(f.readline())
    return dst


class Timed:
    """A process started under /usr/bin/time, so that its rusage and peak RSS
    are its own: a child forked from this (large) Python process would carry
    Python's RSS into ru_maxrss across exec, a child of time carries only
    time's (about 2 MiB)."""

    def __init__(self, argv, tmp, **kw):
        self.out = tempfile.mktemp(dir=tmp, suffix=".time")
        self.proc = subprocess.Popen(["/usr/bin/time", "-q", "-f", "%U %S %M", "-o", self.out] + argv, **kw)

    def child(self):
        """The pid of the measured process (time's only child)."""
        for _ in range(500):
            try:
                with open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)) as f:
                    kids = f.read().split()
                if kids:
                    return int(kids[0])
            except OSError:
                pass
            time.sleep(0.01)
        return None

    def wait(self):
        """(exit status, user s, sys s, peak RSS KiB) of the measured process."""
        self.proc.wait()
        with open(self.out) as f:
            words = f.read().split()
        rc = self.proc.returncode
        if words and words[0] == "Command":     # "Command exited with non-zero status N" first
            words = words[-3:]
        return rc, float(words[0]), float(words[1]), int(words[2])


class Inputs:
    def __init__(self, tmp, scale, file_mb):
        self.tmp, self.scale, self.file_mb, self.files = tmp, scale, file_mb, {}

    def get(self, name):
        """'200', '1k', '10k': about 200 MB (times scale) of lines; 'file': file_mb MB of 200 B lines."""
        if name not in self.files:
            size, n = {"200": (200, 1000000), "1k": (1024, 200000), "10k": (10240, 20000),
                       "file": (200, int(self.file_mb * 1e6 / 201))}[name]
            if name != "file":
                n = max(1000, int(n * self.scale))
            path = os.path.join(self.tmp, "lines-%s.txt" % name)
            t = time.monotonic()
            gen(path, size, n)
            self.files[name] = (path, n, os.path.getsize(path), sinklib.digest(path))
            log("  input %s: %d lines, %.0f MB (%.1f s)" % (name, n, self.files[name][2] / 1e6,
                                                             time.monotonic() - t))
        return self.files[name]


def run_put(inp, shards, tls, args, tmp):
    """shardpipe put fed by cat through a pipe; returns a row."""
    path, n, size, want = inp
    with sinklib.Sink(shards=shards, tls=tls) as sink:
        home = tempfile.mkdtemp(dir=tmp)
        argv = [SHARDPIPE, "put", "-s", STREAM, "--endpoint-url", sink.endpoint, "--shard-rate", "1000%"] + args
        if tls:
            argv += ["--ca-file", tls[0]]
        cat = subprocess.Popen(["cat", path], stdout=subprocess.PIPE)
        errf = tempfile.TemporaryFile()
        s0 = sink.cpu_s()
        t0 = time.monotonic()
        p = Timed(argv, tmp, stdin=cat.stdout, stdout=subprocess.DEVNULL, stderr=errf, env=env(home), cwd=home)
        cat.stdout.close()
        rc, *ru = p.wait()
        wall = time.monotonic() - t0
        cat.wait()
        st = sink.stats()
        row = result(inp, wall, ru, st, sink.cpu_s() - s0)
        errf.seek(0)
        if rc != 0:
            row["note"] = "exit %d: %s" % (rc, errf.read().decode(errors="replace").strip()[-300:])
        return row


def run_file(inp, shards, args, tmp):
    """shardpipe run tailing the file from its start; done when the sink holds every line."""
    path, n, size, want = inp
    with sinklib.Sink(shards=shards) as sink:
        d = tempfile.mkdtemp(dir=tmp)
        flow = {"stream": STREAM, "start": "beginning", "shard_rate": "1000%",
                "sources": [{"type": "file", "path": path}]}
        cfg = {"region": "us-east-1", "endpoint": sink.endpoint, "checkpoint_file": os.path.join(d, "ckpt"),
               "stats_interval_ms": 0, "flows": [flow]}
        with open(os.path.join(d, "c.json"), "w") as f:
            json.dump(cfg, f)
        errf = tempfile.TemporaryFile()
        s0 = sink.cpu_s()
        t0 = time.monotonic()
        p = Timed([SHARDPIPE, "run", "-c", os.path.join(d, "c.json")] + args, tmp, stdout=subprocess.DEVNULL,
                  stderr=errf, env=env(d), cwd=d)
        agent = p.child()
        note = ""
        last, last_t = -1, time.monotonic()
        while True:
            st = sink.stats()
            if st["records"] >= n or p.proc.poll() is not None:
                break
            if st["records"] != last:
                last, last_t = st["records"], time.monotonic()
            elif time.monotonic() - last_t > 30:
                note = "stalled at %d of %d lines" % (last, n)
                break
            time.sleep(0.02)
        wall = time.monotonic() - t0
        if p.proc.poll() is None and agent:
            os.kill(agent, signal.SIGTERM)
        rc, *ru = p.wait()
        row = result(inp, wall, ru, sink.stats(), sink.cpu_s() - s0)
        if rc != 0 or note:
            errf.seek(0)
            row["note"] = "%s exit %d: %s" % (note, rc, errf.read().decode(errors="replace").strip()[-300:])
        return row


def result(inp, wall, ru, st, sink_cpu):
    path, n, size, want = inp
    user, sys_s, maxrss = ru
    cpu = user + sys_s
    return {"lines": n, "bytes": size, "wall": wall, "mb_s": size / 1e6 / wall, "lines_s": n / wall,
            "cpu_gb": cpu / (size / GB), "cpu": cpu, "user": user, "sys": sys_s, "rss_mib": maxrss / 1024, "requests": st["requests"]["PutRecords"] + st["requests"]["PutRecord"],
            "once": sinklib.exactly_once(want, st), "sink_pct": 100 * sink_cpu / wall, "note": ""}


def callgrind(inp, tmp):
    """Instructions per line of shardpipe put under callgrind (all its code,
    libcurl and OpenSSL included)."""
    path, n, size, want = inp
    if shutil.which("valgrind") is None:
        return None, "valgrind is not installed"
    with sinklib.Sink(shards=BASE_SHARDS) as sink:
        home = tempfile.mkdtemp(dir=tmp)
        out = os.path.join(home, "callgrind.out")
        argv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out, SHARDPIPE, "put", "-s", STREAM,
                "--endpoint-url", sink.endpoint, "--shard-rate", "1000%"]
        with open(path, "rb") as f:
            r = subprocess.run(argv, stdin=f, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env(home),
                               cwd=home)
        st = sink.stats()
        total = None
        with open(out) as f:
            for line in f:
                if line.startswith(("summary:", "totals:")):
                    total = int(line.split()[1])
        note = sinklib.exactly_once(want, st)
        if r.returncode != 0:
            note += "; exit %d" % r.returncode
        return (total / n if total else None), note


def baseline(mode, inp, tmp):
    """boto3 on a sample of the input: CPU-s per GB (in its loop only)."""
    path, n, size, want = inp
    with sinklib.Sink(shards=BASE_SHARDS) as sink:
        p = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "boto_baseline.py"), mode, sink.endpoint, STREAM,
                            path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env(tmp))
        if p.returncode != 0:
            return None, p.stderr.decode(errors="replace").strip()[-300:]
        got = json.loads(p.stdout)
        return got["cpu_s"] / (size / GB), sinklib.exactly_once(want, sink.stats())


def fmt_row(label, shards, r):
    return "| %s | %d | %.0f | %d | %.1f | %.0f | %.2f | %.1f | %d | %s | %.0f | %s |" % (
        label, r["lines"], r["bytes"] / 1e6, shards, r["mb_s"], r["lines_s"], r["cpu_gb"], r["rss_mib"],
        r["requests"], r["once"], r["sink_pct"], r["note"] or "")


def machine():
    model = "?"
    try:
        for line in subprocess.run(["lscpu"], stdout=subprocess.PIPE, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    ver = subprocess.run([SHARDPIPE, "version"], stdout=subprocess.PIPE, text=True).stdout.strip().splitlines()
    git = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True).stdout.strip()
    return "%d cores (%s), Linux %s, %s (commit %s), %s" % (
        os.cpu_count(), model, platform.release(), ver[0] if ver else "shardpipe", git or "?",
        time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=1.0, help="input sizes times this (0.1 for a quick look)")
    ap.add_argument("--file-mb", type=float, default=1024, help="size of the tailed file in MB")
    ap.add_argument("--only", help="run only scenarios whose label contains one of these (separated by ;)")
    ap.add_argument("--no-callgrind", action="store_true")
    ap.add_argument("--no-baselines", action="store_true")
    ap.add_argument("--out", help="also write the table to this file")
    args = ap.parse_args()
    if not os.access(SHARDPIPE, os.X_OK):
        sys.exit("cost: %s is missing: run make first" % SHARDPIPE)
    sinklib.build()
    t_start = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="shardpipe-cost-")
    try:
        cert = sinklib.make_cert(tmp)
        inputs = Inputs(tmp, args.scale, args.file_mb * args.scale)
        plan = [  # label, input, shards, tls, extra arguments, put or run
            ("stdin 200 B", "200", BASE_SHARDS, False, [], "put"),
            ("stdin 1 KB", "1k", BASE_SHARDS, False, [], "put"),
            ("stdin 10 KB", "10k", BASE_SHARDS, False, [], "put"),
            ("stdin 200 B, TLS", "200", BASE_SHARDS, True, [], "put"),
            ("file tailed by run, 200 B", "file", BASE_SHARDS, False, [], "run"),
            ("stdin 200 B, 16 shards", "200", 16, False, [], "put"),
            ("stdin 200 B, 64 shards", "200", 64, False, [], "put"),
            ("stdin 200 B, 4096 shards", "200", 4096, False, [], "put"),
            ("stdin 200 B, --ordered", "200", BASE_SHARDS, False, ["--ordered"], "put"),
            ("stdin 200 B, --key balanced", "200", BASE_SHARDS, False, ["--key", "balanced"], "put"),
            ("stdin 200 B, --key balanced, 4096 shards", "200", 4096, False, ["--key", "balanced"], "put"),
        ]
        rows = []
        for label, name, shards, tls, extra, how in plan:
            if args.only and not any(o in label for o in args.only.split(";")):
                continue
            log("%s (%.0f s so far)" % (label, time.monotonic() - t_start))
            inp = inputs.get(name)
            r = run_file(inp, shards, extra, tmp) if how == "run" else \
                run_put(inp, shards, cert if tls else None, extra, tmp)
            log("  %.1f MB/s, %.0f lines/s, %.2f CPU-s/GB (user %.2f sys %.2f), %.1f MiB, %d requests, %s, "
                "sink %.0f%% %s" % (r["mb_s"], r["lines_s"], r["cpu_gb"], r["user"], r["sys"], r["rss_mib"],
                                    r["requests"], r["once"], r["sink_pct"], r["note"]))
            rows.append((label, shards, r))
        cg = None
        if not args.no_callgrind and not args.only:
            log("callgrind, 100,000 lines of 200 B (%.0f s so far)" % (time.monotonic() - t_start))
            src = inputs.get("200")[0]
            p = head(src, os.path.join(tmp, "cg.txt"), 100000)
            cg = callgrind((p, 100000, os.path.getsize(p), sinklib.digest(p)), tmp)
            log("  %s instructions per line, %s" % (cg[0] and "%.0f" % cg[0], cg[1]))
        base = []
        if not args.no_baselines and not args.only:
            src = inputs.get("200")[0]
            for mode, n, what in (("record", 20000, "boto3 put_record, one call per line"),
                                  ("records", 100000, "boto3 put_records, batches of 500")):
                n = max(1000, int(n * args.scale))
                log("%s, %d lines (%.0f s so far)" % (what, n, time.monotonic() - t_start))
                p = head(src, os.path.join(tmp, "sample-%s.txt" % mode), n)
                cpu_gb, once = baseline(mode, (p, n, os.path.getsize(p), sinklib.digest(p)), tmp)
                log("  %s CPU-s/GB, %s" % (cpu_gb and "%.1f" % cpu_gb, once))
                base.append((what, n, cpu_gb, once))
        text = table(rows, cg, base, args)
        text += "\n(cost bench took %.0f s)\n" % (time.monotonic() - t_start)
        sys.stdout.write(text)
        if args.out:
            with open(args.out, "w") as f:
                f.write(text)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def table(rows, cg, base, args):
    o = ["Machine: " + machine() + ".", "",
         "shardpipe against the C sink (bench/sink.c, limits off), `--shard-rate 1000%%`, %d shards unless "
         "said, plain HTTP unless said, random keys unless said. GB = 10^9 bytes of input lines (newlines "
         "included); CPU = user + sys of the shardpipe process only. 16 and 64 shards are paced by "
         "shardpipe's own limit (1000%% of 1000 records/s per shard)." % BASE_SHARDS, "",
         "| scenario | lines | MB | shards | MB/s | lines/s | CPU-s/GB | peak RSS MiB | requests | exactly once "
         "| sink CPU % | notes |",
         "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |"]
    for label, shards, r in rows:
        o.append(fmt_row(label, shards, r))
    o.append("")
    if cg:
        o.append("callgrind: **%s instructions per line** (`shardpipe put`, 100,000 lines of 200 B from stdin, "
                 "%d shards, plain HTTP; all of the process, libcurl and OpenSSL included; %s)." % (
                     "%.0f" % cg[0] if cg[0] else "?", BASE_SHARDS, cg[1]))
        o.append("")
    ref = next((r for label, _, r in rows if label == "stdin 200 B"), None)
    if base:
        o.append("Baselines: boto3 %s (Debian's python3-boto3) against the same sink over plain HTTP, on the first "
                 "lines of the same 200 B input (a sample: they are slow), scaled per GB; CPU of the Python "
                 "process in its loop only (start and import not counted)." % boto_version())
        o.append("")
        o.append("| client | sample lines | CPU-s/GB | × shardpipe (stdin 200 B) | exactly once |")
        o.append("| --- | ---: | ---: | ---: | --- |")
        for what, n, cpu_gb, once in base:
            ratio = "%.0f×" % (cpu_gb / ref["cpu_gb"]) if cpu_gb and ref else "?"
            o.append("| %s | %d | %s | %s | %s |" % (what, n, "%.1f" % cpu_gb if cpu_gb else "?", ratio, once))
        o.append("")
    return "\n".join(o) + "\n"


def boto_version():
    try:
        return subprocess.run(["/usr/bin/python3", "-c", "import boto3; print(boto3.__version__)"],
                              stdout=subprocess.PIPE, text=True).stdout.strip()
    except OSError:
        return "?"


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    main()
