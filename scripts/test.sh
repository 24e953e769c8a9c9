#!/usr/bin/env bash
# Everything `make test` checks, in the order that wastes the least time on a fresh machine:
#   the Python tools install into .venv in the background while Rust compiles; the workspace is compiled once,
#   through clippy-driver (lint and build in one pass, so the AWS SDK crates compile once, not once more for
#   clippy's check mode); then the unit and integration tests (moto + the fake Kubernetes API); then the
#   template linters. Each step prints what it does, roughly how long it takes on 2 cores, and how long it took.
# Run through `make test`, which exports RUSTC_WORKSPACE_WRAPPER/CLIPPY_ARGS so `make demo` reuses this build.
set -euo pipefail
cd "$(dirname "$0")/.."

step_start=0
step() {
  step_start=$(date +%s)
  printf '\n== %s\n' "$*"
}
took() { printf '   (took %d s)\n' $(( $(date +%s) - step_start )); }

start=$(date +%s)
venv_log=.venv-install.log
venv_pid=""
if [ ! -f .venv/.installed ] || [ requirements-dev.txt -nt .venv/.installed ]; then
  echo "== Installing the Python tools (moto, cfn-lint, SAM CLI, cargo-lambda) into .venv in the background (log: $venv_log)"
  make --no-print-directory venv >"$venv_log" 2>&1 &
  venv_pid=$!
fi

step "rustfmt: formatting check (seconds)"
cargo fmt --all -- --check
took

step "Compiling and linting the workspace (first run on a fresh machine: 5 to 10 min on 2 cores, most of it aws-sdk-ec2; then seconds)"
# Progress without the noise: of ~400 crates, only the slow AWS SDK ones and the workspace's are named.
set +e
cargo test --workspace --locked --no-run 2>&1 |
  awk '!/^ +(Compiling|Downloaded|Downloading|Locking|Adding) / || /Compiling (aws-sdk-|eks-node-join|sandbox)/ { print; fflush() }'
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
  echo "compiling or linting failed (above)" >&2
  exit 1
fi
took

if [ -n "$venv_pid" ]; then
  step "Waiting for the Python tools"
  if ! wait "$venv_pid"; then
    cat "$venv_log" >&2
    echo "installing the Python tools failed (log above)" >&2
    exit 1
  fi
  took
fi

step "Unit and integration tests: the real handler against moto and the fake Kubernetes API (1 to 2 min)"
# The tests two jobs at a time (a job per integration-test module or unit-test binary), each slot with one
# moto server that its jobs share in turn, each job with its own fake Kubernetes API: most of their time is
# moto's (one Python process per slot), so two keep both cores busy. More at once made a lease-timing test
# fail on 2 cores (4 at a time, once).
python3 scripts/run_tests.py --jobs "${TEST_JOBS:-2}"
took

step "Template linters: cfn-lint and sam validate --lint (~30 s)"
make --no-print-directory lint-template
took

echo
echo "make test: all checks passed in $(( $(date +%s) - start )) s"
