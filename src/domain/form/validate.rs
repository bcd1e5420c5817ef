//! Answers checked against a compiled form, the same for every channel: every answer's path must
//! name a field, hidden fields must not be answered, shown required fields must be, and every
//! value must fit its field's type and limits. Every bad answer is reported, not only the first.

use std::collections::{BTreeSet, HashMap};

use jiff::{Span, civil};

use super::{
    BankAccount, Combine, Condition, DateBound, DateUnit, Decimal, FieldType, Operator, SchemeKind,
    Value,
    check::{Compiled, Node},
    rules::Rule,
    value::Raw,
};
use crate::domain::citizen::{
    Identifier, IdentifierScheme, PostalCode, Province,
    record::{Address, AddressKind},
    values::{Date, parse_email, parse_phone},
};

/// Most answers in one call.
pub const MAX_ANSWERS: usize = 2_000;

/// An accepted answer: its path, its field and its normalised value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub path: String,
    /// The field's node in the compiled form.
    pub node: usize,
    pub value: Value,
}

/// A bad answer: its path (as sent, or the field's for a missing one) and the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub path: String,
    pub rule: Rule,
}

/// The item numbers of a field's groups, outermost first.
type Instance = Vec<u32>;

struct Run<'a> {
    form: &'a Compiled,
    today: civil::Date,
    /// Answer index by (node, instance).
    at: HashMap<(usize, Instance), usize>,
    /// Each answer's path, its value (converted) or its type error.
    answers: Vec<(String, Option<Result<Value, Rule>>)>,
    /// Items of each group instance (numbers seen).
    items: HashMap<(usize, Instance), BTreeSet<u32>>,
    visible: HashMap<(usize, Instance), bool>,
    used: Vec<bool>,
    accepted: Vec<Accepted>,
    violations: Vec<Violation>,
}

/// Checks `answers` (path, value) against `form`, with date bounds relative to `today`.
pub fn validate(
    form: &Compiled,
    answers: &[(String, Raw)],
    today: civil::Date,
) -> Result<Vec<Accepted>, Vec<Violation>> {
    if answers.len() > MAX_ANSWERS {
        return Err(vec![Violation {
            path: "answers".to_owned(),
            rule: Rule::TooManyAnswers { max: MAX_ANSWERS },
        }]);
    }
    let mut run = Run {
        form,
        today,
        at: HashMap::new(),
        answers: Vec::new(),
        items: HashMap::new(),
        visible: HashMap::new(),
        used: vec![false; answers.len()],
        accepted: Vec::new(),
        violations: Vec::new(),
    };
    for (i, (path, raw)) in answers.iter().enumerate() {
        run.answers.push((path.clone(), None));
        match locate(form, path) {
            Err(rule) => {
                run.used[i] = true;
                run.violations.push(Violation {
                    path: path.clone(),
                    rule,
                });
            }
            Ok((node, instance)) => {
                for depth in 0..instance.len() {
                    let group = form.ancestors(node)[depth];
                    run.items
                        .entry((group, instance[..depth].to_vec()))
                        .or_default()
                        .insert(instance[depth]);
                }
                let key = (node, instance);
                if run.at.contains_key(&key) {
                    run.used[i] = true;
                    run.violations.push(Violation {
                        path: path.clone(),
                        rule: Rule::Duplicate,
                    });
                    continue;
                }
                run.at.insert(key, i);
                let converted = convert(&form.nodes[node], raw);
                run.answers[i].1 = converted;
            }
        }
    }
    run.gaps();
    run.level(None, &Vec::new());
    for (i, used) in run.used.iter().enumerate() {
        if !used {
            run.violations.push(Violation {
                path: answers[i].0.clone(),
                rule: Rule::Hidden,
            });
        }
    }
    if run.violations.is_empty() {
        Ok(run.accepted)
    } else {
        Err(run.violations)
    }
}

