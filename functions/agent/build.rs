// Links the system's libtesseract (Debian: libtesseract-dev). Only the C API
// is used, declared by hand in src/tess.rs, so no bindgen or clang is needed.
fn main() {
    println!("cargo:rustc-link-lib=tesseract");
    println!("cargo:rerun-if-changed=build.rs");
}
