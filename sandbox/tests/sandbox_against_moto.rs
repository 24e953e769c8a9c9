//! The sandbox itself, against moto 5.2.5: one fresh account per test.
//! These also pin the moto behaviours the project's tests rely on.

use std::time::SystemTime;

use aws_sdk_ec2::types::Filter;
use sandbox::fault::FaultServer;
use sandbox::kube::{self, FakeKube};
use sandbox::moto::Moto;
use sandbox::world::{DefaultTarget, NewSubnetRouting, World, WorldOptions};

async fn world(opts: WorldOptions) -> World {
    let moto = Moto::shared().await;
    let (sdk, account) = moto.fresh_account().await;
    World::build(sdk, &account, opts)
        .await
        .expect("world builds in moto")
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

fn selector(ng: &str) -> String {
    format!("/api/v1/nodes?labelSelector=eks.amazonaws.com%2Fnodegroup%3D{ng}")
}

async fn listed(kube: &FakeKube, w: &World) -> Vec<kube::NodeView> {
    let (status, body) = kube::get_json(
        &kube.endpoint,
        &kube.ca_file,
        &w.region,
        &selector(&w.nodegroup_name),
    )
    .await
    .expect("fake-kube answers over HTTPS");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["kind"], "NodeList");
    kube::node_views(&body, SystemTime::now())
}

#[tokio::test]
async fn fresh_accounts_are_isolated() {
    let moto = Moto::shared().await;
    let (sdk_a, account_a) = moto.fresh_account().await;
    let (sdk_b, account_b) = moto.fresh_account().await;
    assert_ne!(account_a, account_b);
    let who = aws_sdk_sts::Client::new(&sdk_a)
        .get_caller_identity()
        .send()
        .await
        .expect("sts:GetCallerIdentity");
    assert_eq!(who.account(), Some(account_a.as_str()));

    let a = World::seed(sdk_a, &account_a).await.expect("seed world");
    let ec2_b = aws_sdk_ec2::Client::new(&sdk_b);
    let vpcs_b = ec2_b.describe_vpcs().send().await.expect("describe vpcs");
    assert!(vpcs_b
        .vpcs()
        .iter()
        .all(|v| v.vpc_id() != Some(a.vpc_id.as_str())));
    let clusters_b = aws_sdk_eks::Client::new(&sdk_b)
        .list_clusters()
        .send()
        .await
        .expect("list clusters");
    assert!(
        clusters_b.clusters().is_empty(),
        "{:?}",
        clusters_b.clusters()
    );
    let asgs_b = aws_sdk_autoscaling::Client::new(&sdk_b)
        .describe_auto_scaling_groups()
        .send()
        .await
        .expect("describe asgs");
    assert!(asgs_b.auto_scaling_groups().is_empty());
    let default = moto.default_account().await;
    let vpcs_default = aws_sdk_ec2::Client::new(&default)
        .describe_vpcs()
        .send()
        .await
        .expect("describe vpcs");
    assert!(vpcs_default
        .vpcs()
        .iter()
        .all(|v| v.vpc_id() != Some(a.vpc_id.as_str())));
}

