//! `sandbox`: the demo driver used by `make demo`. Talks to moto through `AWS_ENDPOINT_URL` (it refuses to
//! run without it, so it can never create resources in a real account), default account.
//!
//! ```text
//! sandbox seed             --state .sandbox/world.json [--reset] [--event-out FILE] [--quiet]
//! sandbox story            --state .sandbox/world.json     (the seed's steps 2-5 for the stuck instance)
//! sandbox fake-kube        --state .sandbox/world.json [--port 6443] [--ca-file .sandbox/kube-ca.pem] [--quiet]
//! sandbox nodes            --state .sandbox/world.json --ca-file .sandbox/kube-ca.pem --endpoint https://127.0.0.1:6443
//! sandbox routes           --state .sandbox/world.json
//! sandbox sns              --state .sandbox/world.json [--wait-seconds 10]
//! sandbox wait-ready       --state .sandbox/world.json [--timeout 90] [--endpoint URL --ca-file FILE]
//! sandbox replacement-event --state .sandbox/world.json --out .sandbox/replacement-event.json
//! sandbox bench            --binary target/release/eks-node-join-remediator [--hello FILE] [--python FILE]
//!                          [--runs 10] [--warm 20] [--burst 100] [--scale-out 500] [--concurrency 50]
//!                          [--sam-artifact .aws-sam/build/Function/bootstrap] [--out target/bench]
//! ```

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use sandbox::kube::{self, FakeKube, NodeView};
use sandbox::world::{self, World};
use sandbox::{Context, Error};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

const TOPIC_NAME: &str = "eks-node-join-remediator-reports";
const QUEUE_NAME: &str = "demo-report-subscriber";

/// Everything `seed` created, as written to the state file.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    account_id: String,
    region: String,
    vpc_id: String,
    igw_id: String,
    main_route_table_id: String,
    public_subnet_ids: Vec<String>,
    public_route_table_id: String,
    nat_gateway_id: String,
    private_subnet_ids: Vec<String>,
    private_route_table_id: String,
    new_subnet_id: String,
    new_route_table_id: Option<String>,
    cluster_name: String,
    nodegroup_name: String,
    asg_name: String,
    cluster_security_group_id: String,
    topic_arn: String,
    queue_url: String,
    stuck_instance_id: String,
    state_table: String,
}

impl State {
    fn new(w: &World, topic_arn: String, queue_url: String, stuck_instance_id: String) -> State {
        State {
            account_id: w.account_id.clone(),
            region: w.region.clone(),
            vpc_id: w.vpc_id.clone(),
            igw_id: w.igw_id.clone(),
            main_route_table_id: w.main_route_table_id.clone(),
            public_subnet_ids: w.public_subnet_ids.clone(),
            public_route_table_id: w.public_route_table_id.clone(),
            nat_gateway_id: w.nat_gateway_id.clone(),
            private_subnet_ids: w.private_subnet_ids.clone(),
            private_route_table_id: w.private_route_table_id.clone(),
            new_subnet_id: w.new_subnet_id.clone(),
            new_route_table_id: w.new_route_table_id.clone(),
            cluster_name: w.cluster_name.clone(),
            nodegroup_name: w.nodegroup_name.clone(),
            asg_name: w.asg_name.clone(),
            cluster_security_group_id: w.cluster_security_group_id.clone(),
            topic_arn,
            queue_url,
            stuck_instance_id,
            state_table: w.state_table.clone(),
        }
    }

