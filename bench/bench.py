#!/usr/bin/python3
"""shardpipe put against the limit-enforcing fake Kinesis server.

Every scenario starts a fresh fake server (tests/fake/fake_kinesis.py with
--limits: each shard takes at most 1000 records and 1 MiB of partition key +
data in any rolling second, and every request's SigV4 signature is verified
with botocore) and one stream, then feeds `shardpipe put` from a paced writer
at twice the stream's capacity for --duration seconds.

Measured per scenario:
- achieved: over the steady window [--warmup, --duration] the server's own
  counters give each shard's stored records/s and bytes/s; its use is
  max(records/1000, bytes/1 MiB), the limit that binds; achieved is the sum
  over shards divided by the shard count (100% = every shard at its limit);
- throttled: shardpipe's throttled / (records + retried), i.e. of the entries
  it sent, how many came back ProvisionedThroughputExceededException;
- p50/p99: shardpipe's read-to-acknowledged latency (its final stats line).
  At 2x load the input is overloaded by design, so these are queueing times:
  a line waits behind everything read before it (at most --buffer-bytes,
  64 MiB by default) and grow with the run's length;
- CPU: percent of one core used over the steady window by the fake server,
  shardpipe and this process (the writer), to spot a bottleneck that is not
  shardpipe's (the machine has 2 cores).

Everything talks to 127.0.0.1 only. Prints a markdown table on stdout,
progress on stderr. Takes about 8 minutes with the defaults.

    bench.py [--duration 10] [--warmup 2] [--quick] [--only SUBSTRING] [--out FILE]
"""
import argparse
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
import cli  # noqa: E402
from emulators import REGION, SECRET_KEY, FakeKinesis  # noqa: E402

MIB = 1024 * 1024
SHARD_RECORDS = 1000
SHARD_BYTES = MIB
KEY_BYTES = {"random": 16, "hash": 32, "balanced": 1}   # what each strategy puts in a record
STREAM = "bench"
CLK = os.sysconf("SC_CLK_TCK")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def cpu_s(pid):
    """User + system CPU seconds of a process (all its threads)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK
    except (OSError, IndexError, ValueError):
        return 0.0


def lines_per_s_per_shard(size, key):
    """One shard's capacity in lines/s: whichever limit binds."""
    return min(SHARD_RECORDS, SHARD_BYTES / (size + KEY_BYTES[key]))


class Lines:
    """Distinct lines of `size` bytes (+ newline): a 12-digit counter, then
    hex. With hot=True every other line is one and the same line, so under
    --key hash it has one key, taking 50% of the lines."""

    def __init__(self, size, hot=False, seed=1, tag=b""):
        rng = random.Random(seed)
        self.size, self.hot, self.i = size, hot, 0
        self.tag = tag
        self.pool = [("%x" % rng.getrandbits(4 * size)).encode().rjust(size, b"0")[:size] for _ in range(64)]
        self.hot_line = b"HOT-" + self.pool[0][4:] + b"\n"

    def take(self, n):
        out, pool, size = [], self.pool, self.size
        for _ in range(n):
            i = self.i
            self.i += 1
            if self.hot and i % 2 == 0:
                out.append(self.hot_line)
            else:
                head = self.tag + b"%012d" % i
                out.append(head + pool[i & 63][len(head):] + b"\n")
        return b"".join(out)


class Writer(threading.Thread):
    """Writes lines to fd at `rate` lines/s for `duration` s (0 = as fast as
    possible until `limit` lines), in 10 ms ticks, then closes fd. When the
    reader pushes back, missed ticks are not made up later (at most 50 ms
    of backlog), so the offered rate is never exceeded."""

    def __init__(self, fd, lines, rate, duration, limit=None):
        super().__init__(daemon=True)
        self.fd, self.lines, self.rate, self.duration, self.limit = fd, lines, rate, duration, limit
        self.sent = 0
        self.blocked_s = 0.0
        self.error = None

    def _write(self, data):
        view = memoryview(data)
        t = time.monotonic()
        while view:
            n = os.write(self.fd, view)
            view = view[n:]
        self.blocked_s += time.monotonic() - t

    def run(self):
        try:
            t0 = time.monotonic()
            if not self.rate:
                while self.sent < self.limit:
                    n = min(1000, self.limit - self.sent)
                    self._write(self.lines.take(n))
                    self.sent += n
                return
            while True:
                el = time.monotonic() - t0
                if el >= self.duration:
                    break
                due = int(self.rate * el)
                self.sent = max(self.sent, due - int(self.rate * 0.05))
                n = due - self.sent
                if n > 0:
                    self._write(self.lines.take(n))
                    self.sent += n
                time.sleep(0.01)
        except OSError as e:
            self.error = e
        finally:
            try:
                os.close(self.fd)
            except OSError:
                pass


