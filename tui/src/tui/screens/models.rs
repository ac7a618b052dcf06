//! The models screen: suppliers → models (capabilities, type, default marker, state) and
//! the selected model's parameters; `v` shows the category tree and the default model of
//! each capability instead. It holds the daemon's catalog as last fetched.

use crate::tui::action::UiAction;
use crate::tui::catalog::CatalogData;
use crate::tui::screens::scroll::{cycle, list_motion, shown};
use crate::tui::theme;
use genq_protocol::catalog::{Category, Model, ModelParam, Supplier};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, Wrap};

#[derive(Debug, Default)]
pub struct ModelsScreen {
    /// The daemon's catalog; empty until `models.list` answers.
    pub catalog: CatalogData,
    pub loaded: bool,
    /// The selected supplier and model (an index into the supplier's models).
    pub supplier: usize,
    pub model: usize,
    /// Showing the category tree and the defaults instead of the models.
    pub tree: bool,
}

impl ModelsScreen {
    /// The catalog arrived: the cursor stays on the supplier when it still exists.
    pub fn catalog_loaded(&mut self, data: CatalogData) {
        self.catalog = data;
        self.loaded = true;
        let n = self.suppliers().len().max(1);
        self.supplier = self.supplier.min(n - 1);
        self.model = 0;
    }

    /// The suppliers the screen lists: `suppliers.list`, or the models' suppliers when the
    /// daemon sent none.
    pub fn suppliers(&self) -> Vec<Supplier> {
        if !self.catalog.suppliers.is_empty() {
            return self.catalog.suppliers.clone();
        }
        let mut out: Vec<Supplier> = Vec::new();
        for m in &self.catalog.models {
            if !out.iter().any(|s| s.name == m.supplier) {
                out.push(Supplier {
                    name: m.supplier.clone(),
                    display_name: m.supplier.clone(),
                    base_url: String::new(),
                    docs_url: None,
                    needs_key: false,
                    active: true,
                });
            }
        }
        out
    }

    /// The models of the selected supplier (removed ones included).
    pub fn supplier_models(&self) -> Vec<&Model> {
        let suppliers = self.suppliers();
        let Some(s) = suppliers.get(self.supplier) else {
            return Vec::new();
        };
        self.catalog
            .models
            .iter()
            .filter(|m| m.supplier == s.name)
            .collect()
    }

    pub fn selected_model(&self) -> Option<&Model> {
        self.supplier_models().get(self.model).copied()
    }

    /// Left / right: the next or previous supplier.
    pub fn pick(&mut self, forward: bool) {
        self.supplier = cycle(self.supplier, self.suppliers().len().max(1), forward);
        self.model = 0;
    }

    pub fn motion(&mut self, ui: UiAction) {
        let len = self.supplier_models().len();
        self.model = list_motion(self.model, ui, len, 10);
    }

    /// `v`: the category tree and defaults, or the models.
    pub fn toggle_view(&mut self) {
        self.tree = !self.tree;
    }
}

pub fn draw(frame: &mut Frame, area: Rect, screen: &ModelsScreen) {
    if !screen.loaded {
        frame.render_widget(
            theme::placeholder(" Models ", "loading the catalog from the daemon…"),
            area,
        );
        return;
    }
    if screen.tree {
        draw_tree(frame, area, screen);
    } else {
        draw_models(frame, area, screen);
    }
}

fn draw_models(frame: &mut Frame, area: Rect, screen: &ModelsScreen) {
    let suppliers = screen.suppliers();
    let wide = area.width >= 80;
    let [left, right] = Layout::horizontal([
        Constraint::Length(if wide { 22 } else { 14 }),
        Constraint::Fill(1),
    ])
    .areas(area);
    let lines: Vec<Line> = suppliers
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut style = if s.active { Style::new() } else { theme::dim() };
            if i == screen.supplier {
                style = style.add_modifier(Modifier::REVERSED);
            }
            let label = if s.active {
                s.name.clone()
            } else {
                format!("{} (off)", s.name)
            };
            Line::styled(label, style)
        })
        .collect();
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" Suppliers ")),
        left,
    );

    let models = screen.supplier_models();
    let selected = screen.model;
    let params_h = (right.height / 2).max(4);
    let [top, bottom] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(params_h)]).areas(right);
    let block = Block::bordered()
        .title(" Models ")
        .title_top(Line::from(format!(" {} ", models.len())).right_aligned());
    let inner = block.inner(top);
    frame.render_widget(block, top);
    if models.is_empty() {
        frame.render_widget(
            Paragraph::new("no models for this supplier").style(theme::dim()),
            inner,
        );
    } else {
        let visible = inner.height.saturating_sub(1).max(1) as usize;
        let rows: Vec<Row> = shown(&models, selected, visible)
            .map(|(m, is_selected)| {
                let row = model_row(m, wide);
                if is_selected {
                    row.style(theme::selected())
                } else if m.removed || !m.active {
                    row.style(theme::dim())
                } else {
                    row
                }
            })
            .collect();
        let mut widths = vec![Constraint::Length(1), Constraint::Fill(3)];
        let mut header = vec!["", "model"];
        if wide {
            widths.push(Constraint::Length(20));
            header.push("type");
        }
        widths.extend([Constraint::Fill(2), Constraint::Length(7)]);
        header.extend(["capabilities", "state"]);
        frame.render_widget(
            Table::new(rows, widths)
                .header(Row::new(header).style(theme::dim()))
                .column_spacing(1),
            inner,
        );
    }
    draw_params(frame, bottom, models.get(selected).copied(), wide);
}

