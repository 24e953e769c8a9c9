//! Which certificate authorities the AWS clients trust. (The Kubernetes API is another matter: it is
//! trusted through the cluster's own CA, `kube`.)
//!
//! On Lambda, in the `aws` partition, with AWS's own endpoints, the function trusts only the roots those
//! endpoints chain to: Amazon Trust Services' Amazon Root CA 1 to 4, and the Starfield Services root that
//! cross-signs them. Anywhere else, or when told otherwise, it trusts the platform's store, as the SDK
//! does by default.
//!
//! Why: loading the platform's store is most of what init costs. On Lambda's `provided.al2023` it is a
//! PEM bundle of about 150 roots (220 kB); decoding and parsing it was 9.6 M of the 16 M instructions
//! from process start to the first poll of the Runtime API (callgrind, `make bench`'s binary). The five
//! roots decode in a small fraction of that. Trusting five roots instead of 150 is also the narrower
//! trust: a certificate for an AWS endpoint from any other authority is refused.
//!
//! The platform's store applies, and `SSL_CERT_FILE` / `SSL_CERT_DIR` with it (read by
//! `rustls-native-certs`), when:
//! - `SSL_CERT_FILE` or `SSL_CERT_DIR` is set: a TLS-inspecting egress proxy, or a private CA;
//! - an `AWS_ENDPOINT_URL` variable is set: the endpoints may not be AWS's (a sandbox, a test);
//! - the Region is outside the `aws` partition (China, GovCloud, the isolated and sovereign
//!   partitions), whose endpoints this project has not checked against these roots;
//! - the process is not running on Lambda (a laptop, CI, `cargo lambda invoke`).

use aws_smithy_http_client::tls::{TlsContext, TrustStore};

/// Amazon Root CA 1, 2, 3, 4 and Starfield Services Root Certificate Authority - G2, as Mozilla's root
/// store has them (Debian's `ca-certificates` 20230311). Their SHA-256 fingerprints, as Amazon Trust
/// Services publishes them, are checked by the tests below.
const AMAZON_ROOTS: &str = include_str!("trust/amazon-roots.pem");

/// The roots the AWS clients trust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Roots {
    /// Amazon Trust Services' roots only.
    Amazon,
    /// The platform's store, for the reason given.
    Platform(String),
}

impl std::fmt::Display for Roots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Roots::Amazon => write!(f, "Amazon Trust Services roots"),
            Roots::Platform(why) => write!(f, "the platform's root store ({why})"),
        }
    }
}

/// The roots for this process, from its environment (`vars`: every variable, by name and value).
pub fn choose<'a>(vars: impl IntoIterator<Item = (&'a str, &'a str)>) -> Roots {
    let vars: Vec<(&str, &str)> = vars.into_iter().filter(|(_, v)| !v.is_empty()).collect();
    let set = |name: &str| vars.iter().any(|(k, _)| *k == name);
    if !set("AWS_LAMBDA_FUNCTION_NAME") {
        return Roots::Platform("not running on Lambda".into());
    }
    if let Some((name, _)) = vars
        .iter()
        .find(|(k, _)| *k == "SSL_CERT_FILE" || *k == "SSL_CERT_DIR")
    {
        return Roots::Platform(format!("{name} is set"));
    }
    if let Some((name, _)) = vars.iter().find(|(k, _)| k.starts_with("AWS_ENDPOINT_URL")) {
        return Roots::Platform(format!("{name} is set"));
    }
    let region = vars
        .iter()
        .find(|(k, _)| *k == "AWS_REGION")
        .map_or("", |(_, v)| v);
    if !in_aws_partition(region) {
        return Roots::Platform(format!("Region {region:?} is outside the aws partition"));
    }
    Roots::Amazon
}

/// The `aws` partition's Regions: `^(us|eu|ap|sa|ca|me|af|il|mx)-\w+-\d+$`, as the SDK's partition table
/// has it (`\w` takes no `-`, so `us-gov-west-1` and `eu-isoe-west-1`, of other partitions, do not match).
fn in_aws_partition(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    let [area, name, number] = parts.as_slice() else {
        return false;
    };
    let word = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    ["us", "eu", "ap", "sa", "ca", "me", "af", "il", "mx"].contains(area)
        && word(name)
        && !number.is_empty()
        && number.chars().all(|c| c.is_ascii_digit())
}

