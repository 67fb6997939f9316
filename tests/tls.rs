//! TLS and mutual TLS (rustls), Unix domain sockets, and their failures: Rust to Rust, and
//! against Python grpcio and Node's grpc-js both ways where they have the API for it.
//! Certificates are made in-process (`support::certs`).

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use protoless::{Channel, ClientTls, Code, Context, Message, ServerTls, Status};
use support::certs::{KeyFormat, Pki};
use support::greeter::{self, GreeterClient, HelloRequest};
use support::{example, python, root, succeeded, ServerProcess, TestServer};
use tokio::process::Command;

fn hello(name: &str) -> HelloRequest {
    HelloRequest {
        name: name.to_owned(),
    }
}

#[derive(Message, Clone, Debug, PartialEq)]
struct Names {
    names: Vec<String>,
}

#[protoless::service(package = "tls.test")]
trait WhoAmI {
    /// The subject alternative names of the caller's verified certificate.
    async fn who(&self, req: Names, ctx: Context) -> Result<Names, Status>;
}

struct Mirror;

impl WhoAmI for Mirror {
    async fn who(&self, _req: Names, ctx: Context) -> Result<Names, Status> {
        let identity = ctx
            .peer_identity()
            .ok_or_else(|| Status::unauthenticated("no client certificate"))?;
        Ok(Names {
            names: identity.subject_alt_names().to_vec(),
        })
    }
}

/// A greeter (and WhoAmI) over TLS with a certificate for localhost and 127.0.0.1.
async fn tls_server(pki: &Pki, require_clients: bool) -> TestServer {
    let tls = ServerTls::new(pki.issue("server", &["localhost", "127.0.0.1"]).identity());
    let tls = if require_clients {
        tls.require_client_certificates(&pki.ca_pem()).unwrap()
    } else {
        tls
    };
    TestServer::start(
        greeter::server()
            .add_service(WhoAmIServer::new(Mirror))
            .tls(tls),
    )
    .await
}

fn https(server: &TestServer) -> String {
    format!("https://{}", server.addr)
}

/// The greeting a channel built by `builder` gets for `name`.
async fn greeting(builder: protoless::ChannelBuilder, name: &str) -> String {
    let channel = builder.connect().await.unwrap();
    let client = GreeterClient::new(channel);
    client.say_hello(hello(name)).await.unwrap().message
}

fn trusting(pki: &Pki) -> ClientTls {
    ClientTls::new().add_ca_certificate(&pki.ca_pem()).unwrap()
}

#[tokio::test]
async fn rust_to_rust_over_tls_and_mutual_tls() {
    let pki = Pki::new("rust");
    let server = tls_server(&pki, false).await;
    let builder = Channel::builder(&https(&server)).tls(trusting(&pki));
    assert_eq!(greeting(builder, "tls").await, "Hello, tls!");
    server.stop().await;

    let server = tls_server(&pki, true).await;
    let client = pki.issue("client", &["client.test", "spiffe://test/client"]);
    let channel = Channel::builder(&https(&server))
        .tls(trusting(&pki).identity(client.identity()))
        .connect()
        .await
        .unwrap();
    let names = WhoAmIClient::new(channel)
        .who(Names { names: vec![] })
        .await
        .unwrap();
    assert_eq!(names.names, ["client.test", "spiffe://test/client"]);
    server.stop().await;
}

