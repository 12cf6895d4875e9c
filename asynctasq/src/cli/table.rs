//! A tiny column formatter for the admin commands' listings.
//!
//! Columns are separated by two spaces, padded to the widest cell (counted in
//! characters), text aligned left and numbers right. Trailing spaces are
//! trimmed so the output diffs and greps cleanly.

use std::io::{self, Write};

/// How a column's cells line up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Align {
    /// Text: padded on the right.
    Left,
    /// Numbers: padded on the left.
    Right,
}

/// Rows of cells under a header, written with aligned columns.
#[derive(Debug)]
pub(crate) struct Table {
    header: Vec<&'static str>,
    align: Vec<Align>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these columns.
    pub(crate) fn new(columns: &[(&'static str, Align)]) -> Self {
        Table {
            header: columns.iter().map(|(h, _)| *h).collect(),
            align: columns.iter().map(|(_, a)| *a).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; it must have one cell per column.
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.header.len(), "one cell per column");
        self.rows.push(cells);
    }

    /// Writes the header and the rows.
    pub(crate) fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let header: Vec<String> = self.header.iter().map(|h| h.to_string()).collect();
        for row in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                let pad = widths[i].saturating_sub(cell.chars().count());
                match self.align[i] {
                    Align::Left => {
                        line.push_str(cell);
                        line.extend(std::iter::repeat_n(' ', pad));
                    }
                    Align::Right => {
                        line.extend(std::iter::repeat_n(' ', pad));
                        line.push_str(cell);
                    }
                }
            }
            writeln!(out, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

/// The first line of `text`, cut to at most `max` characters with `…` when longer.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    let first = text.lines().next().unwrap_or("").trim();
    let more_lines = text.trim().lines().nth(1).is_some();
    if first.chars().count() <= max && !more_lines {
        return first.to_string();
    }
    let keep = if first.chars().count() < max {
        first.chars().count()
    } else {
        max.saturating_sub(1)
    };
    let mut cut: String = first.chars().take(keep).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(table: &Table) -> String {
        let mut out = Vec::new();
        table.write(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn aligns_text_left_and_numbers_right() {
        let mut t = Table::new(&[("QUEUE", Align::Left), ("READY", Align::Right)]);
        t.row(vec!["emails".into(), "3".into()]);
        t.row(vec!["default".into(), "12345".into()]);
        assert_eq!(
            render(&t),
            "QUEUE    READY\n\
             emails       3\n\
             default  12345\n"
        );
    }

    #[test]
    fn counts_characters_not_bytes_and_trims_trailing_space() {
        let mut t = Table::new(&[("A", Align::Left), ("B", Align::Left)]);
        t.row(vec!["héllo".into(), "".into()]);
        assert_eq!(render(&t), "A      B\nhéllo\n");
    }

    #[test]
    fn truncates_to_the_first_line() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("exactly10!", 10), "exactly10!");
        assert_eq!(truncate("this is far too long", 10), "this is f…");
        assert_eq!(truncate("first\nsecond", 40), "first…");
        assert_eq!(truncate("  padded  ", 10), "padded");
        assert_eq!(truncate("", 10), "");
    }
}
