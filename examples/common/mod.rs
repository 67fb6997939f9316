//! The command line every example shares:
//!
//! - no arguments: a self-contained demo (a server on an ephemeral port, the Rust client calling
//!   it), which prints what happens and exits 0;
//! - `serve ADDR [--tls-cert FILE --tls-key FILE [--client-ca FILE]]`: serve until Ctrl-C or
//!   SIGTERM, then shut down gracefully; ADDR is `HOST:PORT`, `unix:PATH` or `unix:///ABS_PATH`;
//!   the first line of output is `listening on HOST:PORT` (or `listening on unix:///ABS_PATH`),
//!   useful with port 0; the TLS options serve over TLS, requiring client certificates issued
//!   by `--client-ca` when given; examples that take `--register etcd://HOST:PORT/PREFIX
//!   [--advertise HOST:PORT]` register in etcd (printing `registered in etcd as KEY` next) and
//!   deregister when the shutdown starts, before draining;
//! - `proto`: print the exported `.proto` file.

#[allow(dead_code)] // only the cluster demo runs an etcd
pub(crate) mod etcd;

use std::error::Error;
use std::net::SocketAddr;

use protoless::{ClientTls, Identity, Listener, Server, ServerTls};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The options every example's `serve` takes, for TLS.
const TLS_OPTIONS: [&str; 3] = ["--tls-cert", "--tls-key", "--client-ca"];

/// What the command line asked for.
pub(crate) enum Mode {
    Demo,
    /// `serve ADDR [OPTION VALUE]...`: the address and the options after it.
    #[allow(dead_code)] // each example is its own crate, and only some take options
    Serve(String, Vec<(String, String)>),
    Proto,
}

/// Reads the command line, exiting with a usage message when it is not understood.
/// `options` names the `--option VALUE` pairs `serve` accepts.
pub(crate) fn mode(options: &[&str]) -> Mode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = || -> ! {
        let program = std::env::args().next().unwrap_or_default();
        let options: Vec<String> = options
            .iter()
            .map(|name| format!(" [{name} VALUE]..."))
            .collect();
        eprintln!(
            "usage: {program} [serve ADDR [--tls-cert FILE --tls-key FILE [--client-ca FILE]]{} \
             | proto]",
            options.concat()
        );
        std::process::exit(2);
    };
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] => Mode::Demo,
        ["proto"] => Mode::Proto,
        ["serve", addr, ref rest @ ..] => {
            if rest.len() % 2 != 0 {
                usage();
            }
            let pairs: Vec<(String, String)> = rest
                .chunks(2)
                .map(|pair| (pair[0].to_owned(), pair[1].to_owned()))
                .collect();
            let known = |name: &str| options.contains(&name) || TLS_OPTIONS.contains(&name);
            if pairs.iter().any(|(name, _)| !known(name)) {
                usage();
            }
            Mode::Serve(addr.to_owned(), pairs)
        }
        _ => usage(),
    }
}

/// Serves until Ctrl-C or SIGTERM on `addr` (`HOST:PORT` or a `unix:` path), over TLS when
/// `options` name a certificate, announcing the bound address first.
pub(crate) async fn serve(
    server: Server,
    addr: &str,
    options: &[(String, String)],
) -> Result<(), Box<dyn Error>> {
    // What the runtime reports (a connection whose TLS handshake failed, say) goes to stderr;
    // stdout stays the example's own.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
    let server = match server_tls(options)? {
        Some(tls) => server.tls(tls),
        None => server,
    };
    let listener = Listener::bind(addr).await?;
    let local = listener.local_addr();
    println!("listening on {local}");
    let registration = match option(options, "--register") {
        Some(etcd) => {
            let advertised = option(options, "--advertise").unwrap_or(&local);
            let registration = protoless::etcd::Registration::register(etcd, advertised).await?;
            println!("registered in etcd as {}", registration.key());
            Some(registration)
        }
        None => None,
    };
    let shutdown = async move {
        protoless::shutdown_signal().await;
        // Out of the registry first, so that clients stop sending new calls here; then drain.
        if let Some(registration) = registration {
            if let Err(status) = registration.revoke().await {
                eprintln!("deregistering failed ({status}); the entry expires with its lease");
            }
        }
    };
    server.serve_with_listener(listener, shutdown).await?;
    println!("shut down gracefully");
    Ok(())
}

