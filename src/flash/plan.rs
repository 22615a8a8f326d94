//! Which image goes to which target, decided from the command line alone,
//! before anything is opened, baked or written: a typo costs nothing.

use std::path::{Path, PathBuf};

use super::image::BmapChoice;
use crate::error::{Error, Result};

/// What is flashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Images {
    /// One image file, to every device.
    Given(PathBuf),
    /// Each node's image (from --out), to the device in the same position.
    Nodes(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pairing {
    pub images: Images,
    pub devices: Vec<PathBuf>,
}

/// `IMAGE DEVICE…`, or `--node A --node B DEVICE-A DEVICE-B` (a node named
/// twice is flashed once); `--bmap` names one image's map, so only with one.
pub fn pair(paths: &[PathBuf], nodes: &[String], bmap_given: bool) -> Result<Pairing> {
    if nodes.is_empty() {
        return match paths {
            [img, devs @ ..] if !devs.is_empty() => Ok(Pairing {
                images: Images::Given(img.clone()),
                devices: devs.to_vec(),
            }),
            _ => Err(Error::config(
                "give IMAGE and one or more DEVICEs, or --node NAME and a DEVICE per node",
            )),
        };
    }
    let mut unique: Vec<String> = Vec::new();
    for n in nodes {
        if !unique.contains(n) {
            unique.push(n.clone());
        }
    }
    if unique.len() != paths.len() {
        return Err(Error::config(format!(
            "{} node(s) but {} device(s): give one DEVICE per --node, in the same order (`piprep flash --node A --node B /dev/sdX /dev/sdY`)",
            unique.len(),
            paths.len()
        )));
    }
    if bmap_given && unique.len() > 1 {
        return Err(Error::config(
            "--bmap names one image's block map; with several --node, each image's own .bmap is used",
        ));
    }
    Ok(Pairing {
        images: Images::Nodes(unique),
        devices: paths.to_vec(),
    })
}

/// For each of `images` in order, the positions of its devices among
/// `devices`: one image goes to every device, several go one each.
pub fn assign(images: usize, devices: usize) -> Vec<Vec<usize>> {
    if images == 1 {
        return vec![(0..devices).collect()];
    }
    (0..images.min(devices)).map(|i| vec![i]).collect()
}

/// The block map each image is written with.
pub fn bmap_choice(no_bmap: bool, bmap: Option<&Path>) -> BmapChoice {
    match (no_bmap, bmap) {
        (true, _) => BmapChoice::None,
        (false, Some(b)) => BmapChoice::Path(b.to_path_buf()),
        (false, None) => BmapChoice::Beside,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(p: &[&str]) -> Vec<PathBuf> {
        p.iter().map(PathBuf::from).collect()
    }

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn one_image_goes_to_every_device() {
        let p = pair(&paths(&["cp-1.img", "/dev/sdb", "/dev/sdc"]), &[], false).unwrap();
        assert_eq!(p.images, Images::Given("cp-1.img".into()));
        assert_eq!(p.devices, paths(&["/dev/sdb", "/dev/sdc"]));
        assert_eq!(assign(1, 2), [vec![0, 1]]);
    }

    #[test]
    fn each_node_goes_to_the_device_in_its_position() {
        let p = pair(
            &paths(&["/dev/sdb", "/dev/sdc"]),
            &names(&["cp-1", "worker-1", "cp-1"]),
            false,
        )
        .unwrap();
        assert_eq!(p.images, Images::Nodes(names(&["cp-1", "worker-1"])));
        assert_eq!(assign(2, 2), [vec![0], vec![1]]);
        // One node is one image: to its one device.
        let one = pair(&paths(&["/dev/sdb"]), &names(&["cp-1"]), true).unwrap();
        assert_eq!(one.images, Images::Nodes(names(&["cp-1"])));
    }

    #[test]
    fn refusals_name_the_fix() {
        let e = |r: Result<Pairing>| r.unwrap_err().message;
        assert!(
            e(pair(&paths(&["cp-1.img"]), &[], false))
                .contains("give IMAGE and one or more DEVICEs")
        );
        assert!(e(pair(&[], &[], false)).contains("give IMAGE"));
        let counts = e(pair(&paths(&["/dev/sdb"]), &names(&["a", "b"]), false));
        assert!(counts.contains("2 node(s) but 1 device(s)"), "{counts}");
        let bmap = e(pair(
            &paths(&["/dev/sdb", "/dev/sdc"]),
            &names(&["a", "b"]),
            true,
        ));
        assert!(
            bmap.contains("--bmap names one image's block map"),
            "{bmap}"
        );
    }

    #[test]
    fn the_bmap_is_beside_given_or_none() {
        assert_eq!(
            bmap_choice(true, Some(Path::new("x.bmap"))),
            BmapChoice::None
        );
        assert_eq!(
            bmap_choice(false, Some(Path::new("x.bmap"))),
            BmapChoice::Path("x.bmap".into())
        );
        assert_eq!(bmap_choice(false, None), BmapChoice::Beside);
    }
}
