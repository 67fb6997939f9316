//! A real browser calls the examples: Debian's Chromium (headless, driven by npm's
//! playwright-core) loads a page built as a web team would build it, from the `.proto` files
//! protoless exports (`greeter proto`, `cache proto`), with `@bufbuild/protoc-gen-es` (run by
//! `buf generate`) and `@connectrpc/connect-web`, bundled by esbuild. The page is served from
//! another origin than the services, so every call goes through CORS. It calls greeter's
//! `SayHello` and `LotsOfReplies` and an erring `rpc.Cache/Get`, over the Connect protocol and
//! over gRPC-Web.
//!
//! And the Rust client (`ChannelBuilder::web`) calls a server of the Connect project's own,
//! connect-node, built from the same export, over both protocols.
//!
//! `scripts/browser-env` installs Chromium (apt) and the npm packages.

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

/// Exports greeter's and cache's `.proto` files into `dir/proto` and generates TypeScript from
/// them into `dir/gen`, as a web team would.
async fn generate(dir: &Path, modules: &Path) {
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
}

/// Bundles `tests/browser/ENTRY` with what it imports into `dir/OUT`, for `platform` (esbuild's
/// `browser` or `node`).
async fn bundle(dir: &Path, modules: &Path, entry: &str, out: &str, platform: &str) {
    std::fs::copy(root().join("tests/browser").join(entry), dir.join(entry)).unwrap();
    let format = if platform == "node" { "cjs" } else { "esm" };
    run(
        "esbuild",
        Command::new(modules.join(".bin/esbuild"))
            .args([
                entry,
                "--bundle",
                &format!("--platform={platform}"),
                &format!("--format={format}"),
                &format!("--outfile={out}"),
            ])
            .env("NODE_PATH", modules)
            .current_dir(dir),
    )
    .await;
}

/// Builds the page into `dir/site`: the generated clients and the page, bundled.
async fn build_page(dir: &Path, modules: &Path) {
    generate(dir, modules).await;
    std::fs::create_dir_all(dir.join("site")).unwrap();
    bundle(dir, modules, "page.ts", "site/bundle.js", "browser").await;
    std::fs::write(
        dir.join("site/index.html"),
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

#[tokio::test]
async fn the_rust_client_calls_connect_node_over_connect_and_grpc_web() {
    use protoless::{Channel, Code, MetadataMap, WebProtocol};
    use support::greeter::{GreeterClient, HelloRequest};
    use tokio::io::AsyncBufReadExt;

    let Some(modules) = browser_env() else {
        return;
    };
    let dir = TempDir(
        std::env::temp_dir().join(format!("protoless-connect-node-{}", std::process::id())),
    );
    let dir = &dir.0;
    std::fs::create_dir_all(dir).unwrap();
    generate(dir, &modules).await;
    bundle(dir, &modules, "server.ts", "server.cjs", "node").await;
    let mut server = Command::new("node")
        .arg(dir.join("server.cjs"))
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(server.stdout.take().unwrap()).lines();
    let port = lines
        .next_line()
        .await
        .unwrap()
        .expect("the server prints its port");
    let hello = |name: &str| HelloRequest {
        name: name.to_owned(),
    };
    for protocol in [WebProtocol::Connect, WebProtocol::GrpcWeb] {
        let channel = Channel::builder(&format!("http://127.0.0.1:{port}"))
            .web(protocol)
            .connect()
            .await
            .unwrap();
        let client = GreeterClient::new(channel);
        let mut metadata = MetadataMap::new();
        metadata.insert("caller", "rust").unwrap();
        let reply = client
            .say_hello(hello("rust"))
            .metadata(metadata)
            .timeout(std::time::Duration::from_secs(5))
            .into_response()
            .await
            .unwrap();
        assert_eq!(reply.message.message, "Hello, rust! (rust)", "{protocol:?}");
        assert_eq!(reply.headers.get("served-by"), Some("connect-node"));
        assert_eq!(
            reply.trailers.get("greeting-count"),
            Some("1"),
            "{protocol:?}"
        );
        let mut replies = client.lots_of_replies(hello("node")).await.unwrap();
        let mut received = Vec::new();
        while let Some(reply) = replies.message().await.unwrap() {
            received.push(reply.message);
        }
        assert_eq!(
            received,
            ["Hello, node! #1", "Hello, node! #2", "Hello, node! #3"],
            "{protocol:?}"
        );
        let mut greetings = client.lots_of_greetings().await.unwrap();
        greetings.send(hello("a")).await.unwrap();
        greetings.send(hello("b")).await.unwrap();
        assert_eq!(greetings.finish().await.unwrap().message, "Hello, a, b!");
        let failed = client.say_hello(hello("fail")).await.unwrap_err();
        assert_eq!(failed.code(), Code::FailedPrecondition, "{protocol:?}");
        assert_eq!(failed.message(), "asked to fail");
    }
}
