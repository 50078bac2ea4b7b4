//! The `psqlqueue` sidecar binary. Built out by the REST sidecar issue.

fn main() {
    println!("psqlqueue {}", env!("CARGO_PKG_VERSION"));
}