/// RSA and ECDSA identities, with keys in PKCS#8, PKCS#1 and SEC1, each serving a Rust client
/// and grpcio.
#[tokio::test]
async fn every_key_kind_and_encoding_serves() {
    let pki = Pki::new("keys");
    for format in [
        KeyFormat::EcdsaPkcs8,
        KeyFormat::EcdsaSec1,
        KeyFormat::RsaPkcs8,
        KeyFormat::RsaPkcs1,
    ] {
        let issued = pki.issue_keyed("server", &["localhost", "127.0.0.1"], format);
        let key_pem = std::fs::read_to_string(&issued.key).unwrap();
        let expected_header = match format {
            KeyFormat::EcdsaPkcs8 | KeyFormat::RsaPkcs8 => "-----BEGIN PRIVATE KEY-----",
            KeyFormat::EcdsaSec1 => "-----BEGIN EC PRIVATE KEY-----",
            KeyFormat::RsaPkcs1 => "-----BEGIN RSA PRIVATE KEY-----",
        };
        assert!(
            key_pem.starts_with(expected_header),
            "{format:?}: {key_pem}"
        );
        let server =
            TestServer::start(greeter::server().tls(ServerTls::new(issued.identity()))).await;
        let channel = Channel::builder(&https(&server))
            .tls(trusting(&pki))
            .connect()
            .await
            .unwrap();
        let reply = GreeterClient::new(channel)
            .say_hello(hello("key"))
            .await
            .unwrap();
        assert_eq!(reply.message, "Hello, key!", "{format:?}");
        let output = foreign_call(tls_client_script(), &server, &pki, None, "world").await;
        let stdout = succeeded("tls_client.py", &output);
        assert_eq!(stdout.trim(), "Hello, world!", "{format:?}");
        server.stop().await;
    }
}

#[tokio::test]
async fn each_failure_fails_its_own_connection_and_says_why() {
    let pki = Pki::new("failures");
    let server = tls_server(&pki, true).await;
    let client = pki.issue("client", &["client.test"]);
    let good = || trusting(&pki).identity(client.identity());

    // Plaintext to a TLS port: the connection fails, the server serves on.
    let plain = Channel::connect(&format!("http://{}", server.addr)).await;
    let plain = match plain {
        Ok(channel) => GreeterClient::new(channel)
            .say_hello(hello("x"))
            .await
            .map(drop),
        Err(status) => Err(status),
    };
    assert_eq!(plain.unwrap_err().code(), Code::Unavailable);

    // A server certificate from an authority the client does not trust.
    let stranger = Pki::new("stranger");
    let status = Channel::builder(&https(&server))
        .tls(
            ClientTls::new()
                .add_ca_certificate(&stranger.ca_pem())
                .unwrap(),
        )
        .connect()
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert!(status.message().contains("unknown issuer"), "{status}");

    // Connecting by IP to a server named otherwise: the name and the authority overridden.
    let named = TestServer::start(greeter::server().tls(ServerTls::new(
        pki.issue("named", &["greeter.test"]).identity(),
    )))
    .await;
    let builder = Channel::builder(&https(&named))
        .tls(trusting(&pki).server_name("greeter.test"))
        .authority("greeter.test");
    assert_eq!(greeting(builder, "by ip").await, "Hello, by ip!");
    named.stop().await;

    // A certificate for other names.
    let status = Channel::builder(&https(&server))
        .tls(good().server_name("elsewhere.test"))
        .connect()
        .await
        .unwrap_err();
    assert!(status.message().contains("name mismatch"), "{status}");

    // No client certificate where one is required, or one from another authority.
    for tls in [
        trusting(&pki),
        trusting(&pki).identity(stranger.issue("intruder", &["intruder"]).identity()),
    ] {
        let refused = Channel::builder(&https(&server)).tls(tls).connect().await;
        let refused = match refused {
            // TLS 1.3 reports a refused client certificate after the handshake: on the call.
            Ok(channel) => GreeterClient::new(channel)
                .say_hello(hello("x"))
                .await
                .map(drop),
            Err(status) => Err(status),
        };
        assert_eq!(refused.unwrap_err().code(), Code::Unavailable);
    }

    // The server's own certificate expired.
    let expired = TestServer::start(
        greeter::server().tls(ServerTls::new(
            pki.issue_expired("old", &["localhost", "127.0.0.1"])
                .identity(),
        )),
    )
    .await;
    let status = Channel::builder(&https(&expired))
        .tls(good())
        .connect()
        .await
        .unwrap_err();
    assert!(status.message().contains("expired"), "{status}");
    expired.stop().await;

    // And through it all, a good client is served.
    let builder = Channel::builder(&https(&server)).tls(good());
    assert_eq!(greeting(builder, "still").await, "Hello, still!");
    server.stop().await;
}

