//! The requester's private status page, withdrawal confirmation, downloads,
//! and the status page of requests that came through Meta.

use leptos::prelude::*;
use leptos_meta::Title;

use super::{clinic_slug, param};
use crate::api::pages::query;
use crate::api::public;
use crate::components::forms::{CsrfField, ErrorSummary, TextArea};
use crate::components::layout::Layout;
use crate::domain::requests::RequestStatus;
use crate::i18n::{tr, tr_args};
use crate::pages::error::{ErrorContent, NotFoundContent};

fn not_found_link() -> AnyView {
    view! {
        <NotFoundContent/>
        <p class="reading">{tr("status-not-found")}</p>
    }
    .into_any()
}

/// Human-readable size.
fn size(bytes: i64) -> String {
    match bytes {
        b if b >= 1024 * 1024 => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
        b if b >= 1024 => format!("{:.0} KB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

/// `/c/{clinic}/requests/{reference}?t=…`.
#[component]
pub fn RequestStatusPage() -> impl IntoView {
    let slug = clinic_slug();
    let reference = param("reference");
    let token = query("t").unwrap_or_default();
    let sent = query("sent").is_some();
    let content = Suspend::new(async move {
        let (clinic, view) = match public::request_status(&slug, &reference, &token).await {
            Ok(Some(found)) => found,
            Ok(None) => return not_found_link(),
            Err(error) => return view! { <ErrorContent error/> }.into_any(),
        };
        let request = view.request.clone();
        let status = request.status();
        let reference = request.reference.clone().unwrap_or_default();
        let title = tr_args("status-title", &[("reference", reference.clone())]);
        let base = format!("/c/{slug}/requests/{reference}");
        let outcome = request
            .outcome
            .clone()
            .map(|o| tr(&format!("request-outcome-{}", o.replace('_', "-"))));
        let timeline = view
            .timeline
            .iter()
            .map(|e| {
                let heading = tr(&format!("event-{}", e.kind.replace('_', "-")));
                let body = (!e.body.is_empty()).then(|| view! { <p class="message">{e.body.clone()}</p> });
                view! {
                    <li>
                        <time datetime=e.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)>{e.at.format("%Y-%m-%d %H:%M").to_string()}</time>
                        <p><strong>{heading}</strong></p>
                        {body}
                    </li>
                }
            })
            .collect_view();
        let reply = (status == RequestStatus::AwaitingRequester).then(|| {
            let action = format!("{base}/reply");
            view! {
                <section class="card" aria-labelledby="reply-heading">
                    <h2 id="reply-heading">{tr("status-reply")}</h2>
                    <p class="muted">{tr("status-reply-hint")}</p>
                    <ErrorSummary/>
                    <form method="post" action=action novalidate>
                        <CsrfField/>
                        <input type="hidden" name="t" value=token.clone()/>
                        <TextArea name="body" label=tr("status-reply") value="" rows=5/>
                        <div class="actions"><button type="submit" class="btn">{tr("status-reply-button")}</button></div>
                    </form>
                </section>
            }
        });
        let files = (!view.files.is_empty()).then(|| {
            let action = format!("{base}/download-link");
            let list = view
                .files
                .iter()
                .map(|f| view! { <li>{f.filename.clone()}" · "{size(f.size_bytes)}</li> })
                .collect_view();
            view! {
                <section class="card" aria-labelledby="files-heading">
                    <h2 id="files-heading">{tr("status-files")}</h2>
                    <ul>{list}</ul>
                    {if sent {
                        view! { <div class="alert success" role="status"><p>{tr("status-files-sent")}</p></div> }.into_any()
                    } else {
                        view! {
                            <p class="muted">{tr("status-files-hint")}</p>
                            <form method="post" action=action>
                                <CsrfField/>
                                <input type="hidden" name="t" value=token.clone()/>
                                <button type="submit" class="btn secondary">{tr("status-files-button")}</button>
                            </form>
                        }.into_any()
                    }}
                </section>
            }
        });
        let withdraw = status.is_open().then(|| {
            let href = format!(
                "{base}/withdraw?t={}",
                form_urlencoded::byte_serialize(token.as_bytes()).collect::<String>()
            );
            view! { <p><a href=href>{tr("status-withdraw")}</a></p> }
        });
        view! {
            <Title text=title.clone()/>
            <div class="reading stack">
                <div class="page-header">
                    <h1>{title}</h1>
                    <p class="muted">{clinic.name.clone()}</p>
                </div>
                <section class="card">
                    <dl class="facts">
                        <dt>{tr("status-kind")}</dt><dd>{tr(&request.kind().label_key())}</dd>
                        <dt>{tr("status-state")}</dt><dd><span class="badge">{tr(&status.label_key())}</span></dd>
                        {request.verified_at.map(|at| view! { <dt>{tr("status-submitted")}</dt><dd>{at.format("%Y-%m-%d").to_string()}</dd> })}
                        {(status.is_open()).then(|| request.due_on.map(|due| view! { <dt>{tr("status-due")}</dt><dd>{due.to_string()}</dd> })).flatten()}
                        {outcome.map(|o| view! { <dt>{tr("status-outcome")}</dt><dd>{o}</dd> })}
                    </dl>
                </section>
                {reply}
                {files}
                <section class="card" aria-labelledby="timeline-heading">
                    <h2 id="timeline-heading">{tr("status-timeline")}</h2>
                    <ol class="timeline">{timeline}</ol>
                </section>
                {withdraw}
            </div>
        }
        .into_any()
    });
    view! { <Layout><Suspense fallback=|| ()>{content}</Suspense></Layout> }
}

/// Confirmation before the requester withdraws.
#[component]
pub fn WithdrawRequestPage() -> impl IntoView {
    let slug = clinic_slug();
    let reference = param("reference");
    let token = query("t").unwrap_or_default();
    let content = Suspend::new(async move {
        match public::request_status(&slug, &reference, &token).await {
            Ok(Some((_, view))) if view.request.status().is_open() => {
                let reference = view.request.reference.clone().unwrap_or_default();
                let action = format!("/c/{slug}/requests/{reference}/withdraw");
                let back = format!(
                    "/c/{slug}/requests/{reference}?t={}",
                    form_urlencoded::byte_serialize(token.as_bytes()).collect::<String>()
                );
                view! {
                    <Title text=tr("status-withdraw")/>
                    <div class="card narrow">
                        <h1>{tr("status-withdraw")}</h1>
                        <p>{tr("status-withdraw-hint")}</p>
                        <form method="post" action=action>
                            <CsrfField/>
                            <input type="hidden" name="t" value=token.clone()/>
                            <div class="actions">
                                <button type="submit" class="btn danger">{tr("status-withdraw-confirm")}</button>
                                <a class="btn secondary" href=back>{reference.clone()}</a>
                            </div>
                        </form>
                    </div>
                }
                .into_any()
            }
            Ok(_) => not_found_link(),
            Err(error) => view! { <ErrorContent error/> }.into_any(),
        }
    });
    view! { <Layout><Suspense fallback=|| ()>{content}</Suspense></Layout> }
}

/// `/c/{clinic}/requests/downloads/{grant}`.
#[component]
pub fn DownloadsPage() -> impl IntoView {
    let slug = clinic_slug();
    let grant = param("grant");
    let content = Suspend::new(async move {
        match public::request_downloads(&slug, &grant).await {
            Ok(Some((clinic, files))) => {
                let list = files
                    .iter()
                    .map(|f| {
                        let href = format!("/c/{slug}/requests/downloads/{grant}/{}", f.id);
                        let label = format!("{} {} ({})", tr("downloads-button"), f.filename, size(f.size_bytes));
                        view! { <li><a class="btn secondary" href=href download="">{label}</a></li> }
                    })
                    .collect_view();
                view! {
                    <Title text=tr("downloads-title")/>
                    <div class="card narrow">
                        <h1>{tr("downloads-title")}</h1>
                        <p class="muted">{clinic.name.clone()}</p>
                        <ul class="download-list">{list}</ul>
                    </div>
                }
                .into_any()
            }
            Ok(None) => view! {
                <NotFoundContent/>
                <p class="reading">{tr("downloads-expired")}</p>
            }
            .into_any(),
            Err(error) => view! { <ErrorContent error/> }.into_any(),
        }
    });
    view! { <Layout><Suspense fallback=|| ()>{content}</Suspense></Layout> }
}

/// `/c/{clinic}/meta/deletion-status/{code}`: what happened to a deletion
/// request made through Meta, in plain words.
#[component]
pub fn MetaDeletionStatusPage() -> impl IntoView {
    let slug = clinic_slug();
    let code = param("code");
    let content = Suspend::new(async move {
        match public::meta_deletion(&slug, &code).await {
            Ok(Some((clinic, status))) => {
                let words = match status.status {
                    RequestStatus::Completed if status.outcome.as_deref() == Some("refused") => {
                        format!(
                            "{} looked at the request and did not delete the data, for a legal reason. You may contact the clinic at {} or complain to {}.",
                            clinic.name, clinic.contact_email, clinic.authority_name
                        )
                    }
                    RequestStatus::Completed => format!(
                        "{} has deleted the data it held about you from its systems on {}.",
                        clinic.name,
                        status
                            .completed_at
                            .map(|d| d.format("%Y-%m-%d").to_string())
                            .unwrap_or_default()
                    ),
                    RequestStatus::Withdrawn => "The request was withdrawn.".to_owned(),
                    _ => format!(
                        "{} received your request to delete your data on {} and will complete it by {}.",
                        clinic.name,
                        status.received_at.format("%Y-%m-%d"),
                        status.due_on.map(|d| d.to_string()).unwrap_or_default()
                    ),
                };
                view! {
                    <Title text="Data deletion status"/>
                    <div class="card narrow">
                        <h1>"Data deletion status"</h1>
                        <p>{words}</p>
                        <dl class="facts">
                            <dt>"Confirmation code"</dt><dd><code>{code.to_ascii_uppercase()}</code></dd>
                            <dt>"Reference"</dt><dd>{status.reference}</dd>
                            <dt>"Status"</dt><dd>{status.status.label()}</dd>
                        </dl>
                    </div>
                }
                .into_any()
            }
            Ok(None) => view! { <NotFoundContent/> }.into_any(),
            Err(error) => view! { <ErrorContent error/> }.into_any(),
        }
    });
    view! { <Layout><Suspense fallback=|| ()>{content}</Suspense></Layout> }
}
