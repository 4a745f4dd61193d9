//! Signed cookies: a cookie whose value the router believes only when it carries a valid
//! signature, so that nobody can enrol themselves into a canary by setting the cookie a rule
//! looks at (the talk's `_AUSER_TYPE=canary`).
//!
//! The format (crates/splitway/docs/signed-cookies.md has test vectors and a PHP signer):
//!
//! ```text
//! NAME=VALUE.EXPIRY.SIGNATURE
//! EXPIRY     Unix time in seconds (ASCII digits) after which the value is refused
//! SIGNATURE  base64url without padding of HMAC-SHA256(key, "NAME=VALUE.EXPIRY")
//! ```
//!
//! The wire value is split at its last two dots, so VALUE may itself hold dots. A value is
//! believed when its signature is right under any of the cookie's keys (the first key signs;
//! the others only verify, for rotation), `EXPIRY >= now`, and `EXPIRY <= now + max_age +`
//! [`CLOCK_SKEW`]: a value that claims to live longer than the configuration allows was not
//! signed under this configuration's policy (or was signed with a key that leaked long ago),
//! and is refused; the skew keeps a signer whose clock runs a little ahead from being refused.
//!
//! What rules see: for every configured name, each piece of the request's `Cookie` headers
//! with that name is replaced by `NAME=VALUE` when it verifies and removed when it does not.
//! Cookie matchers, header matchers on `Cookie`, sticky cookies and cohort hashes keyed on
//! the cookie all read that verified form; the request forwarded to the server is unchanged.
//! A request that carries none of the configured names is routed as it is, without
//! allocating; with no signed cookies configured, nothing changes at all.
//!
//! ```
//! use splitway::signed_cookie::{SignedCookie, SigningKey, Verdict};
//! use std::time::Duration;
//!
//! let key = SigningKey::new(b"0123456789abcdef0123456789abcdef".to_vec()).unwrap();
//! let cookie = SignedCookie::new("_AUSER_TYPE", vec![key], Duration::from_secs(86_400));
//! let wire = cookie.sign("canary", 1_700_000_000).unwrap();
//! assert_eq!(cookie.verify(&wire, 1_699_990_000), Verdict::Valid("canary"));
//! assert_eq!(cookie.verify(&wire, 1_700_000_001), Verdict::Expired);
//! assert_eq!(cookie.verify("canary", 1_699_990_000), Verdict::Malformed);
//! ```

use std::fmt;
use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use http::{HeaderMap, HeaderValue};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The shortest key accepted, in bytes (SHA-256's output size: a shorter key is weaker than
/// the hash).
pub const MIN_KEY_BYTES: usize = 32;

/// The largest key file read, in bytes: a key is a short secret, and a bigger file is more
/// likely the wrong file.
pub const MAX_KEY_FILE_BYTES: usize = 4096;

/// How far past `now + max_age` an expiry may lie and still be believed: room for a signer
/// whose clock runs ahead of the router's.
pub const CLOCK_SKEW: Duration = Duration::from_secs(300);

/// `max_age` when the configuration gives none, and the default of `splitway sign`: 30 days.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(30 * 86_400);

/// Most pieces of one request's `Cookie` headers that are checked against a signature. A
/// browser sends a cookie name once per path it was set on; the cap bounds the HMACs one
/// crafted header can make the router compute. Further pieces with a signed name are removed
/// as unverified.
pub const MAX_VERIFIED_PER_REQUEST: usize = 8;

/// A key that signs or verifies: at least [`MIN_KEY_BYTES`] bytes. Its `Debug` shows only
/// its length.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey(Arc<[u8]>);

/// A key that cannot be used, or a key file that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Fewer than [`MIN_KEY_BYTES`] bytes (in a file: less one trailing newline).
    #[error(
        "the key is {len} bytes; a key needs at least {MIN_KEY_BYTES} \
         (e.g. `openssl rand -hex 32 > FILE`)"
    )]
    TooShort {
        /// Its length.
        len: usize,
    },
    /// The file could not be read.
    #[error("cannot read it: {0}")]
    Unreadable(String),
    /// Not a regular file (a FIFO or a device could block, or never end).
    #[error("not a regular file")]
    NotAFile,
    /// Larger than [`MAX_KEY_FILE_BYTES`].
    #[error("larger than the {MAX_KEY_FILE_BYTES} bytes a key file may hold")]
    TooLarge,
}

