//! The submit form's fields, in the order shown, with their labels and the names the
//! daemon's errors use for them.

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    Provider,
    Model,
    Prompt,
    Negative,
    Image,
    Views,
    Size,
    Steps,
    Guidance,
    Seed,
    Count,
    Loras,
    Params,
    Store,
}

impl Field {
    pub const ALL: [Field; 14] = [
        Field::Provider,
        Field::Model,
        Field::Prompt,
        Field::Negative,
        Field::Image,
        Field::Views,
        Field::Size,
        Field::Steps,
        Field::Guidance,
        Field::Seed,
        Field::Count,
        Field::Loras,
        Field::Params,
        Field::Store,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Field::Provider => "Provider",
            Field::Model => "Model",
            Field::Prompt => "Prompt",
            Field::Negative => "Negative",
            Field::Image => "Image",
            Field::Views => "Views",
            Field::Size => "Size",
            Field::Steps => "Steps",
            Field::Guidance => "Guidance",
            Field::Seed => "Seed",
            Field::Count => "Count",
            Field::Loras => "LoRAs",
            Field::Params => "Params",
            Field::Store => "Store",
        }
    }

    /// The field a daemon error path (`spec.loras[2].weight`, `size`, `n`) points at.
    pub fn from_wire(path: &str) -> Option<Field> {
        let path = path.strip_prefix("spec.").unwrap_or(path);
        let head = path.split(['.', '[']).next().unwrap_or(path);
        Some(match head {
            "provider" => Field::Provider,
            "model" => Field::Model,
            "prompt" => Field::Prompt,
            "negative_prompt" => Field::Negative,
            "size" => Field::Size,
            "steps" => Field::Steps,
            "guidance" => Field::Guidance,
            "seed" => Field::Seed,
            "n" => Field::Count,
            "loras" => Field::Loras,
            "image" => Field::Image,
            "views" => Field::Views,
            "params" => Field::Params,
            "store" => Field::Store,
            _ => return None,
        })
    }

    /// Fields typed into (the others are pickers).
    pub fn is_text(self) -> bool {
        !matches!(self, Field::Provider | Field::Model)
    }

    /// Fields that take one entry per line; Enter starts a new line in them.
    pub fn is_multiline(self) -> bool {
        matches!(
            self,
            Field::Prompt | Field::Views | Field::Loras | Field::Params
        )
    }
}
