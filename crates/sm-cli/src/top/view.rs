//! Drawing a [`View`]: a title line, the streams table and the exports table.

use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Row, Table};
use ratatui::Frame;

use super::model::View;

fn rate(r: Option<f64>) -> String {
    r.map_or_else(|| "-".to_owned(), |r| format!("{r:.1}"))
}

fn seq(s: Option<i64>) -> String {
    s.map_or_else(|| "-".to_owned(), |s| s.to_string())
}

/// Bytes in IEC units (B, KiB, MiB, GiB).
fn bytes(b: i64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// Draws the whole screen.
pub(super) fn draw(f: &mut Frame<'_>, title: &str, v: &View) {
    let stream_rows = v.streams.len() as u16 + 3;
    // Names as wide as the longest (16 to 40 columns).
    let name_width = v
        .streams
        .iter()
        .map(|s| s.name.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(16, 40) as u16;
    let [top, streams, exports] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Max(stream_rows.max(4)),
        Constraint::Min(4),
    ])
    .areas(f.area());
    f.render_widget(
        Line::styled(title, Style::default().add_modifier(Modifier::BOLD)),
        top,
    );
    let head = Style::default().add_modifier(Modifier::BOLD);
    let rows = v.streams.iter().map(|s| {
        Row::new(vec![
            s.name.clone(),
            rate(s.rate),
            bytes(s.bytes),
            s.messages.to_string(),
            seq(s.oldest),
            seq(s.newest),
        ])
    });
    let t = Table::new(
        rows,
        [
            Constraint::Length(name_width),
            Constraint::Length(10),
            Constraint::Length(11),
            Constraint::Length(10),
            Constraint::Length(10),
            Constraint::Length(10),
            Constraint::Fill(1),
        ],
    )
    .header(
        Row::new(vec![
            "STREAM", "APPEND/S", "SIZE", "MESSAGES", "OLDEST", "NEWEST",
        ])
        .style(head),
    )
    .block(Block::default().borders(Borders::ALL).title(" Streams "));
    f.render_widget(t, streams);
    let rows = v.exports.iter().map(|e| {
        Row::new(vec![
            e.stream.clone(),
            if e.disabled {
                format!("{} (disabled)", e.export)
            } else {
                e.export.clone()
            },
            e.lag.to_string(),
            rate(e.rate),
            e.exported.to_string(),
            e.error.clone().unwrap_or_else(|| "-".to_owned()),
        ])
    });
    let t = Table::new(
        rows,
        [
            Constraint::Length(name_width),
            Constraint::Length(24),
            Constraint::Length(8),
            Constraint::Length(10),
            Constraint::Length(10),
            Constraint::Fill(1),
        ],
    )
    .header(
        Row::new(vec![
            "STREAM",
            "EXPORT",
            "LAG",
            "SENT/S",
            "EXPORTED",
            "LAST ERROR",
        ])
        .style(head),
    )
    .block(Block::default().borders(Borders::ALL).title(" Exports "));
    f.render_widget(t, exports);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::top::model::{ExportRow, StreamRow};
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    #[test]
    fn draws_both_tables() {
        let mut t = Terminal::new(TestBackend::new(100, 12)).unwrap();
        let v = View {
            streams: vec![StreamRow {
                name: "telemetry".into(),
                rate: Some(12.5),
                bytes: 3 * 1024 * 1024,
                messages: 40,
                oldest: Some(0),
                newest: Some(39),
            }],
            exports: vec![ExportRow {
                stream: "telemetry".into(),
                export: "http:sink".into(),
                disabled: false,
                lag: 7,
                rate: None,
                exported: 33,
                error: Some("HTTP 503".into()),
            }],
        };
        t.draw(|f| draw(f, "smctl top  x", &v)).unwrap();
        let screen: String = t
            .backend()
            .buffer()
            .content()
            .chunks(100)
            .map(|l| l.iter().map(|c| c.symbol()).collect::<String>() + "\n")
            .collect();
        let row: Vec<&str> = screen
            .lines()
            .find(|l| l.contains("telemetry") && l.contains("12.5"))
            .expect("the stream's row")
            .trim_matches('│')
            .split_whitespace()
            .collect();
        assert_eq!(
            row,
            ["telemetry", "12.5", "3.0", "MiB", "40", "0", "39"],
            "{screen}"
        );
        assert!(screen.contains("3.0 MiB"), "{screen}");
        assert!(screen.contains("http:sink"), "{screen}");
        assert!(screen.contains("HTTP 503"), "{screen}");
    }
}
