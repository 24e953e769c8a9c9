//! One launch, as a pipeline of named stages, each returning a value:
//! admit → registration → snapshot → diagnose → triage → plan → apply → report.
//! The report is assembled once, at the end.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tracing::Instrument;

use crate::action::{Action, Blocked, Guard, RecycleStep};
use crate::apply;
use crate::context::App;
use crate::egress::PathSummary;
use crate::error::{Error, Result};
use crate::event::{LaunchEvent, Parsed};
use crate::finding::Finding;
use crate::gather::{self, Group};
use crate::kube::{decode_cluster_ca, KubeApi, KubeError};
use crate::ledger::{self, Admit};
use crate::outcome::{settle, EventReport, Outcome, Subject};
use crate::plan::{self, plan, Decision, PlanInput};
use crate::registration::Registration;
use crate::report;
use crate::rules;
use crate::skip::{Skip, SkipReason};
use crate::snapshot::{Cluster, Instance, ProfileRole, Readable, Snapshot};
use crate::target::{resolve, Target};
use crate::triage::{self, triage, Triage, Trigger, TAG_REMEDIATED_AT, TAG_RESOLVED_AT};
use crate::{config::Mode, publish};

/// Kept back from the Lambda deadline after polling, to diagnose, act and report.
const POLL_RESERVE: Duration = Duration::from_secs(20);
/// A cluster read this recently is not read again for the diagnosis.
const CLUSTER_FRESH_FOR: Duration = Duration::from_secs(10);
/// Kept back from the Lambda deadline for every event, to report a `failed` outcome instead of timing out.
const REPORT_RESERVE: Duration = Duration::from_secs(5);

/// Everything known about a launch once it is admitted: the group, the EKS side, the instance, the cluster.
struct Admitted {
    launch: LaunchEvent,
    group: Group,
    target: Target,
    instance: Instance,
    cluster: Cluster,
    /// When `cluster` was read (it may come from a warm container's cache).
    cluster_read_at: std::time::Instant,
    /// The role behind the instance's profile (it may come from a warm container's cache).
    role: Readable<Option<ProfileRole>>,
    kube: std::result::Result<KubeApi, KubeError>,
}

impl Admitted {
    fn subject(&self) -> Subject {
        Subject {
            cluster: Some(self.target.cluster.clone()),
            nodegroup: self.target.nodegroup.clone(),
            ..subject_of(&self.launch)
        }
    }

    async fn registration(&self) -> Registration {
        match &self.kube {
            Ok(api) => {
                let i = &self.instance;
                let ng = self.target.nodegroup.as_deref();
                api.registration(ng, &i.id, i.private_dns_name.as_deref())
                    .await
            }
            Err(e) => Registration::Unknown {
                reason: e.to_string(),
            },
        }
    }
}

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

fn subject_of(launch: &LaunchEvent) -> Subject {
    Subject {
        instance_id: Some(launch.instance_id.clone()),
        asg_name: Some(launch.asg_name.clone()),
        ..Subject::default()
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
        Parsed::Skip(skip) => return EventReport::new(Outcome::skipped(skip), Subject::default()),
        Parsed::Launch(launch) => launch,
    };
    let span = tracing::info_span!("launch", instance_id = %launch.instance_id, asg = %launch.asg_name, trigger = ?trigger);
    let event_deadline = deadline.map(|d| d.checked_sub(REPORT_RESERVE).unwrap_or(d));
    process_launch(app, launch, trigger, deadline, event_deadline)
        .instrument(span)
        .await
}

async fn process_launch(
    app: &App,
    launch: LaunchEvent,
    trigger: Trigger,
    deadline: Option<Instant>,
    event_deadline: Option<Instant>,
) -> EventReport {
    let subject = subject_of(&launch);
    let admitted = match bounded(event_deadline, "admission", admit(app, launch)).await {
        Ok(Ok(admitted)) => admitted,
        Ok(Err(skip)) => return EventReport::new(Outcome::skipped(skip), subject),
        Err(e) => return failed(app, subject, &e).await,
    };
    let subject = admitted.subject();
    restore_abandoned_rescale(app, &admitted).await;
    let verdict = check_and_act(app, &admitted, trigger, deadline);
    match bounded(event_deadline, "the registration check", verdict).await {
        Ok(verdict) => finish(app, &admitted, subject, verdict).await,
        Err(e) => failed(app, subject, &e).await,
    }
}

