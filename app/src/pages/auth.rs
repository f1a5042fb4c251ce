//! Sign-in pages: `/login`, `/login/sent`, `/auth/link/{token}`, `/invite/{token}`.

use leptos::prelude::*;
use leptos_meta::{Meta, Title};
use leptos_router::hooks::use_params_map;

use crate::api::auth::SsoContinue;
use crate::api::guard::{safe_next, visitor};
use crate::api::pages::{self, query};
use crate::components::forms::{CsrfField, ErrorSummary, TextField, form_state};
use crate::components::layout::Layout;
use crate::pages::error::PageErrorView;

/// `/login`: the email form, or the way on to the organisation's SSO.
#[component]
pub fn LoginPage() -> impl IntoView {
    let next = safe_next(&query("next").unwrap_or_else(|| "/admin".into()));
    let signed_out = query("signed_out").is_some();
    let user = visitor().user;
    let content = if let Some(sso) = use_context::<SsoContinue>() {
        let refresh = format!("0; url={}", sso.href);
        view! {
            <Meta http_equiv="refresh" content=refresh/>
            <div class="card narrow">
                <h1>"Continue to your organisation"</h1>
                <p>{format!("Your organisation signs in with {}.", sso.connection_name)}</p>
                <p class="actions"><a class="btn" href=sso.href>"Continue to sign in"</a></p>
            </div>
        }
        .into_any()
    } else if let Some(user) = user {
        view! {
            <div class="card narrow">
                <h1>"You are signed in"</h1>
                <p>{format!("You are signed in as {}.", user.email)}</p>
                <p class="actions"><a class="btn" href="/admin">"Go to your clinic"</a></p>
            </div>
        }
        .into_any()
    } else {
        view! {
            <div class="card narrow">
                <h1>"Sign in"</h1>
                {signed_out.then(|| view! { <div class="alert success" role="status"><p>"You have signed out."</p></div> })}
                <p>"Enter your work email. If your organisation uses single sign-on you will continue there; otherwise we email you a sign-in link."</p>
                <ErrorSummary/>
                <form method="post" action="/login" novalidate>
                    <CsrfField/>
                    <input type="hidden" name="next" value=next/>
                    <TextField name="email" label="Work email" value="" kind="email" required=true autocomplete="email"/>
                    <div class="actions"><button type="submit" class="btn">"Continue"</button></div>
                </form>
            </div>
        }
        .into_any()
    };
    view! {
        <Title text="Sign in · Clinic Privacy Portal"/>
        <Layout>{content}</Layout>
    }
}

/// `/login/sent`: the answer after asking for a link, whatever the address.
#[component]
pub fn LoginSentPage() -> impl IntoView {
    view! {
        <Title text="Check your email · Clinic Privacy Portal"/>
        <Layout>
            <div class="card narrow">
                <h1>"Check your email"</h1>
                <p>"If an account exists for that address, we have sent it a sign-in link. The link works once, for 15 minutes."</p>
                <p>"Nothing arrived? Check your spam folder, or "<a href="/login">"request a new link"</a>"."</p>
            </div>
        </Layout>
    }
}

/// `/auth/link/{token}`: a button that spends the link. Following the link
/// alone signs nobody in, so mail scanners that open links cannot use it.
#[component]
pub fn LinkPage() -> impl IntoView {
    let token = use_params_map()
        .read_untracked()
        .get("token")
        .unwrap_or_default();
    let failed = form_state().and_then(|f| f.message);
    let action = format!("/auth/link/{token}");
    let content = match failed {
        Some(message) => view! {
            <div class="card narrow">
                <h1>"This link does not work"</h1>
                <div class="alert error" role="alert"><p>{message}</p></div>
                <p class="actions"><a class="btn" href="/login">"Request a new link"</a></p>
            </div>
        }
        .into_any(),
        None => view! {
            <div class="card narrow">
                <h1>"Sign in to the Clinic Privacy Portal"</h1>
                <p>"Continue to sign in with the link from your email."</p>
                <form method="post" action=action>
                    <CsrfField/>
                    <div class="actions"><button type="submit" class="btn">"Sign in"</button></div>
                </form>
            </div>
        }
        .into_any(),
    };
    view! {
        <Title text="Sign in · Clinic Privacy Portal"/>
        <Layout>{content}</Layout>
    }
}

/// `/invite/{token}`: what the invitation is for, and accepting it.
#[component]
pub fn InvitePage() -> impl IntoView {
    let token = use_params_map()
        .read_untracked()
        .get("token")
        .unwrap_or_default();
    let failed = form_state().and_then(|f| f.message);
    let content = Suspend::new(async move {
        if let Some(message) = failed {
            return view! {
                <div class="card narrow">
                    <h1>"This invitation cannot be used"</h1>
                    <div class="alert error" role="alert"><p>{message}</p></div>
                </div>
            }
            .into_any();
        }
        match pages::invitation(&token).await {
            Ok(Some(invitation)) => {
                let sso = pages::invitation_uses_sso(&invitation.email).await;
                let action = format!("/invite/{token}");
                view! {
                    <div class="card narrow">
                        <h1>{format!("Join {}", invitation.clinic_name)}</h1>
                        <p>{format!("You are invited as {} with the address {}.", invitation.role.label(), invitation.email)}</p>
                        {sso.then(|| view! { <p class="muted">"Your organisation uses single sign-on: after accepting, you can sign in through it from the sign-in page."</p> })}
                        <form method="post" action=action>
                            <CsrfField/>
                            <div class="actions"><button type="submit" class="btn">"Accept and sign in"</button></div>
                        </form>
                    </div>
                }
                .into_any()
            }
            Ok(None) => view! {
                <div class="card narrow">
                    <h1>"This invitation cannot be used"</h1>
                    <p>"It may have expired, been revoked or been accepted already. Ask the person who invited you for a new invitation."</p>
                </div>
            }
            .into_any(),
            Err(error) => view! { <PageErrorView error/> }.into_any(),
        }
    });
    view! {
        <Title text="Invitation · Clinic Privacy Portal"/>
        <Layout><Suspense fallback=|| ()>{content}</Suspense></Layout>
    }
}
