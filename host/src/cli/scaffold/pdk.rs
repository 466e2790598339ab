//! The plugin SDK (`kiln-pdk`) carried inside the `kiln` binary.
//!
//! A scaffold must build wherever it was made, with nothing but the `kiln`
//! binary and Rust installed: not only next to the checkout the binary was
//! built from. So the binary embeds the SDK's sources and the WIT contract at
//! compile time, and `kiln plugin new` writes them beside the new crate as
//! `kiln-pdk/`, referenced by a relative path. The SDK's own manifest is kept
//! in a template whose dependency lines a unit test holds equal to the
//! workspace's, so the copy builds exactly as the SDK in the workspace does.

use std::path::Path;

use anyhow::Context;

/// The manifest of the written SDK (`{{version}}` filled in).
const MANIFEST: &str = include_str!("../../../templates/kiln-pdk.Cargo.toml.tmpl");

/// Every other file of the SDK, by path relative to the SDK's root.
const FILES: &[(&str, &str)] = &[
    ("build.rs", include_str!("../../../../plugins/sdk/build.rs")),
    ("wit/kiln.wit", include_str!("../../../../wit/kiln.wit")),
    ("src/lib.rs", include_str!("../../../../plugins/sdk/src/lib.rs")),
    ("src/batch.rs", include_str!("../../../../plugins/sdk/src/batch.rs")),
    ("src/export.rs", include_str!("../../../../plugins/sdk/src/export.rs")),
    ("src/log.rs", include_str!("../../../../plugins/sdk/src/log.rs")),
    ("src/types.rs", include_str!("../../../../plugins/sdk/src/types.rs")),
    ("src/verdicts.rs", include_str!("../../../../plugins/sdk/src/verdicts.rs")),
];

/// The directory, relative to a scaffolded crate, that holds its SDK copy.
pub const DIR: &str = "kiln-pdk";

/// Writes the SDK under `root/kiln-pdk`.
pub fn write(root: &Path) -> anyhow::Result<()> {
    let sdk = root.join(DIR);
    let manifest = MANIFEST.replace("{{version}}", env!("CARGO_PKG_VERSION"));
    let files = FILES.iter().copied().chain([("Cargo.toml", manifest.as_str())]);
    for (relative, contents) in files {
        let path = sdk.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, contents).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dependency table of a manifest, as TOML values by name.
    fn dependencies(manifest: &str, table: &[&str]) -> toml::Table {
        let mut value: toml::Value = toml::from_str(manifest).expect("manifest parses");
        for key in table {
            value = value.get(*key).cloned().unwrap_or_else(|| panic!("no [{}]", table.join(".")));
        }
        value.as_table().cloned().expect("a table")
    }

    #[test]
    fn the_shipped_manifest_names_the_workspace_dependencies() {
        let workspace = dependencies(include_str!("../../../../Cargo.toml"), &["workspace", "dependencies"]);
        let sdk = dependencies(include_str!("../../../../plugins/sdk/Cargo.toml"), &["dependencies"]);
        let shipped = dependencies(MANIFEST, &["dependencies"]);
        assert_eq!(shipped.keys().collect::<Vec<_>>(), sdk.keys().collect::<Vec<_>>(), "same dependencies");
        for (name, spec) in &sdk {
            let expected = if spec.get("workspace").is_some() { &workspace[name] } else { spec };
            assert_eq!(&shipped[name], expected, "kiln-pdk.Cargo.toml: `{name}` differs from the workspace");
        }
    }

    #[test]
    fn every_source_file_of_the_sdk_is_shipped() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/sdk/src");
        for entry in std::fs::read_dir(&src).expect("sdk sources") {
            let name = entry.expect("entry").file_name().to_string_lossy().into_owned();
            assert!(FILES.iter().any(|(path, _)| *path == format!("src/{name}")), "src/{name} is not in FILES");
        }
    }
}
