#!/usr/bin/python3
"""A fake Amazon Kinesis Data Streams server for shardpipe's tests.

It speaks the AWS JSON 1.1 protocol on 127.0.0.1 only, enforces the real
request limits (kinesis_model.py), can verify SigV4 signatures with botocore
(an implementation independent of shardpipe's), and injects faults on demand.
With --limits it also enforces the per-shard write limits of the service
(1000 records and 1 MiB of partition key + data per shard in any rolling
second): excess entries fail with a per-entry
ProvisionedThroughputExceededException, the others of the request succeed.

    fake_kinesis.py [--port 0] [--verify-sigv4 SECRET | AKID:SECRET ...]
                    [--stream NAME:SHARDS[:KIB]] [--account 123456789012]
                    [--max-request-bytes N] [--list-shards-page N] [--no-log]
                    [--limits] [--shard-records-per-s 1000]
                    [--shard-bytes-per-s 1048576] [--reshard-ms 0]

The first line on stdout is "listening PORT".

Control API (same port, not signed, paths under /__control):
  POST /__control/script   [action, ...]  or  {"op": "ListShards", "actions": [...]}
       queues actions, each consumed by one later request of that operation
       (PutRecords by default). Actions (a string "ok" is {"ok": true}):
         {"ok": true}
         {"partial": {"indices": [0, 3] | "every": K, "code": "ProvisionedThroughputExceededException"|"InternalFailure"}}
             every: fails the K-th, 2K-th, ... entries (1-based), i.e. index % K == K-1
         {"status": 500|503, "type": "InternalFailure"}       whole request, nothing stored
         {"throttle": true}                                    400 ProvisionedThroughputExceededException
         {"error": {"status": 400, "type": "AccessDeniedException", "message": "..."}}
         {"reset": true}      store, then close the connection with a TCP RST, no answer
         {"close": true}      store, then close the connection cleanly (FIN), no answer
         {"malformed": true}  store, then answer 200 with a truncated JSON body
         {"mismatch": true}   store, then answer with one Records entry too few
         "store": false on reset/close/malformed/mismatch skips storing;
         "delay_ms": N may accompany any action (alone it means delay, then ok).
  GET  /__control/log      every PutRecords/PutRecord request: op, stream, action, status,
                           region, access_key, entries [{partition_key, data (base64),
                           explicit_hash_key, result stored|failed|rejected, code, shard_id}]
  GET  /__control/records[?stream=S]   {stream: {shard_id: [record...]}}
  GET  /__control/stats    request counts per operation, queued actions, and per stream and
                           shard the entries stored, their bytes (key + data) and the entries
                           refused by the limiter: {"requests", "pending", "shards", "limits"}
  POST /__control/reset    clears log, scripts, records, counters and the limiter's windows
                           ({"streams": true}: streams too)
  POST /__control/config   {"max_request_bytes", "list_shards_page", "account", "reshard_ms",
                            "limits": true|false, "shard_records_per_s", "shard_bytes_per_s"}
                           (setting any limit field turns the limiter on with fresh windows)
  POST /__control/stream   {"name", "shards", "max_record_kib"}: create a stream directly
"""
import argparse
import collections
import datetime
import hashlib
import hmac
import json
import os
import socket
import struct
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kinesis_model import (ApiError, Model, NoLimiter, OPERATIONS,  # noqa: E402
                           SHARD_BYTES_PER_S, SHARD_RECORDS_PER_S, WindowLimiter)

JSON_TYPE = "application/x-amz-json-1.1"
TARGET_PREFIX = "Kinesis_20131202."
MAX_SKEW = 300  # seconds; AWS rejects older or newer signatures


