//! The `waitressd` binary: everything happens in `waitressd::run::main`, which the
//! Python extension's `main()` calls too.
use std::process::ExitCode;

fn main() -> ExitCode {
    let code = waitressd::run::main(std::env::args_os().collect());
    ExitCode::from(code.as_i32() as u8)
}
