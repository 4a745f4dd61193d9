//! Candidate selection: which frontends a request can possibly match, so that a decision
//! looks at a number of rules that does not grow with the table.
//!
//! Two levels, each only a filter built from what a rule *requires* (a condition every
//! request it matches must meet, read from the rule's shape):
//!
//! 1. the exact host: frontends whose rule requires one of some exact hosts are filed under
//!    each of them (a hash map); the others are "hostless";
//! 2. inside the group of one host (and inside the hostless group), a frontend that requires a
//!    path prefix (or exact path) is filed in a [`PathTrie`]; one that requires a header or
//!    cookie regex is filed in that source's [`RegexIndex`]; the rest are kept in a list.
//!    A sub-index is only built where a group has enough such frontends to pay for it.
//!
//! The decision is "the first frontend in priority order whose rule matches", that is the
//! smallest matching position. Each structure yields lists of positions in ascending order;
//! scanning a list stops at its first match or at the best position found so far, and the
//! answer is the smallest position found over all lists. No list is merged or copied, so
//! nothing is allocated; an index can only skip frontends that cannot match, never reorder.

use std::collections::HashMap;

use super::hosts::HostMap;
use super::paths::PathTrie;
use super::regex_set::{RegexIndex, Source};
use crate::request::{PathForm, RequestView};
use crate::rule::{Expr, HostPattern, MatcherKind, Rule};

/// A group needs this many frontends that require a path before it gets a trie.
const MIN_PATH_INDEXED: usize = 4;

/// A header (or cookie) needs this many regex frontends in a group before they get an
/// automaton; below it, running each regex is as cheap as the combined search.
const MIN_REGEX_INDEXED: usize = 8;

/// The two-level index of a table.
#[derive(Debug)]
pub(super) struct Index {
    by_host: HostMap<Group>,
    hostless: Group,
    /// By position: what finding a frontend through its host group proves of its rule.
    proven: Vec<Proven>,
}

/// What a host lookup proves of a rule filed under its hosts: the request's normalised host
/// equals one of them, so a `Host` matcher of exactly those names holds and need not run
/// again. Only a matcher that is the whole rule, or a top-level conjunct, is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Proven {
    /// Nothing: evaluate the whole rule.
    Nothing,
    /// The rule is that `Host` matcher: it holds.
    Whole,
    /// Child `k` of the top-level `&&` is that `Host` matcher: evaluate the others.
    Conjunct(usize),
}

impl Proven {
    /// Whether `expr` holds for `req`, given what the lookup proved.
    #[inline]
    pub(super) fn eval(self, expr: &Expr, req: &RequestView<'_>) -> bool {
        match (self, expr) {
            (Proven::Whole, _) => true,
            (Proven::Conjunct(k), Expr::And(children)) => children
                .iter()
                .enumerate()
                .all(|(i, child)| i == k || child.eval(req)),
            _ => expr.eval(req),
        }
    }
}

/// The frontends of one host (or of no host).
#[derive(Debug, Default)]
struct Group {
    /// Positions that no sub-index holds, ascending.
    rest: Vec<u32>,
    /// Frontends by the path prefix they require, one trie per path form.
    paths: Vec<(PathForm, PathTrie)>,
    /// Frontends by the header or cookie regex they require.
    regexes: Vec<RegexIndex>,
}

/// What an index walk does with each list of positions it yields.
trait Visitor {
    /// Positions at or above this cannot change the answer.
    fn bound(&self) -> u32;
    /// One ascending list of candidate positions.
    fn list(&mut self, positions: &[u32]);
}

/// Finds the smallest position whose rule matches.
struct FirstMatch<F> {
    best: u32,
    test: F,
}

impl<F: FnMut(u32) -> bool> Visitor for FirstMatch<F> {
    fn bound(&self) -> u32 {
        self.best
    }

    fn list(&mut self, positions: &[u32]) {
        for &p in positions {
            if p >= self.best {
                return;
            }
            if (self.test)(p) {
                self.best = p;
                return;
            }
        }
    }
}

/// Collects every candidate (for explanations, which list what was tried).
struct Collect(Vec<u32>);

impl Visitor for Collect {
    fn bound(&self) -> u32 {
        u32::MAX
    }

    fn list(&mut self, positions: &[u32]) {
        self.0.extend_from_slice(positions);
    }
}

