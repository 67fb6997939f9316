use protoless::{Message, Status};

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
    async fn calc_stream(&self, req: Req) -> Result<Resp, Status>;
    #[allow(non_snake_case)]
    async fn CalcStream(&self, req: Req) -> Result<Resp, Status>;
}

fn main() {}
