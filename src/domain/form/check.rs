//! The checks a definition passes when it is written, and the compiled form answers are checked
//! against: every field indexed by key with its group, its pattern compiled, and its conditions
//! known to reference fields in scope without a cycle.

use std::collections::{HashMap, HashSet};

use regex::{Regex, RegexBuilder};

use super::{
    Clause, Condition, DateBound, Decimal, Definition, Field, FieldType, Operator, RecordField,
    valid_choice_value, valid_key,
};

/// Most fields in a form, groups' fields included.
pub const MAX_FIELDS: usize = 1_000;
/// Most fields directly in one group (or at the top).
pub const MAX_GROUP_FIELDS: usize = 200;
/// Deepest nesting of groups.
pub const MAX_DEPTH: usize = 3;
/// Most choices of a field.
pub const MAX_CHOICES: usize = 200;
/// Most clauses of a condition.
pub const MAX_CLAUSES: usize = 20;
/// Most items of a repeatable group.
pub const MAX_ITEMS: u32 = 100;
/// Longest pattern.
pub const MAX_PATTERN_CHARS: usize = 500;
/// Longest short text, and longest long text, a field may allow.
pub const SHORT_TEXT_CAP: u32 = 1_000;
pub const LONG_TEXT_CAP: u32 = 10_000;
/// What text fields allow when they do not say.
pub const SHORT_TEXT_DEFAULT: u32 = 200;
pub const LONG_TEXT_DEFAULT: u32 = 4_000;
/// Longest label and help text, per language.
pub const MAX_LABEL_CHARS: usize = 500;
pub const MAX_HELP_CHARS: usize = 2_000;
/// Longest title and description, per language.
pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 2_000;

/// A problem of a definition: the path of the bad part and why.
pub type Problem = (String, String);

/// One field of a compiled form.
#[derive(Debug)]
pub struct Node {
    pub field: Field,
    /// The group it is in (an index into [`Compiled::nodes`]).
    pub parent: Option<usize>,
    /// How many groups it is in.
    pub depth: usize,
    pub pattern: Option<Regex>,
    /// The most characters a text answer may have.
    pub max_length: u32,
}

/// A definition that passed every check, ready to check answers.
#[derive(Debug)]
pub struct Compiled {
    pub definition: Definition,
    /// Every field, depth first.
    pub nodes: Vec<Node>,
    by_key: HashMap<String, usize>,
}

impl Compiled {
    /// The node of the field with `key`.
    pub fn index(&self, key: &str) -> Option<usize> {
        self.by_key.get(key).copied()
    }

    /// The nodes directly in `group` (`None`: the top level).
    pub fn children(&self, group: Option<usize>) -> impl Iterator<Item = usize> + '_ {
        (0..self.nodes.len()).filter(move |&i| self.nodes[i].parent == group)
    }

    /// The groups `node` is in, outermost first.
    pub fn ancestors(&self, node: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut at = self.nodes[node].parent;
        while let Some(p) = at {
            out.push(p);
            at = self.nodes[p].parent;
        }
        out.reverse();
        out
    }
}

