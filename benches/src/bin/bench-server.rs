//! `bench-server protoless|tonic|bare ADDR [--workers N] [--tls CERT KEY]`: serves the benchmark
//! services, printing `listening on ADDR` first; over TLS with `--tls` (protoless and tonic). On
//! one thread (a current-thread runtime, so that pinning the process to a core pins the server),
//! or with `--workers N` on tokio's multi-thread runtime with N workers, as `#[tokio::main]`
//! runs servers.

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let workers = match args.iter().position(|arg| arg == "--workers") {
        Some(at) if at + 1 < args.len() => {
            let workers = args.remove(at + 1).parse::<usize>().ok();
            args.remove(at);
            workers.or_else(|| usage())
        }
        Some(_) => usage(),
        None => None,
    };
    let (kind, addr, tls) = match &args[..] {
        [kind, addr] => (kind, addr, None),
        [kind, addr, flag, cert, key] if flag == "--tls" => (kind, addr, Some((cert, key))),
        _ => usage(),
    };
    let runtime = match workers {
        None => tokio::runtime::Builder::new_current_thread(),
        Some(workers) => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(workers);
            builder
        }
    }
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

fn usage() -> ! {
    eprintln!("usage: bench-server protoless|tonic|bare ADDR [--workers N] [--tls CERT KEY]");
    std::process::exit(2);
}
