//! Object keys from templates such as `{yyyy}{mm}/{sha256_16}_{job}_{n}.{ext}`. Every value
//! comes from genq (dates, hex digests, the job id, the output number, an extension genq
//! chose), never from a provider; the template comes from the config and is checked once.

use genq_protocol::{JobId, Timestamp};

/// The key layout used when a target sets no `key_template`.
pub const DEFAULT_KEY_TEMPLATE: &str = "{yyyy}{mm}/{sha256_16}_{job}_{n}.{ext}";

/// Placeholders a template may use.
pub const PLACEHOLDERS: &[&str] = &[
    "yyyy",
    "mm",
    "dd",
    "sha256",
    "sha256_16",
    "job",
    "job8",
    "n",
    "ext",
    "provider",
];

/// What a key is made of, for one output.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyContext {
    /// Lowercase hex SHA-256 of the file.
    pub sha256: String,
    pub job: JobId,
    /// The output's number within the job.
    pub index: u32,
    /// Extension without the dot (`png`, `glb`).
    pub ext: String,
    /// The job's creation time (for the date parts of the key).
    pub created_at: Timestamp,
    pub provider: String,
    /// Content type sent with the object.
    pub mime: String,
}

/// A parsed, checked key template.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyTemplate {
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq)]
enum Part {
    Literal(String),
    Field(String),
}

impl KeyTemplate {
    pub fn parse(template: &str) -> Result<KeyTemplate, String> {
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_string()));
            }
            let after = &rest[open + 1..];
            let close = after
                .find('}')
                .ok_or_else(|| format!("key_template {template:?}: a '{{' is never closed"))?;
            let name = &after[..close];
            if !PLACEHOLDERS.contains(&name) {
                return Err(format!(
                    "key_template {template:?}: unknown placeholder {{{name}}}; allowed: {}",
                    PLACEHOLDERS
                        .iter()
                        .map(|p| format!("{{{p}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            parts.push(Part::Field(name.to_string()));
            rest = &after[close + 1..];
        }
        if rest.contains('}') {
            return Err(format!(
                "key_template {template:?}: a '}}' has no matching '{{'"
            ));
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        if !parts
            .iter()
            .any(|p| matches!(p, Part::Field(f) if f == "sha256" || f == "sha256_16"))
        {
            return Err(format!(
                "key_template {template:?}: must contain {{sha256}} or {{sha256_16}} so that keys \
                 are derived from the content (uploads are create-only)"
            ));
        }
        if template.starts_with('/') || template.split('/').any(|s| s == ".." || s == ".") {
            return Err(format!(
                "key_template {template:?}: must be relative, without '.' or '..' segments"
            ));
        }
        Ok(KeyTemplate { parts })
    }

    /// The key for one output.
    pub fn render(&self, ctx: &KeyContext) -> String {
        let dt = ctx.created_at.to_datetime();
        let mut key = String::new();
        for p in &self.parts {
            match p {
                Part::Literal(s) => key.push_str(s),
                Part::Field(f) => match f.as_str() {
                    "yyyy" => key.push_str(&format!("{:04}", dt.year())),
                    "mm" => key.push_str(&format!("{:02}", u8::from(dt.month()))),
                    "dd" => key.push_str(&format!("{:02}", dt.day())),
                    "sha256" => key.push_str(&clean(&ctx.sha256)),
                    "sha256_16" => {
                        key.push_str(&clean(&ctx.sha256).chars().take(16).collect::<String>())
                    }
                    "job" => key.push_str(&clean(ctx.job.as_str())),
                    "job8" => key.push_str(&clean(
                        ctx.job.as_str().get(..8).unwrap_or(ctx.job.as_str()),
                    )),
                    "n" => key.push_str(&ctx.index.to_string()),
                    "ext" => key.push_str(&clean(&ctx.ext)),
                    "provider" => key.push_str(&clean(&ctx.provider)),
                    _ => {}
                },
            }
        }
        key
    }
}

/// Keeps a value to characters safe in keys and paths, whatever the record holds.
fn clean(v: &str) -> String {
    v.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Percent-encodes what is not safe in a URL path, keeping `/` separators.
pub fn encode_key(key: &str) -> String {
    let mut s = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> KeyContext {
        KeyContext {
            sha256: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".into(),
            job: JobId("01936f2a-7c3b-7d2e-9a51-3c2b1a0f9e8d".into()),
            index: 2,
            ext: "png".into(),
            created_at: Timestamp::from_unix_millis(1_763_790_240_123), // 2025-11-22
            provider: "modelscope".into(),
            mime: "image/png".into(),
        }
    }

    #[test]
    fn default_template_renders_date_hash_job_and_number() {
        let t = KeyTemplate::parse(DEFAULT_KEY_TEMPLATE).unwrap();
        assert_eq!(
            t.render(&ctx()),
            "202511/0123456789abcdef_01936f2a-7c3b-7d2e-9a51-3c2b1a0f9e8d_2.png"
        );
    }

    #[test]
    fn bad_templates_are_refused_with_the_reason() {
        assert!(
            KeyTemplate::parse("{yyyy}/{nope}.{ext}")
                .unwrap_err()
                .contains("unknown placeholder {nope}")
        );
        assert!(
            KeyTemplate::parse("{job}_{n}.{ext}")
                .unwrap_err()
                .contains("sha256")
        );
        assert!(
            KeyTemplate::parse("../{sha256}")
                .unwrap_err()
                .contains("..")
        );
        assert!(
            KeyTemplate::parse("{sha256")
                .unwrap_err()
                .contains("never closed")
        );
    }

    #[test]
    fn values_cannot_inject_path_segments() {
        let mut c = ctx();
        c.ext = "../../x".into();
        let t = KeyTemplate::parse("{sha256_16}.{ext}").unwrap();
        assert_eq!(t.render(&c), "0123456789abcdef.______x");
    }

    #[test]
    fn keys_are_encoded_in_urls_but_slashes_kept() {
        assert_eq!(encode_key("2025 11/a+b.png"), "2025%2011/a%2Bb.png");
    }
}
