//! `/admin/c/{clinic}`: the clinic at a glance.

use leptos::prelude::*;

use super::{clinic_slug, when};
use crate::api::pages;
use crate::components::admin_layout::{AdminLayout, Section};
use crate::components::chart::WeeklyRequestsChart;
use crate::components::layout::Layout;
use crate::pages::error::PageErrorView;
use crate::pages::notices::admin::AcknowledgementBanners;

/// The clinic's dashboard.
#[component]
pub fn DashboardPage() -> impl IntoView {
    let slug = clinic_slug();
    let content = Suspend::new(async move {
        match pages::dashboard(&slug).await {
            Ok(data) => {
                let stats = match pages::request_stats(&data.access).await {
                    Ok(stats) => stats,
                    Err(error) => {
                        return view! { <Layout><PageErrorView error/></Layout> }.into_any();
                    }
                };
                let requests = format!("/admin/c/{}/requests", data.access.slug);
                let median = stats.median_days_to_close.map_or_else(
                    || "no request closed yet".to_owned(),
                    |d| format!("{d:.1} days"),
                );
                let base = format!("/admin/c/{}", data.access.slug);
                let sso = match &data.sso {
                    Some(c) if c.enabled => format!(
                        "On, through {} for {}",
                        c.display_name,
                        c.domains.join(", ")
                    ),
                    Some(_) => "Configured but switched off".to_owned(),
                    None => "Not configured: members sign in with emailed links".to_owned(),
                };
                let recent = data
                    .recent
                    .iter()
                    .map(|e| {
                        view! {
                            <tr>
                                <td>{when(e.occurred_at)}</td>
                                <td>{e.actor.clone()}</td>
                                <td><code>{e.action.clone()}</code></td>
                            </tr>
                        }
                    })
                    .collect_view();
                let empty = data.recent.is_empty();
                let pending = crate::api::notices::pending_acknowledgements(&data.access.slug)
                    .await
                    .map(|(_, pending)| pending)
                    .unwrap_or_default();
                let slug = data.access.slug.clone();
                view! {
                    <AdminLayout title=data.access.name.clone() clinic=data.access.clone() section=Section::Dashboard>
                        <AcknowledgementBanners slug pending/>
                        <p class="muted">{format!("You are {} of this clinic.", data.access.role.label())}</p>
                        <ul class="counters" aria-label="Privacy requests">
                            <li><a href=requests.clone()><strong>{stats.counts.open}</strong>" open requests"</a></li>
                            <li><a href=format!("{requests}?overdue=on")><strong>{stats.counts.overdue}</strong>" overdue"</a></li>
                            <li><a href=format!("{requests}?due_soon=on")><strong>{stats.counts.due_soon}</strong>" due within 7 days"</a></li>
                            <li><span><strong>{median}</strong>" median time to close"</span></li>
                        </ul>
                        <section class="card stack-bottom" aria-labelledby="weekly-heading">
                            <h2 id="weekly-heading">"Requests per week"</h2>
                            <WeeklyRequestsChart weeks=stats.weekly.clone()/>
                        </section>
                        <div class="grid">
                            <section class="card">
                                <h2>"Legal clock"</h2>
                                <dl class="facts">
                                    <dt>"Privacy requests"</dt><dd>{format!("answered within {}", data.deadline)}</dd>
                                    <dt>"Material changes"</dt><dd>{format!("announced {} days ahead", data.notice_period_days)}</dd>
                                </dl>
                            </section>
                            <section class="card">
                                <h2>"Team"</h2>
                                <p>{format!("{} members, {} open invitations.", data.members, data.open_invitations)}</p>
                                <p><a href=format!("{base}/team")>"Manage the team"</a></p>
                            </section>
                            <section class="card">
                                <h2>"Single sign-on"</h2>
                                <p>{sso}</p>
                            </section>
                        </div>
                        <section class="card stack-top">
                            <h2>"Recent activity"</h2>
                            {if empty {
                                view! { <p class="muted">"Nothing has happened yet."</p> }.into_any()
                            } else {
                                view! {
                                    <div class="table-wrap">
                                        <table class="data">
                                            <thead><tr><th scope="col">"When"</th><th scope="col">"Who"</th><th scope="col">"What"</th></tr></thead>
                                            <tbody>{recent}</tbody>
                                        </table>
                                    </div>
                                }.into_any()
                            }}
                            <p><a href=format!("{base}/audit")>"Open the audit log"</a></p>
                        </section>
                    </AdminLayout>
                }
                .into_any()
            }
            Err(error) => view! { <Layout><PageErrorView error/></Layout> }.into_any(),
        }
    });
    view! { <Suspense fallback=|| ()>{content}</Suspense> }
}
