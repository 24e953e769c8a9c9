//! Golden snapshots of what people and subscribers read: for every outcome and every finding code, the
//! subject, the message attributes, the text body and the JSON report (`snapshots/`). Under `CI=true` a
//! missing or changed snapshot fails; review a change with `INSTA_UPDATE=always cargo test --lib report`
//! and read the `.snap` diff before committing it.

use super::tests::seed_subject;
use super::*;
use crate::action::{Blocked, Guard};
use crate::error::Error;
use crate::fixture::{self, *};
use crate::outcome::{settle, Execution, Subject};
use crate::plan::{plan, Decision, PlanInput};
use crate::rules::diagnose;
use crate::skip::SkipReason;
use crate::snapshot::*;
use crate::target::Target;

/// One document per case, in reading order: subject and attributes, the text, then the JSON (whose
/// `text` field is checked equal to the text and elided here, so the body is read once).
fn document(n: &Notice) -> String {
    assert_eq!(n.json["text"], n.text.as_str(), "the JSON carries the text");
    let mut json = n.json.clone();
    if let Some(obj) = json.as_object_mut() {
        obj.insert("text".into(), json!("<the text above>"));
    }
    let attributes: Vec<String> = n
        .attributes
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let json = serde_json::to_string_pretty(&json).expect("a report serializes");
    format!(
        "subject: {}\nattributes: {}\n\n----- text -----\n{}\n----- json -----\n{json}\n",
        n.subject,
        attributes.join(", "),
        n.text
    )
}

fn target() -> Target {
    Target::auto_scaling(
        "eks-workshop",
        Some("new_nodegroup_2"),
        "eks-new_nodegroup_2-abcd",
    )
}

fn decide(s: &Snapshot, findings: &[Finding], mode: Mode) -> Decision {
    plan(&PlanInput {
        snapshot: s,
        findings,
        registration: &Registration::Missing { nodegroup_nodes: 0 },
        target: &target(),
        mode,
        recycle: crate::config::Recycle::Instance,
        allow_shared_route_tables: false,
    })
}

fn report(outcome: Outcome, s: &Snapshot) -> EventReport {
    let d = diagnose(s);
    let mut r = EventReport::new(outcome, seed_subject());
    r.registration = Some(Registration::Missing { nodegroup_nodes: 0 });
    r.findings = d.findings;
    r.paths = d.paths;
    r
}

/// The world as the pipeline reports it in alert mode: diagnose, plan, no change.
fn alert(s: &Snapshot) -> Notice {
    let findings = diagnose(s).findings;
    let outcome = match decide(s, &findings, Mode::Alert) {
        Decision::NoChange { why, would_apply } => Outcome::Diagnosed {
            why_no_change: why,
            would_apply,
        },
        other => panic!("alert mode changes nothing, got {other:?}"),
    };
    render(&report(outcome, s), Some(s), Mode::Alert)
}

/// The actions remediate mode plans for the seed: the route fix, then the recycle.
fn seed_actions() -> Vec<Action> {
    let s = fixture::seed();
    match decide(&s, &diagnose(&s).findings, Mode::Remediate) {
        Decision::Apply { actions, .. } => actions,
        other => panic!("the seed is fixable, got {other:?}"),
    }
}

fn applied(action: &Action, detail: &str) -> ActionResult {
    ActionResult::new(action.clone(), ActionStatus::Applied, detail)
}

fn with_nat_default() -> Snapshot {
    fixture::seed().with_new_subnet_default(nat_target(NAT_A))
}

fn check(name: &str, n: &Notice) {
    insta::with_settings!({ prepend_module_to_snapshot => false, omit_expression => true }, {
        insta::assert_snapshot!(name, document(n));
    });
}

// ------------------------------------------------------------------------------------ outcomes

#[test]
fn skipped_event_says_why_it_was_left_alone() {
    let subject = Subject {
        instance_id: Some(INSTANCE.into()),
        asg_name: Some("web-frontend".into()),
        ..Subject::default()
    };
    let outcome = Outcome::Skipped {
        reason: SkipReason::NotEks,
        detail: "group web-frontend carries no EKS cluster tag".into(),
    };
    let r = EventReport::new(outcome, subject);
    check("outcome_skipped", &render(&r, None, Mode::Alert));
}

