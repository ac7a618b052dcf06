//! Parsing the reference payloads, odd cases included.

use super::*;

const PAGE: &str = include_str!("../../../../../tests/fixtures/catalog/dolphin_page.json");
const DETAIL: &str = include_str!("../../../../../tests/fixtures/catalog/detail.json");

fn page() -> Listing {
    parse_listing(&serde_json::from_str(PAGE).unwrap(), &[]).unwrap()
}

#[test]
fn the_listing_keeps_loras_only_with_their_total() {
    let l = page();
    assert_eq!(l.total, Some(39692));
    assert_eq!(l.raw_count, 4);
    let ids: Vec<_> = l.cards.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "merjic/majicbeauty-qwen1",
            "Daniel8152/film",
            "studio/krea-style"
        ]
    );
}

#[test]
fn a_string_aigc_attributes_null_triggers_and_a_rev_suffix_parse() {
    let c = &page().cards[0];
    assert_eq!(c.title, "majicbeauty-qwen1");
    assert_eq!(c.title_cn.as_deref(), Some("麦橘千问美人"));
    assert_eq!(c.author.as_deref(), Some("麦橘MERJIC"));
    // Empty CoverImages: the MuseInfo cover on the misspelt host.
    assert_eq!(
        c.cover_url.as_deref(),
        Some(
            "https://resouces.modelscope.cn/cover-images/1a2fa271-0254-4a48-87fb-37c07fc9ee8e.jpeg"
        )
    );
    assert_eq!(c.base_model.as_deref(), Some("qwen-image"));
    assert_eq!(c.base_model_raw.as_deref(), Some("QWEN_IMAGE_20_B"));
    assert_eq!(c.base_repo.as_deref(), Some("MusePublic/Qwen-image"));
    // TriggerWords null, MuseInfo's JSON-string list empty.
    assert!(c.trigger_words.is_empty());
    assert_eq!(
        c.tags,
        [
            "photography",
            "character-enhancement",
            "woman",
            "LoRA",
            "text-to-image"
        ]
    );
    assert_eq!(c.downloads, Some(1635));
    assert_eq!(c.likes, Some(176));
    assert_eq!(
        c.page_url,
        "https://modelscope.cn/models/merjic/majicbeauty-qwen1"
    );
    assert_eq!(c.updated_at.as_deref(), Some("2025-08-24T15:03:17Z"));
}

#[test]
fn sub_vision_foundation_wins_and_the_correct_host_is_allowed_too() {
    let c = &page().cards[1];
    assert_eq!(c.base_model.as_deref(), Some("z-image"));
    assert_eq!(c.base_model_raw.as_deref(), Some("Z_IMAGE_TURBO"));
    assert_eq!(c.base_repo.as_deref(), Some("Tongyi-MAI/Z-Image-Turbo"));
    assert_eq!(c.trigger_words, ["film photo"]);
    assert!(
        c.cover_url
            .as_deref()
            .unwrap()
            .starts_with("https://resources.modelscope.cn/")
    );
    assert_eq!(c.author.as_deref(), Some("Daniel8152"));
}

#[test]
fn covers_off_the_allowed_hosts_are_skipped_and_organisations_name_the_author() {
    let c = &page().cards[2];
    assert_eq!(
        c.cover_url.as_deref(),
        Some(
            "https://www.modelscope.cn/models/studio/krea-style/resolve/master/_cover_images_/c.png"
        )
    );
    assert_eq!(c.title_cn.as_deref(), Some("克雷亚风格"));
    assert_eq!(c.author.as_deref(), Some("Studio Org"));
    assert_eq!(c.trigger_words, ["kstyle"]);
    assert_eq!(c.base_model.as_deref(), Some("krea2"));
    assert_eq!(c.updated_at.as_deref(), Some("2025-12-29T09:20:00Z"));
}

#[test]
fn the_detail_reads_an_object_aigc_attributes_and_drops_empty_triggers() {
    let c = parse_detail(&serde_json::from_str(DETAIL).unwrap(), &[])
        .unwrap()
        .unwrap();
    assert_eq!(c.id, "krea-fan/Krea-2-LORA");
    assert_eq!(c.base_model.as_deref(), Some("krea2"));
    assert_eq!(c.trigger_words, ["kreaface"]);
    assert_eq!(
        c.tags,
        ["photography", "woman", "LoRA", "text-to-image", "portrait"]
    );
    assert_eq!(c.license.as_deref(), Some("Apache License 2.0"));
    let missing = serde_json::json!({"Code": 10010205001u64, "Success": false, "Data": {}});
    assert_eq!(parse_detail(&missing, &[]).unwrap(), None);
}

#[test]
fn a_card_holds_no_raw_blobs() {
    let text = serde_json::to_string(&page().cards).unwrap();
    for banned in [
        "AigcAttributes",
        "ReadMeContent",
        "SvgContent",
        "safetensors\"",
        "sha256",
        "MuseInfo",
        "README",
    ] {
        assert!(!text.contains(banned), "{banned} leaked into {text}");
    }
}

#[test]
fn the_body_follows_recipe_b() {
    let b = listing_body(
        LoraSort::Downloads,
        Some("film"),
        Some("Z_IMAGE_TURBO"),
        2,
        30,
    );
    assert_eq!(b["SortBy"], "DownloadsCount");
    assert_eq!(b["IsAigc"], true);
    assert_eq!(b["PageNumber"], 2);
    assert_eq!(b["Name"], "film");
    assert_eq!(b["SingleCriterion"][0]["DateType"], "string");
    assert_eq!(b["Criterion"][0]["category"], "sub_vision_foundation");
    assert_eq!(b["Criterion"][0]["values"][0], "Z_IMAGE_TURBO");
    assert_eq!(
        listing_body(LoraSort::Newest, None, None, 1, 30)["SortBy"],
        "GmtModified"
    );
}
