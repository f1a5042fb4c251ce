//! The file format of an encrypted backup: one header line naming the
//! format and the backup's id, then the dump in sealed chunks.
//!
//! Each chunk is a 4-byte big-endian length and a value sealed by
//! [`Crypto::seal`] (AES-256-GCM, random nonce) under the backup key, with
//! the backup's id, the chunk's number and whether it is the last bound as
//! associated data. So a changed byte, chunks swapped or copied from another
//! backup, and a file cut short (its last chunk is missing) all fail to
//! open, each naming the chunk.

use std::io::{self, Read, Write};

use app::backend::crypto::Crypto;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The first line's words before the id.
const MAGIC: &str = "PORTAL-BACKUP 1";
/// Plaintext bytes per chunk.
pub const CHUNK_BYTES: usize = 1 << 20;
/// A sealed chunk: version byte, nonce, the chunk and the tag.
const MAX_SEALED_BYTES: usize = CHUNK_BYTES + 1 + 12 + 16;

fn purpose(id: Uuid, index: u64, last: bool) -> String {
    format!("backup:{id}:{index}:{}", if last { "last" } else { "more" })
}

/// What a finished file holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Bytes of the file.
    pub file_bytes: u64,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    /// Bytes of the dump inside.
    pub plain_bytes: u64,
    pub chunks: u64,
}

/// Counts and hashes what is written to it or read through it.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Encrypts a dump into the backup format as it is written.
pub struct Writer<W: Write> {
    out: Hashing<W>,
    crypto: Crypto,
    id: Uuid,
    index: u64,
    buffer: Vec<u8>,
    plain_bytes: u64,
}

impl<W: Write> Writer<W> {
    /// Writes the header of backup `id` to `out`.
    pub fn new(out: W, crypto: Crypto, id: Uuid) -> io::Result<Self> {
        let mut out = Hashing {
            inner: out,
            hasher: Sha256::new(),
            bytes: 0,
        };
        out.write_all(format!("{MAGIC} {id}\n").as_bytes())?;
        Ok(Self {
            out,
            crypto,
            id,
            index: 0,
            buffer: Vec::with_capacity(CHUNK_BYTES),
            plain_bytes: 0,
        })
    }

    fn seal_chunk(&mut self, last: bool) -> io::Result<()> {
        let sealed = self
            .crypto
            .seal(&purpose(self.id, self.index, last), &self.buffer);
        let length = u32::try_from(sealed.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "chunk too large"))?;
        self.out.write_all(&length.to_be_bytes())?;
        self.out.write_all(&sealed)?;
        self.index += 1;
        self.buffer.clear();
        Ok(())
    }

    /// Seals the last chunk (empty when the dump filled the one before) and
    /// returns the output with what was written.
    pub fn finish(mut self) -> io::Result<(W, Summary)> {
        self.seal_chunk(true)?;
        self.out.flush()?;
        let summary = Summary {
            file_bytes: self.out.bytes,
            sha256: hex::encode(self.out.hasher.finalize_reset()),
            plain_bytes: self.plain_bytes,
            chunks: self.index,
        };
        Ok((self.out.inner, summary))
    }
}

impl<W: Write> Write for Writer<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(CHUNK_BYTES - self.buffer.len());
        self.buffer.extend_from_slice(&buf[..n]);
        self.plain_bytes += n as u64;
        if self.buffer.len() == CHUNK_BYTES {
            self.seal_chunk(false)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Why a backup file does not read back.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("not a backup of this portal (the first line is not `{MAGIC} <id>`)")]
    NotABackup,
    #[error("the file ends inside chunk {0}, before its last chunk: it is incomplete")]
    Truncated(u64),
    #[error(
        "chunk {0} does not decrypt: the file was changed, or was made under another master key"
    )]
    Tampered(u64),
    #[error("the file goes on after its last chunk")]
    TrailingData,
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Reads as much as fits in `buf`; fewer bytes only at the end of input.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Decrypts a whole backup, handing each chunk of the dump to `sink`;
/// returns its id and what it held.
pub fn read(
    input: impl Read,
    crypto: &Crypto,
    mut sink: impl FnMut(&[u8]) -> io::Result<()>,
) -> Result<(Uuid, Summary), FormatError> {
    let mut input = Hashing {
        inner: input,
        hasher: Sha256::new(),
        bytes: 0,
    };
    let mut header = Vec::with_capacity(64);
    let mut byte = [0u8; 1];
    while header.len() <= MAGIC.len() + 40 {
        if read_full(&mut input, &mut byte)? == 0 || byte[0] == b'\n' {
            break;
        }
        header.push(byte[0]);
    }
    let id = std::str::from_utf8(&header)
        .ok()
        .and_then(|line| line.strip_prefix(MAGIC))
        .and_then(|rest| rest.strip_prefix(' '))
        .and_then(|id| id.parse::<Uuid>().ok())
        .ok_or(FormatError::NotABackup)?;
    let mut plain_bytes = 0u64;
    let mut index = 0u64;
    let mut sealed = vec![0u8; MAX_SEALED_BYTES];
    loop {
        let mut length = [0u8; 4];
        if read_full(&mut input, &mut length)? < 4 {
            return Err(FormatError::Truncated(index));
        }
        let length = u32::from_be_bytes(length) as usize;
        if length > MAX_SEALED_BYTES {
            return Err(FormatError::Tampered(index));
        }
        if read_full(&mut input, &mut sealed[..length])? < length {
            return Err(FormatError::Truncated(index));
        }
        let body = &sealed[..length];
        let (plain, last) = match crypto.open(&purpose(id, index, false), body) {
            Ok(plain) => (plain, false),
            Err(_) => match crypto.open(&purpose(id, index, true), body) {
                Ok(plain) => (plain, true),
                Err(_) => return Err(FormatError::Tampered(index)),
            },
        };
        sink(&plain)?;
        plain_bytes += plain.len() as u64;
        index += 1;
        if last {
            break;
        }
    }
    if read_full(&mut input, &mut byte)? != 0 {
        return Err(FormatError::TrailingData);
    }
    Ok((
        id,
        Summary {
            file_bytes: input.bytes,
            sha256: hex::encode(input.hasher.finalize_reset()),
            plain_bytes,
            chunks: index,
        },
    ))
}

