//! The definition checks and answer validation, table-driven: every field type with valid and
//! invalid answers, every condition operator, groups and the definition's bad paths.

use jiff::civil::date;

use super::{
    Choice, Clause, Combine, Condition, Constraints, DateBound, Decimal, Definition, Field,
    FieldType as T, Operator, RecordField, SchemeKind, Value,
    check::check,
    validate::{Accepted, Violation, validate},
    value::{BankAccount, Raw},
};
use crate::domain::catalog::Text;

fn text(en: &str) -> Text {
    Text {
        en: en.to_owned(),
        fr: format!("{en} (fr)"),
    }
}

fn field(key: &str, kind: T) -> Field {
    let mut f = Field::new(key, kind, text(key));
    if kind.is_choice() {
        f.choices = ["a", "b", "c"]
            .iter()
            .map(|v| Choice {
                value: (*v).to_owned(),
                label: text(v),
            })
            .collect();
    }
    if kind == T::Identifier {
        f.scheme = Some(SchemeKind::Sin);
    }
    if kind == T::Group {
        f.fields = vec![field(&format!("{key}_name"), T::ShortText)];
    }
    f
}

fn form(fields: Vec<Field>) -> Definition {
    Definition {
        title: text("Form"),
        description: Text::default(),
        fields,
    }
}

fn when(field: &str, operator: Operator, values: &[&str]) -> Option<Condition> {
    Some(Condition {
        combine: Combine::All,
        clauses: vec![Clause {
            field: field.to_owned(),
            operator,
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        }],
    })
}

fn run(definition: &Definition, answers: &[(&str, Raw)]) -> Result<Vec<Accepted>, Vec<Violation>> {
    let compiled = check(definition, "form").expect("a valid definition");
    let answers: Vec<(String, Raw)> = answers
        .iter()
        .map(|(p, r)| ((*p).to_owned(), r.clone()))
        .collect();
    validate(&compiled, &answers, date(2026, 12, 3))
}

fn reasons(result: Result<Vec<Accepted>, Vec<Violation>>) -> Vec<(String, &'static str)> {
    match result {
        Ok(_) => Vec::new(),
        Err(v) => v.into_iter().map(|v| (v.path, v.rule.reason())).collect(),
    }
}

fn t(s: &str) -> Raw {
    Raw::Text(s.to_owned())
}

fn choices(values: &[&str]) -> Raw {
    Raw::Choices(values.iter().map(|v| (*v).to_owned()).collect())
}

fn address(province: &str, postal: &str) -> Raw {
    Raw::Address {
        line1: "1 Main St".into(),
        line2: String::new(),
        city: "Ottawa".into(),
        province: province.into(),
        postal_code: postal.into(),
    }
}

fn bank(i: &str, t: &str, a: &str) -> Raw {
    Raw::BankAccount(BankAccount {
        institution: i.into(),
        transit: t.into(),
        account: a.into(),
    })
}

