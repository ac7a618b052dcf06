//! Batch files as written: JSON Lines, CSV with a header row, or TOML with `[[rows]]`,
//! `[defaults]` and `[matrix]`. Each row becomes a JSON object of spec fields (plus `output`
//! and `style`); CSV cells are typed here by the field they are in.

use super::csv;
use genq_protocol::batch::{BatchFormat, RowProblem};
use serde_json::{Map, Value};

pub type Fields = Map<String, Value>;

/// A batch file read: its rows by row number, the file's defaults and matrix, and the rows
/// that could not be read at all.
#[derive(Debug, Default)]
pub struct SourceFile {
    pub rows: Vec<(u64, Fields)>,
    pub defaults: Fields,
    pub matrix: Vec<(String, Vec<Value>)>,
    pub problems: Vec<RowProblem>,
}

/// Row 0 stands for the file as a whole.
pub fn problem(row: u64, field: &str, message: impl Into<String>) -> RowProblem {
    RowProblem {
        row,
        field: field.to_string(),
        message: message.into(),
    }
}

pub fn read(format: BatchFormat, text: &str) -> SourceFile {
    match format {
        BatchFormat::Jsonl => read_jsonl(text),
        BatchFormat::Csv => read_csv(text),
        BatchFormat::Toml => read_toml(text),
    }
}

/// One object per line; blank lines and lines starting with `#` are skipped. Row numbers
/// count the rows, not the skipped lines.
fn read_jsonl(text: &str) -> SourceFile {
    let mut file = SourceFile::default();
    let lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    for (i, line) in lines.enumerate() {
        let row = i as u64 + 1;
        match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(fields)) => file.rows.push((row, fields)),
            Ok(_) => file
                .problems
                .push(problem(row, "row", "is not a JSON object")),
            Err(e) => file
                .problems
                .push(problem(row, "row", format!("is not valid JSON: {e}"))),
        }
    }
    file
}

fn read_csv(text: &str) -> SourceFile {
    let mut file = SourceFile::default();
    let records = match csv::records(text) {
        Ok(r) => r,
        Err(e) => {
            file.problems.push(problem(0, "file", e));
            return file;
        }
    };
    let mut records = records.into_iter();
    let Some((_, header)) = records.next() else {
        return file;
    };
    let header: Vec<String> = header.iter().map(|h| h.trim().to_string()).collect();
    for (i, (_, cells)) in records.enumerate() {
        let row = i as u64 + 1;
        if cells.len() > header.len() {
            file.problems.push(problem(
                row,
                "row",
                format!("has {} cells, the header {}", cells.len(), header.len()),
            ));
            continue;
        }
        let mut fields = Fields::new();
        let mut bad = false;
        for (name, cell) in header.iter().zip(cells) {
            if cell.trim().is_empty() {
                continue;
            }
            match typed_cell(name, cell.trim()) {
                Ok((key, value)) => insert_field(&mut fields, key, value),
                Err(message) => {
                    file.problems.push(problem(row, name, message));
                    bad = true;
                }
            }
        }
        if !bad {
            file.rows.push((row, fields));
        }
    }
    file
}

/// Puts a cell into the row; `params.KEY` columns land in the `params` object.
fn insert_field(fields: &mut Fields, key: String, value: Value) {
    match key.strip_prefix("params.") {
        Some(param) => {
            let params = fields
                .entry("params")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(p) = params {
                p.insert(param.to_string(), value);
            }
        }
        None => {
            fields.insert(key, value);
        }
    }
}

/// A CSV cell as the JSON value its column takes: numbers for `seed`, `steps`, `n`,
/// `guidance`; lists for `loras` (`REPO[:WEIGHT]` separated by `;`) and `store` (`;` or `,`);
/// `views` as `NAME=PATH;…`; `params` as a JSON object; a `params.KEY` cell as JSON when it
/// reads as JSON, else as text.
pub fn typed_cell(name: &str, cell: &str) -> Result<(String, Value), String> {
    let value = match name {
        "seed" | "steps" | "n" => Value::from(
            cell.parse::<i64>()
                .map_err(|_| format!("{cell:?} is not a whole number"))?,
        ),
        "guidance" => Value::from(
            cell.parse::<f64>()
                .ok()
                .filter(|g| g.is_finite())
                .ok_or_else(|| format!("{cell:?} is not a number"))?,
        ),
        "loras" => Value::Array(
            split_list(cell, &[';'])
                .map(|l| {
                    l.parse::<genq_protocol::Lora>()
                        .and_then(|l| serde_json::to_value(l).map_err(|e| e.to_string()))
                })
                .collect::<Result<_, _>>()?,
        ),
        "store" => Value::Array(split_list(cell, &[';', ',']).map(Value::from).collect()),
        "views" => {
            let mut views = Map::new();
            for pair in split_list(cell, &[';']) {
                let (k, v) = pair
                    .split_once('=')
                    .ok_or_else(|| format!("{pair:?} is not NAME=PATH"))?;
                views.insert(k.trim().to_string(), Value::from(v.trim()));
            }
            Value::Object(views)
        }
        "params" => match serde_json::from_str(cell) {
            Ok(Value::Object(m)) => Value::Object(m),
            _ => return Err("is not a JSON object".into()),
        },
        n if n.starts_with("params.") => {
            serde_json::from_str(cell).unwrap_or_else(|_| Value::from(cell))
        }
        _ => Value::from(cell),
    };
    Ok((name.to_string(), value))
}

