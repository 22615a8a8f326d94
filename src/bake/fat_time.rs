//! The FAT timestamps of a bake, chosen so the same inputs give the same bytes.

use crate::error::{Error, Result};
use crate::image::{BaseImage, fat};

/// FAT timestamps: SOURCE_DATE_EPOCH, else the base's release date, else the
/// base's own cmdline.txt time, so the same inputs give the same bytes.
pub fn fat_time(base: &BaseImage) -> Result<fatfs::DateTime> {
    if let Ok(s) = std::env::var("SOURCE_DATE_EPOCH") {
        let secs: i64 = s.trim().parse().map_err(|_| {
            Error::config(format!(
                "SOURCE_DATE_EPOCH=`{s}` is not a number of seconds"
            ))
        })?;
        return Ok(fat::fat_time_from_unix(secs));
    }
    if let Some(d) = base.identity.release_date.as_deref().and_then(parse_date) {
        return Ok(fat::fat_time_from_unix(d));
    }
    Ok(base
        .boot_view
        .entry("cmdline.txt")
        .map(|e| e.modified)
        .unwrap_or_else(|| fat::fat_time_from_unix(1_577_836_800)))
}

/// `YYYY-MM-DD` → Unix seconds at midnight UTC.
fn parse_date(s: &str) -> Option<i64> {
    let mut it = s.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (it.next()??, it.next()??, it.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Days from civil (Howard Hinnant).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146_097 + doe - 719_468) * 86_400)
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_release_dates() {
        assert_eq!(super::parse_date("2025-10-01"), Some(1_759_276_800));
        assert_eq!(super::parse_date("1970-01-01"), Some(0));
        assert_eq!(super::parse_date("2024-02-29"), Some(1_709_164_800));
        assert_eq!(super::parse_date("soon"), None);
    }
}
