#!/usr/bin/env python3
"""Runs the workspace's compiled test binaries, JOBS at a time (default 2), as `cargo test` would run them
one after another: from their package's directory, with CARGO_MANIFEST_DIR set. Each package has one
integration-test binary (tests/integration.rs, one module per subject, compiled once); it runs here as one
job per module, each in a process of its own with only that module's tests (`--exact`), so the modules run
side by side as separate binaries did. Most of an integration test's time is moto's (one Python process),
so two jobs side by side keep two cores busy.

Each of the JOBS slots has its own moto server (sandbox/moto_server.py, on a free loopback port), which the
jobs run in that slot use one after another through MOTO_ENDPOINT: a new moto spends seconds of its one
core importing itself and loading each service's model before it answers quickly, and every test works in
accounts of its own, so a job finds nothing of the one before it. A slot whose server has died gets a new
one; a server that cannot start leaves its jobs to start their own, as `cargo test` does. With
MOTO_ENDPOINT already set, every job uses that server instead. Each job still starts its own fake
Kubernetes API.

Prints each job's whole output as it finishes, under the `Running` line cargo prints for its binary and
the module's name (one job's output is never interleaved with another's), then runs the doc tests, then
the total of tests passed; exits non-zero if any job or doc test failed, or no binary was found. Compiles nothing
that `cargo test --no-run` has not compiled already.
Arguments after the options go to every test binary (e.g. a name filter); with them, a binary runs
whole, as one job.

Usage: scripts/run_tests.py [--jobs N] [-- test-binary arguments]
"""

import argparse
import json
import os
import queue
import socket
import subprocess
import sys
import time
import urllib.request
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
        found.append((kind != "test", label, message["executable"], package_dir, running_line(message)))
    return [(label, exe, d, line) for _, label, exe, d, line in sorted(found)]


def running_line(message):
    """The line cargo prints before a test binary's output: `Running tests/x.rs (target/debug/deps/x-…)`."""
    package_dir = Path(message["manifest_path"]).parent
    source = Path(message["target"]["src_path"])
    source = source.relative_to(package_dir) if source.is_relative_to(package_dir) else source
    exe = Path(message["executable"])
    exe = exe.relative_to(Path.cwd()) if exe.is_relative_to(Path.cwd()) else exe
    unittests = "unittests " if message["target"]["kind"][0] != "test" else ""
    return f"     Running {unittests}{source} ({exe})"


def package_name(package_id):
    """`path+file:///w/x#name@0.1.0` -> name; `path+file:///w/sandbox#0.1.0` (name = directory) -> sandbox."""
    source, _, fragment = package_id.partition("#")
    if "@" in fragment:
        return fragment.split("@", 1)[0]
    return source.rstrip("/").rsplit("/", 1)[-1]


