//! Diagnostics for the dial plan: every problem names the file, the line and what to
//! change, because the person reading them is an admin, not the author of the code.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// How bad a finding is. Errors stop a plan from loading; warnings are printed and the
/// plan still loads (a department with no members is odd, but not fatal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// One finding about the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// The config file, as given to the loader.
    pub file: PathBuf,
    /// 1-based line, when the finding belongs to one place in the file.
    pub line: Option<usize>,
    /// What is wrong and how to fix it, in plain words.
    pub message: String,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    /// `config/switchboard.toml:42: menu "main" …` (errors) or
    /// `config/switchboard.toml:42: warning: …` (warnings), the format compilers use so
    /// editors can jump to the line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        match self.severity {
            Severity::Error => write!(f, ": {}", self.message),
            Severity::Warning => write!(f, ": warning: {}", self.message),
        }
    }
}

/// The plan did not load. Holds every error found (and the warnings, so `check` can print
/// the whole picture in one go); `Display` prints them one per line.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", DiagnosticList(.diagnostics))]
pub struct ConfigErrors {
    pub diagnostics: Vec<Diagnostic>,
}

impl ConfigErrors {
    /// Only the errors (not the warnings).
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }
}

struct DiagnosticList<'a>(&'a [Diagnostic]);

impl fmt::Display for DiagnosticList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// Collects diagnostics while compiling and turns byte offsets (from `toml::Spanned`)
/// into line numbers.
pub(crate) struct Sink {
    file: PathBuf,
    line_starts: Vec<usize>,
    pub(crate) items: Vec<Diagnostic>,
}

impl Sink {
    pub(crate) fn new(file: &Path, text: &str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Sink {
            file: file.to_path_buf(),
            line_starts,
            items: Vec::new(),
        }
    }

    /// 1-based line of a byte offset.
    pub(crate) fn line_of(&self, offset: usize) -> usize {
        self.line_starts
            .partition_point(|&start| start <= offset)
            .max(1)
    }

    pub(crate) fn error(&mut self, span: Option<Range<usize>>, message: impl Into<String>) {
        self.push(Severity::Error, span, message.into());
    }

    pub(crate) fn warning(&mut self, span: Option<Range<usize>>, message: impl Into<String>) {
        self.push(Severity::Warning, span, message.into());
    }

    fn push(&mut self, severity: Severity, span: Option<Range<usize>>, message: String) {
        let line = span.map(|s| self.line_of(s.start));
        self.items.push(Diagnostic {
            severity,
            file: self.file.clone(),
            line,
            message,
        });
    }

    pub(crate) fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    /// Diagnostics in file order (errors before warnings on the same line), so the
    /// output reads top to bottom like the file.
    pub(crate) fn finish(mut self) -> Vec<Diagnostic> {
        self.items.sort_by(|a, b| {
            (a.line.unwrap_or(0), a.severity).cmp(&(b.line.unwrap_or(0), b.severity))
        });
        self.items
    }
}

/// Damerau–Levenshtein (optimal string alignment) distance: typos are usually one
/// dropped, added, changed or swapped letter ("salse" → "sales" is one swap).
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    let at = |i: usize, j: usize| i * width + j;
    for i in 0..=a.len() {
        if let Some(x) = d.get_mut(at(i, 0)) {
            *x = i;
        }
    }
    for j in 0..=b.len() {
        if let Some(x) = d.get_mut(at(0, j)) {
            *x = j;
        }
    }
    for (i, ca) in a.iter().enumerate() {
        for (j, cb) in b.iter().enumerate() {
            let (i1, j1) = (i + 1, j + 1);
            let cost = usize::from(ca != cb);
            let get = |d: &Vec<usize>, i: usize, j: usize| d.get(at(i, j)).copied().unwrap_or(0);
            let mut best = (get(&d, i, j1) + 1)
                .min(get(&d, i1, j) + 1)
                .min(get(&d, i, j) + cost);
            if i > 0 && j > 0 && a.get(i) == b.get(j - 1) && a.get(i - 1) == b.get(j) {
                best = best.min(get(&d, i - 1, j - 1) + 1);
            }
            if let Some(x) = d.get_mut(at(i1, j1)) {
                *x = best;
            }
        }
    }
    d.last().copied().unwrap_or(0)
}

/// The closest candidate to a misspelt `name`, if it is close enough to be a typo.
pub(crate) fn suggest<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = name.to_lowercase();
    candidates
        .into_iter()
        .filter_map(|c| {
            let dist = edit_distance(&lower, &c.to_lowercase());
            let limit = (c.chars().count() / 3).max(1);
            (dist <= limit).then_some((dist, c))
        })
        .min_by_key(|(dist, _)| *dist)
        .map(|(_, c)| c)
}

/// ` (did you mean "sales"?)`, or an empty string when nothing is close.
pub(crate) fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> String {
    suggest(name, candidates)
        .map(|s| format!(" (did you mean \"{s}\"?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_swaps_as_one() {
        assert_eq!(edit_distance("salse", "sales"), 1);
        assert_eq!(edit_distance("welcom", "welcome"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn suggestions_only_for_near_misses() {
        assert_eq!(suggest("salse", ["sales", "support"]), Some("sales"));
        assert_eq!(suggest("billing", ["sales", "support"]), None);
    }

    #[test]
    fn lines_from_offsets() {
        let sink = Sink::new(Path::new("f.toml"), "a\nbb\n\nc");
        assert_eq!(sink.line_of(0), 1);
        assert_eq!(sink.line_of(2), 2);
        assert_eq!(sink.line_of(5), 3);
        assert_eq!(sink.line_of(6), 4);
    }
}
