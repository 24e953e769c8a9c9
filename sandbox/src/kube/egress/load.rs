//! Reads the egress model's [`Network`] and [`Cluster`] from EC2 and EKS (moto) through the SDK.

use std::collections::HashMap;

use aws_sdk_ec2::types::{
    InternetGatewayAttachment, IpPermission, RouteState, RuleAction, State, VpcAttributeName,
    VpcEndpointType,
};
use aws_sdk_eks::types::{IpFamily, VpcConfigResponse};

use super::cidr::{ip, Cidr, Cidr6, Prefix};
use super::model::{
    Cluster, Endpoint, EndpointKind, Nacl, NaclEntry, Nat, Network, Route, RouteDest, RouteTable,
    SecurityGroup, SgRule, Subnet, Vpc,
};
use crate::util::Context;
use crate::Error;

type Ec2 = aws_sdk_ec2::Client;
/// Gateway id → the VPCs it is attached to.
type Gateways = HashMap<String, Vec<String>>;

/// Every VPC of the account with what decides its egress.
pub async fn load_network(ec2: &Ec2) -> Result<Network, Error> {
    let (vpcs, subnets, tables, nacls) =
        tokio::try_join!(vpcs(ec2), subnets(ec2), route_tables(ec2), nacls(ec2))?;
    let (groups, endpoints, nats, (igws, eigws)) =
        tokio::try_join!(groups(ec2), endpoints(ec2), nats(ec2), gateways(ec2))?;
    let mut net = Network {
        vpcs,
        subnets,
        tables,
        nacls,
        groups,
        endpoints,
        nats,
        igws,
        eigws,
        ..Network::default()
    };
    net.prefix_lists = prefix_lists(ec2, &net).await?;
    Ok(net)
}

/// Endpoint access and IP family of the cluster. moto omits the access fields unless they were set at
/// creation: both `false` (which EKS never allows) is read as the AWS default, public only from `0.0.0.0/0`.
pub async fn load_cluster(eks: &aws_sdk_eks::Client, name: &str) -> Result<Cluster, Error> {
    let out = eks
        .describe_cluster()
        .name(name)
        .send()
        .await
        .context(format!("eks:DescribeCluster {name}"))?;
    let cluster = out
        .cluster()
        .ok_or_else(|| format!("eks:DescribeCluster {name} returned no cluster"))?;
    let config = cluster
        .resources_vpc_config()
        .ok_or_else(|| format!("cluster {name} has no resourcesVpcConfig"))?;
    let (mut public, private) = (
        config.endpoint_public_access(),
        config.endpoint_private_access(),
    );
    if !public && !private {
        public = true;
    }
    let ipv6 = cluster
        .kubernetes_network_config()
        .and_then(|k| k.ip_family())
        == Some(&IpFamily::Ipv6);
    let mut security_groups: Vec<String> = config
        .cluster_security_group_id()
        .map(str::to_owned)
        .into_iter()
        .collect();
    security_groups.extend(config.security_group_ids().iter().cloned());
    Ok(Cluster {
        private_access: private,
        public_access: public,
        public_access_cidrs: public_access_cidrs(config),
        ipv6,
        endpoint: cluster.endpoint().unwrap_or_default().to_owned(),
        security_groups,
        subnets: config.subnet_ids().to_vec(),
    })
}

/// `publicAccessCidrs` of both families; none set means the AWS default, `0.0.0.0/0`.
fn public_access_cidrs(config: &VpcConfigResponse) -> Vec<Prefix> {
    let listed = config.public_access_cidrs();
    if listed.is_empty() {
        return Prefix::parse("0.0.0.0/0").into_iter().collect();
    }
    listed.iter().filter_map(|c| Prefix::parse(c)).collect()
}

/// The IPv6 CIDRs of `(association state, CIDR)` pairs whose association is still in force. moto reports a
/// subnet's association state as a nested text (`"{'State': 'associated'}"`), so anything but a
/// disassociating, disassociated or failed association counts.
fn live_ipv6_cidrs<'a>(
    associations: impl Iterator<Item = (Option<&'a str>, Option<&'a str>)>,
) -> Vec<Cidr6> {
    associations
        .filter(|(state, _)| {
            state.is_none_or(|s| !s.contains("disassociat") && !s.contains("fail"))
        })
        .filter_map(|(_, cidr)| cidr.and_then(Cidr6::parse))
        .collect()
}

