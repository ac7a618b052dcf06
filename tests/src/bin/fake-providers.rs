//! Runs the fake providers and LoRA catalog sites (ModelScope, Civitai, Hugging Face) on
//! loopback for manual tries. With `--home DIR` it also makes DIR a genq home for them: the
//! config and the keys are written there, and ports and keys are kept for the next start.
//! Without it, it prints the configuration to paste. Stops on Ctrl-C.

use std::net::SocketAddr;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use genq_e2e::fakes::comfyui::{SAMPLE_BINDINGS, SAMPLE_WORKFLOW};
use genq_e2e::fakes::{
    CatalogFake, CivitaiFake, ComfyFake, DashScopeFake, HuggingFaceFake, ModelScopeFake,
    OpenAiFake, TripoFake,
};
use genq_protocol::Credentials;

const USAGE: &str = "usage: fake-providers [--home DIR] [--modelscope-port N] \
                     [--dashscope-port N] [--tripo-port N] [--openai-port N] [--comfyui-port N] \
                     [--duration-ms N]";

/// The first line of a config written by `--home`: such a file may be rewritten.
const MARK: &str = "# Written by fake-providers --home";

/// The fake ComfyUI's workflow, beside the config.
const WORKFLOW_FILE: &str = "fake-comfyui-workflow.json";

/// Where `--home` keeps the fakes' ports and keys between starts.
const STATE_FILE: &str = "fake-providers.json";

struct Args {
    home: Option<PathBuf>,
    modelscope_port: Option<u16>,
    dashscope_port: Option<u16>,
    tripo_port: Option<u16>,
    openai_port: Option<u16>,
    comfyui_port: Option<u16>,
    duration: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        home: None,
        modelscope_port: None,
        dashscope_port: None,
        tripo_port: None,
        openai_port: None,
        comfyui_port: None,
        duration: Duration::from_secs(4),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Err(USAGE.to_string());
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let port = || -> Result<Option<u16>, String> {
            value
                .parse::<u16>()
                .map(Some)
                .map_err(|_| format!("{flag} {value:?}: a port 0-65535\n{USAGE}"))
        };
        match flag.as_str() {
            "--home" => args.home = Some(PathBuf::from(&value)),
            "--modelscope-port" => args.modelscope_port = port()?,
            "--dashscope-port" => args.dashscope_port = port()?,
            "--tripo-port" => args.tripo_port = port()?,
            "--openai-port" => args.openai_port = port()?,
            "--comfyui-port" => args.comfyui_port = port()?,
            "--duration-ms" => {
                let ms = value
                    .parse::<u64>()
                    .map_err(|_| format!("{flag} {value:?}: milliseconds\n{USAGE}"))?;
                args.duration = Duration::from_millis(ms);
            }
            _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
        }
    }
    Ok(args)
}

/// Ports and keys of the fakes, kept in the home so a restart changes nothing for genq.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Kept {
    #[serde(default)]
    ports: std::collections::BTreeMap<String, u16>,
    #[serde(default)]
    keys: std::collections::BTreeMap<String, String>,
}

impl Kept {
    fn load(home: &Path) -> Kept {
        std::fs::read_to_string(home.join(STATE_FILE))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    fn save(&self, home: &Path) -> Result<(), String> {
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        write_private(&home.join(STATE_FILE), &text)
    }
}

/// Binds a fake on its kept (or given) port; when that port is taken, on any free one.
async fn bind<T, F, Fut>(name: &str, wanted: Option<u16>, bind: F) -> Result<T, String>
where
    F: Fn(SocketAddr) -> Fut,
    Fut: std::future::Future<Output = std::io::Result<T>>,
{
    let loopback = |port| SocketAddr::from(([127, 0, 0, 1], port));
    let port = wanted.unwrap_or(0);
    match bind(loopback(port)).await {
        Ok(f) => Ok(f),
        Err(e) if port != 0 => {
            eprintln!("fake {name}: port {port} is taken ({e}); using another one");
            bind(loopback(0))
                .await
                .map_err(|e| format!("fake {name}: cannot listen on 127.0.0.1: {e}"))
        }
        Err(e) => Err(format!("fake {name}: cannot listen on 127.0.0.1: {e}")),
    }
}

fn write_private(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()).map(|()| f))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    f.flush()
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

