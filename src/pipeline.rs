//! One launch, as a pipeline of named stages, each returning a value:
//! reach → admit → registration → snapshot → diagnose → triage → plan → apply → report.
//! The report is assembled once, at the end.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tracing::Instrument;

use crate::action::{Action, Blocked, Guard};
use crate::admit::{admit, subject_of, Admitted, ReadAhead};
use crate::apply;
use crate::context::{App, Scoped};
use crate::egress::PathSummary;
use crate::error::{Error, Result};
use crate::event::{LaunchEvent, Parsed};
use crate::finding::Finding;
use crate::gather;
use crate::ledger::{self, Admit, PairClaim};
use crate::member;
use crate::outcome::{settle, EventReport, Outcome, Subject};
use crate::plan::{self, plan, Decision, PlanInput};
use crate::registration::Registration;
use crate::report;
use crate::rules;
use crate::snapshot::Snapshot;
use crate::state::StateStore;
use crate::triage::{self, triage, Triage, Trigger, TAG_REMEDIATED_AT, TAG_RESOLVED_AT};
use crate::{config::Mode, publish};

/// Kept back from the Lambda deadline after polling, to diagnose, act and report.
const POLL_RESERVE: Duration = Duration::from_secs(20);
/// A cluster read this recently is not read again for the diagnosis.
const CLUSTER_FRESH_FOR: Duration = Duration::from_secs(10);
/// Kept back from the Lambda deadline for every event, to report a `failed` outcome instead of timing out.
const REPORT_RESERVE: Duration = Duration::from_secs(5);

/// What the network looked like and what the rules made of it.
struct Diagnosis {
    snapshot: Snapshot,
    findings: Vec<Finding>,
    paths: Vec<PathSummary>,
}

/// Where the pipeline ended.
enum Verdict {
    Registered {
        registration: Registration,
        outcome: Outcome,
        resolves: bool,
    },
    Deferred {
        registration: Registration,
        diagnosis: Diagnosis,
    },
    Decided {
        registration: Registration,
        diagnosis: Diagnosis,
        outcome: Outcome,
    },
}

/// Handles one parsed event; never fails: errors become a `failed` report. `ahead`: instances a batch
/// read ahead (`admit::read_ahead`).
pub async fn process(
    app: &App,
    parsed: Parsed,
    trigger: Trigger,
    deadline: Option<Instant>,
    ahead: &ReadAhead,
) -> EventReport {
    let launch = match parsed {
        Parsed::Skip(skip) => return EventReport::new(Outcome::skipped(skip), Subject::default()),
        Parsed::Launch(launch) => launch,
    };
    let asg = launch.asg_name.as_deref().unwrap_or("none");
    let account = launch.origin.account.as_deref().unwrap_or("own");
    let span = tracing::info_span!("launch", instance_id = %launch.instance_id, asg = %asg, account = %account, trigger = ?trigger);
    let event_deadline = deadline.map(|d| d.checked_sub(REPORT_RESERVE).unwrap_or(d));
    let deadlines = (deadline, event_deadline);
    process_launch(app, launch, trigger, deadlines, ahead)
        .instrument(span)
        .await
}

/// No node boots and registers this soon after its launch (the seed's took about a minute).
const REGISTERS_AFTER_SECONDS: i64 = 30;

/// The launch was reported as it happened, so its node cannot have registered yet: its snapshot will
/// read the VPC, and the lease on that read can be asked for during admission.
fn just_launched(trigger: Trigger, launched_at: Option<i64>, now: i64) -> bool {
    trigger == Trigger::Direct
        && launched_at.is_some_and(|at| now.saturating_sub(at) < REGISTERS_AFTER_SECONDS)
}

/// `(the invocation's deadline, the event's: less the reserve kept to report)`.
type Deadlines = (Option<Instant>, Option<Instant>);

