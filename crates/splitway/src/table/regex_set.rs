//! One multi-pattern automaton per header (or cookie): which regex routes a request can match,
//! in one pass over the value.
//!
//! Why: a table of many `HeadersRegexp` / `HeaderRegexp` / `CookieRegexp` routes on the same
//! header would otherwise run one regex per route. Here the distinct patterns of all of them
//! (identical regexes compiled once) form one `regex_automata::meta::Regex` in
//! [`MatchKind::All`] mode, and one overlapping search per header value says which patterns
//! occur in it; only the frontends filed under those patterns are evaluated. The set is only a
//! filter: each candidate's rule is still evaluated as written, so the automaton can never
//! change a decision, only skip frontends that cannot match.
//!
//! `regex::RegexSet::matches` allocates a result set per call. The search here writes into a
//! [`PatternSet`] and a [`Cache`] that are kept per thread (a `thread_local`, no lock) and
//! reused across decisions; a thread keeps scratch space for [`SLOTS`] automata, least
//! recently used first out, so a decision allocates only when its thread meets an automaton
//! it has not seen lately (after a reload, or with more than [`SLOTS`] automata in use).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use http::HeaderName;
use regex_automata::hybrid;
use regex_automata::meta::{self, Cache};
use regex_automata::nfa::thompson;
use regex_automata::{Input, MatchKind, PatternSet};

use crate::request::{RequestView, is_text};

/// Scratch spaces (cache and pattern set) one thread keeps.
pub(super) const SLOTS: usize = 16;

/// NFA size limit of one combined automaton (the per-rule limit is
/// [`crate::rule::REGEX_SIZE_LIMIT`]; a set of many rules needs room for all of them).
const SET_SIZE_LIMIT: usize = 64 << 20;

/// Lazy-DFA cache capacity of one combined automaton, per thread.
const SET_CACHE_CAPACITY: usize = 4 << 20;

/// Identity of an automaton, for the per-thread scratch (never reused within a process).
static NEXT_UID: AtomicU64 = AtomicU64::new(1);

/// What the patterns are matched against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Source {
    /// Each value of this header that is text (`HeaderRegex`).
    Header(HeaderName),
    /// Each value of this cookie (`CookieRegex`).
    Cookie(Box<str>),
}

impl Source {
    /// A key that orders sources deterministically.
    pub(super) fn sort_key(&self) -> (u8, &str) {
        match self {
            Source::Header(name) => (0, name.as_str()),
            Source::Cookie(name) => (1, name),
        }
    }
}

/// The automaton of one source and the frontends filed under each of its patterns.
#[derive(Debug)]
pub(super) struct RegexIndex {
    source: Source,
    set: meta::Regex,
    /// The same patterns as a lazy DFA alone, walked over a value once, reporting each match
    /// as it is found: no prefilter pass and no scan of a per-pattern flag array afterwards
    /// (with hundreds of patterns those two were most of the search). It quits on a
    /// non-ASCII byte where a pattern has a Unicode `\b`, and then `set` searches the value.
    dfa: Option<hybrid::dfa::DFA>,
    /// Frontend positions (ascending) by pattern id.
    by_pattern: Vec<Vec<u32>>,
    /// The smallest position filed: below a known winner, the search is skipped.
    first: u32,
    uid: u64,
}

