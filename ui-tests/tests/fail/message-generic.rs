use protoless::Message;

#[derive(Message)]
pub struct Wrapper<T> {
    pub inner: T,
}

fn main() {}
