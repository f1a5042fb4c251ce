//! Data for the signed-in pages. Every loader authorizes first, from the
//! visitor of the request, and reads only what that visitor may see.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::guard::{self, Denied};
use crate::backend::audit::{self, AuditListItem};
use crate::backend::auth::visitor::{ClinicAccess, SignedInUser};
use crate::backend::db::DbError;
use crate::backend::error::AppError;
use crate::backend::services::clinics::{self, ClinicListItem};
use crate::backend::services::sso::{self, ConnectionOwner, ConnectionView};
use crate::backend::services::team::{self, InvitationDetails, InvitationView, MemberView};
use crate::backend::state::AppState;
use crate::domain::clinic_profile::ClinicProfileForm;
use crate::domain::pagination::{Page, PageRequest};
use crate::domain::permissions::{ClinicPermission, PlatformPermission};
use crate::request::current_path;

/// Why a page cannot show its content.
#[derive(Clone, Debug)]
pub enum PageError {
    Denied(Denied),
    App(String, http::StatusCode),
}

impl From<Denied> for PageError {
    fn from(denied: Denied) -> Self {
        Self::Denied(denied)
    }
}

impl From<AppError> for PageError {
    fn from(error: AppError) -> Self {
        let status = error.status();
        let message = match error {
            AppError::Internal(detail) => {
                tracing::error!(%detail, "page failed");
                "Something went wrong on our side.".to_owned()
            }
            other => other.to_string(),
        };
        Self::App(message, status)
    }
}

impl From<DbError> for PageError {
    fn from(error: DbError) -> Self {
        AppError::from(error).into()
    }
}

/// The application state of the request.
pub fn app_state() -> Result<AppState, AppError> {
    use_context::<AppState>().ok_or_else(|| AppError::Internal("application state missing".into()))
}

/// The query parameter `name` of the current request.
pub fn query(name: &str) -> Option<String> {
    use_query_map().read_untracked().get(name)
}

/// The signed-in member of clinic `slug` with `permission`.
pub fn clinic_member(
    slug: &str,
    permission: ClinicPermission,
) -> Result<(SignedInUser, ClinicAccess), PageError> {
    Ok(guard::clinic(
        &guard::visitor(),
        &current_path(),
        slug,
        permission,
    )?)
}

/// What the dashboard shows.
#[derive(Clone, Debug)]
pub struct Dashboard {
    pub access: ClinicAccess,
    pub deadline: String,
    pub notice_period_days: i32,
    pub members: usize,
    pub open_invitations: usize,
    pub sso: Option<ConnectionView>,
    pub recent: Vec<AuditListItem>,
}

/// The clinic's dashboard.
pub async fn dashboard(slug: &str) -> Result<Dashboard, PageError> {
    let (_, access) = clinic_member(slug, ClinicPermission::View)?;
    let state = app_state()?;
    let clinic = clinics::get(&state.db, access.clinic_id)
        .await?
        .ok_or(Denied::NotFound)?;
    let profile = clinic.profile()?;
    let (members, invitations) = team::overview(&state, access.clinic_id).await?;
    let sso = sso::get(&state, ConnectionOwner::Clinic(access.clinic_id)).await?;
    let recent = audit::list_for_clinic(
        &state.db,
        access.clinic_id,
        PageRequest {
            page: 1,
            per_page: 8,
        },
    )
    .await?;
    Ok(Dashboard {
        deadline: profile.deadline.to_string(),
        notice_period_days: clinic.notice_period_days,
        members: members.len(),
        open_invitations: invitations.iter().filter(|i| !i.expired).count(),
        sso,
        recent: recent.items,
        access,
    })
}

/// What the team page shows.
#[derive(Clone, Debug)]
pub struct Team {
    pub user: SignedInUser,
    pub access: ClinicAccess,
    pub members: Vec<MemberView>,
    pub invitations: Vec<InvitationView>,
}

/// The clinic's team.
pub async fn team(slug: &str) -> Result<Team, PageError> {
    let (user, access) = clinic_member(slug, ClinicPermission::View)?;
    let state = app_state()?;
    let (members, invitations) = team::overview(&state, access.clinic_id).await?;
    Ok(Team {
        user,
        access,
        members,
        invitations,
    })
}

