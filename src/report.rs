//! The report, rendered (pure): a subject under 100 characters, a body in the incident's order (what was
//! seen, the cause, what was done or what to run, how to verify), filterable message attributes, and the
//! same report as JSON for machine subscribers. Publishing lives in `publish`.

use std::fmt::{self, Display, Formatter};

use serde_json::{json, Value};

use crate::action::{Action, ActionResult, ActionStatus};
use crate::commands::{self, CommandLine};
use crate::config::Mode;
use crate::error::ErrorKind;
use crate::finding::{worst, Finding, Severity};
use crate::outcome::{EventReport, Outcome};
use crate::registration::Registration;
use crate::snapshot::Snapshot;

/// SNS takes subjects of fewer than 100 characters.
pub const SUBJECT_LIMIT: usize = 99;

#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub subject: String,
    pub text: String,
    /// `cluster`, `nodegroup`, `outcome`, `severity`; never empty (SNS rejects empty attributes).
    pub attributes: Vec<(&'static str, String)>,
    /// The structured report (with `text`), delivered to SQS, Lambda and HTTP subscribers.
    pub json: Value,
}

pub fn severity(report: &EventReport) -> Severity {
    match &report.outcome {
        Outcome::Failed { .. } => Severity::Blocker,
        _ => worst(&report.findings),
    }
}

/// The finding that names the cause: the first blocker, else the first finding.
fn cause(report: &EventReport) -> Option<&Finding> {
    let findings = &report.findings;
    findings
        .iter()
        .find(|f| f.severity == Severity::Blocker)
        .or(findings.first())
}

fn who(report: &EventReport) -> String {
    let s = &report.subject;
    format!(
        "{}/{}",
        s.cluster.as_deref().unwrap_or("?"),
        s.nodegroup.as_deref().unwrap_or("self-managed")
    )
}

/// Printable ASCII only, no line breaks, under 100 characters (SNS rejects anything else).
pub fn subject(report: &EventReport) -> String {
    let who = who(report);
    let cause = cause(report).map(|f| f.code.as_str()).unwrap_or("");
    let mut s = match &report.outcome {
        Outcome::Registered { .. } => {
            format!("EKS node joined: {who} registered after remediation")
        }
        Outcome::Failed {
            error_kind: ErrorKind::Remediation,
            ..
        } => format!("EKS node not joined: {who} fix failed - {cause}"),
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

fn attribute(value: Option<&str>, fallback: &str) -> String {
    match value.map(str::trim) {
        Some(v) if !v.is_empty() => v.to_string(),
        _ => fallback.to_string(),
    }
}

pub fn attributes(report: &EventReport) -> Vec<(&'static str, String)> {
    let s = &report.subject;
    vec![
        ("cluster", attribute(s.cluster.as_deref(), "unknown")),
        (
            "nodegroup",
            attribute(s.nodegroup.as_deref(), "self-managed"),
        ),
        ("outcome", report.outcome.name().to_string()),
        ("severity", severity(report).to_string()),
    ]
}

pub fn render(report: &EventReport, snapshot: Option<&Snapshot>, mode: Mode) -> Notice {
    let text = Body {
        report,
        snapshot,
        mode,
    }
    .to_string();
    Notice {
        subject: subject(report),
        attributes: attributes(report),
        json: machine_json(report, mode, &text),
        text,
    }
}

fn machine_json(report: &EventReport, mode: Mode, text: &str) -> Value {
    let mut json =
        serde_json::to_value(report).unwrap_or_else(|e| json!({ "render_error": e.to_string() }));
    if let Some(obj) = json.as_object_mut() {
        // Delivery bookkeeping belongs to the log, not to the message being delivered.
        obj.remove("notified");
        obj.remove("notify_error");
        obj.insert("mode".to_string(), json!(mode));
        obj.insert("severity".to_string(), json!(severity(report)));
        obj.insert("text".to_string(), json!(text));
    }
    json
}

fn region(snapshot: Option<&Snapshot>) -> &str {
    snapshot.map(|s| s.region.as_str()).unwrap_or("<region>")
}

/// The whole body: each section renders itself.
struct Body<'a> {
    report: &'a EventReport,
    snapshot: Option<&'a Snapshot>,
    mode: Mode,
}

impl Display for Body<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let r = self.report;
        write!(f, "{}", Header(r, self.mode))?;
        let verify = Verify(r, self.snapshot);
        if let Outcome::Registered { .. } = r.outcome {
            return write!(f, "{}{verify}", Resolved(r));
        }
        write!(f, "{}", Seen(r, self.snapshot))?;
        write!(f, "{}", Cause(r))?;
        write!(f, "{}", Done(r, region(self.snapshot)))?;
        write!(f, "{verify}")
    }
}

