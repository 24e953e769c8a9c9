//! The function role's IAM is as narrow as the code: `template.yaml` is read (CloudFormation short tags
//! included), evaluated for a matrix of parameter values, and its statements compared with the AWS
//! operations `src/` calls.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_yaml::Value;

// ------------------------------------------------------------------------------------- the template

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn template() -> Value {
    load("template.yaml")
}

/// A template of this repository, read (CloudFormation short tags included).
fn load(path: &str) -> Value {
    let text = std::fs::read_to_string(root().join(path)).expect("the template exists");
    serde_yaml::from_str(&text).expect("the template is YAML")
}

/// One deployment's parameter values (the rest take the template's defaults).
#[derive(Debug, Clone)]
struct Scenario {
    params: BTreeMap<String, Value>,
}

impl Scenario {
    fn new(pairs: &[(&str, &str)]) -> Scenario {
        let params = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(*v)))
            .collect();
        Scenario { params }
    }
}

/// Every combination that changes which statements exist.
fn scenarios() -> Vec<Scenario> {
    let mut all = Vec::new();
    for mode in ["alert", "remediate"] {
        for recycle in ["instance", "nodegroup", "none"] {
            for clusters in ["", "eks-workshop,prod"] {
                for vpcs in ["", "vpc-0a1b2c3d,vpc-1234abcd"] {
                    for subnets in ["", "subnet-0a1b2c3d"] {
                        for org in ["", "o-a1b2c3d4e5"] {
                            all.push(Scenario::new(&[
                                ("Mode", mode),
                                ("Recycle", recycle),
                                ("ClusterAllowlist", clusters),
                                ("RemediateVpcIds", vpcs),
                                ("VpcSubnetIds", subnets),
                                (
                                    "VpcSecurityGroupIds",
                                    subnets.replace("subnet", "sg").as_str(),
                                ),
                                ("OrganizationId", org),
                            ]));
                        }
                    }
                }
            }
        }
    }
    all
}

/// Evaluates CloudFormation intrinsics for one scenario. `None` is `AWS::NoValue`.
struct Eval<'a> {
    template: &'a Value,
    scenario: &'a Scenario,
    /// `Fn::ForEach` identifiers in scope.
    locals: BTreeMap<String, String>,
}

impl Eval<'_> {
    fn parameter(&self, name: &str) -> Option<Value> {
        if let Some(v) = self.locals.get(name) {
            return Some(Value::from(v.as_str()));
        }
        let declared = self.template.get("Parameters")?.get(name)?;
        let value = self
            .scenario
            .params
            .get(name)
            .cloned()
            .or_else(|| declared.get("Default").cloned())
            .unwrap_or(Value::from(""));
        if declared.get("Type").and_then(Value::as_str) == Some("CommaDelimitedList") {
            let text = scalar(&value);
            return Some(Value::Sequence(text.split(',').map(Value::from).collect()));
        }
        Some(Value::from(scalar(&value)))
    }

    fn reference(&self, name: &str) -> Option<Value> {
        if name == "AWS::NoValue" {
            return None;
        }
        self.parameter(name)
            .or_else(|| Some(Value::from(format!("<{name}>"))))
    }

    fn condition(&self, name: &str) -> bool {
        let expr = self
            .template
            .get("Conditions")
            .and_then(|c| c.get(name))
            .unwrap_or_else(|| panic!("no condition {name}"));
        self.value(expr).and_then(|v| v.as_bool()) == Some(true)
    }

    fn value(&self, v: &Value) -> Option<Value> {
        match v {
            Value::Tagged(t) => self.intrinsic(&t.tag.to_string(), &t.value),
            Value::Sequence(items) => Some(Value::Sequence(
                items.iter().filter_map(|i| self.value(i)).collect(),
            )),
            Value::Mapping(map) => {
                let mut out = serde_yaml::Mapping::new();
                for (k, v) in map {
                    if let Some(v) = self.value(v) {
                        out.insert(k.clone(), v);
                    }
                }
                Some(Value::Mapping(out))
            }
            other => Some(other.clone()),
        }
    }

    fn args(&self, v: &Value) -> Vec<Value> {
        match v {
            Value::Sequence(items) => items.clone(),
            other => vec![other.clone()],
        }
    }

    fn intrinsic(&self, tag: &str, arg: &Value) -> Option<Value> {
        let args = self.args(arg);
        let bool_of = |v: &Value| self.value(v).and_then(|v| v.as_bool()) == Some(true);
        match tag {
            "!Ref" => self.reference(&scalar(arg)),
            "!Condition" => Some(Value::Bool(self.condition(&scalar(arg)))),
            "!If" => {
                let chosen = if self.condition(&scalar(&args[0])) {
                    &args[1]
                } else {
                    &args[2]
                };
                self.value(chosen)
            }
            "!Equals" => Some(Value::Bool(self.value(&args[0]) == self.value(&args[1]))),
            "!Not" => Some(Value::Bool(!bool_of(&args[0]))),
            "!And" => Some(Value::Bool(args.iter().all(bool_of))),
            "!Or" => Some(Value::Bool(args.iter().any(bool_of))),
            "!Join" => {
                let parts = self
                    .value(&args[1])
                    .map(|v| self.args(&v))
                    .unwrap_or_default();
                let parts: Vec<String> = parts.iter().map(scalar).collect();
                Some(Value::from(parts.join(&scalar(&args[0]))))
            }
            "!Split" => {
                let text = self.value(&args[1]).map(|v| scalar(&v)).unwrap_or_default();
                let sep = scalar(&args[0]);
                Some(Value::Sequence(
                    text.split(sep.as_str()).map(Value::from).collect(),
                ))
            }
            "!Sub" => Some(Value::from(self.sub(&args))),
            "!GetAtt" => Some(Value::from(format!("<{}>", scalar(arg)))),
            "!Select" => {
                let index: usize = scalar(&args[0]).parse().expect("a !Select index");
                let list = self
                    .value(&args[1])
                    .map(|v| self.args(&v))
                    .unwrap_or_default();
                list.get(index).cloned()
            }
            other => panic!("intrinsic {other} is not understood by this test"),
        }
    }

    fn sub(&self, args: &[Value]) -> String {
        let mut text = scalar(&args[0]);
        if let Some(Value::Mapping(vars)) = args.get(1) {
            for (k, v) in vars {
                let value = self.value(v).map(|v| scalar(&v)).unwrap_or_default();
                text = text.replace(&format!("${{{}}}", scalar(k)), &value);
            }
        }
        for (name, value) in &self.scenario.params {
            text = text.replace(&format!("${{{name}}}"), &scalar(value));
        }
        text
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Sequence(items) => items.iter().map(scalar).collect::<Vec<_>>().join(","),
        other => format!("{other:?}"),
    }
}

