//! Applies a plan. Re-reads the route table right before writing (the decision is `plan::recheck_route`),
//! treats an identical route written by someone else as success, and reports every step, including the
//! ones it did not get to.

use std::time::Duration;

use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use tokio::time::Instant;

use crate::action::{Action, ActionResult, ActionStatus, Blocked, RecycleStep, RouteFix};
use crate::aws_error::aws;
use crate::commands;
use crate::context::{App, Clients, Scoped};
use crate::error::{Error, Result};
use crate::gather;
use crate::ledger;
use crate::outcome::Execution;
use crate::plan::{recheck_nat, recheck_route, Recheck};
use crate::snapshot::DEFAULT_ROUTE;
use crate::state::now_unix;

enum Step {
    Done(ActionStatus, String),
    Blocked(Blocked),
}

/// Runs the actions in order. A route step that fails or is blocked stops the recycle steps after it:
/// replacing an instance cannot help while its subnet has no way out.
pub async fn execute(
    app: &App,
    scoped: &Scoped,
    actions: &[Action],
    deadline: Instant,
) -> Execution {
    let mut execution = Execution::default();
    let mut stop: Option<String> = None;
    for action in actions {
        if let Some(why) = &stop {
            let skipped = ActionResult::new(action.clone(), ActionStatus::Skipped, why.clone());
            execution.results.push(skipped);
            continue;
        }
        match run(app, scoped, action, deadline).await {
            Ok(Step::Done(status, detail)) => {
                execution
                    .results
                    .push(ActionResult::new(action.clone(), status, detail))
            }
            Ok(Step::Blocked(blocked)) => {
                stop = Some(format!(
                    "not attempted: guard {} stopped the route change",
                    blocked.guard
                ));
                execution.blocked = Some(blocked);
            }
            Err(e) => {
                tracing::error!(action = %action.describe(), error = %e, "remediation step failed");
                if action.is_route_change() {
                    stop = Some("not attempted: the route change before it failed".to_string());
                }
                execution.results.push(ActionResult {
                    retryable: e.is_retryable(),
                    ..ActionResult::new(action.clone(), ActionStatus::Failed, e.to_string())
                });
            }
        }
    }
    execution
}

async fn run(app: &App, scoped: &Scoped, action: &Action, deadline: Instant) -> Result<Step> {
    match action {
        Action::Route(fix) => write_route(app, &scoped.aws, fix).await,
        Action::Recycle(step) => recycle(scoped, step, deadline).await,
    }
}

async fn recycle(scoped: &Scoped, step: &RecycleStep, deadline: Instant) -> Result<Step> {
    match step {
        RecycleStep::TerminateInstance {
            instance_id,
            asg_name,
        } => terminate(scoped, instance_id, Group::Asg(asg_name)).await,
        RecycleStep::TerminateKarpenterInstance {
            instance_id,
            nodepool,
        } => terminate(scoped, instance_id, Group::NodePool(nodepool)).await,
        RecycleStep::RescaleNodegroup {
            cluster,
            nodegroup,
            desired_size,
        } => rescale(scoped, cluster, nodegroup, *desired_size, deadline).await,
        RecycleStep::DeleteNodeClaim { .. } | RecycleStep::ReplaceStandaloneInstance { .. } => {
            Ok(Step::Done(ActionStatus::Skipped, for_a_human(step)))
        }
    }
}

/// Why a step is left to a human, for the report (which adds the command).
fn for_a_human(step: &RecycleStep) -> String {
    match step {
        RecycleStep::DeleteNodeClaim { .. } => "not done by this function: EKS Auto Mode owns the instance (an EC2 managed instance); delete its NodeClaim with the command below and EKS launches a replacement into the fixed subnet".to_string(),
        _ => "not done by this function: nothing would launch a replacement; terminate the instance and launch another the way this one was launched".to_string(),
    }
}

