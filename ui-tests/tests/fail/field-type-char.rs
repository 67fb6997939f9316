use protoless::Message;

#[derive(Message)]
pub struct Letter {
    pub letter: char,
}

fn main() {}
