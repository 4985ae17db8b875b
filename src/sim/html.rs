//! The HTML report: the comparison table and three inline SVG charts (load per
//! manager, answer-time distribution, callers waiting over the day). One file, no
//! scripts, no external fonts or CDNs, so it can be mailed or opened offline.

use std::fmt::Write;

use super::report::{ANSWER_BINS, Comparison};

const COLORS: [&str; 6] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
];
const W: f64 = 760.0;
const H: f64 = 260.0;
const LEFT: f64 = 50.0;
const BOTTOM: f64 = 40.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn color(i: usize) -> &'static str {
    COLORS.get(i % COLORS.len()).copied().unwrap_or("#000")
}

/// A grouped bar chart: one group per label, one bar per series.
fn bars(title: &str, labels: &[String], series: &[(String, Vec<f64>)], unit: &str) -> String {
    let max = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let plot_w = W - LEFT - 10.0;
    let plot_h = H - BOTTOM - 20.0;
    let group = plot_w / labels.len().max(1) as f64;
    let bar = (group * 0.8) / series.len().max(1) as f64;
    let mut s = String::new();
    let _ = write!(
        s,
        "<h2>{}</h2><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" \
         role=\"img\" aria-label=\"{}\">",
        esc(title),
        esc(title)
    );
    axes(&mut s, max, unit);
    for (si, (_, values)) in series.iter().enumerate() {
        for (li, v) in values.iter().enumerate() {
            let h = v / max * plot_h;
            let x = LEFT + li as f64 * group + group * 0.1 + si as f64 * bar;
            let y = 20.0 + plot_h - h;
            let _ = write!(
                s,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{}\">\
                 <title>{v:.1}</title></rect>",
                (bar - 1.0).max(1.0),
                color(si)
            );
        }
    }
    for (li, l) in labels.iter().enumerate() {
        let x = LEFT + (li as f64 + 0.5) * group;
        let _ = write!(
            s,
            "<text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
            H - BOTTOM + 16.0,
            esc(l)
        );
    }
    s.push_str("</svg>");
    s
}

fn axes(s: &mut String, max: f64, unit: &str) {
    let plot_h = H - BOTTOM - 20.0;
    let _ = write!(
        s,
        "<line x1=\"{LEFT}\" y1=\"20\" x2=\"{LEFT}\" y2=\"{:.1}\" stroke=\"#333\"/>\
         <line x1=\"{LEFT}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#333\"/>",
        20.0 + plot_h,
        20.0 + plot_h,
        W - 10.0,
        20.0 + plot_h
    );
    for k in 0..=4 {
        let v = max * f64::from(k) / 4.0;
        let y = 20.0 + plot_h - plot_h * f64::from(k) / 4.0;
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\">{v:.0}{}</text>\
             <line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>",
            LEFT - 4.0,
            y + 3.0,
            esc(unit),
            W - 10.0
        );
    }
}

/// A line chart of `series` sampled every `step_secs` from the start.
fn lines(title: &str, series: &[(String, Vec<u32>)], step_secs: u64) -> String {
    let n = series
        .iter()
        .map(|(_, v)| v.len())
        .max()
        .unwrap_or(0)
        .max(2);
    let max = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    let plot_w = W - LEFT - 10.0;
    let plot_h = H - BOTTOM - 20.0;
    let mut s = String::new();
    let _ = write!(
        s,
        "<h2>{}</h2><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" \
         role=\"img\" aria-label=\"{}\">",
        esc(title),
        esc(title)
    );
    axes(&mut s, f64::from(max), "");
    for (si, (_, v)) in series.iter().enumerate() {
        let points: Vec<String> = v
            .iter()
            .enumerate()
            .map(|(i, y)| {
                let x = LEFT + i as f64 / (n - 1) as f64 * plot_w;
                let y = 20.0 + plot_h - f64::from(*y) / f64::from(max) * plot_h;
                format!("{x:.1},{y:.1}")
            })
            .collect();
        let _ = write!(
            s,
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" points=\"{}\"/>",
            color(si),
            points.join(" ")
        );
    }
    for k in 0..=4 {
        let i = (n - 1) * k / 4;
        let x = LEFT + i as f64 / (n - 1) as f64 * plot_w;
        let secs = i as u64 * step_secs;
        let _ = write!(
            s,
            "<text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\">+{}h{:02}</text>",
            H - BOTTOM + 16.0,
            secs / 3600,
            secs % 3600 / 60
        );
    }
    s.push_str("</svg>");
    s
}

/// The whole report as one HTML document.
pub fn render(c: &Comparison) -> String {
    let mut s = String::from(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Switchboard simulation</title><style>body{font-family:sans-serif;margin:2em}\
         pre{background:#f6f6f6;padding:1em}.key span{display:inline-block;width:12px;\
         height:12px;margin:0 4px 0 12px}</style></head><body><h1>Switchboard simulation</h1>",
    );
    let _ = write!(
        s,
        "<p>Traffic: {} · seed {}</p><p class=\"key\">",
        esc(&c.traffic),
        c.seed
    );
    for (i, p) in c.plans.iter().enumerate() {
        let _ = write!(
            s,
            "<span style=\"background:{}\"></span>{}",
            color(i),
            esc(&p.plan)
        );
    }
    let _ = write!(s, "</p><pre>{}</pre>", esc(&c.to_table()));

    let mut names: Vec<String> = c
        .plans
        .iter()
        .flat_map(|p| p.managers.iter().map(|m| m.name.clone()))
        .collect();
    names.sort();
    names.dedup();
    let load: Vec<(String, Vec<f64>)> = c
        .plans
        .iter()
        .map(|p| {
            let v = names
                .iter()
                .map(|n| {
                    p.managers
                        .iter()
                        .find(|m| &m.name == n)
                        .map_or(0.0, |m| f64::from(m.calls))
                })
                .collect();
            (p.plan.clone(), v)
        })
        .collect();
    s.push_str(&bars("Calls answered per manager", &names, &load, ""));

    let mut bins: Vec<String> = Vec::new();
    let mut lo = 0.0;
    for edge in ANSWER_BINS {
        bins.push(format!("{lo:.0}-{edge:.0}s"));
        lo = edge;
    }
    bins.push(format!("{lo:.0}s+"));
    let hist: Vec<(String, Vec<f64>)> = c
        .plans
        .iter()
        .map(|p| {
            let v = p.answer_histogram.iter().map(|n| *n as f64).collect();
            (p.plan.clone(), v)
        })
        .collect();
    s.push_str(&bars("Time to answer (answered calls)", &bins, &hist, ""));

    let queue: Vec<(String, Vec<u32>)> = c
        .plans
        .iter()
        .map(|p| (p.plan.clone(), p.queue_length.clone()))
        .collect();
    let step = c.plans.first().map_or(300, |p| p.queue_bin_secs);
    s.push_str(&lines(
        "Callers waiting (most per 5 minutes, from the start of the day)",
        &queue,
        step,
    ));
    s.push_str("</body></html>\n");
    s
}
