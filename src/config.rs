//! Configuration from the environment (README, "Configuration"). Invalid values fail at start-up with a
//! message naming the key; nothing here is read again per event.

use std::time::Duration;

use crate::error::Error;
use crate::names::public_names;

public_names! {
    pub enum Mode {
        /// Report only; never write (the default).
        Alert => "alert",
        /// Apply the safe routing fix and recycle.
        Remediate => "remediate",
    }
}

public_names! {
    pub enum RegistrationCheck {
        /// Direct invocations poll registration until the grace period ends.
        Poll => "poll",
        /// Direct invocations stop after triage; the SQS delay queue delivers a copy for the check.
        DelayedQueue => "delayed-queue",
    }
}

public_names! {
    pub enum Recycle {
        /// Terminate the stuck instance without decrementing desired capacity.
        Instance => "instance",
        /// Scale the managed nodegroup to 0 and back (the incident's manual fix).
        Nodegroup => "nodegroup",
        /// Fix the route only.
        None => "none",
    }
}

/// Parses one of the public names of an enum; `default` when unset.
fn choice<T: Copy>(
    get: &impl Fn(&str) -> Option<String>,
    key: &'static str,
    default: T,
    all: &[T],
    name: fn(T) -> &'static str,
) -> Result<T, Error> {
    let Some(value) = get(key) else {
        return Ok(default);
    };
    all.iter()
        .copied()
        .find(|v| name(*v) == value)
        .ok_or_else(|| {
            let names: Vec<&str> = all.iter().map(|v| name(*v)).collect();
            invalid(key, &value, &format!("one of {}", names.join(", ")))
        })
}

#[derive(Debug, Clone)]
pub struct Config {
    pub mode: Mode,
    pub sns_topic_arn: Option<String>,
    pub grace_period: Duration,
    pub poll_interval: Duration,
    pub registration_check: RegistrationCheck,
    /// Empty means every cluster.
    pub cluster_allowlist: Vec<String>,
    pub recycle: Recycle,
    pub allow_shared_route_tables: bool,
    pub max_recycles_per_hour: u32,
    /// No recycle while more than this percent of the group is already being replaced or unhealthy.
    pub max_replacing_percent: u32,
    /// This function's IAM role (the template sets it), named in the fix when it cannot read nodes.
    pub function_role_arn: Option<String>,
    /// DynamoDB table of the durable state (claims, loop breaker, routes written). Required in
    /// remediate mode; in alert mode it makes reports exactly-once.
    pub state_table: Option<String>,
    /// A second topic for Amazon Q Developer in chat applications: the report as a custom notification.
    pub chat_topic_arn: Option<String>,
    /// The role every member account holds for this function (the member template creates it); set for
    /// an organisation-wide deployment, where events of other accounts arrive on the central bus.
    pub member_role_name: Option<String>,
    /// Local sandboxes only: talk to this Kubernetes API instead of the cluster's endpoint.
    pub kube_api_endpoint_override: Option<String>,
    /// Local sandboxes only: PEM CA bundle for the override endpoint (contents, read at start-up).
    pub kube_ca_pem: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mode: Mode::Alert,
            sns_topic_arn: None,
            grace_period: Duration::from_secs(300),
            poll_interval: Duration::from_secs(15),
            registration_check: RegistrationCheck::Poll,
            cluster_allowlist: Vec::new(),
            recycle: Recycle::Instance,
            allow_shared_route_tables: false,
            max_recycles_per_hour: 3,
            max_replacing_percent: 20,
            function_role_arn: None,
            state_table: None,
            chat_topic_arn: None,
            member_role_name: None,
            kube_api_endpoint_override: None,
            kube_ca_pem: None,
        }
    }
}

impl Config {
    pub fn from_env() -> Result<Config, Error> {
        Config::from_lookup(|key| std::env::var(key).ok())
    }

    /// Builds the configuration from any key lookup (the environment in production, a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, Error> {
        let get = |key: &str| {
            get(key)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let d = Config::default();
        let mode = choice(&get, "MODE", d.mode, Mode::ALL, Mode::as_str)?;
        let state_table = get("STATE_TABLE");
        if mode == Mode::Remediate && state_table.is_none() {
            return Err(Error::Config {
                key: "STATE_TABLE",
                message: "remediate mode needs the state table (the loop breaker and exactly-once effects live there)".to_string(),
            });
        }
        let (kube_api_endpoint_override, kube_ca_pem) = sandbox_overrides(&get)?;
        let function_role_arn = get("FUNCTION_ROLE_ARN");
        Ok(Config {
            mode,
            state_table,
            member_role_name: member_role(&get, function_role_arn.as_deref())?,
            function_role_arn,
            sns_topic_arn: topic_arn(&get, "SNS_TOPIC_ARN")?,
            chat_topic_arn: topic_arn(&get, "CHAT_TOPIC_ARN")?,
            grace_period: seconds(&get, "GRACE_PERIOD_SECONDS", d.grace_period, 0, 3600)?,
            poll_interval: seconds(&get, "POLL_INTERVAL_SECONDS", d.poll_interval, 1, 900)?,
            registration_check: choice(
                &get,
                "REGISTRATION_CHECK",
                d.registration_check,
                RegistrationCheck::ALL,
                RegistrationCheck::as_str,
            )?,
            cluster_allowlist: list(&get, "CLUSTER_ALLOWLIST"),
            recycle: choice(&get, "RECYCLE", d.recycle, Recycle::ALL, Recycle::as_str)?,
            allow_shared_route_tables: boolean(&get, "ALLOW_SHARED_ROUTE_TABLES", false)?,
            max_recycles_per_hour: whole(
                &get,
                "MAX_RECYCLES_PER_HOUR",
                d.max_recycles_per_hour,
                100,
            )?,
            max_replacing_percent: whole(
                &get,
                "MAX_REPLACING_PERCENT",
                d.max_replacing_percent,
                100,
            )?,
            kube_api_endpoint_override,
            kube_ca_pem,
        })
    }
}

