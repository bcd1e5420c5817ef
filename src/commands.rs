//! The subcommands other than `serve`: `migrate`, `catalog import`, `eval routing`,
//! `demo credentials`, `principals new-key`.

use std::{borrow::Cow, time::Instant};

use anyhow::{Context as _, bail};

use crate::{
    auth,
    catalog::{Snapshot, eval, import},
    config::{CatalogFiles, DatabaseArgs, EvalRoutingArgs, ImportArgs, OutputFormat},
    store::{Backend, CatalogStore as _, ImportMode, SchemaStatus, SchemaStore as _, Store},
};

/// `migrate`: applies the migrations the database lacks.
pub async fn migrate(args: DatabaseArgs) -> anyhow::Result<()> {
    let store = Store::connect(&args.database_url, &args.pool_settings()).await?;
    let before = store.schema_status().await?;
    store.migrate().await?;
    if before == SchemaStatus::Current {
        tracing::info!("the schema was already current; nothing to apply");
    } else {
        tracing::info!("migrations applied; the schema is current");
    }
    store.close().await;
    Ok(())
}

/// The source files: given paths, or the copies built into the binary.
type Bytes = Cow<'static, [u8]>;

fn read_sources(files: &CatalogFiles) -> anyhow::Result<(Bytes, Bytes, Bytes)> {
    let read =
        |path: &Option<std::path::PathBuf>, builtin: &'static [u8]| -> anyhow::Result<Bytes> {
            match path {
                Some(path) => std::fs::read(path)
                    .map(Cow::Owned)
                    .with_context(|| format!("cannot read {}", path.display())),
                None => Ok(Cow::Borrowed(builtin)),
            }
        };
    Ok((
        read(&files.services, import::BUILTIN.services_csv)?,
        read(&files.standards, import::BUILTIN.standards_csv)?,
        read(&files.overlay, import::BUILTIN.overlay_json)?,
    ))
}

fn build_catalog(
    files: &CatalogFiles,
) -> anyhow::Result<(crate::domain::catalog::Catalog, import::ImportReport)> {
    let (services, standards, overlay) = read_sources(files)?;
    let sources = import::Sources {
        services_csv: &services,
        standards_csv: &standards,
        overlay_json: &overlay,
    };
    Ok(import::build(sources)?)
}

/// `catalog import`: builds the catalogue from the files and stores it in one transaction.
pub async fn catalog_import(args: ImportArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    eprintln!("[1/3] reading and checking the catalogue files");
    let (catalog, report) = build_catalog(&args.files)?;
    let standards: usize = catalog.services.iter().map(|s| s.standards.len()).sum();
    eprintln!(
        "      {} agencies, {} services, {} standards, {} life events ({:.1?})",
        catalog.agencies.len(),
        catalog.services.len(),
        standards,
        catalog.life_events.len(),
        started.elapsed()
    );
    for line in report.anomalies() {
        eprintln!("      report: {line}");
    }
    if args.dry_run {
        eprintln!("dry run: nothing written");
        return Ok(());
    }
    eprintln!("[2/3] connecting to the database");
    let store = Store::connect(&args.database.database_url, &args.database.pool_settings()).await?;
    match (store.backend(), store.schema_status().await?) {
        (_, SchemaStatus::Current) => {}
        (Backend::Sqlite, SchemaStatus::Empty | SchemaStatus::Behind { .. }) => {
            store.migrate().await?
        }
        (_, status) => bail!("{status}"),
    }
    eprintln!("[3/3] storing in one transaction");
    let outcome = store.import_catalog(&catalog, ImportMode::Replace).await?;
    store.close().await;
    if outcome.changed {
        eprintln!(
            "done: catalogue generation {} ({} services stored, {} retired) in {:.1?}; running servers swap it in at their next poll",
            outcome.generation,
            outcome.services,
            outcome.retired_services,
            started.elapsed()
        );
    } else {
        eprintln!(
            "done: the catalogue is unchanged (generation {}); nothing written",
            outcome.generation
        );
    }
    Ok(())
}

/// `eval routing`: scores the catalogue search against a labelled file.
pub fn eval_routing(args: &EvalRoutingArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let items = eval::parse_items(&text)
        .with_context(|| format!("{} is not valid JSON lines", args.file.display()))?;
    let (catalog, _) = build_catalog(&args.files)?;
    let snapshot = Snapshot::build(1, catalog)?;
    println!("{}", eval::evaluate(&snapshot, &items)?);
    Ok(())
}

/// One line of `demo credentials`: a principal and its key; a portal's line also names the demo
/// citizen it acts for and that citizen's token.
#[derive(Debug, serde::Serialize)]
struct DemoLine {
    principal: &'static str,
    kind: &'static str,
    token: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    citizen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    citizen_token: Option<String>,
}

/// `demo credentials`: prints the demo principals and their keys, and for the demo portal one
/// line per demo citizen with a citizen token from the demo identity provider (whose key is in
/// the key file beside the database, created if missing).
pub fn demo_credentials(format: OutputFormat, database: &DatabaseArgs) -> anyhow::Result<()> {
    let secrets = database.secrets()?;
    let idp = secrets.demo_identity_provider_key.context(
        "the key file has no demo_identity_provider_key; the demo identity provider needs one",
    )?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let mut lines = Vec::new();
    for c in auth::demo::CREDENTIALS {
        let base = || DemoLine {
            principal: c.principal,
            kind: c.kind.as_str(),
            token: c.token,
            citizen: None,
            citizen_token: None,
        };
        if c.kind == crate::domain::principal::PrincipalKind::Portal {
            for citizen in auth::demo::CITIZENS {
                lines.push(DemoLine {
                    citizen: Some(format!("citizens/{}", citizen.id)),
                    citizen_token: Some(auth::demo::citizen_token(&idp, citizen.subject, now)),
                    ..base()
                });
            }
        } else {
            lines.push(base());
        }
    }
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&lines)?),
        OutputFormat::Text => {
            println!("{:<42} {:<14} token", "principal", "kind");
            for l in &lines {
                println!("{:<42} {:<14} {}", l.principal, l.kind, l.token);
                if let (Some(citizen), Some(token)) = (&l.citizen, &l.citizen_token) {
                    println!("    for {citizen}: x-citizen-token {token}");
                }
            }
            println!(
                "\nSend a token as `authorization: Bearer <token>`; a portal also sends `x-citizen-token: <citizen token>`. Accepted only by a server on a loopback address without a principals file, using the same database (its key file holds the demo identity provider's key); citizen tokens are valid for 30 days."
            );
        }
    }
    Ok(())
}

/// `principals new-key`: a random API key and the principals-file entry for its hash.
pub fn principals_new_key(name: &str, officer: Option<&str>) -> anyhow::Result<()> {
    crate::domain::principal::Principal::parse(name, officer)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no random source: {e}"))?;
    let key = format!("sw_{}", auth::to_hex(&bytes));
    let entry = auth::PrincipalEntry {
        name: name.to_owned(),
        officer: officer.map(str::to_owned),
        api_key_sha256: vec![auth::to_hex(&auth::hash_key(&key))],
        certificate_sha256: Vec::new(),
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({ "token": key, "entry": entry }))?
    );
    eprintln!(
        "Add `entry` to the principals file's `principals`; give `token` to its holder. It is not stored anywhere."
    );
    Ok(())
}
