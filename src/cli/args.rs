//! Command-line arguments (clap derive).
//!
//! The doc comments here are the `--help` text, written for a terminal: `[STACK]` and
//! `<docker-root>` are usage notation, not rustdoc links or HTML.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Explore Linux OverlayFS layer stacks: which layer supplies each file, and what it hides.
#[derive(Debug, Parser)]
#[command(
    name = "layerscope",
    version,
    about,
    long_about = None,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// The command; without one, layerscope opens the interactive explorer.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The stack the explorer opens: a mount point, docker:NAME, podman:NAME or
    /// containerd:[NS/]NAME (without one, and without --lowerdir, a picker of the host's
    /// stacks, or the demo when there are none).
    #[arg(value_name = "STACK")]
    pub stack: Option<std::ffi::OsString>,
    #[command(flatten)]
    pub stack_args: StackArgs,
}

/// How to name a stack without a mount point: its layers, as the mount options spell them.
#[derive(Debug, Clone, Default, Args)]
pub struct StackArgs {
    /// Lower layers, top first, in the mount option's syntax: `A:B:C`, `\:` for a colon in a
    /// name, `::` before data-only layers.
    #[arg(long, value_name = "A:B:C")]
    pub lowerdir: Option<OsString>,
    /// The upper layer.
    #[arg(long, value_name = "DIR", requires = "lowerdir")]
    pub upperdir: Option<PathBuf>,
    /// The mount's workdir: with `-o index=on` its `index/` says which lower inodes were
    /// copied up (read only; without it every lower hard link is reported as uncertain).
    #[arg(long, value_name = "DIR", requires = "upperdir")]
    pub workdir: Option<PathBuf>,
    /// Mount options that change the view: userxattr, redirect_dir=, metacopy=.
    #[arg(short = 'o', long = "options", value_name = "OPTIONS")]
    pub options: Option<OsString>,
    /// How the --lowerdir/--upperdir layers mark deletions: `kernel` (0/0 character devices
    /// and overlay xattrs, as overlayfs stores them) or `oci` (`.wh.NAME` files and
    /// `.wh..wh..opq` markers: fuse-overlayfs layers, unpacked image layers).
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t = LayerFormatArg::Kernel, requires = "lowerdir")]
    pub layer_format: LayerFormatArg,
    /// The image to open from a multi-platform archive or OCI layout, as OS/ARCH[/VARIANT]
    /// [default: this machine's].
    #[arg(long, value_name = "OS/ARCH")]
    pub platform: Option<String>,
    /// Do not hash an archive's layer blobs against their digests (the manifest and config
    /// still are): faster on a large layer, for an archive you trust. Said on stderr.
    #[arg(long)]
    pub no_verify: bool,
    #[command(flatten)]
    pub roots: EngineRoots,
}

/// The values of `--layer-format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LayerFormatArg {
    /// Whiteouts are 0/0 character devices; opaque directories and redirects are xattrs.
    #[default]
    Kernel,
    /// Whiteouts are `.wh.NAME` files; opaque directories hold `.wh..wh..opq`.
    Oci,
}

impl From<LayerFormatArg> for crate::stack::LayerFormat {
    fn from(a: LayerFormatArg) -> Self {
        match a {
            LayerFormatArg::Kernel => crate::stack::LayerFormat::Kernel,
            LayerFormatArg::Oci => crate::stack::LayerFormat::WhiteoutFiles,
        }
    }
}

/// Where the container engines keep their data (for `docker:`, `podman:`, `containerd:` names
/// and `list`); each defaults to the engine's own default.
#[derive(Debug, Clone, Default, Args)]
pub struct EngineRoots {
    /// Docker's data-root [default: data-root in /etc/docker/daemon.json, else /var/lib/docker].
    #[arg(long, value_name = "DIR")]
    pub docker_root: Option<PathBuf>,
    /// A containers/storage graphroot [default: /var/lib/containers/storage and the rootless
    /// ~/.local/share/containers/storage].
    #[arg(long, value_name = "DIR")]
    pub podman_root: Option<PathBuf>,
    /// containerd's root [default: /var/lib/containerd, and dockerd's own
    /// <docker-root>/containerd/daemon].
    #[arg(long, value_name = "DIR")]
    pub containerd_root: Option<PathBuf>,
}

impl EngineRoots {
    /// The roots as the library takes them.
    #[must_use]
    pub fn roots(&self) -> crate::stack::engine::Roots {
        crate::stack::engine::Roots {
            docker: self.docker_root.clone(),
            podman: self.podman_root.clone(),
            containerd: self.containerd_root.clone(),
        }
    }
}

