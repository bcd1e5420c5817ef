//! `singlewindow.v1.FormService`: common forms, their versions, answers checked on the server,
//! prefill from the shared record and submissions. Each method decodes its request, runs one unit
//! of work of `forms`, and encodes the answer.

mod answers;
mod decode;
mod encode;
mod fhir;

use std::sync::Arc;

use prost::Message as _;
use tonic::{Request, Response, Status};

use super::{
    citizens::{caller, caller_context, decode as citizen_decode, decode_replay, keyed},
    page_token::{Binding, PageTokens},
    request::Violations,
};
use crate::{
    catalog::{Catalogue, Snapshot},
    domain::{
        form::{
            FormVersion, Link, VersionState,
            rules::Lang,
            validate::{self, Violation},
        },
        names::{AGENCIES, SERVICES},
        principal::Principal,
        time::Timestamp,
    },
    error::{AppError, FieldViolation},
    forms::{
        CompiledCache, FormsConfig,
        definitions::{self, Mask, View},
        manages,
    },
    proto::v1::{self as pb, form_service_server::FormService},
    records::{Caller, Written},
    store::Store,
};

const SERVICE: &str = "/singlewindow.v1.FormService/";

type Reply<T> = Result<Response<T>, Status>;

/// The form service.
#[derive(Debug, Clone)]
pub struct FormApi {
    store: Store,
    catalogue: Arc<Catalogue>,
    config: Arc<FormsConfig>,
    tokens: Arc<PageTokens>,
    compiled: Arc<CompiledCache>,
}

/// The answer of a unit of work: the store's error, then the caller's.
fn answer<T>(
    outcome: Result<Result<T, AppError>, crate::store::StoreError>,
) -> Result<T, AppError> {
    outcome?
}

/// The language `accept-language` asks for.
fn lang<T>(request: &Request<T>) -> Lang {
    request
        .metadata()
        .get("accept-language")
        .and_then(|v| v.to_str().ok())
        .map_or(Lang::En, Lang::from_accept_language)
}

/// Bad answers as violations: the rule's English text, its reason, and the caller's language.
fn answer_violations(violations: Vec<Violation>, lang: Lang) -> AppError {
    AppError::InvalidArgument(
        violations
            .into_iter()
            .map(|v| {
                FieldViolation::localized(
                    v.path,
                    v.rule.message(Lang::En),
                    v.rule.reason(),
                    (lang.locale(), v.rule.message(lang)),
                )
            })
            .collect(),
    )
}

impl FormApi {
    /// A service over `store`, checking services against `catalogue`.
    pub fn new(
        (store, catalogue): (Store, Arc<Catalogue>),
        config: Arc<FormsConfig>,
        tokens: Arc<PageTokens>,
    ) -> Self {
        Self {
            store,
            catalogue,
            config,
            tokens,
            compiled: Arc::new(CompiledCache::default()),
        }
    }

    fn now(&self) -> Timestamp {
        self.store.clock().now()
    }

    fn snapshot(&self) -> Result<Arc<Snapshot>, AppError> {
        self.catalogue.current().ok_or(AppError::Unavailable(
            "the catalogue is loading; retry shortly",
        ))
    }

    /// The version `(form_id, number)` the caller may see (`None`: the latest published).
    async fn version(
        &self,
        caller: Caller,
        form_id: String,
        number: Option<i64>,
    ) -> Result<View, AppError> {
        let input = definitions::Get {
            caller,
            form_id,
            number,
        };
        answer(
            self.store
                .read(input, |tx, input| Box::pin(definitions::get(tx, input)))
                .await,
        )
    }

    /// After a write that may have changed which services a form is linked to: the catalogue's
    /// lookups (GetService's `forms`) read them again. A failure leaves them to the next measure.
    async fn links_changed(&self) {
        if let Err(error) = self.catalogue.reload_form_links(&self.store).await {
            tracing::warn!(error = %error, "reading the forms' links again failed; retrying with the next measure");
        }
    }

