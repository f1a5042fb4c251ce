//! Patients' consents: the form that emails a link, its "check your email"
//! page, and the page of the link, where a patient sees their choices and
//! their history, and gives or withdraws consent.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::api::patient_consent as api;
use crate::backend::services::consent::Published;
use crate::components::forms::{CsrfField, ErrorSummary, TextField};
use crate::components::layout::Layout;
use crate::domain::consent::{Channel, Choices, Source};
use crate::i18n::{tr, tr_args, use_locale};
use crate::pages::admin::when;
use crate::pages::consent::{purpose_choice, saved_receipt};
use crate::pages::error::{ErrorContent, NotFoundContent};

fn clinic_slug() -> String {
    use_params_map()
        .read_untracked()
        .get("clinic")
        .unwrap_or_default()
}

/// Renders `page` for the clinic's published consent configuration.
fn with_published<F, V>(page: F) -> impl IntoView
where
    F: FnOnce(std::sync::Arc<Published>) -> V + Send + 'static,
    V: IntoView + 'static,
{
    let slug = clinic_slug();
    let content = Suspend::new(async move {
        match api::ask_page(&slug).await {
            Ok(Some(published)) => page(published).into_any(),
            Ok(None) => view! { <NotFoundContent/> }.into_any(),
            Err(error) => view! { <ErrorContent error/> }.into_any(),
        }
    });
    view! { <Layout><Suspense fallback=|| ()>{content}</Suspense></Layout> }
}

/// `/c/{clinic}/consents`: the email form.
#[component]
pub fn PatientConsentsPage() -> impl IntoView {
    with_published(|published| {
        let title = tr_args(
            "consents-title",
            &[("clinic", published.clinic_name.clone())],
        );
        let asked = !published.purposes(Channel::Patient).is_empty();
        let action = format!("/c/{}/consents", published.slug);
        let body = if asked {
            view! {
                <p>{tr_args("consents-intro", &[("clinic", published.clinic_name.clone())])}</p>
                <ErrorSummary/>
                <form method="post" action=action class="card" novalidate>
                    <CsrfField/>
                    <div class="hp" aria-hidden="true">
                        <label for="field-website">{tr("request-honeypot")}</label>
                        <input type="text" id="field-website" name="website" tabindex="-1" autocomplete="off"/>
                    </div>
                    <TextField name="email" label=tr("consents-email") value="" kind="email" required=true autocomplete="email" hint=tr("consents-email-hint")/>
                    <div class="actions"><button type="submit" class="btn">{tr("consents-send")}</button></div>
                </form>
            }
            .into_any()
        } else {
            view! { <p class="empty">{tr("consents-none")}</p> }.into_any()
        };
        view! {
            <Title text=title.clone()/>
            <div class="reading stack">
                <div class="page-header"><h1>{title}</h1></div>
                {body}
            </div>
        }
    })
}

/// After asking for a link: check your email.
#[component]
pub fn PatientConsentsSentPage() -> impl IntoView {
    with_published(|_| {
        view! {
            <Title text=tr("consents-sent-title")/>
            <div class="card narrow">
                <h1>{tr("consents-sent-title")}</h1>
                <p>{tr("consents-sent-body")}</p>
            </div>
        }
    })
}

/// `/c/{clinic}/consents/manage?t=…`: the patient's choices.
#[component]
pub fn PatientConsentsManagePage() -> impl IntoView {
    let slug = clinic_slug();
    let content = Suspend::new(async move {
        match api::manage_page(&slug).await {
            Ok(Some(page)) => manage(page).into_any(),
            Ok(None) => view! { <NotFoundContent/> }.into_any(),
            Err(error) => view! { <ErrorContent error/> }.into_any(),
        }
    });
    view! { <Layout><Suspense fallback=|| ()>{content}</Suspense></Layout> }
}

