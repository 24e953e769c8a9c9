#!/usr/bin/env bash
# Figures for the release binary (run through `make bench`, which builds it first): binary size, cold start
# through the Lambda Runtime API, handler time, AWS calls per event (counted by a proxy in front of moto),
# peak memory, and a burst of launch events. Prints figures; asserts nothing about time.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
cargo build --locked --workspace --bins 2>&1 | tail -n 1
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -m)"
exec target/debug/sandbox bench --binary target/release/eks-node-join-remediator "$@"
