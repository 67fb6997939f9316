use protoless::Message;

#[derive(Message)]
pub struct Point {
    pub x: i32,
    #[proto(name = "x")]
    pub other: i32,
}

fn main() {}
