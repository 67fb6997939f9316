use protoless::Message;

#[derive(Message)]
#[proto(reserved("email"))]
pub struct Account {
    pub id: i64,
    pub email: String,
}

fn main() {}