async fn vpcs(ec2: &Ec2) -> Result<HashMap<String, Vpc>, Error> {
    let out = ec2
        .describe_vpcs()
        .send()
        .await
        .context("ec2:DescribeVpcs")?;
    let mut vpcs = HashMap::new();
    for v in out.vpcs() {
        let Some(id) = v.vpc_id() else { continue };
        let mut cidrs: Vec<Cidr> = v.cidr_block().and_then(Cidr::parse).into_iter().collect();
        let extra = v
            .cidr_block_association_set()
            .iter()
            .filter_map(|a| a.cidr_block().and_then(Cidr::parse));
        for c in extra {
            if !cidrs.contains(&c) {
                cidrs.push(c);
            }
        }
        let ipv6_cidrs = live_ipv6_cidrs(v.ipv6_cidr_block_association_set().iter().map(|a| {
            let state = a.ipv6_cidr_block_state().and_then(|s| s.state());
            (state.map(|s| s.as_str()), a.ipv6_cidr_block())
        }));
        let dns_support = vpc_attribute(ec2, id, VpcAttributeName::EnableDnsSupport).await?;
        let dns_hostnames = vpc_attribute(ec2, id, VpcAttributeName::EnableDnsHostnames).await?;
        vpcs.insert(
            id.to_owned(),
            Vpc {
                cidrs,
                ipv6_cidrs,
                dns_support,
                dns_hostnames,
            },
        );
    }
    Ok(vpcs)
}

async fn vpc_attribute(ec2: &Ec2, vpc_id: &str, name: VpcAttributeName) -> Result<bool, Error> {
    let out = ec2
        .describe_vpc_attribute()
        .vpc_id(vpc_id)
        .attribute(name.clone())
        .send()
        .await
        .context(format!("ec2:DescribeVpcAttribute {vpc_id} {name}"))?;
    let value = match name {
        VpcAttributeName::EnableDnsSupport => out.enable_dns_support(),
        _ => out.enable_dns_hostnames(),
    };
    Ok(value.and_then(|v| v.value()).unwrap_or(false))
}

async fn subnets(ec2: &Ec2) -> Result<HashMap<String, Subnet>, Error> {
    let out = ec2
        .describe_subnets()
        .send()
        .await
        .context("ec2:DescribeSubnets")?;
    Ok(out
        .subnets()
        .iter()
        .filter_map(|s| {
            let subnet = Subnet {
                vpc_id: s.vpc_id()?.to_owned(),
                cidr: Cidr::parse(s.cidr_block()?)?,
                ipv6_cidrs: live_ipv6_cidrs(s.ipv6_cidr_block_association_set().iter().map(|a| {
                    let state = a.ipv6_cidr_block_state().and_then(|s| s.state());
                    (state.map(|s| s.as_str()), a.ipv6_cidr_block())
                })),
            };
            Some((s.subnet_id()?.to_owned(), subnet))
        })
        .collect())
}

async fn route_tables(ec2: &Ec2) -> Result<Vec<RouteTable>, Error> {
    let out = ec2
        .describe_route_tables()
        .send()
        .await
        .context("ec2:DescribeRouteTables")?;
    Ok(out
        .route_tables()
        .iter()
        .map(|t| RouteTable {
            id: t.route_table_id().unwrap_or_default().to_owned(),
            vpc_id: t.vpc_id().unwrap_or_default().to_owned(),
            main: t.associations().iter().any(|a| a.main() == Some(true)),
            subnets: t
                .associations()
                .iter()
                .filter_map(|a| a.subnet_id().map(str::to_owned))
                .collect(),
            routes: t.routes().iter().filter_map(route).collect(),
        })
        .collect())
}

/// IPv4, IPv6 and prefix-list routes.
fn route(r: &aws_sdk_ec2::types::Route) -> Option<Route> {
    let cidr = r
        .destination_cidr_block()
        .or(r.destination_ipv6_cidr_block());
    let dest = match (cidr, r.destination_prefix_list_id()) {
        (Some(c), _) => RouteDest::Cidr(Prefix::parse(c)?),
        (None, Some(pl)) => RouteDest::PrefixList(pl.to_owned()),
        (None, None) => return None,
    };
    Some(Route {
        dest,
        target: crate::world::route_target(r),
        blackhole: r.state() == Some(&RouteState::Blackhole),
    })
}

