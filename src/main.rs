//! Lambda entry point: wiring only. Logging, configuration and AWS clients are set up once, then every
//! invocation goes to the handler.

use std::sync::Arc;

use eks_node_join_remediator::{handle, logging, sdk, App, Clients, Config};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    logging::init();
    let config = Config::from_env()?;
    let (sdk, roots) = sdk::load().await;
    let clients = Clients::new(&sdk)?;
    tracing::info!(mode = %config.mode, registration_check = %config.registration_check, recycle = %config.recycle, trust = %roots, "started");
    let app = Arc::new(App::new(config, clients));

    run(service_fn(move |event: LambdaEvent<Value>| {
        let app = app.clone();
        async move { handle(app, event).await }
    }))
    .await
}
