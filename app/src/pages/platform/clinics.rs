//! `/admin/platform/clinics`: list, create, suspend and reactivate clinics.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use crate::api::pages;
use crate::components::admin_layout::{AdminLayout, Section};
use crate::components::forms::{CsrfField, ErrorSummary, TextField};
use crate::components::layout::Layout;
use crate::components::pager::Pager;
use crate::domain::clinic::ClinicStatus;
use crate::domain::clinic_profile::ClinicProfileForm;
use crate::domain::permissions::PlatformPermission;
use crate::domain::retention::DEFAULT_OFFBOARDING_WINDOW_DAYS;
use crate::pages::admin::settings::ProfileFields;
use crate::pages::admin::when;
use crate::pages::error::PageErrorView;

fn page_href(page: u32, search: &str) -> String {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("q", search)
        .append_pair("page", &page.to_string())
        .finish();
    format!("/admin/platform/clinics?{query}")
}

/// The clinic list.
#[component]
pub fn ClinicsPage() -> impl IntoView {
    let content = Suspend::new(async move {
        let (search, page) = match pages::platform_clinics().await {
            Ok(found) => found,
            Err(error) => return view! { <Layout><PageErrorView error/></Layout> }.into_any(),
        };
        let pages = page.pages();
        let empty = page.items.is_empty();
        let rows = page
            .items
            .iter()
            .map(|c| {
                let status_href = format!("/admin/platform/clinics/{}/status", c.slug);
                let (badge, action) = match c.status {
                    ClinicStatus::Active => ("active", "Suspend…"),
                    ClinicStatus::Suspended => ("suspended", "Reactivate…"),
                    ClinicStatus::Offboarding => ("offboarding", "Cancel offboarding…"),
                };
                let offboard = (c.status != ClinicStatus::Offboarding).then(|| {
                    let href = format!("/admin/platform/clinics/{}/offboard", c.slug);
                    view! { " · " <a href=href>"Offboard…"</a> }
                });
                let public = format!("/c/{}/privacy", c.slug);
                view! {
                    <tr>
                        <td>{c.name.clone()}<br/><a class="muted" href=public>{format!("/c/{}", c.slug)}</a></td>
                        <td>{c.country.clone()}</td>
                        <td>{c.members}</td>
                        <td><span class="badge">{badge}</span></td>
                        <td>{when(c.created_at)}</td>
                        <td><a href=status_href>{action}</a>{offboard}</td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <AdminLayout title="Clinics" section=Section::PlatformClinics>
                <div class="toolbar">
                    <form method="get" action="/admin/platform/clinics" role="search" class="inline-form">
                        <label for="clinic-search">"Search by name or address"</label>
                        <input type="search" id="clinic-search" name="q" value=search.clone()/>
                        <button type="submit" class="btn secondary small">"Search"</button>
                    </form>
                    <a class="btn" href="/admin/platform/clinics/new">"New clinic"</a>
                </div>
                {if empty {
                    view! { <p class="card muted">"No clinic matches."</p> }.into_any()
                } else {
                    view! {
                        <div class="table-wrap card">
                            <table class="data">
                                <thead><tr>
                                    <th scope="col">"Clinic"</th><th scope="col">"Country"</th><th scope="col">"Members"</th>
                                    <th scope="col">"Status"</th><th scope="col">"Since"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th>
                                </tr></thead>
                                <tbody>{rows}</tbody>
                            </table>
                        </div>
                    }.into_any()
                }}
                <Pager page=page.page pages total=page.total href=page_href extra=search/>
            </AdminLayout>
        }
        .into_any()
    });
    view! { <Suspense fallback=|| ()>{content}</Suspense> }
}

/// The form for a new clinic.
#[component]
pub fn NewClinicPage() -> impl IntoView {
    let content = Suspend::new(async move {
        if let Err(error) = pages::operator(PlatformPermission::ManageClinics) {
            return view! { <Layout><PageErrorView error/></Layout> }.into_any();
        }
        let defaults = ClinicProfileForm {
            jurisdiction: "eu_gdpr".into(),
            default_locale: "en".into(),
            deadline: "calendar-month".into(),
            notice_period_days: "30".into(),
            ..ClinicProfileForm::default()
        };
        view! {
            <AdminLayout title="New clinic" section=Section::PlatformClinics>
                <ErrorSummary/>
                <form method="post" action="/admin/platform/clinics/new" class="card" novalidate>
                    <CsrfField/>
                    <fieldset>
                        <legend>"Address and first owner"</legend>
                        <TextField name="slug" label="Web address" value="" required=true hint="Public pages live at /c/{address}: lower-case letters, digits and hyphens."/>
                        <TextField name="owner_email" label="Owner's email" value="" kind="email" required=true hint="They can sign in with an emailed link at once."/>
                        <TextField name="owner_name" label="Owner's name" value="" required=true/>
                    </fieldset>
                    <ProfileFields profile=defaults/>
                    <div class="actions">
                        <button type="submit" class="btn">"Create clinic"</button>
                        <a class="btn secondary" href="/admin/platform/clinics">"Cancel"</a>
                    </div>
                </form>
            </AdminLayout>
        }
        .into_any()
    });
    view! { <Suspense fallback=|| ()>{content}</Suspense> }
}

/// Confirmation before suspending or reactivating a clinic.
#[component]
pub fn ClinicStatusPage() -> impl IntoView {
    let slug = use_params_map()
        .read_untracked()
        .get("slug")
        .unwrap_or_default();
    let content = Suspend::new(async move {
        let clinic = match pages::platform_clinic(&slug).await {
            Ok(clinic) => clinic,
            Err(error) => return view! { <Layout><PageErrorView error/></Layout> }.into_any(),
        };
        let action = format!("/admin/platform/clinics/{}/status", clinic.slug);
        let (title, text, status, button, class) = match clinic.status {
            ClinicStatus::Offboarding => (
                "Cancel offboarding",
                format!(
                    "Cancel the offboarding of {}? Its data is no longer scheduled for deletion and the clinic is active again.",
                    clinic.name
                ),
                "active",
                "Cancel offboarding",
                "btn",
            ),
            ClinicStatus::Suspended => (
                "Reactivate clinic",
                format!(
                    "Reactivate {}? Its team can sign in again and its public pages return.",
                    clinic.name
                ),
                "active",
                "Reactivate",
                "btn",
            ),
            _ => (
                "Suspend clinic",
                format!(
                    "Suspend {}? Its team can no longer open its admin pages and its public pages go offline until it is reactivated. No data is deleted.",
                    clinic.name
                ),
                "suspended",
                "Suspend clinic",
                "btn danger",
            ),
        };
        view! {
            <AdminLayout title=title section=Section::PlatformClinics>
                <div class="card narrow">
                    <p>{text}</p>
                    <form method="post" action=action>
                        <CsrfField/>
                        <input type="hidden" name="status" value=status/>
                        <div class="actions">
                            <button type="submit" class=class>{button}</button>
                            <a class="btn secondary" href="/admin/platform/clinics">"Cancel"</a>
                        </div>
                    </form>
                </div>
            </AdminLayout>
        }
        .into_any()
    });
    view! { <Suspense fallback=|| ()>{content}</Suspense> }
}

/// The operator's confirmation before offboarding a clinic: the export
/// window, and the clinic's address typed out.
#[component]
pub fn OffboardClinicPage() -> impl IntoView {
    let slug = use_params_map()
        .read_untracked()
        .get("slug")
        .unwrap_or_default();
    let content = Suspend::new(async move {
        let clinic = match pages::platform_clinic(&slug).await {
            Ok(clinic) => clinic,
            Err(error) => return view! { <Layout><PageErrorView error/></Layout> }.into_any(),
        };
        let action = format!("/admin/platform/clinics/{}/offboard", clinic.slug);
        view! {
            <AdminLayout title="Offboard clinic" section=Section::PlatformClinics>
                <ErrorSummary/>
                <div class="card narrow">
                    <p>{format!(
                        "Offboard {}? Its owners and admins are emailed at once and an export of all its data is prepared. When the export window ends, every record of the clinic is deleted for good: requests and files, consent records, notices, subscribers, team memberships and its audit log. The platform's audit log keeps a record that it happened.",
                        clinic.name
                    )}</p>
                    <form method="post" action=action novalidate>
                        <CsrfField/>
                        <TextField name="window_days" label="Export window (days)" value=DEFAULT_OFFBOARDING_WINDOW_DAYS.to_string() kind="number" required=true
                            hint="How long owners can still sign in and download the export before deletion: 1 to 365 days."/>
                        <TextField name="confirm_slug" label="Type the clinic's web address to confirm" value="" required=true autocomplete="off"
                            hint=format!("Type {} exactly.", clinic.slug)/>
                        <div class="actions">
                            <button type="submit" class="btn danger">"Offboard clinic"</button>
                            <a class="btn secondary" href="/admin/platform/clinics">"Cancel"</a>
                        </div>
                    </form>
                </div>
            </AdminLayout>
        }
        .into_any()
    });
    view! { <Suspense fallback=|| ()>{content}</Suspense> }
}
