//! What remediation does, as data: the one route-fix type, the recycle steps, the guards that stop them
//! and what happened to each step. Deciding lives in `plan`, doing in `apply`.

use serde::{Serialize, Serializer};

use crate::names::public_names;
use crate::snapshot::{Route, DEFAULT_ROUTE};

/// The one route change this function knows how to make safely: a default route to a NAT gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum RouteFix {
    /// `CreateRoute 0.0.0.0/0 -> nat` where the table has no default route.
    CreateDefaultRoute {
        route_table_id: String,
        nat_gateway_id: String,
    },
    /// `ReplaceRoute 0.0.0.0/0 -> nat` over a dead default route; `previous` is the whole route as seen,
    /// so the write-time re-read can tell whether anyone changed it meanwhile.
    ReplaceDefaultRoute {
        route_table_id: String,
        nat_gateway_id: String,
        #[serde(rename = "previous_target", serialize_with = "route_target_id")]
        previous: Route,
    },
}

fn route_target_id<S: Serializer>(route: &Route, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(route.target.id())
}

impl RouteFix {
    pub fn route_table_id(&self) -> &str {
        match self {
            RouteFix::CreateDefaultRoute { route_table_id, .. }
            | RouteFix::ReplaceDefaultRoute { route_table_id, .. } => route_table_id,
        }
    }

    pub fn nat_gateway_id(&self) -> &str {
        match self {
            RouteFix::CreateDefaultRoute { nat_gateway_id, .. }
            | RouteFix::ReplaceDefaultRoute { nat_gateway_id, .. } => nat_gateway_id,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            RouteFix::CreateDefaultRoute {
                route_table_id,
                nat_gateway_id,
            } => format!("create route {DEFAULT_ROUTE} -> {nat_gateway_id} in {route_table_id}"),
            RouteFix::ReplaceDefaultRoute {
                route_table_id,
                nat_gateway_id,
                previous,
            } => format!(
                "replace route {DEFAULT_ROUTE} -> {} with -> {nat_gateway_id} in {route_table_id}",
                previous.target.id()
            ),
        }
    }
}

/// How the stuck instance is replaced once its subnet has a way out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum RecycleStep {
    /// `TerminateInstanceInAutoScalingGroup` without decrementing desired capacity.
    TerminateInstance {
        instance_id: String,
        asg_name: String,
    },
    /// Desired 0, wait for ACTIVE, then back to `desired_size` (the manual fix of the incident).
    RescaleNodegroup {
        cluster: String,
        nodegroup: String,
        desired_size: i32,
    },
    /// `TerminateInstances` of a Karpenter node: its NodePool launches a replacement.
    TerminateKarpenterInstance {
        instance_id: String,
        nodepool: String,
    },
    /// For a human: EKS Auto Mode owns the instance (an EC2 managed instance), so its NodeClaim is deleted
    /// and EKS launches a replacement. This function never does it.
    #[serde(rename = "delete-nodeclaim")]
    DeleteNodeClaim {
        instance_id: String,
        nodepool: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        nodeclaim: Option<String>,
    },
    /// For a human: nothing replaces an instance outside an Auto Scaling group or NodePool by itself, so
    /// this function never terminates it.
    ReplaceStandaloneInstance { instance_id: String },
}

impl RecycleStep {
    pub fn describe(&self) -> String {
        match self {
            RecycleStep::TerminateInstance {
                instance_id,
                asg_name,
            } => format!(
                "terminate {instance_id} in {asg_name} without decrementing desired capacity (a replacement launches)"
            ),
            RecycleStep::RescaleNodegroup {
                cluster,
                nodegroup,
                desired_size,
            } => format!(
                "scale nodegroup {cluster}/{nodegroup} to 0, wait for ACTIVE, then back to {desired_size}"
            ),
            RecycleStep::TerminateKarpenterInstance {
                instance_id,
                nodepool,
            } => format!("terminate {instance_id} (Karpenter NodePool {nodepool} launches a replacement)"),
            RecycleStep::DeleteNodeClaim {
                instance_id,
                nodepool,
                nodeclaim,
            } => {
                let claim = nodeclaim.as_deref().map(|c| format!(" {c}")).unwrap_or_default();
                format!(
                    "delete the NodeClaim{claim} of {instance_id} (EKS Auto Mode owns the instance; NodePool {nodepool} launches a replacement)"
                )
            }
            RecycleStep::ReplaceStandaloneInstance { instance_id } => format!(
                "replace {instance_id} by hand: it belongs to no Auto Scaling group or NodePool, so nothing launches a replacement by itself"
            ),
        }
    }

