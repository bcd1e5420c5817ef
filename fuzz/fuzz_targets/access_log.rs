//! The access-log verifier on any export and any checkpoint note: a tampered, truncated or
//! malformed export is refused with a problem, never a panic, and nothing but a real signature
//! verifies. The first byte picks the input: an export (JSON) with the verifier key it names, or
//! a signed note checked against a fixed key.

#![no_main]

use libfuzzer_sys::fuzz_target;
use single_window::audit::{
    checkpoint::{Checkpoint, parse_verifier_key},
    export::{self, Export},
};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    if mode % 2 == 0 {
        if let Ok(export) = serde_json::from_str::<Export>(&text) {
            let key = export.verifier_key.clone();
            let kept = (mode % 4 == 2).then(|| export.checkpoint.clone());
            let _ = export::verify(&export, &key, kept.as_deref());
        }
    } else {
        let _ = parse_verifier_key(&text);
        let key = ed25519_key();
        let verified = Checkpoint::verify(&text, "fuzz.example/log", &key);
        assert!(verified.is_err(), "a note nobody signed verified: {text:?}");
    }
});

/// A fixed Ed25519 key: finding a note it verifies would be forging a signature.
fn ed25519_key() -> ed25519_dalek::VerifyingKey {
    ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key()
}
