//! Consent pages: the public cookie settings page (works without
//! JavaScript), and the clinic's purposes, cookie inventory and records
//! under `/admin/c/{clinic}/consent`.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::api::consent as api;
use crate::backend::services::consent::{RecordRow, party_label};
use crate::components::admin_layout::{AdminLayout, Section};
use crate::components::chart::OptInChart;
use crate::components::forms::{
    Checkbox, CsrfField, ErrorSummary, SelectField, TextArea, TextField, field_value,
};
use crate::components::layout::Layout;
use crate::components::pager::Pager;
use crate::domain::consent::{Channel, LegalBasis, Party, PublishedPurpose, Source};
use crate::i18n::{tr, tr_args, use_locale};
use crate::pages::admin::{clinic_slug, when};
use crate::pages::error::PageErrorView;

fn param(name: &str) -> Option<String> {
    use_params_map().read_untracked().get(name)
}

fn basis_label(stored: &str) -> String {
    stored
        .parse::<LegalBasis>()
        .map_or_else(|_| stored.to_owned(), |b| b.label().to_owned())
}

/// `/c/{clinic}/cookies`: what the clinic's website asks, and the visitor's
/// choice, as a plain form.
#[component]
pub fn CookieSettingsPage() -> impl IntoView {
    let slug = param("clinic").unwrap_or_default();
    let content = Suspend::new(async move {
        match api::public_cookies(&slug).await {
            Ok(Some(page)) => cookie_settings(page).into_any(),
            Ok(None) => {
                crate::request::set_status(http::StatusCode::NOT_FOUND);
                view! { <Layout><PageErrorView error=crate::api::pages::PageError::App(tr("cookies-no-clinic"), http::StatusCode::NOT_FOUND)/></Layout> }.into_any()
            }
            Err(error) => view! { <Layout><PageErrorView error=error.into()/></Layout> }.into_any(),
        }
    });
    view! { <Suspense fallback=|| ()>{content}</Suspense> }
}

fn cookie_settings(page: api::PublicCookies) -> impl IntoView {
    let locale = use_locale().tag();
    let published = page.published.clone();
    let title = tr_args(
        "cookies-title",
        &[("clinic", published.clinic_name.clone())],
    );
    let action = format!("/c/{}/cookies", published.slug);
    let current = page
        .stored
        .as_ref()
        .filter(|_| !page.outdated && !page.gpc)
        .map(|s| s.choices.clone())
        .unwrap_or_default();
    let purposes = published.purposes(Channel::Website);
    let saved = page.saved.clone().map(saved_receipt);
    let outdated = page.outdated.then(
        || view! { <div class="alert warning" role="status"><p>{tr("cookies-outdated")}</p></div> },
    );
    let gpc = page
        .gpc
        .then(|| view! { <div class="alert info" role="status"><p>{tr("cookies-gpc")}</p></div> });
    let body = if purposes.is_empty() {
        view! { <p class="empty">{tr("cookies-not-configured")}</p> }.into_any()
    } else {
        let items = purposes
            .into_iter()
            .map(|p| {
                let cookies: Vec<_> = published
                    .cookies
                    .iter()
                    .filter(|c| c.purpose == p.key)
                    .cloned()
                    .collect();
                let on = current.get(&p.key).copied().unwrap_or(false);
                let table = if cookies.is_empty() {
                    view! { <p class="muted">{tr("cookies-none-for-purpose")}</p> }.into_any()
                } else {
                    let rows = cookies
                        .into_iter()
                        .map(|c| {
                            view! {
                                <tr>
                                    <td><code>{c.name}</code></td>
                                    <td>{c.provider}</td>
                                    <td>{c.domain}</td>
                                    <td>{c.duration}</td>
                                    <td>{party_label(&c.party)}</td>
                                </tr>
                            }
                        })
                        .collect_view();
                    view! {
                        <div class="table-wrap">
                            <table>
                                <caption class="visually-hidden">{tr_args("cookies-table-caption", &[("purpose", p.name.get(locale).to_owned())])}</caption>
                                <thead><tr>
                                    <th scope="col">{tr("cookies-col-name")}</th>
                                    <th scope="col">{tr("cookies-col-provider")}</th>
                                    <th scope="col">{tr("cookies-col-domain")}</th>
                                    <th scope="col">{tr("cookies-col-duration")}</th>
                                    <th scope="col">{tr("cookies-col-party")}</th>
                                </tr></thead>
                                <tbody>{rows}</tbody>
                            </table>
                        </div>
                    }
                    .into_any()
                };
                purpose_choice(p, on, locale, table)
            })
            .collect_view();
        view! {
            <ErrorSummary/>
            <form method="post" action=action class="stack" novalidate>
                <CsrfField/>
                {items}
                <div class="actions consent-actions">
                    <button type="submit" name="choice" value="reject_all" class="btn">{tr("cookies-reject-all")}</button>
                    <button type="submit" name="choice" value="accept_all" class="btn">{tr("cookies-accept-all")}</button>
                    <button type="submit" name="choice" value="save" class="btn secondary">{tr("cookies-save")}</button>
                </div>
            </form>
        }
        .into_any()
    };
    let key_url = format!("/c/{}/consent-receipt-key", published.slug);
    let privacy_url = format!("/c/{}/privacy", published.slug);
    view! {
        <Layout>
            <Title text=title.clone()/>
            <div class="page-header"><h1>{title}</h1></div>
            <div class="reading stack">
                {saved}
                {outdated}
                {gpc}
                <p>{tr("cookies-intro")}</p>
                {body}
                <p class="muted">
                    <a href=privacy_url>{tr("cookies-privacy-link")}</a>
                    " · "
                    <a href=key_url>{tr("cookies-key-link")}</a>
                </p>
            </div>
        </Layout>
    }
}