#[cfg(test)]
mod tests {
    use app::backend::crypto::MasterKey;

    use super::*;

    fn backup(crypto: &Crypto, id: Uuid, plain: &[u8]) -> (Vec<u8>, Summary) {
        let mut writer = Writer::new(Vec::new(), crypto.clone(), id).expect("header");
        writer.write_all(plain).expect("write");
        writer.finish().expect("finish")
    }

    fn read_back(crypto: &Crypto, file: &[u8]) -> Result<(Uuid, Vec<u8>, Summary), FormatError> {
        let mut plain = Vec::new();
        let (id, summary) = read(file, crypto, |chunk| {
            plain.extend_from_slice(chunk);
            Ok(())
        })?;
        Ok((id, plain, summary))
    }

    #[test]
    fn a_backup_reads_back_whole_at_every_size() {
        let crypto = Crypto::new(&MasterKey::generate());
        for size in [0, 1, CHUNK_BYTES - 1, CHUNK_BYTES, 2 * CHUNK_BYTES + 7] {
            let plain: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let id = Uuid::new_v4();
            let (file, written) = backup(&crypto, id, &plain);
            let (read_id, read_plain, summary) = read_back(&crypto, &file).expect("reads");
            assert_eq!((read_id, read_plain == plain), (id, true), "{size} bytes");
            assert_eq!(summary, written, "{size} bytes");
            assert_eq!(summary.file_bytes, file.len() as u64);
            assert_eq!(summary.chunks, size as u64 / CHUNK_BYTES as u64 + 1);
        }
    }

    #[test]
    fn changed_cut_swapped_or_foreign_chunks_are_named() {
        let crypto = Crypto::new(&MasterKey::generate());
        let plain = vec![7u8; 2 * CHUNK_BYTES + 10];
        let id = Uuid::new_v4();
        let (file, _) = backup(&crypto, id, &plain);
        let header = format!("{MAGIC} {id}\n").len();
        let sealed = 4 + MAX_SEALED_BYTES;

        let mut changed = file.clone();
        changed[header + sealed + 100] ^= 1;
        assert!(matches!(
            read_back(&crypto, &changed),
            Err(FormatError::Tampered(1))
        ));

        let cut = &file[..file.len() - 10];
        assert!(matches!(
            read_back(&crypto, cut),
            Err(FormatError::Truncated(2))
        ));
        // Without its last chunk the file still ends on a chunk boundary.
        let without_last = &file[..header + 2 * sealed];
        assert!(matches!(
            read_back(&crypto, without_last),
            Err(FormatError::Truncated(2))
        ));

        let mut swapped = file[..header].to_vec();
        swapped.extend_from_slice(&file[header + sealed..header + 2 * sealed]);
        swapped.extend_from_slice(&file[header..header + sealed]);
        swapped.extend_from_slice(&file[header + 2 * sealed..]);
        assert!(matches!(
            read_back(&crypto, &swapped),
            Err(FormatError::Tampered(0))
        ));

        let mut longer = file.clone();
        longer.push(0);
        assert!(matches!(
            read_back(&crypto, &longer),
            Err(FormatError::TrailingData)
        ));

        let other_key = Crypto::new(&MasterKey::generate());
        assert!(matches!(
            read_back(&other_key, &file),
            Err(FormatError::Tampered(0))
        ));
        let relabelled = format!("{MAGIC} {}\n", Uuid::new_v4()).into_bytes();
        let mut moved = relabelled;
        moved.extend_from_slice(&file[header..]);
        assert!(matches!(
            read_back(&crypto, &moved),
            Err(FormatError::Tampered(0))
        ));
        assert!(matches!(
            read_back(&crypto, b"PGDMP not ours"),
            Err(FormatError::NotABackup)
        ));
    }
}
