//! Plugins distributed through a real OCI registry (the CNCF distribution
//! registry, Debian's `docker-registry`, started on loopback by each test
//! with its storage in a temporary directory): push, pull into a fresh
//! store, run a pipeline that names the plugin by reference, run it again
//! with the registry gone (pinned by digest: from the store alone), and
//! refuse a tampered blob without storing it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kiln_tests::{LocalRegistry, kiln_bin, stats, wasm, workspace};

fn kiln(cache: &Path, args: &[&str]) -> Output {
    Command::new(kiln_bin())
        .args(args)
        .env("KILN_CACHE_DIR", cache)
        .env("KILN_LOG", "warn")
        .env_remove("KILN_REGISTRY_USERNAME")
        .env_remove("KILN_REGISTRY_PASSWORD")
        .env("DOCKER_CONFIG", cache.join("no-docker-config"))
        .output()
        .expect("run kiln")
}

fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "kiln failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn failed(output: &Output) -> String {
    assert!(!output.status.success(), "kiln succeeded:\n{}", String::from_utf8_lossy(&output.stdout));
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A pipeline filtering the bundled sample with `plugin`, as TOML.
fn pipeline(dir: &Path, plugin: &str) -> PathBuf {
    pipeline_named(dir, "pipeline.toml", plugin, "{ min_words = 20 }")
}

/// [`pipeline`] in file `name` with the stage's `config`.
fn pipeline_named(dir: &Path, name: &str, plugin: &str, config: &str) -> PathBuf {
    let text = format!(
        r#"[pipeline]
name = "published"
work_dir = "work"

[[input]]
path = "{input}"

[[stage]]
name = "length"
kind = "filter"
plugin = {plugin}
config = {config}

[output]
dir = "out"
"#,
        input = workspace().join("pipelines/data/rustdoc-sample.jsonl").display()
    );
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

#[test]
fn a_pushed_plugin_is_pulled_verified_run_by_reference_and_then_offline() {
    let mut registry = LocalRegistry::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (publisher, user) = (dir.path().join("publisher-cache"), dir.path().join("user-cache"));
    let file = wasm("length-filter");
    let tag = format!("oci://{}/kiln-test/length-filter:0.1.0", registry.host);
    let pinned = ok(&kiln(&publisher, &["plugin", "push", file.to_str().expect("utf-8"), &tag]));
    let digest = pinned.rsplit_once('@').map(|(_, d)| d.to_string()).expect("push prints the pinned reference");
    assert!(pinned.starts_with(&tag) && digest.starts_with("sha256:"), "{pinned}");

    // What the plugin says about itself is on the manifest, as the registry holds it.
    let hex = digest.trim_start_matches("sha256:");
    let stored = registry.storage.join("docker/registry/v2/blobs/sha256").join(&hex[..2]).join(hex).join("data");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&stored).expect("the manifest in the registry")).expect("json");
    let annotations = &manifest["annotations"];
    assert_eq!(annotations["org.opencontainers.image.title"], "length-filter", "{manifest}");
    assert_eq!(annotations["org.opencontainers.image.licenses"], "Apache-2.0", "{manifest}");
    assert_eq!(annotations["dev.kiln.plugin.kind"], "filter", "{manifest}");
    let schema: serde_json::Value =
        serde_json::from_str(annotations["dev.kiln.plugin.config-schema"].as_str().expect("a schema")).expect("json");
    assert!(schema["properties"]["min_words"].is_object(), "{schema}");

    // `plugin inspect` takes the reference: resolved like a pipeline would, then described.
    let inspected = ok(&kiln(&publisher, &["plugin", "inspect", &pinned]));
    for needle in ["reference:   oci://", "license:     Apache-2.0", "config keys:", "  min_words (integer | null)"] {
        assert!(inspected.contains(needle), "missing `{needle}` in\n{inspected}");
    }

    // Another machine's store: pulled, verified, byte for byte the file.
    let path = ok(&kiln(&user, &["plugin", "pull", &tag]));
    assert!(path.starts_with(user.to_str().expect("utf-8")), "{path}");
    assert_eq!(std::fs::read(&path).expect("pulled"), std::fs::read(&file).expect("file"));

    // A pipeline naming the plugin by tag keeps what the local file keeps.
    let by_file = tempfile::tempdir().expect("tempdir");
    ok(&kiln(
        &user,
        &["run", pipeline(by_file.path(), &format!("{:?}", file.display().to_string())).to_str().expect("utf-8")],
    ));
    let by_tag = tempfile::tempdir().expect("tempdir");
    ok(&kiln(&user, &["run", pipeline(by_tag.path(), &format!("\"{tag}\"")).to_str().expect("utf-8")]));
    assert_eq!(stats(by_tag.path())["kept"], stats(by_file.path())["kept"]);
    assert!(stats(by_file.path())["kept"].as_u64().unwrap_or(0) > 0);

    // `--cache-dir DIR` keeps published plugins in DIR/plugins, as it does compiled ones.
    let flagged = dir.path().join("flag-cache");
    let by_flag = tempfile::tempdir().expect("tempdir");
    let p = pipeline(by_flag.path(), &format!("\"{tag}\""));
    ok(&kiln(&user, &["--cache-dir", flagged.to_str().expect("utf-8"), "validate", p.to_str().expect("utf-8")]));
    assert!(flagged.join("plugins/blobs/sha256").is_dir(), "the store follows --cache-dir");

    // The registry is gone: pinned by digest, the run needs only the store;
    // by tag alone it cannot know what the tag names now, and says so.
    registry.stop();
    let offline = tempfile::tempdir().expect("tempdir");
    let table = format!("{{ oci = \"{tag}\", digest = \"{digest}\" }}");
    ok(&kiln(&user, &["run", pipeline(offline.path(), &table).to_str().expect("utf-8"), "--fresh"]));
    assert_eq!(stats(offline.path())["kept"], stats(by_file.path())["kept"]);
    let down = tempfile::tempdir().expect("tempdir");
    let stderr =
        failed(&kiln(&user, &["validate", pipeline(down.path(), &format!("\"{tag}\"")).to_str().expect("utf-8")]));
    assert!(stderr.contains(&tag) && stderr.contains("pipeline.toml:") && stderr.contains("tries"), "{stderr}");
    assert!(stderr.contains(&digest), "the hint names the digest to pin: {stderr}");
}

