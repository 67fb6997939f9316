use protoless::{Message, Status};

#[derive(Message)]
pub struct Ping {}

#[protoless::service(package = "ping", java_multiple_files = "yes")]
pub trait Pinger {
    async fn ping(&self, req: Ping) -> Result<Ping, Status>;
}

fn main() {}
