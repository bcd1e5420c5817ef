//! The representative methods of `CitizenService`.

use prost::Message as _;
use tonic::{Request, Response};

use super::{
    CITIZENS, CitizenApi, Reply, answer, caller, decode, decode_replay, encode, idempotency,
};
use crate::{
    domain::{
        citizen::representation::{Representation, RepresentationKind},
        names,
    },
    grpc::request::Violations,
    proto::v1 as pb,
    records::{Written, new_id, representatives},
};

fn kind(v: &mut Violations, value: i32) -> Option<RepresentationKind> {
    use pb::RepresentationKind as P;
    match P::try_from(value) {
        Ok(P::Parent) => Some(RepresentationKind::Parent),
        Ok(P::PowerOfAttorney) => Some(RepresentationKind::PowerOfAttorney),
        Ok(P::Executor) => Some(RepresentationKind::Executor),
        _ => {
            v.add(
                "representation.kind",
                "must be PARENT, POWER_OF_ATTORNEY or EXECUTOR",
            );
            None
        }
    }
}

pub async fn authorize(
    api: &CitizenApi,
    request: Request<pb::AuthorizeRepresentativeRequest>,
) -> Reply<pb::Representation> {
    let caller = caller(&request)?;
    let req = request.into_inner();
    let now = api.now();
    let mut v = Violations::default();
    let citizen_id = v.name("parent", &req.parent, CITIZENS);
    let request_id = decode::request_id(&mut v, &req.request_id);
    let r = req.representation.clone().unwrap_or_default();
    if req.representation.is_none() {
        v.add("representation", "is required");
    }
    let representative_id = v.name("representation.representative", &r.representative, CITIZENS);
    if !representative_id.is_empty() && representative_id == citizen_id {
        v.add(
            "representation.representative",
            "a citizen does not represent themselves",
        );
    }
    let kind = kind(&mut v, r.kind);
    let categories = decode::categories(&mut v, "representation.categories", &r.categories);
    let from = decode::timestamp(&mut v, "representation.valid_from", r.valid_from.as_ref())
        .unwrap_or(now);
    let until = decode::timestamp(&mut v, "representation.valid_until", r.valid_until.as_ref());
    if until.is_some_and(|until| until <= from) {
        v.add("representation.valid_until", "must be after valid_from");
    }
    v.finish()?;
    let actor = caller.actor();
    let representation = Representation {
        citizen_id,
        id: new_id(),
        representative_id,
        kind: kind.unwrap_or(RepresentationKind::PowerOfAttorney),
        categories,
        manage_consents: r.manage_consents,
        valid_from: from,
        valid_until: until,
        revoked_at: None,
        recorded_by: actor.principal,
        officer: actor.officer,
        created: now,
        revoked_by: String::new(),
    };
    let response = encode::representation(&representation, now);
    let input = representatives::Authorize {
        keys: api.keys(),
        idempotency: idempotency(&caller, "AuthorizeRepresentative", request_id, &req),
        caller,
        representation,
        response: response.encode_to_vec(),
    };
    let outcome = api
        .store
        .write_committed(input, |tx, input| {
            Box::pin(representatives::authorize(tx, input))
        })
        .await;
    match answer(outcome)? {
        Written::New => Ok(Response::new(response)),
        Written::Replay(bytes) => Ok(Response::new(decode_replay(&bytes)?)),
    }
}

pub async fn revoke(
    api: &CitizenApi,
    request: Request<pb::RevokeRepresentativeRequest>,
) -> Reply<pb::Representation> {
    let caller = caller(&request)?;
    let req = request.into_inner();
    let mut v = Violations::default();
    let parts: Vec<&str> = req.name.split('/').collect();
    let (citizen_id, id) = match parts.as_slice() {
        [CITIZENS, c, "representatives", r] if names::valid_id(c) && names::valid_id(r) => {
            ((*c).to_owned(), (*r).to_owned())
        }
        _ => {
            v.add(
                "name",
                "must be of the form `citizens/{citizen}/representatives/{representation}`",
            );
            (String::new(), String::new())
        }
    };
    v.finish()?;
    let now = api.now();
    let input = representatives::Revoke {
        caller,
        citizen_id,
        id,
        now,
    };
    let outcome = api
        .store
        .write_committed(input, |tx, input| {
            Box::pin(representatives::revoke(tx, input))
        })
        .await;
    Ok(Response::new(encode::representation(
        &answer(outcome)?,
        now,
    )))
}

pub async fn list(
    api: &CitizenApi,
    request: Request<pb::ListRepresentativesRequest>,
) -> Reply<pb::ListRepresentativesResponse> {
    let caller = caller(&request)?;
    let req = request.into_inner();
    let mut v = Violations::default();
    let citizen_id = v.name("parent", &req.parent, CITIZENS);
    v.finish()?;
    let now = api.now();
    let input = representatives::List {
        caller,
        citizen_id,
        now,
    };
    let outcome = api
        .store
        .write_committed(input, |tx, input| {
            Box::pin(representatives::list(tx, input))
        })
        .await;
    Ok(Response::new(pb::ListRepresentativesResponse {
        representations: answer(outcome)?
            .iter()
            .map(|r| encode::representation(r, now))
            .collect(),
    }))
}
