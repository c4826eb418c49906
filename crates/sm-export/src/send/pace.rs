//! Kinesis at the shards' pace: how many records a `PutRecords` call may carry now, and to
//! which shard each goes.
//!
//! * **With the shard map** (`ListShards` allowed): a budget per open shard of 95% of its write
//!   limits (1,000 records and 1 MiB a second, refilled continuously, at most a second's worth
//!   saved up); each record goes to the shard with the most budget left, by an
//!   `ExplicitHashKey` in the middle of that shard's range (its partition key stays a random
//!   UUID), so records spread evenly over the open shards; a call carries what the budgets
//!   allow, else waits until they do. Throttled records empty their shard's budget; the map is
//!   read again every 5 minutes, and after a reshard: an answer naming a shard the map does not
//!   have (a split), or a call with many throttled records (a merge).
//! * **Without it** (`ListShards` refused or failed, or no open shard): a rate learnt from the
//!   answers: doubling each second until the first throttled record, then 5% more a second
//!   while nothing is throttled and back to the rate the stream took (less 5%) when something
//!   is, growing only while the rate is what holds the records back; the map asked for again
//!   every 5 minutes; and at least
//!   `STREAM_MANAGER_EXPORTER_KINESIS_INTER_CALL_DELAY_MS` between calls, when set.

use sm_aws::kinesis::Shard;

/// A shard's write limits.
pub(crate) const SHARD_RECORDS_PER_SEC: f64 = 1000.0;
/// A shard's write limit in bytes (data and partition keys).
pub(crate) const SHARD_BYTES_PER_SEC: f64 = 1024.0 * 1024.0;
/// The share of a shard's limits used: room for other writers and for clocks that differ.
const HEADROOM: f64 = 0.95;
/// How often the shard map is read again.
const RELIST_MS: i64 = 300_000;
/// Without the shard map: the rate to start from, the lowest, and the highest.
const START_RATE: f64 = 500.0;
const MIN_RATE: f64 = 20.0;
const MAX_RATE: f64 = 100_000.0;
/// Without the shard map: the budget saved up at most, in seconds of the rate.
const BURST_S: f64 = 0.2;

#[derive(Debug, Clone)]
struct Bucket {
    id: String,
    start: u128,
    end: u128,
    records: f64,
    bytes: f64,
}

#[derive(Debug, Clone)]
enum State {
    /// The shard map has not been asked for yet.
    Unknown,
    /// Per-shard budgets.
    Shards {
        buckets: Vec<Bucket>,
        at: i64,
        listed_at: i64,
        relist: bool,
    },
    /// A rate learnt from the answers, records per second; when it was last cut.
    Adaptive {
        rate: f64,
        tokens: f64,
        at: i64,
        cut_at: i64,
        /// When the shard map was last asked for (it is asked again every 5 minutes: the
        /// permission may be granted, or the failure was the link's).
        tried_at: i64,
        /// Before the first throttled record: the rate doubles each second it is the limit.
        probing: bool,
        /// Whether the last call carried fewer records than were waiting (the rate was the
        /// limit): only then does an unthrottled answer raise the rate.
        limited: bool,
        /// Records answered and throttled in the current window of a second, and its start:
        /// the share throttled is judged over a second, not one call.
        window: (u64, u64, i64),
    },
}

/// What a call may carry now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Admit {
    /// The first `keys.len()` records go now, each with its explicit hash key (if any).
    Go(Vec<Option<u128>>),
    /// Nothing may go before then.
    Wait(i64),
}

/// The pace of one Kinesis stream (shared by every export to it).
#[derive(Debug, Clone)]
pub(crate) struct Pacer {
    state: State,
    /// Least time between two calls while the shard map is unknown, ms (0: none).
    min_gap_ms: u64,
    last_call: Option<i64>,
}

impl Pacer {
    pub(crate) fn new(min_gap_ms: u64) -> Self {
        Self {
            state: State::Unknown,
            min_gap_ms,
            last_call: None,
        }
    }

    /// Whether the shard map should be (re)read before the next call.
    pub(crate) fn wants_shard_map(&self, now: i64) -> bool {
        match &self.state {
            State::Unknown => true,
            State::Shards {
                listed_at, relist, ..
            } => *relist || now - listed_at >= RELIST_MS,
            State::Adaptive { tried_at, .. } => now - tried_at >= RELIST_MS,
        }
    }

