//! Runs the fake providers and LoRA catalog sites (ModelScope, Civitai, Hugging Face) on
//! loopback for manual tries and prints the genq configuration that points at them. Stops on
//! Ctrl-C.
//!
//! Usage: fake-providers [--modelscope-port N] [--dashscope-port N] [--tripo-port N] [--duration-ms N]

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use genq_e2e::fakes::{
    CatalogFake, CivitaiFake, DashScopeFake, HuggingFaceFake, ModelScopeFake, TripoFake,
};

const USAGE: &str = "usage: fake-providers [--modelscope-port N] [--dashscope-port N] \
                     [--tripo-port N] [--duration-ms N]";

struct Args {
    modelscope_port: u16,
    dashscope_port: u16,
    tripo_port: u16,
    duration: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        modelscope_port: 0,
        dashscope_port: 0,
        tripo_port: 0,
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
        let number = |what: &str| -> Result<u64, String> {
            value
                .parse::<u64>()
                .map_err(|_| format!("{flag} {value:?}: {what}\n{USAGE}"))
        };
        match flag.as_str() {
            "--modelscope-port" => {
                args.modelscope_port = u16::try_from(number("a port 0-65535")?)
                    .map_err(|_| format!("{flag} {value}: a port 0-65535"))?;
            }
            "--dashscope-port" => {
                args.dashscope_port = u16::try_from(number("a port 0-65535")?)
                    .map_err(|_| format!("{flag} {value}: a port 0-65535"))?;
            }
            "--tripo-port" => {
                args.tripo_port = u16::try_from(number("a port 0-65535")?)
                    .map_err(|_| format!("{flag} {value}: a port 0-65535"))?;
            }
            "--duration-ms" => {
                args.duration = Duration::from_millis(number("milliseconds")?);
            }
            _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
        }
    }
    Ok(args)
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
    let loopback = |port| SocketAddr::from(([127, 0, 0, 1], port));
    let ms = match ModelScopeFake::bind(loopback(args.modelscope_port)).await {
        Ok(f) => f,
        Err(e) => {
            eprintln!(
                "fake ModelScope: cannot listen on 127.0.0.1:{}: {e}",
                args.modelscope_port
            );
            return ExitCode::FAILURE;
        }
    };
    let ds = match DashScopeFake::bind(loopback(args.dashscope_port)).await {
        Ok(f) => f,
        Err(e) => {
            eprintln!(
                "fake DashScope: cannot listen on 127.0.0.1:{}: {e}",
                args.dashscope_port
            );
            return ExitCode::FAILURE;
        }
    };
    let tp = match TripoFake::bind(loopback(args.tripo_port)).await {
        Ok(f) => f,
        Err(e) => {
            eprintln!(
                "fake Tripo: cannot listen on 127.0.0.1:{}: {e}",
                args.tripo_port
            );
            return ExitCode::FAILURE;
        }
    };
    ms.set_duration(args.duration);
    ds.set_duration(args.duration);
    tp.set_duration(args.duration);
    // The LoRA sites, with enough generated cards to page through.
    let catalog = CatalogFake::start().await;
    catalog.add_generated(200);
    let civitai = CivitaiFake::start_civitai().await;
    civitai.add_generated(200);
    let huggingface = HuggingFaceFake::start_huggingface().await;
    huggingface.add_generated(200);

    // The fakes' tasks are quick: say so, or a new model's first poll waits for the real
    // providers' usual run times.
    let typical = format!("typical_s = {}", args.duration.as_secs_f64().max(0.1));
    println!("# genq config.toml");
    println!("[providers.modelscope]");
    println!("base_url = \"{}\"", ms.base_url());
    println!("api_key_env = \"GENQ_FAKE_MODELSCOPE_KEY\"");
    println!("{typical}");
    println!();
    println!("[providers.dashscope]");
    println!("base_url = \"{}\"", ds.base_url());
    println!("api_key_env = \"GENQ_FAKE_DASHSCOPE_KEY\"");
    println!("{typical}");
    println!();
    println!("[providers.tripo]");
    println!("base_url = \"{}\"", tp.base_url());
    println!("api_key_env = \"GENQ_FAKE_TRIPO_KEY\"");
    println!("{typical}");
    println!();
    for (name, url) in [
        ("modelscope", catalog.base_url()),
        ("civitai", civitai.base_url()),
        ("huggingface", huggingface.base_url()),
    ] {
        println!("[catalog.{name}]");
        println!("base_url = \"{url}\"");
        println!();
    }
    println!("# shell");
    println!("export GENQ_FAKE_MODELSCOPE_KEY={}", ms.key());
    println!("export GENQ_FAKE_DASHSCOPE_KEY={}", ds.key());
    println!("export GENQ_FAKE_TRIPO_KEY={}", tp.key());
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
        "stopping: modelscope saw {} requests, dashscope {}, tripo {}",
        ms.requests().len(),
        ds.requests().len(),
        tp.requests().len()
    );
    ExitCode::SUCCESS
}