#[tokio::test]
async fn seed_world_looks_like_the_seed() {
    let w = world(WorldOptions::default()).await;
    let ec2 = w.ec2();

    // New subnet: 10.42.192.0/19 in us-west-2a, explicit table with the local route only.
    let subnet = ec2
        .describe_subnets()
        .subnet_ids(&w.new_subnet_id)
        .send()
        .await
        .expect("describe subnet");
    let subnet = &subnet.subnets()[0];
    assert_eq!(subnet.cidr_block(), Some("10.42.192.0/19"));
    assert_eq!(subnet.availability_zone(), Some("us-west-2a"));
    let rt = w.new_route_table_id.clone().expect("explicit table");
    assert_eq!(
        w.routes(&rt).await.expect("routes"),
        vec![(
            "10.42.0.0/16".to_owned(),
            "local".to_owned(),
            "active".to_owned()
        )]
    );
    let by_assoc = ec2
        .describe_route_tables()
        .filters(filter("association.subnet-id", &w.new_subnet_id))
        .send()
        .await
        .expect("filter association.subnet-id");
    assert_eq!(
        by_assoc.route_tables()[0].route_table_id(),
        Some(rt.as_str())
    );

    // Private and public tables.
    let private = w.routes(&w.private_route_table_id).await.expect("routes");
    assert!(private.contains(&(
        "0.0.0.0/0".into(),
        w.nat_gateway_id.clone(),
        "active".into()
    )));
    let public = w.routes(&w.public_route_table_id).await.expect("routes");
    assert!(public.contains(&("0.0.0.0/0".into(), w.igw_id.clone(), "active".into())));
    let main = ec2
        .describe_route_tables()
        .filters(filter("vpc-id", &w.vpc_id))
        .filters(filter("association.main", "true"))
        .send()
        .await
        .expect("filter association.main");
    assert_eq!(main.route_tables().len(), 1);
    assert_eq!(
        main.route_tables()[0].route_table_id(),
        Some(w.main_route_table_id.as_str())
    );

    // NAT available in public-a.
    let nat = ec2
        .describe_nat_gateways()
        .nat_gateway_ids(&w.nat_gateway_id)
        .send()
        .await
        .expect("nat");
    let nat = &nat.nat_gateways()[0];
    assert_eq!(nat.state().map(|s| s.as_str()), Some("available"));
    assert_eq!(nat.subnet_id(), Some(w.public_subnet_ids[0].as_str()));

    // The nodegroup's instance: running in the new subnet, cluster SG, EKS tags propagated.
    let ids = w.nodegroup_instance_ids().await.expect("asg instances");
    assert_eq!(ids.len(), 1);
    let out = ec2
        .describe_instances()
        .instance_ids(&ids[0])
        .send()
        .await
        .expect("instance");
    let i = &out.reservations()[0].instances()[0];
    assert_eq!(
        i.state().and_then(|s| s.name()).map(|n| n.as_str()),
        Some("running")
    );
    assert_eq!(i.subnet_id(), Some(w.new_subnet_id.as_str()));
    assert_eq!(i.vpc_id(), Some(w.vpc_id.as_str()));
    assert_eq!(
        i.security_groups()[0].group_name(),
        Some("eks-cluster-sg-eks-workshop-123456789")
    );
    let tag = |k: &str| {
        i.tags()
            .iter()
            .find(|t| t.key() == Some(k))
            .and_then(|t| t.value())
    };
    assert_eq!(tag("eks:cluster-name"), Some("eks-workshop"));
    assert_eq!(tag("eks:nodegroup-name"), Some("new_nodegroup_2"));
    assert_eq!(tag("kubernetes.io/cluster/eks-workshop"), Some("owned"));
    assert_eq!(tag("aws:autoscaling:groupName"), Some(w.asg_name.as_str()));
    let dns = i.private_dns_name().expect("private dns name");
    assert!(dns.starts_with("ip-10-42-192-"), "{dns}");
    assert!(
        w.asg_name.starts_with("eks-new_nodegroup_2-"),
        "{}",
        w.asg_name
    );

    // VPC DNS attributes.
    let support = ec2
        .describe_vpc_attribute()
        .vpc_id(&w.vpc_id)
        .attribute(aws_sdk_ec2::types::VpcAttributeName::EnableDnsSupport)
        .send()
        .await
        .expect("dns support");
    assert_eq!(
        support.enable_dns_support().and_then(|a| a.value()),
        Some(true)
    );
    let hostnames = ec2
        .describe_vpc_attribute()
        .vpc_id(&w.vpc_id)
        .attribute(aws_sdk_ec2::types::VpcAttributeName::EnableDnsHostnames)
        .send()
        .await
        .expect("dns hostnames");
    assert_eq!(
        hostnames.enable_dns_hostnames().and_then(|a| a.value()),
        Some(true)
    );

    // Nodegroup as the seed's step 2 shows it.
    let ng = w
        .eks()
        .describe_nodegroup()
        .cluster_name("eks-workshop")
        .nodegroup_name("new_nodegroup_2")
        .send()
        .await
        .expect("nodegroup")
        .nodegroup
        .expect("nodegroup body");
    assert_eq!(ng.status().map(|s| s.as_str()), Some("ACTIVE"));
    assert_eq!(ng.scaling_config().and_then(|s| s.desired_size()), Some(1));
    assert_eq!(ng.subnets(), std::slice::from_ref(&w.new_subnet_id));
}

