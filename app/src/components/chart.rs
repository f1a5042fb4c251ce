//! A stacked bar chart drawn as SVG on the server, with the same numbers in
//! a table for screen readers.

use leptos::prelude::*;

use crate::domain::requests::RequestKind;

const COLOURS: [&str; 8] = [
    "#0b5c6b", "#2f7fb4", "#7a5ea8", "#b5465a", "#c9782a", "#5f8a2c", "#4d6b7a", "#8c8c8c",
];

/// Requests per week, stacked by kind.
#[component]
pub fn WeeklyRequestsChart(
    weeks: Vec<(chrono::NaiveDate, Vec<(RequestKind, i64)>)>,
) -> impl IntoView {
    let (width, height, left, bottom) = (640.0_f64, 220.0_f64, 32.0_f64, 28.0_f64);
    let max = weeks
        .iter()
        .map(|(_, kinds)| kinds.iter().map(|(_, n)| *n).sum::<i64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let slot = (width - left) / weeks.len().max(1) as f64;
    let scale = (height - bottom - 10.0) / max as f64;
    let bars = weeks
        .iter()
        .enumerate()
        .flat_map(|(i, (_, kinds))| {
            let x = left + i as f64 * slot + slot * 0.15;
            let mut y = height - bottom;
            kinds
                .iter()
                .enumerate()
                .filter(|(_, (_, n))| *n > 0)
                .map(|(k, (kind, n))| {
                    let h = *n as f64 * scale;
                    y -= h;
                    let title = format!("{}: {n}", kind.label());
                    view! {
                        <rect x=format!("{x:.1}") y=format!("{y:.1}") width=format!("{:.1}", slot * 0.7) height=format!("{h:.1}") fill=COLOURS[k % COLOURS.len()]>
                            <title>{title}</title>
                        </rect>
                    }
                })
                .collect::<Vec<_>>()
        })
        .collect_view();
    let labels = weeks
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 2 == 0)
        .map(|(i, (week, _))| {
            let x = left + i as f64 * slot + slot / 2.0;
            view! { <text x=format!("{x:.1}") y=format!("{:.1}", height - 8.0) text-anchor="middle" class="axis">{week.format("%d %b").to_string()}</text> }
        })
        .collect_view();
    let legend = RequestKind::ALL
        .iter()
        .enumerate()
        .map(|(k, kind)| {
            view! {
                <li>
                    <svg class="swatch" viewBox="0 0 10 10" aria-hidden="true"><rect width="10" height="10" rx="2" fill=COLOURS[k % COLOURS.len()]/></svg>
                    {kind.label()}
                </li>
            }
        })
        .collect_view();
    let rows = weeks
        .iter()
        .map(|(week, kinds)| {
            let cells = kinds
                .iter()
                .map(|(_, n)| view! { <td>{*n}</td> })
                .collect_view();
            view! { <tr><th scope="row">{week.to_string()}</th>{cells}</tr> }
        })
        .collect_view();
    let heads = RequestKind::ALL
        .iter()
        .map(|k| view! { <th scope="col">{k.label()}</th> })
        .collect_view();
    view! {
        <figure class="chart">
            <svg viewBox=format!("0 0 {width} {height}") role="img" aria-labelledby="weekly-title">
                <title id="weekly-title">{format!("Privacy requests per week by kind, most in one week: {max}")}</title>
                <line x1=left y1=height - bottom x2=width y2=height - bottom stroke="#8a98a6"/>
                <text x="4" y="16" class="axis">{max}</text>
                {bars}
                {labels}
            </svg>
            <table class="visually-hidden">
                <caption>"Privacy requests per week by kind"</caption>
                <thead><tr><th scope="col">"Week"</th>{heads}</tr></thead>
                <tbody>{rows}</tbody>
            </table>
            <figcaption>
                <ul class="legend">{legend}</ul>
            </figcaption>
        </figure>
    }
}

