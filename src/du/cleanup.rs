//! `du --cleanup-script`: a shell script that removes the orphans the safe way, for a person to
//! read and run. layerscope only prints it.
//!
//! A directory is removed by hand only when no record of its engine names it at all (a true
//! orphan); one the engine still records is left to the engine, with what the engine does
//! about it, since removing it by hand would leave the record pointing at nothing. The script
//! checks again, right before each removal, that the engine's daemon is not running, that the
//! directory is still there, and that no mount in `/proc/self/mountinfo` names it (by path, or
//! by the short `l/` link the overlay drivers mount through).

use std::fmt::Write as _;
use std::os::unix::ffi::OsStrExt;

use humansize::{BINARY, format_size};

use super::{Orphan, Usage};

/// Quotes a string for a POSIX shell: single quotes, `'` written as `'\''`.
#[must_use]
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A comment line's text with control characters shown as `?`, so that no name can end the
/// comment and start a command.
fn comment(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// The script. `now` is seconds since the epoch (for ages).
#[must_use]
pub fn script(usage: &Usage, now: i64) -> String {
    let mut out = String::new();
    let orphans: Vec<&super::LayerDir> = usage.dirs.iter().filter(|d| d.orphan.is_some()).collect();
    let is_removable = |d: &super::LayerDir| {
        d.orphan == Some(Orphan::Unrecorded)
            && !d.mounted
            && std::str::from_utf8(d.path.as_os_str().as_bytes()).is_ok()
            // mountinfo escapes these, so the script's grep could not see a mount using it
            && !d
                .path
                .as_os_str()
                .as_bytes()
                .iter()
                .any(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\\'))
    };
    let removable: Vec<&super::LayerDir> = orphans
        .iter()
        .copied()
        .filter(|d| is_removable(d))
        .collect();
    let freed: u64 = removable.iter().map(|d| d.bytes).sum();
    let _ = writeln!(out, "#!/bin/sh");
    let _ = writeln!(
        out,
        "# Written by `layerscope du --cleanup-script`. layerscope removed nothing: review this\n\
         # script, stop the daemons it names, then run it as root."
    );
    let _ = writeln!(out, "#");
    let _ = writeln!(
        out,
        "# It frees {} ({freed} bytes) by removing {} directories that no record of their\n\
         # engine names.",
        format_size(freed, BINARY),
        removable.len()
    );
    let _ = writeln!(out, "#");
    let _ = writeln!(out, "# What layerscope checked when it wrote this:");
    let _ = writeln!(
        out,
        "#   - every directory removed below is named by no record of its engine and used by no\n\
         #     image, container or snapshot (the engine's files, read without a lock);\n\
         #   - no mount used it (/proc/self/mountinfo: mount points, overlay layers, workdirs)."
    );
    let _ = writeln!(
        out,
        "# What this script checks again right before each removal:"
    );
    let _ = writeln!(
        out,
        "#   - the engine's daemon is not running (pgrep), so no record can appear meanwhile;\n\
         #   - the directory is still there and no mount names it, by path or `l/` link.\n\
         # The stores as layerscope found them:"
    );
    for s in &usage.stores {
        let n = orphans
            .iter()
            .filter(|d| usage.stores[d.store].store == s.store)
            .count();
        let _ = writeln!(
            out,
            "#   {}: {} layer directories, {}, {n} orphans ({})",
            comment(&s.store),
            s.dirs,
            format_size(s.bytes, BINARY),
            format_size(s.orphan_bytes, BINARY)
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "set -u");
    out.push_str(
        r#"stopped() {
	for daemon in "$@"; do
		if pgrep -x "$daemon" >/dev/null 2>&1; then
			echo "layerscope cleanup: $daemon is running: stop it first; nothing removed" >&2
			exit 1
		fi
	done
}
remove() {
	dir=$1
	if [ ! -d "$dir" ]; then
		echo "skipped $dir: already gone"
		return 0
	fi
	if grep -qF -- "$dir" /proc/self/mountinfo; then
		echo "skipped $dir: a mount uses it" >&2
		return 0
	fi
	if [ -f "$dir/link" ] && link=$(cat -- "$dir/link") && [ -n "$link" ] &&
		grep -qF -- "l/$link" /proc/self/mountinfo; then
		echo "skipped $dir: a mount uses it through l/$link" >&2
		return 0
	fi
	rm -rf --one-file-system -- "$dir" && echo "removed $dir ($2 bytes)"
}
"#,
    );
    for (s, store) in usage.stores.iter().enumerate() {
        let mine: Vec<&&super::LayerDir> = orphans.iter().filter(|d| d.store == s).collect();
        if mine.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n# {}", comment(&store.store));
        if mine.iter().any(|d| is_removable(d)) {
            let daemons: Vec<String> = store.daemons.iter().map(|d| sh_quote(d)).collect();
            let _ = writeln!(out, "stopped {}", daemons.join(" "));
        }
        for d in &mine {
            let age = d.mtime.map_or_else(String::new, |m| {
                format!(", modified {} ago", super::age(now - m))
            });
            let what = format!(
                "{} ({}{age})",
                crate::escape::path(&d.path),
                format_size(d.bytes, BINARY)
            );
            if is_removable(d) {
                let _ = writeln!(out, "# no record names it{}", comment(&age));
                let path = String::from_utf8_lossy(d.path.as_os_str().as_bytes()).into_owned();
                let _ = writeln!(out, "remove {} {}", sh_quote(&path), d.bytes);
            } else if d.mounted {
                let _ = writeln!(out, "# kept, a mount uses it: {}", comment(&what));
            } else if d.orphan == Some(Orphan::Unreferenced) {
                let _ = writeln!(
                    out,
                    "# kept: {} is used by nothing, but {} names it: {}.",
                    comment(&what),
                    comment(d.record.as_deref().unwrap_or("a record")),
                    d.engine_way.unwrap_or("the engine still records it")
                );
            } else {
                let _ = writeln!(out, "# kept, its path is not UTF-8: {}", comment(&what));
            }
        }
    }
    if !usage.missing.is_empty() {
        let _ = writeln!(
            out,
            "\n# References to directories that are gone (nothing to remove; the engine's own\n\
             # `rm`/`rmi` of the owner clears the record):"
        );
        for m in &usage.missing {
            let _ = writeln!(
                out,
                "#   {} (referenced by {})",
                comment(&crate::escape::path(&m.path)),
                comment(&if m.referenced_by.is_empty() {
                    m.record.clone().unwrap_or_default()
                } else {
                    m.referenced_by.join(", ")
                })
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_quotes_and_spaces() {
        assert_eq!(sh_quote("/a b/c"), "'/a b/c'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        assert_eq!(comment("a\nrm -rf /"), "a?rm -rf /");
    }
}
