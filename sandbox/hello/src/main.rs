//! The smallest `lambda_runtime` function: echoes its event. `make bench` measures its init (process start
//! to the first `GET /2018-06-01/runtime/invocation/next`) next to the Lambda's, in the same run.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
