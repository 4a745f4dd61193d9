//! The requests `diff` replays: read from JSON Lines or a Combined Log Format access log, or
//! generated from what the two configurations mention.

use std::net::IpAddr;

use splitway::config::{Config, HashKey};
use splitway_proxy::explain::RequestLine;

/// Most requests one diff replays.
pub(crate) const MAX_REQUESTS: usize = 2_000_000;

/// One request to replay: the form `POST /explain` reads too.
pub(crate) type Replay = RequestLine;

/// Reads `text` (named `file` in errors): JSON Lines when its first non-blank line starts
/// with `{`, else Combined Log Format, whose requests get `host` as their Host.
pub(crate) fn read(text: &str, file: &str, host: Option<&str>) -> Result<Vec<Replay>, String> {
    let json = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| l.trim_start().starts_with('{'));
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        if out.len() >= MAX_REQUESTS {
            return Err(format!(
                "{file}:{}:1: error: more than {MAX_REQUESTS} requests",
                n + 1
            ));
        }
        let parsed = if json {
            json_line(line, host)
        } else {
            clf_line(line, host)
        };
        out.push(parsed.map_err(|e| format!("{file}:{}:1: error: {e}", n + 1))?);
    }
    Ok(out)
}

/// `{"method","url","headers":[[name,value]...],"client_ip"}`; only `url` is required.
fn json_line(line: &str, host: Option<&str>) -> Result<Replay, String> {
    RequestLine::from_json(line, host).map_err(|e| e.to_string())
}

/// `IP - USER [TIME] "METHOD TARGET PROTO" STATUS BYTES "REFERER" "USER-AGENT"`.
fn clf_line(line: &str, host: Option<&str>) -> Result<Replay, String> {
    let (ip, rest) = line
        .split_once(' ')
        .ok_or("not a Combined Log Format line")?;
    let quoted: Vec<&str> = rest.split('"').collect();
    let request_line = quoted.get(1).ok_or("no quoted request line")?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err(format!(
            "request line `{request_line}` is not `METHOD TARGET PROTOCOL`"
        ));
    };
    let mut headers = Vec::new();
    for (i, name) in [(3, "referer"), (5, "user-agent")] {
        if let Some(v) = quoted.get(i).filter(|v| !v.is_empty() && **v != "-") {
            headers.push((name.to_owned(), (*v).to_owned()));
        }
    }
    let client_ip = ip.parse().ok();
    build(method, target, &headers, host, client_ip)
}

fn build(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    host: Option<&str>,
    client_ip: Option<IpAddr>,
) -> Result<Replay, String> {
    RequestLine::new(method, url, headers, host, client_ip).map_err(|e| e.to_string())
}

/// What the rules of some configurations mention, for generated requests.
#[derive(Default)]
struct Mentions {
    hosts: Vec<String>,
    paths: Vec<String>,
    headers: Vec<(String, String)>,
    cookies: Vec<(String, String)>,
}

impl Mentions {
    fn add(list: &mut Vec<String>, s: &str) {
        if !s.is_empty() && !list.iter().any(|x| x == s) {
            list.push(s.to_owned());
        }
    }

    fn pair(&mut self, name: &str, value: &str) {
        let value = literal(value);
        if name.eq_ignore_ascii_case("cookie") {
            if let Some((n, v)) = value.split_once('=')
                && !self.cookies.iter().any(|c| c.0 == n && c.1 == v)
            {
                self.cookies.push((n.to_owned(), v.to_owned()));
            }
        } else if !self.headers.iter().any(|h| h.0 == name && h.1 == value) {
            self.headers.push((name.to_owned(), value));
        }
    }

