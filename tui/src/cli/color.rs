//! Colour on stdout: decided once per command from `--color`, `NO_COLOR` (and the other
//! conventional variables) and whether stdout is a terminal; JSON is never coloured. The
//! text is laid out plain first and painted afterwards, so widths never count escape codes.

use anstyle::{AnsiColor, Style};
use genq_protocol::{Event, EventBody, Job, JobState};

/// When to colour stdout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorMode {
    #[default]
    Auto,
    Always,
    Never,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Palette {
    on: bool,
}

impl Palette {
    pub const PLAIN: Palette = Palette { on: false };

    /// `auto` colours only a terminal, and never when `NO_COLOR` is set (or `TERM=dumb`).
    pub fn for_stdout(mode: ColorMode) -> Palette {
        let on = match mode {
            ColorMode::Always => true,
            ColorMode::Never => false,
            ColorMode::Auto => {
                anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never
            }
        };
        Palette { on }
    }

    pub fn enabled(&self) -> bool {
        self.on
    }

    fn paint(&self, style: Style, text: &str) -> String {
        if self.on && !text.is_empty() {
            format!("{style}{text}{style:#}")
        } else {
            text.to_string()
        }
    }

    /// Green for succeeded, red for failed, grey for canceled, yellow while queued, cyan
    /// while the job is being worked on.
    pub fn state(&self, state: JobState, text: &str) -> String {
        let color = match state {
            JobState::Queued => AnsiColor::Yellow,
            JobState::Submitting | JobState::Running | JobState::Fetching | JobState::Storing => {
                AnsiColor::Cyan
            }
            JobState::Succeeded => AnsiColor::Green,
            JobState::Failed => AnsiColor::Red,
            JobState::Canceled => AnsiColor::BrightBlack,
        };
        let mut style = Style::new().fg_color(Some(color.into()));
        if state == JobState::Failed {
            style = style.bold();
        }
        self.paint(style, text)
    }

    pub fn id(&self, text: &str) -> String {
        self.paint(Style::new().fg_color(Some(AnsiColor::Yellow.into())), text)
    }

    pub fn header(&self, text: &str) -> String {
        self.paint(Style::new().bold(), text)
    }

    pub fn dim(&self, text: &str) -> String {
        self.paint(Style::new().dimmed(), text)
    }

    /// `ID STATE` as `cancel`, `wait` and `rm` print it.
    pub fn id_state(&self, id: &str, state: JobState) -> String {
        format!("{} {}", self.id(id), self.state(state, state.as_str()))
    }

    /// The jobs table as [`super::output::jobs_table`] laid it out, with a bold header, ids
    /// and states painted. Columns are found from the header, so the layout stays its own.
    pub fn jobs_table(&self, table: &str, jobs: &[Job]) -> String {
        if !self.on {
            return table.to_string();
        }
        let mut lines = table.lines();
        let Some(header) = lines.next() else {
            return String::new();
        };
        let column = |name: &str| header.find(name).map(|b| header[..b].chars().count());
        let (Some(state_at), Some(provider_at)) = (column("STATE"), column("PROVIDER")) else {
            return table.to_string();
        };
        let mut out = format!("{}\n", self.header(header));
        for (line, job) in lines.zip(jobs) {
            let chars: Vec<char> = line.chars().collect();
            if chars.len() < provider_at {
                out.push_str(line);
                out.push('\n');
                continue;
            }
            let cell = |from: usize, to: usize| -> String { chars[from..to].iter().collect() };
            let id = cell(0, state_at);
            let state = cell(state_at, provider_at);
            let rest = cell(provider_at, chars.len());
            let pad = |s: &str| " ".repeat(s.chars().count() - s.trim_end().chars().count());
            out.push_str(&format!(
                "{}{}{}{}{rest}\n",
                self.id(id.trim_end()),
                pad(&id),
                self.state(job.state, state.trim_end()),
                pad(&state),
            ));
        }
        out
    }

    /// A `genq watch` line with the new state painted.
    pub fn event_line(&self, line: &str, event: &Event) -> String {
        let EventBody::State { to, .. } = &event.body else {
            return line.to_string();
        };
        let arrow = format!("→ {to}");
        match line.find(&arrow) {
            Some(at) => {
                let end = at + arrow.len();
                format!(
                    "{}→ {}{}",
                    &line[..at],
                    self.state(*to, to.as_str()),
                    &line[end..]
                )
            }
            None => line.to_string(),
        }
    }

    /// `genq show` with its `state:` line painted.
    pub fn show(&self, text: &str, state: JobState) -> String {
        if !self.on {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len() + 16);
        for line in text.split_inclusive('\n') {
            match line.strip_prefix("state:") {
                Some(rest) if rest.trim() == state.as_str() => {
                    let pad = &rest[..rest.len() - rest.trim_start().len()];
                    out.push_str(&format!(
                        "state:{pad}{}\n",
                        self.state(state, state.as_str())
                    ));
                }
                _ => out.push_str(line),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::output::tests::sample_job;

    const ON: Palette = Palette { on: true };

    fn strip(s: &str) -> String {
        let mut out = String::new();
        let mut esc = false;
        for c in s.chars() {
            match (esc, c) {
                (false, '\u{1b}') => esc = true,
                (true, 'm') => esc = false,
                (true, _) => {}
                (false, c) => out.push(c),
            }
        }
        out
    }

    #[test]
    fn painting_keeps_the_layout_and_plain_changes_nothing() {
        let mut running = sample_job();
        running.state = JobState::Running;
        running.progress = Some(40);
        let jobs = [running, sample_job()];
        let clock = crate::format::Clock {
            now: jobs[1].created_at,
            offset: time::UtcOffset::UTC,
        };
        let table = crate::cli::output::jobs_table(&jobs, &clock, Some(80));
        assert_eq!(Palette::PLAIN.jobs_table(&table, &jobs), table);
        let painted = ON.jobs_table(&table, &jobs);
        assert_ne!(painted, table);
        assert_eq!(strip(&painted), table);
        assert!(
            painted.contains("\u{1b}[32msucceeded\u{1b}[0m"),
            "{painted:?}"
        );
        assert!(
            painted.contains("\u{1b}[36mrunning 40%\u{1b}[0m"),
            "{painted:?}"
        );

        let text = crate::cli::output::show_job(&jobs[1], &clock);
        let shown = ON.show(&text, JobState::Succeeded);
        assert_eq!(strip(&shown), text);
        assert!(shown.contains("\u{1b}[32msucceeded"));
        assert_eq!(
            strip(&ON.id_state("abc", JobState::Failed)),
            "abc failed".to_string()
        );
        assert_eq!(
            Palette::PLAIN.id_state("abc", JobState::Failed),
            "abc failed"
        );
    }
}
