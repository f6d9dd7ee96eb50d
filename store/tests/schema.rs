//! docs/redis-keys.md must show exactly the keys the code builds, and the
//! configuration must reject what cannot work.

use store::{Keys, RedisConfig};

#[test]
fn redis_keys_doc_matches_the_code() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/redis-keys.md"
    ))
    .expect("docs/redis-keys.md");
    let table = Keys::new("ha").unwrap().catalog_markdown();
    assert!(
        doc.contains(&table),
        "docs/redis-keys.md is out of date; replace its table with:\n{table}"
    );
}

#[test]
fn supplier_keys_share_one_cluster_slot() {
    let keys = Keys::new("ha").unwrap();
    let s = "pokt1rvvk8e7qrv4xqg9fzhvmq9gw7uy7yul9qv280d";
    let tag = |k: &str| k[k.find('{').unwrap()..=k.find('}').unwrap()].to_owned();
    let lease = keys.supplier_lease(s);
    for k in [
        keys.relay_stream(s),
        keys.lease_fence(&lease),
        keys.session_leaves(s, "x"),
        keys.session_state(s, "x"),
        keys.session_index(s),
        lease.clone(),
    ] {
        assert_eq!(tag(&k), format!("{{{s}}}"), "{k}");
    }
}

#[test]
fn config_validation() {
    assert!(RedisConfig::default().validate().unwrap().is_empty());
    let bad_ns = RedisConfig {
        namespace: "a:b".into(),
        ..Default::default()
    };
    assert!(bad_ns.validate().is_err());
    let sentinel = RedisConfig {
        url: "redis-sentinel://127.0.0.1:26379".into(),
        ..Default::default()
    };
    assert!(
        sentinel.validate().is_err(),
        "sentinel needs a service name"
    );
    let remote = RedisConfig {
        url: "redis://10.1.2.3:6379".into(),
        ..Default::default()
    };
    assert_eq!(
        remote.validate().unwrap().len(),
        1,
        "plaintext remote warns"
    );
    assert!(
        RedisConfig {
            pool_size: 0,
            ..Default::default()
        }
        .validate()
        .is_err()
    );
    assert!(
        RedisConfig {
            url: "nonsense".into(),
            ..Default::default()
        }
        .validate()
        .is_err()
    );
    assert_eq!(store::redact("redis://u:secret@h:1/0"), "redis://***@h:1/0");
}
