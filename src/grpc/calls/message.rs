//! The first request message, read and checked before any handler runs: its length prefix
//! against the method's limit, its framing, and the bytes it pins against the connection's budget.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use bytes::{Buf as _, Bytes, BytesMut};
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt as _;
use tonic::{Status, body::Body};

use crate::{
    error::{AppError, MalformedPart},
    transport::budget::Reservation,
};

/// The gRPC length-prefix: one flag byte and a 4-byte big-endian length.
const PREFIX: usize = 5;

fn framing(description: &'static str) -> AppError {
    AppError::Malformed {
        part: MalformedPart::Framing,
        description,
    }
}

/// Reads `body` until its first message is complete and returns its bytes (prefix included).
/// Refuses a message over `limit` bytes as soon as its prefix says so, an empty or truncated body,
/// and a body that cannot be read (for gRPC-Web text, invalid base64); every byte held counts
/// against `reservation` (`ConnectionBufferFull` when the budget is spent).
pub async fn read_first(
    body: &mut Body,
    limit: usize,
    reservation: &mut Reservation,
) -> Result<Bytes, AppError> {
    let mut buf = BytesMut::new();
    let mut wanted = None;
    loop {
        if wanted.is_none() && buf.len() >= PREFIX {
            let length = (&buf[1..PREFIX]).get_u32() as usize;
            if length > limit {
                return Err(AppError::MessageTooLarge { limit_bytes: limit });
            }
            wanted = Some(PREFIX + length);
        }
        if wanted.is_some_and(|w| buf.len() >= w) {
            return Ok(buf.freeze());
        }
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    if !reservation.grow(data.len()) {
                        return Err(AppError::ConnectionBufferFull);
                    }
                    buf.extend_from_slice(&data);
                }
            }
            Some(Err(status)) => {
                tracing::debug!(error = %status.message(), "request body unreadable");
                return Err(framing(
                    "the request body could not be read (for gRPC-Web text: it is not valid base64)",
                ));
            }
            None if buf.is_empty() => {
                return Err(framing("the request has no message"));
            }
            None => {
                return Err(framing(
                    "the request ended before its message did (truncated length-prefixed message)",
                ));
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// A request body whose first bytes were already read: `first`, then the rest of `rest`.
    pub struct Prefixed {
        first: Option<Bytes>,
        #[pin]
        rest: Body,
    }
}

impl Prefixed {
    /// `first` followed by what remains of `rest`.
    pub fn new(first: Bytes, rest: Body) -> Self {
        Self {
            first: Some(first),
            rest,
        }
    }
}

impl http_body::Body for Prefixed {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = self.project();
        if let Some(first) = this.first.take() {
            return Poll::Ready(Some(Ok(Frame::data(first))));
        }
        this.rest.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_none() && self.rest.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let mut hint = self.rest.size_hint();
        if let Some(first) = &self.first {
            let n = first.len() as u64;
            hint.set_lower(hint.lower() + n);
            if let Some(upper) = hint.upper() {
                hint.set_upper(upper + n);
            }
        }
        hint
    }
}