/// The clinic's profile for its settings form.
pub async fn settings(slug: &str) -> Result<(ClinicAccess, ClinicProfileForm), PageError> {
    let (_, access) = clinic_member(slug, ClinicPermission::ManageSettings)?;
    let state = app_state()?;
    let clinic = clinics::get(&state.db, access.clinic_id)
        .await?
        .ok_or(Denied::NotFound)?;
    Ok((access, ClinicProfileForm::from_profile(&clinic.profile()?)))
}

/// The clinic's SSO connection.
pub async fn clinic_sso(slug: &str) -> Result<(ClinicAccess, Option<ConnectionView>), PageError> {
    let (_, access) = clinic_member(slug, ClinicPermission::ManageSso)?;
    let state = app_state()?;
    let connection = sso::get(&state, ConnectionOwner::Clinic(access.clinic_id)).await?;
    Ok((access, connection))
}

/// A page of the clinic's audit log.
pub async fn audit_log(slug: &str) -> Result<(ClinicAccess, Page<AuditListItem>), PageError> {
    let (_, access) = clinic_member(slug, ClinicPermission::View)?;
    let state = app_state()?;
    let page = PageRequest::from_query(query("page").as_deref());
    let events = audit::list_for_clinic(&state.db, access.clinic_id, page).await?;
    Ok((access, events))
}

/// The signed-in operator.
pub fn operator(permission: PlatformPermission) -> Result<SignedInUser, PageError> {
    Ok(guard::platform(
        &guard::visitor(),
        &current_path(),
        permission,
    )?)
}

/// A page of clinics for the operator, filtered by `?q=`.
pub async fn platform_clinics() -> Result<(String, Page<ClinicListItem>), PageError> {
    operator(PlatformPermission::ManageClinics)?;
    let state = app_state()?;
    let search = query("q")
        .unwrap_or_default()
        .chars()
        .take(100)
        .collect::<String>();
    let page = PageRequest::from_query(query("page").as_deref());
    Ok((
        search.clone(),
        clinics::list_page(&state.db, &search, page).await?,
    ))
}

/// A clinic's list entry for the operator's confirmation pages.
pub async fn platform_clinic(slug: &str) -> Result<ClinicListItem, PageError> {
    operator(PlatformPermission::ManageClinics)?;
    let state = app_state()?;
    let id = clinics::id_by_slug(&state.db, slug)
        .await?
        .ok_or(Denied::NotFound)?;
    let clinic = clinics::get(&state.db, id).await?.ok_or(Denied::NotFound)?;
    Ok(ClinicListItem {
        id,
        slug: clinic.slug,
        name: clinic.name,
        country: clinic.country,
        status: clinic
            .status
            .parse()
            .unwrap_or(crate::domain::clinic::ClinicStatus::Active),
        members: 0,
        created_at: clinic.created_at,
    })
}

/// The platform's SSO connection.
pub async fn platform_sso() -> Result<Option<ConnectionView>, PageError> {
    operator(PlatformPermission::ManagePlatformSso)?;
    let state = app_state()?;
    Ok(sso::get(&state, ConnectionOwner::Platform).await?)
}

/// The invitation behind an emailed link.
pub async fn invitation(token: &str) -> Result<Option<InvitationDetails>, PageError> {
    let state = app_state()?;
    Ok(team::find_invitation(&state, token).await?)
}

/// Whether the email domain of an invitation signs in with SSO.
pub async fn invitation_uses_sso(email: &str) -> bool {
    let Ok(state) = app_state() else { return false };
    let Ok(email) = crate::domain::email::EmailAddress::parse(email) else {
        return false;
    };
    matches!(
        crate::backend::services::auth::route_for(&state, &email).await,
        Ok(crate::backend::services::auth::LoginRoute::Sso { .. })
    )
}

/// The request queue with the filters of the query string.
pub async fn request_queue(
    slug: &str,
) -> Result<
    (
        ClinicAccess,
        SignedInUser,
        crate::backend::services::requests::staff::QueueFilter,
        Page<crate::backend::services::requests::staff::QueueItem>,
        crate::backend::services::requests::staff::QueueCounts,
        Vec<crate::backend::services::requests::staff::Assignable>,
    ),
    PageError,
