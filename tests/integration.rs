//! The crate's integration tests, one module per subject, compiled into one test binary: each file of
//! `tests/` as a binary of its own compiled the shared harness (`common`) again and linked the AWS SDK
//! again, 4 to 7 s of compile each on 2 cores (cargo --timings). `make test` (scripts/run_tests.py)
//! still runs each module in a process of its own, two at a time; `cargo test --test integration` runs
//! them all in one.

mod common;

mod accounts;
mod architecture;
mod burst;
mod error_paths;
mod identity;
mod node_sources;
mod paths;
mod safety;
mod scenarios;
mod template;
