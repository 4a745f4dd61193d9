//! A step's share of a backend's traffic into server weights.
//!
//! For a canary share of `p` percent (0 < p < 100) in a backend whose other servers are the
//! stable ones:
//!
//! 1. `S` is the sum of the configured weights of the stable servers that are up (of every
//!    stable server when none is up): down servers are left out of the share.
//! 2. `k = max(1, ceil(1000 / S))`, and every stable server's weight becomes `k × w`: the
//!    ratios between stable servers are kept (so a cohort hash moves nobody between them),
//!    and the stable servers that are up weigh `T = k × S ≥ 1000` together.
//! 3. The canary gets the integer weight `c`, of the two around `p·T / (100 − p)`, whose
//!    share `c / (T + c)` is closest to `p / 100` (the lower on a tie). With `T ≥ 1000`
//!    that is within 0.05 point of the target.
//! 4. A weight above [`MAX_WEIGHT`] is clamped to it; `check` refuses a rollout whose
//!    highest step would need more with every server up ([`largest_weight`]).
//!
//! Phase 2 of the talk (stable 5:5): `k = 100`, stable 500:500, and 1% is a canary weight of
//! 10 (10 / 1010 = 0.990%).
//!
//! Besides a share ([`Target::Share`]): [`Target::Whole`] gives the canary the whole backend
//! (weight `T`, stable servers 0), [`Target::Drained`] the stable servers theirs (`k × w`)
//! and the canary 0, and [`Target::File`] the configured weights.

use crate::config::MAX_WEIGHT;

/// The smallest total weight of the stable servers that are up, so that every share is
/// within 0.05 point of its target.
const STABLE_TOTAL: u64 = 1_000;

/// One server of a rollout's backend, as the weights are computed from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its name in the backend.
    pub name: String,
    /// Its weight in the configuration file.
    pub weight: u32,
    /// Whether it is up.
    pub healthy: bool,
}

impl Member {
    /// A server that is up.
    pub fn new(name: impl Into<String>, weight: u32) -> Member {
        Member {
            name: name.into(),
            weight,
            healthy: true,
        }
    }
}

/// What a rollout wants its backend's weights to give.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// The canary's share of the traffic, in percent.
    Share(f64),
    /// The whole backend to the canary (promoted).
    Whole,
    /// Nothing to the canary (rolled back).
    Drained,
    /// The configuration file's weights (aborted, or no rollout).
    File,
}

/// The stable servers' factor `k` and their total `T` (of those up), before clamping.
fn scale(servers: &[Member], canary: &str) -> Option<(u64, u64)> {
    let stable = || servers.iter().filter(|m| m.name != canary);
    let up: u64 = stable()
        .filter(|m| m.healthy)
        .map(|m| u64::from(m.weight))
        .sum();
    let sum = if up > 0 {
        up
    } else {
        stable().map(|m| u64::from(m.weight)).sum()
    };
    if sum == 0 {
        return None;
    }
    let k = STABLE_TOTAL.div_ceil(sum).max(1);
    Some((k, k * sum))
}

/// The canary weight whose share of `canary + total` is closest to `share` percent.
fn canary_weight(share: f64, total: u64) -> u64 {
    if share.is_nan() || share <= 0.0 {
        return 0;
    }
    if share >= 100.0 {
        return total;
    }
    let exact = share * total as f64 / (100.0 - share);
    // Far beyond any weight: saturate (the float-to-int cast does) rather than overflow.
    let low = exact.floor() as u64;
    let error = |c: u64| (c as f64 / (c + total) as f64 - share / 100.0).abs();
    if error(low + 1) < error(low) {
        low + 1
    } else {
        low
    }
}

/// Every server's weight for `target`, in the order of `servers`.
pub fn apply(servers: &[Member], canary: &str, target: Target) -> Vec<(String, u32)> {
    let raw = raw_weights(servers, canary, target);
    servers
        .iter()
        .zip(raw)
        .map(|(m, w)| (m.name.clone(), clamp(w)))
        .collect()
}

fn clamp(w: u64) -> u32 {
    u32::try_from(w.min(u64::from(MAX_WEIGHT))).unwrap_or(MAX_WEIGHT)
}

