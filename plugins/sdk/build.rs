//! Embeds the Kiln WIT contract into a `macro_rules!` macro.
//!
//! `wit_bindgen::generate!` reads WIT relative to the crate that invokes it,
//! which for the export macros of this SDK is the plugin author's crate. To
//! spare every plugin a copy of `wit/`, the contract is inlined here as a
//! string literal that the export macros hand to `generate!`.

use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    // In the workspace the contract lives in `wit/` at the root; a packaged SDK carries a copy.
    let candidates = [manifest.join("../../wit/kiln.wit"), manifest.join("wit/kiln.wit")];
    let wit_path = candidates
        .iter()
        .find(|p| p.exists())
        .expect("kiln.wit not found: the SDK needs the WIT contract (wit/kiln.wit)");
    println!("cargo:rerun-if-changed={}", wit_path.display());
    let wit = std::fs::read_to_string(wit_path).expect("read kiln.wit");
    assert!(!wit.contains("\"###"), "kiln.wit must not contain the raw-string terminator");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("wit_macro.rs");
    let body = format!(
        "/// Generates the guest bindings of one Kiln world in the invoking module.\n\
         #[doc(hidden)]\n\
         #[macro_export]\n\
         macro_rules! __kiln_generate {{\n\
         ($world:tt) => {{\n\
         $crate::wit_bindgen::generate!({{\n\
         inline: r###\"{wit}\"###,\n\
         world: $world,\n\
         runtime_path: \"::kiln_pdk::wit_bindgen::rt\",\n\
         }});\n\
         }};\n\
         }}\n"
    );
    std::fs::write(out, body).expect("write wit_macro.rs");
    // The contract version is the WIT's own, never a copy kept by hand.
    let package = wit
        .lines()
        .find_map(|l| l.trim().strip_prefix("package "))
        .map(|p| p.trim_end_matches(';').trim())
        .expect("kiln.wit declares no package");
    println!("cargo:rustc-env=KILN_CONTRACT={package}");
}
