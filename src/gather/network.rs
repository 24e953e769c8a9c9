//! The VPC around the instance, read in one concurrent wave (plus a second, rare one for customer-managed
//! prefix lists that routes use).

use aws_sdk_ec2::types::{Filter, VpcAttributeName};

use super::convert;
use crate::aws_error::aws;
use crate::context::Clients;
use crate::error::{Error, Result};
use crate::snapshot::*;

/// Everything read about the VPC (plain data, in `snapshot` so a warm container can share it).
pub type Network = VpcReads;

/// Every item of every page of a paginated call, converted: `all_pages!(request, error, items, convert)`.
/// The error conversion is written at the call site, naming the operation (and is evaluated per page).
macro_rules! all_pages {
    ($request:expr, $error:expr, $items:ident, $convert:expr) => {{
        let mut pages = $request.into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.try_next().await.map_err($error)? {
            out.extend(page.$items().iter().map($convert));
        }
        out
    }};
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

/// A denied read becomes `NotRead` (its hops are `unknown: not permitted`); any other failure fails.
fn readable<T>(result: Result<T>) -> Result<Readable<T>> {
    match result {
        Ok(value) => Ok(Readable::Read(value)),
        Err(Error::Aws {
            operation, code, ..
        }) if is_denied(&code) => Ok(Readable::NotRead(format!(
            "not permitted: {operation} answered {code}"
        ))),
        Err(e) => Err(e),
    }
}

fn is_denied(code: &str) -> bool {
    code.contains("Unauthorized") || code.contains("AccessDenied") || code == "HTTP 403"
}

pub async fn read(
    clients: &Clients,
    vpc_id: &str,
    subnet_id: &str,
    cluster: &str,
) -> Result<Network> {
    let taken_at_ms = crate::ledger::now_ms();
    let (vpc, subnets, route_tables, aws_lists, nats, igws, eigws, endpoints, acl, groups, enis) =
        tokio::try_join!(
            Box::pin(vpc(clients, vpc_id)),
            subnets(clients, vpc_id),
            route_tables(clients, vpc_id),
            async { readable(aws_prefix_lists(clients).await) },
            nat_gateways(clients, vpc_id),
            internet_gateways(clients, vpc_id),
            egress_only_gateways(clients, vpc_id),
            endpoints(clients, vpc_id),
            async { readable(network_acl(clients, vpc_id, subnet_id).await) },
            async { readable(security_groups(clients, vpc_id).await) },
            async { readable(cluster_enis(clients, vpc_id, cluster).await) },
        )?;
    let prefix_lists = with_route_prefix_lists(clients, aws_lists, &route_tables).await?;
    let nat_gateways = nats
        .into_iter()
        .map(|nat| NatGateway {
            availability_zone: subnets
                .iter()
                .find(|s| s.id == nat.subnet_id)
                .map(|s| s.availability_zone.clone()),
            ..nat
        })
        .collect();
    Ok(Network {
        taken_at_ms,
        vpc,
        subnets,
        route_tables,
        prefix_lists,
        nat_gateways,
        internet_gateways: igws,
        egress_only_gateways: eigws,
        endpoints,
        network_acl: acl,
        security_groups: groups,
        cluster_enis: enis,
    })
}

/// The VPC's CIDRs and its DNS attributes (a denied attribute read leaves the attribute unknown).
async fn vpc(clients: &Clients, vpc_id: &str) -> Result<Vpc> {
    let ec2 = &clients.ec2;
    let attribute = |name: VpcAttributeName| {
        ec2.describe_vpc_attribute()
            .vpc_id(vpc_id)
            .attribute(name)
            .send()
    };
    let (vpcs, support, hostnames) = tokio::join!(
        ec2.describe_vpcs().vpc_ids(vpc_id).send(),
        attribute(VpcAttributeName::EnableDnsSupport),
        attribute(VpcAttributeName::EnableDnsHostnames),
    );
    let vpcs = vpcs.map_err(aws("ec2:DescribeVpcs"))?;
    let mut vpc = convert::vpc(vpcs.vpcs().first(), vpc_id);
    let support = readable(support.map_err(aws("ec2:DescribeVpcAttribute")))?;
    let hostnames = readable(hostnames.map_err(aws("ec2:DescribeVpcAttribute")))?;
    let value = |b: Option<&aws_sdk_ec2::types::AttributeBooleanValue>| b.and_then(|v| v.value());
    match (&support, &hostnames) {
        (Readable::Read(s), Readable::Read(h)) => {
            vpc.dns_support = value(s.enable_dns_support());
            vpc.dns_hostnames = value(h.enable_dns_hostnames());
        }
        (Readable::NotRead(why), _) | (_, Readable::NotRead(why)) => {
            vpc.dns_not_read = Some(why.clone())
        }
    }
    Ok(vpc)
}

async fn subnets(clients: &Clients, vpc_id: &str) -> Result<Vec<Subnet>> {
    let request = clients
        .ec2
        .describe_subnets()
        .filters(filter("vpc-id", vpc_id));
    Ok(all_pages!(
        request,
        aws("ec2:DescribeSubnets"),
        subnets,
        convert::subnet
    ))
}

/// Every route table of the VPC (one paginated call; then every lookup is local).
async fn route_tables(clients: &Clients, vpc_id: &str) -> Result<Vec<RouteTable>> {
    let request = clients
        .ec2
        .describe_route_tables()
        .filters(filter("vpc-id", vpc_id));
    Ok(all_pages!(
        request,
        aws("ec2:DescribeRouteTables"),
        route_tables,
        convert::route_table
    ))
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
    Ok(out.route_tables().first().map(convert::route_table))
}

/// The state of one NAT gateway right before a route write (`None`: EC2 no longer knows it).
pub async fn nat_state_now(clients: &Clients, id: &str) -> Result<Option<NatState>> {
    let out = clients
        .ec2
        .describe_nat_gateways()
        .nat_gateway_ids(id)
        .send()
        .await;
    let out = match out {
        Ok(out) => out,
        Err(e) if crate::aws_error::code(&e) == Some("NatGatewayNotFound") => return Ok(None),
        Err(e) => return Err(aws("ec2:DescribeNatGateways")(e)),
    };
    Ok(out
        .nat_gateways()
        .first()
        .map(|n| convert::nat_gateway(n).state))
}

/// The AWS-managed prefix lists (S3, DynamoDB) with their CIDRs, in one call.
async fn aws_prefix_lists(clients: &Clients) -> Result<Vec<PrefixList>> {
    let out = clients
        .ec2
        .describe_prefix_lists()
        .send()
        .await
        .map_err(aws("ec2:DescribePrefixLists"))?;
    Ok(out
        .prefix_lists()
        .iter()
        .map(convert::prefix_list)
        .collect())
}

/// Adds the customer-managed prefix lists the route tables use (a second, rare wave).
async fn with_route_prefix_lists(
    clients: &Clients,
    lists: Readable<Vec<PrefixList>>,
    tables: &[RouteTable],
) -> Result<Readable<Vec<PrefixList>>> {
    let Readable::Read(mut lists) = lists else {
        return Ok(lists);
    };
    let mut wanted: Vec<&str> = tables
        .iter()
        .flat_map(|t| &t.routes)
        .filter_map(|r| match &r.destination {
            RouteDestination::PrefixList(id) if !lists.iter().any(|l| &l.id == id) => {
                Some(id.as_str())
            }
            _ => None,
        })
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    // Rare (customer-managed lists in routes), so read one after the other.
    for id in wanted {
        match readable(managed_prefix_list(clients, id).await)? {
            Readable::Read(list) => lists.push(list),
            Readable::NotRead(why) => return Ok(Readable::NotRead(why)),
        }
    }
    Ok(Readable::Read(lists))
}

async fn managed_prefix_list(clients: &Clients, id: &str) -> Result<PrefixList> {
    let out = clients
        .ec2
        .get_managed_prefix_list_entries()
        .prefix_list_id(id)
        .send()
        .await
        .map_err(aws("ec2:GetManagedPrefixListEntries"))?;
    Ok(PrefixList {
        id: id.to_string(),
        name: String::new(),
        cidrs: out
            .entries()
            .iter()
            .filter_map(|e| e.cidr().map(String::from))
            .collect(),
    })
}

/// NAT gateways of the VPC; their Availability Zone is filled in from the subnets afterwards.
async fn nat_gateways(clients: &Clients, vpc_id: &str) -> Result<Vec<NatGateway>> {
    let request = clients
        .ec2
        .describe_nat_gateways()
        .filter(filter("vpc-id", vpc_id));
    Ok(all_pages!(
        request,
        aws("ec2:DescribeNatGateways"),
        nat_gateways,
        convert::nat_gateway
    ))
}

async fn internet_gateways(clients: &Clients, vpc_id: &str) -> Result<Vec<String>> {
    let out = clients
        .ec2
        .describe_internet_gateways()
        .filters(filter("attachment.vpc-id", vpc_id))
        .send()
        .await
        .map_err(aws("ec2:DescribeInternetGateways"))?;
    Ok(convert::attached_internet_gateways(
        out.internet_gateways(),
        vpc_id,
    ))
}

async fn egress_only_gateways(clients: &Clients, vpc_id: &str) -> Result<Vec<String>> {
    let out = clients
        .ec2
        .describe_egress_only_internet_gateways()
        .send()
        .await
        .map_err(aws("ec2:DescribeEgressOnlyInternetGateways"))?;
    Ok(convert::attached_egress_only_gateways(
        out.egress_only_internet_gateways(),
        vpc_id,
    ))
}

async fn endpoints(clients: &Clients, vpc_id: &str) -> Result<Vec<VpcEndpoint>> {
    let request = clients
        .ec2
        .describe_vpc_endpoints()
        .filters(filter("vpc-id", vpc_id));
    Ok(all_pages!(
        request,
        aws("ec2:DescribeVpcEndpoints"),
        vpc_endpoints,
        convert::vpc_endpoint
    ))
}

/// The subnet's network ACL: the one associated with it, else the VPC's default.
async fn network_acl(clients: &Clients, vpc_id: &str, subnet_id: &str) -> Result<NetworkAcl> {
    let out = clients
        .ec2
        .describe_network_acls()
        .filters(filter("vpc-id", vpc_id))
        .send()
        .await
        .map_err(aws("ec2:DescribeNetworkAcls"))?;
    let acls = out.network_acls();
    let associated = acls
        .iter()
        .find(|a| {
            a.associations()
                .iter()
                .any(|x| x.subnet_id() == Some(subnet_id))
        })
        .or_else(|| acls.iter().find(|a| a.is_default() == Some(true)));
    associated.map(convert::network_acl).ok_or_else(|| {
        Error::Inconsistent(format!("no network ACL serves {subnet_id} in {vpc_id}"))
    })
}

async fn security_groups(clients: &Clients, vpc_id: &str) -> Result<Vec<SecurityGroup>> {
    let request = clients
        .ec2
        .describe_security_groups()
        .filters(filter("vpc-id", vpc_id));
    Ok(all_pages!(
        request,
        aws("ec2:DescribeSecurityGroups"),
        security_groups,
        convert::security_group
    ))
}

/// The network interfaces EKS puts in the VPC for the cluster's private endpoint.
async fn cluster_enis(clients: &Clients, vpc_id: &str, cluster: &str) -> Result<Vec<ClusterEni>> {
    let out = clients
        .ec2
        .describe_network_interfaces()
        .filters(filter("vpc-id", vpc_id))
        .filters(filter("description", &format!("Amazon EKS {cluster}")))
        .send()
        .await
        .map_err(aws("ec2:DescribeNetworkInterfaces"))?;
    Ok(out
        .network_interfaces()
        .iter()
        .filter_map(convert::cluster_eni)
        .collect())
}
