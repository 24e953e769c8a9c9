//! The world variants against moto, one test each, pinning what the kubelet simulator decides (and why):
//! the ground truth the Lambda's own tests rely on.

use sandbox::kube::egress::Verdict;
use sandbox::kube::FakeKube;
use sandbox::moto::Moto;
use sandbox::world::{DefaultTarget, NewSubnetRouting, World, WorldOptions, OFFICE_CIDR};

async fn world(opts: WorldOptions) -> World {
    let moto = Moto::shared().await;
    let (sdk, account) = moto.fresh_account().await;
    World::build(sdk, &account, opts)
        .await
        .expect("world builds in moto")
}

/// Destination → verdict of the nodegroup's (single) instance.
async fn verdicts(w: &World) -> Vec<(&'static str, Verdict)> {
    let report = w.egress_report().await.expect("egress report");
    assert_eq!(report.len(), 1, "one running instance: {report:?}");
    report[0]
        .1
        .iter()
        .map(|p| (p.destination, p.verdict()))
        .collect()
}

async fn verdict(w: &World, destination: &str) -> Verdict {
    verdicts(w)
        .await
        .into_iter()
        .find(|(d, _)| *d == destination)
        .map(|(_, v)| v)
        .expect("destination evaluated")
}

async fn joins(w: &World) -> bool {
    let nodes = w.simulated_nodes().await.expect("simulator");
    !nodes.is_empty()
}

fn blocked(v: &Verdict, needle: &str) -> bool {
    matches!(v, Verdict::Blocked(why) if why.contains(needle))
}

async fn routes(w: &World, table: &str) -> Vec<String> {
    let mut r: Vec<String> = w
        .routes(table)
        .await
        .expect("routes")
        .into_iter()
        .map(|(d, t, _)| format!("{d} -> {t}"))
        .collect();
    r.sort();
    r
}

#[tokio::test]
async fn proxy_behind_a_transit_gateway_is_unknown_and_does_not_join() {
    let w = world(WorldOptions::proxy_via_transit_gateway()).await;
    let tgw = w.transit_gateway_id.clone().expect("tgw");
    assert_eq!(
        routes(&w, w.new_subnet_table()).await,
        [
            "10.0.0.0/8 -> ".to_owned() + &tgw,
            "10.42.0.0/16 -> local".into()
        ]
    );
    for (d, v) in verdicts(&w).await {
        match d {
            "cluster-api" => assert_eq!(v, Verdict::Pass),
            _ => assert!(
                matches!(v, Verdict::Unknown(ref why) if why.contains(&tgw)),
                "{d}: {v:?}"
            ),
        }
    }
    assert!(!joins(&w).await);
}

#[tokio::test]
async fn split_default_routes_through_the_nat_join() {
    let w = world(WorldOptions::split_defaults()).await;
    let routes = routes(&w, w.new_subnet_table()).await;
    assert!(
        routes.contains(&format!("0.0.0.0/1 -> {}", w.nat_gateway_id)),
        "{routes:?}"
    );
    assert!(
        routes.contains(&format!("128.0.0.0/1 -> {}", w.nat_gateway_id)),
        "{routes:?}"
    );
    assert!(!routes.iter().any(|r| r.starts_with("0.0.0.0/0")));
    assert!(verdicts(&w).await.iter().all(|(_, v)| v.passes()));
    assert!(joins(&w).await);
}

#[tokio::test]
async fn a_nat_behind_a_firewall_endpoint_works_once_routed_to() {
    let w = world(WorldOptions::firewall_fronted_nat()).await;
    let fw = w.firewall.clone().expect("firewall");
    assert_eq!(
        routes(&w, &fw.nat.route_table_id).await,
        [
            format!("0.0.0.0/0 -> {}", fw.endpoint_id),
            "10.42.0.0/16 -> local".into()
        ]
    );
    assert!(routes(&w, &fw.route_table_id)
        .await
        .contains(&format!("0.0.0.0/0 -> {}", w.igw_id)));
    assert!(
        blocked(&verdict(&w, "sts").await, "no route"),
        "the seed: local only"
    );
    assert!(!joins(&w).await);

    let kube = FakeKube::start(w.sdk.clone(), &w.cluster_name)
        .await
        .expect("fake kube");
    assert!(kube.nodes().await.expect("nodes").is_empty());
    w.route_new_subnet_to_firewalled_nat()
        .await
        .expect("route to the firewalled NAT");
    assert!(verdicts(&w).await.iter().all(|(_, v)| v.passes()));
    assert_eq!(
        kube.nodes().await.expect("nodes").len(),
        1,
        "joins through the firewall"
    );
}

#[tokio::test]
async fn a_nat_without_its_own_route_out_blocks() {
    let w = world(WorldOptions::nat_without_internet()).await;
    let nat = w.isolated_nat.clone().expect("isolated NAT");
    assert_eq!(
        routes(&w, &nat.route_table_id).await,
        ["10.42.0.0/16 -> local"]
    );
    let v = verdict(&w, "ecr.api").await;
    assert!(
        blocked(&v, "nat-without-internet") && blocked(&v, &nat.route_table_id),
        "{v:?}"
    );
    assert!(!joins(&w).await);
}