impl SigningKey {
    /// A key of exactly these bytes.
    pub fn new(bytes: Vec<u8>) -> Result<SigningKey, KeyError> {
        if bytes.len() < MIN_KEY_BYTES {
            return Err(KeyError::TooShort { len: bytes.len() });
        }
        Ok(SigningKey(bytes.into()))
    }

    /// The key a key file holds: its bytes less one trailing newline (`\n`), as `echo` or an
    /// editor leaves it.
    pub fn from_file_bytes(mut bytes: Vec<u8>) -> Result<SigningKey, KeyError> {
        if bytes.last() == Some(&b'\n') {
            bytes.pop();
        }
        SigningKey::new(bytes)
    }

    /// Reads a key file ([`SigningKey::from_file_bytes`]): a regular file of at most
    /// [`MAX_KEY_FILE_BYTES`].
    pub fn from_file(path: &Path) -> Result<SigningKey, KeyError> {
        let unreadable = |e: std::io::Error| KeyError::Unreadable(e.to_string());
        if !std::fs::metadata(path).map_err(unreadable)?.is_file() {
            return Err(KeyError::NotAFile);
        }
        let file = std::fs::File::open(path).map_err(unreadable)?;
        let mut bytes = Vec::new();
        let limit = u64::try_from(MAX_KEY_FILE_BYTES).unwrap_or(u64::MAX) + 1;
        file.take(limit)
            .read_to_end(&mut bytes)
            .map_err(unreadable)?;
        if bytes.len() > MAX_KEY_FILE_BYTES {
            return Err(KeyError::TooLarge);
        }
        SigningKey::from_file_bytes(bytes)
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes a key of any length; the error is for fixed-size MACs.
        match HmacSha256::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC accepts keys of any length"),
        }
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({} bytes)", self.0.len())
    }
}

/// One signed cookie of the configuration (`signed_cookies: {NAME: {keys, max_age}}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCookie {
    /// The cookie's name.
    pub name: String,
    /// Its keys: the first signs, every one verifies. Never empty in a loaded configuration.
    pub keys: Vec<SigningKey>,
    /// The longest life a value may claim (see the module docs).
    pub max_age: Duration,
}

/// What [`SignedCookie::verify`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict<'w> {
    /// Signed by one of the keys and within its life: the VALUE.
    Valid(&'w str),
    /// Not `VALUE.EXPIRY.SIGNATURE` (no two dots, an expiry that is not digits, a signature
    /// that is not 43 base64url characters).
    Malformed,
    /// The signature is not right under any key (forged, altered, or another key's).
    BadSignature,
    /// Signed, but its expiry has passed.
    Expired,
    /// Signed, but its expiry is further than `max_age` (and [`CLOCK_SKEW`]) away.
    TooLongLived,
}

impl SignedCookie {
    /// A signed cookie called `name` with these keys (the first signs).
    pub fn new(name: impl Into<String>, keys: Vec<SigningKey>, max_age: Duration) -> Self {
        SignedCookie {
            name: name.into(),
            keys,
            max_age,
        }
    }

    /// The wire value of `value` expiring at `expiry` (Unix seconds), signed with the first
    /// key; `None` when there is no key.
    pub fn sign(&self, value: &str, expiry: u64) -> Option<String> {
        let key = self.keys.first()?;
        Some(sign(key, &self.name, value, expiry))
    }