    fn world(&self, sdk: SdkConfig) -> World {
        World {
            sdk,
            account_id: self.account_id.clone(),
            region: self.region.clone(),
            vpc_id: self.vpc_id.clone(),
            igw_id: self.igw_id.clone(),
            main_route_table_id: self.main_route_table_id.clone(),
            public_subnet_ids: self.public_subnet_ids.clone(),
            public_route_table_id: self.public_route_table_id.clone(),
            nat_gateway_id: self.nat_gateway_id.clone(),
            private_subnet_ids: self.private_subnet_ids.clone(),
            private_route_table_id: self.private_route_table_id.clone(),
            new_subnet_id: self.new_subnet_id.clone(),
            new_route_table_id: self.new_route_table_id.clone(),
            cluster_name: self.cluster_name.clone(),
            nodegroup_name: self.nodegroup_name.clone(),
            asg_name: self.asg_name.clone(),
            cluster_security_group_id: self.cluster_security_group_id.clone(),
            firewall: None,
            isolated_nat: None,
            transit_gateway_id: None,
            vpc_endpoints: Default::default(),
            endpoint_security_group_id: None,
            new_subnet_nacl_id: None,
            node_security_group_id: None,
            state_table: self.state_table.clone(),
        }
    }

    fn load(path: &Path) -> Result<State, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!(
                "read state {}: {e} (run `sandbox seed --state {}` first)",
                path.display(),
                path.display()
            )
        })?;
        serde_json::from_str(&text)
            .map_err(|e| format!("state {} is not valid: {e}", path.display()).into())
    }
}

/// `--name value` options after the subcommand.
struct Args {
    command: String,
    options: HashMap<String, String>,
    flags: Vec<String>,
}

impl Args {
    fn parse() -> Result<Args, Error> {
        let mut it = std::env::args().skip(1);
        let command = it.next().ok_or(USAGE)?;
        let mut options = HashMap::new();
        let mut flags = Vec::new();
        let rest: Vec<String> = it.collect();
        let mut i = 0;
        while i < rest.len() {
            let arg = &rest[i];
            let name = arg
                .strip_prefix("--")
                .ok_or_else(|| format!("unexpected argument {arg:?}\n{USAGE}"))?;
            if let Some((k, v)) = name.split_once('=') {
                options.insert(k.to_owned(), v.to_owned());
            } else if matches!(name, "reset" | "quiet") {
                flags.push(name.to_owned());
            } else {
                let value = rest
                    .get(i + 1)
                    .ok_or_else(|| format!("--{name} needs a value"))?;
                options.insert(name.to_owned(), value.clone());
                i += 1;
            }
            i += 1;
        }
        Ok(Args {
            command,
            options,
            flags,
        })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.options.get(name).map(String::as_str)
    }

    fn path(&self, name: &str, default: &str) -> PathBuf {
        PathBuf::from(self.get(name).unwrap_or(default))
    }

    fn number(&self, name: &str, default: u64) -> Result<u64, Error> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("--{name} {v:?} is not a number").into()),
        }
    }

    fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }
}

const USAGE: &str = "usage: sandbox <seed|story|fake-kube|nodes|routes|sns|wait-ready|replacement-event> --state FILE [options] | sandbox bench --binary FILE [--hello FILE] [--python FILE] [--runs N] [--warm N] [--burst N] [--scale-out N] [--concurrency N] [--sam-artifact FILE] [--out DIR]";

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sandbox: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<ExitCode, Error> {
    let args = Args::parse()?;
    let state_path = args.path("state", ".sandbox/world.json");
    match args.command.as_str() {
        "seed" => seed(&args, &state_path).await,
        "story" => {
            let state = State::load(&state_path)?;
            print_story(&state.world(sdk().await?), &state.stuck_instance_id).await?;
            Ok(ExitCode::SUCCESS)
        }
        "fake-kube" => fake_kube(&args, &state_path).await,
        "nodes" => nodes(&args, &state_path).await,
        "routes" => routes(&state_path).await,
        "sns" => sns(&args, &state_path).await,
        "wait-ready" => wait_ready(&args, &state_path).await,
        "replacement-event" => replacement_event(&args, &state_path).await,
        "bench" => {
            sandbox::bench::run(&bench_options(&args)?).await?;
            Ok(ExitCode::SUCCESS)
        }
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        other => Err(format!("unknown command {other:?}\n{USAGE}").into()),
    }
}

