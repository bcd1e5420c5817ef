//! Common forms: drafts, publication and immutable versions, adoption by other agencies, answers
//! checked on the server with localized violations, prefill and write-back under consent, and
//! idempotent submissions pinned to their version. Every case runs on both backends.

use single_window::proto::v1::{self as pb, FieldType as T, answer::Value};
use tonic::{Code, Status};
use tonic_types::StatusExt as _;

use crate::{
    assert_error,
    citizens::{self, ADMIN, As, CRA, ESDC, JORDAN, jordan, req},
    feedback::count,
    helpers::{TestApp, backends},
};
use single_window::proto::v1::{ConsentCategory as Cat, ConsentPurpose as Purpose};

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
            vec![
                "forms/change-of-address",
                "forms/direct-deposit",
                "forms/identity-and-contact",
                "forms/moving-notice"
            ],
            "the shipped common forms CRA uses, and the one it adopted"
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

/// A contact-details form that prefills from the record and writes the email and the residential
/// address back, with a SIN and a bank account (both sealed at rest).
pub fn contact_form() -> pb::Form {
    let mut given = field("given_name", T::ShortText, true);
    given.prefill = "identity.given_name".into();
    given.constraints = Some(pb::FieldConstraints {
        max_length: Some(100),
        ..Default::default()
    });
    let mut email = field("email", T::Email, true);
    email.prefill = "contact.email".into();
    email.write_back = true;
    let mut home = field("home", T::Address, true);
    home.prefill = "addresses.residential".into();
    home.write_back = true;
    let mut sin = field("sin", T::Identifier, false);
    sin.identifier_scheme = pb::IdentifierScheme::Sin as i32;
    sin.prefill = "identifiers.sin".into();
    let bank = field("bank", T::BankAccount, false);
    pb::Form {
        title: text("Contact details", "Coordonnées"),
        fields: vec![given, email, home, sin, bank],
        services: vec![EI.to_owned()],
        ..Default::default()
    }
}

fn address(line1: &str, city: &str, province: &str, postal: &str) -> Value {
    Value::Address(pb::Address {
        kind: 0,
        line1: line1.into(),
        line2: String::new(),
        city: city.into(),
        province: province.into(),
        postal_code: postal.into(),
    })
}

fn contact_answers(email: &str) -> Vec<pb::Answer> {
    vec![
        answer("given_name", t("Jordan")),
        answer("email", t(email)),
        answer("home", address("1 Rideau St", "Ottawa", "ON", "K1N 8S7")),
        answer(
            "sin",
            Value::Identifier(pb::Identifier {
                scheme: pb::IdentifierScheme::Sin as i32,
                province: String::new(),
                value: "130 692 544".into(),
            }),
        ),
        answer(
            "bank",
            Value::BankAccount(pb::BankAccount {
                institution: "004".into(),
                transit: "12345".into(),
                account: "1234567".into(),
            }),
        ),
    ]
}

