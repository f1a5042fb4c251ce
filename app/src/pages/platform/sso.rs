//! `/admin/platform/sso`: the operators' OpenID Connect connection.

use leptos::prelude::*;

use crate::api::pages;
use crate::components::admin_layout::{AdminLayout, Section};
use crate::components::layout::Layout;
use crate::pages::admin::sso::ConnectionForm;
use crate::pages::error::PageErrorView;

/// The platform's SSO page.
#[component]
pub fn PlatformSsoPage() -> impl IntoView {
    let content = Suspend::new(async move {
        match pages::platform_sso().await {
            Ok(connection) => view! {
                <AdminLayout title="Operators' single sign-on" section=Section::PlatformSso>
                    <p class="muted">"People from these domains who are operators sign in here; with open membership, everyone from the domains becomes an operator."</p>
                    <ConnectionForm base="/admin/platform/sso".to_owned() connection clinic=false/>
                </AdminLayout>
            }
            .into_any(),
            Err(error) => view! { <Layout><PageErrorView error/></Layout> }.into_any(),
        }
    });
    view! { <Suspense fallback=|| ()>{content}</Suspense> }
}
