use protoless::Enumeration;

#[derive(Enumeration, Clone, Copy)]
pub enum Color {
    Red = 1,
    Green = 2,
}

fn main() {}
