//! The form-definition validator, through the shipped forms' JSON format: any text is either
//! refused with a reason or yields forms that passed every check CreateForm makes, never a panic
//! (patterns compile within their size limit, conditions name fields that exist, and so on).

#![no_main]

use libfuzzer_sys::fuzz_target;
use single_window::{domain::time::Timestamp, forms::seed};

fuzz_target!(|json: &str| {
    let _ = seed::parse(json, Timestamp::from_unix_millis(1_800_000_000_000));
});