/// `sandbox bench` options (see the usage line at the top of this file).
fn bench_options(args: &Args) -> Result<sandbox::bench::Options, Error> {
    let count = |name: &str, default: u64| args.number(name, default).map(|n| n as usize);
    Ok(sandbox::bench::Options {
        binary: args.path("binary", "target/release/eks-node-join-remediator"),
        hello: args.path("hello", "target/bench-hello/release/bench-hello"),
        python: args.path("python", ".venv/bin/python3"),
        runs: count("runs", 10)?,
        warm: count("warm", 20)?,
        burst: count("burst", 100)?,
        scale_out: count("scale-out", 500)?,
        concurrency: count("concurrency", 50)?.max(1),
        sam_artifact: args.path("sam-artifact", ".aws-sam/build/Function/bootstrap"),
        out_dir: args.path("out", "target/bench"),
    })
}

/// moto through `AWS_ENDPOINT_URL`; region from the environment (default us-west-2); credentials from the
/// environment, else moto's `testing`/`testing`.
async fn sdk() -> Result<SdkConfig, Error> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .ok()
        .filter(|e| !e.trim().is_empty())
        .ok_or(
            "AWS_ENDPOINT_URL is not set: the sandbox only talks to moto (e.g. AWS_ENDPOINT_URL=http://127.0.0.1:5000) \
             and refuses to touch a real AWS account",
        )?;
    let region = std::env::var("AWS_REGION")
        .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|_| sandbox::moto::REGION.to_owned());
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(sandbox::moto::http_client())
        .region(Region::new(region))
        .endpoint_url(endpoint);
    if std::env::var("AWS_ACCESS_KEY_ID").is_err() {
        loader = loader.credentials_provider(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "sandbox-static",
        ));
    }
    Ok(loader.load().await)
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<(), Error> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| format!("create {}: {e}", parent.display()))?;
    }
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text + "\n").map_err(|e| format!("write {}: {e}", path.display()).into())
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

// ---------------------------------------------------------------------------------------------------------
// seed

async fn seed(args: &Args, state_path: &Path) -> Result<ExitCode, Error> {
    let sdk = sdk().await?;
    if args.flag("reset") {
        let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
        sandbox::moto::reset(endpoint.trim_end_matches('/')).await?;
        println!("moto reset: every account emptied");
    }
    let account_id = fresh_account_id(&sdk).await?;
    let w = World::seed(sdk.clone(), &account_id).await?;
    let stuck = w
        .nodegroup_instance_ids()
        .await?
        .into_iter()
        .next()
        .ok_or("the nodegroup launched no instance")?;
    let (topic_arn, queue_url) = report_queue(&sdk, &w.region, &account_id).await?;
    write_seed_outputs(args, state_path, &w, topic_arn, queue_url, stuck).await?;
    Ok(ExitCode::SUCCESS)
}

/// The account moto serves, refusing one that already holds the seed's cluster.
async fn fresh_account_id(sdk: &SdkConfig) -> Result<String, Error> {
    let account_id = aws_sdk_sts::Client::new(sdk)
        .get_caller_identity()
        .send()
        .await
        .context("sts:GetCallerIdentity")?
        .account()
        .unwrap_or(sandbox::moto::DEFAULT_ACCOUNT_ID)
        .to_owned();
    let existing = aws_sdk_eks::Client::new(sdk)
        .describe_cluster()
        .name(world::CLUSTER_NAME)
        .send()
        .await;
    if existing.is_ok() {
        return Err(format!(
            "moto already has cluster {} in account {account_id}: restart moto or run `sandbox seed --reset`",
            world::CLUSTER_NAME
        )
        .into());
    }

    Ok(account_id)
}

