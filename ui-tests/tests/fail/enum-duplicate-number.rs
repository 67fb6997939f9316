use protoless::Enumeration;

#[derive(Enumeration, Clone, Copy)]
pub enum Color {
    Unspecified = 0,
    Red = 1,
    Crimson = 1,
}

fn main() {}
