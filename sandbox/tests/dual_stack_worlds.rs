//! The dual-stack worlds against moto: what the kubelet simulator decides for a node of an IPv6 cluster,
//! before and after the fix, and over which address family the cluster endpoint is reached.

use sandbox::kube::egress::{PathReport, Verdict};
use sandbox::moto::Moto;
use sandbox::world::{DefaultTarget, World, WorldOptions, IPV6_ANYWHERE, RESTRICTED_IPV4_CIDR};

async fn dual_stack_world(opts: WorldOptions) -> World {
    let (sdk, account) = Moto::shared().await.fresh_account().await;
    let built = World::build(sdk, &account, opts).await;
    built.expect("the dual-stack world builds in moto")
}

/// The paths of the nodegroup's single running instance.
async fn node_paths(w: &World) -> Vec<PathReport> {
    let mut report = w.egress_report().await.expect("egress report");
    assert_eq!(report.len(), 1, "one running instance: {report:?}");
    report.remove(0).1
}

fn api(paths: &[PathReport]) -> &PathReport {
    let found = paths.iter().find(|p| p.destination == "cluster-api");
    found.expect("cluster-api evaluated")
}

fn over_ipv4(path: &PathReport) -> Verdict {
    Verdict::all_of(path.hops.iter().map(|(_, v)| v.clone()).collect())
}

async fn registers(w: &World) -> bool {
    let nodes = w.simulated_nodes().await.expect("kubelet simulator");
    !nodes.is_empty()
}

/// `destination -> target` of the new subnet's table.
async fn new_subnet_routes(w: &World) -> Vec<String> {
    let routes = w.routes(w.new_subnet_table()).await.expect("routes");
    routes
        .into_iter()
        .map(|(d, t, _)| format!("{d} -> {t}"))
        .collect()
}

#[tokio::test]
async fn a_dual_stack_subnet_without_an_ipv4_default_reaches_the_api_over_ipv6_but_not_the_services(
) {
    let w = dual_stack_world(WorldOptions::dual_stack_without_ipv4_default()).await;
    let eigw = w
        .egress_only_gateway_id()
        .await
        .expect("read")
        .expect("an egress-only gateway");
    let routes = new_subnet_routes(&w).await;
    assert!(
        routes.contains(&format!("{IPV6_ANYWHERE} -> {eigw}")),
        "{routes:?}"
    );
    assert!(
        !routes.iter().any(|r| r.starts_with("0.0.0.0/0")),
        "{routes:?}"
    );
    let paths = node_paths(&w).await;
    let cluster_api = api(&paths);
    let ipv6 = cluster_api.ipv6.as_deref().expect("an IPv6 alternative");
    assert_eq!(ipv6.verdict(), Verdict::Pass, "{ipv6:?}");
    assert_eq!(cluster_api.verdict(), Verdict::Pass, "{cluster_api:?}");
    for path in paths.iter().filter(|p| p.destination != "cluster-api") {
        let verdict = path.verdict();
        assert!(
            matches!(verdict, Verdict::Blocked(ref why) if why.contains("no route")),
            "{}: services are reached over IPv4 only: {verdict:?}",
            path.destination
        );
    }
    assert!(!registers(&w).await);
    w.set_new_subnet_default_route(DefaultTarget::Nat(w.nat_gateway_id.clone()))
        .await
        .expect("0.0.0.0/0 -> NAT");
    assert!(registers(&w).await, "{:?}", node_paths(&w).await);
}

#[tokio::test]
async fn an_endpoint_refusing_the_nat_admits_the_node_over_ipv6_and_it_joins() {
    let w = dual_stack_world(WorldOptions::dual_stack_ipv4_endpoint_restricted()).await;
    let paths = node_paths(&w).await;
    let cluster_api = api(&paths);
    let ipv4 = over_ipv4(cluster_api);
    assert!(
        matches!(ipv4, Verdict::Blocked(ref why) if why.contains("public-access-cidrs") && why.contains(RESTRICTED_IPV4_CIDR)),
        "{ipv4:?}"
    );
    let ipv6 = cluster_api.ipv6.as_deref().expect("an IPv6 alternative");
    assert_eq!(ipv6.via, "internet over IPv6");
    assert_eq!(ipv6.verdict(), Verdict::Pass, "{ipv6:?}");
    for path in &paths {
        assert_eq!(path.verdict(), Verdict::Pass, "{path:?}");
    }
    assert!(registers(&w).await);
}
