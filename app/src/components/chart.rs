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
            <figcaption>
                <ul class="legend">{legend}</ul>
            </figcaption>
            <table class="visually-hidden">
                <caption>"Privacy requests per week by kind"</caption>
                <thead><tr><th scope="col">"Week"</th>{heads}</tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </figure>
    }
}