impl Index {
    /// Indexes rules given in priority order (at most `u32::MAX` of them).
    pub(super) fn build<'r>(rules: impl Iterator<Item = &'r Rule>) -> Self {
        let mut by_host: HashMap<&str, Vec<(u32, &Expr)>> = HashMap::new();
        let mut hostless = Vec::new();
        let mut proven = Vec::new();
        for (pos, rule) in rules.enumerate() {
            let Ok(pos) = u32::try_from(pos) else {
                break;
            };
            let expr = rule.expr();
            proven.push(host_proof(expr));
            match required_hosts(expr) {
                Some(hosts) => {
                    for host in hosts {
                        let list = by_host.entry(host).or_default();
                        // A host listed twice in one rule must not list the frontend twice.
                        if list.last().map(|m| m.0) != Some(pos) {
                            list.push((pos, expr));
                        }
                    }
                }
                None => hostless.push((pos, expr)),
            }
        }
        let groups = by_host
            .into_iter()
            .map(|(host, members)| (host.into(), Group::build(&members)))
            .collect();
        Index {
            by_host: HostMap::new(groups),
            hostless: Group::build(&hostless),
            proven,
        }
    }

    /// The first position, in priority order, for which `test` holds among the frontends
    /// `req` can match; `test` is also told what the index proved of that frontend's rule.
    pub(super) fn find(
        &self,
        req: &RequestView<'_>,
        mut test: impl FnMut(u32, Proven) -> bool,
    ) -> Option<u32> {
        let proven = |p: u32| {
            self.proven
                .get(p as usize)
                .copied()
                .unwrap_or(Proven::Nothing)
        };
        let mut v = FirstMatch {
            best: u32::MAX,
            test: |p| test(p, proven(p)),
        };
        if let Some(group) = req.host_key().and_then(|h| self.by_host.get(h)) {
            group.visit(req, &mut v);
        }
        self.hostless.visit(req, &mut v);
        (v.best != u32::MAX).then_some(v.best)
    }

    /// Every position `req` can match, in priority order.
    pub(super) fn candidates(&self, req: &RequestView<'_>) -> Vec<usize> {
        let mut v = Collect(Vec::new());
        if let Some(group) = req.host_key().and_then(|h| self.by_host.get(h)) {
            group.visit(req, &mut v);
        }
        self.hostless.visit(req, &mut v);
        let mut all = v.0;
        all.sort_unstable();
        all.dedup();
        all.into_iter().map(|p| p as usize).collect()
    }
}

impl Group {
    /// Builds the group of `members` (positions ascending, with their rules' expressions).
    fn build(members: &[(u32, &Expr)]) -> Self {
        let mut group = Group::default();
        if members.len() < MIN_PATH_INDEXED.min(MIN_REGEX_INDEXED) {
            // Too few for any sub-index (the common case of a host with a route or two).
            group.rest = members.iter().map(|m| m.0).collect();
            return group;
        }

        // Paths first: a path prefix is cheap to test and usually the most selective.
        let path_reqs: Vec<Option<Vec<(PathForm, &str)>>> =
            members.iter().map(|(_, e)| required_paths(e)).collect();
        let use_paths = path_reqs.iter().flatten().count() >= MIN_PATH_INDEXED;

        // Regexes, for the frontends the tries do not take: count per source, then keep the
        // sources with enough frontends.
        let regex_reqs: Vec<Option<Vec<(Source, &str)>>> = members
            .iter()
            .zip(&path_reqs)
            .map(|((_, e), p)| match p {
                Some(_) if use_paths => None,
                _ => required_regexes(e),
            })
            .collect();
        let mut per_source: HashMap<&Source, usize> = HashMap::new();
        for reqs in regex_reqs.iter().flatten() {
            let mut seen: Vec<&Source> = Vec::new();
            for (s, _) in reqs {
                if !seen.contains(&s) {
                    seen.push(s);
                    *per_source.entry(s).or_default() += 1;
                }
            }
        }
        let mut kept: Vec<&Source> = per_source
            .into_iter()
            .filter(|&(_, n)| n >= MIN_REGEX_INDEXED)
            .map(|(s, _)| s)
            .collect();
        // Deterministic order (HashMap iteration is not).
        kept.sort_by_key(|s| s.sort_key());
        // Only a frontend whose every alternative is on a kept source can be filed.
        let fileable = |reqs: &Option<Vec<(Source, &str)>>| {
            reqs.as_ref()
                .is_some_and(|r| r.iter().all(|(s, _)| kept.contains(&s)))
        };
        let mut automata: Vec<RegexIndex> = Vec::new();
        for &source in &kept {
            let filed: Vec<(u32, Vec<&str>)> = members
                .iter()
                .zip(&regex_reqs)
                .filter(|(_, reqs)| fileable(reqs))
                .filter_map(|((pos, _), reqs)| {
                    let mine: Vec<&str> = reqs
                        .iter()
                        .flatten()
                        .filter(|(s, _)| s == source)
                        .map(|(_, r)| *r)
                        .collect();
                    (!mine.is_empty()).then_some((*pos, mine))
                })
                .collect();
            // An automaton that cannot be built leaves its frontends to the list below.
            if let Some(index) = RegexIndex::build(source.clone(), &filed) {
                automata.push(index);
            }
        }

        for (((pos, _), paths), regexes) in members.iter().zip(&path_reqs).zip(&regex_reqs) {
            match (paths, regexes) {
                (Some(paths), _) if use_paths => {
                    for &(form, prefix) in paths {
                        let trie = match group.paths.iter_mut().position(|(f, _)| *f == form) {
                            Some(i) => group.paths.get_mut(i).map(|(_, t)| t),
                            None => {
                                group.paths.push((form, PathTrie::new()));
                                group.paths.last_mut().map(|(_, t)| t)
                            }
                        };
                        if let Some(trie) = trie {
                            trie.insert(prefix, *pos);
                        }
                    }
                }
                // Filed in every automaton of its alternatives.
                (_, Some(reqs))
                    if reqs
                        .iter()
                        .all(|(s, _)| automata.iter().any(|a| a.source() == s)) => {}
                _ => group.rest.push(*pos),
            }
        }
        group.regexes = automata;
        for (_, trie) in &mut group.paths {
            trie.shrink();
        }
        group.rest.shrink_to_fit();
        group
    }

