//! A small HTTP/1.1 server on 127.0.0.1 for download tests. It serves files and
//! misbehaves on demand, chosen by the path:
//!   /f/NAME                 normal, honours Range (206) and answers 416 past the end
//!                           (NAME may contain `/`)
//!   /drop1/N/NAME           the first response for NAME stops after N body bytes
//!   /dropall/N/NAME         every response stops after N body bytes
//!   /norange/NAME           ignores Range (always 200 with the whole file)
//!   /slow/NAME              64 KiB every 50 ms
//!   /endless/NAME           200 without Content-Length, then zeros for ever
//!   /stall/NAME             headers, then silence
//!   /reset                  closes the connection before answering
//!   anything else           404
//! It counts body bytes sent, so tests can prove nothing is downloaded twice.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub struct Server {
    pub port: u16,
    pub sent: Arc<AtomicU64>,
    pub requests: Arc<AtomicU64>,
    files: Arc<Mutex<HashMap<String, Vec<u8>>>>,
}

impl Server {
    pub fn start() -> Server {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let s = Server {
            port,
            sent: Arc::new(AtomicU64::new(0)),
            requests: Arc::new(AtomicU64::new(0)),
            files: Arc::new(Mutex::new(HashMap::new())),
        };
        let (sent, reqs, files) = (s.sent.clone(), s.requests.clone(), s.files.clone());
        let dropped: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
        std::thread::spawn(move || {
            for conn in l.incoming().flatten() {
                let (sent, reqs, files, dropped) =
                    (sent.clone(), reqs.clone(), files.clone(), dropped.clone());
                std::thread::spawn(move || {
                    let _ = handle(conn, &sent, &reqs, &files, &dropped);
                });
            }
        });
        s
    }

    pub fn add(&self, name: &str, data: Vec<u8>) {
        self.files.lock().unwrap().insert(name.to_string(), data);
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

fn handle(
    mut c: TcpStream,
    sent: &AtomicU64,
    reqs: &AtomicU64,
    files: &Mutex<HashMap<String, Vec<u8>>>,
    dropped: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut r = BufReader::new(c.try_clone()?);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut range: Option<u64> = None;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("range: bytes=") {
            range = v.trim().trim_end_matches('-').parse().ok();
        }
    }
    reqs.fetch_add(1, Ordering::SeqCst);
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts.first().copied() {
        Some("reset") => {
            // SO_LINGER 0: the close is a TCP reset, not an orderly end.
            use std::os::fd::AsRawFd;
            let l = libc::linger {
                l_onoff: 1,
                l_linger: 0,
            };
            // SAFETY: a valid socket and a linger struct of the size given.
            unsafe {
                libc::setsockopt(
                    c.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_LINGER,
                    (&l as *const libc::linger).cast(),
                    std::mem::size_of::<libc::linger>() as libc::socklen_t,
                );
            }
            return Ok(());
        }
        Some("endless") => {
            c.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")?;
            let zeros = vec![0u8; 1 << 20];
            loop {
                c.write_all(&zeros)?;
                sent.fetch_add(zeros.len() as u64, Ordering::SeqCst);
            }
        }
        Some("stall") => {
            c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n")?;
            std::thread::sleep(std::time::Duration::from_secs(120));
            return Ok(());
        }
        _ => {}
    }
    // /f/ serves nested names too (a repository's `core:/stable:/v1.34/deb/Release.key`).
    let nested = parts.get(1..).map(|r| r.join("/")).unwrap_or_default();
    let (mode, limit, name) = match parts.as_slice() {
        ["f", _, ..] => ("f", None, nested.as_str()),
        ["drop1", k, n] => ("drop1", k.parse::<u64>().ok(), *n),
        ["dropall", k, n] => ("dropall", k.parse::<u64>().ok(), *n),
        ["norange", n] => ("norange", None, *n),
        ["slow", n] => ("slow", None, *n),
        _ => ("404", None, ""),
    };
    let data = files.lock().unwrap().get(name).cloned();
    let Some(data) = data.filter(|_| mode != "404") else {
        return c.write_all(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    };
    let start = if mode == "norange" {
        0
    } else {
        range.unwrap_or(0)
    };
    if start >= data.len() as u64 && range.is_some() && mode != "norange" {
        return c.write_all(format!("HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", data.len()).as_bytes());
    }
    let body = &data[start as usize..];
    let head = if start > 0 {
        format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {start}-{}/{}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            data.len() - 1,
            data.len(),
            body.len()
        )
    } else {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
    };
    c.write_all(head.as_bytes())?;
    let cut = match mode {
        "drop1" => {
            let mut d = dropped.lock().unwrap();
            if d.iter().any(|x| x == name) {
                None
            } else {
                d.push(name.to_string());
                limit
            }
        }
        "dropall" => limit,
        _ => None,
    };
    let body = match cut {
        Some(n) => &body[..(n as usize).min(body.len())],
        None => body,
    };
    if mode == "slow" {
        for chunk in body.chunks(64 * 1024) {
            c.write_all(chunk)?;
            sent.fetch_add(chunk.len() as u64, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    } else {
        c.write_all(body)?;
        sent.fetch_add(body.len() as u64, Ordering::SeqCst);
    }
    c.flush()?;
    // Dropping the stream closes the connection (mid-body for the drop modes).
    Ok(())
}