/// Share of records that gave each optional purpose, per week, as one line
/// per purpose; the same numbers in a table for screen readers.
#[component]
pub fn OptInChart(rates: Vec<crate::domain::consent::WeeklyRate>) -> impl IntoView {
    if rates.is_empty() {
        return view! { <p class="empty">"No choices recorded in the last weeks yet."</p> }
            .into_any();
    }
    let (width, height, left, bottom) = (640.0_f64, 220.0_f64, 40.0_f64, 28.0_f64);
    let mut weeks: Vec<chrono::NaiveDate> = rates.iter().map(|r| r.0).collect();
    weeks.sort();
    weeks.dedup();
    let mut purposes: Vec<String> = rates.iter().map(|r| r.1.clone()).collect();
    purposes.sort();
    purposes.dedup();
    let slot = (width - left - 10.0) / (weeks.len().max(2) - 1) as f64;
    let x = |week: &chrono::NaiveDate| {
        left + weeks.iter().position(|w| w == week).unwrap_or(0) as f64 * slot
    };
    let y = |share: f64| height - bottom - share * (height - bottom - 12.0);
    let share = |given: i64, total: i64| {
        if total > 0 {
            given as f64 / total as f64
        } else {
            0.0
        }
    };
    let lines = purposes
        .iter()
        .enumerate()
        .map(|(k, purpose)| {
            let points: Vec<String> = rates
                .iter()
                .filter(|r| &r.1 == purpose)
                .map(|r| format!("{:.1},{:.1}", x(&r.0), y(share(r.2, r.3))))
                .collect();
            let colour = COLOURS[k % COLOURS.len()];
            let dots = rates
                .iter()
                .filter(|r| &r.1 == purpose)
                .map(|r| {
                    let title = format!("{purpose}, week of {}: {:.0}% of {}", r.0, share(r.2, r.3) * 100.0, r.3);
                    view! { <circle cx=format!("{:.1}", x(&r.0)) cy=format!("{:.1}", y(share(r.2, r.3))) r="3.5" fill=colour><title>{title}</title></circle> }
                })
                .collect_view();
            view! {
                <polyline points=points.join(" ") fill="none" stroke=colour stroke-width="2"/>
                {dots}
            }
        })
        .collect_view();
    let labels = weeks
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 2 == 0)
        .map(|(_, week)| view! { <text x=format!("{:.1}", x(week)) y=format!("{:.1}", height - 8.0) text-anchor="middle" class="axis">{week.format("%d %b").to_string()}</text> })
        .collect_view();
    let legend = purposes
        .iter()
        .enumerate()
        .map(|(k, purpose)| view! {
            <li>
                <svg class="swatch" viewBox="0 0 10 10" aria-hidden="true"><rect width="10" height="10" rx="2" fill=COLOURS[k % COLOURS.len()]/></svg>
                {purpose.clone()}
            </li>
        })
        .collect_view();
    let rows = rates
        .iter()
        .map(|(week, purpose, given, total)| view! {
            <tr><th scope="row">{week.to_string()}</th><td>{purpose.clone()}</td><td>{*given}</td><td>{*total}</td>
            <td>{format!("{:.0}%", share(*given, *total) * 100.0)}</td></tr>
        })
        .collect_view();
    view! {
        <figure class="chart">
            <svg viewBox=format!("0 0 {width} {height}") role="img" aria-labelledby="optin-title">
                <title id="optin-title">"Share of visitors who gave each optional purpose, per week"</title>
                <line x1=left y1=height - bottom x2=width y2=height - bottom stroke="#8a98a6"/>
                <text x="4" y="16" class="axis">"100%"</text>
                <text x="4" y=format!("{:.1}", height - bottom) class="axis">"0%"</text>
                {lines}
                {labels}
            </svg>
            <table class="visually-hidden">
                <caption>"Opt-in rate per purpose and week"</caption>
                <thead><tr><th scope="col">"Week"</th><th scope="col">"Purpose"</th><th scope="col">"Given"</th><th scope="col">"Choices"</th><th scope="col">"Rate"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
            <figcaption><ul class="legend">{legend}</ul></figcaption>
        </figure>
    }
    .into_any()
}
