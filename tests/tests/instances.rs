//! Named provider instances: two accounts of one provider type, each with its own key (stored
//! with `genq auth set NAME`), its own limits, its own catalog rows and its own line in
//! `genq providers`.

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use genq_e2e::fakes::{Endpoint, ModelScopeFake};
use genq_e2e::harness::Home;
use serde_json::Value;

const KEY_B: &str = "ms-second-account-key";

/// The config of two ModelScope instances: `modelscope` (type implied, one task at a time)
/// and `ms2` (two at a time), each at its own fake.
fn config(a: &ModelScopeFake, b: &ModelScopeFake) -> String {
    format!(
        "[providers.modelscope]\nbase_url = \"{}\"\napi_key_env = \"GENQ_TEST_MS_KEY\"\n\
         max_concurrent = 1\nrequests_per_second = 1000\ntypical_s = 0.2\n\
         [providers.ms2]\ntype = \"modelscope\"\nbase_url = \"{}\"\nmax_concurrent = 2\n\
         requests_per_second = 1000\ntypical_s = 0.2\n",
        a.base_url(),
        b.base_url()
    )
}

fn auth_set(home: &Home, name: &str, key: &str) {
    let mut child = home
        .cmd(&["auth", "set", name])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run genq auth set");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{key}\n").as_bytes())
        .expect("write the key");
    let out = child.wait_with_output().expect("genq auth set");
    home.assert_success(&out);
}

fn bearer(req: &genq_e2e::fakes::RecordedRequest) -> String {
    req.header("authorization").unwrap_or_default().to_string()
}

#[tokio::test]
async fn two_accounts_of_one_type_have_their_own_keys_limits_and_catalog_rows() {
    let a = ModelScopeFake::start().await;
    let b = ModelScopeFake::start().await;
    b.set_key(KEY_B);
    for fake in [&a, &b] {
        fake.set_duration(Duration::from_millis(1200));
    }
    let mut home = Home::new();
    genq_e2e::harness::init_tls();
    home.env("GENQ_TEST_MS_KEY", &a.key());
    home.write_config(&config(&a, &b));

    // An instance's key is stored under its name, like a provider's.
    auth_set(&home, "ms2", KEY_B);
    let refused = home.run_async(&["auth", "set", "nosuch"]).await;
    assert_eq!(refused.status.code(), Some(2));

    let providers = home.json_async(&["providers", "--json"]).await;
    let row = |name: &str| -> Value {
        providers
            .as_array()
            .and_then(|all| all.iter().find(|p| p["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in {providers}"))
    };
    assert_eq!(row("ms2")["type"], "modelscope");
    assert_eq!(row("ms2")["key_source"], "credentials file");
    assert_eq!(row("ms2")["max_concurrent"], 2);
    assert_eq!(row("modelscope")["max_concurrent"], 1);
    let table = home.ok_async(&["providers"]).await;
    assert!(table.contains("ms2 (modelscope)"), "{table}");

    // The instance offers its type's models under its own name.
    let models = home.ok_async(&["models", "--json"]).await;
    assert!(models.contains("\"supplier\": \"ms2\"") || models.contains("\"supplier\":\"ms2\""));

    let mut ids = Vec::new();
    for (provider, n) in [("modelscope", 2), ("ms2", 3)] {
        for i in 0..n {
            ids.push(home.submit(provider, &format!("{provider} job {i}")).await);
        }
    }
    for id in &ids {
        let job = home.finished(id).await;
        assert_eq!(job["state"], "succeeded", "{job}");
    }

    // Each fake saw only its own account's key, and each instance kept its own limit.
    let key_a = format!("Bearer {}", a.key());
    let key_b = format!("Bearer {KEY_B}");
    assert!(a.requests_to(Endpoint::Submit).len() == 2);
    assert!(b.requests_to(Endpoint::Submit).len() == 3);
    assert!(
        a.requests_to(Endpoint::Api)
            .iter()
            .all(|r| bearer(r) == key_a)
    );
    assert!(
        b.requests_to(Endpoint::Api)
            .iter()
            .all(|r| bearer(r) == key_b)
    );
    assert_eq!(a.max_in_flight(), 1, "modelscope's limit is 1");
    assert!(b.max_in_flight() <= 2, "ms2's limit is 2");
    assert_eq!(
        b.max_in_flight(),
        2,
        "ms2 is not held to modelscope's limit"
    );
}

#[tokio::test]
async fn a_table_without_a_known_type_is_refused_naming_it() {
    let home = Home::with_config("[providers.work]\nbase_url = \"http://127.0.0.1:9\"\n");
    let out = home.run_async(&["daemon", "start"]).await;
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        said.contains("[providers.work]") && said.contains("type"),
        "{said}"
    );

    home.write_config("[providers.work]\ntype = \"nosuch\"\n");
    let out = home.run_async(&["daemon", "start"]).await;
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        said.contains("providers.work.type") && said.contains("modelscope"),
        "{said}"
    );
}
