//! Public pages of a publisher's documents: `/privacy`, `/c/{clinic}/privacy`
//! and `/…/policies/{kind}`, each with `/versions`, `/versions/{n}` and
//! `/versions/{n}/diff`; subscription and unsubscribe pages.

use leptos::prelude::*;
use leptos_meta::Title;

use super::{day, param};
use crate::api::notices::{self as api, PublicDocumentPage};
use crate::backend::services::notices::PublicVersion;
use crate::backend::services::notices::subscriptions::Topic;
use crate::components::forms::{CheckboxGroup, CsrfField, ErrorSummary, TextField};
use crate::components::layout::Layout;
use crate::domain::diff::{self, Segment};
use crate::domain::markdown;
use crate::pages::error::{NotFoundContent, PageErrorView};

/// Loads the document of the current route and renders `body` with it.
fn with_document<F, V>(body: F) -> impl IntoView
where
    F: FnOnce(PublicDocumentPage) -> V + Send + 'static,
    V: IntoView + 'static,
{
    let (clinic, kind) = (param("clinic"), param("kind"));
    let content = Suspend::new(async move {
        match api::public_document(clinic, kind).await {
            Ok(Some(page)) => body(page).into_any(),
            Ok(None) => view! { <NotFoundContent/> }.into_any(),
            Err(error) => view! { <PageErrorView error/> }.into_any(),
        }
    });
    view! {
        <Layout>
            <Suspense fallback=|| ()>{content}</Suspense>
        </Layout>
    }
}

/// The banner about a scheduled version.
#[component]
pub fn UpcomingBanner(path: String, upcoming: Option<PublicVersion>) -> impl IntoView {
    upcoming.map(|v| {
        let diff = format!("{path}/versions/{}/diff", v.number);
        view! {
            <div class="alert upcoming" role="note">
                <p class="alert-title">{format!("This notice changes on {}.", day(v.effective_at))}</p>
                <p>{v.summary.clone()}</p>
                <p><a href=diff>"See what changes"</a></p>
            </div>
        }
    })
}

/// A version's text with its dates.
#[component]
pub fn VersionBody(version: PublicVersion) -> impl IntoView {
    let html = markdown::render(&version.body_markdown);
    view! {
        <p class="muted version-meta">
            {format!("Version {} · in effect from {}", version.number, day(version.effective_at))}
        </p>
        <article class="policy-text" inner_html=html></article>
    }
}

/// Links under a document: history, JSON, subscribe.
#[component]
fn DocumentLinks(path: String, number: Option<i32>, subscribe: String) -> impl IntoView {
    let history = format!("{path}/versions");
    let json = number.map(|n| {
        let href = format!("{path}/versions/{n}/json");
        view! { <li><a href=href>"This version as JSON"</a></li> }
    });
    view! {
        <nav class="document-links" aria-label="About this document">
            <ul>
                <li><a href=history>"All versions"</a></li>
                {json}
                <li><a href=subscribe>"Get an email when this changes"</a></li>
            </ul>
        </nav>
    }
}

fn subscribe_path(page: &PublicDocumentPage) -> String {
    page.clinic.as_ref().map_or_else(
        || "/subscribe".to_owned(),
        |c| format!("/c/{}/subscribe", c.slug),
    )
}

/// The document as in force, with a banner for a scheduled change; used
/// inside a clinic's privacy page too.
#[component]
pub fn CurrentDocument(page: PublicDocumentPage) -> impl IntoView {
    let subscribe = subscribe_path(&page);
    let PublicDocumentPage { path, document, .. } = page;
    let number = document.current.as_ref().map(|v| v.number);
    let body = match document.current.clone() {
        Some(version) => view! { <VersionBody version/> }.into_any(),
        None => view! {
            <div class="alert"><p>"This document has not been published yet."</p></div>
        }
        .into_any(),
    };
    view! {
        <UpcomingBanner path=path.clone() upcoming=document.upcoming.clone()/>
        {body}
        <DocumentLinks path number subscribe/>
    }
}