#[test]
fn a_moved_tag_changes_nothing_until_the_lock_is_updated() {
    let registry = LocalRegistry::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let tag = format!("oci://{}/kiln-test/quality:stable", registry.host);
    let length = wasm("length-filter");
    let gopher = wasm("gopher-quality");
    let first = ok(&kiln(&cache, &["plugin", "push", length.to_str().expect("utf-8"), &tag]));
    let first = first.rsplit_once('@').map(|(_, d)| d.to_string()).expect("digest");

    // The first run resolves the tag and writes kiln.lock beside the file.
    let p = pipeline_named(dir.path(), "pipeline.toml", &format!("\"{tag}\""), "{}");
    let p = p.to_str().expect("utf-8");
    let output = kiln(&cache, &["run", p]);
    ok(&output);
    assert!(String::from_utf8_lossy(&output.stderr).contains(&format!("kiln.lock: added {tag} -> {first}")));
    let lock_path = dir.path().join("kiln.lock");
    let lock = std::fs::read_to_string(&lock_path).expect("kiln.lock written by the first run");
    assert!(lock.contains(&first) && lock.contains("signer = \"unsigned\""), "{lock}");
    let kept_by_length = stats(dir.path())["kept"].clone();

    // Upstream, the tag moves to another plugin: what runs does not.
    ok(&kiln(&cache, &["plugin", "push", gopher.to_str().expect("utf-8"), &tag]));
    ok(&kiln(&cache, &["run", p, "--fresh", "--locked"]));
    assert_eq!(stats(dir.path())["kept"], kept_by_length, "the lock still runs the length filter");
    assert_eq!(std::fs::read_to_string(&lock_path).expect("lock"), lock, "the lock did not change");

    // `kiln lock --update` moves it, and says so; the next run follows.
    let output = kiln(&cache, &["lock", p, "--update"]);
    ok(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("moved {tag}: {first} -> ")), "{stderr}");
    ok(&kiln(&cache, &["run", p, "--fresh"]));
    let kept_by_gopher = stats(dir.path())["kept"].as_u64().expect("kept");
    assert!(kept_by_gopher < kept_by_length.as_u64().expect("kept"), "gopher-quality runs now");

    // --locked refuses a reference the lock lacks, naming it, before any work.
    let other = format!("oci://{}/kiln-test/other:1", registry.host);
    ok(&kiln(&cache, &["plugin", "push", length.to_str().expect("utf-8"), &other]));
    let before = std::fs::read_to_string(&lock_path).expect("lock");
    let p2 = pipeline_named(dir.path(), "other.toml", &format!("\"{other}\""), "{}");
    let stderr = failed(&kiln(&cache, &["run", p2.to_str().expect("utf-8"), "--locked"]));
    assert!(stderr.contains("--locked") && stderr.contains(&other) && stderr.contains("kiln lock"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&lock_path).expect("lock"), before);

    // A lock edited by hand into an invalid state is refused with its line.
    std::fs::write(&lock_path, before.replacen("digest = \"sha256:", "digest = \"sha512:", 1)).expect("edit");
    let stderr = failed(&kiln(&cache, &["validate", p]));
    assert!(stderr.contains("kiln.lock:") && stderr.contains("invalid lockfile"), "{stderr}");
}

