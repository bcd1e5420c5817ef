//! Byte budgets: how much memory calls may pin while their bytes wait on a peer (requests still
//! arriving, answers not yet read). One per connection, one for the whole process.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

/// A number of bytes that can be reserved and released; never over its limit.
#[derive(Debug)]
pub struct Budget {
    limit: usize,
    used: AtomicUsize,
}

impl Budget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit,
            used: AtomicUsize::new(0),
        })
    }

    /// Reserves `bytes`; false (and nothing reserved) when that would go over the limit.
    pub fn try_reserve(&self, bytes: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|total| *total <= self.limit)
            })
            .is_ok()
    }

    /// Gives back `bytes` reserved earlier.
    pub fn release(&self, bytes: usize) {
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                Some(used.saturating_sub(bytes))
            });
    }

    /// Bytes reserved now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

/// The budgets a call's bytes count against: its connection's and the process's.
#[derive(Debug, Clone)]
pub struct Budgets {
    pub connection: Arc<Budget>,
    pub process: Arc<Budget>,
}

impl Budgets {
    /// Reserves `bytes` from both; false (and nothing reserved) when either is full.
    pub fn try_reserve(&self, bytes: usize) -> bool {
        if !self.connection.try_reserve(bytes) {
            return false;
        }
        if !self.process.try_reserve(bytes) {
            self.connection.release(bytes);
            return false;
        }
        true
    }

    /// Gives back `bytes` to both.
    pub fn release(&self, bytes: usize) {
        self.connection.release(bytes);
        self.process.release(bytes);
    }
}

/// Bytes held under [`Budgets`], given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    budgets: Budgets,
    bytes: usize,
}

impl Reservation {
    /// An empty reservation against `budgets`.
    pub fn new(budgets: Budgets) -> Self {
        Self { budgets, bytes: 0 }
    }

    /// Reserves `bytes` more; false when the budgets are full.
    pub fn grow(&mut self, bytes: usize) -> bool {
        let ok = self.budgets.try_reserve(bytes);
        if ok {
            self.bytes += bytes;
        }
        ok
    }

    /// Gives back up to `bytes` of what is held.
    pub fn shrink(&mut self, bytes: usize) {
        let bytes = bytes.min(self.bytes);
        self.budgets.release(bytes);
        self.bytes -= bytes;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budgets.release(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_never_exceed_either_budget_and_are_returned_on_drop() {
        let budgets = Budgets {
            connection: Budget::new(100),
            process: Budget::new(150),
        };
        let other = Budgets {
            connection: Budget::new(100),
            process: budgets.process.clone(),
        };
        let mut a = Reservation::new(budgets.clone());
        assert!(a.grow(60));
        assert!(!a.grow(41), "over the connection's budget");
        let mut b = Reservation::new(other.clone());
        assert!(b.grow(90));
        assert!(!b.grow(1), "over the process budget");
        a.shrink(60);
        assert!(b.grow(10));
        drop(b);
        assert_eq!((budgets.process.used(), other.connection.used()), (0, 0));
    }
}
