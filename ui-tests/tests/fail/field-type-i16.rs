use protoless::Message;

#[derive(Message)]
pub struct Sample {
    pub level: i16,
}

fn main() {}