#[test]
fn a_tampered_blob_and_a_non_component_are_refused_and_nothing_is_stored() {
    let registry = LocalRegistry::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (publisher, user) = (dir.path().join("publisher-cache"), dir.path().join("user-cache"));
    let file = wasm("length-filter");
    let tag = format!("oci://{}/kiln-test/tampered:1", registry.host);
    ok(&kiln(&publisher, &["plugin", "push", file.to_str().expect("utf-8"), &tag]));

    // Flip a byte of the component's blob in the registry's own storage.
    let bytes = std::fs::read(&file).expect("file");
    let hex = kiln_registry_digest(&bytes);
    let blob = registry.storage.join("docker/registry/v2/blobs/sha256").join(&hex[..2]).join(&hex).join("data");
    let mut tampered = std::fs::read(&blob).expect("the blob in the registry's storage");
    let last = tampered.len() - 1;
    tampered[last] ^= 0xff;
    std::fs::write(&blob, tampered).expect("tamper");
    let stderr = failed(&kiln(&user, &["plugin", "pull", &tag]));
    assert!(stderr.contains("digest mismatch") && stderr.contains(&tag), "{stderr}");
    assert!(!user.join("plugins/blobs").exists(), "nothing unverified was stored");

    // A core module, or any other file, is not pushed.
    let module = dir.path().join("core.wasm");
    std::fs::write(&module, [0, b'a', b's', b'm', 1, 0, 0, 0]).expect("write");
    let stderr = failed(&kiln(&publisher, &["plugin", "push", module.to_str().expect("utf-8"), &tag]));
    assert!(stderr.contains("core WebAssembly module") && stderr.contains("nothing was pushed"), "{stderr}");
    let stderr =
        failed(&kiln(&publisher, &["plugin", "push", file.to_str().expect("utf-8"), "oci://ghcr.io/Acme/x:1"]));
    assert!(stderr.contains("lowercase"), "{stderr}");
}

/// The hex sha256 of `bytes`, as the registry names the blob.
fn kiln_registry_digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A pipeline like [`pipeline_named`] with a `[trust]` table.
fn trusting(dir: &Path, name: &str, plugin: &str, trust: &str) -> PathBuf {
    let path = pipeline_named(dir, name, plugin, "{}");
    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(&path, format!("{text}\n{trust}")).expect("write");
    path
}

