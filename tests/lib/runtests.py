"""Runs unittest modules given as file paths and ends with one machine-readable
line, so that tests/run-all.sh can add Python counts to Check's:

    [python] passed=N failed=M skipped=K

Errors and unexpected successes count as failed; skips are never passes.
Usage: /usr/bin/python3 tests/lib/runtests.py tests/integration/test_x.py ..."""
import importlib.util
import os
import sys
import unittest


def load(path):
    path = os.path.abspath(path)
    sys.path.insert(0, os.path.dirname(path))
    name = "sp_" + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return unittest.defaultTestLoader.loadTestsFromModule(mod)


def main(paths):
    suite = unittest.TestSuite()
    broken = 0
    for p in paths:
        try:
            suite.addTests(load(p))
        except Exception as e:  # an import error is a failure, not "no tests"
            print("[python] cannot load %s: %r" % (p, e), file=sys.stderr)
            broken += 1
    r = unittest.TextTestRunner(stream=sys.stdout, verbosity=2).run(suite)
    # A failing setUpModule/setUpClass is reported on a placeholder that
    # testsRun does not count: it is a failure, but not one to subtract.
    def real(items):
        return [t for t, _ in items if not isinstance(t, unittest.suite._ErrorHolder)]
    failed = len(r.failures) + len(r.errors) + len(r.unexpectedSuccesses) + broken
    skipped = len(r.skipped)
    passed = (r.testsRun - len(real(r.failures)) - len(real(r.errors))
              - len(r.unexpectedSuccesses) - len(real(r.skipped)))
    sys.stdout.flush()
    print("[python] passed=%d failed=%d skipped=%d" % (passed, failed, skipped), flush=True)
    return 1 if failed or r.testsRun == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
