//! What `make bench` prints and writes: a table of figures (figure, value, goal, met) and the same
//! figures with every scenario's details as JSON (`target/bench/results.json`).

use std::path::Path;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::util::Context;
use crate::Error;

/// One line of the table. `goal` and `met` are absent for figures reported without a goal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figure {
    pub figure: String,
    pub value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub met: Option<bool>,
}

#[derive(Debug, Default)]
pub struct Report {
    figures: Vec<Figure>,
    sections: Map<String, Value>,
}

impl Report {
    /// A figure without a goal.
    pub fn figure(&mut self, figure: &str, value: impl Into<String>) {
        self.figures.push(Figure {
            figure: figure.to_owned(),
            value: value.into(),
            goal: None,
            met: None,
        });
    }

    /// A figure with its goal; `met` is `None` when it could not be measured.
    pub fn goal(&mut self, figure: &str, value: impl Into<String>, goal: &str, met: Option<bool>) {
        self.figures.push(Figure {
            figure: figure.to_owned(),
            value: value.into(),
            goal: Some(goal.to_owned()),
            met,
        });
    }

    /// The details of one scenario, as a top-level key of the JSON.
    pub fn section(&mut self, name: &str, value: Value) {
        self.sections.insert(name.to_owned(), value);
    }

    /// The figures as an aligned text table.
    pub fn table(&self) -> String {
        let rows: Vec<[String; 4]> = self
            .figures
            .iter()
            .map(|f| {
                let met = match (&f.goal, f.met) {
                    (None, _) => "",
                    (Some(_), Some(true)) => "met",
                    (Some(_), Some(false)) => "NOT MET",
                    (Some(_), None) => "not measured",
                };
                let goal = f.goal.clone().unwrap_or_default();
                [f.figure.clone(), f.value.clone(), goal, met.to_owned()]
            })
            .collect();
        let header = ["figure", "value", "goal", "met"].map(String::from);
        render(&header, &rows)
    }

    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        let figures = serde_json::to_value(&self.figures).unwrap_or(Value::Null);
        out.insert("figures".to_owned(), figures);
        out.extend(self.sections.clone());
        Value::Object(out)
    }

    pub fn write_json(&self, path: &Path) -> Result<(), Error> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        }
        let text = serde_json::to_string_pretty(&self.to_json())?;
        std::fs::write(path, text + "\n").with_context(|| format!("write {}", path.display()))
    }
}

fn render(header: &[String; 4], rows: &[[String; 4]]) -> String {
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String; 4]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join(" | ").trim_end().to_owned() + "\n"
    };
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    let mut out = line(header);
    out.push_str(&(rule.join("-+-") + "\n"));
    for row in rows {
        out.push_str(&line(row));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Report {
        let mut r = Report::default();
        r.goal("init, ours / hello-world", "1.6x", "<= 2x", Some(true));
        r.goal("route writes", "2", "1", Some(false));
        r.figure("binary size", "6.1 MiB");
        r.section("init", json!({ "runs": 10 }));
        r
    }

    #[test]
    fn the_json_holds_every_figure_with_its_goal_and_every_section() {
        let v = sample().to_json();
        assert_eq!(v["figures"].as_array().map(Vec::len), Some(3));
        assert_eq!(
            v["figures"][1],
            json!({ "figure": "route writes", "value": "2", "goal": "1", "met": false })
        );
        assert_eq!(
            v["figures"][2],
            json!({ "figure": "binary size", "value": "6.1 MiB" })
        );
        assert_eq!(v["init"]["runs"], 10);
    }

    #[test]
    fn the_table_aligns_columns_and_says_which_goals_were_not_met() {
        let table = sample().table();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 5);
        assert!(lines[0].starts_with("figure"));
        assert!(lines[3].contains("| NOT MET"));
        assert!(lines[2].ends_with("| met"));
        let bar = |l: &str| l.find('|');
        assert_eq!(bar(lines[2]), bar(lines[3]));
        assert_eq!(bar(lines[0]), bar(lines[4]));
    }

    #[test]
    fn a_goal_that_could_not_be_measured_says_so() {
        let mut r = Report::default();
        r.goal("deployment zip (arm64)", "no artifact", "<= 2.5 MB", None);
        assert!(r.table().contains("not measured"));
    }
}
