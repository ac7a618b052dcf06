//! Civitai and Hugging Face as LoRA sources, through the real daemon and CLI against fake
//! sites replaying the reference payloads: cursor and `Link` paging, adult items hidden even
//! when the site sends them, the exported cards, keys sent to the API but never shown, and
//! details by card id.

use genq_daemon::catalog::loras::{self, CatalogError, LoraContext};
use genq_daemon::config::CatalogSettings;
use genq_daemon::secret::Secret;
use genq_daemon::store::Store;
use genq_e2e::fakes::{CivitaiFake, Endpoint, Fault, HuggingFaceFake, RecordedRequest};
use genq_e2e::harness::{Home, catalog_section, init_tls};
use genq_protocol::catalog::LoraSource;
use serde_json::{Value, json};
use std::time::Duration;

/// Keys of raw source items that must never reach a card or the export.
const RAW_KEYS: &[&str] = &[
    "description",
    "files",
    "hashes",
    "downloadUrl",
    "modelVersions",
    "siblings",
    "cardData",
    "aigc_attributes",
];

fn home_for(section: &str, url: &str) -> Home {
    Home::with_config(&catalog_section(section, url))
}

fn ids(doc: &Value) -> Vec<String> {
    doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

fn query_pairs(r: &RecordedRequest) -> Vec<(String, String)> {
    serde_urlencoded::from_str(r.query.as_deref().unwrap_or("")).unwrap()
}

fn param(r: &RecordedRequest, key: &str) -> Vec<String> {
    query_pairs(r)
        .into_iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v)
        .collect()
}

fn assert_no_raw_keys(doc: &Value) {
    for card in doc["results"].as_array().unwrap() {
        for key in RAW_KEYS {
            assert!(card.get(*key).is_none(), "{key} leaked into {card}");
        }
    }
}

