//! `mapRoles` of the `kube-system/aws-auth` ConfigMap: YAML in a string. Only the shape EKS, eksctl,
//! Terraform and the console write is understood — a list of mappings with `rolearn`, `username` and
//! `groups` (block or flow lists, plain or quoted scalars), or the same as JSON. Anything else (anchors,
//! multi-line scalars, tabs, odd indentation) is refused with the line it was found on, so that a text
//! this parser does not understand is `unknown`, never "the role is missing".

/// One entry of `mapRoles`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct RoleMapping {
    pub rolearn: String,
    pub username: Option<String>,
    pub groups: Vec<String>,
}

/// The most text parsed (a ConfigMap holds at most 1 MiB).
const MAX_LEN: usize = 1 << 20;

pub(crate) fn parse_map_roles(text: &str) -> Result<Vec<RoleMapping>, String> {
    if text.len() > MAX_LEN {
        return Err("mapRoles is larger than a ConfigMap can be".to_string());
    }
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed == "[]" {
        return Ok(vec![]);
    }
    if trimmed.starts_with('[') {
        return parse_json(trimmed);
    }
    parse_block(text)
}

fn parse_json(text: &str) -> Result<Vec<RoleMapping>, String> {
    let items: Vec<serde_json::Value> = serde_json::from_str(text)
        .map_err(|e| format!("flow-style mapRoles that is not JSON ({e})"))?;
    let string =
        |v: &serde_json::Value, k: &str| v.get(k).and_then(|s| s.as_str()).map(String::from);
    Ok(items
        .iter()
        .filter_map(|item| {
            Some(RoleMapping {
                rolearn: string(item, "rolearn")?,
                username: string(item, "username"),
                groups: item
                    .get("groups")
                    .and_then(|g| g.as_array())
                    .map(|g| g.iter().filter_map(|s| s.as_str()).map(String::from))
                    .into_iter()
                    .flatten()
                    .collect(),
            })
        })
        .collect())
}

/// A mapping being read, and the key whose block list may follow.
#[derive(Default)]
struct Item {
    mapping: RoleMapping,
    open_key: Option<String>,
}

fn parse_block(text: &str) -> Result<Vec<RoleMapping>, String> {
    let mut items: Vec<Item> = Vec::new();
    let mut item_indent: Option<usize> = None;
    for (n, raw) in text.lines().enumerate() {
        let at = |what: &str| format!("line {}: {what}", n + 1);
        let line = strip_comment(raw);
        let content = line.trim();
        if content.is_empty() || (content == "---" && items.is_empty()) {
            continue;
        }
        let indent = line.len() - line.trim_start_matches(' ').len();
        if line[indent..].starts_with('\t') {
            return Err(at("a tab in the indentation"));
        }
        let list_indent = *item_indent.get_or_insert(indent);
        let dash = dash_item(content);
        match (indent.cmp(&list_indent), dash, items.last_mut()) {
            (std::cmp::Ordering::Equal, Some(rest), _) => {
                let mut item = Item::default();
                if !rest.is_empty() {
                    apply_pair(&mut item, rest).map_err(|e| at(&e))?;
                }
                items.push(item);
            }
            (std::cmp::Ordering::Greater, Some(value), Some(item)) => {
                list_value(item, value).map_err(|e| at(&e))?
            }
            (std::cmp::Ordering::Greater, None, Some(item)) => {
                apply_pair(item, content).map_err(|e| at(&e))?
            }
            _ => return Err(at("not a list of role mappings")),
        }
    }
    Ok(items
        .into_iter()
        .map(|i| i.mapping)
        .filter(|m| !m.rolearn.is_empty())
        .collect())
}

/// `- rest` (or a lone `-`): the rest of the line.
fn dash_item(content: &str) -> Option<&str> {
    match content.strip_prefix('-') {
        Some("") => Some(""),
        Some(rest) if rest.starts_with(' ') => Some(rest.trim()),
        _ => None,
    }
}

/// `- value` under an open key (`groups:` followed by a block list).
fn list_value(item: &mut Item, value: &str) -> Result<(), String> {
    let key = item
        .open_key
        .clone()
        .ok_or("a list entry under no key".to_string())?;
    let value = scalar(value)?;
    if key == "groups" {
        item.mapping.groups.push(value);
    }
    Ok(())
}

/// `key: value` or `key:` (a block list or mapping follows).
fn apply_pair(item: &mut Item, text: &str) -> Result<(), String> {
    let (key, value) = split_pair(text).ok_or(format!("expected `key: value`, found {text:?}"))?;
    let key = scalar(key)?;
    let value = value.trim();
    if value.is_empty() {
        item.open_key = Some(key);
        return Ok(());
    }
    item.open_key = None;
    let m = &mut item.mapping;
    match key.as_str() {
        "rolearn" => m.rolearn = scalar(value)?,
        "username" => m.username = Some(scalar(value)?),
        "groups" => m.groups = flow_list(value)?,
        _ => {
            scalar(value).or_else(|_| flow_list(value).map(|_| String::new()))?;
        }
    }
    Ok(())
}

/// Splits at the first `:` outside quotes that ends the text or is followed by a space.
fn split_pair(text: &str) -> Option<(&str, &str)> {
    let mut quote: Option<char> = None;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (None, '"' | '\'') => quote = Some(c),
            (None, ':') if text[i + 1..].is_empty() || text[i + 1..].starts_with(' ') => {
                return Some((&text[..i], &text[i + 1..]))
            }
            _ => {}
        }
    }
    None
}

