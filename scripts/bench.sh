#!/usr/bin/env bash
# Figures for the release binary (run through `make bench`, which builds it first), with its baselines measured
# in the same run: a hello-world lambda_runtime binary built with the same release profile (sandbox/hello, its
# own workspace and target dir) and Python creating the same boto3 clients. Binary and deployment zip sizes,
# init and first event through the Lambda Runtime API, TLS handshakes, warm events, AWS calls per event
# (counted by a TLS proxy in front of moto that also enforces EC2's request buckets), peak memory, and a
# 500-node scale-out in remediate mode. Prints a table of figures and goals and writes target/bench/results.json;
# asserts nothing about time. Extra arguments go to `sandbox bench` (e.g. --scale-out 100 --concurrency 20).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
cargo build --locked --workspace --bins 2>&1 | tail -n 1
CARGO_TARGET_DIR=target/bench-hello cargo build --release --locked --manifest-path sandbox/hello/Cargo.toml 2>&1 | tail -n 1
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -m)"
exec target/debug/sandbox bench --binary target/release/eks-node-join-remediator \
  --hello target/bench-hello/release/bench-hello --python .venv/bin/python3 "$@"