/// Checks `definition`, naming each problem under `prefix` (`form`); the compiled form when there
/// is none.
pub fn check(definition: &Definition, prefix: &str) -> Result<Compiled, Vec<Problem>> {
    let mut problems = Vec::new();
    texts(definition, prefix, &mut problems);
    let mut nodes = Vec::new();
    let mut paths = Vec::new();
    if definition.fields.is_empty() {
        problems.push((
            format!("{prefix}.fields"),
            "is required: at least one field".to_owned(),
        ));
    }
    collect(
        &definition.fields,
        None,
        0,
        &format!("{prefix}.fields"),
        &mut nodes,
        &mut paths,
        &mut problems,
    );
    if nodes.len() > MAX_FIELDS {
        return Err(vec![(
            format!("{prefix}.fields"),
            format!(
                "at most {MAX_FIELDS} fields in all, groups' fields included ({} given)",
                nodes.len()
            ),
        )]);
    }
    let mut by_key = HashMap::new();
    for (i, node) in nodes.iter().enumerate() {
        if valid_key(&node.field.key) && by_key.insert(node.field.key.clone(), i).is_some() {
            problems.push((
                format!("{}.key", paths[i]),
                format!("`{}` is the key of an earlier field", node.field.key),
            ));
        }
    }
    let mut compiled = Compiled {
        definition: definition.clone(),
        nodes,
        by_key,
    };
    for (i, path) in paths.iter().enumerate() {
        field(&mut compiled, i, path, &mut problems);
    }
    if problems.is_empty() {
        cycles(&compiled, &paths, &mut problems);
    }
    let mut writes: HashMap<RecordField, usize> = HashMap::new();
    for (i, node) in compiled.nodes.iter().enumerate() {
        if let (true, Some(target)) = (node.field.write_back, node.field.prefill)
            && let Some(first) = writes.insert(target, i)
        {
            problems.push((
                format!("{}.write_back", paths[i]),
                format!(
                    "`{}` already writes back to {}",
                    compiled.nodes[first].field.key,
                    target.code()
                ),
            ));
        }
    }
    if problems.is_empty() {
        Ok(compiled)
    } else {
        Err(problems)
    }
}

fn bounded(problems: &mut Vec<Problem>, path: String, text: &str, max: usize, required: bool) {
    let n = text.chars().count();
    if required && text.trim().is_empty() {
        problems.push((path, "is required".to_owned()));
    } else if n > max {
        problems.push((path, format!("at most {max} characters")));
    } else if text.chars().any(|c| c.is_control() && c != '\n') {
        problems.push((path, "must not contain control characters".to_owned()));
    }
}

fn texts(d: &Definition, prefix: &str, problems: &mut Vec<Problem>) {
    bounded(
        problems,
        format!("{prefix}.title.en"),
        &d.title.en,
        MAX_TITLE_CHARS,
        true,
    );
    bounded(
        problems,
        format!("{prefix}.title.fr"),
        &d.title.fr,
        MAX_TITLE_CHARS,
        true,
    );
    bounded(
        problems,
        format!("{prefix}.description.en"),
        &d.description.en,
        MAX_DESCRIPTION_CHARS,
        false,
    );
    bounded(
        problems,
        format!("{prefix}.description.fr"),
        &d.description.fr,
        MAX_DESCRIPTION_CHARS,
        false,
    );
}

fn collect(
    fields: &[Field],
    parent: Option<usize>,
    depth: usize,
    at: &str,
    nodes: &mut Vec<Node>,
    paths: &mut Vec<String>,
    problems: &mut Vec<Problem>,
) {
    if fields.len() > MAX_GROUP_FIELDS {
        problems.push((
            at.to_owned(),
            format!("at most {MAX_GROUP_FIELDS} fields in one group"),
        ));
    }
    for (i, f) in fields.iter().enumerate() {
        if nodes.len() > MAX_FIELDS {
            return;
        }
        let path = format!("{at}[{i}]");
        let mut shallow = f.clone();
        shallow.fields.clear();
        let max_length = f.constraints.max_length.unwrap_or(match f.kind {
            FieldType::LongText => LONG_TEXT_DEFAULT,
            _ => SHORT_TEXT_DEFAULT,
        });
        nodes.push(Node {
            field: shallow,
            parent,
            depth,
            pattern: None,
            max_length,
        });
        paths.push(path.clone());
        let me = nodes.len() - 1;
        if f.kind == FieldType::Group {
            if depth >= MAX_DEPTH {
                problems.push((
                    format!("{path}.fields"),
                    format!("groups nest at most {MAX_DEPTH} deep"),
                ));
                continue;
            }
            collect(
                &f.fields,
                Some(me),
                depth + 1,
                &format!("{path}.fields"),
                nodes,
                paths,
                problems,
            );
        }
    }
}

