//! The request that `explain` and `simulate` describe on the command line.

use std::net::IpAddr;

use clap::Args;
use http::{HeaderName, HeaderValue, Method, Request, Uri};
use splitway::Router;
use splitway::config::Config;

use crate::Fail;

/// One request, as the command line gives it.
#[derive(Debug, Args)]
pub(crate) struct RequestArgs {
    /// The method, used as given (case included).
    #[arg(long, default_value = "GET")]
    pub(crate) method: String,
    /// `http://host/path?query` (absolute form: its authority is the request's) or
    /// `/path?query` (origin form: give the host with `-H 'Host: ...'`). Required, except
    /// by `simulate --rollout`.
    #[arg(long)]
    pub(crate) url: Option<String>,
    /// A request header, `Name: value` (repeatable; repeated names give several lines).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub(crate) headers: Vec<String>,
    /// The TCP peer address that `ClientIP` and `client_ip` keys see.
    #[arg(long)]
    pub(crate) client_ip: Option<IpAddr>,
    /// Print JSON (the documented fields).
    #[arg(long)]
    pub(crate) json: bool,
}

impl RequestArgs {
    /// Builds the request; a malformed argument is reported and fails.
    pub(crate) fn build(&self) -> Result<Request<()>, Fail> {
        let method = Method::from_bytes(self.method.as_bytes())
            .map_err(|_| usage(&format!("invalid method `{}`", self.method)))?;
        let Some(url) = self.url.as_deref() else {
            return Err(usage("--url is required"));
        };
        let uri: Uri = url
            .parse()
            .map_err(|e| usage(&format!("invalid --url `{url}`: {e}")))?;
        if uri.scheme().is_none() && !url.starts_with('/') {
            return Err(usage(&format!(
                "--url `{url}` must be absolute (`http://host/path`) or start with `/`"
            )));
        }
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .body(())
            .map_err(|e| usage(&format!("invalid request: {e}")))?;
        for h in &self.headers {
            let (name, value) = parse_header(h)?;
            request.headers_mut().append(name, value);
        }
        Ok(request)
    }
}

/// `Name: value` → a header.
pub(crate) fn parse_header(text: &str) -> Result<(HeaderName, HeaderValue), Fail> {
    let Some((name, value)) = text.split_once(':') else {
        return Err(usage(&format!("header `{text}` is not `Name: value`")));
    };
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| usage(&format!("invalid header name in `{text}`")))?;
    let value = HeaderValue::from_str(value.trim_start())
        .map_err(|_| usage(&format!("invalid header value in `{text}`")))?;
    Ok((name, value))
}

/// Loads the config into a router, printing every diagnostic on failure.
pub(crate) fn load_router(path: &std::path::Path) -> Result<Router, Fail> {
    let loaded = Config::from_file(path).map_err(|err| {
        for d in &err.diagnostics {
            eprintln!("{d}");
        }
        Fail
    })?;
    Router::from_config(&loaded.config).map_err(|e| {
        eprintln!("{}:1:1: error: {e}", path.display());
        Fail
    })
}

/// Reports a usage error.
pub(crate) fn usage(message: &str) -> Fail {
    eprintln!("splitway: error: {message}");
    Fail
}
