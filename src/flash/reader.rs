//! The reading side of a copy: the image decoded once, chunk by chunk, the
//! same buffer handed to every writer, each span hashed as it passes.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::SyncSender;

use std::io::Write;

use super::image::Sequential;
use super::layout::{BUF, Chunk, Hashed, Layout, Msg, SPAN, Span};
use crate::error::{Error, Result};
use crate::io::aligned::AlignedBuf;
use crate::io::hash::digester;

/// Read `src` once and feed every writer; returns when the image is read or
/// every writer has stopped.
pub fn read_image(
    src: &mut dyn Sequential,
    image: &Path,
    layout: &Layout,
    need_zero: bool,
    writers: Vec<SyncSender<Msg>>,
) -> Result<()> {
    let mut live: Vec<Option<SyncSender<Msg>>> = writers.into_iter().map(Some).collect();
    let send = |live: &mut Vec<Option<SyncSender<Msg>>>, make: &dyn Fn() -> Msg| {
        for slot in live.iter_mut() {
            if let Some(tx) = slot
                && tx.send(make()).is_err()
            {
                *slot = None; // that writer failed and said why
            }
        }
        live.iter().any(Option::is_some)
    };
    let mut hashed = Vec::new();
    let mut spans = match layout {
        Layout::Spans(s) => s.clone().into_iter(),
        Layout::Stream => Vec::new().into_iter(),
    };
    let stream = matches!(layout, Layout::Stream);
    let mut next_stream = 0u64;
    let mut size = 0u64;
    loop {
        let span = if stream {
            Span {
                start: next_stream,
                end: next_stream + SPAN,
                sha256: None,
            }
        } else {
            match spans.next() {
                Some(s) => s,
                None => break,
            }
        };
        let mut h = digester();
        let mut off = span.start;
        let mut ended = false;
        while off < span.end {
            let want = ((span.end - off) as usize).min(BUF);
            let mut buf = AlignedBuf::new(want);
            let got = src
                .read_at(off, &mut buf)
                .map_err(|e| Error::image_io(image, "cannot read", &e))?;
            if got < want && !stream {
                return Err(Error::image(format!(
                    "{}: the image ends at byte {} but its block map or size says {}; the image is truncated",
                    image.display(),
                    off + got as u64,
                    span.end
                )));
            }
            if got == 0 {
                ended = true;
                break;
            }
            h.write_all(&buf[..got]).expect("a sink takes every byte");
            let zero = need_zero && buf[..got].iter().all(|b| *b == 0);
            let buf = Arc::new(buf);
            if !send(&mut live, &|| {
                Msg::Data(Chunk {
                    off,
                    buf: buf.clone(),
                    len: got,
                    zero,
                })
            }) {
                return Ok(());
            }
            off += got as u64;
            if got < want {
                ended = true;
                break;
            }
        }
        let (digest, _) = h.finish_raw();
        if let Some(want) = &span.sha256
            && *want != hex::encode(digest)
        {
            return Err(Error::image(format!(
                "{}: bytes {}..{} hash to {} but the .bmap says {want}; the image does not match its .bmap (targets are partly written: flash again with the right .bmap or --no-bmap)",
                image.display(),
                span.start,
                span.end,
                hex::encode(digest)
            )));
        }
        if off > span.start {
            hashed.push(Hashed {
                start: span.start,
                end: off,
                sha256: digest,
            });
        }
        size = size.max(off);
        next_stream = off;
        if stream && ended {
            break;
        }
    }
    let hashed = Arc::new(hashed);
    send(&mut live, &|| Msg::Done(hashed.clone(), size));
    Ok(())
}
