//! The CNCF Wasm OCI artifact layout, as Kiln writes and accepts it: a
//! config blob of media type `application/vnd.wasm.config.v0+json`
//! (architecture `wasm`, os `wasip2`, the layer digests and the component's
//! top-level imports and exports) and exactly one `application/wasm` layer,
//! the component itself. Writing the ecosystem's layout, not one of Kiln's
//! own, is what lets `wkg oci pull` read what `kiln plugin push` wrote.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::RegistryError;

/// The config blob's media type.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
/// The component layer's media type.
pub const LAYER_MEDIA_TYPE: &str = "application/wasm";

/// The config blob (`application/vnd.wasm.config.v0+json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WasmConfig {
    /// RFC 3339 creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Always `wasm`.
    pub architecture: String,
    /// `wasip2` for a component.
    pub os: String,
    /// The digests of the layers, in order.
    #[serde(default)]
    pub layer_digests: Vec<String>,
    /// The component's world, when it is a component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<ComponentWorld>,
}

/// A component's top-level imports and exports, by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ComponentWorld {
    /// Imported interfaces, e.g. `wasi:io/streams@0.2.0`.
    #[serde(default)]
    pub imports: Vec<String>,
    /// Exported interfaces, e.g. `kiln:plugin/filter@1.0.0`.
    #[serde(default)]
    pub exports: Vec<String>,
}

/// What a plugin says about itself, carried on the manifest as annotations
/// so that registries and other tools show it without running the plugin:
/// the OCI pre-defined keys where one fits (`org.opencontainers.image.*`),
/// `dev.kiln.plugin.*` for the rest. The component itself stays the
/// authority: Kiln reads the metadata from it when it loads the plugin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PluginMetadata {
    /// Plugin name.
    pub name: String,
    /// Plugin version.
    pub version: String,
    /// Its kind (`filter`, `critic`, …).
    pub kind: String,
    /// One line about it.
    pub description: String,
    /// SPDX licence expression (empty when none).
    pub license: String,
    /// What it reads besides the text (`id, metadata`, …).
    pub reads: String,
    /// The JSON Schema of its config, as JSON.
    pub config_schema: Option<String>,
}

/// Manifest annotation keys of [`PluginMetadata`], in its field order.
const ANNOTATION_KEYS: [&str; 7] = [
    "org.opencontainers.image.title",
    "org.opencontainers.image.version",
    "dev.kiln.plugin.kind",
    "org.opencontainers.image.description",
    "org.opencontainers.image.licenses",
    "dev.kiln.plugin.reads",
    "dev.kiln.plugin.config-schema",
];

impl PluginMetadata {
    /// The manifest annotations (empty values left out).
    pub fn annotations(&self) -> BTreeMap<String, String> {
        let values = [
            Some(&self.name),
            Some(&self.version),
            Some(&self.kind),
            Some(&self.description),
            Some(&self.license),
            Some(&self.reads),
            self.config_schema.as_ref(),
        ];
        ANNOTATION_KEYS
            .iter()
            .zip(values)
            .filter_map(|(key, value)| value.filter(|v| !v.is_empty()).map(|v| (key.to_string(), v.clone())))
            .collect()
    }

    /// Read back from a manifest's annotations (missing ones empty).
    pub fn from_annotations(annotations: &BTreeMap<String, String>) -> PluginMetadata {
        let get = |i: usize| annotations.get(ANNOTATION_KEYS[i]).cloned().unwrap_or_default();
        PluginMetadata {
            name: get(0),
            version: get(1),
            kind: get(2),
            description: get(3),
            license: get(4),
            reads: get(5),
            config_schema: annotations.get(ANNOTATION_KEYS[6]).cloned(),
        }
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Check that `bytes` is a WebAssembly component (not a core module, not
/// something else) and read its top-level imports and exports.
pub fn component_world(bytes: &[u8], what: &str) -> Result<ComponentWorld, RegistryError> {
    let not = |why: String| RegistryError::NotAComponent { what: what.to_string(), why };
    match bytes.get(..8) {
        Some([0, b'a', b's', b'm', 0x0d, 0, 1, 0]) => {}
        Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => {
            return Err(not("it is a core module; build with `--target wasm32-wasip2` to get a component".into()));
        }
        _ => return Err(not("it does not start with the WebAssembly component header".into())),
    }
    let mut world = ComponentWorld::default();
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| not(format!("invalid component: {e}")))?;
        match payload {
            wasmparser::Payload::ModuleSection { .. } | wasmparser::Payload::ComponentSection { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth = depth.saturating_sub(1),
            wasmparser::Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    let import = import.map_err(|e| not(format!("invalid import section: {e}")))?;
                    world.imports.push(import.name.name.to_string());
                }
            }
            wasmparser::Payload::ComponentExportSection(reader) if depth == 0 => {
                for export in reader {
                    let export = export.map_err(|e| not(format!("invalid export section: {e}")))?;
                    world.exports.push(export.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    Ok(world)
}

/// The config blob for a component whose layer has digest `layer`.
pub fn config_for(world: ComponentWorld, layer: &str, created: Option<String>) -> WasmConfig {
    WasmConfig {
        created,
        architecture: "wasm".into(),
        os: "wasip2".into(),
        layer_digests: vec![layer.to_string()],
        component: Some(world),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_metadata_round_trips_through_annotations() {
        let metadata = PluginMetadata {
            name: "gopher-quality".into(),
            version: "0.1.0".into(),
            kind: "filter".into(),
            description: "Gopher rules".into(),
            license: "Apache-2.0".into(),
            reads: String::new(),
            config_schema: Some(r#"{"type":"object"}"#.into()),
        };
        let annotations = metadata.annotations();
        assert_eq!(annotations["org.opencontainers.image.licenses"], "Apache-2.0");
        assert!(!annotations.contains_key("dev.kiln.plugin.reads"));
        assert_eq!(PluginMetadata::from_annotations(&annotations), metadata);
    }

    #[test]
    fn a_core_module_and_garbage_are_not_components() {
        let module = [0, b'a', b's', b'm', 1, 0, 0, 0];
        let e = component_world(&module, "x.wasm").expect_err("core module").to_string();
        assert!(e.contains("core module") && e.contains("x.wasm"), "{e}");
        let e = component_world(b"#!/bin/sh\n", "y.wasm").expect_err("script").to_string();
        assert!(e.contains("component header"), "{e}");
    }

    #[test]
    fn the_empty_component_has_an_empty_world_and_a_stable_config() {
        let empty = [0, b'a', b's', b'm', 0x0d, 0, 1, 0];
        let world = component_world(&empty, "empty").expect("component");
        assert_eq!(world, ComponentWorld::default());
        let config = config_for(world, &digest(&empty), None);
        let json = serde_json::to_value(&config).expect("json");
        assert_eq!(json["architecture"], "wasm");
        assert_eq!(json["os"], "wasip2");
        assert_eq!(json["layerDigests"][0], digest(&empty));
    }
}
