use protoless::Message;

#[derive(Message)]
pub struct Point {
    pub x: i32,
    #[proto(json_name = "")]
    pub y: i32,
}

fn main() {}
