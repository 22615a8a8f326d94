//! The command line (clap derive): the global options and the commands;
//! their arguments are in `args`, typed values in `types`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

mod args;
mod types;

pub use args::*;
pub use types::*;

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
    /// List the removable disks a card can be in, as `flash` sees them: device,
    /// size, bus, model, partitions (and mounts), and what each holds (which
    /// node's piprep image). Reads only; a card it may not read is named so.
    Cards(CardsArgs),
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
    /// items, and whether it is ready for `kubeadm init`/`join`; with
    /// `bootstrap = true`, its Kubernetes state too (Ready, NotReady, not
    /// joined yet), and ready means Ready. A node that cannot be reached is a
    /// row, not an error. --watch refreshes until every node is ready or
    /// --timeout passes.
    ///
    /// Exit codes: 0 every node ready, 5 a node's checklist has failing items
    /// (or, with bootstrap, it is not Ready in the cluster yet), 6 a node could
    /// not be reached or has no report yet.
    Status(StatusArgs),
    /// Print the fleet's known_hosts (as bake writes OUT/known_hosts), or merge it.
    ///
    /// --install replaces the lines for the nodes' names and addresses in
    /// ~/.ssh/known_hosts (or --file), hashed or not, and keeps every other line.
    KnownHosts(KnownHostsArgs),
    /// Replace nodes' SSH host keys, or the cluster's CAs and token, on
    /// purpose (then bake and flash again).
    ///
    /// The new keys are stored in the secrets directory ([secrets] dir,
    /// default .piprep/secrets beside the inventory); --cluster replaces the
    /// CAs, service-account key and bootstrap token of `bootstrap = true`.
    Rekey(RekeyArgs),
    /// Write a kubeconfig for the cluster `bootstrap = true` forms, before
    /// any node has booted.
    ///
    /// Its client certificate (CN piprep-admin, group kubeadm:cluster-admins,
    /// which kubeadm binds to cluster-admin) is signed now with the cluster's
    /// CA from the secrets directory; the server is control_plane_endpoint or
    /// the init node's address. Written to --out FILE (default
    /// CLUSTER.kubeconfig), mode 0600, or with --merge added to
    /// ~/.kube/config (or --out) as the current context, keeping every other
    /// cluster, user and context.
    Kubeconfig(KubeconfigArgs),
    /// Write inventories for the tools that come next: Ansible, /etc/hosts.
    ///
    /// `export ansible` prints an Ansible inventory (INI, or YAML with
    /// --format yaml) grouped by role, with ansible_host, ansible_user and
    /// ssh arguments that check host keys against OUT/known_hosts. `export
    /// hosts` prints the /etc/hosts block every node also gets.
    Export(ExportArgs),
    /// Write a starter piprep.toml in the current directory (or --config).
    ///
    /// Finds your SSH public keys (~/.ssh/*.pub, or --ssh-key FILE), and takes
    /// the node count, names, subnet, gateway and image from flags or, on a
    /// terminal, from prompts with defaults (Enter keeps them). Without a
    /// terminal it asks nothing. Never overwrites a file; the result is
    /// validated before it is written. Exit codes: 0 written, 2 bad answers
    /// or the file exists.
    Init(InitArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell);
    /// `--node` completes the inventory's node names.
    Completions(CompletionsArgs),
    /// The inventory's node names, one per line (for shell completion).
    #[command(hide = true)]
    Nodes,
    /// Print the man page piprep(1) (roff) to standard output; with --dir,
    /// write it and one page per command (piprep-bake(1), …) there.
    Man(ManArgs),
}

impl Cli {
    /// How piprep talks on stderr for this command line.
    pub fn reporter_mode(&self) -> crate::reporter::Mode {
        use crate::reporter::Mode;
        let json = match &self.command {
            Command::Validate(a) => a.json,
            Command::Inspect(a) => a.json,
            Command::Report(a) => a.json,
            Command::Status(a) => a.json,
            _ => false,
        };
        match (self.quiet, json) {
            (true, _) => Mode::Quiet,
            (false, true) => Mode::Json,
            (false, false) => Mode::Terminal,
        }
    }
}
