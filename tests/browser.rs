//! A real browser calls the examples: Debian's Chromium (headless, driven by npm's
//! playwright-core) loads a page built as a web team would build it, from the `.proto` files
//! protoless exports (`greeter proto`, `cache proto`), with `@bufbuild/protoc-gen-es` (run by
//! `buf generate`) and `@connectrpc/connect-web`, bundled by esbuild. The page is served from
//! another origin than the services, so every call goes through CORS. It calls greeter's
//! `SayHello` and `LotsOfReplies` and an erring `rpc.Cache/Get`, over the Connect protocol and
//! over gRPC-Web. `scripts/browser-env` installs Chromium (apt) and the npm packages.

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use support::{buf, example, root, succeeded, ServerProcess};
use tokio::process::Command;

/// The npm packages' folder, or `None` after saying why the parts cannot be installed (not
/// root); under `CI=true` that fails the test instead.
fn browser_env() -> Option<PathBuf> {
    let output = std::process::Command::new(root().join("scripts/browser-env"))
        .output()
        .expect("scripts/browser-env runs");
    if output.status.success() {
        return Some(PathBuf::from(
            String::from_utf8(output.stdout).unwrap().trim(),
        ));
    }
    let why = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
    eprintln!("skipped: {why}");
    None
}

async fn serve(name: &str) -> ServerProcess {
    ServerProcess::spawn_with_stderr(
        Command::new(example(name)).args(["serve", "127.0.0.1:0"]),
        Stdio::null(),
    )
    .await
}

/// Runs `command`, failing the test with its output unless it succeeds.
async fn run(what: &str, command: &mut Command) -> String {
    let output = command.output().await.unwrap();
    succeeded(what, &output)
}

/// Builds the page into `dir/site`: the exported `.proto` files, TypeScript generated from
/// them, and the bundle.
async fn build_page(dir: &Path, modules: &Path) {
    let proto = dir.join("proto");
    std::fs::create_dir_all(&proto).unwrap();
    for (name, package) in [("greeter", "helloworld"), ("cache", "rpc")] {
        let exported = run(
            &format!("{name} proto"),
            Command::new(example(name)).arg("proto"),
        )
        .await;
        let path = proto.join(protoless::schema::file_name(package));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, exported).unwrap();
    }
    let plugin = modules.join(".bin/protoc-gen-es");
    std::fs::write(
        dir.join("buf.gen.yaml"),
        format!(
            "version: v2\nplugins:\n  - local: {}\n    out: gen\n    opt: target=ts\n",
            plugin.display()
        ),
    )
    .unwrap();
    run(
        "buf generate",
        Command::new(buf())
            .args(["generate", "proto", "--template", "buf.gen.yaml"])
            .current_dir(dir),
    )
    .await;
    std::fs::copy(root().join("tests/browser/page.ts"), dir.join("page.ts")).unwrap();
    let site = dir.join("site");
    std::fs::create_dir_all(&site).unwrap();
    run(
        "esbuild",
        Command::new(modules.join(".bin/esbuild"))
            .args([
                "page.ts",
                "--bundle",
                "--format=esm",
                "--outfile=site/bundle.js",
            ])
            .env("NODE_PATH", modules)
            .current_dir(dir),
    )
    .await;
    std::fs::write(
        site.join("index.html"),
        "<!doctype html><meta charset=utf-8><title>protoless</title>\
         <script type=module src=bundle.js></script>\n",
    )
    .unwrap();
}

/// Serves the files of `site` over HTTP/1.1 (hyper) on a port of its own: another origin than
/// the services'.
async fn serve_site(site: PathBuf) -> std::net::SocketAddr {
    use http_body_util::Full;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let site = site.clone();
            let service = hyper::service::service_fn(move |request: http::Request<_>| {
                let file = request.uri().path().trim_start_matches('/').to_owned();
                let site = site.clone();
                async move {
                    let content_type = if file.ends_with(".js") {
                        "text/javascript"
                    } else {
                        "text/html"
                    };
                    let response = match std::fs::read(site.join(&file)) {
                        Ok(bytes) if !file.contains("..") => http::Response::builder()
                            .header("content-type", content_type)
                            .body(Full::new(bytes::Bytes::from(bytes))),
                        _ => http::Response::builder()
                            .status(404)
                            .body(Full::new(bytes::Bytes::new())),
                    };
                    Ok::<_, std::convert::Infallible>(response.unwrap())
                }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(socket), service),
            );
        }
    });
    addr
}

/// A folder removed when the test ends, however it ends.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn chromium_calls_greeter_and_cache_over_connect_and_grpc_web_across_origins() {
    let Some(modules) = browser_env() else {
        return;
    };
    let dir =
        TempDir(std::env::temp_dir().join(format!("protoless-browser-{}", std::process::id())));
    let dir = &dir.0;
    std::fs::create_dir_all(dir).unwrap();
    build_page(dir, &modules).await;
    let site = serve_site(dir.join("site")).await;
    let greeter = serve("greeter").await;
    let cache = serve("cache").await;
    let page = format!(
        "http://{site}/index.html?greeter={}&cache={}",
        greeter.url(),
        cache.url()
    );
    let printed = run(
        "drive.cjs",
        Command::new("node")
            .arg(root().join("tests/browser/drive.cjs"))
            .arg(&page)
            .env("NODE_PATH", &modules),
    )
    .await;
    let results: serde_json::Value = serde_json::from_str(printed.trim()).unwrap();
    assert_eq!(results["origin"], format!("http://{site}"), "{results}");
    let replies = (1..=10)
        .map(|n| format!("Hello, {{}}! #{n}"))
        .collect::<Vec<_>>()
        .join(" | ");
    for protocol in ["connect", "grpcweb"] {
        assert_eq!(
            results[format!("{protocol} SayHello")],
            format!("Hello, browser {protocol}!"),
            "{results}"
        );
        assert_eq!(
            results[format!("{protocol} LotsOfReplies")],
            replies.replace("{}", protocol),
            "{results}"
        );
        assert_eq!(
            results[format!("{protocol} Get")],
            "NotFound: Key not found missing",
            "{results}"
        );
    }
    for server in [greeter, cache] {
        let (clean, _) = server.terminate().await;
        assert!(clean);
    }
}
