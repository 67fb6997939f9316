use protoless::{Enumeration, Message, Status};

/// A request.
///
/// With a second paragraph.
#[derive(Message)]
pub struct Req {
    /// The mood.
    pub mood: Mood,
}

/// How it feels.
#[derive(Enumeration, Clone, Copy)]
pub enum Mood {
    /// Not said.
    Unspecified = 0,
    /** Happy, in a block comment. */
    Happy = 1,
}

/// Says how it feels.
#[protoless::service(package = "docs")]
pub trait Feelings {
    /// Asks.
    async fn ask(&self, req: Req) -> Result<Req, Status>;
}

fn main() {
    let proto = FeelingsServer::schema().to_proto().unwrap();
    for expected in [
        "// A request.\n//\n// With a second paragraph.\nmessage Req {",
        "  // The mood.\n  Mood mood = 1;",
        "// How it feels.\nenum Mood {",
        "  // Not said.\n  MOOD_UNSPECIFIED = 0;",
        "  // Happy, in a block comment.\n  MOOD_HAPPY = 1;",
        "// Says how it feels.\nservice Feelings {\n  // Asks.\n  rpc Ask(Req) returns (Req);",
    ] {
        assert!(proto.contains(expected), "missing {expected:?} in\n{proto}");
    }
}
