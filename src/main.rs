//! The layerscope binary: parse arguments, dispatch, map errors to exit codes.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use layerscope::cli::{self, Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.command.is_none() {
        return explorer(cli);
    }
    // `layerscope demo` in a terminal: the explorer with the tour (without one, the script).
    #[cfg(feature = "tui")]
    if let Some(Command::Demo {
        script: false,
        pause: false,
        no_mount,
    }) = cli.command
        && layerscope::tui::terminal::require_tty().is_ok()
    {
        return tui_exit(demo_tui(no_mount));
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let result = dispatch(cli, &mut out).and_then(|()| out.flush().map_err(anyhow::Error::from));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            drop(out);
            fail(&e)
        }
    }
}

/// Prints the error and returns its exit code.
fn fail(e: &anyhow::Error) -> ExitCode {
    eprintln!("layerscope: {}", terminal_safe(&message(e)));
    ExitCode::from(layerscope::error::exit_code(e))
}

/// The error and its causes, each cause once (our errors already quote their source).
fn message(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if msg.contains(&text) {
            continue;
        }
        if !msg.is_empty() {
            msg.push_str(": ");
        }
        msg.push_str(&text);
    }
    msg
}

/// A last guard for the terminal: messages escape the names they quote, but no control or
/// bidirectional character may reach stderr raw, whatever slipped through.
fn terminal_safe(msg: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(msg.len());
    for c in msg.chars() {
        if c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// `layerscope [STACK]` in a build without the explorer: say so, and what works instead.
#[cfg(not(feature = "tui"))]
fn explorer(_cli: Cli) -> ExitCode {
    fail(&anyhow::Error::from(layerscope::Error::BadInput(
        "this layerscope was built without the interactive explorer (cargo feature `tui`): \
         use the commands (`layerscope --help`), or build it with the default features"
            .to_string(),
    )))
}

/// `layerscope [STACK]`: the interactive explorer; errors print once the terminal is restored.
#[cfg(feature = "tui")]
///
/// Without a STACK it offers the host's stacks, or opens the demo when there are none, so a
/// first run always shows something real. That is decided here, before any thread starts:
/// finding the stacks starts none, and the demo must enter its namespaces single-threaded.
fn explorer(cli: Cli) -> ExitCode {
    let req = cli::split_positionals(&cli.stack_args, &[]).0;
    let req = layerscope::stack::spec::StackRequest {
        stack: cli.stack,
        ..req
    };
    if req.stack.is_some() || req.is_explicit() {
        return tui_exit(layerscope::tui::run(req));
    }
    let result = layerscope::tui::terminal::require_tty().and_then(|()| {
        let found = layerscope::tui::picker::candidates_in(&req.roots);
        if found.is_empty() {
            demo_tui(false)
        } else {
            layerscope::tui::run_picker(found)
        }
    });
    tui_exit(result)
}

/// The demo in the explorer.
#[cfg(feature = "tui")]
fn demo_tui(no_mount: bool) -> anyhow::Result<()> {
    // First, while the process has one thread: the demo enters its own namespaces.
    let (demo, tour) = cli::demo::start(no_mount)?;
    layerscope::tui::run_demo(demo, tour)
}

/// The exit code of an explorer run; its error prints now that the terminal is restored.
#[cfg(feature = "tui")]
fn tui_exit(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn dispatch(cli: Cli, out: &mut dyn Write) -> anyhow::Result<()> {
    let Some(command) = cli.command else {
        unreachable!("main opens the explorer when there is no command")
    };
    match command {
        Command::Completions { shell } => Ok(cli::shell::completions(shell, out)?),
        Command::Man => Ok(cli::shell::man(out)?),
        Command::Demo {
            script,
            pause,
            no_mount,
        } => {
            // First, while the process has one thread: the demo enters its own namespaces.
            let (demo, mut tour) = cli::demo::start(no_mount)?;
            if !script && !pause {
                // main opens the explorer when there is a terminal (and one is built in).
                let why = if cfg!(feature = "tui") {
                    "no terminal (stdin and stdout must be a TTY)"
                } else {
                    "built without the explorer (cargo feature `tui`)"
                };
                eprintln!(
                    "layerscope: {why}, so no explorer: showing the scripted tour (`demo --script`)"
                );
            }
            let mut stdin = std::io::stdin().lock();
            let pause: Option<&mut dyn std::io::BufRead> =
                if pause { Some(&mut stdin) } else { None };
            cli::demo::script(&demo, &mut tour, pause, out)
        }
        Command::Ls {
            args,
            recursive,
            json,
            stack,
        } => {
            let (req, paths) = cli::split_positionals(&stack, &args);
            at_most(&paths, 1, "ls")?;
            let merger = cli::open(&req)?;
            let path = paths.first().cloned().unwrap_or_else(|| b"/".to_vec());
            cli::ls::run(&merger, &path, recursive, json, out)
        }
        Command::Which { args, json, stack } => {
            let (req, paths) = cli::split_positionals(&stack, &args);
            at_most(&paths, 1, "which")?;
            let path = one_path(&paths, "which")?;
            let merger = cli::open(&req)?;
            cli::which::run(&merger, &path, json, out)
        }
        Command::Cat { args, stack } => {
            let (req, paths) = cli::split_positionals(&stack, &args);
            at_most(&paths, 1, "cat")?;
            let path = one_path(&paths, "cat")?;
            let merger = cli::open(&req)?;
            cli::cat::run(&merger, &path, out)
        }
        Command::List { json, roots } => cli::list::run(&roots.roots(), json, out),
        Command::Layers { args, json, stack } => {
            let (req, paths) = cli::split_positionals(&stack, &args);
            at_most(&paths, 0, "layers")?;
            let merger = cli::open(&req)?;
            cli::layers::run(merger.stack(), json, out)
        }
        Command::Watch {
            args,
            json,
            watch,
            stack,
        } => {
            let (req, paths) = cli::split_positionals(&stack, &args);
            at_most(&paths, 0, "watch")?;
            cli::watch::run(&req, &watch, json, out)
        }
        Command::Diff {
            args,
            layer,
            json,
            stack,
        } => {
            let (req, paths) = cli::split_positionals(&stack, &args);
            at_most(&paths, 0, "diff")?;
            let merger = cli::open(&req)?;
            cli::diff::run(merger.stack(), layer, json, out)
        }
    }
}

/// Refuses extra positionals instead of silently ignoring them.
fn at_most(paths: &[Vec<u8>], n: usize, command: &str) -> anyhow::Result<()> {
    if paths.len() <= n {
        return Ok(());
    }
    let extra: Vec<String> = paths[n..]
        .iter()
        .map(|p| format!("'{}'", layerscope::escape::display(p)))
        .collect();
    let takes = match n {
        0 => "takes only a STACK (or --lowerdir), no PATH",
        _ => "takes one PATH inside the merged view after the STACK (none after --lowerdir)",
    };
    Err(layerscope::Error::BadInput(format!(
        "`{command}` {takes}; unexpected: {}",
        extra.join(" ")
    ))
    .into())
}

fn one_path(paths: &[Vec<u8>], command: &str) -> anyhow::Result<Vec<u8>> {
    paths.first().cloned().ok_or_else(|| {
        layerscope::Error::BadInput(format!(
            "`{command}` needs a PATH inside the merged view, e.g. /etc/passwd"
        ))
        .into()
    })
}
