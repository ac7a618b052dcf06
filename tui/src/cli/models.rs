//! `genq models`, `genq categories` and `genq capabilities`: the catalog of suppliers,
//! models, parameters, capabilities and categories kept by the daemon.

use super::ctx::{Ctx, JsonArg, print_json};
use super::error::CliError;
use clap::{Args, Subcommand};
use genq_protocol::catalog::{
    Category, Model, ModelEdit, ModelInput, ModelParam, ModelRef, ModelsListParams, ParamType,
    SetDefaultParams,
};
use genq_protocol::methods::{
    CapabilitiesList, CategoriesList, Empty, ModelsAdd, ModelsEdit, ModelsGet, ModelsList,
    ModelsRemove, ModelsRestore, ModelsSetDefault,
};
use std::fmt::Write as _;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// Only models of this provider.
    #[arg(long, value_name = "P")]
    pub provider: Option<String>,
    /// Only models with this capability (e.g. text_to_image).
    #[arg(long, value_name = "C")]
    pub capability: Option<String>,
    /// Include removed models.
    #[arg(long)]
    pub all: bool,
    #[arg(long)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Option<ModelsCommand>,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Show one model with its parameters.
    Show {
        /// `provider:id`, or the id alone when unique.
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Add a model.
    Add(Box<AddArgs>),
    /// Change a model.
    Edit(Box<EditArgs>),
    /// Remove a model (hidden and refused by submit; restorable).
    Rm { id: String },
    /// Bring back a removed model.
    Restore { id: String },
    /// Make a model the default of a capability (used by submit without --model).
    SetDefault {
        id: String,
        /// Needed when the model has several capabilities.
        #[arg(long, value_name = "C")]
        capability: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The provider (supplier) the model belongs to.
    #[arg(long, value_name = "P", required_unless_present = "from")]
    pub provider: Option<String>,
    /// The model id at the provider.
    #[arg(long, value_name = "ID", required_unless_present = "from")]
    pub id: Option<String>,
    /// image, model3d, video, …
    #[arg(long = "type", value_name = "T", default_value = "image")]
    pub kind: String,
    /// text_to_image, image_to_image, text_to_model, …
    #[arg(long, value_name = "S", default_value = "text_to_image")]
    pub sub_type: String,
    /// Display name.
    #[arg(long, value_name = "TEXT")]
    pub name: Option<String>,
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
    /// LoRA family the model takes (qwen-image, z-image, flux1, …).
    #[arg(long, value_name = "F")]
    pub lora_family: Option<String>,
    /// A capability; repeatable (default: the sub-type).
    #[arg(long = "capability", value_name = "C")]
    pub capabilities: Vec<String>,
    /// A category; repeatable.
    #[arg(long = "category", value_name = "C")]
    pub categories: Vec<String>,
    /// A parameter `NAME:TYPE[:MIN..MAX|A|B|C][=DEFAULT]`; repeatable.
    #[arg(long = "param", value_name = "SPEC", value_parser = parse_param_spec)]
    pub params: Vec<ModelParam>,
    /// Added but inactive.
    #[arg(long)]
    pub inactive: bool,
    /// Read the model from a JSON file (the `models.add` shape); flags override it.
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct EditArgs {
    pub id: String,
    #[arg(long, value_name = "TEXT")]
    pub name: Option<String>,
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
    #[arg(long, value_name = "S")]
    pub sub_type: Option<String>,
    /// LoRA family; an empty value clears it.
    #[arg(long, value_name = "F")]
    pub lora_family: Option<String>,
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set)]
    pub active: Option<bool>,
    /// Replaces the capabilities; repeatable.
    #[arg(long = "capability", value_name = "C")]
    pub capabilities: Vec<String>,
    /// Replaces the categories; repeatable.
    #[arg(long = "category", value_name = "C")]
    pub categories: Vec<String>,
    /// Adds or replaces a parameter `NAME:TYPE[:MIN..MAX|A|B|C][=DEFAULT]`; repeatable.
    #[arg(long = "param", value_name = "SPEC", value_parser = parse_param_spec)]
    pub params: Vec<ModelParam>,
    /// Removes a parameter; repeatable.
    #[arg(long = "drop-param", value_name = "NAME")]
    pub drop_params: Vec<String>,
    #[arg(long)]
    pub json: bool,
}

