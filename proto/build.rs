//! Generates the tonic/prost code. protoc comes from the build itself
//! (protoc-bin-vendored), so a fresh machine needs nothing installed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);
    tonic_prost_build::configure()
        // `floe ctl ... --json` prints admin messages as they are.
        .type_attribute(".floe.admin.v1", "#[derive(serde::Serialize)]")
        .compile_with_config(config, &["proto/worker.proto", "proto/admin.proto"], &["proto"])?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
