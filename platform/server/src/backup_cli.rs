//! `civitas backup` and `civitas restore`: the embedded default's data —
//! a consistent snapshot of the SQLite database (`VACUUM INTO`, taken while
//! the platform serves) and the supporting documents — in a directory with
//! a manifest of every file's size and SM3 digest. Keys are kept apart: the
//! master key and the platform key are never written into a backup (a
//! backup that held them would open every sealed field by itself); the
//! operator keeps them elsewhere and puts them back beside a restore. The
//! search index and the compiled-module cache are not copied either: a node
//! that finds no index rebuilds it from the database at start, so it
//! matches the snapshot exactly.
//! PostgreSQL is backed up with its own tools (README, "Backups").

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::exit;

/// The manifest's file name inside a backup.
const MANIFEST: &str = "manifest.json";
/// The database's file name, in a backup and in a data directory.
const DATABASE: &str = "civitas.db";
/// The supporting documents' directory, in a backup and a data directory.
const DOCUMENTS: &str = "documents";
/// This manifest format.
const FORMAT: u32 = 1;

/// What a backup holds.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    /// The manifest's format.
    format: u32,
    /// When the snapshot was taken (RFC 3339).
    taken_at: String,
    /// The `civitas` that took it.
    civitas: String,
    /// Every file, its path relative to the backup.
    files: Vec<Entry>,
}

/// One file of a backup.
#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    path: String,
    bytes: u64,
    sm3: String,
}

/// The SM3 digest and size of the file at `path`, read in 1 MiB pieces.
fn digest(path: &Path) -> anyhow::Result<(String, u64)> {
    let mut file = std::fs::File::open(path).with_context(|| path.display().to_string())?;
    let mut hasher = civitas_crypto::sm3::Hasher::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let read = file
            .read(&mut buffer)
            .with_context(|| path.display().to_string())?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        bytes += read as u64;
    }
    Ok((hex::encode(hasher.finalize()), bytes))
}

/// Every file under `dir`, relative to `base`, in a stable order.
fn files_under(dir: &Path, base: &Path, found: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| dir.display().to_string())?
        .collect::<Result<_, _>>()
        .with_context(|| dir.display().to_string())?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let kind = entry
            .file_type()
            .with_context(|| path.display().to_string())?;
        if kind.is_dir() {
            files_under(&path, base, found)?;
        } else if kind.is_file() {
            found.push(path.strip_prefix(base).unwrap_or(&path).to_path_buf());
        }
    }
    Ok(())
}

/// A directory that does not exist yet or is empty; otherwise an error
/// naming it (nothing is ever overwritten).
fn fresh_directory(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)
            .with_context(|| dir.display().to_string())?
            .next()
            .is_none();
        anyhow::ensure!(
            empty,
            "{} 不是空目录，未写入 (is not empty; nothing written)",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    // A backup holds the database: its owner's alone, as the data directory.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| dir.display().to_string())?;
    }
    Ok(())
}

