//! The audit log's hash chain: canonical encoding of an event, the chained
//! hash, and the walk that finds the first broken link.
//!
//! `hash = SHA-256(prev_hash || canonical(event))`, where the canonical form is
//! JSON with object keys sorted at every level and no insignificant spaces, so
//! the same event always hashes the same, whatever order its fields were built
//! in or how Postgres' `jsonb` reordered them.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The hash that precedes the first event of every chain.
pub const GENESIS_HASH: [u8; 32] = [0; 32];

/// The fields of an audit event that the chain protects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainedEvent {
    pub clinic_id: Option<Uuid>,
    pub seq: i64,
    /// Microseconds since the Unix epoch: the precision Postgres stores.
    pub occurred_at_micros: i64,
    pub actor_kind: String,
    pub actor_id: Option<Uuid>,
    pub actor_label: String,
    pub action: String,
    pub subject_kind: String,
    pub subject_id: String,
    pub details: Value,
    pub request_id: Option<String>,
}

impl ChainedEvent {
    /// The canonical byte encoding that is hashed.
    pub fn canonical(&self) -> Vec<u8> {
        let value = serde_json::to_value(self).unwrap_or(Value::Null);
        let mut out = String::with_capacity(256);
        write_canonical(&value, &mut out);
        out.into_bytes()
    }

    /// This event's hash, chained to `prev_hash`.
    pub fn chained_hash(&self, prev_hash: &[u8]) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(prev_hash);
        hasher.update(self.canonical());
        hasher.finalize().into()
    }
}

/// Writes `value` as JSON with sorted keys and no whitespace.
pub fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// One stored row of a chain, as the verifier sees it.
#[derive(Debug, Clone)]
pub struct StoredLink {
    /// The row's primary key, to name it in a report.
    pub id: i64,
    pub event: ChainedEvent,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

/// What is wrong with the first broken row of a chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("row {id} has sequence number {found}, expected {expected} (a row is missing)")]
    SequenceGap { id: i64, expected: i64, found: i64 },
    #[error("row {id} (#{seq}) does not point at the hash of the row before it")]
    PrevHashMismatch { id: i64, seq: i64 },
    #[error("row {id} (#{seq}) has been altered: its content does not match its hash")]
    HashMismatch { id: i64, seq: i64 },
}

impl ChainBreak {
    /// Primary key of the offending row.
    pub fn row_id(&self) -> i64 {
        match self {
            Self::SequenceGap { id, .. }
            | Self::PrevHashMismatch { id, .. }
            | Self::HashMismatch { id, .. } => *id,
        }
    }
}

/// Incremental verifier: feed it a chain's rows in sequence order.
///
/// A chain starts at sequence 1 from [`GENESIS_HASH`], so removing its first
/// rows is detected like any other gap.
#[derive(Debug, Default)]
pub struct ChainVerifier {
    last: Option<(i64, Vec<u8>)>,
    checked: u64,
}

impl ChainVerifier {
    /// A verifier for a chain whose events up to `seq` were purged by the
    /// retention rules; `hash` is the last purged event's hash.
    pub fn from_anchor(seq: i64, hash: Vec<u8>) -> Self {
        Self {
            last: Some((seq, hash)),
            checked: 0,
        }
    }

    /// Checks the next row; returns the first problem found.
    pub fn push(&mut self, link: &StoredLink) -> Result<(), ChainBreak> {
        let seq = link.event.seq;
        match &self.last {
            None => {
                if seq != 1 {
                    return Err(ChainBreak::SequenceGap {
                        id: link.id,
                        expected: 1,
                        found: seq,
                    });
                }
                if link.prev_hash != GENESIS_HASH {
                    return Err(ChainBreak::PrevHashMismatch { id: link.id, seq });
                }
            }
            Some((last_seq, last_hash)) => {
                if seq != last_seq + 1 {
                    return Err(ChainBreak::SequenceGap {
                        id: link.id,
                        expected: last_seq + 1,
                        found: seq,
                    });
                }
                if &link.prev_hash != last_hash {
                    return Err(ChainBreak::PrevHashMismatch { id: link.id, seq });
                }
            }
        }
        if link.event.chained_hash(&link.prev_hash).as_slice() != link.hash.as_slice() {
            return Err(ChainBreak::HashMismatch { id: link.id, seq });
        }
        self.last = Some((seq, link.hash.clone()));
        self.checked += 1;
        Ok(())
    }

