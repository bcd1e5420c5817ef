//! Live feeds over durable positions: the agencies' assignment events and change notices, pushed
//! to their subscribers as the sequencer positions them, resumable from any retained position.
//!
//! Positions are given after commit by a sequencer holding a lock, one batch per transaction, so
//! readers see whole batches in position order and a reader that resumes after a position never
//! skips an event that committed late. Each process runs one [`Hub`] per feed: a reader that wakes
//! when this process positioned events, when PostgreSQL tells it another replica did (LISTEN on
//! [`FEEDS_CHANNEL`](crate::store::FEEDS_CHANNEL)), or once a second in case a notification was
//! lost; it reads what follows its head once for all subscribers and hands each event to the
//! subscribers of its agency. A subscriber that resumes reads what it missed from the store first
//! (up to the head it registered at), then takes the live events, skipping any it already had.
//!
//! Memory is bounded: each subscriber has a buffer of a fixed number of events. When it is full
//! the subscriber is cut off; its stream delivers what it buffered, then ends with
//! RESOURCE_EXHAUSTED naming the last position delivered. On shutdown every stream ends with
//! UNAVAILABLE and its position.

pub mod stream;

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio::sync::{Notify, mpsc, watch};

use crate::store::{
    FEEDS_CHANNEL, Lock, Store, StoreResult,
    notice_sql::{self, Notice},
    request_sql::{self, EventRecord},
};

/// Which feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// Legs offered to an agency and changes to requests it owns.
    Assignments,
    /// Tell-us-once notices.
    ChangeNotices,
}

impl Feed {
    /// The feed's name in metrics.
    pub fn metric_name(self) -> &'static str {
        match self {
            Feed::Assignments => "assignments",
            Feed::ChangeNotices => "change_notices",
        }
    }

    /// The outbox table, which is also the payload of its notifications.
    fn table(self) -> &'static str {
        match self {
            Feed::Assignments => "request_events",
            Feed::ChangeNotices => "change_notices",
        }
    }
}

/// One event of a feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Assignment(EventRecord),
    Notice(Notice),
}

impl Item {
    /// Its position (every item a feed hands out is positioned).
    pub fn position(&self) -> i64 {
        match self {
            Item::Assignment(e) => e.position.unwrap_or_default(),
            Item::Notice(n) => n.position.unwrap_or_default(),
        }
    }

    fn agency(&self) -> &str {
        match self {
            Item::Assignment(e) => &e.agency,
            Item::Notice(n) => &n.agency,
        }
    }
}

/// Most events one sequencer run positions.
const SEQUENCE_BATCH: i64 = 10_000;

/// Most events one read takes.
const BATCH: i64 = 1_000;

/// Every feed's positioned events after `after`.
async fn read_after(store: &Store, feed: Feed, after: i64) -> StoreResult<Vec<Item>> {
    store
        .read((feed, after), |tx, (feed, after)| {
            Box::pin(async move {
                Ok(match feed {
                    Feed::Assignments => request_sql::events_after(tx, *after, BATCH)
                        .await?
                        .into_iter()
                        .map(Item::Assignment)
                        .collect(),
                    Feed::ChangeNotices => notice_sql::notices_after(tx, *after, BATCH)
                        .await?
                        .into_iter()
                        .map(Item::Notice)
                        .collect(),
                })
            })
        })
        .await
}

/// `agency`'s events in `(after, until]`, at most a batch.
async fn read_agency(
    store: &Store,
    feed: Feed,
    agency: String,
    range: (i64, i64),
) -> StoreResult<Vec<Item>> {
    store
        .read((feed, agency, range), |tx, (feed, agency, range)| {
            Box::pin(async move {
                Ok(match feed {
                    Feed::Assignments => request_sql::agency_events(tx, agency, *range, BATCH)
                        .await?
                        .into_iter()
                        .map(Item::Assignment)
                        .collect(),
                    Feed::ChangeNotices => notice_sql::list(tx, agency, range.0, BATCH)
                        .await?
                        .into_iter()
                        .filter(|n| n.position.is_some_and(|p| p <= range.1))
                        .map(Item::Notice)
                        .collect(),
                })
            })
        })
        .await
}

/// The oldest and newest positions a feed retains.
async fn positions(store: &Store, feed: Feed) -> StoreResult<(Option<i64>, Option<i64>)> {
    store
        .read(feed, |tx, feed| {
            Box::pin(async move {
                match feed {
                    Feed::Assignments => request_sql::event_positions(tx).await,
                    Feed::ChangeNotices => Ok((
                        notice_sql::oldest_position(tx).await?,
                        notice_sql::newest_position(tx).await?,
                    )),
                }
            })
        })
        .await
}

struct Subscriber {
    id: u64,
    tx: mpsc::Sender<Arc<Item>>,
    behind: Arc<AtomicBool>,
}