    /// Checks a wire value at `now` (Unix seconds).
    pub fn verify<'w>(&self, wire: &'w str, now: u64) -> Verdict<'w> {
        let Some((signed, signature)) = wire.rsplit_once('.') else {
            return Verdict::Malformed;
        };
        let Some((value, expiry_text)) = signed.rsplit_once('.') else {
            return Verdict::Malformed;
        };
        let expiry = match parse_expiry(expiry_text) {
            Some(e) => e,
            None => return Verdict::Malformed,
        };
        let Some(signature) = decode_signature(signature) else {
            return Verdict::Malformed;
        };
        let signed_by_a_key = self.keys.iter().any(|key| {
            let mut mac = key.mac();
            feed(&mut mac, &self.name, value, expiry_text);
            // `verify_slice` compares in constant time.
            mac.verify_slice(&signature).is_ok()
        });
        if !signed_by_a_key {
            Verdict::BadSignature
        } else if expiry < now {
            Verdict::Expired
        } else if expiry > now.saturating_add(self.max_age.as_secs() + CLOCK_SKEW.as_secs()) {
            Verdict::TooLongLived
        } else {
            Verdict::Valid(value)
        }
    }
}

/// The wire value `VALUE.EXPIRY.SIGNATURE` of cookie `name` holding `value`, expiring at
/// `expiry` (Unix seconds), signed with `key`.
pub fn sign(key: &SigningKey, name: &str, value: &str, expiry: u64) -> String {
    let expiry = expiry.to_string();
    let mut mac = key.mac();
    feed(&mut mac, name, value, &expiry);
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{value}.{expiry}.{signature}")
}

/// `NAME=VALUE.EXPIRY` into the MAC.
fn feed(mac: &mut HmacSha256, name: &str, value: &str, expiry: &str) {
    mac.update(name.as_bytes());
    mac.update(b"=");
    mac.update(value.as_bytes());
    mac.update(b".");
    mac.update(expiry.as_bytes());
}

/// Unix seconds as ASCII digits (at most 20, so they fit a `u64`); anything else is `None`.
fn parse_expiry(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The 32 bytes of a base64url, unpadded signature: exactly 43 characters, in canonical form
/// (the decoder refuses set bits past the last byte).
fn decode_signature(text: &str) -> Option<Vec<u8>> {
    if text.len() != 43 {
        return None;
    }
    URL_SAFE_NO_PAD.decode(text).ok().filter(|b| b.len() == 32)
}

/// Seconds since the Unix epoch at `time` (0 before it).
pub(crate) fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `headers` with every piece of its `Cookie` lines that names one of `cookies` replaced by
/// `NAME=VALUE` when it verifies at `now()` and removed when it does not (see the module
/// docs); `None` when no piece names one, so that nothing needs to change (and nothing was
/// allocated). `now` is only asked when a piece needs checking.
pub(crate) fn verified_headers(
    cookies: &[SignedCookie],
    headers: &HeaderMap,
    now: impl FnOnce() -> u64,
) -> Option<HeaderMap> {
    let lines = headers.get_all(http::header::COOKIE);
    let signed_piece = |piece: &[u8]| signed_name(cookies, split_piece(piece).0).is_some();
    if !lines
        .iter()
        .any(|line| line.as_bytes().split(|&b| b == b';').any(signed_piece))
    {
        return None;
    }
    let now = now();
    let mut checked = 0;
    let mut rewritten = Vec::new();
    for line in lines {
        let mut out: Vec<u8> = Vec::with_capacity(line.len());
        for piece in line.as_bytes().split(|&b| b == b';') {
            let trimmed = piece.trim_ascii();
            if trimmed.is_empty() {
                continue;
            }
            let (name, value) = split_piece(trimmed);
            let kept: Option<[&[u8]; 3]> = match signed_name(cookies, name) {
                None => Some([trimmed, b"", b""]),
                Some(cookie) => {
                    checked += 1;
                    (checked <= MAX_VERIFIED_PER_REQUEST)
                        .then(|| verified_value(cookie, value, now))
                        .flatten()
                        .map(|v| [name, b"=", v])
                }
            };
            if let Some(parts) = kept {
                if !out.is_empty() {
                    out.extend_from_slice(b"; ");
                }
                parts.iter().for_each(|p| out.extend_from_slice(p));
            }
        }
        // Pieces of a valid header value, joined by "; ": still a valid header value.
        if let Ok(value) = HeaderValue::from_bytes(&out)
            && !out.is_empty()
        {
            rewritten.push(value);
        }
    }
    let mut verified = headers.clone();
    verified.remove(http::header::COOKIE);
    for value in rewritten {
        verified.append(http::header::COOKIE, value);
    }
    Some(verified)
}

/// A trimmed cookie piece's name and value (`name` alone: an empty value), as
/// [`crate::RequestView::cookies`] reads them.
fn split_piece(piece: &[u8]) -> (&[u8], &[u8]) {
    let piece = piece.trim_ascii();
    match piece.iter().position(|&b| b == b'=') {
        Some(eq) => (
            piece.get(..eq).unwrap_or_default(),
            piece.get(eq + 1..).unwrap_or_default(),
        ),
        None => (piece, &[]),
    }
}

/// The VALUE of a signed piece's raw value (quotes allowed, as browsers may send them) when
/// it verifies at `now`.
fn verified_value<'v>(cookie: &SignedCookie, raw: &'v [u8], now: u64) -> Option<&'v [u8]> {
    let raw = raw
        .strip_prefix(b"\"")
        .and_then(|v| v.strip_suffix(b"\""))
        .unwrap_or(raw);
    match cookie.verify(std::str::from_utf8(raw).ok()?, now) {
        Verdict::Valid(value) => Some(value.as_bytes()),
        _ => None,
    }
}

