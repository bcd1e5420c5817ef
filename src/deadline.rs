//! The deadline of the call being served, visible to everything the call runs (the store included)
//! without passing it through every function.
//!
//! The call stack (`grpc::layers`) runs each handler inside [`scope`] with the effective deadline:
//! the client's `grpc-timeout` capped by the server's maximum. Database work reads it with
//! [`remaining`] to bound its own waits and statements, so a call that runs out of time stops its
//! queries instead of finishing them for nobody. Work spawned onto other tasks does not inherit it.

use std::time::Duration;

use tokio::time::Instant;

tokio::task_local! {
    static DEADLINE: Instant;
}

/// Runs `future` with `deadline` as the current call's deadline.
pub async fn scope<F: Future>(deadline: Instant, future: F) -> F::Output {
    DEADLINE.scope(deadline, future).await
}

/// The current call's deadline, if it runs inside [`scope`].
pub fn current() -> Option<Instant> {
    DEADLINE.try_with(|d| *d).ok()
}

/// Time left before the current call's deadline: `None` when there is no deadline, `Some(ZERO)`
/// once it has passed.
pub fn remaining() -> Option<Duration> {
    current().map(|d| d.saturating_duration_since(Instant::now()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_deadline_is_seen_inside_the_scope_only() {
        assert_eq!(remaining(), None);
        let deadline = Instant::now() + Duration::from_secs(60);
        let seen = scope(deadline, async { remaining() }).await;
        assert!(seen.is_some_and(|r| r > Duration::from_secs(50)));
        let past = scope(Instant::now(), async {
            tokio::task::yield_now().await;
            remaining()
        })
        .await;
        assert_eq!(past, Some(Duration::ZERO));
    }
}
