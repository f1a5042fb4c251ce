//! `/admin/c/{clinic}/settings`: the clinic's profile, legal clock, contacts
//! and website origins.

use leptos::prelude::*;

use super::clinic_slug;
use crate::api::pages;
use crate::components::admin_layout::{AdminLayout, Section};
use crate::components::forms::{
    CsrfField, ErrorSummary, SelectField, TextArea, TextField, field_value,
};
use crate::components::layout::Layout;
use crate::domain::clinic::Jurisdiction;
use crate::domain::clinic_profile::ClinicProfileForm;
use crate::pages::error::PageErrorView;

/// The fields of a clinic's profile, prefilled from `profile` (or from the
/// submitted form after an error). Shared with the operator's "new clinic".
#[component]
pub fn ProfileFields(profile: ClinicProfileForm) -> impl IntoView {
    let days = profile.deadline.parse::<u16>().ok();
    let rule = field_value(
        "deadline_rule",
        if days.is_some() {
            "days"
        } else {
            "calendar_month"
        },
    );
    let day_count = days
        .map(|d| d.to_string())
        .unwrap_or_else(|| "30".to_owned());
    let jurisdictions = [
        Jurisdiction::EuGdpr,
        Jurisdiction::UkGdpr,
        Jurisdiction::Other,
    ]
    .into_iter()
    .map(|j| (j.as_str().to_owned(), j.label().to_owned()))
    .collect::<Vec<_>>();
    view! {
        <fieldset>
            <legend>"Clinic"</legend>
            <TextField name="name" label="Name shown to patients" value=profile.name required=true/>
            <TextField name="legal_name" label="Legal name" value=profile.legal_name hint="The controller's registered name; leave empty to use the name above."/>
            <TextField name="country" label="Country" value=profile.country hint="Two-letter ISO code, e.g. DE." required=true/>
            <SelectField name="jurisdiction" label="Applicable law" value=profile.jurisdiction options=jurisdictions/>
            <SelectField
                name="default_locale"
                label="Language of public pages"
                value=profile.default_locale
                options=vec![("en".into(), "English".into()), ("uk".into(), "Українська".into())]
            />
        </fieldset>
        <fieldset>
            <legend>"Legal clock"</legend>
            <SelectField
                name="deadline_rule"
                label="Deadline for privacy requests"
                value=rule
                options=vec![
                    ("calendar_month".into(), "One calendar month (GDPR Art. 12(3))".into()),
                    ("days".into(), "A number of days".into()),
                ]
                hint="The clock starts when the requester's identity is verified."
            />
            <TextField name="deadline_days" label="Number of days (when counting days)" value=day_count kind="number"/>
            <TextField name="notice_period_days" label="Advance notice of material policy changes, in days" value=profile.notice_period_days kind="number" required=true/>
        </fieldset>
        <fieldset>
            <legend>"Contacts"</legend>
            <TextField name="contact_email" label="Privacy contact email" value=profile.contact_email kind="email" required=true/>
            <TextField name="dpo_name" label="Data protection officer" value=profile.dpo_name/>
            <TextField name="dpo_email" label="DPO email" value=profile.dpo_email kind="email"/>
            <TextField name="dpo_phone" label="DPO phone" value=profile.dpo_phone kind="tel"/>
            <TextField name="authority_name" label="Supervisory authority" value=profile.authority_name required=true hint="Named in refusals as the place to complain."/>
            <TextField name="authority_url" label="Authority website" value=profile.authority_url kind="url"/>
            <TextField name="authority_email" label="Authority email" value=profile.authority_email kind="email"/>
        </fieldset>
        <fieldset>
            <legend>"Websites"</legend>
            <TextArea name="allowed_origins" label="Website origins allowed to embed the consent banner" value=profile.allowed_origins hint="One per line, e.g. https://www.clinic.example"/>
        </fieldset>
    }
}

/// The settings page.
#[component]
pub fn SettingsPage() -> impl IntoView {
    let slug = clinic_slug();
    let content = Suspend::new(async move {
        match pages::settings(&slug).await {
            Ok((access, profile)) => {
                let action = format!("/admin/c/{}/settings", access.slug);
                view! {
                    <AdminLayout title="Clinic settings" clinic=access section=Section::Settings>
                        <ErrorSummary/>
                        <form method="post" action=action class="card" novalidate>
                            <CsrfField/>
                            <ProfileFields profile/>
                            <div class="actions"><button type="submit" class="btn">"Save settings"</button></div>
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
