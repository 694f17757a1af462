//! `backoffice mcp`'s stdio transport: newline-delimited JSON-RPC on stdin and stdout, with a
//! guard in front of rmcp.
//!
//! rmcp drops a line it cannot parse without a word, which leaves a client waiting for a
//! reply that never comes. The guard answers such lines itself, as JSON-RPC says: `-32700`
//! for text that is not JSON, `-32600` for JSON that is not a JSON-RPC message (batches were
//! removed from MCP in 2025-06-18). Everything else goes to rmcp unchanged. One task owns
//! stdout, so the guard's answers and rmcp's never interleave within a line.

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use rmcp::ServiceExt;

use super::tools::RegistryServer;

/// Bytes buffered between the guard and rmcp in each direction.
const PIPE: usize = 1 << 20;

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum StdioError {
    #[error("MCP handshake failed: {0}")]
    Handshake(String),
    #[error("MCP server stopped: {0}")]
    Stopped(String),
    #[error("cannot write to stdout: {0}")]
    Stdout(#[from] std::io::Error),
}

/// The reply the guard gives `line` itself, or `None` when rmcp should have it.
/// `needs_arguments` lists each tool with required arguments and their names.
pub fn guard_reply(line: &str, needs_arguments: &[(String, Vec<String>)]) -> Option<String> {
    let value: Value = match serde_json::from_str(line) {
        Ok(value) => value,
        Err(error) => {
            return Some(error_line(
                Value::Null,
                -32700,
                &format!("Parse error: {error}"),
            ));
        }
    };
    let Some(object) = value.as_object() else {
        return Some(error_line(
            Value::Null,
            -32600,
            "Invalid Request: send one JSON-RPC object per line (no batches)",
        ));
    };
    let id = object
        .get("id")
        .filter(|id| id.is_string() || id.is_number())
        .cloned();
    let method = object.get("method").and_then(Value::as_str);
    if method.is_some() && object.contains_key("id") && id.is_none() {
        // rmcp would answer without any `id`, which no client can match to its request.
        return Some(error_line(
            Value::Null,
            -32600,
            "Invalid Request: `id` must be a string or a number (MCP does not allow null)",
        ));
    }
    let well_formed = object.get("jsonrpc").and_then(Value::as_str) == Some("2.0")
        && (method.is_some()
            || (id.is_some() && (object.contains_key("result") || object.contains_key("error"))));
    if !well_formed {
        return Some(error_line(
            id.unwrap_or(Value::Null),
            -32600,
            "Invalid Request: expected {\"jsonrpc\":\"2.0\", \"method\": ...} or a response",
        ));
    }
    match (method, id) {
        (Some("tools/call"), Some(id)) => tool_call_problem(object.get("params"), needs_arguments)
            .map(|message| error_line(id, -32602, &message)),
        _ => None,
    }
}

/// What is wrong with a `tools/call`'s params, when rmcp would misreport it (a non-object
/// `arguments` comes back as -32601 "method not found"; missing required arguments as a
/// deserialisation message).
fn tool_call_problem(
    params: Option<&Value>,
    needs_arguments: &[(String, Vec<String>)],
) -> Option<String> {
    let Some(params) = params.and_then(Value::as_object) else {
        return Some(
            "Invalid params: tools/call needs params {\"name\": ..., \"arguments\": {...}}".into(),
        );
    };
    let Some(name) = params.get("name").and_then(Value::as_str) else {
        return Some("Invalid params: `name` must be the tool's name, a string".into());
    };
    match params.get("arguments") {
        Some(Value::Object(_)) => None,
        None | Some(Value::Null) => {
            needs_arguments
                .iter()
                .find(|(tool, _)| tool == name)
                .map(|(_, required)| {
                    format!(
                        "Invalid params: `arguments` is missing; {name} needs an object with {}",
                        required.join(", ")
                    )
                })
        }
        Some(other) => Some(format!(
            "Invalid params: `arguments` must be an object, not {}",
            match other {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                _ => "a boolean",
            }
        )),
    }
}

fn error_line(id: Value, code: i64, message: &str) -> String {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}).to_string()
}