struct Header<'a>(&'a EventReport, Mode);

impl Display for Header<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let s = &self.0.subject;
        writeln!(
            f,
            "Cluster {}, nodegroup {}, instance {}",
            s.cluster.as_deref().unwrap_or("?"),
            s.nodegroup.as_deref().unwrap_or("(self-managed group)"),
            s.instance_id.as_deref().unwrap_or("?")
        )?;
        writeln!(f, "Outcome: {} (MODE={})", self.0.outcome.name(), self.1)
    }
}

struct Resolved<'a>(&'a EventReport);

impl Display for Resolved<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let Outcome::Registered {
            node_name,
            ready,
            seconds_to_register,
            ..
        } = &self.0.outcome
        else {
            return Ok(());
        };
        let ready = if *ready {
            " and is Ready"
        } else {
            " (not Ready yet)"
        };
        let after = seconds_to_register
            .map(|s| format!(" {s} s after launch"))
            .unwrap_or_default();
        writeln!(
            f,
            "\nThe earlier remediation worked: node {node_name} registered{ready}{after}."
        )
    }
}

struct Seen<'a>(&'a EventReport, Option<&'a Snapshot>);

impl Display for Seen<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        writeln!(f, "\nWhat was seen")?;
        if let Some(s) = self.1 {
            write!(f, "{}", Network(self.0, s))?;
        }
        write!(f, "{}", Kubernetes(self.0))?;
        write!(f, "{}", Paths(self.0))
    }
}

/// The path table: destination, how it is reached, the verdict and the hop that decides it.
struct Paths<'a>(&'a EventReport);

impl Display for Paths<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.0.paths.is_empty() {
            return Ok(());
        }
        writeln!(f, "  Paths a node needs (TCP 443):")?;
        for p in &self.0.paths {
            writeln!(f, "    {p}")?;
        }
        Ok(())
    }
}

/// The seed's own investigation: nodegroup, group, instance, subnet, route table.
struct Network<'a>(&'a EventReport, &'a Snapshot);

impl Display for Network<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let (r, s) = (self.0, self.1);
        if let Some(ng) = &s.nodegroup {
            let issues: Vec<&str> = ng.health_issues.iter().map(|h| h.code.as_str()).collect();
            writeln!(
                f,
                "  Nodegroup {}: {}, desired {} (min {}, max {}), health issues: {}",
                ng.name,
                ng.status,
                opt(ng.desired_size),
                opt(ng.min_size),
                opt(ng.max_size),
                if issues.is_empty() {
                    "none".to_string()
                } else {
                    issues.join(", ")
                }
            )?;
        }
        let asg = r.subject.asg_name.as_deref().unwrap_or("?");
        let i = &s.instance;
        writeln!(
            f,
            "  Auto Scaling group {asg}: launched {} successfully",
            i.id
        )?;
        writeln!(
            f,
            "  Instance {}: {}, private DNS {}, public IP {}",
            i.id,
            i.state,
            i.private_dns_name.as_deref().unwrap_or("none"),
            i.public_ip.as_deref().unwrap_or("none")
        )?;
        let sub = &s.subnet;
        writeln!(
            f,
            "  Subnet {}: {} in {}, {} free addresses",
            sub.id, sub.cidr, sub.availability_zone, sub.available_ip_addresses
        )?;
        let main = if s.route_table_is_explicit() {
            ""
        } else {
            " (VPC main table)"
        };
        writeln!(f, "  Route table {}{main}:", s.route_table.id)?;
        for route in &s.route_table.routes {
            writeln!(
                f,
                "    {} -> {} ({})",
                route.destination,
                route.target.id(),
                route.state
            )?;
        }
        Ok(())
    }
}

struct Kubernetes<'a>(&'a EventReport);

impl Display for Kubernetes<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let r = self.0;
        let instance = r.subject.instance_id.as_deref().unwrap_or("?");
        match &r.registration {
            Some(Registration::Missing { .. }) => writeln!(
                f,
                "  Kubernetes: no node for {instance} (`{}` does not list it)",
                commands::get_nodes(r.subject.nodegroup.as_deref())
            ),
            Some(Registration::Unknown { reason }) => {
                writeln!(f, "  Kubernetes: registration unknown ({reason})")
            }
            Some(Registration::Registered { node_name, .. }) => {
                writeln!(f, "  Kubernetes: node {node_name} is registered")
            }
            None => Ok(()),
        }
    }
}