    /// The compiled form of `version` (cached for published versions).
    fn compiled(
        &self,
        version: &FormVersion,
    ) -> Result<Arc<crate::domain::form::check::Compiled>, AppError> {
        self.compiled.get(version).ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!("a stored form version fails its checks"))
        })
    }

    /// A stored version, whatever its state (for reading submissions filled against it).
    async fn stored_version(&self, form_id: String, number: i64) -> Result<FormVersion, AppError> {
        let found = self
            .store
            .read((form_id, number), |tx, (form, n)| {
                Box::pin(crate::store::form_sql::version(tx, form, *n))
            })
            .await?;
        found.ok_or_else(|| AppError::Internal(anyhow::anyhow!("a submission's version is gone")))
    }

    /// Checks `answers` against `version`; the accepted answers, or the violations in `lang`.
    /// The compiled version `(form_id, number)` the caller may see: from the cache when it is
    /// published or retired (then anyone may see it, and it never changes), from the store
    /// otherwise.
    async fn compiled_version(
        &self,
        caller: Caller,
        form_id: String,
        number: i64,
    ) -> Result<Arc<crate::domain::form::check::Compiled>, AppError> {
        if let Some(found) = self.compiled.peek(&form_id, number) {
            return Ok(found);
        }
        let view = self.version(caller, form_id, Some(number)).await?;
        self.compiled(&view.version)
    }

    /// Checks `answers` against `compiled`; the accepted answers, or the violations in `lang`.
    fn check(
        &self,
        compiled: &crate::domain::form::check::Compiled,
        answers: &[(String, crate::domain::form::value::Raw)],
        lang: Lang,
    ) -> Result<Vec<validate::Accepted>, AppError> {
        validate::validate(compiled, answers, self.config.today(self.now()))
            .map_err(|v| answer_violations(v, lang))
    }
}

/// The owner a CreateForm names (empty: the calling agency's).
fn owner_of(v: &mut Violations, caller: &Caller, named: &str, snapshot: &Snapshot) -> String {
    if named.is_empty() {
        return match &caller.principal {
            Principal::Agency { agency, .. } => agency.clone(),
            _ => {
                v.add("form.owner", "is required for a catalogue administrator");
                String::new()
            }
        };
    }
    let id = v.name("form.owner", named, AGENCIES);
    if !id.is_empty() && snapshot.agency(&id).is_none() {
        v.add("form.owner", format!("no such agency `{named}`"));
    }
    id
}

fn services(v: &mut Violations, field: &str, names: &[String], snapshot: &Snapshot) -> Vec<String> {
    v.name_filter(field, names, SERVICES, |id| snapshot.service(id).is_some())
        .into_iter()
        .collect()
}

fn mask(v: &mut Violations, mask: Option<&prost_types::FieldMask>) -> Mask {
    let paths = mask.map(|m| m.paths.as_slice()).unwrap_or_default();
    if paths.is_empty() {
        return Mask {
            title: true,
            description: true,
            fields: true,
            services: true,
        };
    }
    let mut out = Mask::default();
    for (i, path) in paths.iter().enumerate() {
        match path.as_str() {
            "title" => out.title = true,
            "description" => out.description = true,
            "fields" => out.fields = true,
            "services" => out.services = true,
            _ => v.add(
                format!("update_mask.paths[{i}]"),
                "must be one of `title`, `description`, `fields`, `services`",
            ),
        }
    }
    out
}

