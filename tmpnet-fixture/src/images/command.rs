//! Running the programs an image build needs, each failure one line that
//! names the program, what it was doing and the end of what it said.

use std::process::{Command, Output, Stdio};

use crate::error::{Error, Result};

/// How many lines of a failed program's standard error an error quotes.
const QUOTED_LINES: usize = 6;

/// Whether `program` can be run: an executable on `PATH`.
pub fn exists(program: &str) -> bool {
    crate::sys::files::on_path(program).is_some()
}

/// Fails with the Debian package that holds `program` when it is missing.
pub fn need(program: &str, package: &str) -> Result<()> {
    if exists(program) {
        Ok(())
    } else {
        Err(Error::Environment(format!(
            "{program} is missing; install it with `apt-get install {package}`"
        )))
    }
}

/// Runs `command` to its end, its output captured; fails unless it exits 0,
/// quoting the end of its standard error.
pub fn run(command: &mut Command, doing: &str) -> Result<Output> {
    let program = command.get_program().to_string_lossy().into_owned();
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::Environment(format!("cannot run {program} ({doing}): {e}")))?;
    if output.status.success() {
        return Ok(output);
    }
    Err(Error::Environment(format!(
        "{program} failed ({doing}, {}): {}",
        output.status,
        tail(&output.stderr)
    )))
}

/// Runs `command` and returns its standard output as text, trimmed.
pub fn text(command: &mut Command, doing: &str) -> Result<String> {
    let output = run(command, doing)?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Whether `command` exits 0 (its output dropped).
pub fn succeeds(command: &mut Command) -> bool {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// What a failed program said, on one line: the lines that say the error
/// (`error: ...` of a build step, apt's `E: ...`) when there are some, else
/// its last lines, each cut to a readable length.
fn tail(stderr: &[u8]) -> String {
    const MAX: usize = 200;
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(|l| step_output(l.trim()))
        .filter(|l| !l.is_empty())
        .collect();
    let errors: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("error: ") || l.starts_with("E: "))
        .collect();
    let chosen = if errors.is_empty() {
        &lines[lines.len().saturating_sub(QUOTED_LINES)..]
    } else {
        &errors[..]
    };
    if chosen.is_empty() {
        return "it said nothing".to_owned();
    }
    chosen
        .iter()
        .map(|l| match l.char_indices().nth(MAX) {
            Some((at, _)) => format!("{}...", &l[..at]),
            None => (*l).to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

/// A build step's output without the `#7 0.213 ` docker's BuildKit puts
/// before it.
fn step_output(line: &str) -> &str {
    let Some(rest) = line.strip_prefix('#') else {
        return line;
    };
    let mut words = rest.splitn(3, ' ');
    let step = words.next().unwrap_or_default();
    let time = words.next().unwrap_or_default();
    let numeric = |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    match words.next() {
        Some(said) if numeric(step) && numeric(time) => said.trim(),
        _ => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_quotes_the_end_of_what_the_program_said() {
        let err = run(
            Command::new("sh").args(["-c", "echo one >&2; echo two >&2; exit 3"]),
            "testing",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("sh failed (testing, exit status: 3): one | two"),
            "{err}"
        );
        // A build's own error line is what is quoted, not the noise around it.
        let err = run(
            Command::new("sh").args(["-c", "echo noise >&2; echo 'E: Unable to locate package x' >&2; echo 'Error: building at STEP' >&2; exit 100"]),
            "building",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.ends_with("exit status: 100): E: Unable to locate package x"),
            "{err}"
        );
        // Docker's BuildKit numbers each step's lines.
        assert_eq!(
            step_output("#7 0.213 error: myd is not on PATH"),
            "error: myd is not on PATH"
        );
        assert_eq!(step_output("#7 DONE 0.2s"), "#7 DONE 0.2s");
        let err = need("no-such-program-here", "no-such-package").unwrap_err();
        assert_eq!(
            err.to_string(),
            "no-such-program-here is missing; install it with `apt-get install no-such-package`"
        );
        assert!(exists("sh"));
    }
}
