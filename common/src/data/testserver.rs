//! A tiny HTTP/1.1 server on 127.0.0.1 for the data layer's tests: fixed responses,
//! optional `Range` support, optional bodies cut short. It serves one connection at a time,
//! stops when dropped, and in any case after 60 s or 500 connections.

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
}

/// A running test server; `base` is `http://127.0.0.1:PORT`.
pub(crate) struct TestServer {
    pub base: String,
    hits: Arc<Mutex<HashMap<String, (usize, u64)>>>,
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
        let stop = Arc::new(AtomicBool::new(false));
        let (h, s) = (hits.clone(), stop.clone());
        let handle = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut served = 0;
            while !s.load(Ordering::SeqCst) && Instant::now() < deadline && served < 500 {
                match listener.accept() {
                    Ok((conn, _)) => {
                        served += 1;
                        let _ = serve(conn, &routes, &h);
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
    let target = text
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query = percent_decode(query);
    let range = text
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.trim().eq_ignore_ascii_case("range"))
        })
        .map(|(_, v)| v.trim().to_string());
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
    let send_to = route.cut_at.map_or(to, |c| (from + c).min(to));
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
