"""The Kubernetes examples in etc/kubernetes/: each manifest parses as YAML,
the shardpipe container runs `run -c` on the file its ConfigMap provides,
the DaemonSet uses IRSA (an annotated service account) and mounts the
node's /var/log, the sidecar shares a volume with the application, and the
embedded configuration passes `shardpipe check-config` once the paths it
names exist (they are made under a temporary root, in the volumes the
manifest mounts: a path outside every mount is an error)."""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import cli  # noqa: E402
from emulators import ROOT  # noqa: E402

K8S = os.path.join(ROOT, "etc", "kubernetes")
IRSA = "eks.amazonaws.com/role-arn"


def load(name):
    with open(os.path.join(K8S, name)) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def one(docs, kind):
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, (kind, [d["kind"] for d in docs])
    return found[0]


def container(pod, name):
    return next(c for c in pod["containers"] if c["name"] == name)


def under(path, mount):
    return path == mount or path.startswith(mount.rstrip("/") + "/")


class ManifestTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="shardpipe-k8s-")
        self.addCleanup(shutil.rmtree, self.root, True)

    def embedded(self, docs, workload_kind):
        """(config text, the pod spec, the shardpipe container)."""
        w = one(docs, workload_kind)
        pod = w["spec"]["template"]["spec"]
        sp = container(pod, "shardpipe")
        self.assertEqual(sp["args"][:2], ["run", "-c"])
        cfg_path = sp["args"][2]
        mount = next(m for m in sp["volumeMounts"] if under(cfg_path, m["mountPath"]))
        self.assertTrue(mount.get("readOnly"), "the configuration is mounted read-only")
        vol = next(v for v in pod["volumes"] if v["name"] == mount["name"])
        cm = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == vol["configMap"]["name"])
        key = os.path.relpath(cfg_path, mount["mountPath"])
        self.assertIn(key, cm["data"])
        for d in docs:
            if d["kind"] != "Namespace":
                self.assertEqual(d["metadata"].get("namespace"), w["metadata"]["namespace"], d["metadata"]["name"])
        return cm["data"][key], pod, sp

    def check_config(self, text, sp, make_dirs=()):
        """Every absolute path in the configuration is under one of the
        container's mounts; the mounts are made under self.root and the
        paths moved there, then check-config must pass."""
        mounts = [m for m in sp["volumeMounts"]]
        paths = re.findall(r'"(/[^"]*)"', text)
        self.assertTrue(paths)
        for p in paths:
            m = [m for m in mounts if under(p, m["mountPath"])]
            self.assertTrue(m, "%s is in no volume of the shardpipe container" % p)
        ck = re.search(r'"checkpoint_file":\s*"([^"]+)"', text).group(1)
        self.assertFalse(any(m.get("readOnly") for m in mounts if under(ck, m["mountPath"])),
                         "checkpoint_file is on a read-only mount")
        for m in mounts:
            os.makedirs(self.root + m["mountPath"], exist_ok=True)
            text = text.replace('"' + m["mountPath"], '"' + self.root + m["mountPath"])
        for d in make_dirs:          # what the node or the application provides
            os.makedirs(self.root + d, exist_ok=True)
        path = os.path.join(self.root, "shardpipe.json")
        with open(path, "w") as f:
            f.write(text)
        p = subprocess.run([cli.SHARDPIPE, "check-config", path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=cli.clean_env(home=self.root))
        return p, path

    def test_daemonset_irsa(self):
        docs = load("daemonset.yaml")
        text, pod, sp = self.embedded(docs, "DaemonSet")
        sa = one(docs, "ServiceAccount")
        self.assertEqual(pod["serviceAccountName"], sa["metadata"]["name"])
        self.assertRegex(sa["metadata"]["annotations"][IRSA], r"^arn:aws:iam::\d{12}:role/")
        # what EKS injects is not written in the manifest
        self.assertNotIn("env", sp)
        self.assertIn("/var/log/containers/*.log", text)
        varlog = next(v for v in pod["volumes"] if v.get("hostPath", {}).get("path") == "/var/log")
        self.assertTrue(any(m["name"] == varlog["name"] and m["mountPath"] == "/var/log" and m.get("readOnly")
                            for m in sp["volumeMounts"]))
        p, path = self.check_config(text, sp, make_dirs=["/var/log/containers"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, "%s: valid, 1 flow\n" % path)

    def test_sidecar_shared_volume(self):
        docs = load("sidecar.yaml")
        text, pod, sp = self.embedded(docs, "Deployment")
        app = next(c for c in pod["containers"] if c["name"] != "shardpipe")
        shared = [m["name"] for m in app["volumeMounts"]]
        vols = {v["name"]: v for v in pod["volumes"]}
        both = [m for m in sp["volumeMounts"] if m["name"] in shared]
        self.assertTrue(both, "no volume shared with the application")
        self.assertIn("emptyDir", vols[both[0]["name"]])
        self.assertTrue(both[0].get("readOnly"))
        self.assertRegex(one(docs, "ServiceAccount")["metadata"]["annotations"][IRSA], r"^arn:aws:iam::")
        p, path = self.check_config(text, sp)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, "%s: valid, 1 flow\n" % path)

    def test_the_check_can_fail(self):
        """The same run refuses a configuration with a mistake in it."""
        docs = load("sidecar.yaml")
        text, _, sp = self.embedded(docs, "Deployment")
        p, _ = self.check_config(text.replace('"linger_ms"', '"lnger_ms"'), sp)
        self.assertEqual(p.returncode, 1)
        self.assertIn("flows[0].lnger_ms: unknown key", p.stderr)

    def test_every_manifest_is_tested(self):
        self.assertEqual(sorted(os.path.basename(p) for p in glob.glob(os.path.join(K8S, "*.yaml"))),
                         ["daemonset.yaml", "sidecar.yaml"])


if __name__ == "__main__":
    unittest.main()