struct Fakes {
    ms: ModelScopeFake,
    ds: DashScopeFake,
    tp: TripoFake,
    oa: OpenAiFake,
    comfy: ComfyFake,
    catalogs: [(&'static str, String); 3],
    /// Kept alive while the fakes run.
    _sites: (CatalogFake, CivitaiFake, HuggingFaceFake),
}

async fn start(args: &Args, kept: &Kept) -> Result<Fakes, String> {
    let port = |name: &str, flag: Option<u16>| flag.or_else(|| kept.ports.get(name).copied());
    let ms = bind(
        "ModelScope",
        port("modelscope", args.modelscope_port),
        ModelScopeFake::bind,
    )
    .await?;
    let ds = bind(
        "DashScope",
        port("dashscope", args.dashscope_port),
        DashScopeFake::bind,
    )
    .await?;
    let tp = bind("Tripo", port("tripo", args.tripo_port), TripoFake::bind).await?;
    let oa = bind("OpenAI", port("openai", args.openai_port), OpenAiFake::bind).await?;
    let comfy = bind(
        "ComfyUI",
        port("comfyui", args.comfyui_port),
        ComfyFake::bind,
    )
    .await?;
    // A 20-step prompt takes about the tasks' duration.
    comfy.set_step_time(args.duration / 20);
    ms.set_duration(args.duration);
    ds.set_duration(args.duration);
    tp.set_duration(args.duration);
    // Outputs on another origin than the API, as the real ones are on object storage.
    ms.set_files_host("localhost");
    ds.set_files_host("localhost");
    tp.set_files_host("localhost");
    if let Some(k) = kept.keys.get("modelscope") {
        ms.set_key(k.clone());
    }
    if let Some(k) = kept.keys.get("dashscope") {
        ds.set_key(k.clone());
    }
    if let Some(k) = kept.keys.get("tripo") {
        tp.set_key(k.clone());
    }
    if let Some(k) = kept.keys.get("openai") {
        oa.set_key(k.clone());
    }
    // The LoRA sites, with enough generated cards to page through.
    let site = |name: &str| kept.ports.get(&format!("catalog.{name}")).copied();
    let catalog = bind(
        "ModelScope LoRA site",
        site("modelscope"),
        CatalogFake::bind,
    )
    .await?;
    catalog.add_generated(200);
    let civitai = bind("Civitai", site("civitai"), CivitaiFake::bind_civitai).await?;
    civitai.add_generated(200);
    let huggingface = bind(
        "Hugging Face",
        site("huggingface"),
        HuggingFaceFake::bind_huggingface,
    )
    .await?;
    huggingface.add_generated(200);
    Ok(Fakes {
        catalogs: [
            ("modelscope", catalog.base_url()),
            ("civitai", civitai.base_url()),
            ("huggingface", huggingface.base_url()),
        ],
        ms,
        ds,
        tp,
        oa,
        comfy,
        _sites: (catalog, civitai, huggingface),
    })
}

impl Fakes {
    fn providers(&self) -> [(&'static str, String, String); 4] {
        [
            ("modelscope", self.ms.base_url(), self.ms.key()),
            ("dashscope", self.ds.base_url(), self.ds.key()),
            ("tripo", self.tp.base_url(), self.tp.key()),
            ("openai", self.oa.base_url(), self.oa.key()),
        ]
    }

    /// The genq config for the fakes; `key_env` adds `api_key_env` lines.
    fn config(&self, duration: Duration, key_env: bool) -> String {
        // The fakes' tasks are quick: say so, or a new model's first poll waits for the real
        // providers' usual run times.
        let typical = format!("typical_s = {}", duration.as_secs_f64().max(0.1));
        let mut out = String::new();
        for (name, url, _) in self.providers() {
            out.push_str(&format!("[providers.{name}]\nbase_url = \"{url}\"\n"));
            if key_env {
                out.push_str(&format!(
                    "api_key_env = \"GENQ_FAKE_{}_KEY\"\n",
                    name.to_uppercase()
                ));
            }
            out.push_str(&format!("{typical}\n\n"));
        }
        out.push_str(&format!(
            "[providers.comfyui]\ntype = \"comfyui\"\nbase_url = \"{}\"\n{typical}\n\
             [providers.comfyui.workflows.sd15]\nfile = \"{WORKFLOW_FILE}\"\n{SAMPLE_BINDINGS}\n",
            self.comfy.base_url()
        ));
        for (name, url) in &self.catalogs {
            out.push_str(&format!("[catalog.{name}]\nbase_url = \"{url}\"\n\n"));
        }
        out
    }
}

/// Makes `home` a genq home for the running fakes: config, keys, and what to keep.
fn configure_home(home: &Path, fakes: &Fakes, duration: Duration) -> Result<(), String> {
    // The home holds keys and prompts: private to the user, like genq's own directories.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(home)
        .map_err(|e| format!("cannot create {}: {e}", home.display()))?;
    let config = home.join("config.toml");
    if let Ok(text) = std::fs::read_to_string(&config)
        && !text.starts_with(MARK)
    {
        return Err(format!(
            "{} exists and was not written by fake-providers; give --home an empty or new \
             directory",
            config.display()
        ));
    }
    let text = format!(
        "{MARK}; it rewrites this file.\n\n{}",
        fakes.config(duration, false)
    );
    write_private(&config, &text)?;
    write_private(&home.join(WORKFLOW_FILE), SAMPLE_WORKFLOW)?;
    let credentials = home.join("credentials.toml");
    let mut stored = Credentials::load(&credentials).map_err(|e| e.to_string())?;
    let mut kept = Kept::default();
    for (name, url, key) in fakes.providers() {
        stored.set(name, &key)?;
        kept.keys.insert(name.to_string(), key);
        if let Some(port) = url.rsplit(':').next().and_then(|p| p.parse().ok()) {
            kept.ports.insert(name.to_string(), port);
        }
    }
    for (name, url) in &fakes.catalogs {
        if let Some(port) = url.rsplit(':').next().and_then(|p| p.parse().ok()) {
            kept.ports.insert(format!("catalog.{name}"), port);
        }
    }
    if let Some(port) = fakes
        .comfy
        .base_url()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
    {
        kept.ports.insert("comfyui".to_string(), port);
    }
    stored.save(&credentials).map_err(|e| e.to_string())?;
    kept.save(home)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    let kept = args.home.as_deref().map(Kept::load).unwrap_or_default();
    let fakes = match start(&args, &kept).await {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    match &args.home {
        Some(home) => {
            let home = std::path::absolute(home).unwrap_or_else(|_| home.clone());
            if let Err(e) = configure_home(&home, &fakes, args.duration) {
                eprintln!("fake-providers: {e}");
                return ExitCode::FAILURE;
            }
            for (name, url, _) in fakes.providers() {
                println!("fake {name}: {url}");
            }
            println!("fake comfyui: {}", fakes.comfy.base_url());
            println!(
                "wrote {0}/config.toml and the keys to {0}/credentials.toml",
                home.display()
            );
            println!();
            println!("Keep this running. In another terminal:");
            println!("  export GENQ_HOME={}", home.display());
            println!("  genq submit --provider modelscope --prompt \"a red teapot\" --wait");
            println!("  genq");
        }
        None => {
            println!("# genq config.toml (beside it, {WORKFLOW_FILE}: the workflow printed last)");
            print!("{}", fakes.config(args.duration, true));
            println!("# shell");
            for (name, _, key) in fakes.providers() {
                println!("export GENQ_FAKE_{}_KEY={key}", name.to_uppercase());
            }
            println!("# {WORKFLOW_FILE}\n{SAMPLE_WORKFLOW}");
        }
    }
    println!();
    println!(
        "# tasks finish after {} ms; Ctrl-C stops the fakes",
        args.duration.as_millis()
    );

    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("cannot wait for Ctrl-C: {e}");
        return ExitCode::FAILURE;
    }
    eprintln!(
        "stopping: modelscope saw {} requests, dashscope {}, tripo {}, openai {}, comfyui {}",
        fakes.ms.requests().len(),
        fakes.ds.requests().len(),
        fakes.tp.requests().len(),
        fakes.oa.requests().len(),
        fakes.comfy.requests().len()
    );
    ExitCode::SUCCESS
}
