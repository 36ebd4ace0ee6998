//! Chooses the compile-fail set that `tests/ui.rs` checks with this compiler.
//!
//! A `.stderr` file is one compiler's message, so each set records the compiler that wrote
//! its files in `<set>/RUSTC` (the output of `rustc --version`). The set runs when this
//! build's compiler prints exactly that line and crndm's marker traits are the ones the set
//! was written for: `stable/` without the `nightly` feature, `nightly/` with it. Otherwise
//! its test is ignored with the reason, and a build warning names both compilers.

use std::env;
use std::path::Path;
use std::process::Command;

/// `cfg` set when `tests/ui.rs` checks `stable/` (crndm without `nightly`).
const STABLE_CFG: &str = "crndm_ui_stable_set";
/// `cfg` set when `tests/ui.rs` checks `nightly/` (crndm with `nightly`).
const NIGHTLY_CFG: &str = "crndm_ui_nightly_set";

fn main() {
    println!("cargo::rustc-check-cfg=cfg({STABLE_CFG})");
    println!("cargo::rustc-check-cfg=cfg({NIGHTLY_CFG})");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=stable/RUSTC");
    println!("cargo::rerun-if-changed=nightly/RUSTC");

    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(&rustc)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("run `{} --version`: {e}", rustc.to_string_lossy()));
    let compiler = String::from_utf8_lossy(&output.stdout).trim().to_owned();

    let (set, cfg) = if env::var_os("CARGO_FEATURE_NIGHTLY").is_some() {
        ("nightly", NIGHTLY_CFG)
    } else {
        ("stable", STABLE_CFG)
    };
    let manifest_dir = env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let record = Path::new(&manifest_dir).join(set).join("RUSTC");
    let recorded = std::fs::read_to_string(&record)
        .unwrap_or_else(|e| panic!("read {}: {e}", record.display()));
    let recorded = recorded.trim();

    if compiler == recorded {
        println!("cargo::rustc-cfg={cfg}");
    } else {
        println!(
            "cargo::warning=the {set}/ compile-fail cases are skipped: their .stderr files are \
             `{recorded}`'s and this compiler is `{compiler}` (ui-tests/fail/README.md says \
             how to move them)"
        );
    }
}
