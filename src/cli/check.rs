//! `layerscope check`: a CI gate on wasted bytes and efficiency, with dive's rule names and
//! `.dive-ci` file. One line per rule, then `verdict: pass` or `verdict: fail`; the exit code is
//! 0 on pass, 3 on fail ([`crate::error::Error::CheckFailed`]), 2 on bad input.

use std::io::Write;
use std::path::{Path, PathBuf};

use humansize::{BINARY, DECIMAL, format_size};
use serde_json::{Map, json};

use crate::error::Error;
use crate::merge::Merger;
use crate::waste::rules::{Outcome, Rule, Rules, Status, evaluate, parse_bytes, read_dive_ci};
use crate::waste::{Report, analyse};

/// The rules as given on the command line.
#[derive(Debug, Clone, Default)]
pub struct Given {
    /// `--max-wasted BYTES`.
    pub max_wasted: Option<String>,
    /// `--max-wasted-percent P` (0 to 100).
    pub max_wasted_percent: Option<f64>,
    /// `--min-efficiency E` (0 to 1).
    pub min_efficiency: Option<f64>,
    /// `--floor BYTES`.
    pub floor: Option<String>,
    /// `--config FILE`.
    pub config: Option<PathBuf>,
}

/// Where the rules came from, for the first line.
enum Source {
    Flags,
    File(PathBuf),
    Defaults,
}

/// Builds the rules: `--config` (dive's defaults for the rules it does not name) overridden by
/// flags; with neither, `./.dive-ci` when there is one, else dive's defaults.
///
/// # Errors
/// A malformed value or config file.
fn rules(given: &Given, cwd: &Path) -> Result<(Rules, Source), Error> {
    let bad = |flag: &str, e: String| Error::BadInput(format!("{flag}: {e}"));
    let mut flags = Rules {
        max_wasted: given
            .max_wasted
            .as_deref()
            .map(parse_bytes)
            .transpose()
            .map_err(|e| bad("--max-wasted", e))?,
        max_wasted_percent: given.max_wasted_percent,
        min_efficiency: given.min_efficiency,
        floor: given
            .floor
            .as_deref()
            .map(parse_bytes)
            .transpose()
            .map_err(|e| bad("--floor", e))?,
    };
    if let Some(p) = flags.max_wasted_percent
        && !(0.0..=100.0).contains(&p)
    {
        return Err(bad(
            "--max-wasted-percent",
            format!("{p} is not a percentage from 0 to 100"),
        ));
    }
    if let Some(e) = flags.min_efficiency
        && !(0.0..=1.0).contains(&e)
    {
        return Err(bad(
            "--min-efficiency",
            format!("{e} is not a ratio from 0 to 1 (0.9 is 90%)"),
        ));
    }
    let dot = cwd.join(".dive-ci");
    let (file, source) = match &given.config {
        Some(p) => (Some(read_dive_ci(p)?), Source::File(p.clone())),
        None if flags.is_empty() && dot.is_file() => (Some(read_dive_ci(&dot)?), Source::File(dot)),
        None if flags.is_empty() => (Some(Rules::dive_defaults()), Source::Defaults),
        None => (None, Source::Flags),
    };
    if let Some(f) = file {
        flags.min_efficiency = flags.min_efficiency.or(f.min_efficiency);
        flags.max_wasted = flags.max_wasted.or(f.max_wasted);
        flags.max_wasted_percent = flags.max_wasted_percent.or(f.max_wasted_percent);
    }
    Ok((flags, source))
}

/// Checks the rules before reading the stack (bad input fails fast, with exit code 2).
///
/// # Errors
/// As the rules' parsing.
pub fn prepare(given: &Given) -> Result<Rules, Error> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    rules(given, &cwd).map(|(r, _)| r)
}

/// Runs the check on `merger`'s stack.
///
/// # Errors
/// [`crate::error::Error::CheckFailed`] when a rule fails; bad rules or an unreadable layer.
pub fn run(merger: &Merger, given: &Given, json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let (rules, source) = rules(given, &cwd)?;
    let report = analyse(merger)?;
    let outcomes = evaluate(&report, &rules);
    let failed = outcomes.iter().filter(|o| o.status == Status::Fail).count();
    let verdict = if failed == 0 { "pass" } else { "fail" };
    if json {
        for o in &outcomes {
            let mut m = Map::new();
            m.insert("kind".into(), json!("rule"));
            m.insert("rule".into(), json!(o.rule.name()));
            m.insert("dive_rule".into(), json!(o.rule.dive_name()));
            // Byte counts stay integers.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let (figure, limit) = match o.rule {
                Rule::MaxWasted => (json!(o.figure as u64), json!(o.limit as u64)),
                _ => (json!(o.figure), json!(o.limit)),
            };
            m.insert("figure".into(), figure);
            m.insert("limit".into(), limit);
            m.insert("result".into(), json!(o.status.as_str()));
            crate::report::write_json(&mut *out, &m)?;
            out.write_all(b"\n")?;
        }
        let mut m = Map::new();
        m.insert("kind".into(), json!("verdict"));
        m.insert("verdict".into(), json!(verdict));
        m.insert("stored_bytes".into(), json!(report.stored_bytes()));
        m.insert("visible_bytes".into(), json!(report.visible_bytes()));
        m.insert("wasted_bytes".into(), json!(report.wasted_bytes()));
        m.insert("efficiency".into(), json!(report.efficiency()));
        m.insert("floor".into(), json!(rules.floor));
        crate::report::write_json(&mut *out, &m)?;
        out.write_all(b"\n")?;
    } else {
        match source {
            Source::Flags => writeln!(out, "rules: from the command line")?,
            Source::File(p) => writeln!(out, "rules: from {}", crate::escape::path(&p))?,
            Source::Defaults => writeln!(
                out,
                "rules: dive's defaults (no rule given and no .dive-ci here)"
            )?,
        }
        for o in &outcomes {
            writeln!(out, "{}", rule_line(o, &report, rules.floor))?;
        }
        writeln!(out, "verdict: {verdict}")?;
    }
    if failed > 0 {
        return Err(crate::error::Error::CheckFailed {
            failed,
            rules: outcomes.len(),
        }
        .into());
    }
    Ok(())
}

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn rule_line(o: &Outcome, report: &Report, floor: Option<u64>) -> String {
    let (figure, limit) = match o.rule {
        Rule::MinEfficiency => (format!("{:.4}", o.figure), format!(">= {:.4}", o.limit)),
        Rule::MaxWasted => (
            crate::cli::waste::bytes_text(report.wasted_bytes()),
            format!(
                "<= {} ({} bytes)",
                format_size(o.limit as u64, DECIMAL),
                o.limit as u64
            ),
        ),
        Rule::MaxWastedPercent => (format!("{:.2}%", o.figure), format!("<= {:.2}%", o.limit)),
    };
    let status = match (o.status, floor) {
        (Status::UnderFloor, Some(f)) => format!(
            "pass (wasted bytes under the {} floor)",
            format_size(f, BINARY)
        ),
        (s, _) => s.as_str().to_string(),
    };
    format!(
        "{} ({}): {figure}, limit {limit}: {status}",
        o.rule.name(),
        o.rule.dive_name()
    )
}
