//! The seed's world (and variations of it) built in moto with the real AWS SDK.
//!
//! VPC `10.42.0.0/16` with DNS support and hostnames, an attached internet gateway, three public subnets on a
//! table `0.0.0.0/0 → IGW`, a NAT gateway in public-a, three private subnets (the existing nodegroups) on a
//! table `0.0.0.0/0 → NAT`, and the new subnet `10.42.192.0/19` in us-west-2a whose routing depends on
//! [`NewSubnetRouting`]. EKS cluster `eks-workshop`, managed nodegroup `new_nodegroup_2` and, because moto's
//! `CreateNodegroup` does not create one, the nodegroup's Auto Scaling group built by hand the way EKS
//! builds it (launch template, tags, the new subnet).
//!
//! [`WorldOptions`] adds the variations the diagnosis cases need (each constructor documents what the
//! kubelet simulator decides and why): a transit-gateway proxy design, split default routes, a NAT behind a
//! firewall endpoint, a NAT with no way out, a private cluster with VPC endpoints, a NACL or security group
//! that blocks 443, VPC DNS switched off, a public-only API endpoint that does not admit the NAT, and
//! dual-stack (IPv6) clusters ([`dual_stack`]).
//! Every world's nodes run as the node role `eks-workshop-node-role` through an instance profile
//! ([`identity`]); [`WorldOptions::node_policies`] says what it carries.
//! The steps live in [`steps`] (the seed) and [`variants`] (the rest); [`ops`] changes a built world;
//! [`nodes`] launches instances without an Auto Scaling group (Karpenter, EKS Auto Mode, nobody's);
//! [`accounts`] adds the central account and the member role of an organisation-wide deployment.

mod accounts;
mod dual_stack;
mod ec2;
mod event;
mod identity;
mod nodes;
mod ops;
mod steps;
mod variants;

use std::collections::BTreeMap;
use std::time::Duration;

use aws_config::SdkConfig;

use crate::Error;

pub use accounts::{Central, MEMBER_ROLE_NAME};
pub use dual_stack::{IPV6_ANYWHERE, RESTRICTED_IPV4_CIDR};
pub use ec2::{route_destination, route_target};
pub use event::reported_now;
pub use identity::{NODE_POLICIES, NODE_PROFILE_NAME, NODE_ROLE_NAME};
pub use nodes::Launcher;

/// Name of the cluster in the seed.
pub const CLUSTER_NAME: &str = "eks-workshop";
/// Name of the nodegroup whose nodes do not join in the seed.
pub const NODEGROUP_NAME: &str = "new_nodegroup_2";
/// CIDR of the new subnet in the seed.
pub const NEW_SUBNET_CIDR: &str = "10.42.192.0/19";
/// Name of the cluster security group in the seed.
pub const CLUSTER_SECURITY_GROUP_NAME: &str = "eks-cluster-sg-eks-workshop-123456789";
/// What a public-only cluster endpoint admits in [`WorldOptions::public_endpoint_excluding_nat`]
/// (TEST-NET-3: never a NAT's address).
pub const OFFICE_CIDR: &str = "203.0.113.0/24";
/// The services a node reaches through interface endpoints in a private cluster.
pub const INTERFACE_SERVICES: [&str; 4] = ["ec2", "ecr.api", "ecr.dkr", "sts"];

const VPC_CIDR: &str = "10.42.0.0/16";
const DEFAULT_ROUTE: &str = "0.0.0.0/0";
const WAIT: Duration = Duration::from_secs(60);

/// How the new subnet is routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NewSubnetRouting {
    /// The seed: an explicit route table with only the local route. Does not join: no route out.
    #[default]
    LocalOnly,
    /// No explicit association; the VPC main table (local route only) applies. Does not join.
    MainTable,
    /// An explicit table with `0.0.0.0/0 → the working NAT gateway`: joins.
    ViaNat,
    /// Central egress through a proxy behind a transit gateway: `10.0.0.0/8 → tgw-…`, no default route.
    /// Does not join: every internet path is `unknown` (the sandbox has nothing beyond the TGW).
    ProxyViaTransitGateway,
    /// `0.0.0.0/1` and `128.0.0.0/1 → the working NAT`: joins (together they cover the internet).
    SplitDefaultsViaNat,
    /// `0.0.0.0/0 → the NAT behind the firewall endpoint` ([`World::firewall`]): joins.
    ViaFirewalledNat,
    /// `0.0.0.0/0 → a NAT whose own subnet has no default route` ([`World::isolated_nat`]). Does not join:
    /// blocked, `nat-without-internet`.
    ViaNatWithoutInternet,
}

