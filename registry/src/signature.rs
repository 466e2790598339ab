//! Ed25519 signatures that travel inside the component, as custom sections
//! named `kiln-signature` appended to its end (the approach of wasmsign2).
//!
//! Why embedded rather than an OCI referrer: the signature then goes
//! wherever the bytes go — a file copied by hand, a registry that does not
//! implement the referrers API, the content-addressed store, an air-gapped
//! mirror — and one check covers every way a plugin arrives. A plain digest
//! pull still works: the signed component is an ordinary component (the
//! runtime ignores custom sections); its digest is that of the signed
//! bytes. A signature covers every byte before the first signature section,
//! with a domain prefix, so a component can carry several signatures (each
//! appended after the others) and none can be moved onto other code.
//!
//! Keys are one line of text: `kiln-ed25519-public:<base64>` and
//! `kiln-ed25519-secret:<base64>` (32 bytes each). A key's id is the first
//! 16 hex digits of the sha256 of its public bytes.

use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

/// The custom section's name.
pub const SECTION: &str = "kiln-signature";
const PUBLIC_PREFIX: &str = "kiln-ed25519-public:";
const SECRET_PREFIX: &str = "kiln-ed25519-secret:";
const DOMAIN: &[u8] = b"kiln-plugin-signature-v1\0";

/// A public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

/// A secret key (never printed).
pub struct SecretKey(SigningKey);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({})", self.public().id())
    }
}

/// A signature found in a component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Who signed.
    pub key: PublicKey,
    /// Whether it verifies against the signed bytes.
    pub valid: bool,
}

impl PublicKey {
    /// Parse `kiln-ed25519-public:<base64>`.
    pub fn parse(text: &str) -> Result<PublicKey, String> {
        let bytes = decode(text.trim(), PUBLIC_PREFIX, "public")?;
        VerifyingKey::from_bytes(&bytes).map(PublicKey).map_err(|_| "not a valid Ed25519 public key".into())
    }

    /// `kiln-ed25519-public:<base64>`.
    pub fn encode(&self) -> String {
        format!("{PUBLIC_PREFIX}{}", base64::engine::general_purpose::STANDARD.encode(self.0.as_bytes()))
    }

    /// The first 16 hex digits of the sha256 of the key's bytes.
    pub fn id(&self) -> String {
        hex::encode(&Sha256::digest(self.0.as_bytes())[..8])
    }
}

impl SecretKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> Result<SecretKey, String> {
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed).map_err(|e| format!("no random source: {e}"))?;
        Ok(SecretKey(SigningKey::from_bytes(&seed)))
    }

    /// Parse `kiln-ed25519-secret:<base64>`.
    pub fn parse(text: &str) -> Result<SecretKey, String> {
        Ok(SecretKey(SigningKey::from_bytes(&decode(text.trim(), SECRET_PREFIX, "secret")?)))
    }

    /// `kiln-ed25519-secret:<base64>`.
    pub fn encode(&self) -> String {
        format!("{SECRET_PREFIX}{}", base64::engine::general_purpose::STANDARD.encode(self.0.to_bytes()))
    }

    /// Its public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }
}

fn decode(text: &str, prefix: &str, what: &str) -> Result<[u8; 32], String> {
    let body = text.strip_prefix(prefix).ok_or_else(|| {
        let other = if what == "public" { SECRET_PREFIX } else { PUBLIC_PREFIX };
        if text.starts_with(other) {
            format!("this is a {} key, not a {what} key", if what == "public" { "secret" } else { "public" })
        } else {
            format!("a {what} key is one line starting with `{prefix}` (made by `kiln plugin keygen`)")
        }
    })?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|_| format!("the {what} key is not base64 after `{prefix}`"))?;
    bytes.try_into().map_err(|_| format!("the {what} key is not 32 bytes"))
}

/// `component` with one more signature, by `key`.
pub fn sign(component: &[u8], key: &SecretKey) -> Result<Vec<u8>, String> {
    let (signed, _) = split(component)?;
    let signature = key.0.sign(&message(signed));
    let mut data = Vec::with_capacity(96);
    data.extend_from_slice(key.0.verifying_key().as_bytes());
    data.extend_from_slice(&signature.to_bytes());
    let section = wasm_encoder::CustomSection { name: SECTION.into(), data: data.into() };
    let mut out = component.to_vec();
    out.push(0);
    wasm_encoder::Encode::encode(&section, &mut out);
    Ok(out)
}

