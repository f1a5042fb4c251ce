//! Clinic Privacy Portal: pages, domain rules and (feature `ssr`) the backend.
//!
//! The app is rendered on the server only: there is no WebAssembly build, every
//! route renders with `SsrMode::Async`, and pages work without JavaScript.

#![recursion_limit = "256"]

pub mod api;
pub mod assets;
pub mod components;
pub mod document;
pub mod domain;
pub mod i18n;
pub mod pages;
pub mod request;

#[cfg(feature = "ssr")]
pub mod backend;

use leptos::prelude::*;
use leptos_meta::{MetaTags, provide_meta_context};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{ParamSegment, SsrMode, StaticSegment};

use crate::i18n::use_locale;
use crate::pages::admin::audit::AuditPage;
use crate::pages::admin::dashboard::DashboardPage;
use crate::pages::admin::meta::MetaSettingsPage;
use crate::pages::admin::requests::{RequestDetailPage, RequestQueuePage};
use crate::pages::admin::retention::{ExportPage, RetentionPage};
use crate::pages::admin::settings::SettingsPage;
use crate::pages::admin::sso::SsoPage;
use crate::pages::admin::team::{RemoveMemberPage, TeamPage};
use crate::pages::auth::{InvitePage, LinkPage, LoginPage, LoginSentPage};
use crate::pages::clinic::privacy::ClinicPrivacyPage;
use crate::pages::consent::{
    ConsentRecordsPage, ConsentSettingsPage, CookieFormPage, CookieSettingsPage, PurposeFormPage,
};
use crate::pages::error::NotFoundPage;
use crate::pages::home::HomePage;
use crate::pages::notices::admin::{
    AcknowledgementsPage, AudiencePage, CampaignPage, EditorPage, NoticesPage, PublishPage,
};
use crate::pages::notices::public::{
    ConfirmSubscriptionPage, DiffPage, DocumentPage, HistoryPage, SubscribePage, UnsubscribePage,
    VersionPage,
};
use crate::pages::patient_consent::{
    PatientConsentsManagePage, PatientConsentsPage, PatientConsentsSentPage,
};
use crate::pages::platform::clinics::{
    ClinicStatusPage, ClinicsPage, NewClinicPage, OffboardClinicPage,
};
use crate::pages::platform::overview::PlatformOverviewPage;
use crate::pages::platform::sso::PlatformSsoPage;
use crate::pages::requests::form::{RequestFormPage, RequestSentPage, VerifyRequestPage};
use crate::pages::requests::status::{
    DownloadsPage, MetaDeletionStatusPage, RequestStatusPage, WithdrawRequestPage,
};
use crate::pages::subprocessors::{
    AnnouncePage, ClinicChangePage, ClinicSubprocessorsPage, PlatformChangePage,
    PlatformSubprocessorsPage, PublicSubprocessorsPage, SubprocessorFormPage,
};

