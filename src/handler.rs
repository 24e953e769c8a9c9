//! The handler: parse → resolve → registration check → gather → diagnose → plan → execute → report.
//! One code path for direct (EventBridge) and delayed (SQS) invocations after parsing.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::{json, Value};
use tokio::time::Instant;
use tracing::Instrument;

use crate::config::{Mode, RegistrationCheck};
use crate::context::App;
use crate::error::{Error, Result};
use crate::event::{parse_input, Input, LaunchEvent, Parsed};
use crate::execute::{self, TAG_REMEDIATED_AT, TAG_RESOLVED_AT};
use crate::finding::has_blocker;
use crate::kube::{decode_cluster_ca, KubeApi};
use crate::outcome::{EventReport, Outcome, Registration, SkipReason};
use crate::plan::{plan, Decision, PlanInput};
use crate::snapshot::{Cluster, Instance, Snapshot};
use crate::target::{resolve, Resolution, Target};
use crate::{gather, metrics, report, rules, time};

/// Time kept back from the Lambda deadline to diagnose, act and report after polling.
const RESERVE: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// EventBridge invoked us right after the launch: immediate triage.
    Direct,
    /// The delay queue delivered the event after the grace period: one check.
    Delayed,
}

/// Lambda entry point. Direct invocations answer the report (or an error for `failed`, so EventBridge's
/// retry policy and DLQ keep the event); SQS invocations answer `batchItemFailures` for failed records.
pub async fn handle(
    app: Arc<App>,
    event: LambdaEvent<Value>,
) -> std::result::Result<Value, Diagnostic> {
    let deadline = lambda_deadline(event.context.deadline);
    match parse_input(event.payload) {
        Err(e) => {
            let report = EventReport::failed(&e);
            log_report(&report);
            Err(diagnostic(&e))
        }
        Ok(Input::Direct(parsed)) => {
            let report = process(&app, parsed, Trigger::Direct, deadline).await;
            log_report(&report);
            match &report.outcome {
                Outcome::Failed {
                    error,
                    error_kind,
                    retryable,
                } => Err(Diagnostic {
                    error_type: format!(
                        "{}.{error_kind}",
                        if *retryable {
                            "Retryable"
                        } else {
                            "NonRetryable"
                        }
                    ),
                    error_message: error.clone(),
                }),
                _ => serde_json::to_value(&report).map_err(|e| Diagnostic {
                    error_type: "NonRetryable.Serialize".to_string(),
                    error_message: e.to_string(),
                }),
            }
        }
        Ok(Input::Delayed(records)) => {
            let mut tasks = tokio::task::JoinSet::new();
            let count = records.len();
            for (index, record) in records.into_iter().enumerate() {
                let app = app.clone();
                tasks.spawn(async move {
                    let report = match record.parsed {
                        Ok(parsed) => process(&app, parsed, Trigger::Delayed, deadline).await,
                        Err(e) => EventReport::failed(&e),
                    };
                    log_report(&report);
                    (index, record.message_id, report)
                });
            }
            let mut results: Vec<Option<(String, EventReport)>> =
                (0..count).map(|_| None).collect();
            while let Some(joined) = tasks.join_next().await {
                match joined {
                    Ok((index, id, report)) => results[index] = Some((id, report)),
                    Err(e) => tracing::error!(error = %e, "a record's task ended abnormally"),
                }
            }
            let mut failures = Vec::new();
            let mut reports = Vec::new();
            for (index, slot) in results.into_iter().enumerate() {
                match slot {
                    // Failed records go back to the queue (and to its DLQ after maxReceiveCount): nothing is lost.
                    Some((id, report)) => {
                        if matches!(report.outcome, Outcome::Failed { .. }) {
                            failures.push(json!({ "itemIdentifier": id }));
                        }
                        reports.push(json!({ "messageId": id, "report": report }));
                    }
                    None => failures.push(json!({ "itemIdentifier": format!("record-{index}") })),
                }
            }
            Ok(json!({ "batchItemFailures": failures, "results": reports }))
        }
    }
}

