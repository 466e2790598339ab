//! Where the API keys that `api_key_env` names come from.
//!
//! `kiln run` reads them from its environment. `kiln serve` runs many
//! tenants' pipelines in one process, so it must not: each tenant's keys are
//! the secrets its operator set for it (`kiln tenant secret set`), and a
//! pipeline names one by the same `api_key_env` key. The value is read once,
//! when the pipeline is built, and travels inside [`ApiKey`], whose `Debug`
//! shows only the name.

use std::collections::BTreeMap;
use std::sync::Arc;

/// The source of secret values.
#[derive(Clone, Default)]
pub enum Secrets {
    /// The process's environment variables (`kiln run`).
    #[default]
    Environment,
    /// Only these, by name (a tenant's secrets in `kiln serve`).
    Given(Arc<BTreeMap<String, String>>),
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secrets::Environment => f.write_str("Secrets::Environment"),
            Secrets::Given(map) => f.debug_tuple("Secrets::Given").field(&map.keys().collect::<Vec<_>>()).finish(),
        }
    }
}

impl Secrets {
    /// The value of secret `name`, trimmed; `None` when it is unset or blank.
    pub fn get(&self, name: &str) -> Option<ApiKey> {
        let value = match self {
            Secrets::Environment => std::env::var(name).ok(),
            Secrets::Given(map) => map.get(name).cloned(),
        }?;
        let value = value.trim();
        (!value.is_empty()).then(|| ApiKey { name: name.to_string(), value: value.to_string() })
    }

    /// What to tell a user whose `api_key_env = name` has no value, and what to do.
    pub fn missing(&self, name: &str) -> (String, String) {
        match self {
            Secrets::Environment => (
                format!("the environment variable `{name}` (api_key_env) is not set"),
                format!("export {name}=<your key> before running; the key is never written to outputs or logs"),
            ),
            Secrets::Given(_) => (
                format!("no secret `{name}` (api_key_env) is set for your tenant"),
                format!("ask the operator to run `kiln tenant secret set <tenant> {name}`"),
            ),
        }
    }
}

/// An API key and the name it was found under.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// The variable or secret name (`api_key_env`).
    pub name: String,
    value: String,
}

impl ApiKey {
    /// The key itself: for the `Authorization` header and the redactor only.
    pub fn expose(&self) -> &str {
        &self.value
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKey({}: <redacted>)", self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_secrets_are_the_only_source_and_never_printed() {
        // PATH is set wherever tests run (setting a variable here would race
        // the other test threads reading the environment).
        let path = std::env::var("PATH").expect("PATH is set");
        let given = Secrets::Given(Arc::new(BTreeMap::from([("TEAM_KEY".to_string(), " sk-123 ".to_string())])));
        assert!(given.get("PATH").is_none(), "the environment must not leak into a tenant");
        let key = given.get("TEAM_KEY").expect("set");
        assert_eq!(key.expose(), "sk-123");
        assert!(!format!("{key:?} {given:?}").contains("sk-123"));
        assert_eq!(Secrets::Environment.get("PATH").map(|k| k.expose().to_string()), Some(path.trim().to_string()));
        assert!(given.missing("X").1.contains("kiln tenant secret set"));
    }
}