    /// Reads the matchers of one rule text, in either syntax.
    fn rule(&mut self, text: &str) {
        if splitway::rule::Rule::looks_like_v1(text) {
            for m in text.split(';') {
                let Some((name, args)) = m.split_once(':') else {
                    continue;
                };
                let args: Vec<&str> = args.split(',').map(str::trim).collect();
                match name.trim() {
                    "Host" => args.iter().for_each(|h| Self::add(&mut self.hosts, h)),
                    "Path" | "PathPrefix" | "PathStrip" | "PathPrefixStrip" => {
                        args.iter()
                            .filter(|p| !p.contains('{'))
                            .for_each(|p| Self::add(&mut self.paths, p));
                    }
                    "Headers" | "HeadersRegexp" => {
                        for pair in args.chunks(2) {
                            if let [n, v] = pair {
                                self.pair(n, v);
                            }
                        }
                    }
                    _ => {}
                }
            }
            return;
        }
        for (name, args) in calls(text) {
            let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("");
            match name.to_ascii_lowercase().as_str() {
                "host" | "hostheader" => args
                    .iter()
                    .filter(|h| !h.contains('*'))
                    .for_each(|h| Self::add(&mut self.hosts, h)),
                "path" | "pathprefix" => args.iter().for_each(|p| Self::add(&mut self.paths, p)),
                "header" | "headerregexp" | "headers" | "headersregexp" => {
                    self.pair(arg(0), arg(1))
                }
                "cookie" | "cookieregexp" => {
                    let v = literal(arg(1));
                    if !self.cookies.iter().any(|c| c.0 == arg(0) && c.1 == v) {
                        self.cookies.push((arg(0).to_owned(), v));
                    }
                }
                _ => {}
            }
        }
    }
}

/// A regex's literal text when it is one (anchors dropped), else the text as written.
fn literal(value: &str) -> String {
    let v = value.trim_start_matches('^').trim_end_matches('$');
    v.replace('\\', "")
}

/// `Name(args...)` calls of an expression, with backtick or double-quoted arguments.
fn calls(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut name = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_alphabetic() {
            name.push(c);
            continue;
        }
        if c == '(' && !name.is_empty() {
            let mut args = Vec::new();
            while let Some(&c) = chars.peek() {
                match c {
                    '`' => {
                        chars.next();
                        args.push(chars.by_ref().take_while(|&c| c != '`').collect());
                    }
                    '"' => {
                        chars.next();
                        let mut s = String::new();
                        while let Some(c) = chars.next() {
                            match c {
                                '\\' => s.extend(chars.next()),
                                '"' => break,
                                c => s.push(c),
                            }
                        }
                        args.push(s);
                    }
                    ')' => {
                        chars.next();
                        break;
                    }
                    '(' => break,
                    _ => {
                        chars.next();
                    }
                }
            }
            out.push((std::mem::take(&mut name), args));
            continue;
        }
        name.clear();
    }
    out
}

/// The cohort keys of some configurations, deduplicated.
pub(crate) fn hash_keys(configs: &[&Config]) -> Vec<HashKey> {
    let mut keys: Vec<HashKey> = Vec::new();
    for b in configs.iter().flat_map(|c| &c.backends) {
        if let Some(h) = &b.hash
            && !keys.contains(&h.key)
        {
            keys.push(h.key.clone());
        }
    }
    keys
}

