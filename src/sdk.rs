//! How the AWS SDK is configured, once, in `main`. Three choices, each measured by `make bench` (init is
//! process start → first poll of the Runtime API):
//!
//! * One HTTPS client for every AWS client. Left to themselves, each SDK client (and the STS client inside
//!   the default credential chain) builds its own connector and parses the whole root store into it.
//! * On Lambda, credentials and Region come from the environment, where Lambda puts them, instead of the
//!   default chains, which also build a web-identity STS client and an IMDS client that Lambda never
//!   needs. Anywhere else (a laptop, the sandbox, CI) the default chains apply.
//! * Adaptive retries: when EC2 throttles (its request buckets are shared with everything else in the
//!   account and Region), the client slows itself down and tries again, within the per-operation
//!   deadline of `context::timeouts`.

use aws_config::environment::{
    EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider,
};
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_ec2::config::SharedHttpClient;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_http_client::{Builder, ConnectorBuilder};

/// Attempts per AWS operation (the first included), all within the operation deadline.
const MAX_ATTEMPTS: u32 = 4;

/// The SDK configuration every client of this function is built from.
pub async fn load() -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .retry_config(RetryConfig::adaptive().with_max_attempts(MAX_ATTEMPTS));
    if on_lambda_with_credentials(|k| std::env::var_os(k).is_some()) {
        loader = loader
            .credentials_provider(EnvironmentVariableCredentialsProvider::new())
            .region(EnvironmentVariableRegionProvider::new());
    }
    loader.load().await
}

/// Running as a Lambda function, whose credentials and Region Lambda puts in the environment.
fn on_lambda_with_credentials(is_set: impl Fn(&str) -> bool) -> bool {
    [
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
    ]
    .iter()
    .all(|k| is_set(k))
}

/// rustls with ring and the platform's roots, honouring `HTTPS_PROXY` and `NO_PROXY` as the SDK's own
/// default client does; built once, its connectors made on first use per timeout setting. ring rather than
/// the SDK's default aws-lc: the same TLS for these endpoints, and a deployment zip ~__SAVED__ smaller. The SDK
/// crates are built without a default client, so a client without this one fails its first call.
fn https_client() -> SharedHttpClient {
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector =
            ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(CryptoMode::Ring));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_credentials_are_used_only_on_lambda_with_all_of_them_set() {
        let all = [
            "AWS_LAMBDA_FUNCTION_NAME",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_REGION",
        ];
        assert!(on_lambda_with_credentials(|k| all.contains(&k)));
        for missing in all {
            assert!(
                !on_lambda_with_credentials(|k| k != missing && all.contains(&k)),
                "without {missing}"
            );
        }
    }
}
