use protoless::Message;

#[derive(Message)]
pub struct Index {
    pub by_key: std::collections::BTreeMap<Vec<u8>, i32>,
}

fn main() {}
