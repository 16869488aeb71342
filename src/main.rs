//! The layerscope binary: parse arguments, dispatch, map errors to exit codes.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use layerscope::cli::{self, Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let result = dispatch(cli, &mut out).and_then(|()| out.flush().map_err(anyhow::Error::from));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            drop(out);
            eprintln!("layerscope: {e:#}");
            ExitCode::from(u8::try_from(cli::ls::exit_code(&e)).unwrap_or(2))
        }
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
        anyhow::bail!(layerscope::Error::BadInput(
            "the interactive explorer is not built yet: use `layerscope ls`, `which`, `layers`, `diff` or `cat`".into()
        ));
    };
    match command {
        Command::Ls {
            args,
            recursive,
            json,
            stack,
        } => {
            let (req, paths) = cli::split_positionals(&stack, &args);
            let merger = cli::open(&req)?;
            let path = paths.first().cloned().unwrap_or_else(|| b"/".to_vec());
            cli::ls::run(&merger, &path, recursive, json, out)
        }
        Command::Which { args, json, stack } => {
            let (req, paths) = cli::split_positionals(&stack, &args);
            let path = one_path(&paths, "which")?;
            let merger = cli::open(&req)?;
            cli::which::run(&merger, &path, json, out)
        }
        Command::Cat { args, stack } => {
            let (req, paths) = cli::split_positionals(&stack, &args);
            let path = one_path(&paths, "cat")?;
            let merger = cli::open(&req)?;
            cli::cat::run(&merger, &path, out)
        }
        Command::Layers { args, json, stack } => {
            let (req, _) = cli::split_positionals(&stack, &args);
            let merger = cli::open(&req)?;
            cli::layers::run(merger.stack(), json, out)
        }
        Command::Watch {
            args,
            json,
            watch,
            stack,
        } => {
            let (req, _) = cli::split_positionals(&stack, &args);
            cli::watch::run(&req, &watch, json, out)
        }
        Command::Diff {
            args,
            layer,
            json,
            stack,
        } => {
            let (req, _) = cli::split_positionals(&stack, &args);
            let merger = cli::open(&req)?;
            cli::diff::run(merger.stack(), layer, json, out)
        }
    }
}

fn one_path(paths: &[Vec<u8>], command: &str) -> anyhow::Result<Vec<u8>> {
    paths.first().cloned().ok_or_else(|| {
        layerscope::Error::BadInput(format!(
            "`{command}` needs a PATH inside the merged view, e.g. /etc/passwd"
        ))
        .into()
    })
}