/// `steps:int:1..100=30`, `sampler:enum:euler|ddim=euler`, `prompt:string:..500`,
/// `tiling:bool=false`.
pub fn parse_param_spec(s: &str) -> Result<ModelParam, String> {
    let (head, default) = match s.split_once('=') {
        Some((h, d)) => (h, Some(d)),
        None => (s, None),
    };
    let mut parts = head.splitn(3, ':');
    let name = parts.next().unwrap_or("").trim().to_string();
    let kind: ParamType = parts
        .next()
        .ok_or_else(|| {
            format!("{s:?} is not NAME:TYPE[:RANGE][=DEFAULT], e.g. steps:int:1..100=30")
        })?
        .trim()
        .parse()?;
    let (mut min, mut max, mut allowed) = (None, None, Vec::new());
    if let Some(range) = parts.next() {
        if kind == ParamType::Enum {
            allowed = range.split('|').map(|v| v.trim().to_string()).collect();
        } else {
            let (a, b) = range
                .split_once("..")
                .ok_or_else(|| format!("{range:?} is not MIN..MAX (either side may be empty)"))?;
            let num = |v: &str| -> Result<Option<f64>, String> {
                let v = v.trim();
                if v.is_empty() {
                    return Ok(None);
                }
                v.parse::<f64>()
                    .map(Some)
                    .map_err(|_| format!("{v:?} is not a number"))
            };
            min = num(a)?;
            max = num(b)?;
        }
    }
    let default = default.map(|d| {
        serde_json::from_str(d).unwrap_or_else(|_| serde_json::Value::String(d.to_string()))
    });
    Ok(ModelParam {
        name,
        kind,
        default,
        min,
        max,
        allowed,
        description: String::new(),
    })
}

pub async fn run(ctx: &Ctx, args: ModelsArgs) -> Result<(), CliError> {
    let (client, _notes) = ctx.connect().await?;
    match args.command {
        None => {
            let models = client
                .call::<ModelsList>(ModelsListParams {
                    supplier: args.provider,
                    capability: args.capability,
                    include_removed: args.all,
                })
                .await?;
            if args.json {
                return print_json(&models);
            }
            print!("{}", models_table(&models));
            Ok(())
        }
        Some(ModelsCommand::Show { id, json }) => {
            let m = client.call::<ModelsGet>(ModelRef { model: id }).await?;
            if json {
                return print_json(&m);
            }
            print!("{}", show_model(&m));
            Ok(())
        }
        Some(ModelsCommand::Add(a)) => {
            let json = a.json;
            let m = client.call::<ModelsAdd>(model_input(*a)?).await?;
            done(&m, json, "added")
        }
        Some(ModelsCommand::Edit(e)) => {
            let m = client
                .call::<ModelsEdit>(ModelEdit {
                    model: e.id,
                    display_name: e.name,
                    description: e.description,
                    sub_type: e.sub_type,
                    lora_family: e.lora_family,
                    active: e.active,
                    capabilities: (!e.capabilities.is_empty()).then_some(e.capabilities),
                    categories: (!e.categories.is_empty()).then_some(e.categories),
                    set_params: e.params,
                    drop_params: e.drop_params,
                })
                .await?;
            done(&m, e.json, "changed")
        }
        Some(ModelsCommand::Rm { id }) => {
            let m = client.call::<ModelsRemove>(ModelRef { model: id }).await?;
            done(&m, false, "removed (restore with `genq models restore`)")
        }
        Some(ModelsCommand::Restore { id }) => {
            let m = client.call::<ModelsRestore>(ModelRef { model: id }).await?;
            done(&m, false, "restored")
        }
        Some(ModelsCommand::SetDefault { id, capability }) => {
            let m = client
                .call::<ModelsSetDefault>(SetDefaultParams {
                    model: id,
                    capability,
                })
                .await?;
            done(
                &m,
                false,
                &format!("is the default of {}", m.default_for.join(", ")),
            )
        }
    }
}

/// The model `genq models add` sends: the `--from` file (or a fresh active model of the given
/// type), with each flag given overriding it.
fn model_input(a: AddArgs) -> Result<ModelInput, CliError> {
    let mut input = match &a.from {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))?;
            serde_json::from_str(&text)
                .map_err(|e| CliError::Usage(format!("{} is not a model: {e}", path.display())))?
        }
        None => ModelInput {
            kind: a.kind.clone(),
            sub_type: a.sub_type.clone(),
            active: true,
            ..ModelInput::default()
        },
    };
    if let Some(p) = a.provider {
        input.supplier = p;
    }
    if let Some(id) = a.id {
        input.id = id;
    }
    if a.from.is_none() || a.name.is_some() {
        input.display_name = a.name.or(input.display_name);
    }
    if let Some(d) = a.description {
        input.description = d;
    }
    if a.lora_family.is_some() {
        input.lora_family = a.lora_family;
    }
    if !a.capabilities.is_empty() {
        input.capabilities = a.capabilities;
    }
    if !a.categories.is_empty() {
        input.categories = a.categories;
    }
    input.params.extend(a.params);
    if a.inactive {
        input.active = false;
    }
    Ok(input)
}

fn done(m: &Model, json: bool, what: &str) -> Result<(), CliError> {
    if json {
        return print_json(m);
    }
    println!("{} {what}", m.key);
    Ok(())
}

