use protoless::Message;

#[derive(Message)]
pub struct Point {
    #[proto(tag = 19500)]
    pub x: i32,
}

fn main() {}
