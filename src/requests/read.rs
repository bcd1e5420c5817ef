//! Reads of requests by their parties: one request (with the record's categories its legs carry
//! to the calling agency), a page of an agency's queue or a citizen's requests, and a journey
//! (the request with its children). Every read lands in the citizen's access log.

use std::sync::Arc;

use super::{Loaded, Party, context_categories, load, log, party};
use crate::{
    domain::{
        access::{Action, Outcome},
        citizen::record::Citizen,
        consent::{Categories, Purpose},
        time::Timestamp,
    },
    error::AppError,
    records::{Access, Acting, Caller, acting, citizens::Answer, record},
    secrets::Keyring,
    store::{
        StoreError, StoreResult, Tx, citizen_sql,
        request_sql::{self, Party as View, Whose},
    },
};

/// Input of [`get`].
pub struct Get {
    pub caller: Caller,
    pub keys: Arc<Keyring>,
    pub id: String,
    pub now: Timestamp,
    /// Whether to load the child requests whole (a journey).
    pub with_children: bool,
}

/// What a party reads of a request.
#[derive(Debug, Clone)]
pub struct Read {
    pub loaded: Loaded,
    /// The children, loaded whole, when asked for.
    pub children: Vec<Loaded>,
    /// The record's categories released to the calling agency, with the record.
    pub context: Option<(Citizen, Categories)>,
}

/// Reads request `id` for a party, with an access event; PERMISSION_DENIED otherwise (the same
/// for a request that does not exist; a denied agency's attempt lands in the citizen's log).
pub async fn get(tx: &mut Tx, input: &Get) -> Answer<Read> {
    let Some(loaded) = load(tx, &input.id).await? else {
        return Ok(Err(AppError::PermissionDenied));
    };
    let party = match party(tx, &input.caller, &loaded.request, input.now).await? {
        Ok(Some(party)) => party,
        Ok(None) => {
            deny(tx, &input.caller, &loaded.request.citizen_id, input.now).await?;
            return Ok(Err(AppError::PermissionDenied));
        }
        Err(error) => return Ok(Err(error)),
    };
    let context = match &party {
        Party::Agency(agency) => {
            let shown = context_categories(tx, &loaded, agency, input.now).await?;
            if shown.is_empty() {
                None
            } else {
                let mut citizen =
                    citizen_sql::load_only(tx, &input.keys, &loaded.request.citizen_id, shown)
                        .await?
                        .ok_or(StoreError::NotFound)?;
                citizen.details = citizen.details.only(shown);
                Some((citizen, shown))
            }
        }
        Party::Citizen { .. } => None,
    };
    let shown = context.as_ref().map_or(Categories::NONE, |(_, c)| *c);
    log(
        tx,
        &input.caller,
        &party,
        &loaded.request.citizen_id,
        Action::ReadRequest,
        shown,
        input.now,
    )
    .await?;
    let mut children = Vec::new();
    if input.with_children {
        for child in &loaded.children {
            // An agency sees the children it is party to, not its siblings' legs.
            let visible = match &party {
                Party::Agency(agency) => request_sql::is_party(tx, &child.id, agency).await?,
                Party::Citizen { .. } => true,
            };
            if visible && let Some(c) = load(tx, &child.id).await? {
                children.push(c);
            }
        }
    }
    Ok(Ok(Read {
        loaded,
        children,
        context,
    }))
}

/// Records a denied read of a citizen's request by an agency that is not party to it.
async fn deny(tx: &mut Tx, caller: &Caller, citizen_id: &str, now: Timestamp) -> StoreResult<()> {
    if !matches!(
        caller.principal,
        crate::domain::principal::Principal::Agency { .. }
    ) {
        return Ok(());
    }
    let access = Access {
        caller,
        representative: None,
        citizen_id,
        action: Action::ReadRequest,
        purpose: Some(Purpose::Referral),
        categories: Categories::NONE,
        outcome: Outcome::Denied,
        at: now,
    };
    record(tx, access, true).await
}

/// Keeps the requests a list asks for (its filters over the request as it stands now).
pub type Filter = Arc<dyn Fn(&Loaded) -> bool + Send + Sync>;

/// Input of [`list`].
pub struct List {
    pub caller: Caller,
    pub view: View,
    pub filter: Filter,
    /// Resume after this request id.
    pub after: Option<String>,
    pub page_size: usize,
    pub now: Timestamp,
}

/// A page of requests.
#[derive(Debug, Clone)]
pub struct Page {
    pub requests: Vec<Loaded>,
    /// How many match in all.
    pub total: usize,
    /// Whether requests follow the page.
    pub more: bool,
}

/// A page of the calling agency's requests (its queue or all it is party to), or of the portal's
/// citizen's; each request returned gets an access event.
pub async fn list(tx: &mut Tx, input: &List) -> Answer<Page> {
    let who = match acting(tx, &input.caller).await? {
        Ok(who) => who,
        Err(error) => return Ok(Err(error)),
    };
    let (whose, party) = match &who {
        Acting::Agency(agency) => (
            Some(Whose::Agency(agency, input.view)),
            Party::Agency(agency.clone()),
        ),
        Acting::Citizen(Some(own)) => (
            Some(Whose::Citizen(own)),
            Party::Citizen {
                representative: None,
            },
        ),
        Acting::Citizen(None) => (
            None,
            Party::Citizen {
                representative: None,
            },
        ),
        Acting::Auditor => return Ok(Err(AppError::PermissionDenied)),
    };
    // The filters need only the request and its legs: read those for all in two queries, and
    // the rest only for the page.
    let candidates = match whose {
        Some(whose) => request_sql::requests_of(tx, whose).await?,
        None => Vec::new(),
    };
    let matching: Vec<Loaded> = candidates
        .into_iter()
        .map(|(request, handoffs)| Loaded {
            request,
            handoffs,
            steps: Vec::new(),
            ranking: Vec::new(),
            attachments: Vec::new(),
            not_opened: Vec::new(),
            children: Vec::new(),
        })
        .filter(|l| (input.filter)(l))
        .collect();
    let total = matching.len();
    let start = input.after.as_ref().map_or(0, |after| {
        matching.partition_point(|l| l.request.id <= *after)
    });
    let more = total > start + input.page_size;
    let mut requests = Vec::new();
    for light in matching.into_iter().skip(start).take(input.page_size) {
        if let Some(loaded) = load(tx, &light.request.id).await? {
            requests.push(loaded);
        }
    }
    for r in &requests {
        log(
            tx,
            &input.caller,
            &party,
            &r.request.citizen_id,
            Action::ReadRequest,
            Categories::NONE,
            input.now,
        )
        .await?;
    }
    Ok(Ok(Page {
        requests,
        total,
        more,
    }))
}
