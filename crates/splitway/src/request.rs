//! A borrowed view of one HTTP request: what rules look at.
//!
//! Normalisation (host lowercased and stripped of port, path decoding) is done once per
//! request, lazily, and without allocating in the common case (a lowercase host, a path with
//! no percent escapes and no dot segments).

use std::net::IpAddr;

use http::{HeaderMap, Method, Uri};

use crate::rule::PathForm;

/// What the router sees of a request. Cheap to build; borrows from the request.
#[derive(Debug)]
pub struct RequestView<'a> {
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    client_ip: Option<IpAddr>,
}

impl<'a> RequestView<'a> {
    /// A view over the parts of a request, with the TCP peer address when known.
    pub fn new(
        method: &'a Method,
        uri: &'a Uri,
        headers: &'a HeaderMap,
        client_ip: Option<IpAddr>,
    ) -> Self {
        RequestView {
            method,
            uri,
            headers,
            client_ip,
        }
    }

    /// A view over `http::request::Parts`.
    pub fn from_parts(parts: &'a http::request::Parts, client_ip: Option<IpAddr>) -> Self {
        RequestView::new(&parts.method, &parts.uri, &parts.headers, client_ip)
    }

    /// A view over a whole `http::Request` (the body is not looked at).
    pub fn from_request<B>(req: &'a http::Request<B>, client_ip: Option<IpAddr>) -> Self {
        RequestView::new(req.method(), req.uri(), req.headers(), client_ip)
    }

    /// The method as received.
    pub fn method(&self) -> &str {
        self.method.as_str()
    }

    /// The host, from the URI authority when non-empty, else the `Host` header: lowercased,
    /// without port, `[]` or trailing dot. `None` when there is none (or it is not text).
    pub fn host(&self) -> Option<&str> {
        todo!("rule helper")
    }

    /// The path in the given form (SPEC.md 3.3).
    pub fn path(&self, form: PathForm) -> &str {
        let _ = form;
        todo!("rule helper")
    }

    /// The raw query string (without `?`), if any.
    pub fn query(&self) -> Option<&str> {
        self.uri.query()
    }

    /// The request headers.
    pub fn headers(&self) -> &HeaderMap {
        self.headers
    }

    /// The TCP peer address.
    pub fn client_ip(&self) -> Option<IpAddr> {
        self.client_ip
    }

    /// The values of every cookie named `name`, over all `Cookie` header lines, in order.
    /// Lines that are not UTF-8 are skipped. Nothing is allocated.
    pub fn cookies<'n>(&self, name: &'n str) -> impl Iterator<Item = &'a str> + 'n
    where
        'a: 'n,
    {
        let headers: &'a HeaderMap = self.headers;
        headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| std::str::from_utf8(v.as_bytes()).ok())
            .flat_map(|line| line.split(';'))
            .filter_map(move |pair| {
                let (k, v) = pair.split_once('=')?;
                (k.trim() == name).then_some(v.trim())
            })
    }
}
