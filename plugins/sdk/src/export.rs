//! The export macros: glue between a plugin type and the generated bindings.
//!
//! Each `export_<kind>!` macro expands, in the plugin's crate, to the WIT
//! bindings of that kind's world, a converter between the generated types and
//! this crate's plain types, and the `Guest` implementations that hold the
//! configured plugin in a thread-local (a component instance is single-threaded).

/// Shared part of every export macro: bindings, `plugin` interface, conversions.
/// `$every_part` says whether the plugin reads every part of each record
/// (`plugin-info.reads`); if not, it reads texts only.
#[doc(hidden)]
#[macro_export]
macro_rules! __kiln_common {
    ($world:tt, $ty:ty, $kind:ident, every_part: $every_part:literal) => {
        #[allow(dead_code, missing_docs, unsafe_op_in_unsafe_fn, clippy::all)]
        mod __kiln_bindings {
            $crate::__kiln_generate!($world);
        }

        #[doc(hidden)]
        pub struct __KilnExport;

        ::std::thread_local! {
            static __KILN_PLUGIN: ::core::cell::RefCell<::core::option::Option<$ty>> =
                const { ::core::cell::RefCell::new(::core::option::Option::None) };
        }

        fn __kiln_with<R>(f: impl FnOnce(&mut $ty) -> R) -> R {
            __KILN_PLUGIN.with_borrow_mut(|p| match p.as_mut() {
                ::core::option::Option::Some(p) => f(p),
                ::core::option::Option::None => {
                    panic!("kiln plugin called before `configure`: the host must configure it first")
                }
            })
        }

        fn __kiln_log(level: $crate::log::Level, message: &str) {
            use __kiln_bindings::kiln::plugin::log as wl;
            let level = match level {
                $crate::log::Level::Trace => wl::Level::Trace,
                $crate::log::Level::Debug => wl::Level::Debug,
                $crate::log::Level::Info => wl::Level::Info,
                $crate::log::Level::Warn => wl::Level::Warn,
                $crate::log::Level::Error => wl::Level::Error,
            };
            wl::log(level, message);
        }

        /// One prompt per record, built by `prompt` (critics and refiners).
        #[allow(dead_code)]
        fn __kiln_prompts(
            records: __kiln_bindings::kiln::plugin::types::RecordBatch,
            prompt: impl Fn(&$ty, &$crate::Record) -> $crate::Prompt,
        ) -> ::std::vec::Vec<__kiln_bindings::kiln::plugin::types::Prompt> {
            __kiln_with(|p| {
                __kiln_convert::batch_in(records).iter().map(|r| __kiln_convert::prompt_out(prompt(p, r))).collect()
            })
        }

        impl __kiln_bindings::exports::kiln::plugin::plugin::Guest for __KilnExport {
            fn info() -> __kiln_bindings::kiln::plugin::types::PluginInfo {
                __kiln_bindings::kiln::plugin::types::PluginInfo {
                    name: ::core::env!("CARGO_PKG_NAME").into(),
                    version: ::core::env!("CARGO_PKG_VERSION").into(),
                    kind: __kiln_bindings::kiln::plugin::types::PluginKind::$kind,
                    description: <$ty as $crate::Plugin>::DESCRIPTION.into(),
                    reads: {
                        use __kiln_bindings::kiln::plugin::types::RecordParts as P;
                        if $every_part { P::ID | P::METADATA | P::SCORES | P::LINEAGE } else { P::empty() }
                    },
                    license: ::core::env!("CARGO_PKG_LICENSE").into(),
                    config_schema: ::core::option::Option::Some(
                        $crate::__config_schema::<<$ty as $crate::Plugin>::Config>(),
                    ),
                }
            }

            fn configure(config: ::std::string::String) -> ::core::result::Result<(), ::std::string::String> {
                $crate::log::__install(__kiln_log);
                let config = $crate::__parse_config::<<$ty as $crate::Plugin>::Config>(&config)?;
                let plugin = <$ty as $crate::Plugin>::new(config)?;
                __KILN_PLUGIN.with_borrow_mut(|p| *p = ::core::option::Option::Some(plugin));
                ::core::result::Result::Ok(())
            }
        }

        #[allow(dead_code)]
        mod __kiln_convert {
            use super::__kiln_bindings::kiln::plugin::types as w;

            pub fn score_in(s: w::Score) -> $crate::Score {
                $crate::Score { name: s.name, value: s.value }
            }
            pub fn score_out(s: $crate::Score) -> w::Score {
                w::Score { name: s.name, value: s.value }
            }
            pub fn record_in(r: w::DataRecord) -> $crate::Record {
                $crate::Record {
                    id: r.id,
                    text: r.text,
                    metadata: r.metadata,
                    scores: r.scores.into_iter().map(score_in).collect(),
                    lineage: $crate::Lineage {
                        source: r.lineage.source,
                        parent: r.lineage.parent,
                        round: r.lineage.round,
                        steps: r.lineage.steps,
                    },
                }
            }
            pub fn record_out(r: $crate::Record) -> w::DataRecord {
                w::DataRecord {
                    id: r.id,
                    text: r.text,
                    metadata: r.metadata,
                    scores: r.scores.into_iter().map(score_out).collect(),
                    lineage: w::Lineage {
                        source: r.lineage.source,
                        parent: r.lineage.parent,
                        round: r.lineage.round,
                        steps: r.lineage.steps,
                    },
                }
            }
            pub fn records_in(rs: ::std::vec::Vec<w::DataRecord>) -> ::std::vec::Vec<$crate::Record> {
                rs.into_iter().map(record_in).collect()
            }
            pub fn batch_in(b: w::RecordBatch) -> ::std::vec::Vec<$crate::Record> {
                $crate::__Packed {
                    ids: b.ids,
                    id_ends: b.id_ends,
                    texts: b.texts,
                    text_ends: b.text_ends,
                    metadata: b.metadata,
                    metadata_ends: b.metadata_ends,
                    score_names: b.score_names,
                    score_name_ends: b.score_name_ends,
                    score_values: b.score_values,
                    score_ends: b.score_ends,
                    sources: b.sources,
                    source_ends: b.source_ends,
                    parents: b.parents,
                    parent_ends: b.parent_ends,
                    rounds: b.rounds,
                    steps: b.steps,
                    step_ends: b.step_ends,
                }
                .unpack()
            }
            pub fn prompt_in(p: w::Prompt) -> $crate::Prompt {
                $crate::Prompt {
                    messages: p
                        .messages
                        .into_iter()
                        .map(|m| $crate::Message { role: m.role, content: m.content })
                        .collect(),
                    tag: p.tag,
                    answer_schema: p.answer_schema,
                }
            }
            pub fn prompt_out(p: $crate::Prompt) -> w::Prompt {
                w::Prompt {
                    messages: p
                        .messages
                        .into_iter()
                        .map(|m| w::Message { role: m.role, content: m.content })
                        .collect(),
                    tag: p.tag,
                    answer_schema: p.answer_schema,
                }
            }
            pub fn completion_in(c: w::Completion) -> $crate::Completion {
                $crate::Completion { tag: c.tag, text: c.text }
            }
            pub fn completion_out(c: $crate::Completion) -> w::Completion {
                w::Completion { tag: c.tag, text: c.text }
            }
            pub fn verdicts_out(v: impl IntoIterator<Item = $crate::Verdict>) -> w::VerdictBatch {
                let (reasons, verdicts) = v.into_iter().collect::<$crate::__Verdicts>().finish();
                w::VerdictBatch { reasons, verdicts }
            }
        }

        // Natively (unit tests, benchmarks) the plugin is a plain library: the
        // component exports exist only in the WebAssembly build.
        #[cfg(target_family = "wasm")]
        __kiln_bindings::export!(__KilnExport with_types_in __kiln_bindings);
    };
}

