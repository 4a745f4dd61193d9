//! How a backend chooses: `balance`, `sticky`, `hash`, `health_check` and their Traefik v1
//! spellings (and, read in `tls`, how it reaches its servers).

use super::*;

impl Decoder<'_> {
    /// `balance`, `sticky`, `hash`, `health_check` and their Traefik v1 spellings.
    pub(super) fn backend_options(
        &mut self,
        place: &str,
        fields: &Fields<'_>,
        backend: &mut Backend,
    ) -> bool {
        let mut ok = true;
        let mut balance_from: Option<&Key> = None;
        let mut sticky_from: Option<&Key> = None;
        if let Some((key, node)) = fields.entry("balance") {
            balance_from = Some(key);
            match self.string(node, "`wrr` or `random`") {
                Some("wrr") => backend.balance = Balance::Wrr,
                Some("random") => backend.balance = Balance::Random,
                Some(other) => {
                    let hint = did_you_mean(other, ["wrr", "random"]);
                    self.sink.error(
                        node.content_start,
                        format!("unknown balance `{other}`: expected `wrr` or `random`{hint}"),
                    );
                    ok = false;
                }
                None => ok = false,
            }
        }
        if let Some((key, node)) = fields.entry("sticky") {
            sticky_from = Some(key);
            match self.sticky(place, node, &backend.name) {
                Some(s) => backend.sticky = Some(s),
                None => ok = false,
            }
        }
        if let Some((key, node)) = fields.entry("loadBalancer") {
            let lb_place = format!("`loadBalancer` of {place}");
            match self.fields(node, "a map", &lb_place, LOAD_BALANCER_KEYS, &[]) {
                Some(lb) => {
                    if let Some(method) = lb.get("method") {
                        if let Some(first) = balance_from {
                            self.conflict(key, first, "the balancing method");
                            ok = false;
                        }
                        match self.string(method, "`wrr` or `drr`") {
                            Some("wrr" | "drr") => backend.balance = Balance::Wrr,
                            Some(other) => {
                                let hint = did_you_mean(other, ["wrr", "drr"]);
                                self.sink.error(
                                    method.content_start,
                                    format!(
                                        "unknown load-balancer method `{other}`: expected `wrr` or `drr`{hint}"
                                    ),
                                );
                                ok = false;
                            }
                            None => ok = false,
                        }
                    }
                    let old_sticky = match lb.get("sticky") {
                        Some(n) => match self.boolean(n, "`true` or `false`") {
                            Some(b) => b,
                            None => {
                                ok = false;
                                false
                            }
                        },
                        None => false,
                    };
                    let stickiness = lb.get("stickiness");
                    if old_sticky || stickiness.is_some() {
                        if let Some(first) = sticky_from {
                            self.conflict(key, first, "stickiness");
                            ok = false;
                        }
                        let sticky = match stickiness {
                            Some(n) => self.stickiness(place, n, &backend.name),
                            None => Some(Sticky {
                                cookie: crate::config::traefik_cookie_name("", &backend.name),
                                secure: false,
                                http_only: false,
                                same_site: None,
                                max_age: None,
                            }),
                        };
                        match sticky {
                            Some(st) => backend.sticky = Some(st),
                            None => ok = false,
                        }
                    }
                }
                None => ok = false,
            }
        }
        if let Some((key, node)) = fields.entry("hash") {
            match self.hash(place, node, &backend.name) {
                Some(h) => backend.hash = Some(h),
                None => ok = false,
            }
            // A cohort already keeps each user on one server; a sticky cookie on top would
            // pin users against the cohort when weights change, and both would want to set a
            // cookie on the same response.
            if backend.sticky.is_some() {
                self.sink.error(
                    key.span.start,
                    format!(
                        "{place} has both `hash` and sticky cookies: use one (a cohort hash \
                         already keeps each user on one server)"
                    ),
                );
                ok = false;
            }
        }
        let health = match (fields.entry("health_check"), fields.entry("healthCheck")) {
            (Some(_), Some((second, _))) => {
                self.sink.error(
                    second.span.start,
                    "`health_check` and `healthCheck` are the same setting: give only one",
                );
                ok = false;
                None
            }
            (Some((_, n)), None) => Some((n, false)),
            (None, Some((_, n))) => Some((n, true)),
            (None, None) => None,
        };
        if let Some((node, traefik)) = health {
            match self.health_check(place, node, traefik) {
                Some(h) => backend.health_check = h,
                None => ok = false,
            }
        }
        if let Some((key, node)) = fields.entry("tls") {
            match self.upstream_tls(place, key, node, &backend.servers) {
                Some(tls) => backend.tls = Some(tls),
                None => ok = false,
            }
        }
        ok
    }

    pub(super) fn conflict(&mut self, second: &Key, first: &Key, what: &str) {
        self.sink.error(
            second.span.start,
            format!(
                "`{}` sets {what} again (already set by `{}`): give it once",
                second.text, first.text
            ),
        );
    }

    pub(super) fn sticky(&mut self, place: &str, node: &Node, backend: &str) -> Option<Sticky> {
        let fields = self.fields(
            node,
            "a map",
            &format!("`sticky` of {place}"),
            STICKY_KEYS,
            &[],
        )?;
        let mut ok = true;
        let cookie = match fields.get("cookie") {
            Some(n) => match self.string(n, "a cookie name") {
                Some(c) if is_token(c) => Some(c.to_owned()),
                Some(c) => {
                    self.sink.error(
                        n.content_start,
                        format!(
                            "`{c}` is not a valid cookie name (letters, digits and !#$%&'*+-.^_`|~ only)"
                        ),
                    );
                    None
                }
                None => None,
            },
            None => Some(crate::config::traefik_cookie_name("", backend)),
        };
        let secure = self.flag(&fields, "secure", &mut ok);
        let http_only = self.flag(&fields, "http_only", &mut ok);
        let same_site = match fields.get("same_site") {
            Some(n) => match self.string(n, "`none`, `lax` or `strict`") {
                Some(s) => match same_site_word(s) {
                    Some(v) => Some(Some(v)),
                    None => {
                        self.sink.error(
                            n.content_start,
                            format!("unknown same_site `{s}`: expected `none`, `lax` or `strict`"),
                        );
                        None
                    }
                },
                None => None,
            },
            None => Some(None),
        };
        let max_age = match fields.get("max_age") {
            Some(n) => self.integer(n, "a number of seconds").map(Some),
            None => Some(None),
        };
        let (cookie, same_site, max_age) = (cookie?, same_site?, max_age?);
        ok.then_some(Sticky {
            cookie,
            secure,
            http_only,
            same_site,
            max_age,
        })
    }

    /// Traefik 1.7's `[backends.X.loadBalancer.stickiness]`: `cookieName` (sanitised as
    /// Traefik does), `secure`, `httpOnly` and `sameSite` (`none`, `lax` or `strict`, any case;
    /// Traefik sets no SameSite for another value, so that is a warning, not an error).
    pub(super) fn stickiness(&mut self, place: &str, node: &Node, backend: &str) -> Option<Sticky> {
        let st_place = format!("`stickiness` of {place}");
        let fields = self.fields(node, "a map", &st_place, STICKINESS_KEYS, &[])?;
        let mut ok = fields.unknown == 0;
        let cookie = match fields.get("cookieName") {
            Some(c) => self.string(c, "a cookie name").map(str::to_owned),
            None => Some(String::new()),
        };
        let secure = self.flag(&fields, "secure", &mut ok);
        let http_only = self.flag(&fields, "httpOnly", &mut ok);
        let same_site = match fields.get("sameSite") {
            Some(n) => match self.string(n, "`none`, `lax` or `strict`") {
                Some(s) => match same_site_word(s) {
                    Some(v) => Some(Some(v)),
                    None => {
                        self.sink.warn(
                            n.content_start,
                            format!(
                                "sameSite `{s}` is not `none`, `lax` or `strict`; as in Traefik, \
                                 the cookie gets no SameSite attribute"
                            ),
                        );
                        Some(None)
                    }
                },
                None => None,
            },
            None => Some(None),
        };
        let (cookie, same_site) = (cookie?, same_site?);
        ok.then(|| Sticky {
            cookie: crate::config::traefik_cookie_name(&cookie, backend),
            secure,
            http_only,
            same_site,
            max_age: None,
        })
    }

    /// A boolean field, `false` when absent; a value of another type is reported and clears
    /// `ok`.
    pub(super) fn flag(&mut self, fields: &Fields<'_>, key: &str, ok: &mut bool) -> bool {
        match fields.get(key) {
            Some(n) => self.boolean(n, "`true` or `false`").unwrap_or_else(|| {
                *ok = false;
                false
            }),
            None => false,
        }
    }

    pub(super) fn hash(&mut self, place: &str, node: &Node, backend: &str) -> Option<Hash> {
        let hash_place = format!("`hash` of {place}");
        let fields = self.fields(node, "a map", &hash_place, HASH_KEYS, &[])?;
        let key = match fields.get("key") {
            Some(n) => self.hash_key(n),
            None => {
                self.sink.error(
                    node.span.start,
                    format!("{hash_place} has no `key` (`cookie:NAME`, `header:NAME`, `query:NAME` or `client_ip`)"),
                );
                None
            }
        };
        let seed = match fields.get("seed") {
            Some(n) => self.string(n, "a seed string").map(str::to_owned),
            None => Some(backend.to_owned()),
        };
        let issue = match fields.entry("issue_cookie") {
            Some((k, n)) => self.boolean(n, "`true` or `false`").map(|b| (b, Some(k))),
            None => Some((false, None)),
        };
        let (key, seed, (issue_cookie, issue_key)) = (key?, seed?, issue?);
        if issue_cookie && !matches!(key, HashKey::Cookie(_)) {
            self.sink.error(
                issue_key.map_or(node.span.start, |k| k.span.start),
                "`issue_cookie: true` needs a cookie key (`key: cookie:NAME`)",
            );
            return None;
        }
        Some(Hash {
            key,
            seed,
            issue_cookie,
        })
    }

    pub(super) fn hash_key(&mut self, node: &Node) -> Option<HashKey> {
        let text = self.string(
            node,
            "`cookie:NAME`, `header:NAME`, `query:NAME` or `client_ip`",
        )?;
        let at = node.content_start;
        const FORMS: &str = "`cookie:NAME`, `header:NAME`, `query:NAME` or `client_ip`";
        if text == "client_ip" {
            return Some(HashKey::ClientIp);
        }
        let Some((kind, name)) = text.split_once(':') else {
            let hint = did_you_mean(text, ["client_ip", "cookie", "header", "query"]);
            self.sink.error(
                at,
                format!("unknown hash key `{text}`: expected {FORMS}{hint}"),
            );
            return None;
        };
        let name_at = node.offset_in_str(kind.len() + 1);
        if !matches!(kind, "cookie" | "header" | "query") {
            let hint = closest(kind, ["cookie", "header", "query"])
                .map_or_else(String::new, |c| format!("; did you mean `{c}:{name}`?"));
            self.sink.error(
                at,
                format!("unknown hash key kind `{kind}` in `{text}`: expected {FORMS}{hint}"),
            );
            return None;
        }
        if name.is_empty() {
            self.sink.error(
                name_at,
                format!("hash key `{text}` has no name: write `{kind}:NAME`"),
            );
            return None;
        }
        match kind {
            "cookie" if is_token(name) => Some(HashKey::Cookie(name.to_owned())),
            "cookie" => {
                self.sink.error(
                    name_at,
                    format!("`{name}` is not a valid cookie name (letters, digits and !#$%&'*+-.^_`|~ only)"),
                );
                None
            }
            "header" => match http::HeaderName::from_bytes(name.as_bytes()) {
                Ok(h) => Some(HashKey::Header(h)),
                Err(_) => {
                    self.sink
                        .error(name_at, format!("`{name}` is not a valid header name"));
                    None
                }
            },
            _ => Some(HashKey::Query(name.to_owned())),
        }
    }

    /// `health_check` (ours) or `healthCheck` (Traefik v1). `Some(None)`: no checks (a
    /// Traefik table without `path`, which Traefik ignores too).
    pub(super) fn health_check(
        &mut self,
        place: &str,
        node: &Node,
        traefik: bool,
    ) -> Option<Option<HealthCheck>> {
        let name = if traefik {
            "healthCheck"
        } else {
            "health_check"
        };
        let hc_place = format!("`{name}` of {place}");
        let ignored = if traefik { HEALTH_TRAEFIK } else { &[] };
        let fields = self.fields(node, "a map", &hc_place, HEALTH_KEYS, ignored)?;
        let mut ok = true;
        let path = match fields.get("path") {
            Some(n) => match self.string(n, "a path string") {
                Some(p) if p.starts_with('/') => Some(p.to_owned()),
                Some(p) => {
                    self.sink.error(
                        n.content_start,
                        format!("health-check path `{p}` must start with `/`"),
                    );
                    ok = false;
                    None
                }
                None => {
                    ok = false;
                    None
                }
            },
            None => None,
        };
        let mut duration = |d: &mut Self, key: &str, default: Duration| match fields.get(key) {
            Some(n) => d.duration(n).unwrap_or_else(|| {
                ok = false;
                default
            }),
            None => default,
        };
        let interval = duration(self, "interval", DEFAULT_INTERVAL);
        let timeout = duration(self, "timeout", DEFAULT_TIMEOUT);
        let port = match fields.get("port") {
            Some(n) => match self.integer(n, "a port number") {
                Some(p) => match u16::try_from(p) {
                    Ok(p) if p > 0 => Some(p),
                    _ => {
                        self.sink.error(
                            n.span.start,
                            format!("port {p} is out of range (1 to 65535)"),
                        );
                        ok = false;
                        None
                    }
                },
                None => {
                    ok = false;
                    None
                }
            },
            None => None,
        };
        let hostname = match fields.get("hostname") {
            Some(n) => match self.string(n, "a host name") {
                Some(h) => Some(h.to_owned()),
                None => {
                    ok = false;
                    None
                }
            },
            None => None,
        };
        let mut headers = Vec::new();
        if let Some(n) = fields.get("headers") {
            match self.map(n, "a map of header names to values") {
                Some(entries) => {
                    for (k, v) in entries {
                        if http::HeaderName::from_bytes(k.text.as_bytes()).is_err() {
                            self.sink.error(
                                k.span.start,
                                format!("`{}` is not a valid header name", k.text),
                            );
                            ok = false;
                        }
                        match self.string(v, "a header value string") {
                            Some(value) => headers.push((k.text.clone(), value.to_owned())),
                            None => ok = false,
                        }
                    }
                }
                None => ok = false,
            }
        }
        if !ok {
            return None;
        }
        let Some(path) = path else {
            if traefik {
                self.sink.warn(
                    node.span.start,
                    format!("{hc_place} has no `path`: no health checks are run (as in Traefik)"),
                );
                return Some(None);
            }
            self.sink
                .error(node.span.start, format!("{hc_place} needs a `path`"));
            return None;
        };
        Some(Some(HealthCheck {
            path,
            interval,
            timeout,
            port,
            hostname,
            headers,
        }))
    }

    /// A Go duration string (`"30s"`, `"1m30s"`, `"500ms"`) or a number of seconds.
    pub(super) fn duration(&mut self, node: &Node) -> Option<Duration> {
        let parsed = match &node.kind {
            Kind::Int(i) if *i > 0 => u64::try_from(*i).ok().map(Duration::from_secs),
            Kind::Str(s) => parse_go_duration(s).filter(|d| !d.is_zero()),
            Kind::Int(_) => None,
            _ => {
                self.type_error(node, "a duration (`\"30s\"`, `\"1m\"`, `\"500ms\"`)");
                return None;
            }
        };
        if parsed.is_none() {
            let shown = match &node.kind {
                Kind::Str(s) => s.clone(),
                Kind::Int(i) => i.to_string(),
                _ => String::new(),
            };
            self.sink.error(
                node.content_start,
                format!(
                    "invalid duration `{shown}`: expected a positive Go duration like `30s`, `1m` or `500ms`"
                ),
            );
        }
        parsed
    }
}