/// How the cluster's API endpoint is reached.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ClusterEndpoint {
    /// The seed: public (from `0.0.0.0/0`) and private.
    #[default]
    PublicAndPrivate,
    /// Private only: nodes reach it inside the VPC (DNS support and hostnames needed).
    PrivateOnly,
    /// Public only, from these CIDRs: nodes reach it over the internet from an admitted address.
    PublicOnly { public_access_cidrs: Vec<String> },
}

/// Variations of the world.
#[derive(Debug, Clone)]
pub struct WorldOptions {
    /// Routing of the new subnet.
    pub routing: NewSubnetRouting,
    /// Desired capacity of the nodegroup (and its ASG).
    pub desired_capacity: i32,
    /// Build a firewall subnet (→ IGW) with a GWLB endpoint, and a NAT whose subnet routes `0.0.0.0/0` to
    /// that endpoint ([`World::firewall`]). Implied by [`NewSubnetRouting::ViaFirewalledNat`].
    pub firewalled_nat: bool,
    /// Endpoint access of the cluster.
    pub cluster_endpoint: ClusterEndpoint,
    /// Interface endpoints (private DNS, in private-a) for these services (`ec2`, `ecr.api`, …).
    pub interface_endpoints: Vec<String>,
    /// An S3 gateway endpoint on the new subnet's and the private subnets' tables.
    pub s3_gateway_endpoint: bool,
    /// The new subnet gets its own NACL: outbound rule 100 denies TCP 443, rule 200 allows everything.
    pub nacl_denies_https_out: bool,
    /// The nodegroup's instances carry only a node security group whose egress allows TCP 80, not 443.
    pub node_sg_without_https_egress: bool,
    /// VPC `enableDnsSupport` (the seed: true).
    pub dns_support: bool,
    /// AWS-managed policies attached to the node role (the seed: [`NODE_POLICIES`]).
    pub node_policies: Vec<String>,
    /// CIDR of the new subnet (the seed: [`NEW_SUBNET_CIDR`]).
    pub new_subnet_cidr: String,
    /// Dual-stack: IPv6 on the VPC and the new subnet, an egress-only gateway (`::/0` on the new subnet's
    /// table), an IPv6 cluster with a public-only endpoint, an IPv6 address per node ([`dual_stack`]).
    pub dual_stack: bool,
}

impl Default for WorldOptions {
    fn default() -> Self {
        WorldOptions {
            routing: NewSubnetRouting::LocalOnly,
            desired_capacity: 1,
            firewalled_nat: false,
            cluster_endpoint: ClusterEndpoint::PublicAndPrivate,
            interface_endpoints: Vec::new(),
            s3_gateway_endpoint: false,
            nacl_denies_https_out: false,
            node_sg_without_https_egress: false,
            dns_support: true,
            node_policies: NODE_POLICIES.iter().map(|p| p.to_string()).collect(),
            new_subnet_cidr: NEW_SUBNET_CIDR.to_owned(),
            dual_stack: false,
        }
    }
}

impl WorldOptions {
    /// The seed with the new subnet routed `routing`.
    pub fn routed(routing: NewSubnetRouting) -> WorldOptions {
        WorldOptions {
            routing,
            ..WorldOptions::default()
        }
    }

    /// `10.0.0.0/8 → tgw`, no default route. Does not join (internet paths `unknown`).
    pub fn proxy_via_transit_gateway() -> WorldOptions {
        WorldOptions::routed(NewSubnetRouting::ProxyViaTransitGateway)
    }

    /// `0.0.0.0/1` + `128.0.0.0/1 → NAT`. Joins.
    pub fn split_defaults() -> WorldOptions {
        WorldOptions::routed(NewSubnetRouting::SplitDefaultsViaNat)
    }

    /// The seed (new subnet local-only, does not join) plus a NAT behind a firewall endpoint; after
    /// [`World::route_new_subnet_to_firewalled_nat`] the node joins.
    pub fn firewall_fronted_nat() -> WorldOptions {
        WorldOptions {
            firewalled_nat: true,
            ..WorldOptions::default()
        }
    }

    /// New subnet → a NAT whose subnet has no default route. Does not join (`nat-without-internet`).
    pub fn nat_without_internet() -> WorldOptions {
        WorldOptions::routed(NewSubnetRouting::ViaNatWithoutInternet)
    }

