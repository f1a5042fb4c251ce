//! `/admin/c/{clinic}/requests`: the queue, and one request's detail with
//! the actions its state allows.

use chrono::Utc;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use super::{clinic_slug, when};
use crate::api::pages;
use crate::backend::services::requests::staff::{AssigneeFilter, Detail, QueueFilter, QueueSort};
use crate::components::admin_layout::{AdminLayout, Section};
use crate::components::forms::{CsrfField, ErrorSummary, SelectField, TextArea};
use crate::components::layout::Layout;
use crate::components::pager::Pager;
use crate::domain::deadline::days_left;
use crate::domain::permissions::{ClinicPermission, allows};
use crate::domain::requests::{Outcome, RequestKind, RequestStatus};
use crate::pages::error::PageErrorView;

/// "due in 3 days", "due today", "overdue by 2 days".
fn due_text(due: Option<chrono::NaiveDate>, status: RequestStatus) -> (String, &'static str) {
    let Some(due) = due else {
        return (String::new(), "");
    };
    if !status.is_open() {
        return (due.to_string(), "");
    }
    match days_left(Utc::now().date_naive(), due) {
        d if d < 0 => (format!("{due} · overdue by {} days", -d), "badge danger"),
        0 => (format!("{due} · due today"), "badge warning"),
        d if d <= 7 => (format!("{due} · in {d} days"), "badge warning"),
        d => (format!("{due} · in {d} days"), ""),
    }
}

fn queue_href(page: u32, query: &str) -> String {
    if query.is_empty() {
        format!("?page={page}")
    } else {
        format!("?{query}&page={page}")
    }
}

/// The filters of the current page as a query string (for the pager).
fn filter_query(filter: &QueueFilter) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    if let Some(status) = filter.status {
        q.append_pair("status", status.as_str());
    }
    if let Some(kind) = filter.kind {
        q.append_pair("kind", kind.as_str());
    }
    match filter.assignee {
        AssigneeFilter::Anyone => {}
        AssigneeFilter::Unassigned => {
            q.append_pair("assignee", "unassigned");
        }
        AssigneeFilter::User(id) => {
            q.append_pair("assignee", &id.to_string());
        }
    }
    if filter.overdue {
        q.append_pair("overdue", "on");
    }
    if filter.due_soon {
        q.append_pair("due_soon", "on");
    }
    if !filter.search.is_empty() {
        q.append_pair("q", &filter.search);
    }
    if filter.sort == QueueSort::Newest {
        q.append_pair("sort", "newest");
    }
    q.finish()
}

