//! How the AWS SDK is configured, once, in `main`. Three choices, each measured by `make bench` (init is
//! process start → first poll of the Runtime API):
//!
//! * Trust: on Lambda, Amazon Trust Services' roots only, not the platform's whole store (`trust`, which
//!   says when the platform's store applies instead): loading the store was most of init.
//! * One HTTPS client for every AWS client. Left to themselves, each SDK client (and the STS client inside
//!   the default credential chain) builds its own connector and parses the whole root store into it. The
//!   shared one is also validated once ([`ValidatedOnce`]): the SDK validates it per client, and each
//!   validation parses the root store again.
//! * On Lambda, credentials and Region come from the environment, where Lambda puts them, instead of the
//!   default chains, which also build a web-identity STS client and an IMDS client that Lambda never
//!   needs. Anywhere else (a laptop, the sandbox, CI) the default chains apply.
//! * Adaptive retries: when EC2 throttles (its request buckets are shared with everything else in the
//!   account and Region), the client slows itself down and tries again, within the per-operation
//!   deadline of `context::timeouts`.

use std::sync::Once;

use aws_config::environment::{
    EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider,
};
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_ec2::config::SharedHttpClient;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext};
use aws_smithy_http_client::{Builder, ConnectorBuilder};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_types::config_bag::ConfigBag;

use crate::trust::{self, Roots};

/// Attempts per AWS operation (the first included), all within the operation deadline.
const MAX_ATTEMPTS: u32 = 4;

/// The SDK configuration every client of this function is built from, and the roots its HTTPS client
/// trusts.
pub async fn load() -> (SdkConfig, Roots) {
    let vars: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let roots = trust::choose(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client(&roots))
        .retry_config(RetryConfig::adaptive().with_max_attempts(MAX_ATTEMPTS));
    if on_lambda_with_credentials(|k| std::env::var_os(k).is_some()) {
        loader = loader
            .credentials_provider(EnvironmentVariableCredentialsProvider::new())
            .region(EnvironmentVariableRegionProvider::new());
    }
    (loader.load().await, roots)
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

/// rustls with ring and `roots`, honouring `HTTPS_PROXY` and `NO_PROXY` as the SDK's own
/// default client does; built once, its connectors made on first use per timeout setting.
///
/// ring rather than the SDK's default aws-lc: the same cipher suites (without aws-lc's post-quantum key
/// exchange), no C library to build, and a deployment zip 157 kB smaller (`make bench`). The SDK crates are
/// built without a default client, so an SDK configuration without this one fails its first call.
fn https_client(roots: &Roots) -> SharedHttpClient {
    SharedHttpClient::new(ValidatedOnce {
        inner: connectors(trust::tls_context(roots)),
        validated: Once::new(),
    })
}

fn connectors(context: TlsContext) -> SharedHttpClient {
    Builder::new().build_with_connector_fn(move |settings, components| {
        let mut connector = ConnectorBuilder::default()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .tls_context(context.clone());
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// The shared client, validated once. The SDK validates its HTTP client as each AWS client is built, and
/// this one's validation builds a TLS connector, which parses the whole root store (loaded from disk the
/// first time): six times at init for six clients, where once loads and checks it. Requests go to the
/// inner client unchanged, which builds and caches the connector for their timeout settings.
#[derive(Debug)]
struct ValidatedOnce {
    inner: SharedHttpClient,
    validated: Once,
}

impl HttpClient for ValidatedOnce {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.inner.http_connector(settings, components)
    }

    fn validate_base_client_config(
        &self,
        components: &RuntimeComponentsBuilder,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        let mut result = Ok(());
        self.validated.call_once(|| {
            result = self.inner.validate_base_client_config(components, cfg);
        });
        result
    }

    fn validate_final_config(
        &self,
        components: &RuntimeComponents,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.inner.validate_final_config(components, cfg)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.inner.connector_metadata()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// The real client, counting its validations.
    #[derive(Debug)]
    struct Counting {
        validations: Arc<AtomicUsize>,
        real: SharedHttpClient,
    }

    impl HttpClient for Counting {
        fn http_connector(
            &self,
            settings: &HttpConnectorSettings,
            components: &RuntimeComponents,
        ) -> SharedHttpConnector {
            self.real.http_connector(settings, components)
        }

        fn validate_base_client_config(
            &self,
            components: &RuntimeComponentsBuilder,
            cfg: &ConfigBag,
        ) -> Result<(), BoxError> {
            self.validations.fetch_add(1, Ordering::SeqCst);
            self.real.validate_base_client_config(components, cfg)
        }
    }

    /// An SDK configuration over `http` (to `endpoint`, if given), with static test credentials and no
    /// retries.
    fn test_sdk(http: SharedHttpClient, endpoint: Option<&str>) -> SdkConfig {
        let mut sdk = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(aws_config::Region::new("us-west-2"))
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(
                    aws_credential_types::Credentials::new("AKID", "secret", None, None, "test"),
                ),
            )
            .retry_config(RetryConfig::disabled())
            .http_client(http);
        sdk.set_endpoint_url(endpoint.map(String::from));
        sdk.build()
    }

    /// Builds the function's clients over `http`; how many times the real client was validated.
    fn validations_building_the_clients(wrap: bool) -> usize {
        let validations = Arc::new(AtomicUsize::new(0));
        let counting = SharedHttpClient::new(Counting {
            validations: validations.clone(),
            real: connectors(TlsContext::default()),
        });
        let http = match wrap {
            true => SharedHttpClient::new(ValidatedOnce {
                inner: counting,
                validated: Once::new(),
            }),
            false => counting,
        };
        let sdk = test_sdk(http, None);
        assert!(crate::Clients::new(&sdk).is_ok());
        validations.load(Ordering::SeqCst)
    }

    #[test]
    fn the_tls_connector_is_built_once_at_init_not_once_per_aws_client() {
        assert_eq!(
            validations_building_the_clients(false),
            6,
            "the SDK validates per client"
        );
        assert_eq!(validations_building_the_clients(true), 1);
    }

    /// An SNS call over `http` to `endpoint`: did it get an answer, or fail to connect (and why)?
    async fn sns_call(http: SharedHttpClient, endpoint: &str) -> Result<(), String> {
        let sdk = test_sdk(http, Some(endpoint));
        match aws_sdk_sns::Client::new(&sdk).list_topics().send().await {
            Err(e @ aws_sdk_sns::error::SdkError::DispatchFailure(_)) => Err(format!(
                "{:?}",
                aws_smithy_types::error::display::DisplayErrorContext(&e)
            )),
            // Answered: the fake Kubernetes API is no SNS, but TLS let the request through.
            _ => Ok(()),
        }
    }

    #[tokio::test]
    async fn with_amazon_roots_the_aws_clients_refuse_a_certificate_from_any_other_authority() {
        let sdk = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .build();
        let server = sandbox::kube::FakeKube::start(sdk, "c")
            .await
            .expect("an HTTPS server with a CA of its own");
        let refused = sns_call(https_client(&Roots::Amazon), &server.endpoint).await;
        let reason = refused.expect_err("a certificate outside Amazon's roots");
        assert!(reason.contains("UnknownIssuer"), "{reason}");
        let trusting_its_ca = TlsContext::builder()
            .with_trust_store(
                aws_smithy_http_client::tls::TrustStore::empty()
                    .with_native_roots(false)
                    .with_pem_certificate(server.ca_pem.as_bytes()),
            )
            .build()
            .expect("a TLS context");
        let answered = sns_call(connectors(trusting_its_ca), &server.endpoint).await;
        assert_eq!(answered, Ok(()), "the same server, its CA trusted");
    }

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
