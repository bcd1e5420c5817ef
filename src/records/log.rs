//! The access log as a transparency log: the sequencer gives committed events their leaves in the
//! Merkle tree (RFC 9162) and signs a checkpoint of each new tree size (C2SP signed note); reads
//! return a citizen's events with inclusion proofs and consistency proofs between checkpoints.

use std::sync::Arc;

use ed25519_dalek::SigningKey;

use super::{Access, Acting, Caller, Toward, acting, citizens::Answer, record, toward};
use crate::{
    audit::{
        checkpoint::Checkpoint,
        merkle::{self, Hash},
    },
    domain::{
        access::{AccessEvent, Action, Outcome},
        consent::Categories,
        time::Timestamp,
    },
    error::AppError,
    store::{
        StoreResult, Tx,
        access_sql::{self, StoredCheckpoint},
        citizen_sql,
    },
};

/// Most events one sequencer run adds to the tree.
pub const SEQUENCE_BATCH: i64 = 10_000;

/// The leaf hash of an event.
pub fn leaf_hash(event: &AccessEvent) -> Hash {
    merkle::leaf_hash(event.leaf().as_bytes())
}

/// Input of [`sequence`].
pub struct Sequence {
    pub key: Arc<SigningKey>,
    pub origin: String,
    pub now: Timestamp,
}

/// Adds committed events to the tree and, when it grew (or has no checkpoint yet), signs and
/// stores a checkpoint of it. Returns the tree size.
pub async fn sequence(tx: &mut Tx, input: &Sequence) -> StoreResult<i64> {
    let (size, root) = access_sql::sequence_events(tx, SEQUENCE_BATCH, leaf_hash).await?;
    let latest = access_sql::latest_checkpoint(tx).await?;
    if size == 0 || latest.as_ref().is_some_and(|c| c.tree_size == size) {
        return Ok(size);
    }
    let checkpoint = Checkpoint {
        origin: input.origin.clone(),
        size: size as u64,
        root,
    };
    let stored = StoredCheckpoint {
        tree_size: size,
        root_hash: root,
        note: checkpoint.sign(&input.origin, &input.key),
    };
    access_sql::insert_checkpoint(tx, &stored, input.now).await?;
    Ok(size)
}

/// Input of [`note_listing`].
pub struct NoteListing {
    pub caller: Caller,
    pub citizen_id: String,
    pub now: Timestamp,
}

/// Records that the caller lists a citizen's access events (before they are read, so the listing
/// is itself in the log it returns). Allowed for the citizen's portal and auditors.
pub async fn note_listing(tx: &mut Tx, input: &NoteListing) -> Answer<()> {
    let who = match acting(tx, &input.caller).await? {
        Ok(who) => who,
        Err(error) => return Ok(Err(error)),
    };
    let id = input.citizen_id.as_str();
    let exists = citizen_sql::exists(tx, id).await?;
    let to = toward(tx, &who, id, input.now).await?;
    let allowed = exists
        && match &to {
            Toward::Herself | Toward::Representative(_) | Toward::Auditor => true,
            Toward::Agency(_) | Toward::Stranger => false,
        };
    let access = Access {
        caller: &input.caller,
        representative: to.representative(),
        citizen_id: id,
        action: Action::ListAccessEvents,
        purpose: None,
        categories: Categories::NONE,
        outcome: Outcome::of(allowed),
        at: input.now,
    };
    record(tx, access, exists).await?;
    if allowed {
        Ok(Ok(()))
    } else if matches!(who, Acting::Auditor) {
        Ok(Err(AppError::NotFound {
            name: format!("citizens/{id}"),
        }))
    } else {
        Ok(Err(AppError::PermissionDenied))
    }
}

/// A page of a citizen's events with what proves them.
#[derive(Debug, Clone)]
pub struct EventPage {
    /// The events after the asked number, plus one more when there are more.
    pub events: Vec<(AccessEvent, Vec<Hash>)>,
    pub checkpoint: Option<StoredCheckpoint>,
    pub consistency: Vec<Hash>,
}

