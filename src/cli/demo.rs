//! `layerscope demo`: a sample stack mounted for real and a guided copy-on-write tour.
//!
//! [`start`] is the seam for the TUI: it builds and mounts the demo (it must run before any
//! thread starts) and returns it with its tour. [`script`] prints the tour without a terminal
//! UI: each step, its explanation, the evidence checked on disk, and `which` and `diff` output.

use std::io::{BufRead, Write};

use crate::escape;
use crate::merge::Merger;
use crate::teach::{Demo, DemoOptions, Live, Namespace, StepOutcome, Tour};

/// Width the explanations are wrapped to.
const WIDTH: usize = 96;

/// Starts the demo and its tour. Call it before anything starts a thread: entering the private
/// namespaces needs a single-threaded process.
///
/// # Errors
/// The sample stack cannot be written.
pub fn start(no_mount: bool) -> anyhow::Result<(Demo, Tour)> {
    let demo = Demo::start(&DemoOptions { no_mount })?;
    let tour = Tour::new(&demo);
    Ok((demo, tour))
}

/// Prints the tour, running each step when the demo is live. With `pause`, waits for a line on
/// it before each step and before ending (so a class, or a test, can look at the layers).
///
/// # Errors
/// Writing fails, a layer cannot be read, or a step did not leave the evidence it claims.
pub fn script(
    demo: &Demo,
    tour: &mut Tour,
    mut pause: Option<&mut dyn BufRead>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    header(demo, pause.is_some(), out)?;
    let merger = demo.merger()?;
    section(out, "layerscope layers")?;
    super::layers::run(&demo.stack, false, out)?;

    let total = tour.steps().len();
    if let Live::Off { why } = &demo.live {
        writeln!(out)?;
        wrap(
            out,
            &format!(
                "The live tour is off: {why}. The stack was built but not mounted, so layerscope \
                 reads it from its layer directories only. Here is what each step would show:"
            ),
        )?;
        for (i, step) in tour.steps().iter().enumerate() {
            writeln!(out, "\n== Step {}/{total}: {} (not run)", i + 1, step.title)?;
            writeln!(out, "$ {}", step.command)?;
            wrap(out, &step.explanation)?;
        }
        writeln!(out)?;
        wrap(
            out,
            "What the image layers already hold: a whiteout deleting /etc/motd and an opaque \
             /var/www/html replacing the directory below.",
        )?;
        for path in ["/etc/motd", "/var/www/html"] {
            which(&merger, path, out)?;
        }
        return wait(&mut pause, "end the demo (the sample stack goes away)", out);
    }

    let mut failed = Vec::new();
    while let Some(i) = tour.next_index() {
        let step = &tour.steps()[i];
        wait(
            &mut pause,
            &format!("run step {}/{total}: {}", i + 1, step.title),
            out,
        )?;
        writeln!(out, "\n== Step {}/{total}: {}", i + 1, step.title)?;
        writeln!(out, "$ {}", step.command)?;
        let paths = step.paths.clone();
        let outcome = tour.run_next(demo)?.clone();
        print_outcome(&outcome, out)?;
        wrap(out, &tour.steps()[i].explanation)?;
        writeln!(out, "Evidence, read from the layer directories:")?;
        for c in &outcome.checks {
            let mark = if c.ok { "[ok]" } else { "[MISSING]" };
            writeln!(out, "  {mark} {}", c.evidence.meaning)?;
            writeln!(out, "       {}", c.claim)?;
            if !c.ok {
                writeln!(out, "       found instead: {}", c.found)?;
            }
        }
        if !outcome.all_ok() {
            failed.push(i + 1);
        }
        for path in &paths {
            which(&merger, path, out)?;
        }
        section(out, "layerscope diff")?;
        let mut diff = Vec::new();
        super::diff::run(&demo.stack, Some(0), false, &mut diff)?;
        if diff.is_empty() {
            writeln!(out, "(no changes in the upper layer)")?;
        } else {
            out.write_all(&diff)?;
        }
        out.flush()?;
    }
    wait(&mut pause, "end the demo (the sample stack goes away)", out)?;
    writeln!(out)?;
    if failed.is_empty() {
        writeln!(
            out,
            "All {total} steps left the evidence they claim. The demo's mounts and files are \
             gone when it exits."
        )?;
        Ok(())
    } else {
        anyhow::bail!(
            "step(s) {failed:?} did not leave the evidence they claim on this kernel (see [MISSING] above)"
        )
    }
}

