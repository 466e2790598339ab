//! `kiln plugin keygen` and `kiln plugin sign`: make an Ed25519 key pair,
//! and sign a component with it (the signature is appended to the component
//! as a custom section, so it travels with the file and through registries;
//! see `kiln_registry::signature`). The secret key file is created with
//! mode 0600 and never overwritten; its content is never printed.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use kiln_registry::signature::{self, SecretKey};

/// `kiln plugin keygen`.
#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// Writes OUT.key (secret, mode 0600) and OUT.pub (public).
    #[arg(long, value_name = "OUT")]
    pub out: PathBuf,
}

/// `kiln plugin sign`.
#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// The component to sign.
    pub file: PathBuf,
    /// The secret key file (made by `kiln plugin keygen`).
    #[arg(long, value_name = "KEY")]
    pub key: PathBuf,
    /// Write the signed component here (default: replace FILE).
    #[arg(long, value_name = "OUT")]
    pub out: Option<PathBuf>,
}

/// Make a key pair.
pub fn keygen(args: &KeygenArgs) -> anyhow::Result<ExitCode> {
    let secret_path = args.out.with_extension("key");
    let public_path = args.out.with_extension("pub");
    for path in [&secret_path, &public_path] {
        if path.exists() {
            bail!("{} exists; keys are never overwritten (choose another --out)", path.display());
        }
    }
    let key = SecretKey::generate().map_err(anyhow::Error::msg)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&secret_path).with_context(|| format!("creating {}", secret_path.display()))?;
    writeln!(file, "{}", key.encode()).with_context(|| format!("writing {}", secret_path.display()))?;
    std::fs::write(&public_path, format!("{}\n", key.public().encode()))
        .with_context(|| format!("writing {}", public_path.display()))?;
    eprintln!("kiln plugin keygen: key {}", key.public().id());
    eprintln!("  secret {} (keep it private)", secret_path.display());
    eprintln!("  public {} (give it to those who trust you: [[trust.key]] file = …)", public_path.display());
    println!("{}", key.public().encode());
    Ok(ExitCode::SUCCESS)
}

/// Sign a component.
pub fn sign(args: &SignArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.key).with_context(|| format!("reading {}", args.key.display()))?;
    let key = SecretKey::parse(&text).map_err(|why| anyhow::anyhow!("{}: {why}", args.key.display()))?;
    let bytes = std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    kiln_registry::artifact::component_world(&bytes, &args.file.display().to_string())?;
    let signed = signature::sign(&bytes, &key).map_err(|why| anyhow::anyhow!("{}: {why}", args.file.display()))?;
    let out = args.out.clone().unwrap_or_else(|| args.file.clone());
    std::fs::write(&out, &signed).with_context(|| format!("writing {}", out.display()))?;
    let count = signature::signatures(&signed).map(|s| s.len()).unwrap_or(0);
    eprintln!("kiln plugin sign: {} signed by key {} ({count} signature(s))", out.display(), key.public().id());
    eprintln!("  sha256 {}", kiln_registry::artifact::digest(&signed));
    Ok(ExitCode::SUCCESS)
}
