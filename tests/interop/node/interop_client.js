'use strict';
// A @grpc/grpc-js client running the gRPC interop test cases (grpc/grpc
// doc/interop-test-descriptions.md, "Client" section) against a TestService server.
//
//   NODE_PATH=$(scripts/node-env) node tests/interop/node/interop_client.js TARGET [--case NAME]...
//
// TARGET is HOST:PORT or http://HOST:PORT (plaintext). Without --case every case runs, in the
// order of CASES. Each case prints one line, `PASS NAME`, `FAIL NAME: REASON` or
// `SKIP NAME: REASON` (for what grpc-js's client API cannot express), and the last line is
// `N passed, M failed` (skips not counted). Exit status: 0 when nothing failed, 1 otherwise,
// 2 for a bad command line.

const path = require('path');

// The packages, from NODE_PATH (see packages.js).
const { grpc, protoLoader } = require('./packages');

const USAGE = 'usage: interop_client.js TARGET [--case NAME]...';

// Every call gets a deadline so that a misbehaving server fails a case instead of hanging it;
// the watchdog is the last resort for a case that waits on something other than a call.
const CALL_TIMEOUT_MS = 10000;
const CASE_WATCHDOG_MS = 60000;

const LARGE_REQUEST_SIZE = 271828;
const LARGE_RESPONSE_SIZE = 314159;
const REQUEST_STREAM_SIZES = [27182, 8, 1828, 45904];
const RESPONSE_STREAM_SIZES = [31415, 9, 2653, 58979];
const ECHO_INITIAL = 'x-grpc-test-echo-initial';
const ECHO_INITIAL_VALUE = 'test_initial_metadata_value';
const ECHO_TRAILING = 'x-grpc-test-echo-trailing-bin';
const ECHO_TRAILING_VALUE = Buffer.from([0xab, 0xab, 0xab]);
const SPECIAL_STATUS_MESSAGE = '\t\ntest with whitespace\r\nand Unicode BMP \u263A and non-BMP \u{1F608}\t\n';
// grpc-js's CompressionAlgorithms: 0 identity, 1 deflate, 2 gzip.
const GZIP = 2;

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

// ---------------------------------------------------------------------------------------------
// Helpers turning grpc-js's callbacks and events into promises.

class Skip extends Error {}

function options(timeoutMs = CALL_TIMEOUT_MS) {
  return { deadline: Date.now() + timeoutMs };
}

function zeros(size) {
  return { body: Buffer.alloc(size) };
}

function statusName(code) {
  return grpc.status[code] !== undefined ? grpc.status[code] : `code ${code}`;
}

// Starts a call whose response comes through a callback (unary, client streaming). The promise
// settles on 'status', which grpc-js emits after the callback, so by then the initial metadata,
// the response or error and the trailers are all known. It never rejects: cases that expect a
// failure inspect `error`.
function callbackCall(start) {
  let call;
  const outcome = new Promise(resolve => {
    let error = null;
    let response = null;
    let initial = null;
    call = start((err, res) => {
      error = err;
      response = res;
    });
    call.on('metadata', metadata => {
      initial = metadata;
    });
    call.on('status', status => resolve({ error, response, initial, status }));
  });
  return { call, outcome };
}

// Wraps a call whose responses come as a stream (server streaming, bidi): `next()` yields the
// responses one at a time (null after the last) and `finished` settles with the call's outcome
// and every response once the status is in and the responses are all read (or the call failed).
class ResponseReader {
  constructor(call) {
    this.call = call;
    this.responses = [];
    this.pending = [];
    this.waiter = null;
    this.ended = false;
    this.initial = null;
    this.error = null;
    this.finished = new Promise(resolve => {
      let status = null;
      const settle = () => {
        if (status && (this.ended || this.error)) {
          resolve({ error: this.error, status, initial: this.initial, responses: this.responses });
        }
      };
      call.on('metadata', metadata => {
        this.initial = metadata;
      });
      call.on('data', response => {
        this.responses.push(response);
        this.deliver(response);
      });
      call.on('end', () => {
        this.ended = true;
        this.deliver(null);
        settle();
      });
      call.on('error', err => {
        this.error = err;
        this.deliver(null);
        settle();
      });
      call.on('status', s => {
        status = s;
        settle();
      });
    });
  }

