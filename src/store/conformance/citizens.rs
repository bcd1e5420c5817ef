//! The contract of the citizen aggregates: records round trip with identifiers sealed to their
//! row, a stale version saves nothing, identifiers are unique, consents come back as granted, a
//! citizen's events are numbered from 1 and enter the tree in that order, and notices get
//! positions in commit order.

use std::sync::Arc;

use crate::{
    audit::merkle,
    domain::{
        access::{AccessEvent, Action, Actor, Outcome},
        catalog::Channel,
        citizen::{
            Identifier, IdentifierScheme, PostalCode, Province,
            record::{Address, AddressKind, Citizen, Details},
            values::Date,
        },
        consent::{Category, Grant, Purpose},
        time::Timestamp,
    },
    secrets::{KeyFile, Keyring},
    store::{
        Lock, SchemaStore as _, Store, StoreError, access_sql, citizen_sql,
        consent_sql::{self, ConsentRecord},
        notice_sql::{self, ChangeKind, Notice},
        tx::on_conn,
    },
};

fn keys() -> Arc<Keyring> {
    Arc::new(KeyFile::generate("c1").keyring().expect("a keyring"))
}

fn at(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(ms)
}

fn citizen(id: &str, sin: &str) -> Citizen {
    let mut details = Details::default();
    details.identity.given_name = "Élise".to_owned();
    details.identity.family_name = "Côté".to_owned();
    details.identity.date_of_birth = Date::parse("1975-06-01").ok();
    details.contact.email = format!("{id}@example.ca");
    details.addresses.push(Address {
        kind: AddressKind::Mailing,
        line1: "PO Box 9".to_owned(),
        line2: String::new(),
        city: "Moncton".to_owned(),
        province: Province::Nb,
        postal_code: PostalCode::parse("E1C 4M3").expect("a postal code"),
    });
    details
        .identifiers
        .push(Identifier::parse(IdentifierScheme::Sin, sin).expect("a SIN"));
    Citizen {
        id: id.to_owned(),
        details,
        version: 1,
        created: at(1_000),
        updated: at(1_000),
    }
}

async fn insert(store: &Store, keys: &Arc<Keyring>, c: Citizen) -> Result<(), StoreError> {
    store
        .write((keys.clone(), c), |tx, (keys, c)| {
            Box::pin(citizen_sql::insert(tx, keys, c))
        })
        .await
}

async fn load(store: &Store, keys: &Arc<Keyring>, id: &str) -> Result<Option<Citizen>, StoreError> {
    store
        .read((keys.clone(), id.to_owned()), |tx, (keys, id)| {
            Box::pin(citizen_sql::load(tx, keys, id))
        })
        .await
}

/// A record comes back as stored; its identifiers are stored sealed, and a sealed value moved to
/// another record does not open there.
pub async fn a_record_round_trips_with_identifiers_sealed_to_their_row(store: &Store) {
    store.migrate().await.expect("migrate");
    let keys = keys();
    let (a, b) = (citizen("a", "130692544"), citizen("b", "273456780"));
    insert(store, &keys, a.clone()).await.expect("insert a");
    insert(store, &keys, b).await.expect("insert b");
    assert_eq!(load(store, &keys, "a").await.expect("load"), Some(a));
    assert_eq!(load(store, &keys, "nobody").await.expect("load"), None);
    let swapped = store
        .write((), |tx, ()| {
            Box::pin(async move {
                let (ciphertext,): (Vec<u8>,) = on_conn!(tx, conn, DB => {
                    sqlx::query_as("SELECT ciphertext FROM citizen_identifiers WHERE citizen_id = 'b'").fetch_one(&mut *conn).await?
                });
                assert!(!ciphertext.windows(9).any(|w| w == b"273456780"), "sealed, not in clear");
                on_conn!(tx, conn, DB => {
                    sqlx::query("UPDATE citizen_identifiers SET ciphertext = $1, nonce = (SELECT nonce FROM citizen_identifiers WHERE citizen_id = 'b') WHERE citizen_id = 'a'")
                        .bind(ciphertext).execute(&mut *conn).await?;
                });
                Ok(())
            })
        })
        .await;
    swapped.expect("swap");
    assert!(
        matches!(load(store, &keys, "a").await, Err(StoreError::Corrupt(_))),
        "another row's sealed value does not open"
    );
}

