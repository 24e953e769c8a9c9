//! Lambda entry point: wiring only. Configuration and AWS clients are built once, then every invocation
//! goes to [`handler::handle`].

use std::sync::Arc;

use eks_node_join_remediator::config::Config;
use eks_node_join_remediator::context::{App, Clients};
use eks_node_join_remediator::handler;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // `RUST_LOG` as `level` or `target=level,…` (Targets: no regex engine in a 128 MB function).
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO));
    tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        .finish()
        .with(filter)
        .init();

    let config = Config::from_env()?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let clients = Clients::new(&sdk)?;
    tracing::info!(mode = ?config.mode, registration_check = ?config.registration_check, recycle = ?config.recycle, "started");
    let app = Arc::new(App::new(config, clients));

    run(service_fn(move |event: LambdaEvent<Value>| {
        let app = app.clone();
        async move { handler::handle(app, event).await }
    }))
    .await
}
