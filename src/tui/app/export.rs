//! `e`: write the selected file's version shown in the details pane (the one that supplies
//! its data, or for a hidden name the topmost hidden regular file) to a file the user names
//! in a small prompt. The write itself is a background job ([`Effect::Export`]).

use std::path::PathBuf;

use crate::merge::{FileKind, VersionRole};
use crate::tui::job::Effect;
use crate::tui::keymap::Action;

use super::*;

impl App {
    /// Opens the prompt for the selected path's version, or says why there is none.
    pub(super) fn start_export(&mut self) -> Vec<Effect> {
        let Some(ex) = &mut self.ex else {
            return Vec::new();
        };
        let data = match &ex.details.data {
            Some(Ok(d)) if ex.details.path.as_ref() == Some(&d.path) => d,
            _ => {
                self.message = Some(Message {
                    text: "select a file first (its details show the version written)".into(),
                    error: true,
                });
                return Vec::new();
            }
        };
        let v = &data.resolved.versions;
        let chosen = v
            .iter()
            .find(|v| v.role == VersionRole::Data && v.kind == FileKind::File)
            .or_else(|| {
                v.iter().find(|v| {
                    v.kind == FileKind::File
                        && matches!(v.role, VersionRole::Supplies | VersionRole::Hidden(_))
                })
            });
        let Some(chosen) = chosen else {
            self.message = Some(Message {
                text: format!(
                    "'{}' has no regular-file version to write",
                    crate::escape::display(&data.path)
                ),
                error: true,
            });
            return Vec::new();
        };
        ex.export = Some(ExportPrompt {
            path: data.path.clone(),
            layer: chosen.layer,
            input: String::new(),
        });
        Vec::new()
    }

    pub(super) fn prompt_type(&mut self, c: char) -> Vec<Effect> {
        if let Some(p) = self.ex.as_mut().and_then(|e| e.export.as_mut()) {
            p.input.push(c);
        }
        Vec::new()
    }

    pub(super) fn prompt_action(&mut self, action: Action) -> Vec<Effect> {
        let Some(ex) = &mut self.ex else {
            return Vec::new();
        };
        match action {
            Action::Cancel => ex.export = None,
            Action::Backspace => {
                if let Some(p) = &mut ex.export {
                    p.input.pop();
                }
            }
            Action::Accept => {
                let Some(p) = ex.export.take() else {
                    return Vec::new();
                };
                if p.input.is_empty() {
                    ex.export = Some(p);
                    return Vec::new();
                }
                ex.exporting = true;
                return vec![Effect::Export {
                    merger: Arc::clone(&ex.merger),
                    path: p.path,
                    layer: p.layer,
                    dest: PathBuf::from(p.input),
                }];
            }
            _ => {}
        }
        Vec::new()
    }
}
