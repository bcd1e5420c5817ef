//! `singlewindow.v1.CitizenService`: the shared record, consent, the access log and change notices.
//! Each method decodes its request, runs one unit of work of `records` through the store (its
//! access event commits with it), and encodes the answer.

pub(super) mod decode;
pub(super) mod encode;
mod representatives;

use std::sync::Arc;

use prost::Message as _;
use sha2::{Digest as _, Sha256};
use tonic::{Request, Response, Status};

use super::{
    calls::RequestId,
    page_token::{Binding, PageTokens},
    request::Violations,
};
use crate::{
    audit::checkpoint::verifier_key,
    auth::CitizenToken,
    catalog::Catalogue,
    domain::{
        catalog::Channel,
        citizen::{
            matching::Traits,
            record::Citizen,
            values::{Date, date_of},
        },
        consent::{Categories, Grant},
        names::{self, AGENCIES},
        principal::{Principal, PrincipalKind},
        time::Timestamp,
    },
    error::AppError,
    feeds::{
        Feed, Feeds, Item, check_retained,
        stream::{Events, subscribe},
    },
    proto::v1::{self as pb, citizen_service_server::CitizenService},
    records::{Caller, RecordsConfig, Written, citizens, claims, consents, log, new_id, notices},
    store::{
        Lock, Store, citizen_sql, consent_sql::ConsentRecord, idempotency_sql::IdempotencyKey,
    },
};

const CITIZENS: &str = "citizens";
const SERVICE: &str = "/singlewindow.v1.CitizenService/";

type Reply<T> = Result<Response<T>, Status>;

/// The citizen service.
#[derive(Debug, Clone)]
pub struct CitizenApi {
    store: Store,
    config: RecordsConfig,
    tokens: Arc<PageTokens>,
    catalogue: Arc<Catalogue>,
    feeds: Feeds,
}

impl CitizenApi {
    /// A service over `store`, with the secrets and log settings of `config`, signing page tokens
    /// with `tokens`, checking grantees against `catalogue`, streaming notices from `feeds`.
    pub fn new(
        store: Store,
        config: RecordsConfig,
        tokens: Arc<PageTokens>,
        (catalogue, feeds): (Arc<Catalogue>, Feeds),
    ) -> Self {
        Self {
            store,
            config,
            tokens,
            catalogue,
            feeds,
        }
    }

    fn now(&self) -> Timestamp {
        self.store.clock().now()
    }

    fn keys(&self) -> Arc<crate::secrets::Keyring> {
        self.config.secrets.keyring.clone()
    }

    /// Adds committed events to the log's tree and signs a checkpoint when it grew.
    async fn sequence(&self) -> Result<(), AppError> {
        let input = log::Sequence {
            key: self.config.secrets.log_signing_key.clone(),
            origin: self.config.log_origin.clone(),
            now: self.now(),
        };
        self.store
            .write_locked(Lock::AccessLogSequencer, input, |tx, input| {
                Box::pin(log::sequence(tx, input))
            })
            .await?;
        Ok(())
    }
}

/// The caller of `request`, as the call stack authenticated it.
pub(super) fn caller<T>(request: &Request<T>) -> Result<Caller, AppError> {
    let principal = request
        .extensions()
        .get::<Principal>()
        .cloned()
        .ok_or(AppError::Internal(anyhow::anyhow!(
            "the call stack set no principal"
        )))?;
    Ok(Caller {
        principal,
        citizen: request.extensions().get::<CitizenToken>().cloned(),
        request_id: request
            .extensions()
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default(),
    })
}

/// What binds a page token to its caller: the principal, and for a portal its citizen.
pub(super) fn caller_context(caller: &Caller) -> Vec<u8> {
    let mut context = caller.principal.name().into_bytes();
    if let Some(token) = &caller.citizen {
        context.extend_from_slice(format!("\n{}\n{}", token.issuer, token.subject).as_bytes());
    }
    context
}

