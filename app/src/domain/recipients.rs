//! Recipient lists imported from CSV: which rows are usable, which are not
//! and why, and which repeat an earlier row.

use std::collections::HashSet;

use super::email::EmailAddress;

/// Largest CSV file accepted.
pub const MAX_CSV_BYTES: usize = 5 * 1024 * 1024;
/// Most rows in one import.
pub const MAX_ROWS: usize = 100_000;
/// Longest name kept.
const MAX_NAME_CHARS: usize = 200;

/// One usable row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    /// Lower-cased, so that one person is one recipient.
    pub email: EmailAddress,
    pub name: String,
}

/// A row that was left out, with its line in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RejectedRow {
    pub line: u64,
    pub value: String,
    pub reason: String,
}

/// What an import found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParsedList {
    pub recipients: Vec<Recipient>,
    pub rejected: Vec<RejectedRow>,
    /// Rows whose address appeared earlier in the file (merged into it).
    pub duplicates: usize,
    /// Data rows read (without the header).
    pub rows: usize,
}

/// Why a file could not be read at all.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("The file is empty.")]
    Empty,
    #[error("The file is larger than 5 MB. Split it into smaller files.")]
    TooLarge,
    #[error("The file has more than 100,000 rows. Split it into smaller files.")]
    TooManyRows,
    #[error("The file is not UTF-8 text. Save it as “CSV UTF-8” and try again.")]
    NotUtf8,
    #[error("The header row has no “email” column.")]
    NoEmailColumn,
}

/// Reads a CSV file with a header row naming an `email` column (and
/// optionally `name`); a file whose first cell is already an address is read
/// as `email[,name]` rows without a header.
pub fn parse_csv(bytes: &[u8]) -> Result<ParsedList, ImportError> {
    if bytes.len() > MAX_CSV_BYTES {
        return Err(ImportError::TooLarge);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| ImportError::NotUtf8)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(ImportError::Empty);
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let (mut email_col, mut name_col) = (0usize, Some(1usize));
    let mut pending_first = None;
    if let Some(first) = records.next() {
        match first {
            Ok(header) if EmailAddress::parse(header.get(0).unwrap_or("")).is_err() => {
                let find = |wanted: &[&str]| {
                    header.iter().position(|h| {
                        let h = h.to_lowercase();
                        wanted.iter().any(|w| h == *w)
                    })
                };
                email_col = find(&["email", "e-mail", "email address", "mail"])
                    .ok_or(ImportError::NoEmailColumn)?;
                name_col = find(&["name", "full name", "full_name"]);
            }
            other => pending_first = Some(other),
        }
    }
    let mut parsed = ParsedList::default();
    let mut seen = HashSet::new();
    for (index, record) in pending_first.into_iter().chain(records).enumerate() {
        parsed.rows += 1;
        if parsed.rows > MAX_ROWS {
            return Err(ImportError::TooManyRows);
        }
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                let line = e.position().map_or(index as u64 + 1, |p| p.line());
                parsed.rejected.push(RejectedRow {
                    line,
                    value: String::new(),
                    reason: "the row could not be read".into(),
                });
                continue;
            }
        };
        let line = record.position().map_or(index as u64 + 1, |p| p.line());
        let raw = record.get(email_col).unwrap_or("");
        let email = match EmailAddress::parse(&raw.to_lowercase()) {
            Ok(email) => email,
            Err(e) => {
                parsed.rejected.push(RejectedRow {
                    line,
                    value: raw.chars().take(100).collect(),
                    reason: format!("the address {e}"),
                });
                continue;
            }
        };
        if !seen.insert(email.clone()) {
            parsed.duplicates += 1;
            continue;
        }
        let name = name_col
            .and_then(|c| record.get(c))
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_NAME_CHARS)
            .collect();
        parsed.recipients.push(Recipient { email, name });
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_header_and_reports_bad_and_repeated_rows() {
        let csv = "Name,Email\nAnna,anna@example.org\nBad,not-an-address\nAnna again,ANNA@example.org\n\"Smith, Bo\",bo@example.org\n";
        let parsed = parse_csv(csv.as_bytes()).expect("parsed");
        assert_eq!(parsed.rows, 4);
        assert_eq!(parsed.duplicates, 1);
        assert_eq!(
            parsed
                .recipients
                .iter()
                .map(|r| (r.email.as_str(), r.name.as_str()))
                .collect::<Vec<_>>(),
            vec![
                ("anna@example.org", "Anna"),
                ("bo@example.org", "Smith, Bo")
            ]
        );
        assert_eq!(parsed.rejected.len(), 1);
        assert_eq!(parsed.rejected[0].line, 3);
        assert_eq!(parsed.rejected[0].value, "not-an-address");
        assert!(parsed.rejected[0].reason.contains("not a valid email"));
    }

    #[test]
    fn reads_rows_without_a_header() {
        let parsed = parse_csv(b"a@example.org\nb@example.org,Bea\n").expect("parsed");
        assert_eq!(parsed.recipients.len(), 2);
        assert_eq!(parsed.recipients[1].name, "Bea");
    }

    #[test]
    fn refuses_unusable_files() {
        assert_eq!(parse_csv(b"  \n"), Err(ImportError::Empty));
        assert_eq!(
            parse_csv(b"name,phone\nx,1\n"),
            Err(ImportError::NoEmailColumn)
        );
        assert_eq!(parse_csv(&[0xff, 0xfe, 0x00]), Err(ImportError::NotUtf8));
        assert_eq!(
            parse_csv(&vec![b'a'; MAX_CSV_BYTES + 1]),
            Err(ImportError::TooLarge)
        );
    }
}
