//! The keys that act on a job (the selected row, or the job on the detail screen): cancel
//! (after a question), retry, re-run with edits, export, copy an output's location, open an
//! output. Called from [`App::update`] only.

use crate::tui::action::UiAction;
use crate::tui::app::{App, Confirm};
use crate::tui::command::Command;
use std::path::PathBuf;

impl App {
    pub(crate) fn job_action(&mut self, ui: UiAction) -> Vec<Command> {
        let Some(job) = self.target().cloned() else {
            return Vec::new();
        };
        match ui {
            UiAction::Cancel if job.state.is_final() => {
                self.note(format!("job {} is already {}", job.short_id(), job.state));
                Vec::new()
            }
            UiAction::Cancel => {
                self.confirm = Some(Confirm {
                    id: job.id.clone(),
                    question: format!("Cancel job {}?", job.short_id()),
                });
                Vec::new()
            }
            UiAction::Retry if job.state.is_final() => vec![Command::Retry(job.id.clone())],
            UiAction::Retry => {
                self.note(format!("job {} is still {}", job.short_id(), job.state));
                Vec::new()
            }
            UiAction::Rerun => {
                self.pending_rerun = Some(job.short_id());
                vec![Command::ExportForRerun(job.id.clone())]
            }
            UiAction::Export => vec![Command::ExportToFile {
                id: job.id.clone(),
                path: PathBuf::from(format!("genq-job-{}.json", job.short_id())),
            }],
            UiAction::Copy => {
                let text = job.outputs.iter().find_map(|o| {
                    o.uploads
                        .iter()
                        .find_map(|u| u.url.clone())
                        .or_else(|| o.path.clone())
                        .or_else(|| o.source_url.clone())
                });
                match text {
                    Some(t) => {
                        self.note(format!("copied {t}"));
                        vec![Command::Copy(t)]
                    }
                    None => {
                        self.note("this job has no output to copy");
                        Vec::new()
                    }
                }
            }
            _ => match job.outputs.iter().find_map(|o| o.path.clone()) {
                Some(p) => vec![Command::OpenPath(p)],
                None => {
                    self.note("this job has no local output");
                    Vec::new()
                }
            },
        }
    }
}