/// The queue.
#[component]
pub fn RequestQueuePage() -> impl IntoView {
    let slug = clinic_slug();
    let content = Suspend::new(async move {
        let (access, user, filter, page, counts, team) = match pages::request_queue(&slug).await {
            Ok(found) => found,
            Err(error) => return view! { <Layout><PageErrorView error/></Layout> }.into_any(),
        };
        let base = format!("/admin/c/{}/requests", access.slug);
        let pages_count = page.pages();
        let extra = filter_query(&filter);
        let selected = |wanted: bool| wanted;
        let status_options =
            std::iter::once(("".to_owned(), "Open (new, in progress, waiting)".to_owned()))
                .chain(
                    RequestStatus::ALL
                        .into_iter()
                        .filter(|s| *s != RequestStatus::Unverified)
                        .map(|s| (s.as_str().to_owned(), s.label().to_owned())),
                )
                .map(|(value, label)| {
                    let is = filter
                        .status
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default()
                        == value;
                    view! { <option value=value selected=selected(is)>{label}</option> }
                })
                .collect_view();
        let kind_options = std::iter::once(("".to_owned(), "All kinds".to_owned()))
            .chain(
                RequestKind::ALL
                    .into_iter()
                    .map(|k| (k.as_str().to_owned(), k.label().to_owned())),
            )
            .map(|(value, label)| {
                let is = filter
                    .kind
                    .map(|k| k.as_str().to_owned())
                    .unwrap_or_default()
                    == value;
                view! { <option value=value selected=selected(is)>{label}</option> }
            })
            .collect_view();
        let current_assignee = match filter.assignee {
            AssigneeFilter::Anyone => String::new(),
            AssigneeFilter::Unassigned => "unassigned".into(),
            AssigneeFilter::User(id) if id == user.id => "me".into(),
            AssigneeFilter::User(id) => id.to_string(),
        };
        let assignee_options = [
            ("".to_owned(), "Anyone".to_owned()),
            ("me".into(), "Me".into()),
            ("unassigned".into(), "Unassigned".into()),
        ]
        .into_iter()
        .chain(
            team.iter()
                .filter(|m| m.user_id != user.id)
                .map(|m| (m.user_id.to_string(), m.name.clone())),
        )
        .map(|(value, label)| {
            let is = value == current_assignee;
            view! { <option value=value selected=selected(is)>{label}</option> }
        })
        .collect_view();
        let empty = page.items.is_empty();
        let rows = page
            .items
            .iter()
            .map(|r| {
                let href = format!("{base}/{}", r.id);
                let (due, class) = due_text(r.due_on, r.status);
                view! {
                    <tr>
                        <td><a href=href>{r.reference.clone().unwrap_or_default()}</a></td>
                        <td>{r.kind.label()}</td>
                        <td>{r.requester_name.clone()}<br/><span class="muted">{r.requester_email.clone().unwrap_or_else(|| "via Meta".into())}</span></td>
                        <td><span class="badge">{r.status.label()}</span></td>
                        <td><span class=class>{due}</span></td>
                        <td>{r.assignee.clone().unwrap_or_else(|| "—".into())}</td>
                    </tr>
                }
            })
            .collect_view();
        let csv = format!("{base}.csv");
        view! {
            <AdminLayout title="Privacy requests" clinic=access.clone() section=Section::Requests>
                <ul class="counters" aria-label="Counts">
                    <li><a href=format!("{base}")><strong>{counts.open}</strong>" open"</a></li>
                    <li><a href=format!("{base}?overdue=on")><strong>{counts.overdue}</strong>" overdue"</a></li>
                    <li><a href=format!("{base}?due_soon=on")><strong>{counts.due_soon}</strong>" due within 7 days"</a></li>
                    <li><a href=format!("{base}?status=awaiting_requester")><strong>{counts.awaiting_requester}</strong>" waiting for requester"</a></li>
                    <li><a href=format!("{base}?assignee=unassigned")><strong>{counts.unassigned}</strong>" unassigned"</a></li>
                </ul>
                <form method="get" action=base.clone() class="card filters" role="search">
                    <div class="filter-grid">
                        <div class="field"><label for="f-q">"Reference or email"</label><input type="search" id="f-q" name="q" value=filter.search.clone()/></div>
                        <div class="field"><label for="f-status">"Status"</label><select id="f-status" name="status">{status_options}</select></div>
                        <div class="field"><label for="f-kind">"Kind"</label><select id="f-kind" name="kind">{kind_options}</select></div>
                        <div class="field"><label for="f-assignee">"Assignee"</label><select id="f-assignee" name="assignee">{assignee_options}</select></div>
                        <div class="field">
                            <label for="f-sort">"Order"</label>
                            <select id="f-sort" name="sort">
                                <option value="due" selected=filter.sort == QueueSort::DueDate>"Soonest deadline first"</option>
                                <option value="newest" selected=filter.sort == QueueSort::Newest>"Newest first"</option>
                            </select>
                        </div>
                    </div>
                    <div class="checkbox"><input type="checkbox" id="f-overdue" name="overdue" checked=filter.overdue/><label for="f-overdue">"Overdue only"</label></div>
                    <div class="checkbox"><input type="checkbox" id="f-soon" name="due_soon" checked=filter.due_soon/><label for="f-soon">"Due within 7 days"</label></div>
                    <div class="actions">
                        <button type="submit" class="btn">"Apply"</button>
                        <a class="btn secondary" href=base.clone()>"Reset"</a>
                        <a class="btn secondary" href=csv>"Export CSV"</a>
                    </div>
                </form>
                {if empty {
                    view! { <p class="card muted">"No request matches these filters."</p> }.into_any()
                } else {
                    view! {
                        <div class="table-wrap card">
                            <table class="data">
                                <thead><tr>
                                    <th scope="col">"Reference"</th><th scope="col">"Kind"</th><th scope="col">"Requester"</th>
                                    <th scope="col">"Status"</th><th scope="col">"Due"</th><th scope="col">"Assignee"</th>
                                </tr></thead>
                                <tbody>{rows}</tbody>
                            </table>
                        </div>
                    }.into_any()
                }}
                <Pager page=page.page pages=pages_count total=page.total href=queue_href extra/>
            </AdminLayout>
        }
        .into_any()
    });
    view! { <Suspense fallback=|| ()>{content}</Suspense> }
}

