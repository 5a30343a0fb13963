//! Reads and writes histories as JSON lines, one operation per line (format in the module doc
//! of [`crate::checker`]).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::checker::history::{History, Operation};
use crate::checker::jepsen::ParseError;

#[derive(Serialize, Deserialize)]
struct Line<Input, Output> {
    client: u64,
    invoke_ns: u64,
    #[serde(default)]
    complete_ns: Option<u64>,
    input: Input,
    #[serde(default = "none")]
    output: Option<Output>,
}

fn none<T>() -> Option<T> {
    None
}

/// Parses a history; blank lines and lines starting with `#` are skipped.
pub fn parse<Input, Output>(text: &str) -> Result<History<Input, Output>, ParseError>
where
    Input: DeserializeOwned,
    Output: DeserializeOwned,
{
    let mut operations = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let error = |message: String| ParseError {
            line: index + 1,
            message,
        };
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let parsed: Line<Input, Output> =
            serde_json::from_str(trimmed).map_err(|cause| error(cause.to_string()))?;
        let operation = match (parsed.complete_ns, parsed.output) {
            (Some(complete_ns), Some(output)) => {
                if complete_ns < parsed.invoke_ns {
                    return Err(error("complete_ns is before invoke_ns".to_string()));
                }
                Operation::completed(
                    parsed.client,
                    parsed.invoke_ns,
                    complete_ns,
                    parsed.input,
                    output,
                )
            }
            (None, None) => Operation::indeterminate(parsed.client, parsed.invoke_ns, parsed.input),
            (Some(_), None) => return Err(error("complete_ns without output".to_string())),
            (None, Some(_)) => return Err(error("output without complete_ns".to_string())),
        };
        operations.push(operation);
    }
    Ok(History::new(operations))
}

/// Writes a history, one operation per line.
pub fn write<Input, Output>(history: &History<Input, Output>) -> String
where
    Input: Serialize,
    Output: Serialize,
{
    let mut text = String::new();
    for operation in &history.operations {
        let line = Line {
            client: operation.client,
            invoke_ns: operation.invoke_ns,
            complete_ns: operation.complete_ns,
            input: &operation.input,
            output: operation.output.as_ref(),
        };
        text.push_str(&serde_json::to_string(&line).expect("histories serialise"));
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::model::cas_register::{RegisterInput, RegisterOutput};
    use crate::checker::model::om::{OmOp, OmOutcome, OmResponse, Quota};

    #[test]
    fn register_lines_round_trip() {
        let text = r#"{"client":1,"invoke_ns":0,"complete_ns":5,"input":{"op":"write","value":3},"output":{"op":"write"}}
# a comment
{"client":2,"invoke_ns":1,"complete_ns":null,"input":{"op":"cas","key":4,"from":3,"to":4},"output":null}
{"client":3,"invoke_ns":2,"input":{"op":"read"}}
{"client":4,"invoke_ns":6,"complete_ns":9,"input":{"op":"read"},"output":{"op":"read","value":null}}
"#;
        let history: History<RegisterInput, RegisterOutput> = parse(text).expect("parses");
        assert_eq!(history.len(), 4);
        assert_eq!(
            history.operations[1].input,
            RegisterInput::cas(3, 4).on_key(4)
        );
        assert!(history.operations[2].is_indeterminate());
        assert_eq!(
            parse::<RegisterInput, RegisterOutput>(&write(&history)),
            Ok(history)
        );
    }

    #[test]
    fn om_lines_round_trip() {
        let text = r#"{"client":1,"invoke_ns":0,"complete_ns":5,"input":{"CreateVolume":{"volume":"vol1","owner":"alice","quota":{"bytes":null,"namespace":10}}},"output":{"Ok":"Done"}}
{"client":2,"invoke_ns":1,"complete_ns":4,"input":{"VolumeInfo":{"volume":"vol1"}},"output":{"Err":"VOLUME_NOT_FOUND"}}
"#;
        let history: History<OmOp, OmOutcome> = parse(text).expect("parses");
        let quota = Quota {
            bytes: None,
            namespace: Some(10),
        };
        let create = OmOp::CreateVolume {
            volume: "vol1".into(),
            owner: "alice".into(),
            quota,
        };
        assert_eq!(history.operations[0].input, create);
        assert_eq!(history.operations[0].output, Some(Ok(OmResponse::Done)));
        assert_eq!(parse::<OmOp, OmOutcome>(&write(&history)), Ok(history));
    }

    #[test]
    fn errors_name_the_line() {
        let text = "\n{\"client\":1,\"invoke_ns\":5,\"complete_ns\":4,\"input\":{\"op\":\"read\"},\"output\":{\"op\":\"read\",\"value\":1}}\n";
        let error =
            parse::<RegisterInput, RegisterOutput>(text).expect_err("completes before it starts");
        assert_eq!(error.line, 2);
        let error = parse::<RegisterInput, RegisterOutput>("{nope").expect_err("not json");
        assert_eq!(error.line, 1);
    }
}
