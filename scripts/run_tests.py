#!/usr/bin/env python3
"""Runs the workspace's compiled test binaries, JOBS at a time (default 2), as `cargo test` would run them
one after another: from their package's directory, with CARGO_MANIFEST_DIR set. Each integration-test
binary starts its own moto server and fake Kubernetes API on free loopback ports, and spends most of its
time waiting on them, so two side by side take little more than the longer of the two.

Prints each binary's summary as it finishes (all of its output when it fails), then a total, then runs
the doc tests; exits non-zero if any binary or doc test failed, or no binary was found. Compiles nothing
that `cargo test --no-run` has not compiled already.
Arguments after the options go to every test binary (e.g. a name filter).

Usage: scripts/run_tests.py [--jobs N] [-- test-binary arguments]
"""

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path


def test_binaries():
    """(label, executable, package directory) of every test target, integration tests first."""
    out = subprocess.run(
        ["cargo", "test", "--workspace", "--locked", "--no-run", "--message-format=json"],
        check=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ).stdout
    found = []
    for line in out.splitlines():
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        if message.get("reason") != "compiler-artifact" or not message.get("executable"):
            continue
        if not message.get("profile", {}).get("test"):
            continue
        target = message["target"]
        package_dir = Path(message["manifest_path"]).parent
        kind = target["kind"][0]
        label = f"{package_name(message['package_id'])}: {kind} {target['name']}"
        found.append((kind != "test", label, message["executable"], package_dir))
    return [(label, exe, d) for _, label, exe, d in sorted(found)]


def package_name(package_id):
    """`path+file:///w/x#name@0.1.0` -> name; `path+file:///w/sandbox#0.1.0` (name = directory) -> sandbox."""
    source, _, fragment = package_id.partition("#")
    if "@" in fragment:
        return fragment.split("@", 1)[0]
    return source.rstrip("/").rsplit("/", 1)[-1]


def run(binary, args):
    label, exe, package_dir = binary
    env = dict(os.environ, CARGO_MANIFEST_DIR=str(package_dir))
    started = time.monotonic()
    done = subprocess.run(
        [exe, *args],
        cwd=package_dir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return label, done.returncode, done.stdout, time.monotonic() - started


def summary(output):
    lines = [l for l in output.splitlines() if l.startswith("test result:")]
    return lines[-1] if lines else "(no test result line)"


def main(argv):
    parser = argparse.ArgumentParser(description="Runs the workspace's test binaries side by side.")
    parser.add_argument("--jobs", type=int, default=2, help="binaries at a time (default 2)")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="after --: arguments for every binary")
    options = parser.parse_args(argv)
    jobs = max(1, options.jobs)
    argv = options.args[1:] if options.args[:1] == ["--"] else options.args
    binaries = test_binaries()
    if not binaries:
        print("no test binaries found", file=sys.stderr)
        return 1
    started = time.monotonic()
    failed = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(run, b, argv) for b in binaries]
        for future in as_completed(futures):
            label, code, output, seconds = future.result()
            if code != 0:
                failed.append(label)
                print(f"--- {label}: FAILED (exit {code}) after {seconds:.0f} s\n{output}", flush=True)
            else:
                print(f"    {label}: {summary(output)} ({seconds:.0f} s)", flush=True)
    total = time.monotonic() - started
    if failed:
        print(f"{len(failed)} of {len(binaries)} test binaries failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"    {len(binaries)} test binaries passed, {jobs} at a time, in {total:.0f} s")
    # Doc tests are not binaries of their own: rustdoc runs them (none today; seconds either way).
    return subprocess.run(["cargo", "test", "--workspace", "--locked", "--doc", "--quiet"]).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
