//! Word-level differences between two versions of a document, for the
//! "what changes" page. The text compared is the versions' plain text, so
//! the diff speaks of words, not of Markdown syntax.

use similar::{ChangeTag, TextDiff};

/// One run of words: unchanged, removed or added.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "change", content = "text", rename_all = "lowercase")]
pub enum Segment {
    Same(String),
    Removed(String),
    Added(String),
}

/// The word diff of `old` and `new`, with neighbouring pieces of the same
/// kind merged.
pub fn words(old: &str, new: &str) -> Vec<Segment> {
    let diff = TextDiff::configure()
        .timeout(std::time::Duration::from_secs(2))
        .diff_words(old, new);
    let mut out: Vec<Segment> = Vec::new();
    for change in diff.iter_all_changes() {
        let text = change.value();
        match (change.tag(), out.last_mut()) {
            (ChangeTag::Equal, Some(Segment::Same(s)))
            | (ChangeTag::Delete, Some(Segment::Removed(s)))
            | (ChangeTag::Insert, Some(Segment::Added(s))) => s.push_str(text),
            (ChangeTag::Equal, _) => out.push(Segment::Same(text.to_owned())),
            (ChangeTag::Delete, _) => out.push(Segment::Removed(text.to_owned())),
            (ChangeTag::Insert, _) => out.push(Segment::Added(text.to_owned())),
        }
    }
    out
}

/// Counts of words added and removed.
pub fn stats(segments: &[Segment]) -> (usize, usize) {
    let count = |s: &str| s.split_whitespace().count();
    segments
        .iter()
        .fold((0, 0), |(added, removed), segment| match segment {
            Segment::Added(s) => (added + count(s), removed),
            Segment::Removed(s) => (added, removed + count(s)),
            Segment::Same(_) => (added, removed),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_changed_words() {
        let segments = words(
            "We keep records for 10 years.",
            "We keep medical records for 25 years.",
        );
        assert_eq!(
            segments,
            vec![
                Segment::Same("We keep ".into()),
                Segment::Added("medical ".into()),
                Segment::Same("records for ".into()),
                Segment::Removed("10".into()),
                Segment::Added("25".into()),
                Segment::Same(" years.".into()),
            ]
        );
        assert_eq!(stats(&segments), (2, 1));
    }

    #[test]
    fn identical_texts_have_no_changes() {
        let segments = words("same text", "same text");
        assert_eq!(segments, vec![Segment::Same("same text".into())]);
        assert_eq!(stats(&segments), (0, 0));
    }
}