fn signed_name<'c>(cookies: &'c [SignedCookie], name: &[u8]) -> Option<&'c SignedCookie> {
    cookies.iter().find(|c| c.name.as_bytes() == name)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const KEY: &[u8; 32] = b"0123456789abcdef0123456789abcdef";

    fn cookie(keys: &[&[u8]]) -> SignedCookie {
        SignedCookie::new(
            "_AUSER_TYPE",
            keys.iter()
                .map(|k| SigningKey::new(k.to_vec()).unwrap())
                .collect(),
            Duration::from_secs(86_400),
        )
    }

    /// The test vectors as docs/signed-cookies.md gives them (rows of its table, computed
    /// there with `openssl dgst -sha256 -hmac` and `basenc --base64url`): this
    /// implementation must agree with the page, and the page with a second implementation.
    #[test]
    fn documented_test_vectors() {
        let doc = include_str!("../docs/signed-cookies.md");
        assert!(doc.contains(&format!(
            "Key: the 32 bytes `{}`",
            std::str::from_utf8(KEY).unwrap()
        )));
        let key = SigningKey::new(KEY.to_vec()).unwrap();
        let mut rows = 0;
        for line in doc.lines().filter(|l| l.starts_with("| `")) {
            let cells: Vec<&str> = line
                .split('|')
                .map(|c| c.trim().trim_matches('`'))
                .filter(|c| !c.is_empty())
                .collect();
            let [name, value, expiry, wire] = cells[..] else {
                panic!("a row of four cells: {line}");
            };
            let expiry: u64 = expiry.parse().unwrap();
            assert_eq!(sign(&key, name, value, expiry), wire, "{line}");
            let cookie = SignedCookie::new(name, vec![key.clone()], DEFAULT_MAX_AGE);
            assert_eq!(cookie.verify(wire, expiry), Verdict::Valid(value));
            rows += 1;
        }
        assert_eq!(rows, 3);
    }

    #[test]
    fn rotation_first_key_signs_every_key_verifies() {
        let old = b"OLD-KEY-0123456789abcdef01234567";
        let new = b"NEW-KEY-0123456789abcdef01234567";
        let rotated = cookie(&[new, old]);
        let by_old = cookie(&[old]).sign("canary", 1000).unwrap();
        let by_new = rotated.sign("canary", 1000).unwrap();
        assert_eq!(by_new, cookie(&[new]).sign("canary", 1000).unwrap());
        assert_eq!(rotated.verify(&by_old, 900), Verdict::Valid("canary"));
        assert_eq!(rotated.verify(&by_new, 900), Verdict::Valid("canary"));
        assert_eq!(cookie(&[old]).verify(&by_new, 900), Verdict::BadSignature);
    }

    #[test]
    fn value_may_hold_dots() {
        let c = cookie(&[KEY]);
        let wire = c.sign("v1.2.3", 1000).unwrap();
        assert_eq!(c.verify(&wire, 1000), Verdict::Valid("v1.2.3"));
    }

    #[test]
    fn life_is_bounded_on_both_sides() {
        let c = cookie(&[KEY]);
        let wire = c.sign("canary", 1_000_000).unwrap();
        assert_eq!(c.verify(&wire, 1_000_001), Verdict::Expired);
        assert_eq!(c.verify(&wire, 1_000_000), Verdict::Valid("canary"));
        // max_age one day, skew five minutes.
        let earliest = 1_000_000 - 86_400 - 300;
        assert_eq!(c.verify(&wire, earliest), Verdict::Valid("canary"));
        assert_eq!(c.verify(&wire, earliest - 1), Verdict::TooLongLived);
    }

    #[test]
    fn malformed_and_altered_values() {
        let c = cookie(&[KEY]);
        let wire = c.sign("canary", 1000).unwrap();
        let (rest, sig) = wire.rsplit_once('.').unwrap();
        for bad in [
            "",
            "canary",
            "canary.1000",
            ".1000.",
            "canary.x1000.sig",
            "canary..sig",
        ] {
            assert_eq!(c.verify(bad, 900), Verdict::Malformed, "{bad}");
        }
        assert_eq!(c.verify(&format!("{rest}.{sig}="), 900), Verdict::Malformed);
        assert_eq!(
            c.verify(&wire.replacen("canary", "legacy", 1), 900),
            Verdict::BadSignature
        );
        assert_eq!(
            c.verify(&wire.replacen("1000", "1001", 1), 900),
            Verdict::BadSignature
        );
        // Another cookie's signature does not carry over.
        let other = SignedCookie::new("other", c.keys.clone(), c.max_age);
        assert_eq!(other.verify(&wire, 900), Verdict::BadSignature);
    }

    #[test]
    fn short_keys_are_refused_and_one_newline_is_dropped() {
        assert_eq!(
            SigningKey::new(vec![b'k'; 31]),
            Err(KeyError::TooShort { len: 31 })
        );
        let mut file = KEY.to_vec();
        file.push(b'\n');
        assert_eq!(
            SigningKey::from_file_bytes(file.clone()),
            SigningKey::new(KEY.to_vec())
        );
        file.push(b'\n');
        assert_ne!(
            SigningKey::from_file_bytes(file),
            SigningKey::new(KEY.to_vec())
        );
        assert_eq!(
            format!("{:?}", SigningKey::new(KEY.to_vec()).unwrap()),
            "SigningKey(32 bytes)"
        );
    }

    #[test]
    fn cookie_lines_keep_others_and_show_verified_values() {
        let c = cookie(&[KEY]);
        let good = c.sign("canary", 1000).unwrap();
        let mut headers = HeaderMap::new();
        headers.append(
            http::header::COOKIE,
            HeaderValue::from_str(&format!("a=1; _AUSER_TYPE={good}; b=2")).unwrap(),
        );
        headers.append(
            http::header::COOKIE,
            HeaderValue::from_static("_AUSER_TYPE=canary; c=3"),
        );
        headers.append(
            http::header::COOKIE,
            HeaderValue::from_static("_AUSER_TYPE=x.1.y"),
        );
        let out = verified_headers(std::slice::from_ref(&c), &headers, || 900).unwrap();
        let lines: Vec<&str> = out
            .get_all(http::header::COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(lines, ["a=1; _AUSER_TYPE=canary; b=2", "c=3"]);
        // Nothing signed in the request: nothing to change, the clock is not read.
        let mut plain = HeaderMap::new();
        plain.append(http::header::COOKIE, HeaderValue::from_static("a=1; b"));
        assert!(verified_headers(&[c], &plain, || unreachable!()).is_none());
    }

    #[test]
    fn at_most_eight_pieces_are_checked() {
        let c = cookie(&[KEY]);
        let good = c.sign("canary", 1000).unwrap();
        let line = vec![format!("_AUSER_TYPE={good}"); 10].join("; ");
        let mut headers = HeaderMap::new();
        headers.append(http::header::COOKIE, HeaderValue::from_str(&line).unwrap());
        let out = verified_headers(&[c], &headers, || 900).unwrap();
        let line = out.get(http::header::COOKIE).unwrap().to_str().unwrap();
        assert_eq!(line.matches("_AUSER_TYPE=canary").count(), 8);
    }
}
