//! Writes `benches/proto/bench/bench.proto` from the protoless `Bench` service: the tonic side is
//! generated from it, so both sides speak exactly the same messages.

fn main() -> std::io::Result<()> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("proto");
    let written = protoless::schema::export(&dir, [protoless_benches::BenchServer::schema()])?;
    for path in written {
        println!("wrote {}", path.display());
    }
    Ok(())
}
