use protoless::{Message, Status};

#[derive(Message)]
pub struct Req {}

#[protoless::service(package = "test")]
pub trait Store {
    #[idempotent]
    #[no_side_effects]
    async fn get(&self, req: Req) -> Result<Req, Status>;
}

fn main() {}
