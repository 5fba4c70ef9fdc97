//! `election-node`: one node (`run`) or a loopback cluster (`cluster`) on the
//! std runtime (a thread per node). See `runtime_std::cli` for the options.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    runtime_std::cli::main("election-node", &runtime_std::StdRuntime)
}