pub async fn submit(
    app: &TestApp,
    who: &As,
    form: &str,
    answers: Vec<pb::Answer>,
    request_id: &str,
) -> Result<pb::Submission, Status> {
    let channel = if matches!(who, As::Portal(_)) {
        0
    } else {
        pb::Channel::InPerson as i32
    };
    app.forms
        .clone()
        .submit_form(req(
            who,
            pb::SubmitFormRequest {
                form_version: form.to_owned(),
                citizen: JORDAN.to_owned(),
                service: EI.to_owned(),
                channel,
                answers,
                request_id: request_id.to_owned(),
                ..Default::default()
            },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn contact_published(app: &TestApp) -> pb::Form {
    let draft = create(app, &As::Key(ESDC), "contact-details", contact_form())
        .await
        .expect("created");
    publish(app, &As::Key(ESDC), &draft)
        .await
        .expect("published")
}

async fn prefill(app: &TestApp, who: &As, name: &str) -> Result<pb::PrefillFormResponse, Status> {
    app.forms
        .clone()
        .prefill_form(req(
            who,
            pb::PrefillFormRequest {
                name: name.to_owned(),
                citizen: JORDAN.to_owned(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

/// The access actions of Jordan's log, in order.
async fn actions(app: &TestApp) -> Vec<(i32, i32)> {
    let log = citizens::events(app, &jordan(app), JORDAN, 0)
        .await
        .expect("her log");
    log.events.iter().map(|e| (e.action, e.outcome)).collect()
}

#[tokio::test]
async fn prefill_reads_only_what_the_prefill_consent_grants_and_says_where_each_answer_came_from() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let form = contact_published(&app).await;
        let status = prefill(&app, &As::Key(CRA), "forms/contact-details")
            .await
            .expect_err("no consent");
        assert_error(&status, Code::PermissionDenied, "PERMISSION_DENIED", None);
        let status = prefill(&app, &As::Key(CRA), "forms/contact-details/versions/9")
            .await
            .expect_err("no version");
        assert_error(&status, Code::NotFound, "RESOURCE_NOT_FOUND", None);

        let consent = citizens::grant(
            &app,
            &jordan(&app),
            JORDAN,
            citizens::consent("cra-arc", Purpose::Prefill, &[Cat::Contact]),
        )
        .await
        .expect("granted");
        let read = prefill(&app, &As::Key(CRA), "forms/contact-details")
            .await
            .expect("prefilled");
        assert_eq!(read.form, form.name);
        assert_eq!(
            read.answers
                .iter()
                .map(|a| a.field.as_str())
                .collect::<Vec<_>>(),
            ["email"]
        );
        let source = read.answers[0].source.as_ref().expect("a source");
        assert_eq!(source.record_field, "contact.email");
        assert_eq!(source.citizen, JORDAN);
        assert_eq!(source.consent, consent.name);
        assert_eq!(
            read.withheld,
            ["given_name", "home", "sin"],
            "no consent for these categories"
        );

        let own = prefill(&app, &jordan(&app), "forms/contact-details")
            .await
            .expect("her own");
        assert_eq!(
            own.answers
                .iter()
                .map(|a| a.field.as_str())
                .collect::<Vec<_>>(),
            ["given_name", "email", "home", "sin"]
        );
        assert!(own.withheld.is_empty());
        assert!(
            own.answers
                .iter()
                .all(|a| a.source.as_ref().is_some_and(|s| s.consent.is_empty()))
        );

        let prefills: Vec<i32> = actions(&app)
            .await
            .into_iter()
            .filter(|(a, _)| *a == pb::AccessAction::PrefillForm as i32)
            .map(|(_, o)| o)
            .collect();
        assert_eq!(
            prefills,
            [
                pb::AccessOutcome::Denied as i32,
                pb::AccessOutcome::Allowed as i32,
                pb::AccessOutcome::Allowed as i32
            ]
        );
    }
}

#[tokio::test]
async fn a_submission_writes_back_under_consent_and_an_address_change_notifies_the_agencies_told() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let form = contact_published(&app).await;
        let me = jordan(&app);
        citizens::grant(
            &app,
            &me,
            JORDAN,
            citizens::consent("cra-arc", Purpose::NotifyOfChanges, &[Cat::Address]),
        )
        .await
        .expect("notify CRA");

        // An agency without a service delivery consent may not submit for her.
        let status = submit(
            &app,
            &As::Key(ESDC),
            &form.name,
            contact_answers("jordan@example.ca"),
            "",
        )
        .await
        .expect_err("no consent");
        assert_error(&status, Code::PermissionDenied, "PERMISSION_DENIED", None);
        citizens::grant(
            &app,
            &me,
            JORDAN,
            citizens::consent("esdc-edsc", Purpose::ServiceDelivery, &[Cat::Contact]),
        )
        .await
        .expect("delivery");
        let by_agency = submit(
            &app,
            &As::Key(ESDC),
            &form.name,
            contact_answers("agency@example.ca"),
            "",
        )
        .await
        .expect("submitted");
        let outcomes: Vec<(String, i32)> = by_agency
            .write_backs
            .iter()
            .map(|w| (w.field.clone(), w.outcome))
            .collect();
        assert_eq!(
            outcomes,
            [
                (
                    "email".to_owned(),
                    pb::WriteBackOutcome::NotPermitted as i32
                ),
                ("home".to_owned(), pb::WriteBackOutcome::NotPermitted as i32)
            ],
            "no record maintenance consent"
        );
        let record = citizens::get(&app, &me, JORDAN, Purpose::Unspecified, &[])
            .await
            .expect("her record");
        assert_ne!(
            record.contact.as_ref().map(|c| c.email.as_str()),
            Some("agency@example.ca")
        );

        // Her own portal writes both back; the address change is a notice for CRA.
        let own = submit(
            &app,
            &me,
            &form.name,
            contact_answers("jordan@example.ca"),
            "",
        )
        .await
        .expect("submitted");
        let outcomes: Vec<i32> = own.write_backs.iter().map(|w| w.outcome).collect();
        assert_eq!(
            outcomes,
            [
                pb::WriteBackOutcome::Written as i32,
                pb::WriteBackOutcome::Written as i32
            ]
        );
        assert_eq!(own.channel, pb::Channel::Online as i32);
        let record = citizens::get(&app, &me, JORDAN, Purpose::Unspecified, &[])
            .await
            .expect("her record");
        assert_eq!(
            record.contact.as_ref().map(|c| c.email.as_str()),
            Some("jordan@example.ca")
        );
        let home = record
            .addresses
            .iter()
            .find(|a| a.kind == pb::AddressKind::Residential as i32)
            .expect("home");
        assert_eq!(
            (home.line1.as_str(), home.postal_code.as_str()),
            ("1 Rideau St", "K1N 8S7")
        );
        let again = submit(
            &app,
            &me,
            &form.name,
            contact_answers("jordan@example.ca"),
            "",
        )
        .await
        .expect("again");
        assert!(
            again
                .write_backs
                .iter()
                .all(|w| w.outcome == pb::WriteBackOutcome::Unchanged as i32)
        );
        let notices = app
            .citizens
            .clone()
            .list_change_notices(req(
                &As::Key(CRA),
                pb::ListChangeNoticesRequest {
                    after_position: 0,
                    page_size: 0,
                },
            ))
            .await
            .expect("listed")
            .into_inner();
        let kinds: Vec<i32> = notices.notices.iter().map(|n| n.kind).collect();
        assert_eq!(
            kinds,
            [pb::ChangeKind::Address as i32],
            "CRA is told of the address only"
        );

        // ESDC with a record maintenance consent for contact writes the email only.
        citizens::grant(
            &app,
            &me,
            JORDAN,
            citizens::consent("esdc-edsc", Purpose::RecordMaintenance, &[Cat::Contact]),
        )
        .await
        .expect("maintenance");
        let mut answers = contact_answers("desk@example.ca");
        answers[2] = answer("home", address("2 Rideau St", "Ottawa", "ON", "K1N 8S7"));
        let written = submit(&app, &As::Key(ESDC), &form.name, answers, "")
            .await
            .expect("submitted");
        let outcomes: Vec<i32> = written.write_backs.iter().map(|w| w.outcome).collect();
        assert_eq!(
            outcomes,
            [
                pb::WriteBackOutcome::Written as i32,
                pb::WriteBackOutcome::NotPermitted as i32
            ]
        );
        let log = actions(&app).await;
        let count = |action: pb::AccessAction, outcome: pb::AccessOutcome| {
            log.iter()
                .filter(|(a, o)| *a == action as i32 && *o == outcome as i32)
                .count()
        };
        assert_eq!(
            count(pb::AccessAction::SubmitForm, pb::AccessOutcome::Denied),
            1
        );
        assert_eq!(
            count(pb::AccessAction::SubmitForm, pb::AccessOutcome::Allowed),
            4
        );
        assert_eq!(
            count(pb::AccessAction::WriteBack, pb::AccessOutcome::Allowed),
            2
        );
        assert_eq!(
            count(pb::AccessAction::WriteBack, pb::AccessOutcome::Denied),
            2
        );
    }
}

#[tokio::test]
async fn a_submission_is_idempotent_pinned_to_its_version_and_refused_once_that_version_is_retired()
{
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let v1 = contact_published(&app).await;
        let me = jordan(&app);
        let first = submit(
            &app,
            &me,
            &v1.name,
            contact_answers("jordan@example.ca"),
            "retry-1",
        )
        .await
        .expect("submitted");
        let retry = submit(
            &app,
            &me,
            &v1.name,
            contact_answers("jordan@example.ca"),
            "retry-1",
        )
        .await
        .expect("retried");
        assert_eq!(
            retry.name, first.name,
            "a retry answers the first submission"
        );
        let status = submit(
            &app,
            &me,
            &v1.name,
            contact_answers("other@example.ca"),
            "retry-1",
        )
        .await
        .expect_err("reused");
        assert_error(&status, Code::AlreadyExists, "ALREADY_EXISTS", None);

        // A newer version does not invalidate the old one.
        let mut edit = contact_form();
        edit.name = "forms/contact-details".into();
        edit.etag = v1.etag.clone();
        edit.fields.push(field("note", T::LongText, false));
        let draft = app
            .forms
            .clone()
            .update_form(req(
                &As::Key(ESDC),
                pb::UpdateFormRequest {
                    form: Some(edit),
                    update_mask: None,
                },
            ))
            .await
            .expect("edited")
            .into_inner();
        let v2 = publish(&app, &As::Key(ESDC), &draft).await.expect("v2");
        let pinned = submit(
            &app,
            &me,
            &v1.name,
            contact_answers("jordan@example.ca"),
            "",
        )
        .await
        .expect("v1 still valid");
        assert_eq!(pinned.form_version, v1.name);
        let status = submit(&app, &me, &v1.name, vec![answer("note", t("hi"))], "")
            .await
            .expect_err("v1 has no note");
        assert_eq!(
            violations(&status)
                .iter()
                .find(|v| v.0 == "note")
                .map(|v| v.1.as_str()),
            Some("UNKNOWN_FIELD")
        );

        let v1 = get(&app, &As::Public, &v1.name).await.expect("v1");
        app.forms
            .clone()
            .retire_form_version(req(
                &As::Key(ESDC),
                pb::RetireFormVersionRequest {
                    name: v1.name.clone(),
                    replacement: v2.name.clone(),
                    etag: v1.etag.clone(),
                },
            ))
            .await
            .expect("retired");
        let status = submit(
            &app,
            &me,
            &v1.name,
            contact_answers("jordan@example.ca"),
            "",
        )
        .await
        .expect_err("retired");
        assert_error(
            &status,
            Code::FailedPrecondition,
            "FORM_VERSION_RETIRED",
            None,
        );
        let info = status
            .get_error_details()
            .error_info()
            .cloned()
            .expect("ErrorInfo");
        assert_eq!(info.metadata.get("replacement"), Some(&v2.name));

        // The submission reads back whole for her and for the recipient, not for others.
        let read = |who: As, name: String| {
            let mut c = app.forms.clone();
            async move {
                c.get_submission(req(&who, pb::GetSubmissionRequest { name, fhir: false }))
                    .await
                    .map(|r| r.into_inner())
            }
        };
        let mine = read(me.clone(), first.name.clone()).await.expect("hers");
        assert_eq!(mine.answers, first.answers);
        assert_eq!(mine.recipient, "agencies/esdc-edsc");
        let recipient = read(As::Key(ESDC), first.name.clone())
            .await
            .expect("the recipient's");
        assert_eq!(recipient.answers.len(), 5);
        let status = read(As::Key(CRA), first.name.clone())
            .await
            .expect_err("not CRA's");
        assert_error(&status, Code::PermissionDenied, "PERMISSION_DENIED", None);
        let status = read(
            As::Key(CRA),
            "forms/contact-details/submissions/0123456789abcdef01234567".into(),
        )
        .await
        .expect_err("none");
        assert_error(&status, Code::PermissionDenied, "PERMISSION_DENIED", None);

        let listed = app
            .forms
            .clone()
            .list_submissions(req(
                &me,
                pb::ListSubmissionsRequest {
                    parent: "forms/-".into(),
                    page_size: 1,
                    ..Default::default()
                },
            ))
            .await
            .expect("listed")
            .into_inner();
        assert_eq!(listed.submissions.len(), 1);
        assert!(
            listed.submissions[0].answers.is_empty(),
            "lists carry no answers"
        );
        assert!(!listed.next_page_token.is_empty());
        let cra = app
            .forms
            .clone()
            .list_submissions(req(
                &As::Key(CRA),
                pb::ListSubmissionsRequest {
                    parent: "forms/contact-details".into(),
                    ..Default::default()
                },
            ))
            .await
            .expect("listed")
            .into_inner();
        assert!(
            cra.submissions.is_empty(),
            "CRA neither sent nor received any"
        );

        // Identifiers and bank accounts are sealed at rest.
        let clear = count(&app, backend, "SELECT COUNT(*) FROM submission_answers WHERE path IN ('sin', 'bank') AND value IS NOT NULL").await;
        let sealed = count(&app, backend, "SELECT COUNT(*) FROM submission_answers WHERE path IN ('sin', 'bank') AND ciphertext IS NOT NULL").await;
        assert_eq!((clear, sealed), (0, 4));
    }
}

/// The R4 item types (Questionnaire.item.type's required binding).
const ITEM_TYPES: &[&str] = &[
    "group",
    "display",
    "boolean",
    "decimal",
    "integer",
    "date",
    "dateTime",
    "time",
    "string",
    "text",
    "url",
    "choice",
    "open-choice",
    "attachment",
    "reference",
    "quantity",
];

/// Whether `o` has exactly one member named `value…` (`prefix` `value` or `answer`).
fn one_choice_of(o: &serde_json::Value, prefix: &str) -> bool {
    o.as_object().is_some_and(|m| {
        m.keys()
            .filter(|k| k.starts_with(prefix) && k.len() > prefix.len())
            .count()
            == 1
    })
}

/// Checks the elements R4's Questionnaire structure definition requires (cardinality 1..1 and
/// required bindings) on `items`, recursively.
fn check_questionnaire_items(items: &[serde_json::Value]) {
    for item in items {
        assert!(item["linkId"].is_string(), "item.linkId 1..1: {item}");
        assert!(
            ITEM_TYPES.contains(&item["type"].as_str().unwrap_or("")),
            "item.type 1..1: {item}"
        );
        for option in item["answerOption"].as_array().into_iter().flatten() {
            assert!(
                one_choice_of(option, "value"),
                "answerOption.value[x] 1..1: {option}"
            );
        }
        let when = item["enableWhen"].as_array().cloned().unwrap_or_default();
        for w in &when {
            assert!(w["question"].is_string(), "enableWhen.question 1..1");
            assert!(
                ["exists", "=", "!=", ">", "<", ">=", "<="]
                    .contains(&w["operator"].as_str().unwrap_or("")),
                "operator"
            );
            assert!(one_choice_of(w, "answer"), "enableWhen.answer[x] 1..1: {w}");
        }
        if when.len() > 1 {
            assert!(
                item["enableBehavior"].is_string(),
                "que-12: enableBehavior with several enableWhen"
            );
        }
        for e in item["extension"].as_array().into_iter().flatten() {
            assert!(e["url"].is_string(), "extension.url 1..1");
        }
        check_questionnaire_items(
            item["item"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default(),
        );
    }
}

/// The same for QuestionnaireResponse items (qrs-1: an answer or items, never both).
fn check_response_items(items: &[serde_json::Value]) {
    for item in items {
        assert!(item["linkId"].is_string(), "item.linkId 1..1: {item}");
        assert!(
            !(item.get("answer").is_some() && item.get("item").is_some()),
            "qrs-1: {item}"
        );
        for answer in item["answer"].as_array().into_iter().flatten() {
            assert!(
                one_choice_of(answer, "value"),
                "answer.value[x] 1..1: {answer}"
            );
        }
        check_response_items(
            item["item"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default(),
        );
    }
}

#[tokio::test]
async fn forms_and_submissions_round_trip_through_fhir_questionnaires() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let contact = contact_published(&app).await;
        let moving = published(&app, "moving-notice").await;
        for form in [&contact, &moving] {
            let read = app
                .forms
                .clone()
                .get_form(req(
                    &As::Public,
                    pb::GetFormRequest {
                        name: form.name.clone(),
                        fhir: true,
                    },
                ))
                .await
                .expect("read")
                .into_inner();
            let q: serde_json::Value =
                serde_json::from_str(&read.fhir_questionnaire).expect("JSON");
            assert_eq!(q["resourceType"], "Questionnaire");
            assert_eq!(q["status"], "active", "Questionnaire.status 1..1");
            assert_eq!(q["version"], "1");
            check_questionnaire_items(q["item"].as_array().expect("items"));
        }
        let q: serde_json::Value = serde_json::from_str(
            &app.forms
                .clone()
                .get_form(req(
                    &As::Public,
                    pb::GetFormRequest {
                        name: moving.name.clone(),
                        fhir: true,
                    },
                ))
                .await
                .expect("read")
                .into_inner()
                .fhir_questionnaire,
        )
        .expect("JSON");
        let why = &q["item"][3];
        assert_eq!(why["enableWhen"][0]["question"], "abroad");
        assert_eq!(why["enableWhen"][0]["answerCoding"]["code"], "yes");
        assert_eq!(
            q["_title"]["extension"][0]["extension"][1]["valueString"],
            "Déménagement"
        );

        let me = jordan(&app);
        let first = submit(
            &app,
            &me,
            &contact.name,
            contact_answers("jordan@example.ca"),
            "",
        )
        .await
        .expect("submitted");
        let read = app
            .forms
            .clone()
            .get_submission(req(
                &me,
                pb::GetSubmissionRequest {
                    name: first.name.clone(),
                    fhir: true,
                },
            ))
            .await
            .expect("read")
            .into_inner();
        let r: serde_json::Value =
            serde_json::from_str(&read.fhir_questionnaire_response).expect("JSON");
        assert_eq!(r["resourceType"], "QuestionnaireResponse");
        assert!(
            [
                "in-progress",
                "completed",
                "amended",
                "entered-in-error",
                "stopped"
            ]
            .contains(&r["status"].as_str().unwrap_or(""))
        );
        assert_eq!(
            r["questionnaire"],
            "urn:single-window:fhir:forms/contact-details|1"
        );
        check_response_items(r["item"].as_array().expect("items"));

        let again = app
            .forms
            .clone()
            .submit_form(req(
                &me,
                pb::SubmitFormRequest {
                    form_version: contact.name.clone(),
                    citizen: JORDAN.to_owned(),
                    service: EI.to_owned(),
                    fhir_questionnaire_response: read.fhir_questionnaire_response.clone(),
                    ..Default::default()
                },
            ))
            .await
            .expect("submitted as FHIR")
            .into_inner();
        assert_eq!(again.answers, first.answers, "the same answers back");
        let status = app
            .forms
            .clone()
            .submit_form(req(
                &me,
                pb::SubmitFormRequest {
                    form_version: contact.name.clone(),
                    citizen: JORDAN.to_owned(),
                    service: EI.to_owned(),
                    fhir_questionnaire_response: "{\"resourceType\": \"Patient\"}".into(),
                    ..Default::default()
                },
            ))
            .await
            .expect_err("not a response");
        assert_error(
            &status,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            Some("fhir_questionnaire_response.resourceType"),
        );
    }
}

#[tokio::test]
async fn the_shipped_common_forms_are_published_bilingual_and_listed_by_their_services() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        for (id, owner) in [
            ("change-of-address", "agencies/esdc-edsc"),
            ("identity-and-contact", "agencies/esdc-edsc"),
            ("direct-deposit", "agencies/pwgsc-tpsgc"),
        ] {
            let form = get(&app, &As::Public, &format!("forms/{id}"))
                .await
                .expect("shipped");
            assert_eq!(form.state, pb::FormVersionState::Published as i32);
            assert_eq!(form.owner, owner);
            let title = form.title.as_ref().expect("a title");
            assert!(!title.en.is_empty() && !title.fr.is_empty());
            let agencies: std::collections::BTreeSet<&str> =
                form.linked.iter().map(|l| l.agency.as_str()).collect();
            assert!(agencies.len() >= 2, "{id} is shared: {agencies:?}");
        }
        let ei = app.get_service(EI).await.expect("EI");
        assert_eq!(
            ei.forms,
            [
                "forms/change-of-address",
                "forms/direct-deposit",
                "forms/identity-and-contact"
            ]
        );
        let ccb = app.get_service(CCB).await.expect("CCB");
        assert!(ccb.forms.contains(&"forms/direct-deposit".to_owned()));
    }
}

#[tokio::test]
async fn oversized_definitions_and_submissions_are_refused_with_the_limit_named() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let esdc = As::Key(ESDC);
        let many = |n: usize, label: usize| pb::Form {
            fields: (0..n)
                .map(|i| {
                    let mut f = field(&format!("f{i}"), T::ShortText, false);
                    f.label = text(&"q".repeat(label), "q");
                    f
                })
                .collect(),
            ..sample_form()
        };
        let status = create(&app, &esdc, "huge", many(10_000, 1))
            .await
            .expect_err("10,000 fields");
        assert_error(
            &status,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            Some("form.fields"),
        );
        assert_eq!(
            violations(&status).len(),
            1,
            "one violation, not one per field"
        );

        // Over the transport's limit: refused from its length prefix, before it is decoded.
        let status = create(&app, &esdc, "huge", many(10_000, 500))
            .await
            .expect_err("over the limit");
        assert_error(&status, Code::ResourceExhausted, "MESSAGE_TOO_LARGE", None);
        let info = status
            .get_error_details()
            .error_info()
            .cloned()
            .expect("ErrorInfo");
        assert_eq!(
            info.metadata.get("limit_bytes").map(String::as_str),
            Some("4194304")
        );

        let form = published(&app, "moving-notice").await;
        let answers: Vec<pb::Answer> = (0..10_000)
            .map(|i| answer(&format!("f{i}"), t("x")))
            .collect();
        let status = validate(&app, &As::Public, &form.name, answers.clone(), None)
            .await
            .expect_err("10,000 answers");
        assert_error(
            &status,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            Some("answers"),
        );
        assert_eq!(violations(&status).len(), 1);
        let status = app
            .forms
            .clone()
            .submit_form(req(
                &jordan(&app),
                pb::SubmitFormRequest {
                    form_version: form.name.clone(),
                    citizen: JORDAN.to_owned(),
                    service: EI.to_owned(),
                    answers,
                    ..Default::default()
                },
            ))
            .await
            .expect_err("10,000 answers");
        assert_error(
            &status,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            Some("answers"),
        );

        // Bad names and values are named, never a panic.
        let bad = [
            ("", "form_version"),
            ("forms/moving-notice", "form_version"),
            ("forms/Moving/versions/1", "form_version"),
            ("forms/moving-notice/versions/01", "form_version"),
        ];
        for (name, field) in bad {
            let status = app
                .forms
                .clone()
                .submit_form(req(
                    &jordan(&app),
                    pb::SubmitFormRequest {
                        form_version: name.into(),
                        citizen: JORDAN.into(),
                        service: EI.into(),
                        ..Default::default()
                    },
                ))
                .await
                .expect_err(name);
            assert_error(
                &status,
                Code::InvalidArgument,
                "INVALID_ARGUMENT",
                Some(field),
            );
        }
        let status = app
            .forms
            .clone()
            .submit_form(req(
                &As::Key(ESDC),
                pb::SubmitFormRequest {
                    form_version: form.name.clone(),
                    citizen: "people/x".into(),
                    service: "services/nope".into(),
                    request: "requests".into(),
                    request_id: "x".repeat(65),
                    ..Default::default()
                },
            ))
            .await
            .expect_err("bad fields");
        let named: Vec<String> = violations(&status).into_iter().map(|v| v.0).collect();
        for field in ["citizen", "service", "channel", "request", "request_id"] {
            assert!(
                named.iter().any(|n| n == field),
                "{field} not named in {named:?}"
            );
        }
        let status = app
            .forms
            .clone()
            .submit_form(req(
                &jordan(&app),
                pb::SubmitFormRequest {
                    form_version: form.name.clone(),
                    citizen: JORDAN.into(),
                    service: OAS.into(),
                    answers: vec![
                        answer("name", t("Jordan")),
                        answer("moved_on", t("2024-01-01")),
                        answer("abroad", pick("no")),
                    ],
                    ..Default::default()
                },
            ))
            .await
            .expect_err("not linked to OAS");
        assert_error(
            &status,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            Some("service"),
        );
    }
}

