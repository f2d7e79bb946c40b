//! The build script of every Lambda function (and of the bare function it
//! is measured against): its binaries are linked as position-dependent
//! executables on Linux.
//!
//! A position-independent executable is relocated by the dynamic loader at
//! every start: the api had 37,753 relocations (a 0.9 MB table in the
//! binary) and every page they write is a copy-on-write fault, about a
//! third of its page faults at init. Linked at a fixed address, the binary
//! has about a hundred, is 0.8 MB smaller, and starts with a third fewer
//! page faults (BENCHMARKS.md, "Cold starts"). The trade: the executable's
//! own code and data are not at a random address (its stack, heap and
//! libraries still are), as with Go's default build for Lambda. The code
//! is still compiled position-independent; only the link differs.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