#[test]
fn registered_node_resolving_an_earlier_fix_says_the_fix_worked() {
    let outcome = Outcome::Registered {
        node_name: "ip-10-42-200-17.us-west-2.compute.internal".into(),
        ready: true,
        seconds_to_register: Some(94),
        resolves_remediation: true,
    };
    let mut r = EventReport::new(outcome, seed_subject());
    r.registration = Some(Registration::Registered {
        node_name: "ip-10-42-200-17.us-west-2.compute.internal".into(),
        ready: true,
        created_at: Some(1_728_486_070),
    });
    check(
        "outcome_registered_resolves_remediation",
        &render(&r, None, Mode::Remediate),
    );
}

#[test]
fn seed_in_alert_mode_is_diagnosed_with_the_commands_remediate_would_run() {
    check("outcome_diagnosed_alert_seed", &alert(&fixture::seed()));
}

#[test]
fn remediated_seed_lists_the_applied_steps_without_restating_them() {
    let s = fixture::seed();
    let actions = seed_actions();
    let results = vec![
        applied(
            &actions[0],
            &format!("created 0.0.0.0/0 -> {NAT_A} in {NEW_TABLE}"),
        ),
        applied(&actions[1], "Terminating EC2 instance: i-1234abcd1234abcd1; eks-new_nodegroup_2-abcd keeps its desired capacity, so a replacement launches into the fixed subnet"),
    ];
    let outcome = settle(
        actions,
        Execution {
            results,
            blocked: None,
        },
    );
    let r = report(outcome, &s);
    check(
        "outcome_remediated_applied",
        &render(&r, Some(&s), Mode::Remediate),
    );
}

#[test]
fn remediated_route_with_a_failed_recycle_says_what_is_left_to_run() {
    let s = fixture::seed();
    let actions = seed_actions();
    let mut failed = ActionResult::new(
        actions[1].clone(),
        ActionStatus::Failed,
        "AWS autoscaling:TerminateInstanceInAutoScalingGroup failed (AccessDenied): not authorized",
    );
    failed.retryable = false;
    let results = vec![
        applied(
            &actions[0],
            &format!("created 0.0.0.0/0 -> {NAT_A} in {NEW_TABLE}"),
        ),
        failed,
    ];
    let outcome = settle(
        actions,
        Execution {
            results,
            blocked: None,
        },
    );
    assert_eq!(outcome.name(), "remediated");
    let r = report(outcome, &s);
    check(
        "outcome_remediated_recycle_failed",
        &render(&r, Some(&s), Mode::Remediate),
    );
}

#[test]
fn main_route_table_blocks_the_fix_and_names_the_guard() {
    let mut s = fixture::seed();
    s.vpc_route_tables.retain(|t| t.id != NEW_TABLE);
    s.route_table = s
        .vpc_route_tables
        .iter()
        .find(|t| t.main)
        .cloned()
        .expect("the seed has a main table");
    let findings = diagnose(&s).findings;
    let Decision::Blocked {
        blocked,
        would_apply,
    } = decide(&s, &findings, Mode::Remediate)
    else {
        panic!("a main table is shared");
    };
    assert_eq!(blocked.guard, Guard::SharedRouteTable);
    let r = report(Outcome::blocked(blocked, would_apply, vec![]), &s);
    check(
        "outcome_remediation_blocked_shared_table",
        &render(&r, Some(&s), Mode::Remediate),
    );
}

#[test]
fn route_changed_between_read_and_write_is_blocked_after_no_write() {
    let s = fixture::seed();
    let actions = seed_actions();
    let skipped = ActionResult::new(
        actions[1].clone(),
        ActionStatus::Skipped,
        "not attempted: guard route-changed-since-snapshot stopped the route fix",
    );
    let execution = Execution {
        results: vec![skipped],
        blocked: Some(Blocked::new(
            Guard::RouteChangedSinceSnapshot,
            format!("{NEW_TABLE} now routes 0.0.0.0/0 -> tgw-0a1b2c3d (someone else changed it)"),
        )),
    };
    let r = report(settle(actions, execution), &s);
    check(
        "outcome_remediation_blocked_route_changed",
        &render(&r, Some(&s), Mode::Remediate),
    );
}

