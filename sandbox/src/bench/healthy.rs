//! Healthy launches (the new subnet routed through the NAT: every node registers). On one process, two
//! delayed checks one at a time (cold caches, then warm), then a burst of them as SQS batches of 10: on
//! AWS, the delayed check is where a healthy node is found registered. On a second process, two direct
//! launches: the fake kubelet registers a node at once, so here the immediate invocation finds it
//! registered too, where on AWS (a node takes about a minute) it finds it missing and diagnoses.

use std::path::Path;
use std::time::Instant;

use serde_json::{json, Value};

use super::burst::sqs_records;
use super::chain::{describe, longest_chain};
use super::function::{aws_env, Function, Settings};
use super::proxy::Proxy;
use super::report::Report;
use super::seed::join;
use super::stats::ms;
use crate::kube::FakeKube;
use crate::moto::Moto;
use crate::world::{reported_now, NewSubnetRouting, World, WorldOptions};
use crate::Error;

pub async fn run(
    report: &mut Report,
    binary: &Path,
    moto: &Moto,
    proxy: &Proxy,
    burst: usize,
) -> Result<(), Error> {
    let (sdk, account) = moto.try_fresh_account().await?;
    let options = WorldOptions {
        desired_capacity: 10,
        ..WorldOptions::routed(NewSubnetRouting::ViaNat)
    };
    let world = World::build(sdk.clone(), &account, options).await?;
    let kube = FakeKube::start(sdk, &world.cluster_name).await?;
    let ids = world.nodegroup_instance_ids().await?;
    let mut bodies = Vec::new();
    for id in &ids {
        bodies.push(world.launch_event(id).await?.to_string());
    }
    let mut env = Settings::alert(None).env(&world, &kube.endpoint, &kube.ca_file);
    env.extend(aws_env(&world, proxy).await?);
    proxy.take();
    let mut f = Function::start(binary, &env).await?;
    let singles: Vec<(&str, Value)> = ["first (cold caches)", "second (warm container)"]
        .into_iter()
        .zip(bodies.iter())
        .enumerate()
        .map(|(i, (label, body))| {
            let records = sqs_records(std::slice::from_ref(body), i, 1, &world.region);
            (label, json!({ "Records": records }))
        })
        .collect();
    let heading = "healthy launch, delayed check (registered)";
    let delayed = one_by_one(&mut f, heading, singles, proxy).await;
    let batches = match delayed {
        Ok(delayed) => delayed_burst(&mut f, &bodies, &world.region, burst, proxy)
            .await
            .map(|b| (delayed, b)),
        Err(e) => Err(e),
    };
    f.stop().await;
    let (delayed, batches) = batches?;
    let mut f = Function::start(binary, &env).await?;
    let direct = direct_launches(&mut f, &world, &ids[2..], proxy).await;
    f.stop().await;
    let direct = direct?;
    record_chains(report, &delayed, &direct);
    report.section(
        "healthy",
        json!({ "delayed": delayed, "direct": direct, "delayed_burst": batches }),
    );
    let per_launch = batches["aws_calls_per_launch"].as_f64().unwrap_or_default();
    report.figure(
        "healthy burst: AWS calls per launch (delayed check)",
        format!("{per_launch:.1}"),
    );
    Ok(())
}

/// The goals of the healthy path (at most 2 sequential AWS round trips with cold caches, 1 warm, each
/// besides the Kubernetes GET), on the delayed check; the direct launches' chains as figures.
fn record_chains(report: &mut Report, delayed: &Value, direct: &Value) {
    let chain = |v: &Value, i: usize| v[i]["longest_chain"].as_u64();
    for (i, (label, most)) in [("cold caches", 2), ("warm container", 1)]
        .iter()
        .enumerate()
    {
        report.goal(
            &format!(
                "healthy launch, delayed check, {label}: longest AWS chain (+ 1 Kubernetes GET)"
            ),
            chain(delayed, i).map_or("n/a".into(), |c| c.to_string()),
            &format!("<= {most}"),
            chain(delayed, i).map(|c| c <= *most),
        );
        report.figure(
            &format!("healthy launch, direct, registered at once (sandbox only), {label}: longest AWS chain"),
            chain(direct, i).map_or("n/a".into(), |c| c.to_string()),
        );
    }
}