#[tokio::test]
async fn certificates_are_replaced_without_a_restart() {
    let old = Pki::new("old");
    let new = Pki::new("new");
    let tls = ServerTls::new(old.issue("server", &["127.0.0.1"]).identity());
    let server = TestServer::start(greeter::server().tls(tls.clone())).await;
    let trusting_new = || Channel::builder(&https(&server)).tls(trusting(&new));
    assert_eq!(
        trusting_new().connect().await.unwrap_err().code(),
        Code::Unavailable
    );
    tls.reload(new.issue("server", &["127.0.0.1"]).identity());
    let channel = trusting_new().connect().await.unwrap();
    let reply = GreeterClient::new(channel)
        .say_hello(hello("renewed"))
        .await
        .unwrap();
    assert_eq!(reply.message, "Hello, renewed!");
    server.stop().await;
}

/// A TLS handshake that never starts is cut at the handshake timeout, and others go on.
#[tokio::test]
async fn a_silent_client_is_cut_at_the_handshake_timeout() {
    let pki = Pki::new("silent");
    let tls = ServerTls::new(pki.issue("server", &["127.0.0.1"]).identity());
    let server = TestServer::start(
        greeter::server()
            .tls(tls)
            .handshake_timeout(Duration::from_millis(300)),
    )
    .await;
    let mut silent = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let mut buffer = [0u8; 16];
    let read = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::io::AsyncReadExt::read(&mut silent, &mut buffer),
    )
    .await
    .expect("the server closed the silent connection");
    assert_eq!(read.unwrap(), 0);
    server.stop().await;
}

fn tls_client_script() -> Command {
    let mut command = Command::new(python());
    command.arg(root().join("tests/python/tls_client.py"));
    command
}

/// Runs a foreign TLS client (`tls_client.py` or `tls_client.js`) once against `server` by the
/// name `localhost`, trusting `pki`, presenting `client` if given, greeting `name`.
async fn foreign_call(
    mut client_script: Command,
    server: &TestServer,
    pki: &Pki,
    client: Option<&support::certs::Issued>,
    name: &str,
) -> std::process::Output {
    client_script
        .arg(format!("localhost:{}", server.addr.port()))
        .arg("--ca")
        .arg(pki.ca())
        .args(["--name", name]);
    if let Some(client) = client {
        client_script
            .arg("--cert")
            .arg(&client.cert)
            .arg("--key")
            .arg(&client.key);
    }
    client_script.output().await.unwrap()
}

fn node_tls_client() -> Command {
    let mut command = support::node();
    command.arg(root().join("tests/interop/node/tls_client.js"));
    command
}

#[tokio::test]
async fn grpcio_calls_the_rust_server_over_tls_and_mutual_tls() {
    let pki = Pki::new("grpcio-client");
    let server = tls_server(&pki, false).await;
    let output = foreign_call(tls_client_script(), &server, &pki, None, "world").await;
    assert_eq!(succeeded("tls_client.py", &output).trim(), "Hello, world!");
    server.stop().await;

    let server = tls_server(&pki, true).await;
    let client = pki.issue("client", &["python.test"]);
    let output = foreign_call(tls_client_script(), &server, &pki, Some(&client), "mutual").await;
    assert_eq!(succeeded("tls_client.py", &output).trim(), "Hello, mutual!");
    // Without its certificate, grpcio is refused.
    let output = foreign_call(tls_client_script(), &server, &pki, None, "world").await;
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stdout).starts_with("UNAVAILABLE"),
        "{output:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_rust_client_calls_grpcio_over_tls_and_mutual_tls() {
    let pki = Pki::new("grpcio-server");
    let server_cert = pki.issue("server", &["localhost", "127.0.0.1"]);
    let client = pki.issue("client", &["rust.test"]);
    let server = ServerProcess::spawn(
        Command::new(python())
            .arg(root().join("tests/python/tls_server.py"))
            .arg("127.0.0.1:0")
            .arg("--cert")
            .arg(&server_cert.cert)
            .arg("--key")
            .arg(&server_cert.key)
            .arg("--client-ca")
            .arg(pki.ca()),
    )
    .await;
    let channel = Channel::builder(&format!("https://{}", server.addr))
        .tls(trusting(&pki).identity(client.identity()))
        .connect()
        .await
        .unwrap();
    let reply = GreeterClient::new(channel)
        .say_hello(hello("grpcio"))
        .await
        .unwrap();
    // grpcio's server reports the verified client certificate's name: mutual TLS took place.
    assert_eq!(reply.message, "Hello, grpcio! (client client)");
    let (exited_cleanly, _) = server.terminate().await;
    assert!(exited_cleanly);
}