/// The scripting commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the merged view: each path, its type, and the layer that supplies it.
    Ls {
        /// [STACK] [PATH]: a mount point or docker:NAME, podman:NAME, containerd:[NS/]NAME, then a
        /// path inside the merged view (default `/`).
        #[arg(value_name = "STACK_AND_PATH")]
        args: Vec<OsString>,
        /// List the whole tree under PATH, parents before children.
        #[arg(short = 'R', long)]
        recursive: bool,
        /// JSON Lines, one object a line.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        stack: StackArgs,
    },
    /// Show every version of PATH, top-down, and what each does.
    Which {
        /// [STACK] PATH: STACK as for `ls` (mount point, docker:NAME, ...).
        #[arg(value_name = "STACK_AND_PATH", required = true)]
        args: Vec<OsString>,
        /// JSON Lines, one object a line.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        stack: StackArgs,
    },
    /// Show each layer with its size and what it adds, modifies and deletes.
    Layers {
        /// [STACK]: a mount point, docker:NAME, podman:NAME or containerd:[NS/]NAME.
        #[arg(value_name = "STACK")]
        args: Vec<OsString>,
        /// JSON Lines, one object a line.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        stack: StackArgs,
    },
    /// What layer N changes relative to the layers below, in `docker diff` format.
    Diff {
        /// [STACK]: a mount point, docker:NAME, podman:NAME or containerd:[NS/]NAME.
        #[arg(value_name = "STACK")]
        args: Vec<OsString>,
        /// The layer to compare (default: the top).
        #[arg(long, value_name = "N", conflicts_with = "against")]
        layer: Option<usize>,
        /// Compare the whole merged view with another stack's instead (another build, an
        /// image and its container, an image and its base): A/C/D relative to OTHER, with
        /// each path's size change and the total.
        #[arg(long, value_name = "OTHER")]
        against: Option<OsString>,
        /// JSON Lines, one object a line.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        stack: StackArgs,
    },
    /// Build a sample stack, mount it, and tour copy-on-write step by step.
    Demo {
        /// Run the tour without a terminal UI: each step, its explanation, the evidence found
        /// on disk, and `which` and `diff` output.
        #[arg(long)]
        script: bool,
        /// Wait for Enter before each step and before ending.
        #[arg(long)]
        pause: bool,
        /// Build the stack but do not mount it (read it from its layers; the live tour is off).
        #[arg(long)]
        no_mount: bool,
    },
    /// Every stack on this host: containers (running or not), images, and overlay mounts.
    List {
        /// JSON Lines, one object a line.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        roots: EngineRoots,
    },
    /// Who owns every layer directory: owners, bytes, sharing, what removing each image or
    /// container frees, and orphans.
    Du {
        /// JSON Lines: one object per layer directory, per missing one, per owner, per store,
        /// then the total.
        #[arg(long)]
        json: bool,
        /// Print (never run) a shell script that removes the orphans the safe way.
        #[arg(long, conflicts_with = "json")]
        cleanup_script: bool,
        #[command(flatten)]
        roots: EngineRoots,
    },
    /// Stream what is written to the upper layer as it happens, explained (Ctrl-C ends).
    Watch {
        /// [STACK]: a stack with an upperdir (a mount point, docker:CONTAINER, ...).
        #[arg(value_name = "STACK")]
        args: Vec<OsString>,
        /// JSON Lines, one object a line.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        watch: WatchArgs,
        #[command(flatten)]
        stack: StackArgs,
    },
    /// Print a file's merged content (symlinks resolve inside the merged view).
    Cat {
        /// [STACK] PATH: STACK as for `ls` (mount point, docker:NAME, ...).
        #[arg(value_name = "STACK_AND_PATH", required = true)]
        args: Vec<OsString>,
        /// Print layer N's own version of PATH, even when the merged view hides it
        /// (overwritten or deleted by a later layer); symlinks are not followed.
        #[arg(long, value_name = "N")]
        layer: Option<usize>,
        #[command(flatten)]
        stack: StackArgs,
    },
    /// Where the bytes go: stored, visible and wasted bytes, efficiency, per layer, and the
    /// paths whose hidden copies waste the most.
    Waste {
        /// [STACK]: a mount point, docker:NAME, podman:NAME or containerd:[NS/]NAME.
        #[arg(value_name = "STACK")]
        args: Vec<OsString>,
        /// Show at most N wasted paths (and no-op copy-ups).
        #[arg(long, value_name = "N", default_value_t = 20)]
        top: usize,
        /// JSON Lines, one object a line.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        stack: StackArgs,
    },
    /// A CI gate on wasted bytes and efficiency (dive's rules and .dive-ci file): exit 0 when
    /// every rule holds, 3 when one fails, 2 on bad input.
    Check {
        /// [STACK]: a mount point, docker:NAME, podman:NAME or containerd:[NS/]NAME.
        #[arg(value_name = "STACK")]
        args: Vec<OsString>,
        /// Fail when more than BYTES are wasted (1000, 20MB, 20MiB; dive's highestWastedBytes).
        #[arg(long, value_name = "BYTES")]
        max_wasted: Option<String>,
        /// Fail when more than P percent (0-100) of the stored bytes are wasted (dive's
        /// highestUserWastedPercent, which is a ratio: 0.1 there is 10 here).
        #[arg(long, value_name = "P")]
        max_wasted_percent: Option<f64>,
        /// Fail when efficiency (visible / stored, 0-1) is below E (dive's lowestEfficiency).
        #[arg(long, value_name = "E")]
        min_efficiency: Option<f64>,
        /// The two ratio rules pass while fewer than BYTES are wasted (small images).
        #[arg(long, value_name = "BYTES")]
        floor: Option<String>,
        /// Read rules from dive's .dive-ci YAML file (flags override it). Without any rule,
        /// ./.dive-ci is read when it exists, else dive's defaults apply.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// JSON Lines, one object a line.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        stack: StackArgs,
    },
    /// Print the completion script for SHELL (see the README for where it goes).
    Completions {
        /// The shell (bash, zsh, fish, elvish, powershell).
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `layerscope man | man -l -`.
    Man,
}

/// How `watch` watches.
#[derive(Debug, Clone, Args)]
pub struct WatchArgs {
    /// Also watch the lower layers (the kernel calls changing them under a live mount undefined
    /// behaviour; costs one inotify watch per lower directory).
    #[arg(long)]
    pub lowers: bool,
    /// Poll the upper layer every MS milliseconds instead of using inotify.
    #[arg(long, value_name = "MS")]
    pub poll: Option<u64>,
    /// Gather each burst of changes for MS milliseconds before explaining it.
    #[arg(long, value_name = "MS", default_value_t = 100)]
    pub window: u64,
    /// Capacity of the internal event channel (a full channel triggers a rescan).
    #[arg(long, value_name = "N", default_value_t = 65_536, hide = true)]
    pub channel_capacity: usize,
}