/// The first launch on cold caches, the second warm.
async fn direct_launches(
    f: &mut Function,
    world: &World,
    ids: &[String],
    proxy: &Proxy,
) -> Result<Value, Error> {
    let mut payloads = Vec::new();
    for (label, id) in ["first (cold caches)", "second (warm container)"]
        .into_iter()
        .zip(ids)
    {
        payloads.push((label, reported_now(&world.launch_event(id).await?)));
    }
    let heading = "healthy launch, direct (the fake kubelet registered it at once)";
    one_by_one(f, heading, payloads, proxy).await
}

/// Each payload in turn, with the AWS calls it made and their longest sequential chain.
async fn one_by_one(
    f: &mut Function,
    heading: &str,
    payloads: Vec<(&str, Value)>,
    proxy: &Proxy,
) -> Result<Value, Error> {
    println!("\n{heading}:");
    let mut out = Vec::new();
    for (label, payload) in payloads {
        let r = f.invoke(payload).await?;
        let tally = proxy.take();
        let chain = longest_chain(&tally.spans);
        let ops = describe(&super::chain::chain(&tally.spans));
        // An SQS batch of one answers with its record's report.
        let outcome = r.body["results"][0]["report"]["outcome"]
            .as_str()
            .map_or_else(|| r.outcome(), String::from);
        println!(
            "  {label}: {} AWS calls, longest sequential chain {chain} ({ops}), handler {:.0} ms [outcome: {outcome}]",
            tally.calls_total(),
            ms(r.handler_time()),
        );
        out.push(json!({
            "label": label, "outcome": outcome, "aws_calls": tally.calls,
            "longest_chain": chain, "longest_chain_ops": ops, "handler_ms": ms(r.handler_time()),
        }));
    }
    Ok(Value::Array(out))
}

async fn delayed_burst(
    f: &mut Function,
    bodies: &[String],
    region: &str,
    burst: usize,
    proxy: &Proxy,
) -> Result<Value, Error> {
    let batches = burst.div_ceil(10);
    let started = Instant::now();
    let (mut handler, mut registered, mut failures) = (0.0, 0, 0);
    for b in 0..batches {
        let r = f
            .invoke(json!({ "Records": sqs_records(bodies, b * 10, 10, region) }))
            .await?;
        handler += ms(r.handler_time());
        failures += r.body["batchItemFailures"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(10);
        registered += r.body["results"].as_array().map_or(0, |rs| {
            rs.iter()
                .filter(|x| x["report"]["outcome"] == "registered")
                .count()
        });
    }
    let wall = started.elapsed();
    let tally = proxy.take();
    let events = batches * 10;
    let per_launch = tally.calls_total() as f64 / events.max(1) as f64;
    println!("\nhealthy burst: {events} launches as {batches} SQS batches of 10, one process (delayed check → registered):");
    println!(
        "  wall {:.2} s, handler {:.0} ms in all = {:.1} ms per launch; {registered} registered, {failures} batch item failures",
        wall.as_secs_f64(),
        handler,
        handler / events.max(1) as f64
    );
    println!(
        "  AWS calls: {per_launch:.1} per launch ({})",
        join(&tally.calls)
    );
    Ok(json!({
        "launches": events, "batches": batches, "wall_s": wall.as_secs_f64(),
        "handler_ms": handler, "registered": registered, "batch_item_failures": failures,
        "aws_calls": tally.calls, "aws_calls_per_launch": per_launch,
        "throttled": tally.throttled,
    }))
}
