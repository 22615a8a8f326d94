//! HTTP downloads: reqwest (blocking, rustls with the OS trust store), resumable
//! with `Range`, retried with backoff, hashed while streaming.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::blocking::Client;
use reqwest::header::{ACCEPT_ENCODING, CONTENT_RANGE, RANGE};
use sha2::{Digest, Sha256};

use crate::io::hash::HashingWriter;

use crate::error::{Error, Result};

/// 256 KiB reads: large enough to keep up with a fast link without many syscalls.
const BUF: usize = 256 * 1024;
const ATTEMPTS: u32 = 5;

/// First retry delay; doubles each attempt. PIPREP_RETRY_DELAY_MS shortens it
/// (tests).
fn retry_delay(attempt: u32) -> Duration {
    let base = std::env::var("PIPREP_RETRY_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000u64);
    Duration::from_millis(base << (attempt - 1).min(10))
}

pub fn client() -> Result<Client> {
    // PIPREP_HTTP_TIMEOUT_MS shortens the timeouts (tests).
    let t = std::env::var("PIPREP_HTTP_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis);
    Client::builder()
        .user_agent(concat!("piprep/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(t.unwrap_or(Duration::from_secs(30)))
        // Per read: a stalled connection fails after a minute and is resumed.
        .timeout(t.unwrap_or(Duration::from_secs(60)))
        .build()
        .map_err(|e| Error::internal(format!("cannot set up HTTP: {e}")))
}

fn retryable(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
}

/// Why a request failed, in the words a user can act on: refused, timed
/// out, name not found (DNS), TLS (certificate), or reqwest's own text.
pub fn cause(e: &reqwest::Error) -> String {
    let mut chain = String::new();
    let mut refused = false;
    let mut src: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = src {
        chain.push_str(&s.to_string().to_lowercase());
        chain.push(' ');
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            refused |= io.kind() == std::io::ErrorKind::ConnectionRefused;
        }
        src = s.source();
    }
    if e.is_timeout() {
        "timed out (no answer from the server)".into()
    } else if refused || chain.contains("connection refused") {
        "connection refused (nothing listens at that address and port)".into()
    } else if chain.contains("dns error")
        || chain.contains("failed to lookup")
        || chain.contains("name or service not known")
    {
        "the host name was not found (DNS)".into()
    } else if chain.contains("certificate") || chain.contains("tls") || chain.contains("handshake")
    {
        format!("TLS failed (certificate or handshake): {}", last_source(e))
    } else if chain.contains("reset") {
        "the connection was reset".into()
    } else {
        last_source(e)
    }
}

/// The cause of a failed body read (reqwest wraps its error in io::Error).
fn read_cause(e: &std::io::Error) -> String {
    if let Some(r) = e.get_ref().and_then(|i| i.downcast_ref::<reqwest::Error>()) {
        return cause(r);
    }
    match e.kind() {
        std::io::ErrorKind::TimedOut => "timed out (the server stopped sending)".into(),
        std::io::ErrorKind::ConnectionReset => "the connection was reset".into(),
        _ => e.to_string(),
    }
}

/// The innermost error text, which says the most.
fn last_source(e: &reqwest::Error) -> String {
    let mut s: &dyn std::error::Error = e;
    while let Some(n) = s.source() {
        s = n;
    }
    s.to_string()
}

/// Wait before attempt `attempt`, saying so.
fn backoff(attempt: u32, what: &str, why: &str) {
    let wait = retry_delay(attempt);
    crate::reporter::say(format!(
        "{what}: {why}; retrying in {:.1} s (attempt {} of {ATTEMPTS})",
        wait.as_secs_f64(),
        attempt + 1
    ));
    std::thread::sleep(wait);
}

/// GET a small text resource (a checksum sidecar, an OS list) of at most
/// `cap` bytes: a larger body is refused, not read into memory.
pub fn get_text(client: &Client, url: &str, cap: u64) -> Result<String> {
    String::from_utf8(get_small(client, url, cap)?)
        .map_err(|_| Error::image(format!("{url} is not UTF-8 text")))
}

/// GET a small resource (a text file, a repository key) of at most `cap`
/// bytes, retrying as downloads do.
pub fn get_small(client: &Client, url: &str, cap: u64) -> Result<Vec<u8>> {
    let mut last = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            backoff(attempt, url, &last);
        }
        match client.get(url).send() {
            Ok(r) if r.status().is_success() => {
                let mut body = Vec::new();
                let mut limited = r.take(cap + 1);
                match limited.read_to_end(&mut body) {
                    Ok(_) if body.len() as u64 > cap => {
                        return Err(Error::image(format!(
                            "{url} is larger than {cap} bytes; that is not what piprep expects there (a checksum file, an OS list or a key)"
                        )));
                    }
                    Ok(_) => return Ok(body),
                    Err(e) => last = format!("reading the body failed: {}", read_cause(&e)),
                }
            }
            Ok(r) if !retryable(r.status()) => {
                return Err(Error::image(format!("HTTP {} for {url}", r.status())));
            }
            Ok(r) => last = format!("HTTP {}", r.status()),
            Err(e) => last = cause(&e),
        }
    }
    Err(Error::image(format!(
        "cannot fetch {url} after {ATTEMPTS} attempts: {last}"
    )))
}

/// Hash what a partial download already holds (the one extra read a resume costs).
fn hash_existing(path: &Path) -> std::io::Result<(Sha256, u64)> {
    match File::open(path) {
        Ok(f) => crate::io::hash::hash_to_end(f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((Sha256::new(), 0)),
        Err(e) => Err(e),
    }
}

/// Download `url` into `partial`, resuming what is there. Returns the sha256
/// of the complete file. The partial file is kept on failure (and on Ctrl-C),
/// so the next run continues where this one stopped.
/// Free bytes left on the filesystem holding `path`.
fn free_space(path: &Path) -> Option<u64> {
    let st = rustix::fs::statvfs(path.parent()?).ok()?;
    Some(st.f_bavail * st.f_frsize)
}

/// A body of unknown length stops when the disk has this little left: an
/// eighth of the filesystem, at most 512 MiB.
fn reserve(path: &Path) -> u64 {
    path.parent()
        .and_then(|d| rustix::fs::statvfs(d).ok())
        .map_or(512 << 20, |st| {
            (st.f_blocks * st.f_frsize / 8).min(512 << 20)
        })
}

pub fn download(
    client: &Client,
    url: &str,
    partial: &Path,
    expected_size: Option<u64>,
) -> Result<String> {
    let io = |e: std::io::Error| Error::output_io(partial, "cannot write", &e);
    let mut last_err = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            backoff(attempt, "download interrupted", &last_err);
        }
        let (h, have) = hash_existing(partial).map_err(io)?;
        let mut req = client.get(url).header(ACCEPT_ENCODING, "identity");
        if have > 0 {
            req = req.header(RANGE, format!("bytes={have}-"));
        }
        let mut resp = match req.send() {
            Ok(r) => r,
            Err(e) => {
                last_err = cause(&e);
                continue;
            }
        };
        let status = resp.status();
        let mut file = match status {
            StatusCode::RANGE_NOT_SATISFIABLE if have > 0 => {
                // The partial file is already complete.
                return Ok(HashingWriter::continuing(std::io::sink(), h).finish().0);
            }
            StatusCode::PARTIAL_CONTENT if have > 0 => {
                let start = resp
                    .headers()
                    .get(CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("bytes "))
                    .and_then(|v| v.split('-').next())
                    .and_then(|v| v.parse::<u64>().ok());
                if start != Some(have) {
                    last_err = format!("server resumed at byte {start:?}, not {have}");
                    let _ = std::fs::remove_file(partial);
                    continue;
                }
                let f = OpenOptions::new().append(true).open(partial).map_err(io)?;
                HashingWriter::continuing(f, h)
            }
            s if s.is_success() => {
                // 200: the server ignored Range (or there was nothing): restart.
                HashingWriter::new(File::create(partial).map_err(io)?)
            }
            s if retryable(s) => {
                last_err = format!("HTTP {s}");
                continue;
            }
            s => return Err(Error::image(format!("HTTP {s} for {url}"))),
        };
        let done = if status == StatusCode::PARTIAL_CONTENT {
            have
        } else {
            0
        };
        let total = resp.content_length().map(|l| l + done);
        // Never more than the size announced (by the server or the OS list).
        let limit = total.or(expected_size);
        if let (Some(t), Some(e)) = (total, expected_size)
            && t != e
        {
            return Err(Error::image(format!(
                "{url} is {t} bytes, but the OS list says {e}; nothing was cached"
            )));
        }
        let pb = crate::reporter::bar(total, "download");
        pb.set_position(done);
        let mut buf = vec![0u8; BUF];
        let mut got = done;
        let outcome = loop {
            match resp.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    if limit.is_some_and(|l| got + n as u64 > l) {
                        return Err(Error::image(format!(
                            "{url} sent more than the {} bytes announced; the download is broken, nothing was cached",
                            limit.unwrap_or(0)
                        )));
                    }
                    // No length announced: stop before the disk is full.
                    if limit.is_none()
                        && got % (4 << 20) < n as u64
                        && free_space(partial).is_some_and(|f| f < reserve(partial))
                    {
                        drop(file);
                        let _ = std::fs::remove_file(partial);
                        return Err(Error::output(format!(
                            "{url} announces no length and had sent {got} bytes when the disk holding {} was nearly full; stopped and deleted it; check the URL, or free space",
                            partial.display()
                        )));
                    }
                    file.write_all(&buf[..n]).map_err(io)?;
                    got += n as u64;
                    pb.set_position(got);
                }
                Err(e) => break Err(read_cause(&e)),
            }
        };
        pb.finish_and_clear();
        let (sha256, file) = file.finish();
        file.sync_all().map_err(io)?;
        match outcome {
            Ok(()) if total.is_none_or(|t| t == got) => return Ok(sha256),
            Ok(()) => {
                last_err = format!(
                    "connection closed after {got} of {} bytes",
                    total.unwrap_or(0)
                )
            }
            Err(e) => last_err = e,
        }
    }
    Err(Error::image(format!(
        "cannot download {url}: {last_err}; the partial download is kept and the next run resumes it"
    )))
}
