//! The report, rendered (pure): a subject under 100 characters, a body in the incident's order (what was
//! seen, the cause, what was done or what to run, how to verify), filterable message attributes, and the
//! same report as JSON for machine subscribers. Publishing lives in `publish`.

use std::fmt::{self, Display, Formatter};

use serde_json::{json, Value};

use crate::action::{Action, ActionResult, ActionStatus};
use crate::commands::{self, CommandLine};
use crate::config::Mode;
use crate::egress::Verdict;
use crate::error::ErrorKind;
use crate::finding::{worst, Finding, Severity};
use crate::outcome::{EventReport, Outcome, Subject};
use crate::registration::Registration;
use crate::snapshot::Snapshot;
use crate::target::{NodeSource, LABEL_NODEGROUP, LABEL_NODEPOOL};

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
pub(crate) fn cause(report: &EventReport) -> Option<&Finding> {
    let findings = &report.findings;
    findings
        .iter()
        .find(|f| f.severity == Severity::Blocker)
        .or(findings.first())
}

/// `cluster/nodegroup` (`cluster/karpenter:<pool>`, …); a group with no cluster known is named by its
/// Auto Scaling group, if any.
fn who(report: &EventReport) -> String {
    let s = &report.subject;
    match (&s.cluster, &s.asg_name) {
        (Some(cluster), _) => format!("{cluster}/{}", group_label(s)),
        (None, Some(group)) => format!("group {group}"),
        (None, None) => "unknown cluster".to_string(),
    }
}

/// The nodegroup, else what launched the instance (`self-managed` for a group of its own).
pub(crate) fn group_label(s: &Subject) -> String {
    match (&s.nodegroup, &s.node_source) {
        (Some(ng), _) => ng.clone(),
        (None, Some(source)) => source.label(),
        (None, None) => "self-managed".to_string(),
    }
}

/// The node label that selects the instance's group: its nodegroup's, else its NodePool's.
fn node_label(s: &Subject) -> Option<(&'static str, &str)> {
    match (
        &s.nodegroup,
        s.node_source.as_ref().and_then(NodeSource::nodepool),
    ) {
        (Some(ng), _) => Some((LABEL_NODEGROUP, ng)),
        (None, Some(pool)) => Some((LABEL_NODEPOOL, pool)),
        _ => None,
    }
}

/// Printable ASCII only, no line breaks, under 100 characters (SNS rejects anything else).
pub fn subject(report: &EventReport) -> String {
    let who = who(report);
    let cause = cause(report).map(|f| f.code.as_str()).unwrap_or("");
    let mut s = match &report.outcome {
        Outcome::Skipped { reason, .. } => format!("EKS node check skipped: {who} - {reason}"),
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
    // Without a cluster nothing says the group is self-managed: the event never got that far.
    let no_nodegroup = if s.cluster.is_some() {
        group_label(s)
    } else {
        "unknown".to_string()
    };
    let mut attributes = vec![
        ("cluster", attribute(s.cluster.as_deref(), "unknown")),
        (
            "nodegroup",
            attribute(s.nodegroup.as_deref(), &no_nodegroup),
        ),
        ("outcome", report.outcome.name().to_string()),
        ("severity", severity(report).to_string()),
    ];
    // Only when known: SNS rejects empty attributes, and subscribers filter on what is there.
    let optional = [
        ("account", s.account.as_deref()),
        ("region", s.region.as_deref()),
    ];
    for (key, value) in optional {
        if let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) {
            attributes.push((key, v.to_string()));
        }
    }
    attributes
}

/// The most the SNS message (as [`Notice::sns_message`] builds it) may take: SNS accepts 262,144 bytes for
/// the message and its attributes together; 8 KiB are kept for the attributes and the subject.
pub const SNS_MESSAGE_BUDGET: usize = 262_144 - 8_192;

impl Notice {
    /// The `MessageStructure=json` message: the text for e-mail, the JSON report for every other protocol
    /// (SQS, Lambda, HTTP(S), Firehose and e-mail-JSON take `default`). Two copies, not eight.
    pub fn sns_message(&self) -> String {
        json!({
            "default": self.json.to_string(),
            "email": self.text,
        })
        .to_string()
    }
}

/// Renders the report within [`SNS_MESSAGE_BUDGET`]: in full when it fits, else with ever shorter evidence
/// lists, then shorter path and route-table detail (each cut says how much was left out). The outcome,
/// the causes' summaries and the commands are never cut; the function's log keeps the full report.
pub fn render(report: &EventReport, snapshot: Option<&Snapshot>, mode: Mode) -> Notice {
    let mut notice = render_within(report, snapshot, mode, Limits::FULL);
    for limits in Limits::SHRINKING {
        if notice.sns_message().len() <= SNS_MESSAGE_BUDGET {
            break;
        }
        notice = render_within(report, snapshot, mode, limits);
    }
    notice
}

