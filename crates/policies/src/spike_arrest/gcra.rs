//! The Generic Cell Rate Algorithm over a bounded, sharded table of identifiers.
//!
//! Each identifier keeps one number, its theoretical arrival time (TAT), in nanoseconds since the
//! limiter's base instant. A request at `now` is admitted when `now >= TAT - tolerance`; the TAT
//! then moves to `max(TAT, now) + interval`. An entry whose TAT is in the past says nothing a
//! missing entry would not, so it may be dropped at any time: that is what keeps the table small.
//!
//! The table must stay bounded under a flood of distinct identifiers (spoofed headers, a botnet).
//! When a shard is full, expired entries are purged first; if that frees less than an eighth of the
//! shard, the entries closest to expiry are evicted until an eighth is free. An evicted identifier
//! starts over with a full burst, so a flood of more than `max_tracked` live identifiers can let
//! an evicted caller through up to `burst` requests early. The eviction work is amortised over
//! the next eighth of the shard's inserts, so every request stays O(1) on average.

use std::collections::HashMap;

use foldhash::fast::FixedState;
use parking_lot::Mutex;

/// Shards spread lock contention; more would only waste memory for small tables.
const MAX_SHARDS: usize = 16;

/// What the limiter decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Verdict {
    /// Whether the request is admitted.
    pub(super) admitted: bool,
    /// Requests that could still be admitted right now (0 when rejected).
    pub(super) remaining: u64,
    /// Nanoseconds until the full burst is available again.
    pub(super) reset_ns: u64,
    /// Nanoseconds until the next request would be admitted (0 when admitted).
    pub(super) retry_ns: u64,
}

/// GCRA state for every tracked identifier.
pub(super) struct Gcra {
    interval: u64,
    tolerance: u64,
    burst: u64,
    shard_cap: usize,
    shards: Box<[Mutex<HashMap<u64, u64, FixedState>>]>,
}

// === impl Gcra ===

impl Gcra {
    /// `interval_ns` between admissions, `burst` back-to-back admissions, at most `max_tracked`
    /// identifiers (≥ 1) kept at once. `None` if `interval_ns * (burst - 1)` overflows.
    pub(super) fn new(interval_ns: u64, burst: u32, max_tracked: usize) -> Option<Self> {
        let interval = interval_ns.max(1);
        let tolerance = interval.checked_mul(u64::from(burst.max(1)) - 1)?;
        let shard_count = max_tracked.clamp(1, MAX_SHARDS);
        let shards = (0..shard_count)
            .map(|_| Mutex::new(HashMap::with_hasher(FixedState::default())))
            .collect();
        Some(Self {
            interval,
            tolerance,
            burst: u64::from(burst.max(1)),
            shard_cap: max_tracked.max(1) / shard_count,
            shards,
        })
    }

    /// Admits or rejects one request of identifier `key` (a well-mixed hash) at `now` (ns).
    pub(super) fn check(&self, key: u64, now: u64) -> Verdict {
        // The top bits pick the shard; the map hashes the whole key again for its buckets.
        let index = usize::try_from(key >> 56).unwrap_or(0) % self.shards.len();
        let mut shard = self.shards[index].lock();
        let stored = shard.get(&key).copied().filter(|&tat| tat > now);
        let tat = stored.unwrap_or(now);
        let allowed_at = tat.saturating_sub(self.tolerance);
        if now < allowed_at {
            return Verdict {
                admitted: false,
                remaining: 0,
                reset_ns: tat - now,
                retry_ns: allowed_at - now,
            };
        }
        let new_tat = tat.saturating_add(self.interval);
        if let Some(slot) = shard.get_mut(&key) {
            *slot = new_tat;
        } else {
            if shard.len() >= self.shard_cap {
                make_room(&mut shard, self.shard_cap, now);
            }
            shard.insert(key, new_tat);
        }
        let used = (new_tat - now).div_ceil(self.interval);
        Verdict {
            admitted: true,
            remaining: self.burst.saturating_sub(used),
            reset_ns: new_tat - now,
            retry_ns: 0,
        }
    }

    /// Identifiers currently tracked (for tests and metrics).
    pub(super) fn tracked(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }
}

/// Frees at least an eighth of a full shard: expired entries first, then those closest to expiry.
fn make_room(shard: &mut HashMap<u64, u64, FixedState>, cap: usize, now: u64) {
    shard.retain(|_, tat| *tat > now);
    let target = cap - (cap / 8).max(1);
    if shard.len() <= target {
        return;
    }
    let excess = shard.len() - target;
    // Rare path (once per cap/8 inserts at most), so one temporary vector is acceptable.
    let mut tats: Vec<u64> = shard.values().copied().collect();
    let (_, threshold, _) = tats.select_nth_unstable(excess - 1);
    let threshold = *threshold;
    // Exactly `excess` go: many callers can share one TAT (a flood within one clock tick), and
    // dropping every tie would empty the shard.
    let mut budget = excess;
    shard.retain(|_, tat| {
        let evict = budget > 0 && *tat <= threshold;
        budget -= usize::from(evict);
        !evict
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn smoothed_rate_admits_one_per_interval() {
        let g = Gcra::new(100 * MS, 1, 10).unwrap();
        assert!(g.check(1, 0).admitted);
        let v = g.check(1, 99 * MS);
        assert!(!v.admitted);
        assert_eq!(v.retry_ns, MS);
        assert!(g.check(1, 100 * MS).admitted);
        assert!(g.check(2, 100 * MS).admitted, "identifiers are independent");
    }

    #[test]
    fn remaining_counts_down_the_burst() {
        let g = Gcra::new(100 * MS, 3, 10).unwrap();
        let remaining: Vec<_> = (0..4).map(|_| g.check(7, 0).remaining).collect();
        assert_eq!(remaining, [2, 1, 0, 0]);
        assert_eq!(g.check(7, 0).retry_ns, 100 * MS);
    }

    #[test]
    fn expired_entries_are_purged_before_evicting() {
        let g = Gcra::new(100 * MS, 1, 16).unwrap();
        for key in 0..1000u64 {
            g.check(key << 56 | key, key * 200 * MS);
        }
        assert!(g.tracked() <= 16);
    }

    #[test]
    fn concurrent_callers_never_exceed_the_burst() {
        let g = std::sync::Arc::new(Gcra::new(100 * MS, 100, 10).unwrap());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let g = g.clone();
                std::thread::spawn(move || (0..100).filter(|_| g.check(42, 0).admitted).count())
            })
            .collect();
        let admitted: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(admitted, 100);
    }

    #[test]
    fn overflowing_tolerance_is_refused() {
        assert!(Gcra::new(u64::MAX / 2, 4, 10).is_none());
    }
}