fn field(compiled: &mut Compiled, i: usize, path: &str, problems: &mut Vec<Problem>) {
    let definition_fields = field_children(compiled, i);
    let node = &compiled.nodes[i];
    let f = &node.field;
    let mut add = |part: &str, why: String| problems.push((format!("{path}.{part}"), why));
    if !valid_key(&f.key) {
        add(
            "key",
            "must be 1 to 64 of a-z, 0-9 and _, starting with a letter".to_owned(),
        );
    }
    let mut label = Vec::new();
    bounded(
        &mut label,
        format!("{path}.label.en"),
        &f.label.en,
        MAX_LABEL_CHARS,
        true,
    );
    bounded(
        &mut label,
        format!("{path}.label.fr"),
        &f.label.fr,
        MAX_LABEL_CHARS,
        true,
    );
    bounded(
        &mut label,
        format!("{path}.help.en"),
        &f.help.en,
        MAX_HELP_CHARS,
        false,
    );
    bounded(
        &mut label,
        format!("{path}.help.fr"),
        &f.help.fr,
        MAX_HELP_CHARS,
        false,
    );
    let group = f.kind == FieldType::Group;
    if group {
        if definition_fields == 0 && node.depth < MAX_DEPTH {
            add("fields", "a group needs at least one field".to_owned());
        }
        if !f.constraints.is_empty() {
            add("constraints", "a group takes no constraints".to_owned());
        }
        if f.max_items > MAX_ITEMS {
            add("max_items", format!("at most {MAX_ITEMS}"));
        } else if f.max_items > 0 && !f.repeatable {
            add("max_items", "applies only to a repeatable group".to_owned());
        }
    } else if f.repeatable || f.max_items > 0 {
        add(
            if f.repeatable {
                "repeatable"
            } else {
                "max_items"
            },
            "applies only to groups".to_owned(),
        );
    }
    choices(f, &mut add);
    if (f.kind == FieldType::Identifier) != f.scheme.is_some() {
        add(
            "identifier_scheme",
            if f.kind == FieldType::Identifier {
                "is required for an identifier field"
            } else {
                "applies only to identifier fields"
            }
            .to_owned(),
        );
    }
    let pattern = constraints(f, &mut add);
    prefill(compiled, i, &mut add);
    for (part, condition) in [
        ("show_when", &f.show_when),
        ("require_when", &f.require_when),
    ] {
        if let Some(condition) = condition {
            self::condition(
                compiled,
                i,
                condition,
                &format!("{path}.{part}"),
                &mut label,
            );
        }
    }
    problems.extend(label);
    compiled.nodes[i].pattern = pattern;
}

fn field_children(compiled: &Compiled, i: usize) -> usize {
    compiled.children(Some(i)).count()
}

fn choices(f: &Field, add: &mut impl FnMut(&str, String)) {
    if !f.kind.is_choice() {
        if !f.choices.is_empty() {
            add("choices", "apply only to choice fields".to_owned());
        }
        return;
    }
    if f.choices.is_empty() || f.choices.len() > MAX_CHOICES {
        add(
            "choices",
            format!("a choice field needs 1 to {MAX_CHOICES} choices"),
        );
    }
    let mut seen = HashSet::new();
    for (j, c) in f.choices.iter().enumerate() {
        if !valid_choice_value(&c.value) {
            add(
                &format!("choices[{j}].value"),
                "must be 1 to 64 of a-z, 0-9, - and _".to_owned(),
            );
        } else if !seen.insert(c.value.as_str()) {
            add(
                &format!("choices[{j}].value"),
                format!("`{}` is listed twice", c.value),
            );
        }
        for (lang, text) in [("en", &c.label.en), ("fr", &c.label.fr)] {
            if text.trim().is_empty() || text.chars().count() > MAX_LABEL_CHARS {
                add(
                    &format!("choices[{j}].label.{lang}"),
                    format!("is required, at most {MAX_LABEL_CHARS} characters"),
                );
            }
        }
    }
}

