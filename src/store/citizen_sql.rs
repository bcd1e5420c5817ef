//! The citizen record's SQL, identical on both backends, and the one place that decides how a
//! record is encoded in rows: explicit columns, enums as their text codes, dates as `YYYY-MM-DD`,
//! identifiers sealed (bound to their citizen and scheme) and found by their blind index.

use std::collections::BTreeSet;

use super::{
    StoreError, StoreResult,
    tx::{Tx, on_conn},
};
use crate::{
    domain::{
        catalog::Channel,
        citizen::{
            Identifier, IdentifierScheme, PostalCode, Province,
            matching::{Traits, fold_name},
            record::{
                AccessibilityNeed, Address, AddressKind, Circumstance, Citizen, Details, Language,
            },
            values::Date,
        },
        codes,
        consent::{Categories, Category},
        time::Timestamp,
    },
    secrets::{Keyring, Sealed},
};

#[derive(sqlx::FromRow)]
struct CitizenRow {
    given_name: String,
    family_name: String,
    preferred_name: String,
    date_of_birth: String,
    deceased_date: String,
    email: String,
    phone: String,
    language: String,
    preferred_channel: String,
    accessibility_needs: String,
    accessibility_note: String,
    circumstances: String,
    version: i64,
    created_at_unix_ms: i64,
    updated_at_unix_ms: i64,
}

#[derive(sqlx::FromRow)]
struct AddressRow {
    kind: String,
    line1: String,
    line2: String,
    city: String,
    province: String,
    postal_code: String,
}

#[derive(sqlx::FromRow)]
struct IdentifierRow {
    scheme: String,
    key_id: String,
    nonce: Vec<u8>,
    ciphertext: Vec<u8>,
}

fn corrupt(what: &str, id: &str) -> StoreError {
    StoreError::Corrupt(format!("citizen `{id}`: unreadable {what}"))
}

/// What a sealed identifier is bound to: its citizen and scheme, so that it opens nowhere else.
pub fn identifier_binding(citizen_id: &str, scheme: IdentifierScheme) -> Vec<u8> {
    format!("citizens/{citizen_id}/identifiers/{}", scheme.code()).into_bytes()
}

/// The blind index an identifier is found by.
pub fn identifier_index(keys: &Keyring, identifier: &Identifier) -> [u8; 32] {
    keys.blind_index(&identifier.scheme().code(), identifier.value().as_bytes())
}

fn optional_date(text: &str, id: &str) -> StoreResult<Option<Date>> {
    if text.is_empty() {
        Ok(None)
    } else {
        Date::parse(text).map(Some).map_err(|_| corrupt("date", id))
    }
}

fn decode_details(
    id: &str,
    row: CitizenRow,
    addresses: Vec<AddressRow>,
    identifiers: Vec<IdentifierRow>,
    keys: &Keyring,
) -> StoreResult<Citizen> {
    let mut details = Details::default();
    details.identity.given_name = row.given_name;
    details.identity.family_name = row.family_name;
    details.identity.preferred_name = row.preferred_name;
    details.identity.date_of_birth = optional_date(&row.date_of_birth, id)?;
    details.identity.deceased_date = optional_date(&row.deceased_date, id)?;
    details.contact.email = row.email;
    details.contact.phone = row.phone;
    details.preferences.language = match row.language.as_str() {
        "" => None,
        code => Some(Language::from_code(code).ok_or_else(|| corrupt("language", id))?),
    };
    details.preferences.preferred_channel = match row.preferred_channel.as_str() {
        "" => None,
        code => Some(Channel::from_code(code).ok_or_else(|| corrupt("channel", id))?),
    };
    details.accessibility.needs =
        codes::split(&row.accessibility_needs, AccessibilityNeed::from_code)
            .ok_or_else(|| corrupt("accessibility needs", id))?
            .into_iter()
            .collect();
    details.accessibility.note = row.accessibility_note;
    details.circumstances = codes::split(&row.circumstances, Circumstance::from_code)
        .ok_or_else(|| corrupt("circumstances", id))?
        .into_iter()
        .collect::<BTreeSet<_>>();
    for a in addresses {
        details.addresses.push(Address {
            kind: AddressKind::from_code(&a.kind).ok_or_else(|| corrupt("address kind", id))?,
            line1: a.line1,
            line2: a.line2,
            city: a.city,
            province: Province::parse(&a.province).map_err(|_| corrupt("province", id))?,
            postal_code: PostalCode::parse(&a.postal_code)
                .map_err(|_| corrupt("postal code", id))?,
        });
    }
    for i in identifiers {
        let scheme = IdentifierScheme::from_code(&i.scheme)
            .ok_or_else(|| corrupt("identifier scheme", id))?;
        let sealed = Sealed {
            key_id: i.key_id,
            nonce: i.nonce,
            ciphertext: i.ciphertext,
        };
        let clear = keys
            .open(&sealed, &identifier_binding(id, scheme))
            .map_err(|e| StoreError::Corrupt(format!("citizen `{id}`: identifier {e}")))?;
        let value = String::from_utf8(clear).map_err(|_| corrupt("identifier", id))?;
        details
            .identifiers
            .push(Identifier::parse(scheme, &value).map_err(|_| corrupt("identifier", id))?);
    }
    Ok(Citizen {
        id: id.to_owned(),
        details,
        version: row.version,
        created: Timestamp::from_unix_millis(row.created_at_unix_ms),
        updated: Timestamp::from_unix_millis(row.updated_at_unix_ms),
    })
}