/// "Your choice is saved", with the record's signed receipt.
pub fn saved_receipt(record: RecordRow) -> impl IntoView {
    view! {
        <div class="alert success" role="status">
            <p class="alert-title">{tr("cookies-saved")}</p>
            <p>{tr_args("cookies-saved-detail", &[("time", when(record.recorded_at)), ("record", record.id.to_string())])}</p>
            <details>
                <summary>{tr("cookies-receipt")}</summary>
                <p>{tr("cookies-receipt-hint")}</p>
                <pre class="receipt">{record.receipt}</pre>
            </details>
        </div>
    }
}

/// One purpose of a consent form: its name, description and legal basis,
/// its checkbox (ticked and disabled when strictly necessary), then `extra`.
pub fn purpose_choice(
    p: &PublishedPurpose,
    on: bool,
    locale: &str,
    extra: AnyView,
) -> impl IntoView + use<> {
    let id = format!("purpose-{}", p.key);
    let name = p.name.get(locale).to_owned();
    let control = if p.strictly_necessary {
        view! {
            <div class="checkbox">
                <input type="checkbox" id=id.clone() checked=true disabled=true/>
                <label for=id>{format!("{name} ({})", tr("cookies-always-on"))}</label>
            </div>
        }
        .into_any()
    } else {
        view! {
            <div class="checkbox">
                <input type="checkbox" id=id.clone() name="purpose" value=p.key.clone() checked=on/>
                <label for=id>{name.clone()}</label>
            </div>
        }
        .into_any()
    };
    let basis = format!(
        "{}: {}",
        tr("cookies-legal-basis"),
        tr(&format!("basis-{}", p.legal_basis.replace('_', "-")))
    );
    view! {
        <section class="purpose card">
            <h2>{name}</h2>
            <p>{p.description.get(locale).to_owned()}</p>
            <p class="muted">{basis}</p>
            {control}
            {extra}
        </section>
    }
}

/// `/admin/c/{clinic}/consent`: purposes, cookies, versions and the banner.
#[component]
pub fn ConsentSettingsPage() -> impl IntoView {
    let slug = clinic_slug();
    let content = Suspend::new(async move {
        match api::admin_settings(&slug).await {
            Ok(page) => consent_settings(page).into_any(),
            Err(error) => view! { <Layout><PageErrorView error/></Layout> }.into_any(),
        }
    });
    view! { <Suspense fallback=|| ()>{content}</Suspense> }
}

