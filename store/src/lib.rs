//! Everything Redis, and the only place a Redis key is spelled.
//!
//! Will hold (issue "`store` and `cache`"): connection settings (standalone,
//! Sentinel, Cluster; Redis 7+ and Valkey), the key/stream/channel schema under a
//! configurable namespace with `{supplier}` hash tags, relay stream publish /
//! consume / acknowledge / reclaim (XAUTOCLAIM), leases with fencing tokens, the
//! Lua scripts, and the Redis-backed session leaf store the miner's trees use.
//!
//! Invariant: a stream entry is acknowledged only after its relay is durable in
//! the leaf store; pending entries of a dead consumer are reclaimed, never lost.