/// `[a, "b"]`.
fn flow_list(value: &str) -> Result<Vec<String>, String> {
    let inner = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .ok_or(format!("expected a list, found {value:?}"))?;
    if inner.trim().is_empty() {
        return Ok(vec![]);
    }
    split_outside_quotes(inner, ',')
        .into_iter()
        .map(|v| scalar(v.trim()))
        .collect()
}

fn split_outside_quotes(text: &str, at: char) -> Vec<&str> {
    let (mut parts, mut start, mut quote) = (Vec::new(), 0, None);
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (None, '"' | '\'') => quote = Some(c),
            (None, c) if c == at => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// A plain, single-quoted or double-quoted scalar on one line.
fn scalar(value: &str) -> Result<String, String> {
    let v = value.trim();
    if let Some(inner) = v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        return Ok(inner.replace("\\\"", "\"").replace("\\\\", "\\"));
    }
    if let Some(inner) = v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
        return Ok(inner.replace("''", "'"));
    }
    match v.chars().next() {
        Some('|' | '>' | '&' | '*' | '!' | '{' | '[' | '"' | '\'' | '%' | '@' | '`') => {
            Err(format!("YAML this parser does not read: {v:?}"))
        }
        _ => Ok(v.to_string()),
    }
}

/// The line without a `#` comment (a `#` at the start or after a space, outside quotes).
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut previous = ' ';
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (None, '"' | '\'') if previous == ' ' || previous == '[' || previous == ',' => {
                quote = Some(c)
            }
            (None, '#') if previous.is_whitespace() => return &line[..i],
            _ => {}
        }
        previous = c;
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODES: [&str; 2] = ["system:bootstrappers", "system:nodes"];

    fn node(arn: &str) -> RoleMapping {
        RoleMapping {
            rolearn: arn.to_string(),
            username: Some("system:node:{{EC2PrivateDNSName}}".to_string()),
            groups: NODES.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn eksctl_block_style_is_read_with_comments_and_several_entries() {
        let text = "# managed by eksctl\n- groups:\n  - system:bootstrappers\n  - system:nodes   # nodes\n  rolearn: arn:aws:iam::123456789012:role/ng-1\n  username: system:node:{{EC2PrivateDNSName}}\n- rolearn: arn:aws:iam::123456789012:role/admin\n  username: admin\n  groups:\n    - system:masters\n";
        let parsed = parse_map_roles(text).expect("parses");
        assert_eq!(parsed[0], node("arn:aws:iam::123456789012:role/ng-1"));
        assert_eq!(parsed[1].rolearn, "arn:aws:iam::123456789012:role/admin");
        assert_eq!(parsed[1].groups, vec!["system:masters"]);
    }

    #[test]
    fn terraform_quoted_keys_and_flow_lists_are_read() {
        let text = "- \"groups\":\n  - \"system:bootstrappers\"\n  - \"system:nodes\"\n  \"rolearn\": \"arn:aws:iam::123456789012:role/ng-1\"\n  \"username\": \"system:node:{{EC2PrivateDNSName}}\"\n- rolearn: 'arn:aws:iam::123456789012:role/ng-2'\n  username: system:node:{{EC2PrivateDNSName}}\n  groups: [system:bootstrappers, 'system:nodes']\n";
        let parsed = parse_map_roles(text).expect("parses");
        assert_eq!(parsed[0], node("arn:aws:iam::123456789012:role/ng-1"));
        assert_eq!(parsed[1], node("arn:aws:iam::123456789012:role/ng-2"));
    }

    #[test]
    fn json_lists_and_empty_texts_are_read() {
        let text = r#"[{"rolearn":"arn:aws:iam::123456789012:role/ng-1","username":"system:node:{{EC2PrivateDNSName}}","groups":["system:bootstrappers","system:nodes"]}]"#;
        assert_eq!(
            parse_map_roles(text),
            Ok(vec![node("arn:aws:iam::123456789012:role/ng-1")])
        );
        assert_eq!(parse_map_roles("  \n"), Ok(vec![]));
        assert_eq!(parse_map_roles("[]"), Ok(vec![]));
    }

    #[test]
    fn yaml_this_parser_does_not_understand_is_refused_not_guessed() {
        let refused = [
            "- rolearn: &r arn:aws:iam::1:role/a\n",
            "- rolearn: |\n    arn:aws:iam::1:role/a\n",
            "rolearn: arn:aws:iam::1:role/a\n",
            "- rolearn: arn:aws:iam::1:role/a\n\tgroups: []\n",
            "  - rolearn: arn:aws:iam::1:role/a\n- rolearn: arn:aws:iam::1:role/b\n",
            "[{\"rolearn\": ",
            "- rolearn: arn:aws:iam::1:role/a\n  groups: system:nodes\n",
        ];
        for text in refused {
            assert!(parse_map_roles(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn a_hash_inside_a_value_is_not_a_comment() {
        let parsed =
            parse_map_roles("- rolearn: arn:aws:iam::1:role/a#b # the role\n  groups: []\n")
                .expect("parses");
        assert_eq!(parsed[0].rolearn, "arn:aws:iam::1:role/a#b");
    }
}
