use protoless::Message;

#[derive(Message)]
pub struct Req {
    pub n: i32,
}

#[derive(Message)]
pub struct Resp {
    pub value: f64,
}

#[protoless::service(package = "test")]
pub trait Calculator {
    async fn calc(&self, req: Req) -> Resp;
}

fn main() {}
