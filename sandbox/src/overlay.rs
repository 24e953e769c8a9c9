//! An AWS overlay in front of moto for what moto does not model, answered from a [`ClusterAccess`]:
//!
//! * eks `ListAccessEntries` and `DescribeAccessEntry` (moto has no access entries);
//! * eks `DescribeCluster` gains `accessConfig.authenticationMode` when one is set (moto never says);
//! * ec2 `GetConsoleOutput` answers what the instance printed, when something was set for it (moto
//!   always answers one fixed kernel log).
//!
//! Everything else is forwarded to moto unchanged. Plain HTTP, one request per connection (`Connection:
//! close` both ways), like the bench's counting proxy. Point a client's `endpoint_url` at it. An operation
//! can be made slow ([`AwsOverlay::slow_down`]), so that a test of calls in flight together does not depend
//! on how fast the machine is.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::access::{pathless_role_arn, ClusterAccess};
use crate::bench::{close_head, read_head};
use crate::calls::{operation, CallLog};
use crate::util::{random_uuid, Context};
use crate::Error;

/// The running overlay.
#[derive(Debug)]
pub struct AwsOverlay {
    /// `http://127.0.0.1:<port>`
    pub endpoint: String,
    /// Every call that came through, answered here or forwarded.
    pub calls: CallLog,
    slow: Slow,
    task: JoinHandle<()>,
}

/// How long to hold the answers to some operations (`service:Operation`, as [`CallLog`] names them).
type Slow = Arc<Mutex<BTreeMap<String, Duration>>>;

fn held(slow: &Slow) -> std::sync::MutexGuard<'_, BTreeMap<String, Duration>> {
    match slow.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl AwsOverlay {
    /// Serves in front of `upstream` (moto, `http://…`), answering from `access`.
    pub async fn start(upstream: &str, access: ClusterAccess) -> Result<AwsOverlay, Error> {
        let upstream = upstream
            .strip_prefix("http://")
            .ok_or("the overlay forwards to http:// only")?
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("bind overlay")?;
        let port = listener.local_addr()?.port();
        let calls = CallLog::default();
        let slow = Slow::default();
        let (log, delays) = (calls.clone(), slow.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                crate::util::no_delay(&client);
                let (upstream, access) = (upstream.clone(), access.clone());
                let (log, delays) = (log.clone(), delays.clone());
                tokio::spawn(async move {
                    if let Err(e) = serve(client, &upstream, &access, &log, &delays).await {
                        eprintln!("aws overlay: {e}");
                    }
                });
            }
        });
        Ok(AwsOverlay {
            endpoint: format!("http://127.0.0.1:{port}"),
            calls,
            slow,
            task,
        })
    }

    /// Holds every answer to `operation` (`service:Operation`) for `by` before sending it.
    pub fn slow_down(&self, operation: &str, by: Duration) {
        held(&self.slow).insert(operation.to_owned(), by);
    }
}

impl Drop for AwsOverlay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One request as the overlay sees it.
struct Request {
    head: String,
    body: Vec<u8>,
    service: String,
    method: String,
    path: String,
}

