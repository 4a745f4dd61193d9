//! Sticky cookies, Traefik's way: the first response names the server in a cookie, later
//! requests carrying a valid cookie go back to that server.
//!
//! The value is Traefik v3's: the first 16 hex digits of SHA-256 of the server's URL as written
//! in the configuration, so a team migrating from Traefik v3 keeps its users where they are and
//! the URL never shows. Traefik 1.7 wrote the URL itself; such a value is honoured too, and the
//! cookie is then rewritten to the v3 form.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use crate::config::{SameSite, Sticky};

/// The v3 cookie value for a server URL: 16 lowercase hex digits of SHA-256(url).
pub(crate) fn cookie_value(url: &str) -> String {
    let digest = Sha256::digest(url.as_bytes());
    let mut out = String::with_capacity(16);
    for byte in digest.iter().take(8) {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// How a request's sticky cookie named a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Named {
    /// The v3 hash form: honour it, set nothing.
    Current(usize),
    /// Traefik 1.7's URL form: honour it and rewrite the cookie.
    Legacy(usize),
}

/// A backend's sticky settings with each server's cookie value precomputed.
#[derive(Debug)]
pub(crate) struct StickyCookie {
    settings: Sticky,
    /// `cookie_value(url)` for each server, in server order.
    values: Vec<String>,
    /// Each server's URL as written (Traefik 1.7's cookie value).
    urls: Vec<String>,
}

impl StickyCookie {
    pub(crate) fn new<'a>(settings: &Sticky, urls: impl Iterator<Item = &'a str>) -> Self {
        let urls: Vec<String> = urls.map(str::to_owned).collect();
        StickyCookie {
            settings: settings.clone(),
            values: urls.iter().map(|u| cookie_value(u)).collect(),
            urls,
        }
    }

    /// The cookie's name.
    pub(crate) fn name(&self) -> &str {
        &self.settings.cookie
    }

    /// The server a cookie value names, if any.
    pub(crate) fn lookup(&self, value: &str) -> Option<Named> {
        if let Some(i) = self.values.iter().position(|v| v == value) {
            return Some(Named::Current(i));
        }
        self.urls.iter().position(|u| u == value).map(Named::Legacy)
    }

    /// The whole `Set-Cookie` header value naming server `index`.
    pub(crate) fn set_cookie(&self, index: usize) -> Option<String> {
        let value = self.values.get(index)?;
        Some(set_cookie_header(
            &self.settings.cookie,
            value,
            &self.settings,
        ))
    }
}

/// `NAME=VALUE; Path=/` followed by the attributes `settings` asks for.
pub(crate) fn set_cookie_header(name: &str, value: &str, settings: &Sticky) -> String {
    let mut out = format!("{name}={value}; Path=/");
    if let Some(max_age) = settings.max_age {
        let _ = write!(out, "; Max-Age={max_age}");
    }
    if settings.secure {
        out.push_str("; Secure");
    }
    if settings.http_only {
        out.push_str("; HttpOnly");
    }
    match settings.same_site {
        Some(SameSite::None) => out.push_str("; SameSite=None"),
        Some(SameSite::Lax) => out.push_str("; SameSite=Lax"),
        Some(SameSite::Strict) => out.push_str("; SameSite=Strict"),
        None => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Sticky {
        Sticky {
            cookie: "srv".into(),
            secure: false,
            http_only: false,
            same_site: None,
            max_age: None,
        }
    }

    #[test]
    fn value_is_16_hex_of_sha256_of_the_url() {
        // Vectors from `printf %s URL | sha256sum`.
        assert_eq!(cookie_value("http://127.0.0.1:8080"), "d30a576c03187167");
        assert_eq!(
            cookie_value("http://agendor-web-canary.production.svc.cluster.local"),
            "e6382b9497c2a34e"
        );
        assert_eq!(cookie_value(""), "e3b0c44298fc1c14");
    }

    #[test]
    fn lookup_knows_both_forms() {
        let urls = ["http://a.internal", "http://b.internal"];
        let s = StickyCookie::new(&settings(), urls.into_iter());
        assert_eq!(
            s.lookup(&cookie_value("http://b.internal")),
            Some(Named::Current(1))
        );
        assert_eq!(s.lookup("http://a.internal"), Some(Named::Legacy(0)));
        assert_eq!(s.lookup("http://c.internal"), None);
        assert_eq!(s.lookup("garbage"), None);
    }

    #[test]
    fn set_cookie_carries_the_attributes_in_a_fixed_order() {
        let mut st = settings();
        assert_eq!(set_cookie_header("srv", "v", &st), "srv=v; Path=/");
        st.secure = true;
        st.http_only = true;
        st.same_site = Some(SameSite::Lax);
        st.max_age = Some(3600);
        assert_eq!(
            set_cookie_header("srv", "v", &st),
            "srv=v; Path=/; Max-Age=3600; Secure; HttpOnly; SameSite=Lax"
        );
    }
}
