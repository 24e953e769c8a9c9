//! Applies a plan. Reads the route table again right before writing, treats an identical route written by
//! someone else as success, and reports every step, including the ones it did not get to.

use std::time::Duration;

use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use tokio::time::Instant;

use crate::context::App;
use crate::error::{aws, Error, Result};
use crate::gather;
use crate::outcome::{ActionResult, ActionStatus, Outcome};
use crate::plan::{Guard, PlannedAction};
use crate::snapshot::RouteTarget;

/// Tag on the Auto Scaling group: when this function last changed the network for it (Unix seconds).
pub const TAG_REMEDIATED_AT: &str = "eks-node-join-remediator/remediated-at";
/// Tag on the Auto Scaling group: when a node of the group was last seen registered after a remediation.
pub const TAG_RESOLVED_AT: &str = "eks-node-join-remediator/resolved-at";

pub struct Execution {
    pub results: Vec<ActionResult>,
    /// Set when a guard stopped the route write at execution time (the route changed under us).
    pub blocked: Option<(Guard, String)>,
}

impl Execution {
    pub fn any_failed(&self) -> bool {
        self.results
            .iter()
            .any(|r| r.status == ActionStatus::Failed)
    }
}

/// The event's outcome after execution. A route change that failed means nothing was fixed: the event
/// fails, and is retried where that can help. A guard that stopped the write is named.
pub fn settle(planned: Vec<PlannedAction>, execution: Execution) -> Outcome {
    if let Some(failed) = execution
        .results
        .iter()
        .find(|r| r.action.is_route_change() && r.status == ActionStatus::Failed)
    {
        return Outcome::Failed {
            error: format!("{}: {}", failed.action.describe(), failed.detail),
            error_kind: "Remediation".to_string(),
            retryable: failed.retryable,
        };
    }
    match execution.blocked {
        Some((guard, detail)) => Outcome::RemediationBlocked {
            guard,
            detail,
            would_apply: planned,
            actions: execution.results,
        },
        None => Outcome::Remediated {
            actions: execution.results,
        },
    }
}

enum Step {
    Done(ActionStatus, String),
    Blocked(Guard, String),
}

/// Runs the actions in order. A route step that fails or is blocked stops the recycle steps after it:
/// replacing an instance cannot help while its subnet has no way out.
pub async fn execute(app: &App, actions: &[PlannedAction], deadline: Instant) -> Execution {
    let mut results = Vec::new();
    let mut blocked = None;
    let mut stop: Option<String> = None;
    for action in actions {
        if let Some(why) = &stop {
            results.push(ActionResult {
                action: action.clone(),
                status: ActionStatus::Skipped,
                detail: why.clone(),
                retryable: false,
            });
            continue;
        }
        let step = match action {
            PlannedAction::CreateDefaultRoute {
                route_table_id,
                nat_gateway_id,
            } => write_route(app, action, route_table_id, nat_gateway_id, None).await,
            PlannedAction::ReplaceDefaultRoute {
                route_table_id,
                nat_gateway_id,
                previous_target,
            } => {
                write_route(
                    app,
                    action,
                    route_table_id,
                    nat_gateway_id,
                    Some(previous_target),
                )
                .await
            }
            PlannedAction::TerminateInstance {
                instance_id,
                asg_name,
            } => terminate(app, instance_id, asg_name).await,
            PlannedAction::RescaleNodegroup {
                cluster,
                nodegroup,
                desired_size,
            } => rescale(app, cluster, nodegroup, *desired_size, deadline).await,
        };
        match step {
            Ok(Step::Done(status, detail)) => results.push(ActionResult {
                action: action.clone(),
                status,
                detail,
                retryable: false,
            }),
            Ok(Step::Blocked(guard, detail)) => {
                stop = Some(format!(
                    "not attempted: guard {} stopped the route change",
                    guard.as_str()
                ));
                blocked = Some((guard, detail));
            }
            Err(e) => {
                tracing::error!(action = %action.describe(), error = %e, "remediation step failed");
                if action.is_route_change() {
                    stop = Some("not attempted: the route change before it failed".to_string());
                }
                results.push(ActionResult {
                    action: action.clone(),
                    status: ActionStatus::Failed,
                    detail: e.to_string(),
                    retryable: e.is_retryable(),
                });
            }
        }
    }
    Execution { results, blocked }
}

