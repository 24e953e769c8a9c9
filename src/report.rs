//! The SNS report (DESIGN.md section 7): a subject under 100 characters, a body in the seed's order (what
//! was seen, the cause, what was done or what to run, how to verify), filterable message attributes, and
//! the same report as JSON for machine subscribers.

use std::fmt::Write;

use aws_sdk_sns::types::MessageAttributeValue;
use serde_json::json;

use crate::config::Mode;
use crate::context::Clients;
use crate::error::{aws, Result};
use crate::finding::{worst, Severity};
use crate::outcome::{ActionStatus, EventReport, Outcome, Registration};
use crate::plan::PlannedAction;
use crate::snapshot::Snapshot;

pub const SUBJECT_LIMIT: usize = 99;

#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub subject: String,
    pub text: String,
    /// `cluster`, `nodegroup`, `outcome`, `severity`.
    pub attributes: Vec<(&'static str, String)>,
    /// The structured report (with `text`), delivered to SQS, Lambda and HTTP subscribers.
    pub json: serde_json::Value,
}

pub fn severity(report: &EventReport) -> Severity {
    match &report.outcome {
        Outcome::Failed { .. } => Severity::Blocker,
        _ => worst(&report.findings),
    }
}

/// Printable ASCII only, no line breaks, under 100 characters (SNS rejects anything else).
pub fn subject(report: &EventReport) -> String {
    let who = format!(
        "{}/{}",
        report.cluster.as_deref().unwrap_or("?"),
        report.nodegroup.as_deref().unwrap_or("self-managed")
    );
    let cause = report
        .findings
        .iter()
        .find(|f| f.severity == Severity::Blocker)
        .or(report.findings.first())
        .map(|f| f.code.as_str())
        .unwrap_or("");
    let mut s = match &report.outcome {
        Outcome::Registered { .. } => {
            format!("EKS node joined: {who} registered after remediation")
        }
        Outcome::Failed { error_kind, .. } if error_kind == "Remediation" => {
            format!("EKS node not joined: {who} fix failed - {cause}")
        }
        Outcome::Failed { .. } => format!("EKS node check failed: {who}"),
        o if cause.is_empty() => format!("EKS node not joined: {who} {}", o.name()),
        o => format!("EKS node not joined: {who} {} - {cause}", o.name()),
    };
    s.retain(|c| c.is_ascii() && !c.is_ascii_control());
    if s.len() > SUBJECT_LIMIT {
        s.truncate(SUBJECT_LIMIT - 3);
        s.push_str("...");
    }
    s
}

pub fn render(report: &EventReport, snapshot: Option<&Snapshot>, mode: Mode) -> Notice {
    let text = body(report, snapshot, mode);
    let mut json =
        serde_json::to_value(report).unwrap_or_else(|e| json!({ "render_error": e.to_string() }));
    if let Some(obj) = json.as_object_mut() {
        // Delivery bookkeeping belongs to the log, not to the message being delivered.
        obj.remove("notified");
        obj.remove("notify_error");
        obj.insert("mode".to_string(), json!(mode));
        obj.insert("severity".to_string(), json!(severity(report).as_str()));
        obj.insert("text".to_string(), json!(text));
    }
    Notice {
        subject: subject(report),
        attributes: vec![
            (
                "cluster",
                report
                    .cluster
                    .clone()
                    .unwrap_or_else(|| "unknown".to_string()),
            ),
            (
                "nodegroup",
                report
                    .nodegroup
                    .clone()
                    .unwrap_or_else(|| "self-managed".to_string()),
            ),
            ("outcome", report.outcome.name().to_string()),
            ("severity", severity(report).as_str().to_string()),
        ],
        text,
        json,
    }
}

fn selector(report: &EventReport) -> String {
    match &report.nodegroup {
        Some(ng) => format!("kubectl get nodes --selector=eks.amazonaws.com/nodegroup={ng}"),
        None => "kubectl get nodes".to_string(),
    }
}