async fn read_request(client: &mut TcpStream) -> Result<Request, Error> {
    let mut buf = Vec::new();
    let head_len = read_head(client, &mut buf).await?;
    let head = String::from_utf8_lossy(&buf[..head_len]).to_string();
    let length = header(&head, "content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    while buf.len() < head_len + length {
        let mut chunk = vec![0u8; head_len + length - buf.len()];
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Err("connection closed inside the body".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let service = header(&head, "authorization")
        .and_then(|a| a.split("Credential=").nth(1).map(str::to_owned))
        .and_then(|c| c.split('/').nth(3).map(str::to_owned))
        .unwrap_or_default();
    let mut line = head.lines().next().unwrap_or_default().split_whitespace();
    let method = line.next().unwrap_or_default().to_owned();
    let path = line.next().unwrap_or("/").split('?').next().unwrap_or("/");
    Ok(Request {
        service,
        method,
        path: percent_decode(path),
        body: buf[head_len..head_len + length].to_vec(),
        head,
    })
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What to do with a request.
enum Answer {
    Local(Vec<u8>),
    Forward { patch_cluster: Option<String> },
}

async fn serve(
    mut client: TcpStream,
    upstream: &str,
    access: &ClusterAccess,
    log: &CallLog,
    slow: &Slow,
) -> Result<(), Error> {
    let request = read_request(&mut client).await?;
    let r = &request;
    let op = operation(&r.service, &r.head, &r.method, &r.path, &r.body);
    let delay = held(slow).get(&op).copied();
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    log.record(op);
    let answer = match request.service.as_str() {
        "eks" => eks(&request, access),
        "ec2" => ec2(&request, access),
        _ => Answer::Forward {
            patch_cluster: None,
        },
    };
    let bytes = match answer {
        Answer::Local(bytes) => bytes,
        Answer::Forward { patch_cluster } => {
            let response = forward(upstream, &request).await?;
            match patch_cluster {
                Some(mode) => with_access_config(response, &mode),
                None => response,
            }
        }
    };
    client.write_all(&bytes).await?;
    client.shutdown().await?;
    Ok(())
}

fn eks(r: &Request, access: &ClusterAccess) -> Answer {
    let parts: Vec<&str> = r.path.trim_matches('/').splitn(4, '/').collect();
    let forward = Answer::Forward {
        patch_cluster: None,
    };
    if r.method != "GET" {
        return forward;
    }
    match parts.as_slice() {
        ["clusters", _] => Answer::Forward {
            patch_cluster: access.authentication_mode(),
        },
        ["clusters", name, "access-entries"] => list_access_entries(access, name),
        ["clusters", name, "access-entries", principal] => {
            describe_access_entry(access, name, principal)
        }
        _ => forward,
    }
}

fn api_mode_only(access: &ClusterAccess) -> Option<Answer> {
    (access.authentication_mode().as_deref() == Some("CONFIG_MAP")).then(|| {
        let message = "The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] to perform this operation.";
        json_error(400, "InvalidRequestException", message)
    })
}

fn list_access_entries(access: &ClusterAccess, _cluster: &str) -> Answer {
    if let Some(refused) = api_mode_only(access) {
        return refused;
    }
    let principals: Vec<String> = access
        .access_entries()
        .into_iter()
        .map(|e| e.principal_arn)
        .collect();
    json_ok(&json!({ "accessEntries": principals }))
}

fn describe_access_entry(access: &ClusterAccess, cluster: &str, principal: &str) -> Answer {
    if let Some(refused) = api_mode_only(access) {
        return refused;
    }
    let found = access
        .access_entries()
        .into_iter()
        .find(|e| e.principal_arn.eq_ignore_ascii_case(principal));
    let Some(entry) = found else {
        let message = format!("The specified principalArn could not be found. You can view your available access entries with 'list-access-entries'. ({principal})");
        return json_error(404, "ResourceNotFoundException", &message);
    };
    let account = principal.split(':').nth(4).unwrap_or_default();
    json_ok(&json!({ "accessEntry": {
        "clusterName": cluster,
        "principalArn": entry.principal_arn,
        "kubernetesGroups": [],
        "accessEntryArn": format!("arn:aws:eks:us-west-2:{account}:access-entry/{cluster}/role/{}", pathless_role_arn(principal).rsplit('/').next().unwrap_or_default()),
        "username": "system:node:{{EC2PrivateDNSName}}",
        "type": entry.kind,
        "tags": {},
    }}))
}

fn ec2(r: &Request, access: &ClusterAccess) -> Answer {
    let body = String::from_utf8_lossy(&r.body);
    let param = |name: &str| {
        body.split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .map(percent_decode)
    };
    let output = match (param("Action").as_deref(), param("InstanceId")) {
        (Some("GetConsoleOutput"), Some(id)) => access.console_output(&id).map(|o| (id, o)),
        _ => None,
    };
    match output {
        Some((id, text)) => {
            let encoded = base64::engine::general_purpose::STANDARD.encode(text);
            let xml = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<GetConsoleOutputResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>{}</requestId><instanceId>{id}</instanceId><timestamp>2024-10-09T15:05:00.000Z</timestamp><output>{encoded}</output></GetConsoleOutputResponse>",
                random_uuid()
            );
            Answer::Local(response(200, "text/xml", &[], xml.as_bytes()))
        }
        None => Answer::Forward {
            patch_cluster: None,
        },
    }
}

fn response(status: u16, content_type: &str, extra: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        _ => "Error",
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nx-amzn-requestid: {}\r\nConnection: close\r\n",
        body.len(),
        random_uuid()
    );
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    out
}

fn json_ok(body: &Value) -> Answer {
    Answer::Local(response(
        200,
        "application/json",
        &[],
        body.to_string().as_bytes(),
    ))
}

fn json_error(status: u16, code: &str, message: &str) -> Answer {
    let body = json!({ "message": message }).to_string();
    let extra = [("x-amzn-errortype", code)];
    Answer::Local(response(
        status,
        "application/json",
        &extra,
        body.as_bytes(),
    ))
}

/// Sends the request to moto and reads the whole answer.
async fn forward(upstream: &str, r: &Request) -> Result<Vec<u8>, Error> {
    let mut up = TcpStream::connect(upstream).await?;
    crate::util::no_delay(&up);
    up.write_all(close_head(&r.head).as_bytes()).await?;
    up.write_all(&r.body).await?;
    let mut response = Vec::new();
    up.read_to_end(&mut response).await?;
    let Some(at) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(response);
    };
    let head = close_head(&String::from_utf8_lossy(&response[..at + 4]));
    let mut out = head.into_bytes();
    out.extend_from_slice(&response[at + 4..]);
    Ok(out)
}

