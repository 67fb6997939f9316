//! Generates the tonic + prost side of the comparison from the `.proto` protoless exported for
//! the greeter (and the benchmark messages), with a protoc shipped as a crate.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // SAFETY-free: set for the build script's own process only, read by prost-build.
    std::env::set_var("PROTOC", protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_protos(
            &[
                "../examples/proto/helloworld/helloworld.proto",
                "../examples/proto/pi/pi.proto",
                "proto/bench/bench.proto",
            ],
            &["../examples/proto", "proto"],
        )?;
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-changed=../examples/proto/helloworld/helloworld.proto");
    println!("cargo:rerun-if-changed=../examples/proto/pi/pi.proto");
    Ok(())
}
