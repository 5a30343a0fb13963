//! Reads Jepsen's etcd logs (`jepsen.util` event lines) as Porcupine does.
//!
//! ```text
//! INFO  jepsen.util - 3  :invoke  :cas  [1 4]
//! INFO  jepsen.util - 3  :fail    :cas  [1 4]
//! ```
//!
//! Fields are separated by tabs or spaces. Each event's time is its line number. `:ok`
//! completes an operation; a `:fail` cas completed and answered false; `:info` (and a call still
//! open at the end of the log) is indeterminate; a `:fail :read :timed-out` (or an `:info` read)
//! changes nothing and is dropped. Lines that do not mention `jepsen.util` are not events and are
//! skipped; an event line that does not parse is an error naming its line.

use std::collections::BTreeMap;
use std::fmt;

use crate::checker::history::{History, Operation};
use crate::checker::model::cas_register::{RegisterCall, RegisterInput, RegisterOutput};

/// An unreadable line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// One parsed event line.
struct Event {
    process: u64,
    kind: EventKind,
    call: RegisterCall,
    /// The read value (`None` = nil) for an `:ok :read`.
    read_value: Option<i64>,
    timed_out: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum EventKind {
    Invoke,
    Ok,
    Fail,
    Info,
}

/// A call waiting for its completion: where it is in the history being built.
struct PendingCall {
    invoke_line: u64,
    call: RegisterCall,
}

/// Parses a whole log.
pub fn parse(text: &str) -> Result<History<RegisterInput, RegisterOutput>, ParseError> {
    let mut operations = Vec::new();
    let mut pending: BTreeMap<u64, PendingCall> = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        let error = |message: String| ParseError {
            line: line_number,
            message,
        };
        if !line.contains("jepsen.util") {
            continue;
        }
        let event = parse_event(line).map_err(error)?;
        let time = line_number as u64;
        if event.kind == EventKind::Invoke {
            if pending.contains_key(&event.process) {
                return Err(error(format!("process {} invokes twice", event.process)));
            }
            pending.insert(
                event.process,
                PendingCall {
                    invoke_line: time,
                    call: event.call,
                },
            );
            continue;
        }
        let Some(call) = pending.remove(&event.process) else {
            return Err(error(format!(
                "process {} completes a call it never invoked",
                event.process
            )));
        };
        if std::mem::discriminant(&call.call) != std::mem::discriminant(&event.call) {
            return Err(error(format!(
                "process {} completes a different call",
                event.process
            )));
        }
        let input = RegisterInput {
            key: 0,
            call: call.call,
        };
        let output = match (event.kind, call.call) {
            (EventKind::Info, RegisterCall::Read) => continue,
            (EventKind::Fail, RegisterCall::Read) if event.timed_out => continue,
            (EventKind::Info, _) => {
                operations.push(Operation::indeterminate(
                    event.process,
                    call.invoke_line,
                    input,
                ));
                continue;
            }
            (EventKind::Ok, RegisterCall::Read) => RegisterOutput::Read {
                value: event.read_value,
            },
            (EventKind::Ok, RegisterCall::Write { .. }) => RegisterOutput::Write,
            (EventKind::Ok, RegisterCall::Cas { .. }) => RegisterOutput::Cas { ok: true },
            (EventKind::Fail, RegisterCall::Cas { .. }) => RegisterOutput::Cas { ok: false },
            _ => return Err(error("a :fail for a call that cannot fail".to_string())),
        };
        operations.push(Operation::completed(
            event.process,
            call.invoke_line,
            time,
            input,
            output,
        ));
    }
    for (process, call) in pending {
        if call.call != RegisterCall::Read {
            let input = RegisterInput {
                key: 0,
                call: call.call,
            };
            operations.push(Operation::indeterminate(process, call.invoke_line, input));
        }
    }
    Ok(History::new(operations))
}

