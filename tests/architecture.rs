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