#[derive(Default)]
struct State {
    /// The last position handed to subscribers; `None` until the reader has read the feed's head.
    head: Option<i64>,
    subscribers: HashMap<String, Vec<Subscriber>>,
    next_id: u64,
}

/// One feed's fan-out in this process.
pub struct Hub {
    feed: Feed,
    store: Store,
    buffer: usize,
    state: Mutex<State>,
    wake: Notify,
    written: Notify,
    draining: watch::Receiver<bool>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("feed", &self.feed)
            .field("buffer", &self.buffer)
            .finish()
    }
}

/// What a new subscription starts from.
pub struct Registration {
    /// The head when it registered: live events come after it.
    pub head: i64,
    pub rx: mpsc::Receiver<Arc<Item>>,
    pub behind: Arc<AtomicBool>,
    pub id: u64,
}

impl Hub {
    /// A hub for `feed` over `store`, buffering `buffer` events per subscriber, ending its
    /// streams once `draining` turns true.
    pub fn new(
        feed: Feed,
        store: Store,
        buffer: usize,
        draining: watch::Receiver<bool>,
    ) -> Arc<Self> {
        Arc::new(Self {
            feed,
            store,
            buffer: buffer.max(1),
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            written: Notify::new(),
            draining,
        })
    }

    /// Says that a write committed events of this feed: the sequencer positions them now.
    pub fn written(&self) {
        self.written.notify_one();
    }