fn lambda_deadline(deadline_ms: u64) -> Option<Instant> {
    if deadline_ms == 0 {
        return None;
    }
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Some(Instant::now() + Duration::from_millis(deadline_ms.saturating_sub(now_ms)))
}

fn diagnostic(e: &Error) -> Diagnostic {
    Diagnostic {
        error_type: format!(
            "{}.{}",
            if e.is_retryable() {
                "Retryable"
            } else {
                "NonRetryable"
            },
            e.kind()
        ),
        error_message: e.to_string(),
    }
}

fn log_report(report: &EventReport) {
    let json = serde_json::to_string(report).unwrap_or_default();
    match report.outcome {
        Outcome::Failed { .. } => {
            tracing::error!(outcome = report.outcome.name(), report = %json, "event failed")
        }
        _ => tracing::info!(outcome = report.outcome.name(), report = %json, "event done"),
    }
    if let Some(doc) = metrics::emf(report, time::now_unix() * 1000) {
        // EMF must be a log line of its own.
        println!("{doc}");
    }
}

/// Handles one parsed event; never fails: errors become a `failed` report.
pub async fn process(
    app: &App,
    parsed: Parsed,
    trigger: Trigger,
    deadline: Option<Instant>,
) -> EventReport {
    let launch = match parsed {
        Parsed::Skip { reason, detail } => return EventReport::skipped(reason, detail),
        Parsed::Launch(launch) => launch,
    };
    let span = tracing::info_span!("launch", instance_id = %launch.instance_id, asg = %launch.asg_name, trigger = ?trigger);
    let mut report = EventReport::new(Outcome::Diagnosed {
        why_no_change: String::new(),
        would_apply: vec![],
    });
    report.instance_id = Some(launch.instance_id.clone());
    report.asg_name = Some(launch.asg_name.clone());
    match process_launch(app, &launch, trigger, deadline, &mut report)
        .instrument(span)
        .await
    {
        Ok(()) => report,
        Err(e) => {
            report.outcome = Outcome::Failed {
                error: e.to_string(),
                error_kind: e.kind().to_string(),
                retryable: e.is_retryable(),
            };
            // A retryable failure comes back (and ends in a DLQ, which has its own alarm): tell people
            // only about the ones that will not fix themselves.
            if !e.is_retryable() {
                notify(app, &mut report, None).await;
            }
            report
        }
    }
}