async fn write_route(
    app: &App,
    action: &PlannedAction,
    table_id: &str,
    nat_id: &str,
    previous: Option<&String>,
) -> Result<Step> {
    let _lock = app.lock_route_table(table_id).await;
    let ec2 = &app.clients.ec2;
    let wanted = RouteTarget::NatGateway(nat_id.to_string());

    let current = gather::route_table_now(&app.clients, table_id)
        .await?
        .ok_or_else(|| Error::Remediation {
            step: action.describe(),
            message: format!("route table {table_id} no longer exists"),
            retryable: false,
        })?;
    let existing = current.default_route().map(|r| r.target.clone());
    match (&previous, &existing) {
        (_, Some(t)) if *t == wanted => {
            return Ok(Step::Done(
                ActionStatus::AlreadyPresent,
                format!("{table_id} already routes 0.0.0.0/0 -> {nat_id} (written by another invocation or a person)"),
            ))
        }
        (None, Some(t)) => {
            return Ok(Step::Blocked(
                Guard::RouteChangedSinceSnapshot,
                format!("{table_id} now has 0.0.0.0/0 -> {}; it is left as it is", t.id()),
            ))
        }
        (Some(prev), Some(t)) if t.id() != prev.as_str() => {
            return Ok(Step::Blocked(
                Guard::RouteChangedSinceSnapshot,
                format!("{table_id} now routes 0.0.0.0/0 -> {} instead of the dead {prev}; it is left as it is", t.id()),
            ))
        }
        (Some(_), None) => {
            return Ok(Step::Blocked(
                Guard::RouteChangedSinceSnapshot,
                format!("{table_id} no longer has the dead default route; it is left as it is"),
            ))
        }
        _ => {}
    }

    if previous.is_none() {
        let result = ec2
            .create_route()
            .route_table_id(table_id)
            .destination_cidr_block(crate::snapshot::DEFAULT_ROUTE)
            .nat_gateway_id(nat_id)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Step::Done(
                ActionStatus::Applied,
                format!("created 0.0.0.0/0 -> {nat_id} in {table_id}"),
            )),
            Err(e) if e.code() == Some("RouteAlreadyExists") => {
                // Another invocation won the race between our read and our write: success if it wrote the same.
                let now = gather::route_table_now(&app.clients, table_id).await?;
                match now.as_ref().and_then(|t| t.default_route()).map(|r| &r.target) {
                    Some(t) if *t == wanted => Ok(Step::Done(
                        ActionStatus::AlreadyPresent,
                        format!("{table_id} already routes 0.0.0.0/0 -> {nat_id} (another invocation won the race)"),
                    )),
                    Some(t) => Ok(Step::Blocked(
                        Guard::RouteChangedSinceSnapshot,
                        format!("{table_id} got 0.0.0.0/0 -> {} from someone else; it is left as it is", t.id()),
                    )),
                    None => Err(aws("ec2:CreateRoute")(e)),
                }
            }
            Err(e) => Err(aws("ec2:CreateRoute")(e)),
        }
    } else {
        ec2.replace_route()
            .route_table_id(table_id)
            .destination_cidr_block(crate::snapshot::DEFAULT_ROUTE)
            .nat_gateway_id(nat_id)
            .send()
            .await
            .map_err(aws("ec2:ReplaceRoute"))?;
        Ok(Step::Done(
            ActionStatus::Applied,
            format!(
                "replaced 0.0.0.0/0 -> {} with -> {nat_id} in {table_id}",
                previous.map(String::as_str).unwrap_or("?")
            ),
        ))
    }
}

async fn terminate(app: &App, instance_id: &str, asg_name: &str) -> Result<Step> {
    let result = app
        .clients
        .autoscaling
        .terminate_instance_in_auto_scaling_group()
        .instance_id(instance_id)
        .should_decrement_desired_capacity(false)
        .send()
        .await;
    match result {
        Ok(out) => {
            let activity = out
                .activity()
                .and_then(|a| a.description())
                .unwrap_or("termination requested");
            Ok(Step::Done(
                ActionStatus::Applied,
                format!("{activity}; {asg_name} keeps its desired capacity, so a replacement launches into the fixed subnet"),
            ))
        }
        // The instance already left the group (someone else recycled it): the goal is met.
        Err(e)
            if e.code() == Some("ValidationError")
                && e.message().is_some_and(|m| m.contains("not found")) =>
        {
            Ok(Step::Done(
                ActionStatus::AlreadyPresent,
                format!("{instance_id} is no longer in {asg_name}"),
            ))
        }
        Err(e) => Err(aws("autoscaling:TerminateInstanceInAutoScalingGroup")(e)),
    }
}

async fn set_scaling(
    app: &App,
    cluster: &str,
    nodegroup: &str,
    min: Option<i32>,
    desired: i32,
) -> Result<()> {
    let mut scaling = aws_sdk_eks::types::NodegroupScalingConfig::builder().desired_size(desired);
    if let Some(min) = min {
        scaling = scaling.min_size(min);
    }
    app.clients
        .eks
        .update_nodegroup_config()
        .cluster_name(cluster)
        .nodegroup_name(nodegroup)
        .scaling_config(scaling.build())
        .send()
        .await
        .map_err(aws("eks:UpdateNodegroupConfig"))?;
    Ok(())
}

