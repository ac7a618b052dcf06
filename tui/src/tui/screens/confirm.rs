//! The confirm dialog, centred over the screen: a question before something irreversible.

use crate::tui::command::Command;
use crate::tui::screens::popup::centered;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Clear, Paragraph};

/// A question the user must answer before something irreversible.
#[derive(Clone, Debug, PartialEq)]
pub struct Confirm {
    pub question: String,
    /// What a yes does (a job or a batch is canceled).
    pub command: Command,
}

impl Confirm {
    pub fn yes(self) -> Command {
        self.command
    }
}

pub fn draw(frame: &mut Frame, area: Rect, confirm: &Confirm) {
    const ANSWERS: &str = "y / Enter: yes   n / Esc: no";
    let text_width = confirm
        .question
        .chars()
        .count()
        .max(ANSWERS.chars().count()) as u16;
    let width = (text_width + 4).min(area.width);
    let popup = centered(area, width, 4);
    frame.render_widget(Clear, popup);
    let text = vec![Line::from(confirm.question.clone()), Line::from(ANSWERS)];
    frame.render_widget(
        Paragraph::new(text).centered().block(
            Block::bordered()
                .title(" Confirm ")
                .border_style(Style::new().fg(Color::Yellow)),
        ),
        popup,
    );
}
