//! ARCHITECTURE.md must describe every workspace member in its code map.

#[test]
fn every_workspace_member_has_a_code_map_entry() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let manifest: toml::Table = std::fs::read_to_string(format!("{root}/Cargo.toml"))
        .expect("root Cargo.toml")
        .parse()
        .expect("valid TOML");
    let members = manifest["workspace"]["members"]
        .as_array()
        .expect("members");
    assert!(members.len() >= 10, "workspace lost members: {members:?}");
    let doc = std::fs::read_to_string(format!("{root}/ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let code_map = doc
        .split("## Code map")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("ARCHITECTURE.md has a '## Code map' section");
    let missing: Vec<&str> = members
        .iter()
        .filter_map(|m| m.as_str())
        .filter(|m| !code_map.contains(&format!("### `{m}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md code map lacks: {missing:?}"
    );
}
