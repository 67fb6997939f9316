//! `pajamax-greeter ADDR`: pajamax's greeter server (SayHello answers `Hello, NAME!`), printing
//! `listening on ADDR` once it accepts connections.

use std::net::{TcpListener, TcpStream};

mod helloworld {
    pajamax::include_proto!("helloworld");
}

use helloworld::{Greeter, GreeterServer, HelloReply, HelloRequest};

struct Greetings;

impl Greeter for Greetings {
    fn say_hello(&self, req: HelloRequest) -> pajamax::Response<HelloReply> {
        Ok(HelloReply {
            message: format!("Hello, {}!", req.name),
        })
    }
}

fn main() {
    let Some(addr) = std::env::args().nth(1) else {
        eprintln!("usage: pajamax-greeter ADDR");
        std::process::exit(2);
    };
    // pajamax binds the address itself and does not report it: pick a free port first.
    let addr = TcpListener::bind(&addr)
        .and_then(|listener| listener.local_addr())
        .expect("a free address");
    let server = std::thread::spawn(move || {
        pajamax::Config::new()
            .add_service(GreeterServer::new(Greetings))
            .serve(addr)
    });
    // Report the address once a connection succeeds, not before.
    while TcpStream::connect(addr).is_err() {
        if server.is_finished() {
            panic!("pajamax stopped: {:?}", server.join());
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    println!("listening on {addr}");
    let _ = server.join();
}
