//! Local sandbox for `eks-node-join-remediator`: the seed's world in moto, a fake Kubernetes API with a
//! kubelet simulator, a fault server for SDK error paths, and the `sandbox` demo driver.
//!
//! Dev-only: never linked into the Lambda binary.

pub mod access;
pub mod bench;
pub mod calls;
pub mod fault;
pub mod kube;
pub mod moto;
pub mod overlay;
pub mod world;

mod util;

pub use util::Context;

/// Error type of every fallible sandbox function.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