async fn process_launch(
    app: &App,
    launch: LaunchEvent,
    trigger: Trigger,
    (deadline, event_deadline): Deadlines,
    ahead: &ReadAhead,
) -> EventReport {
    let subject = subject_of(&launch);
    let home = app.state.as_ref();
    // Boxed, as the stages below: in a debug build (`cargo lambda watch`, the tests) their futures
    // together come close to a 2 MiB thread stack.
    let admission = Box::pin(async {
        let scoped = member::scoped(app, &launch.origin).await?;
        let lease_early = just_launched(trigger, launch.launched_at, now_unix());
        admit(app, scoped, launch, ahead, lease_early).await
    });
    let admitted = match bounded(event_deadline, "admission", admission).await {
        Ok(Ok(admitted)) => admitted,
        Ok(Err(skip)) => return EventReport::new(Outcome::skipped(skip), subject),
        Err(e) => return failed(app, home, subject, &e).await,
    };
    let subject = admitted.subject();
    restore_abandoned_rescale(app, &admitted).await;
    let verdict = Box::pin(check_and_act(app, &admitted, trigger, deadline));
    let state = admitted.scoped.state.as_ref();
    let checked = bounded(event_deadline, "the registration check", verdict).await;
    admitted.give_back_unused_lease().await;
    match checked {
        Ok(verdict) => finish(app, &admitted, subject, verdict).await,
        Err(e) => failed(app, state, subject, &e).await,
    }
}

/// A nodegroup left at desired 0 by an invocation that did not finish its rescale gets its recorded
/// sizes back, whatever this event is about.
async fn restore_abandoned_rescale(app: &App, a: &Admitted) {
    let (Mode::Remediate, Some(nodegroup)) = (app.config.mode, &a.target.nodegroup) else {
        return;
    };
    match apply::restore_abandoned_rescale(&a.scoped, &a.target.cluster, nodegroup).await {
        Ok(Some(detail)) => {
            tracing::warn!(%detail, "finished a rescale an earlier invocation left")
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "could not check for an unfinished rescale"),
    }
}

/// Runs a stage, failing it (retryably) when the deadline comes first.
async fn bounded<T>(
    deadline: Option<Instant>,
    stage: &'static str,
    work: impl Future<Output = Result<T>>,
) -> Result<T> {
    match deadline {
        None => work.await,
        Some(d) => tokio::time::timeout_at(d, work)
            .await
            .unwrap_or(Err(Error::Deadline { stage })),
    }
}

/// Stages 2-7: registration, snapshot and diagnosis, triage, plan, apply.
async fn check_and_act(
    app: &App,
    a: &Admitted,
    trigger: Trigger,
    deadline: Option<Instant>,
) -> Result<Verdict> {
    let mut registration = a.registration().await;
    if registration.is_registered() {
        return Ok(registered(a, registration));
    }
    let mut diagnosis = diagnose(app, a).await?;
    match triage(trigger, &diagnosis.findings, app.config.registration_check) {
        Triage::Act => {}
        Triage::Defer => {
            return Ok(Verdict::Deferred {
                registration,
                diagnosis,
            })
        }
        Triage::Poll => {
            registration = wait_for_node(app, a, registration, deadline).await;
            if registration.is_registered() {
                return Ok(registered(a, registration));
            }
            // The world may have changed while we waited.
            diagnosis = diagnose(app, a).await?;
        }
    }
    let outcome = decide_and_apply(app, a, &diagnosis, &registration, deadline).await?;
    Ok(Verdict::Decided {
        registration,
        diagnosis,
        outcome,
    })
}

fn registered(a: &Admitted, registration: Registration) -> Verdict {
    // Only an Auto Scaling group keeps the tags that say an earlier fix is still to be proven.
    let resolves = a
        .group
        .as_ref()
        .is_some_and(|g| triage::resolves_remediation(&g.tags));
    let outcome = match &registration {
        Registration::Registered {
            node_name,
            ready,
            created_at,
        } => Outcome::Registered {
            node_name: node_name.clone(),
            ready: *ready,
            seconds_to_register: created_at.map(|c| (c - launched_at(a)).max(0)),
            resolves_remediation: resolves,
        },
        _ => Outcome::failed(&Error::Inconsistent(
            "registration changed while reading it".into(),
        )),
    };
    Verdict::Registered {
        registration,
        outcome,
        resolves,
    }
}

use crate::state::now_unix;

fn launched_at(a: &Admitted) -> i64 {
    let now = now_unix();
    a.launch.launched_at.unwrap_or(now).min(now)
}

