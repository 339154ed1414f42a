//! The answers-over-time chart: inline SVG drawn on the server (a bar per
//! day), labelled for screen readers, with the same numbers as a table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::NaiveDate;
use maud::{Markup, PreEscaped, html};

/// Days drawn at most (the latest).
pub(crate) const MAX_DAYS: usize = 90;

const WIDTH: u32 = 640;
const HEIGHT: u32 = 200;
const PAD: u32 = 24;

/// The chart of `per_day` (answers counted on each day) and its table.
pub(crate) fn answers(per_day: &BTreeMap<NaiveDate, u64>) -> Markup {
    let days: Vec<(&NaiveDate, &u64)> = per_day
        .iter()
        .rev()
        .take(MAX_DAYS)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    if days.is_empty() {
        return html! { p data-chart="empty" { "No answers yet." } };
    }
    let total: u64 = days.iter().map(|(_, n)| **n).sum();
    let max = days.iter().map(|(_, n)| **n).max().unwrap_or(1).max(1);
    let first = days.first().map(|(d, _)| d.to_string()).unwrap_or_default();
    let last = days.last().map(|(d, _)| d.to_string()).unwrap_or_default();
    let n = u32::try_from(days.len()).unwrap_or(1);
    let slot = (WIDTH - 2 * PAD) / n.max(1);
    let bar = slot.saturating_sub(2).max(1);
    let plot = HEIGHT - 2 * PAD;
    let mut bars = String::new();
    for (i, (day, count)) in days.iter().enumerate() {
        let i = u32::try_from(i).unwrap_or(0);
        let h = u32::try_from(**count * u64::from(plot) / max).unwrap_or(plot);
        let x = PAD + i * slot;
        let y = PAD + plot - h;
        let _ = write!(
            bars,
            "<rect x=\"{x}\" y=\"{y}\" width=\"{bar}\" height=\"{h}\" fill=\"#1a5fb4\">\
             <title>{day}: {count}</title></rect>"
        );
    }
    let summary = format!("{total} answers from {first} to {last}; the busiest day had {max}.");
    html! {
        figure data-chart="answers" {
            svg xmlns="http://www.w3.org/2000/svg" role="img" width=(WIDTH) height=(HEIGHT)
                viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } aria-labelledby="chart-title chart-desc" {
                title id="chart-title" { "Answers per day" }
                desc id="chart-desc" { (summary) }
                line x1=(PAD) y1=(HEIGHT - PAD) x2=(WIDTH - PAD) y2=(HEIGHT - PAD) stroke="#555" {}
                text x=(PAD) y=(HEIGHT - 6) font-size="12" fill="#333" { (first) }
                text x=(WIDTH - PAD) y=(HEIGHT - 6) font-size="12" fill="#333" text-anchor="end" { (last) }
                text x=(PAD) y=(PAD - 8) font-size="12" fill="#333" { (max) " at most" }
                (PreEscaped(bars))
            }
            figcaption { (summary) }
        }
        details {
            summary { "The chart's numbers" }
            table class="console-table" data-chart-table="answers" {
                caption { "Answers per day" }
                thead { tr { th scope="col" { "Day" } th scope="col" class="n" { "Answers" } } }
                tbody {
                    @for (d, c) in &days {
                        tr { th scope="row" { (d.to_string()) } td class="n" { (c) } }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_has_a_bar_per_day_and_a_table() {
        let mut m = BTreeMap::new();
        m.insert(NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(), 3);
        m.insert(NaiveDate::from_ymd_opt(2026, 12, 2).unwrap(), 6);
        let s = answers(&m).into_string();
        assert_eq!(s.matches("<rect").count(), 2);
        assert!(s.contains("role=\"img\""));
        assert!(s.contains("<title id=\"chart-title\">Answers per day</title>"));
        assert!(s.contains("9 answers from 2026-12-01 to 2026-12-02"));
        assert!(s.contains("<th scope=\"row\">2026-12-02</th><td class=\"n\">6</td>"));
        // The busiest day fills the plot.
        assert!(s.contains("height=\"152\""), "{s}");
        assert!(
            answers(&BTreeMap::new())
                .into_string()
                .contains("No answers yet")
        );
    }
}
