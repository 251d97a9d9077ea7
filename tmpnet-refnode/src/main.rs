//! `tmpnet-refnode`: the reference node as a standalone binary.
//! Usage: `tmpnet-refnode --flags-file <flags.json>`.

fn main() -> std::process::ExitCode {
    tmpnet_refnode::run(std::env::args().skip(1))
}
