//! The EKS bearer token (what `aws eks get-token` prints): `k8s-aws-v1.` + base64url of a presigned STS
//! `GetCallerIdentity` URL whose signed headers include `x-k8s-aws-id: <cluster>`, valid 60 seconds.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4;
use base64::Engine;

use crate::error::{Error, Result};

pub const TOKEN_PREFIX: &str = "k8s-aws-v1.";
pub const CLUSTER_ID_HEADER: &str = "x-k8s-aws-id";
const EXPIRES: Duration = Duration::from_secs(60);

/// The regional STS endpoint the token is signed for (the cluster's authenticator verifies it there).
pub fn sts_host(region: &str) -> String {
    if region.starts_with("cn-") {
        format!("sts.{region}.amazonaws.com.cn")
    } else {
        format!("sts.{region}.amazonaws.com")
    }
}

pub fn token(
    credentials: &Credentials,
    region: &str,
    cluster: &str,
    now: SystemTime,
) -> Result<String> {
    let host = sts_host(region);
    let url = format!("https://{host}/?Action=GetCallerIdentity&Version=2011-06-15");
    let identity = credentials.clone().into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(EXPIRES);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| Error::Token(format!("signing parameters: {e}")))?
        .into();
    let headers = [("host", host.as_str()), (CLUSTER_ID_HEADER, cluster)];
    let signable = SignableRequest::new(
        "GET",
        url.as_str(),
        headers.into_iter(),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| Error::Token(format!("request to sign: {e}")))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| Error::Token(format!("signing: {e}")))?
        .into_parts();
    let mut request = http::Request::builder()
        .method("GET")
        .uri(url.as_str())
        .body(())
        .map_err(|e| Error::Token(format!("request: {e}")))?;
    instructions.apply_to_request_http1x(&mut request);
    let presigned = request.uri().to_string();
    Ok(format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(presigned)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(token: &str) -> String {
        let body = token.strip_prefix(TOKEN_PREFIX).expect("prefix");
        String::from_utf8(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(body)
                .expect("base64url"),
        )
        .expect("utf8")
    }

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn token_is_a_presigned_get_caller_identity_url_bound_to_the_cluster() {
        let creds = Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            Some("session".into()),
            None,
            "test",
        );
        let token = token(&creds, "us-west-2", "eks-workshop", at(1_728_486_000)).expect("token");
        assert!(!token.contains('='), "base64url without padding");
        let url = decode(&token);
        assert!(
            url.starts_with("https://sts.us-west-2.amazonaws.com/?"),
            "{url}"
        );
        for part in [
            "Action=GetCallerIdentity",
            "Version=2011-06-15",
            "X-Amz-Algorithm=AWS4-HMAC-SHA256",
            "X-Amz-Credential=AKIDEXAMPLE%2F20241009%2Fus-west-2%2Fsts%2Faws4_request",
            "X-Amz-Date=20241009T150000Z",
            "X-Amz-Expires=60",
            "X-Amz-SignedHeaders=host%3Bx-k8s-aws-id",
            "X-Amz-Security-Token=session",
            "X-Amz-Signature=",
        ] {
            assert!(url.contains(part), "{part} missing from {url}");
        }
    }

    #[test]
    fn token_depends_on_cluster_and_time() {
        let creds = Credentials::new("AKID", "secret", None, None, "test");
        let a = token(&creds, "us-west-2", "a", at(1_700_000_000)).expect("token");
        let b = token(&creds, "us-west-2", "b", at(1_700_000_000)).expect("token");
        let a_again = token(&creds, "us-west-2", "a", at(1_700_000_000)).expect("token");
        let a_later = token(&creds, "us-west-2", "a", at(1_700_000_060)).expect("token");
        assert_eq!(a, a_again, "signing is deterministic");
        assert_ne!(a, b, "the cluster header is signed");
        assert_ne!(a, a_later);
    }
}