fn idempotency(
    caller: &Caller,
    method: &str,
    request_id: Option<String>,
    request: &impl prost::Message,
) -> Option<(IdempotencyKey, [u8; 32])> {
    keyed(SERVICE, caller, method, request_id, request)
}

/// The idempotency key of a write to `service_path` (`/package.Service/`) `method` with
/// `request_id`, scoped to the caller, and the request's digest.
pub(super) fn keyed(
    service_path: &str,
    caller: &Caller,
    method: &str,
    request_id: Option<String>,
    request: &impl prost::Message,
) -> Option<(IdempotencyKey, [u8; 32])> {
    request_id.map(|request_id| {
        let key = IdempotencyKey {
            caller: String::from_utf8_lossy(&caller_context(caller)).into_owned(),
            method: format!("{service_path}{method}"),
            request_id,
        };
        (key, Sha256::digest(request.encode_to_vec()).into())
    })
}

/// Runs the answer of a unit of work: the store's error, then the caller's.
fn answer<T>(
    outcome: Result<Result<T, AppError>, crate::store::StoreError>,
) -> Result<T, AppError> {
    outcome?
}

pub(super) fn decode_replay<M: prost::Message + Default>(bytes: &[u8]) -> Result<M, AppError> {
    M::decode(bytes)
        .map_err(|_| AppError::Internal(anyhow::anyhow!("a kept answer does not decode")))
}

/// The calling agency, for the methods only agencies call.
pub(super) fn calling_agency(caller: &Caller) -> Result<String, AppError> {
    match &caller.principal {
        Principal::Agency { agency, .. } => Ok(agency.clone()),
        _ => Err(AppError::PermissionDenied),
    }
}

/// A stream's `after_position`: unset means from now; negative is a violation.
pub(super) fn after_position(v: &mut Violations, value: Option<i64>) -> Option<i64> {
    if value.is_some_and(|p| p < 0) {
        v.add("after_position", "must not be negative");
    }
    value.map(|p| p.max(0))
}

fn notice_of(item: &Item) -> pb::ChangeNotice {
    match item {
        Item::Notice(n) => encode::notice(n),
        Item::Assignment(_) => pb::ChangeNotice::default(),
    }
}

#[tonic::async_trait]
impl CitizenService for CitizenApi {
    type WatchChangeNoticesStream = Events<pb::ChangeNotice>;

