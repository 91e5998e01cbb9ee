//! `civitas crypto …`: SM2, SM3 and SM4 for operators, with the library's
//! defaults. Inputs are files or `-` (the default) for standard input.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use civitas_crypto::sm2::{CiphertextOrder, PrivateKey, PublicKey, Signature};
use civitas_crypto::{sm3, sm4};
use clap::{Args, Subcommand};

use civitas::exit;

/// National cryptography commands.
#[derive(Debug, Subcommand)]
pub enum CryptoCommand {
    /// Print the lowercase hex SM3 digest of a file or standard input.
    #[command(
        after_help = "Examples:\n  civitas crypto sm3 report.pdf\n  printf abc | civitas crypto sm3"
    )]
    Sm3 {
        /// Input file, or - for standard input.
        file: Option<PathBuf>,
    },
    /// SM2 keys, signatures and encryption.
    #[command(subcommand)]
    Sm2(Sm2Command),
    /// SM4-GCM encryption with a random nonce prepended.
    #[command(subcommand)]
    Sm4(Sm4Command),
}

/// SM2 commands.
#[derive(Debug, Subcommand)]
pub enum Sm2Command {
    /// Generate a key pair: KEY.pem (PKCS#8, mode 600) and KEY.pub.pem (SubjectPublicKeyInfo).
    #[command(after_help = "Examples:\n  civitas crypto sm2 keygen --out platform.pem")]
    Keygen {
        /// Where to write the private key; the public key goes beside it as .pub.pem.
        #[arg(long, value_name = "KEY.pem")]
        out: PathBuf,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
    /// Print the public key (PEM) of a private key.
    #[command(
        after_help = "Examples:\n  civitas crypto sm2 pubkey --key platform.pem > platform.pub.pem"
    )]
    Pubkey {
        /// The PKCS#8 PEM private key.
        #[arg(long, value_name = "KEY.pem")]
        key: PathBuf,
    },
    /// Sign (SM3 with Z and the user id); prints a base64 DER signature.
    #[command(after_help = "Examples:\n  civitas crypto sm2 sign --key platform.pem anchor.json")]
    Sign {
        /// The PKCS#8 PEM private key.
        #[arg(long, value_name = "KEY.pem")]
        key: PathBuf,
        #[command(flatten)]
        id: UserId,
        /// Input file, or - for standard input.
        file: Option<PathBuf>,
    },
    /// Verify a base64 signature (DER or raw r‖s); exits 0 if valid, 1 if not.
    #[command(
        after_help = "Examples:\n  civitas crypto sm2 verify --pub platform.pub.pem --sig MEUCIQ… anchor.json"
    )]
    Verify {
        /// The SubjectPublicKeyInfo PEM public key.
        #[arg(long = "pub", value_name = "PUB.pem")]
        public: PathBuf,
        /// The signature in base64.
        #[arg(long, value_name = "BASE64")]
        sig: String,
        #[command(flatten)]
        id: UserId,
        /// Input file, or - for standard input.
        file: Option<PathBuf>,
    },
    /// Encrypt to a public key; prints C1C3C2 hex (C1 with its 04).
    #[command(
        after_help = "Examples:\n  printf 310110199001011234 | civitas crypto sm2 encrypt --pub platform.pub.pem"
    )]
    Encrypt {
        /// The SubjectPublicKeyInfo PEM public key.
        #[arg(long = "pub", value_name = "PUB.pem")]
        public: PathBuf,
        /// Write the legacy C1C2C3 order instead.
        #[arg(long)]
        c1c2c3: bool,
        /// Input file, or - for standard input.
        file: Option<PathBuf>,
    },
    /// Decrypt hex C1C3C2 (with or without the 04 of C1); writes the raw plaintext.
    #[command(
        after_help = "Examples:\n  civitas crypto sm2 decrypt --key platform.pem cipher.hex\n  \
        civitas crypto sm2 decrypt --key platform.pem --c1c2c3 legacy.hex"
    )]
    Decrypt {
        /// The PKCS#8 PEM private key.
        #[arg(long, value_name = "KEY.pem")]
        key: PathBuf,
        /// Read the legacy C1C2C3 order.
        #[arg(long)]
        c1c2c3: bool,
        /// Input file, or - for standard input.
        file: Option<PathBuf>,
    },
}

/// The SM2 user id option.
#[derive(Debug, Args)]
pub struct UserId {
    /// The user id in Z.
    #[arg(long = "id", value_name = "ID", default_value = civitas_crypto::sm2::DEFAULT_USER_ID)]
    id: String,
}

/// SM4 commands.
#[derive(Debug, Subcommand)]
pub enum Sm4Command {
    /// Encrypt with SM4-GCM; prints hex nonce ‖ ciphertext ‖ tag.
    #[command(
        after_help = "Examples:\n  civitas crypto sm4 encrypt --key 0123456789abcdeffedcba9876543210 notes.txt"
    )]
    Encrypt {
        /// The 128-bit key in hex (32 digits).
        #[arg(long, value_name = "HEX")]
        key: String,
        /// Input file, or - for standard input.
        file: Option<PathBuf>,
    },
    /// Decrypt hex nonce ‖ ciphertext ‖ tag; writes the raw plaintext.
    #[command(
        after_help = "Examples:\n  civitas crypto sm4 decrypt --key 0123456789abcdeffedcba9876543210 notes.hex"
    )]
    Decrypt {
        /// The 128-bit key in hex (32 digits).
        #[arg(long, value_name = "HEX")]
        key: String,
        /// Input file, or - for standard input.
        file: Option<PathBuf>,
    },
}