#[tokio::test]
async fn a_submission_attaches_to_a_request_its_submitter_is_party_to() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let form = contact_published(&app).await;
        let me = jordan(&app);
        let opened = app
            .requests
            .clone()
            .open_request(req(
                &me,
                pb::OpenRequestRequest {
                    citizen: JORDAN.to_owned(),
                    need: Some(pb::Need {
                        need: Some(pb::need::Need::Service(EI.to_owned())),
                    }),
                    ..Default::default()
                },
            ))
            .await
            .expect("opened")
            .into_inner();
        let attach = |who: As, request: String| {
            let mut c = app.forms.clone();
            let form = form.name.clone();
            async move {
                c.submit_form(req(
                    &who,
                    pb::SubmitFormRequest {
                        form_version: form,
                        citizen: JORDAN.to_owned(),
                        service: EI.to_owned(),
                        channel: if matches!(who, As::Portal(_)) {
                            0
                        } else {
                            pb::Channel::Telephone as i32
                        },
                        answers: contact_answers("jordan@example.ca"),
                        request,
                        ..Default::default()
                    },
                ))
                .await
                .map(|r| r.into_inner())
            }
        };
        let attached = attach(me.clone(), opened.name.clone())
            .await
            .expect("attached");
        assert_eq!(attached.request, opened.name);
        citizens::grant(
            &app,
            &me,
            JORDAN,
            citizens::consent("cra-arc", Purpose::ServiceDelivery, &[Cat::Contact]),
        )
        .await
        .expect("delivery");
        let status = attach(As::Key(CRA), opened.name.clone())
            .await
            .expect_err("CRA is not party to it");
        assert_error(
            &status,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            Some("request"),
        );
        let status = attach(me.clone(), "requests/000000000000000000000000".into())
            .await
            .expect_err("no such request");
        assert_error(
            &status,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            Some("request"),
        );
        let listed = app
            .forms
            .clone()
            .list_submissions(req(
                &As::Key(ESDC),
                pb::ListSubmissionsRequest {
                    parent: "forms/-".into(),
                    request: opened.name.clone(),
                    ..Default::default()
                },
            ))
            .await
            .expect("listed")
            .into_inner();
        assert_eq!(
            listed
                .submissions
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>(),
            [attached.name.as_str()]
        );
    }
}

