//! Naming an AWS call from its request: `ec2:DescribeRouteTables`, `dynamodb:GetItem`,
//! `eks:GET /clusters/{}/node-groups/{}`, and who signed it.

/// The SigV4 credential scope of a request: `Credential=<key>/<date>/<region>/<service>/aws4_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub access_key: String,
    pub region: String,
    pub service: String,
}

impl Scope {
    pub fn of(authorization: Option<&str>) -> Scope {
        let parts: Vec<&str> = authorization
            .and_then(|a| a.split("Credential=").nth(1))
            .and_then(|c| c.split([',', ' ']).next())
            .map(|c| c.split('/').collect())
            .unwrap_or_default();
        let part = |i: usize| parts.get(i).copied().unwrap_or("unsigned").to_owned();
        Scope {
            access_key: part(0),
            region: part(2),
            service: part(3),
        }
    }
}

/// `service:Action` for the query protocols (EC2, Auto Scaling, SNS, IAM, STS), `service:Operation` for
/// JSON protocols (`X-Amz-Target`), else `service:METHOD /resource/{}/shape`.
pub fn operation(
    service: &str,
    target: Option<&str>,
    method: &str,
    path: &str,
    body: &[u8],
) -> String {
    if let Some(action) = form_value(body, "Action") {
        return format!("{service}:{action}");
    }
    if let Some(op) = target.and_then(|t| t.rsplit('.').next()) {
        return format!("{service}:{op}");
    }
    let path = path.split('?').next().unwrap_or("/");
    // Keep the resource shape, not the names: /clusters/x/node-groups/y -> /clusters/{}/node-groups/{}
    let shape: Vec<&str> = path
        .split('/')
        .enumerate()
        .map(|(i, seg)| {
            if i % 2 == 1 || seg.is_empty() {
                seg
            } else {
                "{}"
            }
        })
        .collect();
    format!("{service}:{method} {}", shape.join("/"))
}

/// The value of `key` in a form-encoded body (`%XX` and `+` decoded).
pub fn form_value(body: &[u8], key: &str) -> Option<String> {
    let body = std::str::from_utf8(body).ok()?;
    body.split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| percent_decode(v))
}

fn percent_decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKID/20261127/us-west-2/ec2/aws4_request, SignedHeaders=host, Signature=x";

    #[test]
    fn query_calls_are_named_by_their_action() {
        let body = b"Action=DescribeRouteTables&Version=2016-11-15";
        assert_eq!(
            operation("ec2", None, "POST", "/", body),
            "ec2:DescribeRouteTables"
        );
    }

    #[test]
    fn json_calls_are_named_by_their_target_and_rest_calls_by_resource_shape() {
        assert_eq!(
            operation(
                "dynamodb",
                Some("DynamoDB_20120810.PutItem"),
                "POST",
                "/",
                b"{}"
            ),
            "dynamodb:PutItem"
        );
        assert_eq!(
            operation(
                "eks",
                None,
                "GET",
                "/clusters/eks-workshop/node-groups/ng?x=1",
                b""
            ),
            "eks:GET /clusters/{}/node-groups/{}"
        );
    }

    #[test]
    fn the_signing_scope_names_account_key_region_and_service() {
        let scope = Scope::of(Some(AUTH));
        assert_eq!(scope.access_key, "AKID");
        assert_eq!(scope.region, "us-west-2");
        assert_eq!(scope.service, "ec2");
        assert_eq!(Scope::of(None).service, "unsigned");
    }

    #[test]
    fn form_values_are_percent_decoded() {
        let body = b"Action=TerminateInstanceInAutoScalingGroup&InstanceId=i-0abc&Note=a%2Fb+c";
        assert_eq!(form_value(body, "InstanceId").as_deref(), Some("i-0abc"));
        assert_eq!(form_value(body, "Note").as_deref(), Some("a/b c"));
        assert_eq!(form_value(body, "Missing"), None);
    }
}
