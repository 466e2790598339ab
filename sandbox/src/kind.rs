//! The six kinds of plugin, one per world of the contract.

use std::fmt;
use std::str::FromStr;

use super::bindings::wit;

/// Which world a plugin implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginKind {
    /// Keep or drop records.
    Filter,
    /// Rewrite or drop records.
    Mapper,
    /// Build prompts for new records and parse completions.
    Generator,
    /// Build judge prompts and parse judgements.
    Critic,
    /// Build rewrite prompts and verify rewrites.
    Refiner,
    /// Complete prompts inside the sandbox.
    Model,
}

impl PluginKind {
    /// Every kind, in contract order.
    pub const ALL: [PluginKind; 6] = [
        PluginKind::Filter,
        PluginKind::Mapper,
        PluginKind::Generator,
        PluginKind::Critic,
        PluginKind::Refiner,
        PluginKind::Model,
    ];

    /// The lower-case name, also the name of the kind's interface.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::Filter => "filter",
            PluginKind::Mapper => "mapper",
            PluginKind::Generator => "generator",
            PluginKind::Critic => "critic",
            PluginKind::Refiner => "refiner",
            PluginKind::Model => "model",
        }
    }

    /// The world a plugin of this kind targets, e.g. `filter-plugin`.
    pub fn world(self) -> String {
        format!("{}-plugin", self.as_str())
    }

    /// The kind whose interface is `name` (e.g. `filter`).
    pub fn from_interface(name: &str) -> Option<PluginKind> {
        PluginKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kind name other than the six.
#[derive(Debug, thiserror::Error)]
#[error("unknown plugin kind `{0}`: expected one of filter, mapper, generator, critic, refiner, model")]
pub struct UnknownKind(pub String);

impl FromStr for PluginKind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PluginKind::from_interface(s).ok_or_else(|| UnknownKind(s.to_string()))
    }
}

impl From<wit::PluginKind> for PluginKind {
    fn from(k: wit::PluginKind) -> Self {
        match k {
            wit::PluginKind::Filter => PluginKind::Filter,
            wit::PluginKind::Mapper => PluginKind::Mapper,
            wit::PluginKind::Generator => PluginKind::Generator,
            wit::PluginKind::Critic => PluginKind::Critic,
            wit::PluginKind::Refiner => PluginKind::Refiner,
            wit::PluginKind::Model => PluginKind::Model,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_names() {
        for k in PluginKind::ALL {
            assert_eq!(k.as_str().parse::<PluginKind>().ok(), Some(k));
            assert!(k.world().ends_with("-plugin"));
        }
        assert!("sorter".parse::<PluginKind>().is_err());
    }
}