/// Re-read, re-check, write: one invocation at a time per route table within this process.
async fn write_route(app: &App, clients: &Clients, fix: &RouteFix) -> Result<Step> {
    let table_id = fix.route_table_id();
    let _lock = app.lock_route_table(table_id).await;
    let now = gather::route_table_now(clients, table_id)
        .await?
        .ok_or_else(|| Error::Remediation {
            step: fix.describe(),
            message: format!("route table {table_id} no longer exists"),
            retryable: false,
        })?;
    match recheck_route(fix, &now) {
        Recheck::AlreadyDone(detail) => Ok(Step::Done(ActionStatus::AlreadyPresent, detail)),
        Recheck::Changed(blocked) => Ok(Step::Blocked(blocked)),
        Recheck::Write => {
            let nat = gather::nat_state_now(clients, fix.nat_gateway_id()).await?;
            if let Some(blocked) = recheck_nat(fix, nat.as_ref()) {
                return Ok(Step::Blocked(blocked));
            }
            match fix {
                RouteFix::CreateDefaultRoute { .. } => create_route(clients, fix).await,
                RouteFix::ReplaceDefaultRoute { .. } => replace_route(clients, fix).await,
            }
        }
    }
}

async fn create_route(clients: &Clients, fix: &RouteFix) -> Result<Step> {
    let (table_id, nat_id) = (fix.route_table_id(), fix.nat_gateway_id());
    let result = clients
        .ec2
        .create_route()
        .route_table_id(table_id)
        .destination_cidr_block(DEFAULT_ROUTE)
        .nat_gateway_id(nat_id)
        .send()
        .await;
    match result {
        Ok(_) => Ok(Step::Done(
            ActionStatus::Applied,
            format!("created {DEFAULT_ROUTE} -> {nat_id} in {table_id}"),
        )),
        // Another writer won the race between our read and our write: success if it wrote the same.
        Err(e) if e.code() == Some("RouteAlreadyExists") => {
            let now = gather::route_table_now(clients, table_id).await?;
            match now.map(|t| recheck_route(fix, &t)) {
                Some(Recheck::AlreadyDone(detail)) => {
                    Ok(Step::Done(ActionStatus::AlreadyPresent, detail))
                }
                Some(Recheck::Changed(blocked)) => Ok(Step::Blocked(blocked)),
                _ => Err(aws("ec2:CreateRoute")(e)),
            }
        }
        Err(e) => Err(aws("ec2:CreateRoute")(e)),
    }
}

async fn replace_route(clients: &Clients, fix: &RouteFix) -> Result<Step> {
    let (table_id, nat_id) = (fix.route_table_id(), fix.nat_gateway_id());
    clients
        .ec2
        .replace_route()
        .route_table_id(table_id)
        .destination_cidr_block(DEFAULT_ROUTE)
        .nat_gateway_id(nat_id)
        .send()
        .await
        .map_err(aws("ec2:ReplaceRoute"))?;
    Ok(Step::Done(
        ActionStatus::Applied,
        fix.describe().replacen("replace", "replaced", 1),
    ))
}