/// Adds `cluster.accessConfig.authenticationMode` to a DescribeCluster answer (left as it is when it is
/// not a plain JSON answer).
fn with_access_config(response: Vec<u8>, mode: &str) -> Vec<u8> {
    let Some(at) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return response;
    };
    let head = String::from_utf8_lossy(&response[..at]).to_string();
    if header(&head, "transfer-encoding").is_some() {
        return response;
    }
    let Ok(mut body) = serde_json::from_slice::<Value>(&response[at + 4..]) else {
        return response;
    };
    let Some(cluster) = body.get_mut("cluster").and_then(Value::as_object_mut) else {
        return response;
    };
    cluster.insert(
        "accessConfig".into(),
        json!({ "authenticationMode": mode, "bootstrapClusterCreatorAdminPermissions": true }),
    );
    let body = body.to_string();
    let head: Vec<String> = head
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("content-length:"))
        .map(str::to_owned)
        .chain(std::iter::once(format!("Content-Length: {}", body.len())))
        .collect();
    let mut out = format!("{}\r\n\r\n", head.join("\r\n")).into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_cluster_answers_gain_the_authentication_mode() {
        let body = r#"{"cluster":{"name":"eks-workshop"}}"#;
        let raw = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let patched =
            String::from_utf8(with_access_config(raw.into_bytes(), "API")).expect("utf-8");
        let (head, body) = patched.split_once("\r\n\r\n").expect("head");
        assert!(
            head.contains(&format!("Content-Length: {}", body.len())),
            "{head}"
        );
        let v: Value = serde_json::from_str(body).expect("json");
        assert_eq!(v["cluster"]["accessConfig"]["authenticationMode"], "API");
    }

    #[test]
    fn principal_arns_in_paths_are_percent_decoded() {
        assert_eq!(
            percent_decode("/clusters/c/access-entries/arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fn"),
            "/clusters/c/access-entries/arn:aws:iam::1:role/n"
        );
    }
}
