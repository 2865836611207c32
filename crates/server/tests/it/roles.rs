//! Collaborator roles through the API: for every (caller role, target role) pair, and every
//! change or removal, a caller acts only on roles at or below its own and grants none above it.

use axum::http::StatusCode;
use serde_json::json;

use super::harness::TestApp;

const ROLES: [&str; 4] = ["labeler", "reviewer", "manager", "admin"];

fn rank(role: &str) -> usize {
    ROLES.iter().position(|r| *r == role).unwrap()
}

/// Makes `user` a collaborator of jane/flowers with `role`, whatever it was before.
async fn set_role(app: &TestApp, jane: &str, user: &str, role: &str) {
    let path = format!("/datasets/jane/flowers/collaborators/{user}");
    let r = app.call("DELETE", &path, jane, None).await;
    assert!(
        r.status == StatusCode::NO_CONTENT || r.status == StatusCode::NOT_FOUND,
        "{}",
        r.body
    );
    let r = app
        .call(
            "POST",
            "/datasets/jane/flowers/collaborators/",
            jane,
            Some(json!({"user": user, "role": role})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}

async fn role_of(app: &TestApp, jane: &str, user: &str) -> Option<String> {
    let path = format!("/datasets/jane/flowers/collaborators/{user}");
    let r = app.call("GET", &path, jane, None).await;
    (r.status == StatusCode::OK).then(|| r.body["role"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn every_role_pair_changes_and_removes_only_at_or_below_its_own_role() {
    let app = TestApp::new().await;
    let jane = app.user("jane").await;
    let r = app
        .call(
            "POST",
            "/user/datasets/",
            &jane,
            Some(json!({"name": "flowers", "task_type": "vector"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let carol = app.user("carol").await;
    app.user("bob").await;
    let target = "/datasets/jane/flowers/collaborators/bob";
    let mut checked = 0;
    for caller_role in ROLES {
        set_role(&app, &jane, "carol", caller_role).await;
        let manages = rank(caller_role) >= rank("manager");
        for target_role in ROLES {
            let may = manages && rank(target_role) <= rank(caller_role);
            for new_role in ROLES {
                set_role(&app, &jane, "bob", target_role).await;
                let r = app
                    .call("PATCH", target, &carol, Some(json!({"role": new_role})))
                    .await;
                let ok = may && rank(new_role) <= rank(caller_role);
                let case = format!("{caller_role} sets {target_role} to {new_role}");
                if ok {
                    assert_eq!(r.status, StatusCode::OK, "{case}: {}", r.body);
                    assert_eq!(role_of(&app, &jane, "bob").await.unwrap(), new_role);
                } else {
                    assert_eq!(r.status, StatusCode::FORBIDDEN, "{case}: {}", r.body);
                    assert!(r.body["detail"].as_str().is_some(), "{case}");
                    assert_eq!(role_of(&app, &jane, "bob").await.unwrap(), target_role);
                }
                checked += 1;
            }
            set_role(&app, &jane, "bob", target_role).await;
            let r = app.call("DELETE", target, &carol, None).await;
            let case = format!("{caller_role} removes {target_role}");
            if may {
                assert_eq!(r.status, StatusCode::NO_CONTENT, "{case}: {}", r.body);
                assert_eq!(role_of(&app, &jane, "bob").await, None);
            } else {
                assert_eq!(r.status, StatusCode::FORBIDDEN, "{case}: {}", r.body);
                assert_eq!(role_of(&app, &jane, "bob").await.unwrap(), target_role);
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 4 * 4 * 5);
    // The owner outranks every role; anyone may still leave.
    set_role(&app, &jane, "bob", "admin").await;
    let r = app
        .call("PATCH", target, &jane, Some(json!({"role": "labeler"})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    set_role(&app, &jane, "carol", "labeler").await;
    let r = app
        .call(
            "DELETE",
            "/datasets/jane/flowers/collaborators/carol",
            &carol,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
}