/// The purposes a choice gave consent to, by name.
fn given(published: &Published, choices: &Choices, locale: &str) -> String {
    let names: Vec<String> = published
        .purposes(Channel::Patient)
        .iter()
        .filter(|p| !p.strictly_necessary && choices.get(&p.key).copied().unwrap_or(false))
        .map(|p| p.name.get(locale).to_owned())
        .collect();
    // Purposes archived since are shown by their key.
    let archived = choices
        .iter()
        .filter(|(key, on)| {
            **on && !published
                .purposes(Channel::Patient)
                .iter()
                .any(|p| &p.key == *key)
        })
        .map(|(key, _)| key.clone());
    let all: Vec<String> = names.into_iter().chain(archived).collect();
    if all.is_empty() {
        tr("consents-nothing-given")
    } else {
        all.join(", ")
    }
}

fn manage(page: api::ManagePage) -> impl IntoView {
    let locale = use_locale().tag();
    let published = page.published.clone();
    let title = tr_args(
        "consents-manage-title",
        &[("clinic", published.clinic_name.clone())],
    );
    let Some(patient) = page.patient.clone() else {
        crate::request::set_status(http::StatusCode::FORBIDDEN);
        let ask = format!("/c/{}/consents", published.slug);
        return view! {
            <Title text=title.clone()/>
            <div class="card narrow">
                <h1>{title}</h1>
                <div class="alert error" role="alert"><p>{tr("consents-invalid-link")}</p></div>
                <p><a class="btn" href=ask>{tr("consents-ask-again")}</a></p>
            </div>
        }
        .into_any();
    };
    let current = page.current();
    let purposes = published.purposes(Channel::Patient);
    let saved = page.saved.clone().map(saved_receipt);
    let notice = if page.history.is_empty() {
        Some(view! { <div class="alert info" role="status"><p>{tr("consents-never")}</p></div> })
    } else if page.outdated() {
        Some(
            view! { <div class="alert warning" role="status"><p>{tr("consents-outdated")}</p></div> },
        )
    } else {
        None
    };
    let items = purposes
        .into_iter()
        .map(|p| {
            let on = current.get(&p.key).copied().unwrap_or(false);
            purpose_choice(p, on, locale, ().into_any())
        })
        .collect_view();
    let history = (!page.history.is_empty()).then(|| {
        let rows = page
            .history
            .iter()
            .map(|r| {
                let choices: Choices =
                    serde_json::from_value(r.choices.clone()).unwrap_or_default();
                let source = r.source.parse::<Source>().map_or("", Source::label);
                view! {
                    <tr>
                        <td>{when(r.recorded_at)}</td>
                        <td>{given(&published, &choices, locale)}</td>
                        <td>{source}</td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <section class="stack">
                <h2>{tr("consents-history")}</h2>
                <div class="table-wrap"><table>
                    <thead><tr>
                        <th scope="col">{tr("consents-col-time")}</th>
                        <th scope="col">{tr("consents-col-choices")}</th>
                        <th scope="col">{tr("consents-col-source")}</th>
                    </tr></thead>
                    <tbody>{rows}</tbody>
                </table></div>
            </section>
        }
    });
    let action = format!("/c/{}/consents/manage?t={}", published.slug, page.token);
    let key_url = format!("/c/{}/consent-receipt-key", published.slug);
    view! {
        <Title text=title.clone()/>
        <div class="page-header"><h1>{title}</h1></div>
        <div class="reading stack">
            {saved}
            {notice}
            <p>{tr_args("consents-manage-intro", &[("email", patient.masked_email.clone())])}</p>
            <ErrorSummary/>
            <form method="post" action=action class="stack" novalidate>
                <CsrfField/>
                {items}
                <div class="actions">
                    <button type="submit" name="choice" value="save" class="btn">{tr("consents-save")}</button>
                    <button type="submit" name="choice" value="withdraw_all" class="btn secondary">{tr("consents-withdraw-all")}</button>
                </div>
            </form>
            {history}
            <p class="muted">
                {tr_args("consents-link-valid", &[("time", when(patient.expires_at))])}
                " · "
                <a href=key_url>{tr("cookies-key-link")}</a>
            </p>
        </div>
    }
    .into_any()
}