    /// Positions this feed's events whenever some were written, and every `poll`; wakes the
    /// reader when it positioned any. Never returns.
    async fn sequence(&self, store: &Store, poll: Duration) {
        let mut ticks = tokio::time::interval(poll);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = self.written.notified() => {},
                _ = ticks.tick() => {},
            }
            let done = match self.feed {
                Feed::Assignments => {
                    store
                        .write_locked(Lock::RequestEventSequencer, (), |tx, ()| {
                            Box::pin(request_sql::sequence_events(tx, SEQUENCE_BATCH))
                        })
                        .await
                }
                Feed::ChangeNotices => {
                    store
                        .write_locked(Lock::ChangeNoticeSequencer, (), |tx, ()| {
                            Box::pin(notice_sql::sequence(tx, SEQUENCE_BATCH))
                        })
                        .await
                }
            };
            match done {
                Ok(0) => {}
                Ok(_) => self.wake(),
                Err(error) => {
                    tracing::warn!(feed = ?self.feed, error = %error, "positioning a feed failed; retrying")
                }
            }
        }
    }

    /// Asks the reader to look for new positions now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers a subscriber for `agency`; `None` until the reader knows the feed's head.
    pub fn register(&self, agency: &str) -> Option<Registration> {
        let mut state = self.lock();
        let head = state.head?;
        let (tx, rx) = mpsc::channel(self.buffer);
        let behind = Arc::new(AtomicBool::new(false));
        state.next_id += 1;
        let id = state.next_id;
        state
            .subscribers
            .entry(agency.to_owned())
            .or_default()
            .push(Subscriber {
                id,
                tx,
                behind: behind.clone(),
            });
        Some(Registration {
            head,
            rx,
            behind,
            id,
        })
    }

    /// Forgets subscriber `id` of `agency` (its stream ended).
    pub fn unregister(&self, agency: &str, id: u64) {
        let mut state = self.lock();
        if let Some(list) = state.subscribers.get_mut(agency) {
            list.retain(|s| s.id != id);
            if list.is_empty() {
                state.subscribers.remove(agency);
            }
        }
    }

    /// Hands `items` (in position order, after the head) to their agencies' subscribers.
    fn dispatch(&self, items: Vec<Item>) {
        let mut state = self.lock();
        for item in items {
            let position = item.position();
            if state.head.is_some_and(|head| position <= head) {
                continue;
            }
            let item = Arc::new(item);
            if let Some(list) = state.subscribers.get_mut(item.agency()) {
                list.retain(|s| match s.tx.try_send(item.clone()) {
                    Ok(()) => true,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        s.behind.store(true, Ordering::Release);
                        false
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => false,
                });
            }
            state.head = Some(position);
        }
    }

    /// Reads the feed's head, retrying until the store answers (a no-op once known): before it,
    /// subscriptions are refused as UNAVAILABLE.
    pub async fn prime(&self) {
        let mut delay = Duration::from_millis(100);
        while self.lock().head.is_none() {
            match positions(&self.store, self.feed).await {
                Ok((_, newest)) => {
                    let mut state = self.lock();
                    state.head = Some(state.head.unwrap_or(0).max(newest.unwrap_or(0)));
                }
                Err(error) => {
                    tracing::warn!(feed = ?self.feed, error = %error, "cannot read the feed's head; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Reads the feed and hands out what follows the head until `stop`: when woken, when
    /// PostgreSQL says another process positioned events, and every `poll` regardless.
    pub async fn run(self: Arc<Self>, poll: Duration, stop: impl Future<Output = ()>) {
        let run = async {
            self.prime().await;
            let mut ticks = tokio::time::interval(poll);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = self.wake.notified() => {},
                    _ = ticks.tick() => {},
                }
                loop {
                    let head = self.lock().head.unwrap_or(0);
                    match read_after(&self.store, self.feed, head).await {
                        Ok(items) => {
                            let full = items.len() as i64 == BATCH;
                            self.dispatch(items);
                            if !full {
                                break;
                            }
                        }
                        Err(error) => {
                            tracing::warn!(feed = ?self.feed, error = %error, "reading the feed failed; retrying");
                            break;
                        }
                    }
                }
            }
        };
        tokio::select! {
            () = run => {},
            () = stop => {},
        }
    }
}

/// The feeds of this process.
#[derive(Debug, Clone)]
pub struct Feeds {
    pub assignments: Arc<Hub>,
    pub notices: Arc<Hub>,
}

impl Feeds {
    /// Both feeds over `store`, each subscriber buffering `buffer` events.
    pub fn new(store: &Store, buffer: usize, draining: watch::Receiver<bool>) -> Self {
        Self {
            assignments: Hub::new(Feed::Assignments, store.clone(), buffer, draining.clone()),
            notices: Hub::new(Feed::ChangeNotices, store.clone(), buffer, draining),
        }
    }

    /// The hub of `feed`.
    pub fn hub(&self, feed: Feed) -> &Arc<Hub> {
        match feed {
            Feed::Assignments => &self.assignments,
            Feed::ChangeNotices => &self.notices,
        }
    }

    /// Reads both feeds' heads (see [`Hub::prime`]).
    pub async fn prime(&self) {
        self.assignments.prime().await;
        self.notices.prime().await;
    }

    /// Runs the feeds until `stop`: positions assignment events as soon as they are written (and
    /// every `poll`), reads both feeds, and listens for other replicas' notifications.
    pub async fn run(&self, store: &Store, poll: Duration, stop: watch::Receiver<bool>) {
        let stopped = |mut stop: watch::Receiver<bool>| async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        tokio::join!(
            self.assignments.clone().run(poll, stopped(stop.clone())),
            self.notices.clone().run(poll, stopped(stop.clone())),
            self.sequence(store, poll, stopped(stop.clone())),
            self.listen(store, stopped(stop)),
        );
    }

    /// Positions each feed's events whenever some were written, and every `poll`.
    async fn sequence(&self, store: &Store, poll: Duration, stop: impl Future<Output = ()>) {
        tokio::select! {
            () = self.assignments.sequence(store, poll) => {},
            () = self.notices.sequence(store, poll) => {},
            () = stop => {},
        }
    }

    /// Wakes the hubs on other replicas' notifications (PostgreSQL only), reconnecting after a
    /// failure; the hubs' own polling covers the gaps.
    async fn listen(&self, store: &Store, stop: impl Future<Output = ()>) {
        let run = async {
            let mut delay = Duration::from_millis(200);
            loop {
                let mut listener = match store.listen(FEEDS_CHANNEL).await {
                    Ok(Some(listener)) => listener,
                    Ok(None) => return,
                    Err(error) => {
                        tracing::warn!(error = %error, "cannot listen for feed notifications; polling meanwhile");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(10));
                        continue;
                    }
                };
                delay = Duration::from_millis(200);
                // Whatever was missed while not listening.
                self.assignments.wake();
                self.notices.wake();
                loop {
                    match listener.recv().await {
                        Ok(note) => match note.payload() {
                            p if p == Feed::Assignments.table() => self.assignments.wake(),
                            p if p == Feed::ChangeNotices.table() => self.notices.wake(),
                            _ => {}
                        },
                        Err(error) => {
                            tracing::warn!(error = %error, "feed notifications interrupted; reconnecting");
                            break;
                        }
                    }
                }
            }
        };
        tokio::select! {
            () = run => {},
            () = stop => {},
        }
    }
}

/// Checks that `after` is still retained by `feed`: FAILED_PRECONDITION naming the oldest
/// otherwise.
pub async fn check_retained(
    store: &Store,
    feed: Feed,
    after: i64,
) -> Result<(), crate::error::AppError> {
    let (oldest, _) = positions(store, feed).await?;
    match oldest {
        Some(oldest) if after > 0 && after < oldest - 1 => {
            Err(crate::error::AppError::FailedPrecondition {
                condition: "RETENTION",
                subject: "after_position".to_owned(),
                description: format!(
                    "events after position {after} are no longer retained; the oldest is {oldest} (resume with after_position {})",
                    oldest - 1
                ),
            })
        }
        _ => Ok(()),
    }
}
