# eks-node-join-remediator — every target installs what it needs (Python tools into .venv; Rust via cargo).
#
#   make demo    the seed's incident in a local sandbox, fixed by the real Lambda binary
#   make test    fmt, clippy, unit + integration tests (moto + fake Kubernetes API), template lint
#   make bench   init vs baselines, TLS, handler time, AWS calls, memory, sizes, a 500-node scale-out
#
# One target/ directory serves test, demo and bench (the dev profile); only `make release`/`make bench`
# build the release profile. Never run two of them at once on a small machine.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV      := .venv
STAMP     := $(VENV)/.installed
PYTHON    ?= python3
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-west-2
export CARGO_TERM_COLOR ?= never
# One compile serves lint and test: the workspace's own crates are compiled through clippy-driver (what
# `cargo clippy` does, but producing real artifacts), so the AWS SDK crates compile once instead of once
# more for clippy's check mode. Every cargo call below (and in scripts/) inherits it, so `make test`, then
# `make demo` or `make bench`, rebuild nothing the other built. Clippy warnings fail the build.
export RUSTC_WORKSPACE_WRAPPER := clippy-driver
export CLIPPY_ARGS := -D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__

.PHONY: help
help:
	@sed -n '2,8p' Makefile | sed 's/^# \{0,1\}//'

# --- tools -------------------------------------------------------------------------------------
# pip installs uv, and uv the tools: pip took about 70 s of CPU for them (on 2 cores, while make test
# compiles), uv about 8 s. uv writes no bytecode; Python compiles each module on its first import.
UV_VERSION := 0.13.9
$(STAMP): requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(VENV)/bin/uv pip install --quiet --python $(VENV)/bin/python3 -r requirements-dev.txt
	touch $@

.PHONY: venv
venv: $(STAMP)

.PHONY: toolchain
toolchain:
	@rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
	@rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt

# --- checks ------------------------------------------------------------------------------------
.PHONY: fmt
fmt: toolchain
	cargo fmt --all -- --check

.PHONY: clippy
clippy: toolchain
	cargo clippy --workspace --all-targets --locked -- -D warnings

.PHONY: unit
unit:
	cargo test --workspace --locked --lib --bins

# `cargo test` starts one moto server per test process (sandbox::moto) unless MOTO_ENDPOINT is set;
# `make test` (scripts/run_tests.py) starts one per job slot and passes it on.
.PHONY: integration
integration: $(STAMP)
	cargo test --workspace --locked --tests

# The central template (SAM) and the member template (plain CloudFormation, for a StackSet).
.PHONY: lint-template
lint-template: $(STAMP)
	cfn-lint template.yaml templates/member.yaml
	sam validate --lint --template template.yaml

# fmt, lint + compile in one pass, tests; the Python tools install and the template linters run meanwhile
# (scripts/test.sh).
.PHONY: test
test: toolchain
	bash scripts/test.sh

# --- the seed's story --------------------------------------------------------------------------
.PHONY: demo
demo: $(STAMP)
	bash scripts/demo.sh

# --- builds ------------------------------------------------------------------------------------
.PHONY: release
release:
	cargo build --release --locked --bin eks-node-join-remediator
	@ls -l target/release/eks-node-join-remediator | awk '{printf "release binary: %.1f MB (%d bytes)\n", $$5/1048576, $$5}'

# Deployable artifact for arm64 Lambda (zig from the cargo-lambda wheel cross-links; a separate build, about
# 15 minutes from scratch on 2 cores). The release profile aborts on panic, so nothing ever unwinds, and the
# build asks for no unwind tables. Only functions that cannot reach the standard library (built to unwind)
# lose theirs, so most remain (.eh_frame is still ~0.8 MB of the arm64 binary). Set here, for this cross
# build only: in .cargo/config.toml it would also reach a test build on an arm64 host, whose harness unwinds.
# A target's rustflags replace cargo-lambda's own (build.rustflags), so its Graviton tuning is repeated here.
.PHONY: sam-build
sam-build: $(STAMP)
	rustup target list --installed | grep -q aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
	@echo "sam build: the arm64 release build takes about 15 minutes on 2 cores from scratch"
	CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-cpu=neoverse-n1 -C force-unwind-tables=no" \
	  SAM_CLI_ENABLE_LANGUAGE_EXTENSIONS=1 sam build --beta-features

# BENCH_ARGS go to `sandbox bench`, e.g. BENCH_ARGS="--scale-out 100 --concurrency 20".
.PHONY: bench
bench: $(STAMP) release
	bash scripts/bench.sh $(BENCH_ARGS)

.PHONY: clean-sandbox
clean-sandbox:
	rm -rf .sandbox
