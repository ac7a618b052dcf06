//! The TUI in a real terminal: tmux runs the `genq` binary against a daemon and a fake
//! ModelScope; keys go in with `send-keys`, the screen comes back with `capture-pane`.

use genq_e2e::fakes::{CatalogFake, ModelScopeFake, MsScript};
use genq_e2e::harness::{Home, PATIENCE, Sshd, catalog_section, genq_bin};
use serde_json::json;
use std::time::{Duration, Instant};

const WIDTH: u16 = 100;
const HEIGHT: u16 = 30;
/// How often the screen is read while waiting: the terminal offers no event to await.
const POLL: Duration = Duration::from_millis(50);

/// A tmux server of its own (`-L`), so the user's sessions and configuration are never
/// touched; killed on drop, which also ends anything still running in it.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// Whether tmux can run here. Without it the test is skipped, loudly, unless `CI` is
    /// set: there a missing tmux is a broken setup.
    fn available() -> bool {
        let found = std::process::Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            assert!(
                std::env::var_os("CI").is_none(),
                "tmux is not installed, and CI is set: the TUI end-to-end test must run"
            );
            eprintln!(
                "\n!!!!!!!!\n!!! SKIPPED: tmux is not installed; the TUI end-to-end test did not run.\n\
                 !!! Install tmux (apt-get install -y tmux) to run it.\n!!!!!!!!\n"
            );
        }
        found
    }

    /// Starts `command` in a detached session of fixed size. The pane stays after the
    /// program exits so its last screen can be read.
    async fn start(command: &str) -> Tmux {
        // One server per session: tests in this binary run side by side.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmux = Tmux {
            socket: format!("genq-e2e-{}-{n}", std::process::id()),
        };
        tmux.run(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "tui",
            "-x",
            &WIDTH.to_string(),
            "-y",
            &HEIGHT.to_string(),
            command,
            ";",
            "set-option",
            "-t",
            "tui",
            "remain-on-exit",
            "on",
        ])
        .await;
        tmux
    }

    async fn run(&self, args: &[&str]) -> String {
        let out = tokio::process::Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .await
            .expect("run tmux");
        assert!(
            out.status.success(),
            "tmux {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    async fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "tui"];
        args.extend_from_slice(keys);
        self.run(&args).await;
    }

    /// Types `text` literally.
    async fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-t", "tui", "-l", text]).await;
    }

    async fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "tui"]).await
    }

    /// Reads the screen until `done` holds for it; fails with the last screen and the
    /// daemon's log after [`PATIENCE`].
    async fn wait_for(&self, home: &Home, what: &str, done: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen().await;
            if done(&screen) {
                eprintln!("[{:>6} ms] {what}", start.elapsed().as_millis());
                return screen;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "waited {PATIENCE:?} for {what}; the screen shows:\n{screen}\ndaemon log:\n{}",
                home.log_tail()
            );
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = std::process::Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

/// The text inside the left-most bordered pane, wrapped lines joined, so a long path that
/// the detail screen wraps can be found whole.
fn pane_text(screen: &str) -> String {
    screen
        .lines()
        .filter_map(|l| {
            let inner = l.split_once('│')?.1;
            Some(
                inner
                    .split('│')
                    .next()
                    .unwrap_or(inner)
                    .trim_end()
                    .to_string(),
            )
        })
        .collect()
}

/// A laptop's home whose config names `remote`'s genq on the test sshd as host `box`.
fn laptop_of(sshd: &Sshd, remote: &Home) -> Home {
    Home::with_config(&format!(
        "[hosts.box]\nurl = {:?}\ngenq = {:?}\n",
        sshd.url(),
        remote.command_line()
    ))
}

/// The shell command that runs the TUI in `laptop` against host `box`, with `env` (`NAME=VALUE`
/// words, or nothing) added to its environment.
fn tui_over_box(sshd: &Sshd, laptop: &Home, env: &str) -> String {
    let env = if env.is_empty() {
        String::new()
    } else {
        format!("{env} ")
    };
    format!(
        "env GENQ_HOME={} GENQ_SSH_COMMAND={} {env}{} --host box",
        quote(&laptop.dir.path().display().to_string()),
        quote(&sshd.ssh_command()),
        quote(&genq_bin().display().to_string()),
    )
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_from_the_form_watch_it_succeed_open_its_detail_and_quit() {
    if !Tmux::available() {
        return;
    }
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_millis(300)));
    // The first poll comes soon after the submit, not after the model's usual duration.
    let home = Home::with_modelscope(&ms, "typical_s = 0.2\n");

    let tmux = start_tui(&home, &ms).await;

    // The very first key counts: nothing may swallow it at startup.
    tmux.keys(&["n"]).await;
    tmux.wait_for(&home, "the submit form", |s| s.contains("New job"))
        .await;
    let prompt = "a red fox in fresh snow";
    tmux.type_text(prompt).await;
    tmux.wait_for(&home, "the typed prompt", |s| s.contains(prompt))
        .await;
    tmux.keys(&["C-s"]).await;

    let screen = tmux
        .wait_for(&home, "the job to succeed in the table", |s| {
            s.lines()
                .any(|l| l.contains(prompt) && l.contains("succeeded"))
        })
        .await;
    assert!(screen.contains("Jobs"), "{screen}");

    let page = home.client().await.ok("jobs.list", json!({})).await;
    let jobs = page["jobs"].as_array().expect("jobs array");
    assert_eq!(jobs.len(), 1, "{page}");
    let id = jobs[0]["id"].as_str().unwrap().to_string();
    let path = jobs[0]["outputs"][0]["path"]
        .as_str()
        .unwrap_or_else(|| panic!("the job has no stored output: {page}"))
        .to_string();

    tmux.keys(&["Enter"]).await;
    let detail = tmux
        .wait_for(&home, "the detail with the output path", |s| {
            pane_text(s).contains(&path)
        })
        .await;
    let num = &jobs[0]["num"];
    assert!(detail.contains(&format!("Job {num} ")), "{detail}");
    assert!(detail.contains("succeeded"), "{detail}");

    tmux.keys(&["q"]).await;
    let start = Instant::now();
    let status = loop {
        if let Ok(status) = std::fs::read_to_string(exit_record(&home)) {
            break status;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "genq did not quit on q; the screen shows:\n{}",
            tmux.screen().await
        );
        tokio::time::sleep(POLL).await;
    };
    assert_eq!(status.trim(), "0", "genq exited with {status:?}");

    assert!(
        home.daemon_pid().is_some(),
        "quitting the TUI stopped the daemon"
    );
    let mut c = home.client().await;
    let job = c.ok("jobs.get", json!({"id": id})).await;
    assert_eq!(job["state"], "succeeded", "{job}");
}

