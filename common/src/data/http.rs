//! Plain HTTP GETs (ureq, rustls) with the checks a cache needs: a body shorter than its
//! `Content-Length` is an error, never a result.

use anyhow::{anyhow, bail, Context, Result};
use std::io::Read;
use std::time::Duration;

/// A complete response body.
#[derive(Debug)]
pub(crate) struct Body {
    /// HTTP status (2xx, or any status when error statuses were allowed).
    pub status: u16,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The bytes, decompressed when the server sent them gzip-encoded.
    pub bytes: Vec<u8>,
}

/// True for `localhost` and `127.x.x.x` / `[::1]` URLs (tests' servers: no proxy for them).
fn is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit_once('@').map(|(_, h)| h).unwrap_or(host);
    host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]")
}

/// An agent for one request: timeouts, redirects, the proxy from the environment
/// (`HTTPS_PROXY`, `ALL_PROXY`, ...) except for loopback URLs.
pub(crate) fn agent(url: &str, user_agent: &str) -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(30))
        .timeout_read(Duration::from_secs(120))
        .redirects(10)
        .user_agent(user_agent)
        .try_proxy_from_env(!is_loopback(url))
        .build()
}

/// The expected body length: `Content-Length`, when the body is not re-encoded on the way.
pub(crate) fn content_length(resp: &ureq::Response) -> Option<u64> {
    let encoded = resp
        .header("content-encoding")
        .is_some_and(|e| !e.trim().eq_ignore_ascii_case("identity"));
    if encoded {
        return None;
    }
    resp.header("content-length")
        .and_then(|v| v.trim().parse().ok())
}

/// GET `url` and read the whole body. With `allow_error_status`, a 4xx/5xx response is
/// returned like a 200 (as Python `requests` does); otherwise it is an error.
pub(crate) fn get(url: &str, user_agent: &str, allow_error_status: bool) -> Result<Body> {
    let resp = match agent(url, user_agent).get(url).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) if allow_error_status => r,
        Err(ureq::Error::Status(code, r)) => {
            bail!("the server answered HTTP {code} {}", r.status_text())
        }
        Err(e) => return Err(anyhow!(e)).context("no response"),
    };
    let status = resp.status();
    let content_type = resp.header("content-type").map(str::to_string);
    let expected = content_length(&resp);
    let mut bytes = Vec::new();
    let read = resp.into_reader().read_to_end(&mut bytes);
    check_length(read.map(|_| ()), bytes.len() as u64, expected)?;
    Ok(Body {
        status,
        content_type,
        bytes,
    })
}

/// The error for a body cut short, or `Ok` when `got` matches `expected` (when known).
pub(crate) fn check_length(
    read: std::io::Result<()>,
    got: u64,
    expected: Option<u64>,
) -> Result<()> {
    match (read, expected) {
        (Err(e), Some(n)) => bail!("the download was cut off after {got} of {n} bytes ({e})"),
        (Err(e), None) => bail!("the download was cut off after {got} bytes ({e})"),
        (Ok(()), Some(n)) if n != got => bail!("incomplete download: {got} of {n} bytes arrived"),
        (Ok(()), _) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_detection() {
        assert!(is_loopback("http://127.0.0.1:8080/x"));
        assert!(is_loopback("http://localhost/x"));
        assert!(!is_loopback(
            "https://www.gutenberg.org/cache/epub/84/pg84.txt"
        ));
    }

    #[test]
    fn length_checks() {
        assert!(check_length(Ok(()), 10, Some(10)).is_ok());
        assert!(check_length(Ok(()), 10, None).is_ok());
        let e = check_length(Ok(()), 7, Some(10)).unwrap_err().to_string();
        assert!(e.contains("7 of 10"), "{e}");
        let io = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed");
        let e = check_length(Err(io), 7, Some(10)).unwrap_err().to_string();
        assert!(e.contains("cut off after 7 of 10"), "{e}");
    }
}
