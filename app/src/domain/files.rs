//! Files a clinic sends in reply to a request: PDF, JSON, CSV or ZIP, at most
//! 25 MB, recognised by their content as well as their name.

/// Largest file accepted.
pub const MAX_FILE_BYTES: usize = 25 * 1024 * 1024;

/// A recognised file type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Pdf,
    Json,
    Csv,
    Zip,
}

impl FileKind {
    /// `Content-Type` for downloads.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Pdf => "application/pdf",
            Self::Json => "application/json",
            Self::Csv => "text/csv; charset=utf-8",
            Self::Zip => "application/zip",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Self::Pdf => "pdf",
            Self::Json => "json",
            Self::Csv => "csv",
            Self::Zip => "zip",
        }
    }
}

/// Why a file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("The file is empty.")]
    Empty,
    #[error("The file is larger than 25 MB.")]
    TooLarge,
    #[error("Only PDF, JSON, CSV and ZIP files can be sent.")]
    Type,
    #[error("The file's content does not match its name (.{0}).")]
    Mismatch(&'static str),
}

/// Checks a file and returns its kind and a safe file name.
pub fn classify(filename: &str, bytes: &[u8]) -> Result<(FileKind, String), FileError> {
    if bytes.is_empty() {
        return Err(FileError::Empty);
    }
    if bytes.len() > MAX_FILE_BYTES {
        return Err(FileError::TooLarge);
    }
    let base = filename.rsplit(['/', '\\']).next().unwrap_or_default();
    let extension = base
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let kind = match extension.as_str() {
        "pdf" => FileKind::Pdf,
        "json" => FileKind::Json,
        "csv" => FileKind::Csv,
        "zip" => FileKind::Zip,
        _ => return Err(FileError::Type),
    };
    let matches = match kind {
        FileKind::Pdf => bytes.starts_with(b"%PDF-"),
        FileKind::Zip => bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06"),
        FileKind::Json => serde_json::from_slice::<serde_json::Value>(bytes).is_ok(),
        FileKind::Csv => std::str::from_utf8(bytes).is_ok_and(|text| !text.contains('\0')),
    };
    if !matches {
        return Err(FileError::Mismatch(kind.extension()));
    }
    let stem: String = base
        .rsplit_once('.')
        .map_or(base, |(stem, _)| stem)
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || "-_ ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    let stem = stem.trim();
    let stem = if stem.is_empty() { "file" } else { stem };
    Ok((kind, format!("{stem}.{}", kind.extension())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_types_are_checked_by_content() {
        assert_eq!(
            classify("export.pdf", b"%PDF-1.7 ...").map(|r| r.0),
            Ok(FileKind::Pdf)
        );
        assert_eq!(
            classify("data.JSON", b"{\"a\": 1}").map(|r| r.0),
            Ok(FileKind::Json)
        );
        assert_eq!(
            classify("rows.csv", b"a,b\n1,2\n").map(|r| r.0),
            Ok(FileKind::Csv)
        );
        assert_eq!(
            classify("all.zip", b"PK\x03\x04rest").map(|r| r.0),
            Ok(FileKind::Zip)
        );
        assert_eq!(
            classify("fake.pdf", b"<html>"),
            Err(FileError::Mismatch("pdf"))
        );
        assert_eq!(
            classify("fake.json", b"{nope"),
            Err(FileError::Mismatch("json"))
        );
        assert_eq!(classify("run.exe", b"MZ"), Err(FileError::Type));
        assert_eq!(classify("empty.pdf", b""), Err(FileError::Empty));
        assert_eq!(
            classify("big.csv", &vec![b'a'; MAX_FILE_BYTES + 1]),
            Err(FileError::TooLarge)
        );
    }

    #[test]
    fn names_are_made_safe() {
        assert_eq!(
            classify("../../etc/Passwort<Ü>.pdf", b"%PDF-").map(|r| r.1),
            Ok("Passwort_Ü_.pdf".into())
        );
        assert_eq!(
            classify("C:\\x\\\"quoted\".csv", b"a").map(|r| r.1),
            Ok("_quoted_.csv".into())
        );
        assert_eq!(
            classify(".pdf", b"%PDF-").map(|r| r.1),
            Ok("file.pdf".into())
        );
    }
}