class SigV4Verifier:
    """Recomputes the signature with botocore's SigV4Auth from the headers the
    client says it signed. secrets: {access key id: secret}, or {None: secret}
    to accept any key id with one secret."""

    def __init__(self, secrets):
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.compat import HTTPHeaders
        from botocore.credentials import Credentials
        self.secrets = secrets
        self._AWSRequest, self._Credentials, self._HTTPHeaders = AWSRequest, Credentials, HTTPHeaders

        class ExactHeaders(SigV4Auth):
            # Sign exactly the headers named in SignedHeaders, as AWS does
            # (botocore would otherwise skip e.g. user-agent).
            def headers_to_sign(self, request):
                return request.context["signed_headers"]
        self._Auth = ExactHeaders

    def check(self, method, path, headers, body, auth):
        key, date, region, service, _ = auth["scope"]
        secret = self.secrets.get(key, self.secrets.get(None))
        if secret is None:
            raise ApiError("UnrecognizedClientException",
                           "The security token included in the request is invalid.", 400)
        if service != "kinesis":
            raise ApiError("InvalidSignatureException",
                           "Credential should be scoped to correct service: 'kinesis'.", 403)
        amz_date = headers.get("X-Amz-Date")
        if not amz_date:
            raise ApiError("IncompleteSignatureException",
                           "Authorization header requires existence of either a 'X-Amz-Date' or a "
                           "'Date' header.", 400)
        try:
            when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(
                tzinfo=datetime.timezone.utc).timestamp()
        except ValueError:
            raise ApiError("IncompleteSignatureException", "X-Amz-Date must be in ISO8601 basic format.", 400)
        if abs(time.time() - when) > MAX_SKEW:
            raise ApiError("InvalidSignatureException",
                           "Signature expired: %s is now earlier than %s (%s - 5 min.)" % (
                               amz_date, time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() - MAX_SKEW)),
                               time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())), 403)
        if date != amz_date[:8]:
            raise ApiError("InvalidSignatureException",
                           "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
                           "date from HTTP: '%s' != '%s'" % (date, amz_date[:8]), 403)
        sent_hash = headers.get("X-Amz-Content-SHA256")
        if sent_hash is not None and sent_hash != hashlib.sha256(body).hexdigest():
            raise ApiError("InvalidSignatureException",
                           "The provided 'x-amz-content-sha256' header does not match what was computed.", 403)
        names = auth["signed_headers"]
        if "host" not in names:
            raise ApiError("InvalidSignatureException", "'Host' must be a signed header.", 403)
        signed = self._HTTPHeaders()
        for name in names:
            values = headers.get_all(name)
            if values is None:
                raise ApiError("InvalidSignatureException",
                               "The request signature we calculated does not match the signature "
                               "you provided (signed header %r is missing)." % name, 403)
            for v in values:
                signed[name] = v
        req = self._AWSRequest(method=method, url="http://%s%s" % (headers.get("Host", ""), path),
                               data=body, headers={k: v for k, v in headers.items()})
        req.context["timestamp"] = amz_date
        req.context["signed_headers"] = signed
        signer = self._Auth(self._Credentials(key, secret), "kinesis", region)
        canonical = signer.canonical_request(req)
        expected = signer.signature(signer.string_to_sign(req, canonical), req)
        if not hmac.compare_digest(expected, auth["signature"]):
            raise ApiError("InvalidSignatureException",
                           "The request signature we calculated does not match the signature you "
                           "provided. Check your AWS Secret Access Key and signing method. Consult "
                           "the service documentation for details.", 403)


def parse_authorization(headers):
    """Checks the Authorization header's structure the way AWS (and both
    emulators) do; returns its parts."""
    value = headers.get("Authorization")
    if value is None:
        raise ApiError("MissingAuthenticationTokenException", "Missing Authentication Token", 403)
    algo, _, rest = value.strip().partition(" ")
    if algo != "AWS4-HMAC-SHA256":
        raise ApiError("IncompleteSignatureException",
                       "Unsupported AWS 'algorithm': '%s'" % algo, 400)
    parts = {}
    for item in rest.split(","):
        k, eq, v = item.strip().partition("=")
        if eq:
            parts[k] = v
    for need in ("Credential", "Signature", "SignedHeaders"):
        if need not in parts:
            raise ApiError("IncompleteSignatureException",
                           "Authorization header requires '%s' parameter. Authorization=%s"
                           % (need, value), 400)
    if "X-Amz-Date" not in headers and "Date" not in headers:
        raise ApiError("IncompleteSignatureException",
                       "Authorization header requires existence of either a 'X-Amz-Date' or a "
                       "'Date' header. Authorization=%s" % value, 400)
    scope = parts["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        raise ApiError("IncompleteSignatureException",
                       "Credential should have 5 slash-separated parts: KEY/YYYYMMDD/REGION/SERVICE/"
                       "aws4_request, not '%s'." % parts["Credential"], 400)
    return {"scope": scope, "signature": parts["Signature"],
            "signed_headers": [h.strip().lower() for h in parts["SignedHeaders"].split(";") if h.strip()]}


