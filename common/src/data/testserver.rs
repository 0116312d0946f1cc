//! A tiny HTTP/1.1 server on 127.0.0.1 for the data layer's and the hub's tests: fixed
//! responses, optional `Range` support, optional bodies cut short, `HEAD` requests,
//! required headers (a bearer token), and [`hub_model_routes`], which serves a model repo
//! the way the Hugging Face hub does for `hf-hub` and Python's `huggingface_hub`. It serves
//! one connection at a time, stops when dropped, and in any case after 60 s or 500
//! connections.
//!
//! `common/tests/hub_mirror.rs` includes this file by path, so not every user calls every
//! helper.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One canned response.
#[derive(Clone, Debug)]
pub(crate) struct Route {
    path: String,
    query: Option<String>,
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    cut_at: Option<usize>,
    ranges: bool,
    /// A header the request must carry (name, exact value), else `401 Unauthorized`.
    require: Option<(String, String)>,
}

impl Route {
    /// `200 OK` with `body` for GET `path`.
    pub fn ok(path: &str, body: impl Into<Vec<u8>>) -> Self {
        Self {
            path: path.into(),
            query: None,
            status: 200,
            headers: vec![],
            body: body.into(),
            cut_at: None,
            ranges: false,
            require: None,
        }
    }
    /// Answer with another status.
    pub fn status(mut self, s: u16) -> Self {
        self.status = s;
        self
    }
    /// Add a header.
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }
    /// Only match when the (decoded) query string contains `q`.
    pub fn query(mut self, q: &str) -> Self {
        self.query = Some(q.into());
        self
    }
    /// Announce the full length but send only the first `n` bytes, then close.
    pub fn cut_at(mut self, n: usize) -> Self {
        self.cut_at = Some(n);
        self
    }
    /// Honour `Range: bytes=...` requests with `206 Partial Content`.
    pub fn ranges(mut self) -> Self {
        self.ranges = true;
        self
    }
    /// Answer `401 Unauthorized` unless the request has header `name` (any case) with
    /// exactly `value`, e.g. `("Authorization", "Bearer hf_x")`.
    pub fn require_header(mut self, name: &str, value: &str) -> Self {
        self.require = Some((name.into(), value.into()));
        self
    }
}