/// Report topic and a queue subscribed to it (raw delivery off: SQS bodies are SNS envelopes).
/// Returns `(topic ARN, queue URL)`.
async fn report_queue(
    sdk: &SdkConfig,
    region: &str,
    account_id: &str,
) -> Result<(String, String), Error> {
    let sns = aws_sdk_sns::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let topic_arn = sns
        .create_topic()
        .name(TOPIC_NAME)
        .send()
        .await
        .context("sns:CreateTopic")?
        .topic_arn()
        .ok_or("sns:CreateTopic returned no TopicArn")?
        .to_owned();
    let queue_url = sqs
        .create_queue()
        .queue_name(QUEUE_NAME)
        .send()
        .await
        .context("sqs:CreateQueue")?
        .queue_url()
        .ok_or("sqs:CreateQueue returned no QueueUrl")?
        .to_owned();
    let queue_arn = format!("arn:aws:sqs:{}:{account_id}:{QUEUE_NAME}", region);
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": "sns.amazonaws.com" },
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": { "ArnEquals": { "aws:SourceArn": topic_arn } },
        }],
    });
    sqs.set_queue_attributes()
        .queue_url(&queue_url)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::Policy,
            policy.to_string(),
        )
        .send()
        .await
        .context("sqs:SetQueueAttributes Policy")?;
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .send()
        .await
        .context("sns:Subscribe")?;

    Ok((topic_arn, queue_url))
}

/// The state file, the launch event, and the story (or one line with `--quiet`).
async fn write_seed_outputs(
    args: &Args,
    state_path: &Path,
    w: &World,
    topic_arn: String,
    queue_url: String,
    stuck: String,
) -> Result<(), Error> {
    let account_id = &w.account_id;
    let state = State::new(w, topic_arn.clone(), queue_url.clone(), stuck.clone());
    write_json(state_path, &state)?;
    let event_path = match args.get("event-out") {
        Some(p) => PathBuf::from(p),
        None => state_path
            .parent()
            .unwrap_or(Path::new("."))
            .join("launch-event.json"),
    };
    write_json(&event_path, &w.launch_event(&stuck).await?)?;

    if args.flag("quiet") {
        println!(
            "World of the seed built in account {account_id} ({}): VPC {}, new subnet {} (10.42.192.0/19), cluster {}, nodegroup {}, stuck instance {stuck}.",
            w.region, w.vpc_id, w.new_subnet_id, w.cluster_name, w.nodegroup_name
        );
    } else {
        print_story(w, &stuck).await?;
    }
    println!();
    println!("SNS topic:            {topic_arn}");
    println!("subscribed SQS queue: {queue_url}");
    println!("state:                {}", state_path.display());
    println!("launch event:         {}", event_path.display());
    Ok(())
}

/// The seed's steps 2–5, as the AWS CLI would show them.
async fn print_story(w: &World, instance_id: &str) -> Result<(), Error> {
    println!(
        "World of the seed built in account {} ({}): cluster {}, nodegroup {}.",
        w.account_id, w.region, w.cluster_name, w.nodegroup_name
    );
    story_nodegroup(w).await?;
    story_scaling_activities(w, instance_id).await?;
    story_instance(w, instance_id).await?;
    story_subnet(w).await?;
    story_subnet_tables(w).await?;
    story_routes(w, instance_id).await
}

