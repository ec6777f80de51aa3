'use strict';
// Preloaded with `node -r` into an emulator: every TCP listen() is forced onto
// 127.0.0.1, whatever address the program asked for (kinesis-local hard-codes
// 0.0.0.0). Tests must never open a port reachable from outside this machine.
const net = require('net');

const LOOPBACK = '127.0.0.1';
const listen = net.Server.prototype.listen;

net.Server.prototype.listen = function (...args) {
  const first = args[0];
  const cb = typeof args[args.length - 1] === 'function' ? args.pop() : undefined;
  let opts;
  if (first === undefined || typeof first === 'function') {
    opts = { port: 0 };                                  // listen() / listen(cb)
  } else if (typeof first === 'number' || /^\d+$/.test(String(first))) {
    opts = { port: Number(first) };                      // listen(port, host?, backlog?)
    if (typeof args[2] === 'number') opts.backlog = args[2];
    else if (typeof args[1] === 'number') opts.backlog = args[1];
  } else if (first && typeof first === 'object' && !first._handle && first.fd === undefined &&
             first.path === undefined && !(first instanceof net.Server)) {
    opts = Object.assign({}, first);                     // listen({port, host, ...})
  } else {
    return listen.apply(this, cb ? args.concat(cb) : args);  // unix socket or handle
  }
  opts.host = LOOPBACK;
  delete opts.ipv6Only;
  return cb ? listen.call(this, opts, cb) : listen.call(this, opts);
};