    fn visit(&self, req: &RequestView<'_>, v: &mut impl Visitor) {
        v.list(&self.rest);
        for (form, trie) in &self.paths {
            trie.for_each_prefix(req.path(*form), |l| v.list(l));
        }
        for index in &self.regexes {
            if index.first() < v.bound() {
                index.for_each_candidate(req, |l| v.list(l));
            }
        }
    }

    /// Every position filed anywhere in the group.
    #[cfg(test)]
    fn all(&self) -> Vec<u32> {
        let mut all = self.rest.clone();
        for (_, trie) in &self.paths {
            trie.all().for_each(|l| all.extend_from_slice(l));
        }
        for index in &self.regexes {
            index.all().for_each(|l| all.extend_from_slice(l));
        }
        all.sort_unstable();
        all.dedup();
        all
    }
}

/// The exact hosts one of which a request must have for `expr` to hold, if the rule says so
/// in a way that can be seen from its shape: a host matcher of exact names at the top level,
/// or inside a top-level conjunction, or in every branch of a disjunction.
fn required_hosts(expr: &Expr) -> Option<Vec<&str>> {
    match expr {
        Expr::Match(m) => match &m.kind {
            MatcherKind::Host(patterns) => patterns
                .iter()
                .map(|p| match p {
                    HostPattern::Exact(h) => Some(h.as_str()),
                    HostPattern::OneLabelThen(_) | HostPattern::Any => None,
                })
                .collect(),
            _ => None,
        },
        Expr::And(children) => children.iter().find_map(required_hosts),
        Expr::Or(children) if !children.is_empty() => {
            let mut all = Vec::new();
            for child in children {
                all.extend(required_hosts(child)?);
            }
            Some(all)
        }
        Expr::Or(_) | Expr::Not(_) => None,
    }
}

/// What finding `expr` through one of its [`required_hosts`] proves: the `Host` matcher
/// those hosts came from holds, when it is the rule or the top-level conjunct they came from.
/// (The hosts of a nested expression or of a disjunction are necessary, not sufficient.)
fn host_proof(expr: &Expr) -> Proven {
    match expr {
        Expr::Match(_) if required_hosts(expr).is_some() => Proven::Whole,
        Expr::And(children) => match children.iter().position(|c| required_hosts(c).is_some()) {
            Some(k) if matches!(children.get(k), Some(Expr::Match(_))) => Proven::Conjunct(k),
            _ => Proven::Nothing,
        },
        _ => Proven::Nothing,
    }
}

