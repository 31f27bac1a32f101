//! Structured logs with tracing, to stderr (or a file): stdout is kept for
//! what scripts read (addresses, tokens, command output).

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line, for log shippers.
    Json,
    /// Human-readable lines.
    Pretty,
}

/// Installs the global subscriber, writing to stderr. `RUST_LOG` overrides
/// the default level (`info`; `RUST_LOG=debug` adds a line per request).
pub fn init(format: LogFormat) {
    // Colours on a terminal only: not as escape codes in a log file.
    install(format, std::io::stderr, std::io::stderr().is_terminal());
}

/// Installs the global subscriber, appending to the file at `path`: for
/// commands whose own output is meant to be watched (the demo's progress
/// lines), which log lines would interleave with.
pub fn init_to_file(format: LogFormat, path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    install(format, Arc::new(file), false);
    Ok(())
}

fn install<W>(format: LogFormat, writer: W, ansi: bool)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi);
    let result = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
    // A second init (tests) keeps the first subscriber.
    let _ = result;
}
