//! `piprep fetch` and `piprep cache`: base images into and out of the cache.

use super::context::{Ctx, print};
use crate::cli::{CacheArgs, CacheCommand, FetchArgs};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::source::Spec;
use crate::source::cache::Cache;

pub fn fetch(ctx: &Ctx, args: &FetchArgs) -> Result<()> {
    let spec = match &args.image {
        Some(p) => Spec::from_flag(p),
        None => {
            let cfg = Config::load(&ctx.config)?;
            cfg.image_spec()?.ok_or_else(|| {
                Error::config(format!(
                    "no [image] section in {}; pass --image URL|PATH",
                    cfg.path.display()
                ))
            })?
        }
    };
    let base = ctx.fetcher().fetch(&spec)?;
    print(&format!("{}\n", base.raw.display()))
}

pub fn cache(ctx: &Ctx, args: &CacheArgs) -> Result<()> {
    let cache = Cache::new(&ctx.cache_dir);
    match &args.command {
        CacheCommand::List => {
            let (images, partial) = cache.list();
            let mut s = format!("cache: {}\n", ctx.cache_dir.display());
            if images.is_empty() && partial.is_empty() {
                s += "  (empty)\n";
            }
            for l in &images {
                let (m, len, alloc) = (&l.meta, l.len, l.allocated);
                s += &format!(
                    "  {}  {:>7} MiB on disk ({} MiB raw)  {}  {}\n",
                    &m.sha256[..16],
                    alloc >> 20,
                    len >> 20,
                    m.release_date.as_deref().unwrap_or("-"),
                    m.name
                        .as_deref()
                        .or(m.url.as_deref())
                        .unwrap_or("(local file)")
                );
            }
            for (p, len) in &partial {
                s += &format!("  partial download {} ({} MiB)\n", p.display(), len >> 20);
            }
            print(&s)
        }
        CacheCommand::Clean { images, partial } => {
            // `clean` frees everything; `clean --partial` only partial
            // downloads; `clean SHA…` those images (and partials with --partial).
            let which = match (images.is_empty(), *partial) {
                (true, true) => crate::source::cache::Clean::PartialOnly,
                (true, false) => crate::source::cache::Clean::Everything,
                (false, p) => crate::source::cache::Clean::Images {
                    prefixes: images.clone(),
                    partials: p,
                },
            };
            let freed = cache.clean(&which)?;
            print(&format!("freed {} MiB\n", freed >> 20))
        }
    }
}
