//! The daily loop from the command line, against the real daemon and the fake providers:
//! housekeeping (`rm`, `clean`, `du`), several jobs at once (`cancel`, `retry`, `wait`),
//! `watch --json`, `--state active`, colour, progress bars and man pages.

use genq_e2e::fakes::{ModelScopeFake, MsOutcome, MsScript, TripoFake};
use genq_e2e::harness::{Home, PATIENCE, RawClient, genq_bin, stderr};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

const ESC: &str = "\u{1b}[";

/// Submits to the fake ModelScope; returns the id a user sees and types: the job's number.
async fn submit(home: &Home, prompt: &str) -> String {
    let job = home.submit_job("modelscope", &["--prompt", prompt]).await;
    job["num"].as_u64().expect("job number").to_string()
}

async fn finished(c: &mut RawClient, id: &str) -> String {
    tokio::time::timeout(PATIENCE, c.wait_final(id))
        .await
        .expect("the job ended in time")
}

async fn job_ids(home: &Home, args: &[&str]) -> Vec<String> {
    let mut argv = vec!["jobs", "--json"];
    argv.extend_from_slice(args);
    let jobs = home.json_async(&argv).await;
    let mut ids: Vec<String> = jobs
        .as_array()
        .expect("a JSON array")
        .iter()
        .map(|j| j["num"].as_u64().unwrap_or_default().to_string())
        .collect();
    ids.sort();
    ids
}

/// The directory holding a job's outputs (and its params.json).
async fn output_dir(c: &mut RawClient, id: &str) -> PathBuf {
    let job = c.ok("jobs.get", json!({"id": id})).await;
    let path = job["outputs"][0]["path"].as_str().expect("an output path");
    Path::new(path).parent().expect("a parent").to_path_buf()
}