    async fn watch_change_notices(
        &self,
        request: Request<pb::WatchChangeNoticesRequest>,
    ) -> Reply<Self::WatchChangeNoticesStream> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let after = after_position(&mut v, req.after_position);
        v.finish()?;
        let agency = calling_agency(&caller)?;
        if let Some(after) = after {
            check_retained(&self.store, Feed::ChangeNotices, after).await?;
        }
        Ok(Response::new(subscribe(
            &self.feeds.notices,
            &agency,
            after,
            notice_of,
        )?))
    }

    async fn create_citizen(
        &self,
        request: Request<pb::CreateCitizenRequest>,
    ) -> Reply<pb::Citizen> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let now = self.now();
        let mut v = Violations::default();
        let details = match &req.citizen {
            Some(c) => decode::details(&mut v, "citizen", c, &date_of(now.unix_millis())),
            None => {
                v.add("citizen", "is required");
                Default::default()
            }
        };
        let request_id = decode::request_id(&mut v, &req.request_id);
        v.finish()?;
        let citizen = Citizen {
            id: new_id(),
            details,
            version: 1,
            created: now,
            updated: now,
        };
        let response = encode::citizen(&citizen, Categories::all());
        let input = citizens::Create {
            idempotency: idempotency(&caller, "CreateCitizen", request_id, &req),
            caller,
            keys: self.keys(),
            citizen,
            response: response.encode_to_vec(),
        };
        let outcome = self
            .store
            .write_committed(input, |tx, input| Box::pin(citizens::create(tx, input)))
            .await;
        match answer(outcome)? {
            Written::New => Ok(Response::new(response)),
            Written::Replay(bytes) => Ok(Response::new(decode_replay(&bytes)?)),
        }
    }

    async fn get_citizen(&self, request: Request<pb::GetCitizenRequest>) -> Reply<pb::Citizen> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let id = v.name("name", &req.name, CITIZENS);
        let is_agency = caller.principal.kind() == PrincipalKind::Agency;
        let purpose = decode::purpose(&mut v, "purpose", req.purpose, is_agency);
        let wanted = decode::read_mask(&mut v, req.read_mask.as_ref());
        v.finish()?;
        let input = citizens::Get {
            caller,
            keys: self.keys(),
            id,
            purpose: if is_agency { purpose } else { None },
            wanted,
            now: self.now(),
        };
        let outcome = self
            .store
            .write_committed(input, |tx, input| Box::pin(citizens::get(tx, input)))
            .await;
        let (citizen, shown) = answer(outcome)?;
        Ok(Response::new(encode::citizen(&citizen, shown)))
    }

    async fn update_citizen(
        &self,
        request: Request<pb::UpdateCitizenRequest>,
    ) -> Reply<pb::Citizen> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let now = self.now();
        let today = date_of(now.unix_millis());
        let mut v = Violations::default();
        let paths = decode::update_paths(&mut v, req.update_mask.as_ref());
        let mut details = Default::default();
        let (id, version) = match &req.citizen {
            Some(c) => {
                let id = v.name("citizen.name", &c.name, CITIZENS);
                let version = decode::etag(&mut v, "citizen.etag", &c.etag);
                for (category, field) in &paths {
                    decode::part(
                        &mut v,
                        "citizen",
                        c,
                        *category,
                        *field,
                        &today,
                        &mut details,
                    );
                }
                (id, version)
            }
            None => {
                v.add("citizen", "is required");
                (String::new(), 0)
            }
        };
        v.finish()?;
        let input = citizens::Update {
            caller,
            keys: self.keys(),
            id,
            expected_version: version,
            details,
            paths,
            now,
        };
        let outcome = self
            .store
            .write_committed(input, |tx, input| Box::pin(citizens::update(tx, input)))
            .await;
        let (citizen, shown) = answer(outcome)?;
        // The change may have written notices: position them now.
        self.feeds.notices.written();
        Ok(Response::new(encode::citizen(&citizen, shown)))
    }

    async fn issue_claim_code(
        &self,
        request: Request<pb::IssueClaimCodeRequest>,
    ) -> Reply<pb::IssueClaimCodeResponse> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let citizen_id = v.name("name", &req.name, CITIZENS);
        v.finish()?;
        let now = self.now();
        let code = claims::new_code();
        let expires = now.plus(std::time::Duration::from_secs(30 * 86_400));
        let input = claims::Issue {
            caller,
            citizen_id,
            code_sha256: claims::code_hash(&code),
            now,
            expires,
        };
        let outcome = self
            .store
            .write_committed(input, |tx, input| Box::pin(claims::issue(tx, input)))
            .await;
        answer(outcome)?;
        Ok(Response::new(pb::IssueClaimCodeResponse {
            code,
            expire_time: Some(encode::timestamp(expires)),
        }))
    }

    async fn claim_citizen(&self, request: Request<pb::ClaimCitizenRequest>) -> Reply<pb::Citizen> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        if req.code.trim().is_empty() || req.code.len() > 64 {
            v.add(
                "code",
                "is required: the claim code the agency gave the citizen",
            );
        }
        v.finish()?;
        let input = claims::Claim {
            caller,
            keys: self.keys(),
            code_sha256: claims::code_hash(&req.code.to_ascii_uppercase()),
            now: self.now(),
        };
        let outcome = self
            .store
            .write_committed(input, |tx, input| Box::pin(claims::claim(tx, input)))
            .await;
        Ok(Response::new(encode::citizen(
            &answer(outcome)?,
            Categories::all(),
        )))
    }

    async fn find_citizen(
        &self,
        request: Request<pb::FindCitizenRequest>,
    ) -> Reply<pb::FindCitizenResponse> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let purpose = decode::purpose(&mut v, "purpose", req.purpose, true);
        let keys = self.keys();
        let mut query = Traits::default();
        if let Some(identifier) = &req.identifier
            && let Some(identifier) = decode::identifier(&mut v, "identifier", identifier)
        {
            query
                .identifier_indexes
                .push(citizen_sql::identifier_index(&keys, &identifier));
        }
        let name = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
        query.given_name = name(&req.given_name);
        query.family_name = name(&req.family_name);
        if !req.date_of_birth.trim().is_empty() {
            match Date::parse(req.date_of_birth.trim()) {
                Ok(d) => query.date_of_birth = Some(d.as_str().to_owned()),
                Err(e) => v.add("date_of_birth", e.to_string()),
            }
        }
        if !req.postal_code.trim().is_empty() {
            match crate::domain::citizen::PostalCode::parse(&req.postal_code) {
                Ok(p) => query.postal_code = Some(p),
                Err(e) => v.add("postal_code", e.to_string()),
            }
        }
        let traits = [
            query.family_name.is_some(),
            query.date_of_birth.is_some(),
            query.postal_code.is_some(),
        ];
        if req.identifier.is_none() && traits.iter().filter(|t| **t).count() < 2 {
            v.add(
                "identifier",
                "give an identifier, or at least two of family_name, date_of_birth and postal_code",
            );
        }
        v.finish()?;
        let Some(purpose) = purpose else {
            return Err(AppError::Internal(anyhow::anyhow!("purpose checked above")).into());
        };
        let input = citizens::Find {
            caller,
            purpose,
            query,
            now: self.now(),
        };
        let outcome = self
            .store
            .write_committed(input, |tx, input| Box::pin(citizens::find(tx, input)))
            .await;
        let candidates = answer(outcome)?
            .into_iter()
            .map(|(id, grade)| pb::CitizenCandidate {
                citizen: encode::citizen_name(&id),
                grade: match grade {
                    crate::domain::citizen::matching::Grade::Possible => pb::MatchGrade::Possible,
                    crate::domain::citizen::matching::Grade::Probable => pb::MatchGrade::Probable,
                    crate::domain::citizen::matching::Grade::Certain => pb::MatchGrade::Certain,
                } as i32,
            })
            .collect();
        Ok(Response::new(pb::FindCitizenResponse { candidates }))
    }

    async fn grant_consent(&self, request: Request<pb::GrantConsentRequest>) -> Reply<pb::Consent> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let now = self.now();
        let mut v = Violations::default();
        let citizen_id = v.name("parent", &req.parent, CITIZENS);
        let request_id = decode::request_id(&mut v, &req.request_id);
        let consent = req.consent.clone().unwrap_or_default();
        if req.consent.is_none() {
            v.add("consent", "is required");
        }
        let snapshot = self.catalogue.current();
        let grantee = if consent.grantee.is_empty() {
            v.add("consent.grantee", "is required");
            String::new()
        } else {
            match names::parse(&consent.grantee, AGENCIES) {
                Ok(id) if snapshot.as_ref().is_none_or(|s| s.agency(&id).is_some()) => id,
                Ok(_) => {
                    v.add(
                        "consent.grantee",
                        format!("no such agency `{}`", consent.grantee),
                    );
                    String::new()
                }
                Err(e) => {
                    v.add("consent.grantee", e.to_string());
                    String::new()
                }
            }
        };
        let purpose = decode::purpose(&mut v, "consent.purpose", consent.purpose, true);
        let categories = decode::categories(&mut v, "consent.categories", &consent.categories);
        let from = decode::timestamp(&mut v, "consent.valid_from", consent.valid_from.as_ref())
            .unwrap_or(now);
        let until = decode::timestamp(&mut v, "consent.valid_until", consent.valid_until.as_ref());
        if until.is_some_and(|until| until <= from) {
            v.add("consent.valid_until", "must be after valid_from");
        }
        let channel = decode::channel(&mut v, "consent.channel", consent.channel);
        let channel = match caller.principal.kind() {
            PrincipalKind::Agency => match channel {
                Some(c @ (Channel::InPerson | Channel::Telephone | Channel::Mail)) => c,
                _ => {
                    v.add(
                        "consent.channel",
                        "an agency records a consent given in person, by telephone or by mail: say which",
                    );
                    Channel::InPerson
                }
            },
            _ => Channel::Online,
        };
        v.finish()?;
        let Some(purpose) = purpose else {
            return Err(AppError::Internal(anyhow::anyhow!("purpose checked above")).into());
        };
        let actor = caller.actor();
        let record = ConsentRecord {
            citizen_id,
            id: new_id(),
            number: 0,
            grant: Grant {
                grantee,
                purpose,
                categories,
                valid_from: from,
                valid_until: until,
                revoked_at: None,
            },
            channel,
            recorded_by: actor.principal,
            officer: actor.officer,
            created: now,
            revoked_by: String::new(),
        };
        let response = encode::consent(&record, now);
        let input = consents::Grant {
            keys: self.keys(),
            idempotency: idempotency(&caller, "GrantConsent", request_id, &req),
            caller,
            consent: record,
            response: response.encode_to_vec(),
        };
        let outcome = self
            .store
            .write_committed(input, |tx, input| Box::pin(consents::grant(tx, input)))
            .await;
        match answer(outcome)? {
            Written::New => Ok(Response::new(response)),
            Written::Replay(bytes) => Ok(Response::new(decode_replay(&bytes)?)),
        }
    }

    async fn revoke_consent(
        &self,
        request: Request<pb::RevokeConsentRequest>,
    ) -> Reply<pb::Consent> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let parts: Vec<&str> = req.name.split('/').collect();
        let (citizen_id, consent_id) = match parts.as_slice() {
            [CITIZENS, c, "consents", k] if names::valid_id(c) && names::valid_id(k) => {
                ((*c).to_owned(), (*k).to_owned())
            }
            _ => {
                v.add(
                    "name",
                    "must be of the form `citizens/{citizen}/consents/{consent}`",
                );
                (String::new(), String::new())
            }
        };
        v.finish()?;
        let now = self.now();
        let input = consents::Revoke {
            caller,
            citizen_id,
            consent_id,
            now,
        };
        let outcome = self
            .store
            .write_committed(input, |tx, input| Box::pin(consents::revoke(tx, input)))
            .await;
        Ok(Response::new(encode::consent(&answer(outcome)?, now)))
    }

    async fn list_consents(
        &self,
        request: Request<pb::ListConsentsRequest>,
    ) -> Reply<pb::ListConsentsResponse> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let citizen_id = v.name("parent", &req.parent, CITIZENS);
        let size = v.page_size(req.page_size);
        v.finish()?;
        let binding = Binding::query("ListConsents", &req)
            .and(&caller_context(&caller))
            .finish();
        let after: Option<i64> = self.tokens.decode(&req.page_token, &binding)?;
        let now = self.now();
        let input = consents::List {
            caller,
            citizen_id,
            after_number: after.unwrap_or(0),
            limit: size as i64,
            now,
        };
        let outcome = self
            .store
            .write_committed(input, |tx, input| Box::pin(consents::list(tx, input)))
            .await;
        let mut rows = answer(outcome)?;
        let next_page_token = if rows.len() > size {
            rows.truncate(size);
            let last = rows.last().map_or(0, |r| r.number);
            self.tokens.encode(&binding, &last)?
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListConsentsResponse {
            consents: rows.iter().map(|c| encode::consent(c, now)).collect(),
            next_page_token,
        }))
    }

    async fn list_access_events(
        &self,
        request: Request<pb::ListAccessEventsRequest>,
    ) -> Reply<pb::ListAccessEventsResponse> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let citizen_id = v.name("parent", &req.parent, CITIZENS);
        let size = v.page_size(req.page_size);
        if req.known_tree_size < 0 {
            v.add("known_tree_size", "must not be negative");
        }
        v.finish()?;
        let binding = Binding::query("ListAccessEvents", &req)
            .and(&caller_context(&caller))
            .finish();
        let after: Option<i64> = self.tokens.decode(&req.page_token, &binding)?;
        let input = log::NoteListing {
            caller,
            citizen_id: citizen_id.clone(),
            now: self.now(),
        };
        let outcome = self
            .store
            .write_committed(input, |tx, input| Box::pin(log::note_listing(tx, input)))
            .await;
        answer(outcome)?;
        self.sequence().await?;
        let input = log::ReadEvents {
            citizen_id,
            after_number: after.unwrap_or(0),
            limit: size as i64,
            known_tree_size: req.known_tree_size,
        };
        let outcome = self
            .store
            .read(input, |tx, input| Box::pin(log::read_events(tx, input)))
            .await;
        let mut page = answer(outcome)?;
        let next_page_token = if page.events.len() > size {
            page.events.truncate(size);
            let last = page.events.last().map_or(0, |(e, _)| e.number);
            self.tokens.encode(&binding, &last)?
        } else {
            String::new()
        };
        let key = self.config.secrets.log_signing_key.verifying_key();
        Ok(Response::new(pb::ListAccessEventsResponse {
            events: page
                .events
                .iter()
                .map(|(e, p)| encode::event(e, p))
                .collect(),
            next_page_token,
            checkpoint: page.checkpoint.map(|c| c.note).unwrap_or_default(),
            verifier_key: verifier_key(&self.config.log_origin, &key),
            consistency_proof: page.consistency.iter().map(|h| h.to_vec()).collect(),
        }))
    }

    async fn authorize_representative(
        &self,
        request: Request<pb::AuthorizeRepresentativeRequest>,
    ) -> Reply<pb::Representation> {
        representatives::authorize(self, request).await
    }

    async fn revoke_representative(
        &self,
        request: Request<pb::RevokeRepresentativeRequest>,
    ) -> Reply<pb::Representation> {
        representatives::revoke(self, request).await
    }

    async fn list_representatives(
        &self,
        request: Request<pb::ListRepresentativesRequest>,
    ) -> Reply<pb::ListRepresentativesResponse> {
        representatives::list(self, request).await
    }

    async fn list_change_notices(
        &self,
        request: Request<pb::ListChangeNoticesRequest>,
    ) -> Reply<pb::ListChangeNoticesResponse> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let size = v.page_size(req.page_size);
        if req.after_position < 0 {
            v.add("after_position", "must not be negative");
        }
        v.finish()?;
        self.store
            .write_locked(Lock::ChangeNoticeSequencer, (), |tx, input| {
                Box::pin(notices::sequence(tx, input))
            })
            .await
            .map_err(AppError::from)?;
        let input = notices::List {
            caller,
            after: req.after_position,
            limit: size as i64,
        };
        let outcome = self
            .store
            .read(input, |tx, input| Box::pin(notices::list(tx, input)))
            .await;
        let notices = answer(outcome)?;
        let next_position = notices
            .last()
            .and_then(|n| n.position)
            .unwrap_or(req.after_position);
        Ok(Response::new(pb::ListChangeNoticesResponse {
            notices: notices.iter().map(encode::notice).collect(),
            next_position,
        }))
    }
}
