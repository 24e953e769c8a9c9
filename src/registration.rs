//! Registration of a node as the Kubernetes API shows it.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Registration {
    Registered {
        node_name: String,
        ready: bool,
        /// `metadata.creationTimestamp` as Unix seconds.
        #[serde(skip_serializing_if = "Option::is_none")]
        created_at: Option<i64>,
    },
    Missing {
        /// Nodes of the same nodegroup that are registered (used by the nodegroup-recycle guard).
        nodegroup_nodes: usize,
    },
    /// The API could not be reached or refused us: diagnose, but never remediate on this alone.
    Unknown { reason: String },
}

impl Registration {
    pub fn is_registered(&self) -> bool {
        matches!(self, Registration::Registered { .. })
    }
}