fn model_row(m: &Model, wide: bool) -> Row<'static> {
    let star = if m.default_for.is_empty() { " " } else { "★" };
    let mut cells = vec![
        Cell::from(star).style(Style::new().fg(Color::Yellow)),
        Cell::from(m.id.clone()),
    ];
    if wide {
        cells.push(Cell::from(format!("{}/{}", m.kind, m.sub_type)));
    }
    cells.push(Cell::from(m.capabilities.join(",")));
    let state = if m.removed {
        "removed"
    } else if m.active {
        "active"
    } else {
        "off"
    };
    cells.push(Cell::from(state));
    Row::new(cells)
}

fn draw_params(frame: &mut Frame, area: Rect, model: Option<&Model>, wide: bool) {
    let Some(m) = model else {
        frame.render_widget(Block::bordered().title(" Parameters "), area);
        return;
    };
    let mut title = format!(" {} ", m.key);
    if !m.default_for.is_empty() {
        title.push_str(&format!("· default for {} ", m.default_for.join(", ")));
    }
    if let Some(f) = &m.lora_family {
        title.push_str(&format!("· LoRAs: {f} "));
    }
    let block = Block::bordered().title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let rows: Vec<Row> = m.params.iter().map(|p| param_row(p, wide)).collect();
    let mut widths = vec![
        Constraint::Length(16),
        Constraint::Length(6),
        Constraint::Length(8),
        Constraint::Fill(1),
    ];
    if !wide {
        widths[0] = Constraint::Length(12);
    }
    frame.render_widget(
        Table::new(rows, widths)
            .header(
                Row::new(vec!["parameter", "type", "default", "range / allowed"])
                    .style(theme::dim()),
            )
            .column_spacing(1),
        inner,
    );
}

fn number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{}", (x * 1000.0).round() / 1000.0)
    }
}

fn param_row(p: &ModelParam, wide: bool) -> Row<'static> {
    let range = if !p.allowed.is_empty() {
        p.allowed.join(" | ")
    } else {
        match (p.min, p.max) {
            (Some(lo), Some(hi)) => format!("{}–{}", number(lo), number(hi)),
            (None, Some(hi)) => format!("≤ {}", number(hi)),
            (Some(lo), None) => format!("≥ {}", number(lo)),
            (None, None) => String::new(),
        }
    };
    let range = if wide && !p.description.is_empty() {
        format!("{range} ({})", p.description)
    } else {
        range
    };
    let default = p
        .default
        .as_ref()
        .map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .unwrap_or_default();
    Row::new(vec![
        Cell::from(p.name.clone()),
        Cell::from(p.kind.as_str()),
        Cell::from(default),
        Cell::from(range),
    ])
}

fn draw_tree(frame: &mut Frame, area: Rect, screen: &ModelsScreen) {
    let [left, right] = Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(area);
    let mut lines = Vec::new();
    for c in &screen.catalog.categories {
        tree_lines(c, 0, &mut lines);
    }
    if lines.is_empty() {
        lines.push(Line::styled("no categories", theme::dim()));
    }
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" Categories ")),
        left,
    );
    let mut lines = Vec::new();
    for cap in &screen.catalog.capabilities {
        lines.push(Line::from(vec![
            Span::styled(cap.name.clone(), theme::title()),
            Span::styled(
                format!(
                    " {}→{}",
                    cap.input_types.join("+"),
                    cap.output_types.join("+")
                ),
                theme::dim(),
            ),
        ]));
        let default = cap.default_model.as_deref().unwrap_or("(none)");
        lines.push(Line::from(format!("  ★ {default}")));
    }
    if lines.is_empty() {
        lines.push(Line::styled("no capabilities", theme::dim()));
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(" Default per capability ")),
        right,
    );
}

fn tree_lines(c: &Category, depth: usize, out: &mut Vec<Line<'static>>) {
    let indent = "  ".repeat(depth);
    out.push(Line::from(vec![
        Span::raw(format!("{indent}▸ {}", c.display_name)),
        Span::styled(format!(" ({})", c.models.len()), theme::dim()),
    ]));
    for child in &c.children {
        tree_lines(child, depth + 1, out);
    }
}
