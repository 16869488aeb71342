//! Command-line arguments (clap derive).

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Explore Linux OverlayFS layer stacks: which layer supplies each file, and what it hides.
#[derive(Debug, Parser)]
#[command(name = "layerscope", version, about, long_about = None)]
pub struct Cli {
    /// The command; without one, layerscope opens the interactive explorer.
    #[command(subcommand)]
    pub command: Option<Command>,
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
    /// Mount options that change the view: userxattr, redirect_dir=, metacopy=.
    #[arg(short = 'o', long = "options", value_name = "OPTIONS")]
    pub options: Option<OsString>,
}

/// The scripting commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the merged view: each path, its type, and the layer that supplies it.
    Ls {
        /// [STACK] [PATH]: a mount point, then a path inside the merged view (default `/`).
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
        /// [STACK] PATH
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
        /// [STACK]
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
        /// [STACK]
        #[arg(value_name = "STACK")]
        args: Vec<OsString>,
        /// The layer to compare (default: the top).
        #[arg(long, value_name = "N")]
        layer: Option<usize>,
        /// JSON Lines, one object a line.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        stack: StackArgs,
    },
    /// Stream what is written to the upper layer as it happens, explained (Ctrl-C ends).
    Watch {
        /// [STACK]: an overlay mount point with an upperdir.
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
        /// [STACK] PATH
        #[arg(value_name = "STACK_AND_PATH", required = true)]
        args: Vec<OsString>,
        #[command(flatten)]
        stack: StackArgs,
    },
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