/// Shared part of the two filter export macros: the `filter-plugin` world
/// whose `filter` export answers with the verdicts that `$verdicts` (an
/// iterator or collection of [`Verdict`](crate::Verdict)s, one per record)
/// computes from the configured plugin `$p` and the batch `$records`.
#[doc(hidden)]
#[macro_export]
macro_rules! __kiln_filter_world {
    ($ty:ty, every_part: $every_part:literal, |$p:ident, $records:ident| $verdicts:expr) => {
        $crate::__kiln_common!("filter-plugin", $ty, Filter, every_part: $every_part);

        impl __kiln_bindings::exports::kiln::plugin::filter::Guest for __KilnExport {
            fn filter(
                $records: __kiln_bindings::kiln::plugin::types::RecordBatch,
            ) -> __kiln_bindings::kiln::plugin::types::VerdictBatch {
                __kiln_with(|$p| __kiln_convert::verdicts_out($verdicts))
            }
        }
    };
}

/// Exports a [`Filter`](crate::Filter) as a `filter-plugin` component.
#[macro_export]
macro_rules! export_filter {
    ($ty:ty) => {
        $crate::__kiln_filter_world!($ty, every_part: true, |p, records| {
            let records = __kiln_convert::batch_in(records);
            <$ty as $crate::Filter>::filter_batch(p, &records)
        });
    };
}