async fn nacls(ec2: &Ec2) -> Result<Vec<Nacl>, Error> {
    let out = ec2
        .describe_network_acls()
        .send()
        .await
        .context("ec2:DescribeNetworkAcls")?;
    Ok(out
        .network_acls()
        .iter()
        .map(|n| Nacl {
            id: n.network_acl_id().unwrap_or_default().to_owned(),
            vpc_id: n.vpc_id().unwrap_or_default().to_owned(),
            default: n.is_default() == Some(true),
            subnets: n
                .associations()
                .iter()
                .filter_map(|a| a.subnet_id().map(str::to_owned))
                .collect(),
            entries: n.entries().iter().filter_map(nacl_entry).collect(),
        })
        .collect())
}

fn nacl_entry(e: &aws_sdk_ec2::types::NetworkAclEntry) -> Option<NaclEntry> {
    let port = |p: Option<i32>| p.and_then(|p| u16::try_from(p).ok());
    let ports = e
        .port_range()
        .and_then(|r| Some((port(r.from())?, port(r.to())?)));
    Some(NaclEntry {
        number: e.rule_number()?,
        egress: e.egress()?,
        protocol: e.protocol()?.to_owned(),
        ports,
        cidr: Prefix::parse(e.cidr_block().or(e.ipv6_cidr_block())?)?,
        allow: e.rule_action() == Some(&RuleAction::Allow),
    })
}

async fn groups(ec2: &Ec2) -> Result<HashMap<String, SecurityGroup>, Error> {
    let out = ec2
        .describe_security_groups()
        .send()
        .await
        .context("ec2:DescribeSecurityGroups")?;
    Ok(out
        .security_groups()
        .iter()
        .filter_map(|g| {
            let group = SecurityGroup {
                ingress: g.ip_permissions().iter().map(sg_rule).collect(),
                egress: g.ip_permissions_egress().iter().map(sg_rule).collect(),
            };
            Some((g.group_id()?.to_owned(), group))
        })
        .collect())
}

fn sg_rule(p: &IpPermission) -> SgRule {
    SgRule {
        protocol: p.ip_protocol().unwrap_or("-1").to_owned(),
        from_port: p.from_port(),
        to_port: p.to_port(),
        cidrs: p
            .ip_ranges()
            .iter()
            .filter_map(|r| r.cidr_ip())
            .chain(p.ipv6_ranges().iter().filter_map(|r| r.cidr_ipv6()))
            .filter_map(Prefix::parse)
            .collect(),
        prefix_lists: p
            .prefix_list_ids()
            .iter()
            .filter_map(|l| l.prefix_list_id().map(str::to_owned))
            .collect(),
        groups: p
            .user_id_group_pairs()
            .iter()
            .filter_map(|g| g.group_id().map(str::to_owned))
            .collect(),
    }
}

async fn endpoints(ec2: &Ec2) -> Result<Vec<Endpoint>, Error> {
    let out = ec2
        .describe_vpc_endpoints()
        .send()
        .await
        .context("ec2:DescribeVpcEndpoints")?;
    Ok(out
        .vpc_endpoints()
        .iter()
        .map(|e| Endpoint {
            id: e.vpc_endpoint_id().unwrap_or_default().to_owned(),
            vpc_id: e.vpc_id().unwrap_or_default().to_owned(),
            service: e.service_name().unwrap_or_default().to_owned(),
            kind: match e.vpc_endpoint_type() {
                Some(VpcEndpointType::Interface) => EndpointKind::Interface,
                Some(VpcEndpointType::Gateway) => EndpointKind::Gateway,
                Some(VpcEndpointType::GatewayLoadBalancer) => EndpointKind::GatewayLoadBalancer,
                _ => EndpointKind::Other,
            },
            // The SDK's `State::Available` is `Available`; EC2 and moto answer `available`.
            available: e
                .state()
                .is_some_and(|s| s.as_str().eq_ignore_ascii_case(State::Available.as_str())),
            private_dns: e.private_dns_enabled() == Some(true),
            subnets: e.subnet_ids().to_vec(),
            groups: e
                .groups()
                .iter()
                .filter_map(|g| g.group_id().map(str::to_owned))
                .collect(),
            route_tables: e.route_table_ids().to_vec(),
        })
        .collect())
}