    /// Whether this function carries the step out; the others are for a human, who gets the command.
    pub fn performed_here(&self) -> bool {
        !matches!(
            self,
            RecycleStep::DeleteNodeClaim { .. } | RecycleStep::ReplaceStandaloneInstance { .. }
        )
    }
}

/// One step of a remediation. Serialized as the step itself (`{"kind": "create-default-route", …}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Action {
    Route(RouteFix),
    Recycle(RecycleStep),
}

impl Action {
    pub fn describe(&self) -> String {
        match self {
            Action::Route(fix) => fix.describe(),
            Action::Recycle(step) => step.describe(),
        }
    }

    pub fn is_route_change(&self) -> bool {
        matches!(self, Action::Route(_))
    }

    /// A recycle this function carries out itself (what the loop breaker and the blast radius guard).
    pub fn is_performed_recycle(&self) -> bool {
        matches!(self, Action::Recycle(step) if step.performed_here())
    }
}

public_names! {
    /// A named reason for not making a change.
    pub enum Guard {
        /// The default route is alive, or leads somewhere the function cannot see beyond: never touched.
        LiveDefaultRoute => "live-default-route",
        /// The subnet's design routes elsewhere (transit gateway, VPN, peering, appliance, private endpoints).
        DeliberateEgressDesign => "deliberate-egress-design",
        /// The table is the VPC main table or serves subnets outside the group.
        SharedRouteTable => "shared-route-table",
        /// `RECYCLE=nodegroup` is refused while any node of the nodegroup is registered.
        NodegroupHasRegisteredNodes => "nodegroup-has-registered-nodes",
        /// The Kubernetes API could not tell whether nodes of the nodegroup are registered.
        RegistrationUnknown => "registration-unknown",
        /// `RECYCLE=nodegroup` on a self-managed group, which has no nodegroup to rescale.
        NotAManagedNodegroup => "not-a-managed-nodegroup",
        /// The route table changed between the snapshot and the write.
        RouteChangedSinceSnapshot => "route-changed-since-snapshot",
        /// `MAX_RECYCLES_PER_HOUR` remediations of this group in the last hour.
        LoopBreaker => "loop-breaker",
        /// A default route this function added is gone again: drift against whatever manages the table.
        RouteDrift => "route-drift",
        /// Another blocker (not fixable automatically) remains, so replacing the instance cannot help yet.
        OtherCauseRemains => "other-cause-remains",
        /// Too much of the group is already being replaced: the event comes back later.
        BlastRadius => "blast-radius",
    }
}

/// A guard that stopped something, with the sentence that says why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocked {
    pub guard: Guard,
    pub detail: String,
}

impl Blocked {
    pub fn new(guard: Guard, detail: impl Into<String>) -> Blocked {
        Blocked {
            guard,
            detail: detail.into(),
        }
    }
}

public_names! {
    /// What happened to one action of a remediation.
    pub enum ActionStatus {
        Applied => "applied",
        /// Someone (another invocation, a human) already made exactly this change.
        AlreadyPresent => "already-present",
        /// Not attempted; the detail says which guard or earlier failure stopped it.
        Skipped => "skipped",
        Failed => "failed",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionResult {
    pub action: Action,
    pub status: ActionStatus,
    pub detail: String,
    /// For a failed step: whether trying again can help.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub retryable: bool,
}

impl ActionResult {
    pub fn new(action: Action, status: ActionStatus, detail: impl Into<String>) -> ActionResult {
        ActionResult {
            action,
            status,
            detail: detail.into(),
            retryable: false,
        }
    }

    /// The step left the world as intended (by us or by someone before us).
    pub fn took_effect(&self) -> bool {
        matches!(
            self.status,
            ActionStatus::Applied | ActionStatus::AlreadyPresent
        )
    }
}
