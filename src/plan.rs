//! The remediation plan: a pure decision from the snapshot, the findings and the configuration
//! (DESIGN.md section 6). Every guard that stops a change is named.

use serde::Serialize;

use crate::config::{Mode, Recycle};
use crate::finding::{Finding, Fix, Severity};
use crate::outcome::Registration;
use crate::snapshot::{RouteTarget, Snapshot};
use crate::target::Target;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Guard {
    /// The default route is alive (TGW, firewall, peering, ENI, a working NAT/IGW): never touched.
    LiveDefaultRoute,
    /// The table is the VPC main table or serves subnets outside the group (`ALLOW_SHARED_ROUTE_TABLES`).
    SharedRouteTable,
    /// `RECYCLE=nodegroup` is refused while any node of the nodegroup is registered.
    NodegroupHasRegisteredNodes,
    /// The Kubernetes API could not tell whether nodes of the nodegroup are registered.
    RegistrationUnknown,
    /// `RECYCLE=nodegroup` on a self-managed group, which has no nodegroup to rescale.
    NotAManagedNodegroup,
    /// The route table changed between the snapshot and the write.
    RouteChangedSinceSnapshot,
}

impl Guard {
    pub fn as_str(self) -> &'static str {
        match self {
            Guard::LiveDefaultRoute => "live-default-route",
            Guard::SharedRouteTable => "shared-route-table",
            Guard::NodegroupHasRegisteredNodes => "nodegroup-has-registered-nodes",
            Guard::RegistrationUnknown => "registration-unknown",
            Guard::NotAManagedNodegroup => "not-a-managed-nodegroup",
            Guard::RouteChangedSinceSnapshot => "route-changed-since-snapshot",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum PlannedAction {
    CreateDefaultRoute {
        route_table_id: String,
        nat_gateway_id: String,
    },
    ReplaceDefaultRoute {
        route_table_id: String,
        nat_gateway_id: String,
        previous_target: String,
    },
    /// `TerminateInstanceInAutoScalingGroup` without decrementing desired capacity.
    TerminateInstance {
        instance_id: String,
        asg_name: String,
    },
    /// Desired 0, wait for `ACTIVE`, then back to `desired_size` (the seed's step 6.3).
    RescaleNodegroup {
        cluster: String,
        nodegroup: String,
        desired_size: i32,
    },
}

impl PlannedAction {
    pub fn describe(&self) -> String {
        match self {
            PlannedAction::CreateDefaultRoute { route_table_id, nat_gateway_id } => {
                format!("create route 0.0.0.0/0 -> {nat_gateway_id} in {route_table_id}")
            }
            PlannedAction::ReplaceDefaultRoute { route_table_id, nat_gateway_id, previous_target } => format!(
                "replace route 0.0.0.0/0 -> {previous_target} with -> {nat_gateway_id} in {route_table_id}"
            ),
            PlannedAction::TerminateInstance { instance_id, asg_name } => format!(
                "terminate {instance_id} in {asg_name} without decrementing desired capacity (a replacement launches)"
            ),
            PlannedAction::RescaleNodegroup { cluster, nodegroup, desired_size } => format!(
                "scale nodegroup {cluster}/{nodegroup} to 0, wait for ACTIVE, then back to {desired_size}"
            ),
        }
    }

    /// The AWS CLI command a human would run for the same step.
    pub fn command(&self, region: &str) -> String {
        match self {
            PlannedAction::CreateDefaultRoute { route_table_id, nat_gateway_id } => format!(
                "aws ec2 create-route --region {region} --route-table-id {route_table_id} --destination-cidr-block 0.0.0.0/0 --nat-gateway-id {nat_gateway_id}"
            ),
            PlannedAction::ReplaceDefaultRoute { route_table_id, nat_gateway_id, .. } => format!(
                "aws ec2 replace-route --region {region} --route-table-id {route_table_id} --destination-cidr-block 0.0.0.0/0 --nat-gateway-id {nat_gateway_id}"
            ),
            PlannedAction::TerminateInstance { instance_id, .. } => format!(
                "aws autoscaling terminate-instance-in-auto-scaling-group --region {region} --instance-id {instance_id} --no-should-decrement-desired-capacity"
            ),
            PlannedAction::RescaleNodegroup { cluster, nodegroup, desired_size } => format!(
                "aws eks update-nodegroup-config --region {region} --cluster-name {cluster} --nodegroup-name {nodegroup} --scaling-config desiredSize=0 && aws eks wait nodegroup-active --region {region} --cluster-name {cluster} --nodegroup-name {nodegroup} && aws eks update-nodegroup-config --region {region} --cluster-name {cluster} --nodegroup-name {nodegroup} --scaling-config desiredSize={desired_size}"
            ),
        }
    }

    pub fn is_route_change(&self) -> bool {
        matches!(
            self,
            PlannedAction::CreateDefaultRoute { .. } | PlannedAction::ReplaceDefaultRoute { .. }
        )
    }
}

impl From<&Fix> for PlannedAction {
    fn from(fix: &Fix) -> Self {
        match fix.clone() {
            Fix::CreateDefaultRoute {
                route_table_id,
                nat_gateway_id,
            } => PlannedAction::CreateDefaultRoute {
                route_table_id,
                nat_gateway_id,
            },
            Fix::ReplaceDefaultRoute {
                route_table_id,
                nat_gateway_id,
                previous_target,
            } => PlannedAction::ReplaceDefaultRoute {
                route_table_id,
                nat_gateway_id,
                previous_target,
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "kebab-case")]
pub enum Decision {
    /// Nothing will be written; `why` is told to the reader. `would_apply` is what remediate mode would do.
    NoChange {
        why: String,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        would_apply: Vec<PlannedAction>,
    },
    /// A fix exists but a guard stops it.
    Blocked {
        guard: Guard,
        detail: String,
        would_apply: Vec<PlannedAction>,
    },
    /// Apply these, in order. `recycle_skipped` says why no recycle step follows the route fix, if it does not.
    Apply {
        actions: Vec<PlannedAction>,
        #[serde(skip_serializing_if = "Option::is_none")]
        recycle_skipped: Option<(Guard, String)>,
    },
}

pub struct PlanInput<'a> {
    pub snapshot: &'a Snapshot,
    pub findings: &'a [Finding],
    pub registration: &'a Registration,
    pub target: &'a Target,
    pub mode: Mode,
    pub recycle: Recycle,
    pub allow_shared_route_tables: bool,
}

pub fn plan(input: &PlanInput) -> Decision {
    let blockers: Vec<&Finding> = input
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Blocker)
        .collect();
    if blockers.is_empty() {
        return Decision::NoChange {
            why: "no blocking cause was found, so there is nothing safe to change".to_string(),
            would_apply: vec![],
        };
    }
    if matches!(input.registration, Registration::Registered { .. }) {
        return Decision::NoChange {
            why: "the node is registered".to_string(),
            would_apply: vec![],
        };
    }
    let Some(fix) = blockers.iter().find_map(|f| f.remedy.fix.as_ref()) else {
        let codes: Vec<&str> = blockers.iter().map(|f| f.code.as_str()).collect();
        return Decision::NoChange {
            why: format!(
                "{} cannot be fixed automatically; run the commands in the report",
                codes.join(", ")
            ),
            would_apply: vec![],
        };
    };

    let route_action = PlannedAction::from(fix);
    let (recycle_action, recycle_skipped) = recycle_step(input);
    let mut would_apply = vec![route_action];
    would_apply.extend(recycle_action);

    let decision = match route_guard(input, fix) {
        Some((guard, detail)) => Decision::Blocked {
            guard,
            detail,
            would_apply: would_apply.clone(),
        },
        None => Decision::Apply {
            actions: would_apply.clone(),
            recycle_skipped,
        },
    };
    if input.mode == Mode::Alert {
        let then = match &decision {
            Decision::Blocked { guard, .. } => {
                format!(
                    "remediate mode would be stopped by guard {}",
                    guard.as_str()
                )
            }
            _ => "remediate mode would apply the actions listed".to_string(),
        };
        return Decision::NoChange {
            why: format!("MODE=alert changes nothing; {then}"),
            would_apply,
        };
    }
    decision
}

/// Guards on the route write itself.
fn route_guard(input: &PlanInput, fix: &Fix) -> Option<(Guard, String)> {
    let s = input.snapshot;
    let table = &s.route_table;
    if table.id != fix.route_table_id() {
        return Some((
            Guard::RouteChangedSinceSnapshot,
            format!(
                "the fix targets {} but the subnet is routed by {}",
                fix.route_table_id(),
                table.id
            ),
        ));
    }
    match (fix, table.default_route()) {
        (Fix::CreateDefaultRoute { .. }, Some(r)) => {
            return Some((
                Guard::LiveDefaultRoute,
                format!(
                    "{} already has a default route -> {}",
                    table.id,
                    r.target.id()
                ),
            ))
        }
        (Fix::ReplaceDefaultRoute { .. }, Some(r)) if !default_route_is_dead(s) => {
            return Some((
                Guard::LiveDefaultRoute,
                format!(
                    "the default route of {} -> {} is alive and is never replaced",
                    table.id,
                    r.target.id()
                ),
            ))
        }
        (Fix::ReplaceDefaultRoute { .. }, None) => {
            return Some((
                Guard::RouteChangedSinceSnapshot,
                format!("{} has no default route to replace", table.id),
            ))
        }
        _ => {}
    }
    if !input.allow_shared_route_tables {
        let outside: Vec<&String> = table
            .subnets
            .iter()
            .filter(|sub| !s.group_subnets.contains(sub))
            .collect();
        if table.main {
            return Some((
                Guard::SharedRouteTable,
                format!(
                    "{} is the main route table of {}: it serves every subnet without an explicit association; set ALLOW_SHARED_ROUTE_TABLES=true to let it be changed, or associate {} with a table of its own",
                    table.id, s.instance.vpc_id, s.subnet.id
                ),
            ));
        }
        if !outside.is_empty() {
            let outside: Vec<&str> = outside.iter().map(|s| s.as_str()).collect();
            return Some((
                Guard::SharedRouteTable,
                format!(
                    "{} also serves {} outside this group; set ALLOW_SHARED_ROUTE_TABLES=true to let it be changed",
                    table.id,
                    outside.join(", ")
                ),
            ));
        }
    }
    None
}

/// A default route we may replace: blackhole, or to a NAT gateway that is gone or not `available`, or to
/// an internet gateway that is not attached. Everything else is alive.
pub fn default_route_is_dead(s: &Snapshot) -> bool {
    let Some(r) = s.route_table.default_route() else {
        return false;
    };
    match &r.target {
        RouteTarget::NatGateway(id) => {
            r.state == "blackhole" || s.nat_gateway(id).is_none_or(|n| n.state != "available")
        }
        RouteTarget::InternetGateway(id) => r.state == "blackhole" || !s.igw_attached(id),
        _ => false,
    }
}

fn recycle_step(input: &PlanInput) -> (Option<PlannedAction>, Option<(Guard, String)>) {
    let s = input.snapshot;
    match input.recycle {
        Recycle::None => (None, None),
        Recycle::Instance => (
            Some(PlannedAction::TerminateInstance {
                instance_id: s.instance.id.clone(),
                asg_name: input.target.asg_name.clone(),
            }),
            None,
        ),
        Recycle::Nodegroup => {
            let (Some(name), Some(ng)) = (&input.target.nodegroup, &s.nodegroup) else {
                return (
                    None,
                    Some((
                        Guard::NotAManagedNodegroup,
                        format!(
                            "{} is not a managed nodegroup; use RECYCLE=instance to replace the stuck instance",
                            input.target.asg_name
                        ),
                    )),
                );
            };
            match input.registration {
                Registration::Missing { nodegroup_nodes: 0 } => (
                    Some(PlannedAction::RescaleNodegroup {
                        cluster: s.cluster.name.clone(),
                        nodegroup: name.clone(),
                        desired_size: ng.desired_size.unwrap_or(1).max(1),
                    }),
                    None,
                ),
                Registration::Missing { nodegroup_nodes } => (
                    None,
                    Some((
                        Guard::NodegroupHasRegisteredNodes,
                        format!(
                            "{nodegroup_nodes} node(s) of {name} are registered; scaling to 0 would take them down"
                        ),
                    )),
                ),
                Registration::Unknown { reason } => (
                    None,
                    Some((
                        Guard::RegistrationUnknown,
                        format!("cannot tell whether nodes of {name} are registered: {reason}"),
                    )),
                ),
                Registration::Registered { .. } => (None, None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::{self, *};
    use crate::rules::diagnose;

    fn target() -> Target {
        Target {
            cluster: "eks-workshop".into(),
            nodegroup: Some("new_nodegroup_2".into()),
            asg_name: "eks-new_nodegroup_2-abcd".into(),
        }
    }

    fn decide(
        s: &Snapshot,
        mode: Mode,
        recycle: Recycle,
        reg: Registration,
        allow_shared: bool,
    ) -> Decision {
        let findings = diagnose(s);
        plan(&PlanInput {
            snapshot: s,
            findings: &findings,
            registration: &reg,
            target: &target(),
            mode,
            recycle,
            allow_shared_route_tables: allow_shared,
        })
    }

    fn missing() -> Registration {
        Registration::Missing { nodegroup_nodes: 0 }
    }

    #[test]
    fn seed_in_remediate_mode_adds_the_route_then_replaces_the_instance() {
        let d = decide(
            &fixture::seed(),
            Mode::Remediate,
            Recycle::Instance,
            missing(),
            false,
        );
        assert_eq!(
            d,
            Decision::Apply {
                actions: vec![
                    PlannedAction::CreateDefaultRoute {
                        route_table_id: NEW_TABLE.into(),
                        nat_gateway_id: NAT_A.into()
                    },
                    PlannedAction::TerminateInstance {
                        instance_id: INSTANCE.into(),
                        asg_name: "eks-new_nodegroup_2-abcd".into()
                    },
                ],
                recycle_skipped: None,
            }
        );
    }

    #[test]
    fn alert_mode_changes_nothing_but_says_what_it_would_do() {
        let d = decide(
            &fixture::seed(),
            Mode::Alert,
            Recycle::Instance,
            missing(),
            false,
        );
        let Decision::NoChange { why, would_apply } = d else {
            panic!("alert must not apply: {d:?}")
        };
        assert!(why.contains("MODE=alert"));
        assert_eq!(would_apply.len(), 2);
    }

    #[test]
    fn main_route_table_is_guarded_unless_shared_tables_are_allowed() {
        let mut s = fixture::seed();
        s.vpc_route_tables.retain(|t| t.id != NEW_TABLE);
        s.route_table = s
            .vpc_route_tables
            .iter()
            .find(|t| t.main)
            .cloned()
            .expect("main");
        let d = decide(&s, Mode::Remediate, Recycle::Instance, missing(), false);
        assert!(
            matches!(
                d,
                Decision::Blocked {
                    guard: Guard::SharedRouteTable,
                    ..
                }
            ),
            "{d:?}"
        );
        let d = decide(&s, Mode::Remediate, Recycle::Instance, missing(), true);
        assert!(matches!(d, Decision::Apply { .. }), "{d:?}");
    }

    #[test]
    fn table_serving_other_subnets_is_guarded() {
        let mut t = s_table();
        t.subnets.push("subnet-someone-else".into());
        let s = fixture::seed().with_route_table(t);
        let d = decide(&s, Mode::Remediate, Recycle::Instance, missing(), false);
        let Decision::Blocked { guard, detail, .. } = d else {
            panic!("expected blocked")
        };
        assert_eq!(guard, Guard::SharedRouteTable);
        assert!(detail.contains("subnet-someone-else"));
    }

    fn s_table() -> crate::snapshot::RouteTable {
        table(NEW_TABLE, false, &[NEW_SUBNET], vec![local()])
    }

    #[test]
    fn live_routes_are_never_planned_for_change() {
        for target in [
            RouteTarget::TransitGateway("tgw-1".into()),
            RouteTarget::NatGateway(NAT_A.into()),
            RouteTarget::VpcEndpoint("vpce-firewall".into()),
            RouteTarget::VpcPeering("pcx-1".into()),
        ] {
            let s = fixture::seed().with_new_subnet_default(target.clone());
            assert!(!default_route_is_dead(&s), "{target:?}");
            let d = decide(&s, Mode::Remediate, Recycle::Instance, missing(), true);
            assert!(
                matches!(d, Decision::NoChange { .. }),
                "{target:?} gave {d:?}"
            );
        }
    }

    #[test]
    fn dead_nat_route_is_replaced() {
        let mut s =
            fixture::seed().with_new_subnet_default(RouteTarget::NatGateway("nat-0dead".into()));
        s.nat_gateways
            .push(nat("nat-0dead", PUBLIC_SUBNET_B, "us-west-2b", "deleted"));
        let d = decide(&s, Mode::Remediate, Recycle::None, missing(), false);
        assert_eq!(
            d,
            Decision::Apply {
                actions: vec![PlannedAction::ReplaceDefaultRoute {
                    route_table_id: NEW_TABLE.into(),
                    nat_gateway_id: NAT_A.into(),
                    previous_target: "nat-0dead".into()
                }],
                recycle_skipped: None
            }
        );
    }

    #[test]
    fn nodegroup_recycle_is_refused_while_nodes_of_the_nodegroup_are_registered() {
        let d = decide(
            &fixture::seed(),
            Mode::Remediate,
            Recycle::Nodegroup,
            Registration::Missing { nodegroup_nodes: 2 },
            false,
        );
        let Decision::Apply {
            actions,
            recycle_skipped,
        } = d
        else {
            panic!("route fix still applies")
        };
        assert_eq!(actions.len(), 1);
        assert_eq!(
            recycle_skipped.map(|(g, _)| g),
            Some(Guard::NodegroupHasRegisteredNodes)
        );

        let d = decide(
            &fixture::seed(),
            Mode::Remediate,
            Recycle::Nodegroup,
            missing(),
            false,
        );
        let Decision::Apply { actions, .. } = d else {
            panic!("expected apply")
        };
        assert_eq!(
            actions[1],
            PlannedAction::RescaleNodegroup {
                cluster: "eks-workshop".into(),
                nodegroup: "new_nodegroup_2".into(),
                desired_size: 1
            }
        );
    }

    #[test]
    fn unknown_registration_still_fixes_a_definitive_blocker_but_not_by_rescaling() {
        let reg = Registration::Unknown {
            reason: "403".into(),
        };
        let d = decide(
            &fixture::seed(),
            Mode::Remediate,
            Recycle::Nodegroup,
            reg.clone(),
            false,
        );
        let Decision::Apply {
            actions,
            recycle_skipped,
        } = d
        else {
            panic!("expected apply")
        };
        assert!(actions[0].is_route_change());
        assert_eq!(
            recycle_skipped.map(|(g, _)| g),
            Some(Guard::RegistrationUnknown)
        );
        let d = decide(
            &fixture::seed(),
            Mode::Remediate,
            Recycle::Instance,
            reg,
            false,
        );
        assert!(
            matches!(d, Decision::Apply { ref actions, .. } if actions.len() == 2),
            "{d:?}"
        );
    }

    #[test]
    fn every_action_has_an_equivalent_cli_command() {
        let d = decide(
            &fixture::seed(),
            Mode::Alert,
            Recycle::Nodegroup,
            missing(),
            false,
        );
        let Decision::NoChange { would_apply, .. } = d else {
            panic!()
        };
        let cmds: Vec<String> = would_apply.iter().map(|a| a.command("us-west-2")).collect();
        assert!(cmds[0].starts_with("aws ec2 create-route"));
        assert!(
            cmds[1].contains("desiredSize=0")
                && cmds[1].contains("wait nodegroup-active")
                && cmds[1].ends_with("desiredSize=1")
        );
    }
}
