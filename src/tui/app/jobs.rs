//! Background job results coming back: each is checked against the generation it answers
//! (results for a view the user has left are dropped), then stored.

use std::sync::Arc;

use crate::merge::Merger;
use crate::tui::event::JobResult;
use crate::tui::job::Effect;
use crate::tui::tree::{Children, ROOT};

use super::*;

impl App {
    pub(super) fn job(&mut self, j: JobResult) -> Vec<Effect> {
        match j {
            JobResult::Candidates { found, notes } => {
                let Some(p) = &mut self.picker else {
                    return Vec::new();
                };
                // Sizes come after the first frame: measuring every layer directory takes
                // a while on a busy host, so the table shows first and fills in.
                let measure = found.iter().any(|c| c.engine != "mount");
                p.candidates = Some(found);
                p.notes.extend(notes);
                p.refilter();
                p.measuring = measure;
                if measure {
                    vec![Effect::HostUsage]
                } else {
                    Vec::new()
                }
            }
            JobResult::HostUsage(usage) => {
                if let Some(p) = &mut self.picker {
                    if let Some(c) = &mut p.candidates {
                        usage.apply(c);
                    }
                    p.host = Some(*usage);
                    p.measuring = false;
                    p.refilter();
                }
                Vec::new()
            }
            JobResult::Opened(result) => match result {
                Ok(m) => {
                    self.opening = None;
                    self.open(m)
                }
                Err(e) if self.opening.take().is_some() => {
                    // Named on the command line: there is nothing else to show.
                    self.fatal = Some(e);
                    self.quit = true;
                    Vec::new()
                }
                Err(e) => {
                    if let Some(p) = &mut self.picker {
                        p.opening = false;
                        p.error = Some(e.clone());
                    }
                    self.message = Some(Message {
                        text: format!("cannot open it: {e}"),
                        error: true,
                    });
                    Vec::new()
                }
            },
            JobResult::ViewReady { view, merger } => self.view_ready(view, merger),
            JobResult::TourStep { index, outcome } => self.step_done(index, outcome),
            JobResult::DirSizes { view, sizes } => {
                if let Some(ex) = &mut self.ex
                    && ex.view_gen == view
                {
                    ex.tree.set_dir_sizes(sizes);
                    ex.tree.sort_all(ex.sort);
                    return self.rebuild_rows();
                }
                Vec::new()
            }
            JobResult::Listed {
                view,
                path,
                contents,
            } => self.listed(view, &path, contents),
            JobResult::Summary {
                generation,
                layer,
                summary,
            } => {
                if let Some(ex) = &mut self.ex
                    && ex.summary_gen == generation
                    && let Some(slot) = ex.summaries.get_mut(layer)
                {
                    *slot = Some(summary);
                }
                Vec::new()
            }
            JobResult::Exported(result) => {
                if let Some(ex) = &mut self.ex {
                    ex.exporting = false;
                }
                self.message = Some(match result {
                    Ok(text) => Message { text, error: false },
                    Err(text) => Message { text, error: true },
                });
                Vec::new()
            }
            JobResult::Waste { generation, report } => {
                if let Some(ex) = &mut self.ex
                    && ex.waste_gen == generation
                {
                    ex.waste_by_path = match &report {
                        Ok(r) => {
                            let mut order: Vec<usize> = (0..r.paths.len()).collect();
                            order.sort_unstable_by(|&a, &b| r.paths[a].path.cmp(&r.paths[b].path));
                            order
                        }
                        Err(_) => Vec::new(),
                    };
                    ex.waste = Some(report);
                    ex.waste_running = false;
                    if std::mem::take(&mut ex.waste_again) {
                        return vec![Self::waste_effect(ex)];
                    }
                }
                Vec::new()
            }
            JobResult::Details { view, details } => {
                if let Some(ex) = &mut self.ex
                    && ex.view_gen == view
                {
                    let wanted = match &details {
                        Ok(d) => ex.details.path.as_ref() == Some(&d.path),
                        Err(_) => true,
                    };
                    if wanted {
                        ex.details.data = Some(details);
                    }
                }
                Vec::new()
            }
            JobResult::Search {
                view,
                query,
                matches,
                total,
                indexed,
                complete,
            } => {
                if let Some(ex) = &mut self.ex
                    && ex.view_gen == view
                {
                    ex.search.indexed = ex.search.indexed.max(indexed);
                    if query == ex.search.query_gen {
                        ex.search.result_gen = query;
                        ex.search.matches = matches;
                        ex.search.total = total;
                        ex.search.complete = complete;
                        ex.search.selected = ex
                            .search
                            .selected
                            .min(ex.search.matches.len().saturating_sub(1));
                    }
                }
                Vec::new()
            }
        }
    }

    pub(super) fn view_ready(
        &mut self,
        view: u64,
        merger: Result<Arc<Merger>, String>,
    ) -> Vec<Effect> {
        let Some(ex) = &mut self.ex else {
            return Vec::new();
        };
        if ex.view_gen != view {
            return Vec::new();
        }
        let ok = merger.is_ok();
        ex.view = Some(merger);
        if !ok {
            return Vec::new();
        }
        let mut effects: Vec<Effect> = Self::list_effect(ex, ROOT).into_iter().collect();
        if ex.search.active && !ex.search.query.is_empty() {
            ex.search.query_gen += 1;
            effects.extend(Self::search_effect(ex));
        }
        // Sorted by size: the directories' sizes come from the walk that builds the index.
        else if ex.sort == Sort::Size {
            effects.extend(Self::search_effect(ex));
        }
        effects
    }

    pub(super) fn listed(
        &mut self,
        view: u64,
        path: &[u8],
        contents: Result<crate::tui::event::DirContents, String>,
    ) -> Vec<Effect> {
        let Some(ex) = &mut self.ex else {
            return Vec::new();
        };
        if ex.view_gen != view {
            return Vec::new();
        }
        let Some(id) = ex.tree.find(path) else {
            return Vec::new();
        };
        let mut effects = Vec::new();
        match contents {
            Err(e) => {
                ex.tree.set_failed(id, e.clone());
                self.message = Some(Message {
                    text: format!("listing '{}': {e}", crate::escape::display(path)),
                    error: true,
                });
            }
            Ok(c) => {
                let with_ghosts = ex.view_ghosts;
                let relist = ex.tree.set_children(id, c, with_ghosts, ex.sort);
                for r in relist {
                    effects.extend(Self::list_effect(ex, r));
                }
                // Directories that were open before the view changed open again.
                if !ex.restore_expanded.is_empty()
                    && let Some(Children::Loaded(kids)) =
                        ex.tree.node(id).map(|n| n.children.clone())
                {
                    for k in kids {
                        let Some(n) = ex.tree.node(k) else { continue };
                        if n.is_dir() && ex.restore_expanded.remove(&n.path) {
                            ex.tree.set_expanded(k, true);
                            effects.extend(Self::list_effect(ex, k));
                        }
                    }
                }
            }
        }
        effects.extend(self.rebuild_rows());
        if let Some(ex) = &mut self.ex
            && let Some(sel) = ex.restore_selected.clone()
            && let Some(id) = ex.tree.find(&sel)
            && ex.tree.select(id)
        {
            ex.restore_selected = None;
            effects.extend(self.details_effect());
        }
        effects.extend(self.continue_reveal());
        effects
    }
}
