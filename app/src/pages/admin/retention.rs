//! `/admin/c/{clinic}/retention` (rules, next run, past runs, dry-run
//! preview) and `/admin/c/{clinic}/export` (the clinic's data as a ZIP).

use leptos::prelude::*;

use super::{clinic_slug, when};
use crate::api::pages;
use crate::components::admin_layout::{AdminLayout, Section};
use crate::components::forms::{CsrfField, ErrorSummary, field_error, field_value};
use crate::components::layout::Layout;
use crate::components::pager::Pager;
use crate::domain::retention::{Category, action_field, period_field};
use crate::pages::error::PageErrorView;

fn page_href(page: u32, base: &str) -> String {
    format!("{base}?page={page}")
}

/// Counts of a run, "Consent records: 12; Email delivery log: 3", or "nothing".
fn counts_text(counts: &serde_json::Value) -> String {
    let parts: Vec<String> = Category::ALL
        .iter()
        .filter_map(|c| {
            let n = counts.get(c.as_str())?.as_i64()?;
            (n > 0).then(|| format!("{}: {n}", c.label()))
        })
        .collect();
    if parts.is_empty() {
        "nothing".to_owned()
    } else {
        parts.join("; ")
    }
}

/// The retention page.
#[component]
pub fn RetentionPage() -> impl IntoView {
    let slug = clinic_slug();
    let content = Suspend::new(async move {
        let view = match pages::retention(&slug).await {
            Ok(view) => view,
            Err(error) => return view! { <Layout><PageErrorView error/></Layout> }.into_any(),
        };
        let base = format!("/admin/c/{}/retention", view.access.slug);
        let rows = view
            .rules
            .iter()
            .map(|(&category, rule)| {
                let days_name = period_field(category);
                let action_name = action_field(category);
                let days = field_value(&days_name, rule.period_days.to_string());
                let action = field_value(&action_name, rule.action.as_str());
                let days_error = field_error(&days_name);
                let action_error = field_error(&action_name);
                let days_id = format!("field-{days_name}");
                let action_id = format!("field-{action_name}");
                let options = category
                    .actions()
                    .iter()
                    .map(|a| {
                        let selected = a.as_str() == action;
                        view! { <option value=a.as_str() selected=selected>{a.label()}</option> }
                    })
                    .collect_view();
                let default = category.default_rule();
                view! {
                    <tr>
                        <th scope="row">{category.label()}<br/>
                            <span class="muted">{format!("Counted from when {}. Default {} days; at least {}.", category.counted_from(), default.period_days, category.minimum_days())}</span>
                        </th>
                        <td class=if days_error.is_some() { "field has-error" } else { "field" }>
                            <label class="visually-hidden" for=days_id.clone()>{format!("{}: days kept", category.label())}</label>
                            {days_error.clone().map(|e| view! { <span class="error-message" id=format!("{days_id}-error")>{e}</span> })}
                            <input type="number" id=days_id.clone() name=days_name min=category.minimum_days() max="36500" value=days inputmode="numeric"
                                aria-invalid=days_error.is_some().then_some("true")
                                aria-describedby=days_error.is_some().then(|| format!("{days_id}-error"))/>
                        </td>
                        <td class=if action_error.is_some() { "field has-error" } else { "field" }>
                            <label class="visually-hidden" for=action_id.clone()>{format!("{}: then", category.label())}</label>
                            {action_error.clone().map(|e| view! { <span class="error-message" id=format!("{action_id}-error")>{e}</span> })}
                            <select id=action_id.clone() name=action_name aria-invalid=action_error.is_some().then_some("true")
                                aria-describedby=action_error.is_some().then(|| format!("{action_id}-error"))>{options}</select>
                        </td>
                    </tr>
                }
            })
            .collect_view();
        let runs = view.runs.clone();
        let pages = runs.pages();
        let empty = runs.items.is_empty();
        let run_rows = runs
            .items
            .iter()
            .map(|r| {
                let kind = if r.dry_run { "Preview" } else { "Purge" };
                let outcome = match (&r.error, r.finished_at) {
                    (Some(e), _) => format!("Stopped: {e}"),
                    (None, None) => "Running".to_owned(),
                    (None, Some(_)) => counts_text(&r.counts),
                };
                view! {
                    <tr>
                        <td>{when(r.started_at)}</td>
                        <td>{kind}</td>
                        <td>{r.trigger.clone()}</td>
                        <td>{outcome}</td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <AdminLayout title="Retention" clinic=view.access.clone() section=Section::Retention>
                <p class="muted">{format!(
                    "Data past its period is removed or anonymized by the nightly run, next at {}, in small batches. Changes to these rules are recorded in the audit log.",
                    when(view.next_run)
                )}</p>
                <ErrorSummary/>
                <form method="post" action=base.clone() class="card" novalidate>
                    <CsrfField/>
                    <div class="table-wrap">
                        <table class="data">
                            <caption>"How long each kind of data is kept"</caption>
                            <thead><tr>
                                <th scope="col">"Data"</th><th scope="col">"Days kept"</th><th scope="col">"Then"</th>
                            </tr></thead>
                            <tbody>{rows}</tbody>
                        </table>
                    </div>
                    <div class="actions"><button type="submit" class="btn">"Save rules"</button></div>
                </form>
                <form method="post" action=format!("{base}/preview") class="card stack-top">
                    <CsrfField/>
                    <p>"See what the rules would remove today, without changing anything."</p>
                    <div class="actions"><button type="submit" class="btn secondary">"Preview the next run"</button></div>
                </form>
                <h2>"Past runs"</h2>
                {if empty {
                    view! { <p class="card muted">"No run yet. The first nightly run, or a preview, will be listed here."</p> }.into_any()
                } else {
                    view! {
                        <div class="table-wrap card">
                            <table class="data">
                                <caption class="visually-hidden">"Retention runs, newest first"</caption>
                                <thead><tr>
                                    <th scope="col">"Started"</th><th scope="col">"Kind"</th><th scope="col">"Started by"</th><th scope="col">"Removed or anonymized"</th>
                                </tr></thead>
                                <tbody>{run_rows}</tbody>
                            </table>
                        </div>
                    }.into_any()
                }}
                <Pager page=runs.page pages total=runs.total href=page_href extra=base/>
            </AdminLayout>
        }
        .into_any()
    });
    view! { <Suspense fallback=|| ()>{content}</Suspense> }
}

fn size_text(bytes: Option<i64>) -> String {
    match bytes {
        Some(b) if b >= 1024 * 1024 => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
        Some(b) => format!("{:.1} KB", b as f64 / 1024.0),
        None => String::new(),
    }
}

/// The export page.
#[component]
pub fn ExportPage() -> impl IntoView {
    let slug = clinic_slug();
    let content = Suspend::new(async move {
        let view = match pages::exports(&slug).await {
            Ok(view) => view,
            Err(error) => return view! { <Layout><PageErrorView error/></Layout> }.into_any(),
        };
        let action = format!("/admin/c/{}/export", view.access.slug);
        let working = view
            .exports
            .iter()
            .any(|e| e.status == "queued" || e.status == "running");
        let empty = view.exports.is_empty();
        let rows = view
            .exports
            .iter()
            .map(|e| {
                let expired = e.expires_at <= view.now;
                let status = match e.status.as_str() {
                    "queued" => view! { <span>"Waiting to start"</span> }.into_any(),
                    "running" => view! {
                        <span>
                            <progress max="100" value=e.progress aria-label="Export progress">{format!("{}%", e.progress)}</progress>
                            " " {format!("{} ({}%)", e.stage, e.progress)}
                        </span>
                    }.into_any(),
                    "failed" => view! { <span>{format!("Failed: {}", e.error.clone().unwrap_or_default())}</span> }.into_any(),
                    _ if expired => view! { <span>"Expired"</span> }.into_any(),
                    _ => {
                        let href = format!("/admin/c/{}/exports/{}", view.access.slug, e.id);
                        view! { <a class="btn small" href=href download>{format!("Download ZIP ({})", size_text(e.size_bytes))}</a> }.into_any()
                    }
                };
                let reason = if e.reason == "offboarding" { "Offboarding" } else { "Requested" };
                view! {
                    <tr>
                        <td>{when(e.created_at)}</td>
                        <td>{reason}</td>
                        <td>{status}</td>
                        <td>{when(e.expires_at)}</td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <AdminLayout title="Export the clinic's data" clinic=view.access.clone() section=Section::Export>
                {view.delete_after.map(|at| view! {
                    <div class="card notice warning" role="status">
                        <p><strong>{format!("This clinic's account is closing. Every record is deleted after {}.", when(at))}</strong>
                        " Download the export before then."</p>
                    </div>
                })}
                <section class="card">
                    <p>"A ZIP file of everything the portal holds for this clinic: privacy requests with their timelines and files, consent records with their signed receipts, every version of your notices, sub-processor objections, subscribers, the email log and the audit log with its hash chain. JSON and CSV, described by manifest.json inside."</p>
                    <p class="muted">"Only owners can prepare and download exports; each stays available for 7 days."</p>
                    <form method="post" action=action>
                        <CsrfField/>
                        <div class="actions"><button type="submit" class="btn">"Prepare an export"</button></div>
                    </form>
                </section>
                <h2>"Exports"</h2>
                {working.then(|| view! {
                    <p class="muted">"An export is being prepared; it takes a minute or two for a large clinic. "
                        <a href=format!("/admin/c/{}/export", view.access.slug)>"Check its progress"</a></p>
                })}
                {if empty {
                    view! { <p class="card muted">"No export yet."</p> }.into_any()
                } else {
                    view! {
                        <div class="table-wrap card" aria-live="polite">
                            <table class="data">
                                <caption class="visually-hidden">"Exports, newest first"</caption>
                                <thead><tr>
                                    <th scope="col">"Asked for"</th><th scope="col">"Why"</th><th scope="col">"Status"</th><th scope="col">"Available until"</th>
                                </tr></thead>
                                <tbody>{rows}</tbody>
                            </table>
                        </div>
                    }.into_any()
                }}
            </AdminLayout>
        }
        .into_any()
    });
    view! { <Suspense fallback=|| ()>{content}</Suspense> }
}