/// A nodegroup left at desired 0 by an invocation that did not finish its rescale gets its recorded
/// sizes back, whatever this event is about.
async fn restore_abandoned_rescale(app: &App, a: &Admitted) {
    let (Mode::Remediate, Some(nodegroup)) = (app.config.mode, &a.target.nodegroup) else {
        return;
    };
    match apply::restore_abandoned_rescale(app, &a.target.cluster, nodegroup).await {
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

/// Stage 1: which group, which cluster and nodegroup, which instance; or why the event is skipped.
async fn admit(app: &App, launch: LaunchEvent) -> Result<std::result::Result<Admitted, Skip>> {
    let gone = |detail: String| Ok(Err(Skip::new(SkipReason::InstanceGone, detail)));
    // Both are named in the event: read them at once.
    let (group, instance) = tokio::try_join!(
        gather::group(&app.clients, &launch.asg_name),
        gather::instance(&app.clients, &launch.instance_id),
    )?;
    let Some(group) = group else {
        return gone(format!(
            "Auto Scaling group {} no longer exists",
            launch.asg_name
        ));
    };
    let target = match resolve(&group.name, &group.tags, &app.config.cluster_allowlist) {
        Ok(target) => target,
        Err(skip) => return Ok(Err(skip)),
    };
    let Some(instance) = instance else {
        return gone(format!("EC2 no longer knows {}", launch.instance_id));
    };
    if instance.is_gone() {
        return gone(format!("{} is {}", instance.id, instance.state));
    }
    // The profile's role is needed only to diagnose, but reading it now, beside the cluster (or from the
    // warm cache), keeps the diagnosis to one wave of reads.
    let profile = instance.instance_profile_arn.as_deref();
    let (cluster, role) = tokio::join!(cluster(app, &target.cluster), profile_role(app, profile));
    let Some((cluster_read_at, cluster)) = cluster? else {
        tracing::debug!(cluster = %target.cluster, "EKS does not know this cluster");
        let detail = format!(
            "EKS does not know cluster {} (kops or Cluster API?)",
            target.cluster
        );
        return Ok(Err(Skip::new(SkipReason::NotEks, detail)));
    };
    let kube = kube_api(app, &cluster);
    Ok(Ok(Admitted {
        launch,
        group,
        target,
        instance,
        cluster,
        cluster_read_at,
        role,
        kube,
    }))
}

/// The role behind the instance's profile, from the warm cache or read (and cached when it could be).
async fn profile_role(app: &App, profile_arn: Option<&str>) -> Readable<Option<ProfileRole>> {
    let Some(arn) = profile_arn else {
        return Readable::Read(None);
    };
    if let Some(role) = app.cached_profile_role(arn).await {
        return Readable::Read(role);
    }
    let role = gather::profile_role(&app.clients, Some(arn)).await;
    if let Readable::Read(r) = &role {
        app.remember_profile_role(arn, r.clone()).await;
    }
    role
}

/// The cluster's endpoint and CA rarely change: a warm container keeps them a few minutes (the
/// diagnosis reads the cluster afresh).
async fn cluster(app: &App, name: &str) -> Result<Option<(std::time::Instant, Cluster)>> {
    if let Some(cached) = app.cached_cluster(name).await {
        return Ok(Some(cached));
    }
    let cluster = gather::cluster(&app.clients, name).await?;
    if let Some(c) = &cluster {
        app.remember_cluster(c.clone()).await;
    }
    Ok(cluster.map(|c| (std::time::Instant::now(), c)))
}

fn kube_api(app: &App, cluster: &Cluster) -> std::result::Result<KubeApi, KubeError> {
    let config = &app.config;
    let setup = |what: &str| KubeError::Setup(what.to_string());
    let (endpoint, ca) = match (&config.kube_api_endpoint_override, &config.kube_ca_pem) {
        (Some(endpoint), Some(ca)) => (endpoint.clone(), ca.as_bytes().to_vec()),
        (Some(_), None) => {
            return Err(setup(
                "KUBE_API_ENDPOINT_OVERRIDE is set without KUBE_CA_FILE",
            ))
        }
        (None, _) => {
            let endpoint = cluster
                .endpoint
                .clone()
                .ok_or_else(|| setup("the cluster has no API endpoint yet"))?;
            let ca = cluster
                .certificate_authority
                .as_deref()
                .ok_or_else(|| setup("the cluster has no certificate authority yet"))?;
            (endpoint, decode_cluster_ca(ca)?)
        }
    };
    let clients = &app.clients;
    KubeApi::new(
        &endpoint,
        &ca,
        &cluster.name,
        &clients.region,
        clients.credentials.clone(),
    )
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
    let resolves = triage::resolves_remediation(&a.group.tags);
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

/// Snapshot, then the pure rules. The cluster is read afresh alongside (admission may have used a
/// cached copy, and its endpoint access and CIDRs are part of the diagnosis).
async fn diagnose(app: &App, a: &Admitted) -> Result<Diagnosis> {
    let known = gather::Known {
        instance: a.instance.clone(),
        cluster: a.cluster.clone(),
        role: &a.role,
        nodegroup_name: a.target.nodegroup.as_deref(),
        group_subnets: a.group.subnets.clone(),
    };
    let snapshot = gather::snapshot(
        &app.clients,
        known,
        a.kube.as_ref(),
        gather::past_grace(launched_at(a), app.config.grace_period),
    );
    // Read once per event: again only when the admission's copy came from the cache or is old.
    let stale = a.cluster_read_at.elapsed() > CLUSTER_FRESH_FOR;
    let fresh = async {
        match stale {
            true => gather::cluster(&app.clients, &a.target.cluster).await,
            false => Ok(None),
        }
    };
    let (mut snapshot, fresh) = tokio::try_join!(Box::pin(snapshot), fresh)?;
    if let Some(cluster) = fresh {
        snapshot.cluster = cluster;
    }
    let started = std::time::Instant::now();
    let rules::Diagnosis { paths, findings } = rules::diagnose(&snapshot);
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
        } => match durable_guard(app, a, &actions).await? {
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
    let (Mode::Remediate, Some(state)) = (app.config.mode, &app.state) else {
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
/// loop breaker (counted here, before anything is written).
async fn durable_guard(app: &App, a: &Admitted, actions: &[Action]) -> Result<Option<Blocked>> {
    let max = app.config.max_recycles_per_hour;
    let recycles = actions.iter().any(|x| matches!(x, Action::Recycle(_)));
    let percent = app.config.max_replacing_percent;
    if let Some(b) = recycles
        .then(|| plan::blast_radius(&a.group.members, &a.instance.id, percent))
        .flatten()
    {
        // Not now: the event comes back once the replacements in flight have settled.
        return Err(Error::Deferred {
            guard: b.guard.as_str(),
            detail: b.detail,
        });
    }
    let Some(state) = &app.state else {
        let why = "no STATE_TABLE is configured, so remediations cannot be counted";
        return Ok(Some(Blocked::new(Guard::LoopBreaker, why)));
    };
    let now = now_unix();
    for action in actions {
        if let Action::Route(fix) = action {
            let record = state.route(fix.route_table_id()).await?;
            if let Some(blocked) = ledger::drift(record.as_ref(), fix, now) {
                return Ok(Some(blocked));
            }
        }
    }
    if !actions.iter().any(|x| matches!(x, Action::Recycle(_))) {
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
    let mut execution = apply::execute(app, &actions, work_deadline).await;
    if let Some(blocked) = recycle_skipped {
        tracing::warn!(guard = %blocked.guard, detail = %blocked.detail, "recycle skipped");
        let terminate = Action::Recycle(RecycleStep::TerminateInstance {
            instance_id: a.instance.id.clone(),
            asg_name: a.target.asg_name.clone(),
        });
        execution
            .results
            .push(apply::skipped_recycle(terminate, &blocked));
    }
    let route_fixed = execution
        .results
        .iter()
        .any(|r| r.action.is_route_change() && r.took_effect());
    if route_fixed {
        record(app, &a.target.asg_name, TAG_REMEDIATED_AT).await;
        remember_routes(app, &execution.results).await;
    }
    settle(actions, execution)
}

/// Remembers the routes this invocation wrote (for drift and for finishing an interrupted fix).
async fn remember_routes(app: &App, results: &[crate::action::ActionResult]) {
    let Some(state) = &app.state else { return };
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
        };
        if let Err(e) = state.remember_route(&record).await {
            tracing::warn!(error = %e, "could not remember the route written; drift will not be detected for it");
        }
    }
}

/// Records a time on the group; failing to is logged, never fatal.
async fn record(app: &App, asg_name: &str, tag: &str) {
    if let Err(e) = apply::tag_group(app, asg_name, tag, now_unix()).await {
        tracing::warn!(error = %e, tag, "could not record on the Auto Scaling group");
    }
}

/// Stage 8: the report, assembled once; published when someone needs to hear about it.
async fn finish(app: &App, a: &Admitted, subject: Subject, verdict: Verdict) -> EventReport {
    match verdict {
        Verdict::Registered {
            registration,
            outcome,
            resolves,
        } => {
            let mut report = EventReport::new(outcome, subject);
            report.registration = Some(registration);
            if resolves {
                notify(app, &mut report, None).await;
                if app.config.mode == Mode::Remediate {
                    record(app, &a.target.asg_name, TAG_RESOLVED_AT).await;
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
            let mut report = assembled(app, outcome, subject, registration, diagnosis);
            report.deferred = true;
            report
        }
        Verdict::Decided {
            registration,
            diagnosis,
            outcome,
        } => {
            let snapshot = diagnosis.snapshot.clone();
            let mut report = assembled(app, outcome, subject, registration, diagnosis);
            // A retryable failure comes back: it is reported once it settles, not on every attempt.
            if !report.outcome.is_retryable_failure() {
                notify(app, &mut report, Some(&snapshot)).await;
            }
            report
        }
    }
}

fn assembled(
    app: &App,
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
        let role = app.config.function_role_arn.as_deref();
        let access = rules::function_cannot_read_nodes(&app.clients.region, cluster, reason, role);
        report.findings.push(access);
    }
    report.registration = Some(registration);
    report.paths = diagnosis.paths;
    report
}

async fn failed(app: &App, subject: Subject, e: &Error) -> EventReport {
    let mut report = EventReport::new(Outcome::failed(e), subject);
    // A retryable failure comes back (and ends in a DLQ, which has its own alarm): tell people only
    // about the ones that will not fix themselves.
    if !e.is_retryable() {
        notify(app, &mut report, None).await;
    }
    report
}

async fn notify(app: &App, report: &mut EventReport, snapshot: Option<&Snapshot>) {
    let Some(topic) = &app.config.sns_topic_arn else {
        return;
    };
    let claim = match claim_report(app, report).await {
        Ok(Claim::AlreadyReported) => {
            report.already_reported = true;
            return;
        }
        Ok(claim) => claim,
        Err(e) => {
            // Better twice than never: the state store failing must not silence the report.
            tracing::warn!(error = %e, "could not claim the report; publishing anyway");
            Claim::Unclaimed
        }
    };
    let notice = report::render(report, snapshot, app.config.mode);
    match publish::publish(&app.clients, topic, &notice).await {
        Ok(()) => report.notified = true,
        Err(e) => {
            tracing::error!(error = %e, "could not publish the report; it is in this log");
            report.notify_error = Some(e.to_string());
            release(app, claim).await;
        }
    }
}

/// One report per incident: the first invocation for an instance claims it.
enum Claim {
    Claimed(String),
    Unclaimed,
    AlreadyReported,
}

async fn claim_report(app: &App, report: &EventReport) -> Result<Claim> {
    let (Some(state), Some(instance)) = (&app.state, &report.subject.instance_id) else {
        return Ok(Claim::Unclaimed);
    };
    let key = ledger::notify_key(instance);
    Ok(
        match state.claim(&key, now_unix(), ledger::CLAIM_SECONDS).await? {
            true => Claim::Claimed(key),
            false => Claim::AlreadyReported,
        },
    )
}

/// The report did not go out: give the claim back so a retry can send it.
async fn release(app: &App, claim: Claim) {
    if let (Some(state), Claim::Claimed(key)) = (&app.state, claim) {
        if let Err(e) = state.release(&key).await {
            tracing::warn!(error = %e, "could not release the report claim");
        }
    }
}
