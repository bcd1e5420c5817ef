//! The response body as it leaves the server: handed to HTTP/2 in pieces only as fast as the
//! client reads, with every byte held counted against the connection's budget, and ended with
//! DEADLINE_EXCEEDED when the call's deadline passes before the client has it all.

use std::{
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::Bytes;
use http::HeaderMap;
use http_body::Frame;
use tokio::time::{Instant, Sleep};
use tonic::{Status, body::Body};

use crate::{
    error::AppError,
    transport::{SEND_PIECE_BYTES, budget::Reservation},
};

/// A response body under the call's deadline and its connection's budget.
pub struct Guarded {
    inner: Body,
    pending: Option<Bytes>,
    reservation: Reservation,
    deadline: Option<Instant>,
    /// Armed only once the body waits on its source (a stream between messages): an answer that
    /// is ready at once, as unary answers are, costs no timer.
    timer: Option<Pin<Box<Sleep>>>,
    done: bool,
}

impl Guarded {
    /// Guards `inner`, counting what it holds in `reservation`, ending it at `deadline`.
    pub fn new(inner: Body, reservation: Reservation, deadline: Option<Instant>) -> Self {
        Self {
            inner,
            pending: None,
            reservation,
            deadline,
            timer: None,
            done: false,
        }
    }

    /// Drops what is left and ends the body with `error` in its trailers.
    fn end_with(&mut self, error: AppError) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        self.done = true;
        self.inner = Body::empty();
        if let Some(pending) = self.pending.take() {
            self.reservation.shrink(pending.len());
        }
        let mut trailers = HeaderMap::new();
        let _ = Status::from(error).add_header(&mut trailers);
        Poll::Ready(Some(Ok(Frame::trailers(trailers))))
    }
}

impl http_body::Body for Guarded {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = self.get_mut();
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            if this.deadline.is_some_and(|d| Instant::now() >= d)
                || this
                    .timer
                    .as_mut()
                    .is_some_and(|t| t.as_mut().poll(cx).is_ready())
            {
                return this.end_with(AppError::DeadlineExceeded);
            }
            if let Some(pending) = this.pending.as_mut() {
                let piece = pending.split_to(pending.len().min(SEND_PIECE_BYTES));
                if pending.is_empty() {
                    this.pending = None;
                }
                this.reservation.shrink(piece.len());
                return Poll::Ready(Some(Ok(Frame::data(piece))));
            }
            let polled = Pin::new(&mut this.inner).poll_frame(cx);
            if polled.is_pending()
                && let (Some(deadline), None) = (this.deadline, &this.timer)
            {
                let mut timer = Box::pin(tokio::time::sleep_until(deadline));
                if timer.as_mut().poll(cx).is_ready() {
                    return this.end_with(AppError::DeadlineExceeded);
                }
                this.timer = Some(timer);
            }
            match ready!(polled) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => {
                        if !this.reservation.grow(data.len()) {
                            return this.end_with(AppError::ConnectionBufferFull);
                        }
                        this.pending = Some(data);
                    }
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                },
                Some(Err(status)) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(status)));
                }
                None => {
                    this.done = true;
                    return Poll::Ready(None);
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || (self.pending.is_none() && self.inner.is_end_stream())
    }
}
