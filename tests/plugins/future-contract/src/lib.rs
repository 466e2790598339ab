//! A filter built against `kiln:plugin@0.2.0`, a contract this host does not
//! speak: loading it must fail with an error naming both versions.

wit_bindgen::generate!({
    inline: r#"
        package kiln:plugin@0.2.0;

        interface plugin {
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

struct Future;

impl exports::kiln::plugin::plugin::Guest for Future {
    fn configure(_config: String) -> Result<(), String> {
        Ok(())
    }
}

impl exports::kiln::plugin::filter::Guest for Future {
    fn filter(texts: Vec<String>) -> Vec<bool> {
        texts.iter().map(|t| !t.is_empty()).collect()
    }
}

#[cfg(target_family = "wasm")]
export!(Future);
