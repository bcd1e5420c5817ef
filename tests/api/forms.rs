//! Common forms: drafts, publication and immutable versions, adoption by other agencies, answers
//! checked on the server with localized violations, prefill and write-back under consent, and
//! idempotent submissions pinned to their version. Every case runs on both backends.

use single_window::proto::v1::{self as pb, FieldType as T, answer::Value};
use tonic::{Code, Status};
use tonic_types::StatusExt as _;

use crate::{
    assert_error,
    citizens::{ADMIN, As, CRA, ESDC, req},
    helpers::{TestApp, backends},
};

pub const EI: &str = "services/1003";
pub const OAS: &str = "services/1001";
pub const CCB: &str = "services/1107";

pub fn text(en: &str, fr: &str) -> Option<pb::LocalizedText> {
    Some(pb::LocalizedText {
        en: en.to_owned(),
        fr: fr.to_owned(),
    })
}

pub fn field(key: &str, kind: T, required: bool) -> pb::FormField {
    pb::FormField {
        key: key.to_owned(),
        r#type: kind as i32,
        label: text(key, &format!("{key} (fr)")),
        required,
        ..Default::default()
    }
}

fn choice(value: &str) -> pb::FieldChoice {
    pb::FieldChoice {
        value: value.to_owned(),
        label: text(value, value),
    }
}

/// A small form: a name with a pattern, a moving date no later than today, a yes/no, and an
/// explanation required only when the answer is yes.
pub fn sample_form() -> pb::Form {
    let mut name = field("name", T::ShortText, true);
    name.constraints = Some(pb::FieldConstraints {
        max_length: Some(20),
        pattern: "[A-Za-zÀ-ÿ' -]+".to_owned(),
        ..Default::default()
    });
    let mut moved = field("moved_on", T::Date, true);
    moved.constraints = Some(pb::FieldConstraints {
        latest: "today".to_owned(),
        ..Default::default()
    });
    let mut abroad = field("abroad", T::SingleChoice, true);
    abroad.choices = vec![choice("yes"), choice("no")];
    let mut why = field("why", T::LongText, false);
    why.show_when = Some(pb::Condition {
        combine: pb::Combine::All as i32,
        clauses: vec![pb::Clause {
            field: "abroad".to_owned(),
            operator: pb::ClauseOperator::Equals as i32,
            values: vec!["yes".to_owned()],
        }],
    });
    why.require_when = why.show_when.clone();
    pb::Form {
        title: text("Moving", "Déménagement"),
        description: text("Tell us you moved.", "Dites-nous que vous avez déménagé."),
        fields: vec![name, moved, abroad, why],
        services: vec![EI.to_owned()],
        ..Default::default()
    }
}

