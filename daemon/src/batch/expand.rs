//! From rows to jobs: defaults (the file's, then the command line's) under each row, the
//! matrix's product, the row's style, the output template, and the spec each row reads as.
//! Every bad row is reported with its field; nothing stops at the first.

use super::format::{Fields, SourceFile, parse_axis, problem};
use super::template::{render, slug};
use crate::config::StyleSection;
use genq_protocol::JobSpec;
use genq_protocol::batch::RowProblem;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// Most jobs one batch may expand to.
pub const MAX_JOBS: usize = 100_000;

/// What the command line adds to a batch file.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub defaults: Fields,
    pub vary: Vec<String>,
    pub style: Option<String>,
}

/// One job of the batch, before the engine's checks.
#[derive(Clone, Debug)]
pub struct Expanded {
    pub index: u64,
    pub row: u64,
    pub spec: JobSpec,
    pub output: Option<String>,
}

/// Expands `file` into its jobs and the problems of its bad rows.
pub fn expand(
    file: SourceFile,
    over: &Overrides,
    styles: &BTreeMap<String, StyleSection>,
    base_dir: &Path,
) -> (Vec<Expanded>, Vec<RowProblem>) {
    let mut problems = file.problems;
    let mut defaults = file.defaults;
    merge_under(&mut defaults, &over.defaults, true);
    let mut axes = file.matrix;
    for v in &over.vary {
        match v
            .split_once('=')
            .map(|(k, vals)| (k.trim(), parse_axis(vals)))
        {
            Some((k, Ok(vals))) if !k.is_empty() && !vals.is_empty() => {
                axes.retain(|(name, _)| name != k);
                axes.push((k.to_string(), vals));
            }
            Some((_, Err(e))) => problems.push(problem(0, "vary", e)),
            _ => problems.push(problem(
                0,
                "vary",
                format!("{v:?} is not FIELD=V1,V2 or FIELD=A..B"),
            )),
        }
    }
    let combos: usize = axes.iter().map(|(_, v)| v.len()).product();
    if file.rows.len().saturating_mul(combos) > MAX_JOBS {
        problems.push(problem(
            0,
            "matrix",
            format!("expands to more than {MAX_JOBS} jobs"),
        ));
        return (Vec::new(), problems);
    }
    let mut jobs = Vec::new();
    let mut outputs: BTreeMap<String, u64> = BTreeMap::new();
    for (row, fields) in file.rows {
        let mut fields = fields;
        merge_under(&mut fields, &defaults, false);
        for combo in 0..combos {
            let mut f = fields.clone();
            let mut rest = combo;
            for (axis, values) in &axes {
                f.insert(axis.clone(), values[rest % values.len()].clone());
                rest /= values.len();
            }
            let index = jobs.len() as u64 + 1;
            let ctx = RowContext {
                row,
                index,
                styles,
                over,
                base_dir,
            };
            match ctx.job(f) {
                Ok(job) => {
                    if let Some(out) = &job.output
                        && let Some(first) = outputs.insert(out.clone(), row)
                    {
                        problems.push(problem(
                            row,
                            "output",
                            format!("{out} is also the output of row {first}"),
                        ));
                        continue;
                    }
                    jobs.push(job);
                }
                Err(mut p) => problems.append(&mut p),
            }
        }
    }
    problems.sort_by_key(|p| p.row);
    (jobs, problems)
}

/// Adds `under`'s fields to `fields` where missing (all of them with `replace`); `params`
/// merge key by key.
fn merge_under(fields: &mut Fields, under: &Fields, replace: bool) {
    for (k, v) in under {
        match (fields.get_mut(k), v) {
            (Some(Value::Object(mine)), Value::Object(theirs)) if k == "params" => {
                for (pk, pv) in theirs {
                    if replace || !mine.contains_key(pk) {
                        mine.insert(pk.clone(), pv.clone());
                    }
                }
            }
            (Some(_), _) if !replace => {}
            _ => {
                fields.insert(k.clone(), v.clone());
            }
        }
    }
}

