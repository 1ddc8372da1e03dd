//! The `millrace` binary; everything it does lives in the library.

fn main() -> std::process::ExitCode {
    millrace::cli::main()
}