_agents = []      # running shardpipe processes, killed if the bench is interrupted


def _kill_agents(*_):
    for p in _agents:
        if p.poll() is None:
            p.kill()
    if _:
        sys.exit(1)


class Agent:
    """One `shardpipe put` process fed by a Writer."""

    def __init__(self, endpoint, key, extra=()):
        self.home = tempfile.mkdtemp(prefix="shardpipe-bench-")
        self.errf = tempfile.TemporaryFile()
        argv = [cli.SHARDPIPE, "put", "-s", STREAM, "--key", key] + list(extra) + \
               ["--region", REGION, "--endpoint-url", endpoint]
        r, w = os.pipe()
        self.proc = subprocess.Popen(argv, stdin=r, stdout=subprocess.DEVNULL, stderr=self.errf,
                                     env=cli.clean_env(SECRET_KEY, self.home), cwd=self.home)
        os.close(r)
        _agents.append(self.proc)
        self.fd = w
        self.cut = False

    def finish(self, limit_s):
        """Waits for the drain; past limit_s, SIGTERM twice (records not yet
        stored are then reported failed, and left out of p50/p99)."""
        try:
            self.proc.wait(timeout=limit_s)
        except subprocess.TimeoutExpired:
            self.cut = True
            self.proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
        _agents.remove(self.proc)
        self.errf.seek(0)
        err = self.errf.read().decode("utf-8", "replace")
        self.errf.close()
        subprocess.run(["rm", "-rf", self.home])
        line = [l for l in err.splitlines() if l.startswith("shardpipe: put: ")]
        if not line:
            raise RuntimeError("shardpipe printed no stats line:\n" + err[-2000:])
        self.stats = {k: int(v) for k, v in re.findall(r"([a-z0-9_]+)=(\d+)", line[-1])}
        self.stderr = err
        return self.stats


def counters(fake):
    st = fake.control("stats")
    return st["shards"][STREAM], time.monotonic()


def use(before, after, dt):
    """Per shard: max(records/s / 1000, bytes/s / 1 MiB) between two counter snapshots."""
    out = {}
    for sid, a in after.items():
        b = before.get(sid, {"records": 0, "bytes": 0})
        r = (a["records"] - b["records"]) / dt
        by = (a["bytes"] - b["bytes"]) / dt
        out[sid] = max(r / SHARD_RECORDS, by / SHARD_BYTES)
    return out