/// Snapshot, then the pure rules. The cluster is read afresh in the snapshot when admission used a
/// cached or old copy (its endpoint access and CIDRs are part of the diagnosis).
async fn diagnose(app: &App, a: &Admitted) -> Result<Diagnosis> {
    // A VPC read this event makes is stored for the burst once the event has its diagnosis.
    let (hold, store_after) = crate::state::hold();
    let known = gather::Known {
        scope: a.scoped.reach.key_prefix(),
        instance: a.instance.clone(),
        cluster: a.cluster.clone(),
        // Read once per event: again only when the admission's copy came from the cache or is old.
        reread_cluster: a.cluster_read_at.elapsed() > CLUSTER_FRESH_FOR,
        role: &a.role,
        nodegroup_name: a.target.nodegroup.as_deref(),
        group_subnets: a.group_subnets(),
        burst: gather::BurstRead {
            lease_ahead: a.take_lease_ahead(),
            store_after,
        },
    };
    // Boxed: a dozen concurrent SDK calls make a future too large for a 2 MiB worker-thread stack.
    let snapshot = Box::pin(gather::snapshot(
        app,
        &a.scoped.aws,
        a.scoped.state.as_ref(),
        known,
        a.kube.as_ref(),
        gather::past_grace(launched_at(a), app.config.grace_period),
    ))
    .await?;
    let started = std::time::Instant::now();
    let rules::Diagnosis { paths, findings } = rules::diagnose(&snapshot);
    hold.let_go();
    let evaluated_us = started.elapsed().as_micros() as u64;
    tracing::info!(evaluated_us, findings = findings.len(), "diagnosed");
    Ok(Diagnosis {
        snapshot,
        findings,
        paths,
    })
}

/// Polls registration until the grace period ends (or the deadline less the reserve comes).
async fn wait_for_node(
    app: &App,
    a: &Admitted,
    mut registration: Registration,
    deadline: Option<Instant>,
) -> Registration {
    let config = &app.config;
    let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
    let window = triage::poll_window(
        launched_at(a),
        now_unix(),
        config.grace_period,
        remaining,
        POLL_RESERVE,
    );
    let end = Instant::now() + window;
    while Instant::now() < end {
        let pause = config
            .poll_interval
            .min(end.saturating_duration_since(Instant::now()));
        tokio::time::sleep(pause).await;
        registration = a.registration().await;
        if registration.is_registered() {
            break;
        }
    }
    registration
}

async fn decide_and_apply(
    app: &App,
    a: &Admitted,
    d: &Diagnosis,
    registration: &Registration,
    deadline: Option<Instant>,
) -> Result<Outcome> {
    let config = &app.config;
    let input = PlanInput {
        snapshot: &d.snapshot,
        findings: &d.findings,
        registration,
        target: &a.target,
        mode: config.mode,
        recycle: config.recycle,
        allow_shared_route_tables: config.allow_shared_route_tables,
    };
    let mut decision = plan(&input);
    if matches!(&decision, Decision::NoChange { would_apply, .. } if would_apply.is_empty())
        && finishing_an_earlier_fix(app, a, d, registration).await?
    {
        decision = plan::replace_instance_only(&input);
    }
    tracing::info!(decision = %serde_json::to_string(&decision).unwrap_or_default(), "plan");
    Ok(match decision {
        Decision::NoChange { why, would_apply } => Outcome::Diagnosed {
            why_no_change: why,
            would_apply,
        },
        Decision::Blocked {
            blocked,
            would_apply,
        } => Outcome::blocked(blocked, would_apply, vec![]),
        Decision::Apply {
            actions,
            recycle_skipped,
        } => match durable_guard(app, a, &actions, d.snapshot.taken_at_ms).await? {
            Some(blocked) => Outcome::blocked(blocked, actions, vec![]),
            None => apply_actions(app, a, actions, recycle_skipped, deadline).await,
        },
    })
}

/// In remediate mode, an instance that launched before this function fixed its subnet's route will never
/// join: a retry or the delayed copy replaces it (an earlier attempt wrote the route but did not recycle).
async fn finishing_an_earlier_fix(
    app: &App,
    a: &Admitted,
    d: &Diagnosis,
    registration: &Registration,
) -> Result<bool> {
    let (Mode::Remediate, Some(state)) = (app.config.mode, &a.scoped.state) else {
        return Ok(false);
    };
    // Only a node known to be missing: never replace one the API could not see.
    let missing = matches!(registration, Registration::Missing { .. });
    if !missing || crate::finding::has_blocker(&d.findings) {
        return Ok(false);
    }
    let record = state.route(&d.snapshot.route_table.id).await?;
    Ok(ledger::launched_before_fix(record.as_ref(), launched_at(a)))
}

