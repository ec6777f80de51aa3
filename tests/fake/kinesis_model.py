"""The Kinesis Data Streams state behind tests/fake/fake_kinesis.py: streams,
shards, records and the operations on them, validated like AWS (see
/work/shared/KINESIS.md §1, §2, §3). No HTTP here: operations take the decoded
JSON request and return the JSON response, or raise ApiError.

One lock guards all state; operations are short, so threads of the HTTP server
simply queue on it.

Write limits: Model(limiter=WindowLimiter()) keeps every shard to 1000 records
and 1 MiB (partition key + data bytes) in any rolling second, like the real
service; the default NoLimiter admits everything (kinesalite and
kinesis-mock never throttle either)."""
import base64
import binascii
import bisect
import collections
import hashlib
import json
import re
import threading
import time

MAX_HASH = 2 ** 128 - 1
SEQ_BASE = 496 * 10 ** 53   # sequence numbers have 56 digits, like AWS's
STREAM_NAME_RE = re.compile(r"[a-zA-Z0-9_.-]{1,128}\Z")
EHK_RE = re.compile(r"(0|[1-9]\d{0,38})\Z")
ITERATOR_TTL = 300.0
NEXT_TOKEN_TTL = 300.0


class ApiError(Exception):
    """An AWS error response: HTTP status, __type and message."""

    def __init__(self, type_, message, status=400):
        super().__init__(message)
        self.type, self.message, self.status = type_, message, status


def hash_key(pk):
    return int.from_bytes(hashlib.md5(pk.encode("utf-8", "surrogatepass")).digest(), "big")


def b64decode_strict(s):
    """Standard base64 with padding, nothing else (kinesalite rejects the rest too)."""
    if not isinstance(s, str) or len(s) % 4:
        raise ValueError("length")
    return base64.b64decode(s, validate=True)


class NoLimiter:
    """Admits every entry. admit() is asked once per entry, in request order,
    under the model lock; a False answer fails that entry with
    ProvisionedThroughputExceededException."""

    enabled = False

    def admit(self, stream, shard, nbytes, now):
        return True

    def reset(self):
        pass

    def describe(self):
        return {"limits": False}


SHARD_RECORDS_PER_S = 1000
SHARD_BYTES_PER_S = 1024 * 1024


class WindowLimiter:
    """The per-shard write limits of Kinesis Data Streams: at most
    `records` entries and `nbytes` bytes (partition key + data, as the
    service counts them) accepted by one shard in any rolling window of
    `window` seconds. Each shard keeps a deque of [time, records, bytes]
    slots, one per request that stored something, with running sums: an
    entry costs O(1) amortised (eviction pops each slot once).

    Rejected entries use no capacity. There is no large-record burst
    allowance: a record bigger than `nbytes` passes only when the shard's
    window is empty (otherwise it could never be stored at all)."""

    enabled = True

    def __init__(self, records=SHARD_RECORDS_PER_S, nbytes=SHARD_BYTES_PER_S, window=1.0):
        self.records, self.nbytes, self.window = int(records), int(nbytes), float(window)
        self.state = {}      # Shard -> [deque of [t, n, b], n in window, b in window]

    def admit(self, stream, shard, nbytes, now):
        st = self.state.get(shard)
        if st is None:
            st = self.state[shard] = [collections.deque(), 0, 0]
        dq = st[0]
        horizon = now - self.window
        while dq and dq[0][0] <= horizon:
            _, n, b = dq.popleft()
            st[1] -= n
            st[2] -= b
        if st[1] + 1 > self.records or (st[2] + nbytes > self.nbytes and st[2] > 0):
            return False
        st[1] += 1
        st[2] += nbytes
        if dq and dq[-1][0] == now:
            slot = dq[-1]
            slot[1] += 1
            slot[2] += nbytes
        else:
            dq.append([now, 1, nbytes])
        return True

    def reset(self):
        self.state.clear()

    def describe(self):
        return {"limits": True, "shard_records_per_s": self.records,
                "shard_bytes_per_s": self.nbytes, "window_s": self.window}