/// One IAM statement of the function role, as deployed in a scenario.
#[derive(Debug, Clone)]
struct Statement {
    sid: String,
    allow: bool,
    actions: Vec<String>,
    resources: Vec<String>,
    condition: Option<Value>,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Sequence(items)) => items.iter().map(scalar).collect(),
        Some(other) => vec![scalar(other)],
        None => vec![],
    }
}

fn statements_of(document: &Value) -> Vec<Statement> {
    let list = document.get("Statement").cloned().unwrap_or(Value::Null);
    let list = match list {
        Value::Sequence(items) => items,
        other => vec![other],
    };
    list.iter()
        .map(|s| Statement {
            sid: s.get("Sid").map(scalar).unwrap_or_default(),
            allow: s.get("Effect").map(scalar).as_deref() == Some("Allow"),
            actions: strings(s.get("Action")),
            resources: strings(s.get("Resource")),
            condition: s.get("Condition").cloned(),
        })
        .collect()
}

/// The resources of the template for a scenario, `Fn::ForEach` expanded, conditions applied.
fn resources(template: &Value, scenario: &Scenario) -> Vec<(String, Value)> {
    let eval = Eval {
        template,
        scenario,
        locals: BTreeMap::new(),
    };
    let mut out = Vec::new();
    let Some(Value::Mapping(all)) = template.get("Resources") else {
        panic!("no Resources")
    };
    for (name, body) in all {
        let name = scalar(name);
        if name.starts_with("Fn::ForEach::") {
            out.extend(for_each(&eval, body));
        } else if let Some(resource) = deployed(&eval, body) {
            out.push((name, resource));
        }
    }
    out
}

fn for_each(eval: &Eval, body: &Value) -> Vec<(String, Value)> {
    let args = eval.args(body);
    let identifier = scalar(&args[0]);
    let items = eval
        .value(&args[1])
        .map(|v| eval.args(&v))
        .unwrap_or_default();
    let Value::Mapping(outputs) = &args[2] else {
        panic!("Fn::ForEach outputs")
    };
    let mut out = Vec::new();
    for item in items {
        let item = scalar(&item);
        let mut locals = eval.locals.clone();
        locals.insert(identifier.clone(), item.clone());
        let inner = Eval {
            template: eval.template,
            scenario: eval.scenario,
            locals,
        };
        for (key, body) in outputs {
            let key = scalar(key).replace(&format!("&{{{identifier}}}"), &item);
            if let Some(resource) = deployed(&inner, body) {
                out.push((key, resource));
            }
        }
    }
    out
}

fn deployed(eval: &Eval, body: &Value) -> Option<Value> {
    if let Some(condition) = body.get("Condition") {
        if !eval.condition(&scalar(condition)) {
            return None;
        }
    }
    eval.value(body)
}