/// Input of [`read_events`].
pub struct ReadEvents {
    pub citizen_id: String,
    pub after_number: i64,
    pub limit: i64,
    pub known_tree_size: i64,
}

/// A citizen's events after a number, each with its inclusion proof in the tree of the latest
/// checkpoint, and the consistency proof from `known_tree_size` to it.
pub async fn read_events(tx: &mut Tx, input: &ReadEvents) -> Answer<EventPage> {
    let checkpoint = access_sql::latest_checkpoint(tx).await?;
    let size = checkpoint.as_ref().map_or(0, |c| c.tree_size);
    if input.known_tree_size > size {
        return Ok(Err(AppError::InvalidArgument(vec![
            crate::error::FieldViolation::new(
                "known_tree_size",
                format!("is larger than the latest checkpoint's tree ({size})"),
            ),
        ])));
    }
    let events =
        access_sql::list(tx, &input.citizen_id, input.after_number, input.limit + 1).await?;
    let leaves = if checkpoint.is_some() {
        let mut leaves = access_sql::leaves(tx).await?;
        leaves.truncate(size as usize);
        leaves
    } else {
        Vec::new()
    };
    let mut tree = merkle::Tree::new(&leaves);
    let events = events
        .into_iter()
        .map(|event| {
            let proof = match event.leaf_index {
                Some(i) if i < size => tree.inclusion_proof(i as usize),
                _ => Vec::new(),
            };
            (event, proof)
        })
        .collect();
    let consistency = if input.known_tree_size > 0 && input.known_tree_size < size {
        merkle::consistency_proof(input.known_tree_size as usize, &leaves)
    } else {
        Vec::new()
    };
    Ok(Ok(EventPage {
        events,
        checkpoint,
        consistency,
    }))
}

/// What an export reads: a citizen's events (or, for `None`, every sequenced event), the tree's
/// leaf hashes and the latest checkpoint.
async fn export_data(
    tx: &mut Tx,
    citizen_id: &Option<String>,
) -> StoreResult<(Vec<AccessEvent>, Vec<Hash>, Option<StoredCheckpoint>)> {
    let checkpoint = access_sql::latest_checkpoint(tx).await?;
    let events = match citizen_id {
        Some(id) => access_sql::list(tx, id, 0, i64::MAX).await?,
        None => access_sql::list_sequenced(tx, 0, i64::MAX).await?,
    };
    let mut leaves = access_sql::leaves(tx).await?;
    leaves.truncate(checkpoint.as_ref().map_or(0, |c| c.tree_size as usize));
    Ok((events, leaves, checkpoint))
}

/// The export of a citizen's access events (or of the whole log), after adding every committed
/// event to the tree and signing a checkpoint of it.
pub async fn export(
    store: &crate::store::Store,
    config: &super::RecordsConfig,
    citizen_id: Option<String>,
) -> anyhow::Result<crate::audit::export::Export> {
    use base64::{Engine as _, engine::general_purpose::STANDARD};

    use crate::audit::{
        checkpoint::verifier_key,
        export::{Export, ExportedEvent, FORMAT},
    };
    let input = Sequence {
        key: config.secrets.log_signing_key.clone(),
        origin: config.log_origin.clone(),
        now: store.clock().now(),
    };
    store
        .write_locked(
            crate::store::Lock::AccessLogSequencer,
            input,
            |tx, input| Box::pin(sequence(tx, input)),
        )
        .await?;
    let (events, leaves, checkpoint) = store
        .read(citizen_id.clone(), |tx, id| Box::pin(export_data(tx, id)))
        .await?;
    let checkpoint = checkpoint.ok_or_else(|| anyhow::anyhow!("the access log is empty"))?;
    Ok(Export {
        format: FORMAT.to_owned(),
        citizen: citizen_id
            .map(|id| format!("citizens/{id}"))
            .unwrap_or_default(),
        verifier_key: verifier_key(
            &config.log_origin,
            &config.secrets.log_signing_key.verifying_key(),
        ),
        checkpoint: checkpoint.note,
        leaf_hashes: leaves.iter().map(|h| STANDARD.encode(h)).collect(),
        events: events.iter().map(ExportedEvent::of).collect(),
    })
}
