//! File types by their first bytes: what an output is, and what the server sent instead
//! when it is not what was expected. Extensions come from here, never from a URL.

use genq_protocol::job::OutputRole;

/// A type genq keeps as an output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileType {
    Png,
    Jpeg,
    Webp,
    Glb,
    Fbx,
}

impl FileType {
    pub fn ext(self) -> &'static str {
        match self {
            FileType::Png => "png",
            FileType::Jpeg => "jpg",
            FileType::Webp => "webp",
            FileType::Glb => "glb",
            FileType::Fbx => "fbx",
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            FileType::Png => "image/png",
            FileType::Jpeg => "image/jpeg",
            FileType::Webp => "image/webp",
            FileType::Glb => "model/gltf-binary",
            FileType::Fbx => "application/octet-stream",
        }
    }

    pub fn is_image(self) -> bool {
        matches!(self, FileType::Png | FileType::Jpeg | FileType::Webp)
    }

    /// The type for a file extension (as a provider's format hint or a file on disk).
    pub fn from_ext(ext: &str) -> Option<FileType> {
        match ext
            .trim()
            .trim_start_matches('.')
            .to_ascii_lowercase()
            .as_str()
        {
            "png" => Some(FileType::Png),
            "jpg" | "jpeg" => Some(FileType::Jpeg),
            "webp" => Some(FileType::Webp),
            "glb" => Some(FileType::Glb),
            "fbx" => Some(FileType::Fbx),
            _ => None,
        }
    }
}

/// How many leading bytes [`sniff`] needs to decide.
pub const SNIFF_LEN: usize = 64;

/// The type of a file from its first bytes, if it is one genq keeps.
pub fn sniff(head: &[u8]) -> Option<FileType> {
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(FileType::Png)
    } else if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(FileType::Jpeg)
    } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        Some(FileType::Webp)
    } else if head.starts_with(b"glTF") {
        Some(FileType::Glb)
    } else if head.starts_with(b"Kaydara FBX Binary") {
        Some(FileType::Fbx)
    } else {
        None
    }
}

/// A short description of content genq does not keep, for error messages: "an HTML page",
/// "a JSON document", "a GIF image"…
pub fn describe_other(head: &[u8]) -> String {
    if head.is_empty() {
        return "an empty body".into();
    }
    let text = String::from_utf8_lossy(head);
    let lower = text
        .trim_start_matches('\u{feff}')
        .trim_start()
        .to_ascii_lowercase();
    if lower.starts_with("<!doctype html")
        || lower.starts_with("<html")
        || lower.starts_with("<head")
        || lower.starts_with("<body")
    {
        "an HTML page".into()
    } else if lower.starts_with("<?xml") || lower.starts_with("<error") {
        "an XML document (likely a storage error reply)".into()
    } else if lower.starts_with('{') || lower.starts_with('[') {
        "a JSON document".into()
    } else if head.starts_with(b"GIF8") {
        "a GIF image".into()
    } else if head.starts_with(b"PK\x03\x04") {
        "a ZIP archive".into()
    } else if head.starts_with(&[0x1f, 0x8b]) {
        "gzip-compressed data".into()
    } else if head.starts_with(b"BM") {
        "a BMP image".into()
    } else if lower.starts_with('<') {
        "an HTML or XML document".into()
    } else if head
        .iter()
        .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace())
    {
        "plain text".into()
    } else {
        let hex: Vec<String> = head.iter().take(8).map(|b| format!("{b:02x}")).collect();
        format!("unrecognised data (first bytes {})", hex.join(" "))
    }
}

/// What an output is expected to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    /// Any image type genq keeps (providers' format hints for images are not reliable, and
    /// the extension follows the bytes anyway).
    AnyImage,
    Exactly(FileType),
}

impl Expected {
    pub fn for_role(role: OutputRole, format_hint: Option<&str>) -> Expected {
        match role {
            OutputRole::Image | OutputRole::Preview => Expected::AnyImage,
            OutputRole::Model => match format_hint.and_then(FileType::from_ext) {
                Some(FileType::Fbx) => Expected::Exactly(FileType::Fbx),
                _ => Expected::Exactly(FileType::Glb),
            },
        }
    }

    pub fn accepts(self, t: FileType) -> bool {
        match self {
            Expected::AnyImage => t.is_image(),
            Expected::Exactly(e) => e == t,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Expected::AnyImage => "a PNG, JPEG or WebP image",
            Expected::Exactly(FileType::Glb) => "a GLB (binary glTF) model",
            Expected::Exactly(FileType::Fbx) => "a binary FBX model",
            Expected::Exactly(FileType::Png) => "a PNG image",
            Expected::Exactly(FileType::Jpeg) => "a JPEG image",
            Expected::Exactly(FileType::Webp) => "a WebP image",
        }
    }
}

/// Name of a kept type, for messages.
pub fn type_name(t: FileType) -> &'static str {
    match t {
        FileType::Png => "a PNG image",
        FileType::Jpeg => "a JPEG image",
        FileType::Webp => "a WebP image",
        FileType::Glb => "a GLB model",
        FileType::Fbx => "an FBX model",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_kept_types_and_names_the_rest() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some(FileType::Png));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some(FileType::Webp));
        assert_eq!(sniff(b"glTF\x02\0\0\0"), Some(FileType::Glb));
        assert_eq!(sniff(b"<!DOCTYPE html>"), None);
        assert_eq!(describe_other(b"  <!DOCTYPE html><html>"), "an HTML page");
        assert_eq!(describe_other(b"{\"error\":1}"), "a JSON document");
        assert_eq!(describe_other(b""), "an empty body");
    }

    #[test]
    fn models_expect_glb_unless_told_fbx() {
        assert_eq!(
            Expected::for_role(OutputRole::Model, None),
            Expected::Exactly(FileType::Glb)
        );
        assert_eq!(
            Expected::for_role(OutputRole::Model, Some("FBX")),
            Expected::Exactly(FileType::Fbx)
        );
        assert!(Expected::for_role(OutputRole::Image, Some("png")).accepts(FileType::Jpeg));
    }
}
