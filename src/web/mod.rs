//! The portal on the gRPC port: `GET` and `HEAD` requests (HTTP/1.1 or HTTP/2) are answered with
//! the embedded portal files (`assets`), and in demo mode `/demo/credentials` is the demo
//! identity provider's sign-in list. Every other request (gRPC, gRPC-Web, CORS preflights) goes
//! on to the services: gRPC is always `POST`, so the two never meet.
//!
//! The pages talk to the service only through its public API, over gRPC-Web on the same origin.
//! Every answer carries a strict Content-Security-Policy (scripts, styles and connections to this
//! origin only) and no caching except for the hashed, immutable files, which go gzipped (the
//! build's own copies) to browsers that accept it.

pub mod assets;

use std::{
    convert::Infallible,
    fmt,
    sync::Arc,
    task::{Context, Poll},
};

use bytes::Bytes;
use ed25519_dalek::SigningKey;
use futures_util::future::{Either, Ready, ready};
use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode, header};
use tonic::body::Body;
use tower::{Layer, Service};

use crate::{auth::demo, clock::SharedClock};

/// The path of the demo identity provider's sign-in list.
pub const DEMO_CREDENTIALS_PATH: &str = "/demo/credentials";

const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; font-src 'self'; connect-src 'self'; manifest-src 'self'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The demo identity provider: signs in the demo citizens and hands out the demo principals' keys
/// (public already: `single-window demo credentials` prints them). Only in demo mode.
pub struct DemoIdentityProvider {
    pub key: SigningKey,
    pub clock: SharedClock,
}

impl fmt::Debug for DemoIdentityProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DemoIdentityProvider")
            .field("key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// What the web layer serves besides the files.
#[derive(Debug, Default)]
pub struct WebSettings {
    /// The demo identity provider, in demo mode.
    pub demo: Option<DemoIdentityProvider>,
}

/// Puts the portal in front of `S`, the services.
#[derive(Debug, Clone)]
pub struct WebLayer {
    settings: Arc<WebSettings>,
}

impl WebLayer {
    pub fn new(settings: WebSettings) -> Self {
        Self {
            settings: Arc::new(settings),
        }
    }
}

impl<S> Layer<S> for WebLayer {
    type Service = WebService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        WebService {
            inner,
            settings: self.settings.clone(),
        }
    }
}

/// The portal in front of the services.
#[derive(Debug, Clone)]
pub struct WebService<S> {
    inner: S,
    settings: Arc<WebSettings>,
}

impl<S, B> Service<Request<B>> for WebService<S>
where
    S: Service<Request<B>, Response = Response<Body>, Error = Infallible>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response<Body>, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let method = request.method();
        if method != Method::GET && method != Method::HEAD {
            return Either::Right(self.inner.call(request));
        }
        let gzip = accepts_gzip(request.headers());
        let mut response = answer(&self.settings, request.uri().path(), gzip);
        secure(response.headers_mut());
        if method == Method::HEAD {
            *response.body_mut() = Body::empty();
        }
        Either::Left(ready(Ok(response)))
    }
}

/// The answer to a `GET` of `path`, gzipped when the client accepts it and the build made a gzip
/// copy of the file.
fn answer(settings: &WebSettings, path: &str, gzip: bool) -> Response<Body> {
    if path == DEMO_CREDENTIALS_PATH {
        return match &settings.demo {
            Some(idp) => demo_credentials(idp),
            None => not_found(),
        };
    }
    let file = match path.trim_start_matches('/') {
        "" => "index.html",
        file => file,
    };
    let compressed = assets::find(&format!("{file}.gz"));
    let Some(asset) = assets::find(file).filter(|_| !file.ends_with(".gz")) else {
        if file == "index.html" {
            return plain(
                StatusCode::NOT_FOUND,
                "This binary was built without the portal: run `npm ci && npm run build` in portal/, then build again.\n",
            );
        }
        return not_found();
    };
    let cache = if assets::immutable(asset.path) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let sent = compressed.filter(|_| gzip).unwrap_or(asset);
    let mut response = Response::new(Body::new(http_body_util::Full::new(Bytes::from_static(
        sent.bytes,
    ))));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(assets::content_type(asset.path)),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if compressed.is_some() {
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    if !std::ptr::eq(sent, asset) {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

/// Whether `Accept-Encoding` lists gzip (or `*`) without `q=0`.
fn accepts_gzip(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
}

fn demo_credentials(idp: &DemoIdentityProvider) -> Response<Body> {
    let now = idp.clock.now().unix_millis() / 1000;
    let lines = demo::credential_lines(&idp.key, now);
    let json = serde_json::to_vec(&lines).expect("credential lines serialise");
    let mut response = Response::new(Body::new(http_body_util::Full::new(Bytes::from(json))));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn not_found() -> Response<Body> {
    plain(StatusCode::NOT_FOUND, "Not found\n")
}

fn plain(code: StatusCode, text: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::new(http_body_util::Full::new(Bytes::from_static(
        text.as_bytes(),
    ))));
    *response.status_mut() = code;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn secure(headers: &mut http::HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, value.parse().expect("a header"));
        headers
    }

    #[test]
    fn gzip_is_sent_only_to_clients_that_accept_it() {
        for (value, accepted) in [
            ("gzip, deflate, br, zstd", true),
            ("br;q=1.0, gzip;q=0.8", true),
            ("*", true),
            ("GZIP", true),
            ("gzip;q=0", false),
            ("gzip; q=0.0", false),
            ("br, deflate", false),
            ("identity", false),
        ] {
            assert_eq!(accepts_gzip(&with(value)), accepted, "{value}");
        }
        assert!(!accepts_gzip(&http::HeaderMap::new()));
    }
}
