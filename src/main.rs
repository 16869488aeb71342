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
    // A closed stdout must not look like success with no output.
    if STDOUT_WAS_CLOSED.load(std::sync::atomic::Ordering::Relaxed) {
        eprintln!(
            "layerscope: cannot write the output: standard output is closed; run it with \
             stdout open, e.g. `> out.txt` or `| less`"
        );
        return ExitCode::from(2);
    }
    let stdout = std::io::stdout();
    // Held below the buffer (so checked once per 8 KiB): an archive's layers are verified
    // while the command runs, and its output is shown only when they pass.
    let mut out = Output {
        inner: std::io::BufWriter::new(cli::held::Held::new(
            stdout.lock(),
            cli::held::Gate::layer_tars(),
        )),
        failed: None,
    };
    let result = dispatch(cli, &mut out).and_then(|()| out.flush().map_err(anyhow::Error::from));
    // A layer that fails its check: its error is the answer, and nothing computed from it (nor
    // any other error, which may come from its content) is shown.
    if let Err(e) = layerscope::fsio::tar::verify_all() {
        out.inner.get_mut().discard();
        drop(out);
        return fail(&e.into());
    }
    match (result, out.failed.take()) {
        (Ok(()), _) => ExitCode::SUCCESS,
        // A reader that went away (`| head`): stop quietly, as other tools do.
        (Err(_), Some(std::io::ErrorKind::BrokenPipe)) => ExitCode::SUCCESS,
        (Err(e), Some(_)) => {
            drop(out);
            eprintln!(
                "layerscope: cannot write the output to standard output: {}",
                terminal_safe(&message(&e))
            );
            ExitCode::from(2)
        }
        (Err(e), None) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        (Err(e), None) => {
            drop(out);
            fail(&e)
        }
    }
}

/// Whether fd 1 was closed when the process started. Rust's runtime reopens a closed fd 1 on
/// `/dev/null` before `main` runs, so this is noted by a constructor that runs before it.
static STDOUT_WAS_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn note_closed_stdout() {
    // SAFETY: F_GETFD only asks whether fd 1 is open; this runs once, single-threaded, before
    // main, and touches nothing but an atomic.
    if unsafe { libc::fcntl(1, libc::F_GETFD) } == -1 {
        STDOUT_WAS_CLOSED.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

// Run from the ELF constructors, before Rust's runtime sanitizes fds 0-2.
#[used]
#[unsafe(link_section = ".init_array")]
static NOTE_CLOSED_STDOUT: extern "C" fn() = note_closed_stdout;

/// Standard output, remembering whether a write to it failed, so that a full disk or a
/// closed pipe is told apart from an error reading the stack.
struct Output<W: Write> {
    inner: W,
    failed: Option<std::io::ErrorKind>,
}

impl<W: Write> Write for Output<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner
            .write(buf)
            .inspect_err(|e| self.failed = Some(e.kind()))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner
            .flush()
            .inspect_err(|e| self.failed = Some(e.kind()))
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
            stack_is_mount_point(&req, "ls", true)?;
            at_most(&paths, 1, "ls")?;
            let merger = cli::open(&req)?;
            let path = paths.first().cloned().unwrap_or_else(|| b"/".to_vec());
            cli::ls::run(&merger, &path, recursive, json, out)
        }
        Command::Which { args, json, stack } => {
            let (req, paths) = cli::split_positionals(&stack, &args);
            stack_is_mount_point(&req, "which", true)?;
            at_most(&paths, 1, "which")?;
            let path = one_path(&paths, "which")?;
            let merger = cli::open(&req)?;
            cli::which::run(&merger, &path, json, out)
        }
        Command::Cat { args, layer, stack } => {
            let (req, paths) = cli::split_positionals(&stack, &args);
            stack_is_mount_point(&req, "cat", true)?;
            at_most(&paths, 1, "cat")?;
            let path = one_path(&paths, "cat")?;
            let merger = cli::open(&req)?;
            match layer {
                Some(n) => cli::cat::run_layer(&merger, &path, n, out),
                None => cli::cat::run(&merger, &path, out),
            }
        }
        Command::Waste {
            args,
            top,
            json,
            stack,
        } => {
            let (req, paths) = cli::split_positionals(&stack, &args);
            at_most(&paths, 0, "waste")?;
            let merger = cli::open(&req)?;
            cli::waste::run(&merger, top, json, out)
        }
        Command::Check {
            args,
            max_wasted,
            max_wasted_percent,
            min_efficiency,
            floor,
            config,
            json,
            stack,
        } => {
            let given = cli::check::Given {
                max_wasted,
                max_wasted_percent,
                min_efficiency,
                floor,
                config,
            };
            cli::check::prepare(&given)?;
            let (req, paths) = cli::split_positionals(&stack, &args);
            at_most(&paths, 0, "check")?;
            let merger = cli::open(&req)?;
            cli::check::run(&merger, &given, json, out)
        }
        Command::List { json, roots } => cli::list::run(&roots.roots(), json, out),
        Command::Du {
            json,
            cleanup_script,
            roots,
        } => cli::du::run(&roots.roots(), json, cleanup_script, out),
        Command::Layers { args, json, stack } => {
            let (req, paths) = cli::split_positionals(&stack, &args);
            stack_is_mount_point(&req, "layers", false)?;
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
            stack_is_mount_point(&req, "watch", false)?;
            at_most(&paths, 0, "watch")?;
            cli::watch::run(&req, &watch, json, out)
        }
        Command::Diff {
            args,
            layer,
            against,
            json,
            stack,
        } => {
            let (mut req, paths) = cli::split_positionals(&stack, &args);
            stack_is_mount_point(&req, "diff", false)?;
            at_most(&paths, 0, "diff")?;
            // With --against, --no-verify is for whichever of the two is an archive (refused,
            // as alone, only when neither is).
            let is_archive = |s: Option<&std::ffi::OsString>| {
                use std::os::unix::ffi::OsStrExt;
                s.is_some_and(|s| layerscope::stack::archive::parse(s.as_bytes()).is_some())
            };
            let other_is_archive = is_archive(against.as_ref());
            if other_is_archive && !is_archive(req.stack.as_ref()) {
                req.no_verify = false;
            }
            let merger = cli::open(&req)?;
            match against {
                Some(other) => {
                    let other_req = layerscope::stack::spec::StackRequest {
                        stack: Some(other),
                        roots: stack.roots.roots(),
                        no_verify: stack.no_verify && other_is_archive,
                        ..Default::default()
                    };
                    let old = cli::open(&other_req)?;
                    cli::diff::run_against(merger.stack(), old.stack(), json, out)
                }
                None => cli::diff::run(merger.stack(), layer, json, out),
            }
        }
    }
}

/// A STACK inside a mounted overlay gets the `STACK PATH` form to type, the same for every
/// command and before its other arguments are looked at.
fn stack_is_mount_point(
    req: &layerscope::stack::spec::StackRequest,
    command: &str,
    takes_path: bool,
) -> anyhow::Result<()> {
    Ok(layerscope::stack::spec::check_stack_is_mount_point(
        req, command, takes_path,
    )?)
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