#[tokio::test]
async fn grpc_js_calls_the_rust_server_over_tls_and_mutual_tls() {
    let pki = Pki::new("grpc-js");
    let server = tls_server(&pki, true).await;
    let client = pki.issue("client", &["node.test"]);
    let output = foreign_call(node_tls_client(), &server, &pki, Some(&client), "node").await;
    assert_eq!(succeeded("tls_client.js", &output).trim(), "Hello, node!");
    server.stop().await;
}

#[tokio::test]
async fn unix_sockets_rust_to_rust_and_with_grpcio() {
    let dir = std::env::temp_dir().join(format!("protoless-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("greeter.sock");
    let server = ServerProcess::spawn(
        Command::new(example("greeter")).args(["serve", &format!("unix://{}", path.display())]),
    )
    .await;
    assert_eq!(server.addr, format!("unix://{}", path.display()));
    let call = Command::new(example("greeter"))
        .args(["call", &format!("unix:{}", path.display()), "--count", "2"])
        .output()
        .await
        .unwrap();
    assert_eq!(
        succeeded("greeter call", &call),
        "Hello, world!\nHello, world!\n"
    );
    let output = Command::new(python())
        .arg(root().join("tests/python/unix_client.py"))
        .arg(format!("unix:{}", path.display()))
        .output()
        .await
        .unwrap();
    assert_eq!(succeeded("unix_client.py", &output).trim(), "Hello, world!");
    let (exited_cleanly, _) = server.terminate().await;
    assert!(exited_cleanly);
    assert!(!path.exists(), "the socket file outlived the server");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Each refused connection leaves a log line on the server's stderr saying why: plaintext, an
/// expired client certificate, none at all.
#[tokio::test]
async fn refused_connections_are_logged_by_the_example_server() {
    let pki = Pki::new("logged");
    let server_cert = pki.issue("server", &["localhost", "127.0.0.1"]);
    let log = pki.dir().join("server.log");
    let server = ServerProcess::spawn_with_stderr(
        Command::new(example("greeter"))
            .args(["serve", "127.0.0.1:0", "--tls-cert"])
            .arg(&server_cert.cert)
            .arg("--tls-key")
            .arg(&server_cert.key)
            .arg("--client-ca")
            .arg(pki.ca()),
        std::fs::File::create(&log).unwrap().into(),
    )
    .await;
    let target = format!("https://{}", server.addr);
    let plain = Channel::connect(&format!("http://{}", server.addr)).await;
    if let Ok(channel) = plain {
        let _ = GreeterClient::new(channel).say_hello(hello("x")).await;
    }
    let expired = pki.issue_expired("expired-client", &["old.test"]);
    for tls in [trusting(&pki).identity(expired.identity()), trusting(&pki)] {
        if let Ok(channel) = Channel::builder(&target).tls(tls).connect().await {
            let refused = GreeterClient::new(channel).say_hello(hello("x")).await;
            assert_eq!(refused.unwrap_err().code(), Code::Unavailable);
        }
    }
    let good = trusting(&pki).identity(pki.issue("client", &["ok.test"]).identity());
    let channel = Channel::builder(&target).tls(good).connect().await.unwrap();
    let reply = GreeterClient::new(channel)
        .say_hello(hello("ok"))
        .await
        .unwrap();
    assert_eq!(reply.message, "Hello, ok!");
    let (exited_cleanly, _) = server.terminate().await;
    assert!(exited_cleanly);
    let log = std::fs::read_to_string(&log).unwrap();
    let refusals: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("TLS handshake failed"))
        .collect();
    assert_eq!(refusals.len(), 3, "{log}");
    assert!(refusals[1].contains("expired"), "{log}");
}

/// `greeter serve` over TLS and `greeter call` with `--ca` and a client certificate, as a user
/// runs them; a failed call prints `CODE: MESSAGE` and exits 1.
#[tokio::test]
async fn the_greeter_contract_over_mutual_tls() {
    let pki = Pki::new("contract");
    let server_cert = pki.issue("server", &["localhost", "127.0.0.1"]);
    let client = pki.issue("client", &["cli.test"]);
    let server = ServerProcess::spawn(
        Command::new(example("greeter"))
            .args(["serve", "127.0.0.1:0", "--tls-cert"])
            .arg(&server_cert.cert)
            .arg("--tls-key")
            .arg(&server_cert.key)
            .arg("--client-ca")
            .arg(pki.ca()),
    )
    .await;
    let call = |with_identity: bool| {
        let mut command = Command::new(example("greeter"));
        command
            .args(["call", &server.addr, "--name", "cli", "--ca"])
            .arg(pki.ca());
        if with_identity {
            command
                .arg("--cert")
                .arg(&client.cert)
                .arg("--key")
                .arg(&client.key);
        }
        command.output()
    };
    let output = call(true).await.unwrap();
    assert_eq!(succeeded("greeter call", &output), "Hello, cli!\n");
    let refused = call(false).await.unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).starts_with("UNAVAILABLE: "),
        "{refused:?}"
    );
    let usage = Command::new(example("greeter"))
        .args(["call", &server.addr, "--count"])
        .output()
        .await
        .unwrap();
    assert_eq!(usage.status.code(), Some(2));
    let (exited_cleanly, _) = server.terminate().await;
    assert!(exited_cleanly);
}

