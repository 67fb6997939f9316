// A Connect server from the Connect project itself (connect-node on Node's HTTP/1.1 server),
// implementing greeter from the .proto protoless exported: what tests/web.rs points the Rust
// client at, over the Connect protocol and over gRPC-Web. Prints its port, then serves until
// killed.
import * as http from "node:http";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { Greeter } from "./gen/helloworld/helloworld_pb";

function routes(router: ConnectRouter) {
  router.service(Greeter, {
    async sayHello(request, context) {
      context.responseHeader.set("served-by", "connect-node");
      context.responseTrailer.set("greeting-count", "1");
      if (request.name === "fail") {
        throw new ConnectError("asked to fail", Code.FailedPrecondition);
      }
      return { message: `Hello, ${request.name}! (${context.requestHeader.get("caller") ?? "?"})` };
    },
    async *lotsOfReplies(request) {
      for (let n = 1; n <= 3; n++) {
        yield { message: `Hello, ${request.name}! #${n}` };
      }
    },
    async lotsOfGreetings(requests) {
      const names: string[] = [];
      for await (const request of requests) {
        names.push(request.name);
      }
      return { message: `Hello, ${names.join(", ")}!` };
    },
  });
}

const server = http.createServer(connectNodeAdapter({ routes }));
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  if (address && typeof address === "object") {
    console.log(address.port);
  }
});
