//! Logging: human-readable or JSON lines, filtered by `PORTAL_LOG` (default
//! `info`). Every line logged while serving a request carries its request id
//! through the request span.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::config::LogFormat;

/// Installs the global subscriber; later calls are ignored (tests).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_env("PORTAL_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,tower_http=warn,hyper=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.with_target(false).try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_span_events(FmtSpan::NONE)
            .try_init(),
    };
}
