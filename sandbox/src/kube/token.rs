//! EKS-style bearer tokens: checking what the Lambda sends, and minting unsigned ones for the CLI.
//!
//! `Authorization: Bearer k8s-aws-v1.<base64url(presigned STS GetCallerIdentity URL)>`. The URL's shape
//! and freshness are checked; its signature is not (there is no STS to ask), so the fake proves the Lambda
//! sends a well-formed, fresh token, not a correctly signed one.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::query::percent_decode;
use crate::util::rfc3339;

/// Oldest `X-Amz-Date` accepted, as EKS does.
const TOKEN_MAX_AGE: Duration = Duration::from_secs(15 * 60);
/// Largest `X-Amz-Expires` accepted.
const TOKEN_MAX_EXPIRES: u64 = 900;

/// Checks an `Authorization` header the way EKS's authenticator would, minus the call to STS:
/// `Bearer k8s-aws-v1.<base64url without padding>` of a presigned `https://sts[.<region>].amazonaws.com/`
/// URL with `Action=GetCallerIdentity`, `Version=2011-06-15`, `X-Amz-Algorithm=AWS4-HMAC-SHA256`,
/// an `X-Amz-Credential` scoped to `…/sts/aws4_request`, `x-k8s-aws-id` among the signed headers,
/// `X-Amz-Expires` ≤ 900, an `X-Amz-Date` at most 15 minutes old, and a signature.
pub fn validate_token(authorization: Option<&str>, now: SystemTime) -> Result<(), String> {
    let url = presigned_url(authorization)?;
    let params = Params(sts_query(&url)?);
    check_request(&params)?;
    check_freshness(&params, now)?;
    let signature = params.get("X-Amz-Signature")?;
    if signature.is_empty() || !signature.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err("X-Amz-Signature is not hex".into());
    }
    Ok(())
}

/// Decoded query parameters of the presigned URL.
struct Params(HashMap<String, String>);

impl Params {
    fn get(&self, name: &str) -> Result<&str, String> {
        self.0
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| format!("presigned URL lacks {name}"))
    }
}

/// The URL inside `Bearer k8s-aws-v1.<base64url without padding>`.
fn presigned_url(authorization: Option<&str>) -> Result<String, String> {
    let header = authorization.ok_or("no Authorization header")?;
    let token = header
        .strip_prefix("Bearer ")
        .ok_or("Authorization is not a Bearer token")?
        .trim();
    let encoded = token
        .strip_prefix("k8s-aws-v1.")
        .ok_or("token does not start with k8s-aws-v1.")?;
    if encoded.contains('=') {
        return Err("token is padded base64; EKS tokens are base64url without padding".into());
    }
    let raw = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|e| format!("token is not base64url: {e}"))?;
    String::from_utf8(raw).map_err(|_| "token is not a UTF-8 URL".into())
}

/// The decoded query parameters of an `https://sts[.<region>].amazonaws.com/?…` URL.
fn sts_query(url: &str) -> Result<HashMap<String, String>, String> {
    let rest = url
        .strip_prefix("https://")
        .ok_or("presigned URL is not https://")?;
    let (host_path, query) = rest
        .split_once('?')
        .ok_or("presigned URL has no query string")?;
    let (host, path) = host_path.split_once('/').unwrap_or((host_path, ""));
    let regional = host
        .strip_prefix("sts.")
        .and_then(|h| h.strip_suffix(".amazonaws.com"))
        .is_some_and(|region| {
            !region.is_empty()
                && region
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        });
    if host != "sts.amazonaws.com" && !regional {
        return Err(format!("presigned URL host {host:?} is not STS"));
    }
    if !path.is_empty() {
        return Err(format!("presigned URL path /{path} is not /"));
    }
    Ok(query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect())
}