fn assert_covers_on_disk(doc: &Value) {
    for card in doc["results"].as_array().unwrap() {
        let local = card["cover_local"].as_str().unwrap();
        let bytes = std::fs::read(local).unwrap();
        image::load_from_memory(&bytes).unwrap_or_else(|e| panic!("{local}: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn civitai_pages_follow_cursors_and_adult_items_stay_hidden() {
    let civ = CivitaiFake::start_civitai().await;
    civ.add_generated(30);
    // The site sends adult items whatever `nsfw` says: genq's own filter must hide them.
    civ.ignore_nsfw_param();
    let home = home_for("civitai", &civ.base_url());
    let doc = home
        .json_async(&[
            "loras", "--source", "civitai", "--limit", "10", "--page", "2", "--json",
        ])
        .await;
    // Visible by downloads: the two reference LoRAs, then Gen LoRA 0, 1, …; page 2 of 10.
    let want: Vec<String> = (8..18)
        .map(|i| format!("{}@{}", 10_000 + i, 20_000 + i))
        .collect();
    assert_eq!(ids(&doc), want);
    let listings = civ.requests_to(Endpoint::Submit);
    // 20 asked of the first page, one of them adult: a second page by cursor.
    assert_eq!(listings.len(), 2, "{listings:?}");
    assert_eq!(param(&listings[0], "types"), ["LORA"]);
    assert_eq!(param(&listings[0], "sort"), ["Most Downloaded"]);
    assert_eq!(param(&listings[0], "nsfw"), ["false"]);
    assert_eq!(param(&listings[0], "limit"), ["20"]);
    assert!(param(&listings[0], "cursor").is_empty());
    assert!(param(&listings[0], "page").is_empty());
    assert_eq!(param(&listings[1], "cursor"), ["4984|10016"]);
    let card = &doc["results"][0];
    assert_eq!(card["source"], "civitai");
    assert_eq!(card["title_en"], "Gen LoRA 8");
    assert_eq!(card["base_model"], "qwen-image");
    assert_eq!(card["base_model_raw"], "Qwen");
    assert_eq!(card["page_url"], "https://civitai.com/models/10008");
    assert_eq!(card["compatible_models"], json!([]));
    assert_no_raw_keys(&doc);
    assert_covers_on_disk(&doc);
    // Its own file: the ModelScope cache file is not touched.
    let file = home
        .paths
        .cache
        .join("top_loras_civitai_text-to-image-synthesis.json");
    let on_disk: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    assert_eq!(on_disk, doc);
    assert!(
        !home
            .paths
            .cache
            .join("top_loras_text-to-image-synthesis.json")
            .exists()
    );

    // A keyword search goes by cursor only (Civitai refuses `page` with `query`).
    civ.clear_requests();
    let found = home
        .json_async(&["loras", "--source", "civitai", "--search", "ink", "--json"])
        .await;
    assert_eq!(ids(&found), ["827184@2514310"]);
    assert_eq!(found["results"][0]["title_en"], "Qwen Ink Wash (v2.0)");
    assert_eq!(
        found["results"][0]["trigger_words"],
        json!(["ink wash", "sumi-e"])
    );
    let search = &civ.requests_to(Endpoint::Submit)[0];
    assert_eq!(param(search, "query"), ["ink"]);
    assert!(param(search, "page").is_empty());
    assert!(
        !ids(&home
            .json_async(&["loras", "--source", "civitai", "--limit", "50", "--json"])
            .await)
        .contains(&"777777@777778".to_string())
    );

    // A base that is not a Civitai base model value is refused before any request.
    civ.clear_requests();
    let out = home
        .run_async(&[
            "loras",
            "--source",
            "civitai",
            "--base",
            "Flux;DROP",
            "--json",
        ])
        .await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("base") && err.contains("Flux.1 D"), "{err}");
    assert_eq!(civ.listing_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hugging_face_pages_follow_link_headers_and_the_token_stays_secret() {
    let hf = HuggingFaceFake::start_huggingface().await;
    hf.add_generated(150);
    let mut home = home_for("huggingface", &hf.base_url());
    let token = "hf_secretTOKEN1234567890";
    home.env("HF_TOKEN", token);
    let out = home
        .ok_async(&[
            "loras",
            "--source",
            "huggingface",
            "--base",
            "Qwen/Qwen-Image",
            "--limit",
            "60",
            "--page",
            "2",
            "--json",
        ])
        .await;
    let doc: Value = serde_json::from_str(&out).unwrap();
    let want: Vec<String> = (60..120).map(|i| format!("gen/lora-{i}")).collect();
    assert_eq!(ids(&doc), want);
    let listings = hf.requests_to(Endpoint::Submit);
    assert_eq!(listings.len(), 2, "{listings:?}");
    assert_eq!(
        param(&listings[0], "filter"),
        ["lora", "base_model:adapter:Qwen/Qwen-Image"]
    );
    assert_eq!(param(&listings[0], "pipeline_tag"), ["text-to-image"]);
    assert_eq!(param(&listings[0], "sort"), ["downloads"]);
    assert_eq!(param(&listings[0], "full"), ["true"]);
    assert_eq!(param(&listings[0], "cardData"), ["true"]);
    assert_eq!(param(&listings[0], "limit"), ["100"]);
    // The second page is the one the Link header named.
    assert_eq!(param(&listings[1], "cursor"), ["100"]);
    let card = &doc["results"][0];
    assert_eq!(card["source"], "huggingface");
    assert_eq!(card["title_en"], "lora-60");
    assert_eq!(card["author"], "gen");
    assert_eq!(card["downloads_period"], "30d");
    assert_eq!(card["base_model"], "qwen-image");
    assert_eq!(
        card["cover_url"],
        format!("{}/gen/lora-60/resolve/main/cover.png", hf.base_url())
    );
    assert_no_raw_keys(&doc);
    assert_covers_on_disk(&doc);

    // The token goes to the API, never to cover downloads, output, files or the log.
    let bearer = format!("Bearer {token}");
    assert!(
        listings
            .iter()
            .all(|r| r.header("authorization") == Some(bearer.as_str()))
    );
    let covers = hf.requests_to(Endpoint::Download);
    assert_eq!(covers.len(), 60);
    assert!(covers.iter().all(|r| r.header("authorization").is_none()));
    assert!(!out.contains(token));
    assert!(!home.log_tail().contains(token));
    let export = std::fs::read_to_string(
        home.paths
            .cache
            .join("top_loras_huggingface_text-to-image-synthesis.json"),
    )
    .unwrap();
    assert!(!export.contains(token));

    // Newest first asks the Hub for lastModified order.
    hf.clear_requests();
    home.ok_async(&[
        "loras",
        "--source",
        "huggingface",
        "--sort",
        "newest",
        "--no-covers",
        "--json",
    ])
    .await;
    assert_eq!(
        param(&hf.requests_to(Endpoint::Submit)[0], "sort"),
        ["lastModified"]
    );
}

async fn context(civ: &CivitaiFake, hf: &HuggingFaceFake, dir: &std::path::Path) -> LoraContext {
    let (store, thread) = Store::open(&dir.join("genq.db")).unwrap();
    std::mem::forget(thread);
    genq_daemon::catalog::seed(&store).await.unwrap();
    let host = |url: String| url.trim_start_matches("http://").to_string();
    LoraContext {
        store,
        sites: CatalogSettings {
            civitai_base_url: civ.base_url(),
            huggingface_base_url: hf.base_url(),
            ..CatalogSettings::default()
        },
        extra_hosts: vec![host(civ.base_url()), host(hf.base_url())],
        key: None,
        civitai_key: Some(Secret::new("civitai-key")),
        huggingface_key: None,
        cache_dir: dir.to_path_buf(),
        ttl: Duration::from_secs(600),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn details_by_card_id_and_a_refusal_naming_the_key() {
    init_tls();
    let civ = CivitaiFake::start_civitai().await;
    let hf = HuggingFaceFake::start_huggingface().await;
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(&civ, &hf, dir.path()).await;

    // A named version, a bare model id (its first version), unknown ids.
    let v1 = loras::detail(&ctx, LoraSource::Civitai, "827184@2514309")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v1.title, "Qwen Ink Wash (v1.0)");
    assert_eq!(v1.trigger_words, ["ink wash"]);
    let first = loras::detail(&ctx, LoraSource::Civitai, "631986")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.id, "631986@706528");
    assert!(
        loras::detail(&ctx, LoraSource::Civitai, "1@2")
            .await
            .unwrap()
            .is_none()
    );
    // The adult model is hidden from details too while NSFW is off.
    assert!(
        loras::detail(&ctx, LoraSource::Civitai, "777777")
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        loras::detail(&ctx, LoraSource::Civitai, "owner/name").await,
        Err(CatalogError::Invalid { field: "id", .. })
    ));
    assert_eq!(
        civ.requests_to(Endpoint::Poll)[0].header("authorization"),
        Some("Bearer civitai-key")
    );

    let ink = loras::detail(&ctx, LoraSource::Huggingface, "ink/qwen-ink")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ink.base_model.as_deref(), Some("qwen-image"));
    assert_eq!(ink.downloads, Some(900));
    assert_eq!(ink.downloads_period, None);
    assert!(
        loras::detail(&ctx, LoraSource::Huggingface, "no/such")
            .await
            .unwrap()
            .is_none()
    );
    // The card is cached under its source.
    assert_eq!(
        ctx.store
            .lora_card("huggingface".into(), "ink/qwen-ink".into())
            .await
            .unwrap()
            .unwrap()
            .title,
        "qwen-ink"
    );

    // A refusal says where the key goes, and does not show it.
    hf.inject(
        Endpoint::Poll,
        Fault::Reply {
            status: 401,
            body: json!({"error": "Invalid credentials in Authorization header"}),
        },
        1,
    );
    let err = loras::detail(&ctx, LoraSource::Huggingface, "ink/qwen-ink")
        .await
        .unwrap_err();
    assert!(matches!(err, CatalogError::Auth { status: 401, .. }));
    assert!(err.to_string().contains("HF_TOKEN"), "{err}");
}