#[tokio::test]
async fn a_private_cluster_without_an_sts_endpoint_does_not_join() {
    let mut w = world(WorldOptions::private_cluster_missing_sts()).await;
    let config = w
        .eks()
        .describe_cluster()
        .name(&w.cluster_name)
        .send()
        .await
        .expect("cluster");
    let vpc = config
        .cluster()
        .and_then(|c| c.resources_vpc_config())
        .expect("vpc config");
    assert!(vpc.endpoint_private_access() && !vpc.endpoint_public_access());
    assert!(!w.vpc_endpoints.contains_key("sts"));
    let s3 = w.vpc_endpoints["s3"].clone();
    assert!(routes(&w, w.new_subnet_table())
        .await
        .iter()
        .any(|r| r.ends_with(&s3) && r.starts_with("pl-")));
    for (d, v) in verdicts(&w).await {
        match d {
            "sts" => assert!(blocked(&v, "no route"), "{v:?}"),
            _ => assert_eq!(v, Verdict::Pass, "{d}"),
        }
    }
    assert!(!joins(&w).await);
    w.add_interface_endpoint("sts").await.expect("sts endpoint");
    assert!(joins(&w).await, "with sts the endpoints suffice");
}

#[tokio::test]
async fn a_private_cluster_with_every_endpoint_joins_without_internet() {
    let w = world(WorldOptions::private_cluster_all_endpoints()).await;
    assert_eq!(
        routes(&w, w.new_subnet_table()).await.len(),
        2,
        "local + the S3 prefix list only"
    );
    let report = w.egress_report().await.expect("report");
    for path in &report[0].1 {
        assert!(path.verdict().passes(), "{path:?}");
        assert_ne!(path.via, "internet", "{}", path.destination);
    }
    assert!(joins(&w).await);
}

#[tokio::test]
async fn a_nacl_denying_outbound_443_blocks_until_removed() {
    let w = world(WorldOptions::nacl_denies_https()).await;
    let acl = w.new_subnet_nacl_id.clone().expect("nacl");
    for (d, v) in verdicts(&w).await {
        assert!(blocked(&v, &acl), "{d}: {v:?}");
    }
    assert!(!joins(&w).await);
    w.restore_default_nacl().await.expect("default NACL");
    assert!(joins(&w).await);
}

#[tokio::test]
async fn a_node_security_group_without_443_egress_blocks_until_opened() {
    let w = world(WorldOptions::node_sg_without_https()).await;
    let sg = w.node_security_group_id.clone().expect("node SG");
    for (d, v) in verdicts(&w).await {
        assert!(
            blocked(&v, "egress TCP 443") && blocked(&v, &sg),
            "{d}: {v:?}"
        );
    }
    assert!(!joins(&w).await);
    w.allow_node_https_egress().await.expect("open 443");
    assert!(joins(&w).await, "the cluster SG admits the node SG");
}

#[tokio::test]
async fn vpc_dns_support_off_blocks_every_path() {
    let w = world(WorldOptions::dns_support_disabled()).await;
    for (d, v) in verdicts(&w).await {
        assert!(blocked(&v, "enableDnsSupport"), "{d}: {v:?}");
    }
    assert!(!joins(&w).await);
    w.set_dns_support(true).await.expect("dns on");
    assert!(joins(&w).await);
}

#[tokio::test]
async fn a_public_endpoint_that_does_not_admit_the_nat_blocks() {
    let w = world(WorldOptions::public_endpoint_excluding_nat()).await;
    for (d, v) in verdicts(&w).await {
        match d {
            "cluster-api" => assert!(
                blocked(&v, "public-access-cidrs") && blocked(&v, OFFICE_CIDR),
                "{v:?}"
            ),
            _ => assert_eq!(v, Verdict::Pass, "{d}"),
        }
    }
    assert!(!joins(&w).await);
}

#[tokio::test]
async fn dead_nats_and_igws_without_public_ips_keep_their_reasons() {
    let w = world(WorldOptions::routed(NewSubnetRouting::LocalOnly)).await;
    let nat = w
        .add_nat_gateway(&w.public_subnet_ids[1])
        .await
        .expect("nat");
    w.delete_nat_gateway(&nat).await.expect("delete");
    w.set_new_subnet_default_route(DefaultTarget::Nat(nat))
        .await
        .expect("dead nat");
    assert!(blocked(&verdict(&w, "sts").await, "dead"));
    w.set_new_subnet_default_route(DefaultTarget::InternetGateway(w.igw_id.clone()))
        .await
        .expect("igw");
    assert!(blocked(&verdict(&w, "sts").await, "igw-without-public-ip"));
    w.set_new_subnet_default_route(DefaultTarget::Nat(w.nat_gateway_id.clone()))
        .await
        .expect("nat");
    assert!(joins(&w).await);
}