    /// The shard map: its open shards get budgets (kept for shards already known).
    pub(crate) fn listed(&mut self, shards: &[Shard], now: i64) {
        let old = match &self.state {
            State::Shards { buckets, .. } => buckets.clone(),
            _ => Vec::new(),
        };
        let buckets: Vec<Bucket> = shards
            .iter()
            .filter(|s| s.open && s.start <= s.end)
            .map(|s| {
                old.iter()
                    .find(|b| b.start == s.start && b.end == s.end)
                    .cloned()
                    .unwrap_or(Bucket {
                        id: s.id.clone(),
                        start: s.start,
                        end: s.end,
                        records: 0.0,
                        bytes: 0.0,
                    })
            })
            .collect();
        self.state = if buckets.is_empty() {
            self.adaptive(now)
        } else {
            State::Shards {
                buckets,
                at: now,
                listed_at: now,
                relist: false,
            }
        };
    }

    /// The shard map cannot be had (no `kinesis:ListShards` permission): pace from the answers.
    pub(crate) fn unlisted(&mut self, now: i64) {
        match &mut self.state {
            State::Adaptive { tried_at, .. } => *tried_at = now,
            _ => self.state = self.adaptive(now),
        }
    }

    fn adaptive(&self, now: i64) -> State {
        State::Adaptive {
            rate: START_RATE,
            tokens: 0.0,
            at: now,
            cut_at: i64::MIN / 2,
            tried_at: now,
            probing: true,
            limited: false,
            window: (0, 0, now),
        }
    }

    /// Whether the rate is learnt from the answers (the shard map could not be had).
    pub(crate) fn paced_from_answers(&self) -> bool {
        matches!(self.state, State::Adaptive { .. })
    }

    /// Whether the shard map is known (records get explicit hash keys).
    pub(crate) fn knows_shards(&self) -> bool {
        matches!(self.state, State::Shards { .. })
    }

    /// How many of the records (`sizes`: data + partition key bytes, in order) may go now.
    pub(crate) fn admit(&mut self, sizes: &[u64], now: i64) -> Admit {
        let gap = self.min_gap_ms as i64;
        if !self.knows_shards() && gap > 0 {
            if let Some(t) = self.last_call.map(|t| t + gap).filter(|&t| t > now) {
                return Admit::Wait(t);
            }
        }
        let admitted = match &mut self.state {
            State::Unknown => Admit::Go(vec![None; sizes.len()]),
            State::Shards { buckets, at, .. } => admit_shards(buckets, at, sizes, now),
            State::Adaptive {
                rate,
                tokens,
                at,
                limited,
                ..
            } => {
                // At most a fifth of a second saved up: calls spread over the second.
                let dt = (now - *at).max(0) as f64 / 1000.0;
                *tokens = (*tokens + dt * *rate).min((*rate * BURST_S).max(1.0));
                *at = now;
                let n = (tokens.floor() as usize).min(sizes.len());
                *limited = n < sizes.len();
                if n == 0 {
                    Admit::Wait(now + ((1.0 - *tokens) / *rate * 1000.0).ceil().max(1.0) as i64)
                } else {
                    *tokens -= n as f64;
                    Admit::Go(vec![None; n])
                }
            }
        };
        if matches!(admitted, Admit::Go(_)) {
            self.last_call = Some(now);
        }
        admitted
    }

    /// The shards that stored a call's records (from the answer): one the map does not have
    /// means the stream was split or merged, and the map is read again before the next call.
    pub(crate) fn stored_in<'a>(&mut self, mut shards: impl Iterator<Item = &'a str>) {
        if let State::Shards {
            buckets, relist, ..
        } = &mut self.state
        {
            if shards.any(|id| !buckets.iter().any(|b| b.id == id)) {
                *relist = true;
            }
        }
    }

    /// A call's answer: for each record sent, the hash key it went with and whether it was
    /// throttled.
    pub(crate) fn answered(&mut self, sent: &[(Option<u128>, bool)], now: i64) {
        let throttled = sent.iter().filter(|(_, t)| *t).count();
        match &mut self.state {
            State::Unknown => {}
            State::Shards {
                buckets, relist, ..
            } => {
                for (key, t) in sent {
                    if let (Some(k), true) = (key, t) {
                        if let Some(b) = buckets.iter_mut().find(|b| (b.start..=b.end).contains(k))
                        {
                            b.records = b.records.min(0.0);
                            b.bytes = b.bytes.min(0.0);
                        }
                    }
                }
                // Many throttled records despite the budgets: the stream was resharded.
                if throttled * 10 > sent.len() {
                    *relist = true;
                }
            }
            State::Adaptive {
                rate,
                tokens,
                at,
                cut_at,
                probing,
                limited,
                window,
                ..
            } => {
                if now - window.2 >= 1000 {
                    *window = (0, 0, now);
                }
                window.0 += sent.len() as u64;
                window.1 += throttled as u64;
                if throttled > 0 {
                    // One cut per second of throttling (the answers of one episode arrive
                    // over several calls), to the rate the stream took (what was sent less
                    // the share refused over the last second) with the same headroom as the
                    // shard budgets, at most by half.
                    if now - *cut_at >= 1000 {
                        let share = window.1 as f64 / window.0.max(1) as f64;
                        let took = *rate * (1.0 - share) * HEADROOM;
                        *rate = took.max(*rate * 0.5).max(MIN_RATE);
                        *cut_at = now;
                    }
                    *probing = false;
                    *tokens = tokens.min(0.0);
                    *at = now;
                } else if *limited {
                    // Growth while the rate is the limit: by what went through while probing
                    // (doubling each second), by 5% of it after the first throttling.
                    let k = if *probing { 1.0 } else { 0.05 };
                    *rate = (*rate + k * sent.len() as f64).min(MAX_RATE);
                }
            }
        }
    }
}