/// The guards that need durable state: a route this function wrote that is gone again (drift), and the
/// loop breaker (counted here, before anything is written). Only a recycle this function carries out
/// itself is counted, or weighed against the group's replacements in flight.
async fn durable_guard(
    app: &App,
    a: &Admitted,
    actions: &[Action],
    taken_at_ms: i64,
) -> Result<Option<Blocked>> {
    let max = app.config.max_recycles_per_hour;
    let recycles = actions.iter().any(Action::is_performed_recycle);
    if recycles {
        let percent = app.config.max_replacing_percent;
        if let Some(b) = plan::blast_radius(&a.members().await?, &a.instance.id, percent) {
            // Not now: the event comes back once the replacements in flight have settled.
            return Err(Error::Deferred {
                guard: b.guard.as_str(),
                detail: b.detail,
            });
        }
    }
    let Some(state) = &a.scoped.state else {
        let why = "no STATE_TABLE is configured, so remediations cannot be counted";
        return Ok(Some(Blocked::new(Guard::LoopBreaker, why)));
    };
    let now = now_unix();
    for action in actions {
        if let Action::Route(fix) = action {
            let record = state.route(fix.route_table_id()).await?;
            if let Some(blocked) = ledger::drift(record.as_ref(), fix, now, taken_at_ms) {
                return Ok(Some(blocked));
            }
        }
    }
    if !recycles {
        return Ok(None);
    }
    Ok(
        match state
            .admit(&ledger::breaker_key(&a.target), now, max)
            .await?
        {
            Admit::Go { .. } => None,
            Admit::Tripped { count, rearms_at } => {
                Some(ledger::tripped(&a.target, count, rearms_at, now, max))
            }
        },
    )
}

async fn apply_actions(
    app: &App,
    a: &Admitted,
    actions: Vec<Action>,
    recycle_skipped: Option<Blocked>,
    deadline: Option<Instant>,
) -> Outcome {
    let work_deadline = deadline
        .map(|d| d.checked_sub(REPORT_RESERVE).unwrap_or(d))
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(600));
    let mut execution = apply::execute(app, &a.scoped, &actions, work_deadline).await;
    if let Some(blocked) = recycle_skipped {
        tracing::warn!(guard = %blocked.guard, detail = %blocked.detail, "recycle skipped");
        let replace = Action::Recycle(plan::replace_instance(&a.target, &a.instance.id));
        execution
            .results
            .push(apply::skipped_recycle(replace, &blocked));
    }
    let route_fixed = execution
        .results
        .iter()
        .any(|r| r.action.is_route_change() && r.took_effect());
    if route_fixed {
        record(a, TAG_REMEDIATED_AT).await;
        remember_routes(&a.scoped, &execution.results).await;
    }
    settle(actions, execution)
}

/// Remembers the routes this invocation wrote (for drift and for finishing an interrupted fix).
async fn remember_routes(scoped: &Scoped, results: &[crate::action::ActionResult]) {
    let Some(state) = &scoped.state else { return };
    for r in results
        .iter()
        .filter(|r| r.status == crate::action::ActionStatus::Applied)
    {
        let Action::Route(fix) = &r.action else {
            continue;
        };
        let record = ledger::RouteRecord {
            route_table_id: fix.route_table_id().to_string(),
            nat_gateway_id: fix.nat_gateway_id().to_string(),
            at: now_unix(),
            at_ms: ledger::now_ms(),
        };
        if let Err(e) = state.remember_route(&record).await {
            tracing::warn!(error = %e, "could not remember the route written; drift will not be detected for it");
        }
    }
}

/// Records a time on the instance's Auto Scaling group, if it has one; failing to is logged, never fatal.
async fn record(a: &Admitted, tag: &str) {
    let Some(asg_name) = a.target.asg_name() else {
        return;
    };
    if let Err(e) = apply::tag_group(&a.scoped.aws, asg_name, tag, now_unix()).await {
        tracing::warn!(error = %e, tag, "could not record on the Auto Scaling group");
    }
}