> {
    use crate::backend::services::requests::staff::{AssigneeFilter, QueueFilter, QueueSort};
    let (user, access) = clinic_member(slug, ClinicPermission::View)?;
    let state = app_state()?;
    let filter = QueueFilter {
        status: query("status").and_then(|s| s.parse().ok()),
        kind: query("kind").and_then(|k| k.parse().ok()),
        assignee: match query("assignee").as_deref() {
            Some("unassigned") => AssigneeFilter::Unassigned,
            Some("me") => AssigneeFilter::User(user.id),
            Some(id) => id
                .parse()
                .map_or(AssigneeFilter::Anyone, AssigneeFilter::User),
            None => AssigneeFilter::Anyone,
        },
        overdue: query("overdue").is_some(),
        due_soon: query("due_soon").is_some(),
        search: query("q").unwrap_or_default().chars().take(100).collect(),
        sort: if query("sort").as_deref() == Some("newest") {
            QueueSort::Newest
        } else {
            QueueSort::DueDate
        },
    };
    let page = PageRequest::from_query(query("page").as_deref());
    let (items, counts) = crate::backend::services::requests::staff::queue(
        &state,
        access.clinic_id,
        filter.clone(),
        page,
    )
    .await?;
    let team =
        crate::backend::services::requests::staff::assignable(&state, access.clinic_id).await?;
    Ok((access, user, filter, items, counts, team))
}

/// A request's detail page.
pub async fn request_detail(
    slug: &str,
    id: &str,
) -> Result<
    (
        ClinicAccess,
        crate::backend::services::requests::staff::Detail,
    ),
    PageError,
> {
    let (_, access) = clinic_member(slug, ClinicPermission::View)?;
    let state = app_state()?;
    let id = id.parse::<uuid::Uuid>().map_err(|_| Denied::NotFound)?;
    let detail = crate::backend::services::requests::staff::detail(&state, access.clinic_id, id)
        .await?
        .ok_or(Denied::NotFound)?;
    Ok((access, detail))
}

/// The dashboard's request numbers.
pub async fn request_stats(
    access: &ClinicAccess,
) -> Result<crate::backend::services::requests::staff::RequestStats, PageError> {
    let state = app_state()?;
    Ok(crate::backend::services::requests::staff::stats(&state, access.clinic_id).await?)
}

/// Whether the clinic has a Meta app secret (its settings page).
pub async fn meta_settings(slug: &str) -> Result<(ClinicAccess, bool), PageError> {
    let (_, access) = clinic_member(slug, ClinicPermission::ManageSettings)?;
    let state = app_state()?;
    let configured =
        crate::backend::services::requests::meta::has_secret(&state, access.clinic_id).await?;
    Ok((access, configured))
}

/// What the retention page shows.
#[derive(Clone, Debug)]
pub struct RetentionView {
    pub access: ClinicAccess,
    pub rules: std::collections::BTreeMap<
        crate::domain::retention::Category,
        crate::domain::retention::Rule,
    >,
    pub runs: Page<crate::backend::services::retention::PastRun>,
    pub next_run: chrono::DateTime<chrono::Utc>,
}

/// The clinic's retention rules and a page of its past runs.
pub async fn retention(slug: &str) -> Result<RetentionView, PageError> {
    use crate::backend::services::retention as service;
    let (_, access) = clinic_member(slug, ClinicPermission::ManageRetention)?;
    let state = app_state()?;
    let page = PageRequest::from_query(query("page").as_deref());
    let rules = service::rules(&state.db, access.clinic_id).await?;
    let (items, total) =
        service::past_runs(&state.db, access.clinic_id, page.offset(), page.limit()).await?;
    Ok(RetentionView {
        access,
        rules,
        runs: Page {
            items,
            page: page.page,
            per_page: page.per_page,
            total,
        },
        next_run: service::next_scheduled(state.clock.now()),
    })
}

/// What the export page shows.
#[derive(Clone, Debug)]
pub struct ExportView {
    pub access: ClinicAccess,
    pub exports: Vec<crate::backend::services::exports::ExportRow>,
    /// When the clinic's data is deleted, if it is being offboarded.
    pub delete_after: Option<chrono::DateTime<chrono::Utc>>,
    pub now: chrono::DateTime<chrono::Utc>,
}

/// The clinic's exports, for its Owners.
pub async fn exports(slug: &str) -> Result<ExportView, PageError> {
    let (_, access) = clinic_member(slug, ClinicPermission::RequestDeletion)?;
    let state = app_state()?;
    let exports = crate::backend::services::exports::list(&state.db, access.clinic_id).await?;
    let delete_after = clinics::get(&state.db, access.clinic_id)
        .await?
        .and_then(|c| c.delete_after);
    Ok(ExportView {
        access,
        exports,
        delete_after,
        now: state.clock.now(),
    })
}