fn render_within(
    report: &EventReport,
    snapshot: Option<&Snapshot>,
    mode: Mode,
    limits: Limits,
) -> Notice {
    let bounded = limits.apply(report);
    let text = Body {
        report: &bounded,
        snapshot,
        mode,
        limits,
    }
    .to_string();
    let mut json = machine_json(&bounded, mode, &text);
    if limits != Limits::FULL {
        if let Some(obj) = json.as_object_mut() {
            obj.insert("truncated".to_string(), json!(true));
        }
    }
    Notice {
        subject: subject(report),
        attributes: attributes(report),
        json,
        text,
    }
}

/// How much of each long list a rendering keeps (`None`: all of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Limits {
    /// Evidence lines per finding.
    evidence: Option<usize>,
    /// Characters per evidence line, path-table detail and free-text detail.
    line: Option<usize>,
    /// Rows of the route table shown under "What was seen".
    routes: Option<usize>,
}

impl Limits {
    const FULL: Limits = Limits {
        evidence: None,
        line: None,
        routes: None,
    };

    /// Tried in order until the message fits: evidence first, then the path and route-table detail.
    const SHRINKING: [Limits; 4] = [
        Limits {
            evidence: Some(40),
            line: None,
            routes: None,
        },
        Limits {
            evidence: Some(10),
            line: Some(2_000),
            routes: Some(50),
        },
        Limits {
            evidence: Some(3),
            line: Some(400),
            routes: Some(10),
        },
        Limits {
            evidence: Some(0),
            line: Some(200),
            routes: Some(3),
        },
    ];

    /// A copy of the report with the long lists cut to these limits.
    fn apply(self, report: &EventReport) -> EventReport {
        let mut r = report.clone();
        let Some(max) = self.line else {
            self.cut_evidence(&mut r);
            return r;
        };
        for path in &mut r.paths {
            let row = path.to_string();
            clip(&mut path.detail, max);
            if let Verdict::Unknown(why) = &mut path.verdict {
                clip(why, max);
            }
            // The finding's copy of this row stays recognisable as the path table's row.
            let cut = path.to_string();
            for line in r.findings.iter_mut().flat_map(|f| f.evidence.iter_mut()) {
                if *line == row {
                    line.clone_from(&cut);
                }
            }
        }
        for line in r.findings.iter_mut().flat_map(|f| f.evidence.iter_mut()) {
            clip(line, max);
        }
        clip_free_text(&mut r, max);
        self.cut_evidence(&mut r);
        r
    }

    fn cut_evidence(self, r: &mut EventReport) {
        let Some(keep) = self.evidence else { return };
        for finding in &mut r.findings {
            let total = finding.evidence.len();
            if total > keep {
                finding.evidence.truncate(keep);
                finding.evidence.push(format!(
                    "... {} of {total} evidence lines left out to fit the SNS size limit (the function's log has them all)",
                    total - keep
                ));
            }
        }
    }
}

/// Free-text details that come from outside (skip reasons, guard details, step results, registration
/// reasons); never the outcome, a summary or a command.
fn clip_free_text(r: &mut EventReport, max: usize) {
    match &mut r.outcome {
        Outcome::Skipped { detail, .. } | Outcome::RemediationBlocked { detail, .. } => {
            clip(detail, max)
        }
        Outcome::Remediated { actions } => {
            actions.iter_mut().for_each(|a| clip(&mut a.detail, max));
        }
        _ => {}
    }
    if let Some(Registration::Unknown { reason }) = &mut r.registration {
        clip(reason, max);
    }
}

/// Cuts `s` to at most `max` characters, saying how many were left out.
fn clip(s: &mut String, max: usize) {
    let total = s.chars().count();
    if total <= max {
        return;
    }
    if let Some((at, _)) = s.char_indices().nth(max) {
        s.truncate(at);
        s.push_str(&format!(" ... ({} characters left out)", total - max));
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

pub(crate) fn region(snapshot: Option<&Snapshot>) -> &str {
    snapshot.map(|s| s.region.as_str()).unwrap_or("<region>")
}

/// The whole body: each section renders itself.
struct Body<'a> {
    report: &'a EventReport,
    snapshot: Option<&'a Snapshot>,
    mode: Mode,
    limits: Limits,
}

impl Display for Body<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let r = self.report;
        write!(f, "{}", Header(r, self.mode))?;
        let verify = Verify(r, self.snapshot);
        match &r.outcome {
            Outcome::Skipped { reason, detail } => {
                return writeln!(f, "\nWhy it was skipped\n  {reason}: {detail}");
            }
            Outcome::Registered { .. } => return write!(f, "{}{verify}", Resolved(r)),
            _ => {}
        }
        let seen = Seen {
            report: r,
            snapshot: self.snapshot,
            routes: self.limits.routes,
        };
        write!(f, "{seen}{}", Cause(r))?;
        write!(f, "{}", Done(r, region(self.snapshot)))?;
        write!(f, "{verify}{}", Later(r, self.snapshot))
    }
}

