//! `privacy-portal`: the Clinic Privacy Portal server and its commands.

use std::process::ExitCode;

use clap::Parser as _;
use server::cli::{self, Cli};
use server::config::Config;

/// mimalloc instead of glibc's allocator: under the consent API's load the
/// many small per-request allocations cost glibc a tenth of the CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    server::telemetry::init(config.log_format);
    match cli::run(cli, config).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