fn constraints(f: &Field, add: &mut impl FnMut(&str, String)) -> Option<Regex> {
    let c = &f.constraints;
    let only =
        |add: &mut dyn FnMut(&str, String), set: bool, applies: bool, part: &str, types: &str| {
            if set && !applies {
                add(
                    &format!("constraints.{part}"),
                    format!("applies only to {types} fields"),
                );
            }
        };
    only(
        add,
        c.min_length.is_some(),
        f.kind.is_text(),
        "min_length",
        "text",
    );
    only(
        add,
        c.max_length.is_some(),
        f.kind.is_text(),
        "max_length",
        "text",
    );
    only(
        add,
        c.pattern.is_some(),
        f.kind.is_text(),
        "pattern",
        "text",
    );
    only(
        add,
        c.minimum.is_some(),
        f.kind.is_number(),
        "minimum",
        "integer and decimal",
    );
    only(
        add,
        c.maximum.is_some(),
        f.kind.is_number(),
        "maximum",
        "integer and decimal",
    );
    only(
        add,
        c.earliest.is_some(),
        f.kind == FieldType::Date,
        "earliest",
        "date",
    );
    only(
        add,
        c.latest.is_some(),
        f.kind == FieldType::Date,
        "latest",
        "date",
    );
    only(
        add,
        c.min_choices.is_some(),
        f.kind == FieldType::MultipleChoice,
        "min_choices",
        "multiple choice",
    );
    only(
        add,
        c.max_choices.is_some(),
        f.kind == FieldType::MultipleChoice,
        "max_choices",
        "multiple choice",
    );
    let cap = if f.kind == FieldType::LongText {
        LONG_TEXT_CAP
    } else {
        SHORT_TEXT_CAP
    };
    if c.max_length.is_some_and(|m| m == 0 || m > cap) {
        add("constraints.max_length", format!("must be 1 to {cap}"));
    }
    if let (Some(min), Some(max)) = (c.min_length, c.max_length)
        && min > max
    {
        add(
            "constraints.min_length",
            "must not exceed max_length".to_owned(),
        );
    }
    if let (Some(min), Some(max)) = (c.minimum, c.maximum)
        && min > max
    {
        add("constraints.minimum", "must not exceed maximum".to_owned());
    }
    if f.kind == FieldType::Integer {
        for (part, bound) in [("minimum", c.minimum), ("maximum", c.maximum)] {
            if bound.is_some_and(|b| b.to_string().contains('.')) {
                add(
                    &format!("constraints.{part}"),
                    "must be a whole number for an integer field".to_owned(),
                );
            }
        }
    }
    if let (Some((_, DateBound::Fixed(a))), Some((_, DateBound::Fixed(b)))) =
        (&c.earliest, &c.latest)
        && a > b
    {
        add(
            "constraints.earliest",
            "must not be after latest".to_owned(),
        );
    }
    let count = u32::try_from(f.choices.len()).unwrap_or(u32::MAX);
    if c.max_choices.is_some_and(|m| m == 0 || m > count) {
        add(
            "constraints.max_choices",
            format!("must be 1 to the number of choices ({count})"),
        );
    }
    if c.min_choices.is_some_and(|m| m > count) {
        add(
            "constraints.min_choices",
            format!("must be at most the number of choices ({count})"),
        );
    }
    if let (Some(min), Some(max)) = (c.min_choices, c.max_choices)
        && min > max
    {
        add(
            "constraints.min_choices",
            "must not exceed max_choices".to_owned(),
        );
    }
    let pattern = c.pattern.as_ref()?;
    if pattern.chars().count() > MAX_PATTERN_CHARS {
        add(
            "constraints.pattern",
            format!("at most {MAX_PATTERN_CHARS} characters"),
        );
        return None;
    }
    match compile(pattern) {
        Ok(regex) => Some(regex),
        Err(why) => {
            add("constraints.pattern", why);
            None
        }
    }
}

