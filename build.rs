//! Compiles the protos with protox (no system `protoc` needed) and writes the file descriptor set
//! that server reflection serves, comments included, so `grpcurl describe` shows the documentation.

use std::{
    env, fs,
    path::{Path, PathBuf},
};

use prost::Message as _;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let files = [
        "singlewindow/v1/types.proto",
        "singlewindow/v1/error_reason.proto",
        "singlewindow/v1/catalog_service.proto",
        "singlewindow/v1/citizen_service.proto",
        "singlewindow/v1/routing_service.proto",
        "singlewindow/v1/request_service.proto",
        "singlewindow/v1/feedback_service.proto",
        "singlewindow/v1/form_service.proto",
    ];
    let fds = protox::compile(files, ["proto"])?;
    let out = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(out.join("singlewindow_descriptor.bin"), fds.encode_to_vec())?;
    // The error detail types, for reflection only (their Rust types come from tonic-types), so that
    // grpcurl and other reflection clients can decode ErrorInfo and BadRequest.
    let details = protox::compile(
        ["google/rpc/error_details.proto", "google/rpc/status.proto"],
        ["proto"],
    )?;
    fs::write(
        out.join("google_rpc_descriptor.bin"),
        details.encode_to_vec(),
    )?;
    // Our codec answers undecodable requests with INVALID_ARGUMENT (see src/grpc/codec.rs).
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .codec_path("crate::grpc::codec::ProstCodec")
        .compile_fds(fds)?;
    // gRPC health, generated here with the same codec; the service itself is tonic-health's.
    let health = protox::compile(["grpc/health/v1/health.proto"], ["proto"])?;
    fs::write(out.join("health_descriptor.bin"), health.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(true)
        .codec_path("crate::grpc::codec::ProstCodec")
        .compile_fds(health)?;
    embed_portal(&out)?;
    Ok(())
}

/// Writes `portal_assets.rs`: every file of `portal/dist/` (the built portal), sorted by path, as
/// `include_bytes!`, so the binary serves the portal with nothing beside it. No `dist/` means
/// no portal (an empty table).
fn embed_portal(out: &Path) -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=portal/dist");
    let dist = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?).join("portal/dist");
    let mut files = Vec::new();
    if dist.is_dir() {
        walk(&dist, &mut files)?;
    }
    let mut entries: Vec<(String, PathBuf)> = files
        .into_iter()
        .map(|path| {
            let relative = path.strip_prefix(&dist).expect("under dist").to_owned();
            let name = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            (name, path)
        })
        .collect();
    entries.sort();
    let mut code = String::from("pub static ASSETS: &[Asset] = &[\n");
    for (name, path) in entries {
        code.push_str(&format!(
            "    Asset {{ path: {name:?}, bytes: include_bytes!({:?}) }},\n",
            path.display().to_string()
        ));
    }
    code.push_str("];\n");
    fs::write(out.join("portal_assets.rs"), code)?;
    Ok(())
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, files)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}
