//! Turning what the command line and the environment got wrong into one
//! line: clap's multi-line errors folded, an error in an environment value
//! named by its variable, empty variables taken as unset.

use clap::error::{ContextKind, ContextValue, ErrorKind};

/// Removes the environment variables `command`'s arguments read whose value
/// is empty, so `TMPNET_NETWORK_DIR=` means "not set" rather than "the
/// empty path". Call it first thing in `main`, before any thread starts.
pub fn ignore_empty_env(command: &clap::Command) {
    for name in env_names(command) {
        if std::env::var_os(&name).is_some_and(|v| v.is_empty()) {
            std::env::remove_var(&name);
        }
    }
}

/// Every environment variable `command` (and its subcommands) reads.
fn env_names(command: &clap::Command) -> Vec<std::ffi::OsString> {
    let mut names: Vec<_> = command
        .get_arguments()
        .filter_map(|a| a.get_env().map(ToOwned::to_owned))
        .collect();
    for sub in command.get_subcommands() {
        names.extend(env_names(sub));
    }
    names
}

/// `e` as one line, without the `error: ` prefix: its first line with what
/// clap puts on the lines after it (the missing arguments, the possible
/// values, a tip), and, when the bad value came from an environment
/// variable rather than the command line, that variable named.
pub fn one_line(e: &clap::Error, command: &clap::Command) -> String {
    let rendered = e.render().to_string();
    let mut line = String::new();
    for part in rendered
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty())
    {
        if line.is_empty() {
            line.push_str(part.strip_prefix("error: ").unwrap_or(part));
        } else if line.ends_with(':') {
            line.push(' ');
            line.push_str(part);
        } else if part.starts_with('-') && !line.ends_with(';') {
            line.push_str(", ");
            line.push_str(part);
        } else {
            line.push_str("; ");
            line.push_str(part);
        }
    }
    match from_env(e, command) {
        Some(var) => format!("{var} (the environment's value for it): {line}; fix or unset {var}"),
        None => line,
    }
}

/// The environment variable a bad value came from, if it did: the
/// argument has one, it is set, and the command line does not give the
/// argument.
fn from_env(e: &clap::Error, command: &clap::Command) -> Option<String> {
    if !matches!(
        e.kind(),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation
    ) {
        return None;
    }
    let Some(ContextValue::String(invalid)) = e.get(ContextKind::InvalidArg) else {
        return None;
    };
    let long = invalid.split_whitespace().next()?.trim_start_matches('-');
    let arg = find_arg(command, long)?;
    let var = arg.get_env()?.to_str()?.to_owned();
    let on_command_line =
        std::env::args().any(|a| a == format!("--{long}") || a.starts_with(&format!("--{long}=")));
    (std::env::var_os(&var).is_some() && !on_command_line).then_some(var)
}

fn find_arg<'a>(command: &'a clap::Command, long: &str) -> Option<&'a clap::Arg> {
    command
        .get_arguments()
        .find(|a| a.get_long() == Some(long))
        .or_else(|| command.get_subcommands().find_map(|s| find_arg(s, long)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, Command};

    fn command() -> Command {
        Command::new("t")
            .arg(
                Arg::new("runtime")
                    .long("runtime")
                    .value_parser(["process", "kube"]),
            )
            .subcommand(
                Command::new("status").arg(Arg::new("dir").long("network-dir").required(true)),
            )
            .subcommand(Command::new("list"))
    }

    fn error(args: &[&str]) -> String {
        let e = command().try_get_matches_from(args).unwrap_err();
        one_line(&e, &command())
    }

    #[test]
    fn what_clap_puts_on_later_lines_stays_on_the_one_line() {
        let missing = error(&["t", "status"]);
        assert!(missing.contains("not provided: --network-dir"), "{missing}");
        let values = error(&["t", "--runtime", "x"]);
        assert!(
            values.contains("possible values: process, kube"),
            "{values}"
        );
        let tip = error(&["t", "statu"]);
        assert!(tip.contains("similar subcommand exists: 'status'"), "{tip}");
        for line in [missing, values, tip] {
            assert_eq!(line.lines().count(), 1, "{line}");
            assert!(
                !line.contains("Usage") && !line.starts_with("error:"),
                "{line}"
            );
        }
    }
}
