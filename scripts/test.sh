#!/usr/bin/env bash
# Everything `make test` checks, in the order that wastes the least time on a fresh machine:
#   while Rust compiles, the Python tools install into .venv and then the template linters run, in the
#   background (niced, so they take only CPU the compile leaves; aws-sdk-ec2 compiles alone for minutes);
#   the workspace is compiled once, through clippy-driver (lint and build in one pass, so
#   the AWS SDK crates compile once, not once more for clippy's check mode); then the unit and integration
#   tests (moto + the fake Kubernetes API). Each step prints what it does, roughly how long it takes on
#   2 cores, and how long it took.
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
lint_log=.template-lint.log
install_venv=no
if [ ! -f .venv/.installed ] || [ requirements-dev.txt -nt .venv/.installed ]; then
  install_venv=yes
  echo "== Installing the Python tools (moto, cfn-lint, SAM CLI, cargo-lambda) into .venv in the background (log: $venv_log)"
fi
echo "== Template linters, cfn-lint and sam validate --lint, in the background once the tools are there (log: $lint_log)"
(
  if [ "$install_venv" = yes ] && ! make --no-print-directory venv >"$venv_log" 2>&1; then
    exit 97  # make itself exits with 2 when a recipe fails
  fi
  nice -n 10 make --no-print-directory lint-template >"$lint_log" 2>&1
) &
tools_pid=$!

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

step "Waiting for the Python tools and the template linters (on a fresh machine they were done during the compile; else ~20 s)"
tools_status=0
wait "$tools_pid" || tools_status=$?
case "$tools_status" in
  0) sed 's/^/   /' "$lint_log" ;;
  97) cat "$venv_log" >&2; echo "installing the Python tools failed (log above)" >&2; exit 1 ;;
  *) cat "$lint_log" >&2; echo "the template linters failed (above)" >&2; exit 1 ;;
esac
took

step "Unit and integration tests: the real handler against moto and the fake Kubernetes API (1 to 2 min)"
# The tests two jobs at a time (a job per integration-test module or unit-test binary), each slot with one
# moto server that its jobs share in turn, each job with its own fake Kubernetes API: most of their time is
# moto's (one Python process per slot), so two keep both cores busy. More at once made a lease-timing test
# fail on 2 cores (4 at a time, once).
python3 scripts/run_tests.py --jobs "${TEST_JOBS:-2}"
took

echo
echo "make test: all checks passed in $(( $(date +%s) - start )) s"
