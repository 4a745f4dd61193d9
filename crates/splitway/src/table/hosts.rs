//! The exact-host level of the index: host name → the group of frontends filed under it.
//!
//! Most tables name a handful of hosts (the seed names one), and for those a scan of a short
//! list costs less than hashing the request's host; past [`MAX_SCANNED`] hosts a hash map
//! keeps the lookup flat however many hosts the table has.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

/// Most hosts kept in a list that a lookup scans.
const MAX_SCANNED: usize = 4;

/// Host names (normalised: lowercase, no port, no trailing dot) to values.
#[derive(Debug)]
pub(super) enum HostMap<V> {
    /// At most [`MAX_SCANNED`] entries, compared one by one.
    Few(Vec<(Box<[u8]>, V)>),
    /// A hash map on seeded xxh3.
    Many(HashMap<Box<[u8]>, V, HostHasher>),
}

impl<V> HostMap<V> {
    /// A map of `entries` (hosts distinct).
    pub(super) fn new(entries: Vec<(Box<str>, V)>) -> Self {
        let entries = entries
            .into_iter()
            .map(|(host, v)| (host.into_boxed_bytes(), v));
        if entries.len() <= MAX_SCANNED {
            HostMap::Few(entries.collect())
        } else {
            let mut map = HashMap::with_capacity_and_hasher(entries.len(), HostHasher::new());
            map.extend(entries);
            HostMap::Many(map)
        }
    }

    /// The value of `host` (bytes: a host that is not text finds nothing).
    #[inline]
    pub(super) fn get(&self, host: &[u8]) -> Option<&V> {
        match self {
            HostMap::Few(entries) => entries.iter().find(|(h, _)| **h == *host).map(|(_, v)| v),
            HostMap::Many(map) => map.get(host),
        }
    }
}

/// Hashes request hosts with xxh3 in one shot, seeded per table so that a client cannot
/// choose hosts that collide (SipHash, the std default, costs several times as much on a
/// short host, and this lookup is on every decision).
#[derive(Debug, Clone)]
pub(super) struct HostHasher {
    seed: u64,
}

impl HostHasher {
    fn new() -> Self {
        HostHasher {
            seed: rand::random(),
        }
    }
}

impl BuildHasher for HostHasher {
    type Hasher = OneShot;

    fn build_hasher(&self) -> OneShot {
        OneShot(self.seed)
    }
}

/// A hasher for keys hashed as one byte string (`[u8]` writes its length, then its bytes).
#[derive(Debug)]
pub(super) struct OneShot(u64);

impl Hasher for OneShot {
    fn write(&mut self, bytes: &[u8]) {
        self.0 = xxhash_rust::xxh3::xxh3_64_with_seed(bytes, self.0);
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = (self.0 ^ n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn few_and_many_hosts_find_the_same_values() {
        for n in [0, 1, MAX_SCANNED, MAX_SCANNED + 1, 1000] {
            let entries: Vec<(Box<str>, usize)> = (0..n)
                .map(|i| (format!("h{i}.example.com").into(), i))
                .collect();
            let map = HostMap::new(entries);
            assert_eq!(matches!(map, HostMap::Few(_)), n <= MAX_SCANNED, "{n}");
            for i in 0..n {
                assert_eq!(map.get(format!("h{i}.example.com").as_bytes()), Some(&i));
            }
            assert_eq!(map.get(b"h.example.com"), None);
            assert_eq!(map.get(b""), None);
        }
    }
}