/// The TLS context of the SDK's HTTPS client for `roots`.
pub fn tls_context(roots: &Roots) -> TlsContext {
    let store = match roots {
        Roots::Amazon => TrustStore::empty()
            .with_native_roots(false)
            .with_pem_certificate(AMAZON_ROOTS.as_bytes()),
        Roots::Platform(_) => TrustStore::default(),
    };
    // Infallible today (the builder only stores what it is given); the default context if it ever fails.
    TlsContext::builder()
        .with_trust_store(store)
        .build()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    use sha2::{Digest, Sha256};

    /// https://www.amazontrust.com/repository/ (SHA-256 of each root's DER).
    const PUBLISHED: [&str; 5] = [
        "8ecde6884f3d87b1125ba31ac3fcb13d7016de7f57cc904fe1cb97c6ae98196e",
        "1ba5b2aa8c65401a82960118f80bec4f62304d83cec4713a19c39c011ea46db4",
        "18ce6cfe7bf14e60b2e347b8dfe868cb31d02ebb3ada271569f50343b46db3a4",
        "e35d28419ed02025cfa69038cd623962458da5c695fbdea3c22b0bfb25897092",
        "568d6905a2c88708a4b3025190edcfedb1974a606a13c6e5290fcb2ae63edab5",
    ];

    fn lambda(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut vars = vec![
            ("AWS_LAMBDA_FUNCTION_NAME", "eks-node-join-remediator"),
            ("AWS_REGION", "eu-west-1"),
            ("PATH", "/usr/bin"),
        ];
        vars.extend_from_slice(extra);
        vars
    }

    fn lambda_in(region: &'static str) -> Vec<(&'static str, &'static str)> {
        let mut vars = lambda(&[]);
        vars[1].1 = region;
        vars
    }

    #[test]
    fn the_embedded_roots_are_exactly_the_five_amazon_trust_services_publishes() {
        let ders: Vec<CertificateDer> = CertificateDer::pem_slice_iter(AMAZON_ROOTS.as_bytes())
            .collect::<Result<_, _>>()
            .expect("the embedded PEM decodes");
        let fingerprints: Vec<String> = ders
            .iter()
            .map(|d| {
                Sha256::digest(d.as_ref())
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect()
            })
            .collect();
        assert_eq!(fingerprints, PUBLISHED);
        let mut store = rustls::RootCertStore::empty();
        let (added, refused) = store.add_parsable_certificates(ders);
        assert_eq!((added, refused), (5, 0), "each is a usable trust anchor");
    }

    #[test]
    fn on_lambda_in_the_aws_partition_only_amazon_roots_are_trusted() {
        assert_eq!(choose(lambda(&[])), Roots::Amazon);
        for region in [
            "us-east-1",
            "ap-southeast-5",
            "mx-central-1",
            "il-central-1",
        ] {
            assert_eq!(choose(lambda_in(region)), Roots::Amazon, "{region}");
        }
    }

    #[test]
    fn the_platform_store_applies_off_lambda_or_when_told_or_outside_the_aws_partition() {
        let platform = |vars: Vec<(&str, &str)>| matches!(choose(vars), Roots::Platform(_));
        assert!(platform(vec![("AWS_REGION", "eu-west-1")]));
        assert!(platform(lambda(&[("SSL_CERT_FILE", "/opt/ca.pem")])));
        assert!(platform(lambda(&[("SSL_CERT_DIR", "/opt/certs")])));
        assert!(platform(lambda(&[(
            "AWS_ENDPOINT_URL",
            "https://127.0.0.1:4566"
        )])));
        assert!(platform(lambda(&[(
            "AWS_ENDPOINT_URL_EC2",
            "https://vpce.example"
        )])));
        for region in [
            "cn-north-1",
            "us-gov-west-1",
            "us-iso-east-1",
            "us-isob-east-1",
            "us-isof-south-1",
            "eu-isoe-west-1",
            "eusc-de-east-1",
            "",
            "eu-west",
            "eu-west-1a",
        ] {
            assert!(platform(lambda_in(region)), "{region:?}");
        }
    }

    #[test]
    fn an_empty_variable_counts_as_unset() {
        assert_eq!(
            choose(lambda(&[("SSL_CERT_FILE", ""), ("AWS_ENDPOINT_URL", "")])),
            Roots::Amazon
        );
        assert!(matches!(
            choose(vec![
                ("AWS_LAMBDA_FUNCTION_NAME", ""),
                ("AWS_REGION", "eu-west-1")
            ]),
            Roots::Platform(_)
        ));
    }
}
