//! The subcommands other than `serve`: `migrate`, `catalog import`, `catalog vectors`,
//! `eval routing`, `demo credentials`, `principals new-key`.

use std::{borrow::Cow, io::Write as _, time::Instant};

use anyhow::{Context as _, bail};

use crate::{
    audit::export::{self, Export},
    auth,
    catalog::{Snapshot, eval, import},
    config::{
        AuditCommand, CatalogFiles, DatabaseArgs, EvalRoutingArgs, ImportArgs, KeysCommand,
        OutputFormat, ReportCommand, VectorsArgs,
    },
    records::{self, RecordsConfig},
    routing::{
        Weights,
        encoder::Encoders,
        knowledge::Knowledge,
        vectors::{self, Quantized, VectorTable},
    },
    secrets::KeyFile,
    store::{
        Backend, CatalogStore as _, ImportMode, SchemaStatus, SchemaStore as _, Store, citizen_sql,
    },
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

/// `eval routing`: scores RouteNeed (or the catalogue search alone) against a labelled file;
/// the French items are scored again on their own.
pub fn eval_routing(args: &EvalRoutingArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let items = eval::parse_items(&text)
        .with_context(|| format!("{} is not valid JSON lines", args.file.display()))?;
    let (catalog, _) = build_catalog(&args.files)?;
    let snapshot = Snapshot::build(1, catalog)?;
    let weights = match &args.weights {
        Some(spec) => parse_weights(spec)?,
        None => Weights::default(),
    };
    let encoders = (!args.search_only).then(|| Encoders::load(1));
    let mut answered = Vec::with_capacity(items.len());
    for item in &items {
        let answers = match &encoders {
            Some(encoders) => eval::answer_by_routing(&snapshot, encoders, &weights, item)?,
            None => eval::answer_by_search(&snapshot, item)?,
        };
        answered.push((item, answers));
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", eval::score(&answered))?;
    let french: Vec<_> = answered
        .iter()
        .filter(|(item, _)| eval::is_french(item))
        .cloned()
        .collect();
    writeln!(out, "french: {}", eval::score(&french))?;
    if args.misses {
        for (item, answers) in answered.iter().filter(|(i, a)| eval::missed(i, a)) {
            writeln!(
                out,
                "miss {}: {}\n  want {:?} {:?}",
                item.id, item.need, item.accept_service_ids, item.accept_orgs
            )?;
            for (id, agency) in answers.iter().take(3) {
                let name = snapshot.service(id).map_or("", |s| s.name.en.as_str());
                writeln!(out, "  got {id} ({agency}) {name}")?;
            }
        }
    }
    Ok(())
}

fn parse_weights(spec: &str) -> anyhow::Result<Weights> {
    let mut w = Weights::default();
    for pair in spec.split(',').filter(|p| !p.trim().is_empty()) {
        let (name, value) = pair
            .split_once('=')
            .with_context(|| format!("`{pair}` is not name=value"))?;
        let value: f64 = value.trim().parse().with_context(|| format!("`{pair}`"))?;
        match name.trim() {
            "k" => w.k = value,
            "lexical" => w.lexical = value,
            "plain" => w.plain = value,
            "semantic" => w.semantic = value,
            "semantic_french" => w.semantic_french = value,
            "lexical_gap" => w.lexical_gap = value,
            "life_event" => w.life_event = value,
            "audience_miss" => w.audience_miss = value,
            "audience_guess" => w.audience_guess = value,
            "audience_internal" => w.audience_internal = value,
            "expansion" => w.expansion = value as f32,
            other => anyhow::bail!("unknown weight `{other}`"),
        }
    }
    Ok(w)
}

/// `catalog vectors`: computes (or checks) the shipped service vectors.
pub fn catalog_vectors(args: &VectorsArgs) -> anyhow::Result<()> {
    let (catalog, _) = import::build(import::BUILTIN)?;
    let knowledge = Knowledge::builtin().map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut texts: Vec<String> = catalog
        .services
        .iter()
        .filter(|s| !s.retired)
        .flat_map(|s| vectors::texts(s, knowledge.service(&s.id)))
        .collect();
    texts.sort();
    texts.dedup();
    let wanted: std::collections::BTreeSet<u64> = texts.iter().map(|t| vectors::key(t)).collect();
    let existing = std::fs::read(&args.output)
        .ok()
        .and_then(|bytes| VectorTable::parse(&bytes).ok())
        .filter(|t| t.identity == vectors::model_identity())
        .unwrap_or_default();
    let have: std::collections::BTreeSet<u64> = existing.vectors.keys().copied().collect();
    if args.check {
        let missing = wanted.difference(&have).count();
        let stale = have.difference(&wanted).count();
        if missing > 0 || stale > 0 {
            anyhow::bail!(
                "{} is out of date: {missing} texts lack a vector and {stale} vectors match no text; run `single-window catalog vectors`",
                args.output.display()
            );
        }
        eprintln!(
            "{} is current: {} vectors",
            args.output.display(),
            have.len()
        );
        return Ok(());
    }
    let encoders = Encoders::load(1);
    let todo: Vec<String> = texts
        .iter()
        .filter(|t| !have.contains(&vectors::key(t)))
        .cloned()
        .collect();
    let started = Instant::now();
    let encoded = encoders.encode_all(&todo)?;
    let mut table = VectorTable {
        identity: vectors::model_identity(),
        dimensions: pocket_encoder::model_info().dimensions,
        vectors: existing.vectors,
    };
    table.vectors.retain(|k, _| wanted.contains(k));
    for (text, vector) in todo.iter().zip(encoded) {
        table
            .vectors
            .insert(vectors::key(text), Quantized::of(&vector));
    }
    std::fs::write(&args.output, table.write())
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    eprintln!(
        "wrote {}: {} vectors ({} encoded in {:.1?})",
        args.output.display(),
        table.vectors.len(),
        todo.len(),
        started.elapsed()
    );
    Ok(())
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
    let lines = auth::demo::credential_lines(&idp, now);
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

/// A store for a command that works on records: connected, with a current schema. It waits up to
/// half a minute for a SQLite database that running servers are writing to.
async fn records_store(database: &DatabaseArgs) -> anyhow::Result<Store> {
    let settings = crate::store::PoolSettings {
        busy_timeout: std::time::Duration::from_secs(30),
        ..database.pool_settings()
    };
    let store = Store::connect(&database.database_url, &settings).await?;
    match store.schema_status().await? {
        SchemaStatus::Current => Ok(store),
        status => bail!("{status}"),
    }
}

/// `audit export`, `audit verify`, `audit public-key`.
pub async fn audit(command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Export {
            citizen,
            out,
            log_origin,
            database,
        } => {
            let citizen = citizen
                .map(|name| crate::domain::names::parse(&name, "citizens"))
                .transpose()
                .map_err(|e| anyhow::anyhow!("--citizen {e}"))?;
            let config = RecordsConfig {
                secrets: std::sync::Arc::new(database.secrets()?),
                log_origin,
            };
            let store = records_store(&database).await?;
            let export = records::log::export(&store, &config, citizen).await;
            store.close().await;
            let json = serde_json::to_string_pretty(&export?)?;
            match out {
                Some(path) => {
                    std::fs::write(&path, json)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    eprintln!("wrote {}", path.display());
                }
                None => println!("{json}"),
            }
            Ok(())
        }
        AuditCommand::Verify {
            file,
            verifier_key,
            kept_checkpoint,
        } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let export: Export = serde_json::from_str(&text)
                .with_context(|| format!("{} is not an access log export", file.display()))?;
            let kept = kept_checkpoint
                .map(|path| {
                    std::fs::read_to_string(&path)
                        .with_context(|| format!("cannot read {}", path.display()))
                })
                .transpose()?;
            if verifier_key.is_none() {
                eprintln!(
                    "note: no --verifier-key given; checking against the key in the file, which proves the file consistent with itself only"
                );
            }
            let key = verifier_key.unwrap_or_else(|| export.verifier_key.clone());
            let verified = export::verify(&export, &key, kept.as_deref())
                .map_err(|problem| anyhow::anyhow!("verification FAILED: {problem}"))?;
            println!(
                "verified: {} events proven in the signed tree of {} leaves{}",
                verified.proven,
                verified.tree_size,
                if verified.pending > 0 {
                    format!(" ({} newer events not yet in it)", verified.pending)
                } else {
                    String::new()
                }
            );
            Ok(())
        }
        AuditCommand::PublicKey {
            log_origin,
            database,
        } => {
            let secrets = database.secrets()?;
            println!(
                "{}",
                crate::audit::checkpoint::verifier_key(
                    &log_origin,
                    &secrets.log_signing_key.verifying_key()
                )
            );
            Ok(())
        }
    }
}

/// `keys rotate`, `keys reseal`, `keys reindex`.
pub async fn keys(command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Rotate { id, database } => {
            let path = database.keys_path()?;
            let mut file = KeyFile::read(&path)?;
            file.rotate(&id)?;
            file.secrets()?;
            file.write(&path)?;
            eprintln!(
                "`{id}` now seals new values; run `single-window keys reseal` to move existing ones to it"
            );
            Ok(())
        }
        KeysCommand::Reseal { database } => {
            let keys = database.secrets()?.keyring;
            let store = records_store(&database).await?;
            let changed = store
                .write(keys, |tx, keys| {
                    Box::pin(citizen_sql::rekey(tx, keys, keys, false))
                })
                .await;
            store.close().await;
            eprintln!(
                "re-sealed {} identifiers with `{}`; keep the older sealing keys in the key file: form answers, survey comments and kept retry answers sealed with them are not re-sealed",
                changed?,
                database.secrets()?.keyring.current_key_id()
            );
            Ok(())
        }
        KeysCommand::Reindex { database } => {
            let path = database.keys_path()?;
            let mut file = KeyFile::read(&path)?;
            let old = file.secrets()?.keyring;
            let new = old.with_index_key(file.new_blind_index_key()?);
            // The new file is kept beside the old one until the database is re-indexed.
            let next = path.with_extension("next.json");
            file.write(&next)?;
            let store = records_store(&database).await?;
            let changed = store
                .write((old, new), |tx, (old, new)| {
                    Box::pin(citizen_sql::rekey(tx, old, new, true))
                })
                .await;
            store.close().await;
            let changed = changed
                .with_context(|| format!("nothing changed; {} can be removed", next.display()))?;
            std::fs::rename(&next, &path).with_context(|| {
                format!(
                    "the database is re-indexed: move {} to {} now",
                    next.display(),
                    path.display()
                )
            })?;
            eprintln!("re-indexed {changed} identifiers with a new blind-index key");
            Ok(())
        }
    }
}

