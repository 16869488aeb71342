//! The rules `layerscope check` applies, and dive's `.dive-ci` file that can name them.
//!
//! `.dive-ci` is YAML, but only this much of it: a `rules:` mapping of three scalar keys
//! (`lowestEfficiency`, `highestWastedBytes`, `highestUserWastedPercent`), comments, quotes.
//! We parse that subset here rather than take a YAML crate (serde_yaml is deprecated, and its
//! forks would be a dependency for twenty lines); anything outside it is refused with the line
//! number, never guessed at.

use crate::error::{Error, Result};

/// dive's defaults for a rule a `.dive-ci` file does not name (its `ci` config defaults).
pub const DIVE_LOWEST_EFFICIENCY: f64 = 0.9;
/// dive's default `highestUserWastedPercent`, as a percentage.
pub const DIVE_HIGHEST_WASTED_PERCENT: f64 = 10.0;

/// The limits to check; `None` is a rule that is off.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rules {
    /// Fail when efficiency (visible / stored) is below this ratio (0 to 1).
    pub min_efficiency: Option<f64>,
    /// Fail when wasted bytes exceed this.
    pub max_wasted: Option<u64>,
    /// Fail when wasted bytes exceed this percentage (0 to 100) of stored bytes.
    pub max_wasted_percent: Option<f64>,
    /// The two ratio rules pass while wasted bytes are under this.
    pub floor: Option<u64>,
}

impl Rules {
    /// dive's defaults: `lowestEfficiency: 0.9`, `highestWastedBytes: disabled`,
    /// `highestUserWastedPercent: 0.1`.
    #[must_use]
    pub fn dive_defaults() -> Self {
        Rules {
            min_efficiency: Some(DIVE_LOWEST_EFFICIENCY),
            max_wasted: None,
            max_wasted_percent: Some(DIVE_HIGHEST_WASTED_PERCENT),
            floor: None,
        }
    }

    /// Whether no limit is set.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.min_efficiency.is_none()
            && self.max_wasted.is_none()
            && self.max_wasted_percent.is_none()
    }
}

/// Parses a byte count the way dive does (go-humanize's `ParseBytes`): `1000`, `20MB`
/// (10^6), `20MiB` (2^20), `1.5 GB`, case-insensitive.
///
/// # Errors
/// Not a number with one of those units.
pub fn parse_bytes(text: &str) -> std::result::Result<u64, String> {
    let t: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ',')
        .collect::<String>()
        .to_ascii_lowercase();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("'{text}' is not a byte count (e.g. 1000, 20MB, 20MiB)"))?;
    let mult: f64 = match unit {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "p" | "pb" => 1e15,
        "ki" | "kib" => 1024.0,
        "mi" | "mib" => 1024.0 * 1024.0,
        "gi" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "ti" | "tib" => 1024.0_f64.powi(4),
        "pi" | "pib" => 1024.0_f64.powi(5),
        _ => {
            return Err(format!(
                "'{text}': unknown unit '{unit}' (use B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)"
            ));
        }
    };
    let bytes = value * mult;
    if !bytes.is_finite() || !(0.0..1.8e19).contains(&bytes) {
        return Err(format!("'{text}' is out of range"));
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(bytes as u64)
}

/// Parses a ratio between 0 and 1 (dive's `lowestEfficiency` and `highestUserWastedPercent`).
fn parse_ratio(key: &str, value: &str) -> std::result::Result<f64, String> {
    let v: f64 = value
        .parse()
        .map_err(|_| format!("{key}: '{value}' is not a number"))?;
    if !(0.0..=1.0).contains(&v) {
        return Err(format!(
            "{key}: {value} is outside the allowed range 0 to 1 (dive's ratios: 0.1 is 10%)"
        ));
    }
    Ok(v)
}

/// Reads a `.dive-ci` file: the rules it names, dive's defaults for the others.
///
/// # Errors
/// The file cannot be read, or holds something other than dive's `rules:` keys.
pub fn read_dive_ci(path: &std::path::Path) -> Result<Rules> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))?;
    parse_dive_ci(&text).map_err(|e| {
        Error::BadInput(format!(
            "{}: {e}; a .dive-ci file holds `rules:` with lowestEfficiency, highestWastedBytes \
             and highestUserWastedPercent",
            crate::escape::path(path)
        ))
    })
}

/// [`read_dive_ci`] on text.
///
/// # Errors
/// As [`read_dive_ci`], with the line number.
pub fn parse_dive_ci(text: &str) -> std::result::Result<Rules, String> {
    let mut rules = Rules::dive_defaults();
    let mut in_rules = false;
    for (n, raw) in text.lines().enumerate() {
        let line_no = n + 1;
        let line = strip_comment(raw);
        if line.trim().is_empty() || line.trim() == "---" {
            continue;
        }
        let indented = line.starts_with([' ', '\t']);
        let (key, value) = line
            .trim()
            .split_once(':')
            .ok_or_else(|| format!("line {line_no}: expected `key: value`"))?;
        let (key, value) = (key.trim(), unquote(value.trim()));
        if !indented {
            if key != "rules" || !value.is_empty() {
                return Err(format!(
                    "line {line_no}: unexpected `{}` (only a `rules:` section is read)",
                    raw.trim()
                ));
            }
            in_rules = true;
            continue;
        }
        if !in_rules {
            return Err(format!("line {line_no}: indented key outside `rules:`"));
        }
        let disabled = value.eq_ignore_ascii_case("disabled");
        let err = |e: String| format!("line {line_no}: {e}");
        match key {
            "lowestEfficiency" => {
                rules.min_efficiency = if disabled {
                    None
                } else {
                    Some(parse_ratio(key, value).map_err(err)?)
                };
            }
            "highestWastedBytes" => {
                rules.max_wasted = if disabled {
                    None
                } else {
                    Some(parse_bytes(value).map_err(err)?)
                };
            }
            "highestUserWastedPercent" => {
                rules.max_wasted_percent = if disabled {
                    None
                } else {
                    Some(100.0 * parse_ratio(key, value).map_err(err)?)
                };
            }
            other => return Err(format!("line {line_no}: unknown rule `{other}`")),
        }
    }
    Ok(rules)
}

