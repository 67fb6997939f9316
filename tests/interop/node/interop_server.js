'use strict';
// A @grpc/grpc-js TestService server: the Node.js server peer of the gRPC interop suite
// (grpc/grpc doc/interop-test-descriptions.md, "Server" section).
//
//   NODE_PATH=$(scripts/node-env) node tests/interop/node/interop_server.js ADDR [--server-id ID]
//
// Binds ADDR (e.g. 127.0.0.1:0), prints `listening on HOST:PORT` as its first stdout line, and
// serves until SIGTERM or SIGINT.
//
// What grpc-js's server API cannot express, and so this server does not do:
// - CompressedRequest (expect_compressed): grpc-js decompresses requests before the handler
//   sees them and strips grpc-encoding from the metadata, so a handler cannot tell whether a
//   request was compressed. expect_compressed is ignored: both kinds of request succeed.
// - CompressedResponse (response_compressed, ResponseParameters.compressed): grpc-js's server
//   never compresses a response (it always sends the compressed flag 0 and `grpc-encoding:
//   identity`), so those fields are ignored and every response goes uncompressed.

const path = require('path');

// The packages, from NODE_PATH (see packages.js).
const { grpc, protoLoader } = require('./packages');

const USAGE = 'usage: interop_server.js ADDR [--server-id ID]';
const DEFAULT_SERVER_ID = 'grpc-js-interop-server';
const ECHO_INITIAL = 'x-grpc-test-echo-initial';
const ECHO_TRAILING = 'x-grpc-test-echo-trailing-bin';

function loadTestingPackage() {
  const definition = protoLoader.loadSync('grpc/testing/test.proto', {
    includeDirs: [path.resolve(__dirname, '..', 'proto')],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  return grpc.loadPackageDefinition(definition).grpc.testing;
}

function parseArgs(argv) {
  let addr = null;
  let serverId = DEFAULT_SERVER_ID;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--server-id' && i + 1 < argv.length) {
      serverId = argv[++i];
    } else if (arg.startsWith('--server-id=')) {
      serverId = arg.slice('--server-id='.length);
    } else if (!arg.startsWith('-') && addr === null) {
      addr = arg;
    } else {
      return null;
    }
  }
  return addr === null ? null : { addr, serverId };
}

// Echo Metadata, initial half: sent before anything else so it also reaches the client on calls
// that fail or send no message. Without the key nothing is sent early, so grpc-js keeps its
// default behaviour (headers with the first message, or a Trailers-Only error).
function echoInitialMetadata(call) {
  const values = call.metadata.get(ECHO_INITIAL);
  if (values.length === 0) {
    return;
  }
  const initial = new grpc.Metadata();
  for (const value of values) {
    initial.add(ECHO_INITIAL, value);
  }
  call.sendMetadata(initial);
}

// Echo Metadata, trailing half: the trailers every outcome of the call (OK or not) carries.
function echoTrailingMetadata(call) {
  const trailers = new grpc.Metadata();
  for (const value of call.metadata.get(ECHO_TRAILING)) {
    trailers.add(ECHO_TRAILING, value);
  }
  return trailers;
}

// Echo Status: the error the call must end with, or null when the request asks for none
// (an absent response_status, or code 0, means a normal reply).
function requestedStatus(responseStatus, trailers) {
  if (!responseStatus || responseStatus.code === 0) {
    return null;
  }
  return { code: responseStatus.code, details: responseStatus.message, metadata: trailers };
}

function invalidArgument(details, trailers) {
  return { code: grpc.status.INVALID_ARGUMENT, details, metadata: trailers };
}

// A payload of `size` zero bytes, or an error for what the server cannot produce.
// COMPRESSABLE is the only PayloadType in messages.proto; the descriptions want any other
// response_type refused with INVALID_ARGUMENT.
function makePayload(responseType, size, trailers) {
  if (responseType !== 'COMPRESSABLE') {
    return { error: invalidArgument(`unsupported response_type ${responseType}`, trailers) };
  }
  if (!Number.isInteger(size) || size < 0) {
    return { error: invalidArgument(`invalid response size ${size}`, trailers) };
  }
  return { payload: { type: 'COMPRESSABLE', body: Buffer.alloc(size) } };
}

function sleep(ms) {
  return new Promise(resolve => setTimeout(resolve, ms));
}

// Streams the responses one StreamingOutputCallRequest asks for, honouring interval_us as a
// sleep before each response. Writes are not awaited: grpc-js's Writable keeps them in order and
// only sends the status (call.end / 'error') after all of them. Returns the error the call must
// end with, or null.
async function streamResponses(call, request, trailers) {
  for (const params of request.response_parameters) {
    if (params.interval_us > 0) {
      await sleep(params.interval_us / 1000);
    }
    if (call.cancelled) {
      return null;
    }
    const { payload, error } = makePayload(request.response_type, params.size, trailers);
    if (error) {
      return error;
    }
    call.write({ payload });
  }
  return requestedStatus(request.response_status, trailers);
}

