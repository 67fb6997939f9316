use protoless::Message;

#[derive(Message)]
pub struct Point {
    #[proto(number = 3)]
    pub x: i32,
}

fn main() {}
