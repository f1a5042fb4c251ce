//! Pages as complete, valid HTML documents.
//!
//! Leptos renders for hydration even when nothing hydrates: after `</html>`
//! it streams `<script>` elements carrying the resolved resources for the
//! client, and inside the document it writes `<!>` placeholders that mark
//! where a text node or a list ends, so that the client could find its nodes
//! again. This app has no client side, so both are only invalid markup
//! (a script after the document, a bogus comment). Every page is rendered
//! here instead of by `leptos_axum`'s own handlers: the document alone,
//! awaited in full (what `SsrMode::Async` does), without the scripts and
//! with the placeholders taken out.

use std::future::Future;
use std::pin::Pin;

use axum::body::Body;
use futures::{Stream, StreamExt as _};
use http::{Request, Response};
use leptos::prelude::*;

/// A boxed stream of HTML chunks, as `leptos_axum` passes them.
type HtmlStream = Pin<Box<dyn Stream<Item = String> + Send>>;

/// The handler of a page request: renders `app_fn` with `context` provided
/// and answers with the complete document, its status and headers set by
/// the page (`leptos_axum::ResponseOptions`).
pub fn page_handler<IV>(
    context: impl Fn() + Clone + Send + Sync + 'static,
    app_fn: impl Fn() -> IV + Clone + Send + Sync + 'static,
) -> impl Fn(Request<Body>) -> Pin<Box<dyn Future<Output = Response<Body>> + Send>>
+ Clone
+ Send
+ Sync
+ 'static
where
    IV: IntoView + 'static,
{
    move |request| {
        leptos_axum::handle_response_inner(
            context.clone(),
            app_fn.clone(),
            request,
            complete_document::<IV>,
        )
    }
}

/// The stream `leptos_axum` sends: the whole document in one chunk. The
/// hydration data it offers as `_hydration_scripts` is left unread, so no
/// script follows `</html>`.
fn complete_document<IV>(
    app: IV,
    _hydration_scripts: Box<dyn FnOnce() -> HtmlStream + Send>,
    _out_of_order: bool,
) -> Pin<Box<dyn Future<Output = HtmlStream> + Send>>
where
    IV: IntoView + 'static,
{
    Box::pin(async move {
        let html = app.to_html_stream_in_order().collect::<String>().await;
        let html = without_placeholders(&html);
        Box::pin(futures::stream::once(async move { html })) as HtmlStream
    })
}

/// Elements whose content is text for another language, never markup: a
/// `<!>` in them is not a placeholder.
const RAW_TEXT: [&str; 2] = ["script", "style"];

/// `html` without Leptos's `<!>` placeholders.
///
/// Only markup is touched: text and attribute values never hold a literal
/// `<!>` (Leptos escapes `<` in both, so a user's `<!>` arrives as
/// `&lt;!&gt;`), comments are kept whole, and the content of `<script>` and
/// `<style>` elements is copied as it is.
pub fn without_placeholders(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(at) = rest.find('<') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if let Some(after) = rest.strip_prefix("<!>") {
            rest = after;
            continue;
        }
        let end = if let Some(comment) = rest.strip_prefix("<!--") {
            comment
                .find("-->")
                .map_or(rest.len(), |i| "<!--".len() + i + "-->".len())
        } else if let Some(name) = raw_text_start(rest) {
            end_of_raw_text(rest, name)
        } else {
            1
        };
        out.push_str(&rest[..end]);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The name of the raw-text element whose start tag `html` begins with.
fn raw_text_start(html: &str) -> Option<&'static str> {
    let tag = html.as_bytes().get(1..)?;
    RAW_TEXT.into_iter().find(|name| {
        tag.len() > name.len()
            && tag[..name.len()].eq_ignore_ascii_case(name.as_bytes())
            && matches!(
                tag[name.len()],
                b'>' | b'/' | b' ' | b'\t' | b'\n' | b'\r' | 0x0c
            )
    })
}

/// Where the raw-text element `name` that `html` starts with ends: just
/// before its end tag (or at the end of `html` if it has none).
fn end_of_raw_text(html: &str, name: &str) -> usize {
    let bytes = html.as_bytes();
    let close = name.len() + 2;
    (1..bytes.len())
        .find(|&i| {
            bytes[i..].len() >= close
                && bytes[i..i + 2] == *b"</"
                && bytes[i + 2..i + close].eq_ignore_ascii_case(name.as_bytes())
        })
        .unwrap_or(bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_removed_from_markup() {
        assert_eq!(
            without_placeholders("<p>a<!>b</p><ul><li>1</li><!></ul><!>"),
            "<p>ab</p><ul><li>1</li></ul>"
        );
    }

    #[test]
    fn text_that_shows_a_placeholder_is_kept() {
        let html = r#"<p title="&lt;!&gt;">&lt;!&gt;</p>"#;
        assert_eq!(without_placeholders(html), html);
    }

    #[test]
    fn comments_doctype_scripts_and_styles_are_copied_whole() {
        let html = "<!DOCTYPE html><head><!--HEAD--><!-- <!> --><style>a::before{content:\"<!>\"}</style>\
                    <SCRIPT nonce=\"n\">let s = '<!>';</SCRIPT></head><scripts><!></scripts>";
        assert_eq!(
            without_placeholders(html),
            "<!DOCTYPE html><head><!--HEAD--><!-- <!> --><style>a::before{content:\"<!>\"}</style>\
             <SCRIPT nonce=\"n\">let s = '<!>';</SCRIPT></head><scripts></scripts>"
        );
    }

    #[test]
    fn unterminated_comments_and_scripts_are_copied_to_the_end() {
        assert_eq!(without_placeholders("<!>a<!-- <!>"), "a<!-- <!>");
        assert_eq!(without_placeholders("<!><script><!>"), "<script><!>");
        assert_eq!(without_placeholders("<"), "<");
    }

    #[test]
    fn leptos_placeholders_of_lists_and_adjacent_text_go() {
        let items = vec!["x", "y"];
        let name = "Ann".to_owned();
        let html = view! {
            <p>"Hello, " {name} "!"</p>
            <ul>{items.into_iter().map(|i| view! { <li>{i}</li> }).collect::<Vec<_>>()}</ul>
        }
        .to_html();
        assert!(html.contains("<!>"), "Leptos wrote no placeholder: {html}");
        assert_eq!(
            without_placeholders(&html),
            "<p>Hello, Ann!</p><ul><li>x</li><li>y</li></ul>"
        );
    }
}
