//! Why an event is skipped: an explicit, named outcome, never an error.

use crate::names::public_names;

public_names! {
    /// The `reason` of a `skipped` outcome.
    pub enum SkipReason {
        /// The group or instance belongs to no EKS cluster (no EKS tags, or a cluster EKS does not know).
        NotEks => "not-eks",
        /// The cluster is not in `CLUSTER_ALLOWLIST`.
        NotAllowlisted => "not-allowlisted",
        /// The group is tagged `eks-node-join-remediator/ignore=true`.
        OptedOut => "opted-out",
        /// The group or the instance no longer exists, or the instance is stopping.
        InstanceGone => "instance-gone",
        /// An Auto Scaling test notification.
        TestNotification => "test-notification",
        /// An instance seen running that belongs to an Auto Scaling group: the group's launch event is
        /// the one checked.
        InAutoScalingGroup => "in-auto-scaling-group",
        /// Any other event source or detail type.
        UnsupportedEvent => "unsupported-event",
    }
}

/// A skip with the sentence that explains it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    pub reason: SkipReason,
    pub detail: String,
}

impl Skip {
    pub fn new(reason: SkipReason, detail: impl Into<String>) -> Skip {
        Skip {
            reason,
            detail: detail.into(),
        }
    }
}
