//! Scrolling the text screens (a job's detail, help, a LoRA's card) by a line or a page, and
//! a list's selection by an item, a page or to either end, and the part of a list that is on
//! screen; stepping round a ring of choices.

use crate::tui::action::UiAction;
use std::ops::{Add, Sub};

/// `scroll` moved by a motion key in a terminal `height` rows high.
pub fn text_scroll(scroll: u16, ui: UiAction, height: u16) -> u16 {
    let page = text_page(height);
    match ui {
        UiAction::Up => scroll.saturating_sub(1),
        UiAction::Down => scroll.saturating_add(1),
        UiAction::Top => 0,
        UiAction::Bottom => u16::MAX / 2,
        UiAction::PageUp => scroll.saturating_sub(page),
        _ => scroll.saturating_add(page),
    }
}

/// Lines one page key moves a text screen in a terminal `height` rows high.
pub fn text_page(height: u16) -> u16 {
    height.saturating_sub(6).max(1)
}

/// The `n` items of a list on screen, scrolled so the `selected` one is in view, each with
/// whether it is the selected one.
pub fn shown<T>(items: &[T], selected: usize, n: usize) -> impl Iterator<Item = (&T, bool)> {
    let first = selected.saturating_sub(n.saturating_sub(1));
    items
        .iter()
        .enumerate()
        .skip(first)
        .take(n)
        .map(move |(i, item)| (item, i == selected))
}

/// The one of `n` choices after `i` (or before it), going round from the last to the first.
pub fn cycle(i: usize, n: usize, forward: bool) -> usize {
    if forward {
        (i + 1) % n
    } else {
        (i + n - 1) % n
    }
}

/// The selection of a list of `len` items moved by a motion key: by one item, by a `page`
/// of items, or to either end.
pub fn list_motion<T>(selected: T, ui: UiAction, len: T, page: T) -> T
where
    T: Copy + Ord + From<u8> + Add<Output = T> + Sub<Output = T>,
{
    let back = |from: T, n: T| if from > n { from - n } else { T::from(0) };
    let last = back(len, T::from(1));
    match ui {
        UiAction::Up => back(selected, T::from(1)),
        UiAction::Down => (selected + T::from(1)).min(last),
        UiAction::Top => T::from(0),
        UiAction::Bottom => last,
        UiAction::PageUp => back(selected, page),
        _ => (selected + page).min(last),
    }
}