  deliver(response) {
    if (this.waiter) {
      const waiter = this.waiter;
      this.waiter = null;
      waiter(response);
    } else if (response !== null) {
      this.pending.push(response);
    }
  }

  next() {
    if (this.pending.length > 0) {
      return Promise.resolve(this.pending.shift());
    }
    if (this.ended || this.error) {
      return Promise.resolve(null);
    }
    return new Promise(resolve => {
      this.waiter = resolve;
    });
  }
}

// Throws unless the call ended OK.
function expectOk(outcome, what) {
  if (outcome.error) {
    throw new Error(`${what} failed: ${statusName(outcome.error.code)}: ${JSON.stringify(outcome.error.details)}`);
  }
}

// Throws unless the call ended with status `code` (and, when given, exactly `details`).
function expectStatus(outcome, code, what, details) {
  if (!outcome.error) {
    throw new Error(`${what}: expected ${statusName(code)}, got OK`);
  }
  if (outcome.error.code !== code) {
    throw new Error(`${what}: expected ${statusName(code)}, got ${statusName(outcome.error.code)}: ` +
      JSON.stringify(outcome.error.details));
  }
  if (details !== undefined && outcome.error.details !== details) {
    throw new Error(`${what}: expected message ${JSON.stringify(details)}, got ${JSON.stringify(outcome.error.details)}`);
  }
}

// Checks that a response payload is `size` zero bytes (the "golden response" the descriptions
// allow clients to compare against).
function expectPayload(payload, size, what) {
  if (!payload) {
    throw new Error(`${what}: response has no payload`);
  }
  if (payload.body.length !== size) {
    throw new Error(`${what}: payload body is ${payload.body.length} bytes, expected ${size}`);
  }
  if (payload.body.some(byte => byte !== 0)) {
    throw new Error(`${what}: payload body is not all zeros`);
  }
}

function expectPayloadSizes(responses, sizes, what) {
  if (responses.length !== sizes.length) {
    throw new Error(`${what}: got ${responses.length} responses, expected ${sizes.length}`);
  }
  responses.forEach((response, i) => expectPayload(response.payload, sizes[i], `${what} response ${i}`));
}

function unary(client, method, request, metadata = new grpc.Metadata(), timeoutMs = CALL_TIMEOUT_MS) {
  return callbackCall(done => client[method](request, metadata, options(timeoutMs), done)).outcome;
}

function largeUnaryRequest(extra) {
  return { response_size: LARGE_RESPONSE_SIZE, payload: zeros(LARGE_REQUEST_SIZE), ...extra };
}

function echoMetadata() {
  const metadata = new grpc.Metadata();
  metadata.set(ECHO_INITIAL, ECHO_INITIAL_VALUE);
  metadata.set(ECHO_TRAILING, ECHO_TRAILING_VALUE);
  return metadata;
}

