//! The `single-window` binary: parse the command line, start logging, run the command.

use clap::Parser as _;
use single_window::{
    commands,
    config::{CatalogCommand, Cli, Command, DemoCommand, EvalCommand, PrincipalsCommand},
    shutdown,
    startup::Application,
    telemetry,
};

fn main() -> std::process::ExitCode {
    return_large_buffers_to_the_os();
    one_thread_per_encoding();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("single-window: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // The OTLP exporters, when configured, run on this runtime: start them inside it, and flush
    // them before it stops.
    let telemetry = {
        let _runtime = runtime.enter();
        telemetry::init(cli.log_format)
    };
    let result = runtime.block_on(run(cli));
    drop(telemetry);
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

/// Makes buffers of 256 KiB and more (encoded pages, request messages) come from `mmap`, so that
/// memory pinned by slow clients goes back to the operating system once they leave. Without it
/// glibc raises its threshold after the first such buffer is freed and keeps the memory in its
/// heaps (measured in BENCHMARKS.md: +102 MiB kept after 2,000 slow readers left, against 0).
fn return_large_buffers_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only sets an allocator parameter; it runs before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}

/// Makes each sentence encoding run on the one thread that asked for it: the server bounds how
/// many run at once (`--routing-concurrency`), and the encoder's own thread pool would otherwise
/// spread each small encoding over every core (and pin its threads to them).
fn one_thread_per_encoding() {
    for name in ["RAYON_NUM_THREADS", "CANDLE_NUM_THREADS"] {
        if std::env::var_os(name).is_none() {
            // SAFETY: no other thread exists yet, so nothing reads the environment concurrently.
            unsafe { std::env::set_var(name, "1") };
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
        Some(Command::Catalog(CatalogCommand::Vectors(args))) => commands::catalog_vectors(&args),
        Some(Command::Eval(EvalCommand::Routing(args))) => commands::eval_routing(&args),
        Some(Command::Demo(DemoCommand::Credentials { format, database })) => {
            commands::demo_credentials(format, &database)
        }
        Some(Command::Demo(DemoCommand::Simulate {
            seed,
            citizens,
            requests,
            quarters,
            database,
        })) => commands::demo_simulate(seed, (citizens, requests, quarters), database).await,
        Some(Command::Principals(PrincipalsCommand::NewKey { name, officer })) => {
            commands::principals_new_key(&name, officer.as_deref())
        }
        Some(Command::Audit(command)) => commands::audit(command).await,
        Some(Command::Keys(command)) => commands::keys(command).await,
        Some(Command::Report(command)) => commands::report(command).await,
    }
}

async fn serve(args: single_window::config::ServeArgs) -> anyhow::Result<()> {
    Application::build(args)
        .await?
        .run_until_stopped(shutdown::signal())
        .await?;
    Ok(())
}