def run_scenario(name, shards, size, key, agents=1, hot=False, duration=10.0, warmup=2.0,
                 load=2.0, drain_limit=12.0):
    fake = FakeKinesis("--limits", "--no-log", "--verify-sigv4", SECRET_KEY,
                       "--stream", "%s:%d" % (STREAM, shards)).start()
    try:
        cap_lines = lines_per_s_per_shard(size, key) * shards
        rate = load * cap_lines / agents
        ags = [Agent(fake.endpoint, key) for _ in range(agents)]
        writers = [Writer(a.fd, Lines(size, hot, seed=1 + k, tag=b"a%d-" % k if agents > 1 else b""),
                          rate, duration) for k, a in enumerate(ags)]
        t_start = time.monotonic()
        for w in writers:
            w.start()
        time.sleep(max(0.0, warmup - (time.monotonic() - t_start)))
        c0, m0 = counters(fake)
        cpu0 = (cpu_s(fake.proc.pid), sum(cpu_s(a.proc.pid) for a in ags), time.process_time())
        time.sleep(max(0.0, duration - (time.monotonic() - t_start)))
        c1, m1 = counters(fake)
        cpu1 = (cpu_s(fake.proc.pid), sum(cpu_s(a.proc.pid) for a in ags), time.process_time())
        dt = m1 - m0
        for w in writers:
            w.join()
        t_end = time.monotonic()
        stats = [a.finish(max(1.0, drain_limit - (time.monotonic() - t_end))) for a in ags]
        per = use(c0, c1, dt)
        achieved = 100.0 * sum(per.values()) / shards
        tot = {k: sum(s.get(k, 0) for s in stats) for k in ("records", "retried", "throttled", "failed",
                                                           "wrong_shard")}
        throttled = 100.0 * tot["throttled"] / max(1, tot["records"] + tot["retried"])
        cpu = [100.0 * (b - a) / dt for a, b in zip(cpu0, cpu1)]
        offered = sum(w.sent for w in writers) / (t_end - t_start) / cap_lines
        notes = ["offered %.0f%%" % (100 * offered)]
        if hot and shards > 1:
            hot_sid = max(c1, key=lambda s: c1[s]["records"] - c0.get(s, {"records": 0})["records"])
            others = [v for s, v in per.items() if s != hot_sid]
            notes.append("hot shard %.0f%%, others %.0f%% (min %.0f%%)" % (
                100 * per[hot_sid], 100 * sum(others) / len(others), 100 * min(others)))
        if any(a.cut for a in ags):
            notes.append("drain cut at %.0f s: %d not acked" % (drain_limit, tot["failed"]))
        if agents > 1:
            notes.append("p50/p99 of agent 1; agent 2: %d/%d ms" % (stats[1]["p50_ms"], stats[1]["p99_ms"]))
        if tot["wrong_shard"]:
            notes.append("wrong_shard=%d" % tot["wrong_shard"])
        row = {"scenario": name, "shards": shards, "size": size, "key": key + (" (50% hot)" if hot else ""),
               "achieved": achieved, "throttled": throttled, "p50": stats[0]["p50_ms"],
               "p99": stats[0]["p99_ms"], "cpu": cpu, "notes": "; ".join(notes), "per": per}
        log("  %-12s %2d shards %5d B %-16s achieved %5.1f%% throttled %5.2f%% p50 %5d p99 %5d "
            "cpu srv/agent/writer %3.0f/%3.0f/%3.0f%%  %s" % (
                name, shards, size, row["key"], achieved, throttled, row["p50"], row["p99"],
                cpu[0], cpu[1], cpu[2], row["notes"]))
        return row
    finally:
        fake.stop()


def capacity(size, total_lines):
    """The fake server's own ceiling: limiter on but with limits far above
    what arrives, signatures verified, 16 shards, shardpipe's buckets lifted
    (--shard-rate 1000) and its input written as fast as it reads."""
    fake = FakeKinesis("--limits", "--shard-records-per-s", "100000000", "--shard-bytes-per-s",
                       str(100 * 1024 * MIB), "--no-log", "--verify-sigv4", SECRET_KEY,
                       "--stream", "%s:16" % STREAM).start()
    try:
        a = Agent(fake.endpoint, "random", ["--shard-rate", "1000"])
        w = Writer(a.fd, Lines(size), 0, 0, limit=total_lines)
        w.start()
        # Measured from the first stored record to the end of the run.
        while True:
            c0, t0 = counters(fake)
            if sum(v["records"] for v in c0.values()) or a.proc.poll() is not None:
                break
            time.sleep(0.02)
        cpu0 = cpu1 = (cpu_s(fake.proc.pid), cpu_s(a.proc.pid), time.process_time())
        w.join()
        while a.proc.poll() is None:
            cpu1 = (cpu_s(fake.proc.pid), cpu_s(a.proc.pid), time.process_time())
            time.sleep(0.01)
        st = a.finish(120)
        c1, t1 = counters(fake)
        dt = t1 - t0
        recs = sum(v["records"] - c0[k]["records"] for k, v in c1.items())
        byts = sum(v["bytes"] - c0[k]["bytes"] for k, v in c1.items())
        cpu = [100 * (b - x) / dt for x, b in zip(cpu0, cpu1)]
        row = {"size": size, "records_s": recs / dt, "mib_s": byts / dt / MIB, "cpu": cpu,
               "requests": st["requests"], "secs": dt}
        log("  capacity %5d B lines: %8.0f records/s %6.1f MiB/s over %.1f s, CPU %% server/agent/writer "
            "%.0f/%.0f/%.0f" % (size, row["records_s"], row["mib_s"], dt, cpu[0], cpu[1], cpu[2]))
        return row
    finally:
        fake.stop()


