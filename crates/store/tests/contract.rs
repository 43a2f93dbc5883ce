//! One behavioural contract for every `KeyRepository` backend.
//!
//! Each case in `contract/` is written once against `Arc<dyn KeyRepository>` handles and
//! instantiated here for SQLite (`sqlite::<case>`) and PostgreSQL (`postgres::<case>`), so
//! the backends cannot drift apart unnoticed. PG cases each run in a fresh schema; without a
//! reachable server they print `SKIPPED: ...` and pass unless `PORTCULLIS_REQUIRE_POSTGRES=1`.

#[path = "contract/admin.rs"]
mod admin;
#[path = "contract/apply.rs"]
mod apply;
#[path = "contract/audit.rs"]
mod audit;
#[path = "contract/catalog.rs"]
mod catalog;
#[path = "contract/credentials.rs"]
mod credentials;
#[path = "contract/harness.rs"]
mod harness;
#[path = "contract/keys.rs"]
mod keys;
#[path = "contract/kvm.rs"]
mod kvm;
#[path = "contract/oauth.rs"]
mod oauth;
#[path = "contract/products.rs"]
mod products;
#[path = "contract/sync.rs"]
mod sync;

/// Generates one test per backend for each listed case.
macro_rules! contract {
    ($($module:ident :: $case:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    crate::harness::run_sqlite(crate::$module::$case).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    crate::harness::run_postgres(crate::$module::$case).await;
                }
            )+
        }
    };
}

contract!(
    keys::create_list_revoke_round_trip,
    keys::prefixes_identify_keys_and_filters_match_id_or_name,
    keys::errors_are_typed_and_do_not_echo_secrets,
    keys::key_is_shown_once_and_only_its_hash_is_stored,
    keys::expiry_is_stored_and_enforced_by_the_index,
    keys::revoking_an_app_or_deactivating_a_developer_refuses_their_keys,
    keys::concurrent_writers_on_two_handles_all_succeed,
    keys::concurrent_ensures_of_one_name_create_it_once,
    keys::two_handles_opening_a_fresh_database_at_once_both_succeed,
    sync::a_second_handle_sees_creates_and_revokes,
    sync::writes_through_the_same_handle_skip_the_poll_interval,
    sync::the_change_marker_moves_when_another_handle_writes,
    sync::an_unreadable_database_keeps_the_last_snapshot_serving,
    catalog::environments_crud_versions_and_references,
    catalog::developers_crud_versions_and_conflicts,
    catalog::apps_crud_versions_and_conflicts,
    catalog::pagination_is_stable_without_duplicates_or_gaps,
    catalog::deleting_a_developer_cascades_in_one_transaction,
    credentials::credentials_issue_a_key_and_secret_once,
    credentials::rotation_keeps_the_old_key_until_its_expiry,
    credentials::revoking_a_credential_is_versioned_and_idempotent,
    credentials::no_key_or_secret_is_stored_in_plain_text,
    products::products_crud_with_canonical_paths_and_field_errors,
    products::approvals_follow_the_approval_type_and_per_product_status,
    products::the_index_carries_scopes_quota_and_attributes_and_follows_changes,
    audit::every_catalog_write_is_audited_without_secrets,
    audit::a_failing_write_leaves_no_trace,
    kvm::kvm_put_get_list_delete_with_versions,
    kvm::kvm_environments_are_isolated,
    kvm::kvm_ciphertexts_only_open_in_their_own_row,
    kvm::kvm_values_need_the_right_master_key,
    kvm::kvm_writes_are_audited_without_values,
    admin::admin_users_roles_and_passwords,
    admin::totp_enrolment_and_login,
    admin::login_failures_are_throttled_per_username,
    admin::admin_tokens_authenticate_within_their_limits,
    admin::admin_writes_are_audited_without_secrets,
    admin::secrets_appear_nowhere_in_the_database,
    apply::apply_reports_each_change_and_is_idempotent,
    apply::a_dry_run_predicts_exactly_and_changes_nothing,
    apply::one_invalid_item_changes_nothing,
    apply::prune_deletes_only_what_managed_sections_omit,
    apply::export_then_apply_on_an_empty_database_reproduces_the_catalog,
    oauth::clients_authenticate_with_their_secret_and_approved_products,
    oauth::tokens_resolve_by_hash_and_follow_their_client,
    oauth::a_batch_of_tokens_is_stored_whole_or_not_at_all,
    oauth::one_of_many_concurrent_refresh_rotations_wins,
    oauth::codes_are_single_use_and_replays_revoke_their_tokens,
    oauth::signing_keys_are_sealed_and_rotate_once,
    oauth::end_users_log_in_with_argon2id_passwords,
    oauth::federated_users_are_linked_by_provider_and_subject,
    oauth::client_assertion_jtis_are_single_use_across_handles,
    oauth::invalid_oauth_client_attributes_are_refused_by_field,
);

/// One fixed master key for every handle in this test binary, so handles agree on hashes.
pub(crate) fn test_keyring() -> std::sync::Arc<portcullis_store::Keyring> {
    std::sync::Arc::new(portcullis_store::Keyring::from_master(&[5; 32]))
}
