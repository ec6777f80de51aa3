'use strict';
// Starts kinesalite embedded, bound to 127.0.0.1 only (its own CLI listens on
// every interface). Usage: node kinesalite.js PORT   (0 = pick a free port)
// Prints "listening PORT" once the socket is open. In-memory store; short
// CREATING/DELETING/UPDATING phases so tests do not wait half a second each.
const path = require('path');
const modules = process.env.SHARDPIPE_NPM_DIR ||
  path.join(__dirname, '..', '..', '.deps', 'npm', 'node_modules');
const kinesalite = require(path.join(modules, 'kinesalite'));

const port = Number(process.argv[2] || 0);
const ms = Number(process.env.KINESALITE_STREAM_MS || 50);
const server = kinesalite({
  createStreamMs: ms, deleteStreamMs: ms, updateStreamMs: ms,
  shardLimit: Number(process.env.KINESALITE_SHARD_LIMIT || 50),
});
server.listen(port, '127.0.0.1', () => {
  process.stdout.write('listening ' + server.address().port + '\n');
});
server.on('error', (e) => { console.error('kinesalite: ' + e.message); process.exit(1); });
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
