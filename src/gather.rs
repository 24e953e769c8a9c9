//! The I/O half of diagnosis: AWS reads turned into plain data. Independent calls run concurrently; each
//! is made once per event.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::Filter;

use crate::context::Clients;
use crate::error::{aws, Result};
use crate::snapshot::*;

/// The Auto Scaling group of the launch.
#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    pub tags: BTreeMap<String, String>,
    pub subnets: Vec<String>,
}

pub async fn group(clients: &Clients, name: &str) -> Result<Option<Group>> {
    let out = clients
        .autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .map_err(aws("autoscaling:DescribeAutoScalingGroups"))?;
    Ok(out.auto_scaling_groups().first().map(|g| Group {
        name: g.auto_scaling_group_name().unwrap_or(name).to_string(),
        tags: g
            .tags()
            .iter()
            .filter_map(|t| {
                Some((
                    t.key()?.to_string(),
                    t.value().unwrap_or_default().to_string(),
                ))
            })
            .collect(),
        subnets: g
            .vpc_zone_identifier()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
    }))
}

/// The instance, or `None` when EC2 no longer knows it.
pub async fn instance(clients: &Clients, id: &str) -> Result<Option<Instance>> {
    let out = match clients
        .ec2
        .describe_instances()
        .instance_ids(id)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e)
            if e.as_service_error().and_then(|se| {
                aws_smithy_types::error::metadata::ProvideErrorMetadata::code(se)
            }) == Some("InvalidInstanceID.NotFound") =>
        {
            return Ok(None)
        }
        Err(e) => return Err(aws("ec2:DescribeInstances")(e)),
    };
    let Some(i) = out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .find(|i| i.instance_id() == Some(id))
    else {
        return Ok(None);
    };
    Ok(Some(Instance {
        id: id.to_string(),
        state: i
            .state()
            .and_then(|s| s.name())
            .map(|n| n.as_str().to_string())
            .unwrap_or_else(|| "unknown".to_string()),
        subnet_id: i.subnet_id().unwrap_or_default().to_string(),
        vpc_id: i.vpc_id().unwrap_or_default().to_string(),
        availability_zone: i
            .placement()
            .and_then(|p| p.availability_zone())
            .unwrap_or_default()
            .to_string(),
        private_dns_name: i
            .private_dns_name()
            .filter(|s| !s.is_empty())
            .map(String::from),
        private_ip: i.private_ip_address().map(String::from),
        public_ip: i.public_ip_address().map(String::from),
        instance_profile_arn: i
            .iam_instance_profile()
            .and_then(|p| p.arn())
            .map(String::from),
        security_groups: i
            .security_groups()
            .iter()
            .filter_map(|g| g.group_id().map(String::from))
            .collect(),
    }))
}

pub async fn cluster(clients: &Clients, name: &str) -> Result<Cluster> {
    let out = clients
        .eks
        .describe_cluster()
        .name(name)
        .send()
        .await
        .map_err(aws("eks:DescribeCluster"))?;
    let c = out.cluster();
    let vpc = c.and_then(|c| c.resources_vpc_config());
    Ok(Cluster {
        name: name.to_string(),
        endpoint: c.and_then(|c| c.endpoint()).map(String::from),
        certificate_authority: c
            .and_then(|c| c.certificate_authority())
            .and_then(|ca| ca.data())
            .map(String::from),
        endpoint_public_access: vpc.map(|v| v.endpoint_public_access()).unwrap_or(true),
        endpoint_private_access: vpc.map(|v| v.endpoint_private_access()).unwrap_or(false),
        public_access_cidrs: vpc
            .map(|v| v.public_access_cidrs().to_vec())
            .unwrap_or_default(),
        cluster_security_group_id: vpc
            .and_then(|v| v.cluster_security_group_id())
            .map(String::from),
        vpc_id: vpc.and_then(|v| v.vpc_id()).map(String::from),
    })
}

