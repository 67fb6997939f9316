use protoless::Message;

#[derive(Message)]
pub struct Point {
    #[proto(sint, fixed)]
    pub x: i32,
}

fn main() {}