/// The field and instance `path` names (`key`, `group[1].key`).
fn locate(form: &Compiled, path: &str) -> Result<(usize, Instance), Rule> {
    let segments: Vec<&str> = path.split('.').collect();
    let mut parent = None;
    let mut instance = Vec::new();
    for (n, segment) in segments.iter().enumerate() {
        let last = n + 1 == segments.len();
        let (key, index) = match segment.split_once('[') {
            Some((key, rest)) => {
                let digits = rest.strip_suffix(']').ok_or(Rule::UnknownField)?;
                let canonical = !digits.is_empty()
                    && digits.len() <= 4
                    && digits.bytes().all(|b| b.is_ascii_digit())
                    && (digits == "0" || !digits.starts_with('0'));
                if !canonical {
                    return Err(Rule::UnknownField);
                }
                (
                    key,
                    Some(digits.parse::<u32>().map_err(|_| Rule::UnknownField)?),
                )
            }
            None => (*segment, None),
        };
        let node = form.index(key).ok_or(Rule::UnknownField)?;
        let field = &form.nodes[node].field;
        if form.nodes[node].parent != parent {
            return Err(Rule::UnknownField);
        }
        let group = field.kind == FieldType::Group;
        match (last, group, index) {
            (true, false, None) => return Ok((node, instance)),
            (true, true, _) => return Err(Rule::GroupValue),
            (false, true, Some(i)) => {
                let limit = field.item_limit();
                if i >= limit {
                    return Err(Rule::TooManyItems { max: limit });
                }
                instance.push(i);
                parent = Some(node);
            }
            _ => return Err(Rule::UnknownField),
        }
    }
    Err(Rule::UnknownField)
}

impl Run<'_> {
    /// The path of `node` at `instance`.
    fn path(&self, node: usize, instance: &[u32]) -> String {
        let mut out = String::new();
        for (depth, group) in self.form.ancestors(node).into_iter().enumerate() {
            out.push_str(&format!(
                "{}[{}].",
                self.form.nodes[group].field.key, instance[depth]
            ));
        }
        out.push_str(&self.form.nodes[node].field.key);
        out
    }

    /// Items must be numbered 0.. without gaps.
    fn gaps(&mut self) {
        let mut found = Vec::new();
        for ((group, instance), numbers) in &self.items {
            if let Some(missing) = (0..)
                .zip(numbers.iter())
                .find(|(i, n)| i != *n)
                .map(|(i, _)| i)
            {
                let after = numbers.range(missing..).next().copied().unwrap_or(missing);
                found.push(format!("{}[{after}]", self.path(*group, instance)));
            }
        }
        found.sort();
        for path in found {
            self.violations.push(Violation {
                path,
                rule: Rule::ItemGap,
            });
        }
    }

    /// Checks the fields directly in `group` at `instance` (the top level when `None`).
    fn level(&mut self, group: Option<usize>, instance: &Instance) {
        let children: Vec<usize> = self.form.children(group).collect();
        for node in children {
            if !self.is_visible(node, instance) {
                continue;
            }
            let field = &self.form.nodes[node].field;
            let required = field.required
                || field
                    .require_when
                    .as_ref()
                    .is_some_and(|c| self.holds(c, instance));
            if field.kind == FieldType::Group {
                let items = if field.repeatable {
                    self.items
                        .get(&(node, instance.clone()))
                        .and_then(|n| n.last())
                        .map_or(0, |last| last + 1)
                } else {
                    1
                };
                if required && items == 0 {
                    let path = self.path(node, instance);
                    self.violations.push(Violation {
                        path,
                        rule: Rule::Required,
                    });
                }
                for item in 0..items {
                    let mut inner = instance.clone();
                    inner.push(item);
                    self.level(Some(node), &inner);
                }
                continue;
            }
            self.leaf(node, instance, required);
        }
    }

    fn leaf(&mut self, node: usize, instance: &Instance, required: bool) {
        let Some(&i) = self.at.get(&(node, instance.clone())) else {
            if required {
                let path = self.path(node, instance);
                self.violations.push(Violation {
                    path,
                    rule: Rule::Required,
                });
            }
            return;
        };
        self.used[i] = true;
        let path = self.answers[i].0.clone();
        match self.answers[i].1.clone() {
            None if required => self.violations.push(Violation {
                path,
                rule: Rule::Required,
            }),
            None => {}
            Some(Err(rule)) => self.violations.push(Violation { path, rule }),
            Some(Ok(value)) => match limits(&self.form.nodes[node], value, self.today) {
                Ok(value) => self.accepted.push(Accepted { path, node, value }),
                Err(rule) => self.violations.push(Violation { path, rule }),
            },
        }
    }

    fn is_visible(&mut self, node: usize, instance: &[u32]) -> bool {
        let key = (node, instance.to_vec());
        if let Some(&known) = self.visible.get(&key) {
            return known;
        }
        let n = &self.form.nodes[node];
        let parent_visible = match n.parent {
            Some(p) => self.is_visible(p, &instance[..instance.len() - 1]),
            None => true,
        };
        let shown = parent_visible
            && match n.field.show_when.clone() {
                Some(c) => self.holds(&c, instance),
                None => true,
            };
        self.visible.insert(key, shown);
        shown
    }

    fn holds(&mut self, condition: &Condition, instance: &[u32]) -> bool {
        let mut results = Vec::with_capacity(condition.clauses.len());
        for clause in &condition.clauses {
            let Some(target) = self.form.index(&clause.field) else {
                results.push(false);
                continue;
            };
            let depth = self.form.nodes[target].depth;
            let at = instance[..depth.min(instance.len())].to_vec();
            let answer = self.at.get(&(target, at.clone())).copied();
            let value = match answer {
                Some(i) if self.is_visible(target, &at) => {
                    self.answers[i].1.clone().and_then(Result::ok)
                }
                _ => None,
            };
            results.push(compare(clause.operator, value.as_ref(), &clause.values));
        }
        match condition.combine {
            Combine::All => results.iter().all(|r| *r),
            Combine::Any => results.iter().any(|r| *r),
        }
    }
}

