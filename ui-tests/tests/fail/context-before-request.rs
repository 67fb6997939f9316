use protoless::{Context, Message, Status};

#[derive(Message)]
pub struct Req {}

#[protoless::service(package = "test")]
pub trait Store {
    async fn get(&self, ctx: Context, req: Req) -> Result<Req, Status>;
}

fn main() {}