async fn nats(ec2: &Ec2) -> Result<HashMap<String, Nat>, Error> {
    let out = ec2
        .describe_nat_gateways()
        .send()
        .await
        .context("ec2:DescribeNatGateways")?;
    Ok(out
        .nat_gateways()
        .iter()
        .filter_map(|n| {
            let nat = Nat {
                state: n.state().map(|s| s.as_str().to_owned()).unwrap_or_default(),
                public: n
                    .connectivity_type()
                    .is_none_or(|c| c.as_str() != "private"),
                subnet_id: n.subnet_id().unwrap_or_default().to_owned(),
                vpc_id: n.vpc_id().unwrap_or_default().to_owned(),
                public_ips: n
                    .nat_gateway_addresses()
                    .iter()
                    .filter_map(|a| a.public_ip().and_then(ip))
                    .collect(),
            };
            Some((n.nat_gateway_id()?.to_owned(), nat))
        })
        .collect())
}

/// Internet gateways and egress-only internet gateways: id → the VPCs each is attached to.
async fn gateways(ec2: &Ec2) -> Result<(Gateways, Gateways), Error> {
    let (igws, eigws) = tokio::try_join!(
        async {
            let out = ec2.describe_internet_gateways().send().await;
            out.context("ec2:DescribeInternetGateways")
        },
        async {
            let out = ec2.describe_egress_only_internet_gateways().send().await;
            out.context("ec2:DescribeEgressOnlyInternetGateways")
        },
    )?;
    let igws = igws.internet_gateways().iter().filter_map(|g| {
        let id = g.internet_gateway_id()?;
        Some((id.to_owned(), attached_vpcs(g.attachments())))
    });
    let eigws = eigws
        .egress_only_internet_gateways()
        .iter()
        .filter_map(|g| {
            let id = g.egress_only_internet_gateway_id()?;
            Some((id.to_owned(), attached_vpcs(g.attachments())))
        });
    Ok((igws.collect(), eigws.collect()))
}

/// VPCs a gateway is attached to (`available` or `attached`).
fn attached_vpcs(attachments: &[InternetGatewayAttachment]) -> Vec<String> {
    attachments
        .iter()
        .filter(|a| {
            matches!(
                a.state().map(|s| s.as_str()),
                Some("available" | "attached")
            )
        })
        .filter_map(|a| a.vpc_id().map(str::to_owned))
        .collect()
}

/// Entries of every prefix list a route or a security group rule refers to.
async fn prefix_lists(ec2: &Ec2, net: &Network) -> Result<HashMap<String, Vec<Prefix>>, Error> {
    let known = ec2
        .describe_managed_prefix_lists()
        .send()
        .await
        .context("ec2:DescribeManagedPrefixLists")?;
    let mut wanted: Vec<String> = net
        .tables
        .iter()
        .flat_map(|t| t.routes.iter())
        .filter_map(|r| match &r.dest {
            RouteDest::PrefixList(id) => Some(id.clone()),
            RouteDest::Cidr(_) => None,
        })
        .chain(
            net.groups
                .values()
                .flat_map(|g| g.ingress.iter().chain(&g.egress))
                .flat_map(|r| r.prefix_lists.clone()),
        )
        .filter(|id| {
            known
                .prefix_lists()
                .iter()
                .any(|p| p.prefix_list_id() == Some(id.as_str()))
        })
        .collect();
    wanted.sort();
    wanted.dedup();
    let mut lists = HashMap::new();
    for id in wanted {
        let entries = ec2
            .get_managed_prefix_list_entries()
            .prefix_list_id(&id)
            .send()
            .await
            .context(format!("ec2:GetManagedPrefixListEntries {id}"))?;
        let cidrs = entries
            .entries()
            .iter()
            .filter_map(|e| e.cidr().and_then(Prefix::parse))
            .collect();
        lists.insert(id, cidrs);
    }
    Ok(lists)
}