#[test]
fn failed_route_write_that_will_be_retried_says_so_and_keeps_the_commands() {
    let s = fixture::seed();
    let actions = seed_actions();
    let mut failed = ActionResult::new(
        actions[0].clone(),
        ActionStatus::Failed,
        "AWS ec2:CreateRoute failed (RequestLimitExceeded): Request limit exceeded.",
    );
    failed.retryable = true;
    let skipped = ActionResult::new(
        actions[1].clone(),
        ActionStatus::Skipped,
        "not attempted: the route fix failed",
    );
    let execution = Execution {
        results: vec![failed, skipped],
        blocked: None,
    };
    let outcome = settle(actions, execution);
    assert!(outcome.is_retryable_failure());
    let r = report(outcome, &s);
    check(
        "outcome_failed_retryable_route_write",
        &render(&r, Some(&s), Mode::Remediate),
    );
}

#[test]
fn malformed_event_fails_without_retry_and_without_a_subject() {
    let err = Error::MalformedEvent("detail.EC2InstanceId \"i-XYZ\" is not an instance id".into());
    let r = EventReport::failed(&err);
    check(
        "outcome_failed_not_retryable_malformed",
        &render(&r, None, Mode::Alert),
    );
}

#[test]
fn denied_aws_read_fails_the_check_and_names_the_call() {
    let err = Error::Aws {
        operation: "ec2:DescribeRouteTables",
        code: "UnauthorizedOperation".into(),
        message: "You are not authorized to perform this operation.".into(),
        retryable: false,
    };
    let mut r = EventReport::new(Outcome::failed(&err), seed_subject());
    r.registration = Some(Registration::Unknown {
        reason: "the Kubernetes API answered 403 Forbidden".into(),
    });
    check(
        "outcome_failed_not_retryable_aws",
        &render(&r, None, Mode::Alert),
    );
}

// ------------------------------------------------------------------------------ finding codes

/// Every world of the finding-code snapshots, by snapshot name (the worlds of `src/rules/tests.rs`).
const WORLDS: &[&str] = &[
    "code_no_default_route_without_nat",
    "code_dead_default_route",
    "code_igw_route_without_public_ip",
    "code_nat_gateway_without_internet",
    "code_missing_vpc_endpoints",
    "code_endpoint_not_reachable",
    "code_nacl_blocks_traffic",
    "code_security_group_blocks_egress",
    "code_vpc_dns_disabled",
    "code_nodegroup_health_issue",
    "code_cause_unknown_transit_gateway",
    "code_cause_unknown_all_paths_pass",
    "code_node_role_missing_policy",
    "code_missing_access_entry",
    "code_subnet_out_of_addresses",
    "code_node_bootstrap_failed",
];

