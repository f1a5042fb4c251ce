//! `/c/{clinic}/privacy`: the clinic's current privacy notice and contacts.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::api;
use crate::api::notices::PublicDocumentPage;
use crate::backend::services::clinics::PublicClinic;
use crate::components::layout::Layout;
use crate::i18n::{tr, tr_args};
use crate::pages::error::{ErrorContent, NotFoundContent};
use crate::pages::notices::public::CurrentDocument;

/// The clinic's privacy page.
#[component]
pub fn ClinicPrivacyPage() -> impl IntoView {
    let slug = use_params_map()
        .read_untracked()
        .get("clinic")
        .unwrap_or_default();
    let content = Suspend::new(async move {
        let document = api::notices::public_document(Some(slug.clone()), None)
            .await
            .ok()
            .flatten();
        match api::public::clinic(&slug).await {
            Ok(Some(clinic)) => view! { <ClinicPrivacy clinic document/> }.into_any(),
            Ok(None) => view! { <NotFoundContent/> }.into_any(),
            Err(error) => view! { <ErrorContent error/> }.into_any(),
        }
    });
    view! {
        <Layout>
            <Suspense fallback=|| ()>{content}</Suspense>
        </Layout>
    }
}

#[component]
fn ClinicPrivacy(clinic: PublicClinic, document: Option<PublicDocumentPage>) -> impl IntoView {
    let title = tr_args("privacy-title", &[("clinic", clinic.name.clone())]);
    let contact_href = format!("mailto:{}", clinic.contact_email);
    let dpo = clinic.dpo_name.clone().map(|name| {
        let email = clinic.dpo_email.clone().map(|email| {
            let href = format!("mailto:{email}");
            view! { <br/><a href=href>{email}</a> }
        });
        let phone = clinic.dpo_phone.clone().map(|phone| view! { <br/>{phone} });
        view! {
            <dt>{tr("privacy-dpo")}</dt>
            <dd>{name}{email}{phone}</dd>
        }
    });
    let authority = match clinic.authority_url.clone() {
        Some(url) => {
            view! { <a href=url rel="noopener noreferrer">{clinic.authority_name.clone()}</a> }
                .into_any()
        }
        None => view! { <span>{clinic.authority_name.clone()}</span> }.into_any(),
    };
    view! {
        <Title text=title.clone()/>
        <div class="page-header">
            <h1>{title}</h1>
            <p class="muted">{tr_args("privacy-jurisdiction", &[("law", clinic.jurisdiction.clone())])}</p>
        </div>
        <div class="reading stack">
            {match document.filter(|d| d.document.current.is_some() || d.document.upcoming.is_some()) {
                Some(page) => view! { <CurrentDocument page/> }.into_any(),
                None => view! { <div class="alert"><p>{tr("privacy-no-notice")}</p></div> }.into_any(),
            }}
            <section class="card" aria-labelledby="controller-heading">
                <h2 id="controller-heading">{tr("privacy-controller")}</h2>
                <p>{tr_args("privacy-controller-body", &[("legal", clinic.legal_name.clone())])}</p>
                <dl class="facts">
                    <dt>{tr("privacy-contact")}</dt>
                    <dd><a href=contact_href>{clinic.contact_email.clone()}</a></dd>
                    {dpo}
                </dl>
            </section>
            <section class="card" aria-labelledby="rights-heading">
                <h2 id="rights-heading">{tr("privacy-rights")}</h2>
                <p>{tr_args("privacy-rights-body", &[("deadline", clinic.deadline.clone())])}</p>
                <ul>
                    <li><a href=format!("/c/{}/requests/new", clinic.slug)>{tr("privacy-link-request")}</a></li>
                    <li><a href=format!("/c/{}/consents", clinic.slug)>{tr("privacy-link-consents")}</a></li>
                    <li><a href=format!("/c/{}/cookies", clinic.slug)>{tr("privacy-link-cookies")}</a></li>
                </ul>
            </section>
            <section class="card" aria-labelledby="authority-heading">
                <h2 id="authority-heading">{tr("privacy-authority")}</h2>
                <p>{tr_args("privacy-authority-body", &[("authority", clinic.authority_name.clone())])}</p>
                <p>{authority}</p>
            </section>
        </div>
    }
}