    /// Private-only cluster endpoint, interface endpoints for `services`, an S3 gateway endpoint on the new
    /// subnet's table, no default route. Joins only if `services` has all of [`INTERFACE_SERVICES`].
    pub fn private_cluster_with_endpoints(services: &[&str]) -> WorldOptions {
        WorldOptions {
            cluster_endpoint: ClusterEndpoint::PrivateOnly,
            interface_endpoints: services.iter().map(|s| s.to_string()).collect(),
            s3_gateway_endpoint: true,
            ..WorldOptions::default()
        }
    }

    /// [`WorldOptions::private_cluster_with_endpoints`] without `sts`. Does not join: `sts` has no route.
    pub fn private_cluster_missing_sts() -> WorldOptions {
        WorldOptions::private_cluster_with_endpoints(&["ec2", "ecr.api", "ecr.dkr"])
    }

    /// [`WorldOptions::private_cluster_with_endpoints`] with every endpoint. Joins with no internet route.
    pub fn private_cluster_all_endpoints() -> WorldOptions {
        WorldOptions::private_cluster_with_endpoints(&INTERFACE_SERVICES)
    }

    /// New subnet → NAT, but its NACL denies outbound 443. Does not join (blocked at the NACL).
    pub fn nacl_denies_https() -> WorldOptions {
        WorldOptions {
            nacl_denies_https_out: true,
            ..WorldOptions::routed(NewSubnetRouting::ViaNat)
        }
    }

    /// New subnet → NAT, but the instance's only SG allows egress TCP 80 only. Does not join.
    pub fn node_sg_without_https() -> WorldOptions {
        WorldOptions {
            node_sg_without_https_egress: true,
            ..WorldOptions::routed(NewSubnetRouting::ViaNat)
        }
    }

    /// New subnet → NAT, VPC `enableDnsSupport` false. Does not join (blocked at DNS).
    pub fn dns_support_disabled() -> WorldOptions {
        WorldOptions {
            dns_support: false,
            ..WorldOptions::routed(NewSubnetRouting::ViaNat)
        }
    }

    /// New subnet → NAT, but the node role lacks `policy` (an AWS-managed policy name). Does not join
    /// when `policy` is the worker or ECR policy (the kubelet simulator checks the role).
    pub fn node_role_without(policy: &str) -> WorldOptions {
        WorldOptions {
            node_policies: NODE_POLICIES
                .iter()
                .filter(|p| **p != policy)
                .map(|p| p.to_string())
                .collect(),
            ..WorldOptions::routed(NewSubnetRouting::ViaNat)
        }
    }

    /// New subnet → NAT: joins unless the cluster does not admit the node role (set through
    /// [`crate::access::ClusterAccess`]: an `aws-auth` without it, no access entry).
    pub fn open_network() -> WorldOptions {
        WorldOptions::routed(NewSubnetRouting::ViaNat)
    }

    /// The new subnet is a `/28` (10 free addresses once the node has its own), behind the transit
    /// gateway proxy. Does not join (internet paths `unknown`).
    pub fn small_subnet_behind_proxy() -> WorldOptions {
        WorldOptions {
            new_subnet_cidr: "10.42.192.0/28".to_owned(),
            ..WorldOptions::proxy_via_transit_gateway()
        }
    }

    /// New subnet → NAT, cluster endpoint public only from [`OFFICE_CIDR`], which does not hold the NAT's
    /// public IP. Does not join (blocked at `publicAccessCidrs`).
    pub fn public_endpoint_excluding_nat() -> WorldOptions {
        WorldOptions {
            cluster_endpoint: ClusterEndpoint::PublicOnly {
                public_access_cidrs: vec![OFFICE_CIDR.to_owned()],
            },
            ..WorldOptions::routed(NewSubnetRouting::ViaNat)
        }
    }
}

/// Target of a route of the new subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefaultTarget {
    /// `nat-…`
    Nat(String),
    /// `tgw-…`
    TransitGateway(String),
    /// `igw-…`
    InternetGateway(String),
    /// `vpce-…` (a Gateway Load Balancer / firewall endpoint)
    VpcEndpoint(String),
}

/// A subnet with its own route table and a NAT gateway in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatSubnet {
    pub subnet_id: String,
    pub route_table_id: String,
    pub nat_gateway_id: String,
}

/// A firewall subnet (`0.0.0.0/0 → IGW`) with a Gateway Load Balancer endpoint, and the NAT behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firewall {
    pub subnet_id: String,
    pub route_table_id: String,
    /// `vpce-…`, type GatewayLoadBalancer.
    pub endpoint_id: String,
    /// The NAT whose subnet routes `0.0.0.0/0 → endpoint_id`.
    pub nat: NatSubnet,
}