def jobs_of(binary, args):
    """(label, executable, package directory, running line, arguments): an integration-test binary as one
    job per module (its tests' names before the first `::`), any other binary, or any binary given
    arguments, as one job."""
    label, exe, package_dir, line = binary
    if args or not label.split(": ", 1)[1].startswith("test "):
        return [(label, exe, package_dir, line, args)]
    listed = subprocess.run(
        [exe, "--list", "--format", "terse"],
        cwd=package_dir,
        env=dict(os.environ, CARGO_MANIFEST_DIR=str(package_dir)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if listed.returncode != 0:
        # Run whole: its failure is then reported as any failing binary's is.
        return [(label, exe, package_dir, line, args)]
    modules = {}
    for entry in listed.stdout.splitlines():
        name, _, kind = entry.rpartition(": ")
        if kind == "test":
            modules.setdefault(name.split("::", 1)[0], []).append(name)
    if not modules:
        return [(label, exe, package_dir, line, args)]
    return [
        (f"{label} ({module})", exe, package_dir, f"{line} [{module}]", ["--exact", *names])
        for module, names in sorted(modules.items())
    ]


def run(job, servers):
    """Runs one job with a moto server of its own for as long as it runs."""
    label, exe, package_dir, _, args = job
    server = servers.get()
    try:
        env = dict(os.environ, CARGO_MANIFEST_DIR=str(package_dir))
        try:
            env["MOTO_ENDPOINT"] = server.endpoint()
        except (OSError, RuntimeError) as e:
            # The job runs without one: a unit-test binary needs none, and an integration test then
            # starts its own, or says why it cannot.
            print(f"(no shared moto server for {label}: {e})", flush=True)
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
    finally:
        servers.put(server)


class MotoServer:
    """One moto server on a free loopback port, started on first use and again if it has died."""

    def __init__(self, given=None):
        self.given = given
        self.process = None
        self.url = given

    def endpoint(self):
        if self.given:
            return self.given
        if self.process is None or self.process.poll() is not None:
            if self.process is not None:
                print(f"(the moto server at {self.url} exited with {self.process.returncode}: starting another)", flush=True)
            self.start()
        return self.url

    def start(self):
        root = Path(__file__).resolve().parent.parent
        python = root / ".venv" / "bin" / "python3"
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [str(python), str(root / "sandbox" / "moto_server.py"), "-H", "127.0.0.1", "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until_answers(self.url, self.process, within=60)

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_answers(url, process, within):
    deadline = time.monotonic() + within
    last = "no attempt"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server.py exited with {process.returncode} before answering")
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=5) as answer:
                if answer.status == 200:
                    return
                last = f"HTTP {answer.status}"
        except OSError as e:
            last = str(e)
        time.sleep(0.2)
    raise RuntimeError(f"moto at {url} did not answer within {within} s (last: {last})")


def passed_count(output):
    """The `N passed` of a binary's `test result:` line (0 when it printed none)."""
    words = summary(output).replace(";", "").split()
    return int(words[words.index("passed") - 1]) if "passed" in words else 0


def summary(output):
    lines = [l for l in output.splitlines() if l.startswith("test result:")]
    return lines[-1] if lines else "(no test result line)"


def main(argv):
    parser = argparse.ArgumentParser(description="Runs the workspace's test binaries side by side.")
    parser.add_argument("--jobs", type=int, default=2, help="jobs at a time (default 2)")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="after --: arguments for every binary")
    options = parser.parse_args(argv)
    jobs = max(1, options.jobs)
    argv = options.args[1:] if options.args[:1] == ["--"] else options.args
    binaries = test_binaries()
    if not binaries:
        print("no test binaries found", file=sys.stderr)
        return 1
    jobs_to_run = [job for binary in binaries for job in jobs_of(binary, argv)]
    started = time.monotonic()
    failed, passed = [], 0
    given = os.environ.get("MOTO_ENDPOINT")
    servers = queue.Queue()
    for _ in range(jobs):
        servers.put(MotoServer(given))
    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(run, job, servers): job[3] for job in jobs_to_run}
            for future in as_completed(futures):
                label, code, output, seconds = future.result()
                print(f"{futures[future]}\n{output.rstrip()}\n", flush=True)
                passed += passed_count(output)
                if code != 0:
                    failed.append(label)
                    print(f"--- {label}: FAILED (exit {code}) after {seconds:.0f} s\n", flush=True)
                else:
                    print(f"    {label}: {summary(output)} ({seconds:.0f} s)\n", flush=True)
    finally:
        while not servers.empty():
            servers.get().stop()
    total = time.monotonic() - started
    if failed:
        print(f"{len(failed)} of {len(jobs_to_run)} test jobs failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    # Doc tests are not binaries of their own: rustdoc runs them (none today; seconds either way).
    print("     Doc-tests (cargo test --doc)", flush=True)
    doc = subprocess.run(["cargo", "test", "--workspace", "--locked", "--doc", "--quiet"]).returncode
    if doc != 0:
        print("the doc tests failed", file=sys.stderr)
        return doc
    print(f"    {passed} tests in {len(binaries)} test binaries ({len(jobs_to_run)} jobs) passed, {jobs} jobs at a time, in {total:.0f} s")
    return 0

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
