//! Charts and badges drawn on the server as inline SVG: the pages need no JavaScript, no
//! fonts and no request to anywhere. Colors come from CSS classes, so the charts follow the
//! page's light or dark scheme; every number in the output is ours and every text is escaped.

use std::fmt::Write;

use super::render::escape as html_escape;

/// One bar of a duration chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub duration_ms: i64,
    /// CSS class of the bar: the run's status (`succeeded`, `failed`, ...).
    pub status: String,
    /// Tooltip text.
    pub label: String,
}

/// A small line of the latest durations, oldest first, for the jobs table.
pub fn sparkline(durations_oldest_first: &[i64]) -> String {
    const WIDTH: f64 = 100.0;
    const HEIGHT: f64 = 20.0;
    if durations_oldest_first.len() < 2 {
        return String::new();
    }
    let max = durations_oldest_first
        .iter()
        .copied()
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let step = WIDTH / (durations_oldest_first.len() - 1) as f64;
    let mut points = String::new();
    for (index, duration) in durations_oldest_first.iter().enumerate() {
        let x = index as f64 * step;
        let y = HEIGHT - 1.0 - (*duration as f64 / max) * (HEIGHT - 2.0);
        let _ = write!(points, "{x:.0},{y:.0} ");
    }
    let longest =
        crate::display::duration_ms(durations_oldest_first.iter().copied().max().unwrap_or(0));
    format!(
        "<svg class=\"spark\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"100\" height=\"20\" role=\"img\" aria-label=\"durations of the last {} runs, longest {}\"><polyline points=\"{}\"/></svg>",
        durations_oldest_first.len(),
        html_escape(&longest),
        points.trim_end()
    )
}

/// A bar chart of durations, oldest first, each bar colored by status.
pub fn duration_chart(bars_oldest_first: &[Bar]) -> String {
    const HEIGHT: f64 = 80.0;
    const BAR: f64 = 8.0;
    const GAP: f64 = 2.0;
    if bars_oldest_first.is_empty() {
        return String::new();
    }
    let max = bars_oldest_first
        .iter()
        .map(|b| b.duration_ms)
        .max()
        .unwrap_or(1)
        .max(1);
    // At least room for 40 bars, so a young job's few bars stay bars, not blocks.
    let width = (bars_oldest_first.len().max(40)) as f64 * (BAR + GAP);
    let mut out = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {width:.0} {}\" role=\"img\" aria-label=\"durations of the last {} runs, longest {}\">",
        HEIGHT + 12.0,
        bars_oldest_first.len(),
        html_escape(&crate::display::duration_ms(max))
    );
    for (index, bar) in bars_oldest_first.iter().enumerate() {
        let height = ((bar.duration_ms.max(0) as f64 / max as f64) * HEIGHT).max(1.0);
        let x = index as f64 * (BAR + GAP);
        let _ = write!(
            out,
            "<rect class=\"{}\" x=\"{x:.0}\" y=\"{:.1}\" width=\"{BAR:.0}\" height=\"{height:.1}\"><title>{}</title></rect>",
            css_class(&bar.status),
            HEIGHT - height,
            html_escape(&bar.label)
        );
    }
    let _ = write!(
        out,
        "<line class=\"axis\" x1=\"0\" y1=\"{HEIGHT}\" x2=\"{width:.0}\" y2=\"{HEIGHT}\"/><text x=\"0\" y=\"{}\">max {}</text></svg>",
        HEIGHT + 11.0,
        html_escape(&crate::display::duration_ms(max))
    );
    out
}

/// Bars of counts per day, oldest first (the registry's 30 days of messages); each bar's
/// tooltip is its `labels` entry.
pub fn day_bars(counts_oldest_first: &[u64], labels: &[String], what: &str, span: &str) -> String {
    const HEIGHT: f64 = 40.0;
    const BAR: f64 = 6.0;
    const GAP: f64 = 2.0;
    let max = counts_oldest_first
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .max(1);
    let total: u64 = counts_oldest_first.iter().sum();
    let width = counts_oldest_first.len() as f64 * (BAR + GAP);
    let mut out = format!(
        "<svg class=\"chart days\" viewBox=\"0 0 {width:.0} {}\" role=\"img\" aria-label=\"{} {} {} {} days, at most {max} a day\">",
        HEIGHT + 1.0,
        total,
        html_escape(what),
        html_escape(span),
        counts_oldest_first.len()
    );
    for (index, count) in counts_oldest_first.iter().enumerate() {
        let height = if *count == 0 {
            0.0
        } else {
            ((*count as f64 / max as f64) * HEIGHT).max(1.0)
        };
        let x = index as f64 * (BAR + GAP);
        let label = labels.get(index).map_or("", String::as_str);
        let _ = write!(
            out,
            "<rect class=\"succeeded\" x=\"{x:.0}\" y=\"{:.1}\" width=\"{BAR:.0}\" height=\"{height:.1}\"><title>{}: {count}</title></rect>",
            HEIGHT - height,
            html_escape(label)
        );
    }
    let _ = write!(
        out,
        "<line class=\"axis\" x1=\"0\" y1=\"{HEIGHT}\" x2=\"{width:.0}\" y2=\"{HEIGHT}\"/></svg>"
    );
    out
}

/// A shields-style badge: `label | message`, colored by `status`.
pub fn badge(label: &str, message: &str, status: &str) -> String {
    // Verdana-ish 11px averages about 6.5 px per character; close enough for a badge.
    let width_of = |text: &str| 10 + text.chars().count() * 7;
    let (left, right) = (width_of(label), width_of(message));
    let total = left + right;
    let color = match status {
        "succeeded" => "#2e7d32",
        "failed" | "timed_out" | "interrupted" => "#c62828",
        "running" => "#1565c0",
        _ => "#6d6d6d",
    };
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{total}\" height=\"20\" role=\"img\" aria-label=\"{label}: {message}\">\
<title>{label}: {message}</title>\
<rect width=\"{left}\" height=\"20\" fill=\"#555\"/><rect x=\"{left}\" width=\"{right}\" height=\"20\" fill=\"{color}\"/>\
<g fill=\"#fff\" font-family=\"Verdana,DejaVu Sans,sans-serif\" font-size=\"11\" text-anchor=\"middle\">\
<text x=\"{}\" y=\"14\">{label}</text><text x=\"{}\" y=\"14\">{message}</text></g></svg>\n",
        left / 2,
        left + right / 2,
        label = html_escape(label),
        message = html_escape(message),
    )
}

/// A status usable as a CSS class: only letters and `_`.
fn css_class(status: &str) -> String {
    status
        .chars()
        .filter(|c| c.is_ascii_alphabetic() || *c == '_')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_scale_to_the_longest_run_and_escape_labels() {
        let bars = vec![
            Bar {
                duration_ms: 1000,
                status: "succeeded".into(),
                label: "run 1".into(),
            },
            Bar {
                duration_ms: 4000,
                status: "failed\"><script>".into(),
                label: "<script>alert(1)</script>".into(),
            },
        ];
        let svg = duration_chart(&bars);
        assert!(svg.contains("height=\"80.0\""), "{svg}");
        assert!(svg.contains("height=\"20.0\""), "{svg}");
        assert!(svg.contains("class=\"failedscript\""), "{svg}");
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;"), "{svg}");
        assert_eq!(duration_chart(&[]), "");
        assert_eq!(sparkline(&[5]), "");
        assert!(sparkline(&[5, 10]).contains("points=\"0,10 100,1\""));
        let badge = badge("team/standup", "<b>", "failed");
        assert!(badge.contains("&lt;b&gt;") && badge.contains("#c62828"));
    }
}
