//! Previous / next links under long lists.

use leptos::prelude::*;

/// Links to the pages around `page` of `pages`; `href(n)` builds each link.
#[component]
pub fn Pager(
    page: u32,
    pages: u32,
    total: i64,
    href: fn(u32, &str) -> String,
    #[prop(into)] extra: String,
) -> impl IntoView {
    let previous = (page > 1).then(|| {
        let link = href(page - 1, &extra);
        view! { <a class="btn secondary" href=link rel="prev">"Previous"</a> }
    });
    let next = (page < pages).then(|| {
        let link = href(page + 1, &extra);
        view! { <a class="btn secondary" href=link rel="next">"Next"</a> }
    });
    view! {
        <nav class="pager" aria-label="Pages">
            {previous}
            <span class="muted">{format!("Page {page} of {pages} · {total} in all")}</span>
            {next}
        </nav>
    }
}
