//! JSON logs, one span per instance. The level comes from Lambda's advanced logging controls
//! (`AWS_LAMBDA_LOG_LEVEL`), then `RUST_LOG` (`level` or `target=level,…`, read by `Targets`: no regex
//! engine in a 128 MB function), else `info`.

use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The filter for the given `AWS_LAMBDA_LOG_LEVEL` and `RUST_LOG` values.
pub fn filter(lambda_level: Option<&str>, rust_log: Option<&str>) -> Targets {
    let lambda = lambda_level.and_then(|v| match v.trim().to_ascii_uppercase().as_str() {
        "TRACE" => Some(Level::TRACE),
        "DEBUG" => Some(Level::DEBUG),
        "INFO" => Some(Level::INFO),
        "WARN" => Some(Level::WARN),
        "ERROR" | "FATAL" => Some(Level::ERROR),
        _ => None,
    });
    match (lambda, rust_log.and_then(|v| v.parse::<Targets>().ok())) {
        (Some(level), _) => Targets::new().with_default(level),
        (None, Some(targets)) => targets,
        (None, None) => Targets::new().with_default(Level::INFO),
    }
}

pub fn init() {
    let lambda_level = std::env::var("AWS_LAMBDA_LOG_LEVEL").ok();
    let rust_log = std::env::var("RUST_LOG").ok();
    tracing_subscriber::fmt()
        .json()
        .with_max_level(Level::TRACE)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        .finish()
        .with(filter(lambda_level.as_deref(), rust_log.as_deref()))
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::level_filters::LevelFilter;

    #[test]
    fn lambda_log_level_wins_over_rust_log_and_info_is_the_default() {
        let max = |t: Targets| t.default_level();
        assert_eq!(
            max(filter(Some("DEBUG"), Some("error"))),
            Some(LevelFilter::DEBUG)
        );
        assert_eq!(max(filter(Some("FATAL"), None)), Some(LevelFilter::ERROR));
        assert_eq!(max(filter(None, Some("warn"))), Some(LevelFilter::WARN));
        assert_eq!(max(filter(Some("loud"), None)), Some(LevelFilter::INFO));
        assert_eq!(max(filter(None, None)), Some(LevelFilter::INFO));
    }
}
