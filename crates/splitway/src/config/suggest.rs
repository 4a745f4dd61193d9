//! "Did you mean ...?" for misspelt keys and names.

/// The candidate closest to `word`: equal ignoring case, or within edit distance 2 (1 for
/// words of up to 2 characters), the first of equals winning.
pub(crate) fn closest<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let mut best: Option<(usize, &'c str)> = None;
    let limit = if word.chars().count() <= 2 { 1 } else { 2 };
    for candidate in candidates {
        let distance = if candidate.eq_ignore_ascii_case(word) {
            0
        } else {
            levenshtein(word, candidate, limit)
        };
        if distance <= limit && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, c)| c)
}

/// `" (did you mean `x`?)"`, or nothing.
pub(crate) fn did_you_mean<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> String {
    closest(word, candidates).map_or_else(String::new, |c| format!("; did you mean `{c}`?"))
}

/// Edit distance between `a` and `b`, or `limit + 1` when it is larger than `limit`.
fn levenshtein(a: &str, b: &str, limit: usize) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > limit || a.len() > 64 || b.len() > 64 {
        return limit + 1;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        if let Some(first) = cur.first_mut() {
            *first = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev.get(j).copied().unwrap_or(0) + usize::from(ca != cb);
            let delete = prev.get(j + 1).copied().unwrap_or(0) + 1;
            let insert = cur.get(j).copied().unwrap_or(0) + 1;
            if let Some(slot) = cur.get_mut(j + 1) {
                *slot = substitute.min(delete).min(insert);
            }
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev.last().copied().unwrap_or(0).min(limit + 1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_and_case_insensitive_words() {
        assert_eq!(
            closest("rulez", ["rules", "rule", "backend"]),
            Some("rules")
        );
        assert_eq!(closest("Backend", ["rules", "backend"]), Some("backend"));
        assert_eq!(
            closest("loadbalancer", ["loadBalancer"]),
            Some("loadBalancer")
        );
        assert_eq!(closest("zzzzzz", ["rules", "backend"]), None);
        assert_eq!(closest("ab", ["url"]), None);
        assert_eq!(closest("ulr", ["name", "url"]), Some("url"));
        assert_eq!(levenshtein("kitten", "sitting", 5), 3);
    }
}