class Shard:
    __slots__ = ("id", "parent", "adjacent", "start", "end", "start_seq", "end_seq",
                 "seqs", "recs", "stored", "stored_bytes", "throttled")

    def __init__(self, shard_id, start, end, start_seq, parent=None, adjacent=None):
        self.id, self.start, self.end = shard_id, start, end
        self.parent, self.adjacent = parent, adjacent
        self.start_seq, self.end_seq = start_seq, None
        self.seqs = []   # int sequence numbers, increasing (for bisect)
        self.recs = []   # (seq:int, arrival:float, pk:str, data:bytes, ehk:str|None)
        # Counters for the control API (benchmarks): entries stored, their
        # bytes (partition key + data) and entries refused by the limiter.
        self.stored = self.stored_bytes = self.throttled = 0

    @property
    def open(self):
        return self.end_seq is None

    def describe(self):
        d = {"ShardId": self.id,
             "HashKeyRange": {"StartingHashKey": str(self.start), "EndingHashKey": str(self.end)},
             "SequenceNumberRange": {"StartingSequenceNumber": str(self.start_seq)}}
        if self.end_seq is not None:
            d["SequenceNumberRange"]["EndingSequenceNumber"] = str(self.end_seq)
        if self.parent:
            d["ParentShardId"] = self.parent
        if self.adjacent:
            d["AdjacentParentShardId"] = self.adjacent
        return d


class Stream:
    def __init__(self, name, region, account, max_record_kib, mode):
        self.name, self.region, self.account = name, region, account
        self.arn = "arn:aws:kinesis:%s:%s:stream/%s" % (region, account, name)
        self.created = time.time()
        self.max_record_kib, self.mode = max_record_kib, mode
        self.shards = {}          # id -> Shard, in creation order
        self.next_shard = 0
        self.status = "ACTIVE"
        self.pending = None       # (monotonic time, function): a SplitShard/MergeShards in progress
        self._ends, self._open = [], []   # sorted open shards, for routing

    def add_shard(self, start, end, seq, parent=None, adjacent=None):
        sid = "shardId-%012d" % self.next_shard
        self.next_shard += 1
        self.shards[sid] = Shard(sid, start, end, seq, parent, adjacent)
        return self.shards[sid]

    def reindex(self):
        self._open = sorted((s for s in self.shards.values() if s.open), key=lambda s: s.end)
        self._ends = [s.end for s in self._open]

    def route(self, h):
        """The open shard with start <= h <= end (lower bound on the ends)."""
        i = bisect.bisect_left(self._ends, h)
        if i == len(self._open) or self._open[i].start > h:
            raise ApiError("InternalFailure", "no open shard holds hash key %d" % h, 500)
        return self._open[i]

    def open_shards(self):
        return [s for s in self.shards.values() if s.open]