fn world(name: &str) -> Snapshot {
    match name {
        "code_no_default_route_without_nat" => {
            let mut s = fixture::seed();
            s.nat_gateways[0].state = NatState::Failed;
            s
        }
        "code_dead_default_route" => {
            let mut s = fixture::seed().with_new_subnet_default(nat_target("nat-0dead"));
            s.nat_gateways
                .push(nat("nat-0dead", PUBLIC_SUBNET_B, "us-west-2b", "deleted"));
            s
        }
        "code_igw_route_without_public_ip" => {
            fixture::seed().with_new_subnet_default(RouteTarget::InternetGateway(IGW.into()))
        }
        "code_nat_gateway_without_internet" => with_nat_default()
            .with_table_routes(PUBLIC_TABLE, vec![local()])
            .with_table_routes(PRIVATE_TABLE, vec![local()]),
        "code_missing_vpc_endpoints" => {
            let mut s = fixture::seed()
                .with_interface_endpoints(&["ec2", "ecr.api", "ecr.dkr"])
                .with_s3_gateway_endpoint();
            s.cluster.endpoint_public_access = false;
            s
        }
        "code_endpoint_not_reachable" => {
            let mut s = with_nat_default();
            s.cluster.endpoint_private_access = false;
            s.cluster.public_access_cidrs = vec!["203.0.113.0/24".into()];
            s
        }
        "code_nacl_blocks_traffic" => with_nat_default().with_nacl_entries(vec![
            nacl_entry(100, true, "6", Some((443, 443)), "0.0.0.0/0", "deny"),
            nacl_entry(200, true, "-1", None, "0.0.0.0/0", "allow"),
            nacl_entry(100, false, "-1", None, "0.0.0.0/0", "allow"),
        ]),
        "code_security_group_blocks_egress" => with_nat_default().with_security_group(sg(
            NODE_SG,
            vec![sg_rule_group(NODE_SG)],
            vec![sg_rule("tcp", Some((22, 22)), &["0.0.0.0/0"])],
        )),
        "code_vpc_dns_disabled" => {
            let mut s = with_nat_default();
            s.vpc.dns_support = Some(false);
            s
        }
        "code_nodegroup_health_issue" => {
            let mut s = fixture::seed();
            if let Some(ng) = s.nodegroup.as_mut() {
                ng.health_issues.push(HealthIssue {
                    code: "NodeCreationFailure".into(),
                    message: "Instances failed to join the kubernetes cluster".into(),
                });
            }
            s
        }
        "code_cause_unknown_transit_gateway" => {
            fixture::seed().with_new_subnet_routes(vec![route(
                "10.0.0.0/8",
                RouteTarget::TransitGateway("tgw-1".into()),
            )])
        }
        "code_cause_unknown_all_paths_pass" => with_nat_default(),
        "dual_stack_without_ipv4_default" => fixture::dual_stack().with_new_subnet_routes(vec![
            route(VPC_CIDR_V6, RouteTarget::Local),
            route("::/0", RouteTarget::EgressOnlyInternetGateway(EIGW.into())),
        ]),
        other => identity_world(other),
    }
}

/// The worlds of the causes beyond the network (an open path, so only the cause under test is left).
fn identity_world(name: &str) -> Snapshot {
    match name {
        "code_node_role_missing_policy" => {
            let mut s = with_nat_default();
            s.identity.node_role = Readable::Read(Some(node_role(&NODE_POLICIES[1..], &[])));
            s
        }
        "code_missing_access_entry" => {
            let mut s = with_nat_default();
            s.identity.access_entries = Readable::Read(vec![]);
            s.identity.aws_auth_map_roles = Readable::Read(Some(map_roles_for(
                "arn:aws:iam::123456789012:role/someone-else",
            )));
            s
        }
        "code_subnet_out_of_addresses" => {
            let mut s = with_nat_default();
            s.subnet.available_ip_addresses = 0;
            s
        }
        "code_node_bootstrap_failed" => {
            let mut s = with_nat_default();
            s.console_output = Some(Readable::Read(
                "[   12.5] nodeadm: Unable to register node with API server: Unauthorized\n".into(),
            ));
            s
        }
        other => panic!("no world named {other}"),
    }
}

/// Snapshots the world's alert report and returns its finding codes.
fn check_world(name: &str, expected: &[&str]) {
    let s = world(name);
    let codes: Vec<&str> = diagnose(&s)
        .findings
        .iter()
        .map(|f| f.code.as_str())
        .collect();
    assert_eq!(codes, expected, "{name}");
    check(name, &alert(&s));
}

#[test]
fn no_default_route_without_any_nat_tells_how_to_create_one() {
    check_world("code_no_default_route_without_nat", &["no-default-route"]);
}

#[test]
fn dead_default_route_to_a_deleted_nat_is_replaced_by_the_healthy_one() {
    check_world("code_dead_default_route", &["dead-default-route"]);
}

#[test]
fn igw_route_without_public_ip_is_left_to_a_human() {
    check_world(
        "code_igw_route_without_public_ip",
        &["igw-route-without-public-ip"],
    );
}

#[test]
fn nat_without_internet_points_at_the_nat_subnets_table() {
    check_world(
        "code_nat_gateway_without_internet",
        &["nat-gateway-without-internet"],
    );
}

#[test]
fn private_cluster_missing_the_sts_endpoint_names_it() {
    check_world("code_missing_vpc_endpoints", &["missing-vpc-endpoints"]);
}

