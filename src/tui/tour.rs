//! The demo's guided tour inside the explorer: [`TourRunner`] owns the running demo and its
//! [`Tour`] and runs steps on a background job; [`TourState`] is what the tour panel shows
//! (the steps, the outcomes so far, the step on display). The tour itself, what each step does
//! and how its evidence is checked, is domain data in [`crate::teach`].

use std::sync::{Arc, Mutex};

use crate::escape;
use crate::teach::{Demo, Live, Step, StepOutcome, Tour};

/// The running demo and its tour, shared with the background job that runs a step.
///
/// Dropping the last reference drops the [`Demo`], which detaches its mounts and removes its
/// files; [`crate::tui::run_demo`] also cleans up explicitly when a step is still running at exit.
#[derive(Debug)]
pub struct TourRunner {
    demo: Demo,
    tour: Mutex<Tour>,
}

impl TourRunner {
    /// Wraps a started demo and its tour.
    #[must_use]
    pub fn new(demo: Demo, tour: Tour) -> Self {
        TourRunner {
            demo,
            tour: Mutex::new(tour),
        }
    }

    /// The demo.
    #[must_use]
    pub fn demo(&self) -> &Demo {
        &self.demo
    }

    /// The steps and the outcomes of those already run.
    #[must_use]
    pub fn snapshot(&self) -> (Vec<Step>, Vec<StepOutcome>) {
        match self.tour.lock() {
            Ok(t) => (t.steps().to_vec(), t.outcomes().to_vec()),
            Err(p) => {
                let t = p.into_inner();
                (t.steps().to_vec(), t.outcomes().to_vec())
            }
        }
    }

    /// Runs the next step through the merged mount and checks its evidence (blocks on disk:
    /// call it from a background job).
    ///
    /// # Errors
    /// The live tour is off, the tour is over, or the tour's lock was poisoned by a panic.
    pub fn run_next(&self) -> Result<StepOutcome, String> {
        let mut tour = self
            .tour
            .lock()
            .map_err(|_| "an earlier step crashed; restart the demo".to_string())?;
        tour.run_next(&self.demo)
            .cloned()
            .map_err(|e| e.to_string())
    }
}

/// What the tour panel shows.
#[derive(Debug)]
pub struct TourState {
    /// Runs the steps (`None` only in tests that draw a tour without a demo).
    pub runner: Option<Arc<TourRunner>>,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// The outcomes of the steps run so far, in order.
    pub outcomes: Vec<StepOutcome>,
    /// The step being run in the background.
    pub running: Option<usize>,
    /// Presses of "next step" while a step ran, still to run (one step each).
    pub queued: usize,
    /// The step the panel shows.
    pub shown: usize,
    /// Scroll offset of the step's text, in lines.
    pub scroll: u16,
    /// Why the live tour is off, when nothing could be mounted.
    pub off: Option<String>,
    /// Where the demo lives and what happens to it, in one sentence.
    pub intro: String,
    /// The demo's directory with a trailing `/`, escaped: claims are shown relative to it.
    pub root: String,
}

impl TourState {
    /// The panel's state for a runner's demo and tour.
    #[must_use]
    pub fn new(runner: Arc<TourRunner>) -> Self {
        let (steps, outcomes) = runner.snapshot();
        let demo = runner.demo();
        let off = match &demo.live {
            Live::Off { why } => Some(why.clone()),
            Live::Mounted { .. } => None,
        };
        let mut intro = demo.describe_isolation();
        for note in &demo.notes {
            intro.push_str(&format!(". Note: {note}"));
        }
        let root = format!("{}/", escape::path(&demo.layout.root));
        let shown = outcomes.len().min(steps.len().saturating_sub(1));
        TourState {
            runner: Some(runner),
            steps,
            outcomes,
            running: None,
            queued: 0,
            shown,
            scroll: 0,
            off,
            intro,
            root,
        }
    }

    /// The index of the next step to run, if any remains.
    #[must_use]
    pub fn next_index(&self) -> Option<usize> {
        (self.outcomes.len() < self.steps.len()).then_some(self.outcomes.len())
    }

    /// The outcome of step `i`, once it has run.
    #[must_use]
    pub fn outcome(&self, i: usize) -> Option<&StepOutcome> {
        self.outcomes.iter().find(|o| o.index == i)
    }

    /// A claim with the demo's directory left out (`upper/usr/bin/curl is …`).
    #[must_use]
    pub fn relative(&self, claim: &str) -> String {
        if self.root.len() > 1 {
            claim.replace(&self.root, "")
        } else {
            claim.to_string()
        }
    }
}
