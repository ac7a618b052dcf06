//! `genq submit`: turns flags (and an optional `--from` file) into a `JobSpec`, submits it,
//! and with `--wait` follows the job to its end.

use super::args::SubmitArgs;
use super::ctx::{Ctx, print_json};
use super::error::CliError;
use super::follow::{Outcome, follow};
use crate::inputs::{input_location, is_url, not_on_host};
use genq_protocol::JobSpec;
use genq_protocol::methods::{Submit, SubmitParams};
use std::path::Path;

pub async fn run(ctx: &Ctx, args: SubmitArgs) -> Result<(), CliError> {
    let base = match &args.from {
        Some(file) => Some(read_spec(file)?),
        None => None,
    };
    let cwd = std::env::current_dir()
        .map_err(|e| CliError::Usage(format!("cannot read the current directory: {e}")))?;
    let spec = build_spec(&args, base, &cwd)?;
    if let Some(host) = ctx.endpoint.remote() {
        refuse_local_files(&spec, &host.name())?;
    }
    let (client, notes) = ctx.connect().await?;
    let params = SubmitParams {
        spec,
        idempotency_key: args.idempotency_key.clone(),
    };
    if !args.wait {
        let job = client.call::<Submit>(params).await?;
        if args.json {
            print_json(&job)?;
        } else {
            println!("{}", job.short_id());
        }
        return Ok(());
    }
    // Subscribing happens inside `follow` before it reads the job; events between the submit
    // and that read are covered because `follow` reads the job's state after subscribing.
    let job = client.call::<Submit>(params).await?;
    if !args.json {
        println!("{}", job.short_id());
    }
    let outcome = follow(ctx, &client, notes, std::slice::from_ref(&job.id.0)).await?;
    let Outcome { jobs, failed } = outcome;
    for job in &jobs {
        if args.json {
            print_json(job)?;
        } else {
            for output in &job.outputs {
                if let Some(path) = &output.path {
                    println!("{path}");
                }
            }
        }
    }
    if failed > 0 {
        return Err(CliError::JobsFailed {
            failed,
            total: jobs.len(),
        });
    }
    Ok(())
}

/// A daemon on another machine cannot read this machine's files: inputs must be URLs there.
fn refuse_local_files(spec: &JobSpec, host: &str) -> Result<(), CliError> {
    let local = |v: &String| !is_url(v);
    let flag = if spec.image.as_ref().is_some_and(local) {
        "--image".to_string()
    } else if let Some((name, _)) = spec.views.iter().find(|(_, v)| local(v)) {
        format!("--view {name}")
    } else {
        return Ok(());
    };
    Err(CliError::Usage(not_on_host(&flag, host)))
}

/// Reads a `JobSpec` as `genq export` prints it; `-` reads stdin.
fn read_spec(file: &Path) -> Result<JobSpec, CliError> {
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
            .map_err(|e| CliError::Usage(format!("--from -: cannot read stdin: {e}")))?
    } else {
        std::fs::read_to_string(file)
            .map_err(|e| CliError::Usage(format!("--from {}: {e}", file.display())))?
    };
    serde_json::from_str(&text).map_err(|e| {
        CliError::Usage(format!(
            "--from {}: not a job spec as `genq export` prints it: {e}",
            file.display()
        ))
    })
}

