//! Frontends: names, backends, priorities, and their rules (`rules`, `rule`, `routes`).

use super::*;

impl Decoder<'_> {
    pub(super) fn frontends(
        &mut self,
        key: &Key,
        node: &Node,
        backends: &[(String, &Key)],
        default_syntax: Syntax,
    ) -> Vec<Frontend> {
        let entries: &[(Key, Node)] = match &node.kind {
            Kind::Null => &[],
            _ => match self.map(node, "a map of frontends") {
                Some(e) => e,
                None => return Vec::new(),
            },
        };
        if entries.is_empty() {
            self.sink.error(
                key.span.start,
                "no frontends: a configuration that routes nothing is a mistake",
            );
            return Vec::new();
        }
        if entries.len() > MAX_FRONTENDS {
            self.sink.error(
                key.span.start,
                format!(
                    "too many frontends: {} (at most {MAX_FRONTENDS})",
                    entries.len()
                ),
            );
            return Vec::new();
        }
        let known: HashSet<&str> = backends.iter().map(|(n, _)| n.as_str()).collect();
        let mut out = Vec::with_capacity(entries.len());
        for (name, value) in entries {
            if let Some(f) = self.frontend(name, value, backends, &known, default_syntax) {
                out.push(f);
            }
        }
        out
    }

    pub(super) fn frontend(
        &mut self,
        name: &Key,
        node: &Node,
        backends: &[(String, &Key)],
        known: &HashSet<&str>,
        default_syntax: Syntax,
    ) -> Option<Frontend> {
        let place = format!("frontend `{}`", name.text);
        let fields = self.fields(
            node,
            "a map (a frontend)",
            &place,
            FRONTEND_KEYS,
            FRONTEND_TRAEFIK,
        )?;

        // The backend: checked even when the rule is bad, to report everything at once.
        let backend = match fields.get("backend") {
            Some(b) => self.string(b, "a backend name").map(|s| (s.to_owned(), b)),
            None => Some((name.text.clone(), node)),
        };
        let mut ok = true;
        if let Some((backend, at)) = &backend
            && !known.contains(backend.as_str())
        {
            {
                let hint = if self.backend_hints_left > 0 {
                    self.backend_hints_left -= 1;
                    did_you_mean(backend, backends.iter().map(|(n, _)| n.as_str()))
                } else {
                    String::new()
                };
                let at = if fields.get("backend").is_some() {
                    at.content_start
                } else {
                    name.span.start
                };
                self.sink.error(
                    at,
                    format!("{place} routes to backend `{backend}`, which does not exist{hint}"),
                );
                ok = false;
            }
        }

        let syntax = match fields.get("rule_syntax") {
            Some(n) => self.syntax(n),
            None => Some(default_syntax),
        };
        let priority = match fields.get("priority") {
            Some(n) => self.integer(n, "an integer priority").map(Some),
            None => Some(None),
        };
        let pass_host_header = match self.one_of(&fields, "passHostHeader", "pass_host_header") {
            Some(n) => self.boolean(n, "`true` or `false`"),
            None => Some(true),
        };

        let sources: Vec<(&Key, &Node)> = ["rules", "rule", "routes"]
            .iter()
            .filter_map(|k| fields.entry(k))
            .collect();
        let rule = match sources.as_slice() {
            [] => {
                // A misspelt `rules` was reported already; "no rule" would only repeat it.
                if fields.unknown == 0 {
                    self.sink.error(
                        name.span.start,
                        format!("{place} has no rule: give `rules`, `rule` or `routes`"),
                    );
                }
                None
            }
            [(key, value)] => match key.text.as_str() {
                "rules" => self.rules_list(&place, value),
                "routes" => self.routes(&place, value),
                _ => syntax.and_then(|s| self.single_rule(&place, value, s)),
            },
            [first, rest @ ..] => {
                for (key, _) in rest {
                    self.sink.error(
                        key.span.start,
                        format!(
                            "{place} has both `{}` and `{}`: give only one of `rules`, `rule` and `routes`",
                            first.0.text, key.text
                        ),
                    );
                }
                None
            }
        };

        let (rule, priority, pass_host_header, (backend, _)) =
            (rule?, priority?, pass_host_header?, backend?);
        if !ok {
            return None;
        }
        let explicit = match (priority, rule.syntax()) {
            (Some(p), Syntax::V1) if p > 0 => Some(p),
            (Some(p), Syntax::V2 | Syntax::V3) if p != 0 => Some(p),
            _ => None,
        };
        Some(Frontend {
            name: name.text.clone(),
            backend,
            priority: explicit.unwrap_or_else(|| rule.default_priority()),
            rule,
            pass_host_header,
        })
    }

    /// Reports a rule parse error inside the rule text.
    pub(super) fn rule_error(&mut self, place: &str, texts: &[&Node], e: &RuleError) {
        let at = texts
            .get(e.part)
            .or(texts.first())
            .map_or(0, |n| n.offset_in_str(e.span.start));
        self.sink
            .error(at, format!("invalid rule in {place}: {}", e.message));
    }

    pub(super) fn rules_list(&mut self, place: &str, node: &Node) -> Option<Rule> {
        let items = match &node.kind {
            Kind::Seq(items) => items,
            Kind::Str(_) => {
                self.type_error(
                    node,
                    "a list of rule strings (for one rule string, write `rule:`)",
                );
                return None;
            }
            _ => {
                self.type_error(node, "a list of rule strings");
                return None;
            }
        };
        if items.is_empty() {
            self.sink.error(
                node.span.start,
                format!("`rules` of {place} is empty: a frontend needs at least one rule"),
            );
            return None;
        }
        let mut texts = Vec::with_capacity(items.len());
        let mut nodes = Vec::with_capacity(items.len());
        for item in items {
            if let Some(s) = self.string(item, "a rule string") {
                texts.push(s);
                nodes.push(item);
            }
        }
        if texts.len() != items.len() {
            return None;
        }
        match Rule::parse_v1(&texts) {
            Ok(rule) => Some(rule),
            Err(e) => {
                self.rule_error(place, &nodes, &e);
                None
            }
        }
    }

    pub(super) fn single_rule(&mut self, place: &str, node: &Node, syntax: Syntax) -> Option<Rule> {
        let text = self.string(node, "a rule string")?;
        let parsed = if Rule::looks_like_v1(text) {
            Rule::parse_v1(&[text])
        } else {
            Rule::parse(text, syntax)
        };
        match parsed {
            Ok(rule) => Some(rule),
            Err(e) => {
                self.rule_error(place, &[node], &e);
                None
            }
        }
    }

    /// Traefik v1 routes: every route's rule, ANDed, in route-name order.
    pub(super) fn routes(&mut self, place: &str, node: &Node) -> Option<Rule> {
        let entries = self.map(node, "a map of routes")?;
        if entries.is_empty() {
            self.sink.error(
                node.span.start,
                format!("`routes` of {place} is empty: a frontend needs at least one rule"),
            );
            return None;
        }
        let mut routes: Vec<(&str, &Node)> = Vec::with_capacity(entries.len());
        let mut ok = true;
        for (key, value) in entries {
            let route_place = format!("route `{}` of {place}", key.text);
            let Some(fields) =
                self.fields(value, "a map with a `rule`", &route_place, ROUTE_KEYS, &[])
            else {
                ok = false;
                continue;
            };
            match fields.get("rule") {
                Some(rule) if rule.as_str().is_some() => routes.push((&key.text, rule)),
                Some(rule) => {
                    self.type_error(rule, "a rule string");
                    ok = false;
                }
                None => {
                    if fields.unknown == 0 {
                        self.sink
                            .error(key.span.start, format!("{route_place} has no `rule`"));
                    }
                    ok = false;
                }
            }
        }
        if !ok {
            return None;
        }
        routes.sort_by(|a, b| a.0.cmp(b.0));
        let texts: Vec<&str> = routes.iter().filter_map(|(_, n)| n.as_str()).collect();
        let nodes: Vec<&Node> = routes.iter().map(|(_, n)| *n).collect();
        match Rule::parse_v1(&texts) {
            Ok(rule) => Some(rule),
            Err(e) => {
                self.rule_error(place, &nodes, &e);
                None
            }
        }
    }
}
