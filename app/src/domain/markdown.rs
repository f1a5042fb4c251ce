//! Markdown of document versions: rendered with pulldown-cmark and cleaned
//! with ammonia, so that whatever an editor types, the page gets only safe
//! HTML (no scripts, event handlers, styles or `javascript:` links).

use std::sync::OnceLock;

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd, html};

/// Longest Markdown source accepted for one version, in bytes.
pub const MAX_SOURCE_BYTES: usize = 200_000;

fn sanitizer() -> &'static ammonia::Builder<'static> {
    static BUILDER: OnceLock<ammonia::Builder<'static>> = OnceLock::new();
    BUILDER.get_or_init(|| {
        let mut builder = ammonia::Builder::default();
        builder
            .url_schemes(["https", "http", "mailto", "tel"].into_iter().collect())
            .link_rel(Some("noopener noreferrer"))
            .add_tags(["table", "thead", "tbody", "tr", "th", "td"])
            // The page's title is its only h1, also when the source writes
            // one in raw HTML: such a tag goes, its words stay.
            .rm_tags(["img", "h1"]);
        builder
    })
}

fn demote(level: HeadingLevel) -> HeadingLevel {
    match level {
        HeadingLevel::H1 => HeadingLevel::H2,
        HeadingLevel::H2 => HeadingLevel::H3,
        HeadingLevel::H3 => HeadingLevel::H4,
        HeadingLevel::H4 => HeadingLevel::H5,
        _ => HeadingLevel::H6,
    }
}

/// Safe HTML for `source`, headings one level down.
pub fn render(source: &str) -> String {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_STRIKETHROUGH);
    // The page's title is its only h1: headings in the text start at h2.
    let events = Parser::new_ext(source, options).map(|event| match event {
        Event::Start(Tag::Heading {
            level,
            id,
            classes,
            attrs,
        }) => Event::Start(Tag::Heading {
            level: demote(level),
            id,
            classes,
            attrs,
        }),
        Event::End(TagEnd::Heading(level)) => Event::End(TagEnd::Heading(demote(level))),
        other => other,
    });
    let mut raw = String::with_capacity(source.len() * 3 / 2);
    html::push_html(&mut raw, events);
    sanitizer().clean(&raw).to_string()
}

/// The words of `source` as plain text (Markdown syntax dropped), for the
/// diff and for search.
pub fn plain_text(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    for event in Parser::new_ext(source, Options::ENABLE_TABLES) {
        match event {
            Event::Text(text) | Event::Code(text) => out.push_str(&text),
            Event::SoftBreak | Event::HardBreak => out.push(' '),
            Event::End(
                TagEnd::Paragraph | TagEnd::Heading(_) | TagEnd::Item | TagEnd::TableRow,
            ) => {
                out.push('\n');
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_markdown() {
        let html = render("# Title\n\nSome *text* and [a link](https://example.org).");
        assert!(html.contains("<h2>Title</h2>"), "{html}");
        assert!(html.contains("<em>text</em>"), "{html}");
        assert!(
            html.contains(r#"<a href="https://example.org" rel="noopener noreferrer">a link</a>"#),
            "{html}"
        );
    }

    #[test]
    fn removes_scripts_handlers_and_dangerous_links() {
        let html = render(
            "<script>alert(1)</script>\n\n<p onclick=\"x()\">hi</p>\n\n[x](javascript:alert(1))\n\n<img src=x onerror=alert(1)>",
        );
        for bad in ["<script", "onclick", "javascript:", "onerror", "<img"] {
            assert!(!html.contains(bad), "{bad} survived in {html}");
        }
        assert!(html.contains("hi"));
    }

    #[test]
    fn a_raw_html_h1_does_not_become_a_second_page_title() {
        for source in [
            "<h1>Second title</h1>",
            "| a |\n|---|\n| <h1 class=x>in a table</h1> |",
            "<div><h1 refscript>a</h1></div>",
        ] {
            let html = render(source);
            assert!(!html.contains("<h1"), "{source:?} gave {html}");
        }
        assert!(render("<h1>Second title</h1>").contains("Second title"));
    }

    #[test]
    fn plain_text_keeps_words_only() {
        let text = plain_text("# Who we are\n\nWe keep **records** for 10 years.\n\n- one\n- two");
        assert_eq!(
            text,
            "Who we are\nWe keep records for 10 years.\none\ntwo\n"
        );
    }
}