/// Serves `server` on stdin/stdout until stdin closes (or the client ends the session).
pub async fn serve(server: RegistryServer) -> Result<(), StdioError> {
    let (guard_side, rmcp_side) = tokio::io::duplex(PIPE);
    let (to_rmcp_read, to_rmcp_write) = tokio::io::split(rmcp_side);
    let (from_rmcp, mut to_rmcp) = tokio::io::split(guard_side);
    let (out, mut outgoing) = mpsc::channel::<String>(256);

    let replies = out.clone();
    let needs_arguments = server.tools_needing_arguments();
    tokio::spawn(async move {
        let mut stdin = BufReader::new(tokio::io::stdin());
        let mut bytes = Vec::new();
        loop {
            bytes.clear();
            match stdin.read_until(b'\n', &mut bytes).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            // A line that is not UTF-8 is a parse error to answer, not the end of input.
            let line = match std::str::from_utf8(&bytes) {
                Ok(line) => line.trim_end_matches(['\n', '\r']),
                Err(error) => {
                    let reply = error_line(
                        Value::Null,
                        -32700,
                        &format!(
                            "Parse error: the line is not UTF-8 (invalid byte at offset {})",
                            error.valid_up_to()
                        ),
                    );
                    if replies.send(reply).await.is_err() {
                        break;
                    }
                    continue;
                }
            };
            if line.trim().is_empty() {
                continue;
            }
            let forwarded = match guard_reply(line, &needs_arguments) {
                Some(reply) => replies.send(reply).await.is_ok(),
                None => {
                    to_rmcp.write_all(line.as_bytes()).await.is_ok()
                        && to_rmcp.write_all(b"\n").await.is_ok()
                }
            };
            if !forwarded {
                break;
            }
        }
        // End of input for rmcp: it finishes and returns. (Dropping the half is not enough:
        // the duplex stays open while the other half lives.)
        let _ = to_rmcp.shutdown().await;
    });
    tokio::spawn(async move {
        let mut lines = BufReader::new(from_rmcp).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if out.send(line).await.is_err() {
                break;
            }
        }
    });
    let writer = tokio::spawn(async move {
        let mut stdout = tokio::io::stdout();
        while let Some(line) = outgoing.recv().await {
            stdout.write_all(line.as_bytes()).await?;
            stdout.write_all(b"\n").await?;
            stdout.flush().await?;
        }
        Ok::<(), std::io::Error>(())
    });

    let counting = server.counting();
    let running = server
        .serve((to_rmcp_read, to_rmcp_write))
        .await
        .map_err(|error| StdioError::Handshake(error.to_string()))?;
    running
        .waiting()
        .await
        .map_err(|error| StdioError::Stopped(error.to_string()))?;
    counting.settle(std::time::Duration::from_secs(2)).await;
    // rmcp has dropped its end: the relay ends, the writer drains what is left and ends.
    match writer.await {
        Ok(result) => Ok(result?),
        Err(error) => Err(StdioError::Stopped(error.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guard_answers_what_is_not_json_rpc() {
        let guard_reply = |line: &str| guard_reply(line, &[]);
        assert_eq!(
            guard_reply(r#"{"jsonrpc":"2.0","id":0,"method":"ping"}"#),
            None
        );
        assert_eq!(
            guard_reply(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            None
        );
        assert_eq!(
            guard_reply(r#"{"jsonrpc":"2.0","id":"a","result":{}}"#),
            None
        );
        let null_id: Value = serde_json::from_str(
            &guard_reply(r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#).expect("reply"),
        )
        .expect("json");
        assert_eq!(
            (null_id.get("id"), null_id["error"]["code"].clone()),
            (Some(&Value::Null), json!(-32600))
        );
        let parse: Value =
            serde_json::from_str(&guard_reply("not json").expect("reply")).expect("json");
        assert_eq!(
            (parse["id"].clone(), parse["error"]["code"].clone()),
            (Value::Null, json!(-32700))
        );
        let batch: Value = serde_json::from_str(&guard_reply("[]").expect("reply")).expect("json");
        assert_eq!(batch["error"]["code"], -32600);
        let no_method: Value =
            serde_json::from_str(&guard_reply(r#"{"jsonrpc":"2.0","id":7}"#).expect("reply"))
                .expect("json");
        assert_eq!(
            (no_method["id"].clone(), no_method["error"]["code"].clone()),
            (json!(7), json!(-32600))
        );
    }

    #[test]
    fn tool_calls_with_bad_arguments_are_invalid_params() {
        let needs = [("extract".to_string(), vec!["query".to_string()])];
        let code = |line: &str| {
            guard_reply(line, &needs).map(|reply| {
                let reply: Value = serde_json::from_str(&reply).expect("json");
                (reply["id"].clone(), reply["error"]["code"].clone())
            })
        };
        let call = |params: &str| {
            format!(r#"{{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{params}}}"#)
        };
        for params in [
            r#"{"name":"extract","arguments":"x"}"#,
            r#"{"name":"extract","arguments":[1]}"#,
            r#"{"name":"extract"}"#,
            r#"{"arguments":{}}"#,
            r#"[]"#,
        ] {
            assert_eq!(
                code(&call(params)),
                Some((json!(9), json!(-32602))),
                "{params}"
            );
        }
        assert_eq!(code(&call(r#"{"name":"list_sessions"}"#)), None);
        assert_eq!(
            code(&call(r#"{"name":"extract","arguments":{"query":"x"}}"#)),
            None
        );
    }
}
