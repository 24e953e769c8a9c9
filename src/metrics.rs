//! CloudWatch metrics as Embedded Metric Format log lines: no API call, CloudWatch Logs extracts them.

use serde_json::{json, Map, Value};

use crate::action::ActionStatus;
use crate::names::public_names;
use crate::outcome::{EventReport, Outcome};
use crate::registration::Registration;

pub const NAMESPACE: &str = "EksNodeJoinRemediator";

public_names! {
    /// Every metric this function emits (the README documents each).
    pub enum Metric {
        LaunchesChecked => "LaunchesChecked",
        NodesNotJoined => "NodesNotJoined",
        RegistrationUnknown => "RegistrationUnknown",
        RemediationsApplied => "RemediationsApplied",
        RemediationsBlocked => "RemediationsBlocked",
        RemediationsFailed => "RemediationsFailed",
        SecondsToRegister => "SecondsToRegister",
        SkippedNotEks => "SkippedNotEks",
    }
}

/// The metric values one event contributes (zero values are left out).
pub fn values(report: &EventReport) -> Vec<(&'static str, f64, &'static str)> {
    let mut m = Vec::new();
    if let Outcome::Skipped {
        reason: crate::skip::SkipReason::NotEks,
        ..
    } = report.outcome
    {
        // Quietly: no report, only this count (kops and Cluster API groups carry EKS-like tags).
        m.push((Metric::SkippedNotEks.as_str(), 1.0, "Count"));
        return m;
    }
    if report.deferred {
        // The delayed check will decide (and count) this launch.
        return m;
    }
    if report.subject.cluster.is_some() && !matches!(report.outcome, Outcome::Skipped { .. }) {
        m.push((Metric::LaunchesChecked.as_str(), 1.0, "Count"));
    }
    let concluded = matches!(
        report.outcome,
        Outcome::Diagnosed { .. } | Outcome::Remediated { .. } | Outcome::RemediationBlocked { .. }
    );
    // An incident is counted once: by the invocation that reported it.
    if concluded && !report.already_reported {
        match report.registration {
            Some(Registration::Missing { .. }) => {
                m.push((Metric::NodesNotJoined.as_str(), 1.0, "Count"))
            }
            // The function could not see: that is an access problem, not a node that did not join.
            Some(Registration::Unknown { .. }) => {
                m.push((Metric::RegistrationUnknown.as_str(), 1.0, "Count"))
            }
            _ => {}
        }
    }
    match &report.outcome {
        Outcome::Remediated { actions } => {
            if actions.iter().any(|a| a.status == ActionStatus::Failed) {
                m.push((Metric::RemediationsFailed.as_str(), 1.0, "Count"));
            } else {
                m.push((Metric::RemediationsApplied.as_str(), 1.0, "Count"));
            }
        }
        Outcome::RemediationBlocked { .. } => {
            m.push((Metric::RemediationsBlocked.as_str(), 1.0, "Count"))
        }
        Outcome::Registered {
            seconds_to_register: Some(s),
            ..
        } => m.push((Metric::SecondsToRegister.as_str(), *s as f64, "Seconds")),
        _ => {}
    }
    m
}

/// One EMF document, or `None` when the event contributes no metric.
pub fn emf(report: &EventReport, timestamp_ms: i64) -> Option<Value> {
    let values = values(report);
    if values.is_empty() {
        return None;
    }
    let mut doc = Map::new();
    doc.insert(
        "_aws".to_string(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[]],
                "Metrics": values.iter().map(|(name, _, unit)| json!({"Name": name, "Unit": unit})).collect::<Vec<_>>(),
            }]
        }),
    );
    for (name, value, _) in values {
        doc.insert(name.to_string(), json!(value));
    }
    // Searchable properties, not dimensions (no extra metric cost).
    doc.insert("cluster".to_string(), json!(report.subject.cluster));
    doc.insert("nodegroup".to_string(), json!(report.subject.nodegroup));
    doc.insert("outcome".to_string(), json!(report.outcome.name()));
    Some(Value::Object(doc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Subject;

    fn subject() -> Subject {
        Subject {
            cluster: Some("eks-workshop".into()),
            ..Subject::default()
        }
    }

    fn diagnosed() -> Outcome {
        Outcome::Diagnosed {
            why_no_change: String::new(),
            would_apply: vec![],
        }
    }

    #[test]
    fn not_joined_node_counts_and_registration_time_is_measured() {
        let mut r = EventReport::new(diagnosed(), subject());
        r.registration = Some(Registration::Missing { nodegroup_nodes: 0 });
        let doc = emf(&r, 1).expect("metrics");
        assert_eq!(doc["NodesNotJoined"], 1.0);
        assert_eq!(doc["LaunchesChecked"], 1.0);
        assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);

        let ok = EventReport::new(
            Outcome::Registered {
                node_name: "n".into(),
                ready: true,
                seconds_to_register: Some(42),
                resolves_remediation: false,
            },
            subject(),
        );
        let doc = emf(&ok, 1).expect("metrics");
        assert_eq!(doc["SecondsToRegister"], 42.0);
        assert!(doc.get("NodesNotJoined").is_none());
    }

    #[test]
    fn an_instance_reported_with_its_incident_still_counts_as_a_node_that_did_not_join() {
        let mut r = EventReport::new(diagnosed(), subject());
        r.registration = Some(Registration::Missing { nodegroup_nodes: 0 });
        r.reported_with = Some("incident#c#subnet-1#diagnosed#no-default-route".into());
        let doc = emf(&r, 1).expect("metrics");
        assert_eq!(doc["NodesNotJoined"], 1.0);
    }

    #[test]
    fn triage_deferred_to_the_delayed_check_counts_nothing() {
        let mut r = EventReport::new(diagnosed(), subject());
        r.registration = Some(Registration::Missing { nodegroup_nodes: 0 });
        r.deferred = true;
        assert!(
            emf(&r, 1).is_none(),
            "a node seconds after launch has not failed to join yet"
        );
    }

    #[test]
    fn unknown_registration_and_repeated_reports_are_not_counted_as_nodes_not_joined() {
        let mut r = EventReport::new(diagnosed(), subject());
        r.registration = Some(Registration::Unknown {
            reason: "403".into(),
        });
        let doc = emf(&r, 1).expect("metrics");
        assert_eq!(doc["RegistrationUnknown"], 1.0);
        assert!(doc.get("NodesNotJoined").is_none());
        r.registration = Some(Registration::Missing { nodegroup_nodes: 0 });
        r.already_reported = true;
        let doc = emf(&r, 1).expect("metrics");
        assert!(
            doc.get("NodesNotJoined").is_none(),
            "counted by whoever reported it"
        );
    }

    #[test]
    fn skipped_events_emit_nothing_but_a_not_eks_count() {
        let skip = crate::skip::Skip::new(crate::skip::SkipReason::OptedOut, "x");
        let r = EventReport::new(Outcome::skipped(skip), subject());
        assert!(emf(&r, 1).is_none());
        let skip = crate::skip::Skip::new(crate::skip::SkipReason::NotEks, "x");
        let r = EventReport::new(Outcome::skipped(skip), subject());
        let doc = emf(&r, 1).expect("metrics");
        assert_eq!(doc["SkippedNotEks"], 1.0);
        assert!(doc.get("LaunchesChecked").is_none());
    }
}
