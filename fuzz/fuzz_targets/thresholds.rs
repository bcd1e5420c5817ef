//! The service-standard threshold parser on any text: it never panics, and every threshold it
//! finds is a finite, non-negative number of its unit.

#![no_main]

use libfuzzer_sys::fuzz_target;
use single_window::domain::threshold::parse_thresholds;

fuzz_target!(|text: &str| {
    for threshold in parse_thresholds(text) {
        assert!(
            threshold.value.is_finite() && threshold.value >= 0.0,
            "{threshold:?} from {text:?}"
        );
    }
});