/// Whether `s` is a cookie name: a non-empty RFC 7230 token.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.chars().all(is_tchar)
}

/// An RFC 7230 token character.
pub(crate) fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            '!' | '#'
                | '$'
                | '%'
                | '&'
                | '\''
                | '*'
                | '+'
                | '-'
                | '.'
                | '^'
                | '_'
                | '`'
                | '|'
                | '~'
        )
}

/// Parses Go's `time.ParseDuration` syntax: an optional sign, then one or more decimal
/// numbers each with a unit (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`); `"0"` alone is zero.
/// Negative durations are refused (`None`).
pub(crate) fn parse_go_duration(text: &str) -> Option<Duration> {
    let s = text.strip_prefix('+').unwrap_or(text);
    if s.starts_with('-') {
        return None;
    }
    if s == "0" {
        return Some(Duration::ZERO);
    }
    if s.is_empty() {
        return None;
    }
    let mut rest = s;
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        if number.is_empty() || number == "." {
            return None;
        }
        let value: f64 = number.parse().ok()?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let nanos_per = match unit {
            "ns" => 1e0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += value * nanos_per;
        rest = after;
    }
    if !total.is_finite() || total > 1e18 {
        return None;
    }
    // Truncation to whole nanoseconds, as Go does.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let nanos = total as u64;
    Some(Duration::from_nanos(nanos))
}

/// A `SameSite` value: `none`, `lax` or `strict`, in any case.
fn same_site_word(s: &str) -> Option<SameSite> {
    [
        ("none", SameSite::None),
        ("lax", SameSite::Lax),
        ("strict", SameSite::Strict),
    ]
    .into_iter()
    .find(|(word, _)| s.eq_ignore_ascii_case(word))
    .map(|(_, v)| v)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_go_duration("30"), None);
        assert_eq!(parse_go_duration("-1s"), None);
        assert_eq!(parse_go_duration("1x"), None);
        assert_eq!(parse_go_duration(""), None);
    }

    #[test]
    fn cookie_tokens() {
        assert!(is_token("_AUSER_TYPE"));
        assert!(!is_token(""));
        assert!(!is_token("a b"));
        assert!(!is_token("a;b"));
        assert!(!is_token("ç"));
    }
}
