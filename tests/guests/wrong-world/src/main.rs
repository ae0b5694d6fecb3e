//! `guest-wrong-world`: a plain WASI command, built as a component that exports
//! `wasi:cli/run` and none of Tenon's worlds. The host must refuse to install it
//! with an error that names the world it expected.

fn main() {
    println!("hi");
}
