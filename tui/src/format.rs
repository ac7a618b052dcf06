//! How genq writes sizes, durations, times of day, job states and events as text. The CLI
//! and the TUI both format through here, so a rule has one home; colour and layout stay
//! with each of them.

use genq_protocol::{Event, EventBody, Job, JobState, Output, Timestamp};
use time::UtcOffset;
use time::macros::format_description;

/// "Now" and the local time zone, fixed once per command.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    pub now: Timestamp,
    pub offset: UtcOffset,
}

impl Clock {
    /// `HH:MM:SS` in local time.
    pub fn time_of_day(&self, at: Timestamp) -> String {
        time_of_day(at, self.offset)
    }

    /// `YYYY-MM-DD HH:MM:SS.mmm` in local time.
    pub fn datetime(&self, at: Timestamp) -> String {
        at.to_datetime()
            .to_offset(self.offset)
            .format(format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:3]"
            ))
            .unwrap_or_else(|_| at.to_rfc3339())
    }

    /// How long ago, compactly: `5s`, `3m`, `2h`, `4d`.
    pub fn age(&self, at: Timestamp) -> String {
        let secs = (self.now.millis_since(at) / 1000).max(0) as u64;
        match secs {
            0..60 => format!("{secs}s"),
            60..3600 => format!("{}m", secs / 60),
            3600..86_400 => format!("{}h", secs / 3600),
            _ => format!("{}d", secs / 86_400),
        }
    }
}

/// `HH:MM:SS` at `offset` (the TUI passes UTC).
pub fn time_of_day(at: Timestamp, offset: UtcOffset) -> String {
    at.to_datetime()
        .to_offset(offset)
        .format(format_description!("[hour]:[minute]:[second]"))
        .unwrap_or_else(|_| at.to_rfc3339())
}

/// A duration in seconds, spelled out: `59s`, `1m 1s`, `1h 2m 5s`.
pub fn duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s}s"),
        _ => format!("{h}h {m}m {s}s"),
    }
}

/// A duration in milliseconds, precise when short (gaps between states): `850ms`, `12.3s`,
/// then as [`duration`].
pub fn duration_ms(ms: i64) -> String {
    match ms.max(0) {
        ms @ 0..1000 => format!("{ms}ms"),
        ms @ 1000..60_000 => format!("{:.1}s", ms as f64 / 1000.0),
        ms => duration(ms as u64 / 1000),
    }
}

/// A duration in milliseconds in at most five characters, for table cells: `42s`, `3m05s`,
/// `2h07m`, `3d04h`.
pub fn duration_compact(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86400, (s % 86400) / 3600),
    }
}

/// A size in binary units: `812 B`, `1.4 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// Text on one line (newlines and runs of spaces folded), cut to `max` characters with `…`.
pub fn one_line(text: &str, max: usize) -> String {
    if max == 0 {
        return String::new();
    }
    ellipsize(text.split_whitespace().collect::<Vec<_>>().join(" "), max)
}

/// Text cut to `max` characters with `…`, each control character (newline, tab) a space;
/// spacing is kept, so columns the text lines up stay put.
pub fn truncate(text: &str, max: usize) -> String {
    let flat = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    ellipsize(flat, max)
}

