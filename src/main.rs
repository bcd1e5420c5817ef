//! The `single-window` binary: parse the command line, start logging, run the command.

use clap::Parser as _;
use single_window::{
    commands,
    config::{CatalogCommand, Cli, Command, EvalCommand},
    shutdown,
    startup::Application,
    telemetry,
};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "cannot start the async runtime");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    // Work still running here (blocking tasks, connections already abandoned) must not hold the
    // process past the shutdown deadline.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "single-window failed");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        None => serve(cli.serve).await,
        Some(Command::Serve(args)) => serve(*args).await,
        Some(Command::Migrate(args)) => commands::migrate(args).await,
        Some(Command::Catalog(CatalogCommand::Import(args))) => {
            commands::catalog_import(args).await
        }
        Some(Command::Eval(EvalCommand::Routing(args))) => commands::eval_routing(&args),
    }
}

async fn serve(args: single_window::config::ServeArgs) -> anyhow::Result<()> {
    Application::build(args)
        .await?
        .run_until_stopped(shutdown::signal())
        .await?;
    Ok(())
}
