use protoless::{Message, Status};

#[derive(Message)]
pub struct Req {
    pub r#type: String,
    pub r#match: i32,
}

#[derive(Message)]
pub struct Resp {}

#[protoless::service(package = "raw")]
pub trait Keywords {
    async fn r#match(&self, r#ref: Req) -> Result<Resp, Status>;
}

fn main() {
    let proto = KeywordsServer::schema().to_proto().unwrap();
    assert!(proto.contains("rpc Match(Req) returns (Resp);"), "{proto}");
    assert!(proto.contains("string type = 1;"), "{proto}");
    assert!(proto.contains("int32 match = 2;"), "{proto}");
}
