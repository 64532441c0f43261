//! Terminal output made readable for an agent: escape sequences removed,
//! carriage-return redraws collapsed, and bounded to the last lines and
//! bytes asked for.

/// At most this many bytes of text go back in one tool result.
pub const MAX_BYTES: usize = 64 * 1024;

/// `raw` terminal output as plain text: no escape sequences, `\r\n` as
/// `\n`, and of a line redrawn with `\r` (a progress bar) only what was
/// drawn last; then its last `lines` lines, and at most [`MAX_BYTES`]
/// (whole lines from the end), with a first line saying what was left out.
pub fn plain_tail(raw: &str, lines: usize) -> String {
    // Redraws first: stripping escapes removes every other control too.
    let mut plain: Vec<String> = raw
        .split('\n')
        .map(|line| {
            let line = line.strip_suffix('\r').unwrap_or(line);
            strip_ansi_escapes::strip_str(line.rsplit('\r').next().unwrap_or(line))
        })
        .collect();
    if plain.last().is_some_and(String::is_empty) {
        plain.pop();
    }
    let kept: Vec<&str> = plain.iter().map(String::as_str).collect();
    tail(&kept, lines)
}

/// The last `lines` of `all`, within [`MAX_BYTES`], one per line.
pub fn tail(all: &[&str], lines: usize) -> String {
    let mut start = all.len().saturating_sub(lines);
    let mut size: usize = all[start..].iter().map(|l| l.len() + 1).sum();
    while size > MAX_BYTES && start < all.len() {
        size -= all[start].len() + 1;
        start += 1;
    }
    let mut out = String::with_capacity(size + 64);
    if start > 0 && all.len() - start < lines {
        out.push_str(&format!("[{start} earlier lines left out: over {} KiB]\n", MAX_BYTES / 1024));
    }
    for line in &all[start..] {
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_redraws_go_and_the_tail_is_kept() {
        let raw = "\x1b[1;32mready\x1b[0m\r\none\r\n10%\r50%\r100%\r\nlast";
        assert_eq!(plain_tail(raw, 10), "ready\none\n100%\nlast\n");
        assert_eq!(plain_tail(raw, 2), "100%\nlast\n");
        assert_eq!(plain_tail("", 5), "");
    }

    #[test]
    fn a_huge_tail_is_cut_to_whole_lines_and_says_so() {
        let line = "x".repeat(1000);
        let all: Vec<&str> = std::iter::repeat_n(line.as_str(), 200).collect();
        let out = tail(&all, 200);
        assert!(out.len() <= MAX_BYTES + 64, "{}", out.len());
        let first = out.lines().next().unwrap();
        assert!(first.starts_with("[135 earlier lines left out"), "{first}");
        assert!(out.lines().skip(1).all(|l| l == line));
    }
}
