//! Compiles our own `.proto` files with protox (no `protoc`) into prost types
//! and tonic stubs. The stubs' modules carry `#[cfg(feature = "grpc")]`, so the
//! default (pure) build of this crate never references tonic.

use std::path::{Path, PathBuf};

fn proto_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            proto_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            out.push(path);
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from("proto");
    let mut files = Vec::new();
    proto_files(&root, &mut files)?;
    files.sort();
    println!("cargo:rerun-if-changed=proto");

    let fds = protox::compile(&files, [&root])?;
    let grpc_only = "#[cfg(feature = \"grpc\")]";
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .build_transport(false)
        .client_mod_attribute(".", grpc_only)
        .server_mod_attribute(".", grpc_only)
        // Deterministic map order: Go sorts map entries by key when it marshals.
        .btree_map(".")
        // gogoproto non-nullable `meta` fields and the presence-sensitive
        // `payload_hash` need hand-written types (src/relay.rs).
        .extern_path(".pocket.service.RelayRequest", "crate::relay::RelayRequest")
        .extern_path(
            ".pocket.service.RelayResponse",
            "crate::relay::RelayResponse",
        )
        .include_file("generated.rs")
        .emit_rerun_if_changed(false)
        .compile_fds(fds)?;
    Ok(())
}
