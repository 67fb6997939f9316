use protoless::{Message, Server, Status, Stream, Streaming};

#[derive(Message)]
pub struct Shared {
    pub id: u64,
}

#[protoless::service(package = "many")]
pub trait First {
    async fn one(&self, req: Shared) -> Result<Shared, Status>;
}

#[protoless::service(package = "many", name = "SecondService")]
pub trait Second {
    async fn two(&self, req: Shared) -> Result<(), Status>;
    async fn watch(&self, req: Shared) -> Result<impl Stream<Item = Result<Shared, Status>>, Status>;
    async fn upload(&self, reqs: Streaming<Shared>) -> Result<Shared, Status>;
}

struct Both;

impl First for Both {
    async fn one(&self, req: Shared) -> Result<Shared, Status> {
        Ok(req)
    }
}

impl Second for Both {
    async fn two(&self, _req: Shared) -> Result<(), Status> {
        Ok(())
    }
    async fn watch(&self, req: Shared) -> Result<impl Stream<Item = Result<Shared, Status>>, Status> {
        Ok(protoless::stream::iter(vec![req]))
    }
    async fn upload(&self, mut reqs: Streaming<Shared>) -> Result<Shared, Status> {
        let mut last = Shared { id: 0 };
        while let Some(req) = reqs.message().await? {
            last = req;
        }
        Ok(last)
    }
}

fn main() {
    let both = std::sync::Arc::new(Both);
    let _server = Server::builder()
        .add_service(FirstServer::from_arc(both.clone()))
        .add_service(SecondServer::from_arc(both));
    let mut file = protoless::schema::ProtoFile::new("many");
    file.add_service(FirstServer::schema()).unwrap();
    file.add_service(SecondServer::schema()).unwrap();
    let proto = file.render().unwrap();
    assert_eq!(proto.matches("message Shared {").count(), 1, "{proto}");
    assert!(proto.contains("service SecondService {"), "{proto}");
    assert!(proto.contains("rpc Two(Shared) returns (google.protobuf.Empty);"), "{proto}");
    assert!(proto.contains("import \"google/protobuf/empty.proto\";"), "{proto}");
}
