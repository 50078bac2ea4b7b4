//! A small aligned-text table for the CLI's human output: columns padded to their widest
//! cell, two spaces apart, numbers right-aligned, the last column never padded (so long bodies
//! do not leave trailing blanks).

/// How a column's cells line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Right,
}

/// Rows of cells under a header row (or none, for field/value listings).
#[derive(Debug)]
pub(crate) struct Table {
    header: Option<Vec<String>>,
    align: Vec<Align>,
    rows: Vec<Vec<String>>,
}

/// The gap between two columns.
const GAP: &str = "  ";

impl Table {
    /// A table with these column headers, every column left-aligned.
    pub(crate) fn new(header: &[&str]) -> Table {
        Table {
            header: Some(header.iter().map(|h| (*h).to_owned()).collect()),
            align: vec![Align::Left; header.len()],
            rows: Vec::new(),
        }
    }

    /// Field names and their values, one per line, without a header.
    pub(crate) fn fields(pairs: Vec<(&str, String)>) -> Table {
        Table {
            header: None,
            align: vec![Align::Left; 2],
            rows: pairs
                .into_iter()
                .map(|(name, value)| vec![name.to_owned(), value])
                .collect(),
        }
    }

    /// Right-aligns the columns at these indexes (counts and durations).
    pub(crate) fn right(mut self, columns: &[usize]) -> Table {
        for &column in columns {
            if let Some(align) = self.align.get_mut(column) {
                *align = Align::Right;
            }
        }
        self
    }

    /// Adds a row; missing cells are blank, extra ones are dropped.
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as lines of text, each ending in a newline.
    pub(crate) fn render(&self) -> String {
        let columns = self.align.len();
        let lines: Vec<&Vec<String>> = self.header.iter().chain(&self.rows).collect();
        let mut widths = vec![0; columns];
        for line in &lines {
            for (width, cell) in widths.iter_mut().zip(line.iter()) {
                *width = (*width).max(display_width(cell));
            }
        }
        let mut out = String::new();
        for line in lines {
            let mut text = String::new();
            for (index, width) in widths.iter().enumerate() {
                let cell = line.get(index).map_or("", String::as_str);
                if index > 0 {
                    text.push_str(GAP);
                }
                let pad = width.saturating_sub(display_width(cell));
                let last = index + 1 == columns;
                match self.align.get(index) {
                    Some(Align::Right) => {
                        text.extend(std::iter::repeat_n(' ', pad));
                        text.push_str(cell);
                    }
                    _ => {
                        text.push_str(cell);
                        if !last {
                            text.extend(std::iter::repeat_n(' ', pad));
                        }
                    }
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        }
        out
    }
}

/// A cell's width on a terminal, counted in characters (close enough without a Unicode
/// width table: ids and settings are ASCII; only bodies may not be, and they come last).
fn display_width(cell: &str) -> usize {
    cell.chars().count()
}

/// A duration in seconds as people read it: `45s`, `5m`, `1h30m`, `14d`, `2d3h`.
pub(crate) fn duration(seconds: i64) -> String {
    if seconds < 0 {
        return format!("{seconds}s");
    }
    let units = [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)];
    let mut left = seconds;
    let mut parts = Vec::new();
    for (name, size) in units {
        let count = left / size;
        if count > 0 {
            parts.push(format!("{count}{name}"));
            left -= count * size;
        }
        // Two units are precise enough for a table (`1d2h`, not `1d2h3m4s`).
        if parts.len() == 2 {
            break;
        }
    }
    if parts.is_empty() {
        "0s".to_owned()
    } else {
        parts.concat()
    }
}

/// Text for one table cell or line: control characters (a body's newlines, tabs) escaped, so
/// that a cell stays on its line.
pub(crate) fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_one_line(&mut out, text);
    out
}

/// Appends `text` to `out` with its control characters escaped (`\n`, `\t`, `\r`, `\u{1b}`).
pub(crate) fn push_one_line(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod unit {
    use super::{Table, duration, one_line};

    #[test]
    fn columns_line_up_and_the_last_is_not_padded() {
        let mut table = Table::new(&["ID", "COUNT", "NOTE"]).right(&[1]);
        table.row(vec!["orders".into(), "5".into(), "x".into()]);
        table.row(vec!["a".into(), "12345".into(), String::new()]);
        table.row(vec!["b".into()]);
        assert_eq!(
            table.render(),
            "ID      COUNT  NOTE\n\
             orders      5  x\n\
             a       12345\n\
             b\n"
        );
    }

    #[test]
    fn fields_have_no_header() {
        let table = Table::fields(vec![("id", "q".into()), ("ack_deadline", "30s".into())]);
        assert_eq!(table.render(), "id            q\nack_deadline  30s\n");
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(45), "45s");
        assert_eq!(duration(300), "5m");
        assert_eq!(duration(5400), "1h30m");
        assert_eq!(duration(1_209_600), "14d");
        assert_eq!(duration(90_061), "1d1h");
        assert_eq!(duration(-3), "-3s");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(one_line("a\nb\tc\\d\u{1b}"), "a\\nb\\tc\\\\d\\u{1b}");
        assert_eq!(one_line("héllo"), "héllo");
    }
}
