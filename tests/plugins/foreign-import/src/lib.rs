//! A filter that also imports `kiln-test:vault/secrets`, which no Kiln host
//! provides: loading it must fail with a clear error, before any record.

wit_bindgen::generate!({
    path: ["../../../wit", "wit"],
    world: "kiln-test:vault/greedy-filter",
    generate_all,
});

use exports::kiln::plugin::{filter, plugin};
use kiln::plugin::types::{PluginInfo, PluginKind, RecordBatch, RecordParts, VerdictBatch};

struct Greedy;

impl plugin::Guest for Greedy {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "foreign-import".into(),
            version: "0.1.0".into(),
            kind: PluginKind::Filter,
            description: "imports a secrets interface".into(),
            reads: RecordParts::ID | RecordParts::METADATA | RecordParts::SCORES | RecordParts::LINEAGE,
            license: String::new(),
            config_schema: None,
        }
    }

    fn configure(_config: String) -> Result<(), String> {
        Ok(())
    }
}

impl filter::Guest for Greedy {
    fn filter(records: RecordBatch) -> VerdictBatch {
        let token = kiln_test::vault::secrets::get("api-key");
        let verdict = u32::from(!token.is_empty());
        VerdictBatch { reasons: vec![token], verdicts: vec![verdict; records.id_ends.len()] }
    }
}

#[cfg(target_family = "wasm")]
export!(Greedy);
