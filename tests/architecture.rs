//! The boundary the project is built around: the domain (stacks, merge, diff, live, teach,
//! report) and the CLI never touch the terminal crates; only `src/tui/` does.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn only_the_tui_uses_ratatui_and_crossterm() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 20, "found the sources: {files:?}");
    let tui = src.join("tui");
    let offenders: Vec<String> = files
        .iter()
        .filter(|f| !f.starts_with(&tui))
        .filter(|f| {
            let text = std::fs::read_to_string(f).expect("read");
            text.lines().any(|l| {
                let l = l.trim_start();
                !l.starts_with("//") && (l.contains("ratatui") || l.contains("crossterm"))
            })
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "terminal crates used outside src/tui: {offenders:?}"
    );
}

/// The layers, bottom first: a module may use only modules of a lower rank (`crate::NAME`).
/// `live` reports through `report`'s JSON writer, so it sits one above; the explorer is above
/// everything (it may point at `cli` in its docs).
const LAYERS: &[(&str, u8)] = &[
    ("escape", 0),
    ("timestamp", 0),
    ("error", 1),
    ("fsio", 2),
    ("stack", 3),
    ("merge", 4),
    ("du", 4),
    ("waste", 5),
    ("diff", 6),
    ("report", 6),
    ("teach", 6),
    ("live", 7),
    ("cli", 8),
    ("tui", 9),
];

#[test]
fn every_module_uses_only_the_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let rank = |name: &str| LAYERS.iter().find(|(n, _)| *n == name).map(|&(_, r)| r);
    let mut violations = Vec::new();
    let mut checked = 0;
    for &(module, own) in LAYERS {
        let mut files = Vec::new();
        let dir = src.join(module);
        if dir.is_dir() {
            rust_files(&dir, &mut files);
        } else {
            files.push(src.join(format!("{module}.rs")));
        }
        for file in files {
            let text = std::fs::read_to_string(&file).expect("read");
            checked += 1;
            for (n, line) in text.lines().enumerate() {
                let code = line.trim_start();
                if code.starts_with("//") {
                    continue;
                }
                for (at, _) in code.match_indices("crate::") {
                    let used: String = code[at + "crate::".len()..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if let Some(r) = rank(&used)
                        && used != module
                        && r >= own
                    {
                        violations.push(format!(
                            "{}:{}: {module} uses {used}",
                            file.display(),
                            n + 1
                        ));
                    }
                }
            }
        }
    }
    assert!(checked > 20, "found the sources ({checked} files)");
    assert!(
        violations.is_empty(),
        "arrows must point down (fsio, stack, merge/du, waste, diff/report/teach, live, cli, tui):\n{}",
        violations.join("\n")
    );
}

/// A library user can depend on the engine without the terminal crates: with the `tui` feature
/// off, neither ratatui nor crossterm is in the dependency graph (`.ci/run` also builds it so).
#[test]
fn without_the_tui_feature_no_terminal_crate_is_a_dependency() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let tree = |args: &[&str]| {
        let out = std::process::Command::new(&cargo)
            .args(["tree", "--offline", "--edges", "normal", "--prefix", "none"])
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("run cargo tree");
        assert!(
            out.status.success(),
            "cargo tree {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let terminal = |t: &str| {
        t.lines()
            .filter(|l| l.starts_with("ratatui ") || l.starts_with("crossterm "))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    // The check can see them: with the default features they are there.
    assert!(
        !terminal(&tree(&[])).is_empty(),
        "ratatui with default features"
    );
    let without = tree(&["--no-default-features"]);
    assert!(without.contains("rustix "), "a real tree: {without}");
    assert_eq!(terminal(&without), Vec::<String>::new());
}

/// One way to print JSON: every record goes through `report::write_json` (which escapes what a
/// terminal would act on), so no command calls serde_json's writers itself.
#[test]
fn json_is_written_only_through_report() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let report = src.join("report.rs");
    let offenders: Vec<String> = files
        .iter()
        .filter(|f| **f != report)
        .flat_map(|f| {
            let text = std::fs::read_to_string(f).expect("read");
            text.lines()
                .enumerate()
                .filter(|(_, l)| {
                    let l = l.trim_start();
                    !l.starts_with("//")
                        && [
                            "serde_json::to_writer",
                            "serde_json::to_vec",
                            "serde_json::to_string",
                        ]
                        .iter()
                        .any(|w| l.contains(w))
                })
                .map(|(n, _)| format!("{}:{}", f.display(), n + 1))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "use layerscope::report::write_json: {offenders:?}"
    );
}