async fn process_launch(
    app: &App,
    launch: &LaunchEvent,
    trigger: Trigger,
    deadline: Option<Instant>,
    report: &mut EventReport,
) -> Result<()> {
    let clients = &app.clients;
    let config = &app.config;
    let skip = |report: &mut EventReport, reason: SkipReason, detail: String| {
        report.outcome = Outcome::Skipped { reason, detail };
        Ok(())
    };

    let Some(group) = gather::group(clients, &launch.asg_name).await? else {
        return skip(
            report,
            SkipReason::InstanceGone,
            format!("Auto Scaling group {} no longer exists", launch.asg_name),
        );
    };
    let target = match resolve(&group.name, &group.tags, &config.cluster_allowlist) {
        Resolution::Skip { reason, detail } => return skip(report, reason, detail),
        Resolution::Eks(target) => target,
    };
    report.cluster = Some(target.cluster.clone());
    report.nodegroup = target.nodegroup.clone();

    let Some(instance) = gather::instance(clients, &launch.instance_id).await? else {
        return skip(
            report,
            SkipReason::InstanceGone,
            format!("EC2 no longer knows {}", launch.instance_id),
        );
    };
    if matches!(
        instance.state.as_str(),
        "shutting-down" | "terminated" | "stopping" | "stopped"
    ) {
        return skip(
            report,
            SkipReason::InstanceGone,
            format!("{} is {}", instance.id, instance.state),
        );
    }
    let cluster = gather::cluster(clients, &target.cluster).await?;
    let kube = kube_api(app, &cluster);
    let check = || registration(kube.as_ref(), &target, &instance);

    let launched_at = launch
        .launched_at
        .unwrap_or_else(time::now_unix)
        .min(time::now_unix());
    let mut registration = check().await;
    if let Registration::Registered { .. } = registration {
        return registered(app, report, registration, &group.tags, &target, launched_at).await;
    }

    let mut snapshot = gather::snapshot(
        clients,
        instance.clone(),
        cluster.clone(),
        target.nodegroup.as_deref(),
        group.subnets.clone(),
    )
    .await?;
    let mut findings = rules::diagnose(&snapshot);

    // Immediate triage found nothing definitive: wait for the node, or leave it to the delayed check.
    if trigger == Trigger::Direct
        && !has_blocker(&findings)
        && !matches!(registration, Registration::Unknown { .. })
    {
        match config.registration_check {
            RegistrationCheck::DelayedQueue => {
                report.registration = Some(registration);
                report.findings = findings;
                report.deferred = true;
                report.outcome = Outcome::Diagnosed {
                    why_no_change: "not registered yet and no blocking cause found; the delayed check will look again after the grace period".to_string(),
                    would_apply: vec![],
                };
                return Ok(());
            }
            RegistrationCheck::Poll => {
                let grace_end = Instant::now()
                    + Duration::from_secs(
                        (launched_at + config.grace_period.as_secs() as i64 - time::now_unix())
                            .max(0) as u64,
                    );
                let end = match deadline {
                    Some(d) => grace_end.min(d.checked_sub(RESERVE).unwrap_or_else(Instant::now)),
                    None => grace_end,
                };
                while Instant::now() < end {
                    tokio::time::sleep(
                        config
                            .poll_interval
                            .min(end.saturating_duration_since(Instant::now())),
                    )
                    .await;
                    registration = check().await;
                    match registration {
                        Registration::Registered { .. } => {
                            return registered(
                                app,
                                report,
                                registration,
                                &group.tags,
                                &target,
                                launched_at,
                            )
                            .await
                        }
                        Registration::Unknown { .. } => break,
                        Registration::Missing { .. } => {}
                    }
                }
                // The world may have changed while we waited.
                snapshot = gather::snapshot(
                    clients,
                    instance,
                    cluster,
                    target.nodegroup.as_deref(),
                    group.subnets.clone(),
                )
                .await?;
                findings = rules::diagnose(&snapshot);
            }
        }
    }

    let decision = plan(&PlanInput {
        snapshot: &snapshot,
        findings: &findings,
        registration: &registration,
        target: &target,
        mode: config.mode,
        recycle: config.recycle,
        allow_shared_route_tables: config.allow_shared_route_tables,
    });
    tracing::info!(decision = %serde_json::to_string(&decision).unwrap_or_default(), "plan");
    report.registration = Some(registration);
    report.findings = findings;
    report.outcome = match decision {
        Decision::NoChange { why, would_apply } => Outcome::Diagnosed {
            why_no_change: why,
            would_apply,
        },
        Decision::Blocked {
            guard,
            detail,
            would_apply,
        } => Outcome::RemediationBlocked {
            guard,
            detail,
            would_apply,
            actions: vec![],
        },
        Decision::Apply {
            actions,
            recycle_skipped,
        } => {
            let work_deadline = deadline
                .map(|d| d.checked_sub(Duration::from_secs(5)).unwrap_or(d))
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(600));
            let done = execute::execute(app, &actions, work_deadline).await;
            let mut results = done.results;
            if let Some((guard, detail)) = recycle_skipped {
                tracing::warn!(guard = guard.as_str(), %detail, "recycle skipped");
                results.push(crate::outcome::ActionResult {
                    action: crate::plan::PlannedAction::TerminateInstance { instance_id: snapshot.instance.id.clone(), asg_name: target.asg_name.clone() },
                    status: crate::outcome::ActionStatus::Skipped,
                    detail: format!("RECYCLE=nodegroup stopped by guard {}: {detail}; replace the instance instead", guard.as_str()),
                    retryable: false,
                });
            }
            let applied = results.iter().any(|r| {
                r.action.is_route_change()
                    && matches!(
                        r.status,
                        crate::outcome::ActionStatus::Applied
                            | crate::outcome::ActionStatus::AlreadyPresent
                    )
            });
            if applied {
                if let Err(e) =
                    execute::tag_group(app, &target.asg_name, TAG_REMEDIATED_AT, time::now_unix())
                        .await
                {
                    tracing::warn!(error = %e, "could not record the remediation on the Auto Scaling group");
                }
            }
            execute::settle(
                actions,
                execute::Execution {
                    results,
                    blocked: done.blocked,
                },
            )
        }
    };
    // A retryable failure comes back: it is reported once it settles, not on every attempt.
    if !matches!(
        report.outcome,
        Outcome::Failed {
            retryable: true,
            ..
        }
    ) {
        notify(app, report, Some(&snapshot)).await;
    }
    Ok(())
}

