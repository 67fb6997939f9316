use protoless::Enumeration;

#[derive(Enumeration, Clone, Copy)]
pub enum Color {
    Unspecified,
    Rgb(u8, u8, u8),
}

fn main() {}
