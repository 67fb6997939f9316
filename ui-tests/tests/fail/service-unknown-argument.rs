use protoless::{Message, Status};

#[derive(Message)]
pub struct Req {
    pub n: i32,
}

#[derive(Message)]
pub struct Resp {
    pub value: f64,
}

#[protoless::service(package = "test", version = 2)]
pub trait Calculator {
    async fn calc(&self, req: Req) -> Result<Resp, Status>;
}

fn main() {}