#[tokio::test]
async fn launch_event_names_the_instance_its_group_subnet_and_zone() {
    let w = world(WorldOptions::default()).await;
    let id = w.nodegroup_instance_ids().await.expect("ids")[0].clone();
    let event = w.launch_event(&id).await.expect("event");
    assert_eq!(event["detail-type"], "EC2 Instance Launch Successful");
    assert_eq!(event["source"], "aws.autoscaling");
    assert_eq!(event["account"], w.account_id.as_str());
    assert_eq!(event["region"], "us-west-2");
    assert_eq!(event["detail"]["EC2InstanceId"], id.as_str());
    assert_eq!(event["detail"]["AutoScalingGroupName"], w.asg_name.as_str());
    assert_eq!(
        event["detail"]["Details"]["Subnet ID"],
        w.new_subnet_id.as_str()
    );
    assert_eq!(
        event["detail"]["Details"]["Availability Zone"],
        "us-west-2a"
    );
    let resources = event["resources"].as_array().expect("resources");
    assert!(resources[0]
        .as_str()
        .expect("arn")
        .ends_with(&format!("autoScalingGroupName/{}", w.asg_name)));
    assert!(resources[0].as_str().expect("arn").contains(&w.account_id));
    assert_eq!(
        resources[1],
        format!("arn:aws:ec2:us-west-2:{}:instance/{id}", w.account_id).as_str()
    );
    assert!(!event.to_string().contains("i-1234abcd1234abcd1"));
    assert!(!event.to_string().contains("123456789012"));
}

