//! `bench-server protoless|tonic|bare ADDR [--tls CERT KEY]`: serves the benchmark services on
//! one thread (so that pinning the process to a core pins the server), printing `listening on
//! ADDR` first; over TLS with `--tls` (protoless and tonic).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (kind, addr, tls) = match &args[..] {
        [kind, addr] => (kind, addr, None),
        [kind, addr, flag, cert, key] if flag == "--tls" => (kind, addr, Some((cert, key))),
        _ => {
            eprintln!("usage: bench-server protoless|tonic|bare ADDR [--tls CERT KEY]");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let (listener, addr) = protoless_benches::bind(addr).await;
        println!("listening on {addr}");
        match tls {
            None => protoless_benches::serve(kind, listener).await,
            Some((cert, key)) => protoless_benches::serve_tls(kind, listener, cert, key).await,
        }
    });
}