/// `text` itself when it fits in `max` characters, else its start and `…` in `max`.
fn ellipsize(text: String, max: usize) -> String {
    if text.chars().count() <= max {
        return text;
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// A bar of `width` cells, `percent` of them filled: `█████░░░`.
pub fn progress_bar(percent: u8, width: usize) -> String {
    let filled = (usize::from(percent.min(100)) * width).div_ceil(100);
    format!("{}{}", "█".repeat(filled), "░".repeat(width - filled))
}

/// `running 42%` while the provider reports progress of a running task, else the state.
pub fn state_with_progress(job: &Job) -> String {
    match job.running_progress() {
        Some(p) => format!("{} {p}%", job.state),
        None => job.state.to_string(),
    }
}

/// One line saying why a job did not succeed: kind, message, provider request id.
pub fn job_failure(job: &Job) -> String {
    match (&job.state, &job.error) {
        (JobState::Canceled, None) => format!("job {} was canceled", job.short_id()),
        (state, Some(err)) => format!("job {} {state}: {err}", job.short_id()),
        (state, None) => format!("job {} {state}", job.short_id()),
    }
}

/// Where an output's facts are read, which sets how they are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FactWording {
    /// `genq show`: the format as announced, `WxH`, separated by commas.
    Plain,
    /// The TUI's detail view: the format in capitals, `W×H`, separated by dots.
    Screen,
}

/// What an output is, on one line: label, format, size, dimensions and type, those it has;
/// `None` when it has none.
pub fn output_facts(o: &Output, wording: FactWording) -> Option<String> {
    let screen = wording == FactWording::Screen;
    let mut facts = Vec::new();
    facts.extend(o.label.clone());
    if let Some(format) = &o.format {
        facts.push(if screen {
            format.to_ascii_uppercase()
        } else {
            format.clone()
        });
    }
    facts.extend(o.size.map(bytes));
    if let (Some(w), Some(h)) = (o.width, o.height) {
        facts.push(if screen {
            format!("{w}×{h}")
        } else {
            format!("{w}x{h}")
        });
    }
    facts.extend(o.mime.clone());
    let separator = if screen { " · " } else { ", " };
    (!facts.is_empty()).then(|| facts.join(separator))
}

/// Where an event is read, which sets its wording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventWording {
    /// A line of its own among other jobs' events (`genq watch`): says all, names outputs by
    /// number (`output 0`) and marks notes.
    Log,
    /// An entry on one job's timeline (the TUI's detail view): shorter, outputs as `#0`.
    Timeline,
}

/// What an event says happened, without time or job.
pub fn event_text(body: &EventBody, wording: EventWording) -> String {
    let log = wording == EventWording::Log;
    let output = |index: &u32| match wording {
        EventWording::Log => format!("output {index}"),
        EventWording::Timeline => format!("output #{index}"),
    };
    match body {
        EventBody::Created { provider, model } => match (model, wording) {
            (Some(m), EventWording::Log) => format!("created {provider}/{m}"),
            (Some(m), EventWording::Timeline) => format!("created for {provider} · {m}"),
            (None, EventWording::Log) => format!("created {provider}"),
            (None, EventWording::Timeline) => format!("created for {provider}"),
        },
        EventBody::State { from, to, error } => match error {
            Some(err) => format!("{from} → {to}: {err}"),
            None => format!("{from} → {to}"),
        },
        EventBody::Progress { progress } => format!("progress {progress}%"),
        EventBody::Remote {
            remote_id,
            request_id,
        } => {
            let accepted = if log {
                format!("accepted as remote task {remote_id}")
            } else {
                format!("accepted as {remote_id}")
            };
            match request_id {
                Some(r) if log => format!("{accepted} (request id {r})"),
                Some(r) => format!("{accepted} (request {r})"),
                None => accepted,
            }
        }
        EventBody::Output { index, path } => format!("{} stored at {path}", output(index)),
        EventBody::Upload {
            index,
            target,
            url,
            error,
        } => match (url, error) {
            (_, Some(err)) if log => format!("output {index} upload to {target} failed: {err}"),
            (_, Some(err)) => format!("upload #{index} to {target} failed: {err}"),
            (Some(url), None) => format!("{} uploaded to {target}: {url}", output(index)),
            (None, None) => format!("{} uploaded to {target}", output(index)),
        },
        EventBody::Note { message } if log => format!("note: {message}"),
        EventBody::Note { message } => message.clone(),
        EventBody::Removed { outputs: true } if log => "removed with its output files".into(),
        EventBody::Removed { .. } => "removed".into(),
    }
}

/// One line per event for `genq watch`: local time, short id, what happened.
pub fn event_line(e: &Event, clock: &Clock) -> String {
    format!(
        "{} {} {}",
        clock.time_of_day(e.at),
        e.short_id(),
        event_text(&e.body, EventWording::Log)
    )
}

#[cfg(test)]
pub(crate) mod tests;