#[test]
fn only_plugins_signed_by_a_trusted_key_run_when_signatures_are_required() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let cache = d.join("cache");
    let arg = |p: &Path| p.to_str().expect("utf-8").to_string();
    ok(&kiln(&cache, &["plugin", "keygen", "--out", &arg(&d.join("alice"))]));
    ok(&kiln(&cache, &["plugin", "keygen", "--out", &arg(&d.join("bob"))]));
    let stderr = failed(&kiln(&cache, &["plugin", "keygen", "--out", &arg(&d.join("alice"))]));
    assert!(stderr.contains("never overwritten"), "{stderr}");
    let unsigned = d.join("length.wasm");
    std::fs::copy(wasm("length-filter"), &unsigned).expect("copy");
    let signed = d.join("length-signed.wasm");
    ok(&kiln(
        &cache,
        &["plugin", "sign", &arg(&unsigned), "--key", &arg(&d.join("alice.key")), "--out", &arg(&signed)],
    ));
    let alice_trusted = "[trust]\nrequire_signature = true\n\n[[trust.key]]\nname = \"alice\"\nfile = \"alice.pub\"\n";
    let bob_trusted = "[trust]\nrequire_signature = true\n\n[[trust.key]]\nname = \"bob\"\nfile = \"bob.pub\"\n";

    // Signed by a trusted key: runs, and keeps what the unsigned file keeps.
    let p = trusting(d, "signed.toml", &format!("{:?}", arg(&signed)), alice_trusted);
    ok(&kiln(&cache, &["run", &arg(&p)]));
    assert_eq!(stats(d)["kept"], 1847, "the signed component runs like the unsigned one");

    // Unsigned, signed by a key not trusted for it, or a signature moved onto
    // other code: refused before any record is read, naming who and what.
    let cases = [
        ("unsigned.toml", arg(&unsigned), alice_trusted, vec!["is not signed", "`alice`", "length.wasm"]),
        ("untrusted.toml", arg(&signed), bob_trusted, vec!["is signed by key", "does not trust", "`bob`"]),
    ];
    for (name, plugin, trust, needles) in cases {
        let p = trusting(d, name, &format!("{plugin:?}"), trust);
        let stderr = failed(&kiln(&cache, &["validate", &arg(&p)]));
        for needle in needles {
            assert!(stderr.contains(needle) && stderr.contains(name), "{name}: {needle}: {stderr}");
        }
    }
    let signed_bytes = std::fs::read(&signed).expect("signed");
    let tail = &signed_bytes[std::fs::metadata(&unsigned).expect("len").len() as usize..];
    let mut transplanted = std::fs::read(wasm("gopher-quality")).expect("gopher");
    transplanted.extend_from_slice(tail);
    let moved = d.join("moved.wasm");
    std::fs::write(&moved, transplanted).expect("write");
    let p = trusting(d, "moved.toml", &format!("{:?}", arg(&moved)), alice_trusted);
    let stderr = failed(&kiln(&cache, &["validate", &arg(&p)]));
    assert!(stderr.contains("does not verify"), "{stderr}");

    // A secret key given as a trusted public key is a clear error at its line.
    let p =
        trusting(d, "badkey.toml", &format!("{:?}", arg(&signed)), &alice_trusted.replace("alice.pub", "alice.key"));
    let stderr = failed(&kiln(&cache, &["validate", &arg(&p)]));
    assert!(stderr.contains("secret key, not a public key") && stderr.contains("badkey.toml:"), "{stderr}");
    assert!(!stderr.contains(std::fs::read_to_string(d.join("alice.key")).expect("key").trim()), "never echoed");

    // A user-level trust file applies to every pipeline, with no [trust] in it.
    let user_trust = d.join("trust.toml");
    std::fs::write(&user_trust, "require_signature = true\n\n[[key]]\nname = \"alice\"\nfile = \"alice.pub\"\n")
        .expect("write");
    let with_user_trust = |p: &Path| {
        Command::new(kiln_bin())
            .args(["validate", &arg(p)])
            .env("KILN_CACHE_DIR", &cache)
            .env("KILN_TRUST_FILE", &user_trust)
            .output()
            .expect("run kiln")
    };
    let plain = pipeline_named(d, "plain.toml", &format!("{:?}", arg(&unsigned)), "{}");
    let stderr = failed(&with_user_trust(&plain));
    assert!(stderr.contains("is not signed") && stderr.contains("`alice`"), "{stderr}");
    let plain_signed = pipeline_named(d, "plain-signed.toml", &format!("{:?}", arg(&signed)), "{}");
    ok(&with_user_trust(&plain_signed));
    // A trust file asked for but missing is an error, not a policy silently dropped.
    let missing = Command::new(kiln_bin())
        .args(["validate", &arg(&plain)])
        .env("KILN_CACHE_DIR", &cache)
        .env("KILN_TRUST_FILE", d.join("no-such-trust.toml"))
        .output()
        .expect("run kiln");
    let stderr = failed(&missing);
    assert!(stderr.contains("cannot read the user trust file") && stderr.contains("no-such-trust.toml"), "{stderr}");

    // Published and pulled, the signature travels with it; the lock names the signer.
    let registry = LocalRegistry::start();
    let tag = format!("oci://{}/kiln-test/signed:1", registry.host);
    ok(&kiln(&cache, &["plugin", "push", &arg(&signed), &tag]));
    let published = tempfile::tempdir().expect("tempdir");
    std::fs::copy(d.join("alice.pub"), published.path().join("alice.pub")).expect("copy");
    let p = trusting(published.path(), "pipeline.toml", &format!("\"{tag}\""), alice_trusted);
    ok(&kiln(&d.join("other-cache"), &["run", &arg(&p)]));
    let lock = std::fs::read_to_string(published.path().join("kiln.lock")).expect("lock");
    assert!(lock.contains("signer = \"alice ("), "{lock}");
}