// Runs fn(request) for each request of a streaming call, one at a time and in arrival order,
// and finish() after the half-close. The first error fn returns (or throws) ends the call with
// it and stops the processing of any later request ("will not process any further messages").
function processRequests(call, trailers, fn, finish) {
  let chain = Promise.resolve();
  let stopped = false;
  const step = work => {
    chain = chain.then(async () => {
      if (stopped || call.cancelled) {
        return;
      }
      let error;
      try {
        error = await work();
      } catch (err) {
        error = { code: grpc.status.INTERNAL, details: String(err), metadata: trailers };
      }
      if (error && !call.cancelled) {
        stopped = true;
        call.emit('error', error);
      }
    });
  };
  call.on('data', request => step(() => fn(request)));
  call.on('end', () => step(finish));
}

function makeImplementation(serverId) {
  return {
    EmptyCall(call, callback) {
      echoInitialMetadata(call);
      const trailers = echoTrailingMetadata(call);
      callback(null, {}, trailers);
    },

    UnaryCall(call, callback) {
      echoInitialMetadata(call);
      const trailers = echoTrailingMetadata(call);
      const request = call.request;
      const status = requestedStatus(request.response_status, trailers);
      if (status) {
        callback(status, null, trailers);
        return;
      }
      const { payload, error } = makePayload(request.response_type, request.response_size, trailers);
      if (error) {
        callback(error, null, trailers);
        return;
      }
      const response = { payload, server_id: request.fill_server_id ? serverId : '' };
      callback(null, response, trailers);
    },

    StreamingOutputCall(call) {
      echoInitialMetadata(call);
      const trailers = echoTrailingMetadata(call);
      streamResponses(call, call.request, trailers).then(
        error => {
          if (call.cancelled) {
            return;
          }
          if (error) {
            call.emit('error', error);
          } else {
            call.end(trailers);
          }
        },
        err => call.emit('error', { code: grpc.status.INTERNAL, details: String(err), metadata: trailers }),
      );
    },

    StreamingInputCall(call, callback) {
      echoInitialMetadata(call);
      const trailers = echoTrailingMetadata(call);
      let total = 0;
      call.on('data', request => {
        total += request.payload ? request.payload.body.length : 0;
      });
      call.on('end', () => {
        if (!call.cancelled) {
          callback(null, { aggregated_payload_size: total }, trailers);
        }
      });
    },

    // Answers each request as soon as it arrives, then closes with OK after the half-close.
    FullDuplexCall(call) {
      echoInitialMetadata(call);
      const trailers = echoTrailingMetadata(call);
      processRequests(
        call,
        trailers,
        request => streamResponses(call, request, trailers),
        () => {
          call.end(trailers);
          return null;
        },
      );
    },

    // Answers nothing until the half-close, then all the buffered requests in order.
    HalfDuplexCall(call) {
      echoInitialMetadata(call);
      const trailers = echoTrailingMetadata(call);
      const buffered = [];
      processRequests(
        call,
        trailers,
        request => {
          buffered.push(request);
          return null;
        },
        async () => {
          for (const request of buffered) {
            const error = await streamResponses(call, request, trailers);
            if (error) {
              return error;
            }
          }
          call.end(trailers);
          return null;
        },
      );
    },

    // UnimplementedCall is deliberately absent: grpc-js answers a method without a handler
    // with UNIMPLEMENTED, which is what the unimplemented_method case checks.
  };
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  if (!args) {
    console.error(USAGE);
    process.exit(2);
  }
  const testing = loadTestingPackage();
  const server = new grpc.Server();
  server.addService(testing.TestService.service, makeImplementation(args.serverId));

  server.bindAsync(args.addr, grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) {
      console.error(`cannot bind ${args.addr}: ${err.message}`);
      process.exit(1);
    }
    // Report the address actually bound: the host as given, the port as chosen (ADDR may ask
    // for port 0).
    const host = args.addr.slice(0, args.addr.lastIndexOf(':'));
    console.log(`listening on ${host}:${port}`);
  });

  let stopping = false;
  const stop = () => {
    if (stopping) {
      return;
    }
    stopping = true;
    // tryShutdown waits for open calls and connections; a client that keeps its connection
    // open would hold it forever, so force the rest after a grace period.
    const force = setTimeout(() => {
      server.forceShutdown();
      process.exit(0);
    }, 5000);
    server.tryShutdown(() => {
      clearTimeout(force);
      process.exit(0);
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