fn read_input(file: Option<&Path>) -> anyhow::Result<Vec<u8>> {
    let mut data = Vec::new();
    match file {
        None => std::io::stdin()
            .read_to_end(&mut data)
            .context("读取标准输入失败 (cannot read standard input)")?,
        Some(path) if path == Path::new("-") => std::io::stdin()
            .read_to_end(&mut data)
            .context("读取标准输入失败 (cannot read standard input)")?,
        Some(path) => {
            data = std::fs::read(path)
                .with_context(|| format!("无法读取 (cannot read) {}", path.display()))?;
            data.len()
        }
    };
    Ok(data)
}

fn read_hex_input(file: Option<&Path>) -> anyhow::Result<Vec<u8>> {
    let text = read_input(file)?;
    let text = String::from_utf8(text).context("输入不是十六进制文本 (input is not hex text)")?;
    let compact: String = text.split_whitespace().collect();
    hex::decode(compact).context("输入不是有效的十六进制 (input is not valid hex)")
}

fn read_private_key(path: &Path) -> anyhow::Result<PrivateKey> {
    let pem = std::fs::read_to_string(path)
        .with_context(|| format!("无法读取私钥 (cannot read private key) {}", path.display()))?;
    Ok(PrivateKey::from_pkcs8_pem(&pem)?)
}

fn read_public_key(path: &Path) -> anyhow::Result<PublicKey> {
    let pem = std::fs::read_to_string(path)
        .with_context(|| format!("无法读取公钥 (cannot read public key) {}", path.display()))?;
    Ok(PublicKey::from_spki_pem(&pem)?)
}

fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()?;
    Ok(())
}

fn order(c1c2c3: bool) -> CiphertextOrder {
    if c1c2c3 {
        CiphertextOrder::C1C2C3
    } else {
        CiphertextOrder::C1C3C2
    }
}

/// Runs a crypto command and returns the exit code.
pub fn run(command: CryptoCommand) -> anyhow::Result<u8> {
    match command {
        CryptoCommand::Sm3 { file } => {
            println!(
                "{}",
                hex::encode(sm3::digest(&read_input(file.as_deref())?))
            );
        }
        CryptoCommand::Sm2(command) => return sm2(command),
        CryptoCommand::Sm4(Sm4Command::Encrypt { key, file }) => {
            let key = sm4::Key::from_hex(&key)?;
            let sealed = sm4::seal(&key, b"", &read_input(file.as_deref())?)?;
            println!("{}", hex::encode(sealed));
        }
        CryptoCommand::Sm4(Sm4Command::Decrypt { key, file }) => {
            let key = sm4::Key::from_hex(&key)?;
            write_stdout(&sm4::open(&key, b"", &read_hex_input(file.as_deref())?)?)?;
        }
    }
    Ok(exit::OK)
}

fn sm2(command: Sm2Command) -> anyhow::Result<u8> {
    match command {
        Sm2Command::Keygen { out, force } => {
            let public_path = public_path_for(&out);
            for path in [&out, &public_path] {
                if path.exists() && !force {
                    bail!(
                        "{} 已存在，使用 --force 覆盖 (already exists; use --force to overwrite)",
                        path.display()
                    );
                }
            }
            let key = PrivateKey::generate()?;
            write_private(&out, key.to_pkcs8_pem()?.as_bytes())?;
            std::fs::write(&public_path, key.public_key().to_spki_pem()?)
                .with_context(|| format!("无法写入 (cannot write) {}", public_path.display()))?;
            eprintln!(
                "已生成 (generated) {} 与 (and) {}",
                out.display(),
                public_path.display()
            );
        }
        Sm2Command::Pubkey { key } => {
            print!("{}", read_private_key(&key)?.public_key().to_spki_pem()?);
        }
        Sm2Command::Sign { key, id, file } => {
            let signature =
                read_private_key(&key)?.sign_with_id(&read_input(file.as_deref())?, &id.id)?;
            println!("{}", BASE64.encode(signature.to_der()));
        }
        Sm2Command::Verify {
            public,
            sig,
            id,
            file,
        } => {
            let public = read_public_key(&public)?;
            let bytes = BASE64
                .decode(sig.trim())
                .context("签名不是有效的 base64 (the signature is not valid base64)")?;
            let signature = Signature::parse(&bytes)?;
            let message = read_input(file.as_deref())?;
            return Ok(match public.verify_with_id(&message, &signature, &id.id) {
                Ok(()) => {
                    eprintln!("签名有效 (signature valid)");
                    exit::OK
                }
                Err(e) => {
                    eprintln!("{e}");
                    exit::FAILURE
                }
            });
        }
        Sm2Command::Encrypt {
            public,
            c1c2c3,
            file,
        } => {
            let ciphertext =
                read_public_key(&public)?.encrypt(&read_input(file.as_deref())?, order(c1c2c3))?;
            println!("{}", hex::encode(ciphertext));
        }
        Sm2Command::Decrypt { key, c1c2c3, file } => {
            let plaintext = read_private_key(&key)?
                .decrypt(&read_hex_input(file.as_deref())?, order(c1c2c3))?;
            write_stdout(&plaintext)?;
        }
    }
    Ok(exit::OK)
}

/// `KEY.pem` → `KEY.pub.pem`.
fn public_path_for(private: &Path) -> PathBuf {
    let stem = private
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    private.with_file_name(format!("{stem}.pub.pem"))
}

/// Writes a private key readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut file = civitas::keys::create_private_file(path, true)
        .with_context(|| format!("无法写入 (cannot write) {}", path.display()))?;
    file.write_all(bytes)?;
    Ok(())
}
