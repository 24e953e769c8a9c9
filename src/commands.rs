//! Every `aws …` / `kubectl …` line a human is shown is built here, and only here. Each value is quoted
//! for a POSIX shell, so a tag or group name like `ng$(touch x);y` stays one argument when the line is
//! pasted into bash.

use std::fmt;

use serde::{Serialize, Serializer};

use crate::action::{Action, RecycleStep, RouteFix};
use crate::snapshot::DEFAULT_ROUTE;

/// One or more commands joined by `&&`, each an argument vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    commands: Vec<Vec<String>>,
}

impl CommandLine {
    fn new(args: &[&str]) -> CommandLine {
        CommandLine {
            commands: vec![args.iter().map(|a| a.to_string()).collect()],
        }
    }

    fn then(mut self, next: CommandLine) -> CommandLine {
        self.commands.extend(next.commands);
        self
    }

    /// The argument vectors, unquoted (what the shell must hand to each program).
    #[cfg(test)]
    pub fn argv(&self) -> &[Vec<String>] {
        &self.commands
    }
}

impl fmt::Display for CommandLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self
            .commands
            .iter()
            .map(|args| args.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" "))
            .collect();
        f.write_str(&lines.join(" && "))
    }
}

impl Serialize for CommandLine {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Quotes one word for a POSIX shell: bare when it holds only characters no shell treats specially,
/// else in single quotes (a single quote inside becomes `'\''`).
pub fn quote(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

fn aws(service: &str, operation: &str, region: &str, rest: &[&str]) -> CommandLine {
    let mut args = vec!["aws", service, operation, "--region", region];
    args.extend_from_slice(rest);
    CommandLine::new(&args)
}

/// How a route names its target on the command line.
#[derive(Debug, Clone, Copy)]
pub enum RouteTargetFlag<'a> {
    NatGateway(&'a str),
    InternetGateway(&'a str),
}

impl RouteTargetFlag<'_> {
    fn flag_and_id(&self) -> (&'static str, &str) {
        match self {
            RouteTargetFlag::NatGateway(id) => ("--nat-gateway-id", id),
            RouteTargetFlag::InternetGateway(id) => ("--gateway-id", id),
        }
    }
}

pub fn create_default_route(region: &str, table: &str, target: RouteTargetFlag) -> CommandLine {
    let (flag, id) = target.flag_and_id();
    let rest = [
        "--route-table-id",
        table,
        "--destination-cidr-block",
        DEFAULT_ROUTE,
        flag,
        id,
    ];
    aws("ec2", "create-route", region, &rest)
}

pub fn replace_default_route(region: &str, table: &str, target: RouteTargetFlag) -> CommandLine {
    let (flag, id) = target.flag_and_id();
    let rest = [
        "--route-table-id",
        table,
        "--destination-cidr-block",
        DEFAULT_ROUTE,
        flag,
        id,
    ];
    aws("ec2", "replace-route", region, &rest)
}

pub fn route_fix(region: &str, fix: &RouteFix) -> CommandLine {
    let nat = RouteTargetFlag::NatGateway(fix.nat_gateway_id());
    match fix {
        RouteFix::CreateDefaultRoute { route_table_id, .. } => {
            create_default_route(region, route_table_id, nat)
        }
        RouteFix::ReplaceDefaultRoute { route_table_id, .. } => {
            replace_default_route(region, route_table_id, nat)
        }
    }
}

pub fn terminate_instance(region: &str, instance_id: &str) -> CommandLine {
    let rest = [
        "--instance-id",
        instance_id,
        "--no-should-decrement-desired-capacity",
    ];
    aws(
        "autoscaling",
        "terminate-instance-in-auto-scaling-group",
        region,
        &rest,
    )
}

fn nodegroup_scaling(region: &str, cluster: &str, nodegroup: &str, config: &str) -> CommandLine {
    let rest = [
        "--cluster-name",
        cluster,
        "--nodegroup-name",
        nodegroup,
        "--scaling-config",
        config,
    ];
    aws("eks", "update-nodegroup-config", region, &rest)
}

/// Desired 0, wait until the nodegroup is active again, back to `desired`.
pub fn rescale_nodegroup(
    region: &str,
    cluster: &str,
    nodegroup: &str,
    desired: i32,
) -> CommandLine {
    let wait = CommandLine::new(&[
        "aws",
        "eks",
        "wait",
        "nodegroup-active",
        "--region",
        region,
        "--cluster-name",
        cluster,
        "--nodegroup-name",
        nodegroup,
    ]);
    nodegroup_scaling(region, cluster, nodegroup, "desiredSize=0")
        .then(wait)
        .then(nodegroup_scaling(
            region,
            cluster,
            nodegroup,
            &format!("desiredSize={desired}"),
        ))
}

/// Puts a nodegroup back to its recorded sizes (after a rescale that did not finish).
pub fn restore_nodegroup(
    region: &str,
    cluster: &str,
    nodegroup: &str,
    min: Option<i32>,
    desired: i32,
) -> CommandLine {
    let config = match min {
        Some(min) => format!("minSize={min},desiredSize={desired}"),
        None => format!("desiredSize={desired}"),
    };
    nodegroup_scaling(region, cluster, nodegroup, &config)
}

/// `TerminateInstances`: for a Karpenter node (its NodePool replaces it) or a standalone instance (whose
/// replacement is up to whoever launched it).
pub fn terminate_instances(region: &str, instance_id: &str) -> CommandLine {
    aws(
        "ec2",
        "terminate-instances",
        region,
        &["--instance-ids", instance_id],
    )
}

/// Deletes a NodeClaim (EKS Auto Mode or Karpenter then launch a replacement). Without its name (the
/// instance is tagged with it only once it registered), the NodeClaims are listed first: the one to
/// delete is the one whose `ID` ends with the instance id.
pub fn delete_nodeclaim(nodeclaim: Option<&str>, instance_id: &str) -> CommandLine {
    let delete = |name: &str| CommandLine::new(&["kubectl", "delete", "nodeclaim", name]);
    match nodeclaim {
        Some(name) => delete(name),
        None => CommandLine::new(&["kubectl", "get", "nodeclaims", "--output=wide"]).then(delete(
            &format!("<the NodeClaim whose ID ends with {instance_id}>"),
        )),
    }
}

pub fn action(region: &str, action: &Action) -> CommandLine {
    match action {
        Action::Route(fix) => route_fix(region, fix),
        Action::Recycle(step) => recycle(region, step),
    }
}

fn recycle(region: &str, step: &RecycleStep) -> CommandLine {
    match step {
        RecycleStep::TerminateInstance { instance_id, .. } => {
            terminate_instance(region, instance_id)
        }
        RecycleStep::RescaleNodegroup {
            cluster,
            nodegroup,
            desired_size,
        } => rescale_nodegroup(region, cluster, nodegroup, *desired_size),
        RecycleStep::TerminateKarpenterInstance { instance_id, .. }
        | RecycleStep::ReplaceStandaloneInstance { instance_id } => {
            terminate_instances(region, instance_id)
        }
        RecycleStep::DeleteNodeClaim {
            instance_id,
            nodeclaim,
            ..
        } => delete_nodeclaim(nodeclaim.as_deref(), instance_id),
    }
}

pub fn describe_nodegroup_health(region: &str, cluster: &str, nodegroup: &str) -> CommandLine {
    let rest = [
        "--cluster-name",
        cluster,
        "--nodegroup-name",
        nodegroup,
        "--query",
        "nodegroup.health",
    ];
    aws("eks", "describe-nodegroup", region, &rest)
}

pub fn console_output(region: &str, instance_id: &str) -> CommandLine {
    let rest = ["--instance-id", instance_id, "--latest", "--output", "text"];
    aws("ec2", "get-console-output", region, &rest)
}

pub fn troubleshoot_runbook(region: &str, cluster: &str, instance_id: &str) -> CommandLine {
    let parameters = format!("ClusterName={cluster},WorkerID={instance_id}");
    let rest = [
        "--document-name",
        "AWSSupport-TroubleshootEKSWorkerNode",
        "--parameters",
        &parameters,
    ];
    aws("ssm", "start-automation-execution", region, &rest)
}

pub fn map_public_ip_on_launch(region: &str, subnet_id: &str) -> CommandLine {
    let rest = ["--subnet-id", subnet_id, "--map-public-ip-on-launch"];
    aws("ec2", "modify-subnet-attribute", region, &rest)
}

pub fn allocate_address(region: &str) -> CommandLine {
    aws("ec2", "allocate-address", region, &["--domain", "vpc"])
}

pub fn create_nat_gateway(region: &str, subnet_id: &str) -> CommandLine {
    let rest = [
        "--subnet-id",
        subnet_id,
        "--allocation-id",
        "<allocation-id>",
    ];
    aws("ec2", "create-nat-gateway", region, &rest)
}

pub fn describe_routes(region: &str, table: &str) -> CommandLine {
    let rest = [
        "--route-table-ids",
        table,
        "--query",
        "RouteTables[0].Routes",
    ];
    aws("ec2", "describe-route-tables", region, &rest)
}

pub fn create_interface_endpoint(
    region: &str,
    vpc_id: &str,
    service_name: &str,
    subnet_id: &str,
) -> CommandLine {
    let rest = [
        "--vpc-id",
        vpc_id,
        "--vpc-endpoint-type",
        "Interface",
        "--service-name",
        service_name,
        "--subnet-ids",
        subnet_id,
        "--private-dns-enabled",
    ];
    aws("ec2", "create-vpc-endpoint", region, &rest)
}

pub fn create_gateway_endpoint(
    region: &str,
    vpc_id: &str,
    service_name: &str,
    route_table_id: &str,
) -> CommandLine {
    let rest = [
        "--vpc-id",
        vpc_id,
        "--vpc-endpoint-type",
        "Gateway",
        "--service-name",
        service_name,
        "--route-table-ids",
        route_table_id,
    ];
    aws("ec2", "create-vpc-endpoint", region, &rest)
}

/// An allow entry for TCP on `ports` (`From=443,To=443`), egress or ingress.
pub fn allow_nacl_entry(
    region: &str,
    acl_id: &str,
    egress: bool,
    rule_number: i32,
    ports: &str,
) -> CommandLine {
    let direction = if egress { "--egress" } else { "--ingress" };
    let rule = rule_number.to_string();
    let rest = [
        "--network-acl-id",
        acl_id,
        direction,
        "--rule-number",
        &rule,
        "--protocol",
        "tcp",
        "--port-range",
        ports,
        "--cidr-block",
        "0.0.0.0/0",
        "--rule-action",
        "allow",
    ];
    aws("ec2", "create-network-acl-entry", region, &rest)
}

pub fn allow_https_egress(region: &str, group_id: &str) -> CommandLine {
    let rest = [
        "--group-id",
        group_id,
        "--protocol",
        "tcp",
        "--port",
        "443",
        "--cidr",
        "0.0.0.0/0",
    ];
    aws("ec2", "authorize-security-group-egress", region, &rest)
}

pub fn allow_https_from_group(region: &str, group_id: &str, source_group: &str) -> CommandLine {
    let rest = [
        "--group-id",
        group_id,
        "--protocol",
        "tcp",
        "--port",
        "443",
        "--source-group",
        source_group,
    ];
    aws("ec2", "authorize-security-group-ingress", region, &rest)
}

/// `--enable-dns-support` or `--enable-dns-hostnames`.
pub fn enable_vpc_dns(region: &str, vpc_id: &str, attribute_flag: &str) -> CommandLine {
    let rest = ["--vpc-id", vpc_id, attribute_flag];
    aws("ec2", "modify-vpc-attribute", region, &rest)
}

pub fn set_public_access_cidrs(region: &str, cluster: &str, cidrs: &[String]) -> CommandLine {
    let config = format!("publicAccessCidrs={}", cidrs.join(","));
    let rest = ["--name", cluster, "--resources-vpc-config", &config];
    aws("eks", "update-cluster-config", region, &rest)
}

pub fn enable_private_endpoint(region: &str, cluster: &str) -> CommandLine {
    let rest = [
        "--name",
        cluster,
        "--resources-vpc-config",
        "endpointPrivateAccess=true",
    ];
    aws("eks", "update-cluster-config", region, &rest)
}

/// IAM is global: no `--region`.
pub fn attach_role_policy(role_name: &str, policy_arn: &str) -> CommandLine {
    CommandLine::new(&[
        "aws",
        "iam",
        "attach-role-policy",
        "--role-name",
        role_name,
        "--policy-arn",
        policy_arn,
    ])
}

pub fn list_attached_role_policies(role_name: &str) -> CommandLine {
    CommandLine::new(&[
        "aws",
        "iam",
        "list-attached-role-policies",
        "--role-name",
        role_name,
    ])
}

/// `kind` is `EC2_LINUX` or `EC2_WINDOWS`.
pub fn create_access_entry(
    region: &str,
    cluster: &str,
    principal_arn: &str,
    kind: &str,
) -> CommandLine {
    let rest = [
        "--cluster-name",
        cluster,
        "--principal-arn",
        principal_arn,
        "--type",
        kind,
    ];
    aws("eks", "create-access-entry", region, &rest)
}

pub fn list_access_entries(region: &str, cluster: &str) -> CommandLine {
    aws(
        "eks",
        "list-access-entries",
        region,
        &["--cluster-name", cluster],
    )
}

/// Opens `kube-system/aws-auth` for editing.
pub fn edit_aws_auth() -> CommandLine {
    CommandLine::new(&[
        "kubectl",
        "edit",
        "configmap",
        "aws-auth",
        "--namespace",
        "kube-system",
    ])
}

/// Whether the VPC CNI's service account has a role of its own (IRSA annotation).
pub fn describe_aws_node_service_account() -> CommandLine {
    CommandLine::new(&[
        "kubectl",
        "describe",
        "serviceaccount",
        "aws-node",
        "--namespace",
        "kube-system",
    ])
}

/// Whether the VPC CNI's service account has an EKS Pod Identity association.
pub fn list_aws_node_pod_identity(region: &str, cluster: &str) -> CommandLine {
    let rest = [
        "--cluster-name",
        cluster,
        "--namespace",
        "kube-system",
        "--service-account",
        "aws-node",
    ];
    aws("eks", "list-pod-identity-associations", region, &rest)
}

pub fn subnet_free_addresses(region: &str, subnet_id: &str) -> CommandLine {
    let rest = [
        "--subnet-ids",
        subnet_id,
        "--query",
        "Subnets[0].AvailableIpAddressCount",
    ];
    aws("ec2", "describe-subnets", region, &rest)
}

/// Network interfaces left `available` (detached) in the subnet: each holds addresses for nothing.
pub fn detached_interfaces(region: &str, subnet_id: &str) -> CommandLine {
    let filter = format!("Name=subnet-id,Values={subnet_id}");
    let rest = [
        "--filters",
        &filter,
        "Name=status,Values=available",
        "--query",
        "NetworkInterfaces[].NetworkInterfaceId",
    ];
    aws("ec2", "describe-network-interfaces", region, &rest)
}

/// An access entry that lets this function's role read nodes through the Kubernetes group it is bound to.
pub fn function_access_entry(
    region: &str,
    cluster: &str,
    role_arn: &str,
    group: &str,
) -> CommandLine {
    let rest = [
        "--cluster-name",
        cluster,
        "--principal-arn",
        role_arn,
        "--kubernetes-groups",
        group,
    ];
    aws("eks", "create-access-entry", region, &rest)
}

/// The ClusterRole and binding that let `group` get and list nodes.
pub fn node_reader_binding(group: &str) -> CommandLine {
    let role = CommandLine::new(&[
        "kubectl",
        "create",
        "clusterrole",
        group,
        "--verb=get,list",
        "--resource=nodes",
    ]);
    let binding = CommandLine::new(&[
        "kubectl",
        "create",
        "clusterrolebinding",
        group,
        &format!("--clusterrole={group}"),
        &format!("--group={group}"),
    ]);
    role.then(binding)
}

/// `kubectl get nodes`, narrowed to the nodes with this label (a nodegroup's, a NodePool's) when given.
pub fn get_nodes_labelled(label: Option<(&str, &str)>) -> CommandLine {
    match label {
        Some((key, value)) => {
            let selector = format!("--selector={key}={value}");
            CommandLine::new(&["kubectl", "get", "nodes", &selector])
        }
        None => CommandLine::new(&["kubectl", "get", "nodes"]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::LABEL_NODEGROUP;
    use std::process::Command;

    #[test]
    fn plain_ids_stay_bare_and_the_seeds_fix_reads_as_in_the_incident() {
        let line = create_default_route(
            "us-west-2",
            "rtb-1234abcd1234abcd1",
            RouteTargetFlag::NatGateway("nat-1234abcd1234abcd1"),
        );
        assert_eq!(
            line.to_string(),
            "aws ec2 create-route --region us-west-2 --route-table-id rtb-1234abcd1234abcd1 --destination-cidr-block 0.0.0.0/0 --nat-gateway-id nat-1234abcd1234abcd1"
        );
        assert_eq!(
            get_nodes_labelled(Some((LABEL_NODEGROUP, "new_nodegroup_2"))).to_string(),
            "kubectl get nodes --selector=eks.amazonaws.com/nodegroup=new_nodegroup_2"
        );
    }

    #[test]
    fn the_access_entry_fix_reads_as_the_cli_takes_it() {
        let line = create_access_entry(
            "us-west-2",
            "eks-workshop",
            "arn:aws:iam::123456789012:role/eks-workshop-node-role",
            "EC2_LINUX",
        );
        assert_eq!(
            line.to_string(),
            "aws eks create-access-entry --region us-west-2 --cluster-name eks-workshop --principal-arn arn:aws:iam::123456789012:role/eks-workshop-node-role --type EC2_LINUX"
        );
        assert_eq!(
            attach_role_policy("r", "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy").to_string(),
            "aws iam attach-role-policy --role-name r --policy-arn arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy"
        );
    }

    #[test]
    fn each_node_source_is_replaced_with_its_own_command() {
        let karpenter = Action::Recycle(RecycleStep::TerminateKarpenterInstance {
            instance_id: "i-0f1e2d3c4b5a69788".into(),
            nodepool: "default".into(),
        });
        assert_eq!(
            action("eu-west-1", &karpenter).to_string(),
            "aws ec2 terminate-instances --region eu-west-1 --instance-ids i-0f1e2d3c4b5a69788"
        );
        let auto_mode = |nodeclaim: Option<&str>| {
            Action::Recycle(RecycleStep::DeleteNodeClaim {
                instance_id: "i-0f1e2d3c4b5a69788".into(),
                nodepool: "general-purpose".into(),
                nodeclaim: nodeclaim.map(String::from),
            })
        };
        assert_eq!(
            action("eu-west-1", &auto_mode(Some("general-purpose-x7k2p"))).to_string(),
            "kubectl delete nodeclaim general-purpose-x7k2p"
        );
        assert_eq!(
            action("eu-west-1", &auto_mode(None)).to_string(),
            "kubectl get nodeclaims --output=wide && kubectl delete nodeclaim '<the NodeClaim whose ID ends with i-0f1e2d3c4b5a69788>'"
        );
        assert_eq!(
            get_nodes_labelled(Some(("karpenter.sh/nodepool", "default"))).to_string(),
            "kubectl get nodes --selector=karpenter.sh/nodepool=default"
        );
    }

    #[test]
    fn words_with_shell_syntax_are_single_quoted() {
        assert_eq!(quote("ng$(touch x);y"), "'ng$(touch x);y'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("RouteTables[0].Routes"), "'RouteTables[0].Routes'");
    }

    /// Runs each line through a real bash in which `aws` and `kubectl` are functions that print their
    /// arguments one per line, NUL-terminated: the shell must hand over exactly the vectors we built.
    fn through_bash(line: &CommandLine) -> Vec<Vec<String>> {
        let script = format!(
            "set -e\naws() {{ printf '%s\\0' \"$@\"; printf '\\n--\\n'; }}\nkubectl() {{ printf '%s\\0' \"$@\"; printf '\\n--\\n'; }}\n{line}\n"
        );
        let out = Command::new("bash")
            .arg("-c")
            .arg(&script)
            .current_dir(std::env::temp_dir())
            .output()
            .expect("bash runs");
        assert!(out.status.success(), "bash failed on: {line}");
        String::from_utf8_lossy(&out.stdout)
            .split("\n--\n")
            .filter(|chunk| !chunk.is_empty())
            .map(|chunk| {
                chunk
                    .split('\0')
                    .filter(|a| !a.is_empty())
                    .map(String::from)
                    .collect()
            })
            .collect()
    }

    #[test]
    fn hostile_names_stay_one_argument_when_pasted_into_bash() {
        let hostile = [
            "ng$(touch pwned);y",
            "a b\tc",
            "`id`",
            "x'y\"z",
            "semi;colon&&amp|pipe",
            "new\nline",
            "*glob?[x]",
            "~home",
            "$HOME",
        ];
        for name in hostile {
            let lines = [
                rescale_nodegroup("us-west-2", name, name, 2),
                restore_nodegroup("us-west-2", name, name, Some(1), 2),
                get_nodes_labelled(Some((LABEL_NODEGROUP, name))),
                terminate_instance("us-west-2", name),
                troubleshoot_runbook("us-west-2", name, "i-1"),
                describe_routes("us-west-2", name),
                attach_role_policy(name, name),
                create_access_entry("us-west-2", name, name, "EC2_LINUX"),
                list_aws_node_pod_identity("us-west-2", name),
                detached_interfaces("us-west-2", name),
                terminate_instances("us-west-2", name),
                delete_nodeclaim(Some(name), "i-1"),
                delete_nodeclaim(None, name),
                get_nodes_labelled(Some(("karpenter.sh/nodepool", name))),
            ];
            for line in lines {
                let expected: Vec<Vec<String>> =
                    line.argv().iter().map(|args| args[1..].to_vec()).collect();
                assert_eq!(through_bash(&line), expected, "{line}");
            }
        }
        assert!(
            !std::env::temp_dir().join("pwned);y").exists()
                && !std::env::temp_dir().join("pwned").exists(),
            "a command substitution ran"
        );
    }
}
