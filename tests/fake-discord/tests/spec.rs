//! Discord's OpenAPI spec judging REST traffic through the fake's real HTTP server: a request the spec rejects is a
//! violation named by operation id and JSON pointers, a valid one is not, and an answer that is not what the spec
//! says Discord answers is a violation too.

use std::time::Duration;

use fake_discord::{FakeDiscord, TEXT_CHANNEL_ID};
use serde_json::{Value, json};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

async fn post(d: &FakeDiscord, path: &str, body: &Value) -> u16 {
    client()
        .post(format!("{}/api/v10{path}", d.rest_base()))
        .header("authorization", format!("Bot {}", d.token()))
        .json(body)
        .send()
        .await
        .expect("reachable")
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_message_the_spec_accepts_is_not_reported() {
    let d = FakeDiscord::start().await;
    let body = json!({
        "content": "Now playing: Jazz FM",
        "embeds": [{"title": "Jazz FM", "description": "live", "color": 0x00ff_8800}],
        "components": [{"type": 1, "components": [
            {"type": 2, "style": 4, "label": "Stop", "custom_id": "radio:stop"}
        ]}],
        "allowed_mentions": {"parse": []},
    });
    assert_eq!(
        post(&d, &format!("/channels/{TEXT_CHANNEL_ID}/messages"), &body).await,
        200
    );
    assert_eq!(d.violations(), Vec::<String>::new());
    // And the stored answer, components numbered as Discord numbers them, passes the response check too.
    let m = &d.messages()[0];
    assert_eq!(m.components[0]["id"], 1);
    assert_eq!(m.components[0]["components"][0]["id"], 2);
}

#[tokio::test]
async fn a_wrong_typed_message_field_is_reported_by_operation_and_pointer() {
    let d = FakeDiscord::start().await;
    // `tts` is a boolean in MessageCreateRequest, and an embed's `color` an integer.
    let body =
        json!({"content": "hi", "tts": "yes", "embeds": [{"title": "t", "color": "orange"}]});
    post(&d, &format!("/channels/{TEXT_CHANNEL_ID}/messages"), &body).await;
    let violations: Vec<String> = d
        .take_violations()
        .into_iter()
        .filter(|v| v.contains("request body"))
        .collect();
    assert_eq!(violations.len(), 2, "{violations:#?}");
    assert!(
        violations
            .iter()
            .any(|v| v.contains("create_message request body at `/tts`")
                && v.contains("#/components/schemas/MessageCreateRequest/properties/tts/type")),
        "{violations:#?}"
    );
    assert!(
        violations.iter().any(
            |v| v.contains("create_message request body at `/embeds/0/color`")
                && v.contains("#/components/schemas/RichEmbed/properties/color/type")
        ),
        "{violations:#?}"
    );
}

#[tokio::test]
async fn an_interaction_callback_of_an_unknown_type_is_reported() {
    let d = FakeDiscord::start().await;
    // No such interaction either (the fake's own rule); the spec's verdict is about the body.
    post(
        &d,
        "/interactions/1/tok/callback",
        &json!({"type": 42, "data": {"content": "hi"}}),
    )
    .await;
    let violations = d.take_violations();
    assert!(
        violations
            .iter()
            .any(|v| v.contains("create_interaction_response request body at `/type`")),
        "{violations:#?}"
    );
    assert!(
        violations
            .iter()
            .any(|v| v.contains("callback for unknown interaction"))
    );
}

#[tokio::test]
async fn unknown_query_parameters_and_bad_path_ids_are_reported() {
    let d = FakeDiscord::start().await;
    let status = client()
        .get(format!(
            "{}/api/v10/channels/general?limit=5",
            d.rest_base()
        ))
        .header("authorization", format!("Bot {}", d.token()))
        .send()
        .await
        .expect("reachable")
        .status();
    assert_eq!(status, 404);
    let violations = d.take_violations();
    assert!(
        violations
            .iter()
            .any(|v| v.contains("get_channel request path at `channel_id`")),
        "{violations:#?}"
    );
    assert!(
        violations
            .iter()
            .any(|v| v.contains("`limit` is not a query parameter of /channels/{channel_id}")),
        "{violations:#?}"
    );
}

#[tokio::test]
async fn an_answer_that_is_not_what_discord_answers_is_reported() {
    let d = FakeDiscord::start().await;
    // A 200 with an error body: get_my_user's 200 is a UserPIIResponse, so the answer is judged wrong.
    d.rest()
        .inject_error(Some("GET"), "/users/@me", 1, 200, 0, "not a user");
    let status = client()
        .get(format!("{}/api/v10/users/@me", d.rest_base()))
        .header("authorization", format!("Bot {}", d.token()))
        .send()
        .await
        .expect("reachable")
        .status();
    assert_eq!(status, 200);
    let violations = d.take_violations();
    assert!(
        violations.iter().any(|v| v
            .contains("get_my_user response 200 at ``: \"id\" is a required property")
            && v.contains("#/components/schemas/UserPIIResponse/required")),
        "{violations:#?}"
    );
    // The fake's own answer to the same request passes.
    let status = client()
        .get(format!("{}/api/v10/users/@me", d.rest_base()))
        .header("authorization", format!("Bot {}", d.token()))
        .send()
        .await
        .expect("reachable")
        .status();
    assert_eq!(status, 200);
    assert_eq!(d.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn every_fixture_route_answers_as_the_spec_says() {
    let d = FakeDiscord::start().await;
    let app = fake_discord::APPLICATION_ID;
    let guild = fake_discord::GUILD_ID;
    for path in [
        "/gateway".to_owned(),
        "/gateway/bot".to_owned(),
        "/users/@me".to_owned(),
        "/oauth2/applications/@me".to_owned(),
        format!("/channels/{TEXT_CHANNEL_ID}"),
        format!("/guilds/{guild}"),
        format!("/guilds/{guild}/channels"),
        format!("/guilds/{guild}/roles"),
        format!("/guilds/{guild}/members/{}", fake_discord::LISTENER_ID),
        format!("/users/{}", fake_discord::LISTENER_ID),
        format!("/applications/{app}/commands"),
    ] {
        let status = client()
            .get(format!("{}/api/v10{path}", d.rest_base()))
            .header("authorization", format!("Bot {}", d.token()))
            .send()
            .await
            .expect("reachable")
            .status();
        assert_eq!(status, 200, "GET {path}");
    }
    assert_eq!(d.violations(), Vec::<String>::new());
}
