//! Block maps in bmaptool's format (version 1.x/2.x): which blocks of an image
//! hold data, with a checksum per range, so flashing writes and verifies only
//! those.

use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq)]
pub struct Range {
    pub first: u64,
    pub last: u64,
    /// sha256 (hex) of the range's bytes, when the map carries one.
    pub sha256: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Bmap {
    pub image_size: u64,
    pub block_size: u64,
    pub ranges: Vec<Range>,
}

impl Bmap {
    /// Byte span of a range, clipped to the image (the last block may be short).
    pub fn span(&self, r: &Range) -> (u64, u64) {
        let start = r.first * self.block_size;
        let end = ((r.last + 1) * self.block_size).min(self.image_size);
        (start, end)
    }
}

/// bmaptool 2.0 XML for `ranges` (block numbers, each with its sha256), with
/// BmapFileChecksum filled in as bmaptool computes it.
pub fn to_xml(image_size: u64, block_size: u64, ranges: &[Range]) -> String {
    let blocks = image_size.div_ceil(block_size);
    let mapped: u64 = ranges.iter().map(|r| r.last - r.first + 1).sum();
    let mut s = String::from("<?xml version=\"1.0\" ?>\n");
    s += "<!-- Block map written by piprep: the blocks of the image that hold data.\n     Flash with `piprep flash` or `bmaptool copy`. -->\n";
    s += "<bmap version=\"2.0\">\n";
    s += &format!("    <ImageSize> {image_size} </ImageSize>\n");
    s += &format!("    <BlockSize> {block_size} </BlockSize>\n");
    s += &format!("    <BlocksCount> {blocks} </BlocksCount>\n");
    s += &format!("    <MappedBlocksCount> {mapped} </MappedBlocksCount>\n");
    s += "    <ChecksumType> sha256 </ChecksumType>\n";
    s += &format!(
        "    <BmapFileChecksum> {} </BmapFileChecksum>\n",
        "0".repeat(64)
    );
    s += "    <BlockMap>\n";
    for r in ranges {
        let span = if r.first == r.last {
            r.first.to_string()
        } else {
            format!("{}-{}", r.first, r.last)
        };
        s += &format!(
            "        <Range chksum=\"{}\"> {span} </Range>\n",
            r.sha256.as_deref().unwrap_or_default()
        );
    }
    s += "    </BlockMap>\n</bmap>\n";
    let sum = hex::encode(Sha256::digest(s.as_bytes()));
    s.replacen(&"0".repeat(64), &sum, 1)
}

fn tag<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = text.find(&open)? + open.len();
    let end = start + text[start..].find(&close)?;
    Some(text[start..end].trim())
}

fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("<!--") {
        out.push_str(&rest[..i]);
        match rest[i..].find("-->") {
            Some(j) => rest = &rest[i + j + 3..],
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

/// Parse a .bmap file; a 2.x file's BmapFileChecksum is verified.
pub fn parse(text: &str) -> Result<Bmap, String> {
    let body = strip_comments(text);
    let version = body
        .split("<bmap version=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .ok_or("not a bmap file (no <bmap version=...>)")?;
    let major: u32 = version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .ok_or("bad bmap version")?;
    if !(1..=2).contains(&major) {
        return Err(format!("unsupported bmap version {version}"));
    }
    let num = |name: &str| -> Result<u64, String> {
        tag(&body, name)
            .ok_or(format!("missing <{name}>"))?
            .parse()
            .map_err(|_| format!("<{name}> is not a number"))
    };
    let image_size = num("ImageSize")?;
    let block_size = num("BlockSize")?;
    if block_size == 0 {
        return Err("<BlockSize> is 0".into());
    }
    let ctype = tag(&body, "ChecksumType").unwrap_or(if major >= 2 { "sha256" } else { "sha1" });
    if major >= 2 {
        let want = tag(&body, "BmapFileChecksum").ok_or("missing <BmapFileChecksum>")?;
        if ctype == "sha256" {
            // The checksum is over the file with the checksum itself zeroed.
            let zeroed = text.replacen(want, &"0".repeat(want.len()), 1);
            let got = hex::encode(Sha256::digest(zeroed.as_bytes()));
            if got != want {
                return Err(format!(
                    "BmapFileChecksum mismatch (file says {want}, content hashes to {got}): the .bmap is corrupt or was edited"
                ));
            }
        }
    }
    let map = tag(&body, "BlockMap").ok_or("missing <BlockMap>")?;
    let mut ranges = Vec::new();
    for piece in map.split("<Range").skip(1) {
        let (attrs, rest) = piece.split_once('>').ok_or("malformed <Range>")?;
        let value = rest.split("</Range>").next().unwrap_or("").trim();
        let (first, last) = match value.split_once('-') {
            Some((a, b)) => (a.trim().parse::<u64>(), b.trim().parse::<u64>()),
            None => (value.parse::<u64>(), value.parse::<u64>()),
        };
        let (first, last) = match (first, last) {
            (Ok(a), Ok(b)) if a <= b => (a, b),
            _ => return Err(format!("malformed range `{value}`")),
        };
        if first * block_size >= image_size {
            return Err(format!(
                "range `{value}` lies beyond the image size {image_size}"
            ));
        }
        let sha256 = if ctype == "sha256" {
            attrs
                .split("chksum=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .map(str::to_string)
        } else {
            None // sha1 maps: ranges are used, checksums are recomputed from the image
        };
        ranges.push(Range {
            first,
            last,
            sha256,
        });
    }
    Ok(Bmap {
        image_size,
        block_size,
        ranges,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> String {
        let body = "<?xml version=\"1.0\" ?>\n<!-- c -->\n<bmap version=\"2.0\">\n    <ImageSize> 10000 </ImageSize>\n    <BlockSize> 4096 </BlockSize>\n    <BlocksCount> 3 </BlocksCount>\n    <MappedBlocksCount> 2 </MappedBlocksCount>\n    <ChecksumType> sha256 </ChecksumType>\n    <BmapFileChecksum> ZEROS </BmapFileChecksum>\n    <BlockMap>\n        <Range chksum=\"aa\"> 0 </Range>\n        <Range chksum=\"bb\"> 2 </Range>\n    </BlockMap>\n</bmap>\n";
        let zeroed = body.replace("ZEROS", &"0".repeat(64));
        let sum = hex::encode(Sha256::digest(zeroed.as_bytes()));
        body.replace("ZEROS", &sum)
    }

    #[test]
    fn writes_what_it_parses() {
        let ranges = vec![
            Range {
                first: 0,
                last: 0,
                sha256: Some("a".repeat(64)),
            },
            Range {
                first: 5,
                last: 9,
                sha256: Some("b".repeat(64)),
            },
        ];
        let xml = to_xml(50_000, 4096, &ranges);
        let b = parse(&xml).unwrap();
        assert_eq!(b.ranges, ranges);
        assert_eq!(b.image_size, 50_000);
        assert!(xml.contains("<MappedBlocksCount> 6 </MappedBlocksCount>"));
    }

    #[test]
    fn parses_and_verifies_its_own_checksum() {
        let b = parse(&sample()).unwrap();
        assert_eq!(b.ranges.len(), 2);
        assert_eq!(b.span(&b.ranges[1]), (8192, 10000));
        assert_eq!(b.ranges[0].sha256.as_deref(), Some("aa"));
        let tampered = sample().replace("\"bb\"> 2 <", "\"bb\"> 1 <");
        assert!(
            parse(&tampered)
                .unwrap_err()
                .contains("BmapFileChecksum mismatch")
        );
        assert!(parse("<xml/>").is_err());
    }
}