fn boolean(
    get: &impl Fn(&str) -> Option<String>,
    key: &'static str,
    default: bool,
) -> Result<bool, Error> {
    match get(key).as_deref() {
        None => Ok(default),
        Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(invalid(key, other, "true or false")),
    }
}

fn whole(
    get: &impl Fn(&str) -> Option<String>,
    key: &'static str,
    default: u32,
    max: u32,
) -> Result<u32, Error> {
    match get(key) {
        None => Ok(default),
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| *n <= max)
            .ok_or_else(|| invalid(key, &v, &format!("a whole number from 0 to {max}"))),
    }
}

fn list(get: &impl Fn(&str) -> Option<String>, key: &str) -> Vec<String> {
    get(key)
        .map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

fn topic_arn(
    get: &impl Fn(&str) -> Option<String>,
    key: &'static str,
) -> Result<Option<String>, Error> {
    match get(key) {
        Some(arn) if !arn.starts_with("arn:") || arn.split(':').count() != 6 => {
            Err(invalid(key, &arn, "an SNS topic ARN"))
        }
        other => Ok(other),
    }
}

/// `MEMBER_ROLE_NAME`: an IAM role name; this function's own role ARN must say which account is its own.
fn member_role(
    get: &impl Fn(&str) -> Option<String>,
    function_role_arn: Option<&str>,
) -> Result<Option<String>, Error> {
    let Some(name) = get("MEMBER_ROLE_NAME") else {
        return Ok(None);
    };
    let valid = name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    if !valid {
        return Err(invalid("MEMBER_ROLE_NAME", &name, "an IAM role name"));
    }
    if function_role_arn.and_then(account_of).is_none() {
        return Err(Error::Config {
            key: "FUNCTION_ROLE_ARN",
            message: "MEMBER_ROLE_NAME needs this function's role ARN, which names its own account"
                .to_string(),
        });
    }
    Ok(Some(name))
}

/// `(partition, account)` of an ARN such as `arn:aws:iam::123456789012:role/name`.
pub fn account_of(arn: &str) -> Option<(&str, &str)> {
    let mut parts = arn.split(':');
    let (prefix, partition) = (parts.next()?, parts.next()?);
    let account = parts.nth(2)?;
    (prefix == "arn"
        && !partition.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit()))
    .then_some((partition, account))
}

impl Config {
    /// `(partition, account)` this function runs in, from its role ARN.
    pub fn home_account(&self) -> Option<(&str, &str)> {
        self.function_role_arn.as_deref().and_then(account_of)
    }
}

