//! A filter built against an earlier build of `kiln:plugin@0.1.0`: the same
//! interface names and version, but a `plugin-info` without `reads` and the
//! filter answering a `bool` per text. Loading it must fail with an error that
//! says to rebuild it, not with a trap.

wit_bindgen::generate!({
    inline: r#"
        package kiln:plugin@0.1.0;

        interface types {
            enum plugin-kind { filter, mapper, generator, critic, refiner, model }

            record plugin-info {
                name: string,
                version: string,
                kind: plugin-kind,
                description: string,
            }
        }

        interface plugin {
            use types.{plugin-info};
            info: func() -> plugin-info;
            configure: func(config: string) -> result<_, string>;
        }

        interface filter {
            filter: func(texts: list<string>) -> list<bool>;
        }

        world filter-plugin {
            export plugin;
            export filter;
        }
    "#,
    world: "filter-plugin",
});

use kiln::plugin::types::{PluginInfo, PluginKind};

struct Stale;

impl exports::kiln::plugin::plugin::Guest for Stale {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "stale-contract".into(),
            version: "0.1.0".into(),
            kind: PluginKind::Filter,
            description: "built against an earlier build of the contract".into(),
        }
    }

    fn configure(_config: String) -> Result<(), String> {
        Ok(())
    }
}

impl exports::kiln::plugin::filter::Guest for Stale {
    fn filter(texts: Vec<String>) -> Vec<bool> {
        texts.iter().map(|t| !t.is_empty()).collect()
    }
}

#[cfg(target_family = "wasm")]
export!(Stale);