fn admit_shards(buckets: &mut [Bucket], at: &mut i64, sizes: &[u64], now: i64) -> Admit {
    let dt = (now - *at).max(0) as f64 / 1000.0;
    *at = now;
    let (max_r, max_b) = (
        SHARD_RECORDS_PER_SEC * HEADROOM,
        SHARD_BYTES_PER_SEC * HEADROOM,
    );
    for b in buckets.iter_mut() {
        b.records = (b.records + dt * max_r).min(max_r);
        b.bytes = (b.bytes + dt * max_b).min(max_b);
    }
    let mut keys = Vec::new();
    for &size in sizes {
        // A record larger than a full budget (up to 1 MiB against 95% of it) goes when the
        // budget is full, leaving it in debt.
        let need = (size as f64).min(max_b);
        let best = buckets
            .iter_mut()
            .filter(|b| b.records >= 1.0 && b.bytes >= need)
            .max_by(|x, y| x.records.total_cmp(&y.records));
        let Some(b) = best else { break };
        b.records -= 1.0;
        b.bytes -= size as f64;
        keys.push(Some(b.start + (b.end - b.start) / 2));
    }
    if !keys.is_empty() {
        return Admit::Go(keys);
    }
    // When the fullest shard can take the first record.
    let size = sizes.first().copied().unwrap_or(0) as f64;
    let wait = buckets
        .iter()
        .map(|b| {
            let r = (1.0 - b.records).max(0.0) / max_r;
            let by = (size.min(max_b) - b.bytes).max(0.0) / max_b;
            r.max(by)
        })
        .fold(f64::INFINITY, f64::min);
    Admit::Wait(now + (wait * 1000.0).ceil().max(1.0) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shards(n: u128) -> Vec<Shard> {
        let width = u128::MAX / n;
        (0..n)
            .map(|i| Shard {
                id: format!("s{i}"),
                start: i * width,
                end: if i + 1 == n {
                    u128::MAX
                } else {
                    (i + 1) * width - 1
                },
                open: true,
            })
            .collect()
    }

    /// Records admitted over `secs` seconds of calls of up to 500 records of `size` bytes.
    fn run(p: &mut Pacer, secs: i64, size: u64) -> (usize, Vec<usize>) {
        let mut now = 0;
        let mut per_shard = vec![0usize; 4];
        let mut total = 0;
        while now < secs * 1000 {
            match p.admit(&vec![size; 500], now) {
                Admit::Go(keys) => {
                    total += keys.len();
                    for k in keys.into_iter().flatten() {
                        per_shard[(k / (u128::MAX / 4)).min(3) as usize] += 1;
                    }
                    now += 20;
                }
                Admit::Wait(t) => {
                    assert!(t > now);
                    now = t;
                }
            }
        }
        (total, per_shard)
    }

    #[test]
    fn shard_budgets_keep_each_shard_within_its_limits_and_spread_evenly() {
        let mut p = Pacer::new(0);
        p.listed(&shards(4), 0);
        let (total, per) = run(&mut p, 20, 100);
        // 4 shards × 950 records a second for 20 s (the first second fills the budgets).
        assert!((70_000..=76_000).contains(&total), "{total}");
        let (lo, hi) = (per.iter().min().unwrap(), per.iter().max().unwrap());
        assert!(hi - lo <= 500 / 4 + 1, "uneven: {per:?}");
        // Large records: the byte limit binds (950 kB/s a shard of 10 kB records: ~97/s).
        let mut p = Pacer::new(0);
        p.listed(&shards(4), 0);
        let (total, _) = run(&mut p, 10, 10_000);
        assert!((3_500..=4_000).contains(&total), "{total}");
        // A record of 1 MiB (more than a full budget) goes once its shard's budget is full.
        let mut p = Pacer::new(0);
        p.listed(&shards(1), 0);
        let (total, _) = run(&mut p, 5, 1 << 20);
        assert!((4..=5).contains(&total), "{total}");
    }

    #[test]
    fn closed_shards_take_nothing_and_no_map_means_adaptive() {
        let mut s = shards(2);
        s[0].open = false;
        let mut p = Pacer::new(0);
        p.listed(&s, 0);
        match p.admit(&[10; 3], 1000) {
            Admit::Go(keys) => assert!(keys.iter().all(|k| k.unwrap() >= s[1].start)),
            other => panic!("{other:?}"),
        }
        p.listed(&[], 2000);
        assert!(!p.knows_shards());
        // Without the map, it is asked for again every 5 minutes (the permission may come, or
        // the failure was the link's), and the learnt rate survives another refusal.
        let mut q = Pacer::new(0);
        q.unlisted(0);
        assert!(!q.wants_shard_map(RELIST_MS - 1));
        assert!(q.wants_shard_map(RELIST_MS));
        assert!(matches!(q.admit(&[1; 1000], 1000), Admit::Go(k) if k.len() == 100));
        q.answered(&[(None, false); 100], 1000);
        q.unlisted(RELIST_MS);
        assert!(!q.wants_shard_map(RELIST_MS + 1));
        assert!(matches!(q.state, State::Adaptive { rate, .. } if rate > START_RATE));
    }

    #[test]
    fn adaptive_rate_settles_near_what_the_stream_takes() {
        // A stream that takes 2,000 records a second: the rest of each second is throttled.
        let mut p = Pacer::new(0);
        p.unlisted(0);
        let (mut now, mut taken_in_second, mut second) = (0i64, 0usize, 0i64);
        let (mut sent, mut throttled) = (0usize, 0usize);
        while now < 60_000 {
            if now / 1000 != second {
                second = now / 1000;
                taken_in_second = 0;
            }
            match p.admit(&[100; 500], now) {
                Admit::Go(keys) => {
                    let outcome: Vec<(Option<u128>, bool)> = keys
                        .iter()
                        .map(|k| {
                            taken_in_second += 1;
                            (*k, taken_in_second > 2000)
                        })
                        .collect();
                    if now >= 10_000 {
                        sent += outcome.len();
                        throttled += outcome.iter().filter(|(_, t)| *t).count();
                    }
                    p.answered(&outcome, now);
                    now += 30;
                }
                Admit::Wait(t) => now = t,
            }
        }
        let accepted = (sent - throttled) as f64 / 50.0;
        assert!(accepted >= 1800.0, "{accepted} records/s accepted");
        assert!(
            (throttled as f64) < 0.05 * sent as f64,
            "{throttled} of {sent} throttled"
        );
    }

    #[test]
    fn the_inter_call_delay_holds_while_the_map_is_unknown() {
        let mut p = Pacer::new(1000);
        assert!(matches!(p.admit(&[1], 0), Admit::Go(_)));
        assert_eq!(p.admit(&[1], 10), Admit::Wait(1000));
        p.listed(&shards(1), 20);
        assert!(
            matches!(p.admit(&[1; 2], 2000), Admit::Go(_)),
            "not with the map known"
        );
    }

    #[test]
    fn a_shard_not_in_the_map_asks_for_the_map_again() {
        let mut p = Pacer::new(0);
        p.listed(&shards(2), 0);
        p.stored_in(["s0", "s1"].into_iter());
        assert!(!p.wants_shard_map(1));
        p.stored_in(["s1", "shardId-000000000007"].into_iter());
        assert!(p.wants_shard_map(1));
        p.listed(&shards(2), 2);
        assert!(!p.wants_shard_map(3));
    }

    #[test]
    fn throttled_records_empty_their_shard_and_many_ask_for_the_map_again() {
        let mut p = Pacer::new(0);
        p.listed(&shards(2), 0);
        let Admit::Go(keys) = p.admit(&[10; 100], 1000) else {
            panic!()
        };
        let outcome: Vec<_> = keys.iter().map(|k| (*k, true)).collect();
        p.answered(&outcome, 1000);
        assert!(p.wants_shard_map(1001));
        assert!(matches!(p.admit(&[10], 1001), Admit::Wait(_)));
    }
}