#[test]
fn every_field_type_accepts_a_valid_answer_and_refuses_an_invalid_one() {
    let sin = |v: &str| Raw::Identifier {
        scheme: Some(SchemeKind::Sin),
        province: String::new(),
        value: v.into(),
    };
    let cases: Vec<(T, Raw, Raw, &str)> = vec![
        (T::ShortText, t("Marie"), Raw::Integer(3), "WRONG_TYPE"),
        (
            T::LongText,
            t("line one\nline two"),
            t(&"x".repeat(4_001)),
            "TOO_LONG",
        ),
        (T::Integer, Raw::Integer(42), t("42"), "WRONG_TYPE"),
        (
            T::Decimal,
            Raw::Decimal("12.50".into()),
            Raw::Decimal("12,50".into()),
            "NOT_A_DECIMAL",
        ),
        (T::Boolean, Raw::Boolean(false), t("yes"), "WRONG_TYPE"),
        (T::Date, t("2026-02-28"), t("2026-02-30"), "INVALID_DATE"),
        (
            T::SingleChoice,
            choices(&["a"]),
            choices(&["a", "b"]),
            "CHOICE_COUNT",
        ),
        (
            T::MultipleChoice,
            choices(&["c", "a"]),
            choices(&["z"]),
            "NOT_A_CHOICE",
        ),
        (
            T::Email,
            t("Marie@Example.ca"),
            t("marie@"),
            "INVALID_EMAIL",
        ),
        (
            T::Phone,
            t("(613) 555-0199"),
            t("555-0199"),
            "INVALID_PHONE",
        ),
        (
            T::PostalCode,
            t("k1a0b1"),
            t("K1A 0B"),
            "INVALID_POSTAL_CODE",
        ),
        (
            T::Address,
            address("ON", "K1A 0B1"),
            address("QC", "K1A 0B1"),
            "POSTAL_CODE_PROVINCE",
        ),
        (
            T::Identifier,
            sin("130 692 544"),
            sin("130 692 545"),
            "INVALID_IDENTIFIER",
        ),
        (
            T::BankAccount,
            bank("004", "12345", "1234567"),
            bank("4", "12345", "1234567"),
            "INVALID_BANK_ACCOUNT",
        ),
    ];
    for (kind, good, bad, reason) in cases {
        let definition = form(vec![field("answer", kind)]);
        let accepted =
            run(&definition, &[("answer", good)]).unwrap_or_else(|v| panic!("{kind:?}: {v:?}"));
        assert_eq!(accepted.len(), 1, "{kind:?}");
        assert_eq!(
            reasons(run(&definition, &[("answer", bad)])),
            vec![("answer".to_owned(), reason)],
            "{kind:?}"
        );
    }
}

#[test]
fn answers_are_normalised_as_the_record_normalises_them() {
    let definition = form(vec![
        field("phone", T::Phone),
        field("postal", T::PostalCode),
        field("many", T::MultipleChoice),
    ]);
    let accepted = run(
        &definition,
        &[
            ("phone", t("613.555.0199")),
            ("postal", t("k1a-0b1")),
            ("many", choices(&["c", "a"])),
        ],
    )
    .unwrap();
    let values: Vec<Value> = accepted.into_iter().map(|a| a.value).collect();
    assert_eq!(
        values,
        vec![
            Value::Text("+16135550199".into()),
            Value::Text("K1A 0B1".into()),
            Value::Choices(vec!["a".into(), "c".into()]),
        ]
    );
}

#[test]
fn constraints_bound_length_range_pattern_choices_and_dates() {
    let mut name = field("name", T::ShortText);
    name.constraints = Constraints {
        min_length: Some(2),
        max_length: Some(5),
        pattern: Some("[A-Z][a-z]+".into()),
        ..Default::default()
    };
    let mut age = field("age", T::Integer);
    age.constraints = Constraints {
        minimum: Decimal::parse("0"),
        maximum: Decimal::parse("130"),
        ..Default::default()
    };
    let mut amount = field("amount", T::Decimal);
    amount.constraints = Constraints {
        minimum: Decimal::parse("0.01"),
        ..Default::default()
    };
    let mut born = field("born", T::Date);
    born.constraints = Constraints {
        earliest: Some(("1900-01-01".into(), DateBound::parse("1900-01-01").unwrap())),
        latest: Some(("today-18y".into(), DateBound::parse("today-18y").unwrap())),
        ..Default::default()
    };
    let mut many = field("many", T::MultipleChoice);
    many.constraints = Constraints {
        min_choices: Some(2),
        max_choices: Some(2),
        ..Default::default()
    };
    let definition = form(vec![name, age, amount, born, many]);
    let table: Vec<(&str, Raw, Option<&str>)> = vec![
        ("name", t("Ann"), None),
        ("name", t("A"), Some("TOO_SHORT")),
        ("name", t("Annabel"), Some("TOO_LONG")),
        ("name", t("ann"), Some("PATTERN")),
        ("name", t("Ann\u{7}"), Some("CONTROL_CHARACTERS")),
        ("age", Raw::Integer(130), None),
        ("age", Raw::Integer(-1), Some("BELOW_MINIMUM")),
        ("age", Raw::Integer(131), Some("ABOVE_MAXIMUM")),
        (
            "amount",
            Raw::Decimal("0.001".into()),
            Some("BELOW_MINIMUM"),
        ),
        ("born", t("2008-12-03"), None),
        ("born", t("2008-12-04"), Some("TOO_LATE")),
        ("born", t("1899-12-31"), Some("TOO_EARLY")),
        ("many", choices(&["a", "b"]), None),
        ("many", choices(&["a"]), Some("TOO_FEW_CHOICES")),
        ("many", choices(&["a", "b", "c"]), Some("TOO_MANY_CHOICES")),
        ("many", choices(&["a", "a"]), Some("CHOICE_COUNT")),
    ];
    for (key, raw, reason) in table {
        let expected: Vec<(String, &str)> =
            reason.map(|r| (key.to_owned(), r)).into_iter().collect();
        assert_eq!(
            reasons(run(&definition, &[(key, raw.clone())])),
            expected,
            "{key} {raw:?}"
        );
    }
}