/// The path prefixes (with the path form they look at) one of which the request path must
/// start with for `expr` to hold: `PathPrefix` values, and `Path` values (a path equal to a
/// value starts with it), found as [`required_hosts`] finds hosts.
fn required_paths(expr: &Expr) -> Option<Vec<(PathForm, &str)>> {
    match expr {
        Expr::Match(m) => match &m.kind {
            MatcherKind::PathPrefix(form, values) | MatcherKind::Path(form, values) => {
                Some(values.iter().map(|v| (*form, v.as_str())).collect())
            }
            _ => None,
        },
        Expr::And(children) => children.iter().find_map(required_paths),
        Expr::Or(children) if !children.is_empty() => {
            let mut all = Vec::new();
            for child in children {
                all.extend(required_paths(child)?);
            }
            Some(all)
        }
        Expr::Or(_) | Expr::Not(_) => None,
    }
}

/// The header or cookie regexes (as patterns) one of which must occur in a value of its
/// source for `expr` to hold, found as [`required_hosts`] finds hosts.
fn required_regexes(expr: &Expr) -> Option<Vec<(Source, &str)>> {
    match expr {
        Expr::Match(m) => match &m.kind {
            MatcherKind::HeaderRegex { name, regex } => {
                Some(vec![(Source::Header(name.clone()), regex.as_str())])
            }
            MatcherKind::CookieRegex { name, regex } => {
                Some(vec![(Source::Cookie(name.as_str().into()), regex.as_str())])
            }
            _ => None,
        },
        Expr::And(children) => children.iter().find_map(required_regexes),
        Expr::Or(children) if !children.is_empty() => {
            let mut all = Vec::new();
            for child in children {
                all.extend(required_regexes(child)?);
            }
            Some(all)
        }
        Expr::Or(_) | Expr::Not(_) => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::rule::Syntax;

    fn rules(texts: &[&str]) -> Vec<Rule> {
        texts
            .iter()
            .map(|t| Rule::parse(t, Syntax::V3).unwrap())
            .collect()
    }

    #[test]
    fn path_routes_of_one_host_go_to_a_trie() {
        let mut texts: Vec<String> = (0..10)
            .map(|i| format!("Host(`a.com`) && PathPrefix(`/svc{i}/`)"))
            .collect();
        texts.push("Host(`a.com`) && Method(`GET`)".into());
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let rules = rules(&texts);
        let index = Index::build(rules.iter());
        let group = index.by_host.get(b"a.com").unwrap();
        assert_eq!(group.rest, [10]);
        assert_eq!(group.paths.len(), 1);
        assert_eq!(group.all(), (0..11).collect::<Vec<u32>>());
    }

    #[test]
    fn host_lookup_proves_only_a_host_matcher_that_is_the_rule_or_a_top_conjunct() {
        let rules = rules(&[
            "Host(`a.com`)",
            "Method(`GET`) && Host(`a.com`) && Path(`/x`)",
            "((Host(`a.com`) && Path(`/x`)) || Host(`c.com`)) && Host(`b.com`)",
            "Host(`a.com`) || Host(`b.com`)",
            "Host(`*.a.com`) && Path(`/x`)",
            "Host(`*.a.com`)",
            "Path(`/x`)",
        ]);
        let proofs: Vec<Proven> = rules.iter().map(|r| host_proof(r.expr())).collect();
        assert_eq!(
            proofs,
            [
                Proven::Whole,
                Proven::Conjunct(1),
                // Filed under a.com and c.com by the disjunction, which a.com does not prove.
                Proven::Nothing,
                Proven::Nothing,
                Proven::Nothing,
                Proven::Nothing,
                Proven::Nothing,
            ]
        );
    }

    #[test]
    fn few_path_routes_stay_in_the_list() {
        let rules = rules(&["PathPrefix(`/a`)", "PathPrefix(`/b`)", "Method(`GET`)"]);
        let index = Index::build(rules.iter());
        assert_eq!(index.hostless.rest, [0, 1, 2]);
        assert!(index.hostless.paths.is_empty());
    }

    #[test]
    fn same_header_regexes_share_one_automaton_and_identical_ones_one_pattern() {
        let mut texts: Vec<String> = (0..10)
            .map(|i| format!("HeaderRegexp(`X-Tenant`, `^t{}$`)", i % 5))
            .collect();
        // An alternative on another, small source keeps its frontend in the list.
        texts.push("HeaderRegexp(`X-Tenant`, `^z$`) || HeaderRegexp(`X-Other`, `y`)".into());
        texts.push("CookieRegexp(`beta`, `on`)".into());
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let rules = rules(&texts);
        let index = Index::build(rules.iter());
        let g = &index.hostless;
        assert_eq!(g.regexes.len(), 1);
        assert_eq!(g.regexes.first().unwrap().pattern_len(), 5);
        assert_eq!(g.rest, [10, 11]);
        assert_eq!(g.all(), (0..12).collect::<Vec<u32>>());
    }
}
