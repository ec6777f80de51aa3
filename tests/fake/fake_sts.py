#!/usr/bin/python3
"""A fake AWS STS endpoint for shardpipe's AssumeRole tests.

It speaks the Query protocol (POST / with a form-encoded body, XML answers)
on 127.0.0.1 only, verifies each request's SigV4 signature with botocore for
service "sts" (an implementation independent of shardpipe's), checks the
AssumeRole parameters as the STS model constrains them, and answers with
temporary credentials, or with an error on demand.

    fake_sts.py [--port 0] --verify-sigv4 AKID:SECRET [...]
                [--require-token TOKEN] [--issue AKID:SECRET:TOKEN[:EXPIRES_IN] ...]
                [--deny ROLE_ARN ...] [--external-id ID] [--account 123456789012]

--verify-sigv4   the base credentials accepted (repeatable); without it any
                 well-formed Authorization header is accepted.
--require-token  the X-Amz-Security-Token every request must send, and sign.
--issue          what the n-th successful AssumeRole returns (the last one
                 repeats); EXPIRES_IN seconds from now, default the request's
                 DurationSeconds (3600). Keep ':' out of the values.
--deny           answer 403 AccessDenied for this role ARN.
--external-id    answer 403 AccessDenied unless ExternalId is exactly this.
--web-token      a WebIdentityToken AssumeRoleWithWebIdentity accepts
                 (repeatable; without it any non-empty token). That action is
                 unsigned: a request that carries an Authorization header is
                 refused, and the answer's root is
                 AssumeRoleWithWebIdentityResponse. The log's "web_token" is
                 the token sent.

The first line on stdout is "listening PORT".

Control API (same port, not signed, paths under /__control):
  POST /__control/script  [action, ...]: each consumed by one later AssumeRole,
        before anything else is checked:
          {"ok": true}
          {"error": {"status": 403, "code": "AccessDenied", "message": "..."}}
          {"issue": {"access_key": .., "secret": .., "token": .., "expires_in": N}}
          {"malformed": true}        200 with a truncated document
          {"raw": {"status": 503, "body": "...", "type": "text/html"}}
          "delay_ms": N may accompany any action.
  GET  /__control/log     every AssumeRole request: params, access_key, region,
                          token, status, code, issued (access key or null)
  POST /__control/reset   clears the log, the script and the issue counter
"""
import argparse
import collections
import datetime
import hmac
import json
import os
import re
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FORM_TYPE = "application/x-www-form-urlencoded"
XMLNS = "https://sts.amazonaws.com/doc/2011-06-15/"
MAX_SKEW = 300
SESSION_NAME_RE = re.compile(r"^[\w+=,.@-]{2,64}$", re.ASCII)
EXTERNAL_ID_RE = re.compile(r"^[\w+=,.@:/-]{2,1224}$", re.ASCII)


class StsError(Exception):
    def __init__(self, code, message, status=400, kind="Sender"):
        super().__init__(message)
        self.code, self.message, self.status, self.kind = code, message, status, kind


def xml_escape(s):
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&apos;"))


def error_xml(e, request_id):
    return ('<ErrorResponse xmlns="%s">\n  <Error>\n    <Type>%s</Type>\n    <Code>%s</Code>\n'
            '    <Message>%s</Message>\n  </Error>\n  <RequestId>%s</RequestId>\n</ErrorResponse>\n'
            % (XMLNS, e.kind, xml_escape(e.code), xml_escape(e.message), request_id)).encode()


def success_xml(role_arn, session, creds, expires, request_id, action="AssumeRole"):
    account = role_arn.split(":")[4]
    role = role_arn.split(":role/", 1)[1].rsplit("/", 1)[-1]
    exp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires))
    return (('<AssumeRoleResponse xmlns="%s">\n  <AssumeRoleResult>\n    <AssumedRoleUser>\n'
            '      <AssumedRoleId>AROAFAKE0000000000001:%s</AssumedRoleId>\n'
            '      <Arn>arn:aws:sts::%s:assumed-role/%s/%s</Arn>\n    </AssumedRoleUser>\n'
            '    <Credentials>\n      <AccessKeyId>%s</AccessKeyId>\n'
            '      <SecretAccessKey>%s</SecretAccessKey>\n      <SessionToken>%s</SessionToken>\n'
            '      <Expiration>%s</Expiration>\n    </Credentials>\n'
            '    <PackedPolicySize>6</PackedPolicySize>\n  </AssumeRoleResult>\n'
            '  <ResponseMetadata>\n    <RequestId>%s</RequestId>\n  </ResponseMetadata>\n'
            '</AssumeRoleResponse>\n').replace("AssumeRoleRe", action + "Re")
            % (XMLNS, xml_escape(session), account, xml_escape(role), xml_escape(session),
               xml_escape(creds["access_key"]), xml_escape(creds["secret"]),
               xml_escape(creds["token"]), exp, request_id)).encode()