/// An operator, its values, the tested field's type, its answer, and whether the field shows.
type OperatorCase = (Operator, &'static [&'static str], T, Option<Raw>, bool);

#[test]
fn every_operator_shows_or_hides_a_field() {
    let definition = |operator: Operator, values: &[&str], tested: T| {
        let mut shown = field("shown", T::ShortText);
        shown.show_when = when("tested", operator, values);
        form(vec![field("tested", tested), shown])
    };
    let table: Vec<OperatorCase> = vec![
        (
            Operator::Equals,
            &["b"],
            T::SingleChoice,
            Some(choices(&["b"])),
            true,
        ),
        (
            Operator::Equals,
            &["b"],
            T::SingleChoice,
            Some(choices(&["a"])),
            false,
        ),
        (
            Operator::Equals,
            &["true"],
            T::Boolean,
            Some(Raw::Boolean(true)),
            true,
        ),
        (
            Operator::NotEquals,
            &["b"],
            T::MultipleChoice,
            Some(choices(&["a", "c"])),
            true,
        ),
        (
            Operator::NotEquals,
            &["b"],
            T::MultipleChoice,
            Some(choices(&["a", "b"])),
            false,
        ),
        (Operator::NotEquals, &["b"], T::SingleChoice, None, false),
        (
            Operator::In,
            &["a", "c"],
            T::SingleChoice,
            Some(choices(&["c"])),
            true,
        ),
        (
            Operator::In,
            &["a", "c"],
            T::SingleChoice,
            Some(choices(&["b"])),
            false,
        ),
        (
            Operator::GreaterThan,
            &["17"],
            T::Integer,
            Some(Raw::Integer(18)),
            true,
        ),
        (
            Operator::GreaterThan,
            &["17"],
            T::Integer,
            Some(Raw::Integer(17)),
            false,
        ),
        (
            Operator::LessThan,
            &["2.5"],
            T::Decimal,
            Some(Raw::Decimal("2.49".into())),
            true,
        ),
        (
            Operator::LessThan,
            &["2026-01-01"],
            T::Date,
            Some(t("2026-01-01")),
            false,
        ),
        (Operator::Exists, &[], T::ShortText, Some(t("x")), true),
        (Operator::Exists, &[], T::ShortText, None, false),
        (Operator::NotExists, &[], T::ShortText, None, true),
        (Operator::NotExists, &[], T::ShortText, Some(t("x")), false),
    ];
    for (operator, values, tested, answer, shown) in table {
        let d = definition(operator, values, tested);
        let mut answers: Vec<(&str, Raw)> = answer.into_iter().map(|a| ("tested", a)).collect();
        answers.push(("shown", t("here")));
        let expected = if shown {
            Vec::new()
        } else {
            vec![("shown".to_owned(), "HIDDEN_FIELD")]
        };
        assert_eq!(
            reasons(run(&d, &answers)),
            expected,
            "{operator:?} {values:?} on {tested:?}"
        );
    }
}

