//! The store's contract suite: every method of `Store` and `WebhookStore`, exercised through
//! the traits only (no SQL, no backend types), so that every backend must pass the same tests.
//!
//! # Layout
//!
//! Each test is a plain `pub async fn name(store: Arc<dyn Store>)` in an area module
//! (`accounts`, `datasets`, …). The `contract_suite!` list at the bottom instantiates each one
//! as a `#[tokio::test]` per backend, each on a fresh, empty store: `sqlite::<area>::<name>`
//! and `postgres::<area>::<name>`. Queue methods are called with explicit `now` values (unix
//! ms); new deliveries are stamped with the store's own clock, so tests pick `now` relative to
//! the wall clock (`support::later`).
//!
//! # PostgreSQL
//!
//! The PostgreSQL half plugs in through `DATAHOOKS_TEST_PG_URL`, a server URL (the test script
//! starts a private cluster and sets it; see style.md §4.4). `pg::on_postgres` is the
//! counterpart of `support::on_sqlite`: it creates `t_<uuid>` with `CREATE DATABASE …
//! TEMPLATE datahooks_tpl` (the template migrated once per run, with no connections left
//! open), opens the store on it with `datahooks_store::open("postgres://…")`, runs the body and
//! drops the database on `Drop` (so also after a panic). When the variable is unset, the
//! `postgres::` tests return at once without running. No test body knows its backend: they
//! only see `Arc<dyn Store>`. A third backend is one more `mod` in `contract_suite!` and one
//! more `on_<backend>` runner.
//!
//! Run with `cargo test -p datahooks-store --test contract`; set `DATAHOOKS_TEST_PG_URL` to
//! run the PostgreSQL half too.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounts;
mod apps;
mod charts;
mod datasets;
mod endpoints;
mod events;
mod fanout;
mod issues;
mod jobs;
mod lifecycle;
mod nodes;
mod operational;
mod pace;
mod pg;
mod queue;
mod samples;
mod sessions;
mod setup;
mod stream;
mod support;
mod svix_extras;
mod trace;

/// Instantiates every listed test body as a `#[tokio::test]` on each backend.
macro_rules! contract_suite {
    ($($area:ident: [$($test:ident),* $(,)?]),* $(,)?) => {
        mod sqlite {
            $(
                mod $area {
                    $(
                        #[tokio::test]
                        async fn $test() {
                            crate::support::on_sqlite(crate::$area::$test).await;
                        }
                    )*
                }
            )*
        }
        mod postgres {
            $(
                mod $area {
                    $(
                        #[tokio::test]
                        async fn $test() {
                            crate::pg::on_postgres(crate::$area::$test).await;
                        }
                    )*
                }
            )*
        }
    };
}