struct Cause<'a>(&'a EventReport);

impl Display for Cause<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        writeln!(f, "\nCause")?;
        if let Outcome::Failed {
            error,
            retryable,
            error_kind,
        } = &self.0.outcome
        {
            let what = match error_kind {
                ErrorKind::Remediation => "The fix could not be applied",
                _ => "The check itself failed",
            };
            let retry = if *retryable {
                "will be retried"
            } else {
                "not retryable"
            };
            writeln!(f, "  {what} ({retry}): {error}")?;
        }
        for finding in &self.0.findings {
            write!(f, "{}", FindingText(finding))?;
        }
        Ok(())
    }
}

struct FindingText<'a>(&'a Finding);

impl Display for FindingText<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let finding = self.0;
        writeln!(
            f,
            "  [{}] {}: {}",
            finding.severity, finding.code, finding.summary
        )?;
        for line in &finding.evidence {
            writeln!(f, "    - {}", line.trim_start())?;
        }
        Ok(())
    }
}

/// What was done, and what is left for a human to run.
struct Done<'a>(&'a EventReport, &'a str);

impl Display for Done<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let (r, region) = (self.0, self.1);
        let run = |actions: &[Action]| ToRun {
            report: r,
            region,
            actions: actions.to_vec(),
        };
        match &r.outcome {
            Outcome::Remediated { actions } => {
                write!(f, "{}", Steps(actions))?;
                let left: Vec<Action> = actions
                    .iter()
                    .filter(|a| !a.took_effect())
                    .map(|a| a.action.clone())
                    .collect();
                if left.is_empty() {
                    return Ok(());
                }
                write!(f, "\nWhat is left to run\n{}", run(&left))
            }
            Outcome::RemediationBlocked {
                guard,
                detail,
                would_apply,
                ..
            } => {
                writeln!(
                    f,
                    "\nWhat was done\n  Nothing: guard {guard} stopped the fix: {detail}"
                )?;
                write!(
                    f,
                    "\nWhat to run (once the guard's concern is settled)\n{}",
                    run(would_apply)
                )
            }
            Outcome::Diagnosed {
                why_no_change,
                would_apply,
            } => {
                writeln!(f, "\nWhat was done\n  Nothing: {why_no_change}")?;
                write!(f, "\nWhat to run\n{}", run(would_apply))
            }
            Outcome::Failed { .. } if !r.findings.is_empty() => {
                write!(f, "\nWhat to run\n{}", run(&[]))
            }
            _ => Ok(()),
        }
    }
}

struct Steps<'a>(&'a [ActionResult]);

impl Display for Steps<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        writeln!(f, "\nWhat was done")?;
        for (i, a) in self.0.iter().enumerate() {
            let status = match a.status {
                ActionStatus::Applied => "applied",
                ActionStatus::AlreadyPresent => "already present",
                ActionStatus::Skipped => "skipped",
                ActionStatus::Failed => "FAILED",
            };
            writeln!(f, "  {}. {}: {status}", i + 1, a.action.describe())?;
            if a.status != ActionStatus::Applied {
                writeln!(f, "     {}", a.detail)?;
            }
        }
        Ok(())
    }
}

/// The commands for the given actions, or every finding's commands when there are none; then the notes.
struct ToRun<'a> {
    report: &'a EventReport,
    region: &'a str,
    actions: Vec<Action>,
}

impl Display for ToRun<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let findings = &self.report.findings;
        let lines: Vec<CommandLine> = if self.actions.is_empty() {
            findings
                .iter()
                .flat_map(|x| x.remedy.commands.clone())
                .collect()
        } else {
            self.actions
                .iter()
                .map(|a| commands::action(self.region, a))
                .collect()
        };
        for line in lines {
            writeln!(f, "  {line}")?;
        }
        for note in findings.iter().filter_map(|x| x.remedy.note.as_deref()) {
            writeln!(f, "  Note: {note}")?;
        }
        Ok(())
    }
}

struct Verify<'a>(&'a EventReport, Option<&'a Snapshot>);

impl Display for Verify<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let nodegroup = self.0.subject.nodegroup.as_deref();
        writeln!(f, "\nHow to verify\n  {}", commands::get_nodes(nodegroup))?;
        if let Some(s) = self.1 {
            writeln!(
                f,
                "  {}",
                commands::describe_routes(&s.region, &s.route_table.id)
            )?;
        }
        Ok(())
    }
}

fn opt(v: Option<i32>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "?".to_string())
}

#[cfg(test)]
mod tests;