/// Exports a [`TextFilter`](crate::TextFilter) as a `filter-plugin`
/// component that reads each text in place, in the batch the host sent,
/// without building records. It declares that it reads texts only, so the
/// host sends no ids, metadata, scores or lineage.
#[macro_export]
macro_rules! export_text_filter {
    ($ty:ty) => {
        // One verdict per text end: `text-ends` sets the batch's size.
        $crate::__kiln_filter_world!($ty, every_part: false, |p, records| $crate::__Parts::new(
            &records.texts,
            &records.text_ends
        )
        .map(|text| <$ty as $crate::TextFilter>::filter_text(p, text)));
    };
}

/// Exports a [`Mapper`](crate::Mapper) as a `mapper-plugin` component.
#[macro_export]
macro_rules! export_mapper {
    ($ty:ty) => {
        $crate::__kiln_common!("mapper-plugin", $ty, Mapper, every_part: true);

        impl __kiln_bindings::exports::kiln::plugin::mapper::Guest for __KilnExport {
            fn transform(
                records: __kiln_bindings::kiln::plugin::types::RecordBatch,
            ) -> ::std::vec::Vec<__kiln_bindings::kiln::plugin::types::Mapped> {
                use __kiln_bindings::kiln::plugin::types::Mapped as W;
                __kiln_with(|p| {
                    __kiln_convert::batch_in(records)
                        .into_iter()
                        .map(|r| match <$ty as $crate::Mapper>::map(p, r) {
                            $crate::Mapped::Keep(r) => W::Keep(__kiln_convert::record_out(r)),
                            $crate::Mapped::Drop(reason) => W::Drop(reason),
                        })
                        .collect()
                })
            }
        }
    };
}

/// Exports a [`Generator`](crate::Generator) as a `generator-plugin` component.
#[macro_export]
macro_rules! export_generator {
    ($ty:ty) => {
        $crate::__kiln_common!("generator-plugin", $ty, Generator, every_part: true);

        impl __kiln_bindings::exports::kiln::plugin::generator::Guest for __KilnExport {
            fn prompts(
                request: __kiln_bindings::kiln::plugin::types::GenerationRequest,
            ) -> ::std::vec::Vec<__kiln_bindings::kiln::plugin::types::Prompt> {
                let request = $crate::GenerationRequest {
                    count: request.count,
                    seed: request.seed,
                    seeds: __kiln_convert::records_in(request.seeds),
                };
                __kiln_with(|p| <$ty as $crate::Generator>::prompts(p, &request))
                    .into_iter()
                    .map(__kiln_convert::prompt_out)
                    .collect()
            }

            fn parse(
                completions: ::std::vec::Vec<__kiln_bindings::kiln::plugin::types::Completion>,
            ) -> ::std::vec::Vec<
                ::core::result::Result<
                    ::std::vec::Vec<__kiln_bindings::kiln::plugin::types::DataRecord>,
                    ::std::string::String,
                >,
            > {
                __kiln_with(|p| {
                    completions
                        .into_iter()
                        .map(|c| {
                            <$ty as $crate::Generator>::parse(p, &__kiln_convert::completion_in(c))
                                .map(|rs| rs.into_iter().map(__kiln_convert::record_out).collect())
                        })
                        .collect()
                })
            }
        }
    };
}