#[tokio::test]
async fn thousands_of_bad_answers_are_reported_within_a_bounded_status() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let form = published(&app, "moving-notice").await;
        let answers: Vec<pb::Answer> = (0..2_000)
            .map(|i| answer(&format!("unknown_{i}"), t("x")))
            .collect();
        let status = validate(&app, &As::Public, &form.name, answers, Some("fr"))
            .await
            .expect_err("all unknown");
        assert_error(
            &status,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            Some("unknown_0"),
        );
        let found = violations(&status);
        assert_eq!(
            found.len(),
            40,
            "the first violations and a count of the rest"
        );
        assert_eq!(
            found.last().map(|v| v.1.as_str()),
            Some("TOO_MANY_VIOLATIONS")
        );
    }
}

/// A form with a field of every answer type (and a repeatable group), and fields shown by each
/// condition operator.
fn every_type_form() -> pb::Form {
    let choices = |f: &mut pb::FormField| f.choices = vec![choice("a"), choice("b"), choice("c")];
    let mut fields = Vec::new();
    for (key, kind) in [
        ("short", T::ShortText),
        ("long", T::LongText),
        ("whole", T::Integer),
        ("amount", T::Decimal),
        ("yes", T::Boolean),
        ("day", T::Date),
        ("one", T::SingleChoice),
        ("many", T::MultipleChoice),
        ("mail", T::Email),
        ("tel", T::Phone),
        ("postal", T::PostalCode),
        ("home", T::Address),
        ("sin", T::Identifier),
        ("bank", T::BankAccount),
    ] {
        let mut f = field(key, kind, false);
        if matches!(kind, T::SingleChoice | T::MultipleChoice) {
            choices(&mut f);
        }
        if kind == T::Identifier {
            f.identifier_scheme = pb::IdentifierScheme::Sin as i32;
        }
        fields.push(f);
    }
    let mut kids = field("kids", T::Group, false);
    kids.repeatable = true;
    kids.max_items = 2;
    kids.fields = vec![field("kid_name", T::ShortText, true)];
    fields.push(kids);
    let shown = |key: &str, on: &str, operator: pb::ClauseOperator, values: &[&str]| {
        let mut f = field(key, T::ShortText, false);
        f.show_when = Some(pb::Condition {
            combine: pb::Combine::All as i32,
            clauses: vec![pb::Clause {
                field: on.to_owned(),
                operator: operator as i32,
                values: values.iter().map(|v| (*v).to_owned()).collect(),
            }],
        });
        f
    };
    use pb::ClauseOperator as O;
    fields.extend([
        shown("if_equals", "one", O::Equals, &["a"]),
        shown("if_not_equals", "one", O::NotEquals, &["a"]),
        shown("if_in", "many", O::In, &["b", "c"]),
        shown("if_greater", "whole", O::GreaterThan, &["10"]),
        shown("if_less", "day", O::LessThan, &["2020-01-01"]),
        shown("if_exists", "mail", O::Exists, &[]),
        shown("if_not_exists", "tel", O::NotExists, &[]),
    ]);
    pb::Form {
        title: text("Every type", "Tous les types"),
        fields,
        services: vec![EI.to_owned()],
        ..Default::default()
    }
}

