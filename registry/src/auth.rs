//! Registry credentials, found where docker and its peers keep them:
//! `KILN_REGISTRY_USERNAME` and `KILN_REGISTRY_PASSWORD` in the environment,
//! else the `auths` entry for the registry in `$DOCKER_CONFIG/config.json`
//! (default `~/.docker/config.json`), else anonymous. Credential helpers
//! (`credsStore`) are not run: a plugin pull must not execute programs named
//! by a config file. Values are never logged or put in an error.

use std::path::PathBuf;

use base64::Engine;
use oci_client::secrets::RegistryAuth;

use crate::error::RegistryError;

/// The credentials for `registry` (`host[:port]`).
pub fn credentials(registry: &str) -> Result<RegistryAuth, RegistryError> {
    if let (Ok(user), Ok(password)) = (std::env::var("KILN_REGISTRY_USERNAME"), std::env::var("KILN_REGISTRY_PASSWORD"))
    {
        return Ok(RegistryAuth::Basic(user, password));
    }
    let Some(path) = docker_config() else { return Ok(RegistryAuth::Anonymous) };
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(RegistryAuth::Anonymous) };
    from_docker_config(&text, registry).map_err(|why| RegistryError::Credentials { path, why })
}

fn docker_config() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker").join("config.json"))
}

/// The `auths` entry for `registry` in a docker config file's text.
fn from_docker_config(text: &str, registry: &str) -> Result<RegistryAuth, String> {
    let config: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not JSON (line {}, column {})", e.line(), e.column()))?;
    let Some(auths) = config.get("auths").and_then(|a| a.as_object()) else { return Ok(RegistryAuth::Anonymous) };
    let keys = [registry.to_string(), format!("https://{registry}"), format!("http://{registry}")];
    let Some(entry) = keys.iter().find_map(|k| auths.get(k.as_str())) else { return Ok(RegistryAuth::Anonymous) };
    if let Some(token) = entry.get("identitytoken").and_then(|t| t.as_str()) {
        return Ok(RegistryAuth::Bearer(token.to_string()));
    }
    let Some(encoded) = entry.get("auth").and_then(|a| a.as_str()) else { return Ok(RegistryAuth::Anonymous) };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| format!("`auths.{registry}.auth` is not base64"))?;
    let decoded = String::from_utf8(decoded).map_err(|_| format!("`auths.{registry}.auth` is not UTF-8"))?;
    let (user, password) =
        decoded.split_once(':').ok_or_else(|| format!("`auths.{registry}.auth` is not `user:password` in base64"))?;
    Ok(RegistryAuth::Basic(user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_docker_config_entries_without_echoing_them() {
        let config = r#"{"auths": {"https://registry.example:5000": {"auth": "YWxpY2U6czNjcjN0"}}}"#;
        match from_docker_config(config, "registry.example:5000").expect("parse") {
            RegistryAuth::Basic(user, password) => assert_eq!((user.as_str(), password.as_str()), ("alice", "s3cr3t")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(from_docker_config(config, "other:5000"), Ok(RegistryAuth::Anonymous)));
        let bad = r#"{"auths": {"r:1": {"auth": "not base64 s3cr3t!"}}}"#;
        let e = from_docker_config(bad, "r:1").expect_err("bad");
        assert!(e.contains("not base64") && !e.contains("s3cr3t"), "{e}");
    }
}