#[test]
fn conditions_combine_with_all_or_any_and_require_fields() {
    let mut extra = field("extra", T::ShortText);
    let clauses = vec![
        Clause {
            field: "a".into(),
            operator: Operator::Equals,
            values: vec!["true".into()],
        },
        Clause {
            field: "b".into(),
            operator: Operator::Equals,
            values: vec!["true".into()],
        },
    ];
    extra.require_when = Some(Condition {
        combine: Combine::Any,
        clauses: clauses.clone(),
    });
    let any = form(vec![
        field("a", T::Boolean),
        field("b", T::Boolean),
        extra.clone(),
    ]);
    assert_eq!(
        reasons(run(
            &any,
            &[("a", Raw::Boolean(false)), ("b", Raw::Boolean(true))]
        )),
        vec![("extra".to_owned(), "REQUIRED")]
    );
    assert_eq!(
        reasons(run(&any, &[("a", Raw::Boolean(false))])),
        Vec::new()
    );
    extra.require_when = Some(Condition {
        combine: Combine::All,
        clauses,
    });
    let all = form(vec![field("a", T::Boolean), field("b", T::Boolean), extra]);
    assert_eq!(
        reasons(run(
            &all,
            &[("a", Raw::Boolean(false)), ("b", Raw::Boolean(true))]
        )),
        Vec::new()
    );
    assert_eq!(
        reasons(run(
            &all,
            &[("a", Raw::Boolean(true)), ("b", Raw::Boolean(true))]
        )),
        vec![("extra".to_owned(), "REQUIRED")]
    );
}

#[test]
fn a_field_hidden_by_a_hidden_field_is_hidden_too() {
    let mut middle = field("middle", T::Boolean);
    middle.show_when = when("first", Operator::Equals, &["true"]);
    let mut last = field("last", T::ShortText);
    last.show_when = when("middle", Operator::Exists, &[]);
    let d = form(vec![field("first", T::Boolean), middle, last]);
    let answers = [
        ("first", Raw::Boolean(false)),
        ("middle", Raw::Boolean(true)),
        ("last", t("x")),
    ];
    assert_eq!(
        reasons(run(&d, &answers)),
        vec![
            ("middle".to_owned(), "HIDDEN_FIELD"),
            ("last".to_owned(), "HIDDEN_FIELD")
        ]
    );
}

#[test]
fn repeatable_groups_number_their_items_and_check_each() {
    let mut children = field("children", T::Group);
    children.repeatable = true;
    children.max_items = 3;
    children.required = true;
    let mut name = field("name", T::ShortText);
    name.required = true;
    let mut school = field("school", T::ShortText);
    school.show_when = when("age", Operator::GreaterThan, &["4"]);
    children.fields = vec![name, field("age", T::Integer), school];
    let d = form(vec![children]);
    let good = [
        ("children[0].name", t("Léa")),
        ("children[0].age", Raw::Integer(7)),
        ("children[0].school", t("École Jean-Vanier")),
        ("children[1].name", t("Noé")),
        ("children[1].age", Raw::Integer(2)),
    ];
    let accepted = run(&d, &good).unwrap();
    assert_eq!(accepted.len(), 5);
    let bad = [
        ("children[0].age", Raw::Integer(3)),
        ("children[0].school", t("Garderie")),
        ("children[2].name", t("Zoé")),
        ("children[3].name", t("Too many")),
        ("children[01].name", t("Leading zero")),
        ("children.name", t("No index")),
        ("children", t("The group")),
        ("nobody", t("Unknown")),
        ("children[0].name", Raw::Missing),
    ];
    let mut got = reasons(run(&d, &bad));
    got.sort();
    let mut expected = vec![
        ("children[3].name".to_owned(), "TOO_MANY_ITEMS"),
        ("children[01].name".to_owned(), "UNKNOWN_FIELD"),
        ("children.name".to_owned(), "UNKNOWN_FIELD"),
        ("children".to_owned(), "GROUP_VALUE"),
        ("nobody".to_owned(), "UNKNOWN_FIELD"),
        ("children[2]".to_owned(), "ITEM_GAP"),
        ("children[0].school".to_owned(), "HIDDEN_FIELD"),
        ("children[0].name".to_owned(), "REQUIRED"),
        ("children[1].name".to_owned(), "REQUIRED"),
    ];
    expected.sort();
    assert_eq!(got, expected);
    assert_eq!(
        reasons(run(&d, &[])),
        vec![("children".to_owned(), "REQUIRED")]
    );
}

#[test]
fn duplicate_answers_and_too_many_answers_are_refused() {
    let d = form(vec![field("a", T::ShortText)]);
    assert_eq!(
        reasons(run(&d, &[("a", t("x")), ("a", t("y"))])),
        vec![("a".to_owned(), "DUPLICATE_ANSWER")]
    );
    let many: Vec<(&str, Raw)> = (0..2_001).map(|_| ("a", t("x"))).collect();
    assert_eq!(
        reasons(run(&d, &many)),
        vec![("answers".to_owned(), "TOO_MANY_ANSWERS")]
    );
}