fn header(demo: &Demo, pausing: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let l = &demo.layout;
    writeln!(
        out,
        "layerscope demo: copy-on-write in an overlay stack, step by step\n"
    )?;
    wrap(
        out,
        &format!(
            "The sample stack is in {} ({}).",
            escape::path(&l.root),
            demo.describe_isolation()
        ),
    )?;
    for note in &demo.notes {
        wrap(out, &format!("Note: {note}."))?;
    }
    let rel = |p: &std::path::Path| escape::path(p.strip_prefix(&l.root).unwrap_or(p));
    writeln!(out, "  lowerdir  the image's read-only layers, top first:")?;
    for (path, label) in &l.lowers {
        writeln!(
            out,
            "              {:<18} {}",
            rel(path),
            escape::display(label.as_bytes())
        )?;
    }
    writeln!(
        out,
        "  upperdir  {:<10} the container's writable layer, empty for now",
        rel(&l.upper)
    )?;
    writeln!(
        out,
        "  workdir   {:<10} the kernel's scratch space for atomic copy-up",
        rel(&l.work)
    )?;
    writeln!(
        out,
        "  merged    {:<10} the single view a container sees",
        rel(&l.merged)
    )?;
    if let Live::Mounted { options } = &demo.live {
        let lowers: Vec<String> = l.lowers.iter().map(|(p, _)| rel(p)).collect();
        writeln!(
            out,
            "(cd {} && mount -t overlay overlay -o lowerdir={},upperdir={},workdir={},{options} {})",
            escape::path(&l.root),
            lowers.join(":"),
            rel(&l.upper),
            rel(&l.work),
            rel(&l.merged)
        )?;
        if pausing {
            let enter = match demo.namespace {
                Namespace::User => "nsenter -t {pid} -U -m --preserve-credentials",
                _ => "sudo nsenter -t {pid} -m",
            }
            .replace("{pid}", &std::process::id().to_string());
            wrap(
                out,
                &format!(
                    "Only this process sees the mount. To look around from another shell while \
                     the demo waits: {enter} ls -la {}",
                    escape::path(&l.upper)
                ),
            )?;
        }
    }
    Ok(())
}

fn print_outcome(outcome: &StepOutcome, out: &mut dyn Write) -> anyhow::Result<()> {
    use crate::teach::OpResult;
    match &outcome.result {
        OpResult::Done { output } => {
            for line in output.lines() {
                writeln!(out, "  {}", escape::display(line.as_bytes()))?;
            }
        }
        OpResult::Failed { .. } => writeln!(out, "  {}", outcome.result.summary())?,
    }
    if let Some((what, result)) = &outcome.contrast {
        writeln!(out, "  ({what}: {})", result.summary())?;
    }
    Ok(())
}

fn which(merger: &Merger, path: &str, out: &mut dyn Write) -> anyhow::Result<()> {
    section(out, &format!("layerscope which {path}"))?;
    if let Err(e) = super::which::run(merger, path.as_bytes(), false, out) {
        writeln!(out, "  -> {e}")?;
    }
    Ok(())
}

fn section(out: &mut dyn Write, command: &str) -> std::io::Result<()> {
    writeln!(out, "$ {command}")
}

fn wait(
    pause: &mut Option<&mut dyn BufRead>,
    what: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    if let Some(input) = pause {
        writeln!(out, "\n-- press Enter to {what} --")?;
        out.flush()?;
        let mut line = String::new();
        input.read_line(&mut line)?;
    }
    Ok(())
}

/// Writes `text` word-wrapped to [`WIDTH`] columns.
fn wrap(out: &mut dyn Write, text: &str) -> std::io::Result<()> {
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > WIDTH {
            writeln!(out, "{line}")?;
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        writeln!(out, "{line}")?;
    }
    Ok(())
}
