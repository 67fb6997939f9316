use protoless::Message;

#[derive(Message)]
#[proto(reserved(2, 5..=9))]
pub struct Account {
    pub id: i64,
    #[proto(tag = 6)]
    pub name: String,
}

fn main() {}
