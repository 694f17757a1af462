//! Turning byte offsets into the `line:column` people and editors jump to.

/// 1-based line and column (in characters, so Korean text counts one per syllable) of `offset`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::line_column;

    #[test]
    fn counts_lines_and_characters() {
        let text = "a = 1\nname = \"회의\" x\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        let x = text.find(" x").expect("x") + 1;
        assert_eq!(line_column(text, x), (2, 13));
        assert_eq!(line_column(text, 10_000), (3, 1));
    }
}