fn status(m: &Model) -> &'static str {
    if m.removed {
        "removed"
    } else if !m.active {
        "inactive"
    } else {
        "active"
    }
}

pub fn models_table(models: &[Model]) -> String {
    let mut rows = vec![[
        "MODEL".to_string(),
        "TYPE".into(),
        "CAPABILITIES".into(),
        "DEFAULT FOR".into(),
        "STATUS".into(),
    ]];
    for m in models {
        rows.push([
            m.key.clone(),
            m.kind.clone(),
            m.capabilities.join(","),
            m.default_for.join(","),
            format!("{}{}", status(m), if m.builtin { "" } else { " (user)" }),
        ]);
    }
    table(&rows)
}

fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            if i + 1 == N {
                line.push_str(c);
            } else {
                let _ = write!(line, "{c:<w$}  ", w = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub fn show_model(m: &Model) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}  {}", m.key, m.display_name);
    let _ = writeln!(
        out,
        "  status:       {}{}",
        status(m),
        if m.builtin {
            ", built in"
        } else {
            ", added by you"
        }
    );
    let _ = writeln!(out, "  type:         {} / {}", m.kind, m.sub_type);
    let _ = writeln!(out, "  capabilities: {}", m.capabilities.join(", "));
    if !m.default_for.is_empty() {
        let _ = writeln!(out, "  default for:  {}", m.default_for.join(", "));
    }
    if !m.categories.is_empty() {
        let _ = writeln!(out, "  categories:   {}", m.categories.join(", "));
    }
    if let Some(f) = &m.lora_family {
        let _ = writeln!(out, "  LoRA family:  {f}");
    }
    if !m.description.is_empty() {
        let _ = writeln!(out, "  {}", m.description);
    }
    if !m.params.is_empty() {
        let _ = writeln!(out, "  parameters:");
        for p in &m.params {
            let range = if !p.allowed.is_empty() {
                p.allowed.join("|")
            } else {
                match (p.min, p.max) {
                    (None, None) => String::new(),
                    (a, b) => format!(
                        "{}..{}",
                        a.map(|v| v.to_string()).unwrap_or_default(),
                        b.map(|v| v.to_string()).unwrap_or_default()
                    ),
                }
            };
            let default = p
                .default
                .as_ref()
                .map(|d| format!(" = {d}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "    {:<16} {:<7} {range}{default}  {}",
                p.name,
                p.kind.as_str(),
                p.description
            );
        }
    }
    out
}

pub async fn categories(ctx: &Ctx, args: JsonArg) -> Result<(), CliError> {
    let tree = ctx.call::<CategoriesList>(Empty {}).await?;
    if args.json {
        return print_json(&tree);
    }
    let mut out = String::new();
    fn walk(out: &mut String, nodes: &[Category], depth: usize) {
        for c in nodes {
            let _ = writeln!(
                out,
                "{}{}  {} ({} model{})",
                "  ".repeat(depth),
                c.name,
                c.display_name,
                c.models.len(),
                if c.models.len() == 1 { "" } else { "s" }
            );
            walk(out, &c.children, depth + 1);
        }
    }
    walk(&mut out, &tree, 0);
    print!("{out}");
    Ok(())
}

pub async fn capabilities(ctx: &Ctx, args: JsonArg) -> Result<(), CliError> {
    let caps = ctx.call::<CapabilitiesList>(Empty {}).await?;
    if args.json {
        return print_json(&caps);
    }
    let mut rows = vec![[
        "CAPABILITY".to_string(),
        "DOMAIN".into(),
        "IN → OUT".into(),
        "DEFAULT MODEL".into(),
    ]];
    for c in &caps {
        rows.push([
            c.name.clone(),
            c.domain.clone(),
            format!("{} → {}", c.input_types.join("+"), c.output_types.join("+")),
            c.default_model.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    print!("{}", table(&rows));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn param_specs_parse() {
        let p = parse_param_spec("steps:int:1..50=30").unwrap();
        assert_eq!(
            (p.kind, p.min, p.max),
            (ParamType::Int, Some(1.0), Some(50.0))
        );
        assert_eq!(p.default, Some(serde_json::json!(30)));
        let p = parse_param_spec("sampler:enum:euler|ddim=euler").unwrap();
        assert_eq!(p.allowed, ["euler", "ddim"]);
        assert_eq!(p.default, Some(serde_json::json!("euler")));
        let p = parse_param_spec("prompt:string:..500").unwrap();
        assert_eq!((p.min, p.max), (None, Some(500.0)));
        assert!(parse_param_spec("steps").is_err());
        assert!(
            parse_param_spec("steps:integer")
                .unwrap_err()
                .contains("allowed")
        );
    }
}
