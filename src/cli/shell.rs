//! `layerscope completions SHELL` and `layerscope man`: generated from the same clap definition
//! as `--help`, by the binary itself (as `rg --generate` does), so they always match the binary
//! that prints them and need no build script or files shipped beside it.

use std::io::Write;

use clap::CommandFactory;

use super::args::Cli;

/// Writes the completion script for `shell`.
///
/// # Errors
/// Writing fails.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn Write) -> std::io::Result<()> {
    // Into memory first: clap_complete panics when its writer fails (`| head`).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "layerscope", &mut script);
    out.write_all(&script)
}

/// Writes the man page, `layerscope(1)`, in roff.
///
/// # Errors
/// Writing fails.
pub fn man(out: &mut dyn Write) -> std::io::Result<()> {
    let cmd = Cli::command();
    let man = clap_mangen::Man::new(cmd);
    let mut page = Vec::new();
    man.render(&mut page)?;
    // clap_mangen's SUBCOMMANDS list points at a page per command (`layerscope-ls(1)`); this page
    // holds them all, as sections below.
    let mut page = String::from_utf8_lossy(&page).into_owned();
    for sub in Cli::command().get_subcommands() {
        let name = sub.get_name();
        page = page.replace(
            &format!("layerscope\\-{name}(1)"),
            &format!(
                "\\fBlayerscope {name}\\fR (see LAYERSCOPE {} below)",
                name.to_uppercase()
            ),
        );
    }
    let page = page.replace("layerscope\\-help(1)", "\\fBlayerscope help\\fR");
    out.write_all(page.as_bytes())?;
    // One section per command: the page for `layerscope` alone names them but not their flags.
    for sub in Cli::command().get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        let name = sub.get_name().to_string();
        writeln!(out, ".SH \"LAYERSCOPE {}\"", name.to_uppercase())?;
        let sub = sub.clone().bin_name(format!("layerscope {name}"));
        let page = clap_mangen::Man::new(sub);
        let mut section = Vec::new();
        page.render_description_section(&mut section)?;
        page.render_synopsis_section(&mut section)?;
        page.render_options_section(&mut section)?;
        // Subsections of this command's section, not sections of their own.
        let text = String::from_utf8_lossy(&section).replace(".SH ", ".SS ");
        out.write_all(text.as_bytes())?;
    }
    Ok(())
}