#[test]
fn public_endpoint_outside_public_access_cidrs_adds_the_nat_address() {
    check_world("code_endpoint_not_reachable", &["endpoint-not-reachable"]);
}

#[test]
fn network_acl_denying_443_out_gets_an_allow_entry_before_the_deny() {
    check_world("code_nacl_blocks_traffic", &["nacl-blocks-traffic"]);
}

#[test]
fn security_group_without_443_out_gets_an_egress_rule() {
    check_world(
        "code_security_group_blocks_egress",
        &["security-group-blocks-egress"],
    );
}

#[test]
fn vpc_dns_support_off_is_turned_back_on() {
    check_world("code_vpc_dns_disabled", &["vpc-dns-disabled"]);
}

#[test]
fn nodegroup_health_issues_come_after_the_blocker() {
    check_world(
        "code_nodegroup_health_issue",
        &["no-default-route", "nodegroup-health-issue"],
    );
}

#[test]
fn transit_gateway_egress_is_cause_unknown_never_a_blocker() {
    check_world("code_cause_unknown_transit_gateway", &["cause-unknown"]);
}

#[test]
fn every_path_open_is_cause_unknown_with_the_next_places_to_look() {
    check_world("code_cause_unknown_all_paths_pass", &["cause-unknown"]);
}

#[test]
fn a_node_role_without_the_worker_policy_gets_the_attach_command() {
    check_world(
        "code_node_role_missing_policy",
        &["node-role-missing-policy"],
    );
}

#[test]
fn a_node_role_the_cluster_does_not_map_gets_the_access_entry_command() {
    check_world("code_missing_access_entry", &["missing-access-entry"]);
}

#[test]
fn a_subnet_without_free_addresses_is_a_blocker_with_the_numbers() {
    check_world("code_subnet_out_of_addresses", &["subnet-out-of-addresses"]);
}

#[test]
fn what_the_node_printed_is_quoted_when_its_bootstrap_failed() {
    check_world(
        "code_node_bootstrap_failed",
        &["node-bootstrap-failed", "cause-unknown"],
    );
}

#[test]
fn a_function_that_cannot_read_nodes_is_told_how_to_get_access() {
    let s = with_nat_default();
    let findings = diagnose(&s).findings;
    let outcome = match decide(&s, &findings, Mode::Alert) {
        Decision::NoChange { why, would_apply } => Outcome::Diagnosed {
            why_no_change: why,
            would_apply,
        },
        other => panic!("alert mode changes nothing, got {other:?}"),
    };
    let mut r = report(outcome, &s);
    let reason = "GET /api/v1/nodes answered 403 (this function's role has no access entry or policy that can read nodes): Forbidden";
    r.registration = Some(Registration::Unknown {
        reason: reason.into(),
    });
    r.findings.push(crate::rules::function_cannot_read_nodes(
        "us-west-2",
        "eks-workshop",
        reason,
        Some("arn:aws:iam::123456789012:role/eks-node-join-remediator-FunctionRole-ABC"),
    ));
    check(
        "code_function_cannot_read_nodes",
        &render(&r, Some(&s), Mode::Alert),
    );
}

#[test]
fn every_finding_code_has_a_golden_world() {
    // function-cannot-read-nodes comes from the registration check, not the snapshot: its own test above.
    let mut seen: Vec<&str> = WORLDS
        .iter()
        .flat_map(|name| diagnose(&world(name)).findings)
        .map(|f| f.code.as_str())
        .chain(["function-cannot-read-nodes"])
        .collect();
    seen.sort_unstable();
    seen.dedup();
    let mut codes: Vec<&str> = crate::finding::Code::ALL
        .iter()
        .map(|c| c.as_str())
        .collect();
    codes.sort_unstable();
    assert_eq!(seen, codes, "a finding code without a golden snapshot");
}

// ---------------------------------------------------------------------------- the SNS size limit

/// A route table of `n` routes to peered networks, none of them a default route.
fn huge_table(n: usize) -> Vec<Route> {
    (0..n)
        .map(|i| {
            let destination = format!("172.{}.{}.0/24", 16 + i / 256, i % 256);
            route(
                &destination,
                RouteTarget::VpcPeering(format!("pcx-{i:017x}")),
            )
        })
        .collect()
}

