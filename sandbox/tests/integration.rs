//! The sandbox's integration tests against moto, one module per subject, compiled into one test binary
//! (as the crate's own, `tests/integration.rs`); `make test` runs each module in a process of its own.

mod dual_stack_worlds;
mod sandbox_against_moto;
mod worlds;
