//! Sub-processor pages: the public list (`/subprocessors`), the operator's
//! register, entry form, announcement form and change page
//! (`/admin/platform/subprocessors/...`), and a clinic's view of the list
//! with its objections (`/admin/c/{clinic}/subprocessors/...`).

use chrono::{DateTime, Duration, Utc};
use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::subprocessors::{self as api, PLATFORM_BASE};
use crate::backend::services::subprocessors::{
    ChangeView, ClinicObjection, ObjectionRow, SubprocessorRow,
};
use crate::components::admin_layout::{AdminLayout, Section};
use crate::components::forms::{
    Checkbox, CheckboxGroup, CsrfField, ErrorSummary, SelectField, TextArea, TextField,
    field_error, form_state, rcdata,
};
use crate::components::layout::Layout;
use crate::domain::subprocessors::{
    ChangeKind, DataCategory, ObjectionStatus, Safeguard, Status, SubprocessorForm,
};
use crate::pages::admin::when;
use crate::pages::error::PageErrorView;
use crate::pages::notices::{day, param};

fn failed(error: crate::api::pages::PageError) -> AnyView {
    view! { <Layout><PageErrorView error/></Layout> }.into_any()
}

fn categories_text(entry: &SubprocessorRow) -> String {
    entry
        .categories()
        .iter()
        .map(|c| c.label())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The register's entries in force, as a table per purpose.
#[component]
fn EntryTables(groups: Vec<(String, Vec<SubprocessorRow>)>) -> impl IntoView {
    if groups.is_empty() {
        return view! { <p>"No sub-processor is in service."</p> }.into_any();
    }
    groups
        .into_iter()
        .map(|(purpose, entries)| {
            let rows = entries
                .into_iter()
                .map(|e| {
                    let categories = categories_text(&e);
                    let name = match e.website.clone() {
                        Some(url) => view! { <a href=url rel="noopener noreferrer">{e.legal_name.clone()}</a> }.into_any(),
                        None => view! { {e.legal_name.clone()} }.into_any(),
                    };
                    let terms = e.terms_url.clone().map(|url| view! { <a href=url rel="noopener noreferrer">"Terms"</a> });
                    view! {
                        <tr>
                            <th scope="row">{name}</th>
                            <td>{e.service.clone()}</td>
                            <td>{categories}</td>
                            <td>{e.countries.join(", ")}</td>
                            <td>{e.safeguard().label()}</td>
                            <td>{e.active_since.map(day).unwrap_or_default()}</td>
                            <td>{terms}</td>
                        </tr>
                    }
                })
                .collect_view();
            view! {
                <section class="stack">
                    <h2>{purpose.clone()}</h2>
                    <div class="table-wrap">
                        <table class="table">
                            <caption class="visually-hidden">{format!("Sub-processors for {purpose}")}</caption>
                            <thead><tr>
                                <th scope="col">"Sub-processor"</th><th scope="col">"Service"</th>
                                <th scope="col">"Data"</th><th scope="col">"Location"</th>
                                <th scope="col">"Transfer safeguard"</th><th scope="col">"Since"</th>
                                <th scope="col">"Terms"</th>
                            </tr></thead>
                            <tbody>{rows}</tbody>
                        </table>
                    </div>
                </section>
            }
        })
        .collect_view()
        .into_any()
}

/// One change as a list item; `link` goes to its page when given.
fn change_item(
    view: &ChangeView,
    now: DateTime<Utc>,
    link: Option<String>,
) -> impl IntoView + use<> {
    let c = &view.change;
    let anchor = format!("change-{}", c.id.simple());
    let headline = view.headline();
    let title = match link {
        Some(href) => view! { <a href=href>{headline}</a> }.into_any(),
        None => view! { {headline} }.into_any(),
    };
    let when_text = if c.status == "cancelled" {
        format!(
            "Cancelled on {}",
            c.cancelled_at.map(day).unwrap_or_default()
        )
    } else if c.is_in_effect(now) {
        format!("In effect since {}", day(c.effective_at))
    } else {
        format!(
            "Takes effect on {} · objections until {}",
            day(c.effective_at),
            when(c.objection_deadline)
        )
    };
    view! {
        <li id=anchor class="stack">
            <p><strong>{title}</strong></p>
            <p class="muted">{format!("{} · announced {} · {when_text}", c.kind().label(), day(c.announced_at))}</p>
            <p>{c.summary.clone()}</p>
        </li>
    }
}

/// `/subprocessors`: the platform's sub-processors in force, grouped by
/// purpose, upcoming changes and the history of changes.
#[component]
pub fn PublicSubprocessorsPage() -> impl IntoView {
    let content = Suspend::new(async move {
        let data = match api::public_register().await {
            Ok(data) => data,
            Err(error) => return view! { <PageErrorView error/> }.into_any(),
        };
        let now = data.now;
        let register = data.register;
        let title = format!("{}: sub-processors", register.publisher_name);
        let upcoming: Vec<_> = register
            .upcoming(now)
            .into_iter()
            .map(|c| change_item(c, now, None))
            .collect();
        let history: Vec<_> = register
            .history(now)
            .into_iter()
            .map(|c| change_item(c, now, None))
            .collect();
        let groups = register.in_force(now);
        view! {
            <Title text=title.clone()/>
            <div class="page-header"><h1>{title}</h1></div>
            <div class="stack">
                <p>{format!(
                    "These companies process personal data for {} on behalf of the clinics that use it. New sub-processors are announced at least {} days before they start; clinics may object until then.",
                    register.publisher_name, register.window_days
                )}</p>
                <p>
                    <a href="/subscribe?topic=subprocessors">"Get an email about changes"</a>
                    " · " <a href="/subprocessors.atom">"Atom feed"</a>
                    " · " <a href="/subprocessors.json">"JSON"</a>
                </p>
                <section class="stack" aria-labelledby="upcoming">
                    <h2 id="upcoming">"Upcoming changes"</h2>
                    {if upcoming.is_empty() {
                        view! { <p>"No change is announced."</p> }.into_any()
                    } else {
                        view! { <ul class="plain-list stack">{upcoming}</ul> }.into_any()
                    }}
                </section>
                <EntryTables groups/>
                <section class="stack" aria-labelledby="history">
                    <h2 id="history">"History of changes"</h2>
                    {if history.is_empty() {
                        view! { <p>"No change has taken effect yet."</p> }.into_any()
                    } else {
                        view! { <ul class="plain-list stack">{history}</ul> }.into_any()
                    }}
                </section>
            </div>
        }
        .into_any()
    });
    view! {
        <Layout>
            <Suspense fallback=|| ()>{content}</Suspense>
        </Layout>
    }
}

/// `/admin/platform/subprocessors`: the register, its changes and the
/// objections waiting for an answer.
#[component]
pub fn PlatformSubprocessorsPage() -> impl IntoView {
    let content = Suspend::new(async move {
        let data = match api::operator_register().await {
            Ok(data) => data,
            Err(error) => return failed(error),
        };
        let now = data.now;
        let register = data.register;
        let open_objections = data.open_objections;
        let rows = register
            .entries
            .iter()
            .map(|e| {
                let edit = format!("{PLATFORM_BASE}/{}/edit", e.id);
                let pending = register.open_change_of(e.id).map(|c| {
                    let href = format!("{PLATFORM_BASE}/changes/{}", c.change.id);
                    view! { <a href=href>{format!("{} on {}", c.change.kind().label(), day(c.change.effective_at))}</a> }
                });
                let status = e.status();
                view! {
                    <tr>
                        <th scope="row">{e.legal_name.clone()}</th>
                        <td>{e.purpose.clone()}</td>
                        <td>{status.label()}</td>
                        <td>{e.active_since.map(day).unwrap_or_default()}</td>
                        <td>{pending}</td>
                        <td>{(status != Status::Retired).then(|| view! { <a href=edit>"Edit"</a> })}</td>
                    </tr>
                }
            })
            .collect_view();
        let changes: Vec<_> = register
            .changes
            .iter()
            .map(|c| {
                change_item(
                    c,
                    now,
                    Some(format!("{PLATFORM_BASE}/changes/{}", c.change.id)),
                )
            })
            .collect();
        view! {
            <AdminLayout title="Sub-processors" section=Section::PlatformSubprocessors>
                <p>{format!(
                    "Clinics have {} days to object to a change. The public list is at /subprocessors.",
                    register.window_days
                )}</p>
                {(open_objections > 0).then(|| view! {
                    <div class="alert" role="status"><p>{format!("{open_objections} objection(s) wait for an answer: open the change to resolve them.")}</p></div>
                })}
                <p class="actions">
                    <a class="btn" href=format!("{PLATFORM_BASE}/new")>"Add a sub-processor"</a>
                    <a class="btn secondary" href=format!("{PLATFORM_BASE}/announce")>"Announce a change"</a>
                    <a class="btn secondary" href="/subprocessors">"Public list"</a>
                </p>
                <h2>"Register"</h2>
                {if register.entries.is_empty() {
                    view! { <p>"The register is empty. Add the sub-processors you use."</p> }.into_any()
                } else {
                    view! {
                        <div class="table-wrap">
                            <table class="table">
                                <caption class="visually-hidden">"Register"</caption>
                                <thead><tr><th scope="col">"Name"</th><th scope="col">"Purpose"</th><th scope="col">"Status"</th><th scope="col">"Since"</th><th scope="col">"Announced change"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th></tr></thead>
                                <tbody>{rows}</tbody>
                            </table>
                        </div>
                    }.into_any()
                }}
                <h2>"Changes"</h2>
                {if changes.is_empty() {
                    view! { <p>"No change has been announced yet."</p> }.into_any()
                } else {
                    view! { <ul class="plain-list stack">{changes}</ul> }.into_any()
                }}
            </AdminLayout>
        }
        .into_any()
    });
    view! { <Suspense fallback=|| ()>{content}</Suspense> }
}

/// `/admin/platform/subprocessors/new` and `/…/{id}/edit`.
#[component]
pub fn SubprocessorFormPage() -> impl IntoView {
    let id = param("id");
    let content = Suspend::new(async move {
        let (_, entry) = match api::operator_entry(id).await {
            Ok(found) => found,
            Err(error) => return failed(error),
        };
        let new = entry.is_none();
        let title = entry.as_ref().map_or_else(
            || "Add a sub-processor".to_owned(),
            |e| format!("Edit {}", e.legal_name),
        );
        let action = entry.as_ref().map_or_else(
            || format!("{PLATFORM_BASE}/new"),
            |e| format!("{PLATFORM_BASE}/{}/edit", e.id),
        );
        let e = entry.as_ref().map_or_else(
            || SubprocessorForm {
                safeguard: Safeguard::NotNeeded.as_str().to_owned(),
                ..SubprocessorForm::default()
            },
            SubprocessorRow::form,
        );
        view! {
            <AdminLayout title=title section=Section::PlatformSubprocessors>
                <ErrorSummary title="Please correct these fields"/>
                <form method="post" action=action class="card stack" novalidate>
                    <CsrfField/>
                    <TextField name="legal_name" label="Legal name" value=e.legal_name.clone() required=true/>
                    <TextField name="service" label="Service" value=e.service.clone() required=true hint="What it does for the platform, e.g. “Cloud hosting of the application and its database”."/>
                    <TextField name="purpose" label="Purpose" value=e.purpose.clone() required=true hint="The public list groups sub-processors by purpose, e.g. Hosting, Email delivery, Payments."/>
                    <CheckboxGroup name="categories" legend="Data it receives" options=DataCategory::options() selected=e.categories.clone()/>
                    <TextField name="countries" label="Processing countries" value=e.countries.clone() required=true hint="Two-letter country codes, separated by commas, e.g. DE, IE."/>
                    <SelectField name="safeguard" label="Transfer safeguard" value=e.safeguard.clone() options=Safeguard::options()/>
                    <TextField name="website" label="Website" value=e.website.clone() kind="url"/>
                    <TextField name="terms_url" label="Terms or data processing agreement (link)" value=e.terms_url.clone() kind="url"/>
                    {new.then(|| view! {
                        <fieldset class="stack">
                            <legend>"Already in service?"</legend>
                            <Checkbox name="in_service" label="It already processes data under the current agreement: record it as active" checked=false hint="Leave this unticked for a new sub-processor: it is recorded as proposed, and announcing it starts the objection window."/>
                            <TextField name="active_since" label="In service since" value="" kind="date"/>
                        </fieldset>
                    })}
                    <div class="actions">
                        <button type="submit" class="btn">{if new { "Add to the register" } else { "Save" }}</button>
                        <a class="btn secondary" href=PLATFORM_BASE>"Cancel"</a>
                    </div>
                </form>
            </AdminLayout>
        }
        .into_any()
    });
    view! { <Suspense fallback=|| ()>{content}</Suspense> }
}

/// `/admin/platform/subprocessors/announce`.
#[component]
pub fn AnnouncePage() -> impl IntoView {
    let content = Suspend::new(async move {
        let data = match api::operator_register().await {
            Ok(data) => data,
            Err(error) => return failed(error),
        };
        let register = data.register;
        let earliest =
            (data.now + Duration::days(i64::from(register.window_days)) + Duration::days(1))
                .format("%Y-%m-%d")
                .to_string();
        let options = |wanted: &[Status]| {
            let mut list = vec![(String::new(), "Choose…".to_owned())];
            list.extend(
                register
                    .entries
                    .iter()
                    .filter(|e| {
                        wanted.contains(&e.status()) && register.open_change_of(e.id).is_none()
                    })
                    .map(|e| {
                        (
                            e.id.to_string(),
                            format!("{} ({})", e.legal_name, e.status().label().to_lowercase()),
                        )
                    }),
            );
            list
        };
        let candidates = options(&[Status::Proposed, Status::Active]);
        let replaceable = options(&[Status::Active]);
        let kinds = ChangeKind::options();
        view! {
            <AdminLayout title="Announce a change" section=Section::PlatformSubprocessors>
                <p>{format!(
                    "Every clinic's Owners and Privacy Officers and the confirmed subscribers are emailed. Clinics may object for {} days; the change takes effect on its date by itself.",
                    register.window_days
                )}</p>
                <ErrorSummary title="Please correct these fields"/>
                <form method="post" action=format!("{PLATFORM_BASE}/announce") class="card stack" novalidate>
                    <CsrfField/>
                    <SelectField name="kind" label="Change" value="add" options=kinds/>
                    <SelectField name="subprocessor" label="Sub-processor" value="" options=candidates hint="For a new one or a replacement, a proposed entry; to retire one, an active entry."/>
                    <SelectField name="replaces" label="Replaces (for a replacement)" value="" options=replaceable/>
                    <TextArea name="summary" label="Why, in plain words" value="" rows=4 hint="Shown in the email, on the public list and in the feed."/>
                    <TextField name="effective_at" label="Takes effect on" value=earliest kind="date" required=true hint=format!("No earlier than {} days from now.", register.window_days)/>
                    <Checkbox name="confirm" label="Email every clinic and subscriber about this change now" checked=false/>
                    <div class="actions">
                        <button type="submit" class="btn">"Announce"</button>
                        <a class="btn secondary" href=PLATFORM_BASE>"Cancel"</a>
                    </div>
                </form>
            </AdminLayout>
        }
        .into_any()
    });
    view! { <Suspense fallback=|| ()>{content}</Suspense> }
}

/// The details of a change.
fn change_details(view: &ChangeView, now: DateTime<Utc>) -> impl IntoView + use<> {
    let c = &view.change;
    let s = &view.subprocessor;
    let status = if c.status == "cancelled" {
        "Cancelled".to_owned()
    } else if c.is_in_effect(now) {
        format!("In effect since {}", when(c.effective_at))
    } else {
        format!("Announced; takes effect on {}", when(c.effective_at))
    };
    view! {
        <dl class="facts">
            <dt>"Status"</dt><dd id="change-status">{status}</dd>
            <dt>"Change"</dt><dd>{c.kind().label()}</dd>
            <dt>"Sub-processor"</dt><dd>{s.legal_name.clone()}</dd>
            {view.replaces.as_ref().map(|r| view! { <dt>"Replaces"</dt><dd>{r.legal_name.clone()}</dd> })}
            <dt>"Service"</dt><dd>{s.service.clone()}</dd>
            <dt>"Data"</dt><dd>{categories_text(s)}</dd>
            <dt>"Location"</dt><dd>{s.countries.join(", ")}</dd>
            <dt>"Transfer safeguard"</dt><dd>{s.safeguard().label()}</dd>
            <dt>"Announced"</dt><dd>{when(c.announced_at)}</dd>
            <dt>"Objections until"</dt><dd id="objection-deadline">{when(c.objection_deadline)}</dd>
            <dt>"Why"</dt><dd>{c.summary.clone()}</dd>
        </dl>
    }
}

/// The inline form that resolves `objection` (its own error and text when
/// it was the one submitted).
fn resolve_form(action: String, objection: uuid::Uuid) -> impl IntoView + use<> {
    let submitted =
        form_state().filter(|f| f.value("objection").as_deref() == Some(&objection.to_string()));
    let value = submitted
        .as_ref()
        .and_then(|f| f.value("resolution"))
        .unwrap_or_default();
    let error = submitted.and_then(|_| field_error("resolution"));
    let id = format!("resolution-{}", objection.simple());
    let class = if error.is_some() {
        "field has-error"
    } else {
        "field"
    };
    view! {
        <form method="post" action=action class="stack">
            <CsrfField/>
            <input type="hidden" name="intent" value="resolve"/>
            <input type="hidden" name="objection" value=objection.to_string()/>
            <div class=class>
                <label for=id.clone()>"Resolution note (emailed to the clinic)"</label>
                {error.clone().map(|e| view! { <span class="error-message">{e}</span> })}
                <textarea id=id name="resolution" rows="3" aria-invalid=error.is_some().then_some("true")>{rcdata(&value)}</textarea>
            </div>
            <div class="actions"><button type="submit" class="btn">"Resolve"</button></div>
        </form>
    }
}

fn objection_status_line(o: &ObjectionRow) -> String {
    match o.status() {
        ObjectionStatus::Open => format!("Open since {}", when(o.raised_at)),
        ObjectionStatus::Resolved => format!(
            "Resolved on {}",
            o.resolved_at.map(when).unwrap_or_default()
        ),
        ObjectionStatus::Withdrawn => format!(
            "Withdrawn on {}",
            o.withdrawn_at.map(when).unwrap_or_default()
        ),
    }
}

/// `/admin/platform/subprocessors/changes/{id}`.
#[component]
pub fn PlatformChangePage() -> impl IntoView {
    let id = param("id");
    let content = Suspend::new(async move {
        let data = match api::operator_change(id).await {
            Ok(data) => data,
            Err(error) => return failed(error),
        };
        let now = data.now;
        let action = format!("{PLATFORM_BASE}/changes/{}", data.view.change.id);
        let cancellable =
            data.view.change.status == "announced" && data.view.change.effective_at > now;
        let delivery = data.delivery.map(|d| view! {
            <p id="delivery">{format!("Change notice: {} of {} sent, {} failed, {} pending ({} suppressed); {}.", d.sent, d.recipients, d.failed, d.pending, d.suppressed, d.status)}</p>
        });
        let objections = data
            .objections
            .iter()
            .map(|ClinicObjection { objection, clinic_name }| {
                let open = objection.status() == ObjectionStatus::Open;
                view! {
                    <li class="card stack">
                        <p><strong>{clinic_name.clone()}</strong>" · "{objection_status_line(objection)}</p>
                        <p class="message">{objection.reason.clone()}</p>
                        {objection.resolution.clone().map(|r| view! { <p class="message"><strong>"Resolution: "</strong>{r}</p> })}
                        {open.then(|| resolve_form(action.clone(), objection.id))}
                    </li>
                }
            })
            .collect_view();
        let title = data.view.headline();
        view! {
            <AdminLayout title=title section=Section::PlatformSubprocessors>
                <ErrorSummary/>
                {change_details(&data.view, now)}
                {delivery}
                <h2>"Objections"</h2>
                {if data.objections.is_empty() {
                    view! { <p>"No clinic has objected."</p> }.into_any()
                } else {
                    view! { <ul class="plain-list stack">{objections}</ul> }.into_any()
                }}
                {cancellable.then(|| view! {
                    <details class="confirm">
                        <summary>"Cancel this change"</summary>
                        <form method="post" action=action.clone()>
                            <CsrfField/>
                            <input type="hidden" name="intent" value="cancel"/>
                            <Checkbox name="confirm" label="Withdraw this change; the register stays as it is" checked=false/>
                            <div class="actions"><button type="submit" class="btn danger">"Cancel the change"</button></div>
                        </form>
                    </details>
                })}
                <p><a href=PLATFORM_BASE>"Back to the register"</a></p>
            </AdminLayout>
        }
        .into_any()
    });
    view! { <Suspense fallback=|| ()>{content}</Suspense> }
}

/// `/admin/c/{clinic}/subprocessors`: the platform's sub-processors, the
/// changes announced, and the clinic's objections.
#[component]
pub fn ClinicSubprocessorsPage() -> impl IntoView {
    let slug = param("clinic");
    let content = Suspend::new(async move {
        let data = match api::clinic_register(slug).await {
            Ok(data) => data,
            Err(error) => return failed(error),
        };
        let now = data.now;
        let base = format!("/admin/c/{}/subprocessors", data.access.slug);
        let upcoming: Vec<_> = data
            .register
            .upcoming(now)
            .into_iter()
            .map(|c| {
                let objected = data
                    .objections
                    .iter()
                    .find(|o| o.change_id == c.change.id && o.status() == ObjectionStatus::Open)
                    .map(|_| view! { <p class="badge">"You have objected"</p> });
                view! {
                    {change_item(c, now, Some(format!("{base}/changes/{}", c.change.id)))}
                    {objected}
                }
            })
            .collect();
        let groups = data.register.in_force(now);
        let publisher = data.register.publisher_name.clone();
        view! {
            <AdminLayout title="Sub-processors" clinic=data.access.clone() section=Section::Subprocessors>
                <p>{format!(
                    "{publisher} uses these sub-processors to process your patients' data. You may object to a change until its objection deadline."
                )}</p>
                <h2>"Upcoming changes"</h2>
                {if upcoming.is_empty() {
                    view! { <p>"No change is announced."</p> }.into_any()
                } else {
                    view! { <ul class="plain-list stack">{upcoming}</ul> }.into_any()
                }}
                <EntryTables groups/>
                <p><a href="/subprocessors">"Public list and history"</a></p>
            </AdminLayout>
        }
        .into_any()
    });
    view! { <Suspense fallback=|| ()>{content}</Suspense> }
}

/// `/admin/c/{clinic}/subprocessors/changes/{id}`: a change, and the
/// clinic's objection to it.
#[component]
pub fn ClinicChangePage() -> impl IntoView {
    let (slug, id) = (param("clinic"), param("id"));
    let content = Suspend::new(async move {
        let (data, change) = match api::clinic_change(slug, id).await {
            Ok(found) => found,
            Err(error) => return failed(error),
        };
        let now = data.now;
        let action = format!(
            "/admin/c/{}/subprocessors/changes/{}",
            data.access.slug, change.change.id
        );
        let mine: Vec<ObjectionRow> = data
            .objections
            .iter()
            .filter(|o| o.change_id == change.change.id)
            .cloned()
            .collect();
        let has_open = mine.iter().any(|o| o.status() == ObjectionStatus::Open);
        let window_open =
            change.change.status == "announced" && now < change.change.objection_deadline;
        let history = mine
            .iter()
            .map(|o| {
                let open = o.status() == ObjectionStatus::Open;
                let action = action.clone();
                view! {
                    <li class="card stack">
                        <p><strong>"Your objection"</strong>" · "<span class="objection-status">{objection_status_line(o)}</span></p>
                        <p class="message">{o.reason.clone()}</p>
                        {o.resolution.clone().map(|r| view! { <p class="message"><strong>"Answer: "</strong>{r}</p> })}
                        {(open && data.can_object).then(|| view! {
                            <form method="post" action=action>
                                <CsrfField/>
                                <input type="hidden" name="intent" value="withdraw"/>
                                <input type="hidden" name="objection" value=o.id.to_string()/>
                                <div class="actions"><button type="submit" class="btn secondary">"Withdraw the objection"</button></div>
                            </form>
                        })}
                    </li>
                }
            })
            .collect_view();
        let form = if !data.can_object {
            view! { <p>"Owners, Admins and Privacy Officers of the clinic may object."</p> }
                .into_any()
        } else if has_open {
            ().into_any()
        } else if window_open {
            view! {
                <h2>"Object to this change"</h2>
                <p>{format!("Objections are open until {}. Say why your clinic objects; the platform answers by email.", when(change.change.objection_deadline))}</p>
                <form method="post" action=action.clone() class="card stack" novalidate>
                    <CsrfField/>
                    <input type="hidden" name="intent" value="object"/>
                    <TextArea name="reason" label="Why your clinic objects" value="" rows=5/>
                    <div class="actions"><button type="submit" class="btn">"Send the objection"</button></div>
                </form>
            }
            .into_any()
        } else {
            view! { <p>"The objection window for this change has closed."</p> }.into_any()
        };
        let title = change.headline();
        view! {
            <AdminLayout title=title clinic=data.access.clone() section=Section::Subprocessors>
                <ErrorSummary/>
                {change_details(&change, now)}
                {(!mine.is_empty()).then(|| view! { <ul class="plain-list stack">{history}</ul> })}
                {form}
                <p><a href=format!("/admin/c/{}/subprocessors", data.access.slug)>"All sub-processors"</a></p>
            </AdminLayout>
        }
        .into_any()
    });
    view! { <Suspense fallback=|| ()>{content}</Suspense> }
}
