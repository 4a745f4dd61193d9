//! Backends and their servers: the seed's list (with its `values` quirk) and Traefik v1's
//! table of servers; weights and URLs.

use super::*;

impl Decoder<'_> {
    pub(super) fn backends<'n>(
        &mut self,
        key: &Key,
        node: &'n Node,
    ) -> (Vec<Backend>, Vec<(String, &'n Key)>) {
        let entries: &[(Key, Node)] = match &node.kind {
            Kind::Null => &[],
            _ => match self.map(node, "a map of backends") {
                Some(e) => e,
                None => return (Vec::new(), Vec::new()),
            },
        };
        if entries.is_empty() {
            self.sink.error(
                key.span.start,
                "no backends: a configuration needs at least one backend",
            );
        }
        let names = entries.iter().map(|(k, _)| (k.text.clone(), k)).collect();
        let backends = entries
            .iter()
            .filter_map(|(name, value)| self.backend(name, value))
            .collect();
        (backends, names)
    }

    pub(super) fn backend(&mut self, name: &Key, node: &Node) -> Option<Backend> {
        let place = format!("backend `{}`", name.text);
        let mut backend = Backend {
            name: name.text.clone(),
            servers: Vec::new(),
            balance: Balance::Wrr,
            sticky: None,
            hash: None,
            health_check: None,
            tls: None,
        };
        let mut ok = true;
        match &node.kind {
            Kind::Seq(_) => backend.servers = self.server_list(&place, node)?,
            Kind::Map(_) => {
                let fields = self.fields(
                    node,
                    "a list of servers or a map with `servers`",
                    &place,
                    BACKEND_KEYS,
                    BACKEND_TRAEFIK,
                )?;
                if let Some(servers) = fields.get("servers") {
                    let servers = match &servers.kind {
                        Kind::Seq(_) => self.server_list(&place, servers),
                        Kind::Map(_) => self.traefik_servers(&place, servers),
                        Kind::Null => Some(Vec::new()),
                        _ => {
                            self.type_error(servers, "a list (or Traefik table) of servers");
                            None
                        }
                    };
                    match servers {
                        Some(s) => backend.servers = s,
                        None => ok = false,
                    }
                }
                ok &= self.backend_options(&place, &fields, &mut backend);
            }
            Kind::Null => {}
            _ => {
                self.type_error(node, "a list of servers or a map with `servers`");
                return None;
            }
        }
        if ok && backend.servers.is_empty() {
            self.sink
                .error(name.span.start, format!("{place} has no servers"));
            ok = false;
        }
        ok.then_some(backend)
    }

    /// The seed's list of servers.
    pub(super) fn server_list(&mut self, place: &str, node: &Node) -> Option<Vec<Server>> {
        let Kind::Seq(items) = &node.kind else {
            self.type_error(node, "a list of servers");
            return None;
        };
        let mut servers: Vec<(Server, usize)> = Vec::with_capacity(items.len());
        let mut ok = true;
        for item in items {
            match self.server(place, item) {
                Some((server, at)) => servers.push((server, at)),
                None => ok = false,
            }
        }
        ok &= self.unique_names(place, &servers);
        ok.then(|| servers.into_iter().map(|(s, _)| s).collect())
    }

    /// Reports servers of one backend that share a name.
    pub(super) fn unique_names(&mut self, place: &str, servers: &[(Server, usize)]) -> bool {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let mut ok = true;
        for (server, at) in servers {
            if seen.insert(&server.name, *at).is_some() {
                self.sink.error(
                    *at,
                    format!("duplicate server name `{}` in {place}", server.name),
                );
                ok = false;
            }
        }
        ok
    }

    /// One server of the seed's list; with the offset of its name, for duplicate reports.
    pub(super) fn server(&mut self, place: &str, node: &Node) -> Option<(Server, usize)> {
        let fields = self.fields(
            node,
            "a server (a map with `name` and `url`)",
            &format!("a server of {place}"),
            SERVER_KEYS,
            &[],
        )?;
        let mut ok = true;
        let name = match fields.get("name") {
            Some(n) => match self.string(n, "a server name") {
                Some("") => {
                    self.sink
                        .error(n.span.start, "a server name must not be empty");
                    None
                }
                Some(s) => Some((s.to_owned(), n.content_start)),
                None => None,
            },
            None => {
                self.sink.error(
                    node.span.start,
                    format!("a server of {place} has no `name`"),
                );
                None
            }
        };
        let server_place = match &name {
            Some((n, _)) => format!("server `{n}` of {place}"),
            None => format!("a server of {place}"),
        };
        let mut url: Option<(String, http::Uri)> = None;
        let mut weight: Option<u32> = None;
        let mut url_seen = false;
        let mut weight_seen = false;
        if let Some(n) = fields.get("url") {
            url_seen = true;
            match self.string(n, "a URL string") {
                Some(s) => match self.uri(s, n.content_start) {
                    Some(u) => url = Some((s.to_owned(), u)),
                    None => ok = false,
                },
                None => ok = false,
            }
        }
        if let Some(n) = fields.get("weight") {
            weight_seen = true;
            match self.weight(n) {
                Some(w) => weight = Some(w),
                None => ok = false,
            }
        }
        if let Some(values) = fields.get("values") {
            ok &= self.values(
                &server_place,
                values,
                (&mut url, &mut url_seen),
                (&mut weight, &mut weight_seen),
            );
        }
        let response = self.fixed_response(&server_place, &fields, url_seen, &mut ok);
        if !url_seen && response.is_none() {
            ok = false;
        }
        if !url_seen && fields.get("status").is_none() && fields.unknown == 0 {
            self.sink.error(
                node.span.start,
                format!("{server_place} has no `url` (or `status`, for a fixed response)"),
            );
            ok = false;
        }
        let (name, at) = name?;
        let (url, uri) = match response {
            Some(_) => (String::new(), http::Uri::from_static("/")),
            None => url?,
        };
        ok.then_some((
            Server {
                name,
                url,
                uri,
                weight: weight.unwrap_or(1),
                response,
            },
            at,
        ))
    }

    /// `status` and `body` of a fixed-response server (never beside `url`).
    fn fixed_response(
        &mut self,
        place: &str,
        fields: &Fields<'_>,
        url_seen: bool,
        ok: &mut bool,
    ) -> Option<FixedResponse> {
        let body = match fields.get("body") {
            Some(n) => match self.string(n, "a body string") {
                Some(s) => Some(s.to_owned()),
                None => {
                    *ok = false;
                    None
                }
            },
            None => None,
        };
        let Some(n) = fields.get("status") else {
            if let Some(b) = fields.get("body") {
                self.sink.error(
                    b.span.start,
                    format!("{place}: `body` goes with `status` (a fixed response)"),
                );
                *ok = false;
            }
            return None;
        };
        if url_seen {
            self.sink.error(
                n.span.start,
                format!("{place} has both `url` and `status`: a server forwards or answers itself, not both"),
            );
            *ok = false;
            return None;
        }
        match self.integer(n, "an HTTP status (100 to 599)") {
            Some(code @ 100..=599) => Some(FixedResponse {
                status: u16::try_from(code).unwrap_or(500),
                body,
            }),
            Some(code) => {
                self.sink.error(
                    n.span.start,
                    format!("{place}: status {code} is not an HTTP status (100 to 599)"),
                );
                *ok = false;
                None
            }
            None => {
                *ok = false;
                None
            }
        }
    }

    /// The talk's quirk: `values: ["weight = 5", "url = \"http://...\""]`.
    pub(super) fn values(
        &mut self,
        place: &str,
        node: &Node,
        url: (&mut Option<(String, http::Uri)>, &mut bool),
        weight: (&mut Option<u32>, &mut bool),
    ) -> bool {
        let Kind::Seq(items) = &node.kind else {
            self.type_error(node, "a list of `key = value` strings");
            return false;
        };
        let mut ok = true;
        for item in items {
            let Some(text) = self.string(item, "a `key = value` string") else {
                ok = false;
                continue;
            };
            let Some((key, value)) = text.split_once('=') else {
                self.sink.error(
                    item.content_start,
                    format!("expected `weight = N` or `url = \"...\"` in {place}, found `{text}`"),
                );
                ok = false;
                continue;
            };
            let key_at = item.offset_in_str(text.len() - text.trim_start().len());
            let value_offset = key.len() + 1 + (value.len() - value.trim_start().len());
            let value_at = item.offset_in_str(value_offset);
            let key = key.trim();
            let value = unquote(value.trim());
            match key {
                "weight" => {
                    if std::mem::replace(weight.1, true) {
                        self.sink
                            .error(key_at, format!("the weight of {place} is given twice"));
                        ok = false;
                    }
                    match self.weight_text(value, value_at) {
                        Some(w) => *weight.0 = Some(w),
                        None => ok = false,
                    }
                }
                "url" => {
                    if std::mem::replace(url.1, true) {
                        self.sink
                            .error(key_at, format!("the url of {place} is given twice"));
                        ok = false;
                    }
                    match self.uri(value, value_at) {
                        Some(u) => *url.0 = Some((value.to_owned(), u)),
                        None => ok = false,
                    }
                }
                other => {
                    let hint = did_you_mean(other, VALUES_KEYS.iter().copied());
                    self.sink.error(
                        key_at,
                        format!(
                            "unknown server setting `{other}` in `values` of {place}: expected `weight` or `url`{hint}"
                        ),
                    );
                    ok = false;
                }
            }
        }
        ok
    }

    /// Traefik v1's `[backends.NAME.servers.SERVER]` tables.
    pub(super) fn traefik_servers(&mut self, place: &str, node: &Node) -> Option<Vec<Server>> {
        let entries = self.map(node, "a table of servers")?;
        let mut servers = Vec::with_capacity(entries.len());
        let mut ok = true;
        for (name, value) in entries {
            let server_place = format!("server `{}` of {place}", name.text);
            let Some(fields) = self.fields(
                value,
                "a server table with `url` and `weight`",
                &server_place,
                TRAEFIK_SERVER_KEYS,
                &[],
            ) else {
                ok = false;
                continue;
            };
            let url = match fields.get("url") {
                Some(n) => self
                    .string(n, "a URL string")
                    .and_then(|s| self.uri(s, n.content_start).map(|u| (s.to_owned(), u))),
                None => {
                    if fields.unknown == 0 {
                        self.sink
                            .error(name.span.start, format!("{server_place} has no `url`"));
                    }
                    None
                }
            };
            let weight = match fields.get("weight") {
                Some(n) => {
                    let w = self.weight(n);
                    if w == Some(0) {
                        self.sink.warn(
                            n.span.start,
                            format!(
                                "{server_place} has weight 0: splitway drains it (Traefik 1.7 treated 0 as 1)"
                            ),
                        );
                    }
                    w
                }
                None => Some(1),
            };
            match (url, weight) {
                (Some((url, uri)), Some(weight)) => servers.push(Server {
                    name: name.text.clone(),
                    url,
                    uri,
                    weight,
                    response: None,
                }),
                _ => ok = false,
            }
        }
        ok.then_some(servers)
    }

    pub(super) fn weight(&mut self, node: &Node) -> Option<u32> {
        let result = match node.kind {
            Kind::Int(i) => check_weight_int(i),
            Kind::Float(f) => Err(if f.is_finite() && f.fract() == 0.0 && f > 0.0 {
                format!("weight {f} is too large (at most {MAX_WEIGHT})")
            } else {
                format!("a weight must be an integer, found {f}")
            }),
            _ => Err(format!(
                "expected an integer weight, found {}",
                node.describe()
            )),
        };
        result.map_err(|m| self.sink.error(node.span.start, m)).ok()
    }

    pub(super) fn weight_text(&mut self, text: &str, at: usize) -> Option<u32> {
        let result = if let Ok(i) = text.parse::<i64>() {
            check_weight_int(i)
        } else if text.bytes().all(|b| b.is_ascii_digit()) && !text.is_empty() {
            Err(format!("weight {text} is too large (at most {MAX_WEIGHT})"))
        } else if text.parse::<f64>().is_ok() {
            Err(format!("a weight must be an integer, found {text}"))
        } else {
            Err(format!("expected an integer weight, found `{text}`"))
        };
        result.map_err(|m| self.sink.error(at, m)).ok()
    }

    pub(super) fn uri(&mut self, text: &str, at: usize) -> Option<http::Uri> {
        match text.parse::<http::Uri>() {
            Err(e) => {
                self.sink
                    .error(at, format!("invalid server URL `{text}`: {e}"));
                None
            }
            Ok(uri) => match (uri.scheme_str(), uri.authority()) {
                (Some("http" | "https"), Some(a)) if !a.host().is_empty() => Some(uri),
                (Some(s), Some(_)) if s != "http" && s != "https" => {
                    self.sink.error(
                        at,
                        format!("server URL `{text}` must use http or https, not `{s}`"),
                    );
                    None
                }
                _ => {
                    self.sink.error(
                        at,
                        format!(
                            "server URL `{text}` must be absolute, with a scheme and a host (`http://host:port`)"
                        ),
                    );
                    None
                }
            },
        }
    }
}

fn check_weight_int(i: i64) -> Result<u32, String> {
    if i < 0 {
        return Err(format!("a weight must not be negative, found {i}"));
    }
    match u32::try_from(i) {
        Ok(w) if w <= MAX_WEIGHT => Ok(w),
        _ => Err(format!("weight {i} is too large (at most {MAX_WEIGHT})")),
    }
}

/// Strips one pair of matching quotes.
fn unquote(s: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q).and_then(|t| t.strip_suffix(q)) {
            return inner;
        }
    }
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn values_are_unquoted_once() {
        assert_eq!(unquote("\"http://a\""), "http://a");
        assert_eq!(unquote("'x'"), "x");
        assert_eq!(unquote("\"x"), "\"x");
    }
}