/// Whether `value` (`None`: unanswered) satisfies `operator` against `values`.
fn compare(operator: Operator, value: Option<&Value>, values: &[String]) -> bool {
    let Some(value) = value else {
        return operator == Operator::NotExists;
    };
    let equals = |wanted: &str| match value {
        Value::Choices(chosen) => chosen.iter().any(|c| c == wanted),
        Value::Integer(_) | Value::Decimal(_) => number(value) == Decimal::parse(wanted),
        other => other.as_condition_text().is_some_and(|t| t == wanted),
    };
    let ordered = |wanted: &str| -> Option<std::cmp::Ordering> {
        match value {
            Value::Date(d) => Some(d.as_str().cmp(wanted)),
            _ => Some(number(value)?.cmp(&Decimal::parse(wanted)?)),
        }
    };
    let first = values.first().map(String::as_str).unwrap_or_default();
    match operator {
        Operator::Exists => true,
        Operator::NotExists => false,
        Operator::Equals => equals(first),
        Operator::NotEquals => !equals(first),
        Operator::In => values.iter().any(|v| equals(v)),
        Operator::GreaterThan => ordered(first) == Some(std::cmp::Ordering::Greater),
        Operator::LessThan => ordered(first) == Some(std::cmp::Ordering::Less),
    }
}

fn number(value: &Value) -> Option<Decimal> {
    match value {
        Value::Integer(n) => Some(Decimal::from_integer(*n)),
        Value::Decimal(d) => Some(*d),
        _ => None,
    }
}

/// The member a field of `kind` is answered with.
fn member(kind: FieldType) -> &'static str {
    match kind {
        FieldType::Integer => "integer",
        FieldType::Decimal => "decimal",
        FieldType::Boolean => "boolean",
        FieldType::SingleChoice | FieldType::MultipleChoice => "choices",
        FieldType::Address => "address",
        FieldType::Identifier => "identifier",
        FieldType::BankAccount => "bank_account",
        FieldType::Group => "fields of the group",
        _ => "text",
    }
}