class Verifier:
    """Recomputes the signature with botocore's SigV4Auth over exactly the
    headers the client says it signed, as AWS does."""

    def __init__(self, secrets):
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.compat import HTTPHeaders
        from botocore.credentials import Credentials
        self.secrets = secrets
        self._AWSRequest, self._Credentials, self._HTTPHeaders = AWSRequest, Credentials, HTTPHeaders

        class ExactHeaders(SigV4Auth):
            def headers_to_sign(self, request):
                return request.context["signed_headers"]
        self._Auth = ExactHeaders

    def check(self, path, headers, body, auth, token):
        key, date, region, service, _ = auth["scope"]
        secret = self.secrets.get(key)
        if secret is None:
            raise StsError("InvalidClientTokenId", "The security token included in the request is invalid.", 403)
        if service != "sts":
            raise StsError("SignatureDoesNotMatch",
                           "Credential should be scoped to correct service: 'sts'.", 403)
        amz_date = headers.get("X-Amz-Date") or ""
        try:
            when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(
                tzinfo=datetime.timezone.utc).timestamp()
        except ValueError:
            raise StsError("IncompleteSignature", "X-Amz-Date must be in ISO8601 basic format.")
        if abs(time.time() - when) > MAX_SKEW:
            raise StsError("SignatureDoesNotMatch", "Signature expired: %s is now earlier than allowed" % amz_date, 403)
        if date != amz_date[:8]:
            raise StsError("SignatureDoesNotMatch", "Date in Credential scope does not match X-Amz-Date", 403)
        names = auth["signed_headers"]
        if "host" not in names:
            raise StsError("SignatureDoesNotMatch", "'Host' must be a signed header.", 403)
        if token is not None and "x-amz-security-token" not in names:
            raise StsError("SignatureDoesNotMatch", "X-Amz-Security-Token is sent but not signed.", 403)
        signed = self._HTTPHeaders()
        for name in names:
            values = headers.get_all(name)
            if values is None:
                raise StsError("SignatureDoesNotMatch",
                               "signed header %r is missing from the request" % name, 403)
            for v in values:
                signed[name] = v
        req = self._AWSRequest(method="POST", url="http://%s%s" % (headers.get("Host", ""), path),
                               data=body, headers={k: v for k, v in headers.items()})
        req.context["timestamp"] = amz_date
        req.context["signed_headers"] = signed
        signer = self._Auth(self._Credentials(key, secret), "sts", region)
        expected = signer.signature(signer.string_to_sign(req, signer.canonical_request(req)), req)
        if not hmac.compare_digest(expected, auth["signature"]):
            raise StsError("SignatureDoesNotMatch",
                           "The request signature we calculated does not match the signature you "
                           "provided. Check your AWS Secret Access Key and signing method.", 403)


