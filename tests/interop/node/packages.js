'use strict';
// The packages the Node peers use. They come through NODE_PATH (scripts/node-env installs them
// outside the source tree); say so rather than print a bare MODULE_NOT_FOUND stack.

function requirePackages() {
  try {
    return { grpc: require('@grpc/grpc-js'), protoLoader: require('@grpc/proto-loader') };
  } catch (err) {
    if (err.code !== 'MODULE_NOT_FOUND') {
      throw err;
    }
    console.error('cannot load @grpc/grpc-js or @grpc/proto-loader: run with NODE_PATH=$(scripts/node-env)');
    process.exit(2);
  }
}

module.exports = requirePackages();
