//! One subscriber's stream: what it missed from the store, then the hub's live events, ended by
//! falling behind, by shutdown or by the client, always with the last position delivered.

use std::{
    collections::VecDeque,
    pin::Pin,
    sync::{Arc, atomic::Ordering},
};

use futures_util::stream::{self, Stream};
use tokio::sync::{mpsc, watch};

use super::{Hub, Item, read_agency};
use crate::error::AppError;

/// A stream of a feed's events for one agency, encoded by the caller.
pub type Events<T> = Pin<Box<dyn Stream<Item = Result<T, tonic::Status>> + Send>>;

enum Phase {
    /// Reading what was missed, up to the head at registration.
    CatchUp {
        until: i64,
    },
    Live,
    Done,
}

struct Subscription<T> {
    hub: Arc<Hub>,
    agency: String,
    id: u64,
    rx: mpsc::Receiver<Arc<Item>>,
    behind: Arc<std::sync::atomic::AtomicBool>,
    draining: watch::Receiver<bool>,
    /// The last position delivered (or the start).
    last: i64,
    pending: VecDeque<Arc<Item>>,
    phase: Phase,
    encode: fn(&Item) -> T,
}

impl<T> Drop for Subscription<T> {
    fn drop(&mut self) {
        self.hub.unregister(&self.agency, self.id);
        crate::telemetry::metrics::stream_subscribers(self.hub.feed.metric_name(), -1);
    }
}

/// Subscribes `agency` to `hub`'s feed: after `after` (read from the store first), or from now.
/// UNAVAILABLE while the hub does not yet know its feed's head (the server is starting).
pub fn subscribe<T: Send + 'static>(
    hub: &Arc<Hub>,
    agency: &str,
    after: Option<i64>,
    encode: fn(&Item) -> T,
) -> Result<Events<T>, AppError> {
    let registration = hub
        .register(agency)
        .ok_or(AppError::Unavailable("the feed is starting; retry shortly"))?;
    let head = registration.head;
    crate::telemetry::metrics::stream_subscribers(hub.feed.metric_name(), 1);
    let (last, phase) = match after {
        Some(after) if after < head => (after, Phase::CatchUp { until: head }),
        Some(after) => (after, Phase::Live),
        None => (head, Phase::Live),
    };
    let subscription = Subscription {
        hub: hub.clone(),
        agency: agency.to_owned(),
        id: registration.id,
        rx: registration.rx,
        behind: registration.behind,
        draining: hub.draining.clone(),
        last,
        pending: VecDeque::new(),
        phase,
        encode,
    };
    Ok(Box::pin(stream::unfold(subscription, next)))
}

type Missed = Pin<Box<dyn Future<Output = crate::store::StoreResult<Vec<Item>>> + Send>>;

/// The store read of what a subscriber missed, boxed in a plain function: the read is a large
/// future, and a subscription waiting in its live phase should not carry its space (built inside
/// `next`, it would be part of every subscription's state, about 9 KiB).
fn catch_up(hub: Arc<Hub>, agency: String, range: (i64, i64)) -> Missed {
    Box::pin(async move { read_agency(&hub.store, hub.feed, agency, range).await })
}

async fn next<T>(mut s: Subscription<T>) -> Option<(Result<T, tonic::Status>, Subscription<T>)> {
    loop {
        if let Some(item) = s.pending.pop_front() {
            s.last = item.position();
            let encoded = (s.encode)(&item);
            return Some((Ok(encoded), s));
        }
        match s.phase {
            Phase::Done => return None,
            Phase::CatchUp { until } => {
                match catch_up(s.hub.clone(), s.agency.clone(), (s.last, until)).await {
                    Ok(items) if items.is_empty() => s.phase = Phase::Live,
                    Ok(items) => s.pending.extend(items.into_iter().map(Arc::new)),
                    Err(error) => {
                        s.phase = Phase::Done;
                        return Some((Err(AppError::from(error).into()), s));
                    }
                }
            }
            Phase::Live => {
                let mut draining = s.draining.clone();
                let received = tokio::select! {
                    item = s.rx.recv() => item,
                    _ = draining.wait_for(|d| *d) => {
                        s.phase = Phase::Done;
                        let ended = AppError::StreamEnded { position: s.last };
                        return Some((Err(ended.into()), s));
                    }
                };
                match received {
                    Some(item) if item.position() <= s.last => {}
                    Some(item) => s.pending.push_back(item),
                    None => {
                        s.phase = Phase::Done;
                        let error = if s.behind.load(Ordering::Acquire) {
                            AppError::StreamBehind { position: s.last }
                        } else {
                            AppError::StreamEnded { position: s.last }
                        };
                        return Some((Err(error.into()), s));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every waiting subscriber holds one `next` future: keep it small (the store's read, inlined,
    /// made it 9.6 KB; boxed, it is a pointer).
    #[test]
    fn a_waiting_subscription_stays_small() {
        fn output_size<A, R>(_: &impl Fn(A) -> R) -> usize {
            std::mem::size_of::<R>()
        }
        let next = |s: super::Subscription<u8>| super::next(s);
        let size = output_size(&next);
        assert!(size < 1024, "a subscription's future is {size} bytes");
    }
}
