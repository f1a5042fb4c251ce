//! Whatever an editor types, a notice renders without panicking to HTML with
//! no script, style, frame or image elements, no event handler or style
//! attributes and no `javascript:` links. Such words may still appear as
//! escaped text, which is harmless: only markup is checked.
#![no_main]

use app::domain::markdown::{plain_text, render};
use libfuzzer_sys::fuzz_target;

/// The element name and attribute names of the markup after a `<`, up to
/// its `>` (quoted values may hold spaces and `>`).
fn tag(markup: &str) -> (String, Vec<(String, String)>) {
    let mut chars = markup.chars().peekable();
    let mut name = String::new();
    while let Some(c) = chars.next_if(|c| c.is_ascii_alphanumeric() || *c == '/') {
        name.push(c);
    }
    let mut attributes = Vec::new();
    loop {
        while chars.next_if(|c| c.is_ascii_whitespace()).is_some() {}
        match chars.peek() {
            None | Some('>') => break,
            Some('/') => {
                chars.next();
                continue;
            }
            _ => {}
        }
        let mut attribute = String::new();
        while let Some(c) = chars.next_if(|c| !c.is_ascii_whitespace() && *c != '=' && *c != '>') {
            attribute.push(c);
        }
        let mut value = String::new();
        if chars.next_if_eq(&'=').is_some() {
            if let Some(quote) = chars.next_if(|c| *c == '"' || *c == '\'') {
                for c in chars.by_ref() {
                    if c == quote {
                        break;
                    }
                    value.push(c);
                }
            } else {
                while let Some(c) = chars.next_if(|c| !c.is_ascii_whitespace() && *c != '>') {
                    value.push(c);
                }
            }
        }
        if attribute.is_empty() && value.is_empty() {
            chars.next();
        }
        attributes.push((attribute, value));
    }
    (name.trim_start_matches('/').to_owned(), attributes)
}

fuzz_target!(|source: &str| {
    let html = render(source).to_ascii_lowercase();
    // Text is escaped, so every `<` opens a tag.
    for markup in html.split('<').skip(1) {
        let (name, attributes) = tag(markup);
        assert!(
            !["script", "style", "iframe", "img", "object", "embed", "svg", "math", "h1"]
                .contains(&name.as_str()),
            "<{name}> in {html}"
        );
        for (attribute, value) in attributes {
            assert!(
                !attribute.starts_with("on") && attribute != "style",
                "{attribute} on <{name}> in {html}"
            );
            if attribute == "href" {
                assert!(!value.trim().starts_with("javascript:"), "{value} in {html}");
            }
        }
    }
    let _ = plain_text(source);
});
