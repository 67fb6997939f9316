use protoless::Message;

#[derive(Message)]
pub struct Pixel {
    pub red: u8,
}

fn main() {}
