//! Form controls that keep what the user typed and show what is wrong with
//! it, next to the field and in a summary at the top.

use leptos::prelude::*;

use crate::api::forms::CSRF_FIELD;
use crate::api::guard::visitor;
use crate::api::render::FormState;
use crate::i18n::{tr, tr_or_raw};

/// The submitted form being re-rendered, if any.
pub fn form_state() -> Option<FormState> {
    use_context::<FormState>()
}

/// What to show in field `name`: the submitted value after a failed POST,
/// otherwise `stored`.
pub fn field_value(name: &str, stored: impl Into<String>) -> String {
    form_state()
        .and_then(|f| f.value(name))
        .unwrap_or_else(|| stored.into())
}

/// The problem with field `name` after a failed POST, in the page's language.
pub fn field_error(name: &str) -> Option<String> {
    form_state().and_then(|f| f.errors.get(name).map(tr_or_raw))
}

/// The hidden per-session form token every POST form carries.
#[component]
pub fn CsrfField() -> impl IntoView {
    let token = visitor().csrf.unwrap_or_default();
    view! { <input type="hidden" name=CSRF_FIELD value=token/> }
}

/// A summary of the form's problems, linking to each field, under `title`
/// when given.
#[component]
pub fn ErrorSummary(#[prop(optional, into)] title: Option<String>) -> impl IntoView {
    let state = form_state();
    let message = state.as_ref().and_then(|s| s.message.clone());
    let errors: Vec<(String, String)> = state
        .map(|s| {
            s.errors
                .iter()
                .map(|(f, m)| (f.to_owned(), m.to_owned()))
                .collect()
        })
        .unwrap_or_default();
    (message.is_some() || !errors.is_empty()).then(|| {
        let title = title.filter(|_| !errors.is_empty());
        let items = errors
            .into_iter()
            .map(|(field, message)| {
                let href = format!("#field-{field}");
                view! { <li><a href=href>{message}</a></li> }
            })
            .collect_view();
        view! {
            <div class="alert error" role="alert" tabindex="-1">
                {title.map(|t| view! { <h2 class="alert-title">{t}</h2> })}
                {message.map(|m| view! { <p><strong>{tr_or_raw(&m)}</strong></p> })}
                <ul class="error-list">{items}</ul>
            </div>
        }
    })
}

fn described_by(name: &str, hint: bool, error: bool) -> Option<String> {
    let mut ids = Vec::new();
    if hint {
        ids.push(format!("field-{name}-hint"));
    }
    if error {
        ids.push(format!("field-{name}-error"));
    }
    (!ids.is_empty()).then(|| ids.join(" "))
}

/// A labelled one-line input.
#[component]
pub fn TextField(
    name: &'static str,
    #[prop(into)] label: String,
    #[prop(into)] value: String,
    #[prop(optional, into)] hint: Option<String>,
    #[prop(default = "text")] kind: &'static str,
    #[prop(optional)] required: bool,
    #[prop(optional)] autocomplete: Option<&'static str>,
) -> impl IntoView {
    let error = field_error(name);
    let value = field_value(name, value);
    let id = format!("field-{name}");
    let described = described_by(name, hint.is_some(), error.is_some());
    let class = if error.is_some() {
        "field has-error"
    } else {
        "field"
    };
    view! {
        <div class=class>
            <label for=id.clone()>{label}{required.then(|| format!(" {}", tr("form-required")))}</label>
            {hint.map(|h| view! { <span class="hint" id=format!("field-{name}-hint")>{h}</span> })}
            {error.clone().map(|e| view! { <span class="error-message" id=format!("field-{name}-error")>{e}</span> })}
            <input
                type=kind
                id=id
                name=name
                value=value
                required=required
                autocomplete=autocomplete
                aria-invalid=error.is_some().then_some("true")
                aria-describedby=described
            />
        </div>
    }
}

