//! eks-node-join-remediator: finds EKS worker nodes that launched but never joined their cluster, says
//! exactly why, and (when allowed) fixes the routing cause.
//!
//! Functional core, imperative shell: `gather` reads AWS into a plain `snapshot::Snapshot`; `rules`,
//! `plan`, `report` and the other pure modules decide; `apply` and `publish` write. ARCHITECTURE.md
//! draws the module graph and states what each layer deliberately does not know.

// Pure core: no AWS SDK, no HTTP client, no async runtime.
mod action;
mod batch;
mod cidr;
mod commands;
mod egress;
mod error;
mod event;
mod finding;
mod ledger;
mod metrics;
mod names;
mod outcome;
mod plan;
mod registration;
mod report;
mod rules;
mod skip;
mod snapshot;
mod target;
mod triage;

// Imperative shell.
mod apply;
mod aws_error;
mod context;
mod eks_token;
mod gather;
mod handler;
mod kube;
mod pipeline;
mod publish;
mod state;

pub mod config;
pub mod logging;

#[cfg(test)]
mod fixture;

pub use config::Config;
pub use context::{App, Clients};
pub use handler::handle;
