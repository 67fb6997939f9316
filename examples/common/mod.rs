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
    Serve(String),
    Proto,
}

/// Reads the command line, exiting with a usage message when it is not understood.
pub(crate) fn mode() -> Mode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] => Mode::Demo,
        ["serve", addr] => Mode::Serve(addr.to_owned()),
        ["proto"] => Mode::Proto,
        _ => {
            let program = std::env::args().next().unwrap_or_default();
            eprintln!("usage: {program} [serve ADDR | proto]");
            std::process::exit(2);
        }
    }
}

/// Serves until Ctrl-C or SIGTERM, announcing the bound address first.
pub(crate) async fn serve(server: Server, addr: &str) -> Result<(), Box<dyn Error>> {
    let listener = TcpListener::bind(addr).await?;
    println!("listening on {}", listener.local_addr()?);
    server
        .serve_with_listener(listener, protoless::shutdown_signal())
        .await?;
    println!("shut down gracefully");
    Ok(())
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