pub async fn create(app: &TestApp, who: &As, id: &str, form: pb::Form) -> Result<pb::Form, Status> {
    app.forms
        .clone()
        .create_form(req(
            who,
            pb::CreateFormRequest {
                form_id: id.to_owned(),
                form: Some(form),
                request_id: String::new(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

pub async fn publish(app: &TestApp, who: &As, form: &pb::Form) -> Result<pb::Form, Status> {
    app.forms
        .clone()
        .publish_form_version(req(
            who,
            pb::PublishFormVersionRequest {
                name: form.name.clone(),
                etag: form.etag.clone(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

pub async fn get(app: &TestApp, who: &As, name: &str) -> Result<pb::Form, Status> {
    app.forms
        .clone()
        .get_form(req(
            who,
            pb::GetFormRequest {
                name: name.to_owned(),
                fhir: false,
            },
        ))
        .await
        .map(|r| r.into_inner())
}

/// `sample_form` created and published by ESDC as `id`.
pub async fn published(app: &TestApp, id: &str) -> pb::Form {
    let draft = create(app, &As::Key(ESDC), id, sample_form())
        .await
        .expect("created");
    publish(app, &As::Key(ESDC), &draft)
        .await
        .expect("published")
}

pub fn answer(field: &str, value: Value) -> pb::Answer {
    pb::Answer {
        field: field.to_owned(),
        value: Some(value),
        source: None,
    }
}

fn t(s: &str) -> Value {
    Value::Text(s.to_owned())
}

fn pick(v: &str) -> Value {
    Value::Choices(pb::ChoiceAnswer {
        values: vec![v.to_owned()],
    })
}

async fn validate(
    app: &TestApp,
    who: &As,
    name: &str,
    answers: Vec<pb::Answer>,
    lang: Option<&str>,
) -> Result<Vec<pb::Answer>, Status> {
    let mut request = req(
        who,
        pb::ValidateAnswersRequest {
            name: name.to_owned(),
            answers,
        },
    );
    if let Some(lang) = lang {
        request
            .metadata_mut()
            .insert("accept-language", lang.parse().expect("ascii"));
    }
    app.forms
        .clone()
        .validate_answers(request)
        .await
        .map(|r| r.into_inner().answers)
}

/// (field, reason, localized message) of each violation.
pub fn violations(status: &Status) -> Vec<(String, String, String)> {
    let details = status.get_error_details();
    let bad = details
        .bad_request()
        .unwrap_or_else(|| panic!("no BadRequest in {status:?}"));
    bad.field_violations
        .iter()
        .map(|v| {
            let message = v
                .localized_message
                .as_ref()
                .map(|m| format!("{}: {}", m.locale, m.message))
                .unwrap_or_default();
            (v.field.clone(), v.reason.clone(), message)
        })
        .collect()
}

#[tokio::test]
async fn a_form_is_drafted_published_edited_into_a_new_version_and_retired() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let esdc = As::Key(ESDC);
        let draft = create(&app, &esdc, "moving-notice", sample_form())
            .await
            .expect("created");
        assert_eq!(draft.name, "forms/moving-notice/versions/1");
        assert_eq!(draft.state, pb::FormVersionState::Draft as i32);
        assert_eq!(draft.owner, "agencies/esdc-edsc");
        assert_eq!(draft.services, vec![EI.to_owned()]);

        // A draft is its owner's: others and the public see no form at all.
        for who in [As::Public, As::Key(CRA)] {
            for name in ["forms/moving-notice", "forms/moving-notice/versions/1"] {
                let status = get(&app, &who, name).await.expect_err("a draft is hidden");
                assert_error(&status, Code::NotFound, "RESOURCE_NOT_FOUND", None);
            }
        }
        assert_eq!(
            get(&app, &esdc, "forms/moving-notice/versions/1")
                .await
                .expect("own draft")
                .etag,
            draft.etag
        );

        // Another agency may not publish it; a stale etag is refused.
        let status = publish(&app, &As::Key(CRA), &draft)
            .await
            .expect_err("not CRA's");
        assert_error(&status, Code::PermissionDenied, "PERMISSION_DENIED", None);
        let v1 = publish(&app, &esdc, &draft).await.expect("published");
        assert_eq!(v1.state, pb::FormVersionState::Published as i32);
        assert_eq!(v1.latest_published, v1.name);
        let status = publish(&app, &esdc, &draft).await.expect_err("stale etag");
        assert_error(&status, Code::Aborted, "ETAG_MISMATCH", None);
        let status = publish(&app, &esdc, &v1).await.expect_err("published once");
        assert_error(
            &status,
            Code::FailedPrecondition,
            "FAILED_PRECONDITION",
            None,
        );
        assert_eq!(
            get(&app, &As::Public, "forms/moving-notice")
                .await
                .expect("public")
                .name,
            v1.name
        );

        // Editing a published form starts version 2; version 1 never changes.
        let mut edit = sample_form();
        edit.name = "forms/moving-notice".to_owned();
        edit.etag = v1.etag.clone();
        edit.fields.push(field("phone", T::Phone, false));
        let update = |form: pb::Form, paths: &[&str]| pb::UpdateFormRequest {
            form: Some(form),
            update_mask: Some(prost_types::FieldMask {
                paths: paths.iter().map(|p| (*p).to_owned()).collect(),
            }),
        };
        let v2 = app
            .forms
            .clone()
            .update_form(req(&esdc, update(edit.clone(), &["fields"])))
            .await
            .expect("edited")
            .into_inner();
        assert_eq!(v2.name, "forms/moving-notice/versions/2");
        assert_eq!(v2.state, pb::FormVersionState::Draft as i32);
        assert_eq!(v2.fields.len(), 5);
        assert_eq!(
            v2.latest_published, v1.name,
            "the draft is not what others fill in"
        );
        let again = get(&app, &As::Public, "forms/moving-notice/versions/1")
            .await
            .expect("v1");
        assert_eq!(again.fields, v1.fields, "a published version is immutable");
        assert_eq!(again.etag, v1.etag);

        // The draft is edited in place with its own etag; the old etag is stale.
        let status = app
            .forms
            .clone()
            .update_form(req(&esdc, update(edit.clone(), &["title"])))
            .await
            .expect_err("stale");
        assert_error(&status, Code::Aborted, "ETAG_MISMATCH", None);
        edit.etag = v2.etag.clone();
        edit.title = text("Moving (2)", "Déménagement (2)");
        let v2 = app
            .forms
            .clone()
            .update_form(req(&esdc, update(edit, &["title"])))
            .await
            .expect("re-edited")
            .into_inner();
        assert_eq!(v2.name, "forms/moving-notice/versions/2");
        assert_eq!(v2.title.as_ref().map(|t| t.en.as_str()), Some("Moving (2)"));
        assert_eq!(v2.fields.len(), 5, "fields were not in the mask");
        let v2 = publish(&app, &esdc, &v2).await.expect("v2 published");
        assert_eq!(
            get(&app, &As::Public, "forms/moving-notice")
                .await
                .expect("latest")
                .name,
            v2.name
        );

        // Retiring version 1 names the version to use.
        let retire = |name: &str, replacement: &str, etag: &str| pb::RetireFormVersionRequest {
            name: name.to_owned(),
            replacement: replacement.to_owned(),
            etag: etag.to_owned(),
        };
        let status = app
            .forms
            .clone()
            .retire_form_version(req(&esdc, retire(&v1.name, &v1.name, &v1.etag)))
            .await
            .expect_err("not itself");
        assert_error(
            &status,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            Some("replacement"),
        );
        let retired = app
            .forms
            .clone()
            .retire_form_version(req(&esdc, retire(&v1.name, &v2.name, &v1.etag)))
            .await
            .expect("retired")
            .into_inner();
        assert_eq!(retired.state, pb::FormVersionState::Retired as i32);
        assert_eq!(retired.replacement, v2.name);
        assert_eq!(
            get(&app, &As::Public, &v1.name)
                .await
                .expect("still readable")
                .state,
            pb::FormVersionState::Retired as i32
        );
        let status = create(&app, &esdc, "moving-notice", sample_form())
            .await
            .expect_err("taken");
        assert_error(&status, Code::AlreadyExists, "ALREADY_EXISTS", None);
    }
}

/// A change to a good form that makes it bad.
type Edit = Box<dyn Fn(&mut pb::Form)>;

#[tokio::test]
async fn a_bad_definition_is_refused_naming_the_path() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let esdc = As::Key(ESDC);
        let cases: Vec<(&str, Edit)> = vec![
            (
                "form.fields[3].show_when.clauses[0].field",
                Box::new(|f| {
                    f.fields[3].show_when.as_mut().unwrap().clauses[0].field = "nope".into()
                }),
            ),
            (
                "form.fields[0].constraints.pattern",
                Box::new(|f| f.fields[0].constraints.as_mut().unwrap().pattern = "([a-z".into()),
            ),
            (
                "form.fields[0].prefill",
                Box::new(|f| f.fields[0].prefill = "identity.favourite_colour".into()),
            ),
            (
                "form.fields[1].prefill",
                Box::new(|f| f.fields[1].prefill = "contact.email".into()),
            ),
            (
                "form.fields[2].show_when",
                Box::new(|f| {
                    let mut c = f.fields[3].show_when.clone().unwrap();
                    c.clauses[0].field = "why".into();
                    c.clauses[0].operator = pb::ClauseOperator::Exists as i32;
                    c.clauses[0].values.clear();
                    f.fields[2].show_when = Some(c);
                }),
            ),
            ("form.fields[2].type", Box::new(|f| f.fields[2].r#type = 0)),
            (
                "form.fields[1].key",
                Box::new(|f| f.fields[1].key = "name".into()),
            ),
            (
                "form.services[0]",
                Box::new(|f| f.services = vec![CCB.to_owned()]),
            ),
            ("form.title.fr", Box::new(|f| f.title = text("Moving", ""))),
        ];
        for (path, mutate) in cases {
            let mut form = sample_form();
            mutate(&mut form);
            let status = create(&app, &esdc, "bad-form", form).await.expect_err(path);
            assert_error(
                &status,
                Code::InvalidArgument,
                "INVALID_ARGUMENT",
                Some(path),
            );
        }
        let status = create(
            &app,
            &As::Key(CRA),
            "bad-form",
            pb::Form {
                owner: "agencies/esdc-edsc".into(),
                ..sample_form()
            },
        )
        .await
        .expect_err("not CRA's to own");
        assert_error(&status, Code::PermissionDenied, "PERMISSION_DENIED", None);
        let status = create(&app, &As::Key(ADMIN), "bad-form", sample_form())
            .await
            .expect_err("an owner is named");
        assert_error(
            &status,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            Some("form.owner"),
        );
        let made = create(
            &app,
            &As::Key(ADMIN),
            "admin-form",
            pb::Form {
                owner: "agencies/esdc-edsc".into(),
                ..sample_form()
            },
        )
        .await
        .expect("an administrator creates for ESDC");
        assert_eq!(made.owner, "agencies/esdc-edsc");
    }
}

#[tokio::test]
async fn answers_are_checked_on_the_server_with_the_rule_and_a_message_in_the_callers_language() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let form = published(&app, "moving-notice").await;
        let good = vec![
            answer("name", t("Amélie Tremblay")),
            answer("moved_on", t("2024-05-01")),
            answer("abroad", pick("no")),
        ];
        let kept = validate(&app, &As::Public, &form.name, good, None)
            .await
            .expect("valid");
        assert_eq!(kept.len(), 3);

        let bad = vec![
            answer("name", t("R2-D2")),
            answer("moved_on", t("2100-01-01")),
            answer("abroad", pick("yes")),
            answer("colour", t("blue")),
        ];
        let status = validate(
            &app,
            &As::Public,
            &form.name,
            bad.clone(),
            Some("fr-CA,fr;q=0.9"),
        )
        .await
        .expect_err("invalid");
        assert_error(&status, Code::InvalidArgument, "INVALID_ARGUMENT", None);
        let mut found = violations(&status);
        found.sort();
        assert_eq!(
            found
                .iter()
                .map(|(f, r, _)| (f.as_str(), r.as_str()))
                .collect::<Vec<_>>(),
            vec![
                ("colour", "UNKNOWN_FIELD"),
                ("moved_on", "TOO_LATE"),
                ("name", "PATTERN"),
                ("why", "REQUIRED")
            ]
        );
        let (_, _, message) = found.iter().find(|(f, _, _)| f == "why").expect("why");
        assert_eq!(message, "fr-CA: est obligatoire");
        let status = validate(&app, &As::Public, &form.name, bad, None)
            .await
            .expect_err("invalid");
        let english = violations(&status);
        assert!(
            english
                .iter()
                .any(|(f, _, m)| f == "why" && m == "en-CA: is required"),
            "{english:?}"
        );

        // A hidden field must not be answered.
        let hidden = vec![
            answer("name", t("Amélie")),
            answer("moved_on", t("2024-05-01")),
            answer("abroad", pick("no")),
            answer("why", t("Work")),
        ];
        let status = validate(&app, &As::Public, &form.name, hidden, None)
            .await
            .expect_err("hidden");
        assert_eq!(violations(&status)[0].0, "why");
        assert_eq!(violations(&status)[0].1, "HIDDEN_FIELD");
        let status = validate(&app, &As::Public, "forms/moving-notice", Vec::new(), None)
            .await
            .expect_err("needs a version");
        assert_error(
            &status,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            Some("name"),
        );
    }
}

#[tokio::test]
async fn another_agency_adopts_a_published_form_for_its_own_service_and_lists_find_it() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let draft = create(&app, &As::Key(ESDC), "moving-notice", sample_form())
            .await
            .expect("created");
        let adopt = |service: &str| pb::AdoptFormRequest {
            name: "forms/moving-notice".into(),
            service: service.into(),
        };
        let status = app
            .forms
            .clone()
            .adopt_form(req(&As::Key(CRA), adopt(CCB)))
            .await
            .expect_err("a draft cannot be adopted");
        assert_error(&status, Code::NotFound, "RESOURCE_NOT_FOUND", None);
        publish(&app, &As::Key(ESDC), &draft)
            .await
            .expect("published");
        let status = app
            .forms
            .clone()
            .adopt_form(req(&As::Key(CRA), adopt(OAS)))
            .await
            .expect_err("not CRA's service");
        assert_error(
            &status,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            Some("service"),
        );
        let adopted = app
            .forms
            .clone()
            .adopt_form(req(&As::Key(CRA), adopt(CCB)))
            .await
            .expect("adopted")
            .into_inner();
        assert_eq!(
            adopted.services,
            vec![EI.to_owned(), CCB.to_owned()],
            "by service id"
        );
        let cra_link = adopted
            .linked
            .iter()
            .find(|l| l.service == CCB)
            .expect("the CCB link");
        assert_eq!(cra_link.agency, "agencies/cra-arc");

        let list = |services: Vec<String>, owners: Vec<String>| pb::ListFormsRequest {
            services,
            owners,
            page_size: 0,
            page_token: String::new(),
        };
        let by_service = app
            .forms
            .clone()
            .list_forms(req(&As::Public, list(vec![CCB.into()], vec![])))
            .await
            .expect("listed")
            .into_inner();
        assert_eq!(
            by_service
                .forms
                .iter()
                .map(|f| f.form.as_str())
                .collect::<Vec<_>>(),
            vec!["forms/moving-notice"]
        );
        let by_owner = app
            .forms
            .clone()
            .list_forms(req(
                &As::Public,
                list(vec![], vec!["agencies/cra-arc".into()]),
            ))
            .await
            .expect("listed")
            .into_inner();
        assert!(
            by_owner.forms.is_empty(),
            "CRA adopted it but does not own it"
        );
        create(&app, &As::Key(ESDC), "draft-only", sample_form())
            .await
            .expect("created");
        let public = app
            .forms
            .clone()
            .list_forms(req(&As::Public, list(vec![], vec![])))
            .await
            .expect("listed")
            .into_inner();
        assert!(
            public.forms.iter().all(|f| f.form != "forms/draft-only"),
            "drafts are their owner's"
        );
        let own = app
            .forms
            .clone()
            .list_forms(req(&As::Key(ESDC), list(vec![], vec![])))
            .await
            .expect("listed")
            .into_inner();
        assert!(own.forms.iter().any(|f| f.form == "forms/draft-only"));
    }
}