/// A save against a stale version changes nothing; an identifier held by another record is a
/// unique violation.
pub async fn a_stale_version_saves_nothing_and_identifiers_are_unique(store: &Store) {
    store.migrate().await.expect("migrate");
    let keys = keys();
    let original = citizen("a", "130692544");
    insert(store, &keys, original.clone())
        .await
        .expect("insert");
    let mut changed = original.clone();
    changed.details.contact.email = "new@example.ca".to_owned();
    changed.version = 2;
    let save = |c: Citizen, expected: i64| {
        store.write((keys.clone(), c), move |tx, (keys, c)| {
            Box::pin(citizen_sql::save(tx, keys, c, expected))
        })
    };
    assert!(
        !save(changed.clone(), 7).await.expect("save"),
        "a stale version"
    );
    assert_eq!(load(store, &keys, "a").await.expect("load"), Some(original));
    assert!(save(changed.clone(), 1).await.expect("save"));
    assert_eq!(load(store, &keys, "a").await.expect("load"), Some(changed));
    let twin = insert(store, &keys, citizen("b", "130 692 544")).await;
    assert!(
        matches!(twin, Err(StoreError::UniqueViolation { .. })),
        "{twin:?}"
    );
    assert_eq!(
        load(store, &keys, "b").await.expect("load"),
        None,
        "nothing half-written"
    );
}

/// Consents come back as granted, numbered per citizen, and a revocation is kept.
pub async fn consents_round_trip_and_revocations_are_kept(store: &Store) {
    store.migrate().await.expect("migrate");
    let keys = keys();
    insert(store, &keys, citizen("a", "130692544"))
        .await
        .expect("insert");
    let consent = |id: &str, purpose| ConsentRecord {
        citizen_id: "a".to_owned(),
        id: id.to_owned(),
        number: 0,
        grant: Grant {
            grantee: "cra-arc".to_owned(),
            purpose,
            categories: [Category::Identity, Category::Address]
                .into_iter()
                .collect(),
            valid_from: at(10),
            valid_until: Some(at(20)),
            revoked_at: None,
        },
        channel: Channel::Telephone,
        recorded_by: "agencies/cra-arc".to_owned(),
        officer: "desk-3".to_owned(),
        created: at(5),
        revoked_by: String::new(),
    };
    for (id, purpose) in [
        ("k1", Purpose::Prefill),
        ("k2", Purpose::EligibilityAssessment),
    ] {
        let c = consent(id, purpose);
        store
            .write(c, |tx, c| Box::pin(consent_sql::insert(tx, c)))
            .await
            .expect("insert");
    }
    store
        .write((), |tx, ()| {
            Box::pin(consent_sql::revoke(tx, "a", "k1", at(15), "portals/p"))
        })
        .await
        .expect("revoke");
    let listed = store
        .read((), |tx, ()| {
            Box::pin(consent_sql::list(tx, "a", None, 0, 10))
        })
        .await
        .expect("list");
    let mut expected = vec![
        consent("k1", Purpose::Prefill),
        consent("k2", Purpose::EligibilityAssessment),
    ];
    expected[0].number = 1;
    expected[0].grant.revoked_at = Some(at(15));
    expected[0].revoked_by = "portals/p".to_owned();
    expected[1].number = 2;
    assert_eq!(listed, expected);
    let grants = store
        .read((), |tx, ()| {
            Box::pin(consent_sql::grants(
                tx,
                "a",
                "cra-arc",
                Purpose::EligibilityAssessment,
            ))
        })
        .await
        .expect("grants");
    assert_eq!(grants, [expected[1].grant.clone()]);
}

fn event(citizen: &str, at_ms: i64) -> AccessEvent {
    AccessEvent {
        id: format!("{citizen}-{at_ms}"),
        citizen_id: citizen.to_owned(),
        number: 0,
        leaf_index: None,
        actor: Actor {
            principal: "agencies/cic".to_owned(),
            ..Actor::default()
        },
        action: Action::Read,
        purpose: Some(Purpose::ServiceDelivery),
        categories: [Category::Contact].into_iter().collect(),
        outcome: Outcome::Allowed,
        at: at(at_ms),
        request_id: "r".to_owned(),
    }
}