/// The HTML document around every page.
pub fn shell(_options: LeptosOptions) -> impl IntoView {
    request::set_content_security_policy();
    let lang = use_locale().tag();
    view! {
        <!DOCTYPE html>
        <html lang=lang>
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light"/>
                <link rel="stylesheet" href=assets::href("main.css")/>
                <link rel="icon" type="image/svg+xml" href=assets::href("favicon.svg")/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The router: every route renders asynchronously on the server.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Router>
            <Routes fallback=NotFoundPage>
                <Route path=StaticSegment("") view=HomePage ssr=SsrMode::Async/>
                <Route
                    path=(StaticSegment("c"), ParamSegment("clinic"), StaticSegment("privacy"))
                    view=ClinicPrivacyPage
                    ssr=SsrMode::Async
                />
                <Route path=(StaticSegment("c"), ParamSegment("clinic"), StaticSegment("requests"), StaticSegment("new")) view=RequestFormPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("c"), ParamSegment("clinic"), StaticSegment("requests"), StaticSegment("sent")) view=RequestSentPage ssr=SsrMode::Async/>
                <Route
                    path=(StaticSegment("c"), ParamSegment("clinic"), StaticSegment("requests"), StaticSegment("verify"), ParamSegment("token"))
                    view=VerifyRequestPage
                    ssr=SsrMode::Async
                />
                <Route
                    path=(StaticSegment("c"), ParamSegment("clinic"), StaticSegment("requests"), StaticSegment("downloads"), ParamSegment("grant"))
                    view=DownloadsPage
                    ssr=SsrMode::Async
                />
                <Route
                    path=(StaticSegment("c"), ParamSegment("clinic"), StaticSegment("requests"), ParamSegment("reference"), StaticSegment("withdraw"))
                    view=WithdrawRequestPage
                    ssr=SsrMode::Async
                />
                <Route path=(StaticSegment("c"), ParamSegment("clinic"), StaticSegment("requests"), ParamSegment("reference")) view=RequestStatusPage ssr=SsrMode::Async/>
                <Route
                    path=(StaticSegment("c"), ParamSegment("clinic"), StaticSegment("meta"), StaticSegment("deletion-status"), ParamSegment("code"))
                    view=MetaDeletionStatusPage
                    ssr=SsrMode::Async
                />
                <Route path=(StaticSegment("c"), ParamSegment("clinic"), StaticSegment("privacy"), StaticSegment("versions")) view=HistoryPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("c"), ParamSegment("clinic"), StaticSegment("privacy"), StaticSegment("versions"), ParamSegment("number")) view=VersionPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("c"), ParamSegment("clinic"), StaticSegment("privacy"), StaticSegment("versions"), ParamSegment("number"), StaticSegment("diff")) view=DiffPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("c"), ParamSegment("clinic"), StaticSegment("policies"), ParamSegment("kind")) view=DocumentPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("c"), ParamSegment("clinic"), StaticSegment("policies"), ParamSegment("kind"), StaticSegment("versions")) view=HistoryPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("c"), ParamSegment("clinic"), StaticSegment("policies"), ParamSegment("kind"), StaticSegment("versions"), ParamSegment("number")) view=VersionPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("c"), ParamSegment("clinic"), StaticSegment("policies"), ParamSegment("kind"), StaticSegment("versions"), ParamSegment("number"), StaticSegment("diff")) view=DiffPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("c"), ParamSegment("clinic"), StaticSegment("subscribe")) view=SubscribePage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("c"), ParamSegment("clinic"), StaticSegment("subscribe"), StaticSegment("confirm")) view=ConfirmSubscriptionPage ssr=SsrMode::Async/>
                <Route path=StaticSegment("privacy") view=DocumentPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("privacy"), StaticSegment("versions")) view=HistoryPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("privacy"), StaticSegment("versions"), ParamSegment("number")) view=VersionPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("privacy"), StaticSegment("versions"), ParamSegment("number"), StaticSegment("diff")) view=DiffPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("policies"), ParamSegment("kind")) view=DocumentPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("policies"), ParamSegment("kind"), StaticSegment("versions")) view=HistoryPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("policies"), ParamSegment("kind"), StaticSegment("versions"), ParamSegment("number")) view=VersionPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("policies"), ParamSegment("kind"), StaticSegment("versions"), ParamSegment("number"), StaticSegment("diff")) view=DiffPage ssr=SsrMode::Async/>
                <Route path=StaticSegment("subscribe") view=SubscribePage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("subscribe"), StaticSegment("confirm")) view=ConfirmSubscriptionPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("email"), StaticSegment("unsubscribe"), ParamSegment("token")) view=UnsubscribePage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("admin"), StaticSegment("c"), ParamSegment("clinic"), StaticSegment("notices")) view=NoticesPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("admin"), StaticSegment("c"), ParamSegment("clinic"), StaticSegment("notices"), StaticSegment("audience")) view=AudiencePage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("admin"), StaticSegment("c"), ParamSegment("clinic"), StaticSegment("notices"), StaticSegment("campaigns"), ParamSegment("campaign")) view=CampaignPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("admin"), StaticSegment("c"), ParamSegment("clinic"), StaticSegment("notices"), ParamSegment("kind"), StaticSegment("edit")) view=EditorPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("admin"), StaticSegment("c"), ParamSegment("clinic"), StaticSegment("notices"), ParamSegment("kind"), StaticSegment("publish")) view=PublishPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("admin"), StaticSegment("platform"), StaticSegment("notices")) view=NoticesPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("admin"), StaticSegment("platform"), StaticSegment("notices"), StaticSegment("audience")) view=AudiencePage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("admin"), StaticSegment("platform"), StaticSegment("notices"), StaticSegment("campaigns"), ParamSegment("campaign")) view=CampaignPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("admin"), StaticSegment("platform"), StaticSegment("notices"), ParamSegment("kind"), StaticSegment("edit")) view=EditorPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("admin"), StaticSegment("platform"), StaticSegment("notices"), ParamSegment("kind"), StaticSegment("publish")) view=PublishPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("admin"), StaticSegment("platform"), StaticSegment("notices"), StaticSegment("acknowledgements")) view=AcknowledgementsPage ssr=SsrMode::Async/>
                <Route path=StaticSegment("subprocessors") view=PublicSubprocessorsPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("admin"), StaticSegment("platform"), StaticSegment("subprocessors")) view=PlatformSubprocessorsPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("admin"), StaticSegment("platform"), StaticSegment("subprocessors"), StaticSegment("new")) view=SubprocessorFormPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("admin"), StaticSegment("platform"), StaticSegment("subprocessors"), StaticSegment("announce")) view=AnnouncePage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("admin"), StaticSegment("platform"), StaticSegment("subprocessors"), ParamSegment("id"), StaticSegment("edit")) view=SubprocessorFormPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("admin"), StaticSegment("platform"), StaticSegment("subprocessors"), StaticSegment("changes"), ParamSegment("id")) view=PlatformChangePage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("admin"), StaticSegment("c"), ParamSegment("clinic"), StaticSegment("subprocessors")) view=ClinicSubprocessorsPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("admin"), StaticSegment("c"), ParamSegment("clinic"), StaticSegment("subprocessors"), StaticSegment("changes"), ParamSegment("id")) view=ClinicChangePage ssr=SsrMode::Async/>
                <Route path=StaticSegment("login") view=LoginPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("login"), StaticSegment("sent")) view=LoginSentPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("auth"), StaticSegment("link"), ParamSegment("token")) view=LinkPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("invite"), ParamSegment("token")) view=InvitePage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("admin"), StaticSegment("c"), ParamSegment("clinic")) view=DashboardPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("admin"), StaticSegment("c"), ParamSegment("clinic"), StaticSegment("team")) view=TeamPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("admin"), StaticSegment("c"), ParamSegment("clinic"), StaticSegment("requests")) view=RequestQueuePage ssr=SsrMode::Async/>
                <Route
                    path=(StaticSegment("admin"), StaticSegment("c"), ParamSegment("clinic"), StaticSegment("requests"), ParamSegment("request"))
                    view=RequestDetailPage
                    ssr=SsrMode::Async
                />
                <Route path=(StaticSegment("admin"), StaticSegment("c"), ParamSegment("clinic"), StaticSegment("meta")) view=MetaSettingsPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("c"), ParamSegment("clinic"), StaticSegment("cookies")) view=CookieSettingsPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("c"), ParamSegment("clinic"), StaticSegment("consents")) view=PatientConsentsPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("c"), ParamSegment("clinic"), StaticSegment("consents"), StaticSegment("sent")) view=PatientConsentsSentPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("c"), ParamSegment("clinic"), StaticSegment("consents"), StaticSegment("manage")) view=PatientConsentsManagePage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("admin"), StaticSegment("c"), ParamSegment("clinic"), StaticSegment("consent")) view=ConsentSettingsPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("admin"), StaticSegment("c"), ParamSegment("clinic"), StaticSegment("consent"), StaticSegment("records")) view=ConsentRecordsPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("admin"), StaticSegment("c"), ParamSegment("clinic"), StaticSegment("consent"), StaticSegment("purposes"), StaticSegment("new")) view=PurposeFormPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("admin"), StaticSegment("c"), ParamSegment("clinic"), StaticSegment("consent"), StaticSegment("purposes"), ParamSegment("id")) view=PurposeFormPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("admin"), StaticSegment("c"), ParamSegment("clinic"), StaticSegment("consent"), StaticSegment("cookies"), StaticSegment("new")) view=CookieFormPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("admin"), StaticSegment("c"), ParamSegment("clinic"), StaticSegment("consent"), StaticSegment("cookies"), ParamSegment("id")) view=CookieFormPage ssr=SsrMode::Async/>
                <Route
                    path=(StaticSegment("admin"), StaticSegment("c"), ParamSegment("clinic"), StaticSegment("team"), ParamSegment("member"), StaticSegment("remove"))
                    view=RemoveMemberPage
                    ssr=SsrMode::Async
                />
                <Route path=(StaticSegment("admin"), StaticSegment("c"), ParamSegment("clinic"), StaticSegment("settings")) view=SettingsPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("admin"), StaticSegment("c"), ParamSegment("clinic"), StaticSegment("sso")) view=SsoPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("admin"), StaticSegment("c"), ParamSegment("clinic"), StaticSegment("audit")) view=AuditPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("admin"), StaticSegment("c"), ParamSegment("clinic"), StaticSegment("retention")) view=RetentionPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("admin"), StaticSegment("c"), ParamSegment("clinic"), StaticSegment("export")) view=ExportPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("admin"), StaticSegment("platform")) view=PlatformOverviewPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("admin"), StaticSegment("platform"), StaticSegment("clinics")) view=ClinicsPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("admin"), StaticSegment("platform"), StaticSegment("clinics"), StaticSegment("new")) view=NewClinicPage ssr=SsrMode::Async/>
                <Route
                    path=(StaticSegment("admin"), StaticSegment("platform"), StaticSegment("clinics"), ParamSegment("slug"), StaticSegment("status"))
                    view=ClinicStatusPage
                    ssr=SsrMode::Async
                />
                <Route
                    path=(StaticSegment("admin"), StaticSegment("platform"), StaticSegment("clinics"), ParamSegment("slug"), StaticSegment("offboard"))
                    view=OffboardClinicPage
                    ssr=SsrMode::Async
                />
                <Route path=(StaticSegment("admin"), StaticSegment("platform"), StaticSegment("sso")) view=PlatformSsoPage ssr=SsrMode::Async/>
            </Routes>
        </Router>
    }
}
