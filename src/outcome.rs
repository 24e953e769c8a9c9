//! The one outcome every event ends in, and the report that carries it with everything a reader needs.

use serde::Serialize;

use crate::action::{Action, ActionResult, ActionStatus, Blocked, Guard};
use crate::egress::PathSummary;
use crate::error::{Error, ErrorKind};
use crate::finding::Finding;
use crate::registration::Registration;
use crate::skip::{Skip, SkipReason};
use crate::target::NodeSource;

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
        would_apply: Vec<Action>,
    },
    Remediated {
        actions: Vec<ActionResult>,
    },
    RemediationBlocked {
        guard: Guard,
        detail: String,
        /// The fix that was stopped, for a human to run once the guard's concern is settled.
        would_apply: Vec<Action>,
        /// Steps attempted before the guard stopped the rest (empty when stopped before any write).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        actions: Vec<ActionResult>,
    },
    Failed {
        error: String,
        error_kind: ErrorKind,
        retryable: bool,
    },
}

impl Outcome {
    /// The public name, as serialized in `outcome`.
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

    /// Reports of this outcome are folded into one per incident: the same cause in one subnet gives the
    /// same report for every instance. A remediation is reported on its own (the loop breaker bounds
    /// how many there are), and so is a failure.
    pub fn folds(&self) -> bool {
        matches!(
            self,
            Outcome::Diagnosed { .. } | Outcome::RemediationBlocked { .. }
        )
    }

    pub fn skipped(skip: Skip) -> Outcome {
        Outcome::Skipped {
            reason: skip.reason,
            detail: skip.detail,
        }
    }

    pub fn failed(err: &Error) -> Outcome {
        Outcome::Failed {
            error: err.to_string(),
            error_kind: err.kind(),
            retryable: err.is_retryable(),
        }
    }

    pub fn blocked(
        blocked: Blocked,
        would_apply: Vec<Action>,
        actions: Vec<ActionResult>,
    ) -> Outcome {
        Outcome::RemediationBlocked {
            guard: blocked.guard,
            detail: blocked.detail,
            would_apply,
            actions,
        }
    }

    /// A failure that will come back by itself (and is reported once it settles).
    pub fn is_retryable_failure(&self) -> bool {
        matches!(
            self,
            Outcome::Failed {
                retryable: true,
                ..
            }
        )
    }
}

/// What applying a plan did: each step's result, and the guard that stopped the route write, if one did.
#[derive(Debug, Default)]
pub struct Execution {
    pub results: Vec<ActionResult>,
    pub blocked: Option<Blocked>,
}

/// The event's outcome after applying. A route change that failed means nothing was fixed: the event
/// fails, and is retried where that can help. A guard that stopped the write is named.
pub fn settle(planned: Vec<Action>, execution: Execution) -> Outcome {
    let failed_route = execution
        .results
        .iter()
        .find(|r| r.action.is_route_change() && r.status == ActionStatus::Failed);
    if let Some(failed) = failed_route {
        return Outcome::Failed {
            error: format!("{}: {}", failed.action.describe(), failed.detail),
            error_kind: ErrorKind::Remediation,
            retryable: failed.retryable,
        };
    }
    match execution.blocked {
        Some(blocked) => Outcome::blocked(blocked, planned, execution.results),
        None => Outcome::Remediated {
            actions: execution.results,
        },
    }
}

/// Which cluster, nodegroup and instance an event is about (as far as it got).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Subject {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asg_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodegroup: Option<String>,
    /// What launched the instance (an Auto Scaling group, Karpenter, EKS Auto Mode, nothing known).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_source: Option<NodeSource>,
    /// The account and Region the instance is in (the event's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// The full result of one event: the outcome plus everything a reader needs to understand it.