/// The seed's report with every list made enormous: thousands of routes in the table (and so in the
/// evidence and the path details), thousands of extra evidence lines, long lines.
fn enormous_report() -> (EventReport, Snapshot) {
    let s = fixture::seed().with_new_subnet_routes(huge_table(4_000));
    let findings = diagnose(&s).findings;
    let outcome = match decide(&s, &findings, Mode::Alert) {
        Decision::NoChange { why, would_apply } => Outcome::Diagnosed {
            why_no_change: why,
            would_apply,
        },
        other => panic!("alert mode changes nothing, got {other:?}"),
    };
    let mut r = report(outcome, &s);
    for (i, finding) in r.findings.iter_mut().enumerate() {
        finding.evidence.extend(
            (0..3_000).map(|n| format!("finding {i} evidence line {n}: {}", "x".repeat(60))),
        );
        finding.evidence.push("y".repeat(50_000));
    }
    for path in &mut r.paths {
        path.detail.push_str(&" and more".repeat(5_000));
    }
    (r, s)
}

#[test]
fn an_ordinary_report_is_rendered_in_full() {
    let s = fixture::seed();
    let n = alert(&s);
    assert!(n.sns_message().len() <= SNS_MESSAGE_BUDGET);
    assert!(n.json.get("truncated").is_none(), "nothing was cut");
    assert!(!n.text.contains("left out"), "{}", n.text);
}

#[test]
fn a_report_of_thousands_of_routes_and_evidence_lines_fits_in_one_sns_message() {
    let (r, s) = enormous_report();
    let n = render(&r, Some(&s), Mode::Alert);
    let message = n.sns_message();
    assert!(
        message.len() <= SNS_MESSAGE_BUDGET,
        "{} bytes",
        message.len()
    );
    let attributes: usize = n
        .attributes
        .iter()
        .map(|(k, v)| k.len() + "String".len() + v.len())
        .sum();
    assert!(message.len() + n.subject.len() + attributes <= 262_144);
    assert!(n.subject.len() < 100 && n.subject.bytes().all(|b| (0x20..0x7f).contains(&b)));
    assert!(n.attributes.iter().all(|(_, v)| !v.is_empty()));
    assert_eq!(n.json["truncated"], true);
    assert_eq!(n.json["outcome"], "diagnosed");
    // Never cut: the outcome, each cause's summary, every command.
    for finding in &r.findings {
        assert!(n.text.contains(&finding.summary), "{}", finding.code);
        for command in &finding.remedy.commands {
            assert!(n.text.contains(&command.to_string()), "{command}");
        }
    }
    assert!(n.text.contains("What to run"));
    assert!(
        n.text.contains("evidence lines left out"),
        "the cut is said"
    );
    assert!(n.text.contains("routes left out"), "the cut is said");
    check("size_limit_thousands_of_routes", &n);
}

#[test]
fn evidence_is_cut_before_the_route_table() {
    let (mut r, s) = enormous_report();
    // Evidence alone is too big; the route table and the paths are small.
    r.paths.iter_mut().for_each(|p| p.detail.clear());
    let small = fixture::seed();
    let n = render(&r, Some(&small), Mode::Alert);
    assert!(n.sns_message().len() <= SNS_MESSAGE_BUDGET);
    assert!(n.text.contains("evidence lines left out"));
    assert!(!n.text.contains("routes left out"), "{}", n.text);
    assert!(s.route_table.routes.len() > 1_000);
}

#[test]
fn a_skip_with_a_huge_detail_still_fits() {
    let outcome = Outcome::Skipped {
        reason: SkipReason::UnsupportedEvent,
        detail: "z".repeat(400_000),
    };
    let r = EventReport::new(outcome, Subject::default());
    let n = render(&r, None, Mode::Alert);
    assert!(n.sns_message().len() <= SNS_MESSAGE_BUDGET);
    assert!(n.text.contains("characters left out"));
}

#[test]
fn dual_stack_node_without_ipv4_default_reaches_the_api_over_ipv6_but_not_the_aws_services() {
    check_world("dual_stack_without_ipv4_default", &["no-default-route"]);
}