    /// How many rows verified so far.
    pub fn checked(&self) -> u64 {
        self.checked
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(seq: i64) -> ChainedEvent {
        ChainedEvent {
            clinic_id: Some(Uuid::from_u128(7)),
            seq,
            occurred_at_micros: 1_790_000_000_000_000 + seq,
            actor_kind: "user".into(),
            actor_id: Some(Uuid::from_u128(9)),
            actor_label: "owner@clinic.example".into(),
            action: "clinic.updated".into(),
            subject_kind: "clinic".into(),
            subject_id: "7".into(),
            details: json!({"b": 1, "a": {"z": true, "y": [3, "x"]}}),
            request_id: None,
        }
    }

    fn chain(len: i64) -> Vec<StoredLink> {
        let mut prev = GENESIS_HASH.to_vec();
        (1..=len)
            .map(|seq| {
                let event = event(seq);
                let hash = event.chained_hash(&prev).to_vec();
                let link = StoredLink {
                    id: 100 + seq,
                    event,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                link
            })
            .collect()
    }

    fn verify(links: &[StoredLink]) -> Result<u64, ChainBreak> {
        let mut verifier = ChainVerifier::default();
        for link in links {
            verifier.push(link)?;
        }
        Ok(verifier.checked())
    }

    #[test]
    fn canonical_form_sorts_keys_at_every_level() {
        let mut out = String::new();
        write_canonical(
            &json!({"b": {"d": 1, "c": [2, {"f": null, "e": "é"}]}, "a": false}),
            &mut out,
        );
        assert_eq!(out, r#"{"a":false,"b":{"c":[2,{"e":"é","f":null}],"d":1}}"#);
    }

    #[test]
    fn hash_does_not_depend_on_key_order() {
        let mut reordered = event(1);
        reordered.details = json!({"a": {"y": [3, "x"], "z": true}, "b": 1});
        assert_eq!(
            event(1).chained_hash(&GENESIS_HASH),
            reordered.chained_hash(&GENESIS_HASH)
        );
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify(&chain(5)), Ok(5));
    }

    #[test]
    fn an_altered_field_is_named_by_row() {
        let mut links = chain(5);
        links[2].event.actor_label = "someone else".into();
        assert_eq!(
            verify(&links),
            Err(ChainBreak::HashMismatch { id: 103, seq: 3 })
        );
    }

    #[test]
    fn a_deleted_row_is_a_gap() {
        let mut links = chain(5);
        links.remove(1);
        assert_eq!(
            verify(&links),
            Err(ChainBreak::SequenceGap {
                id: 103,
                expected: 2,
                found: 3
            })
        );
    }

    #[test]
    fn a_recomputed_row_breaks_the_next_link() {
        let mut links = chain(4);
        links[1].event.action = "clinic.deleted".into();
        links[1].hash = links[1].event.chained_hash(&links[1].prev_hash).to_vec();
        assert_eq!(
            verify(&links),
            Err(ChainBreak::PrevHashMismatch { id: 103, seq: 3 })
        );
    }

    #[test]
    fn the_first_row_must_start_from_genesis() {
        let mut links = chain(2);
        links[0].prev_hash = vec![1; 32];
        assert_eq!(
            verify(&links),
            Err(ChainBreak::PrevHashMismatch { id: 101, seq: 1 })
        );
    }

    #[test]
    fn a_chain_missing_its_first_rows_is_broken() {
        let links = chain(5);
        assert_eq!(
            verify(&links[2..]),
            Err(ChainBreak::SequenceGap {
                id: 103,
                expected: 1,
                found: 3
            })
        );
    }
}
