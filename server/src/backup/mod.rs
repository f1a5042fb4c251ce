//! Encrypted logical backups: `pg_dump`'s custom format of the portal's
//! database (the managed cluster or `DATABASE_URL`), encrypted as it is
//! written under a key derived from the master key, with a manifest beside
//! it.
//!
//! A backup is written as `….partial` files and renamed only once the dump
//! finished and was synced to disk, the manifest last: a process killed
//! halfway leaves partial files that no listing counts as a backup.

pub mod format;

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};
use app::backend::crypto::{Crypto, MasterKey};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use self::format::{FormatError, Summary};

/// The label the backup key is derived under.
const KEY_LABEL: &str = "backups";
/// Names of the files of one backup: `{stem}.pgdump.enc` and `{stem}.json`.
const DATA_SUFFIX: &str = ".pgdump.enc";
const MANIFEST_SUFFIX: &str = ".json";
const PARTIAL_SUFFIX: &str = ".partial";
/// What `pg_dump --format=custom` writes first.
const DUMP_MAGIC: &[u8] = b"PGDMP";

/// The key that backups are encrypted under.
pub fn backup_crypto(master: &MasterKey) -> Crypto {
    Crypto::new(&master.derive(KEY_LABEL))
}

/// What is known of a backup without decrypting it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Version of the file format.
    pub format: u32,
    pub id: Uuid,
    /// The data file's name, in the manifest's folder.
    pub file: String,
    pub created_at: DateTime<Utc>,
    /// The newest migration applied to the database dumped.
    pub schema_version: String,
    /// Bytes of the data file.
    pub size: u64,
    /// SHA-256 of the data file, hex.
    pub sha256: String,
    /// Bytes of the dump inside.
    pub dump_bytes: u64,
    pub chunks: u64,
}

/// Opens a new file readable by its owner only, failing if it exists.
fn create_private(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// Syncs the folder so that a rename in it survives a crash.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The `pg_dump` command for `url`: the password in `PGPASSWORD`, never on
/// the command line, where other users could read it. The portal's role is
/// bound by row-level security like every connection of the portal, so the
/// dump asks for the policies to apply (instead of failing on them) in the
/// system scope, in which they let every clinic's rows through.
fn pg_dump(url: &SecretString) -> anyhow::Result<Command> {
    let binaries = crate::postgres::find_binaries()
        .context("finding pg_dump (install the PostgreSQL client or server binaries)")?;
    let mut url = url::Url::parse(url.expose_secret()).context("DATABASE_URL is not a URL")?;
    let password = url.password().map(str::to_owned);
    url.set_password(None)
        .map_err(|()| anyhow::anyhow!("DATABASE_URL has no host"))?;
    let mut command = Command::new(binaries.join("pg_dump"));
    command
        .arg("--format=custom")
        .arg("--no-password")
        .arg("--enable-row-security")
        .env("PGOPTIONS", "-c portal.scope=system")
        .arg("--dbname")
        .arg(url.as_str())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(password) = password {
        let password = percent_encoding::percent_decode_str(&password)
            .decode_utf8_lossy()
            .into_owned();
        command.env("PGPASSWORD", password);
    }
    Ok(command)
}

/// Dumps the database at `url` into a new encrypted backup in `dir`.
pub fn create(
    dir: &Path,
    url: &SecretString,
    crypto: &Crypto,
    schema_version: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Manifest> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let id = Uuid::now_v7();
    let stem = format!(
        "portal-{}-{}",
        now.format("%Y%m%dT%H%M%SZ"),
        &id.simple().to_string()[24..]
    );
    let data_name = format!("{stem}{DATA_SUFFIX}");
    let partial = dir.join(format!("{data_name}{PARTIAL_SUFFIX}"));
    let result = write_dump(&partial, url, crypto, id);
    let summary = match result {
        Ok(summary) => summary,
        Err(e) => {
            fs::remove_file(&partial).ok();
            return Err(e);
        }
    };
    fs::rename(&partial, dir.join(&data_name))?;
    let manifest = Manifest {
        format: 1,
        id,
        file: data_name,
        created_at: now,
        schema_version: schema_version.to_owned(),
        size: summary.file_bytes,
        sha256: summary.sha256,
        dump_bytes: summary.plain_bytes,
        chunks: summary.chunks,
    };
    let manifest_name = format!("{stem}{MANIFEST_SUFFIX}");
    let partial = dir.join(format!("{manifest_name}{PARTIAL_SUFFIX}"));
    let mut file = create_private(&partial)?;
    file.write_all(&serde_json::to_vec_pretty(&manifest)?)?;
    file.sync_all()?;
    fs::rename(&partial, dir.join(manifest_name))?;
    sync_dir(dir)?;
    Ok(manifest)
}

fn write_dump(
    path: &Path,
    url: &SecretString,
    crypto: &Crypto,
    id: Uuid,
) -> anyhow::Result<Summary> {
    let file = create_private(path).with_context(|| format!("creating {}", path.display()))?;
    let mut writer = format::Writer::new(BufWriter::new(file), crypto.clone(), id)?;
    let mut child = pg_dump(url)?.spawn().context("starting pg_dump")?;
    let mut stdout = child
        .stdout
        .take()
        .context("pg_dump has no standard output")?;
    let mut stderr = child
        .stderr
        .take()
        .context("pg_dump has no standard error")?;
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).ok();
        text
    });
    let copied = io::copy(&mut stdout, &mut writer);
    let status = child.wait().context("waiting for pg_dump")?;
    let errors = errors.join().unwrap_or_default();
    copied.context("writing the backup")?;
    if !status.success() {
        bail!("pg_dump failed ({status}): {}", errors.trim());
    }
    let (out, summary) = writer.finish()?;
    let file = out
        .into_inner()
        .map_err(|e| anyhow::anyhow!("writing the backup: {}", e.error()))?;
    file.sync_all()?;
    Ok(summary)
}