#[derive(Debug, Clone, Serialize)]
pub struct EventReport {
    #[serde(flatten)]
    pub outcome: Outcome,
    #[serde(flatten)]
    pub subject: Subject,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration: Option<Registration>,
    /// The path table: per destination the node needs, how it is reached and what stops it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<PathSummary>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    /// Direct triage found nothing definitive and left the verdict to the delayed check
    /// (`REGISTRATION_CHECK=delayed-queue`): not reported, not counted as a node that did not join.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deferred: bool,
    /// Whether the SNS report was published (false when no topic is configured or nothing needed telling).
    pub notified: bool,
    /// The report was not published again: an earlier invocation already reported this instance.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub already_reported: bool,
    /// Not published on its own: a report of the same incident (same cluster, subnet, outcome and
    /// causes) went out within the last hour. The incident's key (`ledger::incident_key`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reported_with: Option<String>,
    /// Why publishing the SNS report failed, if it did (the report is still in the log).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify_error: Option<String>,
}

impl EventReport {
    pub fn new(outcome: Outcome, subject: Subject) -> EventReport {
        EventReport {
            outcome,
            subject,
            registration: None,
            paths: Vec::new(),
            findings: Vec::new(),
            deferred: false,
            notified: false,
            already_reported: false,
            reported_with: None,
            notify_error: None,
        }
    }

    pub fn failed(err: &Error) -> EventReport {
        EventReport::new(Outcome::failed(err), Subject::default())
    }

    pub fn is_failed(&self) -> bool {
        matches!(self.outcome, Outcome::Failed { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names of every outcome, for documentation checks.
    pub(crate) const OUTCOME_NAMES: &[&str] = &[
        "skipped",
        "registered",
        "diagnosed",
        "remediated",
        "remediation-blocked",
        "failed",
    ];

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
                error_kind: ErrorKind::AwsApi,
                retryable: true,
            },
        ];
        let names: Vec<&str> = outcomes.iter().map(Outcome::name).collect();
        assert_eq!(names, OUTCOME_NAMES);
        for outcome in outcomes {
            let json = serde_json::to_value(&outcome).expect("serializes");
            assert_eq!(json["outcome"], outcome.name());
        }
    }

    fn route() -> Action {
        Action::Route(crate::action::RouteFix::CreateDefaultRoute {
            route_table_id: "rtb-1".into(),
            nat_gateway_id: "nat-1".into(),
        })
    }

    fn recycle() -> Action {
        Action::Recycle(crate::action::RecycleStep::TerminateInstance {
            instance_id: "i-1".into(),
            asg_name: "g".into(),
        })
    }

    fn result(action: Action, status: ActionStatus, retryable: bool) -> ActionResult {
        ActionResult {
            retryable,
            ..ActionResult::new(action, status, "d")
        }
    }

    #[test]
    fn failed_route_change_fails_the_event_with_its_retryability() {
        let execution = Execution {
            results: vec![
                result(route(), ActionStatus::Failed, true),
                result(recycle(), ActionStatus::Skipped, false),
            ],
            blocked: None,
        };
        let outcome = settle(vec![route(), recycle()], execution);
        assert!(outcome.is_retryable_failure(), "{outcome:?}");
    }

    #[test]
    fn applied_route_with_a_failed_recycle_is_remediated_and_says_so() {
        let execution = Execution {
            results: vec![
                result(route(), ActionStatus::Applied, false),
                result(recycle(), ActionStatus::Failed, true),
            ],
            blocked: None,
        };
        let Outcome::Remediated { actions } = settle(vec![route(), recycle()], execution) else {
            panic!("the route fix landed");
        };
        assert_eq!(actions[1].status, ActionStatus::Failed);
    }

    #[test]
    fn guard_at_write_time_is_named() {
        let execution = Execution {
            results: vec![result(recycle(), ActionStatus::Skipped, false)],
            blocked: Some(Blocked::new(Guard::RouteChangedSinceSnapshot, "changed")),
        };
        let outcome = settle(vec![route(), recycle()], execution);
        assert!(
            matches!(
                outcome,
                Outcome::RemediationBlocked {
                    guard: Guard::RouteChangedSinceSnapshot,
                    ..
                }
            ),
            "{outcome:?}"
        );
    }
}
