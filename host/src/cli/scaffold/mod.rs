//! `kiln plugin new`: scaffolds a plugin crate from the templates in
//! `host/templates/`, one per kind, each with a passing unit test, and writes
//! the SDK it builds against beside it (see [`pdk`]).

mod pdk;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use kiln::plugin::PluginKind;

const CARGO_TOML: &str = include_str!("../../../templates/Cargo.toml.tmpl");

fn source_template(kind: PluginKind) -> &'static str {
    match kind {
        PluginKind::Filter => include_str!("../../../templates/filter.rs.tmpl"),
        PluginKind::Mapper => include_str!("../../../templates/mapper.rs.tmpl"),
        PluginKind::Generator => include_str!("../../../templates/generator.rs.tmpl"),
        PluginKind::Critic => include_str!("../../../templates/critic.rs.tmpl"),
        PluginKind::Refiner => include_str!("../../../templates/refiner.rs.tmpl"),
        PluginKind::Model => include_str!("../../../templates/model.rs.tmpl"),
    }
}

/// The SDK dependency line: the copy written beside the crate, by a relative
/// path, so the crate builds wherever it is moved with its `kiln-pdk/`.
fn pdk_dependency() -> String {
    format!("kiln-pdk = {{ path = \"{}\" }}", pdk::DIR)
}

fn check_name(name: &str) -> anyhow::Result<()> {
    let valid = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && name.starts_with(|c: char| c.is_ascii_lowercase());
    if !valid {
        bail!(
            "`{name}` is not a valid plugin name: use lower-case letters, digits, `-` and `_`, starting with a letter (e.g. `my-filter`)"
        );
    }
    Ok(())
}

fn camel_case(name: &str) -> String {
    name.split(['-', '_'])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut chars = p.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

/// Writes the crate `dir/name` for a plugin of `kind`.
pub fn scaffold(name: &str, kind: PluginKind, dir: &Path) -> anyhow::Result<PathBuf> {
    check_name(name)?;
    let root = dir.join(name);
    if root.exists() {
        bail!("{} already exists: choose another name or remove it", root.display());
    }
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{crate}}", &name.replace('-', "_"))
            .replace("{{Type}}", &camel_case(name))
            .replace("{{kind}}", kind.as_str())
            .replace("{{pdk}}", &pdk_dependency())
    };
    std::fs::create_dir_all(root.join("src")).with_context(|| format!("cannot create {}", root.display()))?;
    std::fs::write(root.join("Cargo.toml"), fill(CARGO_TOML))?;
    std::fs::write(root.join("src/lib.rs"), fill(source_template(kind)))?;
    std::fs::write(root.join(".gitignore"), "/target\n")?;
    pdk::write(&root)?;
    Ok(root)
}

pub fn run(name: &str, kind: PluginKind, dir: &Path) -> anyhow::Result<ExitCode> {
    let root = scaffold(name, kind, dir)?;
    println!("created {kind} plugin `{name}` in {}", root.display());
    println!("  test:  (cd {} && cargo test)", root.display());
    println!("  build: (cd {} && cargo build --release --target wasm32-wasip2)", root.display());
    println!(
        "  run:   kiln plugin inspect {}/target/wasm32-wasip2/release/{}.wasm",
        root.display(),
        name.replace('-', "_")
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_camel_cased() {
        assert!(check_name("my-filter").is_ok());
        assert!(check_name("My Filter").is_err());
        assert!(check_name("1st").is_err());
        assert_eq!(camel_case("my-pii_filter"), "MyPiiFilter");
    }

    #[test]
    fn every_template_is_filled() {
        let dir = tempfile::tempdir().expect("tempdir");
        for kind in PluginKind::ALL {
            let name = format!("t-{kind}");
            let root = scaffold(&name, kind, dir.path()).expect("scaffold");
            let src = std::fs::read_to_string(root.join("src/lib.rs")).expect("lib.rs");
            assert!(!src.contains("{{"), "unfilled placeholder in {kind} template");
            assert!(src.contains(&format!("export_{kind}!")));
            let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml");
            assert!(manifest.contains("kiln-pdk = { path = \"kiln-pdk\" }"), "{manifest}");
            assert!(root.join("kiln-pdk/wit/kiln.wit").is_file() && root.join("kiln-pdk/src/lib.rs").is_file());
        }
        assert!(scaffold("t-filter", PluginKind::Filter, dir.path()).is_err(), "refuses to overwrite");
    }
}