class Faults:
    """Per-operation queues of scripted actions (see the module doc)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.queues = collections.defaultdict(collections.deque)

    def add(self, op, actions):
        with self.lock:
            for a in actions:
                self.queues[op].append({"ok": True} if a == "ok" else dict(a))
            return len(self.queues[op])

    def take(self, op):
        with self.lock:
            q = self.queues.get(op)
            return q.popleft() if q else None

    def clear(self):
        with self.lock:
            self.queues.clear()

    def pending(self):
        with self.lock:
            return {op: len(q) for op, q in self.queues.items() if q}


def partial_failer(spec):
    if not spec:
        return None
    code = spec.get("code", "ProvisionedThroughputExceededException")
    idx, every = set(spec.get("indices") or ()), spec.get("every")
    return lambda i: code if (i in idx or (every and i % every == every - 1)) else None


class State:
    def __init__(self, model, verifier, keep_log):
        self.model, self.verifier, self.keep_log = model, verifier, keep_log
        self.faults = Faults()
        self.log, self.log_lock = [], threading.Lock()
        self.counts = collections.Counter()

    def record(self, entry):
        with self.log_lock:
            entry["n"] = len(self.log)
            if self.keep_log:
                self.log.append(entry)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"       # keep-alive, and 100-continue handling
    server_version = "fake-kinesis/1"
    state = None                        # set in main()

    def log_message(self, fmt, *args):  # quiet; the tests read /__control/log instead
        if os.environ.get("FAKE_KINESIS_VERBOSE"):
            sys.stderr.write("fake-kinesis: " + fmt % args + "\n")

    # --- plumbing ----------------------------------------------------------
    def _body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            raise ApiError("SerializationException", "chunked bodies are not supported", 411)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def setup(self):
        super().setup()
        # Answers go out in one write and without Nagle's delay: a response
        # written as two small segments would otherwise wait ~40 ms for the
        # client's delayed ACK, and pace every request-at-a-time client.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _send(self, status, body, ctype=JSON_TYPE, request_id=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", request_id or str(uuid.uuid4()))
        self._headers_buffer.append(b"\r\n")   # end_headers(), with the body in the same write
        self._headers_buffer.append(body)
        self.flush_headers()

    def _send_json(self, status, obj):
        self._send(status, json.dumps(obj, separators=(",", ":")).encode())

    def _send_error(self, e):
        self._send_json(e.status, {"__type": e.type, "message": e.message})

    def _drop_connection(self, rst):
        if rst:   # SO_LINGER 0: close() sends RST instead of FIN
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            self.connection.shutdown(socket.SHUT_RDWR)
        self.connection.close()
        self.close_connection = True

    # --- HTTP verbs --------------------------------------------------------
    def do_GET(self):
        if self.path.startswith("/__control/"):
            return self._control("GET", b"")
        self._send_error(ApiError("MissingAuthenticationTokenException", "Missing Authentication Token", 403))

    def do_POST(self):
        try:
            body = self._body()
        except ApiError as e:
            self.close_connection = True
            return self._send_error(e)
        if self.path.startswith("/__control/"):
            return self._control("POST", body)
        self._api(body)

    # --- the Kinesis API ---------------------------------------------------
    def _api(self, body):
        st = self.state
        target = self.headers.get("X-Amz-Target") or ""
        op = target[len(TARGET_PREFIX):] if target.startswith(TARGET_PREFIX) else ""
        with st.log_lock:
            st.counts[op or "?"] += 1
        try:
            auth = parse_authorization(self.headers)
            if st.verifier:
                st.verifier.check("POST", self.path, self.headers, body, auth)
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            if ctype not in (JSON_TYPE, "application/json"):
                raise ApiError("UnknownOperationException", "Unsupported content type %r" % ctype)
            if op not in OPERATIONS and op not in ("PutRecords", "PutRecord"):
                raise ApiError("UnknownOperationException", "Unknown operation %r" % target)
            try:
                params = json.loads(body or b"{}")
                if not isinstance(params, dict):
                    raise ValueError
            except ValueError:
                raise ApiError("SerializationException", "Start of structure or map found where not expected.")
        except ApiError as e:
            return self._send_error(e)

        region = auth["scope"][2]
        action = st.faults.take(op) or {}
        if action.get("delay_ms"):
            time.sleep(action["delay_ms"] / 1000.0)
        if op in ("PutRecords", "PutRecord"):
            return self._put(op, params, region, auth, action)
        try:
            self._request_fault(action)
            resp = OPERATIONS[op](st.model, params, region)
        except ApiError as e:
            return self._send_error(e)
        if not self._response_fault(action, resp):
            self._send_json(200, resp)

    @staticmethod
    def _request_fault(action):
        """Faults that reject the whole request before anything is stored."""
        if action.get("status"):
            raise ApiError(action.get("type", "InternalFailure"),
                           action.get("message", "Internal service failure."), action["status"])
        if action.get("throttle"):
            raise ApiError("ProvisionedThroughputExceededException",
                           action.get("message", "Rate exceeded for stream."), 400)
        if action.get("error"):
            e = action["error"]
            raise ApiError(e.get("type", "AccessDeniedException"), e.get("message", "Access denied."),
                           e.get("status", 400))

    def _response_fault(self, action, resp):
        """Faults on the answer after the work was done; True if one was sent."""
        if action.get("reset") or action.get("close"):
            self._drop_connection(rst=bool(action.get("reset")))
            return True
        if action.get("malformed"):
            good = json.dumps(resp).encode()
            self._send(200, good[:max(1, len(good) // 2)])
            return True
        if action.get("mismatch") and isinstance(resp.get("Records"), list):
            resp = dict(resp, Records=resp["Records"][:-1] if len(resp["Records"]) > 1
                        else resp["Records"] * 2)
            self._send_json(200, resp)
            return True
        return False

    def _put(self, op, params, region, auth, action):
        st = self.state
        raw = params.get("Records") if op == "PutRecords" else [params]
        if not isinstance(raw, list):
            raw = []
        if st.keep_log:
            entries = [{"partition_key": r.get("PartitionKey"), "data": r.get("Data"),
                        "explicit_hash_key": r.get("ExplicitHashKey")}
                       for r in raw if isinstance(r, dict)]
        else:   # no log kept: cheap placeholders (benchmarks)
            entries = [{} for r in raw if isinstance(r, dict)]
        log = {"op": op, "stream": params.get("StreamName") or params.get("StreamARN"),
               "action": action or None, "region": region, "access_key": auth["scope"][0],
               "time": time.time(), "entries": entries}
        try:
            self._request_fault(action)
            stores = action.get("store", True)
            if not stores and any(action.get(k) for k in ("reset", "close", "malformed", "mismatch")):
                resp, results = {"Records": []}, [{"result": "rejected", "code": "NotStored"}] * len(entries)
            elif op == "PutRecords":
                resp, results = st.model.put_records(params, region, partial_failer(action.get("partial")))
            else:
                resp, results = st.model.put_record(params, region)
        except ApiError as e:
            for en in entries:
                en.update(result="rejected", code=e.type)
            log["status"] = e.status
            st.record(log)
            return self._send_error(e)
        if st.keep_log:
            for en, r in zip(entries, results):
                en.update(r)
        log["status"] = 200
        st.record(log)
        if not self._response_fault(action, resp):
            self._send_json(200, resp)

    # --- control API -------------------------------------------------------
    def _control(self, method, body):
        st = self.state
        url = urllib.parse.urlsplit(self.path)
        what = url.path[len("/__control/"):]
        query = dict(urllib.parse.parse_qsl(url.query))
        try:
            arg = json.loads(body) if body else None
        except ValueError:
            return self._send(400, b'{"error":"bad JSON"}', "application/json")
        if method == "GET" and what == "log":
            with st.log_lock:
                out = list(st.log)
        elif method == "GET" and what == "records":
            out = st.model.dump(query.get("stream"))
        elif method == "GET" and what == "stats":
            with st.log_lock:
                out = {"requests": dict(st.counts), "pending": st.faults.pending()}
            out["shards"] = st.model.counters()
            out["limits"] = st.model.limiter.describe()
            out["time"] = time.time()
        elif method == "POST" and what == "script":
            if isinstance(arg, dict):
                out = {"queued": st.faults.add(arg.get("op", "PutRecords"), arg.get("actions", []))}
            else:
                out = {"queued": st.faults.add("PutRecords", arg or [])}
        elif method == "POST" and what == "reset":
            st.faults.clear()
            with st.log_lock:
                st.log.clear()
                st.counts.clear()
            st.model.clear(streams=bool(arg and arg.get("streams")))
            out = {}
        elif method == "POST" and what == "config":
            arg = arg or {}
            for k in ("max_request_bytes", "list_shards_page", "account", "reshard_ms"):
                if k in arg:
                    setattr(st.model, k, arg[k])
            lim_keys = ("shard_records_per_s", "shard_bytes_per_s")
            if arg.get("limits") is False:
                set_limiter(st.model, None)
            elif arg.get("limits") or any(k in arg for k in lim_keys):
                old = st.model.limiter
                set_limiter(st.model, WindowLimiter(
                    arg.get("shard_records_per_s", getattr(old, "records", SHARD_RECORDS_PER_S)),
                    arg.get("shard_bytes_per_s", getattr(old, "nbytes", SHARD_BYTES_PER_S))))
            out = {k: getattr(st.model, k)
                   for k in ("max_request_bytes", "list_shards_page", "account", "reshard_ms")}
            out.update(st.model.limiter.describe())
        elif method == "POST" and what == "stream":
            try:
                st.model.create_stream({"StreamName": arg["name"], "ShardCount": arg.get("shards", 1),
                                        "MaxRecordSizeInKiB": arg.get("max_record_kib", 1024)},
                                       arg.get("region", "us-east-1"))
            except ApiError as e:
                return self._send_error(e)
            out = {}
        else:
            return self._send(404, b'{"error":"unknown control path"}', "application/json")
        self._send(200, json.dumps(out).encode(), "application/json")


def set_limiter(model, limiter):
    with model.lock:
        model.limiter = limiter or NoLimiter()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--verify-sigv4", action="append", metavar="SECRET|AKID:SECRET",
                    help="verify signatures; repeat AKID:SECRET for a table of keys")
    ap.add_argument("--stream", action="append", default=[], metavar="NAME:SHARDS[:KIB]")
    ap.add_argument("--account", default="123456789012")
    ap.add_argument("--max-request-bytes", type=int, default=10 * 1024 * 1024)
    ap.add_argument("--list-shards-page", type=int, default=1000)
    ap.add_argument("--no-log", action="store_true", help="keep no request log (for big benchmarks)")
    ap.add_argument("--limits", action="store_true",
                    help="enforce the per-shard write limits (rolling one-second window)")
    ap.add_argument("--shard-records-per-s", type=int, default=SHARD_RECORDS_PER_S)
    ap.add_argument("--shard-bytes-per-s", type=int, default=SHARD_BYTES_PER_S)
    ap.add_argument("--reshard-ms", type=int, default=0,
                    help="SplitShard/MergeShards keep the stream UPDATING this long before applying")
    a = ap.parse_args(argv)

    verifier = None
    if a.verify_sigv4:
        secrets = {}
        for v in a.verify_sigv4:
            key, sep, secret = v.partition(":")
            secrets[key if sep else None] = secret if sep else v
        verifier = SigV4Verifier(secrets)
    limiter = WindowLimiter(a.shard_records_per_s, a.shard_bytes_per_s) if a.limits else None
    model = Model(account=a.account, max_request_bytes=a.max_request_bytes,
                  list_shards_page=a.list_shards_page, limiter=limiter, reshard_ms=a.reshard_ms)
    for spec in a.stream:
        name, shards, *kib = spec.split(":")
        model.create_stream({"StreamName": name, "ShardCount": int(shards),
                             "MaxRecordSizeInKiB": int(kib[0]) if kib else 1024}, "us-east-1")
    Handler.state = State(model, verifier, not a.no_log)
    httpd = Server(("127.0.0.1", a.port), Handler)   # loopback only, always
    print("listening %d" % httpd.server_address[1], flush=True)
    try:
        httpd.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    main()
