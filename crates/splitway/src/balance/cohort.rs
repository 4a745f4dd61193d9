//! User cohorts by weighted rendezvous hashing.
//!
//! Every replica must put a user on the same server with no shared state, across machines and
//! versions, and a weight change must move only the users that have to move. The assignment is
//! therefore a pure function of (seed, key value, server names, weights), specified here
//! exactly so that another implementation can reproduce it:
//!
//! 1. For each server `i`, `server_seed_i = XXH3_64(seed ‖ 0x00 ‖ name_i)` (UTF-8 bytes, XXH3
//!    64-bit with the default secret and seed 0).
//! 2. For a key value `k` (bytes), `h_i = XXH3_64_withSeed(k, server_seed_i)`.
//! 3. `u_i = ((h_i >> 11) + 0.5) / 2^53`, a double strictly inside (0, 1).
//! 4. `score_i = weight_i / -ln(u_i)` with `ln` from the `libm` crate (a correctly rounded
//!    portable implementation, not the platform's), in IEEE-754 double precision.
//! 5. Among servers that are up and have a weight above 0, the highest score wins; a tie goes
//!    to the server listed first.
//!
//! Raising server `j`'s weight raises only `score_j`, so users only ever move onto `j`; lowering
//! it moves users only off `j`; servers whose weights keep their ratio keep their users
//! relative to each other. Over many keys a server's share tends to its weight share (this is
//! the weighted rendezvous hashing of Schindelhauer and Schomaker).
//!
//! Key values: `cookie:NAME` uses the cookie value's bytes, `query:NAME` the first value of
//! the parameter decoded as Go's `url.ParseQuery` does ([`crate::RequestView::query_values`]),
//! `header:NAME` the first header line's bytes, `client_ip` the address's 4 (IPv4) or 16
//! (IPv6) network-order bytes.

use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

/// `XXH3_64(seed ‖ 0x00 ‖ name)`.
pub(crate) fn server_seed(seed: &str, name: &str) -> u64 {
    let mut buf = Vec::with_capacity(seed.len() + 1 + name.len());
    buf.extend_from_slice(seed.as_bytes());
    buf.push(0);
    buf.extend_from_slice(name.as_bytes());
    xxh3_64(&buf)
}

/// The unweighted factor `1 / -ln(u)` of a server for a key; a score is `weight × factor`.
pub(crate) fn factor(key: &[u8], server_seed: u64) -> f64 {
    let h = xxh3_64_with_seed(key, server_seed);
    // 53 high bits, centred in their interval: never 0, never 1.
    let u = ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    1.0 / -libm::log(u)
}

/// `weight × factor`, the score a server gets for a key.
pub(crate) fn score(weight: u32, factor: f64) -> f64 {
    f64::from(weight) * factor
}

/// The smallest weight at which a server with `factor` beats `best_score` (which it must
/// exceed strictly; ties go to the server listed first, so this is conservative by one for a
/// later server that ties exactly). `None` if no weight up to the maximum does it.
pub(crate) fn takeover_weight(best_score: f64, factor: f64, max: u32) -> Option<u32> {
    if factor <= 0.0 || !factor.is_finite() {
        return None;
    }
    let w = (best_score / factor).floor() + 1.0;
    if w <= f64::from(max) {
        // Correct for rounding at the boundary.
        let mut w = w.max(1.0) as u32;
        while w > 1 && score(w - 1, factor) > best_score {
            w -= 1;
        }
        while w <= max && score(w, factor) <= best_score {
            w += 1;
        }
        (w <= max).then_some(w)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Golden vectors: if any of these change, every replica of an older version would
    /// disagree with this one about where users go. Never update them to make a test pass.
    #[test]
    fn hash_vectors_are_stable() {
        assert_eq!(server_seed("web", "legacy_1"), GOLDEN_SEED_WEB_LEGACY_1);
        assert_eq!(
            xxh3_64_with_seed(b"user-1", server_seed("web", "legacy_1")),
            GOLDEN_H_USER1_LEGACY_1
        );
        // XXH3-64 of the empty input with seed 0 is the published 0x2D06800538D394C2.
        assert_eq!(xxh3_64(b""), 0x2D06_8005_38D3_94C2);
    }

    // Cross-checked with the reference C implementation (python-xxhash `xxh3_64_intdigest`).
    const GOLDEN_SEED_WEB_LEGACY_1: u64 = 0xcd97_f9c8_3977_2f26;
    const GOLDEN_H_USER1_LEGACY_1: u64 = 0x3a9a_5d9c_9b6d_b994;

    #[test]
    fn factor_is_positive_and_finite() {
        for i in 0..10_000u32 {
            let f = factor(&i.to_le_bytes(), 42);
            assert!(f.is_finite() && f > 0.0, "{i}: {f}");
        }
    }

    #[test]
    fn takeover_weight_is_the_smallest_winning_weight() {
        let f = 0.7;
        let best = 10.0;
        let w = takeover_weight(best, f, 1_000_000).unwrap();
        assert!(score(w, f) > best);
        assert!(score(w - 1, f) <= best);
        assert_eq!(takeover_weight(1e12, 0.5, 1_000_000), None);
    }
}
