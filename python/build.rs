//! Under `cargo build`/`cargo test` (not maturin) pyo3 links libpython: record its
//! directory as an rpath so test binaries load the interpreter they were built for,
//! not whichever libpython the system loader finds first.
fn main() {
    pyo3_build_config::add_libpython_rpath_link_args();
}
