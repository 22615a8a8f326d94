//! Each command's arguments (clap derive). No logic here: values that need
//! parsing have their own types in `types`.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Subcommand};

use super::types::{Compression, ExportFormat, ExportKind, ExportLayout, NodeAddress};

#[derive(Debug, Args)]
pub struct FlashArgs {
    /// IMAGE DEVICE…, or DEVICE… with --node (one per node, in order).
    #[arg(value_name = "IMAGE|DEVICE", num_args = 1.., required = true)]
    pub paths: Vec<PathBuf>,
    /// Flash this node's image from --out, baking it if missing or stale.
    /// Repeat for several cards: one DEVICE per --node, in the same order.
    #[arg(long, short = 'n', value_name = "NAME")]
    pub node: Vec<String>,
    /// Where --node finds and bakes images [default: out/ beside the inventory].
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Base image for baking with --node; overrides [image] path.
    #[arg(long, value_name = "PATH")]
    pub image: Option<PathBuf>,
    /// Write to a regular file that does not exist yet (never under /dev).
    #[arg(long)]
    pub create: bool,
    /// Overwrite a regular file that holds a partition table, a piprep image
    /// or the inventory's base image.
    #[arg(long)]
    pub force: bool,
    /// Block map to use [default: IMAGE.bmap, or NAME.img.bmap for
    /// NAME.img.xz, when it exists]. Only with a single image.
    #[arg(long, value_name = "PATH", conflicts_with = "no_bmap")]
    pub bmap: Option<PathBuf>,
    /// Ignore any .bmap and write every byte of the image.
    #[arg(long)]
    pub no_bmap: bool,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Allow a disk that does not report itself as removable.
    #[arg(long)]
    pub allow_non_removable: bool,
    #[command(flatten)]
    pub system: SystemArgs,
}

/// Where flash and cards read the machine's disks and mounts from; hidden,
/// for tests' fake trees.
#[derive(Debug, Args)]
pub struct SystemArgs {
    /// sysfs root to read device properties from (for tests).
    #[arg(long, hide = true, env = "PIPREP_SYSFS", default_value = "/sys")]
    pub sysfs: PathBuf,
    /// mountinfo file to read mounts from (for tests).
    #[arg(
        long,
        hide = true,
        env = "PIPREP_MOUNTINFO",
        default_value = "/proc/self/mountinfo"
    )]
    pub mountinfo: PathBuf,
}

#[derive(Debug, Args)]
pub struct CardsArgs {
    /// Also list disks that do not report themselves as removable.
    #[arg(long)]
    pub all: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub system: SystemArgs,
    /// Where the device nodes are (for tests).
    #[arg(long, hide = true, env = "PIPREP_DEV", default_value = "/dev")]
    pub dev_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Image URL (verified against URL.sha256) or local .img/.img.xz; overrides [image].
    #[arg(long, value_name = "URL|PATH")]
    pub image: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CacheArgs {
    #[command(subcommand)]
    pub command: CacheCommand,
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// List cached images and partial downloads.
    List,
    /// Remove cached images and partial downloads.
    ///
    /// `clean` removes everything (and fetched [kubernetes] repository keys);
    /// `clean --partial` only partial downloads
    /// (complete images stay); `clean SHA…` the images whose sha256 starts
    /// with a given prefix (with --partial, partial downloads too).
    Clean {
        /// sha256 prefixes of images to remove [default: every image, unless --partial].
        images: Vec<String>,
        /// Remove partial downloads; alone, remove nothing else.
        #[arg(long)]
        partial: bool,
    },
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// Shell to generate completions for.
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write piprep.1 and every command's page (piprep-bake.1, …) into DIR,
    /// as `make install` does, instead of printing piprep.1.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Image file or block device.
    pub image: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Image file or block device (the SD card, back in your laptop).
    pub image: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("which").required(true).args(["nodes", "all"])))]