/// Takes a backup of the embedded database at `database_url` and the
/// documents of `data_dir` into `out` (new or empty).
pub async fn backup(
    database_url: &str,
    data_dir: &Path,
    out: &Path,
    json: bool,
) -> anyhow::Result<u8> {
    let Some(file) = database_url.strip_prefix("sqlite:") else {
        eprintln!(
            "错误 (error): civitas backup 用于内嵌数据库 (SQLite)；PostgreSQL 请用 pg_dump 或基础备份 + WAL（见 README「备份」）\n\
             (civitas backup is for the embedded database; back PostgreSQL up with pg_dump or a base backup + WAL, README \"Backups\")"
        );
        return Ok(exit::USAGE);
    };
    if let Err(e) = fresh_directory(out) {
        eprintln!("错误 (error): {e:#}");
        return Ok(exit::FAILURE);
    }
    let taken_at = chrono::Utc::now().to_rfc3339();
    // One statement, one read transaction: the snapshot is consistent
    // while the platform goes on writing (WAL).
    let snapshot = out.join(DATABASE);
    {
        use sqlx::Connection;
        let mut connection = sqlx::SqliteConnection::connect(&format!("sqlite:{file}"))
            .await
            .with_context(|| format!("打开数据库 (opening the database) {file}"))?;
        sqlx::query("VACUUM INTO ?")
            .bind(snapshot.display().to_string())
            .execute(&mut connection)
            .await
            .context("数据库快照失败 (the database snapshot failed)")?;
        connection.close().await.ok();
    }
    // Documents are stored once by digest and never changed or deleted, so
    // copying them after the snapshot holds every one it refers to.
    let mut documents = Vec::new();
    files_under(&data_dir.join(DOCUMENTS), data_dir, &mut documents)?;
    let bar = crate::progress::bar(documents.len() as u64 + 1, json);
    bar.set_message("备份 (backing up)");
    let mut files = Vec::new();
    let (sm3, bytes) = digest(&snapshot)?;
    files.push(Entry {
        path: DATABASE.to_owned(),
        bytes,
        sm3,
    });
    bar.inc(1);
    for relative in documents {
        let target = out.join(&relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).with_context(|| parent.display().to_string())?;
        }
        std::fs::copy(data_dir.join(&relative), &target)
            .with_context(|| target.display().to_string())?;
        let (sm3, bytes) = digest(&target)?;
        files.push(Entry {
            path: relative.to_string_lossy().replace('\\', "/"),
            bytes,
            sm3,
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    let manifest = Manifest {
        format: FORMAT,
        taken_at,
        civitas: env!("CARGO_PKG_VERSION").to_owned(),
        files,
    };
    let text = serde_json::to_string_pretty(&manifest)?;
    std::fs::write(out.join(MANIFEST), &text).context(MANIFEST)?;
    let total: u64 = manifest.files.iter().map(|f| f.bytes).sum();
    if json {
        println!(
            "{}",
            serde_json::json!({"backup": out.display().to_string(), "files": manifest.files.len(),
                "bytes": total, "taken_at": manifest.taken_at, "manifest_sm3": hex::encode(civitas_crypto::sm3::digest(text.as_bytes()))})
        );
    } else {
        println!(
            "已备份 {} 个文件，共 {total} 字节 → {} (backed up {} files, {total} bytes)\n\
             密钥未包含在备份中：请另行保管 master.key 与 platform.pem (keys are not in the backup: keep master.key and platform.pem apart)",
            manifest.files.len(),
            out.display(),
            manifest.files.len()
        );
    }
    Ok(exit::OK)
}

/// Restores the backup in `from` into `data_dir` (the database to
/// `database_file`), which hold no data yet: every file is checked against
/// the manifest first, so a damaged backup writes nothing.
pub fn restore(
    from: &Path,
    database_file: &Path,
    data_dir: &Path,
    json: bool,
) -> anyhow::Result<u8> {
    let text = std::fs::read_to_string(from.join(MANIFEST))
        .with_context(|| from.join(MANIFEST).display().to_string())?;
    let manifest: Manifest = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} 无法读取 (does not parse)",
            from.join(MANIFEST).display()
        )
    })?;
    if manifest.format != FORMAT {
        eprintln!(
            "错误 (error): 备份格式 {} 不受支持 (backup format {} is not supported)",
            manifest.format, manifest.format
        );
        return Ok(exit::FAILURE);
    }
    if database_file.exists() || data_dir.join(DOCUMENTS).exists() {
        eprintln!(
            "错误 (error): {} 已有数据，未覆盖 (already holds data; nothing overwritten)",
            data_dir.display()
        );
        return Ok(exit::FAILURE);
    }
    let bar = crate::progress::bar(manifest.files.len() as u64 * 2, json);
    bar.set_message("校验 (checking)");
    let mut problems = Vec::new();
    for entry in &manifest.files {
        // Paths stay inside the backup and the data directory.
        let relative = Path::new(&entry.path);
        if relative.is_absolute()
            || relative
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            problems.push(format!(
                "{}: 路径无效 (not a path inside the backup)",
                entry.path
            ));
            continue;
        }
        match digest(&from.join(relative)) {
            Ok((sm3, bytes)) if sm3 == entry.sm3 && bytes == entry.bytes => {}
            Ok(_) => problems.push(format!(
                "{}: 内容与清单不符 (does not match the manifest)",
                entry.path
            )),
            Err(e) => problems.push(format!("{}: {e:#}", entry.path)),
        }
        bar.inc(1);
    }
    if !manifest.files.iter().any(|f| f.path == DATABASE) {
        problems.push(format!("{DATABASE}: 缺失 (missing)"));
    }
    if !problems.is_empty() {
        bar.finish_and_clear();
        eprintln!(
            "错误 (error): 备份已损坏，未恢复任何文件 (the backup is damaged; nothing restored):"
        );
        for problem in &problems {
            eprintln!("  {problem}");
        }
        return Ok(exit::FAILURE);
    }
    bar.set_message("恢复 (restoring)");
    for entry in &manifest.files {
        let target = if entry.path == DATABASE {
            database_file.to_path_buf()
        } else {
            data_dir.join(&entry.path)
        };
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).with_context(|| parent.display().to_string())?;
        }
        std::fs::copy(from.join(&entry.path), &target)
            .with_context(|| target.display().to_string())?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    if json {
        println!(
            "{}",
            serde_json::json!({"restored": data_dir.display().to_string(), "files": manifest.files.len(), "taken_at": manifest.taken_at})
        );
    } else {
        println!(
            "已恢复 {} 个文件（备份时间 {}）→ {} (restored {} files)\n\
             接下来 (next): 放回 master.key 与 platform.pem (put the keys back); civitas audit verify; 启动时重建检索索引 (serve rebuilds the search index at start)",
            manifest.files.len(),
            manifest.taken_at,
            data_dir.display(),
            manifest.files.len()
        );
    }
    Ok(exit::OK)
}
