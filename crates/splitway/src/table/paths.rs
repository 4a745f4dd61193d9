//! A byte trie of path prefixes: which frontends a request path can match, in one walk.
//!
//! Why: a table of many `PathPrefix` (or `Path`) routes under one host would otherwise be
//! scanned rule by rule. `PathPrefix` is a plain string prefix (SPEC.md 3.3), and an exact
//! `Path` value is also a prefix of every path it matches, so every frontend whose rule
//! requires one of these values is filed under each of them here. A walk along the request
//! path visits exactly the values that are prefixes of it: its cost is bounded by the length
//! of the path, whatever the number of routes. The trie is only a filter; the rule itself is
//! still evaluated on every frontend it yields.

/// Frontend positions by path prefix.
#[derive(Debug)]
pub(super) struct PathTrie {
    /// Node 0 is the root (the empty prefix).
    nodes: Vec<Node>,
}

#[derive(Debug, Default)]
struct Node {
    /// Children by next byte, sorted by byte.
    edges: Vec<(u8, u32)>,
    /// Frontends whose prefix ends at this node, in priority order.
    positions: Vec<u32>,
}

impl PathTrie {
    pub(super) fn new() -> Self {
        PathTrie {
            nodes: vec![Node::default()],
        }
    }

    /// Files frontend `pos` under `prefix`. Positions must be inserted in ascending order.
    pub(super) fn insert(&mut self, prefix: &str, pos: u32) {
        let mut node = 0;
        for &b in prefix.as_bytes() {
            let next_id = self.nodes.len();
            let Some(n) = self.nodes.get_mut(node) else {
                return;
            };
            node = match n.edges.binary_search_by_key(&b, |e| e.0) {
                Ok(i) => n.edges.get(i).map_or(0, |e| e.1 as usize),
                Err(i) => {
                    // Node counts are bounded by the rule text, far below u32::MAX.
                    let id = u32::try_from(next_id).unwrap_or(u32::MAX);
                    n.edges.insert(i, (b, id));
                    self.nodes.push(Node::default());
                    next_id
                }
            };
        }
        if let Some(n) = self.nodes.get_mut(node)
            && n.positions.last() != Some(&pos)
        {
            n.positions.push(pos);
        }
    }

    /// Trims spare capacity once every frontend is filed.
    pub(super) fn shrink(&mut self) {
        self.nodes.shrink_to_fit();
        for n in &mut self.nodes {
            n.edges.shrink_to_fit();
            n.positions.shrink_to_fit();
        }
    }

    /// Calls `visit` with the positions filed under each prefix of `path`, shortest first.
    pub(super) fn for_each_prefix(&self, path: &str, mut visit: impl FnMut(&[u32])) {
        let mut node = self.nodes.first();
        let mut bytes = path.bytes();
        while let Some(n) = node {
            if !n.positions.is_empty() {
                visit(&n.positions);
            }
            let Some(b) = bytes.next() else {
                return;
            };
            node = n
                .edges
                .binary_search_by_key(&b, |e| e.0)
                .ok()
                .and_then(|i| n.edges.get(i))
                .and_then(|&(_, id)| self.nodes.get(id as usize));
        }
    }

    /// Every position filed, in no particular order.
    #[cfg(test)]
    pub(super) fn all(&self) -> impl Iterator<Item = &[u32]> {
        self.nodes.iter().map(|n| n.positions.as_slice())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn prefixes_of(trie: &PathTrie, path: &str) -> Vec<u32> {
        let mut out = Vec::new();
        trie.for_each_prefix(path, |l| out.extend_from_slice(l));
        out
    }

    #[test]
    fn a_walk_yields_exactly_the_prefixes_of_the_path() {
        let mut t = PathTrie::new();
        t.insert("/api", 0);
        t.insert("/api/v1", 1);
        t.insert("/apiary", 2);
        t.insert("/", 3);
        t.insert("", 4);
        t.insert("/api", 5);
        t.insert("/api", 5);
        t.insert("/static", 6);
        assert_eq!(prefixes_of(&t, "/api/v1/users"), [4, 3, 0, 5, 1]);
        assert_eq!(prefixes_of(&t, "/apiar"), [4, 3, 0, 5]);
        assert_eq!(prefixes_of(&t, "/apiary"), [4, 3, 0, 5, 2]);
        assert_eq!(prefixes_of(&t, ""), [4]);
        assert_eq!(prefixes_of(&t, "x/api"), [4]);
        assert_eq!(prefixes_of(&t, "/é/api"), [4, 3]);
    }
}