/// For each of `users` users (`user-SEED-I`, I from 1), one request for every host, path and
/// header or cookie variant (none, then each mention) the configurations' rules mention,
/// carrying the user's id in every cohort key.
pub(crate) fn generate(
    configs: &[&Config],
    users: usize,
    seed: &str,
) -> Result<Vec<Replay>, String> {
    let mut m = Mentions::default();
    for f in configs.iter().flat_map(|c| &c.frontends) {
        for t in f.rule.texts() {
            m.rule(t);
        }
    }
    if m.hosts.is_empty() {
        m.hosts.push("localhost".to_owned());
    }
    if m.paths.is_empty() {
        m.paths.push("/".to_owned());
    }
    let keys = hash_keys(configs);
    let variants = 1 + m.headers.len() + m.cookies.len();
    let total = users
        .max(1)
        .saturating_mul(m.hosts.len() * m.paths.len() * variants);
    if total > MAX_REQUESTS {
        return Err(format!(
            "{total} requests to generate, more than {MAX_REQUESTS}: lower --users"
        ));
    }
    let mut out = Vec::with_capacity(total);
    for i in 1..=users.max(1) {
        let user = format!("user-{seed}-{i}");
        for host in &m.hosts {
            for path in &m.paths {
                for v in 0..variants {
                    let mut headers: Vec<(String, String)> = vec![("host".into(), host.clone())];
                    let mut cookies: Vec<String> = Vec::new();
                    let mut query = String::new();
                    for k in &keys {
                        match k {
                            HashKey::Cookie(name) => cookies.push(format!("{name}={user}")),
                            HashKey::Header(name) => {
                                headers.push((name.as_str().to_owned(), user.clone()))
                            }
                            HashKey::Query(name) => query = format!("?{name}={user}"),
                            // The client IP is set below; a kind not known here stays unset.
                            _ => {}
                        }
                    }
                    if let Some(h) = v.checked_sub(1).and_then(|j| m.headers.get(j)) {
                        headers.push(h.clone());
                    }
                    if let Some((n, val)) = v
                        .checked_sub(1 + m.headers.len())
                        .and_then(|j| m.cookies.get(j))
                    {
                        cookies.push(format!("{n}={val}"));
                    }
                    if !cookies.is_empty() {
                        headers.push(("cookie".into(), cookies.join("; ")));
                    }
                    let client_ip = keys.contains(&HashKey::ClientIp).then(|| user_ip(i));
                    out.push(build(
                        "GET",
                        &format!("{path}{query}"),
                        &headers,
                        None,
                        client_ip,
                    )?);
                }
            }
        }
    }
    Ok(out)
}

/// A distinct address for user `i` (10.x.y.z).
fn user_ip(i: usize) -> IpAddr {
    let n = u32::try_from(i).unwrap_or(u32::MAX) & 0x00ff_ffff;
    IpAddr::from([10, (n >> 16) as u8, (n >> 8) as u8, n as u8])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn combined_log_format_lines_give_method_target_referer_and_agent() {
        let r = read(
            r#"10.0.0.1 - - [01/Dec/2026:10:00:00 +0000] "POST /deals?x=1 HTTP/1.1" 200 512 "https://a/" "curl/8""#,
            "a.log",
            Some("web.agendor.com.br"),
        )
        .unwrap();
        let req = &r[0].request;
        assert_eq!(req.method(), "POST");
        assert_eq!(req.uri(), "/deals?x=1");
        assert_eq!(req.headers()["host"], "web.agendor.com.br");
        assert_eq!(req.headers()["referer"], "https://a/");
        assert_eq!(req.headers()["user-agent"], "curl/8");
        assert_eq!(r[0].client_ip, Some(IpAddr::from([10, 0, 0, 1])));
    }

    #[test]
    fn a_bad_json_line_is_a_located_error() {
        let err = read("{\"url\": \"/\"}\n\n{\"url\": 3}\n", "r.jsonl", None)
            .err()
            .unwrap();
        assert_eq!(err, "r.jsonl:3:1: error: no `url` string");
    }

    #[test]
    fn mentions_come_from_both_syntaxes() {
        let mut m = Mentions::default();
        m.rule("Host:a.com,b.com;HeadersRegexp:Cookie,_AUSER_TYPE=canary");
        m.rule(
            "Host(`c.com`) && PathPrefix(`/api`) && Header(`X-Canary`, \"on\") && Cookie(`k`, `v`)",
        );
        assert_eq!(m.hosts, ["a.com", "b.com", "c.com"]);
        assert_eq!(m.paths, ["/api"]);
        assert_eq!(m.headers, [("X-Canary".to_owned(), "on".to_owned())]);
        assert_eq!(
            m.cookies,
            [
                ("_AUSER_TYPE".to_owned(), "canary".to_owned()),
                ("k".to_owned(), "v".to_owned())
            ]
        );
    }
}