/// The line without a `#` comment (a `#` inside quotes stays).
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if i == 0 || line[..i].ends_with([' ', '\t']) => return &line[..i],
            _ => {}
        }
    }
    line
}

fn unquote(v: &str) -> &str {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return &v[1..v.len() - 1];
        }
    }
    v
}

/// How one rule came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The figure is within the limit.
    Pass,
    /// It is not.
    Fail,
    /// A ratio rule not applied because wasted bytes are under the floor.
    UnderFloor,
}

impl Status {
    /// `pass`, `fail`, `pass-under-floor`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::UnderFloor => "pass-under-floor",
        }
    }
}

/// Which rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// `--min-efficiency` (dive's `lowestEfficiency`).
    MinEfficiency,
    /// `--max-wasted` (`highestWastedBytes`).
    MaxWasted,
    /// `--max-wasted-percent` (`highestUserWastedPercent`).
    MaxWastedPercent,
}

impl Rule {
    /// Our name (the flag without dashes).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Rule::MinEfficiency => "min-efficiency",
            Rule::MaxWasted => "max-wasted",
            Rule::MaxWastedPercent => "max-wasted-percent",
        }
    }

    /// dive's name for the rule.
    #[must_use]
    pub fn dive_name(self) -> &'static str {
        match self {
            Rule::MinEfficiency => "lowestEfficiency",
            Rule::MaxWasted => "highestWastedBytes",
            Rule::MaxWastedPercent => "highestUserWastedPercent",
        }
    }
}

/// One rule's result: the figure measured and the limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    /// The rule.
    pub rule: Rule,
    /// The stack's figure (efficiency ratio, bytes, or percent).
    pub figure: f64,
    /// The limit, in the same unit.
    pub limit: f64,
    /// Pass or fail.
    pub status: Status,
}

/// Applies the rules that are on, in a fixed order. Failing is strict, as in dive: above the
/// maximum, below the minimum.
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn evaluate(report: &super::Report, rules: &Rules) -> Vec<Outcome> {
    let wasted = report.wasted_bytes();
    let under_floor = rules.floor.is_some_and(|f| wasted < f);
    let ratio_status = |fails: bool| match (fails, under_floor) {
        (false, _) => Status::Pass,
        (true, true) => Status::UnderFloor,
        (true, false) => Status::Fail,
    };
    let mut out = Vec::new();
    if let Some(min) = rules.min_efficiency {
        let e = report.efficiency();
        out.push(Outcome {
            rule: Rule::MinEfficiency,
            figure: e,
            limit: min,
            status: ratio_status(e < min),
        });
    }
    if let Some(max) = rules.max_wasted {
        out.push(Outcome {
            rule: Rule::MaxWasted,
            figure: wasted as f64,
            limit: max as f64,
            status: if wasted > max {
                Status::Fail
            } else {
                Status::Pass
            },
        });
    }
    if let Some(max) = rules.max_wasted_percent {
        let p = report.wasted_percent();
        out.push(Outcome {
            rule: Rule::MaxWastedPercent,
            figure: p,
            limit: max,
            status: ratio_status(p > max),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_read_as_dive_reads_them() {
        assert_eq!(parse_bytes("20MB"), Ok(20_000_000));
        assert_eq!(parse_bytes("20MiB"), Ok(20 * 1024 * 1024));
        assert_eq!(parse_bytes("1.5 kb"), Ok(1500));
        assert_eq!(parse_bytes("1000"), Ok(1000));
        assert_eq!(parse_bytes("7 B"), Ok(7));
        assert!(parse_bytes("20 parsecs").is_err());
        assert!(parse_bytes("MB").is_err());
        assert!(parse_bytes("-5MB").is_err());
    }

    #[test]
    fn a_dive_ci_file_names_rules_and_dive_defaults_fill_the_rest() {
        let r = parse_dive_ci(
            "# from dive's README\nrules:\n  # a comment\n  highestWastedBytes: 20MB # trailing\n",
        )
        .expect("parse");
        assert_eq!(r.max_wasted, Some(20_000_000));
        assert_eq!(r.min_efficiency, Some(0.9));
        assert_eq!(r.max_wasted_percent, Some(10.0));
        let r = parse_dive_ci(
            "rules:\n  lowestEfficiency: \"0.95\"\n  highestWastedBytes: disabled\n  highestUserWastedPercent: disabled\n",
        )
        .expect("parse");
        assert_eq!(
            r,
            Rules {
                min_efficiency: Some(0.95),
                ..Rules::default()
            }
        );
    }

    #[test]
    fn a_dive_ci_file_outside_the_subset_is_refused_with_its_line() {
        for (text, want) in [
            ("rules:\n  lowestEfficency: 0.9\n", "line 2: unknown rule"),
            (
                "rules:\n  lowestEfficiency: 1.5\n",
                "line 2: lowestEfficiency: 1.5",
            ),
            ("plugins:\n  x: 1\n", "line 1: unexpected"),
            ("  lowestEfficiency: 0.9\n", "line 1: indented key outside"),
            ("rules:\n  highestWastedBytes: lots\n", "line 2: 'lots'"),
            ("rules: {lowestEfficiency: 0.9}\n", "line 1: unexpected"),
        ] {
            let e = parse_dive_ci(text).expect_err(text);
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }
}