const SELECT_CITIZEN: &str = "SELECT given_name, family_name, preferred_name, date_of_birth, \
     deceased_date, email, phone, language, preferred_channel, accessibility_needs, \
     accessibility_note, circumstances, version, created_at_unix_ms, updated_at_unix_ms \
     FROM citizens WHERE id = $1";
const SELECT_ADDRESSES: &str = "SELECT kind, line1, line2, city, province, postal_code \
     FROM citizen_addresses WHERE citizen_id = $1 ORDER BY position";
const SELECT_IDENTIFIERS: &str = "SELECT scheme, key_id, nonce, ciphertext \
     FROM citizen_identifiers WHERE citizen_id = $1 ORDER BY position";

/// The record of citizen `id`, if there is one.
pub async fn load(tx: &mut Tx, keys: &Keyring, id: &str) -> StoreResult<Option<Citizen>> {
    load_only(tx, keys, id, Categories::all()).await
}

/// The record of citizen `id` with the parts of `categories` (the others empty), if there is one:
/// addresses and identifiers are read only when asked for.
pub async fn load_only(
    tx: &mut Tx,
    keys: &Keyring,
    id: &str,
    categories: Categories,
) -> StoreResult<Option<Citizen>> {
    let (row, addresses, identifiers) = on_conn!(tx, conn, DB => {
        let row: Option<CitizenRow> = sqlx::query_as(SELECT_CITIZEN).bind(id).fetch_optional(&mut *conn).await?;
        let Some(row) = row else { return Ok(None) };
        let addresses: Vec<AddressRow> = if categories.contains(Category::Address) {
            sqlx::query_as(SELECT_ADDRESSES).bind(id).fetch_all(&mut *conn).await?
        } else {
            Vec::new()
        };
        let identifiers: Vec<IdentifierRow> = if categories.contains(Category::Identifiers) {
            sqlx::query_as(SELECT_IDENTIFIERS).bind(id).fetch_all(&mut *conn).await?
        } else {
            Vec::new()
        };
        (row, addresses, identifiers)
    });
    decode_details(id, row, addresses, identifiers, keys).map(Some)
}

/// Whether citizen `id` exists.
pub async fn exists(tx: &mut Tx, id: &str) -> StoreResult<bool> {
    let row: Option<(i64,)> = on_conn!(tx, conn, DB => {
        sqlx::query_as("SELECT version FROM citizens WHERE id = $1").bind(id).fetch_optional(conn).await?
    });
    Ok(row.is_some())
}

/// Stores a new record. `UniqueViolation` when its id or one of its identifiers is taken.
pub async fn insert(tx: &mut Tx, keys: &Keyring, citizen: &Citizen) -> StoreResult<()> {
    let d = &citizen.details;
    on_conn!(tx, conn, DB => {
        sqlx::query(
            "INSERT INTO citizens (id, given_name, family_name, preferred_name, given_name_folded, \
             family_name_folded, date_of_birth, deceased_date, email, phone, language, \
             preferred_channel, accessibility_needs, accessibility_note, circumstances, version, \
             created_at_unix_ms, updated_at_unix_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
        )
        .bind(&citizen.id)
        .bind(&d.identity.given_name)
        .bind(&d.identity.family_name)
        .bind(&d.identity.preferred_name)
        .bind(fold_name(&d.identity.given_name))
        .bind(fold_name(&d.identity.family_name))
        .bind(d.identity.date_of_birth.as_ref().map_or("", Date::as_str))
        .bind(d.identity.deceased_date.as_ref().map_or("", Date::as_str))
        .bind(&d.contact.email)
        .bind(&d.contact.phone)
        .bind(d.preferences.language.map_or("", Language::code))
        .bind(d.preferences.preferred_channel.map_or("", Channel::code))
        .bind(codes::join(d.accessibility.needs.iter().copied(), AccessibilityNeed::code))
        .bind(&d.accessibility.note)
        .bind(codes::join(d.circumstances.iter().copied(), Circumstance::code))
        .bind(citizen.version)
        .bind(citizen.created.unix_millis())
        .bind(citizen.updated.unix_millis())
        .execute(&mut *conn)
        .await?;
    });
    insert_parts(tx, keys, citizen).await
}

