//! Host bindings for every world of the WIT contract (`wit/kiln.wit`).
//!
//! One `bindgen!` per world; the shared `types` and `log` interfaces are
//! generated once (in [`filter`]) and reused by the others through `with`, so
//! a [`wit::DataRecord`] is the same Rust type whichever world it crosses.

#![allow(missing_docs)]

/// Bindings of the `filter-plugin` world; also home of the shared interfaces.
pub mod filter {
    wasmtime::component::bindgen!({ world: "filter-plugin", path: "../wit", additional_derives: [PartialEq] });
}

/// Bindings of the `mapper-plugin` world.
pub mod mapper {
    wasmtime::component::bindgen!({
        world: "mapper-plugin",
        path: "../wit",
        with: {
            "kiln:plugin/types": super::filter::kiln::plugin::types,
            "kiln:plugin/log": super::filter::kiln::plugin::log,
        },
    });
}

/// Bindings of the `generator-plugin` world.
pub mod generator {
    wasmtime::component::bindgen!({
        world: "generator-plugin",
        path: "../wit",
        with: {
            "kiln:plugin/types": super::filter::kiln::plugin::types,
            "kiln:plugin/log": super::filter::kiln::plugin::log,
        },
    });
}

/// Bindings of the `critic-plugin` world.
pub mod critic {
    wasmtime::component::bindgen!({
        world: "critic-plugin",
        path: "../wit",
        with: {
            "kiln:plugin/types": super::filter::kiln::plugin::types,
            "kiln:plugin/log": super::filter::kiln::plugin::log,
        },
    });
}

/// Bindings of the `refiner-plugin` world.
pub mod refiner {
    wasmtime::component::bindgen!({
        world: "refiner-plugin",
        path: "../wit",
        with: {
            "kiln:plugin/types": super::filter::kiln::plugin::types,
            "kiln:plugin/log": super::filter::kiln::plugin::log,
        },
    });
}

/// Bindings of the `model-plugin` world.
pub mod model {
    wasmtime::component::bindgen!({
        world: "model-plugin",
        path: "../wit",
        with: {
            "kiln:plugin/types": super::filter::kiln::plugin::types,
            "kiln:plugin/log": super::filter::kiln::plugin::log,
        },
    });
}

/// The WIT types shared by all worlds (`kiln:plugin/types`).
pub use filter::kiln::plugin::types as wit;

/// The `log` import (`kiln:plugin/log`).
pub use filter::kiln::plugin::log as wit_log;
