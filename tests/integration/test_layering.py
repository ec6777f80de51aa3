"""make layering (tests/layering.py): the real tree passes, and each rule
fails on a small tree that breaks it."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
CHECKER = os.path.join(ROOT, "tests", "layering.py")


def check(root):
    p = subprocess.run([sys.executable, CHECKER, root], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=60)
    return p.returncode, p.stdout.decode()


class Tree:
    """A throw-away tree: src/LAYER/NAME.c and include/shardpipe/NAME.h."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="sp-layering-")
        os.makedirs(os.path.join(self.root, "include", "shardpipe"))
        os.makedirs(os.path.join(self.root, "src"))

    def module(self, layer, name, c_includes=(), h_includes=(), c_lines=1):
        d = os.path.join(self.root, "src", layer)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, name + ".c"), "w") as f:
            f.write("".join('#include "shardpipe/%s.h"\n' % i for i in (name,) + tuple(c_includes)))
            f.write("int x;\n" * c_lines)
        self.header(name, h_includes)

    def header(self, name, includes=(), note=""):
        with open(os.path.join(self.root, "include", "shardpipe", name + ".h"), "w") as f:
            f.write("/* %s %s */\n" % (name, note))
            f.write("".join('#include "shardpipe/%s.h"\n' % i for i in includes))

    def close(self):
        shutil.rmtree(self.root, ignore_errors=True)


class Layering(unittest.TestCase):
    def tree(self):
        t = Tree()
        self.addCleanup(t.close)
        t.module("core", "err")
        t.module("aws", "http", c_includes=["err"])
        t.module("pipe", "producer", h_includes=["http"])
        t.module("sources", "framer", c_includes=["err"])
        t.module("app", "main", c_includes=["producer", "framer"])
        return t

    def test_real_tree_passes(self):
        rc, out = check(ROOT)
        self.assertEqual(rc, 0, out)
        self.assertIn("no circles", out)

    def test_clean_small_tree_passes(self):
        rc, out = check(self.tree().root)
        self.assertEqual(rc, 0, out)

    def test_upward_include_fails(self):
        t = self.tree()
        t.module("core", "buf", c_includes=["http"])
        rc, out = check(t.root)
        self.assertEqual(rc, 1, out)
        self.assertIn("buf (core) includes http.h of aws", out)

    def test_sideways_include_between_pipe_and_sources_fails(self):
        t = self.tree()
        t.module("sources", "stdin", h_includes=["producer"])
        rc, out = check(t.root)
        self.assertEqual(rc, 1, out)
        self.assertIn("stdin (sources) includes producer.h of pipe", out)

    def test_circle_fails_even_within_a_layer(self):
        t = self.tree()
        t.module("aws", "kinesis", h_includes=["sts"])
        t.module("aws", "sts", c_includes=["credentials"])
        t.module("aws", "credentials", h_includes=["kinesis"])
        rc, out = check(t.root)
        self.assertEqual(rc, 1, out)
        self.assertIn("circle: credentials -> kinesis -> sts -> credentials", out)

    def test_long_file_fails(self):
        t = self.tree()
        t.module("app", "config", c_lines=1001)
        rc, out = check(t.root)
        self.assertEqual(rc, 1, out)
        self.assertIn("src/app/config.c: 1002 lines, more than 1000", out)

    def test_file_outside_a_layer_and_header_without_module_fail(self):
        t = self.tree()
        with open(os.path.join(t.root, "src", "stray.c"), "w") as f:
            f.write("int y;\n")
        t.header("orphan")
        t.header("sink", note="layer: core")    # a header-only module names its layer
        rc, out = check(t.root)
        self.assertEqual(rc, 1, out)
        self.assertIn("src/stray.c: not in a layer folder", out)
        self.assertIn("include/shardpipe/orphan.h: no src/LAYER/orphan.c", out)
        self.assertNotIn("sink.h", out)


if __name__ == "__main__":
    unittest.main()