struct RowContext<'a> {
    row: u64,
    index: u64,
    styles: &'a BTreeMap<String, StyleSection>,
    over: &'a Overrides,
    base_dir: &'a Path,
}

impl RowContext<'_> {
    fn problem(&self, field: &str, message: impl Into<String>) -> Vec<RowProblem> {
        vec![problem(self.row, field, message)]
    }

    fn job(&self, mut f: Fields) -> Result<Expanded, Vec<RowProblem>> {
        let own_prompt = f
            .get("prompt")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let style = match f.remove("style") {
            Some(Value::String(s)) => Some(s),
            Some(_) => return Err(self.problem("style", "must be a style's name")),
            None => self.over.style.clone(),
        };
        let output = match f.remove("output") {
            Some(Value::String(t)) => {
                Some(self.output_path(&t, &f, &own_prompt, style.as_deref())?)
            }
            Some(_) => return Err(self.problem("output", "must be a path")),
            None => None,
        };
        if let Some(name) = &style {
            self.apply_style(&mut f, name)?;
        }
        if f.get("provider")
            .is_none_or(|p| p.as_str().is_some_and(|p| p.trim().is_empty()))
        {
            return Err(self.problem(
                "provider",
                "no provider: give it in the row, in [defaults] or with --provider",
            ));
        }
        let mut spec: JobSpec =
            serde_path_to_error::deserialize(Value::Object(f)).map_err(|e| {
                let message = e.inner().to_string();
                let path = e.path().to_string();
                let named = ["unknown field `", "missing field `"]
                    .iter()
                    .find_map(|p| message.strip_prefix(p))
                    .and_then(|m| m.split_once('`'))
                    .map(|(name, _)| name.to_string());
                let field = match named {
                    _ if path != "." => path,
                    Some(name) => name,
                    None => "row".to_string(),
                };
                self.problem(&field, message)
            })?;
        if let Some(image) = &spec.image {
            spec.image = Some(self.local_path(image));
        }
        for v in spec.views.values_mut() {
            *v = self.local_path(v);
        }
        Ok(Expanded {
            index: self.index,
            row: self.row,
            spec,
            output,
        })
    }

    /// A local input path relative to the batch's place; URLs stay as they are.
    fn local_path(&self, p: &str) -> String {
        if p.contains("://") || Path::new(p).is_absolute() {
            p.to_string()
        } else {
            self.base_dir.join(p).display().to_string()
        }
    }

    fn output_path(
        &self,
        template: &str,
        f: &Fields,
        prompt: &str,
        style: Option<&str>,
    ) -> Result<String, Vec<RowProblem>> {
        let mut vars: Map<String, Value> = f
            .iter()
            .filter(|(_, v)| v.is_string() || v.is_number())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        vars.insert("row".into(), self.row.into());
        vars.insert("index".into(), self.index.into());
        vars.insert("slug".into(), slug(prompt).into());
        if let Some(s) = style {
            vars.insert("style".into(), s.into());
        }
        let path = render(template, &vars).map_err(|e| self.problem("output", e))?;
        if path.split(['/', '\\']).any(|c| c == "..") {
            return Err(self.problem("output", format!("{path} leaves the batch's folder")));
        }
        Ok(self.base_dir.join(path).display().to_string())
    }

    /// Wraps the prompt in the style's prefix and suffix and fills what the row leaves out.
    fn apply_style(&self, f: &mut Fields, name: &str) -> Result<(), Vec<RowProblem>> {
        let Some(style) = self.styles.get(name) else {
            let known: Vec<&str> = self.styles.keys().map(String::as_str).collect();
            let known = if known.is_empty() {
                "none configured ([styles.NAME] in config.toml)".to_string()
            } else {
                known.join(", ")
            };
            return Err(self.problem("style", format!("unknown style {name:?}; known: {known}")));
        };
        let prompt = f.get("prompt").and_then(Value::as_str).unwrap_or("");
        let parts: Vec<&str> = [
            style.prefix.as_deref(),
            Some(prompt),
            style.suffix.as_deref(),
        ]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
        f.insert("prompt".into(), parts.join(", ").into());
        if let Some(neg) = &style.negative_prompt {
            f.entry("negative_prompt")
                .or_insert_with(|| neg.clone().into());
        }
        for (k, v) in &style.params {
            let v = serde_json::to_value(v).map_err(|e| self.problem("style", e.to_string()))?;
            if SPEC_FIELDS.contains(&k.as_str()) {
                f.entry(k.clone()).or_insert(v);
            } else {
                let params = f
                    .entry("params")
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(p) = params {
                    p.entry(k.clone()).or_insert(v);
                }
            }
        }
        Ok(())
    }
}

