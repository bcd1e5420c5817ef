//! Page tokens: any text given as a `page_token` is refused with INVALID_PAGE_TOKEN or read as the
//! first page, never a panic; and any cursor the service encodes decodes to itself, under its
//! binding only.

#![no_main]

use libfuzzer_sys::fuzz_target;
use single_window::{
    error::AppError,
    grpc::page_token::{Binding, PageTokens, TokenKey},
};

fuzz_target!(|data: &[u8]| {
    let tokens = PageTokens::new(
        TokenKey::new(*b"a fuzzing key of thirty-two byte").expect("a valid key"),
        None,
    );
    let binding = Binding::request("/singlewindow.v1.CatalogService/ListServices", &()).finish();
    let text = String::from_utf8_lossy(data);
    match tokens.decode::<serde_json::Value>(&text, &binding) {
        Ok(None) => assert!(text.is_empty()),
        Ok(Some(_)) | Err(AppError::InvalidPageToken(_)) => {}
        Err(other) => panic!("{other:?} for {text:?}"),
    }
    // Cursors are names and numbers (a float would not survive JSON exactly, and none is used).
    if let Ok(cursor) = serde_json::from_slice::<Vec<(String, i64)>>(data) {
        let token = tokens.encode(&binding, &cursor).expect("encodes");
        let back = tokens
            .decode::<Vec<(String, i64)>>(&token, &binding)
            .expect("decodes");
        assert_eq!(back, Some(cursor));
        let other =
            Binding::request("/singlewindow.v1.CatalogService/SearchServices", &()).finish();
        assert!(tokens.decode::<Vec<(String, i64)>>(&token, &other).is_err());
    }
});
