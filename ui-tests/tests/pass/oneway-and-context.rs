use protoless::{Context, Message, Status};

#[derive(Message)]
pub struct Event {
    pub name: String,
}

#[protoless::service(package = "log")]
pub trait Log {
    /// Fire and forget: the client returns once the request is sent.
    #[oneway]
    async fn record(&self, event: Event);
    /// Returns nothing, but the client waits for the empty answer.
    async fn flush(&self, event: Event, ctx: Context);
    /// Reads metadata and the deadline.
    async fn inspect(&self, event: Event, ctx: Context) -> Result<Event, Status>;
}

struct Recorder;

impl Log for Recorder {
    async fn record(&self, _event: Event) {}
    async fn flush(&self, _event: Event, ctx: Context) {
        let _ = ctx.remaining();
    }
    async fn inspect(&self, event: Event, ctx: Context) -> Result<Event, Status> {
        ctx.insert_trailer("seen", "yes").map_err(|error| Status::internal(error.to_string()))?;
        Ok(event)
    }
}

fn main() {
    let _server = LogServer::new(Recorder);
    let proto = LogServer::schema().to_proto().unwrap();
    assert!(proto.contains("rpc Record(Event) returns (google.protobuf.Empty);"), "{proto}");
    assert!(proto.contains("rpc Flush(Event) returns (google.protobuf.Empty);"), "{proto}");
    let _: fn(&LogClient) -> protoless::OnewayCall<Event> = |client| client.record(Event { name: String::new() });
    let _: fn(&LogClient) -> protoless::UnaryCall<Event, ()> = |client| client.flush(Event { name: String::new() });
}
