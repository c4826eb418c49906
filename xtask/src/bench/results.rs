//! The figures of a run: the `ROW` lines of the measurements, looked up by key, and how
//! numbers are written in the report's tables.

/// The index of the median of `values` (the upper one of an even count); `None` if empty.
/// Figures measured in turns with their reference report the median run: on this shared VM a
/// single run of either side can be far off (P1's no-op server once measured 5,313/s between
/// runs of 4,471–4,960/s), and the best of a few runs followed such outliers.
pub(super) fn median_index(values: &[f64]) -> Option<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    order.get(values.len() / 2).copied()
}

/// One result line of a measurement.
#[derive(Clone)]
pub(super) struct Row {
    pub key: String,
    pub label: String,
    pub value: f64,
    pub unit: String,
    pub note: String,
}

#[derive(Default)]
pub(super) struct Results {
    pub rows: Vec<Row>,
}

impl Results {
    pub fn get(&self, key: &str) -> Option<f64> {
        self.rows.iter().find(|r| r.key == key).map(|r| r.value)
    }

    pub fn with_prefix(&self, prefix: &str) -> Vec<&Row> {
        self.rows
            .iter()
            .filter(|r| r.key.starts_with(prefix))
            .collect()
    }

    pub fn push(&mut self, key: &str, label: &str, value: f64, unit: &str, note: &str) {
        eprintln!("xtask: {key} = {value} {unit} ({label}; {note})");
        self.rows.push(Row {
            key: key.into(),
            label: label.into(),
            value,
            unit: unit.into(),
            note: note.into(),
        });
    }

    pub fn parse(&mut self, stdout: &str) {
        for line in stdout.lines() {
            let Some(rest) = line.strip_prefix("ROW ") else {
                continue;
            };
            let f: Vec<&str> = rest.splitn(5, " | ").collect();
            if let [key, label, value, unit, note] = f[..] {
                if let Ok(v) = value.parse() {
                    self.push(key, label, v, unit, note);
                }
            }
        }
    }
}

/// Number formatting for tables: thousands separators for large values, a few significant
/// digits for small ones.
pub(super) fn num(v: f64) -> String {
    if !v.is_finite() {
        return "—".into();
    }
    let a = v.abs();
    if a >= 1000.0 {
        let s = format!("{:.0}", v.abs());
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        if v < 0.0 {
            out.insert(0, '-');
        }
        out
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_index_picks_the_middle_run() {
        assert_eq!(
            median_index(&[5313.0, 4471.0, 4960.0, 4565.0, 4567.0]),
            Some(4)
        );
        assert_eq!(median_index(&[2.0, 1.0]), Some(0), "the upper of two");
        assert_eq!(median_index(&[]), None);
    }

    #[test]
    fn rows_are_parsed_and_looked_up() {
        let mut r = Results::default();
        r.parse("progress\nROW a.b | label | 12.5 | MB/s | a | note with | bars\nROW bad | x | nan? | u | n\n");
        assert_eq!(r.get("a.b"), Some(12.5));
        assert_eq!(r.rows[0].note, "a | note with | bars");
        assert_eq!(r.get("bad"), None);
    }

    #[test]
    fn numbers_are_formatted_for_tables() {
        assert_eq!(num(412_345.4), "412,345");
        assert_eq!(num(1000.0), "1,000");
        assert_eq!(num(123.4), "123");
        assert_eq!(num(12.34), "12.3");
        assert_eq!(num(1.234), "1.23");
    }
}