/// `report export`.
pub async fn report(command: ReportCommand) -> anyhow::Result<()> {
    let ReportCommand::Export {
        quarter,
        fiscal,
        agency,
        out,
        minimum_respondents,
        time_zone,
        database,
    } = command;
    let agency = agency
        .map(|name| crate::domain::names::parse(&name, "agencies"))
        .transpose()
        .map_err(|e| anyhow::anyhow!("--agency {e}"))?;
    let store = records_store(&database).await?;
    let (generation, catalog) = store.load_catalog().await?;
    let snapshot = Snapshot::build(generation, catalog).ok();
    let minimum = i64::try_from(minimum_respondents).unwrap_or(i64::MAX);
    let report = crate::grpc::feedback::public_report(
        &store,
        snapshot.as_ref(),
        (&quarter, fiscal),
        agency,
        (minimum, time_zone),
    )
    .await;
    store.close().await;
    let report = report?;
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let label = if fiscal {
        format!("FY{}", quarter.to_uppercase())
    } else {
        report.quarter.clone()
    };
    let csv_path = out.join(format!("cx-{label}.csv"));
    let json_path = out.join(format!("cx-{label}.json"));
    std::fs::write(&csv_path, crate::grpc::feedback::export::csv(&report)?)
        .with_context(|| format!("cannot write {}", csv_path.display()))?;
    std::fs::write(
        &json_path,
        serde_json::to_string_pretty(&crate::grpc::feedback::export::json(&report))?,
    )
    .with_context(|| format!("cannot write {}", json_path.display()))?;
    let suppressed = report.rows.iter().filter(|r| r.suppression != 0).count();
    eprintln!(
        "wrote {} and {}: {} rows ({} suppressed), {} actions taken, quarter {} (fiscal {})",
        csv_path.display(),
        json_path.display(),
        report.rows.len(),
        suppressed,
        report.actions.len(),
        report.quarter,
        report.fiscal_quarter
    );
    Ok(())
}

/// `demo simulate`.
pub async fn demo_simulate(
    seed: u64,
    (citizens, requests, quarters): (usize, usize, u32),
    database: DatabaseArgs,
) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let summary = crate::simulate::run(crate::simulate::Options {
        seed,
        citizens,
        requests,
        quarters,
        database,
    })
    .await?;
    eprintln!(
        "simulated {} to {} in {:.0?}: {} citizens, {} requests, {} legs completed, {} declined, {} survey responses, {} warning changes ({} acknowledged)",
        summary.first_quarter,
        summary.last_quarter,
        started.elapsed(),
        summary.citizens,
        summary.requests,
        summary.legs_completed,
        summary.legs_declined,
        summary.responses,
        summary.warnings_raised,
        summary.warnings_acknowledged
    );
    Ok(())
}