/// One request.
#[component]
pub fn RequestDetailPage() -> impl IntoView {
    let slug = clinic_slug();
    let id = use_params_map()
        .read_untracked()
        .get("request")
        .unwrap_or_default();
    let content = Suspend::new(async move {
        match pages::request_detail(&slug, &id).await {
            Ok((access, detail)) => {
                let manage = allows(access.role, ClinicPermission::ManageRequests);
                let title = detail
                    .request
                    .reference
                    .clone()
                    .unwrap_or_else(|| "Privacy request".into());
                view! {
                    <AdminLayout title=title clinic=access.clone() section=Section::Requests>
                        <RequestFacts detail=detail.clone()/>
                        {manage.then(|| view! { <RequestActions slug=access.slug.clone() detail=detail.clone()/> })}
                        <RequestFiles slug=access.slug.clone() detail=detail.clone() manage/>
                        <RequestTimeline detail/>
                    </AdminLayout>
                }
                .into_any()
            }
            Err(error) => view! { <Layout><PageErrorView error/></Layout> }.into_any(),
        }
    });
    view! { <Suspense fallback=|| ()>{content}</Suspense> }
}

#[component]
fn RequestFacts(detail: Detail) -> impl IntoView {
    let r = detail.request.clone();
    let status = r.status();
    let (due, class) = due_text(r.due_on, status);
    let acting = match r.acting_as.as_str() {
        "child" => format!(
            "for a child: {}",
            r.subject_name.clone().unwrap_or_default()
        ),
        "representative" => format!(
            "as representative of {}",
            r.subject_name.clone().unwrap_or_default()
        ),
        _ => "for themselves".to_owned(),
    };
    view! {
        <section class="card" aria-labelledby="facts-heading">
            <h2 id="facts-heading">{r.kind().label()}" · "<span class="badge">{status.label()}</span></h2>
            <dl class="facts">
                <dt>"Requester"</dt><dd>{r.requester_name.clone()}" ("{acting}")"</dd>
                <dt>"Email"</dt><dd>{r.requester_email.clone().unwrap_or_else(|| "none (received through Meta)".into())}</dd>
                {r.requester_phone.clone().map(|p| view! { <dt>"Phone"</dt><dd>{p}</dd> })}
                {r.date_of_birth.map(|d| view! { <dt>"Date of birth"</dt><dd>{d.to_string()}</dd> })}
                {r.patient_number.clone().map(|p| view! { <dt>"Patient number"</dt><dd>{p}</dd> })}
                <dt>"Received"</dt><dd>{r.verified_at.map(when).unwrap_or_default()}" via "{r.source.replace('_', " ")}</dd>
                <dt>"Due"</dt><dd><span class=class>{due}</span></dd>
                {r.paused_since.map(|d| view! { <dt>"Clock"</dt><dd>{format!("paused since {d} (waiting for the requester)")}</dd> })}
                {(r.paused_days > 0).then(|| view! { <dt>"Paused so far"</dt><dd>{format!("{} days", r.paused_days)}</dd> })}
                {r.extension_months.map(|m| view! { <dt>"Extended"</dt><dd>{format!("by {m} month(s): {}", r.extension_reason.clone().unwrap_or_default())}</dd> })}
                {r.outcome.clone().map(|o| view! { <dt>"Outcome"</dt><dd>{o.replace('_', " ")}{r.outcome_reason.clone().map(|m| format!(": {m}"))}</dd> })}
                <dt>"Assignee"</dt><dd>{detail.assignee.clone().unwrap_or_else(|| "nobody yet".into())}</dd>
            </dl>
            {(!r.details.is_empty()).then(|| view! { <h3>"Details"</h3><p class="message">{r.details.clone()}</p> })}
        </section>
    }
}