/// Compiles `pattern` to match whole answers, within bounded memory.
pub fn compile(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(1 << 20)
        .dfa_size_limit(1 << 20)
        .nest_limit(50)
        .build()
        .map_err(|e| match e {
            regex::Error::Syntax(_) => "does not compile as a regular expression".to_owned(),
            regex::Error::CompiledTooBig(_) => {
                "compiles to more than 1 MiB; simplify it".to_owned()
            }
            _ => "does not compile as a regular expression".to_owned(),
        })
}

fn prefill(compiled: &Compiled, i: usize, add: &mut impl FnMut(&str, String)) {
    let f = &compiled.nodes[i].field;
    let Some(target) = f.prefill else {
        if f.write_back {
            add(
                "write_back",
                "needs a prefill path to write back to".to_owned(),
            );
        }
        return;
    };
    let scheme = f.scheme;
    if !target.fits(f.kind, scheme) {
        add(
            "prefill",
            format!("{} takes a field of {}", target.code(), target.fitting()),
        );
    } else if target == RecordField::Language {
        let mut values: Vec<&str> = f.choices.iter().map(|c| c.value.as_str()).collect();
        values.sort_unstable();
        if values != ["en", "fr"] {
            add(
                "prefill",
                "preferences.language takes exactly the choices `en` and `fr`".to_owned(),
            );
        }
    }
    if compiled
        .ancestors(i)
        .iter()
        .any(|&g| compiled.nodes[g].field.repeatable)
    {
        add(
            "prefill",
            "a field of a repeatable group cannot be prefilled".to_owned(),
        );
    }
    let room = compiled.nodes[i].max_length;
    if let Some(max) = target.max_chars().filter(|m| f.write_back && room > *m) {
        add(
            "constraints.max_length",
            format!("must be at most {max} to write back to {}", target.code()),
        );
    }
    if f.write_back && !target.writable() {
        add(
            "write_back",
            format!("{} cannot be written back", target.code()),
        );
    }
}

fn condition(
    compiled: &Compiled,
    i: usize,
    c: &Condition,
    path: &str,
    problems: &mut Vec<Problem>,
) {
    if c.clauses.is_empty() || c.clauses.len() > MAX_CLAUSES {
        problems.push((
            format!("{path}.clauses"),
            format!("1 to {MAX_CLAUSES} clauses"),
        ));
    }
    for (j, clause) in c.clauses.iter().enumerate() {
        let at = format!("{path}.clauses[{j}]");
        if let Err((part, why)) = self::clause(compiled, i, clause) {
            problems.push((format!("{at}.{part}"), why));
        }
    }
}

