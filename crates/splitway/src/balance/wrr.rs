//! nginx's smooth weighted round robin, shared by concurrent callers without a lock.
//!
//! Smooth WRR is deterministic: with weights 5, 5, 1 one cycle of 11 picks is
//! `A B A B C A B A B A B` (each server exactly its weight, spread out rather than in runs).
//! The sequence of one cycle (sum(weights) / gcd(weights) picks) is computed when the table is
//! built; a pick is then one `fetch_add` on a shared counter and one array read, so concurrent
//! pickers share one sequence and every window of a whole cycle keeps the exact counts.
//!
//! Cycles longer than [`MAX_PRECOMPUTED_CYCLE`] (only for weights with a huge reduced sum, such
//! as 999,999 : 1 : 2) would cost too much memory to precompute; for those the nginx state is
//! advanced under a mutex whose critical section is a loop over the servers. Both paths give
//! the same sequence.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Longest cycle that is precomputed (entries are `u32`: 256 KiB at most per backend).
pub(crate) const MAX_PRECOMPUTED_CYCLE: u64 = 1 << 16;

/// A smooth weighted round robin over servers `0..weights.len()`.
#[derive(Debug)]
pub(crate) struct SmoothWrr {
    /// Positions in the shared sequence handed out so far.
    next: AtomicUsize,
    order: Order,
}

#[derive(Debug)]
enum Order {
    /// No server has a positive weight.
    Empty,
    /// One whole cycle, precomputed.
    Cycle(Box<[u32]>),
    /// nginx's state, advanced one pick at a time.
    Stateful(Mutex<NginxState>),
}

#[derive(Debug, Clone)]
struct NginxState {
    weights: Vec<i64>,
    current: Vec<i64>,
    total: i64,
}

impl NginxState {
    fn new(weights: &[u32]) -> Self {
        let weights: Vec<i64> = weights.iter().map(|&w| i64::from(w)).collect();
        NginxState {
            current: vec![0; weights.len()],
            total: weights.iter().sum(),
            weights,
        }
    }

    /// One nginx step: every server gains its weight, the largest current value wins (the
    /// first one on ties) and pays the total back.
    fn step(&mut self) -> usize {
        let mut best = 0;
        let mut best_value = i64::MIN;
        for (i, (cur, w)) in self.current.iter_mut().zip(&self.weights).enumerate() {
            if *w == 0 {
                continue;
            }
            *cur += w;
            if *cur > best_value {
                best_value = *cur;
                best = i;
            }
        }
        if let Some(cur) = self.current.get_mut(best) {
            *cur -= self.total;
        }
        best
    }
}

impl SmoothWrr {
    /// A round robin over servers with these weights (0 = never picked).
    pub(crate) fn new(weights: &[u32]) -> Self {
        let state = NginxState::new(weights);
        let order = if state.total == 0 {
            Order::Empty
        } else {
            let gcd = weights
                .iter()
                .filter(|&&w| w > 0)
                .fold(0u64, |g, &w| gcd(g, u64::from(w)));
            let cycle = state.total.unsigned_abs() / gcd.max(1);
            if cycle <= MAX_PRECOMPUTED_CYCLE {
                let mut state = state;
                let seq: Vec<u32> = (0..cycle)
                    .map(|_| u32::try_from(state.step()).unwrap_or(u32::MAX))
                    .collect();
                Order::Cycle(seq.into_boxed_slice())
            } else {
                Order::Stateful(Mutex::new(state))
            }
        };
        SmoothWrr {
            next: AtomicUsize::new(0),
            order,
        }
    }

    /// The next server, or `None` when no server has a positive weight.
    pub(crate) fn pick(&self) -> Option<usize> {
        match &self.order {
            Order::Empty => None,
            Order::Cycle(seq) => {
                let n = self.next.fetch_add(1, Ordering::Relaxed);
                seq.get(n % seq.len()).map(|&i| i as usize)
            }
            Order::Stateful(state) => {
                let mut state = match state.lock() {
                    Ok(guard) => guard,
                    // A panic while holding this lock cannot leave the state invalid (each
                    // step is a complete update), so keep going with it.
                    Err(poisoned) => poisoned.into_inner(),
                };
                Some(state.step())
            }
        }
    }

    /// Length of one cycle, when precomputed.
    #[cfg(test)]
    fn cycle_len(&self) -> Option<usize> {
        match &self.order {
            Order::Cycle(seq) => Some(seq.len()),
            _ => None,
        }
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picks(wrr: &SmoothWrr, n: usize) -> String {
        (0..n)
            .map(|_| match wrr.pick() {
                Some(i) => char::from(b'A' + i as u8),
                None => '-',
            })
            .collect()
    }

    #[test]
    fn weights_5_5_1_interleave_as_nginx_does() {
        let wrr = SmoothWrr::new(&[5, 5, 1]);
        assert_eq!(picks(&wrr, 11), "ABABCABABAB");
        assert_eq!(picks(&wrr, 11), "ABABCABABAB");
    }

    #[test]
    fn nginx_reference_sequence_for_5_1_1() {
        // The example of nginx's commit that introduced smooth WRR: a a b a c a a.
        let wrr = SmoothWrr::new(&[5, 1, 1]);
        assert_eq!(picks(&wrr, 7), "AABACAA");
    }

    #[test]
    fn cycle_is_reduced_by_the_gcd() {
        assert_eq!(SmoothWrr::new(&[50, 50, 10]).cycle_len(), Some(11));
        assert_eq!(SmoothWrr::new(&[3, 0, 6]).cycle_len(), Some(3));
    }

    #[test]
    fn zero_weight_servers_are_never_picked() {
        let wrr = SmoothWrr::new(&[0, 2, 0, 1]);
        assert_eq!(picks(&wrr, 6), "BDBBDB");
    }

    #[test]
    fn all_zero_weights_pick_nothing() {
        assert_eq!(SmoothWrr::new(&[0, 0]).pick(), None);
        assert_eq!(SmoothWrr::new(&[]).pick(), None);
    }

    #[test]
    fn huge_cycles_use_the_stateful_path_with_the_same_sequence() {
        let weights = [999_999, 1, 2];
        let big = SmoothWrr::new(&weights);
        assert_eq!(big.cycle_len(), None);
        let mut reference = NginxState::new(&weights);
        for _ in 0..10_000 {
            assert_eq!(big.pick(), Some(reference.step()));
        }
    }

    #[test]
    fn every_window_of_one_cycle_has_exact_counts() {
        let wrr = SmoothWrr::new(&[7, 3, 2]);
        let seq: Vec<usize> = (0..24).filter_map(|_| wrr.pick()).collect();
        for start in 0..12 {
            let window = &seq[start..start + 12];
            let count = |s| window.iter().filter(|&&x| x == s).count();
            assert_eq!(
                (count(0), count(1), count(2)),
                (7, 3, 2),
                "window at {start}"
            );
        }
    }

    #[test]
    fn concurrent_picks_share_one_sequence() {
        let wrr = SmoothWrr::new(&[5, 5, 1]);
        let counts: Vec<[usize; 3]> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        let mut c = [0usize; 3];
                        for _ in 0..11_000 {
                            if let Some(i) = wrr.pick() {
                                c[i] += 1;
                            }
                        }
                        c
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let total = counts.iter().fold([0usize; 3], |acc, c| {
            [acc[0] + c[0], acc[1] + c[1], acc[2] + c[2]]
        });
        assert_eq!(total, [40_000, 40_000, 8_000]);
    }
}
