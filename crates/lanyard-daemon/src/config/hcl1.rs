//! Accepting HCL v1 habits with an HCL2 parser.
//!
//! SPIRE decodes its files with HashiCorp's HCL v1, which is looser about layout than HCL2:
//! a block may hold nested blocks on one line (`NodeAttestor "join_token" { plugin_data {} }`)
//! and block items may be separated by commas (`ca_subject { country = ["US"], ... }`).
//! Before parsing, [`relax_hcl1_layout`] puts a line break after every `{`, before every
//! `}`, after a `}` that ends a block and between items written on one line
//! (`{ a = "x" b = 1 }`), and turns commas that separate block items into line breaks. Strings, comments and
//! heredocs are copied untouched. The inserted characters are recorded so that offsets in
//! the relaxed text map back to the original, keeping line numbers in messages exact.

/// The relaxed text and where characters were inserted into it.
pub(crate) struct Relaxed {
    pub(crate) text: String,
    /// Offsets, in `text`, of the inserted characters (sorted).
    pub(crate) inserted: Vec<usize>,
}

impl Relaxed {
    /// Maps an offset in the relaxed text to the offset in the original text.
    #[cfg(test)]
    fn original_offset(&self, offset: usize) -> usize {
        original_offset(&self.inserted, offset)
    }
}

/// Maps an offset in a relaxed text to the original, given the inserted offsets.
pub(crate) fn original_offset(inserted: &[usize], offset: usize) -> usize {
    offset - inserted.partition_point(|&at| at < offset)
}

struct Frame {
    is_block: bool,
    bracket_depth: usize,
    /// An `=` was seen on this line at this level: the next name after a value starts a
    /// new item.
    in_value: bool,
}

impl Frame {
    fn new(is_block: bool) -> Self {
        Self {
            is_block,
            bracket_depth: 0,
            in_value: false,
        }
    }
}

/// Rewrites HCL v1 layout into something HCL2 parses, without moving any original line.
pub(crate) fn relax_hcl1_layout(src: &str) -> Relaxed {
    let mut out = String::with_capacity(src.len() + src.len() / 8);
    let mut inserted = Vec::new();
    let mut frames = vec![Frame::new(true)];
    let bytes = src.as_bytes();
    let mut i = 0;

    while i < bytes.len() {
        let next = bytes.get(i + 1).copied();
        let end = match (bytes[i], next) {
            (b'"', _) => string_end(bytes, i),
            (b'#', _) | (b'/', Some(b'/')) => find_from(bytes, i, b"\n").unwrap_or(bytes.len()),
            (b'/', Some(b'*')) => find_from(bytes, i + 2, b"*/").map_or(bytes.len(), |e| e + 2),
            (b'<', Some(b'<')) => heredoc_end(src, i).unwrap_or(i + 2),
            (b'{', _) => {
                frames.push(Frame::new(opens_block(&out)));
                out.push('{');
                inserted.push(out.len());
                out.push('\n');
                i += 1;
                continue;
            }
            (b'}', _) => {
                let closes_block = frames.len() > 1 && frames.pop().is_some_and(|f| f.is_block);
                inserted.push(out.len());
                out.push('\n');
                out.push('}');
                if closes_block {
                    inserted.push(out.len());
                    out.push('\n');
                }
                i += 1;
                continue;
            }
            (b'[' | b'(', _) => {
                if let Some(frame) = frames.last_mut() {
                    frame.bracket_depth += 1;
                }
                i + 1
            }
            (b']' | b')', _) => {
                if let Some(frame) = frames.last_mut() {
                    frame.bracket_depth = frame.bracket_depth.saturating_sub(1);
                }
                i + 1
            }
            (b',', _) => {
                let frame = frames.last_mut();
                let separates_block_items = frame.is_some_and(|f| {
                    let separates = f.is_block && f.bracket_depth == 0;
                    f.in_value &= !separates;
                    separates
                });
                out.push(if separates_block_items { '\n' } else { ',' });
                i += 1;
                continue;
            }
            (b'=', _) => {
                if let Some(frame) = frames.last_mut().filter(|f| f.bracket_depth == 0) {
                    frame.in_value = true;
                }
                i + 1
            }
            (b'\n', _) => {
                if let Some(frame) = frames.last_mut().filter(|f| f.bracket_depth == 0) {
                    frame.in_value = false;
                }
                i + 1
            }
            (c, _) if c.is_ascii_alphabetic() || c == b'_' => {
                let starts_item = frames
                    .last_mut()
                    .filter(|f| f.bracket_depth == 0 && f.in_value && follows_value(&out));
                if let Some(frame) = starts_item {
                    frame.in_value = false;
                    inserted.push(out.len());
                    out.push('\n');
                }
                identifier_end(bytes, i)
            }
            _ => next_char_boundary(src, i),
        };
        out.push_str(&src[i..end]);
        i = end;
    }

    Relaxed {
        text: out,
        inserted,
    }
}

