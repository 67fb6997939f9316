//! A serde format as a gRPC codec in a few lines: JSON, as `application/grpc+json`, next to the
//! built-in protobuf and postcard, in all four call shapes.
//!
//! `cargo run --example json_codec` runs the demo; `serve ADDR` serves; `proto` prints the
//! `.proto` (the service is the same whatever the codec).

#[path = "common/mod.rs"]
mod common;

use protoless::health::HealthReporter;
use protoless::{
    erased_serde, stream, Channel, Codec, Message, SerdeFormat, Server, Status, Stream, Streaming,
};

/// JSON through serde_json: the whole codec.
pub struct Json;

impl SerdeFormat for Json {
    fn content_type(&self) -> &'static str {
        "application/grpc+json"
    }

    fn serialize(
        &self,
        value: &dyn erased_serde::Serialize,
        out: &mut Vec<u8>,
    ) -> Result<(), String> {
        let mut json = serde_json::Serializer::new(out);
        value
            .erased_serialize(&mut <dyn erased_serde::Serializer>::erase(&mut json))
            .map_err(|error| error.to_string())
    }

    fn deserialize(
        &self,
        bytes: &[u8],
        visit: &mut dyn FnMut(
            &mut dyn erased_serde::Deserializer,
        ) -> Result<(), erased_serde::Error>,
    ) -> Result<(), String> {
        let mut json = serde_json::Deserializer::from_slice(bytes);
        visit(&mut <dyn erased_serde::Deserializer>::erase(&mut json))
            .map_err(|error| error.to_string())
    }
}

/// The JSON codec, to pass to servers and calls.
pub static JSON: Json = Json;

/// A note to echo.
#[derive(Message, Clone, Debug, PartialEq)]
pub struct Note {
    /// Its text.
    pub text: String,
    /// Its position in a stream.
    pub index: u32,
}

/// Echoes notes in all four shapes.
#[protoless::service(package = "notes")]
pub trait Notes {
    /// One note back.
    async fn echo(&self, req: Note) -> Result<Note, Status>;
    /// The note, three times, numbered.
    async fn repeat(&self, req: Note) -> Result<impl Stream<Item = Result<Note, Status>>, Status>;
    /// All texts joined.
    async fn join(&self, reqs: Streaming<Note>) -> Result<Note, Status>;
    /// Each note back as it arrives, upper-cased.
    async fn shout(
        &self,
        reqs: Streaming<Note>,
    ) -> Result<impl Stream<Item = Result<Note, Status>>, Status>;
}

/// The `Notes` implementation.
pub struct Echo;

impl Notes for Echo {
    async fn echo(&self, req: Note) -> Result<Note, Status> {
        Ok(req)
    }

    async fn repeat(&self, req: Note) -> Result<impl Stream<Item = Result<Note, Status>>, Status> {
        Ok(stream::iter((1..=3).map(move |index| Note {
            text: req.text.clone(),
            index,
        })))
    }

    async fn join(&self, mut reqs: Streaming<Note>) -> Result<Note, Status> {
        let mut texts = Vec::new();
        while let Some(note) = reqs.message().await? {
            texts.push(note.text);
        }
        Ok(Note {
            text: texts.join(" "),
            index: texts.len() as u32,
        })
    }

    async fn shout(
        &self,
        mut reqs: Streaming<Note>,
    ) -> Result<impl Stream<Item = Result<Note, Status>>, Status> {
        Ok(stream::generate(move |mut out| async move {
            while let Some(note) = reqs.message().await? {
                out.send(Note {
                    text: note.text.to_uppercase(),
                    index: note.index,
                })
                .await;
            }
            Ok(())
        }))
    }
}

/// A server that also speaks JSON.
pub fn server() -> Server {
    Server::builder()
        .health(HealthReporter::new())
        .reflection()
        .accept_codec(Codec::Serde(&JSON))
        .add_service(NotesServer::new(Echo))
}

/// Calls every method through `channel`, checking each answer; returns what it saw.
pub async fn exercise(channel: Channel) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let client = NotesClient::new(channel);
    let note = |text: &str, index| Note {
        text: text.to_owned(),
        index,
    };
    let mut seen = Vec::new();
    let echoed = client.echo(note("hello", 7)).await?;
    assert_eq!(echoed, note("hello", 7));
    seen.push(format!("Echo -> {:?}", echoed.text));

    let mut repeated = client.repeat(note("again", 0)).await?;
    let mut indexes = Vec::new();
    while let Some(note) = repeated.message().await? {
        indexes.push(note.index);
    }
    assert_eq!(indexes, [1, 2, 3]);
    seen.push(format!("Repeat -> {indexes:?}"));

    let mut join = client.join().await?;
    for word in ["one", "two", "three"] {
        join.send(note(word, 0)).await?;
    }
    let joined = join.finish().await?;
    assert_eq!(joined, note("one two three", 3));
    seen.push(format!("Join -> {:?}", joined.text));

    let mut shout = client.shout().await?;
    for (index, word) in ["ping", "pong"].into_iter().enumerate() {
        shout.send(note(word, index as u32)).await?;
        let loud = shout.message().await?.ok_or("the stream ended early")?;
        assert_eq!(loud, note(&word.to_uppercase(), index as u32));
        seen.push(format!("Shout -> {:?}", loud.text));
    }
    shout.close_send()?;
    assert!(shout.message().await?.is_none());
    Ok(seen)
}

async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    let running = common::Background::start(server()).await?;
    let channel = Channel::connect(&running.url()).await?;
    for codec in [Codec::Serde(&JSON), Codec::Postcard, Codec::Protobuf] {
        for line in exercise(channel.clone().with_codec(codec)).await? {
            println!("{}: {line}", codec.content_type());
        }
    }
    running.stop().await?;
    println!("server stopped");
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::run(server, demo, || NotesServer::schema().to_proto()).await
}