/// The value of option `name`, if given.
pub(crate) fn option<'a>(options: &'a [(String, String)], name: &str) -> Option<&'a str> {
    options
        .iter()
        .find(|(option, _)| option == name)
        .map(|(_, value)| value.as_str())
}

/// TLS from `--tls-cert FILE --tls-key FILE [--client-ca FILE]`, if asked for.
fn server_tls(options: &[(String, String)]) -> Result<Option<ServerTls>, Box<dyn Error>> {
    let (cert, key) = match (option(options, "--tls-cert"), option(options, "--tls-key")) {
        (Some(cert), Some(key)) => (cert, key),
        (None, None) if option(options, "--client-ca").is_none() => return Ok(None),
        _ => return Err("--tls-cert and --tls-key go together (and --client-ca with them)".into()),
    };
    let tls = ServerTls::new(Identity::from_pem_files(cert, key)?);
    Ok(Some(match option(options, "--client-ca") {
        Some(ca) => tls.require_client_certificates(&std::fs::read(ca)?)?,
        None => tls,
    }))
}

/// TLS for a client from `--ca FILE` and `--cert FILE --key FILE`, if either is given: naming
/// and credentials are separate, so these turn TLS on whatever the target's scheme.
#[allow(dead_code)] // only the examples with a `call` subcommand use it
pub(crate) fn client_tls(
    ca: Option<&str>,
    cert: Option<&str>,
    key: Option<&str>,
) -> Result<Option<ClientTls>, Box<dyn Error>> {
    if ca.is_none() && cert.is_none() && key.is_none() {
        return Ok(None);
    }
    let mut tls = ClientTls::new();
    if let Some(ca) = ca {
        tls = tls.add_ca_certificate(&std::fs::read(ca)?)?;
    }
    match (cert, key) {
        (Some(cert), Some(key)) => tls = tls.identity(Identity::from_pem_files(cert, key)?),
        (None, None) => {}
        _ => return Err("--cert and --key go together".into()),
    }
    Ok(Some(tls))
}

/// The channel a `call` subcommand makes its calls on: to `target`, over `tls` if given,
/// balanced by `picker` (else gRPC's default, pick_first). A target that cannot be used is
/// reported as `CODE_NAME: MESSAGE` on stderr.
#[allow(dead_code)] // only the examples with a `call` subcommand use it
pub(crate) fn call_channel(
    target: &str,
    tls: Option<ClientTls>,
    picker: Option<std::sync::Arc<dyn protoless::balance::Picker>>,
) -> Result<protoless::Channel, protoless::Status> {
    let mut builder = protoless::Channel::builder(target);
    if let Some(tls) = tls {
        builder = builder.tls(tls);
    }
    if let Some(picker) = picker {
        builder = builder.picker(picker);
    }
    builder.lazy().inspect_err(report)
}

/// A failed call, as `call` subcommands print it: `CODE_NAME: MESSAGE` on stderr.
#[allow(dead_code)] // only the examples with a `call` subcommand use it
pub(crate) fn report(status: &protoless::Status) {
    eprintln!("{}: {}", status.code(), status.message());
}

/// The command line of an example that takes no options: runs `demo`, serves `server`, or
/// prints the `.proto` that `proto` renders.
#[allow(dead_code)] // the cache example parses options, so it reads the command line itself
pub(crate) async fn run<Demo>(
    server: fn() -> Server,
    demo: impl FnOnce() -> Demo,
    proto: impl FnOnce() -> Result<String, protoless::schema::SchemaError>,
) -> Result<(), Box<dyn Error>>
where
    Demo: std::future::Future<Output = Result<(), Box<dyn Error>>>,
{
    match mode(&[]) {
        Mode::Demo => demo().await,
        Mode::Serve(addr, options) => serve(server(), &addr, &options).await,
        Mode::Proto => {
            print!("{}", proto()?);
            Ok(())
        }
    }
}

/// A server running in the background on an ephemeral port, for the demo.
pub(crate) struct Background {
    pub(crate) addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Background {
    pub(crate) async fn start(server: Server) -> Result<Background, Box<dyn Error>> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.serve_with_listener(listener, async {
            let _ = stopped.await;
        }));
        Ok(Background { addr, stop, task })
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Shuts the server down, waiting for calls in flight.
    pub(crate) async fn stop(self) -> Result<(), Box<dyn Error>> {
        let _ = self.stop.send(());
        self.task.await??;
        Ok(())
    }
}
