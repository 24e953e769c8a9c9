//! The query string of a node list request: percent-decoding, parameters, and the equality-based label
//! selectors the Lambda sends (`key=value`, `key==value`, `key!=value`, `key`, `!key`).

use serde_json::Value;

/// `key=value`, `key==value`, `key!=value`, `key`, `!key`, comma-separated (all must hold).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct LabelSelector(Vec<Requirement>);

#[derive(Debug, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    NotExists(String),
}

impl LabelSelector {
    pub(super) fn parse(selector: &str) -> Result<LabelSelector, String> {
        let mut requirements = Vec::new();
        for term in selector.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let requirement = if let Some((k, v)) = term.split_once("!=") {
                Requirement::NotEquals(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = term.split_once("==") {
                Requirement::Equals(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = term.split_once('=') {
                Requirement::Equals(k.trim().into(), v.trim().into())
            } else if let Some(k) = term.strip_prefix('!') {
                Requirement::NotExists(k.trim().into())
            } else if term.contains(' ') || term.contains('(') {
                return Err(format!("unsupported label selector term {term:?}"));
            } else {
                Requirement::Exists(term.into())
            };
            requirements.push(requirement);
        }
        Ok(LabelSelector(requirements))
    }

    pub(super) fn matches(&self, node: &Value) -> bool {
        let labels = node.pointer("/metadata/labels");
        let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            Requirement::Equals(k, v) => label(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => label(k) != Some(v.as_str()),
            Requirement::Exists(k) => label(k).is_some(),
            Requirement::NotExists(k) => label(k).is_none(),
        })
    }
}

pub(super) fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k) == name).then(|| percent_decode(v))
    })
}

/// Decodes `%XX` escapes and `+` (as a space), as in `application/x-www-form-urlencoded` queries.
pub(super) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::NODEGROUP_LABEL;
    use serde_json::json;

    #[test]
    fn label_selectors_match_like_kubernetes() {
        let node =
            json!({ "metadata": { "labels": { NODEGROUP_LABEL: "new_nodegroup_2", "a": "b" } } });
        let sel = |s: &str| LabelSelector::parse(s).map(|l| l.matches(&node));
        assert_eq!(sel("eks.amazonaws.com/nodegroup=new_nodegroup_2"), Ok(true));
        assert_eq!(
            sel("eks.amazonaws.com/nodegroup==new_nodegroup_2,a"),
            Ok(true)
        );
        assert_eq!(sel("eks.amazonaws.com/nodegroup=other"), Ok(false));
        assert_eq!(sel("a!=b"), Ok(false));
        assert_eq!(sel("!missing"), Ok(true));
        assert_eq!(sel(""), Ok(true));
        assert!(sel("a in (b)").is_err());
        assert_eq!(
            query_param(
                "limit=5&labelSelector=eks.amazonaws.com%2Fnodegroup%3Dnew_nodegroup_2",
                "labelSelector"
            ),
            Some("eks.amazonaws.com/nodegroup=new_nodegroup_2".to_owned())
        );
    }
}
