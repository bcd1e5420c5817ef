//! Command line and environment configuration.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::store::PoolSettings;

/// single-window: a no-wrong-door gRPC service through which government agencies share a catalogue
/// of services, service standards and life events.
///
/// Without a subcommand it serves (`serve`). The default database is a SQLite file in the working
/// directory, created, migrated and loaded with the built-in Government of Canada catalogue on
/// first start.
#[derive(Debug, Parser)]
#[command(
    name = "single-window",
    version,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// Log format: `auto` is human-readable (coloured on a terminal), `json` one JSON object a line.
    #[arg(long, env = "SINGLE_WINDOW_LOG_FORMAT", value_enum, default_value_t = LogFormat::Auto, global = true)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub serve: ServeArgs,
}

/// How logs are written (to standard error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable; coloured when standard error is a terminal.
    Auto,
    /// One JSON object per line.
    Json,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve gRPC (the default).
    Serve(ServeArgs),
    /// Apply database migrations, then exit. Needed before `serve` on PostgreSQL; SQLite migrates
    /// itself.
    Migrate(DatabaseArgs),
    /// Catalogue administration.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Evaluations.
    #[command(subcommand)]
    Eval(EvalCommand),
}

/// Catalogue administration.
#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Import a catalogue into the database in one transaction. Idempotent: importing the same
    /// files again changes nothing. Services missing from the files are retired, never deleted.
    /// Running servers pick up the new catalogue within their poll interval.
    Import(ImportArgs),
}

/// Evaluations.
#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Score routing against a labelled JSON-lines file (`{"id", "need", "accept_service_ids",
    /// "accept_orgs"}` per line) using the catalogue search, and print
    /// `n=.. top1_agency=.. top3_service=.. mrr5=..`.
    Routing(EvalRoutingArgs),
}

/// The database to use.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Database URL: `sqlite://PATH` (embedded file, created if missing) or
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://single-window.db",
        hide_env_values = true
    )]
    pub database_url: String,

    /// Maximum database connections.
    #[arg(
        long,
        env = "SINGLE_WINDOW_DATABASE_MAX_CONNECTIONS",
        default_value_t = 8
    )]
    pub database_max_connections: u32,

    /// How long a database operation waits for a free connection before failing (`500ms`, `5s`,
    /// `1m`). Catalogue calls never wait on it: they are answered from memory.
    #[arg(long, env = "SINGLE_WINDOW_DATABASE_ACQUIRE_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub database_acquire_timeout: Duration,
}

impl DatabaseArgs {
    /// Pool settings for these arguments.
    pub fn pool_settings(&self) -> PoolSettings {
        PoolSettings {
            max_connections: self.database_max_connections,
            acquire_timeout: self.database_acquire_timeout,
            ..PoolSettings::default()
        }
    }
}

/// Settings of `serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the bound address is logged).
    #[arg(long, env = "SINGLE_WINDOW_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,

    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Browser origins allowed to call through gRPC-Web (comma-separated, for example
    /// `https://portal.example.ca`); `*` allows any origin. Empty allows none.
    #[arg(
        long,
        env = "SINGLE_WINDOW_CORS_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_allowed_origins: Vec<String>,

    /// How often to check the database for a newer catalogue and swap it in.
    #[arg(long, env = "SINGLE_WINDOW_CATALOG_POLL_INTERVAL", default_value = "30s", value_parser = parse_positive_duration)]
    pub catalog_poll_interval: Duration,

    /// On SIGTERM or SIGINT, how long calls in flight may finish before the server stops anyway.
    #[arg(long, env = "SINGLE_WINDOW_SHUTDOWN_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,
}

/// Settings of `catalog import`.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,

    #[command(flatten)]
    pub files: CatalogFiles,

    /// Read and check the files and print the report, without writing to the database.
    #[arg(long)]
    pub dry_run: bool,
}

/// Catalogue source files; each defaults to the copy built into the binary.
#[derive(Debug, Clone, Args)]
pub struct CatalogFiles {
    /// Service Inventory CSV (the `si_*.csv` format of the GC Service Inventory).
    #[arg(long, value_name = "FILE")]
    pub services: Option<PathBuf>,

    /// Service Standards CSV (the `ss_*.csv` format).
    #[arg(long, value_name = "FILE")]
    pub standards: Option<PathBuf>,

    /// Overlay JSON: life events, delivery partners and keywords.
    #[arg(long, value_name = "FILE")]
    pub overlay: Option<PathBuf>,
}

/// Settings of `eval routing`.
#[derive(Debug, Clone, Args)]
pub struct EvalRoutingArgs {
    /// The labelled JSON-lines file.
    pub file: PathBuf,

    #[command(flatten)]
    pub files: CatalogFiles,
}

/// Parses a duration above zero.
pub fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        Duration::ZERO => Err(format!("`{text}` must be above zero")),
        d => Ok(d),
    }
}

/// Parses `250ms`, `5s`, `2m` or `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a duration such as 500ms, 5s or 1m"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(value)),
        "s" => Ok(Duration::from_secs(value)),
        "m" => Ok(Duration::from_secs(value.saturating_mul(60))),
        "h" => Ok(Duration::from_secs(value.saturating_mul(3600))),
        _ => Err(format!(
            "`{text}` is not a duration such as 500ms, 5s or 1m"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations_and_refuses_garbage() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        for bad in ["", "5", "s", "-1s", "1.5s", "5 days"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert!(parse_positive_duration("0s").is_err());
        assert!(parse_positive_duration("0ms").is_err());
    }

    #[test]
    fn command_line_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }
}
