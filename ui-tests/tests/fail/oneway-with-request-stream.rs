use protoless::{Message, Streaming};

#[derive(Message)]
pub struct Event {
    pub name: String,
}

#[protoless::service(package = "test")]
pub trait Log {
    #[oneway]
    async fn record(&self, events: Streaming<Event>);
}

fn main() {}
