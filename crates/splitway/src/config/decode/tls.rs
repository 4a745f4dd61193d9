//! A backend's `tls`: how the proxy verifies its `https` servers.

use std::path::PathBuf;

use super::*;

impl Decoder<'_> {
    /// `tls: {ca_file, server_name, insecure_skip_verify}` of the backend at `place`, whose
    /// servers are already read (a `tls` with no `https` server to apply to is a warning).
    pub(super) fn upstream_tls(
        &mut self,
        place: &str,
        key: &Key,
        node: &Node,
        servers: &[Server],
    ) -> Option<UpstreamTls> {
        let tls_place = format!("`tls` of {place}");
        let fields = self.fields(node, "a map", &tls_place, TLS_KEYS, &[])?;
        let mut ok = fields.unknown == 0;
        let ca_file = match fields.get("ca_file") {
            Some(n) => match self.string(n, "a file path") {
                Some("") => {
                    self.sink
                        .error(n.span.start, format!("{tls_place}: `ca_file` is empty"));
                    ok = false;
                    None
                }
                Some(path) => Some((PathBuf::from(path), n)),
                None => {
                    ok = false;
                    None
                }
            },
            None => None,
        };
        let server_name = match fields.get("server_name") {
            Some(n) => match self.string(n, "a DNS name or an IP address") {
                Some(name) if is_server_name(name) => Some(name.to_owned()),
                Some(name) => {
                    self.sink.error(
                        n.content_start,
                        format!(
                            "{tls_place}: `server_name` `{name}` is not a DNS name or an IP address"
                        ),
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
        let insecure_skip_verify = self.flag(&fields, "insecure_skip_verify", &mut ok);
        if let (Some((_, at)), true) = (&ca_file, insecure_skip_verify) {
            self.sink.error(
                at.span.start,
                format!(
                    "{tls_place} has both `ca_file` and `insecure_skip_verify: true`: one says \
                     which CA to trust, the other trusts any certificate; give one"
                ),
            );
            ok = false;
        }
        if ok && !servers.iter().any(|s| s.uri.scheme_str() == Some("https")) {
            self.sink.warn(
                key.span.start,
                format!("{place} has `tls` but no `https` server: it applies to none"),
            );
        }
        ok.then(|| UpstreamTls {
            ca_file: ca_file.map(|(path, _)| path),
            server_name,
            insecure_skip_verify,
        })
    }
}

/// Whether `name` can be a TLS server name: an IP address, or a DNS name of letters, digits,
/// `-` and `_` labels (1 to 63 bytes, no `-` at either end), at most 253 bytes.
fn is_server_name(name: &str) -> bool {
    if name.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::is_server_name;

    #[test]
    fn server_names_are_dns_names_or_addresses() {
        for good in [
            "api.internal",
            "localhost",
            "10.0.0.1",
            "::1",
            "a-b.example.com.",
        ] {
            assert!(is_server_name(good), "{good}");
        }
        for bad in ["", "a..b", "-a.example", "a b", "host:443", "*.example.com"] {
            assert!(!is_server_name(bad), "{bad}");
        }
    }
}
