//! The frame of signed-in pages: who is signed in, which clinic, the
//! sections they may open, and one-time messages.

use leptos::prelude::*;
use leptos_meta::Title;

use super::forms::CsrfField;
use super::layout::Footer;
use crate::api::guard::visitor;
use crate::assets;
use crate::backend::auth::visitor::{ClinicAccess, FlashKind};
use crate::domain::permissions::{ClinicPermission, PlatformPermission, allows};

/// Which section a page belongs to (for the navigation's current item).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Dashboard,
    Requests,
    Notices,
    Subprocessors,
    Consent,
    Meta,
    Retention,
    Export,
    Team,
    Settings,
    Sso,
    Audit,
    PlatformOverview,
    PlatformClinics,
    PlatformNotices,
    PlatformSubprocessors,
    PlatformSso,
}

/// Frame for a clinic's admin page (`clinic` set) or a platform page.
#[component]
pub fn AdminLayout(
    #[prop(into)] title: String,
    #[prop(optional)] clinic: Option<ClinicAccess>,
    section: Section,
    children: Children,
) -> impl IntoView {
    let visitor = visitor();
    let user = visitor.user.clone();
    let user_name = user
        .as_ref()
        .map(|u| u.display_name.clone())
        .unwrap_or_default();
    let user_email = user.as_ref().map(|u| u.email.clone()).unwrap_or_default();
    let operator = user
        .as_ref()
        .is_some_and(|u| u.can_on_platform(PlatformPermission::ManageClinics));
    let current_name = clinic
        .as_ref()
        .map_or_else(|| "Platform".to_owned(), |c| c.name.clone());
    let switcher = user
        .as_ref()
        .map(|u| {
            let mut items: Vec<(String, String, bool)> = u
                .clinics
                .iter()
                .map(|c| {
                    let current = clinic.as_ref().is_some_and(|x| x.slug == c.slug);
                    (
                        format!("/admin/c/{}", c.slug),
                        format!("{} ({})", c.name, c.role.label()),
                        current,
                    )
                })
                .collect();
            if operator {
                items.push((
                    "/admin/platform".to_owned(),
                    "Platform administration".to_owned(),
                    clinic.is_none(),
                ));
            }
            items
        })
        .unwrap_or_default();
    let switcher = switcher
        .into_iter()
        .map(|(href, label, current)| {
            view! { <li><a href=href aria-current=current.then_some("page")>{label}</a></li> }
        })
        .collect_view();
    let link = move |wanted: Section, href: String, label: &'static str| {
        view! { <li><a href=href aria-current=(wanted == section).then_some("page")>{label}</a></li> }
    };
    let nav = match &clinic {
        Some(c) => {
            let base = format!("/admin/c/{}", c.slug);
            let role = c.role;
            view! {
                <nav class="admin-nav" aria-label="Clinic administration">
                    <ul>
                        {link(Section::Dashboard, base.clone(), "Dashboard")}
                        {link(Section::Requests, format!("{base}/requests"), "Privacy requests")}
                        {link(Section::Notices, format!("{base}/notices"), "Policies and notices")}
                        {link(Section::Subprocessors, format!("{base}/subprocessors"), "Sub-processors")}
                        {link(Section::Consent, format!("{base}/consent"), "Consent and cookies")}
                        {link(Section::Team, format!("{base}/team"), "Team")}
                        {allows(role, ClinicPermission::ManageSettings)
                            .then(|| link(Section::Settings, format!("{base}/settings"), "Clinic settings"))}
                        {allows(role, ClinicPermission::ManageSso)
                            .then(|| link(Section::Sso, format!("{base}/sso"), "Single sign-on"))}
                        {allows(role, ClinicPermission::ManageSettings)
                            .then(|| link(Section::Meta, format!("{base}/meta"), "Meta data deletion"))}
                        {allows(role, ClinicPermission::ManageRetention)
                            .then(|| link(Section::Retention, format!("{base}/retention"), "Retention"))}
                        {allows(role, ClinicPermission::RequestDeletion)
                            .then(|| link(Section::Export, format!("{base}/export"), "Export"))}
                        {link(Section::Audit, format!("{base}/audit"), "Audit log")}
                    </ul>
                </nav>
            }
            .into_any()
        }
        None => view! {
            <nav class="admin-nav" aria-label="Platform administration">
                <ul>
                    {link(Section::PlatformOverview, "/admin/platform".into(), "Overview")}
                    {link(Section::PlatformClinics, "/admin/platform/clinics".into(), "Clinics")}
                    {link(Section::PlatformNotices, "/admin/platform/notices".into(), "Policies and notices")}
                    {link(Section::PlatformSubprocessors, "/admin/platform/subprocessors".into(), "Sub-processors")}
                    {link(Section::PlatformSso, "/admin/platform/sso".into(), "Single sign-on")}
                </ul>
            </nav>
        }
        .into_any(),
    };
    let flash = visitor.flash.clone().map(|flash| {
        let class = match flash.kind {
            FlashKind::Success => "alert success",
            FlashKind::Info => "alert",
            FlashKind::Error => "alert error",
        };
        view! { <div class=class role="status"><p>{flash.message}</p></div> }
    });
    view! {
        <Title text=format!("{title} · Clinic Privacy Portal")/>
        <a class="skip-link" href="#main">"Skip to main content"</a>
        <header class="site-header">
            <div class="container header-inner">
                <a class="brand" href="/admin">
                    <img src=assets::href("favicon.svg") alt="" width="28" height="28"/>
                    <span>"Clinic Privacy Portal"</span>
                </a>
                <details class="switcher">
                    <summary>
                        <span class="visually-hidden">"Current workspace: "</span>
                        {current_name}
                    </summary>
                    <ul>{switcher}</ul>
                </details>
                <div class="user-menu">
                    <span class="user-name" title=user_email>{user_name}</span>
                    <form method="post" action="/logout">
                        <CsrfField/>
                        <button type="submit" class="btn secondary small">"Sign out"</button>
                    </form>
                </div>
            </div>
        </header>
        <div class="container admin-body">
            {nav}
            <main id="main" class="admin-main" tabindex="-1">
                {flash}
                <h1>{title}</h1>
                {children()}
            </main>
        </div>
        <Footer/>
    }
}