fn consent_settings(page: api::AdminConsent) -> impl IntoView {
    let base = format!("/admin/c/{}/consent", page.access.slug);
    let can = page.can_manage;
    let purposes = if page.settings.purposes.is_empty() {
        view! { <p class="empty">"No purposes yet. Add the purposes your website and your patients are asked about; strictly necessary ones are shown but never switched off."</p> }.into_any()
    } else {
        let rows = page
            .settings
            .purposes
            .iter()
            .map(|p| {
                let edit = (can && p.archived_at.is_none()).then(|| {
                    let href = format!("{base}/purposes/{}", p.id);
                    view! { <a href=href>"Edit"<span class="visually-hidden">{format!(" {}", p.name_en)}</span></a> }
                });
                let status = match p.archived_at {
                    Some(at) => format!("Archived {}", when(at)),
                    None => "Asked".to_owned(),
                };
                let channel = p.channel.parse::<Channel>().map_or("", Channel::label);
                view! {
                    <tr>
                        <td><code>{p.key.clone()}</code></td>
                        <td>{p.name_en.clone()}</td>
                        <td>{channel}</td>
                        <td>{basis_label(&p.legal_basis)}</td>
                        <td>{if p.strictly_necessary { "Yes" } else { "No" }}</td>
                        <td>{status}</td>
                        <td>{edit}</td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <div class="table-wrap"><table>
                <thead><tr>
                    <th scope="col">"Key"</th><th scope="col">"Name"</th><th scope="col">"Asked of"</th>
                    <th scope="col">"Legal basis"</th><th scope="col">"Strictly necessary"</th>
                    <th scope="col">"Status"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th>
                </tr></thead>
                <tbody>{rows}</tbody>
            </table></div>
        }
        .into_any()
    };
    let cookies = if page.settings.cookies.is_empty() {
        view! { <p class="empty">"No cookies listed yet. List every cookie your website sets, with the purpose it serves, so visitors can see what they agree to."</p> }.into_any()
    } else {
        let rows = page
            .settings
            .cookies
            .iter()
            .map(|c| {
                let edit = can.then(|| {
                    let href = format!("{base}/cookies/{}", c.id);
                    view! { <a href=href>"Edit"<span class="visually-hidden">{format!(" {}", c.name)}</span></a> }
                });
                view! {
                    <tr>
                        <td><code>{c.name.clone()}</code></td>
                        <td>{c.provider.clone()}</td>
                        <td>{c.domain.clone()}</td>
                        <td>{c.duration.clone()}</td>
                        <td>{party_label(&c.party)}</td>
                        <td><code>{c.purpose.clone()}</code></td>
                        <td>{edit}</td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <div class="table-wrap"><table>
                <thead><tr>
                    <th scope="col">"Cookie"</th><th scope="col">"Provider"</th><th scope="col">"Domain"</th>
                    <th scope="col">"Duration"</th><th scope="col">"Party"</th><th scope="col">"Purpose"</th>
                    <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                </tr></thead>
                <tbody>{rows}</tbody>
            </table></div>
        }
        .into_any()
    };
    let versions = if page.settings.versions.is_empty() {
        view! { <p class="empty">"Nothing is published yet: the first purpose you save publishes version 1."</p> }.into_any()
    } else {
        page.settings
            .versions
            .iter()
            .map(|v| {
                let keys: Vec<String> = serde_json::from_value::<Vec<crate::domain::consent::PublishedPurpose>>(v.purposes.clone())
                    .unwrap_or_default()
                    .into_iter()
                    .map(|p| p.key)
                    .collect();
                view! {
                    <li>
                        <strong>{format!("Version {}", v.version)}</strong>
                        {format!(" · {} · ", when(v.created_at))}
                        <code>{v.content_hash.chars().take(12).collect::<String>()}</code>
                        {format!(" · {}", if keys.is_empty() { "no purposes".to_owned() } else { keys.join(", ") })}
                    </li>
                }
            })
            .collect_view()
            .into_any()
    };
    let origins = if page.settings.allowed_origins.is_empty() {
        "None yet: the banner cannot record choices until you add your website's origin under Clinic settings.".to_owned()
    } else {
        page.settings.allowed_origins.join(", ")
    };
    let public_page = format!("/c/{}/cookies", page.access.slug);
    let records = format!("{base}/records");
    let add_purpose = can
        .then(|| view! { <a class="btn" href=format!("{base}/purposes/new")>"Add a purpose"</a> });
    let add_cookie =
        can.then(|| view! { <a class="btn" href=format!("{base}/cookies/new")>"Add a cookie"</a> });
    view! {
        <AdminLayout title="Consent and cookies" clinic=page.access.clone() section=Section::Consent>
            <section class="card">
                <h2>"Banner for your website"</h2>
                <p>"Paste this tag into every page of your website. Scripts that need consent are written as "
                    <code>"<script type=\"text/plain\" data-consent-purpose=\"analytics\">"</code>
                    " and run only after the visitor accepts that purpose. Browsers that send Global Privacy Control are recorded as opting out."</p>
                <pre class="snippet"><code>{page.snippet.clone()}</code></pre>
                <dl class="facts">
                    <dt>"Website origins allowed to record choices"</dt><dd>{origins}</dd>
                    <dt>"Settings page (works without JavaScript)"</dt><dd><a href=public_page.clone()>{public_page.clone()}</a></dd>
                </dl>
                <p><a href=records>"Consent records and opt-in rates"</a></p>
            </section>
            <section class="card stack-top">
                <div class="section-header"><h2>"Purposes"</h2>{add_purpose}</div>
                <p class="muted">"Every change to what visitors are asked publishes a new configuration version; visitors who chose before are asked again."</p>
                {purposes}
            </section>
            <section class="card stack-top" id="cookies">
                <div class="section-header"><h2>"Cookie inventory"</h2>{add_cookie}</div>
                {cookies}
            </section>
            <section class="card stack-top">
                <h2>"Configuration versions"</h2>
                <ul class="plain-list">{versions}</ul>
            </section>
        </AdminLayout>
    }
}

/// `/admin/c/{clinic}/consent/purposes/new` and `/…/purposes/{id}`.
#[component]
pub fn PurposeFormPage() -> impl IntoView {
    let slug = clinic_slug();
    let id = param("id");
    let content = Suspend::new(async move {
        match api::admin_purpose(&slug, id).await {
            Ok((access, row)) => {
                let base = format!("/admin/c/{}/consent", access.slug);
                let form = row.as_ref().map(|r| r.form()).unwrap_or_default();
                let (title, action) = match &row {
                    Some(r) => (
                        format!("Edit purpose {}", r.key),
                        format!("{base}/purposes/{}", r.id),
                    ),
                    None => ("Add a purpose".to_owned(), format!("{base}/purposes/new")),
                };
                let channels = Channel::options();
                let archive = row.as_ref().map(|r| {
                    let action = format!("{base}/purposes/{}", r.id);
                    view! {
                        <form method="post" action=action class="card stack-top confirm">
                            <CsrfField/>
                            <input type="hidden" name="intent" value="archive"/>
                            <h2>"Archive this purpose"</h2>
                            <p>"Visitors will no longer be asked about it and a new configuration version is published. Its past consent records are kept."</p>
                            <Checkbox name="confirm" label="Yes, stop asking about this purpose" checked=false/>
                            <div class="actions"><button type="submit" class="btn danger">"Archive purpose"</button></div>
                        </form>
                    }
                });
                view! {
                    <AdminLayout title=title.clone() clinic=access section=Section::Consent>
                        <ErrorSummary/>
                        <form method="post" action=action class="card" novalidate>
                            <CsrfField/>
                            <TextField name="key" label="Key" value=form.key.clone() required=true
                                hint="Lowercase letters, digits and underscores, e.g. analytics. It names the purpose in your website's HTML (data-consent-purpose) and in the API."/>
                            <SelectField name="channel" label="Asked of" value=form.channel.clone() options=channels/>
                            <TextField name="name_en" label="Name (English)" value=form.name_en.clone() required=true/>
                            <TextField name="name_uk" label="Name (Ukrainian)" value=form.name_uk.clone() hint="Optional: English is shown when empty."/>
                            <TextArea name="description_en" label="What it is for (English)" value=form.description_en.clone() rows=3/>
                            <TextArea name="description_uk" label="What it is for (Ukrainian)" value=form.description_uk.clone() rows=3/>
                            <SelectField name="legal_basis" label="Legal basis" value=form.legal_basis.clone() options=LegalBasis::options()/>
                            <Checkbox name="strictly_necessary" label="Strictly necessary (always on, needs no consent)" checked=form.strictly_necessary/>
                            <TextField name="position" label="Order" value=form.position.clone() hint="Smaller numbers are listed first."/>
                            <div class="actions"><button type="submit" class="btn">"Save purpose"</button><a class="btn secondary" href=base>"Cancel"</a></div>
                        </form>
                        {archive}
                    </AdminLayout>
                }
                .into_any()
            }
            Err(error) => view! { <Layout><PageErrorView error/></Layout> }.into_any(),
        }
    });
    view! { <Suspense fallback=|| ()>{content}</Suspense> }
}

/// `/admin/c/{clinic}/consent/cookies/new` and `/…/cookies/{id}`.
#[component]
pub fn CookieFormPage() -> impl IntoView {
    let slug = clinic_slug();
    let id = param("id");
    let content = Suspend::new(async move {
        match api::admin_cookie(&slug, id).await {
            Ok((access, row, purposes)) => {
                let base = format!("/admin/c/{}/consent", access.slug);
                let form = row.as_ref().map(|r| r.form()).unwrap_or_default();
                let (title, action) = match &row {
                    Some(r) => (
                        format!("Edit cookie {}", r.name),
                        format!("{base}/cookies/{}", r.id),
                    ),
                    None => ("Add a cookie".to_owned(), format!("{base}/cookies/new")),
                };
                let parties = Party::options();
                let no_purpose = purposes.is_empty().then(|| view! {
                    <div class="alert warning" role="status"><p>"Add a website purpose first: every cookie serves one."</p></div>
                });
                let remove = row.as_ref().map(|r| {
                    let action = format!("{base}/cookies/{}", r.id);
                    view! {
                        <form method="post" action=action class="card stack-top confirm">
                            <CsrfField/>
                            <input type="hidden" name="intent" value="delete"/>
                            <h2>"Remove from the inventory"</h2>
                            <Checkbox name="confirm" label="Yes, remove this cookie from the list" checked=false/>
                            <div class="actions"><button type="submit" class="btn danger">"Remove cookie"</button></div>
                        </form>
                    }
                });
                view! {
                    <AdminLayout title=title.clone() clinic=access section=Section::Consent>
                        {no_purpose}
                        <ErrorSummary/>
                        <form method="post" action=action class="card" novalidate>
                            <CsrfField/>
                            <TextField name="name" label="Cookie name" value=form.name.clone() required=true/>
                            <TextField name="domain" label="Domain" value=form.domain.clone() required=true hint="e.g. clinic.example"/>
                            <TextField name="provider" label="Provider" value=form.provider.clone() required=true/>
                            <TextField name="duration" label="Duration" value=form.duration.clone() required=true hint="e.g. Session, 30 days, 2 years"/>
                            <SelectField name="party" label="Set by" value=field_value("party", form.party.clone()) options=parties/>
                            <SelectField name="purpose" label="Purpose" value=form.purpose.clone() options=purposes/>
                            <div class="actions"><button type="submit" class="btn">"Save cookie"</button><a class="btn secondary" href=format!("{base}#cookies")>"Cancel"</a></div>
                        </form>
                        {remove}
                    </AdminLayout>
                }
                .into_any()
            }
            Err(error) => view! { <Layout><PageErrorView error/></Layout> }.into_any(),
        }
    });
    view! { <Suspense fallback=|| ()>{content}</Suspense> }
}

fn records_href(page: u32, extra: &str) -> String {
    if extra.is_empty() {
        format!("?page={page}")
    } else {
        format!("?{extra}&page={page}")
    }
}

/// `/admin/c/{clinic}/consent/records`: search, chart and export.
#[component]
pub fn ConsentRecordsPage() -> impl IntoView {
    let slug = clinic_slug();
    let content = Suspend::new(async move {
        match api::admin_records(&slug).await {
            Ok(page) => consent_records(page).into_any(),
            Err(error) => view! { <Layout><PageErrorView error/></Layout> }.into_any(),
        }
    });
    view! { <Suspense fallback=|| ()>{content}</Suspense> }
}

fn consent_records(page: api::AdminRecords) -> impl IntoView {
    let base = format!("/admin/c/{}/consent/records", page.access.slug);
    let sources = std::iter::once((String::new(), "Any source".to_owned()))
        .chain(Source::options())
        .collect::<Vec<_>>();
    let given = std::iter::once((String::new(), "Any".to_owned()))
        .chain(page.purposes.iter().map(|k| (k.clone(), k.clone())))
        .collect::<Vec<_>>();
    let filter = page.filter.clone();
    let problems = (!page.problems.is_empty()).then(|| {
        let items = page
            .problems
            .iter()
            .map(|p| view! { <li>{p.clone()}</li> })
            .collect_view();
        view! { <div class="alert warning" role="status"><ul>{items}</ul></div> }
    });
    let export = page.can_export.then(|| {
        let href = if page.query.is_empty() {
            format!("{base}.csv")
        } else {
            format!("{base}.csv?{}", page.query)
        };
        view! { <a class="btn secondary" href=href download="">"Export CSV"</a> }
    });
    let table = if page.records.items.is_empty() {
        view! { <p class="empty">"No consent records match. Records appear when visitors choose on the banner or the settings page."</p> }.into_any()
    } else {
        let rows = page
            .records
            .items
            .iter()
            .map(|item| {
                let r = &item.record;
                let choices = r
                    .choices
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| {
                                format!(
                                    "{k}: {}",
                                    if v.as_bool() == Some(true) {
                                        "yes"
                                    } else {
                                        "no"
                                    }
                                )
                            })
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                let source = r.source.parse::<Source>().map_or("", Source::label);
                view! {
                    <tr>
                        <td>{when(r.recorded_at)}</td>
                        <td><code class="wrap">{r.subject_id.clone()}</code></td>
                        <td>{item.version}</td>
                        <td>{source}</td>
                        <td>{if r.gpc { "Yes" } else { "No" }}</td>
                        <td>{choices}</td>
                        <td><code class="wrap">{r.id.to_string()}</code></td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <div class="table-wrap"><table>
                <thead><tr>
                    <th scope="col">"Recorded"</th><th scope="col">"Subject"</th><th scope="col">"Version"</th>
                    <th scope="col">"Source"</th><th scope="col">"GPC"</th><th scope="col">"Choices"</th><th scope="col">"Record"</th>
                </tr></thead>
                <tbody>{rows}</tbody>
            </table></div>
        }
        .into_any()
    };
    let pages = page.records.pages();
    view! {
        <AdminLayout title="Consent records" clinic=page.access.clone() section=Section::Consent>
            <section class="card">
                <h2>"Opt-in rate per purpose"</h2>
                <OptInChart rates=page.rates.clone()/>
            </section>
            <form method="get" action=base.clone() class="card stack-top filters" role="search">
                <TextField name="subject" label="Subject or record id" value=filter.subject.clone().unwrap_or_default()/>
                <SelectField name="source" label="Source" value=filter.source.map(|s| s.as_str().to_owned()).unwrap_or_default() options=sources/>
                <SelectField name="given" label="Consent given to" value=filter.given.clone().unwrap_or_default() options=given/>
                <TextField name="from" label="From" kind="date" value=filter.from.map(|d| d.to_string()).unwrap_or_default()/>
                <TextField name="to" label="To" kind="date" value=filter.to.map(|d| d.to_string()).unwrap_or_default()/>
                <div class="actions"><button type="submit" class="btn">"Search"</button><a class="btn secondary" href=base.clone()>"Clear"</a>{export}</div>
            </form>
            {problems}
            <section class="card stack-top">
                <h2>{format!("{} records", page.records.total)}</h2>
                {table}
                <Pager page=page.records.page pages=pages total=page.records.total href=records_href extra=page.query.clone()/>
            </section>
        </AdminLayout>
    }
}