contract_suite! {
    svix_extras: [
        event_types_are_kept_archived_and_expunged,
        portal_links_open_sessions_that_end_with_them,
        expire_all_ends_an_accounts_links,
        endpoint_stats_count_a_window_of_messages,
    ],
    accounts: [
        create_user_returns_a_key_that_authenticates,
        revoked_keys_are_rejected,
        api_keys_are_for_users_only,
        duplicate_names_already_exist,
        organizations_members_and_roles,
        managed_accounts_are_self_and_administered_orgs,
        account_lookups,
        webhooks_can_be_switched_on_and_off,
    ],
    sessions: [
        sessions_open_with_a_valid_key_and_end_on_sign_out,
        sessions_expire,
        revoking_a_key_ends_its_sessions_only,
        deleting_a_user_ends_everything_it_held,
    ],
    datasets: [
        create_and_get_dataset,
        list_datasets_by_name_with_pages,
        update_dataset_settings,
        delete_dataset_removes_everything,
        access_levels,
        clone_dataset_without_labels,
        clone_dataset_with_labels,
        collaborators,
        labelsets,
    ],
    samples: [
        create_samples_returns_full_samples,
        create_samples_skip_existing_returns_existing_unchanged,
        create_samples_duplicate_fails_whole_call,
        list_samples_name_contains_is_literal,
        list_samples_metadata_filter,
        list_samples_label_status_filter,
        list_samples_sort_pages_and_labels,
        empty_dataset_lists_no_samples,
        update_sample,
        delete_samples_skips_unknown_ids,
        put_label_replace_semantics,
        patch_label_keeps_what_is_not_given,
        labels_get_and_delete,
    ],
    issues: [
        issues_lifecycle,
        releases_lifecycle,
        assets,
        asset_quota,
        refs_agree_with_datasets,
    ],
    events: [
        dataset_created_payload,
        dataset_settings_collaborators_and_labelsets_emit_dataset_updated,
        dataset_deleted_is_the_only_event,
        clone_emits_created_then_samples_then_labels,
        sample_events,
        label_events,
        issue_events,
        release_events,
        non_platform_changes_emit_nothing,
        events_after_pages_in_commit_order,
    ],
    endpoints: [
        create_get_and_list_endpoints,
        list_endpoints_oldest_first,
        update_and_delete_endpoints,
        rotate_secret_keeps_old_secrets_until_expiry,
        at_most_ten_old_secrets,
        endpoint_headers,
        commits_wake_the_worker,
    ],
    fanout: [
        platform_changes_fan_out_to_endpoints_that_want_them,
        no_fan_out_while_webhooks_are_disabled,
        fan_out_goes_to_the_dataset_owner_only,
        create_message_queues_for_subscribers,
        concurrent_messages_each_commit_with_their_deliveries,
        a_bad_message_among_concurrent_ones_fails_alone,
        list_messages_filters_and_pages,
        list_messages_channel_filter_is_exact,
    ],
    charts: [
        attempts_are_counted_per_hour,
    ],
    apps: [
        app_settings_are_set_and_replaced_per_account,
    ],
    lifecycle: [
        tags_are_kept_and_filter_messages_and_attempts,
        expunge_cancels_what_has_not_gone_out,
        attempt_responses_are_expunged_one_at_a_time,
        payload_retention_expires_payloads_at_their_time,
        sweep_deletes_old_finished_data_only,
        disabling_webhooks_cancels_queued_deliveries_until_recovered,
    ],
    stream: [
        messages_after_pages_in_seq_order_per_account,
        a_commit_changes_the_commit_signal,
        forwarded_events_are_attempts_of_the_listen_endpoint,
    ],
    setup: [
        setup_link_creates_the_first_user_once,
        setup_links_expire_and_unknown_ones_are_refused,
        concurrent_redeems_create_one_user,
    ],
    queue: [
        claims_pass_over_skipped_endpoints,
        next_due_leaves_out_what_cannot_be_claimed,
        commits_hand_new_deliveries_to_the_attached_worker,
        a_batch_of_attempts_is_recorded_in_order,
        throttle_slots_are_shared,
        a_restarted_node_takes_back_its_own_leases,
        claim_leases_a_delivery,
        claim_respects_limit_and_due_order,
        complete_success,
        complete_retry_reschedules,
        complete_without_retry_fails,
        only_the_lease_holder_moves_a_delivery_on,
        stale_completion_leaves_the_endpoint_alone,
        resend_queues_one_manual_attempt,
        recover_requeues_failed_never_succeeded,
        replay_missing_queues_never_queued,
        replay_missing_respects_subscriptions,
        disable_failing_endpoints_and_waiting_deliveries,
        deleting_an_endpoint_drops_its_queue_but_keeps_attempts,
        list_attempts_filters_and_pages,
        empty_queue,
        idempotency_keys_run_once_and_keep_the_response,
        task_records_are_kept_per_account_newest_first,
    ],
    trace: [
        the_callers_trace_context_travels_with_the_message,
    ],
    operational: [
        operational_endpoints_are_kept_apart,
        endpoint_changes_and_attempts_are_reported,
        operational_endpoints_cause_no_events_and_honour_filters,
        failing_then_recovered,
    ],
    jobs: [
        jobs_are_claimed_once_due_and_leased,
        an_expired_lease_lets_another_runner_take_the_job,
        a_failed_attempt_is_retried_then_given_up,
        periodic_jobs_run_one_at_a_time,
        two_runners_never_hold_the_same_job,
        a_restarted_node_hands_its_jobs_back,
        a_release_request_enqueues_its_build,
        task_jobs_queue_once_and_record_their_task,
        finished_jobs_are_pruned_and_open_ones_kept,
    ],
    nodes: [
        heartbeats_list_the_live_nodes_sorted,
        a_node_whose_lease_ran_out_or_that_left_is_not_live,
    ],
    pace: [
        a_deferred_delivery_keeps_its_attempts_and_the_failure_clock,
        holding_an_endpoint_delays_its_waiting_deliveries,
        the_pace_record_is_saved_and_read,
    ],
}