impl RegexIndex {
    /// Builds the automaton for `members` (frontend position, in ascending order, and the
    /// patterns of the regexes of this source its rule requires, one of which must match).
    /// `None` when the combined automaton cannot be built (too big): those frontends are then
    /// scanned.
    pub(super) fn build(source: Source, members: &[(u32, Vec<&str>)]) -> Option<Self> {
        let mut ids: HashMap<&str, usize> = HashMap::new();
        let mut patterns: Vec<&str> = Vec::new();
        let mut by_pattern: Vec<Vec<u32>> = Vec::new();
        for (pos, regexes) in members {
            for &re in regexes {
                let id = *ids.entry(re).or_insert_with(|| {
                    patterns.push(re);
                    by_pattern.push(Vec::new());
                    patterns.len() - 1
                });
                let list = by_pattern.get_mut(id)?;
                if list.last() != Some(pos) {
                    list.push(*pos);
                }
            }
        }
        let set = meta::Regex::builder()
            .configure(
                meta::Config::new()
                    .match_kind(MatchKind::All)
                    .nfa_size_limit(Some(SET_SIZE_LIMIT))
                    .hybrid_cache_capacity(SET_CACHE_CAPACITY),
            )
            .build_many(&patterns)
            .ok()?;
        let dfa = hybrid::dfa::DFA::builder()
            .configure(
                hybrid::dfa::DFA::config()
                    .match_kind(MatchKind::All)
                    .unicode_word_boundary(true)
                    .cache_capacity(SET_CACHE_CAPACITY),
            )
            .thompson(thompson::Config::new().nfa_size_limit(Some(SET_SIZE_LIMIT)))
            .build_many(&patterns)
            .ok();
        let first = members.first()?.0;
        Some(RegexIndex {
            source,
            set,
            dfa,
            by_pattern,
            first,
            uid: NEXT_UID.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// What the patterns are matched against.
    pub(super) fn source(&self) -> &Source {
        &self.source
    }

    /// The smallest frontend position filed here.
    pub(super) fn first(&self) -> u32 {
        self.first
    }

    /// Number of distinct patterns.
    #[cfg(test)]
    pub(super) fn pattern_len(&self) -> usize {
        self.by_pattern.len()
    }

    /// Calls `visit` with the positions filed under each pattern that occurs in a value of the
    /// source in `req`.
    pub(super) fn for_each_candidate(&self, req: &RequestView<'_>, mut visit: impl FnMut(&[u32])) {
        SCRATCH.with(|scratch| {
            let Ok(mut scratch) = scratch.try_borrow_mut() else {
                // Only reachable by re-entrance, which the decision path never does: stay
                // correct by visiting everything.
                self.by_pattern.iter().for_each(|l| visit(l));
                return;
            };
            let Some(slot) = scratch.slot(self) else {
                self.by_pattern.iter().for_each(|l| visit(l));
                return;
            };
            slot.set.clear();
            let mut scan_set = false;
            match &self.source {
                Source::Header(name) => {
                    for value in req.headers().get_all(name) {
                        if is_text(value.as_bytes()) {
                            scan_set |= !self.search(slot, value.as_bytes(), &mut visit);
                        }
                    }
                }
                Source::Cookie(name) => {
                    for value in req.cookies(name) {
                        scan_set |= !self.search(slot, value.as_bytes(), &mut visit);
                    }
                }
            }
            if scan_set {
                // The set is a flag per pattern: stop at the last one set rather than scan
                // them all. (Patterns the lazy DFA already visited are visited again, which
                // changes nothing.)
                for pattern in slot.set.iter().take(slot.set.len()) {
                    if let Some(list) = self.by_pattern.get(pattern.as_usize()) {
                        visit(list);
                    }
                }
            }
        });
    }

    /// Searches one value: with the lazy DFA, visiting each pattern's list the first time it
    /// matches (returns `true`); or, where the DFA cannot finish, with the meta regex, which
    /// only records the patterns in the set for the caller to visit (returns `false`).
    fn search(&self, slot: &mut Slot, text: &[u8], visit: &mut impl FnMut(&[u32])) -> bool {
        let input = Input::new(text);
        if let (Some(dfa), Some(cache)) = (&self.dfa, &mut slot.dfa_cache) {
            let mut state = hybrid::dfa::OverlappingState::start();
            loop {
                if dfa
                    .try_search_overlapping_fwd(cache, &input, &mut state)
                    .is_err()
                {
                    break;
                }
                let Some(found) = state.get_match() else {
                    return true;
                };
                if slot.set.insert(found.pattern())
                    && let Some(list) = self.by_pattern.get(found.pattern().as_usize())
                {
                    visit(list);
                }
            }
        }
        if !slot.set.is_full() {
            self.set
                .which_overlapping_matches_with(&mut slot.cache, &input, &mut slot.set);
        }
        false
    }

    /// Every position filed, by pattern.
    #[cfg(test)]
    pub(super) fn all(&self) -> impl Iterator<Item = &[u32]> {
        self.by_pattern.iter().map(Vec::as_slice)
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = const {
        RefCell::new(Scratch {
            slots: Vec::new(),
            tick: 0,
        })
    };
}

/// One thread's search scratch, for the automata it used last.
struct Scratch {
    slots: Vec<Slot>,
    tick: u64,
}

struct Slot {
    uid: u64,
    last_used: u64,
    cache: Cache,
    dfa_cache: Option<hybrid::dfa::Cache>,
    set: PatternSet,
}

impl Scratch {
    /// The slot of `index`, made (or taken over from the least recently used automaton) if
    /// this thread has none. `None` never happens in practice (a slot is made first); callers
    /// then fall back to visiting every pattern.
    fn slot(&mut self, index: &RegexIndex) -> Option<&mut Slot> {
        self.tick += 1;
        let tick = self.tick;
        if !self.slots.iter().any(|s| s.uid == index.uid) {
            let fresh = Slot {
                uid: index.uid,
                last_used: tick,
                cache: index.set.create_cache(),
                dfa_cache: index.dfa.as_ref().map(hybrid::dfa::DFA::create_cache),
                set: PatternSet::new(index.set.pattern_len()),
            };
            if self.slots.len() < SLOTS {
                self.slots.push(fresh);
            } else if let Some(oldest) = self.slots.iter_mut().min_by_key(|s| s.last_used) {
                *oldest = fresh;
            }
        }
        let slot = self.slots.iter_mut().find(|s| s.uid == index.uid)?;
        slot.last_used = tick;
        Some(slot)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The positions visited for a request whose `X-T` header has these values.
    fn visited(index: &RegexIndex, values: &[&str]) -> Vec<u32> {
        let mut headers = http::HeaderMap::new();
        for v in values {
            headers.append("x-t", v.parse().unwrap());
        }
        let (method, uri) = (http::Method::GET, http::Uri::from_static("/"));
        let req = RequestView::new(&method, &uri, &headers, None);
        let mut out = Vec::new();
        index.for_each_candidate(&req, |l| out.extend_from_slice(l));
        out.sort_unstable();
        out.dedup();
        out
    }

    #[test]
    fn every_matching_pattern_is_visited_with_or_without_the_lazy_dfa() {
        let members: Vec<(u32, Vec<&str>)> = vec![
            (0, vec![r"caf\b"]),
            (1, vec!["x"]),
            (2, vec!["^ab", "é"]),
            (3, vec![r"\d+$"]),
        ];
        let index = RegexIndex::build(Source::Header("x-t".parse().unwrap()), &members).unwrap();
        assert!(index.dfa.is_some());
        // ASCII: the lazy DFA answers alone.
        assert_eq!(visited(&index, &["caf x"]), [0, 1]);
        assert_eq!(visited(&index, &["abc 12"]), [2, 3]);
        assert_eq!(visited(&index, &["cafe"]), Vec::<u32>::new());
        // Non-ASCII next to a Unicode `\b`: the DFA quits and the meta regex finishes, still
        // finding what the DFA had not reached (`caf` at the end) and not `caf` before `é`.
        assert_eq!(visited(&index, &["café caf"]), [0, 2]);
        assert_eq!(visited(&index, &["cafés x"]), [1, 2]);
        // Several values: the union.
        assert_eq!(visited(&index, &["x", "ab", "9"]), [1, 2, 3]);
    }
}
