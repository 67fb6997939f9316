'use strict';
// Calls Greeter.SayHello once over TLS (or mutual TLS) with @grpc/grpc-js.
//
//   NODE_PATH=$(scripts/node-env) node tests/interop/node/tls_client.js TARGET --ca CA_PEM
//       [--cert CERT_PEM --key KEY_PEM] [--server-name NAME] [--name NAME]
//
// TARGET is HOST:PORT or unix:/abs/path. --ca is the PEM bundle the server's certificate must
// chain to; --cert and --key (both or neither) are the client's certificate chain and private
// key for mutual TLS. --server-name overrides the name the server's certificate is checked
// against (grpc.ssl_target_name_override; grpc-js also sends it as the SNI name and the
// :authority). --name is the name to greet (default "world").
//
// Prints the reply's message alone on a line and exits 0. When the call fails it prints
// `CODE_NAME: details` (e.g. `UNAVAILABLE: ...`, details on one line) on stdout and exits 1;
// exit 2 is a bad command line or an unreadable PEM file.

const fs = require('fs');
const path = require('path');

// The packages, from NODE_PATH (see packages.js).
const { grpc, protoLoader } = require('./packages');

const USAGE = 'usage: tls_client.js TARGET --ca CA_PEM [--cert CERT_PEM --key KEY_PEM] ' +
  '[--server-name NAME] [--name NAME]';
const CALL_TIMEOUT_MS = 10000;

function usage(message) {
  console.error(message ? `${message}\n${USAGE}` : USAGE);
  process.exit(2);
}

function parseArgs(argv) {
  const args = { target: null, ca: null, cert: null, key: null, serverName: null, name: 'world' };
  const flags = { '--ca': 'ca', '--cert': 'cert', '--key': 'key', '--server-name': 'serverName', '--name': 'name' };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '-h' || arg === '--help') {
      usage();
    } else if (Object.prototype.hasOwnProperty.call(flags, arg)) {
      if (i + 1 >= argv.length) {
        usage(`${arg} needs a value`);
      }
      args[flags[arg]] = argv[++i];
    } else if (arg.startsWith('--') && arg.includes('=') &&
               Object.prototype.hasOwnProperty.call(flags, arg.slice(0, arg.indexOf('=')))) {
      args[flags[arg.slice(0, arg.indexOf('='))]] = arg.slice(arg.indexOf('=') + 1);
    } else if (arg.startsWith('-')) {
      usage(`unknown option ${arg}`);
    } else if (args.target === null) {
      args.target = arg;
    } else {
      usage(`unexpected argument ${arg}`);
    }
  }
  if (args.target === null) {
    usage('missing TARGET');
  }
  if (args.ca === null) {
    usage('missing --ca');
  }
  if ((args.cert === null) !== (args.key === null)) {
    usage('--cert and --key go together');
  }
  return args;
}

function loadGreeter() {
  const definition = protoLoader.loadSync('helloworld/helloworld.proto', {
    includeDirs: [path.resolve(__dirname, '..', '..', '..', 'examples', 'proto')],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  return grpc.loadPackageDefinition(definition).helloworld.Greeter;
}

function statusName(code) {
  return grpc.status[code] !== undefined ? grpc.status[code] : `code ${code}`;
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  let credentials;
  try {
    credentials = grpc.credentials.createSsl(
      fs.readFileSync(args.ca),
      args.key === null ? null : fs.readFileSync(args.key),
      args.cert === null ? null : fs.readFileSync(args.cert),
    );
  } catch (err) {
    console.error(`cannot read a PEM file: ${err.message}`);
    process.exit(2);
  }
  const options = args.serverName === null ? {} : { 'grpc.ssl_target_name_override': args.serverName };
  const Greeter = loadGreeter();
  const client = new Greeter(args.target, credentials, options);
  const deadline = new Date(Date.now() + CALL_TIMEOUT_MS);
  client.SayHello({ name: args.name }, { deadline }, (err, reply) => {
    client.close();
    if (err) {
      // Details can span lines (an OpenSSL error ends in one); keep the answer on one line.
      const details = String(err.details || '').split(/\s+/).filter(Boolean).join(' ');
      process.stdout.write(`${statusName(err.code)}: ${details}\n`);
      process.exitCode = 1;
      return;
    }
    process.stdout.write(`${reply.message}\n`);
  });
}

main();
