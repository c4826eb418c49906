//! The storage seam for fault injection: every segment write and removal asks [`Faults`]
//! first, so tests can run the real store into a full disk (a short write, then `ENOSPC`) or
//! failing deletions, and then give the space back.
//!
//! Production stores use [`Faults::none`], which never fails anything.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering};
use std::sync::Arc;

/// Injected failures shared by every stream of a store.
#[derive(Debug)]
pub struct Faults {
    enabled: AtomicBool,
    /// Bytes that may still be written; negative means unlimited.
    write_budget: AtomicI64,
    /// Removals of segment files (and stream folders) still to fail.
    fail_removals: AtomicU32,
}

impl Faults {
    /// No injected failures.
    pub fn none() -> Arc<Self> {
        Arc::new(Self {
            enabled: AtomicBool::new(false),
            write_budget: AtomicI64::new(-1),
            fail_removals: AtomicU32::new(0),
        })
    }

    /// Lets `bytes` more bytes be written, then fails writes with `ENOSPC` (a write that
    /// crosses the limit is cut short first, as a real full disk does). `None`: unlimited.
    pub fn set_write_budget(&self, bytes: Option<u64>) {
        self.enabled.store(true, Ordering::SeqCst);
        let v = bytes.map_or(-1, |b| i64::try_from(b).unwrap_or(i64::MAX));
        self.write_budget.store(v, Ordering::SeqCst);
    }

    /// Makes the next `n` removals fail with `EIO`.
    pub fn fail_next_removals(&self, n: u32) {
        self.enabled.store(true, Ordering::SeqCst);
        self.fail_removals.store(n, Ordering::SeqCst);
    }

    /// How many of `len` bytes may be written now (consumes them).
    pub(crate) fn allow_write(&self, len: usize) -> usize {
        if !self.enabled.load(Ordering::Relaxed) {
            return len;
        }
        let want = i64::try_from(len).unwrap_or(i64::MAX);
        let mut allowed = len;
        let _ = self
            .write_budget
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| {
                if b < 0 {
                    allowed = len;
                    None
                } else {
                    let take = b.min(want);
                    allowed = usize::try_from(take).unwrap_or(0);
                    Some(b - take)
                }
            });
        allowed
    }

    /// Fails if a removal failure is pending.
    pub(crate) fn check_removal(&self) -> io::Result<()> {
        if !self.enabled.load(Ordering::Relaxed) {
            return Ok(());
        }
        let failed = self
            .fail_removals
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failed {
            return Err(io::Error::other("injected removal failure"));
        }
        Ok(())
    }
}

/// The error of a write the disk had no room for.
pub(crate) fn no_space() -> io::Error {
    io::Error::from_raw_os_error(28) // ENOSPC
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_cuts_writes_short_then_refuses() {
        let f = Faults::none();
        assert_eq!(f.allow_write(100), 100);
        f.set_write_budget(Some(150));
        assert_eq!(f.allow_write(100), 100);
        assert_eq!(f.allow_write(100), 50);
        assert_eq!(f.allow_write(1), 0);
        f.set_write_budget(None);
        assert_eq!(f.allow_write(10), 10);
        f.fail_next_removals(1);
        assert!(f.check_removal().is_err());
        assert!(f.check_removal().is_ok());
        assert_eq!(no_space().raw_os_error(), Some(28));
    }
}