/// Stage 8: the report, assembled once; published when someone needs to hear about it.
async fn finish(app: &App, a: &Admitted, subject: Subject, verdict: Verdict) -> EventReport {
    let state = a.scoped.state.as_ref();
    match verdict {
        Verdict::Registered {
            registration,
            outcome,
            resolves,
        } => {
            let mut report = EventReport::new(outcome, subject);
            report.registration = Some(registration);
            if resolves {
                notify(app, state, &mut report, None).await;
                if app.config.mode == Mode::Remediate {
                    record(a, TAG_RESOLVED_AT).await;
                }
            }
            report
        }
        Verdict::Deferred {
            registration,
            diagnosis,
        } => {
            let why = "not registered yet and no blocking cause found; the delayed check will look again after the grace period";
            let outcome = Outcome::Diagnosed {
                why_no_change: why.to_string(),
                would_apply: vec![],
            };
            let mut report = assembled(app, a, outcome, subject, registration, diagnosis);
            report.deferred = true;
            report
        }
        Verdict::Decided {
            registration,
            diagnosis,
            outcome,
        } => {
            let snapshot = diagnosis.snapshot.clone();
            let mut report = assembled(app, a, outcome, subject, registration, diagnosis);
            // A retryable failure comes back: it is reported once it settles, not on every attempt.
            if !report.outcome.is_retryable_failure() {
                notify(app, state, &mut report, Some(&snapshot)).await;
            }
            report
        }
    }
}

fn assembled(
    app: &App,
    a: &Admitted,
    outcome: Outcome,
    subject: Subject,
    registration: Registration,
    diagnosis: Diagnosis,
) -> EventReport {
    let mut report = EventReport::new(outcome, subject);
    report.findings = diagnosis.findings;
    if let (Registration::Unknown { reason }, Some(cluster)) =
        (&registration, &report.subject.cluster)
    {
        // In a member account, the cluster sees the member role: that is the one to map.
        let role = (a.scoped.reach.role_arn()).or(app.config.function_role_arn.as_deref());
        let region = &a.scoped.aws.region;
        let access = rules::function_cannot_read_nodes(region, cluster, reason, role);
        report.findings.push(access);
    }
    report.registration = Some(registration);
    report.paths = diagnosis.paths;
    report
}

async fn failed(app: &App, state: Option<&StateStore>, subject: Subject, e: &Error) -> EventReport {
    let mut report = EventReport::new(Outcome::failed(e), subject);
    // A retryable failure comes back (and ends in a DLQ, which has its own alarm): tell people only
    // about the ones that will not fix themselves.
    if !e.is_retryable() {
        notify(app, state, &mut report, None).await;
    }
    report
}

/// Publishes the report to the report topic and, when one is configured, to the chat topic; once per
/// incident (claimed in the event's state).
async fn notify(
    app: &App,
    state: Option<&StateStore>,
    report: &mut EventReport,
    snapshot: Option<&Snapshot>,
) {
    let config = &app.config;
    if config.sns_topic_arn.is_none() && config.chat_topic_arn.is_none() {
        return;
    }
    let claim = match claim_report(state, report, snapshot).await {
        Ok(Claim::AlreadyReported) => {
            report.already_reported = true;
            return;
        }
        Ok(Claim::Folded(incident)) => {
            tracing::info!(%incident, "reported with the first report of this incident");
            report.reported_with = Some(incident);
            return;
        }
        Ok(claim) => claim,
        Err(e) => {
            // Better twice than never: the state store failing must not silence the report.
            tracing::warn!(error = %e, "could not claim the report; publishing anyway");
            Claim::Unclaimed
        }
    };
    match publish_report(app, report, snapshot).await {
        Ok(()) => report.notified = true,
        Err(e) => {
            tracing::error!(error = %e, "could not publish the report; it is in this log");
            report.notify_error = Some(e.to_string());
            release(state, claim).await;
        }
    }
}

/// The report to its topic, then the chat card to the chat topic. A chat card that does not go out is
/// logged, never a reason to publish the report again.
async fn publish_report(
    app: &App,
    report: &EventReport,
    snapshot: Option<&Snapshot>,
) -> Result<()> {
    let mode = app.config.mode;
    if let Some(topic) = &app.config.sns_topic_arn {
        let notice = report::render(report, snapshot, mode);
        publish::publish(&app.clients, topic, &notice).await?;
    }
    if let Some(topic) = &app.config.chat_topic_arn {
        let card = report::chat::card(report, snapshot, mode);
        if let Err(e) = publish::publish_chat(&app.clients, topic, &card).await {
            tracing::error!(error = %e, "could not publish the chat card");
        }
    }
    Ok(())
}

