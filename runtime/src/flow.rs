//! Sending under HTTP/2 flow control: data goes out only as the peer's window allows, so a slow
//! reader slows the writer down instead of growing a buffer on this side.

use std::future::poll_fn;

use bytes::Bytes;
use h2::SendStream;

/// Sends `data` on `stream` in pieces no larger than the capacity h2 grants.
///
/// Fails when the stream was reset or the connection closed.
pub(crate) async fn send_flow_controlled(
    stream: &mut SendStream<Bytes>,
    mut data: Bytes,
) -> Result<(), h2::Error> {
    while !data.is_empty() {
        stream.reserve_capacity(data.len());
        match poll_fn(|cx| stream.poll_capacity(cx)).await {
            Some(Ok(0)) => {}
            Some(Ok(capacity)) => {
                let piece = data.split_to(capacity.min(data.len()));
                stream.send_data(piece, false)?;
            }
            Some(Err(error)) => return Err(error),
            // The stream can send no more: find out why (a reset carries its reason).
            None => return Err(closed_error(stream).await),
        }
    }
    Ok(())
}

async fn closed_error(stream: &mut SendStream<Bytes>) -> h2::Error {
    match poll_fn(|cx| stream.poll_reset(cx)).await {
        Ok(reason) => h2::Error::from(reason),
        Err(error) => error,
    }
}

/// The allowance of small DATA frames h2 may hold for a connection before it calls the peer a
/// flood (`ENHANCE_YOUR_CALM`), for a connection window of `connection_window` bytes.
///
/// gRPC peers such as grpc-go and grpcio send each message in its own DATA frame, so a window
/// full of small messages is ordinary traffic. h2's default allowance (half the window, counted
/// at 256 bytes less each frame's size) would close a connection that streams a few thousand
/// tiny messages in a burst. Sixteen windows cover bursts of messages down to ~16 bytes filling
/// the whole window; frames are drained into the reader's buffer as they arrive (see
/// `Streaming`), so h2 holds few of them for long. Memory stays bounded by the window itself.
pub(crate) fn data_frame_budget(connection_window: u32) -> usize {
    connection_window as usize * 16
}
