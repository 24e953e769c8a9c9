//! eks-node-join-remediator: finds EKS worker nodes that launched but never joined their cluster, says
//! exactly why, and (when allowed) fixes the routing cause.
//!
//! Functional core, imperative shell: [`gather`] reads AWS into a plain [`snapshot::Snapshot`], [`rules`]
//! and [`plan`] are pure, [`execute`] and [`report`] do the writing.

pub mod config;
pub mod context;
pub mod eks_token;
pub mod error;
pub mod event;
pub mod execute;
pub mod finding;
pub mod gather;
pub mod handler;
pub mod kube;
pub mod metrics;
pub mod outcome;
pub mod plan;
pub mod report;
pub mod rules;
pub mod snapshot;
pub mod target;
pub mod time;

#[cfg(test)]
mod fixture;
