//! Status pages: 404 and errors. They show the request id, never internals.

use http::StatusCode;
use leptos::prelude::*;
use leptos_meta::Title;

use crate::assets;
use crate::backend::error::AppError;
use crate::components::layout::Layout;
use crate::domain::locale::Locale;
use crate::i18n::{t, tr, tr_args};
use crate::request::{CurrentPath, RequestId, request_id, set_status};

/// A whole 404 page (the router's fallback).
#[component]
pub fn NotFoundPage() -> impl IntoView {
    view! {
        <Layout>
            <NotFoundContent/>
        </Layout>
    }
}

/// The body of a 404 page; sets the status.
#[component]
pub fn NotFoundContent() -> impl IntoView {
    set_status(StatusCode::NOT_FOUND);
    view! {
        <StatusContent code=404 title=tr("not-found-title") body=tr("not-found-body")/>
    }
}

/// The body of an error page for `error`; sets the status.
#[component]
pub fn ErrorContent(error: AppError) -> impl IntoView {
    let status = error.status();
    set_status(status);
    let body = match &error {
        AppError::Internal(_) => tr("error-body"),
        other => other.to_string(),
    };
    view! {
        <StatusContent code=status.as_u16() title=tr("error-title") body/>
    }
}

#[component]
fn StatusContent(code: u16, title: String, body: String) -> impl IntoView {
    view! {
        <Title text=title.clone()/>
        <StatusBody code title body/>
    }
}

#[component]
fn StatusBody(code: u16, title: String, body: String) -> impl IntoView {
    let id = request_id();
    view! {
        <section class="status-page">
            <p class="status-code" aria-hidden="true">{code}</p>
            <h1>{title}</h1>
            <p>{body}</p>
            <p class="request-id">{tr_args("footer-request-id", &[("id", id)])}</p>
            <p><a class="btn secondary" href="/">{tr("error-back-home")}</a></p>
        </section>
    }
}

/// What a signed-in page shows when it cannot show its content: a redirect
/// to sign in, a 404, a 403 or an error, with the right status.
#[component]
pub fn PageErrorView(error: crate::api::pages::PageError) -> impl IntoView {
    use crate::api::guard::{Denied, login_url};
    use crate::api::pages::PageError;
    match error {
        PageError::Denied(Denied::SignIn { next }) => {
            crate::request::redirect_to(&login_url(&next));
            view! { <p>"Please sign in to continue."</p> }.into_any()
        }
        PageError::Denied(Denied::NotFound) => view! { <NotFoundContent/> }.into_any(),
        PageError::Denied(Denied::Forbidden) => {
            view! { <ErrorContent error=AppError::Forbidden/> }.into_any()
        }
        PageError::App(message, status) => {
            set_status(status);
            let title = if status.is_server_error() {
                tr("error-title")
            } else {
                message.clone()
            };
            view! { <StatusContent code=status.as_u16() title body=message/> }.into_any()
        }
    }
}

/// A complete HTML status page for responses that do not come from the Leptos
/// router (rejections, timeouts, errors of plain handlers). `message` is shown
/// as is; without it, the status' generic text is used.
pub fn render_status_document(
    status: StatusCode,
    message: Option<String>,
    locale: Locale,
    request_id: &str,
) -> String {
    let owner = Owner::new();
    owner.with(|| {
        provide_context(locale);
        provide_context(RequestId(request_id.to_owned()));
        provide_context(CurrentPath(String::new()));
        let (title, body) = if status == StatusCode::NOT_FOUND {
            (
                t(locale, "not-found-title"),
                message.unwrap_or_else(|| t(locale, "not-found-body")),
            )
        } else {
            (
                t(locale, "error-title"),
                message.unwrap_or_else(|| t(locale, "error-body")),
            )
        };
        let code = status.as_u16();
        let page_title = format!("{title} · {}", t(locale, "brand-name"));
        let html = view! {
            <!DOCTYPE html>
            <html lang=locale.tag()>
                <head>
                    <meta charset="utf-8"/>
                    <meta name="viewport" content="width=device-width, initial-scale=1"/>
                    <title>{page_title}</title>
                    <link rel="stylesheet" href=assets::href("main.css")/>
                    <link rel="icon" type="image/svg+xml" href=assets::href("favicon.svg")/>
                </head>
                <body>
                    <Layout>
                        <StatusBody code title body/>
                    </Layout>
                </body>
            </html>
        }
        .to_html();
        crate::document::without_placeholders(&html)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_documents_show_the_request_id_and_escape_messages() {
        let html = render_status_document(
            StatusCode::PAYLOAD_TOO_LARGE,
            Some("<script>alert(1)</script>".into()),
            Locale::En,
            "req-42",
        );
        assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
        assert!(html.contains("req-42"));
        assert!(html.contains("413"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("<script>alert"));
        assert!(html.contains("<main"));
    }

    #[test]
    fn status_documents_speak_the_requested_language() {
        let html = render_status_document(StatusCode::NOT_FOUND, None, Locale::Uk, "x");
        assert!(html.contains("Сторінку не знайдено"));
        assert!(html.contains(r#"lang="uk""#));
    }
}
