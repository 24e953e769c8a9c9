//! Healthy launches (the new subnet routed through the NAT: every node registers): two direct launches,
//! then a burst of delayed checks as SQS batches of 10, all on one process.

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
use crate::world::{NewSubnetRouting, World, WorldOptions};
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
    let direct = direct_launches(&mut f, &world, &ids, proxy).await;
    let batches = match direct {
        Ok(direct) => delayed_burst(&mut f, &bodies, &world.region, burst, proxy)
            .await
            .map(|b| (direct, b)),
        Err(e) => Err(e),
    };
    f.stop().await;
    let (direct, batches) = batches?;
    report.section(
        "healthy",
        json!({ "direct": direct, "delayed_burst": batches }),
    );
    let per_launch = batches["aws_calls_per_launch"].as_f64().unwrap_or_default();
    report.figure(
        "healthy burst: AWS calls per launch (delayed check)",
        format!("{per_launch:.1}"),
    );
    Ok(())
}

/// The first launch on cold caches, the second warm.
async fn direct_launches(
    f: &mut Function,
    world: &World,
    ids: &[String],
    proxy: &Proxy,
) -> Result<Value, Error> {
    println!("\nhealthy launch, direct (registered):");
    let mut out = Vec::new();
    for (label, id) in ["first (cold caches)", "second (warm container)"]
        .iter()
        .zip(ids)
    {
        let r = f.invoke(world.launch_event(id).await?).await?;
        let tally = proxy.take();
        let chain = longest_chain(&tally.spans);
        let ops = describe(&super::chain::chain(&tally.spans));
        println!(
            "  {label}: {} AWS calls, longest sequential chain {chain} ({ops}), handler {:.0} ms [outcome: {}]",
            tally.calls_total(),
            ms(r.handler_time()),
            r.outcome()
        );
        out.push(json!({
            "label": label, "outcome": r.outcome(), "aws_calls": tally.calls,
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
