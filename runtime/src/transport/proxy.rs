//! HTTP CONNECT proxies, as grpcio and grpc-go use them: the proxy named by `grpc_proxy`,
//! `https_proxy` or `http_proxy` (the first set, lower or upper case), unless the target's host
//! is listed in `no_grpc_proxy` or `no_proxy`. The tunnel is made with hyper's HTTP/1.1 client;
//! TLS, if any, runs inside it.

use http::{Method, Request, StatusCode, Uri};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::Status;

/// A proxy to tunnel through, with its credentials if the URL carried any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Proxy {
    /// `host:port` of the proxy.
    address: String,
    /// `Basic ...` for `Proxy-Authorization`, from the URL's `user:password@`.
    authorization: Option<String>,
}

impl Proxy {
    /// The proxy from `url` (`http://[user:password@]host[:port]`; the scheme may be left out).
    pub(crate) fn from_url(url: &str) -> Result<Proxy, Status> {
        let invalid = |why: &str| Status::invalid_argument(format!("proxy {url:?}: {why}"));
        let with_scheme;
        let url = if url.contains("://") {
            url
        } else {
            with_scheme = format!("http://{url}");
            &with_scheme
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| invalid("no scheme"))?;
        if scheme != "http" {
            return Err(invalid(
                "only http:// proxies are supported (CONNECT over TCP)",
            ));
        }
        let authority = rest.split('/').next().unwrap_or_default();
        let (credentials, host_port) = match authority.rsplit_once('@') {
            Some((credentials, host_port)) => (Some(credentials), host_port),
            None => (None, authority),
        };
        let uri: Uri = format!("http://{host_port}")
            .parse()
            .map_err(|_| invalid("malformed host"))?;
        let host_port = uri.authority().ok_or_else(|| invalid("no host"))?;
        let address = format!(
            "{}:{}",
            host_port.host(),
            host_port.port_u16().unwrap_or(80)
        );
        let authorization = credentials
            .map(|credentials| format!("Basic {}", crate::base64::encode(credentials.as_bytes())));
        Ok(Proxy {
            address,
            authorization,
        })
    }

    /// The proxy the environment names for `host`, if any.
    pub(crate) fn from_environment(host: &str) -> Option<Proxy> {
        let url = ["grpc_proxy", "https_proxy", "http_proxy"]
            .into_iter()
            .find_map(variable)?;
        let excluded = ["no_grpc_proxy", "no_proxy"]
            .into_iter()
            .filter_map(variable)
            .any(|list| excludes(&list, host));
        if excluded {
            return None;
        }
        match Proxy::from_url(&url) {
            Ok(proxy) => Some(proxy),
            Err(status) => {
                tracing::warn!(
                    "ignoring the proxy from the environment: {}",
                    status.message()
                );
                None
            }
        }
    }

    /// A TCP stream to `target` (`host:port`) tunnelled through this proxy.
    pub(crate) async fn connect(
        &self,
        target: &str,
    ) -> Result<TokioIo<hyper::upgrade::Upgraded>, Status> {
        let failed = |what: &dyn std::fmt::Display| {
            Status::unavailable(format!(
                "failed to connect to {target} through the proxy {}: {what}",
                self.address
            ))
        };
        let stream = TcpStream::connect(&self.address)
            .await
            .map_err(|error| failed(&error))?;
        let _ = stream.set_nodelay(true);
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|error| failed(&error))?;
        tokio::spawn(async move {
            // Hands the socket over to the tunnel once the proxy said yes.
            let _ = connection.with_upgrades().await;
        });
        let mut request = Request::builder()
            .method(Method::CONNECT)
            .uri(target)
            .header(http::header::HOST, target);
        if let Some(authorization) = &self.authorization {
            request = request.header(http::header::PROXY_AUTHORIZATION, authorization);
        }
        let request = request
            .body(Empty::<bytes::Bytes>::new())
            .map_err(|error| failed(&error))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|error| failed(&error))?;
        if response.status() != StatusCode::OK {
            return Err(failed(&format_args!(
                "the proxy answered {} to CONNECT",
                response.status()
            )));
        }
        let tunnel = hyper::upgrade::on(response)
            .await
            .map_err(|error| failed(&error))?;
        Ok(TokioIo::new(tunnel))
    }
}

fn variable(name: &str) -> Option<String> {
    std::env::var(name)
        .or_else(|_| std::env::var(name.to_uppercase()))
        .ok()
        .filter(|value| !value.trim().is_empty())
}

/// Whether a `no_proxy` list (`host`, `.domain`, `domain`, `*`, comma-separated) covers `host`.
fn excludes(list: &str, host: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    list.split(',').map(str::trim).any(|entry| {
        let entry = entry.to_ascii_lowercase();
        let entry = entry.trim_start_matches('.');
        entry == "*"
            || (!entry.is_empty() && (host == entry || host.ends_with(&format!(".{entry}"))))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls_with_and_without_credentials() {
        let proxy = Proxy::from_url("http://user:secret@proxy.internal:3128").unwrap();
        assert_eq!(proxy.address, "proxy.internal:3128");
        assert_eq!(
            proxy.authorization.as_deref(),
            Some("Basic dXNlcjpzZWNyZXQ=")
        );
        let bare = Proxy::from_url("10.0.0.1").unwrap();
        assert_eq!(bare.address, "10.0.0.1:80");
        assert_eq!(bare.authorization, None);
        assert!(Proxy::from_url("socks5://proxy:1080").is_err());
    }

    #[test]
    fn no_proxy_lists_match_hosts_and_domains() {
        assert!(excludes("localhost,.internal", "localhost"));
        assert!(excludes("localhost, .internal", "api.internal"));
        assert!(excludes("internal", "api.internal"));
        assert!(!excludes("internal", "notinternal"));
        assert!(excludes("*", "anything"));
        assert!(!excludes("", "anything"));
        assert!(excludes("::1", "[::1]"));
    }
}