/// Every signature in `component`, each checked.
pub fn signatures(component: &[u8]) -> Result<Vec<Found>, String> {
    let (signed, sections) = split(component)?;
    let message = message(signed);
    Ok(sections
        .iter()
        .filter_map(|data| {
            let (key, signature) = data.split_at_checked(32)?;
            let key = VerifyingKey::from_bytes(key.try_into().ok()?).ok()?;
            let signature = Signature::from_slice(signature).ok()?;
            Some(Found { key: PublicKey(key), valid: key.verify(&message, &signature).is_ok() })
        })
        .collect())
}

fn message(signed: &[u8]) -> Vec<u8> {
    let mut m = DOMAIN.to_vec();
    m.extend_from_slice(&Sha256::digest(signed));
    m
}

/// The signed bytes (everything before the first signature section) and
/// each signature section's data. Signature sections must come last.
fn split(component: &[u8]) -> Result<(&[u8], Vec<&[u8]>), String> {
    let mut first: Option<usize> = None;
    let mut sections = Vec::new();
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        let payload = payload.map_err(|e| format!("not a valid component: {e}"))?;
        match payload {
            wasmparser::Payload::ModuleSection { .. } | wasmparser::Payload::ComponentSection { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth = depth.saturating_sub(1),
            wasmparser::Payload::CustomSection(reader) if depth == 0 && reader.name() == SECTION => {
                let range = reader.range();
                let header = 1 + leb128_len(range.len());
                let start = range.start.checked_sub(header).ok_or("a malformed signature section")?;
                if component.get(start) != Some(&0) {
                    return Err("a signature section with a non-minimal size (not written by Kiln)".into());
                }
                first.get_or_insert(start);
                sections.push(reader.data());
            }
            _ if first.is_some() && depth == 0 => {
                return Err("a section follows the signatures: signatures must be the component's last sections".into());
            }
            _ => {}
        }
    }
    Ok((&component[..first.unwrap_or(component.len())], sections))
}

fn leb128_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A component with one custom section, so that signing appends after content.
    fn component() -> Vec<u8> {
        let mut c = vec![0, b'a', b's', b'm', 0x0d, 0, 1, 0];
        c.push(0);
        wasm_encoder::Encode::encode(
            &wasm_encoder::CustomSection { name: "producers".into(), data: b"kiln test".as_slice().into() },
            &mut c,
        );
        c
    }

    #[test]
    fn signatures_verify_stack_and_catch_tampering() {
        let (alice, bob) = (SecretKey::generate().expect("key"), SecretKey::generate().expect("key"));
        let c = component();
        assert_eq!(signatures(&c).expect("parse"), vec![]);
        let once = sign(&c, &alice).expect("sign");
        let twice = sign(&once, &bob).expect("sign");
        let found = signatures(&twice).expect("parse");
        assert_eq!(found, vec![Found { key: alice.public(), valid: true }, Found { key: bob.public(), valid: true }]);
        // The signed component is still a component.
        crate::artifact::component_world(&twice, "signed").expect("a component");
        // One byte of the code changed: every signature fails.
        let mut tampered = twice.clone();
        tampered[12] ^= 1;
        assert!(signatures(&tampered).expect("parse").iter().all(|f| !f.valid));
    }

    #[test]
    fn keys_round_trip_and_are_told_apart() {
        let key = SecretKey::generate().expect("key");
        let public = key.public().encode();
        assert_eq!(PublicKey::parse(&public).expect("public"), key.public());
        assert_eq!(SecretKey::parse(&key.encode()).expect("secret").public(), key.public());
        let e = PublicKey::parse(&key.encode()).expect_err("secret as public");
        assert!(e.contains("secret key, not a public key"), "{e}");
        assert!(PublicKey::parse("ssh-ed25519 AAAA").expect_err("ssh").contains("kiln plugin keygen"));
        assert_eq!(key.public().id().len(), 16);
        assert!(!format!("{key:?}").contains(&key.encode()));
    }
}
