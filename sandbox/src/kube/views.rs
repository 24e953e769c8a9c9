//! What the `sandbox` CLI shows of nodes: [`NodeView`]s read from the fake's JSON, rendered like
//! `kubectl get nodes`.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::{KUBELET_VERSION, NODEGROUP_LABEL};
use crate::util::kubectl_age;

/// A node as the fake API serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    /// The instance's private DNS name.
    pub name: String,
    /// `aws:///<az>/<instance-id>`
    pub provider_id: String,
    /// Value of the `eks.amazonaws.com/nodegroup` label.
    pub nodegroup: Option<String>,
    /// Condition `Ready` is `True`.
    pub ready: bool,
    /// Seconds since the node registered.
    pub age_seconds: u64,
}

/// Reads [`NodeView`]s out of a `NodeList` (or a single `Node`) served by the fake.
pub fn node_views(body: &Value, now: SystemTime) -> Vec<NodeView> {
    let items: Vec<&Value> = match body.get("items").and_then(Value::as_array) {
        Some(items) => items.iter().collect(),
        None if body.get("kind").and_then(Value::as_str) == Some("Node") => vec![body],
        None => Vec::new(),
    };
    let now_secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    items
        .into_iter()
        .map(|node| {
            let str_at = |p: &str| node.pointer(p).and_then(Value::as_str).map(str::to_owned);
            let created = str_at("/metadata/creationTimestamp")
                .and_then(|t| {
                    aws_smithy_types::DateTime::from_str(
                        &t,
                        aws_smithy_types::date_time::Format::DateTime,
                    )
                    .ok()
                })
                .map(|t| t.secs().max(0) as u64)
                .unwrap_or(now_secs);
            let ready = node
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .map(|conditions| {
                    conditions.iter().any(|c| {
                        c.get("type").and_then(Value::as_str) == Some("Ready")
                            && c.get("status").and_then(Value::as_str) == Some("True")
                    })
                })
                .unwrap_or(false);
            NodeView {
                name: str_at("/metadata/name").unwrap_or_default(),
                provider_id: str_at("/spec/providerID").unwrap_or_default(),
                nodegroup: node
                    .pointer("/metadata/labels")
                    .and_then(|l| l.get(NODEGROUP_LABEL))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                ready,
                age_seconds: now_secs.saturating_sub(created),
            }
        })
        .collect()
}

/// Prints nodes like `kubectl get nodes` (or `No resources found`).
pub fn render_nodes(nodes: &[NodeView]) -> String {
    if nodes.is_empty() {
        return "No resources found\n".to_owned();
    }
    let width = nodes.iter().map(|n| n.name.len()).max().unwrap_or(4).max(4) + 3;
    let mut out = format!(
        "{:<width$}{:<9}{:<9}{:<7}{}\n",
        "NAME", "STATUS", "ROLES", "AGE", "VERSION"
    );
    for n in nodes {
        out.push_str(&format!(
            "{:<width$}{:<9}{:<9}{:<7}{}\n",
            n.name,
            if n.ready { "Ready" } else { "NotReady" },
            "<none>",
            kubectl_age(n.age_seconds),
            KUBELET_VERSION
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_render_like_kubectl() {
        assert_eq!(render_nodes(&[]), "No resources found\n");
        let out = render_nodes(&[NodeView {
            name: "ip-10-42-108-252.us-west-2.compute.internal".into(),
            provider_id: "aws:///us-west-2a/i-1".into(),
            nodegroup: Some("new_nodegroup_2".into()),
            ready: true,
            age_seconds: 189,
        }]);
        assert!(out.starts_with("NAME "), "{out}");
        assert!(
            out.contains("Ready    <none>   3m9s   v1.30.0-eks-036c24b"),
            "{out}"
        );
    }
}