/// Every statement that applies to the function role.
fn role_statements(template: &Value, scenario: &Scenario) -> Vec<Statement> {
    statements_of_role(template, scenario, "FunctionRole")
}

/// Every statement that applies to the role `role` (a resource of the template).
fn statements_of_role(template: &Value, scenario: &Scenario, role: &str) -> Vec<Statement> {
    let mut out = Vec::new();
    for (name, resource) in resources(template, scenario) {
        let kind = resource.get("Type").map(scalar).unwrap_or_default();
        let props = resource.get("Properties").cloned().unwrap_or(Value::Null);
        match kind.as_str() {
            "AWS::IAM::Role" if name == role => {
                for policy in strings_of_policies(&props) {
                    out.extend(statements_of(&policy));
                }
            }
            "AWS::IAM::RolePolicy" | "AWS::IAM::Policy" => {
                let role = props
                    .get("RoleName")
                    .or_else(|| props.get("Roles"))
                    .map(scalar);
                assert_eq!(
                    role.as_deref(),
                    Some("<FunctionRole>"),
                    "{name} is for the function role"
                );
                if let Some(document) = props.get("PolicyDocument") {
                    out.extend(statements_of(document));
                }
            }
            _ => {}
        }
    }
    out
}

fn strings_of_policies(props: &Value) -> Vec<Value> {
    match props.get("Policies") {
        Some(Value::Sequence(items)) => items
            .iter()
            .filter_map(|p| p.get("PolicyDocument").cloned())
            .collect(),
        _ => vec![],
    }
}

fn allowed_actions(statements: &[Statement]) -> BTreeSet<String> {
    statements
        .iter()
        .filter(|s| s.allow)
        .flat_map(|s| s.actions.iter().cloned())
        .collect()
}

// ---------------------------------------------------------------------------------------- the code

/// Actions the role needs that no code of this crate calls: the Lambda platform uses them on the
/// function's behalf.
const PLATFORM: &[(&str, &str)] = &[
    (
        "logs:CreateLogStream",
        "the runtime writes the function's log",
    ),
    ("logs:PutLogEvents", "the runtime writes the function's log"),
    (
        "sqs:ReceiveMessage",
        "the SQS event source mapping polls the delay queue",
    ),
    (
        "sqs:DeleteMessage",
        "the SQS event source mapping deletes handled records",
    ),
    (
        "sqs:GetQueueAttributes",
        "the SQS event source mapping reads the queue",
    ),
    (
        "sqs:SendMessage",
        "Lambda's on-failure destination of asynchronous invocations",
    ),
    (
        "kms:GenerateDataKey",
        "SNS encrypts the published report with the topic's key",
    ),
    (
        "kms:Decrypt",
        "SNS encrypts the published report with the topic's key",
    ),
];

/// Lambda attaches the function to the VPC (VpcSubnetIds) with these; only in that statement, and only
/// with a VPC configuration, may they be granted. AWS supports no narrower resource for them.
const VPC_ATTACHMENT_SID: &str = "ManageFunctionEnis";

/// An organisation-wide deployment (OrganizationId) assumes the member role of the account an event
/// comes from: only in that statement, only there, and only for roles inside the organisation.
const MEMBER_ROLES_SID: &str = "AssumeMemberRoles";

/// A write to someone's infrastructure (what this test keeps out of alert mode and conditions).
fn is_write(action: &str) -> bool {
    let (service, name) = action.split_once(':').unwrap_or(("", action));
    let verbs: &[&str] = match service {
        "ec2" => &[
            "Create",
            "Replace",
            "Delete",
            "Modify",
            "Authorize",
            "Revoke",
            "Associate",
            "Disassociate",
            "Attach",
            "Detach",
            "Assign",
            "Unassign",
            "Run",
            "Terminate",
            "Stop",
            "Start",
            "Reboot",
            "Enable",
            "Disable",
            "Allocate",
            "Release",
        ],
        "autoscaling" => &[
            "Terminate",
            "Update",
            "Set",
            "CreateOrUpdate",
            "Delete",
            "Put",
            "Suspend",
            "Resume",
            "Attach",
            "Detach",
            "Enter",
            "Exit",
            "Create",
            "Cancel",
            "Start",
            "Complete",
        ],
        "eks" => &[
            "Update",
            "Create",
            "Delete",
            "Associate",
            "Disassociate",
            "Tag",
            "Untag",
            "Register",
            "Deregister",
        ],
        "iam" | "sts" => &[
            "Create", "Put", "Attach", "Update", "Delete", "Pass", "Assume",
        ],
        _ => &[],
    };
    name == "*" || verbs.iter().any(|v| name.starts_with(v))
}

