//! The command line every example shares:
//!
//! - no arguments: a self-contained demo (a server on an ephemeral port, the Rust client calling
//!   it), which prints what happens and exits 0;
//! - `serve ADDR`: serve until Ctrl-C or SIGTERM, then shut down gracefully; the first line of
//!   output is `listening on HOST:PORT` (useful with port 0);
//! - `proto`: print the exported `.proto` file.

use std::error::Error;
use std::net::SocketAddr;

use protoless::Server;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

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
        eprintln!("usage: {program} [serve ADDR{} | proto]", options.concat());
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
            if pairs
                .iter()
                .any(|(name, _)| !options.contains(&name.as_str()))
            {
                usage();
            }
            Mode::Serve(addr.to_owned(), pairs)
        }
        _ => usage(),
    }
}

/// Serves until Ctrl-C or SIGTERM, announcing the bound address first. `server` gets the
/// address it will serve on (a service may call another one on the same server).
pub(crate) async fn serve(
    server: impl FnOnce(SocketAddr) -> Server,
    addr: &str,
) -> Result<(), Box<dyn Error>> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    println!("listening on {addr}");
    let server = server(addr);
    server
        .serve_with_listener(listener, protoless::shutdown_signal())
        .await?;
    println!("shut down gracefully");
    Ok(())
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
        Mode::Serve(addr, _) => serve(|_| server(), &addr).await,
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
    pub(crate) async fn start(
        server: impl FnOnce(SocketAddr) -> Server,
    ) -> Result<Background, Box<dyn Error>> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = server(addr);
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