/// The spec to submit: `base` (from `--from`) with every given flag overriding its field.
/// Lists given as flags (`--lora`, `--store`) replace the file's; maps (`--view`,
/// `--param`) are merged key by key. Local image paths are made absolute against `cwd`, since
/// the daemon runs elsewhere.
pub fn build_spec(
    args: &SubmitArgs,
    base: Option<JobSpec>,
    cwd: &Path,
) -> Result<JobSpec, CliError> {
    let mut spec = base.unwrap_or_default();
    if let Some(provider) = &args.provider {
        spec.provider = provider.clone();
    }
    if spec.provider.trim().is_empty() {
        return Err(CliError::Usage(
            "no provider: pass --provider NAME (or a --from file with \"provider\")".into(),
        ));
    }
    if let Some(model) = &args.model {
        spec.model = Some(model.clone());
    }
    if let Some(prompt) = &args.prompt {
        spec.prompt = prompt.clone();
    }
    if let Some(negative) = &args.negative_prompt {
        spec.negative_prompt = Some(negative.clone());
    }
    if let Some(size) = args.size {
        spec.size = Some(size);
    }
    if let Some(seed) = args.seed {
        spec.seed = Some(seed);
    }
    if let Some(steps) = args.steps {
        spec.steps = Some(steps);
    }
    if let Some(guidance) = args.guidance {
        spec.guidance = Some(guidance);
    }
    if !args.loras.is_empty() {
        spec.loras = args.loras.clone();
    }
    if let Some(image) = &args.image {
        spec.image = Some(input_location("--image", image, cwd).map_err(CliError::Usage)?);
    }
    for (name, path) in &args.views {
        let flag = format!("--view {name}");
        spec.views.insert(
            name.clone(),
            input_location(&flag, path, cwd).map_err(CliError::Usage)?,
        );
    }
    if let Some(n) = args.n {
        spec.n = Some(n);
    }
    for (key, value) in &args.params {
        spec.params.insert(key.clone(), value.clone());
    }
    if args.no_store {
        spec.store = Some(Vec::new());
    } else if !args.store.is_empty() {
        spec.store = Some(args.store.clone());
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::args::{Cli, Command};
    use clap::Parser;
    use genq_protocol::{Lora, Size};
    use serde_json::json;

    fn submit_args(argv: &[&str]) -> SubmitArgs {
        let cli = Cli::try_parse_from(["genq", "submit"].iter().chain(argv))
            .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
        match cli.command {
            Some(Command::Submit(args)) => *args,
            other => panic!("not a submit: {other:?}"),
        }
    }

    fn parse_error(argv: &[&str]) -> String {
        Cli::try_parse_from(["genq", "submit"].iter().chain(argv))
            .map(|_| ())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn flags_become_a_spec() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("in.png"), b"png").unwrap();
        std::fs::write(dir.path().join("front.png"), b"png").unwrap();
        let args = submit_args(&[
            "--provider",
            "modelscope",
            "--model",
            "Qwen/Qwen-Image",
            "--prompt",
            "a fox",
            "--negative-prompt",
            "blur",
            "--size",
            "1024x768",
            "--seed",
            "-7",
            "--steps",
            "30",
            "--guidance",
            "3.5",
            "--lora",
            "a/b:0.25",
            "--lora",
            "c/d",
            "--image",
            "in.png",
            "--view",
            "front=front.png",
            "--view",
            "back=https://x.example/back.png",
            "--n",
            "2",
            "--param",
            "cfg=3",
            "--param",
            "sampler=euler",
            "--param",
            "flags=[1,2]",
            "--store",
            "s3",
            "--store",
            "r2",
            "--idempotency-key",
            "k1",
        ]);
        let spec = build_spec(&args, None, dir.path()).unwrap();
        let abs = |name: &str| dir.path().join(name).display().to_string();
        assert_eq!(spec.provider, "modelscope");
        assert_eq!(spec.model.as_deref(), Some("Qwen/Qwen-Image"));
        assert_eq!(spec.prompt, "a fox");
        assert_eq!(spec.negative_prompt.as_deref(), Some("blur"));
        assert_eq!(
            spec.size,
            Some(Size {
                width: 1024,
                height: 768
            })
        );
        assert_eq!(spec.seed, Some(-7));
        assert_eq!(spec.steps, Some(30));
        assert_eq!(spec.guidance, Some(3.5));
        assert_eq!(
            spec.loras,
            vec![
                Lora {
                    repo: "a/b".into(),
                    weight: 0.25
                },
                Lora {
                    repo: "c/d".into(),
                    weight: 1.0
                }
            ]
        );
        assert_eq!(spec.image, Some(abs("in.png")));
        assert_eq!(spec.views["front"], abs("front.png"));
        assert_eq!(spec.views["back"], "https://x.example/back.png");
        assert_eq!(spec.n, Some(2));
        assert_eq!(spec.params["cfg"], json!(3));
        assert_eq!(spec.params["sampler"], json!("euler"));
        assert_eq!(spec.params["flags"], json!([1, 2]));
        assert_eq!(spec.store, Some(vec!["s3".to_string(), "r2".to_string()]));
        assert_eq!(args.idempotency_key.as_deref(), Some("k1"));
    }

    #[test]
    fn store_defaults_to_none_and_no_store_means_local_only() {
        let cwd = std::env::temp_dir();
        let plain = submit_args(&["--provider", "p", "--prompt", "x"]);
        assert_eq!(build_spec(&plain, None, &cwd).unwrap().store, None);
        let local = submit_args(&["--provider", "p", "--prompt", "x", "--no-store"]);
        assert_eq!(build_spec(&local, None, &cwd).unwrap().store, Some(vec![]));
        let err = parse_error(&[
            "--provider",
            "p",
            "--prompt",
            "x",
            "--no-store",
            "--store",
            "s3",
        ]);
        assert!(
            err.contains("--no-store") && err.contains("--store"),
            "{err}"
        );
    }

    #[test]
    fn from_file_is_the_base_and_flags_override_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("job.json");
        let exported = json!({
            "provider": "modelscope", "model": "m1", "prompt": "old", "seed": 1,
            "loras": [{"repo": "x/y", "weight": 1.0}],
            "params": {"a": 1, "b": 2}, "store": ["s3"]
        });
        std::fs::write(&file, exported.to_string()).unwrap();
        let path = file.display().to_string();
        let args = submit_args(&["--from", &path, "--prompt", "new", "--param", "b=3"]);
        let base = read_spec(&file).unwrap();
        let spec = build_spec(&args, Some(base), dir.path()).unwrap();
        assert_eq!(spec.provider, "modelscope");
        assert_eq!(spec.model.as_deref(), Some("m1"));
        assert_eq!(spec.prompt, "new");
        assert_eq!(spec.seed, Some(1));
        assert_eq!(spec.loras.len(), 1);
        assert_eq!(spec.params["a"], json!(1));
        assert_eq!(spec.params["b"], json!(3));
        assert_eq!(spec.store, Some(vec!["s3".to_string()]));
        // An exported spec round-trips unchanged when no flag is given.
        let again = build_spec(
            &submit_args(&["--from", &path]),
            read_spec(&file).ok(),
            dir.path(),
        )
        .unwrap();
        assert_eq!(serde_json::to_value(&again).unwrap(), exported);
    }

    #[test]
    fn a_bad_from_file_names_the_file_and_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("job.json");
        std::fs::write(&file, r#"{"provider":"p","promt":"typo"}"#).unwrap();
        let err = read_spec(&file).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("job.json") && text.contains("promt"),
            "{text}"
        );
        assert_eq!(err.exit_code(), crate::cli::error::EXIT_USAGE);
        let missing = read_spec(&dir.path().join("nope.json"))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("nope.json"), "{missing}");
    }

    #[test]
    fn a_missing_local_image_is_refused_with_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let args = submit_args(&["--provider", "p", "--image", "missing.png"]);
        let err = build_spec(&args, None, dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("--image") && err.contains("missing.png"),
            "{err}"
        );
        let args = submit_args(&["--provider", "p", "--view", "left=gone.png"]);
        let err = build_spec(&args, None, dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("--view left") && err.contains("gone.png"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_are_clap_errors_naming_the_flag() {
        let base = ["--provider", "p", "--prompt", "x"];
        let cases: &[(&[&str], &str, &str)] = &[
            (&["--size", "1024"], "--size", "WxH"),
            (&["--size", "0x5"], "--size", "zero"),
            (&["--lora", "a/b:heavy"], "--lora", "not a number"),
            (&["--steps", "0"], "--steps", "0"),
            (&["--steps", "many"], "--steps", "many"),
            (&["--seed", "1.5"], "--seed", "1.5"),
            (&["--guidance", "NaN"], "--guidance", "finite"),
            (&["--n", "0"], "--n", "0"),
            (&["--param", "novalue"], "--param", "KEY=VALUE"),
            (&["--view", "front"], "--view", "NAME=PATH"),
        ];
        for (extra, flag, hint) in cases {
            let argv: Vec<&str> = base.iter().chain(extra.iter()).copied().collect();
            let err = parse_error(&argv);
            assert!(err.contains(flag) && err.contains(hint), "{argv:?}: {err}");
        }
    }

    #[test]
    fn provider_and_prompt_are_required_without_from() {
        let err = parse_error(&["--prompt", "x"]);
        assert!(err.contains("--provider"), "{err}");
        let err = parse_error(&["--provider", "p"]);
        assert!(err.contains("--prompt"), "{err}");
        // An image-to-3D job needs no prompt.
        submit_args(&["--provider", "p", "--image", "https://x.example/a.png"]);
    }

    #[test]
    fn jobs_state_filter_lists_the_allowed_states() {
        let err = Cli::try_parse_from(["genq", "jobs", "--state", "runing"])
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--state") && err.contains("allowed: queued"),
            "{err}"
        );
        let cli = Cli::try_parse_from([
            "genq",
            "jobs",
            "--state",
            "running,failed",
            "--state",
            "queued",
        ])
        .unwrap();
        let Some(Command::Jobs(args)) = cli.command else {
            panic!()
        };
        use genq_protocol::JobState::*;
        assert_eq!(
            crate::cli::args::flatten_states(&args.state),
            vec![Queued, Running, Failed]
        );
        assert_eq!(args.limit, 50);
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
