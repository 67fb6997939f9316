use protoless::Message;

#[derive(Message)]
pub struct Point {
    pub x: i32,
    #[proto(tag = 1)]
    pub y: i32,
}

fn main() {}
