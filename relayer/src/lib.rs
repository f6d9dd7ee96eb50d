//! The relayer: the front door for relays from gateways.
//!
//! Will hold (issue "`relayer`"): the HTTP, WebSocket, gRPC and streaming front
//! doors, one validation pipeline shared by all transports (decode → session
//! window → ring signature → session → supplier gate → meter), backend
//! forwarding, response signing, relay mining and publishing to Redis streams.
//!
//! Invariant: stateless; everything that spans requests lives in Redis or on
//! chain. Nothing panics on the request path.