/// One backup found in the folder.
#[derive(Clone, Debug)]
pub struct Listed {
    pub manifest: Manifest,
    /// `None` when the data file is there with the manifest's size; else why
    /// it cannot be a good backup.
    pub problem: Option<String>,
}

/// The backups in `dir`, oldest first, and the files left by a backup that
/// did not finish.
pub fn list(dir: &Path) -> anyhow::Result<(Vec<Listed>, Vec<PathBuf>)> {
    let mut backups = Vec::new();
    let mut partial = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((backups, partial)),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    for entry in entries {
        let path = entry?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.ends_with(PARTIAL_SUFFIX) {
            partial.push(path);
            continue;
        }
        if !name.ends_with(MANIFEST_SUFFIX) || !name.starts_with("portal-") {
            continue;
        }
        let manifest: Manifest = match fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        {
            Some(manifest) => manifest,
            None => {
                partial.push(path);
                continue;
            }
        };
        let problem = match fs::metadata(dir.join(&manifest.file)) {
            Err(_) => Some("its data file is missing".to_owned()),
            Ok(meta) if meta.len() != manifest.size => Some(format!(
                "its data file has {} bytes, not {}",
                meta.len(),
                manifest.size
            )),
            Ok(_) => None,
        };
        backups.push(Listed { manifest, problem });
    }
    backups.sort_by_key(|b| b.manifest.created_at);
    partial.sort();
    Ok((backups, partial))
}

/// Removes the backups made more than `keep_days` days before `now`, data
/// file and manifest, and returns the data files' names. The newest backup
/// always stays, however old: if backups stopped being made, an old one is
/// better than none.
pub fn prune(dir: &Path, keep_days: u32, now: DateTime<Utc>) -> anyhow::Result<Vec<String>> {
    let cutoff = now - chrono::Duration::days(i64::from(keep_days));
    let (backups, _) = list(dir)?;
    let newest = backups.last().map(|b| b.manifest.id);
    let mut removed = Vec::new();
    for listed in backups {
        let m = &listed.manifest;
        if m.created_at >= cutoff || Some(m.id) == newest {
            continue;
        }
        // The manifest first: a prune stopped halfway leaves a data file
        // that no listing takes for a backup, never a manifest without it.
        let stem = m.file.strip_suffix(DATA_SUFFIX).unwrap_or(&m.file);
        fs::remove_file(dir.join(format!("{stem}{MANIFEST_SUFFIX}")))?;
        match fs::remove_file(dir.join(&m.file)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        removed.push(m.file.clone());
    }
    sync_dir(dir)?;
    Ok(removed)
}

/// Why a backup did not verify.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("no manifest beside it ({0}): it is not a finished backup")]
    NoManifest(String),
    #[error("its manifest cannot be read: {0}")]
    BadManifest(String),
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error("it belongs to backup {found}, not to the manifest's {expected}")]
    OtherBackup { expected: Uuid, found: Uuid },
    #[error("its {what} is {found}, the manifest says {expected}")]
    Mismatch {
        what: &'static str,
        expected: String,
        found: String,
    },
    #[error("it decrypts, but what it holds is not a pg_dump archive")]
    NotADump,
}

/// Decrypts the whole backup `file` and checks it against its manifest,
/// writing nothing.
pub fn verify(file: &Path, crypto: &Crypto) -> Result<Manifest, VerifyError> {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(DATA_SUFFIX).unwrap_or(&name);
    let manifest_path = file.with_file_name(format!("{stem}{MANIFEST_SUFFIX}"));
    let manifest: Manifest = match fs::read(&manifest_path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).map_err(|e| VerifyError::BadManifest(e.to_string()))?
        }
        Err(_) => return Err(VerifyError::NoManifest(manifest_path.display().to_string())),
    };
    let input = File::open(file).map_err(FormatError::from)?;
    let mut head = Vec::with_capacity(DUMP_MAGIC.len());
    let (id, summary) = format::read(io::BufReader::new(input), crypto, |chunk| {
        let wanted = DUMP_MAGIC.len().saturating_sub(head.len());
        head.extend_from_slice(&chunk[..wanted.min(chunk.len())]);
        Ok(())
    })?;
    if id != manifest.id {
        return Err(VerifyError::OtherBackup {
            expected: manifest.id,
            found: id,
        });
    }
    let checks = [
        ("SHA-256", &manifest.sha256, &summary.sha256),
        (
            "size",
            &manifest.size.to_string(),
            &summary.file_bytes.to_string(),
        ),
        (
            "dump size",
            &manifest.dump_bytes.to_string(),
            &summary.plain_bytes.to_string(),
        ),
    ];
    for (what, expected, found) in checks {
        if expected != found {
            return Err(VerifyError::Mismatch {
                what,
                expected: expected.clone(),
                found: found.clone(),
            });
        }
    }
    if head != DUMP_MAGIC {
        return Err(VerifyError::NotADump);
    }
    Ok(manifest)
}
