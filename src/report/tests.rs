use super::*;
use crate::fixture;
use crate::outcome::Subject;
use crate::plan::{plan, Decision, PlanInput};
use crate::rules::diagnose;
use crate::target::Target;

pub(crate) fn seed_subject() -> Subject {
    Subject {
        instance_id: Some(fixture::INSTANCE.into()),
        asg_name: Some("eks-new_nodegroup_2-abcd".into()),
        cluster: Some("eks-workshop".into()),
        nodegroup: Some("new_nodegroup_2".into()),
        ..Subject::default()
    }
}

fn seed_report(mode: Mode) -> (EventReport, Snapshot) {
    let s = fixture::seed();
    let findings = diagnose(&s).findings;
    let registration = Registration::Missing { nodegroup_nodes: 0 };
    let target = Target::auto_scaling(
        "eks-workshop",
        Some("new_nodegroup_2"),
        "eks-new_nodegroup_2-abcd",
    );
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
    let outcome = Outcome::Diagnosed {
        why_no_change: why,
        would_apply,
    };
    let mut r = EventReport::new(outcome, seed_subject());
    r.registration = Some(registration);
    r.findings = findings;
    (r, s)
}

#[test]
fn seed_alert_report_reads_in_the_seeds_order_with_the_exact_fix() {
    let (r, s) = seed_report(Mode::Alert);
    let n = render(&r, Some(&s), Mode::Alert);
    let text = &n.text;
    let order = [
        "What was seen",
        "Nodegroup new_nodegroup_2: ACTIVE",
        "Instance i-1234abcd1234abcd1: running",
        "10.42.192.0/19",
        "10.42.0.0/16 -> local (active)",
        "Cause",
        "no-default-route",
        "What to run",
        "aws ec2 create-route --region us-west-2 --route-table-id rtb-1234abcd1234abcd1 --destination-cidr-block 0.0.0.0/0 --nat-gateway-id nat-1234abcd1234abcd1",
        "terminate-instance-in-auto-scaling-group",
        "How to verify",
        "kubectl get nodes --selector=eks.amazonaws.com/nodegroup=new_nodegroup_2",
    ];
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
    r.subject.cluster = Some("c".repeat(80));
    r.subject.nodegroup = Some("ノードグループ".to_string() + &"n".repeat(60));
    let s = subject(&r);
    assert!(s.len() < 100, "{} chars", s.len());
    assert!(s.chars().all(|c| c.is_ascii() && !c.is_ascii_control()));
    assert!(s.ends_with("..."));
}

#[test]
fn empty_names_never_become_empty_message_attributes() {
    let (mut r, _) = seed_report(Mode::Alert);
    r.subject.cluster = Some(String::new());
    r.subject.nodegroup = Some("  ".into());
    for (key, value) in attributes(&r) {
        assert!(!value.is_empty(), "{key} is empty");
    }
}
