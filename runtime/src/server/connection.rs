//! One HTTP/2 connection: the handshake, accepting streams, routing each call to its service, and
//! draining on shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use h2::server::SendResponse;
use h2::RecvStream;
use http::{Method, Request, Response, StatusCode};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use super::{ServerCall, Shared};
use crate::{timeout, Codec, Status};

/// Serves one connection until the peer closes it, or until shutdown has drained its calls.
pub(super) async fn serve(
    stream: TcpStream,
    _peer: SocketAddr,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let config = &shared.config;
    let handshake = h2::server::Builder::new()
        .max_concurrent_streams(config.max_concurrent_streams)
        .max_header_list_size(config.max_header_list_size)
        .initial_window_size(config.initial_stream_window_size)
        .initial_connection_window_size(config.initial_connection_window_size)
        .max_pending_accept_reset_streams(100)
        .max_local_error_reset_streams(Some(1024))
        .data_frame_budget(crate::flow::data_frame_budget(
            config.initial_connection_window_size,
        ))
        .handshake::<_, Bytes>(stream);
    let Ok(Ok(mut connection)) = tokio::time::timeout(config.handshake_timeout, handshake).await
    else {
        return;
    };
    let mut draining = *shutdown.borrow();
    if draining {
        connection.graceful_shutdown();
    }
    loop {
        tokio::select! {
            accepted = connection.accept() => match accepted {
                Some(Ok((request, respond))) => {
                    tokio::spawn(route(shared.clone(), request, respond));
                }
                // A protocol error or a closed socket ends the connection; h2 has already told
                // the peer what it could.
                Some(Err(_)) | None => break,
            },
            // Also fires when the server is gone without a signal: stop taking calls either way.
            _ = shutdown.changed(), if !draining => {
                draining = true;
                connection.graceful_shutdown();
            }
        }
    }
}

/// Checks the request's headers and hands the call to its service.
async fn route(
    shared: Arc<Shared>,
    request: Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
) {
    let (head, body) = request.into_parts();
    if head.method != Method::POST {
        return reply_http(&mut respond, StatusCode::METHOD_NOT_ALLOWED);
    }
    let content_type = head
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok());
    let Some(codec) = content_type.and_then(Codec::from_content_type) else {
        return reply_http(&mut respond, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    };
    let mut call = ServerCall {
        codec,
        body,
        respond,
        deadline: None,
        config: shared.config.clone(),
    };
    if let Some(value) = head.headers.get("grpc-timeout") {
        match timeout::parse(value.as_bytes()) {
            Some(timeout) => call.deadline = Some(Instant::now() + timeout),
            None => {
                return call.fail(&Status::internal(format!(
                    "malformed grpc-timeout: {value:?}"
                )))
            }
        }
    }
    let path = head.uri.path();
    let Some((service_name, method)) = path.strip_prefix('/').and_then(|rest| rest.split_once('/'))
    else {
        return call.fail(&Status::unimplemented(format!(
            "malformed method name: {path:?}"
        )));
    };
    let Some(service) = shared.services.get(service_name) else {
        return call.fail(&Status::unimplemented(format!(
            "unknown service {service_name}"
        )));
    };
    match service.call(method, call) {
        Ok(future) => future.await,
        Err(call) => call.fail(&Status::unimplemented(format!(
            "unknown method {method} for service {service_name}"
        ))),
    }
}

fn reply_http(respond: &mut SendResponse<Bytes>, status: StatusCode) {
    let mut response = Response::new(());
    *response.status_mut() = status;
    let _ = respond.send_response(response, true);
}
