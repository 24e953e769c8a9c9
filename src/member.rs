//! The clients an event acts through. Its account and Region are decided in `scope`; clients of another
//! account or Region are built here once per container and kept, with the same timeouts as the
//! function's own (`context::timeouts`), through that account's member role (`sts:AssumeRole`, checked
//! once when the clients are built), its credentials cached until shortly before they expire: the SDK
//! calls and the EKS token both use them.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::sts::AssumeRoleProvider;
use aws_config::Region;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{self, future, ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_smithy_types::error::display::DisplayErrorContext;
use tokio::sync::Mutex;

use crate::context::{App, Clients, Scoped};
use crate::error::{Error, Result};
use crate::event::Origin;
use crate::scope::{reach, Home, Reach};

/// The session name member accounts see in CloudTrail.
const SESSION_NAME: &str = "eks-node-join-remediator";
/// Assumed credentials are renewed this long before they expire.
const RENEW_BEFORE: Duration = Duration::from_secs(300);
/// What STS says when the role may not be assumed (retrying cannot help).
const REFUSALS: &[&str] = &[
    "AccessDenied",
    "is not authorized to perform",
    "InvalidClientTokenId",
    "RegionDisabled",
    "NoSuchEntity",
];

/// The clients and the durable state of the event's account and Region.
pub async fn scoped(app: &App, origin: &Origin) -> Result<Scoped> {
    let home = Home {
        account: app.config.home_account(),
        region: &app.clients.region,
        member_role: app.config.member_role_name.as_deref(),
    };
    let reach = reach(origin, home);
    let aws = clients_for(app, &reach).await?;
    let state = app.state.as_ref().map(|s| s.scoped(&reach.key_prefix()));
    Ok(Scoped { aws, state, reach })
}

/// The function's own clients, or those of the event's account and Region, built on first use.
async fn clients_for(app: &App, reach: &Reach) -> Result<Arc<Clients>> {
    let Some(key) = reach.cache_key() else {
        return Ok(app.clients.clone());
    };
    // Held while building: concurrent records of one account assume its role once.
    let mut reached = app.reached.lock().await;
    if let Some(clients) = reached.get(&key) {
        return Ok(clients.clone());
    }
    let clients = Arc::new(build(&app.clients, reach).await?);
    reached.insert(key, clients.clone());
    Ok(clients)
}

async fn build(home: &Clients, reach: &Reach) -> Result<Clients> {
    let (region, credentials) = match reach {
        Reach::Home => (&home.region, home.credentials.clone()),
        Reach::Member {
            region, role_arn, ..
        } => (region, assume(home, role_arn).await?),
    };
    rebuilt(home, region, credentials)
}

/// The function's own configuration, in `region`, with `credentials`.
fn rebuilt(
    home: &Clients,
    region: &str,
    credentials: SharedCredentialsProvider,
) -> Result<Clients> {
    let sdk = home
        .sdk
        .to_builder()
        .region(Region::new(region.to_string()))
        .credentials_provider(credentials)
        .build();
    Clients::new(&sdk)
}

/// The member role's credentials, fetched once now: a role that cannot be assumed fails this event
/// with a clear error instead of every call after it.
async fn assume(home: &Clients, role_arn: &str) -> Result<SharedCredentialsProvider> {
    let provider = AssumeRoleProvider::builder(role_arn)
        .configure(&home.sdk)
        .region(Region::new(home.region.clone()))
        .session_name(SESSION_NAME)
        .build()
        .await;
    let cached = Cached {
        inner: provider,
        current: Mutex::new(None),
    };
    cached
        .fetch()
        .await
        .map_err(|e| credentials("sts:AssumeRole", role_arn, &e))?;
    Ok(SharedCredentialsProvider::new(cached))
}

/// An assumed role's credentials that could not be had, as an AWS error that knows whether retrying
/// helps: a refusal does not, a timeout or an unreachable STS does.
fn credentials(operation: &'static str, role_arn: &str, e: &CredentialsError) -> Error {
    let message = DisplayErrorContext(e).to_string();
    let refused = matches!(e, CredentialsError::InvalidConfiguration(_))
        || REFUSALS.iter().any(|r| message.contains(r));
    let code = match (refused, e) {
        (true, _) => "AccessDenied",
        (false, CredentialsError::ProviderTimedOut(_)) => "timeout",
        (false, _) => "transport",
    };
    Error::Aws {
        operation,
        code: code.to_string(),
        message: format!("cannot assume {role_arn}: {message}"),
        retryable: !refused,
    }
}

/// Assumed-role credentials, kept until [`RENEW_BEFORE`] their expiry.
#[derive(Debug)]
struct Cached {
    inner: AssumeRoleProvider,
    current: Mutex<Option<Credentials>>,
}

impl Cached {
    async fn fetch(&self) -> provider::Result {
        let mut current = self.current.lock().await;
        if let Some(creds) = current.as_ref().filter(|c| fresh(c, SystemTime::now())) {
            return Ok(creds.clone());
        }
        let creds = self.inner.provide_credentials().await?;
        *current = Some(creds.clone());
        Ok(creds)
    }
}

fn fresh(creds: &Credentials, now: SystemTime) -> bool {
    creds.expiry().is_none_or(|e| e > now + RENEW_BEFORE)
}

impl ProvideCredentials for Cached {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.fetch())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expiring_in(secs: u64, now: SystemTime) -> Credentials {
        Credentials::new(
            "a",
            "b",
            Some("t".into()),
            Some(now + Duration::from_secs(secs)),
            "t",
        )
    }

    #[test]
    fn assumed_credentials_are_renewed_five_minutes_before_they_expire() {
        let now = SystemTime::now();
        assert!(fresh(&expiring_in(3600, now), now));
        assert!(!fresh(&expiring_in(299, now), now));
        assert!(fresh(&Credentials::new("a", "b", None, None, "t"), now));
    }

    #[test]
    fn a_refused_role_is_not_retried_and_an_unreachable_sts_is() {
        let denied = CredentialsError::provider_error(
            "AccessDenied: User: arn:aws:sts::1:assumed-role/f/x is not authorized to perform: sts:AssumeRole",
        );
        let e = credentials("sts:AssumeRole", "arn:aws:iam::2:role/m", &denied);
        assert!(!e.is_retryable(), "{e}");
        assert!(e.to_string().contains("arn:aws:iam::2:role/m"), "{e}");
        let timeout = CredentialsError::provider_timed_out(Duration::from_secs(5));
        assert!(credentials("sts:AssumeRole", "r", &timeout).is_retryable());
        let dispatch = CredentialsError::provider_error("dispatch failure: connection refused");
        assert!(credentials("sts:AssumeRole", "r", &dispatch).is_retryable());
    }
}
