//! Batches end to end, with the real daemon and `genq` against the fake ModelScope: a
//! 200-row batch under a request budget and 429 bursts sends every row once, copies each
//! output to its path and writes the manifest; running the file again sends nothing; a
//! `kill -9` mid-batch resumes without a row made twice; a bad file is refused naming every
//! bad row and field; a matrix expands to its product; the inbox takes a dropped file.

use genq_e2e::fakes::{Endpoint, ModelScopeFake, MsScript};
use genq_e2e::harness::{Home, PATIENCE, stderr, stdout};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

const STYLES: &str = "[styles.lineart]\nprefix = \"black-and-white line art\"\n\
                      suffix = \"no text\"\nnegative_prompt = \"color\"\n\
                      [styles.ink]\nprefix = \"ink wash\"\n";

async fn fake(after_ms: u64) -> ModelScopeFake {
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_millis(after_ms)));
    ms.set_daily_limits(100_000, 100_000);
    ms
}

fn home(ms: &ModelScopeFake, limits: &str) -> Home {
    let home = Home::with_modelscope(ms, &format!("{limits}typical_s = 0.05\n{STYLES}"));
    std::fs::create_dir_all(work(&home)).expect("work dir");
    home
}

/// Where a test's batch files live and `genq batch` runs (relative outputs land here).
fn work(home: &Home) -> PathBuf {
    home.dir.path().join("work")
}

/// `genq ARGS` run in the home's work directory.
async fn genq(home: &Home, args: &[&str]) -> Output {
    let mut cmd = home.cmd(args);
    cmd.current_dir(work(home));
    tokio::process::Command::from(cmd)
        .output()
        .await
        .expect("run genq")
}

async fn ok(home: &Home, args: &[&str]) -> String {
    let out = genq(home, args).await;
    assert!(
        out.status.success(),
        "genq {args:?}: {}\n{}\n{}",
        out.status,
        stderr(&out),
        home.log_tail()
    );
    stdout(&out)
}