/// Action, version, algorithm, credential scope and signed headers.
fn check_request(params: &Params) -> Result<(), String> {
    let get = |name: &str| params.get(name);
    if get("Action")? != "GetCallerIdentity" {
        return Err("presigned URL is not for Action=GetCallerIdentity".into());
    }
    if get("Version")? != "2011-06-15" {
        return Err("presigned URL is not for Version=2011-06-15".into());
    }
    if get("X-Amz-Algorithm")? != "AWS4-HMAC-SHA256" {
        return Err("X-Amz-Algorithm is not AWS4-HMAC-SHA256".into());
    }
    if !get("X-Amz-Credential")?.ends_with("/sts/aws4_request") {
        return Err("X-Amz-Credential is not scoped to sts/aws4_request".into());
    }
    if !get("X-Amz-SignedHeaders")?
        .split(';')
        .any(|h| h.eq_ignore_ascii_case("x-k8s-aws-id"))
    {
        return Err("x-k8s-aws-id is not a signed header".into());
    }
    Ok(())
}

/// `X-Amz-Expires` within bounds, `X-Amz-Date` neither too old nor in the future.
fn check_freshness(params: &Params, now: SystemTime) -> Result<(), String> {
    let get = |name: &str| params.get(name);
    let expires: u64 = get("X-Amz-Expires")?
        .parse()
        .map_err(|_| "X-Amz-Expires is not a number")?;
    if expires == 0 || expires > TOKEN_MAX_EXPIRES {
        return Err(format!(
            "X-Amz-Expires={expires} is outside 1..={TOKEN_MAX_EXPIRES}"
        ));
    }
    let signed_at =
        parse_amz_date(get("X-Amz-Date")?).ok_or("X-Amz-Date is not YYYYMMDDTHHMMSSZ")?;
    let now_secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    if now_secs > signed_at + TOKEN_MAX_AGE.as_secs() {
        return Err("token expired (X-Amz-Date older than 15 minutes)".into());
    }
    if signed_at > now_secs + TOKEN_MAX_AGE.as_secs() {
        return Err("X-Amz-Date is in the future".into());
    }
    Ok(())
}

/// Seconds since the epoch of an `X-Amz-Date` (`20241009T145936Z`).
fn parse_amz_date(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, se) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + h * 3600 + mi * 60 + se).ok()
}