/// A 64-bit FNV-1a hash of `bytes` as 16 hex digits (an ETag for test files).
fn fnv_hex(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The routes of a hub model repo `repo_id` at commit `commit` (40 hex digits) holding
/// `files` (name, bytes), as the Hugging Face hub answers them:
/// - `GET /api/models/{repo_id}/revision/{main|commit}`: the repo info JSON (`id`, `sha`,
///   `siblings` with each `rfilename`);
/// - `GET|HEAD /{repo_id}/resolve/{main|commit}/{file}`: the file, with `X-Repo-Commit`,
///   `ETag` (quoted) and `Range` support (`hf-hub` asks for `bytes=0-0` first to learn
///   the size from `Content-Range`; Python's `huggingface_hub` sends a `HEAD`).
///
/// With `token`, every route requires `Authorization: Bearer {token}`.
pub fn hub_model_routes(
    repo_id: &str,
    commit: &str,
    files: &[(String, Vec<u8>)],
    token: Option<&str>,
) -> Vec<Route> {
    let auth = |r: Route| match token {
        Some(t) => r.require_header("Authorization", &format!("Bearer {t}")),
        None => r,
    };
    let siblings: Vec<String> = files
        .iter()
        .map(|(name, _)| format!("{{\"rfilename\": \"{name}\"}}"))
        .collect();
    let info = format!(
        "{{\"id\": \"{repo_id}\", \"modelId\": \"{repo_id}\", \"sha\": \"{commit}\", \
         \"private\": false, \"siblings\": [{}]}}",
        siblings.join(", ")
    );
    let mut routes = Vec::new();
    for rev in ["main", commit] {
        routes.push(auth(
            Route::ok(
                &format!("/api/models/{repo_id}/revision/{rev}"),
                info.clone(),
            )
            .header("Content-Type", "application/json"),
        ));
        for (name, bytes) in files {
            routes.push(auth(
                Route::ok(&format!("/{repo_id}/resolve/{rev}/{name}"), bytes.clone())
                    .header("X-Repo-Commit", commit)
                    .header("ETag", &format!("\"{}\"", fnv_hex(bytes)))
                    .header("Accept-Ranges", "bytes")
                    .ranges(),
            ));
        }
    }
    routes
}

/// A running test server; `base` is `http://127.0.0.1:PORT`.
pub(crate) struct TestServer {
    pub base: String,
    hits: Arc<Mutex<HashMap<String, (usize, u64)>>>,
    rejected: Arc<Mutex<HashMap<String, usize>>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Start serving `routes` on a free port.
    pub fn start(routes: Vec<Route>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding a test port on 127.0.0.1");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let base = format!("http://{}", listener.local_addr().expect("local address"));
        let hits = Arc::new(Mutex::new(HashMap::new()));
        let rejected = Arc::new(Mutex::new(HashMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (h, rj, s) = (hits.clone(), rejected.clone(), stop.clone());
        let handle = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut served = 0;
            while !s.load(Ordering::SeqCst) && Instant::now() < deadline && served < 500 {
                match listener.accept() {
                    Ok((conn, _)) => {
                        served += 1;
                        let _ = serve(conn, &routes, &h, &rj);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(2))
                    }
                    Err(_) => break,
                }
            }
        });
        Self {
            base,
            hits,
            rejected,
            stop,
            handle: Some(handle),
        }
    }

    /// How many requests reached `path`.
    pub fn hits(&self, path: &str) -> usize {
        self.hits
            .lock()
            .map(|m| m.get(path).map_or(0, |x| x.0))
            .unwrap_or(0)
    }

    /// How many requests to `path` were answered `401` for lacking the required header.
    pub fn rejected(&self, path: &str) -> usize {
        self.rejected
            .lock()
            .map(|m| m.get(path).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// How many requests were answered `401`, all paths together.
    pub fn rejected_total(&self) -> usize {
        self.rejected.lock().map(|m| m.values().sum()).unwrap_or(0)
    }

    /// How many body bytes were sent for `path`, all requests together.
    pub fn bytes_sent(&self, path: &str) -> u64 {
        self.hits
            .lock()
            .map(|m| m.get(path).map_or(0, |x| x.1))
            .unwrap_or(0)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn percent_decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn serve(
    mut conn: TcpStream,
    routes: &[Route],
    hits: &Mutex<HashMap<String, (usize, u64)>>,
    rejected: &Mutex<HashMap<String, usize>>,
) -> std::io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut req = Vec::new();
    let mut buf = [0u8; 4096];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 65_536 {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            break;
        }
        req.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&req);
    let mut request_line = text.lines().next().unwrap_or("").split_whitespace();
    let head_only = request_line.next() == Some("HEAD");
    let target = request_line.next().unwrap_or("/");
    let header = |name: &str| {
        text.lines().skip(1).find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.trim().eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().to_string())
        })
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query = percent_decode(query);
    let range = header("range");
    let route = routes
        .iter()
        .find(|r| r.path == path && r.query.as_ref().is_none_or(|q| query.contains(q.as_str())));
    let Some(route) = route else {
        let body = b"not found";
        write!(
            conn,
            "HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )?;
        conn.write_all(body)?;
        return Ok(());
    };
    if let Some((name, value)) = &route.require {
        if header(name).as_deref() != Some(value.as_str()) {
            if let Ok(mut m) = rejected.lock() {
                *m.entry(path.to_string()).or_insert(0) += 1;
            }
            let body = b"unauthorized";
            write!(
                conn,
                "HTTP/1.1 401 Unauthorized\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            if !head_only {
                conn.write_all(body)?;
            }
            return Ok(());
        }
    }
    let len = route.body.len();
    let mut head = String::new();
    let (from, to) = match (
        route.ranges,
        range.as_deref().and_then(|r| r.strip_prefix("bytes=")),
    ) {
        (true, Some(spec)) => {
            let (a, b) = spec.split_once('-').unwrap_or((spec, ""));
            let (from, to) = if a.is_empty() {
                let n: usize = b.parse().unwrap_or(0);
                (len.saturating_sub(n), len)
            } else {
                let from: usize = a.parse().unwrap_or(0);
                let to = if b.is_empty() {
                    len
                } else {
                    (b.parse::<usize>().unwrap_or(0) + 1).min(len)
                };
                (from, to)
            };
            if from >= len || from >= to {
                write!(conn, "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{len}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
                return Ok(());
            }
            head.push_str(&format!(
                "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {from}-{}/{len}\r\n",
                to - 1
            ));
            (from, to)
        }
        _ => {
            head.push_str(&format!("HTTP/1.1 {} Canned\r\n", route.status));
            (0, len)
        }
    };
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n",
        to - from
    ));
    for (k, v) in &route.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    // A HEAD request gets the headers of the GET and no body.
    let send_to = if head_only {
        from
    } else {
        route.cut_at.map_or(to, |c| (from + c).min(to))
    };
    // Counted before sending, so that a client that has its answer sees the count.
    if let Ok(mut m) = hits.lock() {
        let e = m.entry(path.to_string()).or_insert((0, 0));
        e.0 += 1;
        e.1 += (send_to - from) as u64;
    }
    conn.write_all(head.as_bytes())?;
    conn.write_all(&route.body[from..send_to])?;
    conn.flush()?;
    let _ = conn.shutdown(std::net::Shutdown::Both);
    Ok(())
}
