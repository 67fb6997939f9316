use protoless::Message;

#[derive(Message)]
pub struct Name {
    pub name: &'static str,
}

fn main() {}