/// The production text of every source file of the crate (test modules and fixtures left out).
fn production_sources() -> Vec<(String, String)> {
    let mut out = Vec::new();
    walk(&root().join("src"), &mut out);
    out
}

fn walk(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        if path.is_dir() {
            walk(&path, out);
        } else if name.ends_with(".rs")
            && !matches!(name.as_str(), "tests.rs" | "fixture.rs" | "golden.rs")
        {
            let text = std::fs::read_to_string(&path).expect("a source file is readable");
            let production = text
                .split("#[cfg(test)]")
                .next()
                .unwrap_or_default()
                .to_string();
            out.push((path.display().to_string(), production));
        }
    }
}

const CLIENTS: &[(&str, &str)] = &[
    ("ec2", "ec2"),
    ("eks", "eks"),
    ("autoscaling", "autoscaling"),
    ("sns", "sns"),
];

/// `create_or_update_tags` -> `CreateOrUpdateTags`.
fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// IAM actions of the SDK operations called in `text`: `<client>.<operation>()`, whitespace ignored.
fn sdk_calls(text: &str) -> BTreeSet<String> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let mut calls = BTreeSet::new();
    for (client, service) in CLIENTS {
        let needle = format!("{client}.");
        let mut from = 0;
        while let Some(at) = compact[from..].find(&needle) {
            let start = from + at;
            from = start + needle.len();
            let before = compact[..start].chars().last();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let rest = &compact[from..];
            let op: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !op.is_empty() && rest[op.len()..].starts_with("()") {
                calls.insert(format!("{service}:{}", pascal(&op)));
            }
        }
    }
    calls
}

/// The operation names the code gives its errors: `aws("ec2:CreateRoute")`, or for the best-effort
/// reads `best_effort("iam:GetInstanceProfile", …)`.
fn error_labels(text: &str) -> BTreeSet<String> {
    ["aws(\"", "best_effort(\"", "credentials(\""]
        .iter()
        .flat_map(|needle| text.match_indices(needle))
        .filter_map(|(at, m)| text[at + m.len()..].split('"').next())
        .filter(|label| label.contains(':'))
        .map(str::to_string)
        .collect()
}

/// Every operation the code calls: the SDK calls found on the known clients, and every operation an
/// error names (the crate maps each SDK error through `aws("<service>:<Operation>")`, whatever the
/// client is called).
fn code_operations() -> BTreeSet<String> {
    let sources = production_sources();
    let calls: BTreeSet<String> = sources.iter().flat_map(|(_, t)| sdk_calls(t)).collect();
    let labels: BTreeSet<String> = sources.iter().flat_map(|(_, t)| error_labels(t)).collect();
    assert!(calls.len() >= 20, "the scan found only {calls:?}");
    let unlabelled: Vec<&String> = calls.difference(&labels).collect();
    assert!(
        unlabelled.is_empty(),
        "SDK calls whose errors are not named: {unlabelled:?}"
    );
    calls.union(&labels).map(|op| authorised_as(op)).collect()
}

/// The IAM action that authorises an operation. DynamoDB has no action for a transaction: IAM
/// authorises each of its items as the operation it performs (the code's transactions only put).
fn authorised_as(operation: &str) -> String {
    match operation {
        "dynamodb:TransactWriteItems" => "dynamodb:PutItem".to_string(),
        other => other.to_string(),
    }
}

/// What the template grants beyond the code, and what the code calls that the template does not grant.
fn mismatch(granted: &BTreeSet<String>, called: &BTreeSet<String>) -> (Vec<String>, Vec<String>) {
    let platform: BTreeSet<String> = PLATFORM.iter().map(|(a, _)| a.to_string()).collect();
    let unused = granted
        .iter()
        .filter(|a| !called.contains(*a) && !platform.contains(*a))
        .cloned()
        .collect();
    let missing = called
        .iter()
        .filter(|a| !granted.contains(*a))
        .cloned()
        .collect();
    (unused, missing)
}

/// The statements without the two exceptions that have tests of their own: the VPC attachment and the
/// member roles.
fn without_vpc_attachment(statements: Vec<Statement>) -> Vec<Statement> {
    statements
        .into_iter()
        .filter(|s| s.sid != VPC_ATTACHMENT_SID && s.sid != MEMBER_ROLES_SID)
        .collect()
}

fn matching(pairs: &[(&str, &str)]) -> Vec<Scenario> {
    scenarios()
        .into_iter()
        .filter(|s| {
            pairs
                .iter()
                .all(|(k, v)| s.params.get(*k).map(scalar).as_deref() == Some(*v))
        })
        .collect()
}

// ------------------------------------------------------------------------------------------- tests

