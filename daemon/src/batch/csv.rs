//! CSV as RFC 4180 writes it: comma-separated, fields in double quotes may hold commas,
//! line breaks and doubled quotes. Enough for batch files and manifests.

/// The records of `text` with the line each starts on (1-based); `Err` names the line of an
/// unclosed quote.
pub fn records(text: &str) -> Result<Vec<(usize, Vec<String>)>, String> {
    let mut out = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut line = 1;
    let mut start = 1;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => {
                if c == '\n' {
                    line += 1;
                }
                field.push(c);
            }
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                push_record(&mut out, start, std::mem::take(&mut record));
                line += 1;
                start = line;
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err(format!("line {start}: a quoted field is never closed"));
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        push_record(&mut out, start, record);
    }
    Ok(out)
}

/// Keeps a record unless it is a blank line.
fn push_record(out: &mut Vec<(usize, Vec<String>)>, line: usize, record: Vec<String>) {
    if !(record.len() == 1 && record[0].trim().is_empty()) {
        out.push((line, record));
    }
}

/// One field as CSV writes it: quoted when it holds a comma, a quote or a line break.
pub fn field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_commas_and_line_breaks_round_trip() {
        let text = "prompt,seed\n\"a fox, red\",1\n\n\"two\nlines \"\"q\"\"\",2\r\nlast,3";
        let got = records(text).unwrap();
        assert_eq!(got[0], (1, vec!["prompt".into(), "seed".into()]));
        assert_eq!(got[1], (2, vec!["a fox, red".into(), "1".into()]));
        assert_eq!(got[2], (4, vec!["two\nlines \"q\"".into(), "2".into()]));
        assert_eq!(got[3], (6, vec!["last".into(), "3".into()]));
        assert_eq!(field("a,\"b\""), "\"a,\"\"b\"\"\"");
        assert!(records("a\n\"open").unwrap_err().contains("line 2"));
    }
}
