//! `bench-server protoless|tonic|bare ADDR`: serves the benchmark services on one thread (so
//! that pinning the process to a core pins the server), printing `listening on ADDR` first.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [kind, addr] = &args[..] else {
        eprintln!("usage: bench-server protoless|tonic|bare ADDR");
        std::process::exit(2);
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let (listener, addr) = protoless_benches::bind(addr).await;
        println!("listening on {addr}");
        protoless_benches::serve(kind, listener).await;
    });
}
