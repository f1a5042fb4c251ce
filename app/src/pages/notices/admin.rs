//! The editors' pages of versioned documents, for a clinic
//! (`/admin/c/{clinic}/notices/...`) and for the platform
//! (`/admin/platform/notices/...`): overview, editor with preview, publish,
//! campaign progress, audience, and acknowledgement coverage.

use leptos::prelude::*;

use super::{day, param};
use crate::api::notices::{self as api, Editor};
use crate::assets;
use crate::backend::services::notices::PendingAcknowledgement;
use crate::backend::services::notices::campaigns::Progress;
use crate::components::admin_layout::{AdminLayout, Section};
use crate::components::forms::{
    Checkbox, CsrfField, ErrorSummary, TextArea, TextField, form_state,
};
use crate::components::layout::Layout;
use crate::domain::diff;
use crate::domain::markdown;
use crate::pages::admin::when;
use crate::pages::error::PageErrorView;

/// The frame of an editor page: the clinic's or the platform's.
#[component]
fn EditorLayout(editor: Editor, #[prop(into)] title: String, children: Children) -> impl IntoView {
    let section = if editor.clinic.is_some() {
        Section::Notices
    } else {
        Section::PlatformNotices
    };
    match editor.clinic {
        Some(clinic) => {
            view! { <AdminLayout title clinic section>{children()}</AdminLayout> }.into_any()
        }
        None => view! { <AdminLayout title section>{children()}</AdminLayout> }.into_any(),
    }
}

fn failed(error: crate::api::pages::PageError) -> AnyView {
    view! { <Layout><PageErrorView error/></Layout> }.into_any()
}

fn version_line(v: &crate::backend::services::notices::VersionRow) -> String {
    format!(
        "Version {} · {} · from {}{}",
        v.number.unwrap_or_default(),
        v.title,
        v.effective_at.map(day).unwrap_or_default(),
        if v.material {
            " · material change"
        } else {
            ""
        }
    )
}