/// An HTTP CONNECT proxy (hyper's server) that counts the tunnels it opens.
async fn connect_proxy() -> (String, Arc<AtomicUsize>) {
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let tunnels = Arc::new(AtomicUsize::new(0));
    let counted = tunnels.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let counted = counted.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let counted = counted.clone();
                    async move {
                        assert_eq!(request.method(), hyper::Method::CONNECT);
                        let target = request.uri().authority().unwrap().to_string();
                        counted.fetch_add(1, Ordering::SeqCst);
                        tokio::spawn(async move {
                            let tunnel = hyper::upgrade::on(request).await.unwrap();
                            let mut upstream =
                                tokio::net::TcpStream::connect(target).await.unwrap();
                            let mut tunnel = TokioIo::new(tunnel);
                            let _ = tokio::io::copy_bidirectional(&mut tunnel, &mut upstream).await;
                        });
                        let ok = hyper::Response::new(http_body_util::Empty::<bytes::Bytes>::new());
                        Ok::<_, std::convert::Infallible>(ok)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(socket), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    (url, tunnels)
}

/// TLS runs inside the tunnel: the proxy sees only the CONNECT.
#[tokio::test]
async fn calls_go_through_an_http_connect_proxy() {
    let pki = Pki::new("proxy");
    let server = tls_server(&pki, false).await;
    let (proxy, tunnels) = connect_proxy().await;
    let builder = Channel::builder(&https(&server))
        .tls(trusting(&pki))
        .proxy(&proxy);
    assert_eq!(greeting(builder, "tunnel").await, "Hello, tunnel!");
    assert_eq!(tunnels.load(Ordering::SeqCst), 1);
    server.stop().await;
}

/// The environment's grpc_proxy is honoured, and no_proxy exempts the hosts it lists.
#[tokio::test]
async fn grpc_proxy_and_no_proxy_from_the_environment() {
    let server = TestServer::start(greeter::server()).await;
    let (proxy, tunnels) = connect_proxy().await;
    let call = |no_proxy: &str| {
        Command::new(example("greeter"))
            .args(["call", &server.addr.to_string()])
            .env("grpc_proxy", &proxy)
            .env("no_proxy", no_proxy)
            .output()
    };
    let output = call("").await.unwrap();
    assert_eq!(succeeded("greeter call", &output), "Hello, world!\n");
    assert_eq!(tunnels.load(Ordering::SeqCst), 1);
    let output = call("localhost,127.0.0.1").await.unwrap();
    assert_eq!(succeeded("greeter call", &output), "Hello, world!\n");
    assert_eq!(
        tunnels.load(Ordering::SeqCst),
        1,
        "no_proxy was not honoured"
    );
    server.stop().await;
}
