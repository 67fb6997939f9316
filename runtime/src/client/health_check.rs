//! Client-side health checking (gRFC A17): on each connection, a `grpc.health.v1.Health/Watch`
//! stream for one service; while the server reports anything but `SERVING`, the connection gets
//! no calls. A server without the health service (`UNIMPLEMENTED`) counts as healthy.

use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;
use http::{HeaderValue, Request, Uri};

use super::response::{status_from_h2, Head};
use crate::frame::{Encoding, DEFAULT_MAX_RECEIVE_MESSAGE_SIZE};
use crate::health::{HealthCheckRequest, HealthCheckResponse, ServingStatus};
use crate::{Code, Codec, Status};

/// How long to wait before watching again after the stream failed on a live connection.
const RETRY_DELAY: Duration = Duration::from_secs(1);

/// What the watch says of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Health {
    /// No answer yet: the connection counts as connecting.
    Unknown,
    /// `SERVING`, or no health service: calls go here.
    Serving,
    /// Anything else: no calls, as in transient failure.
    NotServing,
}

/// Watches `service`'s health on the connection `sender` until the connection ends, telling
/// `report` each change.
pub(crate) async fn watch(
    sender: SendRequest<Bytes>,
    uri: Uri,
    service: String,
    report: impl Fn(Health),
) {
    loop {
        match watch_once(sender.clone(), &uri, &service, &report).await {
            // A17: a server without the health service is healthy.
            Err(status) if status.code() == Code::Unimplemented => {
                report(Health::Serving);
                return;
            }
            // The connection is gone: its subchannel hears of it through its own task.
            Err(status)
                if status.code() == Code::Unavailable && sender.clone().ready().await.is_err() =>
            {
                return;
            }
            _ => {
                report(Health::NotServing);
                tokio::time::sleep(RETRY_DELAY).await;
            }
        }
    }
}

/// One `Watch` stream, reporting each status, until it ends (always with a failure: the
/// service never ends it while the connection lives).
async fn watch_once(
    sender: SendRequest<Bytes>,
    uri: &Uri,
    service: &str,
    report: &impl Fn(Health),
) -> Result<(), Status> {
    let mut sender = sender
        .ready()
        .await
        .map_err(|error| Status::unavailable(error.to_string()))?;
    let mut request = Request::new(());
    *request.method_mut() = http::Method::POST;
    *request.uri_mut() = uri.clone();
    let headers = request.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    headers.insert(http::header::TE, HeaderValue::from_static("trailers"));
    let (response, mut body) = sender
        .send_request(request, false)
        .map_err(|error| status_from_h2(&error))?;
    let encoding = Encoding {
        codec: Codec::Protobuf,
        compression: None,
        max_size: usize::MAX,
    };
    let message = encoding.encode(&HealthCheckRequest {
        service: service.to_owned(),
    })?;
    let _ = body.send_data(message, true);
    let response = response.await.map_err(|error| status_from_h2(&error))?;
    let mut statuses = match Head::read(response)? {
        Head::Ended(status) if status.code() == Code::Ok => {
            return Err(Status::unavailable("the health watch ended"))
        }
        Head::Ended(status) => return Err(status),
        head => head.into_streaming::<HealthCheckResponse>(
            Codec::Protobuf,
            DEFAULT_MAX_RECEIVE_MESSAGE_SIZE,
        ),
    };
    while let Some(answer) = statuses.message().await? {
        report(if answer.status == ServingStatus::Serving {
            Health::Serving
        } else {
            Health::NotServing
        });
    }
    Err(Status::unavailable("the health watch ended"))
}
