//! Command-line types (clap derive). No logic here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const AFTER_HELP: &str = "\
Exit status:
  0  success
  1  unexpected failure
  2  bad command line, inventory or profile (validation findings)
  3  bad input image (missing, no partition table, no FAT boot partition,
     no cmdline.txt, root journal needs recovery, boot partition too full)
  4  output cannot be written (exists without --force, disk full, permissions)
  5  report, status: a node's first-boot checklist has failing items
  6  report, status: a node has not written a report yet (status: or
     could not be reached)

Typical use:
  piprep validate
  piprep render --node cp-1
  piprep bake --node cp-1 --image 2025-10-01-raspios-bookworm-arm64-lite.img
  piprep bake --all
  piprep known-hosts --install
  piprep status --all --watch";

/// Bake Kubernetes-ready Raspberry Pi OS images, one per node, without root.
///
/// piprep reads a cluster inventory (piprep.toml) and a Raspberry Pi OS image,
/// and writes out/NODE.img for each node: the memory cgroup enabled in
/// cmdline.txt and a first-boot hook that turns swap off, loads overlay and
/// br_netfilter, sets the bridge sysctls, installs chrony and ufw with the
/// guide's rules, and gives the node its hostname, static IP, user and SSH key.
/// Only the FAT boot partition of the copy is changed; the input image and the
/// root filesystem are never written.
#[derive(Debug, Parser)]
#[command(name = "piprep", version, about, long_about, after_help = AFTER_HELP)]
pub struct Cli {
    /// Cluster inventory.
    #[arg(
        long,
        short = 'c',
        global = true,
        default_value = "piprep.toml",
        env = "PIPREP_CONFIG"
    )]
    pub config: PathBuf,

    /// Cache for downloaded images and image hashes
    /// [default: $XDG_CACHE_HOME/piprep or ~/.cache/piprep].
    #[arg(long, global = true, value_name = "DIR", env = "PIPREP_CACHE")]
    pub cache_dir: Option<PathBuf>,

    /// Never touch the network: use only what the cache holds, and fail fast otherwise.
    #[arg(long, global = true)]
    pub offline: bool,

    /// No progress bars or informational messages; errors are still printed.
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a flashable image per node into --out (default out/).
    ///
    /// Validates the inventory first, then bakes the nodes in parallel from one
    /// base. Each node gets NODE.img (sparse), NODE.img.bmap and, with
    /// --compress xz, NODE.img.xz; out/SHA256SUMS and out/manifest.json cover
    /// them all. Outputs appear atomically (hidden temporary file, then rename),
    /// so an interrupted bake never leaves a half-written .img. Nodes whose
    /// configuration and base are unchanged are skipped.
    Bake(BakeArgs),
    /// Print (or write with --out) exactly what bake puts on a node's boot partition.
    ///
    /// A dry run and review aid: the edited cmdline.txt and every file, without
    /// touching an image. Secrets are shown as <redacted>.
    Render(RenderArgs),
    /// Check the inventory and profiles without an image; non-zero exit on errors.
    Validate(ValidateArgs),
    /// Show what an image or card holds: partitions, OS, cmdline, piprep stamp.
    ///
    /// Read-only; works on a base image, a baked image or a block device.
    /// Secrets are shown as <redacted>.
    Inspect(InspectArgs),
    /// Read the first-boot report a node wrote to its boot partition.
    ///
    /// Shows every checklist item of the guide with expected and observed
    /// values. Exit status 5 when any item failed, 6 when there is no report yet.
    Report(ReportArgs),
    /// Write an image to SD cards (or files), verified by reading it back.
    ///
    /// IMAGE is a raw image or an .img.xz (decompressed on the fly; told by its
    /// content, not its name). Uses IMAGE.bmap when present, so only mapped
    /// blocks are written, and checks each range's sha256 as it is read.
    /// Several DEVICEs get the same image from one read; with --node A --node B,
    /// each node's image goes to the DEVICE in the same position, all at once.
    /// Every target is read back and its sha256 compared; a failing card stops
    /// only itself.
    ///
    /// Refuses a device that is mounted, holds the running root, is in use, is
    /// not removable (unless --allow-non-removable) or is smaller than the
    /// image, and asks for confirmation unless --yes. Never creates a file under
    /// /dev; a target file that does not exist needs --create, and an existing
    /// one that holds a partition table, a piprep image or the inventory's base
    /// image needs --force. With --node, out/NODE.img is baked first when it is
    /// missing or stale.
    ///
    /// Exit codes: 0 all targets verified, 2 bad arguments or not confirmed, 3
    /// the image cannot be read or does not match its .bmap, 4 a target was
    /// refused or failed (the others are still written and verified).
    Flash(FlashArgs),
    /// Download, verify, decompress and cache the base image; print its path.
    ///
    /// The source is [image] in the inventory (path, url + sha256 or
    /// sha256_url, or os_list + name) or --image URL|PATH. Interrupted
    /// downloads resume; nothing is cached unless its sha256 matches.
    Fetch(FetchArgs),
    /// Show or free the image cache.
    Cache(CacheArgs),
    /// Connect to nodes over SSH with their pinned host keys and show the fleet.
    ///
    /// Uses the system ssh client with StrictHostKeyChecking=yes against
    /// OUT/known_hosts (HostKeyAlias=NODE), runs each node's checklist and
    /// prints a table: node, role, address, reachable, report result, failing
    /// items, and whether it is ready for `kubeadm init`/`join`. A node that
    /// cannot be reached is a row, not an error. --watch refreshes until every
    /// node is ready or --timeout passes.
    ///
    /// Exit codes: 0 every node ready, 5 a node's checklist has failing items,
    /// 6 a node could not be reached or has no report yet.
    Status(StatusArgs),
    /// Print the fleet's known_hosts (as bake writes OUT/known_hosts), or merge it.
    ///
    /// --install replaces the lines for the nodes' names and addresses in
    /// ~/.ssh/known_hosts (or --file), hashed or not, and keeps every other line.
    KnownHosts(KnownHostsArgs),
    /// Replace nodes' SSH host keys on purpose (then bake and flash again).
    ///
    /// The new keys are stored in the secrets directory ([secrets] dir,
    /// default .piprep/secrets beside the inventory).
    Rekey(RekeyArgs),
    /// Write inventories for the tools that come next: Ansible, /etc/hosts.
    ///
    /// `export ansible` prints an Ansible inventory (INI, or YAML with
    /// --format yaml) grouped by role, with ansible_host, ansible_user and
    /// ssh arguments that check host keys against OUT/known_hosts. `export
    /// hosts` prints the /etc/hosts block every node also gets.
    Export(ExportArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(CompletionsArgs),
    /// Print the man page (roff) to standard output.
    Man,
}

