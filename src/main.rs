//! The `backoffice` binary: everything lives in the library.

fn main() -> std::process::ExitCode {
    backoffice::cli::main()
}
