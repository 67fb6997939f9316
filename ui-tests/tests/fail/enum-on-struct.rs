use protoless::Enumeration;

#[derive(Enumeration, Clone, Copy)]
pub struct Color {
    pub rgb: u32,
}

fn main() {}
