//! Model entries: the vocabularies they use and the checks an entry must pass before the
//! store sees it. Checks that need the database (supplier, capabilities, categories, is the
//! id taken) happen in the store's write transaction.

use crate::providers::InvalidParam;
use crate::providers::model_rules::check_value;
use genq_protocol::JobKind;
use genq_protocol::catalog::{ModelEdit, ModelInput, ModelParam, ParamType};

/// What a model makes: the job kinds genq runs, and kinds an entry may describe ahead of an
/// adaptor for them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    Job(JobKind),
    Video,
    Audio,
    Text,
}

impl EntryKind {
    pub const ALL: [EntryKind; 5] = [
        EntryKind::Job(JobKind::Image),
        EntryKind::Job(JobKind::Model3d),
        EntryKind::Video,
        EntryKind::Audio,
        EntryKind::Text,
    ];

    /// The name an entry's `type` carries.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Job(kind) => kind.as_str(),
            EntryKind::Video => "video",
            EntryKind::Audio => "audio",
            EntryKind::Text => "text",
        }
    }
}
pub const SUB_TYPES: &[&str] = &[
    "text_to_image",
    "image_to_image",
    "text_to_model",
    "image_to_model",
    "multiview_to_model",
    "text_to_video",
    "image_to_video",
];
/// LoRA base families (catalog.md §4).
pub const LORA_FAMILIES: &[&str] = &[
    "qwen-image",
    "qwen-image-edit",
    "z-image",
    "flux1",
    "flux2",
    "krea2",
    "sdxl",
    "sd15",
    "wan-video",
    "other",
];

fn one_of(field: &str, value: &str, allowed: &[&str]) -> Result<(), InvalidParam> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(InvalidParam::new(field, format!("{value:?} is not known")).allowed(allowed.join(", ")))
    }
}

fn text(field: &str, value: &str, max: usize) -> Result<(), InvalidParam> {
    if value.chars().count() > max {
        return Err(InvalidParam::new(
            field,
            format!("longer than {max} characters"),
        ));
    }
    if value.chars().any(|c| c.is_control() && c != '\n') {
        return Err(InvalidParam::new(field, "contains control characters"));
    }
    Ok(())
}

/// Checks a new model.
pub fn check_input(m: &mut ModelInput) -> Result<(), InvalidParam> {
    m.supplier = m.supplier.trim().to_string();
    m.id = m.id.trim().to_string();
    if m.supplier.is_empty() {
        return Err(InvalidParam::new("supplier", "is empty"));
    }
    if m.id.is_empty()
        || m.id.len() > 200
        || m.id.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(
            InvalidParam::new("id", format!("{:?} is not a model id", m.id))
                .allowed("1–200 characters without spaces, e.g. owner/name"),
        );
    }
    if let Some(d) = &m.display_name {
        text("display_name", d, 200)?;
    }
    text("description", &m.description, 4000)?;
    one_of("type", &m.kind, &EntryKind::ALL.map(EntryKind::as_str))?;
    one_of("sub_type", &m.sub_type, SUB_TYPES)?;
    if let Some(f) = &m.lora_family {
        one_of("lora_family", f, LORA_FAMILIES)?;
    }
    if m.capabilities.is_empty() {
        m.capabilities.push(m.sub_type.clone());
    }
    check_params("params", &m.params)?;
    Ok(())
}

/// Checks an edit.
pub fn check_edit(e: &ModelEdit) -> Result<(), InvalidParam> {
    if let Some(d) = &e.display_name {
        if d.trim().is_empty() {
            return Err(InvalidParam::new("display_name", "is empty"));
        }
        text("display_name", d, 200)?;
    }
    if let Some(d) = &e.description {
        text("description", d, 4000)?;
    }
    if let Some(s) = &e.sub_type {
        one_of("sub_type", s, SUB_TYPES)?;
    }
    if let Some(f) = e.lora_family.as_deref().filter(|f| !f.is_empty()) {
        one_of("lora_family", f, LORA_FAMILIES)?;
    }
    if let Some(caps) = &e.capabilities
        && caps.is_empty()
    {
        return Err(InvalidParam::new(
            "capabilities",
            "a model needs at least one capability",
        ));
    }
    check_params("set_params", &e.set_params)
}