/// The campaigns table.
#[component]
fn CampaignList(base: String, campaigns: Vec<Progress>) -> impl IntoView {
    if campaigns.is_empty() {
        return view! { <p>"No change notice has been sent yet. Publishing a material change sends one."</p> }.into_any();
    }
    let rows = campaigns
        .into_iter()
        .map(|c| {
            let href = format!("{base}/campaigns/{}", c.id);
            view! {
                <tr>
                    <td><a href=href>{format!("{}, version {}", c.kind.label(), c.version_number)}</a></td>
                    <td>{when(c.created_at)}</td>
                    <td>{c.status.clone()}</td>
                    <td>{c.sent}" / "{c.recipients}</td>
                    <td>{c.failed}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="table">
            <caption class="visually-hidden">"Change notices"</caption>
            <thead><tr><th scope="col">"Notice"</th><th scope="col">"Started"</th><th scope="col">"Status"</th><th scope="col">"Sent"</th><th scope="col">"Failed"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

/// `/admin/c/{clinic}/notices` and `/admin/platform/notices`.
#[component]
pub fn NoticesPage() -> impl IntoView {
    let slug = param("clinic");
    let content = Suspend::new(async move {
        let data = match api::overview(slug).await {
            Ok(data) => data,
            Err(error) => return failed(error),
        };
        let base = data.editor.base.clone();
        let documents = data
            .documents
            .iter()
            .map(|d| {
                let kind = d.kind;
                let edit = format!("{base}/{}/edit", kind.slug());
                let publish = format!("{base}/{}/publish", kind.slug());
                let cancel = format!("{base}/{}/cancel", kind.slug());
                let public_href = crate::backend::services::notices::campaigns::document_path(
                    data.editor.clinic.as_ref().map(|c| c.slug.as_str()),
                    kind,
                );
                let current = d.current.as_ref().map_or_else(|| "Not published yet".to_owned(), version_line);
                let scheduled = d.scheduled.clone().map(|v| {
                    let cancel = cancel.clone();
                    let can_edit = data.can_edit;
                    view! {
                        <p><strong>"Scheduled: "</strong>{version_line(&v)}</p>
                        {can_edit.then(|| view! {
                            <details class="confirm">
                                <summary>"Cancel this version"</summary>
                                <form method="post" action=cancel>
                                    <CsrfField/>
                                    <Checkbox name="confirm" id=format!("field-confirm-cancel-{}", kind.slug()) label="Yes, cancel it: the current version stays in effect and no further notices are sent." checked=false/>
                                    <button type="submit" class="btn danger small">"Cancel the scheduled version"</button>
                                </form>
                            </details>
                        })}
                    }
                });
                let draft = d.draft.as_ref().map(|v| {
                    view! { <p><strong>"Draft: "</strong>{v.title.clone()}" (saved "{when(v.updated_at)}")"</p> }
                });
                let actions = data.can_edit.then(|| {
                    let has_draft = d.draft.is_some();
                    view! {
                        <div class="actions">
                            <a class="btn" href=edit>{if has_draft { "Edit the draft" } else { "Write a new version" }}</a>
                            {has_draft.then(|| view! { <a class="btn secondary" href=publish>"Review and publish"</a> })}
                        </div>
                    }
                });
                view! {
                    <section class="card">
                        <h2>{kind.label()}</h2>
                        <p><strong>"In effect: "</strong>{current}</p>
                        {scheduled}
                        {draft}
                        <p class="muted">{format!("{} published versions. ", d.published)}<a href=public_href>"Public page"</a></p>
                        {actions}
                    </section>
                }
            })
            .collect_view();
        let audience = format!("{base}/audience");
        let notice = format!(
            "Material changes are announced at least {} days before they take effect.",
            data.notice_days
        );
        let acknowledgements = data.editor.clinic.is_none().then(|| {
            view! { <p><a href="/admin/platform/notices/acknowledgements">"Acknowledgements by clinics"</a></p> }
        });
        let editor = data.editor.clone();
        let campaigns = data.campaigns.clone();
        let campaign_base = base.clone();
        view! {
            <EditorLayout editor title="Policies and notices">
                <p>{notice}" "<a href=audience>"Subscribers and recipient lists"</a></p>
                {acknowledgements}
                {documents}
                <section class="card">
                    <h2>"Change notices"</h2>
                    <CampaignList base=campaign_base campaigns/>
                </section>
            </EditorLayout>
        }
        .into_any()
    });
    view! { <Suspense fallback=|| ()>{content}</Suspense> }
}

/// `…/notices/{kind}/edit`: the editor, with a preview.
#[component]
pub fn EditorPage() -> impl IntoView {
    let (slug, kind) = (param("clinic"), param("kind").unwrap_or_default());
    let preview = api::draft_preview();
    let content = Suspend::new(async move {
        let data = match api::editor_data(slug, kind).await {
            Ok(data) => data,
            Err(error) => return failed(error),
        };
        let source = data.draft.clone().or_else(|| data.current.clone());
        let (title, body, summary, material) = match (&data.draft, &source) {
            (Some(d), _) => (
                d.title.clone(),
                d.body_md.clone(),
                d.summary.clone(),
                d.material,
            ),
            (None, Some(c)) => (c.title.clone(), c.body_md.clone(), String::new(), false),
            (None, None) => (
                data.kind.label().to_owned(),
                String::new(),
                String::new(),
                false,
            ),
        };
        let action = format!("{}/{}/edit", data.editor.base, data.kind.slug());
        let heading = format!("{}: edit the next version", data.kind.label());
        let preview = preview.clone().map(|html| {
            view! {
                <section class="card preview" aria-labelledby="preview-heading">
                    <h2 id="preview-heading">"Preview"</h2>
                    <article class="policy-text" inner_html=html></article>
                </section>
            }
        });
        let material_hint = format!(
            "A material change is announced by email and takes effect no earlier than {} days after publishing.",
            data.notice_days
        );
        let editor = data.editor.clone();
        view! {
            <EditorLayout editor title=heading>
                <ErrorSummary/>
                {preview}
                <form method="post" action=action class="card" novalidate>
                    <CsrfField/>
                    <TextField name="title" label="Title" value=title required=true/>
                    <TextArea name="body" label="Text (Markdown)" value=body rows=24 hint="Headings with #, lists with -, links as [text](https://…). Scripts and styles are removed."/>
                    <Checkbox name="material" label="This is a material change" checked=material hint=material_hint/>
                    <TextArea name="summary" label="Summary of changes" value=summary rows=4 hint="Required for a material change: it is what the change notice says."/>
                    <div class="actions">
                        <button type="submit" name="intent" value="preview" class="btn secondary">"Preview"</button>
                        <button type="submit" name="intent" value="save" class="btn">"Save draft"</button>
                    </div>
                </form>
            </EditorLayout>
        }
        .into_any()
    });
    view! { <Suspense fallback=|| ()>{content}</Suspense> }
}

/// `…/notices/{kind}/publish`: review the draft against the current version,
/// choose the date, confirm.
#[component]
pub fn PublishPage() -> impl IntoView {
    let (slug, kind) = (param("clinic"), param("kind").unwrap_or_default());
    let content = Suspend::new(async move {
        let data = match api::editor_data(slug, kind).await {
            Ok(data) => data,
            Err(error) => return failed(error),
        };
        let base = format!("{}/{}", data.editor.base, data.kind.slug());
        let heading = format!("{}: publish", data.kind.label());
        let editor = data.editor.clone();
        let Some(draft) = data.draft.clone() else {
            let edit = format!("{base}/edit");
            return view! {
                <EditorLayout editor title=heading>
                    <p>"There is no draft to publish. "<a href=edit>"Write a new version"</a></p>
                </EditorLayout>
            }
            .into_any();
        };
        let old = data
            .current
            .as_ref()
            .map(|c| markdown::plain_text(&c.body_md))
            .unwrap_or_default();
        let segments = diff::words(&old, &markdown::plain_text(&draft.body_md));
        let (added, removed) = diff::stats(&segments);
        let timing = if draft.material {
            format!(
                "This is a material change. It is announced by email now and takes effect on the date below, which must be at least {} days away (from {}).",
                data.notice_days,
                when(data.earliest)
            )
        } else {
            "This is not a material change: it takes effect as soon as it is published, without a change notice.".to_owned()
        };
        // The first midnight after the earliest allowed moment.
        let default_date = (data.earliest + chrono::Duration::days(1))
            .format("%Y-%m-%dT00:00")
            .to_string();
        let message = form_state().and_then(|f| f.message);
        let scheduled = data.scheduled.as_ref().map(|v| {
            view! { <div class="alert"><p>{format!("Version {} is already scheduled; cancel it before scheduling another.", v.number.unwrap_or_default())}</p></div> }
        });
        let html = markdown::render(&draft.body_md);
        view! {
            <EditorLayout editor title=heading>
                {message.map(|m| view! { <div class="alert error" role="alert"><p>{m}</p></div> })}
                {scheduled}
                <ErrorSummary/>
                <section class="card">
                    <h2>{draft.title.clone()}</h2>
                    <p>{timing}</p>
                    {(!draft.summary.is_empty()).then(|| view! { <p><strong>"Summary: "</strong>{draft.summary.clone()}</p> })}
                    <p class="muted">{format!("{added} words added, {removed} removed compared with the version in effect.")}</p>
                    <details>
                        <summary>"Show the changes"</summary>
                        <crate::pages::notices::public::WordDiff segments/>
                    </details>
                    <details>
                        <summary>"Show the full text"</summary>
                        <article class="policy-text" inner_html=html></article>
                    </details>
                </section>
                <form method="post" action=format!("{base}/publish") class="card" novalidate>
                    <CsrfField/>
                    {draft.material.then(|| view! {
                        <TextField name="effective_at" label="Takes effect on (UTC)" value=default_date.clone() kind="datetime-local" required=true/>
                    })}
                    <Checkbox name="confirm" label="I have reviewed this version. Once published it cannot be changed." checked=false/>
                    <div class="actions">
                        <button type="submit" class="btn">{if draft.material { "Schedule and notify" } else { "Publish now" }}</button>
                        <a class="btn secondary" href=format!("{base}/edit")>"Back to the editor"</a>
                    </div>
                </form>
                <details class="confirm card">
                    <summary>"Delete this draft"</summary>
                    <form method="post" action=format!("{base}/discard")>
                        <CsrfField/>
                        <Checkbox name="confirm" id="field-confirm-discard" label="Yes, delete the draft." checked=false/>
                        <button type="submit" class="btn danger small">"Delete the draft"</button>
                    </form>
                </details>
            </EditorLayout>
        }
        .into_any()
    });
    view! { <Suspense fallback=|| ()>{content}</Suspense> }
}

/// `…/notices/campaigns/{campaign}`: progress, refreshing itself while
/// messages are pending (`live-refresh.js`; a link without JavaScript).
#[component]
pub fn CampaignPage() -> impl IntoView {
    let (slug, id) = (param("clinic"), param("campaign").unwrap_or_default());
    let nonce = leptos::nonce::use_nonce();
    let content = Suspend::new(async move {
        let (editor, c) = match api::campaign(slug, id).await {
            Ok(found) => found,
            Err(error) => return failed(error),
        };
        let live = matches!(c.status.as_str(), "preparing" | "sending");
        let title = format!(
            "Change notice: {}, version {}",
            c.kind.label(),
            c.version_number
        );
        let done = c.sent + c.failed;
        let total = c.recipients.max(1);
        let summary = format!(
            "{} of {} sent, {} failed, {} pending.",
            c.sent, c.recipients, c.failed, c.pending
        );
        let failures = c
            .failures
            .iter()
            .map(|(email, error)| view! { <tr><td>{email.clone()}</td><td>{error.clone()}</td></tr> })
            .collect_view();
        let has_failures = !c.failures.is_empty();
        view! {
            <EditorLayout editor title>
                <div id="campaign-progress" data-live-refresh=live.then_some("2")>
                    <section class="card">
                        <p>{format!("{} “{}”, in effect from {}.", c.kind.label(), c.version_title, c.effective_at.map(day).unwrap_or_default())}</p>
                        <progress id="campaign-bar" max=total value=done>{format!("{done} of {total}")}</progress>
                        <p id="campaign-summary" role="status">{summary}</p>
                        <dl class="facts">
                            <dt>"Status"</dt>
                            <dd>
                                <span id="campaign-status">{c.status.clone()}</span>
                                {live.then(|| view! { <span data-live-fallback="">" · " <a href="">"Refresh the counts"</a></span> })}
                            </dd>
                            <dt>"Recipients"</dt><dd id="campaign-recipients">{c.recipients}</dd>
                            <dt>"Sent"</dt><dd id="campaign-sent">{c.sent}</dd>
                            <dt>"Pending"</dt><dd id="campaign-pending">{c.pending}</dd>
                            <dt>"Failed"</dt><dd id="campaign-failed">{c.failed}</dd>
                            <dt>"Left out (suppressed)"</dt><dd id="campaign-suppressed">{c.suppressed}</dd>
                        </dl>
                    </section>
                    <div id="campaign-failures" data-live-replace="">
                        {has_failures.then(|| view! {
                            <section class="card">
                                <h2>"Failures"</h2>
                                <table class="table">
                                    <thead><tr><th scope="col">"Address"</th><th scope="col">"Error"</th></tr></thead>
                                    <tbody>{failures}</tbody>
                                </table>
                            </section>
                        })}
                    </div>
                </div>
                {live.then(|| view! { <script src=assets::href("live-refresh.js") nonce=nonce.clone() defer=true></script> })}
            </EditorLayout>
        }
        .into_any()
    });
    view! { <Suspense fallback=|| ()>{content}</Suspense> }
}

/// `…/notices/audience`: subscribers, suppression list and (clinics)
/// imported lists.
#[component]
pub fn AudiencePage() -> impl IntoView {
    let slug = param("clinic");
    let report = api::import_outcome();
    let content = Suspend::new(async move {
        let (editor, summary) = match api::audience(slug).await {
            Ok(found) => found,
            Err(error) => return failed(error),
        };
        let base = editor.base.clone();
        let is_clinic = editor.clinic.is_some();
        let report = report.clone().map(|r| {
            let rejected = r
                .rejected
                .iter()
                .take(200)
                .map(|(line, value, reason)| view! { <tr><td>{*line}</td><td>{value.clone()}</td><td>{reason.clone()}</td></tr> })
                .collect_view();
            let has_rejected = !r.rejected.is_empty();
            view! {
                <section class="card" aria-labelledby="report-heading">
                    <h2 id="report-heading">{format!("Import report: {}", r.list_name)}</h2>
                    <dl class="facts">
                        <dt>"Rows read"</dt><dd>{r.rows}</dd>
                        <dt>"Imported"</dt><dd>{r.imported}</dd>
                        <dt>"Duplicates merged"</dt><dd>{r.duplicates}</dd>
                        <dt>"Left out (unsubscribed or suppressed)"</dt><dd>{r.suppressed}</dd>
                        <dt>"Invalid rows"</dt><dd>{r.rejected.len()}</dd>
                    </dl>
                    {has_rejected.then(|| view! {
                        <table class="table">
                            <caption>"Invalid rows (not imported)"</caption>
                            <thead><tr><th scope="col">"Line"</th><th scope="col">"Value"</th><th scope="col">"Problem"</th></tr></thead>
                            <tbody>{rejected}</tbody>
                        </table>
                    })}
                </section>
            }
        });
        let lists = summary
            .lists
            .iter()
            .map(|(id, name, members)| {
                let delete = format!("{base}/lists/{id}/delete");
                view! {
                    <tr>
                        <td>{name.clone()}</td>
                        <td>{*members}</td>
                        <td>
                            <details class="confirm">
                                <summary>"Delete"</summary>
                                <form method="post" action=delete>
                                    <CsrfField/>
                                    <Checkbox name="confirm" id=format!("field-confirm-delete-{id}") label="Yes, delete this list." checked=false/>
                                    <button type="submit" class="btn danger small">"Delete the list"</button>
                                </form>
                            </details>
                        </td>
                    </tr>
                }
            })
            .collect_view();
        let suppressions = summary
            .recent_suppressions
            .iter()
            .map(|(email, reason, at)| view! { <tr><td>{email.clone()}</td><td>{reason.replace('_', " ")}</td><td>{when(*at)}</td></tr> })
            .collect_view();
        let import = is_clinic.then(|| {
            let action = format!("{base}/lists");
            view! {
                <section class="card">
                    <h2>"Recipient lists"</h2>
                    <p>"Import people who should hear about changes (e.g. patients), as a CSV file with an “email” column and optionally “name”. Importing into an existing list replaces its members."</p>
                    {(!summary.lists.is_empty()).then(|| view! {
                        <table class="table">
                            <thead><tr><th scope="col">"List"</th><th scope="col">"Addresses"</th><th scope="col">"Actions"</th></tr></thead>
                            <tbody>{lists}</tbody>
                        </table>
                    })}
                    <form method="post" action=action enctype="multipart/form-data" novalidate>
                        <CsrfField/>
                        <TextField name="name" label="List name" value="" required=true/>
                        <div class="field">
                            <label for="field-file">"CSV file (at most 5 MB)"</label>
                            <input id="field-file" name="file" type="file" accept=".csv,text/csv"/>
                        </div>
                        <div class="actions"><button type="submit" class="btn">"Import"</button></div>
                    </form>
                </section>
            }
        });
        view! {
            <EditorLayout editor title="Subscribers and recipient lists">
                <ErrorSummary/>
                {report}
                <section class="card">
                    <h2>"Subscribers"</h2>
                    <dl class="facts">
                        <dt>"Confirmed"</dt><dd>{summary.confirmed}</dd>
                        <dt>"Waiting for confirmation"</dt><dd>{summary.pending}</dd>
                        <dt>"Unsubscribed"</dt><dd>{summary.unsubscribed}</dd>
                        <dt>"On the suppression list"</dt><dd>{summary.suppressed}</dd>
                    </dl>
                </section>
                {import}
                <section class="card">
                    <h2>"Suppression list"</h2>
                    <p>"These addresses get no change notices, whatever list they are on."</p>
                    {(!summary.recent_suppressions.is_empty()).then(|| view! {
                        <table class="table">
                            <caption>"Latest additions"</caption>
                            <thead><tr><th scope="col">"Address"</th><th scope="col">"Reason"</th><th scope="col">"Added"</th></tr></thead>
                            <tbody>{suppressions}</tbody>
                        </table>
                    })}
                    <form method="post" action=format!("{base}/suppressions") novalidate>
                        <CsrfField/>
                        <TextField name="email" label="Add an address" value="" kind="email"/>
                        <div class="actions"><button type="submit" class="btn secondary">"Suppress"</button></div>
                    </form>
                </section>
            </EditorLayout>
        }
        .into_any()
    });
    view! { <Suspense fallback=|| ()>{content}</Suspense> }
}

/// `/admin/platform/notices/acknowledgements`: which clinics acknowledged
/// each platform version.
#[component]
pub fn AcknowledgementsPage() -> impl IntoView {
    let content = Suspend::new(async move {
        let coverage = match api::coverage().await {
            Ok(found) => found,
            Err(error) => return failed(error),
        };
        let rows = coverage
            .iter()
            .map(|c| {
                let missing = c
                    .missing
                    .iter()
                    .map(|(_, name)| name.clone())
                    .collect::<Vec<_>>()
                    .join(", ");
                view! {
                    <tr>
                        <td>{format!("{}, version {}", c.kind.label(), c.number)}</td>
                        <td>{c.state.clone()}</td>
                        <td>{day(c.effective_at)}</td>
                        <td>{format!("{} of {}", c.acknowledged, c.active_clinics)}</td>
                        <td>{if missing.is_empty() { "—".to_owned() } else { missing }}</td>
                    </tr>
                }
            })
            .collect_view();
        let empty = coverage
            .is_empty()
            .then(|| view! { <p>"No platform version has been published yet."</p> });
        view! {
            <AdminLayout title="Acknowledgements of platform versions" section=Section::PlatformNotices>
                {empty}
                <table class="table">
                    <thead><tr><th scope="col">"Version"</th><th scope="col">"State"</th><th scope="col">"From"</th><th scope="col">"Clinics"</th><th scope="col">"Not yet acknowledged"</th></tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </AdminLayout>
        }
        .into_any()
    });
    view! { <Suspense fallback=|| ()>{content}</Suspense> }
}

/// The banners asking a clinic admin to acknowledge new platform versions.
#[component]
pub fn AcknowledgementBanners(slug: String, pending: Vec<PendingAcknowledgement>) -> impl IntoView {
    pending
        .into_iter()
        .map(|p| {
            let action = format!("/admin/c/{slug}/acknowledgements/{}", p.version_id);
            let path = crate::backend::services::notices::campaigns::document_path(None, p.kind);
            let read = format!("{path}/versions/{}", p.number);
            let diff = format!("{path}/versions/{}/diff", p.number);
            view! {
                <div class="alert" role="note">
                    <p class="alert-title">{format!("The platform's {} changes: version {}, from {}", p.kind.label().to_lowercase(), p.number, day(p.effective_at))}</p>
                    <p>{p.summary.clone()}</p>
                    <p><a href=read>"Read it"</a>" · "<a href=diff>"See what changes"</a></p>
                    <form method="post" action=action>
                        <CsrfField/>
                        <button type="submit" class="btn small">"Acknowledge"</button>
                    </form>
                </div>
            }
        })
        .collect_view()
}
