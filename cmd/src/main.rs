//! `pocket-relay-miner`: the one binary. Subcommands arrive with their issues.

fn main() {
    println!("pocket-relay-miner {}", env!("CARGO_PKG_VERSION"));
}
