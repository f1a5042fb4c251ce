//! `/admin/c/{clinic}/meta`: the clinic's Meta data-deletion callback.

use leptos::prelude::*;

use super::clinic_slug;
use crate::api::pages;
use crate::components::admin_layout::{AdminLayout, Section};
use crate::components::forms::{CsrfField, ErrorSummary, TextField};
use crate::components::layout::Layout;
use crate::pages::error::PageErrorView;

/// The Meta callback settings.
#[component]
pub fn MetaSettingsPage() -> impl IntoView {
    let slug = clinic_slug();
    let content = Suspend::new(async move {
        match pages::meta_settings(&slug).await {
            Ok((access, configured)) => {
                let base = use_context::<crate::backend::state::AppState>()
                    .map(|s| s.settings.url(&format!("/c/{}/meta", access.slug)))
                    .unwrap_or_default();
                let action = format!("/admin/c/{}/meta", access.slug);
                view! {
                    <AdminLayout title="Meta data deletion" clinic=access section=Section::Meta>
                        <section class="card">
                            <p>"When your clinic's Facebook or Instagram app has users, Meta asks apps to delete a user's data on request. Register these addresses in your Meta app's settings:"</p>
                            <dl class="facts">
                                <dt>"Data deletion request URL"</dt><dd><code>{format!("{base}/data-deletion")}</code></dd>
                                <dt>"Deauthorize callback URL"</dt><dd><code>{format!("{base}/deauthorize")}</code></dd>
                            </dl>
                            <p>"Each callback becomes an erasure request in your queue, with the same deadline as any other."</p>
                            <p><span class="badge">{if configured { "App secret saved" } else { "No app secret yet: callbacks are refused" }}</span></p>
                        </section>
                        <ErrorSummary/>
                        <form method="post" action=action class="card stack-top" novalidate>
                            <CsrfField/>
                            <TextField name="app_secret" label="App secret" value="" kind="password" autocomplete="off"
                                hint="From your Meta app's basic settings. Stored encrypted; it is used only to check the callbacks' signatures."/>
                            <div class="actions"><button type="submit" class="btn">"Save app secret"</button></div>
                        </form>
                    </AdminLayout>
                }
                .into_any()
            }
            Err(error) => view! { <Layout><PageErrorView error/></Layout> }.into_any(),
        }
    });
    view! { <Suspense fallback=|| ()>{content}</Suspense> }
}
