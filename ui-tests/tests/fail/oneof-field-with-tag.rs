use protoless::Message;

#[derive(Message)]
pub enum Shape {
    #[proto(tag = 3)]
    Circle(i32),
}

#[derive(Message)]
pub struct Drawing {
    #[proto(oneof, tag = 2)]
    pub shape: Option<Shape>,
}

fn main() {}