#[test]
fn a_shared_plugin_store_on_object_storage_serves_nodes_that_cannot_reach_the_registry() {
    shared_plugin_store_on(&kiln_tests::LocalS3::start());
}

/// The same on Azure Blob Storage (Azurite), where a plugin already there is
/// told by the store's own answer to a conditional create.
#[test]
fn a_shared_plugin_store_on_azure_serves_nodes_that_cannot_reach_the_registry() {
    shared_plugin_store_on(&kiln_tests::LocalAzurite::start());
}

fn shared_plugin_store_on(server: &dyn kiln_tests::ObjectServer) {
    let mut registry = LocalRegistry::start();
    server.create_bucket("plugins");
    let dir = tempfile::tempdir().expect("tempdir");
    let url = server.url("plugins", "kiln");
    let shared = |cache: &Path, args: &[&str]| {
        let mut cmd = Command::new(kiln_bin());
        cmd.args(args).env("KILN_CACHE_DIR", cache).env("KILN_LOG", "warn").envs(server.env());
        cmd.env("KILN_PLUGIN_STORE", &url).env("DOCKER_CONFIG", cache.join("no-docker-config"));
        cmd.output().expect("run kiln")
    };
    // The login node pulls (the registry is reachable from it): the plugin lands in the shared store too.
    let tag = format!("oci://{}/kiln-test/length-filter:0.2.0", registry.host);
    let file = wasm("length-filter");
    let pinned = ok(&kiln(&dir.path().join("publisher"), &["plugin", "push", file.to_str().expect("utf-8"), &tag]));
    let digest = pinned.rsplit_once('@').map(|(_, d)| d.to_string()).expect("pinned");
    ok(&shared(&dir.path().join("login"), &["plugin", "pull", &pinned]));
    // Pulled again from another login node: already in the shared store, which is no error.
    ok(&shared(&dir.path().join("login-2"), &["plugin", "pull", &pinned]));
    let keys = server.keys("plugins", "kiln");
    assert!(keys.iter().any(|k| k.starts_with("kiln/blobs/sha256/") && k.ends_with(".wasm")), "{keys:?}");
    assert!(keys.contains(&format!("kiln/manifests/sha256/{}.json", digest.trim_start_matches("sha256:"))), "{keys:?}");
    let by_file = tempfile::tempdir().expect("tempdir");
    ok(&kiln(
        &dir.path().join("publisher"),
        &["run", pipeline(by_file.path(), &format!("{:?}", file.display().to_string())).to_str().expect("utf-8")],
    ));

    // A compute node with an empty cache and no way to the registry runs the pinned plugin from the shared store.
    registry.stop();
    let table = format!("{{ oci = \"{tag}\", digest = \"{digest}\" }}");
    let node = tempfile::tempdir().expect("tempdir");
    let out = shared(&dir.path().join("node"), &["run", pipeline(node.path(), &table).to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stats(node.path())["kept"], stats(by_file.path())["kept"]);
    let blob = std::fs::read_dir(dir.path().join("node/plugins/blobs/sha256")).expect("kept locally").count();
    assert_eq!(blob, 1, "the node's own store keeps it for its next run");
    // Without the shared store, the same node could not have run it.
    let alone = tempfile::tempdir().expect("tempdir");
    let stderr =
        failed(&kiln(&dir.path().join("alone"), &["run", pipeline(alone.path(), &table).to_str().expect("utf-8")]));
    assert!(stderr.contains(&tag), "{stderr}");
}