fn check_params(at: &str, params: &[ModelParam]) -> Result<(), InvalidParam> {
    for (i, p) in params.iter().enumerate() {
        let field = |f: &str| format!("{at}[{i}].{f}");
        if p.name.is_empty()
            || !p
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(InvalidParam::new(
                field("name"),
                format!("{:?} is not a parameter name", p.name),
            )
            .allowed("letters, digits, _ and -"));
        }
        if params[..i].iter().any(|o| o.name == p.name) {
            return Err(InvalidParam::new(
                field("name"),
                format!("{} is given twice", p.name),
            ));
        }
        for (f, v) in [("min", p.min), ("max", p.max)] {
            if v.is_some_and(|v| !v.is_finite()) {
                return Err(InvalidParam::new(field(f), "is not a finite number"));
            }
        }
        if let (Some(min), Some(max)) = (p.min, p.max)
            && min > max
        {
            return Err(InvalidParam::new(
                field("max"),
                format!("{max} is below min {min}"),
            ));
        }
        match p.kind {
            ParamType::Enum if p.allowed.is_empty() => {
                return Err(InvalidParam::new(
                    field("allowed"),
                    "an enum needs its allowed values",
                ));
            }
            ParamType::Bool | ParamType::Enum if p.min.is_some() || p.max.is_some() => {
                return Err(InvalidParam::new(
                    field("min"),
                    format!("a {} parameter has no range", p.kind.as_str()),
                ));
            }
            ParamType::Int | ParamType::Float | ParamType::String | ParamType::Bool
                if !p.allowed.is_empty() && p.kind != ParamType::String =>
            {
                return Err(InvalidParam::new(
                    field("allowed"),
                    format!(
                        "only enum and string parameters list allowed values, not {}",
                        p.kind.as_str()
                    ),
                ));
            }
            _ => {}
        }
        if let Some(d) = &p.default
            && let Err(why) = check_value(p, d)
        {
            return Err(InvalidParam::new(field("default"), why));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> ModelInput {
        ModelInput {
            supplier: "modelscope".into(),
            id: "me/my-model".into(),
            kind: "image".into(),
            sub_type: "text_to_image".into(),
            active: true,
            ..ModelInput::default()
        }
    }

    fn param(name: &str, kind: ParamType) -> ModelParam {
        ModelParam {
            name: name.into(),
            kind,
            default: None,
            min: None,
            max: None,
            allowed: vec![],
            description: String::new(),
        }
    }

    #[test]
    fn a_bad_entry_names_its_field() {
        let mut m = input();
        m.kind = "picture".into();
        assert_eq!(check_input(&mut m).unwrap_err().field, "type");
        let mut m = input();
        m.id = "has space".into();
        assert_eq!(check_input(&mut m).unwrap_err().field, "id");
        let mut m = input();
        m.params = vec![ModelParam {
            min: Some(10.0),
            max: Some(1.0),
            ..param("steps", ParamType::Int)
        }];
        assert_eq!(check_input(&mut m).unwrap_err().field, "params[0].max");
        let mut m = input();
        m.params = vec![ModelParam {
            default: Some(serde_json::json!(500)),
            min: Some(1.0),
            max: Some(100.0),
            ..param("steps", ParamType::Int)
        }];
        let err = check_input(&mut m).unwrap_err();
        assert_eq!(err.field, "params[0].default");
        assert!(err.message.contains("1–100"), "{}", err.message);
        let mut m = input();
        m.params = vec![param("sampler", ParamType::Enum)];
        assert_eq!(check_input(&mut m).unwrap_err().field, "params[0].allowed");
    }

    #[test]
    fn capabilities_default_to_the_sub_type() {
        let mut m = input();
        check_input(&mut m).unwrap();
        assert_eq!(m.capabilities, vec!["text_to_image".to_string()]);
    }
}

#[cfg(test)]
mod config_tests {
    use crate::config::Config;
    use crate::providers::Registry;

    fn load(text: &str) -> Result<Config, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        let credentials = dir.path().join("credentials.toml");
        Config::load_with_env(&path, &credentials, &Registry::builtin(), &|_| None)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_catalog_section_is_parsed_strictly() {
        let c = load("[catalog.modelscope]\nbase_url = \"http://127.0.0.1:9/\"\n").unwrap();
        assert_eq!(c.catalog.modelscope_base_url, "http://127.0.0.1:9");
        assert_eq!(
            load("").unwrap().catalog.modelscope_base_url,
            "https://modelscope.cn"
        );
        let err = load("[catalog.modelscope]\nbase_ur = \"x\"\n").unwrap_err();
        assert!(err.contains("base_ur"), "{err}");
        let err = load("[catalog.modelscope]\nbase_url = \"ftp://x\"\n").unwrap_err();
        assert!(err.contains("catalog.modelscope.base_url"), "{err}");
    }
}
