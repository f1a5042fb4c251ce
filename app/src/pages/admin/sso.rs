//! `/admin/c/{clinic}/sso`: the clinic's OpenID Connect connection.

use leptos::prelude::*;

use super::clinic_slug;
use crate::api::admin::DiscoveryOutcome;
use crate::api::pages;
use crate::backend::services::sso::ConnectionView;
use crate::components::admin_layout::{AdminLayout, Section};
use crate::components::forms::{
    Checkbox, CsrfField, ErrorSummary, SelectField, TextArea, TextField,
};
use crate::components::layout::Layout;
use crate::domain::roles::ClinicRole;
use crate::pages::error::PageErrorView;

/// The connection form, with the result of "Test connection" when present.
/// `base` is the page's path; `clinic` chooses clinic-only fields.
#[component]
pub fn ConnectionForm(
    base: String,
    connection: Option<ConnectionView>,
    clinic: bool,
) -> impl IntoView {
    let redirect = use_context::<crate::backend::state::AppState>()
        .map(|s| s.settings.url("/auth/oidc/callback"))
        .unwrap_or_default();
    let c = connection.clone();
    let text = |f: fn(&ConnectionView) -> String| c.as_ref().map(f).unwrap_or_default();
    let display_name = text(|c| c.display_name.clone());
    let issuer = text(|c| c.issuer_url.clone());
    let client_id = text(|c| c.client_id.clone());
    let domains = text(|c| c.domains.join("\n"));
    let mode = c
        .as_ref()
        .map_or("invitation", |c| c.membership_mode.as_str())
        .to_owned();
    let role = c
        .as_ref()
        .map_or(ClinicRole::Viewer, |c| c.default_role)
        .as_str()
        .to_owned();
    let enabled = c.as_ref().is_none_or(|c| c.enabled);
    let secret_hint = if connection.is_some() {
        "Stored encrypted. Leave empty to keep the current secret."
    } else {
        "Stored encrypted with the portal's master key."
    };
    let discovery = use_context::<DiscoveryOutcome>().map(|outcome| match outcome.0 {
        Ok(report) => view! {
            <div class="alert success" role="status">
                <p><strong>"The provider answered."</strong></p>
                <dl class="facts">
                    <dt>"Issuer"</dt><dd>{report.issuer}</dd>
                    <dt>"Authorization endpoint"</dt><dd>{report.authorization_endpoint}</dd>
                    <dt>"Token endpoint"</dt><dd>{report.token_endpoint.unwrap_or_else(|| "missing".into())}</dd>
                    <dt>"Signing keys"</dt><dd>{report.jwks_uri}</dd>
                    <dt>"Scopes"</dt><dd>{report.scopes.join(", ")}</dd>
                    <dt>"PKCE (S256)"</dt><dd>{if report.pkce_s256 { "supported" } else { "not announced" }}</dd>
                </dl>
            </div>
        }
        .into_any(),
        Err(message) => view! {
            <div class="alert error" role="alert"><p><strong>"The test failed: "</strong>{message}</p></div>
        }
        .into_any(),
    });
    let save = base.clone();
    let test = format!("{base}/test");
    view! {
        {discovery}
        <ErrorSummary/>
        <form method="post" action=save class="card" novalidate>
            <CsrfField/>
            <p class="muted">{format!("Register the portal at your identity provider with the redirect URI {redirect}; the portal uses the authorization code flow with PKCE and the scopes openid and email.")}</p>
            <TextField name="display_name" label="Name" value=display_name required=true hint="Shown on the sign-in page, e.g. the provider's name."/>
            <TextField name="issuer_url" label="Issuer URL" value=issuer kind="url" required=true hint="Discovery is read from {issuer}/.well-known/openid-configuration."/>
            <TextField name="client_id" label="Client ID" value=client_id required=true/>
            <TextField name="client_secret" label="Client secret" value="" kind="password" hint=secret_hint autocomplete="off"/>
            <TextArea name="domains" label="Email domains" value=domains hint="Addresses in these domains sign in here. One per line." rows=3/>
            <SelectField
                name="membership_mode"
                label="Who may sign in"
                value=mode
                options=vec![
                    ("invitation".into(), "Members and invited people only".into()),
                    ("just_in_time".into(), "Anyone from the domains (joins with the default role)".into()),
                ]
            />
            {clinic.then(|| view! {
                <SelectField
                    name="default_role"
                    label="Default role of people who join"
                    value=role
                    options=vec![
                        ("viewer".into(), "Viewer".into()),
                        ("privacy_officer".into(), "Privacy Officer".into()),
                        ("admin".into(), "Admin".into()),
                    ]
                />
            })}
            <Checkbox name="enabled" label="Sign-in through this connection is switched on" checked=enabled/>
            <div class="actions">
                <button type="submit" class="btn">"Save connection"</button>
                <button type="submit" class="btn secondary" formaction=test>"Test connection"</button>
            </div>
        </form>
    }
}

/// The clinic's SSO page.
#[component]
pub fn SsoPage() -> impl IntoView {
    let slug = clinic_slug();
    let content = Suspend::new(async move {
        match pages::clinic_sso(&slug).await {
            Ok((access, connection)) => {
                let base = format!("/admin/c/{}/sso", access.slug);
                view! {
                    <AdminLayout title="Single sign-on" clinic=access section=Section::Sso>
                        <ConnectionForm base connection clinic=true/>
                    </AdminLayout>
                }
                .into_any()
            }
            Err(error) => view! { <Layout><PageErrorView error/></Layout> }.into_any(),
        }
    });
    view! { <Suspense fallback=|| ()>{content}</Suspense> }
}