/// What replaces a terminated instance.
enum Group<'a> {
    Asg(&'a str),
    NodePool(&'a str),
}

/// Replaces the instance, at most once whoever asks: the first invocation claims the recycle.
async fn terminate(scoped: &Scoped, instance_id: &str, group: Group<'_>) -> Result<Step> {
    let key = ledger::recycle_key(instance_id);
    if let Some(state) = &scoped.state {
        if !state.claim(&key, now_unix(), ledger::CLAIM_SECONDS).await? {
            let detail = format!("{instance_id} was already replaced by another invocation");
            return Ok(Step::Done(ActionStatus::AlreadyPresent, detail));
        }
    }
    let result = match group {
        Group::Asg(asg_name) => terminate_in_group(&scoped.aws, instance_id, asg_name).await,
        Group::NodePool(pool) => terminate_in_pool(&scoped.aws, instance_id, pool).await,
    };
    if let (Err(_), Some(state)) = (&result, &scoped.state) {
        // It did not happen: let a retry claim it again.
        if let Err(e) = state.release(&key).await {
            tracing::warn!(error = %e, "could not release the recycle claim");
        }
    }
    result
}

async fn terminate_in_group(clients: &Clients, instance_id: &str, asg_name: &str) -> Result<Step> {
    let result = clients
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

/// A Karpenter node's instance: Karpenter sees its NodeClaim's instance gone and launches another.
async fn terminate_in_pool(clients: &Clients, instance_id: &str, nodepool: &str) -> Result<Step> {
    let result = clients
        .ec2
        .terminate_instances()
        .instance_ids(instance_id)
        .send()
        .await;
    match result {
        Ok(out) => {
            let state = out
                .terminating_instances()
                .first()
                .and_then(|c| c.current_state())
                .and_then(|s| s.name())
                .map_or("shutting-down", |n| n.as_str());
            Ok(Step::Done(
                ActionStatus::Applied,
                format!("{instance_id} is {state}; Karpenter NodePool {nodepool} launches a replacement into the fixed subnet"),
            ))
        }
        Err(e) if e.code() == Some("InvalidInstanceID.NotFound") => Ok(Step::Done(
            ActionStatus::AlreadyPresent,
            format!("{instance_id} no longer exists"),
        )),
        Err(e) => Err(aws("ec2:TerminateInstances")(e)),
    }
}

/// Changes the nodegroup's scaling; returns the id of the update EKS started, if it says.
async fn set_scaling(
    clients: &Clients,
    cluster: &str,
    nodegroup: &str,
    min: Option<i32>,
    desired: i32,
) -> Result<Option<String>> {
    let mut scaling = aws_sdk_eks::types::NodegroupScalingConfig::builder().desired_size(desired);
    if let Some(min) = min {
        scaling = scaling.min_size(min);
    }
    let out = clients
        .eks
        .update_nodegroup_config()
        .cluster_name(cluster)
        .nodegroup_name(nodegroup)
        .scaling_config(scaling.build())
        .send()
        .await
        .map_err(aws("eks:UpdateNodegroupConfig"))?;
    Ok(out.update().and_then(|u| u.id()).map(String::from))
}

/// Where the update this function started stands: `Some(true)` done, `Some(false)` still running,
/// `None` when EKS cannot say (no such update record): then the nodegroup's status decides.
async fn update_done(
    clients: &Clients,
    cluster: &str,
    nodegroup: &str,
    id: &str,
) -> Result<Option<bool>> {
    let described = clients
        .eks
        .describe_update()
        .name(cluster)
        .nodegroup_name(nodegroup)
        .update_id(id)
        .send()
        .await;
    let out = match described {
        Ok(out) => out,
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => return Ok(None),
        Err(e) => return Err(aws("eks:DescribeUpdate")(e)),
    };
    match out.update().and_then(|u| u.status()).map(|s| s.as_str()) {
        Some("Successful") => Ok(Some(true)),
        Some("Failed") | Some("Cancelled") => Err(Error::Remediation {
            step: format!("scale {cluster}/{nodegroup}"),
            message: format!("EKS update {id} did not succeed"),
            retryable: true,
        }),
        _ => Ok(Some(false)),
    }
}

async fn describe_nodegroup(
    clients: &Clients,
    cluster: &str,
    nodegroup: &str,
) -> Result<Option<aws_sdk_eks::types::Nodegroup>> {
    let out = clients
        .eks
        .describe_nodegroup()
        .cluster_name(cluster)
        .nodegroup_name(nodegroup)
        .send()
        .await
        .map_err(aws("eks:DescribeNodegroup"))?;
    Ok(out.nodegroup().cloned())
}

/// Waits for the update this function started (by its id), or, when EKS keeps no record of it, for the
/// nodegroup to be ACTIVE again.
async fn wait_for_update(
    clients: &Clients,
    cluster: &str,
    nodegroup: &str,
    update: Option<&str>,
    deadline: Instant,
) -> Result<bool> {
    loop {
        let by_id = match update {
            Some(id) => update_done(clients, cluster, nodegroup, id).await?,
            None => None,
        };
        let done = match by_id {
            Some(done) => done,
            None => nodegroup_active(clients, cluster, nodegroup).await?,
        };
        if done {
            return Ok(true);
        }
        if Instant::now() + Duration::from_secs(5) >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

async fn nodegroup_active(clients: &Clients, cluster: &str, nodegroup: &str) -> Result<bool> {
    let ng = describe_nodegroup(clients, cluster, nodegroup).await?;
    Ok(ng
        .and_then(|n| n.status().cloned())
        .is_some_and(|s| s.as_str() == "ACTIVE"))
}

async fn current_min_size(clients: &Clients, cluster: &str, nodegroup: &str) -> Result<i32> {
    let ng = describe_nodegroup(clients, cluster, nodegroup).await?;
    Ok(ng
        .and_then(|n| n.scaling_config().and_then(|s| s.min_size()))
        .unwrap_or(0))
}

/// The incident's manual fix: desired 0, wait for ACTIVE, back to the original size. The sizes to restore
/// are recorded durably before scaling down, so whoever comes next (a retry after a timeout, a racing
/// invocation) puts them back; a half-done rescale is also reported with the command that finishes it.
async fn rescale(
    scoped: &Scoped,
    cluster: &str,
    nodegroup: &str,
    desired: i32,
    deadline: Instant,
) -> Result<Step> {
    let clients = &scoped.aws;
    let min = current_min_size(clients, cluster, nodegroup).await?;
    let key = ledger::rescale_key(cluster, nodegroup);
    let record = ledger::RescaleRecord {
        desired,
        min,
        started_at: now_unix(),
    };
    if let Some(state) = &scoped.state {
        if let Some(earlier) = state.begin_rescale(&key, record).await? {
            return finish_rescale(scoped, cluster, nodegroup, earlier).await;
        }
    }
    let update = set_scaling(clients, cluster, nodegroup, (min > 0).then_some(0), 0).await?;
    let restore =
        commands::restore_nodegroup(&clients.region, cluster, nodegroup, Some(min), desired);
    let half_done = |why: String| {
        Error::Remediation {
        step: format!("rescale {cluster}/{nodegroup}"),
        message: format!("{why}; the nodegroup is at desired 0 — the next invocation restores it, or run: {restore}"),
        retryable: true,
    }
    };
    match wait_for_update(clients, cluster, nodegroup, update.as_deref(), deadline).await {
        Ok(true) => {}
        Ok(false) => {
            return Err(half_done(
                "the scale-down did not finish in time".to_string(),
            ))
        }
        Err(e) => return Err(half_done(e.to_string())),
    }
    finish_rescale(scoped, cluster, nodegroup, record)
        .await
        .map_err(|e| half_done(e.to_string()))
}

/// Puts the recorded sizes back and forgets the record.
async fn finish_rescale(
    scoped: &Scoped,
    cluster: &str,
    nodegroup: &str,
    record: ledger::RescaleRecord,
) -> Result<Step> {
    let (min, desired) = (Some(record.min), record.desired);
    set_scaling(&scoped.aws, cluster, nodegroup, min, desired).await?;
    if let Some(state) = &scoped.state {
        state
            .end_rescale(&ledger::rescale_key(cluster, nodegroup))
            .await?;
    }
    Ok(Step::Done(
        ActionStatus::Applied,
        format!(
            "scaled {cluster}/{nodegroup} to 0 and back to desired {} (min {})",
            record.desired, record.min
        ),
    ))
}

/// A rescale that an earlier invocation recorded and never finished is finished now: the nodegroup
/// gets its recorded sizes back. Returns what was restored, if anything.
pub async fn restore_abandoned_rescale(
    scoped: &Scoped,
    cluster: &str,
    nodegroup: &str,
) -> Result<Option<String>> {
    let Some(state) = &scoped.state else {
        return Ok(None);
    };
    let key = ledger::rescale_key(cluster, nodegroup);
    let Some(record) = state.rescale(&key).await? else {
        return Ok(None);
    };
    if !ledger::rescale_abandoned(&record, now_unix()) {
        return Ok(None);
    }
    match finish_rescale(scoped, cluster, nodegroup, record).await? {
        Step::Done(_, detail) => Ok(Some(detail)),
        Step::Blocked(b) => Ok(Some(b.detail)),
    }
}

/// Records a time on the group (remediated / resolved). Failing to tag is logged by the caller, never
/// fatal: the fix itself is done.
pub async fn tag_group(clients: &Clients, asg_name: &str, key: &str, unix: i64) -> Result<()> {
    let tag = aws_sdk_autoscaling::types::Tag::builder()
        .resource_id(asg_name)
        .resource_type("auto-scaling-group")
        .key(key)
        .value(unix.to_string())
        .propagate_at_launch(false)
        .build();
    clients
        .autoscaling
        .create_or_update_tags()
        .tags(tag)
        .send()
        .await
        .map_err(aws("autoscaling:CreateOrUpdateTags"))?;
    Ok(())
}

/// Blocked writes name the guard that stopped them; used by the handler when the plan skipped a recycle.
pub fn skipped_recycle(action: Action, blocked: &Blocked) -> ActionResult {
    let detail = format!("not attempted: guard {}: {}", blocked.guard, blocked.detail);
    ActionResult::new(action, ActionStatus::Skipped, detail)
}