/// Text for the inside of a `<textarea>`, which Leptos writes without
/// escaping: the browser decodes these entities, and `</textarea>` typed by
/// a user cannot close the element.
pub fn rcdata(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A labelled multi-line input.
#[component]
pub fn TextArea(
    name: &'static str,
    #[prop(into)] label: String,
    #[prop(into)] value: String,
    #[prop(optional, into)] hint: Option<String>,
    #[prop(default = 4)] rows: u32,
) -> impl IntoView {
    let error = field_error(name);
    let value = field_value(name, value);
    let id = format!("field-{name}");
    let described = described_by(name, hint.is_some(), error.is_some());
    let class = if error.is_some() {
        "field has-error"
    } else {
        "field"
    };
    view! {
        <div class=class>
            <label for=id.clone()>{label}</label>
            {hint.map(|h| view! { <span class="hint" id=format!("field-{name}-hint")>{h}</span> })}
            {error.clone().map(|e| view! { <span class="error-message" id=format!("field-{name}-error")>{e}</span> })}
            <textarea
                id=id
                name=name
                rows=rows
                aria-invalid=error.is_some().then_some("true")
                aria-describedby=described
            >
                {rcdata(&value)}
            </textarea>
        </div>
    }
}

/// A labelled drop-down; `options` are `(value, label)`.
#[component]
pub fn SelectField(
    name: &'static str,
    #[prop(into)] label: String,
    #[prop(into)] value: String,
    options: Vec<(String, String)>,
    #[prop(optional, into)] hint: Option<String>,
) -> impl IntoView {
    let error = field_error(name);
    let value = field_value(name, value);
    let id = format!("field-{name}");
    let described = described_by(name, hint.is_some(), error.is_some());
    let class = if error.is_some() {
        "field has-error"
    } else {
        "field"
    };
    let options = options
        .into_iter()
        .map(|(option, text)| {
            let selected = option == value;
            view! { <option value=option selected=selected>{text}</option> }
        })
        .collect_view();
    view! {
        <div class=class>
            <label for=id.clone()>{label}</label>
            {hint.map(|h| view! { <span class="hint" id=format!("field-{name}-hint")>{h}</span> })}
            {error.clone().map(|e| view! { <span class="error-message" id=format!("field-{name}-error")>{e}</span> })}
            <select id=id name=name aria-invalid=error.is_some().then_some("true") aria-describedby=described>
                {options}
            </select>
        </div>
    }
}

/// A labelled checkbox, with the id `field-{name}` unless `id` is given (a
/// page with several forms that each have a box of one name gives each box
/// its own id, since ids are unique in a document).
#[component]
pub fn Checkbox(
    name: &'static str,
    #[prop(into)] label: String,
    checked: bool,
    #[prop(optional, into)] hint: Option<String>,
    #[prop(optional, into)] id: Option<String>,
) -> impl IntoView {
    let submitted = form_state().map(|f| f.value(name).is_some());
    let checked = submitted.unwrap_or(checked);
    let id = id.unwrap_or_else(|| format!("field-{name}"));
    view! {
        <div class="field">
            <div class="checkbox">
                <input type="checkbox" id=id.clone() name=name value="on" checked=checked/>
                <label for=id>{label}</label>
            </div>
            {hint.map(|h| view! { <span class="hint">{h}</span> })}
        </div>
    }
}

/// A group of checkboxes sharing `name`, one per `(value, label)` option;
/// a re-rendered form ticks what was submitted.
#[component]
pub fn CheckboxGroup(
    name: &'static str,
    #[prop(into)] legend: String,
    options: Vec<(String, String)>,
    selected: Vec<String>,
    #[prop(optional, into)] hint: Option<String>,
) -> impl IntoView {
    let error = field_error(name);
    let submitted: Option<Vec<String>> = form_state().map(|f| {
        f.values
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    });
    let selected = submitted.unwrap_or(selected);
    let class = if error.is_some() {
        "field has-error"
    } else {
        "field"
    };
    let boxes = options
        .into_iter()
        .map(|(value, label)| {
            let id = format!("field-{name}-{value}");
            let checked = selected.contains(&value);
            view! {
                <div class="checkbox">
                    <input type="checkbox" id=id.clone() name=name value=value checked=checked/>
                    <label for=id>{label}</label>
                </div>
            }
        })
        .collect_view();
    view! {
        <fieldset class=class id=format!("field-{name}")>
            <legend>{legend}</legend>
            {hint.map(|h| view! { <span class="hint">{h}</span> })}
            {error.map(|e| view! { <span class="error-message">{e}</span> })}
            {boxes}
        </fieldset>
    }
}