/// Step 2: the nodegroup is ACTIVE with no health issues.
async fn story_nodegroup(w: &World) -> Result<(), Error> {
    println!(
        "\n== Step 2: aws eks describe-nodegroup --cluster-name {} --nodegroup-name {}",
        w.cluster_name, w.nodegroup_name
    );
    let ng = w
        .eks()
        .describe_nodegroup()
        .cluster_name(&w.cluster_name)
        .nodegroup_name(&w.nodegroup_name)
        .send()
        .await
        .context("eks:DescribeNodegroup")?
        .nodegroup
        .ok_or("eks:DescribeNodegroup returned no nodegroup")?;
    let scaling = ng.scaling_config();
    let issues: Vec<Value> = ng
        .health()
        .map(|h| h.issues())
        .unwrap_or_default()
        .iter()
        .map(|i| {
            json!({
                "code": i.code().map(|c| c.as_str()),
                "message": i.message(),
                "resourceIds": i.resource_ids(),
            })
        })
        .collect();
    println!(
        "{}",
        pretty(&json!({
            "nodegroupName": ng.nodegroup_name(),
            "nodegroupArn": ng.nodegroup_arn(),
            "clusterName": ng.cluster_name(),
            "status": ng.status().map(|s| s.as_str()),
            "capacityType": ng.capacity_type().map(|c| c.as_str()),
            "scalingConfig": {
                "minSize": scaling.and_then(|s| s.min_size()),
                "maxSize": scaling.and_then(|s| s.max_size()),
                "desiredSize": scaling.and_then(|s| s.desired_size()),
            },
            "health": { "issues": issues },
        }))
    );
    let moto_asgs: Vec<&str> = ng
        .resources()
        .map(|r| r.auto_scaling_groups())
        .unwrap_or_default()
        .iter()
        .filter_map(|g| g.name())
        .collect();
    println!(
        "(moto's nodegroup lists ASG {moto_asgs:?}, a name it invents; the real group is {})",
        w.asg_name
    );
    Ok(())
}

/// Step 3: the Auto Scaling group launched the instance.
async fn story_scaling_activities(w: &World, instance_id: &str) -> Result<(), Error> {
    println!(
        "\n== Step 3: aws autoscaling describe-scaling-activities --auto-scaling-group-name {}",
        w.asg_name
    );
    let activities = w
        .autoscaling()
        .describe_scaling_activities()
        .auto_scaling_group_name(&w.asg_name)
        .send()
        .await
        .context("autoscaling:DescribeScalingActivities")?;
    if activities.activities().is_empty() {
        println!("(moto records no scaling activities; the group launched {instance_id} in the new subnet)");
    } else {
        let list: Vec<Value> = activities
            .activities()
            .iter()
            .map(|a| {
                json!({
                    "AutoScalingGroupName": a.auto_scaling_group_name(),
                    "Description": a.description(),
                    "Cause": a.cause(),
                    "StatusCode": a.status_code().map(|s| s.as_str()),
                })
            })
            .collect();
        println!("{}", pretty(&Value::Array(list)));
    }
    Ok(())
}

/// Step 4: the instance is running in the new subnet.
async fn story_instance(w: &World, instance_id: &str) -> Result<(), Error> {
    println!("\n== Step 4: aws ec2 describe-instances --instance-ids {instance_id}");
    let ec2 = w.ec2();
    let out = ec2
        .describe_instances()
        .instance_ids(instance_id)
        .send()
        .await
        .context("ec2:DescribeInstances")?;
    let instance = out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .next()
        .ok_or_else(|| format!("instance {instance_id} not found"))?;
    let groups: Vec<Value> = instance
        .security_groups()
        .iter()
        .map(|g| json!({ "GroupName": g.group_name(), "GroupId": g.group_id() }))
        .collect();
    println!(
        "{}",
        pretty(&json!([[{
            "InstanceState": instance.state().and_then(|s| s.name()).map(|n| n.as_str()),
            "SubnetId": instance.subnet_id(),
            "VpcId": instance.vpc_id(),
            "PrivateDnsName": instance.private_dns_name(),
            "SecurityGroups": groups,
        }]]))
    );
    Ok(())
}

/// Step 5.1: the new subnet.
async fn story_subnet(w: &World) -> Result<(), Error> {
    let ec2 = w.ec2();
    println!(
        "\n== Step 5.1: aws ec2 describe-subnets --subnet-ids {}",
        w.new_subnet_id
    );
    let subnets = ec2
        .describe_subnets()
        .subnet_ids(&w.new_subnet_id)
        .send()
        .await
        .context("ec2:DescribeSubnets")?;
    let subnet = subnets
        .subnets()
        .first()
        .ok_or_else(|| format!("subnet {} not found", w.new_subnet_id))?;
    println!(
        "{}",
        pretty(&json!([{
            "AvailabilityZone": subnet.availability_zone(),
            "AvailableIpAddressCount": subnet.available_ip_address_count(),
            "CidrBlock": subnet.cidr_block(),
            "State": subnet.state().map(|s| s.as_str()),
        }]))
    );
    Ok(())
}