// The custom_metadata assertions: the echoed key arrives in the initial metadata and the
// echoed binary key in the trailers, each with exactly the value sent.
function expectEchoedMetadata(initial, status, what) {
  const initialValues = initial ? initial.get(ECHO_INITIAL) : [];
  if (initialValues.length !== 1 || initialValues[0] !== ECHO_INITIAL_VALUE) {
    throw new Error(`${what}: initial metadata ${ECHO_INITIAL} is ${JSON.stringify(initialValues)}`);
  }
  const trailingValues = status.metadata.get(ECHO_TRAILING);
  if (trailingValues.length !== 1 || !Buffer.isBuffer(trailingValues[0]) ||
      !trailingValues[0].equals(ECHO_TRAILING_VALUE)) {
    const shown = trailingValues.map(v => (Buffer.isBuffer(v) ? v.toString('hex') : v));
    throw new Error(`${what}: trailing metadata ${ECHO_TRAILING} is ${JSON.stringify(shown)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The cases. Each gets the context `ctx` ({ client, testing, target, newClient }) and throws to
// fail (Skip to skip).

async function emptyUnary({ client }) {
  const outcome = await unary(client, 'EmptyCall', {});
  expectOk(outcome, 'EmptyCall');
  if (!outcome.response) {
    throw new Error('EmptyCall returned no response');
  }
}

async function largeUnary({ client }) {
  const outcome = await unary(client, 'UnaryCall', largeUnaryRequest());
  expectOk(outcome, 'UnaryCall');
  expectPayload(outcome.response.payload, LARGE_RESPONSE_SIZE, 'UnaryCall');
}

// grpc-js can compress a whole call (every message of it) through a channel option, so the
// compressed calls go through a second client made with 'grpc.default_compression_algorithm'.
async function clientCompressedUnary({ client, newClient }) {
  const probe = await unary(client, 'UnaryCall', largeUnaryRequest({ expect_compressed: { value: true } }));
  expectStatus(probe, grpc.status.INVALID_ARGUMENT, 'uncompressed probe with expect_compressed=true');

  const gzipClient = newClient({ 'grpc.default_compression_algorithm': GZIP });
  try {
    const compressed = await unary(gzipClient, 'UnaryCall', largeUnaryRequest({ expect_compressed: { value: true } }));
    expectOk(compressed, 'compressed UnaryCall');
    expectPayload(compressed.response.payload, LARGE_RESPONSE_SIZE, 'compressed UnaryCall');
  } finally {
    gzipClient.close();
  }

  const uncompressed = await unary(client, 'UnaryCall', largeUnaryRequest({ expect_compressed: { value: false } }));
  expectOk(uncompressed, 'uncompressed UnaryCall');
  expectPayload(uncompressed.response.payload, LARGE_RESPONSE_SIZE, 'uncompressed UnaryCall');
}

// grpc-js decompresses before handing a response over and does not expose the message's
// compressed flag, so only success and sizes are checked (the descriptions allow this: "some
// languages may not have access to the message flags").
async function serverCompressedUnary({ client }) {
  for (const compressed of [true, false]) {
    const what = `UnaryCall with response_compressed=${compressed}`;
    const outcome = await unary(client, 'UnaryCall', largeUnaryRequest({ response_compressed: { value: compressed } }));
    expectOk(outcome, what);
    expectPayload(outcome.response.payload, LARGE_RESPONSE_SIZE, what);
  }
}

async function clientStreaming({ client }) {
  const { call, outcome } = callbackCall(done => client.StreamingInputCall(new grpc.Metadata(), options(), done));
  for (const size of REQUEST_STREAM_SIZES) {
    call.write({ payload: zeros(size) });
  }
  call.end();
  const result = await outcome;
  expectOk(result, 'StreamingInputCall');
  const total = result.response.aggregated_payload_size;
  if (total !== 74922) {
    throw new Error(`aggregated_payload_size is ${total}, expected 74922`);
  }
}

async function clientCompressedStreaming() {
  throw new Skip('grpc-js cannot switch compression per message (compression is a channel ' +
    'option; its per-write NoCompress flag is internal, not public API)');
}

async function serverStreaming({ client }) {
  const request = { response_parameters: RESPONSE_STREAM_SIZES.map(size => ({ size })) };
  const reader = new ResponseReader(client.StreamingOutputCall(request, new grpc.Metadata(), options()));
  const result = await reader.finished;
  expectOk(result, 'StreamingOutputCall');
  expectPayloadSizes(result.responses, RESPONSE_STREAM_SIZES, 'StreamingOutputCall');
}

// Like serverCompressedUnary: grpc-js cannot see the compressed flag, so success and sizes only.
async function serverCompressedStreaming({ client }) {
  const request = {
    response_parameters: [
      { compressed: { value: true }, size: 31415 },
      { compressed: { value: false }, size: 92653 },
    ],
  };
  const reader = new ResponseReader(client.StreamingOutputCall(request, new grpc.Metadata(), options()));
  const result = await reader.finished;
  expectOk(result, 'StreamingOutputCall');
  expectPayloadSizes(result.responses, [31415, 92653], 'StreamingOutputCall');
}

async function pingPong({ client }) {
  const call = client.FullDuplexCall(new grpc.Metadata(), options());
  const reader = new ResponseReader(call);
  for (let i = 0; i < REQUEST_STREAM_SIZES.length; i++) {
    call.write({
      response_parameters: [{ size: RESPONSE_STREAM_SIZES[i] }],
      payload: zeros(REQUEST_STREAM_SIZES[i]),
    });
    const response = await reader.next();
    if (response === null) {
      const result = await reader.finished;
      expectOk(result, 'FullDuplexCall');
      throw new Error(`FullDuplexCall ended after ${i} responses, expected 4`);
    }
    expectPayload(response.payload, RESPONSE_STREAM_SIZES[i], `FullDuplexCall response ${i}`);
  }
  call.end();
  const result = await reader.finished;
  expectOk(result, 'FullDuplexCall');
  expectPayloadSizes(result.responses, RESPONSE_STREAM_SIZES, 'FullDuplexCall');
}

async function emptyStream({ client }) {
  const call = client.FullDuplexCall(new grpc.Metadata(), options());
  const reader = new ResponseReader(call);
  call.end();
  const result = await reader.finished;
  expectOk(result, 'FullDuplexCall');
  expectPayloadSizes(result.responses, [], 'FullDuplexCall');
}

async function customMetadata({ client }) {
  const unaryOutcome = await unary(client, 'UnaryCall', largeUnaryRequest(), echoMetadata());
  expectOk(unaryOutcome, 'UnaryCall');
  expectEchoedMetadata(unaryOutcome.initial, unaryOutcome.status, 'UnaryCall');

  const call = client.FullDuplexCall(echoMetadata(), options());
  const reader = new ResponseReader(call);
  call.write({ response_parameters: [{ size: LARGE_RESPONSE_SIZE }], payload: zeros(LARGE_REQUEST_SIZE) });
  call.end();
  const streamOutcome = await reader.finished;
  expectOk(streamOutcome, 'FullDuplexCall');
  expectEchoedMetadata(streamOutcome.initial, streamOutcome.status, 'FullDuplexCall');
}

async function statusCodeAndMessage({ client }) {
  const responseStatus = { code: grpc.status.UNKNOWN, message: 'test status message' };
  const unaryOutcome = await unary(client, 'UnaryCall', { response_status: responseStatus });
  expectStatus(unaryOutcome, responseStatus.code, 'UnaryCall', responseStatus.message);

  const call = client.FullDuplexCall(new grpc.Metadata(), options());
  const reader = new ResponseReader(call);
  call.write({ response_status: responseStatus });
  call.end();
  expectStatus(await reader.finished, responseStatus.code, 'FullDuplexCall', responseStatus.message);
}

async function specialStatusMessage({ client }) {
  const responseStatus = { code: grpc.status.UNKNOWN, message: SPECIAL_STATUS_MESSAGE };
  const outcome = await unary(client, 'UnaryCall', { response_status: responseStatus });
  expectStatus(outcome, responseStatus.code, 'UnaryCall', responseStatus.message);
}

async function unimplementedMethod({ client }) {
  const outcome = await unary(client, 'UnimplementedCall', {});
  expectStatus(outcome, grpc.status.UNIMPLEMENTED, 'TestService/UnimplementedCall');
}

async function unimplementedService({ testing, newClient }) {
  const other = newClient({}, testing.UnimplementedService);
  try {
    const outcome = await unary(other, 'UnimplementedCall', {});
    expectStatus(outcome, grpc.status.UNIMPLEMENTED, 'UnimplementedService/UnimplementedCall');
  } finally {
    other.close();
  }
}

async function cancelAfterBegin({ client }) {
  const { call, outcome } = callbackCall(done => client.StreamingInputCall(new grpc.Metadata(), options(), done));
  call.cancel();
  expectStatus(await outcome, grpc.status.CANCELLED, 'StreamingInputCall');
}

async function cancelAfterFirstResponse({ client }) {
  const call = client.FullDuplexCall(new grpc.Metadata(), options());
  const reader = new ResponseReader(call);
  call.write({ response_parameters: [{ size: 31415 }], payload: zeros(27182) });
  const response = await reader.next();
  if (response === null) {
    const result = await reader.finished;
    expectOk(result, 'FullDuplexCall');
    throw new Error('FullDuplexCall ended before its first response');
  }
  call.cancel();
  expectStatus(await reader.finished, grpc.status.CANCELLED, 'FullDuplexCall');
}

async function timeoutOnSleepingServer({ client }) {
  const call = client.FullDuplexCall(new grpc.Metadata(), options(1));
  const reader = new ResponseReader(call);
  call.write({ payload: zeros(27182) });
  expectStatus(await reader.finished, grpc.status.DEADLINE_EXCEEDED, 'FullDuplexCall');
}

// grpc-js's default policy is pick_first already; the service config says so explicitly, as the
// description asks for a channel configured with it.
async function pickFirstUnary({ testing, newClient }) {
  const serviceConfig = { loadBalancingConfig: [{ pick_first: {} }] };
  const pickFirst = newClient({ 'grpc.service_config': JSON.stringify(serviceConfig) }, testing.TestService);
  try {
    const serverIds = new Set();
    for (let i = 0; i < 100; i++) {
      const outcome = await unary(pickFirst, 'UnaryCall', { fill_server_id: true });
      expectOk(outcome, `UnaryCall ${i}`);
      serverIds.add(outcome.response.server_id);
    }
    if (serverIds.size !== 1) {
      throw new Error(`calls went to ${serverIds.size} servers: ${JSON.stringify([...serverIds])}`);
    }
    if (serverIds.has('')) {
      throw new Error('server_id is empty');
    }
  } finally {
    pickFirst.close();
  }
}

const CASES = [
  ['empty_unary', emptyUnary],
  ['large_unary', largeUnary],
  ['client_compressed_unary', clientCompressedUnary],
  ['server_compressed_unary', serverCompressedUnary],
  ['client_streaming', clientStreaming],
  ['client_compressed_streaming', clientCompressedStreaming],
  ['server_streaming', serverStreaming],
  ['server_compressed_streaming', serverCompressedStreaming],
  ['ping_pong', pingPong],
  ['empty_stream', emptyStream],
  ['custom_metadata', customMetadata],
  ['status_code_and_message', statusCodeAndMessage],
  ['special_status_message', specialStatusMessage],
  ['unimplemented_method', unimplementedMethod],
  ['unimplemented_service', unimplementedService],
  ['cancel_after_begin', cancelAfterBegin],
  ['cancel_after_first_response', cancelAfterFirstResponse],
  ['timeout_on_sleeping_server', timeoutOnSleepingServer],
  ['pick_first_unary', pickFirstUnary],
];

// ---------------------------------------------------------------------------------------------

function parseArgs(argv) {
  let target = null;
  const names = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--case' && i + 1 < argv.length) {
      names.push(argv[++i]);
    } else if (arg.startsWith('--case=')) {
      names.push(arg.slice('--case='.length));
    } else if (!arg.startsWith('-') && target === null) {
      target = arg;
    } else {
      return null;
    }
  }
  if (target === null) {
    return null;
  }
  // grpc-js takes an http:// URL for a resolver scheme it does not have, so strip it: the
  // connection is plaintext either way.
  target = target.replace(/^http:\/\//, '').replace(/\/+$/, '');
  return { target, names };
}

// Runs one case to a single line of outcome; the watchdog turns a case stuck on something
// without a deadline into a failure.
async function runCase(name, fn, ctx) {
  let watchdog;
  const timeout = new Promise((_, reject) => {
    watchdog = setTimeout(() => reject(new Error(`case did not finish within ${CASE_WATCHDOG_MS} ms`)), CASE_WATCHDOG_MS);
  });
  try {
    await Promise.race([fn(ctx), timeout]);
    return { result: 'pass', line: `PASS ${name}` };
  } catch (err) {
    const reason = String(err && err.message !== undefined ? err.message : err).replace(/\s*\n\s*/g, ' ');
    if (err instanceof Skip) {
      return { result: 'skip', line: `SKIP ${name}: ${reason}` };
    }
    return { result: 'fail', line: `FAIL ${name}: ${reason}` };
  } finally {
    clearTimeout(watchdog);
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (!args) {
    console.error(USAGE);
    process.exit(2);
  }
  const known = new Map(CASES);
  const unknown = args.names.filter(name => !known.has(name));
  if (unknown.length > 0) {
    console.error(`unknown test case: ${unknown.join(', ')}`);
    console.error(`known cases: ${CASES.map(([name]) => name).join(', ')}`);
    process.exit(2);
  }
  const selected = args.names.length > 0 ? args.names.map(name => [name, known.get(name)]) : CASES;

  const testing = loadTestingPackage();
  const credentials = grpc.credentials.createInsecure();
  const newClient = (channelOptions = {}, service = testing.TestService) =>
    new service(args.target, credentials, channelOptions);
  const client = newClient();
  const ctx = { client, testing, target: args.target, newClient };

  let passed = 0;
  let failed = 0;
  for (const [name, fn] of selected) {
    const { result, line } = await runCase(name, fn, ctx);
    console.log(line);
    if (result === 'pass') {
      passed++;
    } else if (result === 'fail') {
      failed++;
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  client.close();
  process.exit(failed === 0 ? 0 : 1);
}

main();
