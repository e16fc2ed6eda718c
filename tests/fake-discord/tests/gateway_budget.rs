//! The gateway's limits, driven by a raw websocket client (no serenity in between, so the client sends exactly
//! what the test says): the send budget's 4008 at the 121st event, the per-shard sessions and routing, the
//! identify limit, and `/gateway/bot`'s shard count.

use std::time::Duration;

use fake_discord::FakeDiscord;
use fake_discord::world::{Guild, World};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const READ_TIMEOUT: Duration = Duration::from_secs(10);

async fn connect(d: &FakeDiscord) -> Ws {
    let (ws, _) =
        tokio_tungstenite::connect_async(format!("{}/?v=10&encoding=json", d.gateway_url()))
            .await
            .expect("connect to the fake gateway");
    ws
}

/// The next frame: `Ok(json)` for text, `Err(code)` for a close.
async fn next(ws: &mut Ws) -> Result<Value, u16> {
    loop {
        let msg = tokio::time::timeout(READ_TIMEOUT, ws.next())
            .await
            .expect("a frame within the timeout");
        match msg {
            Some(Ok(Message::Text(t))) => return Ok(serde_json::from_str(&t).expect("json")),
            Some(Ok(Message::Close(frame))) => {
                return Err(frame.map_or(1005, |f| u16::from(f.code)));
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("websocket error: {e}"),
            None => return Err(1006),
        }
    }
}

async fn send(ws: &mut Ws, v: &Value) {
    ws.send(Message::text(v.to_string())).await.expect("send");
}

async fn identify(d: &FakeDiscord, ws: &mut Ws, shard: [u32; 2]) {
    let hello = next(ws).await.expect("HELLO");
    assert_eq!(hello["op"], 10);
    send(
        ws,
        &json!({"op": 2, "d": {"token": format!("Bot {}", d.token()), "intents": 1 | (1 << 7),
            "properties": {"os": "linux", "browser": "raw", "device": "raw"}, "shard": shard}}),
    )
    .await;
}

/// The `t` and guild id of every dispatch until `count` frames were read.
async fn dispatches(ws: &mut Ws, count: usize) -> Vec<(String, String)> {
    let mut seen = Vec::new();
    while seen.len() < count {
        let f = next(ws).await.expect("a dispatch");
        let t = f["t"].as_str().unwrap_or("").to_owned();
        let id = if t == "READY" {
            f["d"]["guilds"].as_array().map_or(0, Vec::len).to_string()
        } else {
            f["d"]["id"].as_str().unwrap_or("").to_owned()
        };
        seen.push((t, id));
    }
    seen
}

#[tokio::test]
async fn the_121st_event_in_60_s_closes_the_connection_with_4008() {
    let d = FakeDiscord::start().await;
    let mut ws = connect(&d).await;
    identify(&d, &mut ws, [0, 1]).await;
    dispatches(&mut ws, 2).await; // READY, GUILD_CREATE
    // The identify was event 1; 119 heartbeats make 120 and are all answered.
    for n in 2..=120 {
        send(&mut ws, &json!({"op": 1, "d": n})).await;
        assert_eq!(
            next(&mut ws).await.map(|f| f["op"].clone()),
            Ok(json!(11)),
            "heartbeat {n} is acked"
        );
    }
    send(&mut ws, &json!({"op": 1, "d": 121})).await;
    assert_eq!(
        next(&mut ws).await,
        Err(4008),
        "event 121 is over Discord's budget"
    );
    let ops = d.gateway().sent_ops(0);
    assert_eq!((ops.len(), ops.count(2), ops.count(1)), (121, 1, 120));
    assert_eq!(ops.densest_window(Duration::from_secs(60)), 121);
    assert!(
        d.gateway()
            .stats()
            .closes
            .iter()
            .any(|c| c.contains("4008"))
    );
    let violations = d.take_violations();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(violations[0].contains("120"), "{violations:?}");
}

#[tokio::test]
async fn a_new_connection_has_a_new_budget() {
    let d = FakeDiscord::builder()
        .gateway_send_limit(3, Duration::from_secs(60))
        .start()
        .await
        .expect("fake");
    let mut ws = connect(&d).await;
    identify(&d, &mut ws, [0, 1]).await;
    dispatches(&mut ws, 2).await;
    for n in 0..2 {
        send(&mut ws, &json!({"op": 1, "d": n})).await;
        next(&mut ws).await.expect("ack");
    }
    send(&mut ws, &json!({"op": 1, "d": 3})).await;
    assert_eq!(next(&mut ws).await, Err(4008));
    d.take_violations();
    // The limit is per connection: a fresh one may send again (its identify is its first event).
    let mut ws = connect(&d).await;
    next(&mut ws).await.expect("HELLO");
    send(&mut ws, &json!({"op": 1, "d": null})).await;
    assert_eq!(next(&mut ws).await.map(|f| f["op"].clone()), Ok(json!(11)));
    assert!(d.violations().is_empty(), "{:?}", d.violations());
}

fn two_shard_world() -> World {
    World::empty()
        .guild(Guild::new(4 << 22, "even a").voice_channel(40, "v"))
        .guild(Guild::new(6 << 22, "even b").voice_channel(60, "v"))
        .guild(Guild::new(5 << 22, "odd").voice_channel(50, "v"))
}

#[tokio::test]
async fn each_shard_is_a_session_with_its_own_guilds_and_gateway_bot_says_how_many() {
    let d = FakeDiscord::builder()
        .world(two_shard_world())
        .shards(2)
        .max_concurrency(2)
        .start()
        .await
        .expect("fake");
    let bot: Value = reqwest::Client::new()
        .get(format!("{}/api/v10/gateway/bot", d.rest_base()))
        .header("Authorization", format!("Bot {}", d.token()))
        .send()
        .await
        .expect("GET /gateway/bot")
        .json()
        .await
        .expect("json");
    assert_eq!(
        (
            bot["shards"].as_u64(),
            bot["session_start_limit"]["max_concurrency"].as_u64()
        ),
        (Some(2), Some(2))
    );
    let (mut s0, mut s1) = (connect(&d).await, connect(&d).await);
    identify(&d, &mut s0, [0, 2]).await;
    identify(&d, &mut s1, [1, 2]).await;
    let (even_a, even_b, odd) = (
        (4u64 << 22).to_string(),
        (6u64 << 22).to_string(),
        (5u64 << 22).to_string(),
    );
    let mut shard0 = dispatches(&mut s0, 3).await;
    shard0[1..].sort();
    assert_eq!(
        shard0,
        vec![
            ("READY".into(), "2".into()),
            ("GUILD_CREATE".into(), even_a.clone()),
            ("GUILD_CREATE".into(), even_b)
        ]
    );
    assert_eq!(
        dispatches(&mut s1, 2).await,
        vec![
            ("READY".into(), "1".into()),
            ("GUILD_CREATE".into(), odd.clone())
        ]
    );
    d.gateway()
        .wait_all_shards(READ_TIMEOUT)
        .await
        .expect("both shards identified");
    assert_eq!(d.gateway().shard_of(5 << 22), 1);
    // The bot's voice update for a guild goes on that guild's shard, and is answered there.
    send(&mut s1, &json!({"op": 4, "d": {"guild_id": odd, "channel_id": "50", "self_mute": false, "self_deaf": true}})).await;
    let vsu = next(&mut s1).await.expect("VOICE_STATE_UPDATE");
    assert_eq!(vsu["t"], "VOICE_STATE_UPDATE");
    assert_eq!(d.gateway().sent_ops(1).count(4), 1);
    assert_eq!(d.gateway().sent_ops(0).count(4), 0);
    let every_shard = d.gateway().shards();
    assert!(
        every_shard.iter().all(|s| s.identified && s.connected),
        "{every_shard:?}"
    );
    // The same update on the wrong shard is not Discord's protocol.
    send(&mut s0, &json!({"op": 4, "d": {"guild_id": odd, "channel_id": null, "self_mute": false, "self_deaf": false}})).await;
    // Frames are handled in order: once the heartbeat after it is acked, the op 4 was judged.
    send(&mut s0, &json!({"op": 1, "d": null})).await;
    assert_eq!(next(&mut s0).await.map(|f| f["op"].clone()), Ok(json!(11)));
    let violations = d.take_violations();
    assert!(violations[0].contains("shard 1"), "{violations:?}");
}

#[tokio::test]
async fn identifies_beyond_max_concurrency_in_5_s_are_refused_with_op_9() {
    let d = FakeDiscord::builder()
        .world(two_shard_world())
        .shards(2)
        .start()
        .await
        .expect("fake");
    let (mut s0, mut s1) = (connect(&d).await, connect(&d).await);
    identify(&d, &mut s0, [0, 2]).await;
    dispatches(&mut s0, 3).await;
    identify(&d, &mut s1, [1, 2]).await;
    let refused = next(&mut s1).await.expect("op 9");
    assert_eq!(
        (refused["op"].as_u64(), refused["d"].as_bool()),
        (Some(9), Some(false))
    );
    assert_eq!(d.gateway().identify_refusals(), 1);
    assert!(
        d.gateway()
            .stats()
            .closes
            .iter()
            .any(|c| c.contains("max_concurrency"))
    );
    assert!(!d.gateway().shards()[1].identified);
}