/// Style parameters with these names set the spec's own field; others are provider extras.
const SPEC_FIELDS: &[&str] = &[
    "provider", "kind", "model", "size", "seed", "steps", "guidance", "loras", "n", "store",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::format::read;
    use genq_protocol::batch::BatchFormat;
    use serde_json::json;

    fn styles() -> BTreeMap<String, StyleSection> {
        let mut s = BTreeMap::new();
        s.insert(
            "lineart".to_string(),
            StyleSection {
                prefix: Some("black-and-white line art".into()),
                suffix: Some("no text".into()),
                negative_prompt: Some("color".into()),
                params: [("steps".to_string(), toml::Value::Integer(20))].into(),
            },
        );
        s.insert("ink".to_string(), StyleSection::default());
        s
    }

    #[test]
    fn matrix_styles_and_outputs() {
        let file = read(
            BatchFormat::Jsonl,
            "{\"prompt\":\"a fox\",\"output\":\"ill/{index:03}_{style}_{seed}.png\"}\n{\"prompt\":\"a cat\",\"output\":\"ill/{index:03}_{style}_{seed}.png\"}",
        );
        let over = Overrides {
            defaults: json!({"provider": "modelscope"})
                .as_object()
                .cloned()
                .unwrap(),
            vary: vec!["seed=1..4".into(), "style=lineart,ink".into()],
            style: None,
        };
        let (jobs, problems) = expand(file, &over, &styles(), Path::new("/b"));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(jobs.len(), 16);
        let first = &jobs[0];
        assert_eq!(
            first.spec.prompt,
            "black-and-white line art, a fox, no text"
        );
        assert_eq!(first.spec.negative_prompt.as_deref(), Some("color"));
        assert_eq!(first.spec.steps, Some(20));
        assert_eq!(first.spec.seed, Some(1));
        assert_eq!(first.output.as_deref(), Some("/b/ill/001_lineart_1.png"));
    }

    #[test]
    fn every_bad_row_is_named_with_its_field() {
        let text = "{\"provider\":\"p\",\"prompt\":\"ok\"}\n{\"provider\":\"p\",\"promt\":\"x\"}\n\
                    {\"provider\":\"p\",\"prompt\":\"y\",\"style\":\"nope\"}\n{\"prompt\":\"z\"}\n\
                    {\"provider\":\"p\",\"prompt\":\"w\",\"seed\":\"high\"}";
        let (jobs, problems) = expand(
            read(BatchFormat::Jsonl, text),
            &Overrides::default(),
            &styles(),
            Path::new("/"),
        );
        assert_eq!(jobs.len(), 1);
        let named: Vec<(u64, &str)> = problems.iter().map(|p| (p.row, p.field.as_str())).collect();
        assert_eq!(
            named,
            vec![(2, "promt"), (3, "style"), (4, "provider"), (5, "seed")]
        );
        assert!(problems[0].message.contains("promt"), "{:?}", problems[0]);
    }
}