fn parse_event(line: &str) -> Result<Event, String> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let marker = fields
        .iter()
        .position(|field| *field == "-")
        .ok_or("no ` - ` separator")?;
    let rest = &fields[marker + 1..];
    let [process, kind, function, arguments @ ..] = rest else {
        return Err("expected `<process> <:type> <:f> <value>`".to_string());
    };
    let process: u64 = process
        .parse()
        .map_err(|_| format!("bad process `{process}`"))?;
    let kind = match *kind {
        ":invoke" => EventKind::Invoke,
        ":ok" => EventKind::Ok,
        ":fail" => EventKind::Fail,
        ":info" => EventKind::Info,
        other => return Err(format!("unknown event type `{other}`")),
    };
    let timed_out = arguments == [":timed-out"];
    let mut read_value = None;
    let call = match (*function, arguments) {
        (":read", _) if timed_out => RegisterCall::Read,
        (":read", [value]) => {
            read_value = parse_optional(value)?;
            RegisterCall::Read
        }
        (":write", _) if timed_out => RegisterCall::Write { value: 0 },
        (":write", [value]) => RegisterCall::Write {
            value: parse_number(value)?,
        },
        (":cas", _) if timed_out => RegisterCall::Cas { from: 0, to: 0 },
        (":cas", [from, to]) => {
            let from = from
                .strip_prefix('[')
                .ok_or("cas argument is not `[from to]`")?;
            let to = to
                .strip_suffix(']')
                .ok_or("cas argument is not `[from to]`")?;
            RegisterCall::Cas {
                from: parse_number(from)?,
                to: parse_number(to)?,
            }
        }
        (function, arguments) => {
            return Err(format!("cannot read `{function} {}`", arguments.join(" ")))
        }
    };
    if timed_out && !matches!(kind, EventKind::Info | EventKind::Fail) {
        return Err("only :info and :fail events time out".to_string());
    }
    Ok(Event {
        process,
        kind,
        call,
        read_value,
        timed_out,
    })
}

fn parse_number(text: &str) -> Result<i64, String> {
    text.parse().map_err(|_| format!("bad number `{text}`"))
}

fn parse_optional(text: &str) -> Result<Option<i64>, String> {
    if text == "nil" {
        return Ok(None);
    }
    parse_number(text).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_event_shape() {
        let log = "INFO  jepsen.util - 0\t:invoke\t:read\tnil\n\
                   INFO  jepsen.util - 1\t:invoke\t:write\t3\n\
                   INFO  jepsen.util - 0\t:ok\t:read\tnil\n\
                   INFO  jepsen.util - 2 :invoke :cas [3 4]\n\
                   INFO  jepsen.util - 1\t:info\t:write\t:timed-out\n\
                   INFO  jepsen.util - 2 :fail :cas [3 4]\n\
                   INFO  jepsen.util - 5\t:invoke\t:read\tnil\n\
                   INFO  jepsen.util - 5\t:fail\t:read\t:timed-out\n\
                   INFO  jepsen.util - 6\t:invoke\t:cas\t[1 2]\n";
        let history = parse(log).expect("parses");
        assert_eq!(history.len(), 4, "the timed-out read is dropped");
        assert_eq!(
            history.operations[0].output,
            Some(RegisterOutput::Read { value: None })
        );
        assert!(history.operations[1].is_indeterminate());
        assert_eq!(
            history.operations[2].output,
            Some(RegisterOutput::Cas { ok: false })
        );
        assert_eq!(
            (
                history.operations[2].invoke_ns,
                history.operations[2].complete_ns
            ),
            (4, Some(6))
        );
        assert!(history.operations[3].is_indeterminate(), "never answered");
    }

    #[test]
    fn names_the_bad_line() {
        let log =
            "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:ok\t:read\tx\n";
        let error = parse(log).expect_err("bad value");
        assert_eq!(error.line, 2);
        assert!(error.message.contains("`x`"), "{error}");
    }
}
