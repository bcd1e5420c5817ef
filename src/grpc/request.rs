//! Decoding request fields into valid values, collecting every bad field at once, and paging.

use std::collections::BTreeSet;

use serde::{Serialize, de::DeserializeOwned};

use super::page_token::{Binding, PageTokens};
use crate::{
    domain::names,
    error::{AppError, FieldViolation},
};

/// Page size when the request gives 0.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// Largest page; larger requests are clamped to it.
pub const MAX_PAGE_SIZE: usize = 500;

/// Collects field violations while a request is decoded.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    /// Records that `field` is invalid.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation::new(field, description));
    }

    /// `Ok` when nothing was recorded, otherwise an `InvalidArgument` error naming every field.
    pub fn finish(self) -> Result<(), AppError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(AppError::InvalidArgument(self.0))
        }
    }

    /// The page size `page_size` asks for: 0 means the default, above the maximum is clamped.
    pub fn page_size(&mut self, page_size: i32) -> usize {
        match usize::try_from(page_size) {
            Err(_) => {
                self.add("page_size", "must not be negative");
                DEFAULT_PAGE_SIZE
            }
            Ok(0) => DEFAULT_PAGE_SIZE,
            Ok(n) => n.min(MAX_PAGE_SIZE),
        }
    }

    /// The id in a required resource name.
    pub fn name(&mut self, field: &str, name: &str, collection: &str) -> String {
        if name.is_empty() {
            self.add(field, "is required");
            return String::new();
        }
        names::parse(name, collection).unwrap_or_else(|e| {
            self.add(field, e.to_string());
            String::new()
        })
    }

    /// The ids of a repeated resource-name filter; `exists` says whether an id is known.
    pub fn name_filter(
        &mut self,
        field: &str,
        values: &[String],
        collection: &str,
        exists: impl Fn(&str) -> bool,
    ) -> BTreeSet<String> {
        let mut ids = BTreeSet::new();
        for (i, value) in values.iter().enumerate() {
            match names::parse(value, collection) {
                Ok(id) if exists(&id) => {
                    ids.insert(id);
                }
                Ok(_) => self.add(
                    format!("{field}[{i}]"),
                    format!("no such resource `{value}`"),
                ),
                Err(e) => self.add(format!("{field}[{i}]"), e.to_string()),
            }
        }
        ids
    }

    /// The values of a repeated enum filter; unspecified or unknown values are violations.
    pub fn enum_filter<P, D: Ord>(
        &mut self,
        field: &str,
        values: &[i32],
        convert: impl Fn(P) -> Option<D>,
    ) -> BTreeSet<D>
    where
        P: TryFrom<i32>,
    {
        let mut set = BTreeSet::new();
        for (i, value) in values.iter().enumerate() {
            match P::try_from(*value).ok().and_then(&convert) {
                Some(v) => {
                    set.insert(v);
                }
                None => self.add(
                    format!("{field}[{i}]"),
                    format!("{value} is not a valid value"),
                ),
            }
        }
        set
    }
}

/// One page of `items` (already filtered and in order of `key`), resuming after the position in
/// `page_token`, which must have been issued for `binding`. Returns the page, the next token
/// (empty on the last page only) and the total count.
pub fn paginate<T, K>(
    items: Vec<T>,
    key: impl Fn(&T) -> K,
    tokens: &PageTokens,
    page_token: &str,
    binding: &Binding,
    page_size: usize,
) -> Result<(Vec<T>, String, usize), AppError>
where
    K: Ord + Serialize + DeserializeOwned,
{
    let total = items.len();
    let after: Option<K> = tokens.decode(page_token, binding)?;
    let start = after.map_or(0, |after| items.partition_point(|item| key(item) <= after));
    let page: Vec<T> = items.into_iter().skip(start).take(page_size).collect();
    let next = match page.last() {
        Some(last) if start + page.len() < total => tokens.encode(binding, &key(last))?,
        _ => String::new(),
    };
    Ok((page, next, total))
}
