//! The closest of a set of names to one that is not in it, for a fix that
//! names what would do.

/// Edit distance, case-insensitive (a capital is no typo worth a hint).
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut row = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            row.push(sub.min(prev[j + 1] + 1).min(row[j] + 1));
        }
        prev = row;
    }
    prev[b.len()]
}

/// The name of `names` nearest to `want` (ties: the first in order); for a
/// path-like name (`Europe/Berlinn`) its last part counts on its own too.
pub fn closest<'a>(want: &str, names: impl IntoIterator<Item = &'a String>) -> Option<&'a str> {
    let last = |s: &str| s.rsplit('/').next().unwrap_or(s).to_string();
    names
        .into_iter()
        .map(|n| {
            let d = distance(want, n).min(distance(&last(want), &last(n)) + 1);
            (d, n.as_str())
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_nearest() {
        let names: Vec<String> = ["Europe/Berlin", "Europe/London", "America/New_York"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(closest("Europe/Berlinn", &names), Some("Europe/Berlin"));
        assert_eq!(closest("Berlin", &names), Some("Europe/Berlin"));
        assert_eq!(
            closest("america/new_york", &names),
            Some("America/New_York")
        );
    }
}
