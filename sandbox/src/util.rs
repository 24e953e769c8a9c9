//! Small helpers shared by the modules: randomness without a `rand` dependency, timestamps, tiny HTTP.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_smithy_types::date_time::{DateTime, Format};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::Error;

/// Sends what is written at once (`TCP_NODELAY`), as the servers this sandbox stands in for do (Go sets it
/// on every TCP connection, and the Kubernetes API server and AWS's Lambda Runtime Interface Emulator are
/// Go programs; the AWS SDK's client sets it too). Without it, the second piece of a response written in two
/// (headers, then body, each its own TLS record) may wait for the peer's delayed ACK. A socket that refuses
/// the option only loses that.
pub(crate) fn no_delay(tcp: &tokio::net::TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        eprintln!("sandbox: TCP_NODELAY not set: {e}");
    }
}

/// 64 random bits (SipHash with a random key over a counter and the clock). Not for cryptography.
pub(crate) fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    hasher.write_u128(nanos);
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// A random version-4-shaped UUID string.
pub(crate) fn random_uuid() -> String {
    let a = random_u64();
    let b = random_u64();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

/// RFC 3339 timestamp (`2024-10-09T14:59:36Z`).
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    DateTime::from_secs(secs as i64)
        .fmt(Format::DateTime)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

/// `kubectl`-style age: `42s`, `3m9s`, `2h5m`, `3d4h`.
pub fn kubectl_age(seconds: u64) -> String {
    let (d, h, m, s) = (
        seconds / 86_400,
        (seconds % 86_400) / 3600,
        (seconds % 3600) / 60,
        seconds % 60,
    );
    if d > 0 {
        format!("{d}d{h}h")
    } else if h > 0 {
        format!("{h}h{m}m")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// Minimal plain-HTTP/1.0 request to `http://host:port` (used for moto's health and reset endpoints).
/// Returns the status code and the body.
pub(crate) async fn plain_http(
    endpoint: &str,
    method: &str,
    path: &str,
    timeout: Duration,
) -> Result<(u16, String), Error> {
    let authority = endpoint
        .strip_prefix("http://")
        .ok_or_else(|| format!("endpoint {endpoint} is not http://host:port"))?
        .trim_end_matches('/');
    let work = async {
        let mut stream = tokio::net::TcpStream::connect(authority).await?;
        let request = format!(
            "{method} {path} HTTP/1.0\r\nHost: {authority}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        Ok::<_, Error>(raw)
    };
    let raw = tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| format!("{method} {endpoint}{path}: no answer within {timeout:?}"))??;
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("{method} {endpoint}{path}: not an HTTP answer"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// The one error-context helper of the crate: prefixes an error with what was being done, keeping the whole
/// cause chain of SDK errors in the message (`ec2:CreateVpc: service error: …`).
pub trait Context<T> {
    fn context(self, what: impl std::fmt::Display) -> Result<T, Error>;

    /// [`Context::context`] with the description computed only on error.
    fn with_context<D: std::fmt::Display>(self, what: impl FnOnce() -> D) -> Result<T, Error>;
}

impl<T, E: std::error::Error + Send + Sync + 'static> Context<T> for Result<T, E> {
    fn context(self, what: impl std::fmt::Display) -> Result<T, Error> {
        self.with_context(|| what)
    }

    fn with_context<D: std::fmt::Display>(self, what: impl FnOnce() -> D) -> Result<T, Error> {
        self.map_err(|e| {
            format!(
                "{}: {}",
                what(),
                aws_smithy_types::error::display::DisplayErrorContext(&e)
            )
            .into()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_has_the_canonical_shape() {
        let u = random_uuid();
        let parts: Vec<&str> = u.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert_ne!(random_uuid(), u);
    }

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(kubectl_age(5), "5s");
        assert_eq!(kubectl_age(189), "3m9s");
        assert_eq!(kubectl_age(7500), "2h5m");
        assert_eq!(kubectl_age(90_000), "1d1h");
    }

    #[test]
    fn timestamps_are_rfc3339() {
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_728_485_976)),
            "2024-10-09T14:59:36Z"
        );
    }
}
