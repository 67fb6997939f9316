//! A local etcd for the demos and tests: Debian's etcd-server (installed by `scripts/etcd-env`
//! when missing), on loopback ports with a temporary data directory, stopped and removed when
//! dropped.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

/// A running etcd.
pub(crate) struct LocalEtcd {
    /// `127.0.0.1:PORT`, where it serves clients.
    pub(crate) endpoint: String,
    /// The directory holding `etcd` and `etcdctl`.
    pub(crate) bin: PathBuf,
    _child: Child,
    data: PathBuf,
}

impl LocalEtcd {
    /// Installs etcd if needed, starts it, and waits until it answers; or says why not.
    pub(crate) async fn start() -> Result<LocalEtcd, String> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let installed = Command::new(root.join("scripts/etcd-env"))
            .stderr(Stdio::inherit())
            .output()
            .await
            .map_err(|error| format!("scripts/etcd-env did not run: {error}"))?;
        if !installed.status.success() {
            return Err(
                "etcd is not installed and scripts/etcd-env could not install it \
                        (it needs root: apt-get install etcd-server etcd-client)"
                    .to_owned(),
            );
        }
        let bin = PathBuf::from(String::from_utf8_lossy(&installed.stdout).trim());
        let (client_port, peer_port) = (free_port()?, free_port()?);
        let data = std::env::temp_dir().join(format!(
            "protoless-etcd-{}-{client_port}",
            std::process::id()
        ));
        let client = format!("http://127.0.0.1:{client_port}");
        let peer = format!("http://127.0.0.1:{peer_port}");
        let child = Command::new(bin.join("etcd"))
            .args(["--name", "local", "--data-dir"])
            .arg(&data)
            .args([
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
            ])
            .args([
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
            ])
            .arg("--initial-cluster")
            .arg(format!("local={peer}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| format!("etcd did not start: {error}"))?;
        let etcd = LocalEtcd {
            endpoint: format!("127.0.0.1:{client_port}"),
            bin,
            _child: child,
            data,
        };
        let started = Instant::now();
        while !etcd
            .etcdctl(&["endpoint", "health"])
            .await?
            .status
            .success()
        {
            if started.elapsed() > Duration::from_secs(20) {
                return Err("etcd did not become healthy within 20 s".to_owned());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(etcd)
    }

    /// `etcd://ENDPOINT/PREFIX`.
    pub(crate) fn target(&self, prefix: &str) -> String {
        format!("etcd://{}/{prefix}", self.endpoint)
    }

    /// Runs etcdctl (API v3) against this etcd.
    pub(crate) async fn etcdctl(&self, args: &[&str]) -> Result<std::process::Output, String> {
        Command::new(self.bin.join("etcdctl"))
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints=http://{}", self.endpoint))
            .args(args)
            .output()
            .await
            .map_err(|error| format!("etcdctl did not run: {error}"))
    }
}

impl Drop for LocalEtcd {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

/// A port nothing listens on now.
fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|error| error.to_string())
}
