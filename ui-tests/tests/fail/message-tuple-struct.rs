use protoless::Message;

#[derive(Message)]
pub struct Point(pub i32, pub i32);

fn main() {}