fn clause(compiled: &Compiled, i: usize, clause: &Clause) -> Result<(), (&'static str, String)> {
    let Some(target) = compiled.index(&clause.field) else {
        return Err(("field", format!("no field has the key `{}`", clause.field)));
    };
    if target == i {
        return Err(("field", "a field cannot depend on itself".to_owned()));
    }
    let scope = compiled.ancestors(i);
    if let Some(parent) = compiled.nodes[target].parent
        && !scope.contains(&parent)
    {
        return Err((
            "field",
            format!(
                "`{}` is in a group this field is not in; refer to top-level fields or fields of the same group",
                clause.field
            ),
        ));
    }
    if scope.contains(&target) {
        return Err((
            "field",
            "a field cannot depend on the group it is in".to_owned(),
        ));
    }
    let f = &compiled.nodes[target].field;
    let kind = f.kind;
    let n = clause.values.len();
    let counted = match clause.operator {
        Operator::Exists | Operator::NotExists => n == 0,
        Operator::In => (1..=MAX_CHOICES).contains(&n),
        _ => n == 1,
    };
    if !counted {
        return Err((
            "values",
            match clause.operator {
                Operator::Exists | Operator::NotExists => "takes no values".to_owned(),
                Operator::In => format!("takes 1 to {MAX_CHOICES} values"),
                _ => "takes exactly one value".to_owned(),
            },
        ));
    }
    let comparable = matches!(clause.operator, Operator::Exists | Operator::NotExists)
        || !matches!(
            kind,
            FieldType::Group | FieldType::Address | FieldType::Identifier | FieldType::BankAccount
        );
    if !comparable {
        return Err(("operator", "a group, address, identifier or bank account can only be tested with EXISTS or NOT_EXISTS".to_owned()));
    }
    if matches!(clause.operator, Operator::GreaterThan | Operator::LessThan) && !kind.is_ordered() {
        return Err((
            "operator",
            "GREATER_THAN and LESS_THAN apply only to integer, decimal and date fields".to_owned(),
        ));
    }
    for value in &clause.values {
        if !fits(f, value) {
            return Err((
                "values",
                format!("`{value}` is not a possible answer of `{}`", f.key),
            ));
        }
    }
    Ok(())
}

/// Whether `value` (a clause value) is a possible answer of `f`.
fn fits(f: &Field, value: &str) -> bool {
    match f.kind {
        FieldType::Integer => value.parse::<i64>().is_ok(),
        FieldType::Decimal => Decimal::parse(value).is_some(),
        FieldType::Boolean => value == "true" || value == "false",
        FieldType::Date => crate::domain::citizen::values::Date::parse(value).is_ok(),
        FieldType::SingleChoice | FieldType::MultipleChoice => {
            f.choices.iter().any(|c| c.value == value)
        }
        _ => true,
    }
}

/// Finds a cycle among the fields' conditions (a group's fields also depend on their group).
fn cycles(compiled: &Compiled, paths: &[String], problems: &mut Vec<Problem>) {
    let edges: Vec<Vec<usize>> = compiled
        .nodes
        .iter()
        .map(|n| {
            let mut to: Vec<usize> = [&n.field.show_when, &n.field.require_when]
                .into_iter()
                .flatten()
                .flat_map(|c| c.clauses.iter().filter_map(|cl| compiled.index(&cl.field)))
                .collect();
            to.extend(n.parent);
            to
        })
        .collect();
    // 0: unvisited, 1: on the stack, 2: done.
    let mut state = vec![0u8; edges.len()];
    let mut stack = Vec::new();
    for start in 0..edges.len() {
        if state[start] == 0
            && let Some(cycle) = visit(start, &edges, &mut state, &mut stack)
        {
            let keys: Vec<&str> = cycle
                .iter()
                .map(|&k| compiled.nodes[k].field.key.as_str())
                .collect();
            let first = cycle[0];
            let part = if compiled.nodes[first].field.show_when.is_some() {
                "show_when"
            } else {
                "require_when"
            };
            problems.push((
                format!("{}.{part}", paths[first]),
                format!("the conditions form a cycle: {}", keys.join(" -> ")),
            ));
            return;
        }
    }
}

fn visit(
    at: usize,
    edges: &[Vec<usize>],
    state: &mut [u8],
    stack: &mut Vec<usize>,
) -> Option<Vec<usize>> {
    state[at] = 1;
    stack.push(at);
    for &next in &edges[at] {
        match state[next] {
            1 => {
                let from = stack.iter().position(|&s| s == next).unwrap_or(0);
                let mut cycle = stack[from..].to_vec();
                cycle.push(next);
                return Some(cycle);
            }
            0 => {
                if let Some(cycle) = visit(next, edges, state, stack) {
                    return Some(cycle);
                }
            }
            _ => {}
        }
    }
    stack.pop();
    state[at] = 2;
    None
}
