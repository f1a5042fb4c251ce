//! The page frame: skip link, header with navigation and language switch,
//! main landmark, footer.

use leptos::prelude::*;

use crate::assets;
use crate::domain::locale::Locale;
use crate::i18n::{tr, tr_args, use_locale};
use crate::request::{current_path, request_id};

/// Wraps a page's content in the portal's frame.
#[component]
pub fn Layout(children: Children) -> impl IntoView {
    let path = current_path();
    let home_current = (path == "/").then_some("page");
    view! {
        <a class="skip-link" href="#main">{tr("skip-to-content")}</a>
        <header class="site-header">
            <div class="container header-inner">
                <a class="brand" href="/">
                    <img src=assets::href("favicon.svg") alt="" width="28" height="28"/>
                    <span>{tr("brand-name")}</span>
                </a>
                <nav class="main-nav" aria-label=tr("nav-label")>
                    <ul>
                        <li><a href="/" aria-current=home_current>{tr("nav-home")}</a></li>
                        <li><a href="/login">{tr("nav-sign-in")}</a></li>
                    </ul>
                </nav>
                <LanguageSwitcher path=path.clone()/>
            </div>
        </header>
        <main id="main" class="container site-main" tabindex="-1">{children()}</main>
        <Footer/>
    }
}

/// Links to the current page in each supported language.
#[component]
fn LanguageSwitcher(path: String) -> impl IntoView {
    let current = use_locale();
    let links = Locale::ALL
        .into_iter()
        .map(|locale| {
            let href = format!("{path}?lang={}", locale.tag());
            let is_current = (locale == current).then_some("true");
            view! {
                <li>
                    <a href=href hreflang=locale.tag() lang=locale.tag() aria-current=is_current>
                        {locale.native_name()}
                    </a>
                </li>
            }
        })
        .collect_view();
    view! {
        <nav aria-label=tr("language-label")>
            <ul class="lang-switch">{links}</ul>
        </nav>
    }
}

/// The page footer with the request id.
#[component]
pub fn Footer() -> impl IntoView {
    let id = request_id();
    view! {
        <footer class="site-footer">
            <div class="container footer-inner">
                <p>{tr("footer-tagline")}</p>
                <p class="muted">{tr_args("footer-request-id", &[("id", id)])}</p>
            </div>
        </footer>
    }
}
