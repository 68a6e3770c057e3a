//! The raw baseline servers of the benchmarks: how they run (their own thread and
//! current-thread runtime, as a chatmock server does) and a bare HTTP/1.1 request reader,
//! shared so every baseline runs and parses requests the same way.

use std::future::Future;
use std::net::SocketAddr;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// Starts a baseline server on a free loopback port, on its own thread and runtime, that
/// runs `serve` for each connection until the returned sender is sent to or dropped.
pub fn spawn_server<F, Fut>(serve: F) -> (SocketAddr, oneshot::Sender<()>)
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new().name(format!("baseline-{}", address.port()));
    thread
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).unwrap();
                let accept = async {
                    loop {
                        let (socket, _) = listener.accept().await.unwrap();
                        socket.set_nodelay(true).unwrap();
                        tokio::spawn(serve(socket));
                    }
                };
                tokio::select! {
                    () = accept => {}
                    _ = stopped => {}
                }
            });
        })
        .unwrap();
    (address, stop)
}

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
