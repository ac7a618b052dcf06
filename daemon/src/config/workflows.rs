//! ComfyUI workflows named in the config: each file is read and parsed when the config loads,
//! and every binding must name an input the workflow has, so a mistake is an error naming the
//! key rather than a failed job later.

use super::file::ProviderSection;
use serde_json::Value;
use std::path::Path;

/// Reads the workflows of the instance `name` (files relative to `dir`) into their sections.
pub fn load(name: &str, section: &mut ProviderSection, dir: &Path) -> Result<(), String> {
    let Some(workflows) = section.workflows.as_mut() else {
        return Ok(());
    };
    for (workflow, w) in workflows.iter_mut() {
        let at = format!("providers.{name}.workflows.{workflow}");
        let path = dir.join(&w.file);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("{at}.file: cannot read {}: {e}", path.display()))?;
        let graph: Value = serde_json::from_str(&text)
            .map_err(|e| format!("{at}.file: {} is not JSON: {e}", path.display()))?;
        if !graph
            .as_object()
            .is_some_and(|g| g.values().all(|n| n.get("class_type").is_some()))
        {
            return Err(format!(
                "{at}.file: {} is not a workflow in API format (an object of nodes, each with \
                 class_type and inputs; export it with \"Save (API)\")",
                path.display()
            ));
        }
        for (field, binding) in w.bindings() {
            if input(&graph, binding).is_none() {
                return Err(format!(
                    "{at}.{field}: {binding:?} is not an input of the workflow (write \
                     NODE.inputs.INPUT, e.g. \"6.inputs.text\")"
                ));
            }
        }
        w.graph = Some(graph);
    }
    Ok(())
}

/// The node id and input name a binding `NODE.inputs.INPUT` names, when the workflow has it.
pub fn input<'a>(graph: &Value, binding: &'a str) -> Option<(&'a str, &'a str)> {
    let (node, rest) = binding.split_once('.')?;
    let input = rest.strip_prefix("inputs.")?;
    graph.get(node)?.get("inputs")?.get(input)?;
    Some((node, input))
}

#[cfg(test)]
mod tests {
    use super::load;
    use crate::config::{ProviderSection, WorkflowSection};

    const IMG2IMG: &str = r#"{"10": {"class_type": "LoadImage", "inputs": {"image": "a.png"}},
        "7": {"class_type": "SaveImage", "inputs": {"images": ["10", 0]}}}"#;

    fn section(image: &str) -> ProviderSection {
        let workflow = WorkflowSection {
            file: "w.json".into(),
            image: Some(image.into()),
            ..WorkflowSection::default()
        };
        ProviderSection {
            workflows: Some([("edit".to_string(), workflow)].into()),
            ..ProviderSection::default()
        }
    }

    #[test]
    fn an_image_binding_must_name_an_input_of_the_workflow() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("w.json"), IMG2IMG).unwrap();
        assert!(load("comfy", &mut section("10.inputs.image"), dir.path()).is_ok());
        let e = load("comfy", &mut section("10.inputs.picture"), dir.path()).unwrap_err();
        assert!(
            e.starts_with("providers.comfy.workflows.edit.image: \"10.inputs.picture\""),
            "{e}"
        );
    }
}