def table(rows, caps, args):
    out = []
    out.append("Fake server ceiling (16 shards, limiter on with limits lifted, SigV4 verified, "
               "shardpipe --shard-rate 1000 fed as fast as it reads):")
    out.append("")
    out.append("| line size | records/s | MiB/s (key + data) | CPU % server/agent/writer |")
    out.append("| --- | ---: | ---: | --- |")
    for c in caps:
        size = "10 KB" if c["size"] >= 10000 else "%d B" % c["size"]
        out.append("| %s | %.0f | %.1f | %.0f/%.0f/%.0f |" % (size, c["records_s"], c["mib_s"], *c["cpu"]))
    out.append("")
    out.append("Offered load 2x the stream's capacity, %.0f s per run, measured over [%.0f s, %.0f s]; "
               "capacity per shard 1000 records/s or 1 MiB/s (key + data), whichever binds:"
               % (args.duration, args.warmup, args.duration))
    out.append("")
    out.append("| scenario | shards | line size | key | achieved % of capacity | throttled % | p50 ms | p99 ms "
               "| CPU % server/agent/writer | notes |")
    out.append("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- | --- |")
    for r in rows:
        size = "10 KB" if r["size"] >= 10000 else "%d B" % r["size"]
        out.append("| %s | %d | %s | %s | %.1f | %.2f | %d | %d | %.0f/%.0f/%.0f | %s |" % (
            r["scenario"], r["shards"], size, r["key"], r["achieved"], r["throttled"], r["p50"], r["p99"],
            r["cpu"][0], r["cpu"][1], r["cpu"][2], r["notes"]))
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=10.0, help="seconds of load per run")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds left out of the measurement")
    ap.add_argument("--drain-limit", type=float, default=12.0,
                    help="seconds to wait for shardpipe to drain after the input ends")
    ap.add_argument("--quick", action="store_true", help="4 shards only, no capacity probe")
    ap.add_argument("--only", metavar="TEXT[,TEXT...]",
                    help="run only scenarios whose label (e.g. 'random 4 200 random') contains one of these")
    ap.add_argument("--out", help="also write the table to this file")
    args = ap.parse_args()
    import atexit
    atexit.register(_kill_agents)
    signal.signal(signal.SIGTERM, _kill_agents)
    signal.signal(signal.SIGINT, _kill_agents)
    if not os.access(cli.SHARDPIPE, os.X_OK):
        sys.exit("bench: %s is missing: run make first" % cli.SHARDPIPE)

    t0 = time.monotonic()
    caps = []
    if not args.quick and not args.only:
        log("fake server ceiling")
        caps = [capacity(10240, 20000), capacity(200, 320000)]

    plan = []
    for shards in ((4,) if args.quick else (1, 4, 16)):
        for size in (200, 10240):
            plan.append(("random", shards, size, "random", 1, False))
            plan.append(("hot key", shards, size, "hash", 1, True))
            plan.append(("balanced", shards, size, "balanced", 1, False))
    for size in (200, 10240):
        plan.append(("two agents", 4, size, "random", 2, False))
    rows = []
    for name, shards, size, key, agents, hot in plan:
        label = "%s %d %d %s" % (name, shards, size, key)
        if args.only and not any(o in label for o in args.only.split(",")):
            continue
        log("%s (%.0f s so far)" % (label, time.monotonic() - t0))
        rows.append(run_scenario(name, shards, size, key, agents, hot, args.duration, args.warmup,
                                 drain_limit=args.drain_limit))
    text = table(rows, caps, args)
    text += "\n(bench took %.0f s)\n" % (time.monotonic() - t0)
    sys.stdout.write(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