def parse_authorization(headers):
    value = headers.get("Authorization")
    if value is None:
        raise StsError("MissingAuthenticationToken", "Request is missing Authentication Token", 403)
    algo, _, rest = value.strip().partition(" ")
    if algo != "AWS4-HMAC-SHA256":
        raise StsError("IncompleteSignature", "Unsupported AWS 'algorithm': '%s'" % algo)
    parts = {}
    for item in rest.split(","):
        k, eq, v = item.strip().partition("=")
        if eq:
            parts[k] = v
    for need in ("Credential", "Signature", "SignedHeaders"):
        if need not in parts:
            raise StsError("IncompleteSignature", "Authorization header requires '%s' parameter." % need)
    scope = parts["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        raise StsError("IncompleteSignature", "Credential should have 5 slash-separated parts.")
    return {"scope": scope, "signature": parts["Signature"],
            "signed_headers": [h.strip().lower() for h in parts["SignedHeaders"].split(";") if h.strip()]}


class State:
    def __init__(self, args):
        self.args = args
        self.verifier = Verifier(args.secrets) if args.secrets else None
        self.lock = threading.Lock()
        self.log = []
        self.script = collections.deque()
        self.issued = 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-sts/1"
    state = None

    def log_message(self, fmt, *args):
        if os.environ.get("FAKE_STS_VERBOSE"):
            sys.stderr.write("fake-sts: " + fmt % args + "\n")

    def _send(self, status, body, ctype="text/xml", request_id=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", request_id or str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(body)

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        if self.path.startswith("/__control/"):
            return self._control("GET", b"")
        self._error(StsError("MissingAuthenticationToken", "Request is missing Authentication Token", 403))

    def do_POST(self):
        body = self._body()
        if self.path.startswith("/__control/"):
            return self._control("POST", body)
        self._assume_role(body)

    def _error(self, e, entry=None):
        rid = str(uuid.uuid4())
        if entry is not None:
            entry.update(status=e.status, code=e.code)
            self._record(entry)
        self._send(e.status, error_xml(e, rid), request_id=rid)

    def _record(self, entry):
        with self.state.lock:
            self.state.log.append(entry)

    def _assume_role(self, body):
        st, a = self.state, self.state.args
        entry = {"time": time.time(), "params": None, "access_key": None, "region": None,
                 "token": self.headers.get("X-Amz-Security-Token"), "status": None, "code": None,
                 "issued": None, "user_agent": self.headers.get("User-Agent")}
        with st.lock:
            action = st.script.popleft() if st.script else {}
        if action.get("delay_ms"):
            time.sleep(action["delay_ms"] / 1000.0)
        try:
            if self.path != "/":
                raise StsError("InvalidAction", "Could not find operation for %s" % self.path)
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if ctype != FORM_TYPE:
                raise StsError("InvalidParameterValue", "Content-Type must be %s, not %r" % (FORM_TYPE, ctype))
            try:
                params = urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True,
                                               strict_parsing=True)
            except (UnicodeDecodeError, ValueError):
                raise StsError("MalformedQueryString", "The query string is malformed.")
            if any(len(v) != 1 for v in params.values()):
                raise StsError("MalformedQueryString", "A parameter is given twice.")
            params = {k: v[0] for k, v in params.items()}
            entry["params"] = params
            if params.get("Action") == "AssumeRoleWithWebIdentity":
                return self._web_identity(params, entry, action)
            auth = parse_authorization(self.headers)
            entry["access_key"], entry["region"] = auth["scope"][0], auth["scope"][2]
            if st.verifier:
                st.verifier.check(self.path, self.headers, body, auth, entry["token"])
            if a.require_token is not None and entry["token"] != a.require_token:
                raise StsError("InvalidClientTokenId", "The security token included in the request is invalid.", 403)
            self._validate(params)
        except StsError as e:
            return self._error(e, entry)

        if action.get("error"):
            e = action["error"]
            return self._error(StsError(e.get("code", "AccessDenied"), e.get("message", "Access denied"),
                                        e.get("status", 403)), entry)
        if action.get("raw"):
            r = action["raw"]
            entry.update(status=r.get("status", 200), code="raw")
            self._record(entry)
            return self._send(r.get("status", 200), r.get("body", "").encode(), r.get("type", "text/html"))
        role = params["RoleArn"]
        if role in a.deny or (a.external_id is not None and params.get("ExternalId") != a.external_id):
            return self._error(StsError(
                "AccessDenied", "User: arn:aws:iam::%s:user/%s is not authorized to perform: "
                "sts:AssumeRole on resource: %s" % (a.account, entry["access_key"], role), 403), entry)

        duration = int(params.get("DurationSeconds", 3600))
        with st.lock:
            if action.get("issue"):
                creds = dict(action["issue"])
            else:
                creds = dict(a.issue[min(st.issued, len(a.issue) - 1)])
            st.issued += 1
        expires = time.time() + int(creds.get("expires_in") or duration)
        rid = str(uuid.uuid4())
        doc = success_xml(role, params["RoleSessionName"], creds, expires, rid)
        if action.get("malformed"):
            doc = doc[:doc.index(b"</SecretAccessKey>")]
        entry.update(status=200, code="malformed" if action.get("malformed") else None,
                     issued=creds["access_key"], expires=expires)
        self._record(entry)
        self._send(200, doc, request_id=rid)

    def _web_identity(self, params, entry, action):
        st, a = self.state, self.state.args
        tok = params.get("WebIdentityToken") or ""
        entry["web_token"] = tok
        if self.headers.get("Authorization") is not None:
            raise StsError("InvalidParameterValue", "AssumeRoleWithWebIdentity is not signed")
        if params.get("Version") != "2011-06-15":
            raise StsError("InvalidAction", "Unsupported Version %r" % params.get("Version"))
        extra = set(params) - {"Action", "Version", "RoleArn", "RoleSessionName", "WebIdentityToken",
                               "DurationSeconds", "ProviderId", "Policy"}
        if extra:
            raise StsError("InvalidParameterValue", "unexpected parameters %s" % sorted(extra))
        role = params.get("RoleArn") or ""
        if not re.match(r"^arn:aws[a-z-]*:iam::\d{12}:role/\S+$", role):
            raise StsError("ValidationError", "1 validation error detected: Value at 'roleArn' failed to satisfy constraint")
        if not SESSION_NAME_RE.match(params.get("RoleSessionName") or ""):
            raise StsError("ValidationError", "1 validation error detected: Value at 'roleSessionName' failed "
                           "to satisfy constraint")
        if not tok or (a.web_token and tok not in a.web_token):
            raise StsError("InvalidIdentityToken", "The web identity token that was passed could not be "
                           "validated by AWS. Get a new identity token from the identity provider and try again.")
        if action.get("error"):
            e = action["error"]
            raise StsError(e.get("code", "AccessDenied"), e.get("message", "Access denied"), e.get("status", 403))
        if role in a.deny:
            raise StsError("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity", 403)
        with st.lock:
            creds = dict(action["issue"]) if action.get("issue") else dict(a.issue[min(st.issued, len(a.issue) - 1)])
            st.issued += 1
        expires = time.time() + int(creds.get("expires_in") or params.get("DurationSeconds") or 3600)
        rid = str(uuid.uuid4())
        doc = success_xml(role, params["RoleSessionName"], creds, expires, rid, "AssumeRoleWithWebIdentity")
        entry.update(status=200, issued=creds["access_key"], expires=expires)
        self._record(entry)
        self._send(200, doc, request_id=rid)

    @staticmethod
    def _validate(p):
        if p.get("Action") != "AssumeRole":
            raise StsError("InvalidAction", "Could not find operation %s for version %s"
                           % (p.get("Action"), p.get("Version")))
        if p.get("Version") != "2011-06-15":
            raise StsError("InvalidAction", "Unsupported Version %r" % p.get("Version"))
        allowed = {"Action", "Version", "RoleArn", "RoleSessionName", "ExternalId", "DurationSeconds"}
        extra = set(p) - allowed
        if extra:
            raise StsError("InvalidParameterValue", "unexpected parameters %s" % sorted(extra))
        role = p.get("RoleArn")
        if role is None or not 20 <= len(role) <= 2048 or not re.match(r"^arn:aws[a-z-]*:iam::\d{12}:role/\S+$", role):
            raise StsError("ValidationError", "1 validation error detected: Value at 'roleArn' failed to satisfy constraint")
        if not SESSION_NAME_RE.match(p.get("RoleSessionName") or ""):
            raise StsError("ValidationError", "1 validation error detected: Value at 'roleSessionName' failed "
                           "to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*")
        if "ExternalId" in p and not EXTERNAL_ID_RE.match(p["ExternalId"]):
            raise StsError("ValidationError", "1 validation error detected: Value at 'externalId' failed to "
                           "satisfy constraint")
        if "DurationSeconds" in p:
            try:
                d = int(p["DurationSeconds"])
            except ValueError:
                d = -1
            if not 900 <= d <= 43200:
                raise StsError("ValidationError", "1 validation error detected: Value at 'durationSeconds' "
                               "failed to satisfy constraint: Member must have value between 900 and 43200")

    def _control(self, method, body):
        st = self.state
        what = urllib.parse.urlsplit(self.path).path[len("/__control/"):]
        try:
            arg = json.loads(body) if body else None
        except ValueError:
            return self._send(400, b'{"error":"bad JSON"}', "application/json")
        if method == "GET" and what == "log":
            with st.lock:
                out = list(st.log)
        elif method == "POST" and what == "script":
            with st.lock:
                for x in arg or []:
                    st.script.append({"ok": True} if x == "ok" else dict(x))
                out = {"queued": len(st.script)}
        elif method == "POST" and what == "reset":
            with st.lock:
                st.log.clear()
                st.script.clear()
                st.issued = 0
            out = {}
        else:
            return self._send(404, b'{"error":"unknown control path"}', "application/json")
        self._send(200, json.dumps(out).encode(), "application/json")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--verify-sigv4", action="append", default=[], metavar="AKID:SECRET")
    ap.add_argument("--require-token", default=None)
    ap.add_argument("--issue", action="append", default=[], metavar="AKID:SECRET:TOKEN[:EXPIRES_IN]")
    ap.add_argument("--deny", action="append", default=[], metavar="ROLE_ARN")
    ap.add_argument("--external-id", default=None)
    ap.add_argument("--web-token", action="append", default=[], metavar="TOKEN")
    ap.add_argument("--account", default="123456789012")
    a = ap.parse_args(argv)
    a.secrets = {}
    for v in a.verify_sigv4:
        key, sep, secret = v.partition(":")
        if not sep:
            ap.error("--verify-sigv4 takes AKID:SECRET")
        a.secrets[key] = secret
    issue = []
    for v in a.issue or ["ASIAFAKESTSKEY000001:fakeRoleSecret/EXAMPLE:FakeRoleSessionToken"]:
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