/// The value `raw` holds for `node`'s type (`None`: unanswered), or the type rule it broke.
fn convert(node: &Node, raw: &Raw) -> Option<Result<Value, Rule>> {
    let kind = node.field.kind;
    let wrong = || {
        Some(Err(Rule::WrongType {
            expected: member(kind),
        }))
    };
    let text = match raw {
        Raw::Missing => return None,
        Raw::Text(t) => Some(t.trim()),
        _ => None,
    };
    if text == Some("") {
        return None;
    }
    let parsed = |r: Result<String, Rule>| Some(r.map(Value::Text));
    match (kind, raw) {
        (FieldType::ShortText | FieldType::LongText, Raw::Text(_)) => parsed(Ok(text?.to_owned())),
        (FieldType::Email, Raw::Text(_)) => parsed(parse_email(text?).map_err(|_| Rule::Email)),
        (FieldType::Phone, Raw::Text(_)) => parsed(parse_phone(text?).map_err(|_| Rule::Phone)),
        (FieldType::PostalCode, Raw::Text(_)) => parsed(
            PostalCode::parse(text?)
                .map(|p| p.as_str().to_owned())
                .map_err(|_| Rule::PostalCode),
        ),
        (FieldType::Date, Raw::Text(_)) => {
            Some(Date::parse(text?).map(Value::Date).map_err(|_| Rule::Date))
        }
        (FieldType::Integer, Raw::Integer(n)) => Some(Ok(Value::Integer(*n))),
        (FieldType::Decimal, Raw::Decimal(d)) => Some(
            Decimal::parse(d.trim())
                .map(Value::Decimal)
                .ok_or(Rule::NotADecimal),
        ),
        (FieldType::Boolean, Raw::Boolean(b)) => Some(Ok(Value::Boolean(*b))),
        (FieldType::SingleChoice | FieldType::MultipleChoice, Raw::Choices(values)) => {
            (!values.is_empty()).then(|| Ok(Value::Choices(values.clone())))
        }
        (
            FieldType::Address,
            Raw::Address {
                line1,
                line2,
                city,
                province,
                postal_code,
            },
        ) => Some(address(line1, line2, city, province, postal_code)),
        (
            FieldType::Identifier,
            Raw::Identifier {
                scheme,
                province,
                value,
            },
        ) => Some(identifier(node.field.scheme, *scheme, province, value)),
        (FieldType::BankAccount, Raw::BankAccount(b)) => Some(bank_account(b)),
        _ => wrong(),
    }
}

fn address(
    line1: &str,
    line2: &str,
    city: &str,
    province: &str,
    postal: &str,
) -> Result<Value, Rule> {
    let text = |s: &str, max: usize, required: bool, part: &'static str| {
        let s = s.trim();
        if (required && s.is_empty()) || s.chars().count() > max || s.chars().any(char::is_control)
        {
            Err(Rule::Address { part })
        } else {
            Ok(s.to_owned())
        }
    };
    let line1 = text(line1, 200, true, "line1")?;
    let line2 = text(line2, 200, false, "line2")?;
    let city = text(city, 100, true, "city")?;
    let province =
        Province::parse(province.trim()).map_err(|_| Rule::Address { part: "province" })?;
    let postal_code = PostalCode::parse(postal).map_err(|_| Rule::Address {
        part: "postal_code",
    })?;
    if !postal_code.is_in(province) {
        return Err(Rule::PostalCodeProvince);
    }
    Ok(Value::Address(Address {
        kind: AddressKind::Residential,
        line1,
        line2,
        city,
        province,
        postal_code,
    }))
}

fn identifier(
    wanted: Option<SchemeKind>,
    given: Option<SchemeKind>,
    province: &str,
    value: &str,
) -> Result<Value, Rule> {
    if given.is_some_and(|g| Some(g) != wanted) {
        return Err(Rule::Identifier);
    }
    let scheme = match wanted.ok_or(Rule::Identifier)? {
        SchemeKind::Sin => IdentifierScheme::Sin,
        SchemeKind::Passport => IdentifierScheme::Passport,
        SchemeKind::HealthCard => IdentifierScheme::HealthCard(
            Province::parse(province.trim()).map_err(|_| Rule::Identifier)?,
        ),
    };
    Identifier::parse(scheme, value)
        .map(Value::Identifier)
        .map_err(|_| Rule::Identifier)
}