/// Runs `genq` in tmux for `home` and waits for the connected jobs screen. The daemon is
/// autostarted by the TUI and inherits this environment.
/// Where the pane's shell writes genq's exit status once genq has exited. The shell, not
/// tmux, reports it: tmux 3.3 can mark a pane dead without ever collecting its program's
/// status.
fn exit_record(home: &Home) -> std::path::PathBuf {
    home.dir.path().join("genq.exit")
}

async fn start_tui(home: &Home, ms: &ModelScopeFake) -> Tmux {
    // Written under another name and renamed, so a reader never sees it half written.
    let record = exit_record(home).display().to_string();
    let command = format!(
        "env -u MODELSCOPE_API_TOKEN -u MODELSCOPE_API_KEY GENQ_HOME={} GENQ_TEST_MS_KEY={} {}; \
         echo $? > {}.new && mv {}.new {}",
        quote(&home.dir.path().display().to_string()),
        quote(&ms.key()),
        quote(&genq_bin().display().to_string()),
        quote(&record),
        quote(&record),
        quote(&record),
    );
    let tmux = Tmux::start(&command).await;
    tmux.wait_for(home, "the connected jobs screen", |s| {
        s.contains("genqd") && s.contains("no jobs yet")
    })
    .await;
    tmux
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browse_models_and_loras_then_generate_with_two_marked_loras() {
    if !Tmux::available() {
        return;
    }
    let ms = ModelScopeFake::start().await;
    let cat = CatalogFake::start().await;
    cat.add_generated(40);
    let home = Home::with_modelscope(&ms, &catalog_section("modelscope", &cat.base_url()));
    let tmux = start_tui(&home, &ms).await;

    // The models screen shows the daemon's catalog.
    tmux.keys(&["4"]).await;
    tmux.wait_for(&home, "the models screen", |s| {
        s.contains("Suppliers") && s.contains("modelscope") && s.contains("range / allowed")
    })
    .await;
    let mut hops = 0;
    loop {
        let before = tmux.screen().await;
        if before.contains("★ Qwen/Qwen-Image ") {
            break;
        }
        assert!(
            hops < 4,
            "no supplier lists Qwen-Image as a default:\n{before}"
        );
        tmux.keys(&["l"]).await;
        hops += 1;
        tmux.wait_for(&home, "the next supplier", |s| s != before)
            .await;
    }

    // The LoRAs screen lists cards from the fake site, most downloaded first.
    tmux.keys(&["5"]).await;
    tmux.wait_for(&home, "LoRA cards", |s| {
        s.contains("lora-0") && s.contains("lora-1") && s.contains("by ")
    })
    .await;
    assert!(cat.listing_count() >= 1);
    // Covers are downloaded by the daemon and drawn as halfblocks (tmux gets no query).
    tmux.wait_for(&home, "a cover thumbnail", |s| {
        s.contains('▄') || s.contains('▀')
    })
    .await;
    assert!(cat.cover_count() >= 1);

    // Mark the first two cards and start a job (n): the form gets both, weights summing to 1.
    tmux.keys(&["Space", "Right", "Space"]).await;
    tmux.wait_for(&home, "two marked cards", |s| s.contains("✓2 marked"))
        .await;
    tmux.keys(&["n"]).await;
    let form = tmux
        .wait_for(&home, "the submit form with the LoRAs", |s| {
            s.contains("New job") && s.contains("gen/lora-0:0.5") && s.contains("gen/lora-1:0.5")
        })
        .await;
    assert!(form.contains("‹ modelscope ›"), "{form}");
    assert!(form.contains("Qwen"), "{form}");

    tmux.keys(&["C-c"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_lora_catalog_is_explained_with_a_retry_key() {
    if !Tmux::available() {
        return;
    }
    let ms = ModelScopeFake::start().await;
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let home = Home::with_modelscope(
        &ms,
        &catalog_section("modelscope", &format!("http://127.0.0.1:{port}")),
    );
    let tmux = start_tui(&home, &ms).await;
    tmux.keys(&["5"]).await;
    let screen = tmux
        .wait_for(&home, "the no-network message", |s| {
            s.contains("No network")
        })
        .await;
    assert!(screen.contains("Press Ctrl-R to retry"), "{screen}");
    tmux.keys(&["C-c"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tab_leaves_the_form_visits_every_screen_and_returns_to_the_draft() {
    if !Tmux::available() {
        return;
    }
    let ms = ModelScopeFake::start().await;
    let cat = CatalogFake::start().await;
    cat.add_generated(5);
    let home = Home::with_modelscope(&ms, &catalog_section("modelscope", &cat.base_url()));
    let tmux = start_tui(&home, &ms).await;

    tmux.keys(&["n"]).await;
    tmux.wait_for(&home, "the submit form", |s| s.contains("New job"))
        .await;
    let draft = "a lighthouse drawn in ink";
    tmux.type_text(draft).await;
    tmux.wait_for(&home, "the typed prompt", |s| s.contains(draft))
        .await;

    // Tab leaves the form and goes round every screen; the draft waits.
    tmux.keys(&["Tab"]).await;
    tmux.wait_for(&home, "the models screen", |s| {
        s.contains("Suppliers") && !s.contains(draft)
    })
    .await;
    tmux.keys(&["Tab"]).await;
    tmux.wait_for(&home, "the LoRAs screen", |s| s.contains("lora-0"))
        .await;
    tmux.keys(&["Tab"]).await;
    tmux.wait_for(&home, "the jobs screen", |s| s.contains("no jobs yet"))
        .await;
    tmux.keys(&["Tab"]).await;
    let form = tmux
        .wait_for(&home, "the form with the draft", |s| {
            s.contains("New job") && s.contains(draft)
        })
        .await;
    assert!(form.contains("▸Prompt"), "the focus stayed:\n{form}");

    // Shift-Tab goes back the other way, and n restores the draft saying so.
    tmux.keys(&["BTab"]).await;
    tmux.wait_for(&home, "the jobs screen again", |s| {
        s.contains("no jobs yet")
    })
    .await;
    tmux.keys(&["n"]).await;
    tmux.wait_for(&home, "the restored draft", |s| {
        s.contains(draft) && s.contains("restoring your draft")
    })
    .await;
    tmux.keys(&["C-s"]).await;
    tmux.wait_for(&home, "the submitted draft in the table", |s| {
        s.lines().any(|l| l.contains(draft))
    })
    .await;
    tmux.keys(&["C-c"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slash_filters_the_jobs_as_the_search_is_typed() {
    if !Tmux::available() {
        return;
    }
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_millis(50)));
    let home = Home::with_modelscope(&ms, "");
    let tmux = start_tui(&home, &ms).await;

    let prompts = ["a red fox in snow", "a teapot on a table", "a fox at dusk"];
    let mut c = home.client().await;
    for prompt in prompts {
        c.ok(
            "submit",
            json!({"spec": {"provider": "modelscope", "prompt": prompt}}),
        )
        .await;
    }
    tmux.wait_for(&home, "all three jobs", |s| {
        prompts.iter().all(|p| s.contains(p))
    })
    .await;

    // Each key narrows the list at once; no Enter needed.
    tmux.keys(&["/"]).await;
    tmux.type_text("fox").await;
    let screen = tmux
        .wait_for(&home, "only the fox jobs", |s| {
            s.contains("a red fox in snow")
                && s.contains("a fox at dusk")
                && !s.contains("a teapot on a table")
        })
        .await;
    assert!(
        screen.contains("/fox"),
        "the prompt is still open:\n{screen}"
    );
    tmux.type_text(" at").await;
    tmux.wait_for(&home, "only the dusk fox", |s| {
        s.contains("a fox at dusk") && !s.contains("a red fox in snow")
    })
    .await;
    // Esc gives up the search that was being typed.
    tmux.keys(&["Escape"]).await;
    tmux.wait_for(&home, "every job again", |s| {
        prompts.iter().all(|p| s.contains(p))
    })
    .await;
    tmux.keys(&["C-c"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_run_without_any_key_says_how_to_add_one() {
    if !Tmux::available() {
        return;
    }
    let home = Home::new();
    // No config and no key in the environment the daemon inherits.
    let command = format!(
        "env -u MODELSCOPE_API_TOKEN -u MODELSCOPE_API_KEY -u DASHSCOPE_API_KEY \
         -u TRIPO_API_KEY GENQ_HOME={} {}",
        quote(&home.dir.path().display().to_string()),
        quote(&genq_bin().display().to_string()),
    );
    let tmux = Tmux::start(&command).await;
    let screen = tmux
        .wait_for(&home, "the first-run notice", |s| {
            s.contains("No provider has a key yet")
        })
        .await;
    assert!(screen.contains("genq auth set "), "{screen}");
    tmux.keys(&["n"]).await;
    tmux.wait_for(&home, "the form's key hint", |s| {
        s.contains("New job") && s.contains("no key: genq auth set")
    })
    .await;
    tmux.keys(&["C-c"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_ssh_the_tui_shows_the_remote_jobs_and_comes_back_after_the_link_drops() {
    if !Tmux::available() {
        return;
    }
    let Some(mut sshd) = Sshd::start() else {
        return;
    };
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_millis(100)));
    let remote = Home::with_modelscope(&ms, "typical_s = 0.1\n");
    let laptop = laptop_of(&sshd, &remote);
    let command = tui_over_box(&sshd, &laptop, "");
    let tmux = Tmux::start(&command).await;
    tmux.wait_for(&remote, "the remote jobs screen", |s| {
        s.contains("genqd") && s.contains("no jobs yet")
    })
    .await;
    let before = remote.submit("modelscope", "made before the drop").await;
    remote.finished(&before).await;
    tmux.wait_for(&remote, "the remote job, succeeded", |s| {
        s.lines()
            .any(|l| l.contains("made before the drop") && l.contains("succeeded"))
    })
    .await;

    // The server goes away and the connection with it: the TUI says so and keeps trying.
    sshd.stop();
    sshd.kill_newest_client();
    tmux.wait_for(&remote, "the disconnected banner", |s| {
        s.contains("disconnected")
    })
    .await;
    let during = remote.submit("modelscope", "made while cut off").await;
    remote.finished(&during).await;

    sshd.start_again();
    let screen = tmux
        .wait_for(&remote, "the job made meanwhile, after reconnecting", |s| {
            s.contains("genqd")
                && s.lines()
                    .any(|l| l.contains("made while cut off") && l.contains("succeeded"))
        })
        .await;
    assert!(!screen.contains("○ disconnected"), "{screen}");
    assert_eq!(laptop.daemon_pid(), None, "no daemon runs on the laptop");
    tmux.keys(&["q"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_ssh_the_form_refuses_an_image_file_of_this_machine_next_to_its_field() {
    if !Tmux::available() {
        return;
    }
    let Some(sshd) = Sshd::start() else {
        return;
    };
    let ms = ModelScopeFake::start().await;
    let remote = Home::with_modelscope(&ms, "");
    let laptop = laptop_of(&sshd, &remote);
    let image = laptop.dir.path().join("here.png");
    std::fs::write(&image, b"png").expect("an image on the laptop");
    let command = tui_over_box(&sshd, &laptop, "");
    let tmux = Tmux::start(&command).await;
    tmux.wait_for(&remote, "the remote jobs screen", |s| {
        s.contains("genqd") && s.contains("no jobs yet")
    })
    .await;
    tmux.keys(&["n"]).await;
    tmux.wait_for(&remote, "the submit form", |s| s.contains("New job"))
        .await;
    tmux.type_text("edit this").await;
    // Prompt, Negative, then the image.
    tmux.keys(&["Down", "Down"]).await;
    tmux.type_text(&image.display().to_string()).await;
    tmux.keys(&["C-s"]).await;
    let screen = tmux
        .wait_for(&remote, "the image refused next to its field", |s| {
            s.lines().any(|l| {
                l.contains("Image") && l.contains("✗ use a URL, or file:///PATH on the remote")
            })
        })
        .await;
    assert!(screen.contains("New job"), "{screen}");
    let page = remote.client().await.ok("jobs.list", json!({})).await;
    assert_eq!(page["jobs"], json!([]), "nothing was submitted: {page}");
    assert_eq!(ms.submit_count(), 0);
    tmux.keys(&["C-c"]).await;
}

/// Whether this process may make a mount namespace of its own (`unshare -m`, root), where a
/// tmpfs can hide a directory from one program only. Skipped, loudly, when not.
fn private_mounts_available() -> bool {
    let works = std::process::Command::new("unshare")
        .args(["-m", "--propagation", "private", "true"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !works {
        eprintln!(
            "\n!!!!!!!!\n!!! SKIPPED: `unshare -m` is not available here (it needs root and \
             util-linux); the remote preview test did not run.\n!!!!!!!!\n"
        );
    }
    works
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_ssh_the_detail_draws_a_preview_the_daemon_rendered() {
    if !Tmux::available() || !private_mounts_available() {
        return;
    }
    let Some(sshd) = Sshd::start() else {
        return;
    };
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_millis(100)));
    let remote = Home::with_modelscope(&ms, "typical_s = 0.1\n");
    let laptop = laptop_of(&sshd, &remote);
    // The remote daemon starts here, outside the TUI's namespace, so it sees the output.
    let id = remote
        .submit("modelscope", "a lighthouse drawn from afar")
        .await;
    let job = remote.finished(&id).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let output = job["outputs"][0]["path"]
        .as_str()
        .unwrap_or_else(|| panic!("the job has no stored output: {job}"))
        .to_string();
    let sha256 = job["outputs"][0]["sha256"]
        .as_str()
        .unwrap_or_else(|| panic!("the output has no sha256: {job}"))
        .to_string();
    assert!(std::path::Path::new(&output).is_file(), "{output}");

    // The TUI runs where the remote outputs are hidden under an empty tmpfs, as on a laptop.
    let tui = format!(
        "mount -t tmpfs none {} && exec {}",
        quote(&remote.paths.outputs.display().to_string()),
        tui_over_box(&sshd, &laptop, "GENQ_PREVIEW=halfblocks"),
    );
    let command = format!(
        "exec unshare -m --propagation private sh -c {}",
        quote(&tui)
    );
    let tmux = Tmux::start(&command).await;
    tmux.wait_for(&remote, "the remote job, succeeded", |s| {
        s.lines()
            .any(|l| l.contains("a lighthouse drawn from afar") && l.contains("succeeded"))
    })
    .await;
    let pid = tmux
        .run(&["display-message", "-p", "-t", "tui", "#{pane_pid}"])
        .await;
    let seen_by_tui = format!("/proc/{}/root{output}", pid.trim());
    assert!(
        !std::path::Path::new(&seen_by_tui).exists(),
        "the TUI can read the output itself ({seen_by_tui}): the test proves nothing"
    );

    tmux.keys(&["Enter"]).await;
    tmux.wait_for(&remote, "the detail with the output path", |s| {
        pane_text(s).contains(&output)
    })
    .await;
    tmux.wait_for(&remote, "a preview drawn in halfblocks", |s| {
        s.contains('▄') || s.contains('▀')
    })
    .await;
    let previews = remote.paths.cache.join("previews");
    let rendered: Vec<String> = std::fs::read_dir(&previews)
        .unwrap_or_else(|e| panic!("{}: {e}", previews.display()))
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    assert!(
        rendered.iter().any(|name| name.starts_with(&sha256)),
        "no rendition of {sha256} in {}: {rendered:?}",
        previews.display()
    );
    assert_eq!(laptop.daemon_pid(), None, "no daemon runs on the laptop");
    tmux.keys(&["q"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_grouped_on_the_jobs_screen_counts_its_rows_to_done_and_opens_them() {
    if !Tmux::available() {
        return;
    }
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_millis(100)));
    let home = Home::with_modelscope(&ms, "typical_s = 0.05\n");
    let tmux = start_tui(&home, &ms).await;

    tmux.keys(&["b"]).await;
    tmux.wait_for(&home, "the empty batches view", |s| {
        s.contains("Jobs by batch") && s.contains("no batches yet")
    })
    .await;

    let work = home.dir.path().join("work");
    std::fs::create_dir_all(&work).expect("work dir");
    let rows: String = ["a lantern", "a kettle", "a heron"]
        .iter()
        .map(|p| format!("{{\"prompt\":\"{p}\",\"output\":\"out/{{row:03}}.png\"}}\n"))
        .collect();
    std::fs::write(work.join("rows.jsonl"), rows).expect("write batch file");
    let mut cmd = home.cmd(&["batch", "rows.jsonl", "--provider", "modelscope"]);
    cmd.current_dir(&work);
    let out = tokio::process::Command::from(cmd)
        .output()
        .await
        .expect("run genq batch");
    assert!(out.status.success(), "genq batch: {out:?}");

    // Live events alone bring the batch's row to done: no reload key is pressed.
    let screen = tmux
        .wait_for(&home, "the batch row counting 3 of 3 done", |s| {
            s.lines()
                .any(|l| l.contains("rows.jsonl") && l.contains("3/3") && l.contains('✓'))
        })
        .await;
    let line = screen
        .lines()
        .find(|l| l.contains("rows.jsonl"))
        .unwrap_or_default();
    let counts: Vec<&str> = line
        .trim_end()
        .trim_end_matches('│')
        .split_whitespace()
        .rev()
        .take(4)
        .collect();
    assert_eq!(
        counts,
        ["0", "0", "0", "3"],
        "waiting, in flight, failed, done: {line}"
    );

    tmux.keys(&["Enter"]).await;
    let rows = tmux
        .wait_for(&home, "the batch's rows", |s| {
            s.contains("Batch #1") && s.matches("succeeded").count() == 3
        })
        .await;
    for n in 1..=3 {
        let path = work.join(format!("out/{n:03}.png"));
        assert!(
            rows.contains(&path.display().to_string()),
            "row {n}'s output path {} is not shown:\n{rows}",
            path.display()
        );
    }
    tmux.keys(&["C-c"]).await;
}
