//! `piprep flash`: write images to cards (or files), only the mapped blocks
//! when a .bmap exists, then read every written span back and compare its
//! sha256. One image can go to several cards from one read; several images
//! go to their cards at once. `image` tells what is flashed, `target` where
//! it may go, `device` what a disk is, `copy` moves the bytes (`reader` the
//! reading side, `sink` the writing side, `layout` what passes between).

pub mod cards;
pub mod copy;
pub mod destination;
pub mod device;
pub mod image;
mod layout;
pub mod plan;
mod reader;
mod sink;

use std::path::PathBuf;

use indicatif::{MultiProgress, ProgressBar};

use crate::error::{Error, Kind, Result};
use destination::Destination;
use image::{Format, Source};
use layout::{CardWritten, Layout, Span};

/// One image and the targets it goes to.
pub struct Job {
    pub source: Source,
    pub targets: Vec<Destination>,
}

/// What happened to one target.
pub struct Outcome {
    pub image: PathBuf,
    pub target: PathBuf,
    pub used_bmap: bool,
    pub result: Result<CardWritten>,
}

/// The spans to read: the block map's ranges, or the image's data extents
/// (everything for a disk, whose old contents must be overwritten), or the
/// whole decoded stream of an .xz whose size is unknown.
fn layout(job: &Job) -> Result<Layout> {
    let src = &job.source;
    if let Some(b) = &src.bmap {
        return Ok(Layout::Spans(
            b.ranges
                .iter()
                .map(|r| {
                    let (start, end) = b.span(r);
                    Span {
                        start,
                        end,
                        sha256: r.sha256.clone(),
                    }
                })
                .collect(),
        ));
    }
    let Some(size) = src.size else {
        return Ok(Layout::Stream);
    };
    let to_disk = job.targets.iter().any(Destination::is_disk);
    if src.format == Format::Xz || to_disk {
        return Ok(Layout::split([(0, size)]));
    }
    let (file, _) = crate::io::open_readonly(&src.path)?;
    let extents = crate::io::extents::data_blocks(&file, 0, size, 4096);
    Ok(Layout::split(
        extents.into_iter().map(|(a, b)| (a, b.min(size))),
    ))
}

/// A bar per target, all under one display.
fn bars(multi: &MultiProgress, job: &Job) -> Vec<ProgressBar> {
    let total = match &job.source.bmap {
        Some(b) => Some(
            b.ranges
                .iter()
                .map(|r| {
                    let (s, e) = b.span(r);
                    e - s
                })
                .sum(),
        ),
        None => job.source.size,
    };
    job.targets
        .iter()
        .map(|t| {
            let pb = crate::reporter::bar(total, "write");
            if pb.is_hidden() {
                return pb;
            }
            pb.set_prefix(format!("{} write", copy::short_name(&t.path)));
            multi.add(pb)
        })
        .collect()
}

/// Run every job at once; every target gets an outcome. Errors that stop a
/// whole job (an image that cannot be read) are returned as well.
pub fn run(jobs: &[Job]) -> (Vec<Outcome>, Vec<Error>) {
    let multi = MultiProgress::new();
    let mut outcomes = Vec::new();
    let mut fatal = Vec::new();
    std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .iter()
            .map(|job| {
                let bars = bars(&multi, job);
                s.spawn(move || -> (Result<()>, Vec<Result<CardWritten>>) {
                    let prepared = layout(job).and_then(|l| Ok((l, image::reader(&job.source)?)));
                    match prepared {
                        Ok((layout, reader)) => copy::copy(
                            reader,
                            &job.source.path,
                            &layout,
                            job.source.size,
                            &job.targets,
                            &bars,
                        ),
                        Err(e) => (Err(e), Vec::new()),
                    }
                })
            })
            .collect();
        for (job, h) in jobs.iter().zip(handles) {
            let (read, results) = h
                .join()
                .unwrap_or_else(|_| (Err(Error::internal("a flash job panicked")), Vec::new()));
            let read_failed = read.is_err();
            if let Err(e) = read {
                fatal.push(e);
            }
            let mut results = results.into_iter();
            for t in &job.targets {
                let result = match results.next() {
                    Some(Err(_)) | None if read_failed => Err(Error::image(format!(
                        "not written: {} could not be read{}",
                        job.source.path.display(),
                        if t.is_disk() {
                            " (the card is partly written)"
                        } else {
                            ""
                        }
                    ))),
                    Some(r) => r,
                    None => Err(Error::internal("no result")),
                };
                outcomes.push(Outcome {
                    image: job.source.path.clone(),
                    target: t.path.clone(),
                    used_bmap: job.source.bmap.is_some(),
                    result,
                });
            }
        }
    });
    (outcomes, fatal)
}

/// The error a flash run ends with: the image's own error first, then a
/// single target's error as it is, or a count when several failed.
pub fn verdict(outcomes: &[Outcome], fatal: Vec<Error>) -> Result<()> {
    if let Some(e) = fatal.into_iter().next() {
        return Err(e);
    }
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.result.is_err()).collect();
    match failed.as_slice() {
        [] => Ok(()),
        [one] if outcomes.len() == 1 => match &one.result {
            Err(e) => Err(Error::new(e.kind, e.message.clone())),
            Ok(_) => Ok(()),
        },
        _ => Err(Error::new(
            Kind::Output,
            format!(
                "{} of {} targets failed ({}); the others were written and verified",
                failed.len(),
                outcomes.len(),
                failed
                    .iter()
                    .map(|o| o.target.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}
