//! A real etcd for the scale-out tests (the examples' [`LocalEtcd`]), with etcdctl at hand.

pub(crate) use super::cluster_etcd::LocalEtcd as Etcd;

impl Etcd {
    /// Starts an etcd, or returns `None` after saying why when it cannot be installed because
    /// this does not run as root; under `CI=true` that fails the test instead.
    pub async fn start_or_skip() -> Option<Etcd> {
        match Etcd::start().await {
            Ok(etcd) => Some(etcd),
            Err(why) => {
                assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
                eprintln!("skipped: {why}");
                None
            }
        }
    }

    /// The keys and values under `prefix`, as etcdctl reads them.
    pub async fn get_prefix(&self, prefix: &str) -> Vec<(String, String)> {
        let output = self.etcdctl(&["get", "--prefix", prefix]).await.unwrap();
        assert!(output.status.success(), "etcdctl get failed: {output:?}");
        let text = String::from_utf8(output.stdout).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        lines
            .chunks(2)
            .map(|pair| (pair[0].to_owned(), pair.get(1).unwrap_or(&"").to_string()))
            .collect()
    }
}
