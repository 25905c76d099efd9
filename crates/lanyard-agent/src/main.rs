//! The `lanyard-agent` command.
#![forbid(unsafe_code)]

fn main() {}
