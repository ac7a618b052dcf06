//! The catalog as users meet it: models managed through the CLI against the real daemon
//! (CRUD, soft delete, defaults used by submit), and the LoRA gallery against a fake
//! ModelScope site replaying the reference payloads (cache, covers, export contract,
//! compatibility at submit).

use genq_daemon::catalog::loras::{self, LoraContext};
use genq_daemon::config::CatalogSettings;
use genq_daemon::store::Store;
use genq_e2e::fakes::{CatalogFake, Endpoint, ModelScopeFake};
use genq_e2e::harness::{Home, catalog_section, init_tls, stderr};
use genq_protocol::catalog::{LoraSource, LorasListParams};
use serde_json::Value;
use std::time::Duration;

fn keys(models: &Value) -> Vec<String> {
    models
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["key"].as_str().unwrap().to_string())
        .collect()
}

/// A home reading the LoRA catalog from the fake site (and submitting to `ms`, when given).
fn catalog_home(ms: Option<&ModelScopeFake>, cat: &CatalogFake) -> Home {
    Home::with_fakes(ms, None, &catalog_section("modelscope", &cat.base_url()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builtin_models_are_listed_with_their_defaults_and_parameters() {
    let home = Home::new();
    let all = home.json_async(&["models", "--json"]).await;
    let k = keys(&all);
    for want in [
        "modelscope:Qwen/Qwen-Image",
        "modelscope:Tongyi-MAI/Z-Image-Turbo",
        "modelscope:black-forest-labs/FLUX.1-Krea-dev",
        "modelscope:Qwen/Qwen-Image-Edit-2509",
        "dashscope:wan2.5-t2i-preview",
        "tripo:v2.5-20250123",
    ] {
        assert!(k.contains(&want.to_string()), "{want} missing from {k:?}");
    }
    let qwen = home
        .json_async(&["models", "show", "Qwen/Qwen-Image", "--json"])
        .await;
    assert_eq!(qwen["default_for"], serde_json::json!(["text_to_image"]));
    assert_eq!(qwen["lora_family"], "qwen-image");
    let width = qwen["params"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "width")
        .unwrap();
    assert_eq!(
        (width["min"].as_f64(), width["max"].as_f64()),
        (Some(64.0), Some(1664.0))
    );

    let tripo = home
        .json_async(&[
            "models",
            "--provider",
            "tripo",
            "--capability",
            "image_to_model",
            "--json",
        ])
        .await;
    assert!(keys(&tripo).iter().all(|k| k.starts_with("tripo:")));
    assert!(keys(&tripo).len() >= 5);

    let caps = home.json_async(&["capabilities", "--json"]).await;
    let t2m = caps
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "text_to_model")
        .unwrap();
    assert_eq!(t2m["default_model"], "tripo:v2.5-20250123");
    let tree = home.json_async(&["categories", "--json"]).await;
    let image = tree
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "image")
        .unwrap();
    let qwen_cat = image["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "image/qwen")
        .unwrap();
    assert!(
        qwen_cat["models"]
            .as_array()
            .unwrap()
            .contains(&"modelscope:Qwen/Qwen-Image".into())
    );
    let text = home.ok_async(&["categories"]).await;
    assert!(text.contains("  image/qwen"), "{text}");

    // Restarting applies the seed again without duplicating anything.
    home.ok_async(&["daemon", "stop"]).await;
    let again = home.json_async(&["models", "--json"]).await;
    assert_eq!(keys(&again), k);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_are_added_edited_removed_and_restored_through_the_cli() {
    let home = Home::new();
    // Invalid entries are refused with the field named.
    let refused: [(&[&str], &str); 4] = [
        (
            &[
                "--provider",
                "modelscope",
                "--id",
                "me/m",
                "--type",
                "picture",
            ],
            "field: type",
        ),
        (
            &["--provider", "nowhere", "--id", "me/m"],
            "field: supplier",
        ),
        (
            &[
                "--provider",
                "modelscope",
                "--id",
                "me/m",
                "--param",
                "steps:int:50..10",
            ],
            "params[0].max",
        ),
        (
            &[
                "--provider",
                "modelscope",
                "--id",
                "me/m",
                "--category",
                "nope",
            ],
            "categories[0]",
        ),
    ];
    for (args, field) in refused {
        let err = home
            .refused_async(&[&["models", "add"], args].concat())
            .await;
        assert!(err.contains(field), "{err}");
    }
    // Nothing half-written.
    let all = home.json_async(&["models", "--all", "--json"]).await;
    assert!(!keys(&all).contains(&"modelscope:me/m".to_string()));

    let m = home
        .json_async(&[
            "models",
            "add",
            "--provider",
            "modelscope",
            "--id",
            "me/m",
            "--name",
            "Mine",
            "--lora-family",
            "qwen-image",
            "--category",
            "image/qwen",
            "--param",
            "steps:int:1..30=20",
            "--param",
            "width:int:256..1024",
            "--param",
            "height:int:256..1024",
            "--json",
        ])
        .await;
    assert_eq!(m["key"], "modelscope:me/m");
    assert_eq!(m["builtin"], false);
    assert_eq!(m["capabilities"], serde_json::json!(["text_to_image"]));
    let out = home
        .run_async(&["models", "add", "--provider", "modelscope", "--id", "me/m"])
        .await;
    assert!(
        stderr(&out).contains("already in the catalog"),
        "{}",
        stderr(&out)
    );

    let m = home
        .json_async(&[
            "models",
            "edit",
            "me/m",
            "--name",
            "Renamed",
            "--param",
            "steps:int:1..8",
            "--drop-param",
            "height",
            "--json",
        ])
        .await;
    assert_eq!(m["display_name"], "Renamed");
    let names: Vec<_> = m["params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].clone())
        .collect();
    assert_eq!(names, vec![Value::from("steps"), Value::from("width")]);
    assert_eq!(m["params"][0]["max"].as_f64(), Some(8.0));

    home.ok_async(&["models", "rm", "modelscope:me/m"]).await;
    let listed = home
        .json_async(&["models", "--provider", "modelscope", "--json"])
        .await;
    assert!(
        !keys(&listed).contains(&"modelscope:me/m".to_string()),
        "removed model still listed"
    );
    let all = home.json_async(&["models", "--all", "--json"]).await;
    let gone = all
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["key"] == "modelscope:me/m")
        .unwrap();
    assert_eq!(gone["removed"], true);
    let shown = home.json_async(&["models", "show", "me/m", "--json"]).await;
    assert_eq!(shown["removed"], true);
    // A removed model is refused by submit, naming how to restore it.
    let err = home
        .refused_async(&[
            "submit",
            "--provider",
            "modelscope",
            "--model",
            "me/m",
            "--prompt",
            "x",
        ])
        .await;
    assert!(err.contains("genq models restore"), "{err}");

    home.ok_async(&["models", "restore", "me/m"]).await;
    let listed = home
        .json_async(&["models", "--provider", "modelscope", "--json"])
        .await;
    assert!(keys(&listed).contains(&"modelscope:me/m".to_string()));
    // Its narrowed ranges apply at submit.
    let err = home
        .refused_async(&[
            "submit",
            "--provider",
            "modelscope",
            "--model",
            "me/m",
            "--prompt",
            "x",
            "--steps",
            "20",
        ])
        .await;
    assert!(err.contains("spec.steps"), "{err}");
    assert!(err.contains("1–8"), "{err}");

    // A list of allowed values or a shortest prompt on an entry holds at submit too.
    home.ok_async(&[
        "models",
        "add",
        "--provider",
        "modelscope",
        "--id",
        "me/listed",
        "--param",
        "prompt:string:5..",
    ])
    .await;
    let err = home
        .refused_async(&[
            "submit",
            "--provider",
            "modelscope",
            "--model",
            "me/listed",
            "--prompt",
            "x",
        ])
        .await;
    assert!(err.contains("spec.prompt"), "{err}");
    assert!(err.contains("at least 5"), "{err}");

    // An unknown model is not found, by name.
    let out = home.run_async(&["models", "show", "nope/nope"]).await;
    assert!(
        stderr(&out).contains("no model matches"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_without_a_model_uses_the_default_of_its_capability() {
    let ms = ModelScopeFake::start().await;
    let cat = CatalogFake::start().await;
    let home = catalog_home(Some(&ms), &cat);
    let job = home.submit_job("modelscope", &["--prompt", "a"]).await;
    assert_eq!(job["model"], "Qwen/Qwen-Image");

    let err = home
        .refused_async(&["models", "set-default", "tripo:v2.5-20250123"])
        .await;
    assert!(err.contains("field: capability"), "{err}");

    home.ok_async(&[
        "models",
        "set-default",
        "modelscope:Tongyi-MAI/Z-Image-Turbo",
    ])
    .await;
    let caps = home.json_async(&["capabilities", "--json"]).await;
    let t2i = caps
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "text_to_image")
        .unwrap();
    assert_eq!(t2i["default_model"], "modelscope:Tongyi-MAI/Z-Image-Turbo");
    let job = home.submit_job("modelscope", &["--prompt", "b"]).await;
    assert_eq!(job["model"], "Tongyi-MAI/Z-Image-Turbo");
    assert!(
        ms.wait_for(Duration::from_secs(60), |r| {
            r.iter().filter(|r| r.endpoint == Endpoint::Submit).count() >= 2
        })
        .await,
        "the fake never saw both submits"
    );
    let sent: Vec<_> = ms
        .requests_to(Endpoint::Submit)
        .iter()
        .map(|r| r.body.as_ref().unwrap()["model"].clone())
        .collect();
    assert!(
        sent.contains(&Value::from("Tongyi-MAI/Z-Image-Turbo")),
        "{sent:?}"
    );
    // A default of another provider does not apply: DashScope keeps its own.
    let qwen = home
        .json_async(&["models", "show", "Qwen/Qwen-Image", "--json"])
        .await;
    assert_eq!(qwen["default_for"], serde_json::json!([]));
}

const FORBIDDEN: &[&str] = &[
    "aigc_attributes",
    "AigcAttributes",
    "ReadMeContent",
    "readme",
    "SvgContent",
    "MuseInfo",
    "ModelInfos",
    "sha256",
    "token=",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loras_are_fetched_cached_exported_and_their_covers_downloaded() {
    let cat = CatalogFake::start().await;
    cat.kill_cover("9f34b7be");
    let home = catalog_home(None, &cat);
    let doc = home
        .json_async(&[
            "loras",
            "--task",
            "text-to-image-synthesis",
            "--limit",
            "3",
            "--json",
        ])
        .await;
    assert_eq!(cat.listing_count(), 1);
    let listing = &cat.requests_to(Endpoint::Submit)[0];
    assert_eq!(listing.method, "PUT");
    let body = listing.body.as_ref().unwrap();
    assert_eq!(body["IsAigc"], true);
    assert_eq!(body["SortBy"], "DownloadsCount");
    assert_eq!(body["SingleCriterion"][0]["StringValue"], "LoRA");

    // The file and stdout are the same document, in the Top-LoRAs contract.
    let file = home
        .paths
        .cache
        .join("top_loras_text-to-image-synthesis.json");
    let text = std::fs::read_to_string(&file).unwrap();
    let on_disk: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(on_disk, doc);
    assert!(doc["_cached_at"].as_str().unwrap().ends_with('Z'));
    let results = doc["results"].as_array().unwrap();
    let ids: Vec<_> = results.iter().map(|r| r["id"].as_str().unwrap()).collect();
    // Sorted by downloads; the Checkpoint is dropped.
    assert_eq!(
        ids,
        [
            "Daniel8152/film",
            "merjic/majicbeauty-qwen1",
            "krea-fan/Krea-2-LORA"
        ]
    );
    for r in results {
        for key in [
            "id",
            "title_en",
            "title_cn",
            "cover_url",
            "cover_local",
            "downloads",
            "modelscope_url",
            "updated_at",
        ] {
            assert!(r.get(key).is_some(), "{key} missing in {r}");
        }
    }
    for bad in FORBIDDEN {
        assert!(!text.contains(bad), "{bad} in the exported file");
    }
    let merjic = &results[1];
    assert_eq!(merjic["title_cn"], "麦橘千问美人");
    assert_eq!(
        merjic["modelscope_url"],
        "https://modelscope.cn/models/merjic/majicbeauty-qwen1"
    );
    assert!(
        merjic["cover_url"]
            .as_str()
            .unwrap()
            .contains("/resouces.modelscope.cn/")
    );
    assert!(
        merjic["compatible_models"]
            .as_array()
            .unwrap()
            .contains(&"modelscope:Qwen/Qwen-Image".into())
    );
    // Covers: real images under cache/images/<task>/, the dead one replaced by the placeholder.
    let dir = home
        .paths
        .cache
        .join("images")
        .join("text-to-image-synthesis");
    let local = merjic["cover_local"].as_str().unwrap();
    assert!(local.starts_with(dir.to_str().unwrap()), "{local}");
    assert!(image::open(local).is_ok(), "{local} is not an image");
    let film = &results[0];
    assert!(
        film["cover_url"]
            .as_str()
            .unwrap()
            .contains("/resources.modelscope.cn/")
    );
    assert!(
        film["cover_local"]
            .as_str()
            .unwrap()
            .ends_with("placeholder.png")
    );
    assert!(std::path::Path::new(film["cover_local"].as_str().unwrap()).exists());

    // Within the TTL the listing comes from the database; the dead cover is tried again.
    cat.revive_covers();
    let covers_before = cat.cover_count();
    let again = home
        .json_async(&[
            "loras",
            "--task",
            "text-to-image-synthesis",
            "--limit",
            "3",
            "--json",
        ])
        .await;
    assert_eq!(cat.listing_count(), 1, "the cache was not used");
    assert_eq!(again["_cached_at"], doc["_cached_at"]);
    assert_eq!(
        cat.cover_count(),
        covers_before + 1,
        "only the dead cover is fetched again"
    );
    let film = &again["results"][0];
    assert!(
        film["cover_local"]
            .as_str()
            .unwrap()
            .ends_with("Daniel8152_film.png"),
        "{film}"
    );

    // A forced refresh goes to the source.
    home.json_async(&[
        "loras",
        "--task",
        "text-to-image-synthesis",
        "--limit",
        "3",
        "--force-refresh",
        "--json",
    ])
    .await;
    assert_eq!(cat.listing_count(), 2);

    // Explicit paths, a base filter and fewer results than asked.
    let out_file = home.dir.path().join("exports").join("mine.json");
    let images = home.dir.path().join("covers");
    let out = home
        .run_async(&[
            "loras",
            "--task",
            "image edit/v2",
            "--limit",
            "5",
            "--base",
            "Z_IMAGE_TURBO",
            "--cache-file",
            out_file.to_str().unwrap(),
            "--images-dir",
            images.to_str().unwrap(),
        ])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("1 of 5"), "{}", stderr(&out));
    let mine: Value = serde_json::from_str(&std::fs::read_to_string(&out_file).unwrap()).unwrap();
    assert_eq!(mine["results"].as_array().unwrap().len(), 1);
    assert!(
        mine["results"][0]["cover_local"]
            .as_str()
            .unwrap()
            .starts_with(images.to_str().unwrap())
    );
    let last = cat
        .requests_to(Endpoint::Submit)
        .last()
        .unwrap()
        .body
        .clone()
        .unwrap();
    assert_eq!(last["Criterion"][0]["values"][0], "Z_IMAGE_TURBO");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lora_for_another_family_is_refused_at_submit() {
    let ms = ModelScopeFake::start().await;
    let cat = CatalogFake::start().await;
    let home = catalog_home(Some(&ms), &cat);
    home.ok_async(&["loras", "--limit", "5", "--no-covers"])
        .await;
    let err = home
        .refused_async(&[
            "submit",
            "--provider",
            "modelscope",
            "--model",
            "Qwen/Qwen-Image",
            "--prompt",
            "x",
            "--lora",
            "Daniel8152/film",
        ])
        .await;
    assert!(err.contains("spec.loras[0].repo"), "{err}");
    assert!(err.contains("z-image"), "{err}");
    assert!(err.contains("modelscope:Tongyi-MAI/Z-Image-Turbo"), "{err}");
    assert_eq!(ms.submit_count(), 0);
    // The same LoRA with a model of its family goes through; an unknown LoRA is not judged.
    home.ok_async(&[
        "submit",
        "--provider",
        "modelscope",
        "--model",
        "Tongyi-MAI/Z-Image-Turbo",
        "--prompt",
        "x",
        "--lora",
        "Daniel8152/film",
    ])
    .await;
    home.ok_async(&[
        "submit",
        "--provider",
        "modelscope",
        "--model",
        "Qwen/Qwen-Image",
        "--prompt",
        "x",
        "--lora",
        "someone/unknown-lora",
    ])
    .await;
}

async fn context(cat: &CatalogFake, dir: &std::path::Path, ttl: Duration) -> (Store, LoraContext) {
    let (store, thread) = Store::open(&dir.join("genq.db")).unwrap();
    std::mem::forget(thread);
    genq_daemon::catalog::seed(&store).await.unwrap();
    let base = cat.base_url();
    let host = base.trim_start_matches("http://").to_string();
    let ctx = LoraContext {
        store: store.clone(),
        sites: CatalogSettings {
            modelscope_base_url: base,
            ..CatalogSettings::default()
        },
        extra_hosts: vec![host],
        key: Some(genq_daemon::secret::Secret::new(cat.key())),
        civitai_key: None,
        huggingface_key: None,
        cache_dir: dir.to_path_buf(),
        ttl,
    };
    (store, ctx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_cache_is_fetched_again_and_pages_span_source_pages() {
    init_tls();
    let cat = CatalogFake::start().await;
    cat.add_generated(120);
    let dir = tempfile::tempdir().unwrap();
    let (_store, ctx) = context(&cat, dir.path(), Duration::ZERO).await;
    let p = LorasListParams {
        limit: Some(60),
        ..LorasListParams::default()
    };
    let page = loras::list(&ctx, p.clone()).await.unwrap();
    assert!(!page.from_cache);
    assert_eq!(page.cards.len(), 60);
    assert_eq!(page.total, Some(124));
    // 60 cards at most 50 per source page: two calls.
    assert_eq!(cat.listing_count(), 2);
    let downloads: Vec<_> = page.cards.iter().map(|c| c.downloads.unwrap()).collect();
    assert!(
        downloads.windows(2).all(|w| w[0] >= w[1]),
        "not sorted: {downloads:?}"
    );
    // A zero TTL: the next listing goes to the source again.
    let again = loras::list(&ctx, p.clone()).await.unwrap();
    assert!(!again.from_cache);
    assert_eq!(cat.listing_count(), 4);
    // Page 2 continues where page 1 ended.
    let second = loras::list(&ctx, LorasListParams { page: Some(2), ..p })
        .await
        .unwrap();
    assert_eq!(second.cards.len(), 60);
    assert!(
        second
            .cards
            .iter()
            .all(|c| !page.cards.iter().any(|o| o.id == c.id))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cover_that_needs_a_token_is_fetched_with_it_only_after_a_refusal() {
    init_tls();
    let cat = CatalogFake::start().await;
    cat.require_token_for_cover("1a2fa271");
    let dir = tempfile::tempdir().unwrap();
    let (_store, ctx) = context(&cat, dir.path(), Duration::from_secs(600)).await;
    let page = loras::list(
        &ctx,
        LorasListParams {
            limit: Some(5),
            download_covers: true,
            ..LorasListParams::default()
        },
    )
    .await
    .unwrap();
    let merjic = page
        .cards
        .iter()
        .find(|c| c.id == "merjic/majicbeauty-qwen1")
        .unwrap();
    assert!(
        !merjic
            .cover_local
            .as_deref()
            .unwrap()
            .ends_with("placeholder.png")
    );
    let covers = cat.requests_to(Endpoint::Download);
    let tries: Vec<_> = covers
        .iter()
        .filter(|r| r.path.contains("1a2fa271"))
        .collect();
    assert_eq!(tries.len(), 2, "one anonymous try, one with the key");
    assert!(tries[0].header("authorization").is_none());
    assert!(tries[1].header("authorization").is_some());
    // Every other cover went without a token.
    assert!(
        covers
            .iter()
            .filter(|r| !r.path.contains("1a2fa271"))
            .all(|r| r.header("authorization").is_none())
    );
    // Detail: found and not found.
    let card = loras::detail(&ctx, LoraSource::Modelscope, "krea-fan/Krea-2-LORA")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(card.base_model.as_deref(), Some("krea2"));
    assert!(
        loras::detail(&ctx, LoraSource::Modelscope, "no/such")
            .await
            .unwrap()
            .is_none()
    );
}
