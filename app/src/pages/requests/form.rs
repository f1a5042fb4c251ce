//! `/c/{clinic}/requests/new`, the "check your email" page and the
//! confirmation page of the emailed link.

use leptos::prelude::*;
use leptos_meta::Title;

use super::{clinic_slug, param};
use crate::api::public;
use crate::backend::services::clinics::PublicClinic;
use crate::components::forms::{
    Checkbox, CsrfField, ErrorSummary, SelectField, TextArea, TextField, form_state,
};
use crate::components::layout::Layout;
use crate::domain::requests::{ActingAs, RequestKind};
use crate::i18n::{tr, tr_args, tr_or_raw};
use crate::pages::error::{ErrorContent, NotFoundContent};

/// Loads the clinic of the page, or renders 404/error content.
fn with_clinic<F, V>(slug: String, page: F) -> impl IntoView
where
    F: FnOnce(PublicClinic) -> V + Send + 'static,
    V: IntoView + 'static,
{
    let content = Suspend::new(async move {
        match public::clinic(&slug).await {
            Ok(Some(clinic)) => page(clinic).into_any(),
            Ok(None) => view! { <NotFoundContent/> }.into_any(),
            Err(error) => view! { <ErrorContent error/> }.into_any(),
        }
    });
    view! { <Layout><Suspense fallback=|| ()>{content}</Suspense></Layout> }
}

/// The request form.
#[component]
pub fn RequestFormPage() -> impl IntoView {
    let slug = clinic_slug();
    with_clinic(slug.clone(), move |clinic| {
        let title = tr_args("request-title", &[("clinic", clinic.name.clone())]);
        let kinds = RequestKind::ALL
            .into_iter()
            .map(|k| (k.as_str().to_owned(), tr(&k.label_key())))
            .collect::<Vec<_>>();
        let acting = ActingAs::ALL
            .into_iter()
            .map(|a| {
                let key = match a {
                    ActingAs::OwnBehalf => "request-acting-self",
                    ActingAs::Child => "request-acting-child",
                    ActingAs::Representative => "request-acting-representative",
                };
                (a.as_str().to_owned(), tr(key))
            })
            .collect::<Vec<_>>();
        let action = format!("/c/{slug}/requests/new");
        view! {
            <Title text=title.clone()/>
            <div class="reading">
                <div class="page-header">
                    <h1>{title}</h1>
                    <p class="lead">{tr_args("request-lead", &[("clinic", clinic.name.clone()), ("deadline", clinic.deadline.clone())])}</p>
                </div>
                <ErrorSummary title=tr("request-error-summary")/>
                <form method="post" action=action class="card" novalidate>
                    <CsrfField/>
                    <div class="hp" aria-hidden="true">
                        <label for="field-website">{tr("request-honeypot")}</label>
                        <input type="text" id="field-website" name="website" tabindex="-1" autocomplete="off"/>
                    </div>
                    <SelectField name="kind" label=tr("request-kind") value="access" options=kinds/>
                    <fieldset>
                        <legend>{tr("request-about-you")}</legend>
                        <TextField name="name" label=tr("request-name") value="" required=true autocomplete="name"/>
                        <TextField name="email" label=tr("request-email") value="" kind="email" required=true autocomplete="email" hint=tr("request-email-hint")/>
                        <TextField name="phone" label=tr("request-phone") value="" kind="tel" autocomplete="tel"/>
                        <SelectField name="acting_as" label=tr("request-acting-as") value="self" options=acting/>
                        <TextField name="subject_name" label=tr("request-subject-name") value="" hint=tr("request-subject-hint")/>
                    </fieldset>
                    <fieldset>
                        <legend>{tr("request-find-records")}</legend>
                        <TextField name="date_of_birth" label=tr("request-date-of-birth") value="" kind="date"/>
                        <TextField name="patient_number" label=tr("request-patient-number") value=""/>
                    </fieldset>
                    <TextArea name="details" label=tr("request-details") value="" hint=tr("request-details-hint") rows=6/>
                    <Checkbox name="acknowledged" label=tr("request-acknowledge") checked=false/>
                    {form_state().and_then(|f| f.errors.get("acknowledged").map(|e| view! { <p class="error-message" id="field-acknowledged-error">{tr_or_raw(e)}</p> }))}
                    <div class="actions"><button type="submit" class="btn">{tr("request-submit")}</button></div>
                </form>
            </div>
        }
    })
}

/// After submitting: check your email.
#[component]
pub fn RequestSentPage() -> impl IntoView {
    with_clinic(clinic_slug(), |_clinic| {
        view! {
            <Title text=tr("request-sent-title")/>
            <div class="card narrow">
                <h1>{tr("request-sent-title")}</h1>
                <p>{tr("request-sent-body")}</p>
            </div>
        }
    })
}

/// The emailed confirmation link: one button that confirms.
#[component]
pub fn VerifyRequestPage() -> impl IntoView {
    let slug = clinic_slug();
    let token = param("token");
    let failed = form_state().and_then(|f| f.message);
    with_clinic(slug.clone(), move |_clinic| {
        let action = format!("/c/{slug}/requests/verify/{token}");
        let body = match failed {
            Some(message) => view! { <div class="alert error" role="alert"><p>{tr_or_raw(&message)}</p></div> }.into_any(),
            None => view! {
                <p>{tr("request-verify-body")}</p>
                <form method="post" action=action>
                    <CsrfField/>
                    <div class="actions"><button type="submit" class="btn">{tr("request-verify-button")}</button></div>
                </form>
            }
            .into_any(),
        };
        view! {
            <Title text=tr("request-verify-title")/>
            <div class="card narrow">
                <h1>{tr("request-verify-title")}</h1>
                {body}
            </div>
        }
    })
}
