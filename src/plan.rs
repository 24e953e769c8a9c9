//! The remediation plan: a pure decision from the snapshot, the findings and the configuration. Every
//! guard that stops a change is named. The write-time re-check of the route table is decided here too.

use serde::Serialize;

use crate::action::{Action, Blocked, Guard, RecycleStep, RouteFix};
use crate::config::{Mode, Recycle};
use crate::egress::{self, default_route_state, DefaultRoute};
use crate::finding::{Finding, Severity};
use crate::registration::Registration;
use crate::snapshot::{GroupMember, NatState, RouteState, RouteTable, Snapshot};
use crate::target::{NodeSource, Target};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "kebab-case")]
pub enum Decision {
    /// Nothing will be written; `why` is told to the reader. `would_apply` is what remediate mode would do.
    NoChange {
        why: String,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        would_apply: Vec<Action>,
    },
    /// A fix exists but a guard stops it.
    Blocked {
        blocked: Blocked,
        would_apply: Vec<Action>,
    },
    /// Apply these, in order. `recycle_skipped` says why no recycle step follows the route fix, if none does.
    Apply {
        actions: Vec<Action>,
        #[serde(skip_serializing_if = "Option::is_none")]
        recycle_skipped: Option<Blocked>,
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

fn no_change(why: impl Into<String>) -> Decision {
    Decision::NoChange {
        why: why.into(),
        would_apply: vec![],
    }
}

pub fn plan(input: &PlanInput) -> Decision {
    let blockers: Vec<&Finding> = input
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Blocker)
        .collect();
    if blockers.is_empty() {
        return no_change("no blocking cause was found, so there is nothing safe to change");
    }
    if input.registration.is_registered() {
        return no_change("the node is registered");
    }
    let Some(fix) = blockers.iter().find_map(|f| f.remedy.fix.as_ref()) else {
        let codes: Vec<&str> = blockers.iter().map(|f| f.code.as_str()).collect();
        return no_change(format!(
            "{} cannot be fixed automatically; run the commands in the report",
            codes.join(", ")
        ));
    };
    let recycle = other_causes(&blockers).map_or_else(|| recycle_step(input), Err);
    let (recycle_action, recycle_skipped) = match recycle {
        Ok(step) => (step.map(Action::Recycle), None),
        Err(blocked) => (None, Some(blocked)),
    };
    let mut would_apply = vec![Action::Route(fix.clone())];
    would_apply.extend(recycle_action);
    let decision = match route_guard(input, fix) {
        Some(blocked) => Decision::Blocked {
            blocked,
            would_apply: would_apply.clone(),
        },
        None => Decision::Apply {
            actions: would_apply.clone(),
            recycle_skipped,
        },
    };
    match input.mode {
        Mode::Alert => alert_only(decision, would_apply),
        Mode::Remediate => decision,
    }
}

/// Only the recycle step: the route is already right (an earlier invocation fixed it) but this instance
/// launched before the fix and will never join by itself.
pub fn replace_instance_only(input: &PlanInput) -> Decision {
    match recycle_step(input) {
        Ok(Some(step)) => Decision::Apply {
            actions: vec![Action::Recycle(step)],
            recycle_skipped: None,
        },
        Ok(None) => {
            no_change("RECYCLE=none: the instance that launched before the fix is left to a human")
        }
        Err(blocked) => Decision::Blocked {
            blocked,
            would_apply: vec![],
        },
    }
}

/// No recycle while more than `percent` of the group is already being replaced or unhealthy (one
/// replacement at a time is always allowed, as in a small group). Stuck instances look `InService` and
/// healthy to Auto Scaling, so they do not count: only replacements in flight and unhealthy ones do.
pub fn blast_radius(members: &[GroupMember], this: &str, percent: u32) -> Option<Blocked> {
    let busy: Vec<&str> = members
        .iter()
        .filter(|m| m.id != this && !(m.in_service && m.healthy))
        .map(|m| m.id.as_str())
        .collect();
    let total = members.len().max(1);
    let allowed = (total * percent as usize / 100).max(1);
    (busy.len() >= allowed).then(|| {
        Blocked::new(
            Guard::BlastRadius,
            format!(
                "{} of {total} instances of the group are already being replaced or unhealthy ({}); MAX_REPLACING_PERCENT={percent} allows {allowed} at a time",
                busy.len(),
                busy.join(", ")
            ),
        )
    })
}

/// Blockers the route fix does not cure: a replacement would not join either while they hold, so the
/// route is fixed but the instance is not recycled.
fn other_causes(blockers: &[&Finding]) -> Option<Blocked> {
    let others: Vec<&str> = blockers
        .iter()
        .filter(|f| f.remedy.fix.is_none())
        .map(|f| f.code.as_str())
        .collect();
    (!others.is_empty()).then(|| {
        Blocked::new(
            Guard::OtherCauseRemains,
            format!(
                "{} still hold(s): a replacement would not join either; fix that first, then replace the instance",
                others.join(", ")
            ),
        )
    })
}

/// Alert mode changes nothing but says what remediate mode would do.
fn alert_only(decision: Decision, would_apply: Vec<Action>) -> Decision {
    let then = match &decision {
        Decision::Blocked { blocked, .. } => {
            format!("remediate mode would be stopped by guard {}", blocked.guard)
        }
        _ => "remediate mode would apply the actions listed".to_string(),
    };
    Decision::NoChange {
        why: format!("MODE=alert changes nothing; {then}"),
        would_apply,
    }
}

/// Guards on the route write itself.
fn route_guard(input: &PlanInput, fix: &RouteFix) -> Option<Blocked> {
    let s = input.snapshot;
    let table = &s.route_table;
    if table.id != fix.route_table_id() {
        return Some(Blocked::new(
            Guard::RouteChangedSinceSnapshot,
            format!(
                "the fix targets {} but the subnet is routed by {}",
                fix.route_table_id(),
                table.id
            ),
        ));
    }
    route_state_guard(s, fix)
        .or_else(|| design_guard(s))
        .or_else(|| shared_table_guard(input))
}

/// Never add internet egress to a subnet whose design routes elsewhere (transit gateway, VPN, peering,
/// appliance routes) or relies on private endpoints.
fn design_guard(s: &Snapshot) -> Option<Blocked> {
    let design = egress::design(s);
    if !design.is_deliberate() {
        return None;
    }
    let mut why: Vec<String> = design
        .routes_elsewhere
        .iter()
        .map(|r| format!("{} -> {}", r.destination, r.target.id()))
        .collect();
    why.extend(
        design
            .private_endpoints
            .iter()
            .map(|e| format!("{} through {}", e.service.as_str(), e.vpc_endpoint_id)),
    );
    Some(Blocked::new(
        Guard::DeliberateEgressDesign,
        format!(
            "{} is designed to reach out some other way ({}); internet egress is added only by a human who decides so",
            s.subnet.id,
            why.join(", ")
        ),
    ))
}

/// The fix must match the one decision about the default route: create where it is missing, replace
/// where it is dead and replaceable; never touch a live route.
fn route_state_guard(s: &Snapshot, fix: &RouteFix) -> Option<Blocked> {
    let table = &s.route_table.id;
    let live = |what: String| {
        Some(Blocked::new(
            Guard::LiveDefaultRoute,
            format!("the default egress of {table} {what}, and is never changed automatically"),
        ))
    };
    match (fix, default_route_state(s)) {
        (RouteFix::CreateDefaultRoute { .. }, DefaultRoute::Missing { .. }) => None,
        (
            RouteFix::ReplaceDefaultRoute { previous, .. },
            DefaultRoute::Dead {
                route,
                replaceable: true,
                ..
            },
        ) if &route == previous => None,
        (RouteFix::ReplaceDefaultRoute { .. }, DefaultRoute::Missing { .. }) => Some(Blocked::new(
            Guard::RouteChangedSinceSnapshot,
            format!("{table} has no default route to replace"),
        )),
        (_, DefaultRoute::Alive { routes, .. }) => live(format!(
            "is alive ({})",
            routes
                .iter()
                .map(|r| r.target.id())
                .collect::<Vec<_>>()
                .join(", ")
        )),
        (_, DefaultRoute::Dead { route, .. }) => live(format!(
            "-> {} is dead but leads where this function does not replace routes",
            route.target.id()
        )),
        (_, DefaultRoute::Unknown { why }) => live(format!("cannot be judged ({why})")),
    }
}

fn shared_table_guard(input: &PlanInput) -> Option<Blocked> {
    if input.allow_shared_route_tables {
        return None;
    }
    let s = input.snapshot;
    let table = &s.route_table;
    if table.main {
        return Some(Blocked::new(
            Guard::SharedRouteTable,
            format!(
                "{} is the main route table of {}: it serves every subnet without an explicit association; set ALLOW_SHARED_ROUTE_TABLES=true to let it be changed, or associate {} with a table of its own",
                table.id, s.instance.vpc_id, s.subnet.id
            ),
        ));
    }
    let outside: Vec<&str> = table
        .subnets
        .iter()
        .filter(|sub| !s.group_subnets.contains(sub))
        .map(String::as_str)
        .collect();
    (!outside.is_empty()).then(|| {
        Blocked::new(
            Guard::SharedRouteTable,
            format!(
                "{} also serves {} outside this group; set ALLOW_SHARED_ROUTE_TABLES=true to let it be changed",
                table.id,
                outside.join(", ")
            ),
        )
    })
}

/// The recycle step for `RECYCLE`, or the guard that stops it (the route fix still applies).
fn recycle_step(input: &PlanInput) -> Result<Option<RecycleStep>, Blocked> {
    match input.recycle {
        Recycle::None => Ok(None),
        Recycle::Instance => Ok(Some(replace_instance(
            input.target,
            &input.snapshot.instance.id,
        ))),
        Recycle::Nodegroup => nodegroup_rescale(input).map(Some),
    }
}

/// How the instance is replaced, by what launched it: its Auto Scaling group or Karpenter replace a
/// terminated instance; EKS owns an Auto Mode instance (a human deletes its NodeClaim); nothing replaces
/// a standalone one (a human does).
pub fn replace_instance(target: &Target, instance_id: &str) -> RecycleStep {
    let instance_id = instance_id.to_string();
    match &target.source {
        NodeSource::AutoScalingGroup { name } => RecycleStep::TerminateInstance {
            instance_id,
            asg_name: name.clone(),
        },
        NodeSource::Karpenter { nodepool, .. } => RecycleStep::TerminateKarpenterInstance {
            instance_id,
            nodepool: nodepool.clone(),
        },
        NodeSource::AutoMode {
            nodepool,
            nodeclaim,
        } => RecycleStep::DeleteNodeClaim {
            instance_id,
            nodepool: nodepool.clone(),
            nodeclaim: nodeclaim.clone(),
        },
        NodeSource::Standalone => RecycleStep::ReplaceStandaloneInstance { instance_id },
    }
}

fn nodegroup_rescale(input: &PlanInput) -> Result<RecycleStep, Blocked> {
    let s = input.snapshot;
    let (Some(name), Some(ng)) = (&input.target.nodegroup, &s.nodegroup) else {
        return Err(Blocked::new(
            Guard::NotAManagedNodegroup,
            format!(
                "{} is not a managed nodegroup; use RECYCLE=instance to replace the stuck instance",
                input.target.source.describe()
            ),
        ));
    };
    match input.registration {
        Registration::Missing { nodegroup_nodes: 0 } | Registration::Registered { .. } => {
            Ok(RecycleStep::RescaleNodegroup {
                cluster: s.cluster.name.clone(),
                nodegroup: name.clone(),
                desired_size: ng.desired_size.unwrap_or(1).max(1),
            })
        }
        Registration::Missing { nodegroup_nodes } => Err(Blocked::new(
            Guard::NodegroupHasRegisteredNodes,
            format!(
                "{nodegroup_nodes} node(s) of {name} are registered; scaling to 0 would take them down"
            ),
        )),
        Registration::Unknown { reason } => Err(Blocked::new(
            Guard::RegistrationUnknown,
            format!("cannot tell whether nodes of {name} are registered: {reason}"),
        )),
    }
}

/// What the route table looks like right before the write, compared with what the fix expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recheck {
    /// Exactly as expected: write.
    Write,
    /// Someone already made exactly this change.
    AlreadyDone(String),
    /// The table changed meanwhile: leave it as it is.
    Changed(Blocked),
}

