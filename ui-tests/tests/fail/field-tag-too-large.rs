use protoless::Message;

#[derive(Message)]
pub struct Point {
    #[proto(tag = 536870912)]
    pub x: i32,
}

fn main() {}