#[test]
fn alert_mode_grants_no_write_action() {
    let t = template();
    for scenario in matching(&[("Mode", "alert")]) {
        let statements = without_vpc_attachment(role_statements(&t, &scenario));
        let writes: Vec<String> = allowed_actions(&statements)
            .into_iter()
            .filter(|a| is_write(a))
            .collect();
        assert!(writes.is_empty(), "{scenario:?} grants {writes:?}");
    }
}

#[test]
fn every_write_is_conditioned_or_scoped_narrower_than_everything() {
    let t = template();
    for scenario in scenarios() {
        for s in without_vpc_attachment(role_statements(&t, &scenario)) {
            let writes: Vec<&String> = s.actions.iter().filter(|a| is_write(a)).collect();
            if !s.allow || writes.is_empty() {
                continue;
            }
            let scoped = !s.resources.is_empty() && s.resources.iter().all(|r| r != "*");
            assert!(
                s.condition.is_some() || scoped,
                "{} grants {writes:?} on {:?} without a condition ({scenario:?})",
                s.sid,
                s.resources
            );
        }
    }
}

#[test]
fn the_vpc_attachment_exception_exists_only_with_a_vpc_configuration() {
    let t = template();
    for scenario in scenarios() {
        let attached = scenario
            .params
            .get("VpcSubnetIds")
            .map(scalar)
            .unwrap_or_default()
            != "";
        let has = role_statements(&t, &scenario)
            .iter()
            .any(|s| s.sid == VPC_ATTACHMENT_SID);
        assert_eq!(has, attached, "{scenario:?}");
    }
}

#[test]
fn remediate_mode_grants_exactly_the_operations_the_code_calls() {
    let t = template();
    let called = code_operations();
    let mut granted = BTreeSet::new();
    for scenario in matching(&[("Mode", "remediate"), ("VpcSubnetIds", "")]) {
        granted.extend(allowed_actions(&role_statements(&t, &scenario)));
    }
    let (unused, missing) = mismatch(&granted, &called);
    assert!(unused.is_empty(), "granted but never called: {unused:?}");
    assert!(missing.is_empty(), "called but never granted: {missing:?}");
}

#[test]
fn alert_mode_grants_every_read_the_code_makes_and_nothing_else() {
    let t = template();
    let reads: BTreeSet<String> = code_operations()
        .into_iter()
        .filter(|a| !is_write(a))
        .collect();
    for scenario in matching(&[("Mode", "alert"), ("VpcSubnetIds", "")]) {
        let granted = allowed_actions(&without_vpc_attachment(role_statements(&t, &scenario)));
        let (unused, missing) = mismatch(&granted, &reads);
        assert!(
            unused.is_empty() && missing.is_empty(),
            "{scenario:?}: extra {unused:?}, missing {missing:?}"
        );
    }
}