fn problems(definition: &Definition) -> Vec<String> {
    match check(definition, "form") {
        Ok(_) => Vec::new(),
        Err(p) => p.into_iter().map(|(path, _)| path).collect(),
    }
}

#[test]
fn a_bad_definition_is_refused_naming_the_path() {
    let mut unknown = field("b", T::ShortText);
    unknown.show_when = when("nope", Operator::Exists, &[]);
    assert_eq!(
        problems(&form(vec![field("a", T::ShortText), unknown])),
        ["form.fields[1].show_when.clauses[0].field"]
    );

    let mut a = field("a", T::Boolean);
    a.show_when = when("b", Operator::Equals, &["true"]);
    let mut b = field("b", T::Boolean);
    b.require_when = when("a", Operator::Equals, &["true"]);
    assert_eq!(problems(&form(vec![a, b])), ["form.fields[0].show_when"]);

    let mut bad_pattern = field("a", T::ShortText);
    bad_pattern.constraints.pattern = Some("([a-z]".into());
    assert_eq!(
        problems(&form(vec![bad_pattern])),
        ["form.fields[0].constraints.pattern"]
    );

    let mut wrong_prefill = field("email", T::ShortText);
    wrong_prefill.prefill = Some(RecordField::Email);
    assert_eq!(
        problems(&form(vec![wrong_prefill])),
        ["form.fields[0].prefill"]
    );

    let mut group = field("g", T::Group);
    let mut inner = field("inner", T::ShortText);
    inner.show_when = when("outer", Operator::Exists, &[]);
    group.fields = vec![inner];
    let mut outer = field("outer", T::ShortText);
    outer.show_when = when("inner", Operator::Exists, &[]);
    assert_eq!(
        problems(&form(vec![outer, group])),
        ["form.fields[0].show_when.clauses[0].field"]
    );

    let mut ordered = field("b", T::ShortText);
    ordered.show_when = when("a", Operator::GreaterThan, &["3"]);
    assert_eq!(
        problems(&form(vec![field("a", T::ShortText), ordered])),
        ["form.fields[1].show_when.clauses[0].operator"]
    );

    let mut value = field("b", T::ShortText);
    value.show_when = when("a", Operator::Equals, &["z"]);
    assert_eq!(
        problems(&form(vec![field("a", T::SingleChoice), value])),
        ["form.fields[1].show_when.clauses[0].values"]
    );

    let mut misplaced = field("a", T::Integer);
    misplaced.constraints.pattern = Some("[0-9]+".into());
    assert_eq!(
        problems(&form(vec![misplaced])),
        ["form.fields[0].constraints.pattern"]
    );

    assert_eq!(
        problems(&form(vec![
            field("a", T::ShortText),
            field("a", T::Integer)
        ])),
        ["form.fields[1].key"]
    );
    assert_eq!(problems(&form(Vec::new())), ["form.fields"]);

    let mut write = field("note", T::PostalCode);
    write.prefill = Some(RecordField::ResidentialPostalCode);
    write.write_back = true;
    assert_eq!(problems(&form(vec![write])), ["form.fields[0].write_back"]);
}

#[test]
fn a_definition_with_too_many_fields_is_refused_whole() {
    let fields: Vec<Field> = (0..10_000)
        .map(|i| field(&format!("f{i}"), T::ShortText))
        .collect();
    let found = check(&form(fields), "form").expect_err("too many fields");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, "form.fields");
}

#[test]
fn date_bounds_parse_fixed_and_relative_dates() {
    assert_eq!(
        DateBound::parse("2026-01-31"),
        Some(DateBound::Fixed(date(2026, 1, 31)))
    );
    assert!(matches!(
        DateBound::parse("today"),
        Some(DateBound::Today { amount: 0, .. })
    ));
    assert!(matches!(
        DateBound::parse("today-18y"),
        Some(DateBound::Today { amount: -18, .. })
    ));
    for bad in [
        "tomorrow",
        "today-18",
        "today*2d",
        "2026-02-30",
        "today+99999d",
        "today-y",
    ] {
        assert_eq!(DateBound::parse(bad), None, "{bad}");
    }
}
