use protoless::Message;

#[derive(Message)]
pub struct Name<'a> {
    pub name: &'a str,
}

fn main() {}
