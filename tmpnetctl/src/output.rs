//! Output that never panics. Once the reader of standard output is gone
//! (`tmpnetctl status | head -1`), the rest of the output is dropped
//! quietly and the command still finishes its work; any other failure to
//! write (`tmpnetctl status > /dev/full`) is the command's error, one line
//! and exit code 1. Messages on standard error are best effort.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use tmpnet_fixture::{Error, Result};

static READER_GONE: AtomicBool = AtomicBool::new(false);

/// Writes one line to standard output.
pub fn line(args: std::fmt::Arguments<'_>) -> Result<()> {
    write(format_args!("{args}\n"))
}

/// Writes text to standard output as it is.
pub fn write(args: std::fmt::Arguments<'_>) -> Result<()> {
    if READER_GONE.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    match out.write_fmt(args).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            READER_GONE.store(true, Ordering::Relaxed);
            Ok(())
        }
        Err(e) => Err(Error::io("cannot write", "standard output", e)),
    }
}

/// Whether the reader of standard output has gone (a closed pipe).
pub fn reader_gone() -> bool {
    READER_GONE.load(Ordering::Relaxed)
}

/// How `logs` prints a line: the node's id, padded to the longest, then
/// the line; the id coloured (one colour per node) when standard output
/// is a terminal and `NO_COLOR` is unset, plain when piped.
pub struct LogStyle {
    ids: Vec<String>,
    width: usize,
    colour: bool,
}

/// ANSI colours for node prefixes, in node order.
const COLOURS: &[&str] = &["36", "33", "35", "32", "34", "31", "96", "93", "95", "92"];

impl LogStyle {
    /// The style for the nodes `ids` on this process's standard output.
    pub fn for_stdout(ids: &[String]) -> LogStyle {
        use std::io::IsTerminal;
        let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        LogStyle {
            ids: ids.to_vec(),
            width: ids.iter().map(String::len).max().unwrap_or(0),
            colour,
        }
    }

    /// Prints one line.
    pub fn print(&self, line: &tmpnet_fixture::LogLine) -> Result<()> {
        let id = &line.node;
        if !self.colour {
            return self::line(format_args!("{id:<w$} | {}", line.text, w = self.width));
        }
        // A node that joined after the start gets a colour by its id.
        let index = self
            .ids
            .iter()
            .position(|i| i == id)
            .unwrap_or_else(|| id.bytes().map(usize::from).sum::<usize>());
        let code = COLOURS[index % COLOURS.len()];
        self::line(format_args!(
            "\x1b[{code}m{id:<w$}\x1b[0m | {}",
            line.text,
            w = self.width
        ))
    }
}

/// Writes one line to standard error, ignoring failures (there is nowhere
/// left to report them).
pub fn note_line(args: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "{args}");
}

/// `println!` that returns the write error from the enclosing function.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))?
    };
}

/// `eprintln!` that never panics.
macro_rules! note {
    ($($arg:tt)*) => {
        $crate::output::note_line(format_args!($($arg)*))
    };
}

pub(crate) use {note, out};