fn bank_account(b: &BankAccount) -> Result<Value, Rule> {
    let digits = |s: &str, lengths: std::ops::RangeInclusive<usize>, part: &'static str| {
        let d: String = s
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        if lengths.contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) {
            Ok(d)
        } else {
            Err(Rule::BankAccount { part })
        }
    };
    Ok(Value::BankAccount(BankAccount {
        institution: digits(&b.institution, 3..=3, "institution")?,
        transit: digits(&b.transit, 5..=5, "transit")?,
        account: digits(&b.account, 7..=12, "account")?,
    }))
}

/// The date a bound names, relative to `today`.
pub fn resolve(bound: DateBound, today: civil::Date) -> Option<civil::Date> {
    match bound {
        DateBound::Fixed(date) => Some(date),
        DateBound::Today { amount, unit } => {
            let span = match unit {
                DateUnit::Days => Span::new().try_days(amount).ok()?,
                DateUnit::Months => Span::new().try_months(amount).ok()?,
                DateUnit::Years => Span::new().try_years(amount).ok()?,
            };
            today.checked_add(span).ok()
        }
    }
}

/// `value` checked against `node`'s limits, normalised.
fn limits(node: &Node, value: Value, today: civil::Date) -> Result<Value, Rule> {
    let f = &node.field;
    let c = &f.constraints;
    match &value {
        Value::Text(t) if f.kind.is_text() => {
            let n = u32::try_from(t.chars().count()).unwrap_or(u32::MAX);
            let allowed =
                |ch: char| f.kind == FieldType::LongText && matches!(ch, '\n' | '\r' | '\t');
            if t.chars().any(|ch| ch.is_control() && !allowed(ch)) {
                return Err(Rule::ControlCharacters);
            }
            if n > node.max_length {
                return Err(Rule::TooLong {
                    max: node.max_length,
                });
            }
            if let Some(min) = c.min_length.filter(|m| n < *m) {
                return Err(Rule::TooShort { min });
            }
            if node.pattern.as_ref().is_some_and(|p| !p.is_match(t)) {
                return Err(Rule::Pattern);
            }
        }
        Value::Integer(_) | Value::Decimal(_) => {
            let n = number(&value).ok_or(Rule::NotADecimal)?;
            if let Some(min) = c.minimum.filter(|m| n < *m) {
                return Err(Rule::BelowMinimum {
                    min: min.to_string(),
                });
            }
            if let Some(max) = c.maximum.filter(|m| n > *m) {
                return Err(Rule::AboveMaximum {
                    max: max.to_string(),
                });
            }
        }
        Value::Date(d) => {
            let date: civil::Date = d.as_str().parse().map_err(|_| Rule::Date)?;
            if let Some(earliest) = c.earliest.as_ref().and_then(|(_, b)| resolve(*b, today))
                && date < earliest
            {
                return Err(Rule::TooEarly {
                    earliest: earliest.to_string(),
                });
            }
            if let Some(latest) = c.latest.as_ref().and_then(|(_, b)| resolve(*b, today))
                && date > latest
            {
                return Err(Rule::TooLate {
                    latest: latest.to_string(),
                });
            }
        }
        Value::Choices(chosen) => return choices(node, chosen),
        _ => {}
    }
    Ok(value)
}

fn choices(node: &Node, chosen: &[String]) -> Result<Value, Rule> {
    let f = &node.field;
    if let Some(bad) = chosen
        .iter()
        .find(|v| !f.choices.iter().any(|c| &c.value == *v))
    {
        return Err(Rule::NotAChoice {
            value: bad.chars().take(64).collect(),
        });
    }
    let distinct: BTreeSet<&String> = chosen.iter().collect();
    if distinct.len() != chosen.len() || (f.kind == FieldType::SingleChoice && chosen.len() != 1) {
        return Err(Rule::ChoiceCount);
    }
    let n = u32::try_from(chosen.len()).unwrap_or(u32::MAX);
    if let Some(min) = f.constraints.min_choices.filter(|m| n < *m) {
        return Err(Rule::TooFewChoices { min });
    }
    if let Some(max) = f.constraints.max_choices.filter(|m| n > *m) {
        return Err(Rule::TooManyChoices { max });
    }
    let ordered = f
        .choices
        .iter()
        .filter(|c| distinct.contains(&c.value))
        .map(|c| c.value.clone())
        .collect();
    Ok(Value::Choices(ordered))
}