/// A `{` after `=`, `:`, `[`, `(` or `,` starts an object value; otherwise (after a block
/// name or label) it starts a block body.
fn opens_block(out: &str) -> bool {
    !matches!(
        out.trim_end().chars().next_back(),
        Some('=' | ':' | '[' | '(' | ',')
    )
}

/// True when `out` ends with a complete value and a space: `a = "x" ` or `a = 1 `.
fn follows_value(out: &str) -> bool {
    let trimmed = out.trim_end_matches([' ', '\t']);
    trimmed.len() < out.len()
        && trimmed.ends_with(|c: char| {
            c.is_ascii_alphanumeric() || matches!(c, '"' | ']' | '}' | ')' | '_' | '.')
        })
        && !trimmed.ends_with('=')
}

fn identifier_end(bytes: &[u8], start: usize) -> usize {
    bytes[start..]
        .iter()
        .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-')))
        .map_or(bytes.len(), |p| p + start)
}

fn next_char_boundary(src: &str, i: usize) -> usize {
    (i + 1..=src.len())
        .find(|&j| src.is_char_boundary(j))
        .unwrap_or(src.len())
}

fn find_from(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// The end (exclusive) of the quoted string starting at `start`, including any `${...}`
/// inside it; an unterminated string ends at the line break so the parser reports it.
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    let mut interpolation_depth = 0usize;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'\n' => return i,
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                interpolation_depth += 1;
                i += 1;
            }
            b'}' if interpolation_depth > 0 => interpolation_depth -= 1,
            b'"' if interpolation_depth == 0 => return i + 1,
            _ => {}
        }
        i += 1;
    }
    bytes.len()
}

/// The end (exclusive) of a heredoc `<<EOF` / `<<-EOF` starting at `start`: just after the
/// line holding only the delimiter.
fn heredoc_end(src: &str, start: usize) -> Option<usize> {
    let header_end = src[start..].find('\n')? + start;
    let header = src[start + 2..header_end].trim_end();
    let delimiter = header.strip_prefix('-').unwrap_or(header);
    if delimiter.is_empty()
        || !delimiter
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return None;
    }

    let mut line_start = header_end + 1;
    while line_start <= src.len() {
        let line_end = src[line_start..]
            .find('\n')
            .map_or(src.len(), |e| e + line_start);
        if src[line_start..line_end].trim() == delimiter {
            return Some(line_end);
        }
        if line_end == src.len() {
            return None;
        }
        line_start = line_end + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relaxed(src: &str) -> String {
        relax_hcl1_layout(src).text
    }

    #[test]
    fn nested_blocks_on_one_line_are_split() {
        assert_eq!(
            relaxed(r#"A "x" { plugin_data {} }"#),
            "A \"x\" {\n plugin_data {\n\n}\n \n}\n"
        );
    }

    #[test]
    fn commas_between_block_items_become_line_breaks() {
        assert_eq!(
            relaxed("s { a = [\"x\", \"y\"], b = 1, }"),
            "s {\n a = [\"x\", \"y\"]\n b = 1\n \n}\n"
        );
    }

    #[test]
    fn items_on_one_line_are_split() {
        assert_eq!(
            relaxed("d { a = \"x\" b = 1 c = true d = [1] }"),
            "d {\n a = \"x\" \nb = 1 \nc = true \nd = [1] \n}\n"
        );
        assert_eq!(relaxed("a = true\nb = 2"), "a = true\nb = 2");
    }

    #[test]
    fn object_values_keep_their_commas() {
        assert_eq!(relaxed("s = { a = 1, b = 2 }"), "s = {\n a = 1, b = 2 \n}");
    }

    #[test]
    fn strings_comments_and_heredocs_are_untouched() {
        let src = "a = \"{,}${x}\" # {,}\n// {,}\n/* {,} */\nb = <<EOF\n{,}\nEOF\n";
        assert_eq!(relaxed(src), src);
    }

    #[test]
    fn offsets_map_back_to_the_original() {
        let src = "a { b {} }\nc = 1";
        let relaxed = relax_hcl1_layout(src);
        let c_in_relaxed = relaxed.text.find('c').expect("c kept");
        assert_eq!(
            relaxed.original_offset(c_in_relaxed),
            src.find('c').expect("c")
        );
    }

    #[test]
    fn unterminated_constructs_do_not_panic() {
        for src in [
            "a = \"open",
            "b = <<EOF\nnever closed",
            "/* open",
            "x = <<",
            "}}}{",
        ] {
            let _ = relax_hcl1_layout(src);
        }
    }
}
