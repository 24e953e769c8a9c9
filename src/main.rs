//! Lambda entry point: wiring only. Configuration and AWS clients are built once, then every invocation
//! goes to [`handler::handle`].

use std::sync::Arc;

use eks_node_join_remediator::config::Config;
use eks_node_join_remediator::context::{App, Clients};
use eks_node_join_remediator::handler;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time()
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