/// What happens to the reports of the instances after this one with the same cause (`Outcome::folds`).
struct Later<'a>(&'a EventReport, Option<&'a Snapshot>);

impl Display for Later<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let (Some(snapshot), true) = (self.1, self.0.outcome.folds()) else {
            return Ok(());
        };
        writeln!(
            f,
            "\nOther instances\n  Instances of subnet {} with the same cause are not reported one by one for the next hour: the metric NodesNotJoined counts them and the function's log names each (reported_with).",
            snapshot.subnet.id
        )
    }
}

fn or_unknown(value: Option<&str>) -> &str {
    value.unwrap_or("(unknown)")
}

struct Header<'a>(&'a EventReport, Mode);

impl Display for Header<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let s = &self.0.subject;
        let group = match (&s.cluster, &s.nodegroup, &s.node_source) {
            (_, Some(ng), _) => format!("nodegroup {ng}"),
            (
                Some(_),
                None,
                Some(source @ (NodeSource::Karpenter { .. } | NodeSource::AutoMode { .. })),
            ) => source.describe(),
            (Some(_), None, Some(NodeSource::Standalone)) => "no nodegroup or NodePool".to_string(),
            (Some(_), None, _) => "nodegroup (self-managed group)".to_string(),
            (None, None, _) => "nodegroup (unknown)".to_string(),
        };
        writeln!(
            f,
            "Cluster {}, {group}, instance {}",
            or_unknown(s.cluster.as_deref()),
            or_unknown(s.instance_id.as_deref())
        )?;
        if let (None, Some(group)) = (&s.cluster, &s.asg_name) {
            writeln!(f, "Auto Scaling group {group}")?;
        }
        if let (Some(account), Some(region)) = (&s.account, &s.region) {
            writeln!(f, "Account {account}, Region {region}")?;
        }
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
            resolves_remediation,
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
        let lead = if *resolves_remediation {
            "The earlier remediation worked: "
        } else {
            ""
        };
        writeln!(f, "\n{lead}node {node_name} registered{ready}{after}.")
    }
}

struct Seen<'a> {
    report: &'a EventReport,
    snapshot: Option<&'a Snapshot>,
    routes: Option<usize>,
}

impl Display for Seen<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let r = self.report;
        if self.snapshot.is_none() && r.registration.is_none() && r.paths.is_empty() {
            return Ok(());
        }
        writeln!(f, "\nWhat was seen")?;
        if let Some(s) = self.snapshot {
            write!(f, "{}", Network(r, s))?;
            write!(f, "{}", Routes(&s.route_table, self.routes))?;
        }
        write!(f, "{}", Kubernetes(r))?;
        write!(f, "{}", Paths(r))
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

/// The seed's own investigation: nodegroup, group, instance, subnet.
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
        let i = &s.instance;
        writeln!(f, "  {}", launched(&r.subject, &i.id))?;
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
        writeln!(f, "  Route table {}{main}:", s.route_table.id)
    }
}

/// Who launched the instance, as the seed's investigation found it.
fn launched(s: &Subject, instance: &str) -> String {
    match &s.node_source {
        Some(NodeSource::Standalone) => format!(
            "Instance {instance} is tagged for the cluster but belongs to no Auto Scaling group or NodePool"
        ),
        Some(source @ (NodeSource::Karpenter { .. } | NodeSource::AutoMode { .. })) => {
            format!("{}: launched {instance} (EC2 CreateFleet, no Auto Scaling group)", source.describe())
        }
        _ => format!(
            "Auto Scaling group {}: launched {instance} successfully",
            or_unknown(s.asg_name.as_deref())
        ),
    }
}

/// The subnet's routes, at most `keep` of them (saying how many were left out).
struct Routes<'a>(&'a crate::snapshot::RouteTable, Option<usize>);

