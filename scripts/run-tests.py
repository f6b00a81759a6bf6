#!/usr/bin/env python3
"""Runs every test binary of the workspace, several binaries at once.

`cargo test` runs its test binaries one after the other; most of our end-to-end binaries spend
their time waiting on real processes (collectors, agents, Wine, Chromium), so two of them side by
side finish in little more than the longer one. Each binary still runs its own tests with
`--test-threads`, in its package directory, as `cargo test` would run it. Doc tests run after.

Usage: scripts/run-tests.py [--jobs N] [--test-threads N] [--timeout SECONDS] [-- CARGO_ARGS...]
Env:   VIGIL_TEST_JOBS (default 2), VIGIL_TEST_THREADS (default 2 per binary)

Prints one line per binary as it finishes (time, tests passed, result) and, for a binary that
failed or ran over its time, its whole output. Exit code 1 when any binary failed.
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

# Binaries known to take longest go first, so the slowest does not start last. Names are the
# test target names; a name no longer present is ignored.
SLOW_FIRST = [
    "delivery", "demo", "vigil_collector", "vigil_agent", "rhel_baseline", "export", "federation",
    "baseline", "windows_service", "windows", "windows_live", "notify", "version_oracle",
    "security", "sca", "brain", "policy",
]


def build(cargo_args):
    """Builds every test binary; returns [(name, kind, package_dir, executable)]."""
    cmd = ["cargo", "test", "--workspace", "--locked", "--no-run",
           "--message-format=json-render-diagnostics", *cargo_args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    found = []
    for line in proc.stdout:
        try:
            msg = json.loads(line)
        except json.JSONDecodeError:
            continue
        if msg.get("reason") != "compiler-artifact" or not msg.get("executable"):
            continue
        if not msg.get("profile", {}).get("test"):
            continue
        target = msg["target"]
        pkg_dir = os.path.dirname(msg["manifest_path"])
        found.append((target["name"], target["kind"][0], pkg_dir, msg["executable"]))
    if proc.wait() != 0:
        sys.exit("run-tests: building the tests failed")
    return found


def order(binaries):
    rank = {n: i for i, n in enumerate(SLOW_FIRST)}
    return sorted(binaries, key=lambda b: (rank.get(b[0], len(rank)), b[0]))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--jobs", type=int, default=int(os.environ.get("VIGIL_TEST_JOBS", "2")))
    p.add_argument("--test-threads", type=int,
                   default=int(os.environ.get("VIGIL_TEST_THREADS", "2")))
    p.add_argument("--timeout", type=int, default=1800,
                   help="seconds one binary may run before it is killed and counted failed")
    p.add_argument("cargo_args", nargs="*")
    args = p.parse_args()
    if args.jobs < 1 or args.test_threads < 1:
        p.error("--jobs and --test-threads must be at least 1")

    binaries = order(build(args.cargo_args))
    print(f"run-tests: {len(binaries)} test binaries, {args.jobs} at a time, "
          f"{args.test_threads} test threads each", flush=True)
    lock = threading.Lock()
    failures = []
    t0 = time.monotonic()

    def run(b):
        name, kind, pkg_dir, exe = b
        label = f"{os.path.basename(pkg_dir)}/{name} ({kind})"
        start = time.monotonic()
        try:
            out = subprocess.run([exe, f"--test-threads={args.test_threads}"], cwd=pkg_dir,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 timeout=args.timeout)
            code, text = out.returncode, out.stdout.decode("utf-8", "replace")
        except subprocess.TimeoutExpired as e:
            code = "timeout"
            text = (e.stdout or b"").decode("utf-8", "replace")
        took = time.monotonic() - start
        summary = [l for l in text.splitlines() if l.startswith("test result:")]
        result = "ok" if code == 0 else f"FAILED ({code})"
        with lock:
            print(f"run-tests: {took:6.1f} s  {label}: {result}  "
                  f"{summary[-1][len('test result: '):] if summary else ''}", flush=True)
            if code != 0:
                failures.append((label, text))

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        list(pool.map(run, binaries))

    doc = subprocess.run(["cargo", "test", "--workspace", "--locked", "--doc", *args.cargo_args])
    if doc.returncode != 0:
        failures.append(("doc tests", "(output above)"))

    for label, text in failures:
        print(f"\n===== output of {label} =====\n{text}", flush=True)
    print(f"run-tests: {len(binaries)} binaries in {time.monotonic() - t0:.0f} s, "
          f"{len(failures)} failed" + (": " + ", ".join(l for l, _ in failures) if failures else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
