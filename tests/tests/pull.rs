//! Outputs from afar: a client that does not share the daemon's disk reads a job's files in
//! verified chunks (`outputs.read`), asks for small previews (`outputs.preview`), and copies
//! whole jobs with `genq pull`, resuming and checking what it already has.

use bytes::Bytes;
use genq_e2e::fakes::{ModelScopeFake, MsOutcome, MsScript};
use genq_e2e::harness::{Home, RawClient, stderr};
use genq_protocol::outputs::base64_decode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A noisy RGB PNG (it does not compress), about `w * h * 3` bytes.
fn noisy_png(w: u32, h: u32) -> Bytes {
    let mut state: u32 = 0x1234_5678;
    let img = image::RgbImage::from_fn(w, h, |_, _| {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let [a, b, c, _] = state.to_le_bytes();
        image::Rgb([a, b, c])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    Bytes::from(out.into_inner())
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A home whose fake makes `png`, with a daemon running and one finished job: the job.
async fn finished_job(png: Option<Bytes>) -> (ModelScopeFake, Home, Value) {
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_millis(50)));
    ms.set_output_png(png);
    let home = Home::with_modelscope(&ms, "");
    home.start_daemon();
    let job = submit_and_wait(&home, "a teapot from afar").await;
    (ms, home, job)
}

async fn submit_and_wait(home: &Home, prompt: &str) -> Value {
    let mut c = home.client().await;
    c.ok("subscribe", json!({})).await;
    let id = c.submit_prompt("modelscope", prompt).await;
    c.wait_final(&id).await;
    let job = c.ok("jobs.get", json!({"id": id})).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    job
}

/// The error's field, asserting the call failed.
fn refused_field(resp: &Value) -> String {
    let field = resp["error"]["data"]["field"].as_str();
    field
        .unwrap_or_else(|| panic!("not refused with a field: {resp}"))
        .to_string()
}

async fn read_all(c: &mut RawClient, params: Value, length: u64) -> (Vec<u8>, Value) {
    let mut bytes = Vec::new();
    let mut calls = 0;
    loop {
        let mut p = params.clone();
        p["offset"] = json!(bytes.len());
        p["length"] = json!(length);
        let chunk = c.ok("outputs.read", p).await;
        assert_eq!(chunk["offset"], json!(bytes.len()));
        bytes.extend(base64_decode(chunk["data"].as_str().unwrap()).unwrap());
        calls += 1;
        if chunk["eof"] == true {
            assert!(calls > 1 || bytes.len() as u64 <= length);
            return (bytes, chunk);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_read_reassembles_the_recorded_file_and_refuses_with_the_field_named() {
    let (_ms, home, job) = finished_job(Some(noisy_png(400, 300))).await;
    let id = job["id"].as_str().unwrap();
    let out = &job["outputs"][0];
    let on_disk = std::fs::read(out["path"].as_str().unwrap()).unwrap();
    let mut c = home.client().await;

    let (bytes, last) = read_all(&mut c, json!({"id": id, "index": 0}), 100_000).await;
    assert_eq!(bytes, on_disk);
    assert_eq!(last["sha256"], out["sha256"]);
    assert_eq!(sha256_hex(&bytes), out["sha256"].as_str().unwrap());
    assert_eq!(last["size"], json!(on_disk.len()));
    assert_eq!(last["name"], "0.png");

    // params.json, by the job's number too.
    let num = job["num"].to_string();
    let (params, last) = read_all(&mut c, json!({"id": num, "file": "params.json"}), 64).await;
    assert_eq!(last["sha256"], json!(sha256_hex(&params)));
    assert!(String::from_utf8_lossy(&params).contains("a teapot from afar"));

    let size = on_disk.len() as u64;
    for (params, field) in [
        (json!({"id": id, "index": 1}), "index"),
        (json!({"id": id}), "index"),
        (
            json!({"id": id, "index": 0, "file": "params.json"}),
            "index",
        ),
        (json!({"id": id, "index": 0, "offset": size + 1}), "offset"),
        (json!({"id": id, "index": 0, "length": 0}), "length"),
        (json!({"id": id, "index": 0, "length": 1_048_577}), "length"),
        (json!({"id": id, "file": "../../config.toml"}), "file"),
    ] {
        let resp = c.call("outputs.read", params.clone()).await;
        assert_eq!(refused_field(&resp), field, "{params}: {resp}");
        assert!(
            resp["error"]["message"].as_str().unwrap().contains(field),
            "{resp}"
        );
    }
    // The end of the file is a valid place to read from: nothing, and the end.
    let end = c
        .ok(
            "outputs.read",
            json!({"id": id, "index": 0, "offset": size}),
        )
        .await;
    assert_eq!(
        (end["data"].as_str(), end["eof"].as_bool()),
        (Some(""), Some(true))
    );

    // The record pointing outside the outputs directory (a file swapped for a link to
    // another job's directory elsewhere, or to the config) is refused, not followed.
    let path = PathBuf::from(out["path"].as_str().unwrap());
    std::fs::remove_file(&path).unwrap();
    std::os::unix::fs::symlink(&home.paths.config, &path).unwrap();
    let resp = c.call("outputs.read", json!({"id": id, "index": 0})).await;
    assert_eq!(refused_field(&resp), "index", "{resp}");
    assert!(
        resp["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not a file inside the outputs directory"),
        "{resp}"
    );
    let resp = c
        .call("outputs.read", json!({"id": "0fffffff", "index": 0}))
        .await;
    assert_eq!(resp["error"]["data"]["kind"], "not_found", "{resp}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_preview_fits_the_bounds_keeps_the_aspect_and_is_cached() {
    let (_ms, home, job) = finished_job(Some(noisy_png(400, 300))).await;
    let id = job["id"].as_str().unwrap();
    let mut c = home.client().await;
    let p = c
        .ok(
            "outputs.preview",
            json!({"id": id, "max_width": 100, "max_height": 100}),
        )
        .await;
    let bytes = base64_decode(p["data"].as_str().unwrap()).unwrap();
    let img = image::load_from_memory(&bytes).unwrap();
    assert_eq!((img.width(), img.height()), (100, 75));
    assert_eq!(
        (p["width"].as_u64(), p["height"].as_u64()),
        (Some(100), Some(75))
    );
    assert_eq!(p["index"], 0);

    // The rendition is kept; the next ask is answered from the cache.
    let cache = home.paths.cache.join("previews");
    let cached: Vec<PathBuf> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    let name = cached[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        name.starts_with(job["outputs"][0]["sha256"].as_str().unwrap()),
        "{name}"
    );
    assert_eq!(std::fs::read(&cached[0]).unwrap(), bytes);
    let marker = image::RgbImage::from_pixel(7, 5, image::Rgb([1, 2, 3]));
    marker
        .save_with_format(&cached[0], image::ImageFormat::Png)
        .unwrap();
    let again = c
        .ok(
            "outputs.preview",
            json!({"id": id, "index": 0, "max_width": 100, "max_height": 100}),
        )
        .await;
    assert_eq!(
        (again["width"].as_u64(), again["height"].as_u64()),
        (Some(7), Some(5))
    );

    for (params, field) in [
        (
            json!({"id": id, "max_width": 0, "max_height": 10}),
            "max_width",
        ),
        (
            json!({"id": id, "max_width": 10, "max_height": 5000}),
            "max_height",
        ),
        (
            json!({"id": id, "index": 3, "max_width": 10, "max_height": 10}),
            "index",
        ),
    ] {
        let resp = c.call("outputs.preview", params.clone()).await;
        assert_eq!(refused_field(&resp), field, "{params}: {resp}");
    }
}

fn pull_json(home: &Home, id: &str, to: &Path) -> Vec<Value> {
    let v = home.json(&["pull", id, "--to", to.to_str().unwrap(), "--json"]);
    v.as_array().unwrap().clone()
}

fn action_of<'a>(files: &'a [Value], name: &str) -> &'a str {
    files
        .iter()
        .find(|f| f["name"] == name)
        .and_then(|f| f["action"].as_str())
        .unwrap_or_else(|| panic!("{name} not in {files:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn genq_pull_copies_verifies_resumes_and_skips_what_is_there() {
    // About 2.5 MB: three chunks.
    let (ms, home, job) = finished_job(Some(noisy_png(1000, 850))).await;
    let id = job["id"].as_str().unwrap();
    let num = job["num"].to_string();
    let source = std::fs::read(job["outputs"][0]["path"].as_str().unwrap()).unwrap();
    assert!(source.len() > 2 * 1024 * 1024, "{}", source.len());
    let to = tempfile::tempdir().unwrap();
    let dir = to.path().join(id);
    let local = dir.join("0.png");

    let files = pull_json(&home, &num, to.path());
    assert_eq!(action_of(&files, "0.png"), "copied");
    assert_eq!(action_of(&files, "params.json"), "copied");
    assert_eq!(std::fs::read(&local).unwrap(), source);
    let params_src = Path::new(job["outputs"][0]["path"].as_str().unwrap())
        .parent()
        .unwrap()
        .join("params.json");
    assert_eq!(
        std::fs::read(dir.join("params.json")).unwrap(),
        std::fs::read(params_src).unwrap()
    );
    assert!(!dir.join("0.png.part").exists());

    // Again: nothing to copy.
    let files = pull_json(&home, &id[..8], to.path());
    assert_eq!(action_of(&files, "0.png"), "present");
    assert_eq!(files[0]["transferred"], 0);

    // An interrupted copy: the `.part` holds the first 1.5 MB.
    std::fs::remove_file(&local).unwrap();
    let kept = 1_500_000;
    std::fs::write(dir.join("0.png.part"), &source[..kept]).unwrap();
    let files = pull_json(&home, id, to.path());
    assert_eq!(action_of(&files, "0.png"), "resumed");
    assert_eq!(files[0]["transferred"], json!(source.len() - kept));
    assert_eq!(std::fs::read(&local).unwrap(), source);
    assert!(!dir.join("0.png.part").exists());

    // A `.part` that does not match the file is started again from nothing.
    std::fs::remove_file(&local).unwrap();
    std::fs::write(dir.join("0.png.part"), vec![0u8; kept]).unwrap();
    let files = pull_json(&home, id, to.path());
    assert_eq!(action_of(&files, "0.png"), "copied");
    assert_eq!(files[0]["transferred"], json!(source.len()));
    assert_eq!(std::fs::read(&local).unwrap(), source);

    // A local copy that differs is fetched again.
    let mut corrupt = source.clone();
    corrupt[1000] ^= 0xff;
    std::fs::write(&local, &corrupt).unwrap();
    let out = home.ok(&["pull", id, "--to", to.path().to_str().unwrap()]);
    assert!(out.contains("local copy differed"), "{out}");
    assert_eq!(std::fs::read(&local).unwrap(), source);

    // A job that failed before it had files: nothing to copy, said so, exit 1.
    ms.set_script(MsScript::outcome_after(
        Duration::from_millis(50),
        MsOutcome::ContentPolicy,
    ));
    let mut c = home.client().await;
    c.ok("subscribe", json!({})).await;
    let failed = c.submit_prompt("modelscope", "refused").await;
    assert_eq!(c.wait_final(&failed).await, "failed");
    let out = home.run(&["pull", &failed, "--to", to.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("params.json  not on the daemon's disk"),
        "{out:?}"
    );

    // An unknown job: refused as other commands refuse it.
    let out = home.run(&["pull", "0fffffff", "--to", to.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("0fffffff"), "{}", stderr(&out));

    // A file where the folder should be: refused before anything is copied, naming `--to`.
    let file = to.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let out = home.run(&["pull", id, "--to", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--to:"), "{}", stderr(&out));
}

/// Throughput of `genq pull` for a ~50 MB output against `cp` of the same file on this disk.
/// Prints figures; asserts only that the copies are whole. Run with `--ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn pull_throughput_against_cp() {
    let (_ms, home, job) = finished_job(Some(noisy_png(4096, 4096))).await;
    let id = job["id"].as_str().unwrap();
    let source = PathBuf::from(job["outputs"][0]["path"].as_str().unwrap());
    let size = std::fs::metadata(&source).unwrap().len();
    let mb = size as f64 / 1e6;
    let to = tempfile::tempdir().unwrap();

    let started = std::time::Instant::now();
    home.ok(&["pull", id, "--to", to.path().to_str().unwrap()]);
    let pull = started.elapsed().as_secs_f64();
    assert_eq!(
        std::fs::metadata(to.path().join(id).join("0.png"))
            .unwrap()
            .len(),
        size
    );

    let started = std::time::Instant::now();
    let status = std::process::Command::new("cp")
        .arg(&source)
        .arg(to.path().join("cp.png"))
        .status()
        .unwrap();
    let cp = started.elapsed().as_secs_f64();
    assert!(status.success());
    println!(
        "{mb:.1} MB: genq pull {:.1} MB/s ({pull:.2} s), cp {:.1} MB/s ({cp:.3} s)",
        mb / pull,
        mb / cp
    );
}