fn body(report: &EventReport, snapshot: Option<&Snapshot>, mode: Mode) -> String {
    let mut t = String::new();
    let cluster = report.cluster.as_deref().unwrap_or("?");
    let nodegroup = report
        .nodegroup
        .as_deref()
        .unwrap_or("(self-managed group)");
    let instance = report.instance_id.as_deref().unwrap_or("?");
    let _ = writeln!(
        t,
        "Cluster {cluster}, nodegroup {nodegroup}, instance {instance}"
    );
    let _ = writeln!(
        t,
        "Outcome: {} (MODE={})",
        report.outcome.name(),
        mode_name(mode)
    );

    if let Outcome::Registered {
        node_name,
        ready,
        seconds_to_register,
        ..
    } = &report.outcome
    {
        let _ = writeln!(
            t,
            "\nThe earlier remediation worked: node {node_name} registered{}{}.",
            if *ready {
                " and is Ready"
            } else {
                " (not Ready yet)"
            },
            seconds_to_register
                .map(|s| format!(" {s} s after launch"))
                .unwrap_or_default()
        );
        let _ = writeln!(t, "\nHow to verify\n  {}", selector(report));
        return t;
    }

    let _ = writeln!(t, "\nWhat was seen");
    if let Some(s) = snapshot {
        if let Some(ng) = &s.nodegroup {
            let _ = writeln!(
                t,
                "  Nodegroup {}: {}, desired {} (min {}, max {}), health issues: {}",
                ng.name,
                ng.status,
                opt(ng.desired_size),
                opt(ng.min_size),
                opt(ng.max_size),
                if ng.health_issues.is_empty() {
                    "none".to_string()
                } else {
                    ng.health_issues
                        .iter()
                        .map(|h| h.code.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            );
        }
        let _ = writeln!(
            t,
            "  Auto Scaling group {}: launched {} successfully",
            report.asg_name.as_deref().unwrap_or("?"),
            s.instance.id
        );
        let _ = writeln!(
            t,
            "  Instance {}: {}, private DNS {}, public IP {}",
            s.instance.id,
            s.instance.state,
            s.instance.private_dns_name.as_deref().unwrap_or("none"),
            s.instance.public_ip.as_deref().unwrap_or("none")
        );
        let _ = writeln!(
            t,
            "  Subnet {}: {} in {}, {} free addresses",
            s.subnet.id, s.subnet.cidr, s.subnet.availability_zone, s.subnet.available_ip_addresses
        );
        let _ = writeln!(
            t,
            "  Route table {}{}:",
            s.route_table.id,
            if s.route_table_is_explicit() {
                ""
            } else {
                " (VPC main table)"
            }
        );
        for r in &s.route_table.routes {
            let _ = writeln!(
                t,
                "    {} -> {} ({})",
                r.destination,
                r.target.id(),
                r.state
            );
        }
    }
    match &report.registration {
        Some(Registration::Missing { .. }) => {
            let _ = writeln!(
                t,
                "  Kubernetes: no node for {instance} (`{}` does not list it)",
                selector(report)
            );
        }
        Some(Registration::Unknown { reason }) => {
            let _ = writeln!(t, "  Kubernetes: registration unknown ({reason})");
        }
        Some(Registration::Registered { node_name, .. }) => {
            let _ = writeln!(t, "  Kubernetes: node {node_name} is registered");
        }
        None => {}
    }

    let _ = writeln!(t, "\nCause");
    if let Outcome::Failed {
        error,
        retryable,
        error_kind,
    } = &report.outcome
    {
        let what = if error_kind == "Remediation" {
            "The fix could not be applied"
        } else {
            "The check itself failed"
        };
        let _ = writeln!(
            t,
            "  {what} ({}): {error}",
            if *retryable {
                "will be retried"
            } else {
                "not retryable"
            }
        );
    }
    for f in &report.findings {
        let _ = writeln!(
            t,
            "  [{}] {}: {}",
            f.severity.as_str(),
            f.code.as_str(),
            f.summary
        );
        for e in &f.evidence {
            let _ = writeln!(t, "    - {}", e.trim_start());
        }
    }

    let region = snapshot.map(|s| s.region.as_str()).unwrap_or("<region>");
    let run_commands = |t: &mut String, actions: &[PlannedAction]| {
        let mut commands: Vec<String> = actions.iter().map(|a| a.command(region)).collect();
        if actions.is_empty() {
            commands = report
                .findings
                .iter()
                .flat_map(|f| f.remedy.commands.clone())
                .collect();
        }
        for c in commands {
            let _ = writeln!(t, "  {c}");
        }
        for note in report
            .findings
            .iter()
            .filter_map(|f| f.remedy.note.as_deref())
        {
            let _ = writeln!(t, "  Note: {note}");
        }
    };
    match &report.outcome {
        Outcome::Remediated { actions } => {
            let _ = writeln!(t, "\nWhat was done");
            for (i, a) in actions.iter().enumerate() {
                let _ = writeln!(
                    t,
                    "  {}. {}: {}",
                    i + 1,
                    a.action.describe(),
                    status_name(a.status)
                );
                if a.status != ActionStatus::Applied {
                    let _ = writeln!(t, "     {}", a.detail);
                }
            }
            if actions
                .iter()
                .any(|a| a.status == ActionStatus::Failed || a.status == ActionStatus::Skipped)
            {
                let _ = writeln!(t, "\nWhat is left to run");
                let left: Vec<PlannedAction> = actions
                    .iter()
                    .filter(|a| matches!(a.status, ActionStatus::Failed | ActionStatus::Skipped))
                    .map(|a| a.action.clone())
                    .collect();
                run_commands(&mut t, &left);
            }
        }
        Outcome::RemediationBlocked {
            guard,
            detail,
            would_apply,
            ..
        } => {
            let _ = writeln!(
                t,
                "\nWhat was done\n  Nothing: guard {} stopped the fix: {detail}",
                guard.as_str()
            );
            let _ = writeln!(t, "\nWhat to run (once the guard's concern is settled)");
            run_commands(&mut t, would_apply);
        }
        Outcome::Diagnosed {
            why_no_change,
            would_apply,
        } => {
            let _ = writeln!(t, "\nWhat was done\n  Nothing: {why_no_change}");
            let _ = writeln!(t, "\nWhat to run");
            run_commands(&mut t, would_apply);
        }
        Outcome::Failed { .. } if !report.findings.is_empty() => {
            let _ = writeln!(t, "\nWhat to run");
            run_commands(&mut t, &[]);
        }
        _ => {}
    }

    let _ = writeln!(t, "\nHow to verify\n  {}", selector(report));
    if let Some(s) = snapshot {
        let _ = writeln!(
            t,
            "  aws ec2 describe-route-tables --region {} --route-table-ids {} --query 'RouteTables[0].Routes'",
            s.region, s.route_table.id
        );
    }
    t
}

fn opt(v: Option<i32>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "?".to_string())
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Alert => "alert",
        Mode::Remediate => "remediate",
    }
}

