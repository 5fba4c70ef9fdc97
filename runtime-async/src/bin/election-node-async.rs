//! `election-node-async`: one node (`run`) or a loopback cluster (`cluster`) on
//! the async runtime (async-std tasks). Same options as `election-node`.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    runtime_std::cli::main("election-node-async", &runtime_async::AsyncRuntime)
}