#[tonic::async_trait]
impl FormService for FormApi {
    async fn create_form(&self, request: Request<pb::CreateFormRequest>) -> Reply<pb::Form> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let snapshot = self.snapshot()?;
        let mut v = Violations::default();
        if !crate::domain::form::valid_form_id(&req.form_id) {
            v.add(
                "form_id",
                "must be 3 to 63 of a-z, 0-9 and -, starting with a letter and not ending with -",
            );
        }
        let Some(form) = req.form.as_ref() else {
            v.add("form", "is required");
            v.finish()?;
            return Err(AppError::invalid("form", "is required").into());
        };
        let owner = owner_of(&mut v, &caller, &form.owner, &snapshot);
        let definition = decode::definition(&mut v, "form", form);
        let linked = services(&mut v, "form.services", &form.services, &snapshot);
        let idempotent = citizen_decode::request_id(&mut v, &req.request_id);
        v.finish()?;
        if !manages(&caller.principal, &owner) {
            return Err(AppError::PermissionDenied.into());
        }
        let mut problems = definitions::definition_violations(&definition, "form");
        problems.extend(definitions::check_links(
            &snapshot,
            &caller.principal,
            &owner,
            &linked,
            "form.services",
        ));
        if !problems.is_empty() {
            return Err(AppError::InvalidArgument(problems).into());
        }
        let now = self.now();
        let version = FormVersion {
            form_id: req.form_id.clone(),
            number: 1,
            owner: owner.clone(),
            definition,
            state: VersionState::Draft,
            replacement: None,
            revision: 1,
            created: now,
            updated: now,
            published: None,
        };
        let links: Vec<Link> = linked
            .iter()
            .map(|s| Link {
                service: s.clone(),
                agency: owner.clone(),
                at: now,
            })
            .collect();
        let view = View {
            version: version.clone(),
            form: crate::store::form_sql::FormRow {
                id: req.form_id.clone(),
                owner,
                latest_version: 1,
                latest_published: None,
                created: now,
            },
            links: links.clone(),
        };
        let response = encode::form(&view);
        let input = definitions::Create {
            idempotency: keyed(SERVICE, &caller, "CreateForm", idempotent, &req),
            caller,
            keys: self.config.keys.clone(),
            version,
            links,
            response: response.encode_to_vec(),
        };
        let written = answer(
            self.store
                .write(input, |tx, input| Box::pin(definitions::create(tx, input)))
                .await,
        )?;
        self.links_changed().await;
        Ok(Response::new(match written {
            Written::New => response,
            Written::Replay(bytes) => decode_replay(&bytes)?,
        }))
    }

    async fn get_form(&self, request: Request<pb::GetFormRequest>) -> Reply<pb::Form> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let (form_id, number) = decode::version_name(&mut v, "name", &req.name, true);
        v.finish()?;
        let view = self.version(caller, form_id, number).await?;
        let mut form = encode::form(&view);
        if req.fhir {
            form.fhir_questionnaire = fhir::questionnaire(&view.version);
        }
        Ok(Response::new(form))
    }

    async fn list_forms(
        &self,
        request: Request<pb::ListFormsRequest>,
    ) -> Reply<pb::ListFormsResponse> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let snapshot = self.snapshot()?;
        let mut v = Violations::default();
        let owners = v.name_filter("owners", &req.owners, AGENCIES, |id| {
            snapshot.agency(id).is_some()
        });
        let services = services(&mut v, "services", &req.services, &snapshot);
        let size = v.page_size(req.page_size);
        v.finish()?;
        let binding = Binding::query("ListForms", &req)
            .and(&caller_context(&caller))
            .finish();
        let after: Option<String> = self.tokens.decode(&req.page_token, &binding)?;
        let input = definitions::List {
            caller,
            owners: owners.into_iter().collect(),
            services,
            after: after.unwrap_or_default(),
            limit: i64::try_from(size).unwrap_or(500),
        };
        let mut page = self
            .store
            .read(input, |tx, input| Box::pin(definitions::list(tx, input)))
            .await
            .map_err(AppError::from)?;
        let more = page.len() > size;
        page.truncate(size);
        let next_page_token = match page.last() {
            Some(last) if more => self.tokens.encode(&binding, &last.form.id)?,
            _ => String::new(),
        };
        Ok(Response::new(pb::ListFormsResponse {
            forms: page.iter().map(encode::form).collect(),
            next_page_token,
        }))
    }

    async fn update_form(&self, request: Request<pb::UpdateFormRequest>) -> Reply<pb::Form> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let snapshot = self.snapshot()?;
        let mut v = Violations::default();
        let Some(form) = req.form.as_ref() else {
            return Err(AppError::invalid("form", "is required").into());
        };
        let (form_id, _) = decode::version_name(&mut v, "form.name", &form.name, true);
        let expected = decode::etag(&mut v, "form.etag", &form.etag);
        let mask = mask(&mut v, req.update_mask.as_ref());
        let mut definition = decode::definition(&mut v, "form", form);
        if !mask.fields {
            definition.fields.clear();
        }
        let linked = if mask.services {
            services(&mut v, "form.services", &form.services, &snapshot)
        } else {
            Vec::new()
        };
        v.finish()?;
        let input = definitions::Update {
            caller,
            snapshot,
            form_id,
            expected,
            mask,
            definition,
            services: linked,
            now: self.now(),
        };
        let view = answer(
            self.store
                .write(input, |tx, input| Box::pin(definitions::update(tx, input)))
                .await,
        )?;
        self.links_changed().await;
        Ok(Response::new(encode::form(&view)))
    }

    async fn publish_form_version(
        &self,
        request: Request<pb::PublishFormVersionRequest>,
    ) -> Reply<pb::Form> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let (form_id, number) = decode::version_name(&mut v, "name", &req.name, false);
        let (etag_number, revision) = decode::etag(&mut v, "etag", &req.etag);
        v.finish()?;
        let number = number.unwrap_or_default();
        if etag_number != number {
            return Err(AppError::EtagMismatch { name: req.name }.into());
        }
        let input = definitions::Change {
            caller,
            form_id,
            number,
            revision,
            replacement: None,
            now: self.now(),
        };
        let view = answer(
            self.store
                .write(input, |tx, input| Box::pin(definitions::publish(tx, input)))
                .await,
        )?;
        Ok(Response::new(encode::form(&view)))
    }

    async fn retire_form_version(
        &self,
        request: Request<pb::RetireFormVersionRequest>,
    ) -> Reply<pb::Form> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let (form_id, number) = decode::version_name(&mut v, "name", &req.name, false);
        let (replacement_form, replacement) =
            decode::version_name(&mut v, "replacement", &req.replacement, false);
        let (etag_number, revision) = decode::etag(&mut v, "etag", &req.etag);
        if !form_id.is_empty() && !replacement_form.is_empty() && form_id != replacement_form {
            v.add("replacement", "must be a version of the same form");
        }
        v.finish()?;
        let number = number.unwrap_or_default();
        if etag_number != number {
            return Err(AppError::EtagMismatch { name: req.name }.into());
        }
        let input = definitions::Change {
            caller,
            form_id,
            number,
            revision,
            replacement,
            now: self.now(),
        };
        let view = answer(
            self.store
                .write(input, |tx, input| Box::pin(definitions::retire(tx, input)))
                .await,
        )?;
        Ok(Response::new(encode::form(&view)))
    }

    async fn adopt_form(&self, request: Request<pb::AdoptFormRequest>) -> Reply<pb::Form> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let snapshot = self.snapshot()?;
        let mut v = Violations::default();
        let form_id = decode::form_name(&mut v, "name", &req.name);
        let service = v.name("service", &req.service, SERVICES);
        if !service.is_empty() && snapshot.service(&service).is_none() {
            v.add("service", format!("no such service `{}`", req.service));
        }
        v.finish()?;
        let input = definitions::Adopt {
            caller,
            snapshot,
            form_id,
            service,
            now: self.now(),
        };
        let view = answer(
            self.store
                .write(input, |tx, input| Box::pin(definitions::adopt(tx, input)))
                .await,
        )?;
        self.links_changed().await;
        Ok(Response::new(encode::form(&view)))
    }

    async fn validate_answers(
        &self,
        request: Request<pb::ValidateAnswersRequest>,
    ) -> Reply<pb::ValidateAnswersResponse> {
        self.validate_answers_call(request).await
    }

    async fn prefill_form(
        &self,
        request: Request<pb::PrefillFormRequest>,
    ) -> Reply<pb::PrefillFormResponse> {
        self.prefill_form_call(request).await
    }

    async fn submit_form(&self, request: Request<pb::SubmitFormRequest>) -> Reply<pb::Submission> {
        self.submit_form_call(request).await
    }

    async fn get_submission(
        &self,
        request: Request<pb::GetSubmissionRequest>,
    ) -> Reply<pb::Submission> {
        self.get_submission_call(request).await
    }

    async fn list_submissions(
        &self,
        request: Request<pb::ListSubmissionsRequest>,
    ) -> Reply<pb::ListSubmissionsResponse> {
        self.list_submissions_call(request).await
    }
}
