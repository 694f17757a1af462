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
pub fn guard_reply(line: &str) -> Option<String> {
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
    let well_formed = object.get("jsonrpc").and_then(Value::as_str) == Some("2.0")
        && (object.get("method").is_some_and(Value::is_string)
            || (id.is_some() && (object.contains_key("result") || object.contains_key("error"))));
    if well_formed {
        None
    } else {
        Some(error_line(
            id.unwrap_or(Value::Null),
            -32600,
            "Invalid Request: expected {\"jsonrpc\":\"2.0\", \"method\": ...} or a response",
        ))
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
    tokio::spawn(async move {
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if line.trim().is_empty() {
                continue;
            }
            let forwarded = match guard_reply(&line) {
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

    let running = server
        .serve((to_rmcp_read, to_rmcp_write))
        .await
        .map_err(|error| StdioError::Handshake(error.to_string()))?;
    running
        .waiting()
        .await
        .map_err(|error| StdioError::Stopped(error.to_string()))?;
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
}
