use protoless::Message;

#[derive(Message)]
pub struct Point {
    pub xy: (i32, i32),
}

fn main() {}
