//! `/admin/c/{clinic}/audit`: the clinic's audit log, newest first.

use leptos::prelude::*;

use super::{clinic_slug, when};
use crate::api::pages;
use crate::components::admin_layout::{AdminLayout, Section};
use crate::components::layout::Layout;
use crate::components::pager::Pager;
use crate::pages::error::PageErrorView;

fn page_href(page: u32, base: &str) -> String {
    format!("{base}?page={page}")
}

/// The audit log page.
#[component]
pub fn AuditPage() -> impl IntoView {
    let slug = clinic_slug();
    let content = Suspend::new(async move {
        match pages::audit_log(&slug).await {
            Ok((access, events)) => {
                let base = format!("/admin/c/{}/audit", access.slug);
                let pages = events.pages();
                let rows = events
                    .items
                    .iter()
                    .map(|e| {
                        view! {
                            <tr>
                                <td>{e.seq}</td>
                                <td>{when(e.occurred_at)}</td>
                                <td>{e.actor.clone()}</td>
                                <td><code>{e.action.clone()}</code></td>
                                <td>{e.subject.clone()}</td>
                                <td><code class="details">{e.details.clone()}</code></td>
                            </tr>
                        }
                    })
                    .collect_view();
                view! {
                    <AdminLayout title="Audit log" clinic=access section=Section::Audit>
                        <p class="muted">"Every change is recorded here and chained by hash; an operator can verify the chain with privacy-portal audit verify."</p>
                        <div class="table-wrap card">
                            <table class="data">
                                <caption class="visually-hidden">"Audit events, newest first"</caption>
                                <thead>
                                    <tr>
                                        <th scope="col">"#"</th>
                                        <th scope="col">"When"</th>
                                        <th scope="col">"Who"</th>
                                        <th scope="col">"Action"</th>
                                        <th scope="col">"Subject"</th>
                                        <th scope="col">"Details"</th>
                                    </tr>
                                </thead>
                                <tbody>{rows}</tbody>
                            </table>
                        </div>
                        <Pager page=events.page pages total=events.total href=page_href extra=base/>
                    </AdminLayout>
                }
                .into_any()
            }
            Err(error) => view! { <Layout><PageErrorView error/></Layout> }.into_any(),
        }
    });
    view! { <Suspense fallback=|| ()>{content}</Suspense> }
}