/// `/privacy` and `/…/policies/{kind}`: a document as in force.
#[component]
pub fn DocumentPage() -> impl IntoView {
    with_document(|page| {
        let title = format!("{}: {}", page.publisher_name, page.kind.label());
        view! {
            <Title text=title.clone()/>
            <div class="page-header"><h1>{title}</h1></div>
            <div class="reading stack"><CurrentDocument page/></div>
        }
    })
}

/// `…/versions`: every published version.
#[component]
pub fn HistoryPage() -> impl IntoView {
    with_document(|page| {
        let title = format!("{}: {} history", page.publisher_name, page.kind.label());
        let path = page.path.clone();
        let rows = page
            .document
            .history
            .iter()
            .map(|v| {
                let href = format!("{path}/versions/{}", v.number);
                let diff = (v.number > 1).then(|| {
                    let href = format!("{path}/versions/{}/diff", v.number);
                    view! { <a href=href>"Changes"</a> }
                });
                view! {
                    <tr>
                        <td><a href=href>{format!("Version {}", v.number)}</a></td>
                        <td>{v.title.clone()}</td>
                        <td>{day(v.effective_at)}</td>
                        <td>{state_label(&v.state)}{v.material.then_some(" · material change")}</td>
                        <td>{diff}</td>
                    </tr>
                }
            })
            .collect_view();
        let empty = page
            .document
            .history
            .is_empty()
            .then(|| view! { <p>"No version has been published yet."</p> });
        view! {
            <Title text=title.clone()/>
            <div class="page-header"><h1>{title}</h1></div>
            <div class="reading stack">
                {empty}
                <table class="table">
                    <caption class="visually-hidden">"Published versions, newest first"</caption>
                    <thead><tr><th scope="col">"Version"</th><th scope="col">"Title"</th><th scope="col">"In effect from"</th><th scope="col">"Status"</th><th scope="col">"Diff"</th></tr></thead>
                    <tbody>{rows}</tbody>
                </table>
                <p><a href=page.path.clone()>"Back to the current version"</a></p>
            </div>
        }
    })
}

fn state_label(state: &str) -> &'static str {
    match state {
        "scheduled" => "Scheduled",
        "effective" => "In effect",
        "superseded" => "Superseded",
        "cancelled" => "Cancelled",
        _ => "Draft",
    }
}

fn number_param() -> Option<i32> {
    param("number").and_then(|n| n.parse().ok())
}

/// `…/versions/{n}`: one version.
#[component]
pub fn VersionPage() -> impl IntoView {
    let number = number_param();
    with_document(move |page| {
        let Some(version) = number.and_then(|n| page.document.version(n).cloned()) else {
            return view! { <NotFoundContent/> }.into_any();
        };
        let title = format!(
            "{}: {}, version {}",
            page.publisher_name,
            page.kind.label(),
            version.number
        );
        let subscribe = subscribe_path(&page);
        let status = (version.state != "effective").then(|| {
            view! { <div class="alert"><p>{format!("{}. ", state_label(&version.state))}<a href=page.path.clone()>"Read the version in effect"</a></p></div> }
        });
        let summary = (!version.summary.is_empty()).then(|| {
            view! { <section class="card"><h2>"Summary of changes"</h2><p>{version.summary.clone()}</p></section> }
        });
        view! {
            <Title text=title.clone()/>
            <div class="page-header"><h1>{title}</h1></div>
            <div class="reading stack">
                {status}
                {summary}
                <VersionBody version=version.clone()/>
                <DocumentLinks path=page.path.clone() number=Some(version.number) subscribe/>
            </div>
        }
        .into_any()
    })
}

/// The diff of two versions' words, with `ins`/`del` and hidden labels for
/// screen readers.
#[component]
pub fn WordDiff(segments: Vec<Segment>) -> impl IntoView {
    let parts = segments
        .into_iter()
        .map(|segment| match segment {
            Segment::Same(text) => view! { <span>{text}</span> }.into_any(),
            Segment::Added(text) => view! {
                <ins><span class="visually-hidden">"[added: "</span>{text}<span class="visually-hidden">"]"</span></ins>
            }
            .into_any(),
            Segment::Removed(text) => view! {
                <del><span class="visually-hidden">"[removed: "</span>{text}<span class="visually-hidden">"]"</span></del>
            }
            .into_any(),
        })
        .collect_view();
    view! { <div class="word-diff">{parts}</div> }
}

