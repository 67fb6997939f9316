use protoless::Message;

#[derive(Message)]
pub enum Shape {
    Circle,
}

fn main() {}
