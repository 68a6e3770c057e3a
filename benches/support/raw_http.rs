//! The request side of the raw baseline servers in the benchmarks: a bare HTTP/1.1
//! reader, shared so every baseline parses requests the same way.

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// Reads one request (head, then as much body as `Content-Length` says) from `socket`
/// and returns its body, keeping any bytes of the next request in `buffered`. `None` when
/// the client is gone.
pub async fn read_request(socket: &mut TcpStream, buffered: &mut Vec<u8>) -> Option<Vec<u8>> {
    let head_end = loop {
        if let Some(at) = find(buffered, b"\r\n\r\n") {
            break at + 4;
        }
        if !read_more(socket, buffered).await {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buffered[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .map_or(0, |value| value.trim().parse().unwrap());
    while buffered.len() < head_end + length {
        if !read_more(socket, buffered).await {
            return None;
        }
    }
    let body = buffered[head_end..head_end + length].to_vec();
    buffered.drain(..head_end + length);
    Some(body)
}

async fn read_more(socket: &mut TcpStream, buffered: &mut Vec<u8>) -> bool {
    let mut buffer = [0u8; 4096];
    match socket.read(&mut buffer).await {
        Ok(0) | Err(_) => false,
        Ok(read) => {
            buffered.extend_from_slice(&buffer[..read]);
            true
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