async fn wait_active(app: &App, cluster: &str, nodegroup: &str, deadline: Instant) -> Result<bool> {
    loop {
        let out = app
            .clients
            .eks
            .describe_nodegroup()
            .cluster_name(cluster)
            .nodegroup_name(nodegroup)
            .send()
            .await
            .map_err(aws("eks:DescribeNodegroup"))?;
        let status = out
            .nodegroup()
            .and_then(|n| n.status())
            .map(|s| s.as_str().to_string());
        if status.as_deref() == Some("ACTIVE") {
            return Ok(true);
        }
        if Instant::now() + Duration::from_secs(5) >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

/// The seed's step 6.3: desired 0, wait for ACTIVE, back to the original size. A half-done rescale is
/// reported with the command that finishes it.
async fn rescale(
    app: &App,
    cluster: &str,
    nodegroup: &str,
    desired: i32,
    deadline: Instant,
) -> Result<Step> {
    let current = app
        .clients
        .eks
        .describe_nodegroup()
        .cluster_name(cluster)
        .nodegroup_name(nodegroup)
        .send()
        .await
        .map_err(aws("eks:DescribeNodegroup"))?;
    let min = current
        .nodegroup()
        .and_then(|n| n.scaling_config())
        .and_then(|s| s.min_size())
        .unwrap_or(0);
    let lowered_min = (min > 0).then_some(0);
    set_scaling(app, cluster, nodegroup, lowered_min, 0).await?;
    let restore = format!(
        "aws eks update-nodegroup-config --region {} --cluster-name {cluster} --nodegroup-name {nodegroup} --scaling-config {}desiredSize={desired}",
        app.clients.region,
        if min > 0 { format!("minSize={min},") } else { String::new() }
    );
    let half_done = |why: String| Error::Remediation {
        step: format!("rescale {cluster}/{nodegroup}"),
        message: format!("{why}; the nodegroup is at desired 0 — restore it with: {restore}"),
        retryable: false,
    };
    match wait_active(app, cluster, nodegroup, deadline).await {
        Ok(true) => {}
        Ok(false) => {
            return Err(half_done(
                "the nodegroup did not return to ACTIVE in time".to_string(),
            ))
        }
        Err(e) => return Err(half_done(e.to_string())),
    }
    set_scaling(app, cluster, nodegroup, lowered_min.map(|_| min), desired)
        .await
        .map_err(|e| half_done(e.to_string()))?;
    Ok(Step::Done(
        ActionStatus::Applied,
        format!("scaled {cluster}/{nodegroup} to 0 and back to {desired}"),
    ))
}

/// Records on the group that it was remediated (for the "resolved" follow-up). Failing to tag is logged,
/// never fatal: the fix itself is done.
pub async fn tag_group(app: &App, asg_name: &str, key: &str, unix: i64) -> Result<()> {
    let tag = aws_sdk_autoscaling::types::Tag::builder()
        .resource_id(asg_name)
        .resource_type("auto-scaling-group")
        .key(key)
        .value(unix.to_string())
        .propagate_at_launch(false)
        .build();
    app.clients
        .autoscaling
        .create_or_update_tags()
        .tags(tag)
        .send()
        .await
        .map_err(aws("autoscaling:CreateOrUpdateTags"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route() -> PlannedAction {
        PlannedAction::CreateDefaultRoute {
            route_table_id: "rtb-1".into(),
            nat_gateway_id: "nat-1".into(),
        }
    }

    fn recycle() -> PlannedAction {
        PlannedAction::TerminateInstance {
            instance_id: "i-1".into(),
            asg_name: "g".into(),
        }
    }

    fn result(action: PlannedAction, status: ActionStatus, retryable: bool) -> ActionResult {
        ActionResult {
            action,
            status,
            detail: "d".into(),
            retryable,
        }
    }

    #[test]
    fn failed_route_change_fails_the_event_with_its_retryability() {
        let execution = Execution {
            results: vec![
                result(route(), ActionStatus::Failed, true),
                result(recycle(), ActionStatus::Skipped, false),
            ],
            blocked: None,
        };
        let outcome = settle(vec![route(), recycle()], execution);
        assert!(
            matches!(
                outcome,
                Outcome::Failed {
                    retryable: true,
                    ..
                }
            ),
            "{outcome:?}"
        );
    }

    #[test]
    fn applied_route_with_a_failed_recycle_is_remediated_and_says_so() {
        let execution = Execution {
            results: vec![
                result(route(), ActionStatus::Applied, false),
                result(recycle(), ActionStatus::Failed, true),
            ],
            blocked: None,
        };
        let Outcome::Remediated { actions } = settle(vec![route(), recycle()], execution) else {
            panic!("the route fix landed");
        };
        assert_eq!(actions[1].status, ActionStatus::Failed);
    }

    #[test]
    fn guard_at_write_time_is_named() {
        let execution = Execution {
            results: vec![result(recycle(), ActionStatus::Skipped, false)],
            blocked: Some((Guard::RouteChangedSinceSnapshot, "changed".into())),
        };
        let outcome = settle(vec![route(), recycle()], execution);
        assert!(
            matches!(
                outcome,
                Outcome::RemediationBlocked {
                    guard: Guard::RouteChangedSinceSnapshot,
                    ..
                }
            ),
            "{outcome:?}"
        );
    }
}