#[tokio::test]
async fn stuck_node_joins_once_the_subnet_routes_to_the_nat() {
    let w = world(WorldOptions::default()).await;
    let kube = FakeKube::start(w.sdk.clone(), &w.cluster_name)
        .await
        .expect("fake kube");
    assert!(kube.ca_file.is_file());
    assert!(kube.ca_pem.contains("BEGIN CERTIFICATE"));
    assert!(listed(&kube, &w).await.is_empty(), "no route: no node");
    assert_eq!(kube.requests_seen(), 1);

    let rt = w.new_route_table_id.clone().expect("explicit table");
    w.set_new_subnet_default_route(DefaultTarget::Nat(w.nat_gateway_id.clone()))
        .await
        .expect("create route");
    assert!(w.routes(&rt).await.expect("routes").contains(&(
        "0.0.0.0/0".into(),
        w.nat_gateway_id.clone(),
        "active".into()
    )));
    let id = w.nodegroup_instance_ids().await.expect("ids")[0].clone();
    let nodes = listed(&kube, &w).await;
    assert_eq!(nodes.len(), 1);
    assert!(nodes[0].ready);
    assert_eq!(nodes[0].provider_id, format!("aws:///us-west-2a/{id}"));
    assert_eq!(nodes[0].nodegroup.as_deref(), Some("new_nodegroup_2"));

    // By name, and a name that does not exist.
    let (status, node) = kube::get_json(
        &kube.endpoint,
        &kube.ca_file,
        "us-west-2",
        &format!("/api/v1/nodes/{}", nodes[0].name),
    )
    .await
    .expect("get node");
    assert_eq!(status, 200);
    assert_eq!(node["spec"]["providerID"], nodes[0].provider_id.as_str());
    assert_eq!(
        node["status"]["nodeInfo"]["kubeletVersion"],
        "v1.30.0-eks-036c24b"
    );
    assert_eq!(
        node["metadata"]["labels"]["topology.kubernetes.io/zone"],
        "us-west-2a"
    );
    let (status, missing) = kube::get_json(
        &kube.endpoint,
        &kube.ca_file,
        "us-west-2",
        "/api/v1/nodes/ip-10-0-0-1.ec2.internal",
    )
    .await
    .expect("get missing node");
    assert_eq!(status, 404);
    assert_eq!(missing["kind"], "Status");
    assert_eq!(missing["reason"], "NotFound");
    let (status, _) = kube::get_json(&kube.endpoint, &kube.ca_file, "us-west-2", "/api/v1/pods")
        .await
        .expect("other path");
    assert_eq!(status, 404);

    // Other selector: nothing.
    let (_, other) = kube::get_json(
        &kube.endpoint,
        &kube.ca_file,
        "us-west-2",
        &selector("other"),
    )
    .await
    .expect("other selector");
    assert_eq!(other["items"].as_array().map(Vec::len), Some(0));

    // Terminated: the node goes away (and moto's ASG launches a replacement, which joins).
    w.terminate_instance(&id).await.expect("terminate");
    let after = kube.nodes().await.expect("nodes");
    assert!(
        after.iter().all(|n| !n.provider_id.ends_with(&id)),
        "{after:?}"
    );
    let replacement = w.nodegroup_instance_ids().await.expect("ids");
    assert_eq!(
        replacement.len(),
        1,
        "moto replaces an ec2-terminated ASG instance"
    );
    assert_ne!(replacement[0], id);
    assert!(after
        .iter()
        .any(|n| n.provider_id.ends_with(&replacement[0])));
}

