use protoless::Message;

#[derive(Message)]
pub enum Shape {
    Circle(f64),
    Rectangle(f64, f64),
}

fn main() {}
