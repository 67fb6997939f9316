use protoless::Message;

#[derive(Message)]
pub struct Name {
    #[proto(sint)]
    pub name: String,
}

fn main() {}