/// Step 5.2: the route table associated with the new subnet.
async fn story_subnet_tables(w: &World) -> Result<(), Error> {
    let ec2 = w.ec2();
    println!(
        "\n== Step 5.2: aws ec2 describe-route-tables --filters Name=association.subnet-id,Values={}",
        w.new_subnet_id
    );
    let tables = ec2
        .describe_route_tables()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("association.subnet-id")
                .values(&w.new_subnet_id)
                .build(),
        )
        .send()
        .await
        .context("ec2:DescribeRouteTables")?;
    let listed: Vec<Value> = tables
        .route_tables()
        .iter()
        .map(|t| {
            json!({
                "RouteTableId": t.route_table_id(),
                "AssociatedSubnets": t.associations().iter().filter_map(|a| a.subnet_id()).collect::<Vec<_>>(),
            })
        })
        .collect();
    println!("{}", pretty(&Value::Array(listed)));
    Ok(())
}

/// Step 5.3: its routes, local only.
async fn story_routes(w: &World, instance_id: &str) -> Result<(), Error> {
    let ec2 = w.ec2();
    let table_id = w
        .new_route_table_id
        .clone()
        .unwrap_or_else(|| w.main_route_table_id.clone());

    println!("\n== Step 5.3: aws ec2 describe-route-tables --route-table-ids {table_id} --query 'RouteTables[0].Routes'");
    println!("{}", pretty(&routes_json(&ec2, &table_id).await?));
    println!(
        "\nThe route table has only the local route: no path to the internet for {instance_id}.\n\
         NAT gateway of the existing nodegroups: {}",
        w.nat_gateway_id
    );
    Ok(())
}

/// `describe-route-tables` style JSON of a table's `Routes`.
async fn routes_json(ec2: &aws_sdk_ec2::Client, table_id: &str) -> Result<Value, Error> {
    let out = ec2
        .describe_route_tables()
        .route_table_ids(table_id)
        .send()
        .await
        .context("ec2:DescribeRouteTables")?;
    let table = out
        .route_tables()
        .first()
        .ok_or_else(|| format!("route table {table_id} not found"))?;
    let routes: Vec<Value> = table
        .routes()
        .iter()
        .map(|r| {
            let mut o = serde_json::Map::new();
            let mut put = |k: &str, v: Option<&str>| {
                if let Some(v) = v {
                    o.insert(k.to_owned(), v.into());
                }
            };
            put("DestinationCidrBlock", r.destination_cidr_block());
            put("DestinationIpv6CidrBlock", r.destination_ipv6_cidr_block());
            put("DestinationPrefixListId", r.destination_prefix_list_id());
            put("GatewayId", r.gateway_id());
            put("NatGatewayId", r.nat_gateway_id());
            put("TransitGatewayId", r.transit_gateway_id());
            put("VpcPeeringConnectionId", r.vpc_peering_connection_id());
            put("NetworkInterfaceId", r.network_interface_id());
            put("InstanceId", r.instance_id());
            put("Origin", r.origin().map(|x| x.as_str()));
            put("State", r.state().map(|x| x.as_str()));
            Value::Object(o)
        })
        .collect();
    Ok(Value::Array(routes))
}

// ---------------------------------------------------------------------------------------------------------
// fake-kube, nodes, wait-ready

