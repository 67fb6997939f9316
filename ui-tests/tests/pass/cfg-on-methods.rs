use protoless::{Message, Status};

#[derive(Message)]
pub struct Req {}

#[protoless::service(package = "cfg")]
pub trait Toggles {
    async fn always(&self, req: Req) -> Result<Req, Status>;
    #[cfg(any())]
    async fn never(&self, req: Req) -> Result<Req, Status>;
}

struct Implementation;

impl Toggles for Implementation {
    async fn always(&self, req: Req) -> Result<Req, Status> {
        Ok(req)
    }
}

fn main() {
    let _server = TogglesServer::new(Implementation);
    let schema = TogglesServer::schema();
    assert_eq!(schema.methods.len(), 1);
    assert_eq!(schema.methods[0].name, "Always");
}
