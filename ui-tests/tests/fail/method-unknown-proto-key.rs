use protoless::{Message, Status};

#[derive(Message)]
pub struct Req {}

#[protoless::service(package = "test")]
pub trait Store {
    #[proto(tag = 1)]
    async fn get(&self, req: Req) -> Result<Req, Status>;
}

fn main() {}
