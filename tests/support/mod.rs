//! Helpers shared by the integration tests: the example services, servers on port 0, and
//! processes of other gRPC stacks.

#![allow(dead_code, unreachable_pub)] // each test file uses its own subset
#![allow(clippy::duplicate_mod)] // see the examples below

pub mod certs;
pub mod etcd;
pub mod raw_h2;

// The examples themselves, so that the tests exercise exactly what users run. Each example is
// its own binary and so includes the shared command-line module itself.
#[path = "../../examples/cache.rs"]
pub mod cache;
#[path = "../../examples/common/etcd.rs"]
pub mod cluster_etcd;
#[path = "../../examples/greeter.rs"]
pub mod greeter;
#[path = "../../examples/interop.rs"]
pub mod interop;
#[path = "../../examples/pi.rs"]
pub mod pi;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::OnceLock;

use protoless::Server;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A protoless server in this process on an ephemeral port.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl TestServer {
    pub async fn start(server: Server) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.serve_with_listener(listener, async {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            stop: Some(stop),
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Starts a graceful shutdown and returns the task that completes once it has drained.
    pub fn begin_shutdown(mut self) -> JoinHandle<std::io::Result<()>> {
        let _ = self.stop.take().expect("shutdown begins once").send(());
        self.task
    }

    pub async fn stop(self) {
        self.begin_shutdown().await.unwrap().unwrap();
    }
}

/// The repository's root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Python with grpcio that the interop tests use: `$PROTOLESS_PYTHON`, or the repository's
/// `.venv`, which `scripts/python-env` creates or refreshes on first use.
pub fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            if let Some(python) = std::env::var_os("PROTOLESS_PYTHON") {
                return PathBuf::from(python);
            }
            let status = std::process::Command::new(root().join("scripts/python-env"))
                .status()
                .expect("scripts/python-env runs");
            assert!(
                status.success(),
                "scripts/python-env failed ({status}): it needs python3 with venv and access to PyPI"
            );
            root().join(".venv/bin/python")
        })
        .clone()
}

/// `node` with the packages `scripts/node-env` installed, or `$PROTOLESS_NODE_PATH`.
pub fn node() -> Command {
    static NODE_PATH: OnceLock<PathBuf> = OnceLock::new();
    let node_path = NODE_PATH.get_or_init(|| {
        if let Some(path) = std::env::var_os("PROTOLESS_NODE_PATH") {
            return PathBuf::from(path);
        }
        let output = std::process::Command::new(root().join("scripts/node-env"))
            .output()
            .expect("scripts/node-env runs");
        let path = succeeded("scripts/node-env (needs node and npm)", &output);
        PathBuf::from(path.trim())
    });
    let mut command = Command::new("node");
    command.env("NODE_PATH", node_path);
    command
}

/// A compiled example, which `cargo test` builds before running the tests.
pub fn example(name: &str) -> PathBuf {
    let test_binary = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test> -> target/<profile>/examples/<name>
    let path = test_binary
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "example binary {} is missing: run the tests with `cargo test`, which builds the examples",
        path.display()
    );
    path
}

/// A server in another process that prints `listening on HOST:PORT` when ready.
pub struct ServerProcess {
    pub addr: String,
    child: Child,
    output: tokio::task::JoinHandle<String>,
}

impl ServerProcess {
    pub async fn spawn(command: &mut Command) -> ServerProcess {
        Self::spawn_with_stderr(command, Stdio::inherit()).await
    }

    /// Like [`spawn`](Self::spawn), with the process's stderr going to `stderr`.
    pub async fn spawn_with_stderr(command: &mut Command, stderr: Stdio) -> ServerProcess {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .expect("server process starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines
            .next_line()
            .await
            .unwrap()
            .expect("server printed its address before exiting");
        let addr = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_owned();
        let output = tokio::spawn(async move {
            let mut rest = String::new();
            while let Ok(Some(line)) = lines.next_line().await {
                rest.push_str(&line);
                rest.push('\n');
            }
            rest
        });
        ServerProcess {
            addr,
            child,
            output,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("still running")
    }

    /// Sends SIGTERM and returns whether the process exited successfully, and what it printed.
    pub async fn terminate(mut self) -> (bool, String) {
        let pid = self.child.id().expect("still running").to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .unwrap();
        assert!(sent.success());
        let status = self.child.wait().await.unwrap();
        (status.success(), self.output.await.unwrap())
    }
}

/// The buf binary, installed from the npm registry by `scripts/buf-env` on first use.
pub fn buf() -> PathBuf {
    static BUF: OnceLock<PathBuf> = OnceLock::new();
    BUF.get_or_init(|| {
        let installed = std::process::Command::new(root().join("scripts/buf-env"))
            .output()
            .expect("scripts/buf-env runs");
        assert!(
            installed.status.success(),
            "scripts/buf-env failed (it needs npm and the npm registry):\n{}",
            String::from_utf8_lossy(&installed.stderr)
        );
        PathBuf::from(String::from_utf8(installed.stdout).unwrap().trim())
    })
    .clone()
}

/// Runs a Python script from `examples/python/`, returning its stdout; fails on a non-zero exit.
pub async fn run_python(script: &str, args: &[&str]) -> String {
    let output = Command::new(python())
        .arg(root().join("examples/python").join(script))
        .args(args)
        .output()
        .await
        .unwrap();
    succeeded(script, &output)
}

/// The stdout of `script`'s run; fails the test, with both outputs, on a non-zero exit.
pub fn succeeded(script: &str, output: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{script} failed ({}):\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Exports `schemas` into a fresh folder, runs `tests/python/<script> ADDR FOLDER` (which
/// generates its stubs from that export), and returns its stdout; fails on a non-zero exit.
pub async fn run_python_against(
    script: &str,
    addr: SocketAddr,
    schemas: impl IntoIterator<Item = protoless::schema::ServiceSchema>,
) -> String {
    let dir = std::env::temp_dir().join(format!(
        "protoless-{}-{}",
        script.trim_end_matches(".py"),
        std::process::id()
    ));
    protoless::schema::export(&dir, schemas).unwrap();
    let output = Command::new(python())
        .arg(root().join("tests/python").join(script))
        .arg(addr.to_string())
        .arg(&dir)
        .output()
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    succeeded(script, &output)
}