async fn nodegroup(
    clients: &Clients,
    cluster: &str,
    name: Option<&str>,
) -> Result<Option<Nodegroup>> {
    let Some(name) = name else { return Ok(None) };
    let out = clients
        .eks
        .describe_nodegroup()
        .cluster_name(cluster)
        .nodegroup_name(name)
        .send()
        .await
        .map_err(aws("eks:DescribeNodegroup"))?;
    Ok(out.nodegroup().map(|ng| Nodegroup {
        name: name.to_string(),
        status: ng
            .status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        subnets: ng.subnets().to_vec(),
        desired_size: ng.scaling_config().and_then(|s| s.desired_size()),
        min_size: ng.scaling_config().and_then(|s| s.min_size()),
        max_size: ng.scaling_config().and_then(|s| s.max_size()),
        health_issues: ng
            .health()
            .map(|h| {
                h.issues()
                    .iter()
                    .map(|i| HealthIssue {
                        code: i.code().map(|c| c.as_str().to_string()).unwrap_or_default(),
                        message: i.message().unwrap_or_default().to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }))
}

fn vpc_filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

pub fn route_target(r: &aws_sdk_ec2::types::Route) -> RouteTarget {
    let some = |v: Option<&str>| v.filter(|s| !s.is_empty()).map(String::from);
    if let Some(id) = some(r.nat_gateway_id()) {
        return RouteTarget::NatGateway(id);
    }
    if let Some(id) = some(r.transit_gateway_id()) {
        return RouteTarget::TransitGateway(id);
    }
    if let Some(id) = some(r.vpc_peering_connection_id()) {
        return RouteTarget::VpcPeering(id);
    }
    if let Some(id) = some(r.egress_only_internet_gateway_id()) {
        return RouteTarget::EgressOnlyInternetGateway(id);
    }
    if let Some(id) = some(r.gateway_id()) {
        return match id.as_str() {
            "local" => RouteTarget::Local,
            g if g.starts_with("igw-") => RouteTarget::InternetGateway(id),
            g if g.starts_with("vpce-") => RouteTarget::VpcEndpoint(id),
            g if g.starts_with("nat-") => RouteTarget::NatGateway(id),
            _ => RouteTarget::Other(id),
        };
    }
    if let Some(id) = some(r.instance_id()) {
        return RouteTarget::Instance(id);
    }
    if let Some(id) = some(r.network_interface_id()) {
        return RouteTarget::NetworkInterface(id);
    }
    let other = r
        .carrier_gateway_id()
        .or(r.local_gateway_id())
        .or(r.core_network_arn())
        .unwrap_or("unknown");
    RouteTarget::Other(other.to_string())
}

pub fn route_table(t: &aws_sdk_ec2::types::RouteTable) -> RouteTable {
    RouteTable {
        id: t.route_table_id().unwrap_or_default().to_string(),
        main: t.associations().iter().any(|a| a.main() == Some(true)),
        subnets: t
            .associations()
            .iter()
            .filter_map(|a| a.subnet_id().map(String::from))
            .collect(),
        routes: t
            .routes()
            .iter()
            .filter_map(|r| {
                let destination = r
                    .destination_cidr_block()
                    .or(r.destination_ipv6_cidr_block())
                    .or(r.destination_prefix_list_id())?;
                Some(Route {
                    destination: destination.to_string(),
                    target: route_target(r),
                    state: r
                        .state()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_else(|| "active".to_string()),
                })
            })
            .collect(),
    }
}

/// Every route table of the VPC (one paginated call, then all lookups are local).
pub async fn vpc_route_tables(clients: &Clients, vpc_id: &str) -> Result<Vec<RouteTable>> {
    let mut pages = clients
        .ec2
        .describe_route_tables()
        .filters(vpc_filter("vpc-id", vpc_id))
        .into_paginator()
        .send();
    let mut tables = Vec::new();
    while let Some(page) = pages
        .try_next()
        .await
        .map_err(aws("ec2:DescribeRouteTables"))?
    {
        tables.extend(page.route_tables().iter().map(route_table));
    }
    Ok(tables)
}

async fn vpc_subnets(clients: &Clients, vpc_id: &str) -> Result<Vec<Subnet>> {
    let mut pages = clients
        .ec2
        .describe_subnets()
        .filters(vpc_filter("vpc-id", vpc_id))
        .into_paginator()
        .send();
    let mut subnets = Vec::new();
    while let Some(page) = pages.try_next().await.map_err(aws("ec2:DescribeSubnets"))? {
        subnets.extend(page.subnets().iter().map(|s| Subnet {
            id: s.subnet_id().unwrap_or_default().to_string(),
            cidr: s.cidr_block().unwrap_or_default().to_string(),
            availability_zone: s.availability_zone().unwrap_or_default().to_string(),
            available_ip_addresses: s.available_ip_address_count().unwrap_or_default(),
            map_public_ip_on_launch: s.map_public_ip_on_launch().unwrap_or_default(),
        }));
    }
    Ok(subnets)
}

async fn nat_gateways(
    clients: &Clients,
    vpc_id: &str,
) -> Result<Vec<(String, String, String, String)>> {
    let mut pages = clients
        .ec2
        .describe_nat_gateways()
        .filter(vpc_filter("vpc-id", vpc_id))
        .into_paginator()
        .send();
    let mut nats = Vec::new();
    while let Some(page) = pages
        .try_next()
        .await
        .map_err(aws("ec2:DescribeNatGateways"))?
    {
        nats.extend(page.nat_gateways().iter().map(|n| {
            (
                n.nat_gateway_id().unwrap_or_default().to_string(),
                n.state()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                n.subnet_id().unwrap_or_default().to_string(),
                n.connectivity_type()
                    .map(|c| c.as_str().to_string())
                    .unwrap_or_else(|| "public".to_string()),
            )
        }));
    }
    Ok(nats)
}

async fn attached_internet_gateways(clients: &Clients, vpc_id: &str) -> Result<Vec<String>> {
    let out = clients
        .ec2
        .describe_internet_gateways()
        .filters(vpc_filter("attachment.vpc-id", vpc_id))
        .send()
        .await
        .map_err(aws("ec2:DescribeInternetGateways"))?;
    Ok(out
        .internet_gateways()
        .iter()
        .filter(|g| {
            g.attachments().iter().any(|a| {
                a.vpc_id() == Some(vpc_id)
                    && a.state()
                        .is_some_and(|s| matches!(s.as_str(), "available" | "attached"))
            })
        })
        .filter_map(|g| g.internet_gateway_id().map(String::from))
        .collect())
}

async fn vpc_endpoints(clients: &Clients, vpc_id: &str) -> Result<Vec<VpcEndpoint>> {
    let out = clients
        .ec2
        .describe_vpc_endpoints()
        .filters(vpc_filter("vpc-id", vpc_id))
        .send()
        .await
        .map_err(aws("ec2:DescribeVpcEndpoints"))?;
    Ok(out
        .vpc_endpoints()
        .iter()
        .map(|e| VpcEndpoint {
            id: e.vpc_endpoint_id().unwrap_or_default().to_string(),
            service_name: e.service_name().unwrap_or_default().to_string(),
            endpoint_type: e
                .vpc_endpoint_type()
                .map(|t| t.as_str().to_string())
                .unwrap_or_default(),
            state: e
                .state()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            route_table_ids: e.route_table_ids().to_vec(),
        })
        .collect())
}

/// Everything else the rules need, around an instance and cluster already read.
pub async fn snapshot(
    clients: &Clients,
    instance: Instance,
    cluster: Cluster,
    nodegroup_name: Option<&str>,
    group_subnets: Vec<String>,
) -> Result<Snapshot> {
    let vpc = instance.vpc_id.clone();
    let (tables, subnets, nats, igws, endpoints, ng) = tokio::try_join!(
        vpc_route_tables(clients, &vpc),
        vpc_subnets(clients, &vpc),
        nat_gateways(clients, &vpc),
        attached_internet_gateways(clients, &vpc),
        vpc_endpoints(clients, &vpc),
        nodegroup(clients, &cluster.name, nodegroup_name),
    )?;
    let subnet = subnets
        .iter()
        .find(|s| s.id == instance.subnet_id)
        .cloned()
        .ok_or_else(|| crate::error::Error::Aws {
            operation: "ec2:DescribeSubnets",
            code: "SubnetNotFound".to_string(),
            message: format!(
                "subnet {} of {} is not in {vpc}",
                instance.subnet_id, instance.id
            ),
            retryable: false,
        })?;
    let az_of = |subnet_id: &str| {
        subnets
            .iter()
            .find(|s| s.id == subnet_id)
            .map(|s| s.availability_zone.clone())
    };
    let nat_gateways = nats
        .into_iter()
        .map(|(id, state, subnet_id, connectivity)| NatGateway {
            availability_zone: az_of(&subnet_id),
            id,
            state,
            subnet_id,
            connectivity,
        })
        .collect();
    let route_table = tables
        .iter()
        .find(|t| t.subnets.contains(&instance.subnet_id))
        .or_else(|| tables.iter().find(|t| t.main))
        .cloned()
        .ok_or_else(|| crate::error::Error::Aws {
            operation: "ec2:DescribeRouteTables",
            code: "RouteTableNotFound".to_string(),
            message: format!(
                "no route table (explicit or main) serves {} in {vpc}",
                instance.subnet_id
            ),
            retryable: false,
        })?;
    let mut group_subnets = group_subnets;
    if let Some(ng) = &ng {
        for s in &ng.subnets {
            if !group_subnets.contains(s) {
                group_subnets.push(s.clone());
            }
        }
    }
    Ok(Snapshot {
        region: clients.region.clone(),
        instance,
        subnet,
        route_table,
        vpc_route_tables: tables,
        nat_gateways,
        attached_internet_gateways: igws,
        vpc_endpoints: endpoints,
        cluster,
        nodegroup: ng,
        group_subnets,
    })
}

/// Re-reads one route table right before a write.
pub async fn route_table_now(clients: &Clients, id: &str) -> Result<Option<RouteTable>> {
    let out = clients
        .ec2
        .describe_route_tables()
        .route_table_ids(id)
        .send()
        .await
        .map_err(aws("ec2:DescribeRouteTables"))?;
    Ok(out.route_tables().first().map(route_table))
}
