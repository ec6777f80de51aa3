"""Packaging: `shardpipe --version` names the runtime versions of the
libraries it loaded; `make install` puts every file under PREFIX and
DESTDIR (binary, both man pages, the example configuration, the systemd
unit with the installed paths) and `make uninstall` takes them away; the
unit is sandboxed as documented and passes `systemd-analyze verify`."""
import ctypes
import filecmp
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import cli  # noqa: E402
from emulators import ROOT  # noqa: E402

UNIT = os.path.join(ROOT, "etc", "shardpipe.service")


def make_version():
    with open(os.path.join(ROOT, "Makefile")) as f:
        return re.search(r"^VERSION\s*:?=\s*(\S+)", f.read(), re.M).group(1)


def loaded_libs(binary):
    """soname -> path, as the dynamic linker resolves them for binary."""
    out = subprocess.run(["ldd", binary], stdout=subprocess.PIPE, check=True, text=True).stdout
    return dict(re.findall(r"^\s*(\S+) => (\S+)", out, re.M))


def cstr(lib, fn, *args):
    f = getattr(lib, fn)
    f.restype = ctypes.c_char_p
    f.argtypes = [ctypes.c_int] * len(args)
    return f(*args).decode()


class VersionTest(unittest.TestCase):
    def test_version_names_runtime_libraries(self):
        outs = []
        for arg in ("--version", "version"):
            p = subprocess.run([cli.SHARDPIPE, arg], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            self.assertEqual((p.returncode, p.stderr), (0, ""))
            outs.append(p.stdout)
        self.assertEqual(outs[0], outs[1])
        lines = outs[0].splitlines()
        self.assertEqual(len(lines), 5, outs[0])
        # What the same libraries say of themselves, loaded as the binary loads them.
        libs = loaded_libs(cli.SHARDPIPE)
        by = lambda prefix: ctypes.CDLL(next(p for s, p in libs.items() if s.startswith(prefix)))
        curl = cstr(by("libcurl.so"), "curl_version")        # "libcurl/7.88.1 OpenSSL/3.0.11 zlib/..."
        curl_ver, ssl = re.match(r"libcurl/(\S+) (\S+)", curl).groups()
        openssl = cstr(by("libcrypto.so"), "OpenSSL_version", 0)
        jsonc = cstr(by("libjson-c.so"), "json_c_version")
        zlib = cstr(by("libz.so"), "zlibVersion")
        self.assertEqual(lines, ["shardpipe " + make_version(), "libcurl %s (%s)" % (curl_ver, ssl), openssl,
                                 "json-c " + jsonc, "zlib " + zlib])
        self.assertTrue(openssl.startswith("OpenSSL "), openssl)

    def test_version_write_error_is_a_failure(self):
        with open("/dev/full", "w") as full:
            p = subprocess.run([cli.SHARDPIPE, "version"], stdout=full, stderr=subprocess.PIPE)
        self.assertEqual(p.returncode, 1)


def files_under(root):
    out = {}
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            out[os.path.relpath(p, root)] = stat.S_IMODE(os.stat(p).st_mode)
    return out


class InstallTest(unittest.TestCase):
    def setUp(self):
        self.dest = tempfile.mkdtemp(prefix="shardpipe-destdir-")
        self.addCleanup(shutil.rmtree, self.dest, True)

    def make(self, target, *args):
        flavor = os.path.join(ROOT, "build", "flavor")
        san = ["SANITIZE=1"] if os.path.exists(flavor) and open(flavor).read().strip() == "sanitize" else []
        p = subprocess.run(["make", "--no-print-directory", "-C", ROOT, target, "DESTDIR=" + self.dest] + san
                           + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.assertEqual(p.returncode, 0, p.stdout)
        return p.stdout

    def check_install(self, bindir, mandir, sysconfdir, unitdir, *args):
        self.make("install", *args)
        rel = lambda p: p.lstrip("/")
        want = {rel(bindir) + "/shardpipe": 0o755,
                rel(mandir) + "/man1/shardpipe.1": 0o644,
                rel(mandir) + "/man5/shardpipe.json.5": 0o644,
                rel(sysconfdir) + "/shardpipe/shardpipe.json": 0o644,
                rel(unitdir) + "/shardpipe.service": 0o644}
        self.assertEqual(files_under(self.dest), want)
        at = lambda p: os.path.join(self.dest, rel(p))
        self.assertTrue(filecmp.cmp(at(bindir + "/shardpipe"), cli.SHARDPIPE, shallow=False))
        self.assertTrue(filecmp.cmp(at(mandir + "/man1/shardpipe.1"), os.path.join(ROOT, "man", "shardpipe.1"),
                                    shallow=False))
        self.assertTrue(filecmp.cmp(at(mandir + "/man5/shardpipe.json.5"),
                                    os.path.join(ROOT, "man", "shardpipe.json.5"), shallow=False))
        self.assertTrue(filecmp.cmp(at(sysconfdir + "/shardpipe/shardpipe.json"),
                                    os.path.join(ROOT, "etc", "shardpipe.json"), shallow=False))
        with open(at(unitdir + "/shardpipe.service")) as f:
            unit = f.read()
        self.assertIn("ExecStart=%s/shardpipe run -c %s/shardpipe/shardpipe.json\n" % (bindir, sysconfdir), unit)
        self.assertIn("ExecStartPre=%s/shardpipe check-config %s/shardpipe/shardpipe.json\n"
                      % (bindir, sysconfdir), unit)
        p = subprocess.run([at(bindir + "/shardpipe"), "--version"], stdout=subprocess.PIPE, text=True)
        self.assertEqual(p.returncode, 0)
        # An edited configuration survives install and uninstall.
        self.make("uninstall", *args)
        self.assertEqual(files_under(self.dest), {})
        self.make("install", *args)
        with open(at(sysconfdir + "/shardpipe/shardpipe.json"), "a") as f:
            f.write("// edited\n")
        self.assertIn("keeping", self.make("install", *args))
        out = self.make("uninstall", *args)
        self.assertIn("it was edited", out)
        self.assertEqual(list(files_under(self.dest)), [rel(sysconfdir) + "/shardpipe/shardpipe.json"])

    def test_default_layout(self):
        self.check_install("/usr/local/bin", "/usr/local/share/man", "/usr/local/etc",
                           "/usr/local/lib/systemd/system")

    def test_distribution_layout(self):
        self.check_install("/usr/bin", "/usr/share/man", "/etc", "/lib/systemd/system",
                           "PREFIX=/usr", "SYSCONFDIR=/etc", "UNITDIR=/lib/systemd/system")


def unit_settings(text):
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            k, _, v = line.partition("=")
            out.setdefault(k, []).append(v)
    return out


class UnitTest(unittest.TestCase):
    def test_sandbox_and_restart(self):
        with open(UNIT) as f:
            s = unit_settings(f.read())
        for k, v in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "read-only",
                     "PrivateTmp": "yes", "StateDirectory": "shardpipe", "User": "shardpipe",
                     "DynamicUser": "yes", "Restart": "on-failure", "ExecReload": "/bin/kill -HUP $MAINPID",
                     "KillSignal": "SIGTERM"}.items():
            self.assertEqual(s.get(k), [v], k)
        self.assertIn("adm", s["SupplementaryGroups"][0].split())
        # the checkpoint default is inside the state directory
        with open(os.path.join(ROOT, "etc", "shardpipe.json")) as f:
            self.assertIn('"checkpoint_file": "/var/lib/shardpipe/checkpoints"', f.read())

    def test_systemd_analyze_verify(self):
        tool = shutil.which("systemd-analyze")
        if tool is None:
            self.skipTest("systemd-analyze is not installed (Debian package systemd): the unit is not verified")
        dest = tempfile.mkdtemp(prefix="shardpipe-unit-")
        self.addCleanup(shutil.rmtree, dest, True)
        bindir = os.path.join(dest, "bin")
        os.mkdir(bindir)
        shutil.copy(cli.SHARDPIPE, bindir)
        # verify checks that the commands exist: point them at a copy
        with open(UNIT) as f:
            unit = f.read().replace("/usr/local/bin/", bindir + "/")
        path = os.path.join(dest, "shardpipe.service")
        with open(path, "w") as f:
            f.write(unit)
        p = subprocess.run([tool, "verify", "--man=no", path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, cwd=dest)
        # a bad setting is only a message ("ignoring"), not a status
        self.assertEqual((p.returncode, p.stdout), (0, ""))
        with open(path, "w") as f:
            f.write(unit.replace("ProtectHome=read-only", "ProtectHome=maybe"))
        p = subprocess.run([tool, "verify", "--man=no", path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, cwd=dest)
        self.assertRegex(p.stdout, r"(?i)protect ?home", "verify let a bad value through")


if __name__ == "__main__":
    unittest.main()
