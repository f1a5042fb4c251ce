//! `/admin/platform`: the operators' start page.

use leptos::prelude::*;

use crate::api::pages;
use crate::components::admin_layout::{AdminLayout, Section};
use crate::components::layout::Layout;
use crate::domain::permissions::PlatformPermission;
use crate::pages::error::PageErrorView;

/// The platform overview.
#[component]
pub fn PlatformOverviewPage() -> impl IntoView {
    let content = Suspend::new(async move {
        let user = match pages::operator(PlatformPermission::ManageClinics) {
            Ok(user) => user,
            Err(error) => return view! { <Layout><PageErrorView error/></Layout> }.into_any(),
        };
        let clinics = match pages::platform_clinics().await {
            Ok((_, page)) => page.total,
            Err(error) => return view! { <Layout><PageErrorView error/></Layout> }.into_any(),
        };
        view! {
            <AdminLayout title="Platform administration" section=Section::PlatformOverview>
                <p class="muted">{format!("Signed in as {} (operator).", user.email)}</p>
                <div class="grid">
                    <section class="card">
                        <h2>"Clinics"</h2>
                        <p>{format!("{clinics} clinics on the platform.")}</p>
                        <p><a href="/admin/platform/clinics">"Manage clinics"</a></p>
                    </section>
                    <section class="card">
                        <h2>"Operators' sign-in"</h2>
                        <p>"Operators sign in through the platform's own SSO connection, or with emailed links."</p>
                        <p><a href="/admin/platform/sso">"Configure single sign-on"</a></p>
                    </section>
                </div>
            </AdminLayout>
        }
        .into_any()
    });
    view! { <Suspense fallback=|| ()>{content}</Suspense> }
}