#[test]
fn the_comparison_catches_an_unused_grant_and_an_ungranted_call() {
    let granted: BTreeSet<String> = ["ec2:DescribeVpcs", "ec2:DeleteVpc", "logs:PutLogEvents"]
        .into_iter()
        .map(String::from)
        .collect();
    let called: BTreeSet<String> = ["ec2:DescribeVpcs", "ec2:CreateRoute"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(
        mismatch(&granted, &called),
        (
            vec!["ec2:DeleteVpc".to_string()],
            vec!["ec2:CreateRoute".to_string()]
        )
    );
    let text = "app.clients\n    .ec2\n    .create_route()\n .map_err(aws(\"ec2:CreateRoute\")); let ec2 = x; ec2.describe_vpcs(); aws_sdk_ec2.nope()";
    assert_eq!(
        sdk_calls(text),
        ["ec2:CreateRoute", "ec2:DescribeVpcs"]
            .into_iter()
            .map(String::from)
            .collect()
    );
    assert_eq!(
        error_labels(text),
        ["ec2:CreateRoute".to_string()].into_iter().collect()
    );
}

#[test]
fn recycle_permissions_follow_the_recycle_strategy() {
    let t = template();
    for scenario in matching(&[("Mode", "remediate"), ("VpcSubnetIds", "")]) {
        let granted = allowed_actions(&role_statements(&t, &scenario));
        let recycle = scenario
            .params
            .get("Recycle")
            .map(scalar)
            .unwrap_or_default();
        assert_eq!(
            granted.contains("autoscaling:TerminateInstanceInAutoScalingGroup"),
            recycle == "instance",
            "{scenario:?}"
        );
        assert_eq!(
            granted.contains("eks:UpdateNodegroupConfig"),
            recycle == "nodegroup",
            "{scenario:?}"
        );
        assert_eq!(
            granted.contains("ec2:TerminateInstances"),
            recycle == "instance",
            "{scenario:?}"
        );
        assert!(granted.contains("ec2:CreateRoute") && granted.contains("ec2:ReplaceRoute"));
    }
}

#[test]
fn member_roles_are_assumed_only_organisation_wide_and_only_inside_the_organisation() {
    let t = template();
    for scenario in scenarios() {
        let org = scalar(scenario.params.get("OrganizationId").expect("set"));
        let statements: Vec<Statement> = role_statements(&t, &scenario)
            .into_iter()
            .filter(|s| s.actions.iter().any(|a| a == "sts:AssumeRole"))
            .collect();
        if org.is_empty() {
            assert!(statements.is_empty(), "{scenario:?}");
            continue;
        }
        assert_eq!(statements.len(), 1, "{scenario:?}");
        let s = &statements[0];
        assert_eq!(s.sid, MEMBER_ROLES_SID);
        assert_eq!(s.actions, vec!["sts:AssumeRole"]);
        assert!(
            s.resources
                .iter()
                .all(|r| r.ends_with(":role/${MemberRoleName}")),
            "{:?}",
            s.resources
        );
        let condition = format!("{:?}", s.condition);
        assert!(
            condition.contains("aws:ResourceOrgID") && condition.contains(&org),
            "{condition}"
        );
    }
}

#[test]
fn karpenter_terminations_are_limited_to_instances_karpenter_tagged() {
    let t = template();
    for clusters in ["", "eks-workshop,prod"] {
        let scenario = Scenario::new(&[("Mode", "remediate"), ("ClusterAllowlist", clusters)]);
        let statements = role_statements(&t, &scenario);
        let allow = statements
            .iter()
            .find(|s| s.allow && s.actions.iter().any(|a| a == "ec2:TerminateInstances"))
            .expect("an allow statement");
        let condition = format!("{:?}", allow.condition);
        assert!(
            condition.contains("ec2:ResourceTag/karpenter.sh/nodepool"),
            "{condition}"
        );
        assert_eq!(
            condition.contains("ec2:ResourceTag/eks:eks-cluster-name"),
            !clusters.is_empty(),
            "{condition}"
        );
        assert!(allow.resources.iter().all(|r| r.contains(":instance/")));
        let deny = statements
            .iter()
            .find(|s| !s.allow && s.actions.iter().any(|a| a == "ec2:TerminateInstances"))
            .expect("a deny statement");
        let condition = format!("{:?}", deny.condition);
        assert!(
            condition.contains("eks-node-join-remediator/ignore"),
            "{condition}"
        );
    }
}

#[test]
fn route_writes_are_always_conditioned_on_the_vpc() {
    let t = template();
    for scenario in matching(&[("Mode", "remediate")]) {
        for s in role_statements(&t, &scenario) {
            if s.actions
                .iter()
                .any(|a| a.ends_with("Route") && a.starts_with("ec2:"))
            {
                let condition = format!("{:?}", s.condition);
                assert!(condition.contains("ec2:Vpc"), "{} {condition}", s.sid);
            }
        }
    }
}

#[test]
fn route_writes_are_limited_to_the_named_vpcs() {
    let t = template();
    let scenario = Scenario::new(&[
        ("Mode", "remediate"),
        ("RemediateVpcIds", "vpc-0a1b2c3d,vpc-1234abcd"),
    ]);
    let fix = role_statements(&t, &scenario)
        .into_iter()
        .find(|s| s.actions.iter().any(|a| a == "ec2:CreateRoute"))
        .expect("a route-write statement");
    let vpcs = fix
        .condition
        .as_ref()
        .and_then(|c| c.get("StringLike"))
        .and_then(|c| c.get("ec2:Vpc"))
        .map(|v| strings(Some(v)))
        .expect("conditioned on ec2:Vpc");
    assert_eq!(
        vpcs,
        vec![
            "arn:*:ec2:*:*:vpc/vpc-0a1b2c3d",
            "arn:*:ec2:*:*:vpc/vpc-1234abcd"
        ]
    );
    assert!(
        fix.resources.iter().all(|r| r.contains(":route-table/")),
        "{:?}",
        fix.resources
    );
}

#[test]
fn opted_out_groups_are_denied_every_write() {
    let t = template();
    let scenario = Scenario::new(&[("Mode", "remediate")]);
    let deny = role_statements(&t, &scenario)
        .into_iter()
        .find(|s| {
            !s.allow
                && s.actions
                    .iter()
                    .any(|a| a.starts_with("autoscaling:Terminate"))
        })
        .expect("a deny statement");
    let text = format!("{:?}", deny.condition);
    assert!(text.contains("eks-node-join-remediator/ignore"), "{text}");
}

fn access_entries(scenario: &Scenario) -> Vec<Value> {
    resources(&template(), scenario)
        .into_iter()
        .filter(|(_, r)| r.get("Type").map(scalar).as_deref() == Some("AWS::EKS::AccessEntry"))
        .map(|(_, r)| r.get("Properties").cloned().unwrap_or(Value::Null))
        .collect()
}

#[test]
fn kubernetes_access_is_a_nodes_only_group_unless_admin_view_is_opted_in() {
    let default = access_entries(&Scenario::new(&[("ClusterAllowlist", "eks-workshop,prod")]));
    assert_eq!(default.len(), 2, "one entry per allowlisted cluster");
    for entry in &default {
        assert_eq!(
            strings(entry.get("KubernetesGroups")),
            vec!["eks-node-join-remediator"]
        );
        assert!(
            entry.get("AccessPolicies").is_none(),
            "no access policy by default: {entry:?}"
        );
    }
    let opted = access_entries(&Scenario::new(&[
        ("ClusterAllowlist", "eks-workshop"),
        ("AdminViewPolicy", "true"),
    ]));
    let policies = format!("{:?}", opted[0].get("AccessPolicies"));
    assert!(policies.contains("AmazonEKSAdminViewPolicy"), "{policies}");
}

#[test]
fn kms_key_service_principals_are_limited_to_this_account() {
    let t = template();
    let key = resources(&t, &Scenario::new(&[]))
        .into_iter()
        .find(|(name, _)| name == "NotificationKey")
        .map(|(_, r)| r)
        .expect("the topic key");
    let policy = key
        .get("Properties")
        .and_then(|p| p.get("KeyPolicy"))
        .expect("a key policy");
    let mut services = 0;
    for statement in policy
        .get("Statement")
        .and_then(Value::as_sequence)
        .expect("statements")
    {
        if statement
            .get("Principal")
            .and_then(|p| p.get("Service"))
            .is_none()
        {
            continue;
        }
        services += 1;
        let condition = format!("{:?}", statement.get("Condition"));
        assert!(
            condition.contains("aws:SourceAccount") && condition.contains("<AWS::AccountId>"),
            "{condition}"
        );
    }
    assert!(services >= 1);
}

#[test]
fn reserved_concurrency_is_a_parameter_that_also_caps_the_queue_pollers() {
    let t = template();
    let scenario = Scenario::new(&[("ReservedConcurrency", "7")]);
    let function = resources(&t, &scenario)
        .into_iter()
        .find(|(name, _)| name == "Function")
        .map(|(_, r)| r)
        .expect("the function");
    let props = function.get("Properties").expect("properties");
    assert_eq!(
        props
            .get("ReservedConcurrentExecutions")
            .map(scalar)
            .as_deref(),
        Some("7")
    );
    let pollers = props
        .get("Events")
        .and_then(|e| e.get("DelayedCheck"))
        .and_then(|e| e.get("Properties"))
        .and_then(|p| p.get("ScalingConfig"))
        .and_then(|s| s.get("MaximumConcurrency"))
        .map(scalar);
    assert_eq!(pollers.as_deref(), Some("7"));
}

// ----------------------------------------------------------------------------- the member template

/// What only the central function calls: its own state and its report topics, and the member roles.
const CENTRAL_ONLY: &[&str] = &[
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "sns:Publish",
    "sts:AssumeRole",
];

fn member_scenarios() -> Vec<Scenario> {
    let mut all = Vec::new();
    for mode in ["alert", "remediate"] {
        for recycle in ["instance", "nodegroup", "none"] {
            for clusters in ["", "eks-workshop,prod"] {
                for vpcs in ["", "vpc-0a1b2c3d"] {
                    all.push(Scenario::new(&[
                        ("Mode", mode),
                        ("Recycle", recycle),
                        ("ClusterAllowlist", clusters),
                        ("RemediateVpcIds", vpcs),
                        // The stack instance in RoleRegion creates the role.
                        ("RoleRegion", "<AWS::Region>"),
                    ]));
                }
            }
        }
    }
    all
}

fn member_calls() -> BTreeSet<String> {
    code_operations()
        .into_iter()
        .filter(|a| !CENTRAL_ONLY.contains(&a.as_str()))
        .collect()
}

#[test]
fn the_member_template_uses_no_transform_so_a_service_managed_stackset_takes_it() {
    let t = load("templates/member.yaml");
    assert!(t.get("Transform").is_none());
    let text = std::fs::read_to_string(root().join("templates/member.yaml")).expect("read");
    assert!(!text.contains("Fn::ForEach") && !text.contains("AWS::Serverless"));
}

#[test]
fn the_member_role_in_remediate_mode_grants_exactly_what_the_function_calls_there() {
    let t = load("templates/member.yaml");
    let mut granted = BTreeSet::new();
    for scenario in member_scenarios()
        .into_iter()
        .filter(|s| scalar(&s.params["Mode"]) == "remediate")
    {
        granted.extend(allowed_actions(&statements_of_role(
            &t,
            &scenario,
            "MemberRole",
        )));
    }
    let (unused, missing) = mismatch(&granted, &member_calls());
    assert!(unused.is_empty(), "granted but never called: {unused:?}");
    assert!(missing.is_empty(), "called but never granted: {missing:?}");
}

#[test]
fn the_member_role_in_alert_mode_grants_every_read_and_no_write() {
    let t = load("templates/member.yaml");
    let reads: BTreeSet<String> = member_calls()
        .into_iter()
        .filter(|a| !is_write(a))
        .collect();
    for scenario in member_scenarios()
        .into_iter()
        .filter(|s| scalar(&s.params["Mode"]) == "alert")
    {
        let granted = allowed_actions(&statements_of_role(&t, &scenario, "MemberRole"));
        let (unused, missing) = mismatch(&granted, &reads);
        assert!(
            unused.is_empty() && missing.is_empty(),
            "{scenario:?}: extra {unused:?}, missing {missing:?}"
        );
    }
}

#[test]
fn every_member_write_is_conditioned_or_scoped_as_in_the_central_template() {
    let t = load("templates/member.yaml");
    for scenario in member_scenarios() {
        for s in statements_of_role(&t, &scenario, "MemberRole") {
            let writes: Vec<&String> = s.actions.iter().filter(|a| is_write(a)).collect();
            if !s.allow || writes.is_empty() {
                continue;
            }
            let scoped = !s.resources.is_empty() && s.resources.iter().all(|r| r != "*");
            assert!(s.condition.is_some() || scoped, "{} {writes:?}", s.sid);
            if writes.iter().any(|a| a.ends_with("Route")) {
                assert!(
                    format!("{:?}", s.condition).contains("ec2:Vpc"),
                    "{}",
                    s.sid
                );
            }
        }
    }
}

#[test]
fn the_member_role_trusts_only_the_central_function_and_exists_in_one_region() {
    let t = load("templates/member.yaml");
    let role = |scenario: &Scenario| {
        resources(&t, scenario)
            .into_iter()
            .find(|(name, _)| name == "MemberRole")
            .map(|(_, r)| r)
    };
    assert!(
        role(&Scenario::new(&[("RoleRegion", "eu-west-1")])).is_none(),
        "created only by the stack instance in RoleRegion"
    );
    let role = role(&Scenario::new(&[
        ("RoleRegion", "<AWS::Region>"),
        (
            "CentralFunctionRoleArn",
            "arn:aws:iam::111111111111:role/central-FunctionRole-ABC",
        ),
    ]))
    .expect("the member role");
    let trust = role
        .get("Properties")
        .and_then(|p| p.get("AssumeRolePolicyDocument"))
        .expect("a trust policy");
    let text = format!("{trust:?}");
    assert!(text.contains(":iam::111111111111:root"), "{text}");
    assert!(
        text.contains("aws:PrincipalArn")
            && text.contains("arn:aws:iam::111111111111:role/central-FunctionRole-ABC"),
        "{text}"
    );
}

#[test]
fn the_member_stack_forwards_both_event_kinds_to_the_central_bus() {
    let t = load("templates/member.yaml");
    let bus = "arn:aws:events:us-east-1:111111111111:event-bus/central-org";
    let rules: Vec<Value> = resources(&t, &Scenario::new(&[("CentralEventBusArn", bus)]))
        .into_iter()
        .filter(|(_, r)| r.get("Type").map(scalar).as_deref() == Some("AWS::Events::Rule"))
        .map(|(_, r)| r)
        .collect();
    let patterns: Vec<String> = rules
        .iter()
        .map(|r| format!("{:?}", r["Properties"]["EventPattern"]))
        .collect();
    assert_eq!(rules.len(), 2, "{patterns:?}");
    assert!(patterns
        .iter()
        .any(|p| p.contains("EC2 Instance Launch Successful")));
    assert!(patterns
        .iter()
        .any(|p| p.contains("EC2 Instance State-change Notification") && p.contains("running")));
    for rule in &rules {
        let target = format!("{:?}", rule["Properties"]["Targets"]);
        assert!(target.contains(bus), "{target}");
    }
}

#[test]
fn the_central_stack_accepts_events_from_its_organisation_only() {
    let t = template();
    let scenario = Scenario::new(&[("OrganizationId", "o-a1b2c3d4e5")]);
    let all = resources(&t, &scenario);
    let policy = all
        .iter()
        .find(|(name, _)| name == "OrgEventBusPolicy")
        .map(|(_, r)| format!("{r:?}"))
        .expect("the bus policy");
    assert!(
        policy.contains("aws:PrincipalOrgID") && policy.contains("o-a1b2c3d4e5"),
        "{policy}"
    );
    assert!(resources(&t, &Scenario::new(&[]))
        .iter()
        .all(|(name, _)| !name.starts_with("Org")));
}
