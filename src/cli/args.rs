//! Command-line arguments (clap derive).

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
    /// The stack the explorer opens: an overlay mount point (without one, and without
    /// --lowerdir, a picker of the host's stacks).
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
    /// Print a file's merged content (symlinks resolve inside the merged view).
    Cat {
        /// [STACK] PATH
        #[arg(value_name = "STACK_AND_PATH", required = true)]
        args: Vec<OsString>,
        #[command(flatten)]
        stack: StackArgs,
    },
}
