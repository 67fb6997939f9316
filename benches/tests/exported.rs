//! The tonic side is generated from `proto/bench/bench.proto`; it must be what protoless exports.

#[test]
fn bench_proto_is_current() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("proto");
    protoless::schema::check_exported(dir, [protoless_benches::BenchServer::schema()]).unwrap();
}
