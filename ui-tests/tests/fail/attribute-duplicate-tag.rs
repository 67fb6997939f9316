use protoless::Message;

#[derive(Message)]
pub struct Point {
    #[proto(tag = 3, tag = 4)]
    pub x: i32,
}

fn main() {}