/// A token with the shape [`validate_token`] accepts, for `now`, but signed by nobody (`X-Amz-Signature`
/// is zeros). Good only against this fake, which cannot check signatures.
pub fn unsigned_token(region: &str, now: SystemTime) -> String {
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let date = rfc3339(UNIX_EPOCH + Duration::from_secs(secs)).replace(['-', ':'], "");
    let day = &date[..8];
    let url = format!(
        "https://sts.{region}.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15\
         &X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=SANDBOX%2F{day}%2F{region}%2Fsts%2Faws4_request\
         &X-Amz-Date={date}&X-Amz-Expires=60&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id\
         &X-Amz-Signature={}",
        "0".repeat(64)
    );
    format!("k8s-aws-v1.{}", URL_SAFE_NO_PAD.encode(url))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token_for(url: &str) -> String {
        format!("Bearer k8s-aws-v1.{}", URL_SAFE_NO_PAD.encode(url))
    }

    fn url(date: &str, expires: u32, signed_headers: &str) -> String {
        format!(
            "https://sts.us-west-2.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15\
             &X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIDEXAMPLE%2F20241009%2Fus-west-2%2Fsts%2Faws4_request\
             &X-Amz-Date={date}&X-Amz-Expires={expires}&X-Amz-SignedHeaders={signed_headers}\
             &X-Amz-Security-Token=FwoG%2Bz&X-Amz-Signature=9f0e1d2c3b4a59687766554433221100ffeeddccbbaa99887766554433221100"
        )
    }

    /// 2024-10-09T14:59:36Z
    fn at_seed_time(offset_secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_728_485_976 + offset_secs)
    }

    #[test]
    fn well_formed_fresh_token_is_accepted() {
        let header = token_for(&url("20241009T145936Z", 60, "host%3Bx-k8s-aws-id"));
        assert_eq!(validate_token(Some(&header), at_seed_time(30)), Ok(()));
    }

    /// What botocore presigns for `aws eks get-token` (credentials are AWS's documentation examples).
    const BOTOCORE_URL: &str = "https://sts.us-west-2.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20261127%2Fus-west-2%2Fsts%2Faws4_request&X-Amz-Date=20261127T190241Z&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id&X-Amz-Expires=60&X-Amz-Security-Token=FwoGZXIvYXdzEXAMPLE%2B%2F%3Dtoken&X-Amz-Signature=9259416b202d22f3744fc0ed63b13d722c384fb8736f4a740ef232c957c5cace";

    #[test]
    fn botocore_presigned_token_is_accepted() {
        let signed_at = parse_amz_date("20261127T190241Z").expect("valid date literal");
        let now = UNIX_EPOCH + Duration::from_secs(signed_at + 20);
        assert_eq!(validate_token(Some(&token_for(BOTOCORE_URL)), now), Ok(()));
    }

    #[test]
    fn global_sts_host_is_accepted() {
        let u = url("20241009T145936Z", 60, "host%3Bx-k8s-aws-id")
            .replace("sts.us-west-2.amazonaws.com", "sts.amazonaws.com");
        assert_eq!(
            validate_token(Some(&token_for(&u)), at_seed_time(0)),
            Ok(())
        );
    }

    #[test]
    fn missing_or_foreign_tokens_are_refused() {
        assert!(validate_token(None, at_seed_time(0)).is_err());
        assert!(validate_token(Some("Basic dXNlcjpwYXNz"), at_seed_time(0)).is_err());
        assert!(validate_token(Some("Bearer eyJhbGciOi.x.y"), at_seed_time(0)).is_err());
        assert!(validate_token(Some("Bearer k8s-aws-v1.!!!"), at_seed_time(0)).is_err());
    }

    #[test]
    fn padded_base64_is_refused() {
        let u = url("20241009T145936Z", 60, "host%3Bx-k8s-aws-id");
        let padded = format!(
            "Bearer k8s-aws-v1.{}",
            base64::engine::general_purpose::URL_SAFE.encode(&u)
        );
        if padded.ends_with('=') {
            assert!(validate_token(Some(&padded), at_seed_time(0)).is_err());
        }
    }

    #[test]
    fn token_older_than_fifteen_minutes_is_expired() {
        let header = token_for(&url("20241009T145936Z", 60, "host%3Bx-k8s-aws-id"));
        let err = validate_token(Some(&header), at_seed_time(15 * 60 + 1)).expect_err("refused");
        assert!(err.contains("expired"), "{err}");
    }

    #[test]
    fn cluster_id_header_must_be_signed() {
        let header = token_for(&url("20241009T145936Z", 60, "host"));
        let err = validate_token(Some(&header), at_seed_time(0)).expect_err("refused");
        assert!(err.contains("x-k8s-aws-id"), "{err}");
    }

    #[test]
    fn long_expiry_and_other_hosts_are_refused() {
        let header = token_for(&url("20241009T145936Z", 3600, "host%3Bx-k8s-aws-id"));
        assert!(validate_token(Some(&header), at_seed_time(0)).is_err());
        let evil = url("20241009T145936Z", 60, "host%3Bx-k8s-aws-id").replace(
            "sts.us-west-2.amazonaws.com",
            "sts.us-west-2.amazonaws.com.evil.example",
        );
        assert!(validate_token(Some(&token_for(&evil)), at_seed_time(0)).is_err());
        let other_action = url("20241009T145936Z", 60, "host%3Bx-k8s-aws-id")
            .replace("GetCallerIdentity", "AssumeRole");
        assert!(validate_token(Some(&token_for(&other_action)), at_seed_time(0)).is_err());
    }

    #[test]
    fn unsigned_token_has_the_accepted_shape() {
        let now = SystemTime::now();
        let header = format!("Bearer {}", unsigned_token("us-west-2", now));
        assert_eq!(validate_token(Some(&header), now), Ok(()));
    }

    #[test]
    fn amz_dates_parse_to_epoch_seconds() {
        assert_eq!(parse_amz_date("20241009T145936Z"), Some(1_728_485_976));
        assert_eq!(parse_amz_date("19700101T000000Z"), Some(0));
        assert_eq!(parse_amz_date("2024-10-09T14:59:36Z"), None);
    }
}
