//! Reading a compiled component's imports and exports against the contract:
//! which world it implements, which contract version it was built for, and
//! whether it imports anything the sandbox does not provide.

use std::path::Path;

use wasmtime::Engine;
use wasmtime::component::Component;

use super::error::PluginError;
use super::kind::PluginKind;

/// The contract version this host speaks.
pub const CONTRACT_VERSION: &str = "0.1.0";

/// The package of the contract, without version.
const PACKAGE: &str = "kiln:plugin/";

/// What a component is, measured against the contract.
#[derive(Debug, Clone)]
pub struct Contract {
    /// The world it implements.
    pub kind: PluginKind,
    /// Everything it imports, e.g. `wasi:cli/stdout@0.2.4`.
    pub imports: Vec<String>,
    /// Everything it exports.
    pub exports: Vec<String>,
}

impl Contract {
    /// Checks `component` (loaded from `path`) against the contract.
    pub fn of(path: &Path, component: &Component, engine: &Engine) -> Result<Contract, PluginError> {
        let ty = component.component_type();
        let imports: Vec<String> = ty.imports(engine).map(|(name, _)| name.to_string()).collect();
        let exports: Vec<String> = ty.exports(engine).map(|(name, _)| name.to_string()).collect();
        let kind = world_of(path, &exports)?;
        let refused = refused_imports(&imports);
        if !refused.is_empty() {
            return Err(PluginError::ForbiddenImport { path: path.to_path_buf(), imports: refused });
        }
        Ok(Contract { kind, imports, exports })
    }
}

/// The imports a component declares, read from its bytes without compiling
/// it (compiling an 18 MB Python component takes seconds; this, microseconds).
/// Only the outer component's imports count: nested modules and components
/// import from their parent, not from the host.
pub fn declared_imports(bytes: &[u8]) -> Result<Vec<String>, String> {
    use wasmparser::{Parser, Payload};
    let mut imports = Vec::new();
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(|e| e.to_string())? {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(section) if depth == 0 => {
                for import in section {
                    imports.push(import.map_err(|e| e.to_string())?.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    Ok(imports)
}

/// Those of `imports` the sandbox does not provide.
pub fn refused_imports(imports: &[String]) -> Vec<String> {
    imports.iter().filter(|i| !import_allowed(i)).cloned().collect()
}

/// Splits `kiln:plugin/filter@0.1.0` into (`filter`, `0.1.0`).
fn split_kiln(name: &str) -> Option<(&str, &str)> {
    let rest = name.strip_prefix(PACKAGE)?;
    Some(rest.split_once('@').unwrap_or((rest, "")))
}

fn world_of(path: &Path, exports: &[String]) -> Result<PluginKind, PluginError> {
    let mut found_other_version = None;
    for export in exports {
        if let Some((iface, version)) = split_kiln(export) {
            if version != CONTRACT_VERSION {
                found_other_version = Some(if version.is_empty() { "(unversioned)" } else { version }.to_string());
                continue;
            }
            if let Some(kind) = PluginKind::from_interface(iface) {
                return Ok(kind);
            }
        }
    }
    match found_other_version {
        Some(found) => {
            Err(PluginError::IncompatibleContract { path: path.to_path_buf(), found, expected: CONTRACT_VERSION })
        }
        None => Err(PluginError::NotAPlugin {
            path: path.to_path_buf(),
            contract: CONTRACT_VERSION,
            exports: if exports.is_empty() { "nothing".into() } else { exports.join(", ") },
        }),
    }
}

/// WASI packages the sandbox links (a `wasm32-wasip2` std imports some of them);
/// their capabilities are denied by the context, see [`state`](super::state).
const WASI_PACKAGES: [&str; 6] =
    ["wasi:cli/", "wasi:io/", "wasi:clocks/", "wasi:random/", "wasi:filesystem/", "wasi:sockets/"];

/// Plugins may import the log interface of this contract (and its types-only
/// interface, which every world references) and WASI 0.2.
pub fn import_allowed(name: &str) -> bool {
    match split_kiln(name) {
        Some((iface, version)) => matches!(iface, "log" | "types") && version == CONTRACT_VERSION,
        None => WASI_PACKAGES.iter().any(|p| name.starts_with(p)) && name.contains("@0.2."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_version_is_the_one_wit_kiln_wit_declares() {
        let wit = include_str!("../../wit/kiln.wit");
        let declared =
            wit.lines().find_map(|l| l.trim().strip_prefix("package kiln:plugin@")).map(|v| v.trim_end_matches(';'));
        assert_eq!(declared, Some(CONTRACT_VERSION), "update CONTRACT_VERSION (and the SDK's CONTRACT) with the WIT");
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn detects_world_from_exports() {
        let p = Path::new("p.wasm");
        let k = world_of(p, &names(&["kiln:plugin/plugin@0.1.0", "kiln:plugin/mapper@0.1.0"]));
        assert_eq!(k.ok(), Some(PluginKind::Mapper));
    }

    #[test]
    fn reports_other_contract_versions() {
        let p = Path::new("p.wasm");
        let err = world_of(p, &names(&["kiln:plugin/filter@0.2.0"])).expect_err("error");
        assert!(err.to_string().contains("kiln:plugin@0.2.0"), "{err}");
        let err = world_of(p, &names(&["wasi:cli/run@0.2.0"])).expect_err("error");
        assert!(matches!(err, PluginError::NotAPlugin { .. }), "{err}");
    }

    #[test]
    fn only_log_and_wasi_imports_are_allowed() {
        assert!(import_allowed("kiln:plugin/log@0.1.0"));
        assert!(import_allowed("kiln:plugin/types@0.1.0"));
        assert!(import_allowed("wasi:cli/stdout@0.2.6"));
        assert!(!import_allowed("kiln:plugin/log@0.2.0"));
        assert!(!import_allowed("kiln:secrets/vault"));
        assert!(!import_allowed("wasi:http/outgoing-handler@0.2.0"));
        assert!(!import_allowed("wasi:cli/stdout@0.3.0"));
    }
}