class Model:
    def __init__(self, account="123456789012", max_request_bytes=10 * 1024 * 1024,
                 list_shards_page=1000, limiter=None, reshard_ms=0):
        self.lock = threading.Lock()
        self.account = account
        self.max_request_bytes = max_request_bytes
        self.list_shards_page = list_shards_page
        self.limiter = limiter or NoLimiter()
        # SplitShard and MergeShards take this long (stream UPDATING, the old
        # shards still open and written to) before the new shards appear.
        self.reshard_ms = reshard_ms
        self.streams = {}
        self.seq = 0

    # --- helpers -----------------------------------------------------------
    def _next_seq(self):
        self.seq += 1
        return SEQ_BASE + self.seq

    def _stream(self, params, region):
        name = params.get("StreamName")
        arn = params.get("StreamARN")
        if name is None and arn:
            name = arn.rsplit("/", 1)[-1]
        if not isinstance(name, str) or not STREAM_NAME_RE.match(name):
            raise ApiError("ValidationException",
                           "1 validation error detected: Value '%s' at 'streamName' failed to "
                           "satisfy constraint: Member must satisfy regular expression pattern: "
                           "[a-zA-Z0-9_.-]+" % (name,))
        s = self.streams.get(name)
        if s is None:
            raise ApiError("ResourceNotFoundException",
                           "Stream %s under account %s not found." % (name, self.account))
        if s.pending is not None and time.monotonic() >= s.pending[0]:
            self._finish_update(s)
        return s

    @staticmethod
    def _finish_update(s):
        _, apply = s.pending
        s.pending = None
        apply()
        s.reindex()
        s.status = "ACTIVE"

    def _update(self, s, apply):
        """Runs a shard change now, or after reshard_ms with the stream
        UPDATING meanwhile (as AWS does; writes still go to the old shards)."""
        if self.reshard_ms <= 0:
            apply()
            s.reindex()
            return
        s.status = "UPDATING"
        s.pending = (time.monotonic() + self.reshard_ms / 1000.0, apply)

    def _require_active(self, s):
        if s.status != "ACTIVE":
            raise ApiError("ResourceInUseException",
                           "Stream %s under account %s not ACTIVE, instead in state %s"
                           % (s.name, self.account, s.status))

    def _shard(self, stream, shard_id):
        s = stream.shards.get(shard_id)
        if s is None:
            raise ApiError("ResourceNotFoundException",
                           "Shard %s in stream %s under account %s does not exist"
                           % (shard_id, stream.name, self.account))
        return s

    # --- control plane -----------------------------------------------------
    def create_stream(self, p, region):
        name, count = p.get("StreamName"), p.get("ShardCount")
        mode = (p.get("StreamModeDetails") or {}).get("StreamMode", "PROVISIONED")
        if count is None and mode == "ON_DEMAND":
            count = 4
        kib = p.get("MaxRecordSizeInKiB", 1024)
        if not isinstance(name, str) or not STREAM_NAME_RE.match(name):
            raise ApiError("ValidationException", "1 validation error detected: Value '%s' at "
                           "'streamName' failed to satisfy constraint" % (name,))
        if not isinstance(count, int) or not 1 <= count <= 1000:
            raise ApiError("ValidationException", "1 validation error detected: Value '%s' at "
                           "'shardCount' failed to satisfy constraint: Member must have value "
                           "greater than or equal to 1" % (count,))
        if not isinstance(kib, int) or not 1024 <= kib <= 10240:
            raise ApiError("ValidationException", "1 validation error detected: Value '%s' at "
                           "'maxRecordSizeInKiB' failed to satisfy constraint" % (kib,))
        with self.lock:
            if name in self.streams:
                raise ApiError("ResourceInUseException",
                               "Stream %s under account %s already exists." % (name, self.account))
            s = Stream(name, region, self.account, kib, mode)
            step = (MAX_HASH + 1) // count          # the even split of kinesalite and AWS
            for i in range(count):
                end = MAX_HASH if i == count - 1 else (i + 1) * step - 1
                s.add_shard(i * step, end, self._next_seq())
            s.reindex()
            self.streams[name] = s
        return {}

    def delete_stream(self, p, region):
        with self.lock:
            s = self._stream(p, region)
            del self.streams[s.name]
        return {}

    def list_streams(self, p, region):
        with self.lock:
            names = sorted(self.streams)
        return {"StreamNames": names, "HasMoreStreams": False}

    def describe_stream_summary(self, p, region):
        with self.lock:
            s = self._stream(p, region)
            return {"StreamDescriptionSummary": {
                "StreamName": s.name, "StreamARN": s.arn, "StreamStatus": s.status,
                "StreamModeDetails": {"StreamMode": s.mode}, "RetentionPeriodHours": 24,
                "StreamCreationTimestamp": round(s.created, 3),
                "EnhancedMonitoring": [{"ShardLevelMetrics": []}], "EncryptionType": "NONE",
                "OpenShardCount": len(s.open_shards()), "ConsumerCount": 0,
                "MaxRecordSizeInKiB": s.max_record_kib}}

    def describe_stream(self, p, region):
        limit = min(int(p.get("Limit") or 100), 100)
        after = p.get("ExclusiveStartShardId")
        with self.lock:
            s = self._stream(p, region)
            shards = [x for x in s.shards.values() if after is None or x.id > after]
            return {"StreamDescription": {
                "StreamName": s.name, "StreamARN": s.arn, "StreamStatus": s.status,
                "StreamModeDetails": {"StreamMode": s.mode},
                "Shards": [x.describe() for x in shards[:limit]],
                "HasMoreShards": len(shards) > limit, "RetentionPeriodHours": 24,
                "StreamCreationTimestamp": round(s.created, 3),
                "EnhancedMonitoring": [{"ShardLevelMetrics": []}], "EncryptionType": "NONE"}}

    def list_shards(self, p, region):
        token = p.get("NextToken")
        page = min(int(p.get("MaxResults") or 1000), 1000, self.list_shards_page)
        if token is not None:
            if p.get("StreamName") or p.get("StreamARN") or p.get("ExclusiveStartShardId"):
                raise ApiError("InvalidArgumentException",
                               "NextToken and StreamName cannot be provided together.")
            try:
                t = json.loads(base64.b64decode(token))
                name, offset, ftype, after, issued = t["s"], t["o"], t["f"], t["a"], t["t"]
            except (ValueError, KeyError, TypeError):
                raise ApiError("InvalidArgumentException", "Invalid NextToken.")
            if time.time() - issued > NEXT_TOKEN_TTL:
                raise ApiError("ExpiredNextTokenException", "The token has expired.")
            p = {"StreamName": name}
        else:
            f = p.get("ShardFilter") or {}
            ftype = f.get("Type", "FROM_TRIM_HORIZON")
            after = p.get("ExclusiveStartShardId") or f.get("ShardId")
            if ftype == "AFTER_SHARD_ID" and not f.get("ShardId"):
                raise ApiError("InvalidArgumentException", "ShardId is required for AFTER_SHARD_ID.")
            offset, issued = 0, time.time()
        with self.lock:
            s = self._stream(p, region)
            shards = list(s.shards.values())
            if ftype == "AT_LATEST":
                shards = [x for x in shards if x.open]
            if after:
                shards = [x for x in shards if x.id > after]
            out = shards[offset:offset + page]
            resp = {"Shards": [x.describe() for x in out]}
            if offset + page < len(shards):
                resp["NextToken"] = base64.b64encode(json.dumps(
                    {"s": s.name, "o": offset + page, "f": ftype, "a": after, "t": issued}
                ).encode()).decode()
            return resp

    def split_shard(self, p, region):
        """The parent closes (EndingSequenceNumber set); two children take
        [start, new-1] and [new, end], each with ParentShardId = the parent."""
        with self.lock:
            s = self._stream(p, region)
            self._require_active(s)
            parent = self._shard(s, p.get("ShardToSplit"))
            try:
                new = int(p.get("NewStartingHashKey"))
            except (TypeError, ValueError):
                raise ApiError("InvalidArgumentException", "NewStartingHashKey is not a number.")
            if not parent.open:
                raise ApiError("ResourceInUseException",
                               "Shard %s in stream %s under account %s has already been merged "
                               "or split, and thus is not eligible for merging or splitting."
                               % (parent.id, s.name, self.account))
            if not parent.start < new <= parent.end:
                raise ApiError("InvalidArgumentException",
                               "NewStartingHashKey %d used in SplitShard() on shard %s in stream %s "
                               "under account %s is not both greater than one plus the shard's "
                               "StartingHashKey %d and less than the shard's EndingHashKey %d."
                               % (new, parent.id, s.name, self.account, parent.start, parent.end))

            def apply():
                parent.end_seq = self._next_seq()
                s.add_shard(parent.start, new - 1, self._next_seq(), parent=parent.id)
                s.add_shard(new, parent.end, self._next_seq(), parent=parent.id)
            self._update(s, apply)
        return {}

    def merge_shards(self, p, region):
        """Both parents close; one child covers the union of their ranges,
        with ParentShardId = ShardToMerge and AdjacentParentShardId =
        AdjacentShardToMerge."""
        with self.lock:
            s = self._stream(p, region)
            self._require_active(s)
            a = self._shard(s, p.get("ShardToMerge"))
            b = self._shard(s, p.get("AdjacentShardToMerge"))
            for x in (a, b):
                if not x.open:
                    raise ApiError("ResourceInUseException",
                                   "Shard %s in stream %s under account %s has already been merged "
                                   "or split, and thus is not eligible for merging or splitting."
                                   % (x.id, s.name, self.account))
            if a is b or not (a.end + 1 == b.start or b.end + 1 == a.start):
                raise ApiError("InvalidArgumentException",
                               "Shards %s and %s in stream %s under account %s are not an adjacent "
                               "pair of shards eligible for merging"
                               % (a.id, b.id, s.name, self.account))

            def apply():
                a.end_seq = b.end_seq = self._next_seq()
                s.add_shard(min(a.start, b.start), max(a.end, b.end), self._next_seq(),
                            parent=a.id, adjacent=b.id)
            self._update(s, apply)
        return {}

    # --- data plane --------------------------------------------------------
    def check_entries(self, stream, records):
        """Validate PutRecords entries like AWS; returns [(pk, data, ehk, hash, pk bytes)].
        Any bad entry fails the whole request."""
        if not isinstance(records, list):
            raise ApiError("SerializationException", "Records must be a list")
        if not 1 <= len(records) <= 500:
            raise ApiError("ValidationException",
                           "1 validation error detected: Value at 'records' failed to satisfy "
                           "constraint: Member must have length %s" %
                           ("less than or equal to 500" if records else "greater than or equal to 1"))
        cap = stream.max_record_kib * 1024
        errors, out, total = [], [], 0
        for i, r in enumerate(records, 1):
            pk, data, ehk = r.get("PartitionKey"), r.get("Data"), r.get("ExplicitHashKey")
            if not isinstance(pk, str):
                errors.append("Value null at 'records.%d.member.partitionKey' failed to satisfy "
                              "constraint: Member must not be null" % i)
                continue
            try:
                raw = b64decode_strict(data)
            except (ValueError, binascii.Error, TypeError):
                raise ApiError("SerializationException",
                               "Base64 encoded value of 'records.%d.member.data' is not valid" % i)
            if not 1 <= len(pk) <= 256:
                errors.append("Value '%s' at 'records.%d.member.partitionKey' failed to satisfy "
                              "constraint: Member must have length %s" %
                              (pk, i, "less than or equal to 256" if pk else "greater than or equal to 1"))
            pk_bytes = len(pk.encode("utf-8", "surrogatepass"))
            if len(raw) + pk_bytes > cap:
                errors.append("Value at 'records.%d.member.data' failed to satisfy constraint: "
                              "Member must have length less than or equal to %d (data %d + "
                              "partition key %d bytes)" % (i, cap, len(raw), pk_bytes))
            if ehk is not None:
                if not isinstance(ehk, str) or not EHK_RE.match(ehk) or int(ehk) > MAX_HASH:
                    raise ApiError("InvalidArgumentException",
                                   "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: "
                                   "[0, 2^128-1]. Specified value was %s" % (ehk,))
                h = int(ehk)
            else:
                h = hash_key(pk) if not errors else 0
            total += len(raw) + pk_bytes
            out.append((pk, raw, ehk, h, pk_bytes))
        if errors:
            n = len(errors)
            raise ApiError("ValidationException", "%d validation error%s detected: %s" %
                           (n, "" if n == 1 else "s", "; ".join(errors[:10])))
        if total > self.max_request_bytes:
            raise ApiError("InvalidArgumentException",
                           "Records size %d bytes exceeds the request limit of %d bytes "
                           "(partition keys + data)." % (total, self.max_request_bytes))
        return out

    def put_records(self, p, region, fail=None):
        """fail(index) -> error code or None: scripted per-entry failures.
        Returns (response, log entries)."""
        with self.lock:
            s = self._stream(p, region)
        entries = self.check_entries(s, p.get("Records"))
        results, log, failed = [], [], 0
        now = time.time()
        admit = self.limiter.admit
        with self.lock:
            mono = time.monotonic()
            if s.pending is not None and mono >= s.pending[0]:
                self._finish_update(s)
            for i, (pk, raw, ehk, h, pk_bytes) in enumerate(entries):
                shard = s.route(h)
                code = fail(i) if fail else None
                size = len(raw) + pk_bytes
                if code is None and not admit(s, shard, size, mono):
                    code = "ProvisionedThroughputExceededException"
                    shard.throttled += 1
                if code is None:
                    seq = self._next_seq()
                    shard.seqs.append(seq)
                    shard.recs.append((seq, now, pk, raw, ehk))
                    shard.stored += 1
                    shard.stored_bytes += size
                    results.append({"SequenceNumber": str(seq), "ShardId": shard.id})
                    log.append({"result": "stored", "shard_id": shard.id, "sequence_number": str(seq)})
                else:
                    failed += 1
                    msg = ("Internal service failure." if code == "InternalFailure" else
                           "Rate exceeded for shard %s in stream %s under account %s."
                           % (shard.id, s.name, self.account))
                    results.append({"ErrorCode": code, "ErrorMessage": msg})
                    log.append({"result": "failed", "code": code, "shard_id": shard.id})
        return ({"FailedRecordCount": failed, "Records": results, "EncryptionType": "NONE"}, log)

    def put_record(self, p, region):
        resp, log = self.put_records({"StreamName": p.get("StreamName"), "StreamARN": p.get("StreamARN"),
                                      "Records": [{k: p[k] for k in ("Data", "PartitionKey", "ExplicitHashKey")
                                                   if k in p}]}, region)
        r = resp["Records"][0]
        if "ErrorCode" in r:
            raise ApiError(r["ErrorCode"], r["ErrorMessage"], 500 if r["ErrorCode"] == "InternalFailure" else 400)
        return dict(r, EncryptionType="NONE"), log

    def get_shard_iterator(self, p, region):
        kind = p.get("ShardIteratorType")
        with self.lock:
            s = self._stream(p, region)
            shard = self._shard(s, p.get("ShardId"))
            if kind == "TRIM_HORIZON":
                pos = 0
            elif kind == "LATEST":
                pos = len(shard.recs)
            elif kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
                try:
                    seq = int(p.get("StartingSequenceNumber"))
                except (TypeError, ValueError):
                    raise ApiError("InvalidArgumentException", "StartingSequenceNumber is required and must be a number.")
                if seq < shard.start_seq or (shard.end_seq is not None and seq > shard.end_seq):
                    raise ApiError("InvalidArgumentException",
                                   "Invalid StartingSequenceNumber. It encodes %s, while it was used in a "
                                   "call to a shard with %s" % ("another shard", shard.id))
                pos = (bisect.bisect_left if kind == "AT_SEQUENCE_NUMBER" else bisect.bisect_right)(shard.seqs, seq)
            elif kind == "AT_TIMESTAMP":
                ts = p.get("Timestamp")
                if not isinstance(ts, (int, float)):
                    raise ApiError("InvalidArgumentException", "Timestamp is required for AT_TIMESTAMP.")
                pos = next((i for i, r in enumerate(shard.recs) if r[1] >= ts), len(shard.recs))
            else:
                raise ApiError("ValidationException",
                               "1 validation error detected: Value '%s' at 'shardIteratorType' failed to "
                               "satisfy constraint: Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, "
                               "AT_SEQUENCE_NUMBER, AT_TIMESTAMP, TRIM_HORIZON, LATEST]" % (kind,))
        return {"ShardIterator": self._iterator(s.name, shard.id, pos)}

    @staticmethod
    def _iterator(stream, shard, pos):
        return base64.b64encode(json.dumps([stream, shard, pos, time.time()]).encode()).decode()

    def get_records(self, p, region):
        limit = p.get("Limit", 10000)
        if not isinstance(limit, int) or not 1 <= limit <= 10000:
            raise ApiError("InvalidArgumentException", "Limit must be between 1 and 10000.")
        try:
            name, shard_id, pos, issued = json.loads(base64.b64decode(p.get("ShardIterator"), validate=True))
        except (ValueError, TypeError, binascii.Error):
            raise ApiError("InvalidArgumentException", "Invalid ShardIterator.")
        if time.time() - issued > ITERATOR_TTL:
            raise ApiError("ExpiredIteratorException", "Iterator expired.")
        with self.lock:
            s = self._stream({"StreamName": name}, region)
            shard = self._shard(s, shard_id)
            recs, size, end = [], 0, pos
            for seq, arrival, pk, raw, ehk in shard.recs[pos:pos + limit]:
                if recs and size + len(raw) > 10 * 1024 * 1024:
                    break
                size += len(raw)
                end += 1
                recs.append({"SequenceNumber": str(seq), "ApproximateArrivalTimestamp": round(arrival, 3),
                             "Data": base64.b64encode(raw).decode(), "PartitionKey": pk,
                             "EncryptionType": "NONE"})
            caught_up = end >= len(shard.recs)
            resp = {"Records": recs,
                    "MillisBehindLatest": 0 if caught_up else int((time.time() - shard.recs[end][1]) * 1000)}
            if caught_up and not shard.open:
                resp["NextShardIterator"] = None
                resp["ChildShards"] = [
                    {"ShardId": c.id, "ParentShards": [x for x in (c.parent, c.adjacent) if x],
                     "HashKeyRange": {"StartingHashKey": str(c.start), "EndingHashKey": str(c.end)}}
                    for c in s.shards.values() if shard.id in (c.parent, c.adjacent)]
            else:
                resp["NextShardIterator"] = self._iterator(name, shard_id, end)
        return resp

    # --- for the control API -----------------------------------------------
    def dump(self, name=None):
        with self.lock:
            return {s.name: {sh.id: [{"sequence_number": str(seq), "arrival_time": arrival,
                                      "partition_key": pk, "explicit_hash_key": ehk,
                                      "data": base64.b64encode(raw).decode()}
                                     for seq, arrival, pk, raw, ehk in sh.recs]
                             for sh in s.shards.values()}
                    for s in self.streams.values() if name is None or s.name == name}

    def clear(self, streams=False):
        with self.lock:
            if streams:
                self.streams.clear()
            for s in self.streams.values():
                for sh in s.shards.values():
                    sh.seqs, sh.recs = [], []
                    sh.stored = sh.stored_bytes = sh.throttled = 0
            self.limiter.reset()

    def counters(self):
        """{stream: {shard id: {records, bytes, throttled, open}}}: what each
        shard stored (bytes = partition key + data) and refused for its limit."""
        with self.lock:
            return {s.name: {sh.id: {"records": sh.stored, "bytes": sh.stored_bytes,
                                     "throttled": sh.throttled, "open": sh.open}
                             for sh in s.shards.values()}
                    for s in self.streams.values()}


OPERATIONS = {
    "CreateStream": Model.create_stream, "DeleteStream": Model.delete_stream,
    "ListStreams": Model.list_streams, "DescribeStreamSummary": Model.describe_stream_summary,
    "DescribeStream": Model.describe_stream, "ListShards": Model.list_shards,
    "SplitShard": Model.split_shard, "MergeShards": Model.merge_shards,
    "GetShardIterator": Model.get_shard_iterator, "GetRecords": Model.get_records,
}