fn status_name(s: ActionStatus) -> &'static str {
    match s {
        ActionStatus::Applied => "applied",
        ActionStatus::AlreadyPresent => "already present",
        ActionStatus::Skipped => "skipped",
        ActionStatus::Failed => "FAILED",
    }
}

pub async fn publish(clients: &Clients, topic_arn: &str, notice: &Notice) -> Result<()> {
    let json_text = notice.json.to_string();
    // Per-protocol bodies: people read text, machines get JSON.
    let message = json!({
        "default": notice.text,
        "email": notice.text,
        "email-json": json_text,
        "sqs": json_text,
        "lambda": json_text,
        "http": json_text,
        "https": json_text,
        "firehose": json_text,
    });
    let mut request = clients
        .sns
        .publish()
        .topic_arn(topic_arn)
        .subject(&notice.subject)
        .message_structure("json")
        .message(message.to_string());
    for (key, value) in &notice.attributes {
        let attr = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
            .map_err(|e| crate::error::Error::Remediation {
                step: "sns:Publish".to_string(),
                message: e.to_string(),
                retryable: false,
            })?;
        request = request.message_attributes(*key, attr);
    }
    request.send().await.map_err(aws("sns:Publish"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;
    use crate::plan::{plan, Decision, PlanInput};
    use crate::rules::diagnose;
    use crate::target::Target;

    fn seed_report(mode: Mode) -> (EventReport, Snapshot) {
        let s = fixture::seed();
        let findings = diagnose(&s);
        let registration = Registration::Missing { nodegroup_nodes: 0 };
        let target = Target {
            cluster: "eks-workshop".into(),
            nodegroup: Some("new_nodegroup_2".into()),
            asg_name: "eks-new_nodegroup_2-abcd".into(),
        };
        let decision = plan(&PlanInput {
            snapshot: &s,
            findings: &findings,
            registration: &registration,
            target: &target,
            mode,
            recycle: crate::config::Recycle::Instance,
            allow_shared_route_tables: false,
        });
        let Decision::NoChange { why, would_apply } = decision else {
            panic!("alert mode")
        };
        let mut r = EventReport::new(Outcome::Diagnosed {
            why_no_change: why,
            would_apply,
        });
        r.instance_id = Some(fixture::INSTANCE.into());
        r.asg_name = Some(target.asg_name);
        r.cluster = Some("eks-workshop".into());
        r.nodegroup = Some("new_nodegroup_2".into());
        r.registration = Some(registration);
        r.findings = findings;
        (r, s)
    }

    #[test]
    fn seed_alert_report_reads_in_the_seeds_order_with_the_exact_fix() {
        let (r, s) = seed_report(Mode::Alert);
        let n = render(&r, Some(&s), Mode::Alert);
        let text = &n.text;
        let order = ["What was seen", "Nodegroup new_nodegroup_2: ACTIVE", "Instance i-1234abcd1234abcd1: running", "10.42.192.0/19", "10.42.0.0/16 -> local (active)", "Cause", "no-default-route", "What to run", "aws ec2 create-route --region us-west-2 --route-table-id rtb-1234abcd1234abcd1 --destination-cidr-block 0.0.0.0/0 --nat-gateway-id nat-1234abcd1234abcd1", "terminate-instance-in-auto-scaling-group", "How to verify", "kubectl get nodes --selector=eks.amazonaws.com/nodegroup=new_nodegroup_2"];
        let mut at = 0;
        for needle in order {
            let found = text[at..]
                .find(needle)
                .unwrap_or_else(|| panic!("{needle:?} missing or out of order in:\n{text}"));
            at += found + needle.len();
        }
        assert_eq!(
            n.subject,
            "EKS node not joined: eks-workshop/new_nodegroup_2 diagnosed - no-default-route"
        );
        assert_eq!(
            n.attributes,
            vec![
                ("cluster", "eks-workshop".to_string()),
                ("nodegroup", "new_nodegroup_2".to_string()),
                ("outcome", "diagnosed".to_string()),
                ("severity", "blocker".to_string())
            ]
        );
        assert_eq!(n.json["outcome"], "diagnosed");
        assert_eq!(n.json["findings"][0]["code"], "no-default-route");
        assert_eq!(n.json["text"], n.text.as_str());
        assert!(
            n.json.get("notified").is_none(),
            "delivery bookkeeping is not part of the message"
        );
    }

    #[test]
    fn subject_stays_under_the_sns_limit_and_ascii() {
        let (mut r, _) = seed_report(Mode::Alert);
        r.cluster = Some("c".repeat(80));
        r.nodegroup = Some("ノードグループ".to_string() + &"n".repeat(60));
        let s = subject(&r);
        assert!(s.len() < 100, "{} chars", s.len());
        assert!(s.chars().all(|c| c.is_ascii() && !c.is_ascii_control()));
        assert!(s.ends_with("..."));
    }
}