#[component]
fn RequestActions(slug: String, detail: Detail) -> impl IntoView {
    let r = &detail.request;
    let status = r.status();
    let action = format!("/admin/c/{slug}/requests/{}/action", r.id);
    let today = Utc::now().date_naive();
    let can_extend = status.is_open()
        && r.extension_months.is_none()
        && detail.unextended_due.is_some_and(|d| today <= d);
    let form =
        move |name: &'static str, label: &'static str, button: &'static str, fields: AnyView| {
            let action = action.clone();
            view! {
                <form method="post" action=action class="action-form" novalidate>
                    <h3>{label}</h3>
                    <CsrfField/>
                    <input type="hidden" name="action" value=name/>
                    {fields}
                    <button type="submit" class="btn secondary">{button}</button>
                </form>
            }
        };
    let assignees = std::iter::once(("".to_owned(), "Nobody".to_owned()))
        .chain(
            detail
                .assignable
                .iter()
                .map(|m| (m.user_id.to_string(), m.name.clone())),
        )
        .collect::<Vec<_>>();
    let current = r.assignee_id.map(|a| a.to_string()).unwrap_or_default();
    let outcomes = [
        Outcome::Fulfilled,
        Outcome::PartiallyFulfilled,
        Outcome::Refused,
    ]
    .into_iter()
    .map(|o| (o.as_str().to_owned(), o.label().to_owned()))
    .collect::<Vec<_>>();
    let open = status.is_open();
    view! {
        <section class="card stack-top" aria-labelledby="actions-heading">
            <h2 id="actions-heading">"Actions"</h2>
            <ErrorSummary/>
            <div class="action-grid">
                {(status == RequestStatus::New).then(|| form("start", "Start work", "Start", view! { <p class="muted">"Mark the request as in progress."</p> }.into_any()))}
                {(matches!(status, RequestStatus::New | RequestStatus::InProgress)).then(|| form("ask", "Ask the requester", "Send and pause the clock",
                    view! { <TextArea name="question" label="Your question (emailed to the requester)" value="" rows=3/> }.into_any()))}
                {open.then(|| form("complete", "Complete", "Complete the request", view! {
                    <SelectField name="outcome" label="Outcome" value="fulfilled" options=outcomes.clone()/>
                    <TextArea name="completion_message" label="Message to the requester (required when refusing)" value="" rows=3
                        hint="A refusal email names the right to complain to the supervisory authority."/>
                }.into_any()))}
                {can_extend.then(|| form("extend", "Extend the deadline", "Extend and tell the requester", view! {
                    <SelectField name="months" label="By" value="1" options=vec![("1".into(), "one month".into()), ("2".into(), "two months".into())]/>
                    <TextArea name="reason" label="Reason (emailed to the requester)" value="" rows=2/>
                }.into_any()))}
                {(open || status == RequestStatus::Completed).then(|| form("message", "Message the requester", "Send message",
                    view! { <TextArea name="message" label="Message (emailed to the requester)" value="" rows=3/> }.into_any()))}
                {form("note", "Internal note", "Add note", view! { <TextArea name="note" label="Note (only the team sees it)" value="" rows=2/> }.into_any())}
                {open.then(|| form("assign", "Assign", "Assign", view! { <SelectField name="assignee" label="Assignee" value=current.clone() options=assignees.clone()/> }.into_any()))}
            </div>
        </section>
    }
}

#[component]
fn RequestFiles(slug: String, detail: Detail, manage: bool) -> impl IntoView {
    let r = &detail.request;
    let upload = format!("/admin/c/{slug}/requests/{}/files", r.id);
    let can_attach = manage && (r.status().is_open() || r.status() == RequestStatus::Completed);
    let list = detail
        .files
        .iter()
        .map(|f| {
            let href = format!("/admin/c/{slug}/requests/{}/files/{}", r.id, f.id);
            view! { <li><a href=href>{f.filename.clone()}</a>" · "{format!("{} KB", (f.size_bytes + 1023) / 1024)}" · "{when(f.created_at)}</li> }
        })
        .collect_view();
    let empty = detail.files.is_empty();
    view! {
        <section class="card stack-top" aria-labelledby="files-heading">
            <h2 id="files-heading">"Files for the requester"</h2>
            {if empty { view! { <p class="muted">"No files yet."</p> }.into_any() } else { view! { <ul>{list}</ul> }.into_any() }}
            {can_attach.then(|| view! {
                <form method="post" action=upload enctype="multipart/form-data" class="inline-form">
                    <CsrfField/>
                    <label for="field-file">"Attach a file (PDF, JSON, CSV or ZIP, at most 25 MB)"</label>
                    <input type="file" id="field-file" name="file" accept=".pdf,.json,.csv,.zip"/>
                    <button type="submit" class="btn secondary small">"Attach"</button>
                </form>
            })}
        </section>
    }
}

#[component]
fn RequestTimeline(detail: Detail) -> impl IntoView {
    let items = detail
        .events
        .iter()
        .map(|e| {
            let class = if e.visible_to_requester { "" } else { "internal" };
            let tag = (!e.visible_to_requester).then(|| view! { <span class="badge">"internal"</span> });
            view! {
                <li class=class>
                    <time datetime=e.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)>{when(e.at)}</time>
                    <p><strong>{e.kind.replace('_', " ")}</strong>" · "{e.author.clone()}" "{tag}</p>
                    {(!e.body.is_empty()).then(|| view! { <p class="message">{e.body.clone()}</p> })}
                </li>
            }
        })
        .collect_view();
    view! {
        <section class="card stack-top" aria-labelledby="timeline-heading">
            <h2 id="timeline-heading">"Timeline"</h2>
            <ol class="timeline">{items}</ol>
        </section>
    }
}
