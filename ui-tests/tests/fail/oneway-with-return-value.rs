use protoless::{Message, Status};

#[derive(Message)]
pub struct Event {
    pub name: String,
}

#[protoless::service(package = "test")]
pub trait Log {
    #[oneway]
    async fn record(&self, event: Event) -> Result<Event, Status>;
}

fn main() {}