/// `…/versions/{n}/diff[?from=m]`: what changed from version m (by default
/// the one before) to version n.
#[component]
pub fn DiffPage() -> impl IntoView {
    let number = number_param();
    let from = crate::api::pages::query("from").and_then(|n| n.parse::<i32>().ok());
    with_document(move |page| {
        let Some(new) = number.and_then(|n| page.document.version(n).cloned()) else {
            return view! { <NotFoundContent/> }.into_any();
        };
        let old = match from {
            Some(n) => page.document.version(n).cloned(),
            None => page
                .document
                .history
                .iter()
                .filter(|v| v.number < new.number && v.state != "cancelled")
                .max_by_key(|v| v.number)
                .cloned(),
        };
        let old_text = old
            .as_ref()
            .map(|v| markdown::plain_text(&v.body_markdown))
            .unwrap_or_default();
        let segments = diff::words(&old_text, &markdown::plain_text(&new.body_markdown));
        let (added, removed) = diff::stats(&segments);
        let title = format!(
            "{}: what changes in version {}",
            page.publisher_name, new.number
        );
        let compared = match &old {
            Some(old) => format!(
                "Version {} (in effect from {}) compared with version {} ({} from {}): {added} words added, {removed} removed.",
                new.number,
                day(new.effective_at),
                old.number,
                state_label(&old.state).to_lowercase(),
                day(old.effective_at)
            ),
            None => format!(
                "Version {} is the first version; all of its text is new.",
                new.number
            ),
        };
        let others = page
            .document
            .history
            .iter()
            .filter(|v| v.number != new.number)
            .map(|v| {
                let selected = old.as_ref().is_some_and(|o| o.number == v.number);
                view! { <option value=v.number.to_string() selected=selected>{format!("Version {}", v.number)}</option> }
            })
            .collect_view();
        let action = format!("{}/versions/{}/diff", page.path, new.number);
        let version_href = format!("{}/versions/{}", page.path, new.number);
        let summary = (!new.summary.is_empty()).then(|| {
            view! { <section class="card"><h2>"Summary of changes"</h2><p>{new.summary.clone()}</p></section> }
        });
        view! {
            <Title text=title.clone()/>
            <div class="page-header"><h1>{title}</h1></div>
            <div class="reading stack">
                <p>{compared}</p>
                {summary}
                <form method="get" action=action class="inline-form">
                    <label for="from">"Compare with"</label>
                    <select id="from" name="from">{others}</select>
                    <button type="submit" class="btn secondary small">"Compare"</button>
                </form>
                <p class="muted">"Added words are underlined; removed words are struck through."</p>
                <WordDiff segments/>
                <p><a href=version_href>"Read version "{new.number}" in full"</a></p>
            </div>
        }
        .into_any()
    })
}

/// `/c/{clinic}/subscribe` and `/subscribe`: ask for change notices.
#[component]
pub fn SubscribePage() -> impl IntoView {
    let sent = api::subscribe_sent();
    let initial_topic = crate::api::pages::query("topic")
        .filter(|t| t == Topic::Subprocessors.as_str())
        .unwrap_or_else(|| Topic::Notices.as_str().to_owned());
    with_document(move |page| {
        let title = format!("Change notices from {}", page.publisher_name);
        let action = subscribe_path(&page);
        let body = if sent {
            view! {
                <div class="alert success" role="status">
                    <p class="alert-title">"Check your email"</p>
                    <p>"If the address can receive notices, a confirmation link is on its way. Nothing is sent until you confirm."</p>
                </div>
            }
            .into_any()
        } else {
            view! {
                <p>{format!("Get an email when {} changes its privacy notice, its other policies or its sub-processors, before the change takes effect. Every email has a one-click unsubscribe link.", page.publisher_name)}</p>
                <ErrorSummary/>
                <form method="post" action=action class="card" novalidate>
                    <CsrfField/>
                    <TextField name="email" label="Your email address" value="" kind="email" required=true autocomplete="email"/>
                    <CheckboxGroup name="topics" legend="Tell me about" options=topic_options() selected=vec![initial_topic.clone()]/>
                    <div class="hp" aria-hidden="true">
                        <label for="website">"Leave this empty"</label>
                        <input id="website" name="website" type="text" tabindex="-1" autocomplete="off"/>
                    </div>
                    <div class="actions"><button type="submit" class="btn">"Subscribe"</button></div>
                </form>
            }
            .into_any()
        };
        view! {
            <Title text=title.clone()/>
            <div class="page-header"><h1>{title}</h1></div>
            <div class="reading stack">{body}</div>
        }
    })
}

