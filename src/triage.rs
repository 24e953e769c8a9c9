//! Pure decisions about time and sequence: whether to act now, defer or wait for the node; until when to
//! wait; whether a registered node proves an earlier remediation.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::RegistrationCheck;
use crate::finding::{has_blocker, Finding};

/// Tag on the Auto Scaling group: when this function last changed the network for it (Unix seconds).
pub const TAG_REMEDIATED_AT: &str = "eks-node-join-remediator/remediated-at";
/// Tag on the Auto Scaling group: when a node of the group was last seen registered after a remediation.
pub const TAG_RESOLVED_AT: &str = "eks-node-join-remediator/resolved-at";

/// How the function was invoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// EventBridge invoked us right after the launch: immediate triage.
    Direct,
    /// The delay queue delivered the event after the grace period: one check.
    Delayed,
}

/// What to do with a node that is not (known to be) registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Triage {
    /// Plan and act now: the grace period is over, or a definitive blocker was found.
    Act,
    /// Stop here; the delayed copy of the event will look again after the grace period.
    Defer,
    /// Poll registration until the grace period ends, then look again.
    Poll,
}

/// Only a definitive blocker is acted on right after launch; anything less waits for the grace period.
/// Registration `unknown` waits exactly like `missing`.
pub fn triage(trigger: Trigger, findings: &[Finding], check: RegistrationCheck) -> Triage {
    if trigger == Trigger::Delayed || has_blocker(findings) {
        return Triage::Act;
    }
    match check {
        RegistrationCheck::DelayedQueue => Triage::Defer,
        RegistrationCheck::Poll => Triage::Poll,
    }
}

/// How long to keep polling: until the grace period after launch ends, but never past the invocation's
/// deadline less `reserve` (the time kept back to diagnose, act and report).
pub fn poll_window(
    launched_at: i64,
    now_unix: i64,
    grace: Duration,
    remaining: Option<Duration>,
    reserve: Duration,
) -> Duration {
    let launched_at = launched_at.min(now_unix);
    let grace_left = (launched_at + grace.as_secs() as i64 - now_unix).max(0) as u64;
    let grace_left = Duration::from_secs(grace_left);
    match remaining {
        Some(r) => grace_left.min(r.saturating_sub(reserve)),
        None => grace_left,
    }
}

/// A registered node resolves an earlier remediation when the group was remediated after the last
/// recorded resolution.
pub fn resolves_remediation(tags: &BTreeMap<String, String>) -> bool {
    let time = |k: &str| tags.get(k).and_then(|v| v.parse::<i64>().ok());
    match (time(TAG_REMEDIATED_AT), time(TAG_RESOLVED_AT)) {
        (Some(fixed), Some(resolved)) => fixed > resolved,
        (Some(_), None) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;
    use crate::rules::diagnose;

    #[test]
    fn only_a_definitive_blocker_is_acted_on_right_after_launch() {
        let blocker = diagnose(&fixture::seed()).findings;
        let working = diagnose(&fixture::seed().with_new_subnet_default(
            crate::snapshot::RouteTarget::NatGateway(fixture::NAT_A.into()),
        ))
        .findings;
        use RegistrationCheck::*;
        assert_eq!(triage(Trigger::Direct, &blocker, Poll), Triage::Act);
        assert_eq!(triage(Trigger::Direct, &working, Poll), Triage::Poll);
        assert_eq!(
            triage(Trigger::Direct, &working, DelayedQueue),
            Triage::Defer
        );
        assert_eq!(
            triage(Trigger::Delayed, &working, DelayedQueue),
            Triage::Act
        );
    }

    #[test]
    fn polling_ends_with_the_grace_period_or_before_the_deadline() {
        let grace = Duration::from_secs(300);
        let reserve = Duration::from_secs(20);
        let w = |launched, now, remaining: Option<u64>| {
            poll_window(
                launched,
                now,
                grace,
                remaining.map(Duration::from_secs),
                reserve,
            )
            .as_secs()
        };
        assert_eq!(w(1000, 1000, None), 300);
        assert_eq!(w(1000, 1100, None), 200);
        assert_eq!(w(1000, 1400, None), 0, "grace period over");
        assert_eq!(w(1000, 1000, Some(120)), 100, "deadline less the reserve");
        assert_eq!(
            w(1000, 1000, Some(10)),
            0,
            "less time left than the reserve"
        );
        assert_eq!(
            w(5000, 1000, None),
            300,
            "a launch time in the future counts as now"
        );
    }

    #[test]
    fn a_registered_node_resolves_only_a_remediation_newer_than_the_last_resolution() {
        let tags = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        assert!(!resolves_remediation(&tags(&[])));
        assert!(resolves_remediation(&tags(&[(TAG_REMEDIATED_AT, "10")])));
        assert!(resolves_remediation(&tags(&[
            (TAG_REMEDIATED_AT, "10"),
            (TAG_RESOLVED_AT, "5")
        ])));
        assert!(!resolves_remediation(&tags(&[
            (TAG_REMEDIATED_AT, "10"),
            (TAG_RESOLVED_AT, "10")
        ])));
        assert!(!resolves_remediation(&tags(&[(
            TAG_REMEDIATED_AT,
            "garbage"
        )])));
    }
}