/// The NAT gateway the fix points at, as it is right before the write: it must still be `available`
/// (deleted or failed meanwhile: the write would create a dead route).
pub fn recheck_nat(fix: &RouteFix, state: Option<&NatState>) -> Option<Blocked> {
    let nat = fix.nat_gateway_id();
    let why = match state {
        Some(NatState::Available) => return None,
        Some(other) => format!("NAT gateway {nat} is {other} now"),
        None => format!("NAT gateway {nat} no longer exists"),
    };
    Some(Blocked::new(
        Guard::RouteChangedSinceSnapshot,
        format!("{why}; nothing was written, the next event diagnoses afresh"),
    ))
}

/// Compares the table as it is now with the fix: the whole default route (target and state) must still
/// be what the snapshot saw.
pub fn recheck_route(fix: &RouteFix, now: &RouteTable) -> Recheck {
    let table = &now.id;
    let nat = fix.nat_gateway_id();
    let changed =
        |detail: String| Recheck::Changed(Blocked::new(Guard::RouteChangedSinceSnapshot, detail));
    match (fix, now.default_route()) {
        (_, Some(r)) if r.target.id() == nat && r.state == RouteState::Active => Recheck::AlreadyDone(format!(
            "{table} already routes 0.0.0.0/0 -> {nat} (written by another invocation or a person)"
        )),
        (RouteFix::CreateDefaultRoute { .. }, None) => Recheck::Write,
        (RouteFix::CreateDefaultRoute { .. }, Some(r)) => changed(format!(
            "{table} now has 0.0.0.0/0 -> {} ({}); it is left as it is",
            r.target.id(),
            r.state
        )),
        (RouteFix::ReplaceDefaultRoute { previous, .. }, Some(r)) if r == previous => Recheck::Write,
        (RouteFix::ReplaceDefaultRoute { previous, .. }, Some(r)) => changed(format!(
            "{table} now routes 0.0.0.0/0 -> {} ({}) instead of the dead -> {} ({}); it is left as it is",
            r.target.id(),
            r.state,
            previous.target.id(),
            previous.state
        )),
        (RouteFix::ReplaceDefaultRoute { .. }, None) => changed(format!(
            "{table} no longer has the dead default route; it is left as it is"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::{self, *};
    use crate::rules::diagnose;
    use crate::snapshot::RouteTarget;

    fn target() -> Target {
        Target::auto_scaling(
            "eks-workshop",
            Some("new_nodegroup_2"),
            "eks-new_nodegroup_2-abcd",
        )
    }

    fn decide(
        s: &Snapshot,
        mode: Mode,
        recycle: Recycle,
        reg: Registration,
        allow_shared: bool,
    ) -> Decision {
        let findings = diagnose(s).findings;
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
                    Action::Route(RouteFix::CreateDefaultRoute {
                        route_table_id: NEW_TABLE.into(),
                        nat_gateway_id: NAT_A.into()
                    }),
                    Action::Recycle(RecycleStep::TerminateInstance {
                        instance_id: INSTANCE.into(),
                        asg_name: "eks-new_nodegroup_2-abcd".into()
                    }),
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
                    blocked: Blocked {
                        guard: Guard::SharedRouteTable,
                        ..
                    },
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
        let Decision::Blocked { blocked, .. } = d else {
            panic!("expected blocked")
        };
        assert_eq!(blocked.guard, Guard::SharedRouteTable);
        assert!(blocked.detail.contains("subnet-someone-else"));
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
            assert!(
                matches!(default_route_state(&s), DefaultRoute::Alive { .. }),
                "{target:?}"
            );
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
                actions: vec![Action::Route(RouteFix::ReplaceDefaultRoute {
                    route_table_id: NEW_TABLE.into(),
                    nat_gateway_id: NAT_A.into(),
                    previous: s.route_table.routes[1].clone(),
                })],
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
            recycle_skipped.map(|b| b.guard),
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
            Action::Recycle(RecycleStep::RescaleNodegroup {
                cluster: "eks-workshop".into(),
                nodegroup: "new_nodegroup_2".into(),
                desired_size: 1
            })
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
            recycle_skipped.map(|b| b.guard),
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
        let cmds: Vec<String> = would_apply
            .iter()
            .map(|a| crate::commands::action("us-west-2", a).to_string())
            .collect();
        assert!(cmds[0].starts_with("aws ec2 create-route"));
        assert!(
            cmds[1].contains("desiredSize=0")
                && cmds[1].contains("wait nodegroup-active")
                && cmds[1].ends_with("desiredSize=1")
        );
    }

    fn seed_table_now(default: Option<crate::snapshot::Route>) -> RouteTable {
        let mut routes = vec![local()];
        routes.extend(default);
        table(NEW_TABLE, false, &[NEW_SUBNET], routes)
    }

    fn create() -> RouteFix {
        RouteFix::CreateDefaultRoute {
            route_table_id: NEW_TABLE.into(),
            nat_gateway_id: NAT_A.into(),
        }
    }

    #[test]
    fn write_time_recheck_writes_only_onto_the_table_the_snapshot_saw() {
        assert_eq!(
            recheck_route(&create(), &seed_table_now(None)),
            Recheck::Write
        );
        let ours = route("0.0.0.0/0", RouteTarget::NatGateway(NAT_A.into()));
        assert!(matches!(
            recheck_route(&create(), &seed_table_now(Some(ours))),
            Recheck::AlreadyDone(_)
        ));
        let theirs = route("0.0.0.0/0", RouteTarget::TransitGateway("tgw-1".into()));
        assert!(matches!(
            recheck_route(&create(), &seed_table_now(Some(theirs))),
            Recheck::Changed(Blocked {
                guard: Guard::RouteChangedSinceSnapshot,
                ..
            })
        ));
    }

    #[test]
    fn a_replace_compares_the_whole_route_not_just_its_target() {
        let dead = crate::snapshot::Route {
            state: RouteState::Blackhole,
            ..route("0.0.0.0/0", RouteTarget::NatGateway("nat-0dead".into()))
        };
        let fix = RouteFix::ReplaceDefaultRoute {
            route_table_id: NEW_TABLE.into(),
            nat_gateway_id: NAT_A.into(),
            previous: dead.clone(),
        };
        assert_eq!(
            recheck_route(&fix, &seed_table_now(Some(dead.clone()))),
            Recheck::Write
        );
        let revived = crate::snapshot::Route {
            state: RouteState::Active,
            ..dead
        };
        assert!(matches!(
            recheck_route(&fix, &seed_table_now(Some(revived))),
            Recheck::Changed(_)
        ));
        assert!(matches!(
            recheck_route(&fix, &seed_table_now(None)),
            Recheck::Changed(_)
        ));
    }

    #[test]
    fn the_route_is_fixed_but_the_instance_kept_while_another_blocker_remains() {
        let s = fixture::seed().with_nacl_entries(vec![
            nacl_entry(100, true, "6", Some((443, 443)), "0.0.0.0/0", "deny"),
            nacl_entry(200, true, "-1", None, "0.0.0.0/0", "allow"),
            nacl_entry(100, false, "-1", None, "0.0.0.0/0", "allow"),
        ]);
        let d = decide(&s, Mode::Remediate, Recycle::Instance, missing(), false);
        let Decision::Apply {
            actions,
            recycle_skipped,
        } = d
        else {
            panic!("the route fix still applies: {d:?}")
        };
        assert_eq!(actions.len(), 1, "route only: {actions:?}");
        let blocked = recycle_skipped.expect("recycle skipped");
        assert_eq!(blocked.guard, Guard::OtherCauseRemains);
        assert!(
            blocked.detail.contains("nacl-blocks-traffic"),
            "{}",
            blocked.detail
        );
    }

    fn member(id: &str, in_service: bool, healthy: bool) -> GroupMember {
        GroupMember {
            id: id.into(),
            in_service,
            healthy,
        }
    }

    #[test]
    fn recycling_waits_while_too_much_of_the_group_is_already_being_replaced() {
        let stuck = |id: &str| member(id, true, true);
        let group: Vec<GroupMember> = (0..10).map(|i| stuck(&format!("i-{i}"))).collect();
        assert_eq!(
            blast_radius(&group, "i-0", 20),
            None,
            "stuck instances look in service"
        );
        let mut busy = group.clone();
        busy[1] = member("i-1", false, true);
        assert_eq!(
            blast_radius(&busy, "i-0", 20),
            None,
            "1 of 10 in flight, 2 allowed"
        );
        busy[2] = member("i-2", true, false);
        let blocked = blast_radius(&busy, "i-0", 20).expect("2 of 10 busy");
        assert_eq!(blocked.guard, Guard::BlastRadius);
        assert!(blocked.detail.contains("i-1, i-2"), "{}", blocked.detail);
        let small = vec![stuck("i-a"), member("i-b", false, true)];
        assert!(
            blast_radius(&small, "i-a", 20).is_some(),
            "one at a time in a small group"
        );
        assert_eq!(
            blast_radius(&small, "i-b", 20),
            None,
            "the instance itself does not count"
        );
    }

    #[test]
    fn a_nat_deleted_between_the_plan_and_the_write_stops_the_write() {
        assert_eq!(recheck_nat(&create(), Some(&NatState::Available)), None);
        for state in [Some(NatState::Deleted), Some(NatState::Deleting), None] {
            let blocked = recheck_nat(&create(), state.as_ref()).expect("blocked");
            assert_eq!(blocked.guard, Guard::RouteChangedSinceSnapshot);
            assert!(blocked.detail.contains(NAT_A), "{}", blocked.detail);
        }
    }

    #[test]
    fn a_pending_nat_is_not_a_dead_route() {
        let mut s =
            fixture::seed().with_new_subnet_default(RouteTarget::NatGateway("nat-new".into()));
        s.nat_gateways
            .push(nat("nat-new", PUBLIC_SUBNET_B, "us-west-2b", "pending"));
        assert!(matches!(
            default_route_state(&s),
            DefaultRoute::Alive { .. }
        ));
        let d = decide(&s, Mode::Remediate, Recycle::Instance, missing(), false);
        assert!(matches!(d, Decision::NoChange { .. }), "{d:?}");
    }

    fn decide_source(source: NodeSource, recycle: Recycle, mode: Mode) -> Decision {
        let s = fixture::seed();
        let findings = diagnose(&s).findings;
        let target = Target {
            cluster: "eks-workshop".into(),
            nodegroup: None,
            source,
        };
        plan(&PlanInput {
            snapshot: &s,
            findings: &findings,
            registration: &missing(),
            target: &target,
            mode,
            recycle,
            allow_shared_route_tables: false,
        })
    }

    fn karpenter() -> NodeSource {
        NodeSource::Karpenter {
            nodepool: "default".into(),
            nodeclaim: None,
        }
    }

    #[test]
    fn a_karpenter_node_gets_the_route_then_its_instance_terminated() {
        let d = decide_source(karpenter(), Recycle::Instance, Mode::Remediate);
        let Decision::Apply { actions, .. } = d else {
            panic!("{d:?}")
        };
        assert_eq!(
            actions[1],
            Action::Recycle(RecycleStep::TerminateKarpenterInstance {
                instance_id: INSTANCE.into(),
                nodepool: "default".into()
            })
        );
        assert!(actions[1].is_performed_recycle());
    }

    #[test]
    fn an_auto_mode_node_gets_the_route_and_a_nodeclaim_step_for_a_human() {
        let source = NodeSource::AutoMode {
            nodepool: "general-purpose".into(),
            nodeclaim: Some("general-purpose-abcde".into()),
        };
        let d = decide_source(source, Recycle::Instance, Mode::Remediate);
        let Decision::Apply { actions, .. } = d else {
            panic!("{d:?}")
        };
        assert!(actions[0].is_route_change());
        assert!(matches!(
            &actions[1],
            Action::Recycle(RecycleStep::DeleteNodeClaim { nodeclaim: Some(c), .. }) if c == "general-purpose-abcde"
        ));
        assert!(!actions[1].is_performed_recycle(), "EKS owns the instance");
    }

    #[test]
    fn a_standalone_instance_is_never_terminated_by_the_function() {
        let d = decide_source(NodeSource::Standalone, Recycle::Instance, Mode::Remediate);
        let Decision::Apply { actions, .. } = d else {
            panic!("{d:?}")
        };
        assert!(matches!(
            actions[1],
            Action::Recycle(RecycleStep::ReplaceStandaloneInstance { .. })
        ));
        assert!(!actions[1].is_performed_recycle());
    }

    #[test]
    fn a_nodegroup_rescale_does_not_apply_to_a_nodepool() {
        let d = decide_source(karpenter(), Recycle::Nodegroup, Mode::Remediate);
        let Decision::Apply {
            actions,
            recycle_skipped: Some(blocked),
        } = d
        else {
            panic!("{d:?}")
        };
        assert_eq!(actions.len(), 1, "the route is still fixed");
        assert_eq!(blocked.guard, Guard::NotAManagedNodegroup);
        assert!(
            blocked.detail.contains("Karpenter NodePool default"),
            "{}",
            blocked.detail
        );
    }
}