pub struct BakeArgs {
    /// Node to bake (repeatable).
    #[arg(long = "node", short = 'n', value_name = "NAME")]
    pub nodes: Vec<String>,
    /// Bake every node in the inventory.
    #[arg(long)]
    pub all: bool,
    /// Base image: a local .img/.img.xz, or a URL (verified against URL.sha256);
    /// overrides [image] in the inventory.
    #[arg(long, value_name = "PATH|URL")]
    pub image: Option<PathBuf>,
    /// Output directory [default: out/ beside the inventory].
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Rebake even nodes whose output is up to date, and replace outputs piprep
    /// did not make.
    #[arg(long, short = 'f')]
    pub force: bool,
    /// Also write NODE.img.xz (multi-threaded).
    #[arg(long, value_name = "FORMAT", value_enum)]
    pub compress: Option<Compression>,
    /// Most nodes baked at once [default: up to 4 groups of up to 4 nodes;
    /// a group's images are written from one read of the base].
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
    /// Bake every node twice and fail unless the images are byte-identical.
    #[arg(long)]
    pub check_reproducible: bool,
    /// Write per-node phase timings as JSON (for benchmarks).
    #[arg(long, hide = true, value_name = "FILE")]
    pub timings: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Node to render.
    #[arg(long = "node", short = 'n', value_name = "NAME")]
    pub node: String,
    /// Read cmdline.txt and the boot partition's mount point from this image;
    /// without it the profile's added arguments are shown and /boot/firmware assumed.
    #[arg(long, value_name = "PATH")]
    pub image: Option<PathBuf>,
    /// Write the boot-partition files into DIR instead of printing them
    /// (secrets included), and what the first boot installs into the root
    /// filesystem as a tree under DIR/rootfs (replaced on each render), so
    /// `diff -r` shows exactly what changes for a node. DIR must be new,
    /// empty, or one piprep made (it is 0700, and marked `.piprep-owned`).
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Print findings as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also check the inventory against this base image (its architecture).
    /// Without it, `[image]` is used when it is a local raw image or cached.
    #[arg(long, value_name = "PATH|URL")]
    pub image: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Node to check (repeatable).
    #[arg(long, short = 'n', value_name = "NAME")]
    pub node: Vec<String>,
    /// Check every node of the inventory.
    #[arg(long, short = 'a', conflicts_with = "node")]
    pub all: bool,
    /// Print the table as JSON.
    #[arg(long)]
    pub json: bool,
    /// Refresh until every node is ready or --timeout passes.
    #[arg(long)]
    pub watch: bool,
    /// Seconds --watch waits in all.
    #[arg(long, value_name = "SECONDS", default_value_t = 900)]
    pub timeout: u64,
    /// Seconds between --watch rounds.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub interval: u64,
    /// Directory holding known_hosts, where bake wrote it [default: out/
    /// beside the inventory].
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Reach NODE at HOST[:PORT] instead of its inventory address (jump
    /// hosts, port forwards, tests). Repeatable.
    #[arg(long, value_name = "NODE=HOST[:PORT]")]
    pub address: Vec<NodeAddress>,
    /// An extra ssh option, as `-o OPTION` (IdentityFile=…, ProxyJump=…). Repeatable.
    #[arg(long, value_name = "OPTION")]
    pub ssh_option: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KnownHostsArgs {
    /// Merge into the known_hosts file instead of printing.
    #[arg(long)]
    pub install: bool,
    /// The file --install merges into [default: ~/.ssh/known_hosts].
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Hash the names and addresses, as `ssh-keygen -H` does.
    #[arg(long)]
    pub hashed: bool,
}

#[derive(Debug, Args)]
pub struct RekeyArgs {
    /// Nodes whose SSH host keys to replace.
    #[arg(value_name = "NODE", required_unless_present = "cluster")]
    pub nodes: Vec<String>,
    /// Replace the cluster's CAs, service-account key and bootstrap token
    /// (`bootstrap = true`); every node must then be baked and flashed again.
    #[arg(long)]
    pub cluster: bool,
}

#[derive(Debug, Args)]
pub struct KubeconfigArgs {
    /// The file to write, or with --merge to merge into.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Merge into ~/.kube/config (or --out) instead of writing a new file.
    #[arg(long)]
    pub merge: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// What to export.
    pub what: ExportKind,
    /// Ansible inventory format.
    #[arg(long, value_enum, default_value = "ini")]
    pub format: ExportFormat,
    /// Group names: piprep's own, or Kubespray's inventory.ini (INI only).
    #[arg(long, value_enum, default_value = "piprep")]
    pub layout: ExportLayout,
    /// Directory holding known_hosts, which the Ansible inventory points ssh
    /// at [default: out/ beside the inventory].
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The cluster's name.
    #[arg(long, value_name = "NAME")]
    pub cluster: Option<String>,
    /// How many nodes [default: 3, or as many as --names].
    #[arg(long, value_name = "N")]
    pub nodes: Option<usize>,
    /// How many of them are control planes (the first ones) [default: 1].
    #[arg(long, value_name = "N")]
    pub control_planes: Option<usize>,
    /// The nodes' names, comma-separated, control planes first
    /// [default: cp-1, worker-1, worker-2, …].
    #[arg(long, value_name = "NAME,…", value_delimiter = ',')]
    pub names: Vec<String>,
    /// The nodes' network [default: 10.1.1.0/24, as the guide].
    #[arg(long, value_name = "CIDR")]
    pub subnet: Option<String>,
    /// The router [default: the subnet's first address].
    #[arg(long, value_name = "IP")]
    pub gateway: Option<String>,
    /// A local base image (.img or .img.xz) [default: Raspberry Pi OS Lite
    /// (64-bit) from Raspberry Pi Imager's list].
    #[arg(long, value_name = "PATH")]
    pub image: Option<PathBuf>,
    /// A public key to log in with; repeat for several [default: every
    /// ~/.ssh/*.pub].
    #[arg(long, value_name = "FILE")]
    pub ssh_key: Vec<PathBuf>,
    /// The login user the nodes get [default: your user name].
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
}