#[derive(Debug, Args)]
pub struct FlashArgs {
    /// IMAGE DEVICE…, or DEVICE… with --node (one per node, in order).
    #[arg(value_name = "IMAGE|DEVICE", num_args = 1.., required = true)]
    pub paths: Vec<PathBuf>,
    /// Flash this node's image from --out, baking it if missing or stale.
    /// Repeat for several cards: one DEVICE per --node, in the same order.
    #[arg(long, short = 'n', value_name = "NAME")]
    pub node: Vec<String>,
    /// Where --node finds and bakes images.
    #[arg(long, short = 'o', value_name = "DIR", default_value = "out")]
    pub out: PathBuf,
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
pub struct BakeArgs {
    /// Node to bake (repeatable).
    #[arg(
        long = "node",
        short = 'n',
        value_name = "NAME",
        required_unless_present = "all"
    )]
    pub nodes: Vec<String>,
    /// Bake every node in the inventory.
    #[arg(long, conflicts_with = "nodes")]
    pub all: bool,
    /// Base image: a local .img/.img.xz, or a URL (verified against URL.sha256);
    /// overrides [image] in the inventory.
    #[arg(long, value_name = "PATH|URL")]
    pub image: Option<PathBuf>,
    /// Output directory.
    #[arg(long, short = 'o', value_name = "DIR", default_value = "out")]
    pub out: PathBuf,
    /// Rebake even nodes whose output is up to date, and replace outputs piprep
    /// did not make.
    #[arg(long, short = 'f')]
    pub force: bool,
    /// Also write NODE.img.xz (multi-threaded).
    #[arg(long, value_name = "FORMAT", value_parser = ["xz"])]
    pub compress: Option<String>,
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
    /// Directory holding known_hosts (where bake wrote it).
    #[arg(long, short = 'o', value_name = "DIR", default_value = "out")]
    pub out: PathBuf,
    /// Reach NODE at HOST[:PORT] instead of its inventory address (jump
    /// hosts, port forwards, tests). Repeatable.
    #[arg(long, value_name = "NODE=HOST[:PORT]")]
    pub address: Vec<String>,
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
    /// Nodes whose keys to replace.
    #[arg(value_name = "NODE", required = true)]
    pub nodes: Vec<String>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExportKind {
    Ansible,
    Hosts,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExportFormat {
    Ini,
    Yaml,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// What to export.
    pub what: ExportKind,
    /// Ansible inventory format.
    #[arg(long, value_enum, default_value = "ini")]
    pub format: ExportFormat,
    /// Directory holding known_hosts, which the Ansible inventory points ssh at.
    #[arg(long, short = 'o', value_name = "DIR", default_value = "out")]
    pub out: PathBuf,
}
