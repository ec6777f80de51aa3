#!/usr/bin/python3
"""Fake platform credential endpoints for shardpipe's tests, on 127.0.0.1 only:
the EC2 instance metadata service (IMDS) or the ECS/EKS container
credentials endpoint, both answering with the JSON credential document.

    fake_metadata.py --service imds [--port 0] [--role NAME | --no-role]
                     [--issue AKID:SECRET:TOKEN[:EXPIRES_IN] ...] [--allow-v1]
                     [--token-status 403] [--token-delay 3] [--region us-east-1]
    fake_metadata.py --service container [--port 0] [--auth TOKEN ...]
                     [--issue ...] [--path /v2/credentials/x]

imds:
  PUT /latest/api/token needs x-aws-ec2-metadata-token-ttl-seconds (1..21600;
      400 otherwise) and answers a fresh token valid for that long;
      --token-status N answers N instead (403/404/405 make clients fall back
      to IMDSv1); --token-delay S waits S seconds before answering (the
      hop-limit symptom: connected, no answer in time).
  GET /latest/meta-data/... needs a valid x-aws-ec2-metadata-token (401
      without, or for an unknown or expired one), unless --allow-v1 and no
      token is sent at all.
  .../iam/security-credentials/ is the role name (404 with --no-role);
  .../iam/security-credentials/ROLE the n-th --issue (the last repeats):
      the role rotates its keys, each set expiring EXPIRES_IN s from the
      fetch (default 21600).
  .../placement/region is --region.
container:
  GET on --path (any path when not given) needs Authorization equal to one
  of the --auth values (when any is given; 401 otherwise), and answers the
  n-th --issue.

The first line on stdout is "listening PORT". Control API on the same port:
  GET  /__control/log    [{method, path, token, auth, status, issued}]
  POST /__control/reset  clears the log and the issue counter
"""
import argparse
import json
import os
import secrets
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CREDS_PREFIX = "/latest/meta-data/iam/security-credentials/"


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.log = []
        self.tokens = {}      # IMDSv2 token -> expiry
        self.issued = 0

    def next_creds(self):
        with self.lock:
            c = dict(self.args.issue[min(self.issued, len(self.args.issue) - 1)])
            self.issued += 1
        return c


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-metadata/1"
    state = None

    def log_message(self, fmt, *args):
        if os.environ.get("FAKE_METADATA_VERBOSE"):
            sys.stderr.write("fake-metadata: " + fmt % args + "\n")

    def _send(self, status, body, ctype="text/plain", entry=None):
        if isinstance(body, str):
            body = body.encode()
        if entry is not None:
            entry["status"] = status
            with self.state.lock:
                self.state.log.append(entry)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _entry(self):
        return {"time": time.time(), "method": self.command, "path": self.path,
                "token": self.headers.get("x-aws-ec2-metadata-token"),
                "ttl": self.headers.get("x-aws-ec2-metadata-token-ttl-seconds"),
                "auth": self.headers.get("Authorization"), "status": None, "issued": None}

    def _creds_doc(self, entry):
        c = self.state.next_creds()
        now = time.time()
        entry["issued"] = c["access_key"]
        doc = {"Code": "Success", "LastUpdated": iso(now), "Type": "AWS-HMAC",
               "AccessKeyId": c["access_key"], "SecretAccessKey": c["secret"],
               "Token": c["token"], "Expiration": iso(now + (c["expires_in"] or 21600))}
        if self.state.args.service == "container":
            del doc["Code"], doc["LastUpdated"], doc["Type"]
            doc["AccountId"] = "123456789012"
        return json.dumps(doc, indent=2)

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_PUT(self):
        self._body()
        entry = self._entry()
        a = self.state.args
        if a.service != "imds" or self.path != "/latest/api/token":
            return self._send(404, "not found", entry=entry)
        if a.token_delay:
            time.sleep(a.token_delay)
        if a.token_status:
            return self._send(a.token_status, "refused", entry=entry)
        if self.headers.get("X-Forwarded-For") is not None:
            return self._send(403, "forwarded", entry=entry)
        try:
            ttl = int(self.headers.get("x-aws-ec2-metadata-token-ttl-seconds") or "")
        except ValueError:
            ttl = 0
        if not 1 <= ttl <= 21600:
            return self._send(400, "bad ttl", entry=entry)
        # real tokens are base64: "/", "+" and "=" included
        tok = "IMDSTOKEN-" + secrets.token_urlsafe(24) + "/+=="
        with self.state.lock:
            self.state.tokens[tok] = time.time() + ttl
        entry["issued"] = "token"
        self._send(200, tok, entry=entry)

    def do_POST(self):
        body = self._body()
        if self.path.startswith("/__control/"):
            return self._control("POST", body)
        self._send(405, "method not allowed", entry=self._entry())

    def do_GET(self):
        if self.path.startswith("/__control/"):
            return self._control("GET", b"")
        entry = self._entry()
        a = self.state.args
        if a.service == "container":
            if a.path and urllib.parse.urlsplit(self.path).path != a.path:
                return self._send(404, "not found", entry=entry)
            if a.auth and self.headers.get("Authorization") not in a.auth:
                return self._send(401, '{"message":"unauthorized"}', "application/json", entry)
            return self._send(200, self._creds_doc(entry), "application/json", entry)
        tok = entry["token"]
        if tok is None:
            if not a.allow_v1:
                return self._send(401, "", entry=entry)
        else:
            with self.state.lock:
                exp = self.state.tokens.get(tok)
            if exp is None or exp < time.time():
                return self._send(401, "", entry=entry)
        if self.path == CREDS_PREFIX:
            if a.no_role:
                return self._send(404, "not found", entry=entry)
            return self._send(200, a.role, entry=entry)
        if self.path.startswith(CREDS_PREFIX):
            if a.no_role or self.path[len(CREDS_PREFIX):] != a.role:
                return self._send(404, "not found", entry=entry)
            return self._send(200, self._creds_doc(entry), entry=entry)
        if self.path == "/latest/meta-data/placement/region":
            return self._send(200, a.region, entry=entry)
        self._send(404, "not found", entry=entry)

    def _control(self, method, body):
        st = self.state
        what = urllib.parse.urlsplit(self.path).path[len("/__control/"):]
        if method == "GET" and what == "log":
            with st.lock:
                out = list(st.log)
        elif method == "POST" and what == "reset":
            with st.lock:
                st.log.clear()
                st.issued = 0
            out = {}
        else:
            return self._send(404, '{"error":"unknown control path"}', "application/json")
        self._send(200, json.dumps(out), "application/json")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--service", choices=("imds", "container"), required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--role", default="shardpipe-instance-role")
    ap.add_argument("--no-role", action="store_true")
    ap.add_argument("--issue", action="append", default=[], metavar="AKID:SECRET:TOKEN[:EXPIRES_IN]")
    ap.add_argument("--allow-v1", action="store_true")
    ap.add_argument("--token-status", type=int, default=0)
    ap.add_argument("--token-delay", type=float, default=0)
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--auth", action="append", default=[], metavar="TOKEN")
    ap.add_argument("--path", default=None)
    a = ap.parse_args(argv)
    issue = []
    for v in a.issue or ["ASIAFAKEPLATFORM0001:fakePlatformSecret/EXAMPLE:FakePlatformToken"]:
        parts = v.split(":")
        if len(parts) not in (3, 4):
            ap.error("--issue takes AKID:SECRET:TOKEN[:EXPIRES_IN]")
        issue.append({"access_key": parts[0], "secret": parts[1], "token": parts[2],
                      "expires_in": int(parts[3]) if len(parts) == 4 else None})
    a.issue = issue
    Handler.state = State(a)
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
