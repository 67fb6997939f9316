use protoless::Message;

#[derive(Message)]
#[proto(name = "Outer..Inner")]
pub struct Inner {
    pub x: i32,
}

fn main() {}
