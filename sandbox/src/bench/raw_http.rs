//! Two helpers for plain HTTP/1.1 relays that handle one request per connection (the AWS overlay uses
//! them): reading a message's head, and rewriting it to close the connection.

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::Error;

/// Reads from `stream` into `buf` until the end of the head; returns the head's length.
pub(crate) async fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<usize, Error> {
    loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Ok(pos + 4);
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err("connection closed before the end of the headers".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Rewrites the `Connection` header of an HTTP head to `close`.
pub(crate) fn close_head(head: &str) -> String {
    let mut lines: Vec<&str> = head
        .trim_end_matches("\r\n")
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    lines.push("Connection: close");
    format!("{}\r\n\r\n", lines.join("\r\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_rewritten_to_close_the_connection() {
        let head = "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n";
        assert_eq!(
            close_head(head),
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n"
        );
    }
}