impl Display for Routes<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let routes = &self.0.routes;
        let keep = self.1.unwrap_or(routes.len()).min(routes.len());
        for route in &routes[..keep] {
            writeln!(
                f,
                "    {} -> {} ({})",
                route.destination,
                route.target.id(),
                route.state
            )?;
        }
        if keep < routes.len() {
            writeln!(
                f,
                "    ... {} of {} routes left out to fit the SNS size limit (see How to verify)",
                routes.len() - keep,
                routes.len()
            )?;
        }
        Ok(())
    }
}

struct Kubernetes<'a>(&'a EventReport);

impl Display for Kubernetes<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let r = self.0;
        let instance = or_unknown(r.subject.instance_id.as_deref());
        match &r.registration {
            Some(Registration::Missing { .. }) => writeln!(
                f,
                "  Kubernetes: no node for {instance} (`{}` does not list it)",
                commands::get_nodes_labelled(node_label(&r.subject))
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
            write!(f, "{}", FindingText(finding, self.0))?;
        }
        Ok(())
    }
}

/// A finding: severity, code, summary, then its evidence. Evidence lines that repeat a row of the path
/// table above are named once, by destination, instead of being printed again.
struct FindingText<'a>(&'a Finding, &'a EventReport);

impl Display for FindingText<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let (finding, paths) = (self.0, &self.1.paths);
        writeln!(
            f,
            "  [{}] {}: {}",
            finding.severity, finding.code, finding.summary
        )?;
        let rows: Vec<String> = paths.iter().map(ToString::to_string).collect();
        let in_table: Vec<&str> = paths
            .iter()
            .zip(&rows)
            .filter(|(_, row)| finding.evidence.contains(row))
            .map(|(p, _)| p.destination.as_str())
            .collect();
        let mut named = false;
        for line in &finding.evidence {
            if !rows.contains(line) {
                writeln!(f, "    - {}", line.trim_start())?;
            } else if !named {
                // Where the first row would have been, once for all of them.
                writeln!(
                    f,
                    "    - paths (in the table above): {}",
                    in_table.join(", ")
                )?;
                named = true;
            }
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
        for line in command_lines(self.report, self.region, &self.actions) {
            writeln!(f, "  {line}")?;
        }
        for note in notes(self.report) {
            writeln!(f, "  Note: {note}")?;
        }
        Ok(())
    }
}

/// The commands for `actions`, or every finding's commands when there are none.
fn command_lines(report: &EventReport, region: &str, actions: &[Action]) -> Vec<CommandLine> {
    if actions.is_empty() {
        return report
            .findings
            .iter()
            .flat_map(|x| x.remedy.commands.clone())
            .collect();
    }
    actions
        .iter()
        .map(|a| commands::action(region, a))
        .collect()
}

fn notes(report: &EventReport) -> impl Iterator<Item = &str> {
    report
        .findings
        .iter()
        .filter_map(|x| x.remedy.note.as_deref())
}

/// What is left for a human to run, by outcome: the steps that did not take effect, the fix a guard
/// stopped, what remediate mode would do, or the findings' commands (none for a registered node).
pub(crate) fn left_to_run(report: &EventReport, region: &str) -> Vec<CommandLine> {
    match &report.outcome {
        Outcome::Remediated { actions } => {
            let left: Vec<Action> = actions
                .iter()
                .filter(|a| !a.took_effect())
                .map(|a| a.action.clone())
                .collect();
            match left.is_empty() {
                true => vec![],
                false => command_lines(report, region, &left),
            }
        }
        Outcome::RemediationBlocked { would_apply, .. }
        | Outcome::Diagnosed { would_apply, .. } => command_lines(report, region, would_apply),
        Outcome::Failed { .. } => command_lines(report, region, &[]),
        _ => vec![],
    }
}

/// How to verify: the group's nodes, and the subnet's routes when they were read.
pub(crate) fn verify_lines(report: &EventReport, snapshot: Option<&Snapshot>) -> Vec<CommandLine> {
    if report.subject.cluster.is_none() {
        // Nothing to look at: the event never reached a cluster.
        return vec![];
    }
    let mut lines = vec![commands::get_nodes_labelled(node_label(&report.subject))];
    if let Some(s) = snapshot {
        lines.push(commands::describe_routes(&s.region, &s.route_table.id));
    }
    lines
}

struct Verify<'a>(&'a EventReport, Option<&'a Snapshot>);

impl Display for Verify<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let lines = verify_lines(self.0, self.1);
        if lines.is_empty() {
            return Ok(());
        }
        writeln!(f, "\nHow to verify")?;
        for line in lines {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}

fn opt(v: Option<i32>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "?".to_string())
}

pub mod chat;
#[cfg(test)]
mod golden;
#[cfg(test)]
mod tests;
