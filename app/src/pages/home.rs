//! `/`: what the portal is and where to go.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api;
use crate::components::layout::Layout;
use crate::i18n::tr;

/// The landing page.
#[component]
pub fn HomePage() -> impl IntoView {
    let demo = Suspend::new(async move {
        api::public::demo_clinic_exists().await.then(|| {
            view! {
                <p class="actions">
                    <a class="btn" href="/c/demo/privacy">{tr("home-demo")}</a>
                </p>
            }
        })
    });
    view! {
        <Title text=tr("brand-name")/>
        <Layout>
            <section class="hero">
                <h1>{tr("home-title")}</h1>
                <p class="lead">{tr("home-lead")}</p>
                <Suspense fallback=|| ()>{demo}</Suspense>
            </section>
            <div class="grid">
                <section class="card">
                    <h2>{tr("home-for-patients")}</h2>
                    <p>{tr("home-for-patients-body")}</p>
                </section>
                <section class="card">
                    <h2>{tr("home-for-clinics")}</h2>
                    <p>{tr("home-for-clinics-body")}</p>
                </section>
                <section class="card">
                    <h2>{tr("home-for-platform")}</h2>
                    <p>{tr("home-for-platform-body")}</p>
                </section>
            </div>
        </Layout>
    }
}
