//! The report as an Amazon Q Developer in chat applications custom notification (pure): the card a
//! Slack or Microsoft Teams channel shows — a title, the cause in one line, the commands, the verify
//! line. It goes to a topic of its own (`CHAT_TOPIC_ARN`) that the chat channel is subscribed to: the
//! channel renders only messages in this format, and e-mail and machine subscribers keep theirs.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::{attributes, cause, group_label, left_to_run, region, severity, subject, verify_lines};
use crate::action::ActionStatus;
use crate::commands::CommandLine;
use crate::config::Mode;
use crate::outcome::{EventReport, Outcome};
use crate::snapshot::Snapshot;

/// Longest description line (the cause, what was done): a card is read at a glance.
const LINE_CHARS: usize = 600;
/// Most steps on the card; the rest are counted and left to the e-mail and JSON report.
const MAX_STEPS: usize = 8;
/// Longest command shown; a longer one is named, not cut (a cut command is a wrong command).
const STEP_CHARS: usize = 1_000;

/// The chat notification and the message attributes it is published with (the report's own).
#[derive(Debug, Clone, PartialEq)]
pub struct ChatNotice {
    pub message: Value,
    pub attributes: Vec<(&'static str, String)>,
}

#[derive(Debug, Serialize)]
struct Card {
    version: &'static str,
    source: &'static str,
    content: Content,
    metadata: Metadata,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Content {
    text_type: &'static str,
    title: String,
    description: String,
    next_steps: Vec<String>,
    keywords: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Metadata {
    /// One thread per group: the incident and the node that proves the fix land together.
    thread_id: String,
    summary: String,
    event_type: String,
    related_resources: Vec<String>,
    additional_context: BTreeMap<&'static str, String>,
}

/// The card for a report; `snapshot`, when the network was read, gives the Region and the route
/// table for the commands and the verify line.
pub fn card(report: &EventReport, snapshot: Option<&Snapshot>, mode: Mode) -> ChatNotice {
    let title = subject(report);
    let card = Card {
        version: "1.0",
        source: "custom",
        content: Content {
            text_type: "client-markdown",
            description: description(report, mode),
            next_steps: next_steps(report, snapshot),
            keywords: keywords(report),
            title: title.clone(),
        },
        metadata: metadata(report, snapshot, title),
    };
    let message = serde_json::to_value(&card)
        .unwrap_or_else(|e| serde_json::json!({ "render_error": e.to_string() }));
    ChatNotice {
        message,
        attributes: attributes(report),
    }
}

/// The cause in one line, what was done in one line, and where.
fn description(report: &EventReport, mode: Mode) -> String {
    let mut lines = vec![cause_line(report), done_line(report, mode)];
    let s = &report.subject;
    let instance = s.instance_id.as_deref().unwrap_or("unknown instance");
    let mut place = format!("Instance {instance}");
    if let Some(cluster) = &s.cluster {
        place.push_str(&format!(" of {cluster}/{}", group_label(s)));
    }
    if let (Some(account), Some(region)) = (&s.account, &s.region) {
        place.push_str(&format!(", account {account}, {region}"));
    }
    lines.push(place);
    lines
        .into_iter()
        .filter(|l| !l.is_empty())
        .map(|l| clipped(&l, LINE_CHARS))
        .collect::<Vec<_>>()
        .join("\n")
}

fn cause_line(report: &EventReport) -> String {
    match (&report.outcome, cause(report)) {
        (Outcome::Failed { error, .. }, _) => format!("The check failed: {error}"),
        (Outcome::Registered { node_name, .. }, _) => format!("Node {node_name} registered."),
        (Outcome::Skipped { reason, detail }, _) => format!("Skipped ({reason}): {detail}"),
        (_, Some(f)) => format!("Cause `{}`: {}", f.code, f.summary),
        (_, None) => "No cause found yet.".to_string(),
    }
}

fn done_line(report: &EventReport, mode: Mode) -> String {
    match &report.outcome {
        Outcome::Remediated { actions } => {
            let steps: Vec<String> = actions
                .iter()
                .map(|a| {
                    let status = match a.status {
                        ActionStatus::Applied => "done",
                        ActionStatus::AlreadyPresent => "already done",
                        ActionStatus::Skipped => "left to you",
                        ActionStatus::Failed => "FAILED",
                    };
                    format!("{} ({status})", a.action.describe())
                })
                .collect();
            format!("Done: {}.", steps.join("; "))
        }
        Outcome::RemediationBlocked { guard, detail, .. } => {
            format!("Nothing changed: guard `{guard}` stopped the fix: {detail}")
        }
        Outcome::Diagnosed { why_no_change, .. } => {
            format!("Nothing changed (MODE={mode}): {why_no_change}")
        }
        _ => String::new(),
    }
}

/// The commands left to run, then the verify line(s), each as code.
fn next_steps(report: &EventReport, snapshot: Option<&Snapshot>) -> Vec<String> {
    let run = left_to_run(report, region(snapshot));
    let verify = verify_lines(report, snapshot);
    let mut steps: Vec<String> = run.iter().map(|c| step("Run", c)).collect();
    let total = steps.len();
    if total > MAX_STEPS {
        steps.truncate(MAX_STEPS);
        steps.push(format!(
            "... and {} more command(s) in the e-mail and JSON report",
            total - MAX_STEPS
        ));
    }
    steps.extend(verify.iter().map(|c| step("Verify", c)));
    steps
}

/// `Run: `cmd``; a command holding a backtick is shown bare (a code span cannot hold one), a very long
/// one is named instead of cut.
fn step(label: &str, command: &CommandLine) -> String {
    let text = command.to_string();
    if text.chars().count() > STEP_CHARS {
        let n = text.chars().count();
        return format!("{label}: a command of {n} characters, in the e-mail and JSON report");
    }
    match text.contains('`') {
        true => format!("{label}: {text}"),
        false => format!("{label}: `{text}`"),
    }
}

fn keywords(report: &EventReport) -> Vec<String> {
    let s = &report.subject;
    let mut words = vec![
        report.outcome.name().to_string(),
        severity(report).to_string(),
    ];
    words.extend(cause(report).map(|f| f.code.to_string()));
    words.extend(s.cluster.clone());
    words.extend(s.account.clone());
    words.iter().map(|w| clipped(w, 64)).collect()
}

fn metadata(report: &EventReport, snapshot: Option<&Snapshot>, summary: String) -> Metadata {
    let s = &report.subject;
    let thread = [
        s.account.as_deref().unwrap_or("-"),
        s.cluster.as_deref().unwrap_or("-"),
        &group_label(s),
    ]
    .join("/");
    let mut related: Vec<String> = s.instance_id.iter().cloned().collect();
    related.extend(snapshot.map(|sn| sn.route_table.id.clone()));
    Metadata {
        thread_id: format!("eks-node-join-remediator/{thread}"),
        summary,
        event_type: format!("eks-node-join-remediator/{}", report.outcome.name()),
        related_resources: related,
        additional_context: attributes(report).into_iter().collect(),
    }
}

/// At most `max` characters, saying that it was cut.
fn clipped(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((at, _)) => format!("{}...", &text[..at]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::{Action, ActionResult, RecycleStep};
    use crate::error::Error;
    use crate::fixture::{self, INSTANCE, NAT_A, NEW_TABLE};
    use crate::outcome::{settle, Execution, Subject};
    use crate::plan::{plan, Decision, PlanInput};
    use crate::registration::Registration;
    use crate::rules::diagnose;
    use crate::target::{NodeSource, Target};

    fn karpenter() -> NodeSource {
        NodeSource::Karpenter {
            nodepool: "default".into(),
            nodeclaim: None,
        }
    }

    fn subject(source: NodeSource) -> Subject {
        let asg = match &source {
            NodeSource::AutoScalingGroup { name } => Some(name.clone()),
            _ => None,
        };
        Subject {
            instance_id: Some(INSTANCE.into()),
            asg_name: asg,
            cluster: Some("eks-workshop".into()),
            nodegroup: None,
            node_source: Some(source),
            account: Some("222222222222".into()),
            region: Some("us-west-2".into()),
        }
    }

    /// The seed's world, planned for `source` in `mode`: the report, and the snapshot it was read from.
    fn planned(source: NodeSource, mode: Mode) -> (EventReport, Snapshot, Vec<Action>) {
        let s = fixture::seed();
        let d = diagnose(&s);
        let target = Target {
            cluster: "eks-workshop".into(),
            nodegroup: None,
            source: source.clone(),
        };
        let registration = Registration::Missing { nodegroup_nodes: 0 };
        let decision = plan(&PlanInput {
            snapshot: &s,
            findings: &d.findings,
            registration: &registration,
            target: &target,
            mode,
            recycle: crate::config::Recycle::Instance,
            allow_shared_route_tables: false,
        });
        let (outcome, actions) = match decision {
            Decision::NoChange { why, would_apply } => (
                Outcome::Diagnosed {
                    why_no_change: why,
                    would_apply,
                },
                vec![],
            ),
            Decision::Apply { actions, .. } => (Outcome::Remediated { actions: vec![] }, actions),
            other => panic!("{other:?}"),
        };
        let mut r = EventReport::new(outcome, subject(source));
        r.registration = Some(registration);
        r.findings = d.findings;
        r.paths = d.paths;
        (r, s, actions)
    }

    fn document(n: &ChatNotice) -> String {
        let attributes: Vec<String> = n
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let json = serde_json::to_string_pretty(&n.message).expect("a card serializes");
        format!("attributes: {}\n\n{json}\n", attributes.join(", "))
    }

    fn check(name: &str, n: &ChatNotice) {
        insta::with_settings!({ prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!(name, document(n));
        });
    }

    #[test]
    fn a_karpenter_node_diagnosed_in_alert_mode_gets_a_card_with_both_commands() {
        let (r, s, _) = planned(karpenter(), Mode::Alert);
        let n = card(&r, Some(&s), Mode::Alert);
        let steps = n.message["content"]["nextSteps"]
            .as_array()
            .expect("steps")
            .clone();
        assert_eq!(
            steps.len(),
            4,
            "route, terminate, two verify lines: {steps:?}"
        );
        check("chat_diagnosed_karpenter_alert", &n);
    }

    #[test]
    fn a_remediated_auto_mode_node_leaves_the_nodeclaim_command_on_the_card() {
        let (r, s, actions) = planned(
            NodeSource::AutoMode {
                nodepool: "general-purpose".into(),
                nodeclaim: None,
            },
            Mode::Remediate,
        );
        let results = vec![
            ActionResult::new(
                actions[0].clone(),
                ActionStatus::Applied,
                format!("created 0.0.0.0/0 -> {NAT_A} in {NEW_TABLE}"),
            ),
            ActionResult::new(
                actions[1].clone(),
                ActionStatus::Skipped,
                "not done by this function",
            ),
        ];
        assert!(matches!(
            actions[1],
            Action::Recycle(RecycleStep::DeleteNodeClaim { .. })
        ));
        let outcome = settle(
            actions,
            Execution {
                results,
                blocked: None,
            },
        );
        let r = EventReport { outcome, ..r };
        let n = card(&r, Some(&s), Mode::Remediate);
        let description = n.message["content"]["description"]
            .as_str()
            .unwrap_or_default();
        assert!(
            description.contains("(done)") && description.contains("(left to you)"),
            "{description}"
        );
        check("chat_remediated_auto_mode", &n);
    }

    #[test]
    fn a_failure_says_so_in_one_line_without_commands() {
        let err = Error::Aws {
            operation: "sts:AssumeRole",
            code: "AccessDenied".into(),
            message: "cannot assume arn:aws:iam::222222222222:role/eks-node-join-remediator-member"
                .into(),
            retryable: false,
        };
        let r = EventReport::new(Outcome::failed(&err), subject(karpenter()));
        let n = card(&r, None, Mode::Remediate);
        check("chat_failed_member_role", &n);
    }

    #[test]
    fn commands_are_code_unless_they_hold_a_backtick_and_long_ones_are_named_not_cut() {
        let plain = crate::commands::terminate_instances("us-west-2", INSTANCE);
        assert_eq!(
            step("Run", &plain),
            format!(
                "Run: `aws ec2 terminate-instances --region us-west-2 --instance-ids {INSTANCE}`"
            )
        );
        let hostile = crate::commands::delete_nodeclaim(Some("a`b"), INSTANCE);
        assert_eq!(step("Run", &hostile), "Run: kubectl delete nodeclaim 'a`b'");
        let long = crate::commands::delete_nodeclaim(Some(&"n".repeat(2_000)), INSTANCE);
        assert!(step("Run", &long).contains("a command of 2025 characters"));
    }

    #[test]
    fn a_card_keeps_at_most_eight_commands_and_counts_the_rest() {
        let (mut r, s, _) = planned(karpenter(), Mode::Alert);
        let route = match &r.outcome {
            Outcome::Diagnosed { would_apply, .. } => would_apply[0].clone(),
            other => panic!("{other:?}"),
        };
        r.outcome = Outcome::Diagnosed {
            why_no_change: "MODE=alert".into(),
            would_apply: vec![route; 12],
        };
        let steps = next_steps(&r, Some(&s));
        assert_eq!(steps.len(), 8 + 1 + 2, "{steps:#?}");
        assert_eq!(
            steps[8],
            "... and 4 more command(s) in the e-mail and JSON report"
        );
    }
}