fn split_list<'a>(cell: &'a str, seps: &'a [char]) -> impl Iterator<Item = &'a str> {
    cell.split(seps).map(str::trim).filter(|s| !s.is_empty())
}

/// `[[rows]]` (or `[[jobs]]`), `[defaults]`, `[matrix]` with each axis a list or an
/// `"A..B"` range.
fn read_toml(text: &str) -> SourceFile {
    let mut file = SourceFile::default();
    let table: toml::Table = match toml::from_str(text) {
        Ok(t) => t,
        Err(e) => {
            let msg = e.message().trim().replace('\n', "; ");
            let at = e.span().map(|s| {
                let (line, col) = genq_protocol::credentials::line_col(text, s.start);
                format!(" (line {line}, column {col})")
            });
            file.problems.push(problem(
                0,
                "file",
                format!("{msg}{}", at.unwrap_or_default()),
            ));
            return file;
        }
    };
    for (key, value) in table {
        let value = match serde_json::to_value(value) {
            Ok(v) => v,
            Err(e) => {
                file.problems.push(problem(0, &key, e.to_string()));
                continue;
            }
        };
        match (key.as_str(), value) {
            ("defaults", Value::Object(d)) => file.defaults = d,
            ("matrix", Value::Object(m)) => {
                for (axis, values) in m {
                    match axis_values(&values) {
                        Ok(v) => file.matrix.push((axis, v)),
                        Err(e) => file.problems.push(problem(0, &format!("matrix.{axis}"), e)),
                    }
                }
            }
            ("rows" | "jobs", Value::Array(rows)) => {
                for (i, row) in rows.into_iter().enumerate() {
                    match row {
                        Value::Object(fields) => file.rows.push((i as u64 + 1, fields)),
                        _ => file
                            .problems
                            .push(problem(i as u64 + 1, "row", "is not a table")),
                    }
                }
            }
            (other, _) => file.problems.push(problem(
                0,
                other,
                "unknown table; allowed: [[rows]], [defaults], [matrix]",
            )),
        }
    }
    file
}

/// A matrix axis: a list of values, or a string `A..B` (whole numbers, both included) or
/// `V1,V2`.
pub fn axis_values(value: &Value) -> Result<Vec<Value>, String> {
    let values = match value {
        Value::Array(a) => a.clone(),
        Value::String(s) => parse_axis(s)?,
        other => vec![other.clone()],
    };
    if values.is_empty() {
        return Err("has no values".into());
    }
    Ok(values)
}

/// `1..4` (whole numbers, both ends included) or `a,b,c` (numbers where they read as such).
pub fn parse_axis(text: &str) -> Result<Vec<Value>, String> {
    if let Some((a, b)) = text.split_once("..") {
        let (a, b) = (a.trim().parse::<i64>(), b.trim().parse::<i64>());
        let (Ok(a), Ok(b)) = (a, b) else {
            return Err(format!(
                "{text:?} is not a range of whole numbers like 1..4"
            ));
        };
        if b < a || b - a >= 10_000 {
            return Err(format!(
                "{text:?}: a range goes up, over at most 10000 values"
            ));
        }
        return Ok((a..=b).map(Value::from).collect());
    }
    Ok(text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::from(s))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn csv_cells_are_typed_by_their_column() {
        let text = "prompt,seed,guidance,loras,store,params.cfg,output\n\
                    a fox,7,3.5,a/b:0.5;c/d,s3;r2,3,out/{row}.png\n\
                    a cat,x,,,,,\n";
        let file = read(BatchFormat::Csv, text);
        assert_eq!(file.rows.len(), 1);
        let fox = &file.rows[0].1;
        assert_eq!(fox["seed"], json!(7));
        assert_eq!(fox["guidance"], json!(3.5));
        assert_eq!(
            fox["loras"],
            json!([{"repo":"a/b","weight":0.5},{"repo":"c/d","weight":1.0}])
        );
        assert_eq!(fox["store"], json!(["s3", "r2"]));
        assert_eq!(fox["params"], json!({"cfg": 3}));
        assert_eq!(file.problems.len(), 1);
        assert_eq!(
            (file.problems[0].row, file.problems[0].field.as_str()),
            (2, "seed")
        );
    }

    #[test]
    fn toml_has_rows_defaults_and_a_matrix() {
        let text = "[defaults]\nprovider = \"modelscope\"\n[matrix]\nseed = \"1..3\"\n\
                    style = [\"ink\", \"lineart\"]\n[[rows]]\nprompt = \"a\"\n[[rows]]\nprompt = \"b\"\n";
        let file = read(BatchFormat::Toml, text);
        assert!(file.problems.is_empty(), "{:?}", file.problems);
        assert_eq!(file.rows.len(), 2);
        assert_eq!(file.defaults["provider"], json!("modelscope"));
        assert_eq!(
            file.matrix[0],
            ("seed".into(), vec![json!(1), json!(2), json!(3)])
        );
    }

    #[test]
    fn jsonl_names_the_bad_lines() {
        let file = read(
            BatchFormat::Jsonl,
            "{\"prompt\":\"a\"}\n\n# note\n[1]\n{bad\n",
        );
        assert_eq!(file.rows.len(), 1);
        let rows: Vec<u64> = file.problems.iter().map(|p| p.row).collect();
        assert_eq!(rows, vec![2, 3]);
    }
}