fn raw_weights(servers: &[Member], canary: &str, target: Target) -> Vec<u64> {
    let file = || servers.iter().map(|m| u64::from(m.weight)).collect();
    let Some((k, total)) = scale(servers, canary) else {
        // No stable weight to scale: nothing to share with, the file's weights stand.
        return file();
    };
    let canary_w = match target {
        Target::File => return file(),
        Target::Share(p) => canary_weight(p, total),
        Target::Whole => total,
        Target::Drained => 0,
    };
    servers
        .iter()
        .map(|m| {
            if m.name == canary {
                canary_w
            } else if target == Target::Whole {
                0
            } else {
                k * u64::from(m.weight)
            }
        })
        .collect()
}

/// The largest weight that `share` needs with every server up, before clamping; `None` when
/// the stable servers have no weight at all (there is nothing to share the traffic with).
pub fn largest_weight(servers: &[Member], canary: &str, share: f64) -> Option<u64> {
    let all_up: Vec<Member> = servers
        .iter()
        .map(|m| Member {
            healthy: true,
            ..m.clone()
        })
        .collect();
    scale(&all_up, canary)?;
    raw_weights(&all_up, canary, Target::Share(share))
        .into_iter()
        .max()
}

/// The canary's share, in percent, of what `weights` send to the servers that are up (0 when
/// none can take traffic).
pub fn effective_share(weights: &[(String, u32)], servers: &[Member], canary: &str) -> f64 {
    let up = |name: &str| servers.iter().any(|m| m.name == name && m.healthy);
    let total: u64 = weights
        .iter()
        .filter(|(n, _)| up(n))
        .map(|(_, w)| u64::from(*w))
        .sum();
    let canary_w: u64 = weights
        .iter()
        .filter(|(n, _)| n == canary && up(n))
        .map(|(_, w)| u64::from(*w))
        .sum();
    if total == 0 {
        0.0
    } else {
        canary_w as f64 * 100.0 / total as f64
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn phase2() -> Vec<Member> {
        vec![
            Member::new("legacy_1", 5),
            Member::new("legacy_2", 5),
            Member::new("k8s", 1),
        ]
    }

    fn named(weights: &[(String, u32)]) -> Vec<u32> {
        weights.iter().map(|(_, w)| *w).collect()
    }

    #[test]
    fn phase2_one_percent_is_ten_against_500_500() {
        let w = apply(&phase2(), "k8s", Target::Share(1.0));
        assert_eq!(named(&w), [500, 500, 10]);
    }

    #[test]
    fn whole_drained_and_file() {
        let s = phase2();
        assert_eq!(named(&apply(&s, "k8s", Target::Whole)), [0, 0, 1000]);
        assert_eq!(named(&apply(&s, "k8s", Target::Drained)), [500, 500, 0]);
        assert_eq!(named(&apply(&s, "k8s", Target::File)), [5, 5, 1]);
    }

    #[test]
    fn down_stable_servers_are_left_out_of_the_share() {
        let mut s = phase2();
        s[1].healthy = false;
        let w = apply(&s, "k8s", Target::Share(10.0));
        // S = 5 (legacy_1 only), k = 200: legacy_1 1000, and 10% of the up traffic is 111.
        assert_eq!(named(&w), [1000, 1000, 111]);
        let share = effective_share(&w, &s, "k8s");
        assert!((share - 10.0).abs() < 0.1, "{share}");
    }

    #[test]
    fn closest_share_not_closest_weight() {
        // 50% of 1000 is exactly 1000.
        assert_eq!(canary_weight(50.0, 1000), 1000);
        assert_eq!(canary_weight(99.9, 1000), 999_000);
        assert_eq!(canary_weight(0.0, 1000), 0);
    }

    #[test]
    fn largest_weight_detects_the_cap() {
        let s = vec![Member::new("a", 1_000_000), Member::new("c", 1)];
        assert_eq!(largest_weight(&s, "c", 50.0), Some(1_000_000));
        assert_eq!(largest_weight(&s, "c", 60.0), Some(1_500_000));
        let none = vec![Member::new("a", 0), Member::new("c", 1)];
        assert_eq!(largest_weight(&none, "c", 50.0), None);
    }
}
