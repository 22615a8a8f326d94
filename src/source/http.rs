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
    Client::builder()
        .user_agent(concat!("piprep/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(30))
        // Per read: a stalled connection fails after a minute and is resumed.
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| Error::internal(format!("cannot set up HTTP: {e}")))
}

fn retryable(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
}

/// GET a small text resource (a checksum sidecar, an OS list).
pub fn get_text(client: &Client, url: &str) -> Result<String> {
    let mut last = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            std::thread::sleep(retry_delay(attempt));
        }
        match client.get(url).send() {
            Ok(r) if r.status().is_success() => {
                return r
                    .text()
                    .map_err(|e| Error::image(format!("cannot read {url}: {e}")));
            }
            Ok(r) if !retryable(r.status()) => {
                return Err(Error::image(format!("HTTP {} for {url}", r.status())));
            }
            Ok(r) => last = format!("HTTP {}", r.status()),
            Err(e) => last = e.to_string(),
        }
    }
    Err(Error::image(format!(
        "cannot fetch {url} after {ATTEMPTS} attempts: {last}"
    )))
}

/// Hash what a partial download already holds (the one extra read a resume costs).
fn hash_existing(path: &Path, h: &mut Sha256) -> std::io::Result<u64> {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut buf = vec![0u8; BUF];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            return Ok(n);
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
}

/// Download `url` into `partial`, resuming what is there. Returns the sha256
/// of the complete file. The partial file is kept on failure (and on Ctrl-C),
/// so the next run continues where this one stopped.
pub fn download(client: &Client, url: &str, partial: &Path, quiet: bool) -> Result<String> {
    let io = |e: std::io::Error| Error::output_io(partial, "cannot write", &e);
    let mut last_err = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            let wait = retry_delay(attempt);
            if !quiet {
                eprintln!(
                    "download interrupted ({last_err}); resuming in {:.1} s",
                    wait.as_secs_f64()
                );
            }
            std::thread::sleep(wait);
        }
        let mut h = Sha256::new();
        let have = hash_existing(partial, &mut h).map_err(io)?;
        let mut req = client.get(url).header(ACCEPT_ENCODING, "identity");
        if have > 0 {
            req = req.header(RANGE, format!("bytes={have}-"));
        }
        let mut resp = match req.send() {
            Ok(r) => r,
            Err(e) => {
                last_err = e.to_string();
                continue;
            }
        };
        let status = resp.status();
        let mut file = match status {
            StatusCode::RANGE_NOT_SATISFIABLE if have > 0 => {
                // The partial file is already complete.
                return Ok(hex::encode(h.finalize()));
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
                OpenOptions::new().append(true).open(partial).map_err(io)?
            }
            s if s.is_success() => {
                // 200: the server ignored Range (or there was nothing): restart.
                h = Sha256::new();
                File::create(partial).map_err(io)?
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
        let pb = crate::progress::bar(quiet, total, "download");
        pb.set_position(done);
        let mut buf = vec![0u8; BUF];
        let mut got = done;
        let outcome = loop {
            match resp.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    h.update(&buf[..n]);
                    file.write_all(&buf[..n]).map_err(io)?;
                    got += n as u64;
                    pb.set_position(got);
                }
                Err(e) => break Err(e.to_string()),
            }
        };
        pb.finish_and_clear();
        file.sync_all().map_err(io)?;
        match outcome {
            Ok(()) if total.is_none_or(|t| t == got) => return Ok(hex::encode(h.finalize())),
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
