//! The one outcome every event ends in (DESIGN.md section 2), returned as JSON and logged.

use serde::Serialize;

use crate::finding::Finding;
use crate::plan::{Guard, PlannedAction};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SkipReason {
    NotEks,
    NotAllowlisted,
    OptedOut,
    InstanceGone,
    TestNotification,
    UnsupportedEvent,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::NotEks => "not-eks",
            SkipReason::NotAllowlisted => "not-allowlisted",
            SkipReason::OptedOut => "opted-out",
            SkipReason::InstanceGone => "instance-gone",
            SkipReason::TestNotification => "test-notification",
            SkipReason::UnsupportedEvent => "unsupported-event",
        }
    }
}

/// What happened to one action of a remediation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionStatus {
    Applied,
    /// Someone (another invocation, a human) already made exactly this change.
    AlreadyPresent,
    /// Not attempted; `detail` says which guard or earlier failure stopped it.
    Skipped,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionResult {
    pub action: PlannedAction,
    pub status: ActionStatus,
    pub detail: String,
    /// For a failed step: whether trying again can help.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub retryable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    Skipped {
        reason: SkipReason,
        detail: String,
    },
    Registered {
        node_name: String,
        ready: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        seconds_to_register: Option<i64>,
        /// This nodegroup had been remediated and this node proves the fix.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        resolves_remediation: bool,
    },
    Diagnosed {
        /// Why nothing was changed.
        why_no_change: String,
        /// What `MODE=remediate` would apply (alert mode), in order.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        would_apply: Vec<PlannedAction>,
    },
    Remediated {
        actions: Vec<ActionResult>,
    },
    RemediationBlocked {
        guard: Guard,
        detail: String,
        /// The fix that was stopped, for a human to run once the guard's concern is settled.
        would_apply: Vec<PlannedAction>,
        /// Steps attempted before the guard stopped the rest (empty when stopped before any write).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        actions: Vec<ActionResult>,
    },
    Failed {
        error: String,
        error_kind: String,
        retryable: bool,
    },
}

impl Outcome {
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Skipped { .. } => "skipped",
            Outcome::Registered { .. } => "registered",
            Outcome::Diagnosed { .. } => "diagnosed",
            Outcome::Remediated { .. } => "remediated",
            Outcome::RemediationBlocked { .. } => "remediation-blocked",
            Outcome::Failed { .. } => "failed",
        }
    }
}

/// Registration as seen through the Kubernetes API.
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

/// The full result of one event: the outcome plus everything a reader needs to understand it.
#[derive(Debug, Clone, Serialize)]
pub struct EventReport {
    #[serde(flatten)]
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asg_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodegroup: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration: Option<Registration>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    /// Direct triage found nothing definitive and left the verdict to the delayed check
    /// (`REGISTRATION_CHECK=delayed-queue`): not reported, not counted as a node that did not join.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deferred: bool,
    /// Whether the SNS report was published (false when no topic is configured or nothing needed telling).
    pub notified: bool,
    /// Why publishing the SNS report failed, if it did (the report is still in the log).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify_error: Option<String>,
}

impl EventReport {
    pub fn new(outcome: Outcome) -> EventReport {
        EventReport {
            outcome,
            instance_id: None,
            asg_name: None,
            cluster: None,
            nodegroup: None,
            registration: None,
            findings: Vec::new(),
            deferred: false,
            notified: false,
            notify_error: None,
        }
    }

    pub fn skipped(reason: SkipReason, detail: impl Into<String>) -> EventReport {
        EventReport::new(Outcome::Skipped {
            reason,
            detail: detail.into(),
        })
    }

    pub fn failed(err: &crate::error::Error) -> EventReport {
        EventReport::new(Outcome::Failed {
            error: err.to_string(),
            error_kind: err.kind().to_string(),
            retryable: err.is_retryable(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_names_match_the_serialized_tag() {
        let outcomes = [
            Outcome::Skipped {
                reason: SkipReason::NotEks,
                detail: String::new(),
            },
            Outcome::Registered {
                node_name: "n".into(),
                ready: true,
                seconds_to_register: Some(3),
                resolves_remediation: false,
            },
            Outcome::Diagnosed {
                why_no_change: String::new(),
                would_apply: vec![],
            },
            Outcome::Remediated { actions: vec![] },
            Outcome::RemediationBlocked {
                guard: Guard::SharedRouteTable,
                detail: String::new(),
                would_apply: vec![],
                actions: vec![],
            },
            Outcome::Failed {
                error: String::new(),
                error_kind: String::new(),
                retryable: true,
            },
        ];
        for outcome in outcomes {
            let json = serde_json::to_value(&outcome).expect("serializes");
            assert_eq!(json["outcome"], outcome.name());
        }
    }

    #[test]
    fn skip_reasons_serialize_to_their_documented_names() {
        for reason in [
            SkipReason::NotEks,
            SkipReason::NotAllowlisted,
            SkipReason::OptedOut,
            SkipReason::InstanceGone,
            SkipReason::TestNotification,
            SkipReason::UnsupportedEvent,
        ] {
            assert_eq!(
                serde_json::to_value(reason).expect("serializes"),
                reason.as_str()
            );
        }
    }
}