async fn fake_kube(args: &Args, state_path: &Path) -> Result<ExitCode, Error> {
    let state = State::load(state_path)?;
    let port = u16::try_from(args.number("port", 6443)?).map_err(|_| "--port is not a port")?;
    let ca_file = args.path("ca-file", ".sandbox/kube-ca.pem");
    let kube = FakeKube::start_on(sdk().await?, &state.cluster_name, port, ca_file).await?;
    kube.set_verbose(!args.flag("quiet"));
    println!("fake-kube listening on {}", kube.endpoint);
    std::io::stdout().flush()?;
    std::future::pending::<()>().await;
    Ok(ExitCode::SUCCESS)
}

fn selector_path(nodegroup: &str) -> String {
    format!("/api/v1/nodes?labelSelector=eks.amazonaws.com%2Fnodegroup%3D{nodegroup}")
}

/// Nodes of the nodegroup as the fake API serves them (over HTTPS, with an unsigned token of the right shape).
async fn nodes_over_https(
    state: &State,
    endpoint: &str,
    ca_file: &Path,
) -> Result<Vec<NodeView>, Error> {
    let (status, body) = kube::get_json(
        endpoint,
        ca_file,
        &state.region,
        &selector_path(&state.nodegroup_name),
    )
    .await?;
    if status != 200 {
        return Err(format!("fake-kube answered {status}: {body}").into());
    }
    Ok(kube::node_views(&body, SystemTime::now()))
}

async fn nodes(args: &Args, state_path: &Path) -> Result<ExitCode, Error> {
    let state = State::load(state_path)?;
    let endpoint = args.get("endpoint").unwrap_or("https://127.0.0.1:6443");
    let ca_file = args.path("ca-file", ".sandbox/kube-ca.pem");
    println!(
        "$ kubectl get nodes --selector=eks.amazonaws.com/nodegroup={}",
        state.nodegroup_name
    );
    let nodes = nodes_over_https(&state, endpoint, &ca_file).await?;
    print!("{}", kube::render_nodes(&nodes));
    Ok(ExitCode::SUCCESS)
}

