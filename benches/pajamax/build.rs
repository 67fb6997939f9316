//! Generates pajamax's server side of the unary greeter, with a protoc shipped as a crate.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    std::env::set_var("PROTOC", protoc_bin_vendored::protoc_bin_path()?);
    pajamax_build::compile_protos_in_local(&["proto/helloworld.proto"], &["proto"])?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
