//! `/admin/c/{clinic}/team`: members, roles and invitations.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use super::{clinic_slug, when};
use crate::api::pages;
use crate::components::admin_layout::{AdminLayout, Section};
use crate::components::forms::{CsrfField, ErrorSummary, SelectField, TextField};
use crate::components::layout::Layout;
use crate::domain::permissions::{ClinicPermission, allows};
use crate::domain::roles::ClinicRole;
use crate::pages::error::PageErrorView;

fn role_options(include_owner: bool) -> Vec<(String, String)> {
    ClinicRole::ALL
        .into_iter()
        .filter(|r| include_owner || *r != ClinicRole::Owner)
        .map(|r| (r.as_str().to_owned(), r.label().to_owned()))
        .collect()
}

/// The team page.
#[component]
pub fn TeamPage() -> impl IntoView {
    let slug = clinic_slug();
    let content = Suspend::new(async move {
        let data = match pages::team(&slug).await {
            Ok(data) => data,
            Err(error) => return view! { <Layout><PageErrorView error/></Layout> }.into_any(),
        };
        let base = format!("/admin/c/{}/team", data.access.slug);
        let manage = allows(data.access.role, ClinicPermission::ManageTeam);
        let owners = allows(data.access.role, ClinicPermission::ManageOwners);
        let me = data.user.id;
        let members = data
            .members
            .iter()
            .map(|m| {
                let editable = manage && m.user_id != me && (owners || m.role != ClinicRole::Owner);
                let role_action = format!("{base}/{}/role", m.user_id);
                let remove_href = format!("{base}/{}/remove", m.user_id);
                let select_id = format!("role-{}", m.user_id);
                let label = format!("Role of {}", m.display_name);
                let options = role_options(owners)
                    .into_iter()
                    .map(|(value, text)| {
                        let selected = value == m.role.as_str();
                        view! { <option value=value selected=selected>{text}</option> }
                    })
                    .collect_view();
                view! {
                    <tr>
                        <td>{m.display_name.clone()}<br/><span class="muted">{m.email.clone()}</span></td>
                        <td>
                            {if editable {
                                view! {
                                    <form method="post" action=role_action class="inline-form">
                                        <CsrfField/>
                                        <label class="visually-hidden" for=select_id.clone()>{label}</label>
                                        <select id=select_id name="role">{options}</select>
                                        <button type="submit" class="btn secondary small">"Change"</button>
                                    </form>
                                }.into_any()
                            } else {
                                view! { <span class="badge">{m.role.label()}</span> }.into_any()
                            }}
                        </td>
                        <td>{m.last_sign_in_at.map_or_else(|| "never".to_owned(), when)}</td>
                        <td>{editable.then(|| view! { <a href=remove_href>"Remove…"</a> })}</td>
                    </tr>
                }
            })
            .collect_view();
        let invitations = data
            .invitations
            .iter()
            .map(|i| {
                let revoke = format!("{base}/invitations/{}/revoke", i.id);
                let status = if i.expired { "expired".to_owned() } else { format!("until {}", when(i.expires_at)) };
                view! {
                    <tr>
                        <td>{i.email.clone()}</td>
                        <td>{i.role.label()}</td>
                        <td>{status}</td>
                        <td>
                            {manage.then(|| view! {
                                <form method="post" action=revoke.clone() class="inline-form">
                                    <CsrfField/>
                                    <button type="submit" class="btn secondary small">"Revoke"</button>
                                </form>
                            })}
                        </td>
                    </tr>
                }
            })
            .collect_view();
        let no_invitations = data.invitations.is_empty();
        let invite_action = format!("{base}/invite");
        view! {
            <AdminLayout title="Team" clinic=data.access.clone() section=Section::Team>
                <section class="card">
                    <h2>"Members"</h2>
                    <div class="table-wrap">
                        <table class="data">
                            <thead><tr><th scope="col">"Member"</th><th scope="col">"Role"</th><th scope="col">"Last sign-in"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th></tr></thead>
                            <tbody>{members}</tbody>
                        </table>
                    </div>
                    <p class="muted">"Owners manage everything, including single sign-on and other owners. Admins manage everything else. Privacy Officers handle requests, notices, consent and retention. Viewers only read."</p>
                </section>
                <section class="card stack-top">
                    <h2>"Invitations"</h2>
                    {if no_invitations {
                        view! { <p class="muted">"No open invitations."</p> }.into_any()
                    } else {
                        view! {
                            <div class="table-wrap">
                                <table class="data">
                                    <thead><tr><th scope="col">"Email"</th><th scope="col">"Role"</th><th scope="col">"Valid"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th></tr></thead>
                                    <tbody>{invitations}</tbody>
                                </table>
                            </div>
                        }.into_any()
                    }}
                    {manage.then(|| view! {
                        <h3>"Invite someone"</h3>
                        <ErrorSummary/>
                        <form method="post" action=invite_action novalidate>
                            <CsrfField/>
                            <TextField name="email" label="Email address" value="" kind="email" required=true/>
                            <SelectField name="role" label="Role" value="viewer" options=role_options(owners)/>
                            <div class="actions"><button type="submit" class="btn">"Send invitation"</button></div>
                        </form>
                    })}
                </section>
            </AdminLayout>
        }
        .into_any()
    });
    view! { <Suspense fallback=|| ()>{content}</Suspense> }
}

/// `/admin/c/{clinic}/team/{member}/remove`: confirmation before removing.
#[component]
pub fn RemoveMemberPage() -> impl IntoView {
    let slug = clinic_slug();
    let member = use_params_map()
        .read_untracked()
        .get("member")
        .unwrap_or_default();
    let content = Suspend::new(async move {
        let data = match pages::team(&slug).await {
            Ok(data) => data,
            Err(error) => return view! { <Layout><PageErrorView error/></Layout> }.into_any(),
        };
        let Some(target) = data
            .members
            .iter()
            .find(|m| m.user_id.to_string() == member)
            .cloned()
        else {
            return view! { <Layout><PageErrorView error=pages::PageError::Denied(crate::api::guard::Denied::NotFound)/></Layout> }.into_any();
        };
        if !allows(data.access.role, ClinicPermission::ManageTeam) {
            return view! { <Layout><PageErrorView error=pages::PageError::Denied(crate::api::guard::Denied::Forbidden)/></Layout> }.into_any();
        }
        let base = format!("/admin/c/{}/team", data.access.slug);
        let action = format!("{base}/{}/remove", target.user_id);
        view! {
            <AdminLayout title="Remove a member" clinic=data.access.clone() section=Section::Team>
                <div class="card narrow">
                    <p>{format!("Remove {} ({}, {}) from {}?", target.display_name, target.email, target.role.label(), data.access.name)}</p>
                    <p>"They lose access to this clinic at once. Their past actions stay in the audit log."</p>
                    <form method="post" action=action>
                        <CsrfField/>
                        <div class="actions">
                            <button type="submit" class="btn danger">"Remove member"</button>
                            <a class="btn secondary" href=base>"Cancel"</a>
                        </div>
                    </form>
                </div>
            </AdminLayout>
        }
        .into_any()
    });
    view! { <Suspense fallback=|| ()>{content}</Suspense> }
}