async fn json(home: &Home, args: &[&str]) -> Value {
    let out = ok(home, args).await;
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

fn write(home: &Home, name: &str, text: &str) {
    std::fs::write(work(home).join(name), text).expect("write batch file");
}

fn jsonl_rows(n: usize, tag: &str) -> String {
    (1..=n)
        .map(|i| {
            format!(
                "{{\"prompt\":\"{tag} scene {i}\",\"output\":\"out/{{row:03}}_{{slug}}.png\"}}\n"
            )
        })
        .collect()
}

/// Waits for a file the daemon writes by itself (no event announces it).
async fn appears(path: &Path) -> bool {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while tokio::time::Instant::now() < deadline {
        if path.exists() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

fn prompts_submitted(ms: &ModelScopeFake) -> Vec<String> {
    ms.requests_to(Endpoint::Submit)
        .iter()
        .filter_map(|r| r.body.as_ref()?.get("prompt")?.as_str().map(String::from))
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_rows_under_429_bursts_run_once_and_a_rerun_sends_nothing() {
    let ms = std::sync::Arc::new(fake(50).await);
    let home = home(&ms, "max_concurrent = 8\nrequests_per_second = 100\n");
    write(&home, "rows.jsonl", &jsonl_rows(200, "harbour"));
    // Three bursts of 429s while the batch runs.
    let bursts = {
        let ms = ms.clone();
        tokio::spawn(async move {
            let mut hit = 0;
            for at in [10, 80, 150] {
                if ms.wait_for_tasks(at, PATIENCE).await {
                    ms.rate_limit_next(4, Some(1));
                    hit += 1;
                }
            }
            hit
        })
    };
    let out = ok(
        &home,
        &["batch", "rows.jsonl", "--provider", "modelscope", "--wait"],
    )
    .await;
    assert!(out.contains("200 succeeded"), "{out}");
    assert_eq!(
        bursts.await.ok(),
        Some(3),
        "the bursts came while the batch ran"
    );

    // Each row made exactly one task: 200 rows, 200 tasks, 200 distinct remote ids.
    assert_eq!(ms.task_ids().len(), 200);
    let detail = json(&home, &["batch", "show", "1", "--json"]).await;
    let rows = detail["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 200);
    let jobs: HashSet<&str> = rows.iter().filter_map(|r| r["job_id"].as_str()).collect();
    assert_eq!(jobs.len(), 200);
    assert!(rows.iter().all(|r| r["state"] == "succeeded"));

    // Outputs copied to their paths; the manifest beside them says where and what.
    let first = work(&home).join("out/001_harbour-scene-1.png");
    assert!(first.is_file(), "{}", first.display());
    let manifest = work(&home).join("rows.manifest.jsonl");
    assert!(appears(&manifest).await, "no manifest");
    let lines: Vec<Value> = std::fs::read_to_string(&manifest)
        .expect("manifest")
        .lines()
        .map(|l| serde_json::from_str(l).expect("manifest line"))
        .collect();
    assert_eq!(lines.len(), 200);
    for line in &lines {
        assert_eq!(line["success"], true, "{line}");
        let path = line["paths"][0].as_str().expect("path");
        let bytes = std::fs::read(path).expect("copied output");
        assert_eq!(
            line["sha256"][0].as_str(),
            Some(sha256_hex(&bytes).as_str())
        );
    }
    let csv = std::fs::read_to_string(work(&home).join("rows.manifest.csv")).expect("csv");
    assert_eq!(csv.lines().count(), 201);

    // The same file again: nothing new is sent, and the batch counts as done.
    let submits = ms.submit_count();
    let again = ok(
        &home,
        &["batch", "rows.jsonl", "--provider", "modelscope", "--wait"],
    )
    .await;
    assert!(again.contains("200 already succeeded"), "{again}");
    assert_eq!(ms.submit_count(), submits);
    // --force would send them all.
    let plan = json(
        &home,
        &[
            "batch",
            "rows.jsonl",
            "--provider",
            "modelscope",
            "--dry-run",
            "--force",
            "--json",
        ],
    )
    .await;
    assert_eq!(plan["estimate"][0]["calls"], 200);
    assert_eq!(ms.submit_count(), submits);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_9_mid_batch_resumes_without_a_row_made_twice() {
    let ms = fake(300).await;
    let home = home(&ms, "max_concurrent = 2\nrequests_per_second = 1000\n");
    write(&home, "rows.jsonl", &jsonl_rows(30, "forest"));
    ok(&home, &["batch", "rows.jsonl", "--provider", "modelscope"]).await;
    assert!(ms.wait_for_tasks(5, PATIENCE).await, "{}", home.log_tail());
    tokio::task::block_in_place(|| home.kill9());
    ok(&home, &["daemon", "start"]).await;
    let out = genq(&home, &["batch", "wait", "1", "--json"]).await;
    // A job caught while being submitted fails `interrupted` (never sent twice); the rest
    // succeed.
    let detail: Value = serde_json::from_str(&stdout(&out)).expect("batch json");
    let rows = detail["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 30);
    let failed: Vec<&Value> = rows.iter().filter(|r| r["state"] != "succeeded").collect();
    assert!(
        failed.iter().all(|r| r["error"]["kind"] == "interrupted"),
        "{failed:?}"
    );
    assert_eq!(out.status.success(), failed.is_empty());
    // One job per row, one submit per prompt.
    let jobs = json(&home, &["jobs", "--limit", "500", "--json"]).await;
    assert_eq!(jobs.as_array().map(Vec::len), Some(30));
    let prompts = prompts_submitted(&ms);
    let distinct: HashSet<&String> = prompts.iter().collect();
    assert_eq!(distinct.len(), prompts.len(), "a prompt was sent twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_file_is_refused_naming_every_row_and_field() {
    let ms = fake(50).await;
    let home = home(&ms, "");
    write(
        &home,
        "bad.csv",
        "prompt,seed,style,output\n\
         a lighthouse,1,,\n\
         a harbour,many,,\n\
         a boat,2,watercolor,\n\
         a gull,3,lineart,gull-{nope}.png\n",
    );
    write(
        &home,
        "bad.jsonl",
        "{\"prompt\":\"ok\"}\n{\"promt\":\"typo\"}\n",
    );
    let out = genq(&home, &["batch", "bad.csv", "--provider", "modelscope"]).await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for needle in [
        "row 2, seed",
        "row 3, style",
        "watercolor",
        "row 4, output",
        "{nope}",
    ] {
        assert!(err.contains(needle), "{needle:?} missing in: {err}");
    }
    let out = genq(&home, &["batch", "bad.jsonl", "--provider", "modelscope"]).await;
    assert!(stderr(&out).contains("row 2, promt"), "{}", stderr(&out));
    assert_eq!(ms.submit_count(), 0);
    assert!(ok(&home, &["batch", "ls"]).await.contains("no batches"));

    // --skip-invalid sends the good rows only.
    let out = ok(
        &home,
        &[
            "batch",
            "bad.csv",
            "--provider",
            "modelscope",
            "--skip-invalid",
            "--wait",
        ],
    )
    .await;
    assert!(out.contains("1 succeeded"), "{out}");
    assert_eq!(ms.task_ids().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_matrix_expands_to_its_product_and_a_dry_run_sends_nothing() {
    let ms = fake(50).await;
    let home = home(&ms, "");
    write(
        &home,
        "three.jsonl",
        &jsonl_rows(3, "mountain").replace("{row:03}", "{index:03}"),
    );
    let plan = json(
        &home,
        &[
            "batch",
            "three.jsonl",
            "--provider",
            "modelscope",
            "--vary",
            "seed=1..4",
            "--vary",
            "style=lineart,ink",
            "--dry-run",
            "--json",
        ],
    )
    .await;
    let jobs = plan["jobs"].as_array().expect("jobs");
    assert_eq!(jobs.len(), 3 * 4 * 2);
    assert_eq!(
        jobs[0]["spec"]["prompt"],
        "black-and-white line art, mountain scene 1, no text"
    );
    assert_eq!(jobs[0]["spec"]["negative_prompt"], "color");
    assert_eq!(plan["estimate"][0]["calls"], 24);
    write(
        &home,
        "grid.toml",
        "[defaults]\nprovider = \"modelscope\"\nstyle = \"ink\"\n\
         [matrix]\nseed = [7, 8]\nsize = [\"1024x1024\", \"1328x1328\"]\n\
         [[rows]]\nprompt = \"a tower\"\n[[rows]]\nprompt = \"a bridge\"\n",
    );
    let text = ok(&home, &["batch", "grid.toml", "--dry-run"]).await;
    assert!(text.contains("8 job(s)"), "{text}");
    assert!(text.contains("ink wash, a bridge"), "{text}");
    assert_eq!(ms.submit_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_takes_a_dropped_file_and_refuses_a_bad_one() {
    let ms = fake(50).await;
    let home = home(&ms, "");
    ok(&home, &["daemon", "start"]).await;
    let inbox = home.dir.path().join("inbox");
    assert!(appears(&inbox.join("done")).await);
    let rows = "{\"provider\":\"modelscope\",\"prompt\":\"a kite\",\"output\":\"kites/{row}.png\"}\n\
                {\"provider\":\"modelscope\",\"prompt\":\"a balloon\",\"output\":\"kites/{row}.png\"}\n";
    // Written under another name, then renamed into place.
    let part = inbox.join("drop.jsonl.part");
    std::fs::write(&part, rows).expect("write");
    std::fs::rename(&part, inbox.join("drop.jsonl")).expect("rename");
    std::fs::write(
        inbox.join("bad.jsonl"),
        "{\"provider\":\"modelscope\",\"promt\":\"x\"}\n",
    )
    .expect("write");

    let done = inbox.join("done");
    assert!(
        appears(&done.join("drop.manifest.jsonl")).await,
        "{}",
        home.log_tail()
    );
    assert!(done.join("drop.jsonl").is_file());
    assert!(!inbox.join("drop.jsonl").exists());
    assert!(done.join("kites/1.png").is_file());
    assert!(done.join("kites/2.png").is_file());
    let report = inbox.join("failed/bad.jsonl.errors.txt");
    assert!(appears(&report).await, "{}", home.log_tail());
    let text = std::fs::read_to_string(report).expect("report");
    assert!(text.contains("row 1, promt"), "{text}");
    assert!(inbox.join("failed/bad.jsonl").is_file());
    assert_eq!(ms.task_ids().len(), 2);
    let list = ok(&home, &["batch", "ls"]).await;
    assert!(list.contains("drop.jsonl (inbox"), "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_a_batch_and_retry_sends_its_rows_again() {
    let ms = fake(30_000).await;
    let home = home(&ms, "max_concurrent = 2\nrequests_per_second = 1000\n");
    write(&home, "slow.jsonl", &jsonl_rows(6, "desert"));
    ok(&home, &["batch", "slow.jsonl", "--provider", "modelscope"]).await;
    assert!(ms.wait_for_tasks(2, PATIENCE).await, "{}", home.log_tail());
    let canceled = json(&home, &["batch", "cancel", "1", "--json"]).await;
    assert_eq!(canceled["canceled"], true);
    let out = genq(&home, &["batch", "wait", "1", "--json"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let detail: Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(detail["batch"]["counts"]["canceled"], 6, "{detail}");
    assert_eq!(ms.task_ids().len(), 2);

    ms.set_script(MsScript::succeed_after(Duration::from_millis(50)));
    let out = ok(&home, &["batch", "retry", "1", "--wait"]).await;
    assert!(out.contains("6 succeeded"), "{out}");
    let rows = json(&home, &["batch", "show", "1", "--json"]).await;
    let rows = rows["rows"].as_array().expect("rows").clone();
    assert!(rows.iter().all(|r| r["state"] == "succeeded"));
    assert!(work(&home).join("out/006_desert-scene-6.png").is_file());
}
