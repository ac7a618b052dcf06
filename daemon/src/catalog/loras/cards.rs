//! What the parsers of every source share to build a card: lenient string fields, the
//! LoRA family of a base model in any source's vocabulary, and the hosts covers may come from.

use serde_json::Value;

/// Hosts covers may come from (§4); the configured catalog host is allowed too, so mirrors
/// and test servers work.
pub const COVER_HOSTS: &[&str] = &[
    "resouces.modelscope.cn",
    "resources.modelscope.cn",
    "www.modelscope.cn",
    "modelscope.cn",
    "img.alicdn.com",
    "image.civitai.com",
    "huggingface.co",
];

/// A JSON string, trimmed; `None` when absent or blank.
pub fn s(v: &Value) -> Option<String> {
    v.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

/// The family of a base value: a ModelScope enum, a Civitai base or a repository id.
pub fn family_of(raw: &str) -> &'static str {
    let up = raw.to_ascii_uppercase().replace(['-', '.', ' ', '/'], "_");
    let has = |p: &str| up.contains(p);
    if has("QWEN_IMAGE_EDIT") {
        "qwen-image-edit"
    } else if has("QWEN_IMAGE") || up == "QWEN" {
        "qwen-image"
    } else if has("Z_IMAGE") || has("ZIMAGE") {
        "z-image"
    } else if has("FLUX2") || has("FLUX_2") {
        "flux2"
    } else if has("FLUX_1") || has("FLUX1") {
        "flux1"
    } else if has("KREA_2") || has("KREA2") {
        "krea2"
    } else if has("SD_XL") || has("SDXL") {
        "sdxl"
    } else if has("SD_1_5") || up == "SD15" {
        "sd15"
    } else if has("WAN_VIDEO") {
        "wan-video"
    } else {
        "other"
    }
}

/// Whether a cover URL may be fetched: https (or the configured host), an allowed host, and
/// no credentials or signatures in it.
pub fn allowed_cover(url: &str, extra_hosts: &[String]) -> bool {
    let Some((scheme, rest)) = url.split_once("://") else {
        return false;
    };
    let host_port = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host_port.contains('@') {
        return false;
    }
    let lower = url.to_ascii_lowercase();
    if [
        "token=",
        "signature=",
        "expires=",
        "x-amz-",
        "ossaccesskeyid=",
    ]
    .iter()
    .any(|p| lower.contains(p))
    {
        return false;
    }
    let host = host_port
        .split(':')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    if extra_hosts
        .iter()
        .any(|h| h.eq_ignore_ascii_case(host_port) || h.eq_ignore_ascii_case(&host))
    {
        return matches!(scheme, "http" | "https");
    }
    scheme == "https" && COVER_HOSTS.contains(&host.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_map_every_vocabulary() {
        for (raw, family) in [
            ("QWEN_IMAGE_2512", "qwen-image"),
            ("QWEN_IMAGE_EDIT_2509", "qwen-image-edit"),
            ("Qwen/Qwen-Image-Edit-2511", "qwen-image-edit"),
            ("Qwen", "qwen-image"),
            ("ZImageTurbo", "z-image"),
            ("Tongyi-MAI/Z-Image-Turbo", "z-image"),
            ("FLUX_1", "flux1"),
            ("Flux.1 D", "flux1"),
            ("black-forest-labs/FLUX.1-dev", "flux1"),
            ("FLUX2_KLEIN_4B", "flux2"),
            ("Flux.2 D", "flux2"),
            ("KREA_2_TURBO", "krea2"),
            ("krea/Krea-2-Turbo", "krea2"),
            ("SD_XL", "sdxl"),
            ("SDXL 1.0", "sdxl"),
            ("SD_1_5", "sd15"),
            ("SD 1.5", "sd15"),
            ("WAN_VIDEO_2_2_T2V_A_14_B", "wan-video"),
            ("HIDREAM_O1_IMAGE", "other"),
            ("Pony", "other"),
        ] {
            assert_eq!(family_of(raw), family, "{raw}");
        }
    }

    #[test]
    fn cover_urls_with_credentials_or_unknown_hosts_are_refused() {
        assert!(allowed_cover(
            "https://resouces.modelscope.cn/cover-images/a.jpeg",
            &[]
        ));
        assert!(!allowed_cover(
            "http://resouces.modelscope.cn/cover-images/a.jpeg",
            &[]
        ));
        assert!(!allowed_cover("https://evil.example.com/a.png", &[]));
        assert!(!allowed_cover(
            "https://img.alicdn.com/a.png?token=abc",
            &[]
        ));
        assert!(!allowed_cover("https://user:pw@huggingface.co/a.png", &[]));
        assert!(allowed_cover(
            "http://127.0.0.1:8080/c.png",
            &["127.0.0.1:8080".into()]
        ));
    }
}