/// One report per instance (the first invocation for it claims it), and one per incident: the first
/// report of a cause in a subnet stands for the instances after it, for an hour.
enum Claim {
    /// These keys, to give back if the report does not go out.
    Claimed(Vec<String>),
    Unclaimed,
    AlreadyReported,
    /// Another instance's report of the same incident went out: this key names it.
    Folded(String),
}

async fn claim_report(
    state: Option<&StateStore>,
    report: &EventReport,
    snapshot: Option<&Snapshot>,
) -> Result<Claim> {
    let (Some(state), Some(instance)) = (state, &report.subject.instance_id) else {
        return Ok(Claim::Unclaimed);
    };
    let now = now_unix();
    let key = ledger::notify_key(instance);
    let Some(incident) = incident_key(report, snapshot) else {
        return Ok(match state.claim(&key, now, ledger::CLAIM_SECONDS).await? {
            true => Claim::Claimed(vec![key]),
            false => Claim::AlreadyReported,
        });
    };
    let instance_claim = (key.as_str(), ledger::CLAIM_SECONDS);
    let incident_claim = (incident.as_str(), ledger::INCIDENT_SECONDS);
    let claimed = state
        .claim_pair(instance_claim, incident_claim, now)
        .await?;
    match claimed {
        PairClaim::Both => Ok(Claim::Claimed(vec![key, incident])),
        PairClaim::FirstTaken => Ok(Claim::AlreadyReported),
        // This instance is accounted for by the incident's report: claimed, and not reported again.
        PairClaim::SecondTaken => Ok(match state.claim(&key, now, ledger::CLAIM_SECONDS).await? {
            true => Claim::Folded(incident),
            false => Claim::AlreadyReported,
        }),
        PairClaim::Undecided => one_then_the_other(state, key, incident, now).await,
    }
}

/// The instance's claim, then the incident's: what a transaction that did not decide leaves to do.
async fn one_then_the_other(
    state: &StateStore,
    key: String,
    incident: String,
    now: i64,
) -> Result<Claim> {
    if !state.claim(&key, now, ledger::CLAIM_SECONDS).await? {
        return Ok(Claim::AlreadyReported);
    }
    match state.claim(&incident, now, ledger::INCIDENT_SECONDS).await {
        Ok(true) => Ok(Claim::Claimed(vec![key, incident])),
        // This instance stays claimed: it is accounted for by the incident's report.
        Ok(false) => Ok(Claim::Folded(incident)),
        Err(e) => {
            release(Some(state), Claim::Claimed(vec![key])).await;
            Err(e)
        }
    }
}

/// The incident a report belongs to, when its outcome folds.
fn incident_key(report: &EventReport, snapshot: Option<&Snapshot>) -> Option<String> {
    let (Some(snapshot), Some(cluster)) = (snapshot, &report.subject.cluster) else {
        return None;
    };
    if !report.outcome.folds() {
        return None;
    }
    let mut causes: Vec<&str> = report.findings.iter().map(|f| f.code.as_str()).collect();
    if let Outcome::RemediationBlocked { guard, .. } = &report.outcome {
        causes.push(guard.as_str());
    }
    Some(ledger::incident_key(
        cluster,
        &snapshot.subnet.id,
        report.outcome.name(),
        &causes,
    ))
}

/// The report did not go out: give the claims back so a retry can send it.
async fn release(state: Option<&StateStore>, claim: Claim) {
    let (Some(state), Claim::Claimed(keys)) = (state, claim) else {
        return;
    };
    for key in keys {
        if let Err(e) = state.release(&key).await {
            tracing::warn!(error = %e, "could not release the report claim");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_launch_reported_as_it_happened_asks_for_the_vpc_read_lease_during_admission() {
        let now = 1_800_000_000;
        assert!(just_launched(Trigger::Direct, Some(now - 2), now));
        // An invocation EventBridge retried, or delivered late: the node may have registered.
        assert!(!just_launched(Trigger::Direct, Some(now - 45), now));
        assert!(!just_launched(Trigger::Direct, None, now));
        // The delayed check comes after the grace period, when most nodes have registered.
        assert!(!just_launched(Trigger::Delayed, Some(now - 2), now));
    }
}
