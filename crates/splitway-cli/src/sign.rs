//! `splitway sign`: the wire value of a signed cookie (crates/splitway/docs/signed-cookies.md),
//! for a test, a support desk enrolling a beta tester, or checking another signer's output.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use clap::Args;
use splitway::signed_cookie::{DEFAULT_MAX_AGE, SigningKey, sign};

use crate::Fail;

/// `splitway sign --key FILE NAME VALUE [--max-age D]`.
#[derive(Debug, Args)]
pub(crate) struct SignArgs {
    /// The key file (its bytes less one trailing newline; at least 32 bytes): the first of
    /// the cookie's `keys` in the configuration, the one that signs.
    #[arg(long)]
    key: PathBuf,
    /// How long the value stays valid from now: a duration as the configuration writes one
    /// (`720h`, `90m`, `3600`). Default 720h (30 days), the configuration's default
    /// `max_age`; a proxy refuses a value that outlives its cookie's `max_age`.
    #[arg(long, value_name = "D")]
    max_age: Option<String>,
    /// The cookie's name, as in `signed_cookies:`.
    name: String,
    /// The value rules are to see (cookie-value characters: no spaces, quotes, `,`, `;` or
    /// `\`).
    value: String,
}

/// Prints `VALUE.EXPIRY.SIGNATURE` on stdout, one line.
pub(crate) fn run(args: &SignArgs) -> Result<(), Fail> {
    let fail = |message: String| {
        eprintln!("splitway sign: {message}");
        Fail
    };
    let max_age = match &args.max_age {
        Some(text) => splitway::config::parse_duration(text).ok_or_else(|| {
            fail(format!(
                "invalid --max-age `{text}`: expected a positive duration like `720h` or `3600`"
            ))
        })?,
        None => DEFAULT_MAX_AGE,
    };
    if args.name.is_empty() || !args.name.bytes().all(is_token_byte) {
        return Err(fail(format!(
            "`{}` is not a cookie name (a token: no spaces, `=`, `;` or quotes)",
            args.name
        )));
    }
    if !args.value.bytes().all(is_cookie_octet) {
        return Err(fail(format!(
            "`{}` cannot be a cookie value: spaces, quotes, `,`, `;`, `\\` and control \
             characters are not allowed (RFC 6265 section 4.1.1)",
            args.value
        )));
    }
    let key = SigningKey::from_file(&args.key)
        .map_err(|e| fail(format!("key file `{}`: {e}", args.key.display())))?;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let expiry = now.saturating_add(max_age).as_secs();
    println!("{}", sign(&key, &args.name, &args.value, expiry));
    Ok(())
}

/// RFC 9110 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// RFC 6265 `cookie-octet`: visible ASCII but `"`, `,`, `;` and `\`.
fn is_cookie_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}
