//! FormService's answer-side calls: checking, prefilling and submitting answers, and reading
//! submissions.

use std::sync::Arc;

use prost::Message as _;
use tonic::{Request, Response};

use super::{FormApi, Reply, SERVICE, answer, decode, encode, fhir, lang, services};
use crate::{
    domain::{catalog::Channel, names::SERVICES, principal::Principal},
    error::AppError,
    forms::{
        prefill,
        submissions::{self, Kept},
    },
    grpc::{
        citizens::{caller, caller_context, decode as citizen_decode, decode_replay, keyed},
        page_token::Binding,
        request::Violations,
    },
    proto::v1 as pb,
    records::new_id,
    store::submission_sql::Filter,
};

impl FormApi {
    pub(super) async fn prefill_form_call(
        &self,
        request: Request<pb::PrefillFormRequest>,
    ) -> Reply<pb::PrefillFormResponse> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let (form_id, number) = decode::version_name(&mut v, "name", &req.name, true);
        let citizen_id = v.name("citizen", &req.citizen, "citizens");
        v.finish()?;
        let view = self.version(caller.clone(), form_id, number).await?;
        let compiled = self.compiled(&view.version)?;
        let input = prefill::Prefill {
            caller,
            keys: self.config.keys.clone(),
            targets: prefill::targets(&compiled),
            citizen_id: citizen_id.clone(),
            now: self.now(),
        };
        let read = answer(
            self.store
                .write_committed(input, |tx, input| Box::pin(prefill::prefill(tx, input)))
                .await,
        )?;
        Ok(Response::new(pb::PrefillFormResponse {
            form: view.version.name(),
            answers: encode::prefilled(&read, &citizen_id),
            withheld: read.withheld,
        }))
    }

    pub(super) async fn submit_form_call(
        &self,
        request: Request<pb::SubmitFormRequest>,
    ) -> Reply<pb::Submission> {
        let caller = caller(&request)?;
        let lang = lang(&request);
        let req = request.into_inner();
        let snapshot = self.snapshot()?;
        let portal = matches!(caller.principal, Principal::Portal { .. });
        let mut v = Violations::default();
        let (form_id, number) =
            decode::version_name(&mut v, "form_version", &req.form_version, false);
        let citizen_id = v.name("citizen", &req.citizen, "citizens");
        let service_id = v.name("service", &req.service, SERVICES);
        let recipient = match snapshot.service(&service_id) {
            Some(s) => s.agency.clone(),
            None if service_id.is_empty() => String::new(),
            None => {
                v.add("service", format!("no such service `{}`", req.service));
                String::new()
            }
        };
        let channel = if req.channel == 0 && portal {
            Some(Channel::Online)
        } else if req.channel == 0 {
            v.add("channel", "is required for an agency");
            None
        } else {
            citizen_decode::channel(&mut v, "channel", req.channel)
        };
        let attached =
            (!req.request.is_empty()).then(|| v.name("request", &req.request, "requests"));
        let answers = match (
            req.answers.is_empty(),
            req.fhir_questionnaire_response.is_empty(),
        ) {
            (_, true) => decode::answers(&mut v, &req.answers),
            (true, false) => fhir::response_answers(
                &mut v,
                "fhir_questionnaire_response",
                &req.fhir_questionnaire_response,
            ),
            (false, false) => {
                v.add(
                    "fhir_questionnaire_response",
                    "give the answers either as `answers` or as a QuestionnaireResponse, not both",
                );
                Vec::new()
            }
        };
        let idempotent = citizen_decode::request_id(&mut v, &req.request_id);
        v.finish()?;
        let number = number.unwrap_or_default();
        let compiled = self
            .compiled_version(caller.clone(), form_id.clone(), number)
            .await?;
        let accepted = match self.check(&compiled, &answers, lang) {
            Ok(accepted) => accepted,
            Err(violations) => {
                // A retired version is refused first, with the version to use (the unit checks
                // again on the way in).
                let probe = (form_id.clone(), number);
                answer(
                    self.store
                        .read(probe, |tx, (form, n)| {
                            Box::pin(submissions::usable(tx, form, *n))
                        })
                        .await,
                )?;
                return Err(violations.into());
            }
        };
        let kept: Vec<Kept> = accepted
            .iter()
            .map(|a| {
                let field = &compiled.nodes[a.node].field;
                Kept {
                    path: a.path.clone(),
                    ordinal: i64::try_from(a.node).unwrap_or(i64::MAX),
                    value: a.value.clone(),
                    sealed: field.kind.is_sealed(),
                    record_field: field.prefill,
                    write_back: field.write_back,
                }
            })
            .collect();
        let encoded = encode::answers(&accepted);
        let input = submissions::Submit {
            idempotency: keyed(SERVICE, &caller, "SubmitForm", idempotent, &req),
            caller,
            keys: self.config.keys.clone(),
            id: new_id(),
            form_id,
            number,
            citizen_id,
            service_id,
            recipient,
            channel: channel.unwrap_or(Channel::Online),
            request_id: attached,
            answers: kept,
            now: self.now(),
            respond: Arc::new(move |s| encode::submission(s, encoded.clone()).encode_to_vec()),
        };
        let bytes = answer(
            self.store
                .write_committed(input, |tx, input| Box::pin(submissions::submit(tx, input)))
                .await,
        )?;
        Ok(Response::new(decode_replay(&bytes)?))
    }

    pub(super) async fn get_submission_call(
        &self,
        request: Request<pb::GetSubmissionRequest>,
    ) -> Reply<pb::Submission> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let (form_id, id) = decode::submission_name(&mut v, "name", &req.name);
        v.finish()?;
        let input = submissions::Get {
            caller,
            keys: self.config.keys.clone(),
            form_id,
            id,
            now: self.now(),
        };
        let found = answer(
            self.store
                .write_committed(input, |tx, input| Box::pin(submissions::get(tx, input)))
                .await,
        )?;
        let version = self
            .stored_version(found.form_id.clone(), found.version)
            .await?;
        let compiled = self.compiled(&version)?;
        let answers = encode::stored_answers(&compiled, &found.answers).map_err(|_| {
            AppError::Internal(anyhow::anyhow!("a stored answer does not fit its field"))
        })?;
        let mut out = encode::submission(&found, answers);
        if req.fhir {
            out.fhir_questionnaire_response = fhir::questionnaire_response(&version, &out);
        }
        Ok(Response::new(out))
    }

    pub(super) async fn list_submissions_call(
        &self,
        request: Request<pb::ListSubmissionsRequest>,
    ) -> Reply<pb::ListSubmissionsResponse> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let snapshot = self.snapshot()?;
        let mut v = Violations::default();
        let form_id = match req.parent.as_str() {
            "forms/-" => None,
            parent => Some(decode::form_name(&mut v, "parent", parent)),
        };
        let citizen_id =
            (!req.citizen.is_empty()).then(|| v.name("citizen", &req.citizen, "citizens"));
        let services = services(&mut v, "services", &req.services, &snapshot);
        let request_id =
            (!req.request.is_empty()).then(|| v.name("request", &req.request, "requests"));
        let size = v.page_size(req.page_size);
        v.finish()?;
        let binding = Binding::query("ListSubmissions", &req)
            .and(&caller_context(&caller))
            .finish();
        let after: Option<(i64, String)> = self.tokens.decode(&req.page_token, &binding)?;
        let input = submissions::List {
            caller,
            filter: Filter {
                form_id,
                citizen_id,
                services,
                request_id,
                agency: None,
                citizens: None,
            },
            after,
            limit: i64::try_from(size).unwrap_or(500),
            now: self.now(),
        };
        let mut page = answer(
            self.store
                .read(input, |tx, input| Box::pin(submissions::list(tx, input)))
                .await,
        )?;
        let more = page.len() > size;
        page.truncate(size);
        let next_page_token = match page.last() {
            Some(last) if more => self
                .tokens
                .encode(&binding, &(last.submitted.unix_millis(), last.id.clone()))?,
            _ => String::new(),
        };
        Ok(Response::new(pb::ListSubmissionsResponse {
            submissions: page
                .iter()
                .map(|s| encode::submission(s, Vec::new()))
                .collect(),
            next_page_token,
        }))
    }

    pub(super) async fn validate_answers_call(
        &self,
        request: Request<pb::ValidateAnswersRequest>,
    ) -> Reply<pb::ValidateAnswersResponse> {
        let caller = caller(&request)?;
        let lang = lang(&request);
        let req = request.into_inner();
        let mut v = Violations::default();
        let (form_id, number) = decode::version_name(&mut v, "name", &req.name, false);
        let answers = decode::answers(&mut v, &req.answers);
        v.finish()?;
        let compiled = self
            .compiled_version(caller, form_id, number.unwrap_or_default())
            .await?;
        let accepted = self.check(&compiled, &answers, lang)?;
        Ok(Response::new(pb::ValidateAnswersResponse {
            answers: encode::answers(&accepted),
        }))
    }
}