/// Exports a [`Critic`](crate::Critic) as a `critic-plugin` component.
#[macro_export]
macro_rules! export_critic {
    ($ty:ty) => {
        $crate::__kiln_common!("critic-plugin", $ty, Critic, every_part: true);

        impl __kiln_bindings::exports::kiln::plugin::critic::Guest for __KilnExport {
            fn prompts(
                records: __kiln_bindings::kiln::plugin::types::RecordBatch,
            ) -> ::std::vec::Vec<__kiln_bindings::kiln::plugin::types::Prompt> {
                __kiln_prompts(records, |p, r| <$ty as $crate::Critic>::prompt(p, r))
            }

            fn parse(
                completions: ::std::vec::Vec<__kiln_bindings::kiln::plugin::types::Completion>,
            ) -> ::std::vec::Vec<
                ::core::result::Result<__kiln_bindings::kiln::plugin::types::Critique, ::std::string::String>,
            > {
                __kiln_with(|p| {
                    completions
                        .into_iter()
                        .map(|c| {
                            <$ty as $crate::Critic>::parse(p, &__kiln_convert::completion_in(c)).map(|c| {
                                __kiln_bindings::kiln::plugin::types::Critique {
                                    scores: c.scores.into_iter().map(__kiln_convert::score_out).collect(),
                                    rationale: c.rationale,
                                }
                            })
                        })
                        .collect()
                })
            }
        }
    };
}

/// Exports a [`Refiner`](crate::Refiner) as a `refiner-plugin` component.
#[macro_export]
macro_rules! export_refiner {
    ($ty:ty) => {
        $crate::__kiln_common!("refiner-plugin", $ty, Refiner, every_part: true);

        impl __kiln_bindings::exports::kiln::plugin::refiner::Guest for __KilnExport {
            fn prompts(
                records: __kiln_bindings::kiln::plugin::types::RecordBatch,
            ) -> ::std::vec::Vec<__kiln_bindings::kiln::plugin::types::Prompt> {
                __kiln_prompts(records, |p, r| <$ty as $crate::Refiner>::prompt(p, r))
            }

            fn verify(
                rewrites: ::std::vec::Vec<__kiln_bindings::kiln::plugin::types::Rewrite>,
            ) -> ::std::vec::Vec<__kiln_bindings::kiln::plugin::types::RewriteCheck> {
                use __kiln_bindings::kiln::plugin::types::RewriteCheck as W;
                __kiln_with(|p| {
                    rewrites
                        .into_iter()
                        .map(|rw| {
                            let original = __kiln_convert::record_in(rw.original);
                            match <$ty as $crate::Refiner>::verify(p, &original, &rw.text) {
                                $crate::RewriteCheck::Accept => W::Accept,
                                $crate::RewriteCheck::Reject(reason) => W::Reject(reason),
                            }
                        })
                        .collect()
                })
            }
        }
    };
}

/// Exports a [`Model`](crate::Model) as a `model-plugin` component.
#[macro_export]
macro_rules! export_model {
    ($ty:ty) => {
        $crate::__kiln_common!("model-plugin", $ty, Model, every_part: true);

        impl __kiln_bindings::exports::kiln::plugin::model::Guest for __KilnExport {
            fn complete(
                prompts: ::std::vec::Vec<__kiln_bindings::kiln::plugin::types::Prompt>,
                seed: u64,
            ) -> ::std::vec::Vec<__kiln_bindings::kiln::plugin::types::Completion> {
                let prompts: ::std::vec::Vec<$crate::Prompt> =
                    prompts.into_iter().map(__kiln_convert::prompt_in).collect();
                __kiln_with(|p| <$ty as $crate::Model>::complete(p, &prompts, seed))
                    .into_iter()
                    .map(__kiln_convert::completion_out)
                    .collect()
            }
        }
    };
}
