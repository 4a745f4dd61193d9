//! The top-level settings for a proxy that faces the internet: `signed_cookies:` (their key
//! files read here, relative to the configuration file's directory) and `upgrade_protocols:`.

use super::options::is_token;
use super::*;
use crate::signed_cookie::{DEFAULT_MAX_AGE, SignedCookie, SigningKey};

const SIGNED_COOKIE_KEYS: &[&str] = &["keys", "max_age"];

/// Whether backend `b` sets cookie `name` itself: its sticky cookie, or a cohort key it
/// issues.
fn issues(b: &Backend, name: &str) -> bool {
    b.sticky.as_ref().is_some_and(|s| s.cookie == name)
        || b.hash
            .as_ref()
            .is_some_and(|h| h.issue_cookie && matches!(&h.key, HashKey::Cookie(c) if c == name))
}

/// Upgrade protocols refused even when listed: `h2c` turns the connection to the server into
/// HTTP/2 that the proxy would no longer read (the h2c-smuggling shape).
const REFUSED_UPGRADES: &[&str] = &["h2c"];

impl Decoder<'_> {
    /// `signed_cookies:`, a map from cookie names to `{keys: [FILE...], max_age}`, checked
    /// against the cookies splitway issues itself (which it would issue unsigned, then refuse).
    pub(super) fn signed_cookies(
        &mut self,
        node: &Node,
        backends: &[Backend],
    ) -> Vec<SignedCookie> {
        let entries: &[(Key, Node)] = match &node.kind {
            Kind::Null => &[],
            _ => match self.map(node, "a map of cookie names to `{keys, max_age}`") {
                Some(e) => e,
                None => return Vec::new(),
            },
        };
        let mut out = Vec::new();
        for (key, value) in entries {
            if !is_token(&key.text) {
                self.sink.error(
                    key.span.start,
                    format!(
                        "`{}` is not a cookie name (a token: no spaces, `=`, `;` or quotes)",
                        key.text
                    ),
                );
            }
            if let Some(issuer) = backends.iter().find(|b| issues(b, &key.text)) {
                self.sink.error(
                    key.span.start,
                    format!(
                        "`{}` cannot be signed: backend `{}` issues it itself (a sticky or \
                         issue_cookie cookie), unsigned, and would then refuse it",
                        key.text, issuer.name
                    ),
                );
            }
            if let Some(cookie) = self.signed_cookie(key, value) {
                out.push(cookie);
            }
        }
        out
    }

    fn signed_cookie(&mut self, key: &Key, node: &Node) -> Option<SignedCookie> {
        let place = format!("signed cookie `{}`", key.text);
        let fields = self.fields(
            node,
            "a signed cookie (a map with `keys`)",
            &place,
            SIGNED_COOKIE_KEYS,
            &[],
        )?;
        let max_age = match fields.get("max_age") {
            Some(n) => self.duration(n),
            None => Some(DEFAULT_MAX_AGE),
        };
        let keys = match fields.get("keys") {
            Some(list) => self.key_files(list),
            None => {
                if fields.unknown == 0 {
                    self.sink.error(
                        node.span.start,
                        format!("{place} has no `keys`: it needs at least one key file"),
                    );
                }
                None
            }
        };
        Some(SignedCookie::new(key.text.clone(), keys?, max_age?))
    }

    /// A non-empty list of key file names, each read and checked.
    fn key_files(&mut self, node: &Node) -> Option<Vec<SigningKey>> {
        let Kind::Seq(items) = &node.kind else {
            self.type_error(node, "a list of key files");
            return None;
        };
        if items.is_empty() {
            self.sink.error(
                node.span.start,
                "`keys` is empty: it needs at least one key file",
            );
            return None;
        }
        let mut keys = Vec::with_capacity(items.len());
        let mut ok = true;
        for item in items {
            let Some(file) = self.string(item, "a key file name") else {
                ok = false;
                continue;
            };
            match SigningKey::from_file(&self.base.join(file)) {
                Ok(key) => keys.push(key),
                Err(reason) => {
                    self.sink
                        .error(item.content_start, format!("key file `{file}`: {reason}"));
                    ok = false;
                }
            }
        }
        ok.then_some(keys)
    }

    /// `upgrade_protocols:`, a list of protocol names (compared without case); `h2c` is
    /// refused.
    pub(super) fn upgrade_protocols(&mut self, node: &Node) -> Vec<String> {
        let Kind::Seq(items) = &node.kind else {
            self.type_error(node, "a list of protocol names, like `[websocket]`");
            return Vec::new();
        };
        let mut out: Vec<String> = Vec::with_capacity(items.len());
        for item in items {
            let Some(name) = self.string(item, "a protocol name") else {
                continue;
            };
            let lower = name.to_ascii_lowercase();
            if REFUSED_UPGRADES.contains(&lower.as_str()) {
                self.sink.error(
                    item.content_start,
                    format!(
                        "`{name}` upgrades are never forwarded: the server's side would become \
                         HTTP/2 that the proxy no longer reads (request smuggling)"
                    ),
                );
            } else if !is_token(name) || name.contains('/') {
                self.sink.error(
                    item.content_start,
                    format!("`{name}` is not a protocol name (a token such as `websocket`)"),
                );
            } else if !out.contains(&lower) {
                out.push(lower);
            }
        }
        out
    }
}
