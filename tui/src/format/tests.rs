use super::*;
use genq_protocol::{JobError, JobErrorKind, JobId};

/// 2025-11-22T05:44:00Z, when the sample jobs of the tests were created.
pub(crate) const T0: i64 = 1_763_790_240_000;

/// A clock three hours after [`T0`], in UTC.
pub(crate) fn clock() -> Clock {
    Clock {
        now: Timestamp::from_unix_millis(T0 + 3 * 3600 * 1000),
        offset: UtcOffset::UTC,
    }
}

#[test]
fn sizes_and_durations_read_well() {
    assert_eq!(bytes(512), "512 B");
    assert_eq!(bytes(1536), "1.5 KiB");
    assert_eq!(bytes(1_572_864), "1.5 MiB");
    assert_eq!(bytes(u64::MAX), "16777216.0 TiB");
    assert_eq!(duration(59), "59s");
    assert_eq!(duration(61), "1m 1s");
    assert_eq!(duration(3725), "1h 2m 5s");
    assert_eq!(duration_ms(-5), "0ms");
    assert_eq!(duration_ms(850), "850ms");
    assert_eq!(duration_ms(12_345), "12.3s");
    assert_eq!(duration_ms(245_000), "4m 5s");
}

#[test]
fn compact_durations_fit_a_table_cell() {
    assert_eq!(duration_compact(-1), "0s");
    assert_eq!(duration_compact(42_999), "42s");
    assert_eq!(duration_compact(185_000), "3m05s");
    assert_eq!(duration_compact(2 * 3_600_000 + 7 * 60_000), "2h07m");
    assert_eq!(duration_compact(3 * 86_400_000 + 4 * 3_600_000), "3d04h");
}

#[test]
fn ages_and_times_of_day_use_the_clock() {
    let c = clock();
    assert_eq!(
        c.age(Timestamp::from_unix_millis(T0 + 3 * 3600 * 1000 - 90_000)),
        "1m"
    );
    assert_eq!(c.age(Timestamp::from_unix_millis(T0)), "3h");
    assert_eq!(c.age(c.now), "0s");
    let at = Timestamp::from_unix_millis(T0 + 61_500);
    assert_eq!(c.time_of_day(at), "05:45:01");
    assert_eq!(c.datetime(at), "2025-11-22 05:45:01.500");
    let east = UtcOffset::from_hms(2, 0, 0).unwrap();
    assert_eq!(time_of_day(at, east), "07:45:01");
}

#[test]
fn one_line_folds_whitespace_and_truncate_keeps_it() {
    assert_eq!(one_line("a\n  b", 10), "a b");
    assert_eq!(one_line("abcdef", 4), "abc…");
    assert_eq!(one_line("abc", 0), "");
    assert_eq!(truncate("a\n  b", 10), "a   b");
    assert_eq!(truncate("abcdef", 4), "abc…");
    assert_eq!(truncate("abc", 0), "…");
    assert_eq!(truncate("", 0), "");
}

#[test]
fn progress_bars_round_up() {
    assert_eq!(progress_bar(0, 8), "░░░░░░░░");
    assert_eq!(progress_bar(1, 8), "█░░░░░░░");
    assert_eq!(progress_bar(65, 20), "█████████████░░░░░░░");
    assert_eq!(progress_bar(200, 4), "████");
}

#[test]
fn event_lines_say_what_happened() {
    let e = Event {
        seq: 5,
        job_id: JobId("0190f3a1-7c2e-7000-8000-000000000001".into()),
        job_num: Some(7),
        at: Timestamp::from_unix_millis(T0 + 61_000),
        body: EventBody::State {
            from: JobState::Running,
            to: JobState::Fetching,
            error: None,
        },
    };
    assert_eq!(event_line(&e, &clock()), "05:45:01 7 running → fetching");
    // A daemon that predates job numbers: the start of the id names the job.
    let e = Event {
        body: EventBody::Progress { progress: 40 },
        job_num: None,
        ..e
    };
    assert_eq!(event_line(&e, &clock()), "05:45:01 0190f3a1 progress 40%");
}

#[test]
fn log_and_timeline_word_events_their_own_way() {
    let cases = [
        (
            EventBody::Created {
                provider: "tripo".into(),
                model: Some("v2".into()),
            },
            "created tripo/v2",
            "created for tripo · v2",
        ),
        (
            EventBody::Created {
                provider: "tripo".into(),
                model: None,
            },
            "created tripo",
            "created for tripo",
        ),
        (
            EventBody::Remote {
                remote_id: "t-1".into(),
                request_id: Some("r-1".into()),
            },
            "accepted as remote task t-1 (request id r-1)",
            "accepted as t-1 (request r-1)",
        ),
        (
            EventBody::Remote {
                remote_id: "t-1".into(),
                request_id: None,
            },
            "accepted as remote task t-1",
            "accepted as t-1",
        ),
        (
            EventBody::Output {
                index: 2,
                path: "/o/a.png".into(),
            },
            "output 2 stored at /o/a.png",
            "output #2 stored at /o/a.png",
        ),
        (
            EventBody::Upload {
                index: 1,
                target: "s3".into(),
                url: Some("s3://b/a".into()),
                error: Some("denied".into()),
            },
            "output 1 upload to s3 failed: denied",
            "upload #1 to s3 failed: denied",
        ),
        (
            EventBody::Upload {
                index: 1,
                target: "s3".into(),
                url: Some("s3://b/a".into()),
                error: None,
            },
            "output 1 uploaded to s3: s3://b/a",
            "output #1 uploaded to s3: s3://b/a",
        ),
        (
            EventBody::Upload {
                index: 1,
                target: "s3".into(),
                url: None,
                error: None,
            },
            "output 1 uploaded to s3",
            "output #1 uploaded to s3",
        ),
        (
            EventBody::Note {
                message: "slow".into(),
            },
            "note: slow",
            "slow",
        ),
        (
            EventBody::Removed { outputs: true },
            "removed with its output files",
            "removed",
        ),
        (EventBody::Removed { outputs: false }, "removed", "removed"),
        (
            EventBody::State {
                from: JobState::Running,
                to: JobState::Failed,
                error: Some(JobError {
                    kind: JobErrorKind::ContentPolicy,
                    message: "boom".into(),
                    provider_request_id: None,
                }),
            },
            "running → failed: content_policy: boom",
            "running → failed: content_policy: boom",
        ),
    ];
    for (body, log, timeline) in cases {
        assert_eq!(event_text(&body, EventWording::Log), log);
        assert_eq!(event_text(&body, EventWording::Timeline), timeline);
    }
}