fn topic_options() -> Vec<(String, String)> {
    Topic::ALL
        .iter()
        .map(|t| (t.as_str().to_owned(), t.label().to_owned()))
        .collect()
}

/// `/…/subscribe/confirm?t=…`: the button that confirms (a link alone does
/// not, so that mail scanners opening links confirm nothing).
#[component]
pub fn ConfirmSubscriptionPage() -> impl IntoView {
    let token = crate::api::pages::query("t").unwrap_or_default();
    let outcome = api::confirm_outcome();
    with_document(move |page| {
        let title = format!("Change notices from {}", page.publisher_name);
        let action = format!("{}/confirm", subscribe_path(&page));
        let body = match outcome {
            Some(true) => view! {
                <div class="alert success" role="status"><p class="alert-title">"You are subscribed"</p>
                <p>"You will get an email before any material change takes effect."</p></div>
                <p><a href=page.path.clone()>"Read the current notice"</a></p>
            }
            .into_any(),
            Some(false) => view! {
                <div class="alert error" role="alert"><p>"This confirmation link is not valid any more. Subscribe again to get a new one."</p></div>
                <p><a href=subscribe_path(&page)>"Subscribe again"</a></p>
            }
            .into_any(),
            None => view! {
                <p>"Confirm that you want to receive change notices at this address."</p>
                <form method="post" action=action>
                    <CsrfField/>
                    <input type="hidden" name="t" value=token.clone()/>
                    <div class="actions"><button type="submit" class="btn">"Confirm my subscription"</button></div>
                </form>
            }
            .into_any(),
        };
        view! {
            <Title text=title.clone()/>
            <div class="page-header"><h1>{title}</h1></div>
            <div class="reading stack">{body}</div>
        }
    })
}

/// `/email/unsubscribe/{token}`: what the link would do, and the button.
#[component]
pub fn UnsubscribePage() -> impl IntoView {
    let token = param("token").unwrap_or_default();
    let done = api::unsubscribed();
    let content = Suspend::new(async move {
        match api::unsubscribe_target(token.clone()).await {
            Ok(Some(target)) => {
                let email = crate::domain::email::EmailAddress::parse(&target.email)
                    .map_or_else(|_| target.email.clone(), |e| e.masked());
                let action = format!("/email/unsubscribe/{token}");
                let body = if done || target.suppressed {
                    view! {
                        <div class="alert success" role="status">
                            <p class="alert-title">"You are unsubscribed"</p>
                            <p>{format!("{email} will not receive change notices from {} any more.", target.publisher_name)}</p>
                        </div>
                    }
                    .into_any()
                } else {
                    view! {
                        <p>{format!("Stop change notices from {} to {email}?", target.publisher_name)}</p>
                        <form method="post" action=action>
                            <input type="hidden" name="List-Unsubscribe" value="One-Click"/>
                            <div class="actions"><button type="submit" class="btn">"Unsubscribe"</button></div>
                        </form>
                    }
                    .into_any()
                };
                view! {
                    <Title text="Unsubscribe"/>
                    <div class="page-header"><h1>"Unsubscribe"</h1></div>
                    <div class="reading stack">{body}</div>
                }
                .into_any()
            }
            Ok(None) => view! {
                <Title text="Unsubscribe"/>
                <div class="page-header"><h1>"Unsubscribe"</h1></div>
                <div class="alert error" role="alert"><p>"This unsubscribe link is not valid. Copy the whole link from the email, or contact the sender."</p></div>
            }
            .into_any(),
            Err(error) => view! { <PageErrorView error/> }.into_any(),
        }
    });
    view! {
        <Layout>
            <Suspense fallback=|| ()>{content}</Suspense>
        </Layout>
    }
}