/// A citizen's events are numbered from 1 by the sequencer, in the order they enter the tree,
/// each leaf the hash of the event's (numbered) leaf text.
pub async fn access_events_are_numbered_and_enter_the_tree_in_order(store: &Store) {
    store.migrate().await.expect("migrate");
    // Times out of order: the second event of `a` is stamped before the first.
    for (citizen, ms) in [("a", 500), ("b", 100), ("a", 300), ("b", 900), ("a", 200)] {
        let e = event(citizen, ms);
        store
            .write_committed(e, |tx, e| Box::pin(access_sql::append(tx, e)))
            .await
            .expect("append");
    }
    let hash = |e: &AccessEvent| merkle::leaf_hash(e.leaf().as_bytes());
    let (size, root) = store
        .write_locked(Lock::AccessLogSequencer, (), move |tx, ()| {
            Box::pin(access_sql::sequence_events(tx, 100, hash))
        })
        .await
        .expect("sequence");
    assert_eq!(size, 5);
    let (a, leaves) = store
        .read((), |tx, ()| {
            Box::pin(async move {
                let a = access_sql::list(tx, "a", 0, 10).await?;
                Ok((a, access_sql::leaves(tx).await?))
            })
        })
        .await
        .expect("read");
    assert_eq!(a.iter().map(|e| e.number).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(
        a.windows(2).all(|w| w[0].at <= w[1].at),
        "never back in time"
    );
    let indexes: Vec<i64> = a.iter().map(|e| e.leaf_index.expect("sequenced")).collect();
    assert!(indexes.windows(2).all(|w| w[0] < w[1]), "{indexes:?}");
    for e in &a {
        assert_eq!(leaves[e.leaf_index.expect("sequenced") as usize], hash(e));
    }
    assert_eq!(
        root,
        merkle::root(&leaves),
        "the frontier's root is the tree's"
    );
    let (again, _) = store
        .write_locked(Lock::AccessLogSequencer, (), move |tx, ()| {
            Box::pin(access_sql::sequence_events(tx, 100, hash))
        })
        .await
        .expect("sequence");
    assert_eq!(again, 5, "nothing sequenced twice");
}

/// Notices get positions after commit, in order, never reused after retention forgot them, and
/// an agency reads only its own.
pub async fn notices_get_positions_in_order_and_only_their_agency_reads_them(store: &Store) {
    store.migrate().await.expect("migrate");
    for (id, agency) in [("n1", "cra-arc"), ("n2", "cic"), ("n3", "cra-arc")] {
        let notice = Notice {
            id: id.to_owned(),
            agency: agency.to_owned(),
            citizen_id: "a".to_owned(),
            kind: ChangeKind::Address,
            at: at(1),
            position: None,
        };
        store
            .write(notice, |tx, n| Box::pin(notice_sql::insert(tx, n)))
            .await
            .expect("insert");
    }
    let read = |agency: &'static str, after: i64| {
        store.read((), move |tx, ()| {
            Box::pin(notice_sql::list(tx, agency, after, 10))
        })
    };
    assert!(
        read("cra-arc", 0).await.expect("read").is_empty(),
        "not positioned yet"
    );
    let positioned = store
        .write_locked(Lock::ChangeNoticeSequencer, (), |tx, ()| {
            Box::pin(notice_sql::sequence(tx, 10))
        })
        .await
        .expect("sequence");
    assert_eq!(positioned, 3);
    let cra = read("cra-arc", 0).await.expect("read");
    assert_eq!(
        cra.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(),
        ["n1", "n3"]
    );
    let last = cra[1].position.expect("a position");
    assert!(read("cra-arc", last).await.expect("read").is_empty());
    assert_eq!(read("cic", 0).await.expect("read").len(), 1);
    // Retention forgets every notice; positions still never go back.
    let forgotten = store
        .write((), |tx, ()| Box::pin(notice_sql::forget_before(tx, at(2))))
        .await
        .expect("forget");
    assert_eq!(forgotten, 3);
    let later = Notice {
        id: "n4".to_owned(),
        agency: "cra-arc".to_owned(),
        citizen_id: "a".to_owned(),
        kind: ChangeKind::Contact,
        at: at(3),
        position: None,
    };
    store
        .write(later, |tx, n| Box::pin(notice_sql::insert(tx, n)))
        .await
        .expect("insert");
    store
        .write_locked(Lock::ChangeNoticeSequencer, (), |tx, ()| {
            Box::pin(notice_sql::sequence(tx, 10))
        })
        .await
        .expect("sequence");
    let after = read("cra-arc", last).await.expect("read");
    assert_eq!(
        after.len(),
        1,
        "a reader resuming after {last} sees the new notice"
    );
    assert!(after[0].position.expect("a position") > last);
}
