//! Renderers: a [`Plan`](crate::plan::Plan) to human text or JSON on any `Write`.
//! No diffing of state and no environment probing here: the planner decided everything, and
//! the CLI passes a [`Style`] (so snapshot tests stay stable).

pub mod asff;
pub mod csv;
pub mod findings;
pub mod human;
pub mod json;
pub mod junit;
pub mod sarif;

/// Presentation choices made once by the CLI.
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    pub color: bool,
}

impl Style {
    pub fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    pub fn green(&self, t: &str) -> String {
        self.paint("32", t)
    }
    pub fn yellow(&self, t: &str) -> String {
        self.paint("33", t)
    }
    pub fn red(&self, t: &str) -> String {
        self.paint("31", t)
    }
    pub fn bold(&self, t: &str) -> String {
        self.paint("1", t)
    }
    pub fn dim(&self, t: &str) -> String {
        self.paint("2", t)
    }
}