async fn wait_ready(args: &Args, state_path: &Path) -> Result<ExitCode, Error> {
    let state = State::load(state_path)?;
    let timeout = Duration::from_secs(args.number("timeout", 90)?);
    let sdk = sdk().await?;
    let https = match (args.get("endpoint"), args.get("ca-file")) {
        (Some(e), Some(c)) => Some((e.to_owned(), PathBuf::from(c))),
        _ => None,
    };
    let deadline = Instant::now() + timeout;
    loop {
        let nodes = match &https {
            Some((endpoint, ca_file)) => nodes_over_https(&state, endpoint, ca_file).await?,
            None => kube::simulate_nodes(&sdk, &state.cluster_name).await?,
        };
        let ready: Vec<NodeView> = nodes
            .into_iter()
            .filter(|n| n.ready && n.nodegroup.as_deref() == Some(state.nodegroup_name.as_str()))
            .collect();
        if !ready.is_empty() {
            println!(
                "$ kubectl get nodes --selector=eks.amazonaws.com/nodegroup={}",
                state.nodegroup_name
            );
            print!("{}", kube::render_nodes(&ready));
            return Ok(ExitCode::SUCCESS);
        }
        if Instant::now() > deadline {
            eprintln!(
                "sandbox: no Ready node of nodegroup {} within {timeout:?}",
                state.nodegroup_name
            );
            return Ok(ExitCode::FAILURE);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

// ---------------------------------------------------------------------------------------------------------
// routes, sns, replacement-event

async fn routes(state_path: &Path) -> Result<ExitCode, Error> {
    let state = State::load(state_path)?;
    let sdk = sdk().await?;
    let table_id = state
        .new_route_table_id
        .clone()
        .unwrap_or_else(|| state.main_route_table_id.clone());
    println!(
        "$ aws ec2 describe-route-tables --route-table-ids {table_id} --query 'RouteTables[0].Routes'"
    );
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    println!("{}", pretty(&routes_json(&ec2, &table_id).await?));
    Ok(ExitCode::SUCCESS)
}

async fn sns(args: &Args, state_path: &Path) -> Result<ExitCode, Error> {
    let state = State::load(state_path)?;
    let wait = Duration::from_secs(args.number("wait-seconds", 10)?);
    let sqs = aws_sdk_sqs::Client::new(&sdk().await?);
    let deadline = Instant::now() + wait;
    let mut printed = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let out = sqs
            .receive_message()
            .queue_url(&state.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(left.as_secs().clamp(0, 20) as i32)
            .send()
            .await
            .context("sqs:ReceiveMessage")?;
        for message in out.messages() {
            print_sns_envelope(message.body().unwrap_or_default());
            printed += 1;
            if let Some(handle) = message.receipt_handle() {
                sqs.delete_message()
                    .queue_url(&state.queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .context("sqs:DeleteMessage")?;
            }
        }
        if printed > 0 && out.messages().is_empty() {
            return Ok(ExitCode::SUCCESS);
        }
        if Instant::now() >= deadline {
            if printed > 0 {
                return Ok(ExitCode::SUCCESS);
            }
            eprintln!("sandbox: no message on {} within {wait:?}", state.queue_url);
            return Ok(ExitCode::FAILURE);
        }
        if out.messages().is_empty() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

fn print_sns_envelope(body: &str) {
    let Ok(envelope) = serde_json::from_str::<Value>(body) else {
        println!("(not an SNS envelope)\n{body}");
        return;
    };
    let text = |k: &str| envelope.get(k).and_then(Value::as_str).unwrap_or_default();
    println!("--- SNS message from {}", text("TopicArn"));
    println!("Subject: {}", text("Subject"));
    let attributes: Vec<String> = envelope
        .get("MessageAttributes")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    format!(
                        "{k}={}",
                        v.get("Value").and_then(Value::as_str).unwrap_or_default()
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    println!("MessageAttributes: {}", attributes.join(", "));
    let message = text("Message");
    match serde_json::from_str::<Value>(message) {
        // The remediator's JSON report: show the readable body people get, and what the JSON carries.
        Ok(json) if json.get("text").and_then(Value::as_str).is_some() => {
            let keys: Vec<&str> = json
                .as_object()
                .map(|o| {
                    o.keys()
                        .map(String::as_str)
                        .filter(|k| *k != "text")
                        .collect()
                })
                .unwrap_or_default();
            println!("Message: JSON for machine subscribers with {}; its `text` (what e-mail subscribers get):", keys.join(", "));
            println!();
            for line in json
                .get("text")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .lines()
            {
                println!("  {line}");
            }
        }
        Ok(json) if json.is_object() => println!("Message:\n{}", pretty(&json)),
        _ => println!("Message:\n{message}"),
    }
}

async fn replacement_event(args: &Args, state_path: &Path) -> Result<ExitCode, Error> {
    let state = State::load(state_path)?;
    let out = args.path("out", ".sandbox/replacement-event.json");
    let w = state.world(sdk().await?);
    let ec2 = w.ec2();
    for id in w.nodegroup_instance_ids().await? {
        if id == state.stuck_instance_id {
            continue;
        }
        let described = ec2
            .describe_instances()
            .instance_ids(&id)
            .send()
            .await
            .context("ec2:DescribeInstances")?;
        let running = described
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .any(|i| {
                i.state().and_then(|s| s.name())
                    == Some(&aws_sdk_ec2::types::InstanceStateName::Running)
            });
        if running {
            write_json(&out, &w.launch_event(&id).await?)?;
            println!(
                "replacement instance {id}: launch event written to {}",
                out.display()
            );
            return Ok(ExitCode::SUCCESS);
        }
    }
    eprintln!(
        "sandbox: nodegroup {} has no running instance other than the stuck {}",
        state.nodegroup_name, state.stuck_instance_id
    );
    Ok(ExitCode::FAILURE)
}