#[tokio::test]
async fn every_field_type_and_operator_is_checked_the_same_on_every_backend() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let draft = create(&app, &As::Key(ESDC), "every-type", every_type_form())
            .await
            .expect("created");
        let form = publish(&app, &As::Key(ESDC), &draft)
            .await
            .expect("published");
        let sin = |v: &str| {
            Value::Identifier(pb::Identifier {
                scheme: pb::IdentifierScheme::Sin as i32,
                province: String::new(),
                value: v.into(),
            })
        };
        let bank = |i: &str| {
            Value::BankAccount(pb::BankAccount {
                institution: i.into(),
                transit: "12345".into(),
                account: "1234567".into(),
            })
        };
        let picks = |v: &[&str]| {
            Value::Choices(pb::ChoiceAnswer {
                values: v.iter().map(|s| (*s).to_owned()).collect(),
            })
        };
        let table: Vec<(&str, Value, Value, &str)> = vec![
            ("short", t("Léa"), Value::Integer(1), "WRONG_TYPE"),
            ("long", t("two\nlines"), t(&"x".repeat(4_001)), "TOO_LONG"),
            (
                "whole",
                Value::Integer(12),
                Value::Decimal("1.5".into()),
                "WRONG_TYPE",
            ),
            (
                "amount",
                Value::Decimal("12.50".into()),
                Value::Decimal("twelve".into()),
                "NOT_A_DECIMAL",
            ),
            ("yes", Value::Boolean(true), t("true"), "WRONG_TYPE"),
            ("day", t("2019-05-01"), t("2019-02-30"), "INVALID_DATE"),
            ("one", picks(&["a"]), picks(&["z"]), "NOT_A_CHOICE"),
            (
                "many",
                picks(&["b", "c"]),
                picks(&["b", "b"]),
                "CHOICE_COUNT",
            ),
            ("mail", t("lea@example.ca"), t("lea@"), "INVALID_EMAIL"),
            ("tel", t("613 555 0199"), t("12"), "INVALID_PHONE"),
            ("postal", t("k1a0b1"), t("12345"), "INVALID_POSTAL_CODE"),
            (
                "home",
                address("1 Main St", "Ottawa", "ON", "K1A 0B1"),
                address("", "Ottawa", "ON", "K1A 0B1"),
                "INVALID_ADDRESS",
            ),
            (
                "sin",
                sin("130 692 544"),
                sin("123 456 789"),
                "INVALID_IDENTIFIER",
            ),
            ("bank", bank("004"), bank("04"), "INVALID_BANK_ACCOUNT"),
            (
                "kids[0].kid_name",
                t("Noé"),
                t(&"x".repeat(201)),
                "TOO_LONG",
            ),
        ];
        let good: Vec<pb::Answer> = table
            .iter()
            .map(|(k, v, _, _)| answer(k, v.clone()))
            .collect();
        let kept = validate(&app, &As::Public, &form.name, good.clone(), None)
            .await
            .expect("every good answer");
        assert_eq!(kept.len(), table.len());
        for (key, _, bad, reason) in &table {
            let mut answers: Vec<pb::Answer> =
                good.iter().filter(|a| a.field != *key).cloned().collect();
            answers.push(answer(key, bad.clone()));
            let status = validate(&app, &As::Public, &form.name, answers, None)
                .await
                .expect_err(key);
            let found = violations(&status);
            assert_eq!(
                found
                    .iter()
                    .map(|v| (v.0.as_str(), v.1.as_str()))
                    .collect::<Vec<_>>(),
                [(*key, *reason)],
                "{key}"
            );
        }
        // With the good answers: one is "a", many has b, whole is 12, day is 2019, mail given, tel
        // given. Shown: if_equals, if_in, if_greater, if_less, if_exists; hidden: the others.
        for (key, shown) in [
            ("if_equals", true),
            ("if_not_equals", false),
            ("if_in", true),
            ("if_greater", true),
            ("if_less", true),
            ("if_exists", true),
            ("if_not_exists", false),
        ] {
            let mut answers = good.clone();
            answers.push(answer(key, t("shown")));
            let result = validate(&app, &As::Public, &form.name, answers, None).await;
            match (shown, result) {
                (true, Ok(_)) => {}
                (false, Err(status)) => {
                    assert_eq!(violations(&status)[0].1, "HIDDEN_FIELD", "{key}")
                }
                (expected, other) => panic!("{key}: shown {expected}, got {other:?}"),
            }
        }
    }
}