fn kube_api(app: &App, cluster: &Cluster) -> std::result::Result<KubeApi, String> {
    let config = &app.config;
    let (endpoint, ca) = match (&config.kube_api_endpoint_override, &config.kube_ca_pem) {
        (Some(endpoint), Some(ca)) => (endpoint.clone(), ca.as_bytes().to_vec()),
        (Some(_), None) => {
            return Err("KUBE_API_ENDPOINT_OVERRIDE is set without KUBE_CA_FILE".to_string())
        }
        (None, _) => {
            let endpoint = cluster
                .endpoint
                .clone()
                .ok_or("the cluster has no API endpoint yet")?;
            let ca = cluster
                .certificate_authority
                .as_deref()
                .ok_or("the cluster has no certificate authority yet")?;
            (endpoint, decode_cluster_ca(ca)?)
        }
    };
    KubeApi::new(
        &endpoint,
        &ca,
        &cluster.name,
        &app.clients.region,
        app.clients.credentials.clone(),
    )
}

async fn registration(
    kube: std::result::Result<&KubeApi, &String>,
    target: &Target,
    instance: &Instance,
) -> Registration {
    match kube {
        Ok(api) => {
            api.registration(
                target.nodegroup.as_deref(),
                &instance.id,
                instance.private_dns_name.as_deref(),
            )
            .await
        }
        Err(reason) => Registration::Unknown {
            reason: reason.clone(),
        },
    }
}

async fn registered(
    app: &App,
    report: &mut EventReport,
    registration: Registration,
    tags: &std::collections::BTreeMap<String, String>,
    target: &Target,
    launched_at: i64,
) -> Result<()> {
    let Registration::Registered {
        node_name,
        ready,
        created_at,
    } = registration.clone()
    else {
        return Ok(());
    };
    let tag = |k: &str| tags.get(k).and_then(|v| v.parse::<i64>().ok());
    let resolves = match (tag(TAG_REMEDIATED_AT), tag(TAG_RESOLVED_AT)) {
        (Some(fixed), Some(resolved)) => fixed > resolved,
        (Some(_), None) => true,
        _ => false,
    };
    report.registration = Some(registration);
    report.outcome = Outcome::Registered {
        node_name,
        ready,
        seconds_to_register: created_at.map(|c| (c - launched_at).max(0)),
        resolves_remediation: resolves,
    };
    if resolves {
        notify(app, report, None).await;
        if app.config.mode == Mode::Remediate {
            if let Err(e) =
                execute::tag_group(app, &target.asg_name, TAG_RESOLVED_AT, time::now_unix()).await
            {
                tracing::warn!(error = %e, "could not record the resolution on the Auto Scaling group");
            }
        }
    }
    Ok(())
}

async fn notify(app: &App, report: &mut EventReport, snapshot: Option<&Snapshot>) {
    let Some(topic) = &app.config.sns_topic_arn else {
        return;
    };
    let notice = report::render(report, snapshot, app.config.mode);
    match report::publish(&app.clients, topic, &notice).await {
        Ok(()) => report.notified = true,
        Err(e) => {
            tracing::error!(error = %e, "could not publish the report; it is in this log");
            report.notify_error = Some(e.to_string());
        }
    }
}