async fn insert_parts(tx: &mut Tx, keys: &Keyring, citizen: &Citizen) -> StoreResult<()> {
    let d = &citizen.details;
    on_conn!(tx, conn, DB => {
        for (position, a) in d.addresses.iter().enumerate() {
            sqlx::query(
                "INSERT INTO citizen_addresses (citizen_id, position, kind, line1, line2, city, \
                 province, postal_code) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&citizen.id)
            .bind(position as i64)
            .bind(a.kind.code())
            .bind(&a.line1)
            .bind(&a.line2)
            .bind(&a.city)
            .bind(a.province.code())
            .bind(a.postal_code.as_str())
            .execute(&mut *conn)
            .await?;
        }
        for (position, identifier) in d.identifiers.iter().enumerate() {
            let sealed = keys.seal(
                identifier.value().as_bytes(),
                &identifier_binding(&citizen.id, identifier.scheme()),
            );
            sqlx::query(
                "INSERT INTO citizen_identifiers (citizen_id, scheme, position, blind_index, \
                 key_id, nonce, ciphertext) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&citizen.id)
            .bind(identifier.scheme().code())
            .bind(position as i64)
            .bind(identifier_index(keys, identifier).as_slice())
            .bind(&sealed.key_id)
            .bind(&sealed.nonce)
            .bind(&sealed.ciphertext)
            .execute(&mut *conn)
            .await?;
        }
    });
    Ok(())
}

/// Replaces the stored record with `citizen` if the stored version is still `expected_version`;
/// whether it was.
pub async fn save(
    tx: &mut Tx,
    keys: &Keyring,
    citizen: &Citizen,
    expected_version: i64,
) -> StoreResult<bool> {
    let d = &citizen.details;
    let updated = on_conn!(tx, conn, DB => {
        let done = sqlx::query(
            "UPDATE citizens SET given_name = $2, family_name = $3, preferred_name = $4, \
             given_name_folded = $5, family_name_folded = $6, date_of_birth = $7, \
             deceased_date = $8, email = $9, phone = $10, language = $11, preferred_channel = $12, \
             accessibility_needs = $13, accessibility_note = $14, circumstances = $15, \
             version = $16, updated_at_unix_ms = $17 WHERE id = $1 AND version = $18",
        )
        .bind(&citizen.id)
        .bind(&d.identity.given_name)
        .bind(&d.identity.family_name)
        .bind(&d.identity.preferred_name)
        .bind(fold_name(&d.identity.given_name))
        .bind(fold_name(&d.identity.family_name))
        .bind(d.identity.date_of_birth.as_ref().map_or("", Date::as_str))
        .bind(d.identity.deceased_date.as_ref().map_or("", Date::as_str))
        .bind(&d.contact.email)
        .bind(&d.contact.phone)
        .bind(d.preferences.language.map_or("", Language::code))
        .bind(d.preferences.preferred_channel.map_or("", Channel::code))
        .bind(codes::join(d.accessibility.needs.iter().copied(), AccessibilityNeed::code))
        .bind(&d.accessibility.note)
        .bind(codes::join(d.circumstances.iter().copied(), Circumstance::code))
        .bind(citizen.version)
        .bind(citizen.updated.unix_millis())
        .bind(expected_version)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if done == 1 {
            sqlx::query("DELETE FROM citizen_addresses WHERE citizen_id = $1").bind(&citizen.id).execute(&mut *conn).await?;
            sqlx::query("DELETE FROM citizen_identifiers WHERE citizen_id = $1").bind(&citizen.id).execute(&mut *conn).await?;
        }
        done == 1
    });
    if updated {
        insert_parts(tx, keys, citizen).await?;
    }
    Ok(updated)
}

/// The citizen an identity provider's subject is linked to.
pub async fn linked(tx: &mut Tx, issuer: &str, subject: &str) -> StoreResult<Option<String>> {
    let row: Option<(String,)> = on_conn!(tx, conn, DB => {
        sqlx::query_as("SELECT citizen_id FROM identity_links WHERE issuer = $1 AND subject = $2")
            .bind(issuer).bind(subject).fetch_optional(conn).await?
    });
    Ok(row.map(|(id,)| id))
}

/// Links an identity provider's subject to a citizen. `UniqueViolation` when it is linked already.
pub async fn link(
    tx: &mut Tx,
    issuer: &str,
    subject: &str,
    citizen_id: &str,
    now: Timestamp,
) -> StoreResult<()> {
    on_conn!(tx, conn, DB => {
        sqlx::query("INSERT INTO identity_links (issuer, subject, citizen_id, created_at_unix_ms) VALUES ($1, $2, $3, $4)")
            .bind(issuer).bind(subject).bind(citizen_id).bind(now.unix_millis()).execute(conn).await?;
    });
    Ok(())
}

/// What matching knows of one citizen.
#[derive(sqlx::FromRow)]
struct TraitsRow {
    id: String,
    given_name: String,
    family_name: String,
    date_of_birth: String,
}

/// Citizens that may match `query` (sharing an identifier, the family name, the date of birth or
/// a postal code), with what matching needs of each; at most `limit`.
pub async fn candidates(
    tx: &mut Tx,
    query: &Traits,
    limit: i64,
) -> StoreResult<Vec<(String, Traits)>> {
    let family = query
        .family_name
        .as_deref()
        .map(fold_name)
        .unwrap_or_default();
    let born = query.date_of_birth.clone().unwrap_or_default();
    let postal = query
        .postal_code
        .as_ref()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let mut found = Vec::new();
    on_conn!(tx, conn, DB => {
        for index in &query.identifier_indexes {
            let row: Option<(String,)> = sqlx::query_as("SELECT citizen_id FROM citizen_identifiers WHERE blind_index = $1")
                .bind(index.as_slice()).fetch_optional(&mut *conn).await?;
            if let Some((id,)) = row {
                found.push(id);
            }
        }
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM citizens WHERE ($1 <> '' AND family_name_folded = $1) OR ($2 <> '' AND date_of_birth = $2) \
             UNION SELECT citizen_id FROM citizen_addresses WHERE $3 <> '' AND postal_code = $3 \
             ORDER BY 1 LIMIT $4",
        )
        .bind(&family).bind(&born).bind(&postal).bind(limit)
        .fetch_all(&mut *conn).await?;
        found.extend(rows.into_iter().map(|(id,)| id));
    });
    found.sort();
    found.dedup();
    let mut out = Vec::new();
    for id in found {
        let (row, postals, indexes) = on_conn!(tx, conn, DB => {
            let row: Option<TraitsRow> = sqlx::query_as("SELECT id, given_name, family_name, date_of_birth FROM citizens WHERE id = $1")
                .bind(&id).fetch_optional(&mut *conn).await?;
            let postals: Vec<(String,)> = sqlx::query_as("SELECT postal_code FROM citizen_addresses WHERE citizen_id = $1 ORDER BY position")
                .bind(&id).fetch_all(&mut *conn).await?;
            let indexes: Vec<(Vec<u8>,)> = sqlx::query_as("SELECT blind_index FROM citizen_identifiers WHERE citizen_id = $1")
                .bind(&id).fetch_all(&mut *conn).await?;
            (row, postals, indexes)
        });
        let Some(row) = row else { continue };
        let traits = Traits {
            given_name: Some(row.given_name),
            family_name: Some(row.family_name),
            date_of_birth: (!row.date_of_birth.is_empty()).then_some(row.date_of_birth),
            postal_code: None,
            identifier_indexes: indexes
                .into_iter()
                .filter_map(|(i,)| <[u8; 32]>::try_from(i.as_slice()).ok())
                .collect(),
        };
        // One candidate per postal code held, so any address can match.
        let postals: Vec<Option<PostalCode>> = if postals.is_empty() {
            vec![None]
        } else {
            postals
                .into_iter()
                .map(|(p,)| PostalCode::parse(&p).ok())
                .collect()
        };
        for postal_code in postals {
            out.push((
                row.id.clone(),
                Traits {
                    postal_code,
                    ..traits.clone()
                },
            ));
        }
    }
    Ok(out)
}

#[derive(sqlx::FromRow)]
struct SealedRow {
    citizen_id: String,
    scheme: String,
    key_id: String,
    nonce: Vec<u8>,
    ciphertext: Vec<u8>,
}

/// Re-seals identifiers with `to`'s current key and re-indexes them with `to`'s blind-index key,
/// opening them with `from`: every identifier when `all`, otherwise those sealed with an older
/// key. Returns how many changed.
pub async fn rekey(tx: &mut Tx, from: &Keyring, to: &Keyring, all: bool) -> StoreResult<u64> {
    let rows: Vec<SealedRow> = on_conn!(tx, conn, DB => {
        sqlx::query_as("SELECT citizen_id, scheme, key_id, nonce, ciphertext FROM citizen_identifiers ORDER BY citizen_id, scheme")
            .fetch_all(conn).await?
    });
    let mut changed = 0;
    for row in rows {
        let sealed = Sealed {
            key_id: row.key_id,
            nonce: row.nonce,
            ciphertext: row.ciphertext,
        };
        if !all && !to.is_stale(&sealed) {
            continue;
        }
        let scheme = IdentifierScheme::from_code(&row.scheme)
            .ok_or_else(|| corrupt("identifier scheme", &row.citizen_id))?;
        let binding = identifier_binding(&row.citizen_id, scheme);
        let clear = from.open(&sealed, &binding).map_err(|e| {
            StoreError::Corrupt(format!("citizen `{}`: identifier {e}", row.citizen_id))
        })?;
        let value = String::from_utf8(clear).map_err(|_| corrupt("identifier", &row.citizen_id))?;
        let identifier = Identifier::parse(scheme, &value)
            .map_err(|_| corrupt("identifier", &row.citizen_id))?;
        let resealed = to.seal(value.as_bytes(), &binding);
        on_conn!(tx, conn, DB => {
            sqlx::query("UPDATE citizen_identifiers SET key_id = $3, nonce = $4, ciphertext = $5, blind_index = $6 WHERE citizen_id = $1 AND scheme = $2")
                .bind(&row.citizen_id).bind(&row.scheme).bind(&resealed.key_id).bind(&resealed.nonce)
                .bind(&resealed.ciphertext).bind(identifier_index(to, &identifier).as_slice())
                .execute(conn).await?;
        });
        changed += 1;
    }
    Ok(changed)
}

/// The key id of every sealed identifier (for checks after a rotation).
pub async fn key_ids(tx: &mut Tx) -> StoreResult<Vec<(String,)>> {
    Ok(on_conn!(tx, conn, DB => {
        sqlx::query_as("SELECT key_id FROM citizen_identifiers ORDER BY citizen_id, scheme").fetch_all(conn).await?
    }))
}

/// Keeps a claim code (by its SHA-256) for citizen `citizen_id` until `expires`.
pub async fn insert_claim(
    tx: &mut Tx,
    code_sha256: &[u8; 32],
    citizen_id: &str,
    issued_by: &str,
    expires: Timestamp,
) -> StoreResult<()> {
    on_conn!(tx, conn, DB => {
        sqlx::query("INSERT INTO identity_claims (code_sha256, citizen_id, issued_by, expires_at_unix_ms, claimed_at_unix_ms) VALUES ($1, $2, $3, $4, NULL)")
            .bind(code_sha256.as_slice()).bind(citizen_id).bind(issued_by).bind(expires.unix_millis())
            .execute(conn).await?;
    });
    Ok(())
}

/// Uses the claim code with SHA-256 `code_sha256` at `now`: the citizen it names, if it is
/// unused and unexpired (it is then used).
pub async fn use_claim(
    tx: &mut Tx,
    code_sha256: &[u8; 32],
    now: Timestamp,
) -> StoreResult<Option<String>> {
    let row: Option<(String,)> = on_conn!(tx, conn, DB => {
        sqlx::query_as(
            "UPDATE identity_claims SET claimed_at_unix_ms = $2 \
             WHERE code_sha256 = $1 AND claimed_at_unix_ms IS NULL AND expires_at_unix_ms > $2 \
             RETURNING citizen_id",
        )
        .bind(code_sha256.as_slice()).bind(now.unix_millis())
        .fetch_optional(conn).await?
    });
    Ok(row.map(|(id,)| id))
}

/// Whether any identity is linked to citizen `citizen_id`.
pub async fn is_linked(tx: &mut Tx, citizen_id: &str) -> StoreResult<bool> {
    let row: Option<(String,)> = on_conn!(tx, conn, DB => {
        sqlx::query_as("SELECT subject FROM identity_links WHERE citizen_id = $1 LIMIT 1")
            .bind(citizen_id).fetch_optional(conn).await?
    });
    Ok(row.is_some())
}