/// `KUBE_API_ENDPOINT_OVERRIDE` and the contents of `KUBE_CA_FILE` (local sandboxes only).
fn sandbox_overrides(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<(Option<String>, Option<String>), Error> {
    let endpoint = match get("KUBE_API_ENDPOINT_OVERRIDE") {
        Some(url) if !url.starts_with("https://") => {
            return Err(invalid(
                "KUBE_API_ENDPOINT_OVERRIDE",
                &url,
                "an https:// URL",
            ))
        }
        other => other.map(|u| u.trim_end_matches('/').to_string()),
    };
    let ca = match get("KUBE_CA_FILE") {
        None => None,
        Some(path) => Some(std::fs::read_to_string(&path).map_err(|e| Error::Config {
            key: "KUBE_CA_FILE",
            message: format!("cannot read {path}: {e}"),
        })?),
    };
    Ok((endpoint, ca))
}

fn seconds(
    get: &impl Fn(&str) -> Option<String>,
    key: &'static str,
    default: Duration,
    min: u64,
    max: u64,
) -> Result<Duration, Error> {
    match get(key) {
        None => Ok(default),
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .map(Duration::from_secs)
            .ok_or_else(|| invalid(key, &v, &format!("whole seconds from {min} to {max}"))),
    }
}

fn invalid(key: &'static str, value: &str, expected: &str) -> Error {
    Error::Config {
        key,
        message: format!("invalid value {value:?}: expected {expected}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, Error> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn empty_environment_gives_the_documented_defaults() {
        let c = config(&[]).expect("defaults are valid");
        assert_eq!(c.mode, Mode::Alert);
        assert_eq!(c.grace_period, Duration::from_secs(300));
        assert_eq!(c.poll_interval, Duration::from_secs(15));
        assert_eq!(c.registration_check, RegistrationCheck::Poll);
        assert_eq!(c.recycle, Recycle::Instance);
        assert!(!c.allow_shared_route_tables);
        assert_eq!(c.max_recycles_per_hour, 3);
        assert!(c.cluster_allowlist.is_empty());
        assert!(c.sns_topic_arn.is_none());
    }

    #[test]
    fn every_key_is_read() {
        let c = config(&[
            ("MODE", "remediate"),
            (
                "SNS_TOPIC_ARN",
                "arn:aws:sns:us-west-2:123456789012:reports",
            ),
            ("GRACE_PERIOD_SECONDS", "120"),
            ("POLL_INTERVAL_SECONDS", "5"),
            ("REGISTRATION_CHECK", "delayed-queue"),
            ("CLUSTER_ALLOWLIST", " eks-workshop, prod ,,"),
            ("RECYCLE", "nodegroup"),
            ("ALLOW_SHARED_ROUTE_TABLES", "true"),
            ("MAX_RECYCLES_PER_HOUR", "1"),
            ("MAX_REPLACING_PERCENT", "50"),
            ("STATE_TABLE", "remediator-state"),
            ("KUBE_API_ENDPOINT_OVERRIDE", "https://127.0.0.1:6443/"),
            ("CHAT_TOPIC_ARN", "arn:aws:sns:us-west-2:123456789012:chat"),
            ("MEMBER_ROLE_NAME", "eks-node-join-remediator-member"),
            (
                "FUNCTION_ROLE_ARN",
                "arn:aws:iam::123456789012:role/remediator-FunctionRole-ABC",
            ),
        ])
        .expect("valid");
        assert_eq!(
            c.chat_topic_arn.as_deref(),
            Some("arn:aws:sns:us-west-2:123456789012:chat")
        );
        assert_eq!(
            c.member_role_name.as_deref(),
            Some("eks-node-join-remediator-member")
        );
        assert_eq!(c.home_account(), Some(("aws", "123456789012")));
        assert_eq!(c.state_table.as_deref(), Some("remediator-state"));
        assert_eq!(c.max_replacing_percent, 50);
        assert_eq!(c.mode, Mode::Remediate);
        assert_eq!(c.grace_period, Duration::from_secs(120));
        assert_eq!(c.poll_interval, Duration::from_secs(5));
        assert_eq!(c.registration_check, RegistrationCheck::DelayedQueue);
        assert_eq!(c.cluster_allowlist, vec!["eks-workshop", "prod"]);
        assert_eq!(c.recycle, Recycle::Nodegroup);
        assert!(c.allow_shared_route_tables);
        assert_eq!(c.max_recycles_per_hour, 1);
        assert_eq!(
            c.kube_api_endpoint_override.as_deref(),
            Some("https://127.0.0.1:6443")
        );
    }

    #[test]
    fn remediate_mode_without_the_state_table_is_refused_naming_it() {
        let err = config(&[("MODE", "remediate")]).expect_err("no state table");
        assert!(err.to_string().contains("STATE_TABLE"), "{err}");
        assert!(config(&[]).is_ok(), "alert mode works without it");
    }

    #[test]
    fn invalid_values_name_the_key() {
        for (key, value) in [
            ("MODE", "fix-everything"),
            ("GRACE_PERIOD_SECONDS", "-1"),
            ("GRACE_PERIOD_SECONDS", "five"),
            ("POLL_INTERVAL_SECONDS", "0"),
            ("REGISTRATION_CHECK", "sometimes"),
            ("RECYCLE", "cluster"),
            ("ALLOW_SHARED_ROUTE_TABLES", "yes"),
            ("MAX_RECYCLES_PER_HOUR", "many"),
            ("MAX_REPLACING_PERCENT", "101"),
            ("SNS_TOPIC_ARN", "reports"),
            ("CHAT_TOPIC_ARN", "arn:aws:sns:chat"),
            ("MEMBER_ROLE_NAME", "role/with/path"),
            ("KUBE_API_ENDPOINT_OVERRIDE", "http://127.0.0.1:6443"),
            ("KUBE_CA_FILE", "/nonexistent/ca.pem"),
        ] {
            let err = config(&[(key, value)]).expect_err(key);
            assert!(
                err.to_string().contains(key),
                "{key}={value} gave {err}, which does not name the key"
            );
        }
    }

    #[test]
    fn member_accounts_need_this_functions_own_account() {
        let err = config(&[("MEMBER_ROLE_NAME", "member")]).expect_err("no home account");
        assert!(err.to_string().contains("FUNCTION_ROLE_ARN"), "{err}");
        assert_eq!(
            account_of("arn:aws-cn:iam::111122223333:role/x"),
            Some(("aws-cn", "111122223333"))
        );
        assert_eq!(account_of("arn:aws:iam::1111:role/x"), None);
    }
}