/// `genq ARGS` with a terminal on stdout and stderr (util-linux `script`), in this home's
/// environment plus `extra_env`; stdout is the terminal's output.
fn in_terminal(home: &Home, args: &[&str], extra_env: &[(&str, &str)]) -> tokio::process::Command {
    let inner = home.cmd(args);
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let line = std::iter::once(genq_bin().display().to_string())
        .chain(args.iter().map(|a| a.to_string()))
        .map(|a| quote(&a))
        .collect::<Vec<_>>()
        .join(" ");
    let mut cmd = tokio::process::Command::new("script");
    cmd.args(["-qefc", &line, "/dev/null"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .kill_on_drop(true);
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd
}

async fn terminal_output(home: &Home, args: &[&str], extra_env: &[(&str, &str)]) -> String {
    let out = in_terminal(home, args, extra_env)
        .output()
        .await
        .expect("run script");
    assert!(out.status.success(), "genq {args:?}: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Reads `child`'s stdout until it contains `needle`; returns what was read.
async fn read_until(stdout: &mut tokio::process::ChildStdout, needle: &str) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(PATIENCE, async {
        while !String::from_utf8_lossy(&seen).contains(needle) {
            let n = stdout.read(&mut buf).await.expect("read the terminal");
            assert!(
                n > 0,
                "output ended without {needle:?}: {}",
                String::from_utf8_lossy(&seen)
            );
            seen.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {needle:?} in: {}", String::from_utf8_lossy(&seen)));
    String::from_utf8_lossy(&seen).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rm_removes_finished_jobs_refuses_active_ones_and_deletes_files_only_when_asked() {
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_millis(100)));
    let home = Home::with_modelscope(&ms, "");
    let kept = submit(&home, "files kept").await;
    let gone = submit(&home, "files gone").await;
    let mut c = home.subscribed().await;
    assert_eq!(finished(&mut c, &kept).await, "succeeded");
    assert_eq!(finished(&mut c, &gone).await, "succeeded");
    ms.script_next(MsScript::outcome_after(Duration::ZERO, MsOutcome::Never));
    let active = submit(&home, "still running").await;
    let kept_dir = output_dir(&mut c, &kept).await;
    let gone_dir = output_dir(&mut c, &gone).await;
    assert!(gone_dir.join("params.json").is_file());
    let outside = home.dir.path().join("mine.png");
    std::fs::write(&outside, b"not genq's").unwrap();

    // An active job among them: nothing is removed, and the active one is named.
    let err = home.refused_async(&["rm", &kept, &active]).await;
    assert!(err.contains(&active), "{err}");
    assert!(err.contains("Nothing was removed"), "{err}");
    assert_eq!(job_ids(&home, &[]).await.len(), 3);

    // Without --outputs the files stay; live clients hear of the removal.
    let out = home.ok_async(&["rm", &kept]).await;
    assert!(out.contains(&format!("removed {kept}")), "{out}");
    assert!(kept_dir.join("params.json").is_file());
    let removed = c
        .events_until(|e| {
            e["type"] == "removed" && e["job_num"] == kept.parse::<u64>().unwrap_or(0)
        })
        .await;
    assert_eq!(removed.last().unwrap()["outputs"], false);

    // With --outputs the job's directory goes, and nothing outside the outputs directory.
    let result = home.json_async(&["rm", "--outputs", &gone, "--json"]).await;
    assert_eq!(result["count"], 1);
    assert!(result["freed_bytes"].as_u64().unwrap() > 0, "{result}");
    assert!(!gone_dir.exists());
    assert!(outside.is_file());
    assert!(kept_dir.is_dir());
    assert_eq!(job_ids(&home, &[]).await, vec![active.clone()]);
    home.refused_async(&["show", &kept]).await;
    home.ok_async(&["cancel", &active]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_removes_finished_jobs_by_state_and_age_and_a_dry_run_changes_nothing() {
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_millis(100)));
    let home = Home::with_modelscope(&ms, "");
    home.ok_async(&["daemon", "start"]).await;
    let mut c = home.subscribed().await;
    // Each job reaches the provider before the next script is queued.
    let good = submit(&home, "a good one").await;
    assert_eq!(finished(&mut c, &good).await, "succeeded");
    ms.script_next(MsScript::outcome_after(
        Duration::ZERO,
        MsOutcome::Failed {
            code: 400,
            message: "bad lora".into(),
        },
    ));
    let bad = submit(&home, "a bad one").await;
    assert_eq!(finished(&mut c, &bad).await, "failed");
    ms.script_next(MsScript::outcome_after(Duration::ZERO, MsOutcome::Never));
    let running = submit(&home, "a long one").await;

    let out = home
        .ok_async(&["clean", "--state", "failed", "--dry-run"])
        .await;
    // Job numbers are short: compare whole ids, not text that an age like `1s` holds too.
    let listed: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("would remove ")?.split_whitespace().next())
        .collect();
    assert_eq!(listed, vec![bad.as_str()], "{out}");
    assert_eq!(job_ids(&home, &[]).await.len(), 3);

    let out = home.run_async(&["clean", "--older-than", "1h"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("no jobs match"), "{}", stderr(&out));
    assert_eq!(job_ids(&home, &[]).await.len(), 3);

    let err = home.refused_async(&["clean", "--state", "active"]).await;
    assert!(err.contains("--state queued: clean takes"), "{err}");
    let mut raw = home.client().await;
    let refused = raw.call("jobs.clean", json!({"state": ["running"]})).await;
    assert_eq!(refused["error"]["data"]["field"], "state", "{refused}");
    let err = home
        .refused_async(&["clean", "--older-than", "7 days"])
        .await;
    assert!(err.contains("--older-than"), "{err}");

    let good_dir = output_dir(&mut c, &good).await;
    let result = home.json_async(&["clean", "--outputs", "--json"]).await;
    assert_eq!(result["count"], 2, "{result}");
    assert_eq!(result["dry_run"], false);
    assert!(!good_dir.exists());
    assert_eq!(job_ids(&home, &[]).await, vec![running.clone()]);
    home.ok_async(&["cancel", &running]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_and_retry_take_several_ids_and_filters_and_state_active_lists_the_busy() {
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::outcome_after(Duration::ZERO, MsOutcome::Never));
    let home = Home::with_modelscope(&ms, "");
    let mut first = Vec::new();
    for p in ["one", "two", "three"] {
        first.push(submit(&home, p).await);
    }
    let mut sorted = first.clone();
    sorted.sort();
    assert_eq!(job_ids(&home, &["--state", "active"]).await, sorted);

    let out = home.ok_async(&["cancel", &first[0], &first[1]]).await;
    assert!(out.contains(&format!("{} canceled", first[0])), "{out}");
    assert!(out.contains(&format!("{} canceled", first[1])), "{out}");
    assert_eq!(
        job_ids(&home, &["--state", "active"]).await,
        vec![first[2].clone()]
    );
    let out = home.ok_async(&["cancel", "--all"]).await;
    assert_eq!(out.trim(), format!("{} canceled", first[2]));
    let out = home.run_async(&["cancel", "--all"]).await;
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("no active jobs match"),
        "{}",
        stderr(&out)
    );

    let err = home.refused_async(&["retry", "--state", "running"]).await;
    assert!(err.contains("--state running"), "{err}");
    let out = home.ok_async(&["retry", "--state", "canceled"]).await;
    let retried: Vec<&str> = out.lines().collect();
    assert_eq!(retried.len(), 3, "{out}");
    let active = home
        .json_async(&["jobs", "--state", "active", "--json"])
        .await;
    let mut links = Vec::new();
    for job in active.as_array().unwrap() {
        let of = job["retry_of"].as_str().unwrap_or_default();
        let original = home.json_async(&["show", of, "--json"]).await;
        links.push(original["num"].to_string());
    }
    links.sort();
    assert_eq!(links, sorted);
    // Filters leave out jobs retried already, so running the same command twice is safe.
    let out = home.run_async(&["retry", "--state", "canceled"]).await;
    assert!(out.status.success());
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(stderr(&out).contains("retried already"), "{}", stderr(&out));

    let out = home
        .ok_async(&["cancel", "--state", "active", "--provider", "modelscope"])
        .await;
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(job_ids(&home, &["--state", "active"]).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_without_ids_follows_every_active_job() {
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::outcome_after(Duration::ZERO, MsOutcome::Never));
    let home = Home::with_modelscope(&ms, "");
    let out = home.run_async(&["wait"]).await;
    assert!(out.status.success());
    assert!(stderr(&out).contains("no active jobs"), "{}", stderr(&out));

    let a = submit(&home, "first").await;
    let b = submit(&home, "second").await;
    let mut wait = tokio::process::Command::from(home.cmd(&["wait"]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Without a terminal, `wait` prints one line per job as it starts following it.
    let mut lines = BufReader::new(wait.stderr.take().unwrap()).lines();
    for _ in 0..2 {
        let line = tokio::time::timeout(PATIENCE, lines.next_line())
            .await
            .expect("wait reported the jobs")
            .unwrap()
            .expect("a line");
        assert!(
            line.contains("running") || line.contains("queued") || line.contains("submitting"),
            "{line}"
        );
    }
    home.ok_async(&["cancel", "--all"]).await;
    let out = tokio::time::timeout(PATIENCE, wait.wait_with_output())
        .await
        .expect("wait ended")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains(&format!("{a} canceled")), "{stdout}");
    assert!(stdout.contains(&format!("{b} canceled")), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_json_streams_one_event_per_line_and_ends_with_the_job() {
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::outcome_after(Duration::ZERO, MsOutcome::Never));
    let home = Home::with_modelscope(&ms, "");
    let id = submit(&home, "watched").await;
    let mut watch = tokio::process::Command::from(home.cmd(&["watch", &id, "--json"]))
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    // The first line arrives while the watch is still running: each line is flushed.
    let first = tokio::time::timeout(PATIENCE, lines.next_line())
        .await
        .expect("a first event")
        .unwrap()
        .expect("a line");
    let first: Value = serde_json::from_str(&first).expect("JSON");
    assert_eq!(first["type"], "created");
    assert_eq!(first["job_num"].to_string(), id);
    home.ok_async(&["cancel", &id]).await;
    let mut events = vec![first];
    while let Some(line) = tokio::time::timeout(PATIENCE, lines.next_line())
        .await
        .expect("the watch went on")
        .unwrap()
    {
        events.push(serde_json::from_str(&line).expect("every line is JSON"));
    }
    assert!(watch.wait().await.unwrap().success());
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let last = events.last().unwrap();
    assert_eq!(
        (last["type"].as_str(), last["to"].as_str()),
        (Some("state"), Some("canceled"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colour_follows_the_flag_no_color_and_the_terminal() {
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_millis(50)));
    let home = Home::with_modelscope(&ms, "");
    let id = submit(&home, "in colour").await;
    let mut c = home.subscribed().await;
    assert_eq!(finished(&mut c, &id).await, "succeeded");

    let always = home.ok_async(&["--color", "always", "jobs"]).await;
    assert!(always.contains(&format!("{ESC}32msucceeded")), "{always:?}");
    let shown = home.ok_async(&["--color", "always", "show", &id]).await;
    assert!(shown.contains(ESC), "{shown:?}");
    let piped = home.ok_async(&["jobs"]).await;
    assert!(!piped.contains('\u{1b}'), "{piped:?}");
    let json = home
        .ok_async(&["--color", "always", "jobs", "--json"])
        .await;
    assert!(!json.contains('\u{1b}'), "{json:?}");

    let tty = terminal_output(&home, &["jobs"], &[]).await;
    assert!(tty.contains(&format!("{ESC}32msucceeded")), "{tty:?}");
    let no_color = terminal_output(&home, &["jobs"], &[("NO_COLOR", "1")]).await;
    assert!(
        no_color.contains("succeeded") && !no_color.contains(ESC),
        "{no_color:?}"
    );
    let never = terminal_output(&home, &["--color", "never", "jobs"], &[]).await;
    assert!(
        never.contains("succeeded") && !never.contains(ESC),
        "{never:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn du_and_daemon_status_say_how_much_the_outputs_take() {
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_millis(50)));
    let home = Home::with_modelscope(&ms, "");
    let empty = home.json_async(&["du", "--json"]).await;
    assert_eq!(
        (empty["bytes"].as_u64(), empty["files"].as_u64()),
        (Some(0), Some(0))
    );
    let id = submit(&home, "measured").await;
    let mut c = home.subscribed().await;
    assert_eq!(finished(&mut c, &id).await, "succeeded");
    let dir = output_dir(&mut c, &id).await;
    let on_disk: u64 = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    let files = std::fs::read_dir(&dir).unwrap().count() as u64;

    let usage = home.json_async(&["du", "--json"]).await;
    assert_eq!(usage["bytes"].as_u64(), Some(on_disk), "{usage}");
    assert_eq!(usage["files"].as_u64(), Some(files), "{usage}");
    assert_eq!(usage["job_dirs"].as_u64(), Some(1), "{usage}");
    let text = home.ok_async(&["du"]).await;
    assert!(
        text.contains(&home.paths.outputs.display().to_string()),
        "{text}"
    );
    let status = home.ok_async(&["daemon", "status"]).await;
    let line = status
        .lines()
        .find(|l| l.starts_with("outputs:"))
        .unwrap_or_else(|| panic!("no outputs line: {status}"));
    assert!(
        line.contains(&format!("in {files} files (1 job)")),
        "{line}"
    );
}

#[test]
fn man_pages_come_from_the_command_definitions() {
    let home = Home::new();
    let dir = home.dir.path().join("man");
    let out = home.run(&["man", "--dir", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    for page in [
        "genq.1",
        "genq-rm.1",
        "genq-clean.1",
        "genq-daemon-status.1",
    ] {
        let text =
            std::fs::read_to_string(dir.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH"), "{page}");
    }
    let rm = std::fs::read_to_string(dir.join("genq-rm.1")).unwrap();
    assert!(rm.contains("outputs"), "{rm}");
    let out = home.run(&["man"]);
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(page.contains(".TH genq 1"), "{page}");
    // Nothing ran against a daemon.
    assert!(home.daemon_pid().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_on_a_terminal_shows_elapsed_against_the_usual_time() {
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_millis(50)));
    let home = Home::with_modelscope(&ms, "");
    let before = submit(&home, "history").await;
    let mut c = home.subscribed().await;
    assert_eq!(finished(&mut c, &before).await, "succeeded");
    ms.script_next(MsScript::outcome_after(Duration::ZERO, MsOutcome::Never));
    let id = submit(&home, "slow").await;

    let mut wait = in_terminal(&home, &["wait", &id], &[]).spawn().unwrap();
    let mut stdout = wait.stdout.take().unwrap();
    let seen = read_until(&mut stdout, "typical").await;
    assert!(seen.contains(&id), "{seen}");
    home.ok_async(&["cancel", &id]).await;
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).await.unwrap();
    assert_eq!(wait.wait().await.unwrap().code(), Some(1), "{seen}{rest}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_on_a_terminal_shows_the_providers_percentage() {
    let fake = TripoFake::start().await;
    fake.set_duration(Duration::from_secs(600));
    let home = Home::with_tripo(&fake, "typical_s = 0.2\n");
    let id = home.submit("tripo", "a chair").await;

    let mut wait = in_terminal(&home, &["wait", &id], &[]).spawn().unwrap();
    let mut stdout = wait.stdout.take().unwrap();
    let seen = read_until(&mut stdout, "%").await;
    assert!(seen.contains('['), "{seen}");
    home.ok_async(&["cancel", &id]).await;
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).await.unwrap();
    assert_eq!(wait.wait().await.unwrap().code(), Some(1), "{seen}{rest}");
}
