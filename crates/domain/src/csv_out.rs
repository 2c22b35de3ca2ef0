//! CSV exports (SEC-48): every cell quoted, and a cell that a spreadsheet would run as a
//! formula (starting with `=`, `+`, `-`, `@`, a tab, a carriage return or NUL) prefixed with
//! `'` so that it is shown as text.

/// One cell, quoted, with formula escaping.
#[must_use]
pub fn cell(text: &str) -> String {
    let risky = text
        .chars()
        .next()
        .is_some_and(|c| matches!(c, '=' | '+' | '-' | '@' | '\t' | '\r' | '\0'));
    let text = if risky {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// A CSV document being written: a header line, then rows, lines ended by CRLF.
#[derive(Debug, Clone)]
pub struct Table {
    out: String,
    rows: usize,
}

impl Table {
    /// A table with these column names.
    #[must_use]
    pub fn new(header: &[&str]) -> Self {
        let mut t = Self {
            out: String::new(),
            rows: 0,
        };
        t.line(header);
        t.rows = 0;
        t
    }

    fn line(&mut self, cells: &[&str]) {
        let line: Vec<String> = cells.iter().map(|c| cell(c)).collect();
        self.out.push_str(&line.join(","));
        self.out.push_str("\r\n");
        self.rows += 1;
    }

    /// Adds a row.
    pub fn row(&mut self, cells: &[&str]) {
        self.line(cells);
    }

    /// Adds every item of a paged list, page after page: `fetch(after)` answers a page's items
    /// and the cursor of the next page, `cells` turns an item into its row.
    ///
    /// # Errors
    /// The first error `fetch` answers; the rows added before it stay.
    pub async fn all_pages<T, E, Fut>(
        &mut self,
        mut fetch: impl FnMut(Option<String>) -> Fut,
        cells: impl Fn(&T) -> Vec<String>,
    ) -> Result<(), E>
    where
        Fut: std::future::Future<Output = Result<(Vec<T>, Option<String>), E>>,
    {
        let mut after = None;
        loop {
            let (items, next) = fetch(after.take()).await?;
            for item in &items {
                let row = cells(item);
                let refs: Vec<&str> = row.iter().map(String::as_str).collect();
                self.line(&refs);
            }
            match next {
                Some(n) => after = Some(n),
                None => return Ok(()),
            }
        }
    }

    /// Rows added (the header not counted).
    #[must_use]
    pub const fn rows(&self) -> usize {
        self.rows
    }

    /// The document.
    #[must_use]
    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sec_48_csv_cells_never_start_a_formula() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("+1"), "\"'+1\"");
        assert_eq!(cell("-1"), "\"'-1\"");
        assert_eq!(cell("@SUM(A1)"), "\"'@SUM(A1)\"");
        assert_eq!(cell("\tx"), "\"'\tx\"");
        assert_eq!(cell("Ann"), "\"Ann\"");
        let mut t = Table::new(&["a", "b"]);
        t.row(&["=1", "x"]);
        assert_eq!(t.rows(), 1);
        assert_eq!(t.finish(), "\"a\",\"b\"\r\n\"'=1\",\"x\"\r\n");
    }
}