/// The ids of everything the world is made of, plus the SDK configuration of its account.
#[derive(Debug, Clone)]
pub struct World {
    pub sdk: SdkConfig,
    pub account_id: String,
    pub region: String,
    pub vpc_id: String,
    pub igw_id: String,
    pub main_route_table_id: String,
    pub public_subnet_ids: Vec<String>,
    pub public_route_table_id: String,
    /// `available`, in the public subnet of us-west-2a.
    pub nat_gateway_id: String,
    /// Subnets of the existing nodegroups.
    pub private_subnet_ids: Vec<String>,
    /// `0.0.0.0/0 → nat_gateway_id`.
    pub private_route_table_id: String,
    /// `10.42.192.0/19`, us-west-2a.
    pub new_subnet_id: String,
    /// `None` for [`NewSubnetRouting::MainTable`].
    pub new_route_table_id: Option<String>,
    /// `eks-workshop`
    pub cluster_name: String,
    /// `new_nodegroup_2`
    pub nodegroup_name: String,
    /// `eks-new_nodegroup_2-<uuid>`, the uuid of the nodegroup's ARN.
    pub asg_name: String,
    /// `eks-cluster-sg-eks-workshop-123456789`
    pub cluster_security_group_id: String,
    /// The NAT behind a firewall endpoint ([`WorldOptions::firewalled_nat`]).
    pub firewall: Option<Firewall>,
    /// The NAT whose subnet has no default route ([`NewSubnetRouting::ViaNatWithoutInternet`]).
    pub isolated_nat: Option<NatSubnet>,
    /// [`NewSubnetRouting::ProxyViaTransitGateway`]'s transit gateway.
    pub transit_gateway_id: Option<String>,
    /// Service (`ec2`, `s3`, …) → VPC endpoint id.
    pub vpc_endpoints: BTreeMap<String, String>,
    /// Security group of the interface endpoints (ingress TCP 443 from the VPC).
    pub endpoint_security_group_id: Option<String>,
    /// The new subnet's own NACL ([`WorldOptions::nacl_denies_https_out`]).
    pub new_subnet_nacl_id: Option<String>,
    /// The nodes' only security group ([`WorldOptions::node_sg_without_https_egress`]).
    pub node_security_group_id: Option<String>,
    /// The DynamoDB table of the function's durable state (what the template creates).
    pub state_table: String,
}

impl World {
    /// The seed's world: [`WorldOptions::default`].
    pub async fn seed(sdk: SdkConfig, account_id: &str) -> Result<World, Error> {
        World::build(sdk, account_id, WorldOptions::default()).await
    }

    /// Builds the world in the account `sdk` points at, one step per resource.
    pub async fn build(
        sdk: SdkConfig,
        account_id: &str,
        opts: WorldOptions,
    ) -> Result<World, Error> {
        let mut w = steps::network(sdk, account_id, &opts.new_subnet_cidr).await?;
        w.state_table = steps::state_table(&w.sdk).await?;
        w.build_nat_subnets(&opts).await?;
        w.route_new_subnet(opts.routing).await?;
        w.build_ipv6_network(&opts).await?;
        w.cluster_security_group_id = w.cluster_security_group().await?;
        w.build_endpoints(&opts).await?;
        w.build_filters(&opts).await?;
        w.create_cluster_for(&opts).await?;
        w.create_node_identity(&opts.node_policies).await?;
        w.asg_name = w.create_nodegroup(&opts).await?;
        w.wait_for_instances(opts.desired_capacity.max(0) as usize)
            .await?;
        w.assign_nodes_ipv6(&opts).await?;
        w.associate_node_profile().await?;
        Ok(w)
    }

    /// EC2 client of the world's account.
    pub fn ec2(&self) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.sdk)
    }

    /// EKS client of the world's account.
    pub fn eks(&self) -> aws_sdk_eks::Client {
        aws_sdk_eks::Client::new(&self.sdk)
    }

    /// Auto Scaling client of the world's account.
    pub fn autoscaling(&self) -> aws_sdk_autoscaling::Client {
        aws_sdk_autoscaling::Client::new(&self.sdk)
    }

    /// The new subnet's route table: its own, else the VPC main table.
    pub fn new_subnet_table(&self) -> &str {
        self.new_route_table_id
            .as_deref()
            .unwrap_or(&self.main_route_table_id)
    }
}