#[tokio::test]
async fn fake_kube_demands_an_eks_token_and_can_refuse() {
    let w = world(WorldOptions::routed(NewSubnetRouting::ViaNat)).await;
    let kube = FakeKube::start(w.sdk.clone(), &w.cluster_name)
        .await
        .expect("fake kube");
    assert_eq!(listed(&kube, &w).await.len(), 1, "ViaNat: the node joins");

    // Plain TLS request without a token: 401 Status, not counted.
    let before = kube.requests_seen();
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject;
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(kube.ca_pem.as_bytes()) {
        roots.add(cert.expect("pem")).expect("add CA");
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let port = kube.endpoint.rsplit(':').next().expect("port");
    let tcp = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}"))
        .await
        .expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let mut tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("TLS with localhost name");
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tls.write_all(b"GET /api/v1/nodes HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut raw = Vec::new();
    let _ = tls.read_to_end(&mut raw).await;
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 401"), "{text}");
    assert!(text.contains("\"reason\":\"Unauthorized\""), "{text}");
    assert_eq!(kube.requests_seen(), before);

    kube.refuse_with(Some(403));
    let (status, body) = kube::get_json(
        &kube.endpoint,
        &kube.ca_file,
        "us-west-2",
        &selector("new_nodegroup_2"),
    )
    .await
    .expect("refused request");
    assert_eq!(status, 403);
    assert_eq!(body["reason"], "Forbidden");
    kube.refuse_with(None);
    assert_eq!(listed(&kube, &w).await.len(), 1);
}

#[tokio::test]
async fn main_table_world_and_dead_nat() {
    let w = world(WorldOptions {
        desired_capacity: 2,
        ..WorldOptions::routed(NewSubnetRouting::MainTable)
    })
    .await;
    assert_eq!(w.new_route_table_id, None);
    assert_eq!(w.nodegroup_instance_ids().await.expect("ids").len(), 2);
    let by_assoc = w
        .ec2()
        .describe_route_tables()
        .filters(filter("association.subnet-id", &w.new_subnet_id))
        .send()
        .await
        .expect("filter");
    assert!(
        by_assoc.route_tables().is_empty(),
        "no explicit association"
    );
    assert!(w
        .set_new_subnet_default_route(DefaultTarget::Nat(w.nat_gateway_id.clone()))
        .await
        .is_err());
    let kube = FakeKube::start(w.sdk.clone(), &w.cluster_name)
        .await
        .expect("fake kube");
    assert!(kube.nodes().await.expect("nodes").is_empty());

    // A second NAT in public-b, then deleted: NAT state after create and after delete.
    let nat = w
        .add_nat_gateway(&w.public_subnet_ids[1])
        .await
        .expect("nat");
    w.delete_nat_gateway(&nat).await.expect("delete nat");
    let state = w
        .ec2()
        .describe_nat_gateways()
        .nat_gateway_ids(&nat)
        .send()
        .await
        .expect("nat")
        .nat_gateways()[0]
        .state()
        .map(|s| s.as_str().to_owned());
    assert_eq!(state.as_deref(), Some("deleted"));
}

#[tokio::test]
async fn default_route_targets_and_non_eks_groups() {
    let w = world(WorldOptions::default()).await;
    let rt = w.new_route_table_id.clone().expect("table");
    let kube = FakeKube::start(w.sdk.clone(), &w.cluster_name)
        .await
        .expect("fake kube");

    // TGW: alive for the Lambda, but the simulator gives no egress through it.
    let tgw = w.create_transit_gateway().await.expect("tgw");
    w.set_new_subnet_default_route(DefaultTarget::TransitGateway(tgw.clone()))
        .await
        .expect("route to tgw");
    assert!(w.routes(&rt).await.expect("routes").contains(&(
        "0.0.0.0/0".into(),
        tgw.clone(),
        "active".into()
    )));
    assert!(kube.nodes().await.expect("nodes").is_empty());

    // Replace with a NAT that was deleted: moto keeps the route "active".
    let nat = w
        .add_nat_gateway(&w.public_subnet_ids[0])
        .await
        .expect("nat");
    w.delete_nat_gateway(&nat).await.expect("delete");
    w.set_new_subnet_default_route(DefaultTarget::Nat(nat.clone()))
        .await
        .expect("replace to dead nat");
    assert!(w.routes(&rt).await.expect("routes").contains(&(
        "0.0.0.0/0".into(),
        nat,
        "active".into()
    )));
    assert!(
        kube.nodes().await.expect("nodes").is_empty(),
        "dead NAT: no egress"
    );

    // IGW without a public IP: no egress either.
    w.set_new_subnet_default_route(DefaultTarget::InternetGateway(w.igw_id.clone()))
        .await
        .expect("replace to igw");
    assert!(
        kube.nodes().await.expect("nodes").is_empty(),
        "IGW but no public IP"
    );

    // Working NAT: joins.
    w.set_new_subnet_default_route(DefaultTarget::Nat(w.nat_gateway_id.clone()))
        .await
        .expect("replace to nat");
    assert_eq!(kube.nodes().await.expect("nodes").len(), 1);

    // A plain group in the same subnet is never a node.
    let (asg, instance) = w.create_non_eks_group().await.expect("non-EKS group");
    assert!(asg.starts_with("batch-workers-"));
    let tags = w
        .ec2()
        .describe_instances()
        .instance_ids(&instance)
        .send()
        .await
        .expect("instance");
    let i = &tags.reservations()[0].instances()[0];
    assert_eq!(i.subnet_id(), Some(w.new_subnet_id.as_str()));
    assert!(i
        .tags()
        .iter()
        .all(|t| !t.key().unwrap_or_default().starts_with("eks:")));
    assert!(kube
        .nodes()
        .await
        .expect("nodes")
        .iter()
        .all(|n| !n.provider_id.ends_with(&instance)));
}

/// Facts about moto's Auto Scaling and EKS the Lambda's recycle paths meet.
#[tokio::test]
async fn moto_recycles_instances_but_not_through_the_nodegroup() {
    let w = world(WorldOptions::default()).await;
    let stuck = w.nodegroup_instance_ids().await.expect("ids")[0].clone();

    w.autoscaling()
        .terminate_instance_in_auto_scaling_group()
        .instance_id(&stuck)
        .should_decrement_desired_capacity(false)
        .send()
        .await
        .expect("terminate in ASG");
    let now = w.nodegroup_instance_ids().await.expect("ids");
    assert_eq!(now.len(), 1, "replacement launched immediately");
    assert_ne!(now[0], stuck);
    let out = w
        .ec2()
        .describe_instances()
        .instance_ids(&now[0])
        .send()
        .await
        .expect("instance");
    assert_eq!(
        out.reservations()[0].instances()[0].subnet_id(),
        Some(w.new_subnet_id.as_str())
    );

    // update-nodegroup-config changes the nodegroup only: moto has no link to our ASG.
    w.eks()
        .update_nodegroup_config()
        .cluster_name(&w.cluster_name)
        .nodegroup_name(&w.nodegroup_name)
        .scaling_config(
            aws_sdk_eks::types::NodegroupScalingConfig::builder()
                .desired_size(0)
                .build(),
        )
        .send()
        .await
        .expect("update nodegroup config");
    let ng = w
        .eks()
        .describe_nodegroup()
        .cluster_name(&w.cluster_name)
        .nodegroup_name(&w.nodegroup_name)
        .send()
        .await
        .expect("nodegroup")
        .nodegroup
        .expect("body");
    assert_eq!(ng.scaling_config().and_then(|s| s.desired_size()), Some(0));
    assert_eq!(w.nodegroup_instance_ids().await.expect("ids").len(), 1);
    let moto_asg = ng.resources().expect("resources").auto_scaling_groups()[0]
        .name()
        .expect("name")
        .to_owned();
    assert_ne!(moto_asg, w.asg_name, "moto invents its own ASG name");

    let activities = w
        .autoscaling()
        .describe_scaling_activities()
        .auto_scaling_group_name(&w.asg_name)
        .send()
        .await
        .expect("describe scaling activities exists");
    assert!(activities.activities().is_empty());
}

#[tokio::test]
async fn fault_server_answers_every_call_with_its_error() {
    let fault = FaultServer::start(
        400,
        "text/xml",
        "<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to perform this operation.</Message></Error></Errors><RequestID>x</RequestID></Response>",
    )
    .await
    .expect("fault server");
    let moto = Moto::shared().await;
    let base = moto.default_account().await;
    let sdk = base.into_builder().endpoint_url(&fault.endpoint).build();
    let err = aws_sdk_ec2::Client::new(&sdk)
        .describe_route_tables()
        .send()
        .await
        .expect_err("fault server fails the call");
    let text = format!(
        "{}",
        aws_smithy_types::error::display::DisplayErrorContext(&err)
    );
    assert!(text.contains("UnauthorizedOperation"), "{text}");
    assert_eq!(fault.hits(), 1);

    let throttle = FaultServer::start(
        400,
        "application/x-amz-json-1.1",
        r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
    )
    .await
    .expect("fault server");
    let sdk = moto
        .default_account()
        .await
        .into_builder()
        .endpoint_url(&throttle.endpoint)
        .build();
    let err = aws_sdk_eks::Client::new(&sdk)
        .describe_cluster()
        .name("eks-workshop")
        .send()
        .await
        .expect_err("throttled");
    let text = format!(
        "{}",
        aws_smithy_types::error::display::DisplayErrorContext(&err)
    );
    assert!(text.contains("ThrottlingException"), "{text}");
    assert!(
        throttle.hits() > 1,
        "throttling is retried: {}",
        throttle.hits()
    );
}
