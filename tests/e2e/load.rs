//! Load and teardown: thousands of concurrent streams, clients hanging up at chosen
//! points, and a server dropped with a thousand streams in flight. Bounded in time;
//! loopback only.

use std::time::{Duration, Instant};

use chatmock::{MockChatServer, Reply, StreamOutcome};
use futures::StreamExt;

use crate::support::{assert_between, chat_body, chat_url, chunks, ms, post_chat};

/// Each stream holds two descriptors (client and server side); make sure the soft limit
/// allows what the hard limit does, as a CI machine's default may be low.
fn raise_open_file_limit() {
    #[cfg(unix)]
    // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

const STREAMS: usize = 2_000;
const TOKENS: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_concurrent_streams_arrive_whole_while_others_hang_up() {
    raise_open_file_limit();
    let tokens: Vec<String> = (0..TOKENS).map(|index| format!("t{index} ")).collect();
    let server = MockChatServer::builder()
        .reply(Reply::tokens(tokens.clone()).token_delay(ms(5)))
        .wait_timeout(Duration::from_secs(30))
        .start()
        .await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let started = Instant::now();

    // Client i reads the whole stream if i is even; otherwise it hangs up after
    // (i / 2) % TOKENS tokens.
    let clients = (0..STREAMS).map(|index| {
        let client = client.clone();
        let url = chat_url(&server);
        let hang_up_after = (index % 2 == 1).then_some((index / 2) % TOKENS);
        tokio::spawn(async move {
            let response = client
                .post(url)
                .header("x-client", index.to_string())
                .body(chat_body("m", "x", true))
                .send()
                .await
                .expect("every request is answered");
            let mut body = response.bytes_stream();
            let mut received = Vec::new();
            while let Some(chunk) = body.next().await {
                received.extend_from_slice(&chunk.expect("a stream in full"));
                let tokens_so_far = received
                    .windows(11)
                    .filter(|w| w == b"\"content\":\"")
                    .count();
                // The role chunk's empty content counts too.
                if hang_up_after.is_some_and(|limit| tokens_so_far > limit) {
                    break;
                }
            }
            (hang_up_after, received)
        })
    });
    let results = futures::future::join_all(clients).await;

    let expected_text = tokens.concat();
    for result in results {
        let (hang_up_after, received) = result.expect("no client panicked");
        let text = crate::support::content_of(&chunks(&received).await);
        match hang_up_after {
            None => {
                assert_eq!(text, expected_text);
                assert!(received.ends_with(b"data: [DONE]\n\n"));
            }
            Some(_) => assert!(expected_text.starts_with(&text), "tokens arrive in order"),
        }
    }
    let requests = server.wait_for_streams_to_end().await.unwrap();
    assert_eq!(requests.len(), STREAMS);
    let mut hung_up = 0;
    for request in &requests {
        let index: usize = request.header("x-client").unwrap().parse().unwrap();
        let outcome = request.stream_outcome();
        match (index % 2 == 1).then_some((index / 2) % TOKENS) {
            None => assert_eq!(
                outcome,
                &StreamOutcome::Completed {
                    content_events: TOKENS
                }
            ),
            // A client that hangs up may find the whole stream already written to its
            // socket; otherwise the server saw at least what the client read.
            Some(read) => match outcome {
                StreamOutcome::Completed {
                    content_events: TOKENS,
                } => {}
                StreamOutcome::ClientHungUp { content_events } if *content_events >= read => {
                    hung_up += 1;
                }
                other => panic!("client {index} read {read} tokens, server recorded {other:?}"),
            },
        }
    }
    assert!(hung_up > 0, "some hang-ups are noticed mid-stream");
    assert_between("all streams", started.elapsed(), ms(0), ms(30_000));

    let after = post_chat(&server, chat_body("m", "x", true)).await;
    assert_eq!(after.status(), 200, "the server keeps serving");
    eprintln!(
        "{STREAMS} concurrent streams of {TOKENS} tokens at 5 ms: {:?}; {hung_up} hang-ups noticed mid-stream",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_server_with_a_thousand_streams_in_flight_is_prompt() {
    raise_open_file_limit();
    let server = MockChatServer::builder()
        .reply(Reply::text("first second").stall_after(1))
        .wait_timeout(Duration::from_secs(30))
        .start()
        .await;
    let address = *server.address();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let streams = futures::future::join_all((0..1_000).map(|_| {
        let request = client
            .post(chat_url(&server))
            .body(chat_body("m", "x", true));
        async move {
            let mut body = request.send().await.unwrap().bytes_stream();
            body.next().await.unwrap().unwrap();
            body
        }
    }))
    .await;
    server.wait_for_requests(1_000).await.unwrap();

    let dropping = Instant::now();
    drop(server);
    let drop_took = dropping.elapsed();

    let ending = Instant::now();
    let ends = futures::future::join_all(
        streams
            .into_iter()
            .map(|mut body| async move { tokio::time::timeout(ms(5_000), body.next()).await }),
    )
    .await;
    let all_ended_after = ending.elapsed();
    assert!(ends
        .iter()
        .all(|end| matches!(end, Ok(None | Some(Err(_))))));
    assert_between(
        "drop with 1,000 streams in flight",
        drop_took,
        ms(0),
        ms(1_000),
    );
    assert_between(
        "every client sees the end",
        all_ended_after,
        ms(0),
        ms(2_000),
    );
    std::net::TcpListener::bind(address).expect("the port is free right after the drop");
    eprintln!("drop with 1,000 streams in flight: {drop_took:?}; clients saw the end within {all_ended_after:?}");
}
