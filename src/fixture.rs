//! Test-only builders: the seed's world as a [`Snapshot`], to be bent into each scenario.

use crate::snapshot::*;

pub const REGION: &str = "us-west-2";
pub const VPC: &str = "vpc-1234abcd1234abcd1";
pub const INSTANCE: &str = "i-1234abcd1234abcd1";
pub const NEW_SUBNET: &str = "subnet-1234abcd1234abcd1";
pub const NEW_TABLE: &str = "rtb-1234abcd1234abcd1";
pub const MAIN_TABLE: &str = "rtb-0000main00000000";
pub const PUBLIC_SUBNET_A: &str = "subnet-public0a";
pub const PUBLIC_SUBNET_B: &str = "subnet-public0b";
pub const PUBLIC_TABLE: &str = "rtb-public0000000000";
pub const PRIVATE_SUBNET_A: &str = "subnet-private0a";
pub const PRIVATE_TABLE: &str = "rtb-private000000000";
pub const NAT_A: &str = "nat-1234abcd1234abcd1";
pub const IGW: &str = "igw-1234abcd1234abcd1";

pub fn route(destination: &str, target: RouteTarget) -> Route {
    Route {
        destination: destination.to_string(),
        target,
        state: "active".to_string(),
    }
}

pub fn local() -> Route {
    route("10.42.0.0/16", RouteTarget::Local)
}

pub fn table(id: &str, main: bool, subnets: &[&str], routes: Vec<Route>) -> RouteTable {
    RouteTable {
        id: id.to_string(),
        main,
        subnets: subnets.iter().map(|s| s.to_string()).collect(),
        routes,
    }
}

pub fn nat(id: &str, subnet: &str, az: &str, state: &str) -> NatGateway {
    NatGateway {
        id: id.to_string(),
        state: state.to_string(),
        subnet_id: subnet.to_string(),
        availability_zone: Some(az.to_string()),
        connectivity: "public".to_string(),
    }
}

/// The seed: new subnet 10.42.192.0/19 with an explicit table holding only the local route; a working NAT
/// gateway in the public subnet of us-west-2a; the existing private subnet routed through it.
pub fn seed() -> Snapshot {
    let new_table = table(NEW_TABLE, false, &[NEW_SUBNET], vec![local()]);
    Snapshot {
        region: REGION.to_string(),
        instance: Instance {
            id: INSTANCE.to_string(),
            state: "running".to_string(),
            subnet_id: NEW_SUBNET.to_string(),
            vpc_id: VPC.to_string(),
            availability_zone: "us-west-2a".to_string(),
            private_dns_name: Some("ip-10-42-200-17.us-west-2.compute.internal".to_string()),
            private_ip: Some("10.42.200.17".to_string()),
            public_ip: None,
            instance_profile_arn: Some(
                "arn:aws:iam::123456789012:instance-profile/eks-abcd1234".to_string(),
            ),
            security_groups: vec!["sg-1234abcd1234abcd1".to_string()],
        },
        subnet: Subnet {
            id: NEW_SUBNET.to_string(),
            cidr: "10.42.192.0/19".to_string(),
            availability_zone: "us-west-2a".to_string(),
            available_ip_addresses: 8186,
            map_public_ip_on_launch: false,
        },
        route_table: new_table.clone(),
        vpc_route_tables: vec![
            table(MAIN_TABLE, true, &[], vec![local()]),
            table(
                PUBLIC_TABLE,
                false,
                &[PUBLIC_SUBNET_A, PUBLIC_SUBNET_B],
                vec![
                    local(),
                    route(DEFAULT_ROUTE, RouteTarget::InternetGateway(IGW.to_string())),
                ],
            ),
            table(
                PRIVATE_TABLE,
                false,
                &[PRIVATE_SUBNET_A],
                vec![
                    local(),
                    route(DEFAULT_ROUTE, RouteTarget::NatGateway(NAT_A.to_string())),
                ],
            ),
            new_table,
        ],
        nat_gateways: vec![nat(NAT_A, PUBLIC_SUBNET_A, "us-west-2a", "available")],
        attached_internet_gateways: vec![IGW.to_string()],
        vpc_endpoints: vec![],
        cluster: Cluster {
            name: "eks-workshop".to_string(),
            endpoint: Some("https://ABCD.gr7.us-west-2.eks.amazonaws.com".to_string()),
            certificate_authority: None,
            endpoint_public_access: true,
            endpoint_private_access: true,
            public_access_cidrs: vec!["0.0.0.0/0".to_string()],
            cluster_security_group_id: Some("sg-1234abcd1234abcd1".to_string()),
            vpc_id: Some(VPC.to_string()),
        },
        nodegroup: Some(Nodegroup {
            name: "new_nodegroup_2".to_string(),
            status: "ACTIVE".to_string(),
            subnets: vec![NEW_SUBNET.to_string()],
            desired_size: Some(1),
            min_size: Some(0),
            max_size: Some(1),
            health_issues: vec![],
        }),
        group_subnets: vec![NEW_SUBNET.to_string()],
    }
}

impl Snapshot {
    /// Replaces the instance subnet's route table everywhere it appears.
    pub fn with_route_table(mut self, t: RouteTable) -> Snapshot {
        self.vpc_route_tables.retain(|x| x.id != t.id);
        self.vpc_route_tables.push(t.clone());
        self.route_table = t;
        self
    }

    pub fn with_new_subnet_default(self, target: RouteTarget) -> Snapshot {
        let t = table(
            NEW_TABLE,
            false,
            &[NEW_SUBNET],
            vec![local(), route(DEFAULT_ROUTE, target)],
        );
        self.with_route_table(t)
    }
}
