"""The field audit (issue #14, item 1): every spec field of every CRD, with the tests that show it does
what its description says.

Keys are ``"<Kind> <path>"`` with the path as the generated schema names it (``crdgen.crd``): ``.`` for a
property, ``[]`` for the items of a list, ``{}`` for the values of a map. The kind ``*Runbook`` stands for
both Runbook and ClusterRunbook (the path exists in both and the same code serves both). Status fields are
out of scope: the operator writes them.

A value is either a tuple of pytest node ids (parametrized ids dropped) or a ``NoEffect``: the field is in
the CRD and its description promises something that no code does. ``probe`` names a pure function in
``tests/unit/test_fields.py`` that checks the promise; ``tests/unit/test_field_audit.py`` runs it as a strict
xfail, so the day the field starts working that test fails until the entry here names a real test.

``tests/unit/test_field_audit.py`` fails when a spec field has no entry, when an entry names a field that
no longer exists, or when it names a test that does not exist. See docs/field-audit.md.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class NoEffect:
    reason: str
    probe: str

    def __str__(self) -> str:
        return f"NO-EFFECT: {self.reason}"


Coverage = tuple[str, ...] | NoEffect

# -- test node ids -------------------------------------------------------------------------------------------

_U = "tests/unit/"
_C = "tests/cluster/"
_NEW_U = _U + "test_fields.py::"
_NEW_C = _C + "test_fields.py::"

# fan-out (issue #17)
_FAN_EXAMPLE = _C + "test_fanout.py::test_the_example_restarts_every_labelled_deployment_of_its_namespace_two_at_a_time"
_FAN_ERRORS = _C + "test_fanout.py::test_max_errors_stops_starting_targets_and_fails_the_step"
_FAN_KILL = _C + "test_fanout.py::test_a_killed_operator_does_not_restart_a_finished_target_twice"
_FAN_TENANT = _C + "test_fanout.py::test_a_tenant_cannot_fan_out_into_another_namespace"
_FAN_BUDGET = _C + "test_fanout.py::test_the_budget_counts_each_target"
_FAN_SCOPE = _C + "test_fanout.py::test_a_cluster_runbook_fans_out_over_the_namespaces_its_scope_admits"
_FAN_DRY = _C + "test_fanout.py::test_a_dry_run_plans_every_target_and_changes_nothing"
_FAN_WALK = _U + "test_fanout.py::test_a_walk_keeps_every_bound_and_ends_every_target"
_FAN_AMOUNTS = _U + "test_fanout.py::test_amounts_are_counts_or_shares_rounded_down"
# the silence held while a fix runs
_SILENCE_HELD = _C + "test_silences.py::test_the_silence_is_held_extended_and_expired_at_the_end"
_SILENCE_KILLED = _C + "test_silences.py::test_a_killed_operator_resumes_the_same_silence_and_a_dead_one_lets_it_expire"
_SILENCE_DOWN = _C + "test_silences.py::test_alertmanager_down_never_blocks_the_fix"
_SILENCE_ALERT = _C + "test_silences.py::test_an_alert_started_fix_silences_that_alert_through_alertmanager"
_SILENCE_TENANT = _U + "test_silences.py::test_a_namespaced_runbook_silences_only_its_own_namespace"
_SILENCE_LEASE = _U + "test_silences.py::test_the_lease"
_SILENCE_TENANT_C = _C + "test_silences.py::test_a_tenant_runbook_silences_only_alerts_of_its_own_namespace"

# unit
_CRASH_UNIT = _U + "test_triggers.py::test_crash_loop_threshold_and_workload_lifting"
_OOM_UNIT = _U + "test_triggers.py::test_oom_kill_counts_only_when_recent"
_PENDING_UNIT = _U + "test_triggers.py::test_pending_counts_from_the_condition_transition"
_HPA_UNIT = _U + "test_triggers.py::test_hpa_at_max_only_when_limited_at_its_maximum"
_NS_UNIT = _U + "test_triggers.py::test_a_runbook_only_sees_its_own_namespace"
_ALLOWED_NS_UNIT = _U + "test_triggers.py::test_cluster_runbook_needs_allowed_namespaces"
_MATCHERS_UNIT = _U + "test_triggers.py::test_alert_matchers"
_WHOLE_VALUE = _U + "test_tenant_text.py::test_patterns_match_the_whole_value_like_alertmanager"
_SELECTOR_EXPR = _U + "test_api.py::test_in_and_notin_are_complements_when_the_key_is_present"
_SELECTOR_LABELS = _U + "test_api.py::test_match_labels_is_subset"
_APPROVER_USER = _U + "test_approvals.py::test_an_approver_user_is_honoured_and_named"
_REQUESTER = _U + "test_approvals.py::test_the_requester_cannot_approve_even_when_listed"
_DRAIN_UNIT = _U + "test_drain.py::test_unmanaged_and_emptydir_pods_are_refused_unless_allowed"
_EPHEMERAL = (_U + "test_run_job.py::test_ephemeral_storage_keeps_its_kubernetes_name",)
_WINDOW = _U + "test_ratelimit.py::test_window_counts_only_inside_the_window"
_BUDGET = _U + "test_ratelimit.py::test_admitted_never_exceeds_the_budget"
_SCOPES = _U + "test_ratelimit.py::test_scopes_are_counted_separately"
_COOLDOWN_UNIT = _U + "test_ratelimit.py::test_cooldown_and_in_flight"
_SHARE = _U + "test_ratelimit.py::test_storm_breaker_by_share"
_FREEZE_UNIT = _U + "test_ratelimit.py::test_freeze_windows_absolute_and_weekly"
_CAUSES = _U + "test_ratelimit.py::test_escalation_causes"
_TEMPLATE_UNIT = _U + "test_ratelimit.py::test_incident_template"
_EVIDENCE_CUT = _U + "test_tenancy.py::test_any_trigger_evidence_is_cut_to_what_the_schema_admits"

# breach response and applyManifest (issue #17)
_B = _C + "test_breach.py::"
_BREACH = _B + "test_candlefish_breach_isolates_restarts_the_consumers_and_releases"
_RESTORE = (
    _B + "test_scale_to_zero_then_restore_the_recorded_replicas",
    _B + "test_restore_needs_a_scale_step_of_the_same_workload",
)
_VARIANTS = _B + "test_isolate_keep_block_sources_and_owned_policies"
_RELEASE_ONLY_OURS = _B + "test_release_deletes_nothing_but_the_policy_its_isolate_step_made"
_TENANT_BREACH = _B + "test_a_tenant_cannot_isolate_or_restart_consumers_in_another_namespace"
_CM_CONSUMERS = _B + "test_restart_consumers_of_a_config_map"
_BU = _U + "test_breach.py::"
_CONSUMERS_UNIT = _BU + "test_every_kind_of_use_makes_a_consumer_of_that_source_only"
_ALLOW_UNIT = _BU + "test_an_allow_list_keeps_only_its_peers_per_direction"
_DENY_UNIT = _BU + "test_deny_all_cuts_both_directions_by_default_and_only_the_declared_ones"
_BLOCK_UNIT = _BU + "test_blocked_sources_allow_every_other_source_per_address_family"
_SELECTORS_UNIT = _BU + "test_declared_selectors_reach_the_policy_verbatim"
_AM = _C + "test_apply_manifest.py::"
_P0_INGRESS = _AM + "test_p0_ingress_comes_back_when_deleted_and_is_restored_when_modified"
_FORBIDDEN_KIND = _AM + "test_a_forbidden_kind_is_refused_with_the_reason"
_TENANT_MANIFEST = _AM + "test_a_tenant_cannot_apply_into_another_namespace_or_a_forbidden_kind"
_CLUSTER_MANIFEST = _AM + "test_a_cluster_runbook_applies_its_declared_kinds_namespaced_only"
_MANIFEST_LINT = _BU + "test_lint_holds_a_runbook_to_the_tenant_kinds_offline"
_MANIFEST_SCOPE = _BU + "test_a_manifest_is_held_to_its_kinds_and_the_target_namespace"

# cluster
_ROLLOUT = _C + "test_actions.py::test_rollout_restart_of_a_crashlooping_pods_deployment"
_SCALE_BY = _C + "test_actions.py::test_scale_relative_within_bounds"
_SCALE_HPA = _C + "test_actions.py::test_scale_refuses_to_fight_an_hpa_or_raises_its_bounds"
_PATCH_HPA = _C + "test_actions.py::test_patch_hpa_raises_max_up_to_the_cap_then_refuses"
_DELETE_POD = _C + "test_actions.py::test_delete_pod_gets_it_replaced"
_ROLLBACK = _C + "test_actions.py::test_rollback_returns_to_the_previous_template"
_MEMORY = _C + "test_actions.py::test_raise_memory_limit_up_to_the_cap"
_RUN_JOB = _C + "test_actions.py::test_run_job_success_and_failure"
_CORDON = _C + "test_actions.py::test_cordon_and_uncordon_through_a_cluster_runbook"
_DRAIN = _C + "test_actions.py::test_drain_waits_for_the_pdb_then_completes"
_STEP_TIMEOUT = _C + "test_actions.py::test_drain_times_out_naming_what_it_could_not_evict"
# evidence (issue 16)
_EV = _C + "test_evidence.py::"
_EV_U = _U + "test_evidence.py::"
_EV_CRASH = _EV + "test_events_and_summary_of_a_crash_looping_target_are_recorded_and_redacted"
_EV_HTTP = _EV + "test_http_evidence_of_a_service_is_capped_redacted_and_a_slow_one_times_out"
_EV_TENANT_HTTP = _EV + "test_a_tenant_service_reaches_only_its_own_pods"
_EV_PROMQL = _EV + "test_promql_evidence_from_the_real_prometheus"
_EV_LINK_LOCAL = _EV + "test_link_local_and_metadata_addresses_are_refused"
_EV_AWS = _EV + "test_aws_evidence_describes_an_rds_instance_and_a_replication_group"
_EV_LOGS = _EV_U + "test_logs_are_tailed_filtered_counted_and_redacted"
_EV_CAP = _EV_U + "test_ten_megabytes_of_logs_yield_at_most_the_cap"
_EV_NAMES = _EV_U + "test_collector_names_are_unique_and_cel_identifiers"
_EV_WHEN = _EV_U + "test_a_step_that_collects_holds_until_its_gathering_is_recorded"
_CRASH = _C + "test_triggers.py::test_crash_loop_fires_once_and_counts_repeats"
_CRASH_WORKLOAD = _C + "test_triggers.py::test_crash_loop_acts_on_the_workload_when_the_runbook_wants_workloads"
_SELECTOR_SCOPE = _C + "test_triggers.py::test_selector_and_namespace_scope"
_OOM = _C + "test_triggers.py::test_oom_kill_fires_for_new_kills_only"
_PENDING = _C + "test_triggers.py::test_pending_pod_fires_after_its_duration"
_NODE_NOT_READY = _C + "test_triggers.py::test_node_not_ready_fires_a_cluster_runbook"
_HPA_AT_MAX = _C + "test_triggers.py::test_hpa_at_max_raises_the_cap"
_PROMQL = _C + "test_metric_triggers.py::test_promql_condition_fires_for_the_failing_series_after_its_for"
_PROM_DOWN = _C + "test_metric_triggers.py::test_unreachable_prometheus_is_reported_and_never_acted_on"
_ALERT = _C + "test_metric_triggers.py::test_firing_alert_fires_once_and_resolved_never"
_STUCK_PROM = _C + "test_prometheus_client.py::test_a_stuck_prometheus_does_not_stall_the_real_one"
_PROM_TOKEN = _C + "test_prometheus_client.py::test_a_bearer_token_comes_from_a_labelled_secret_only"
_TENANT_PROM_URL = _C + "test_tenant_text.py::test_prometheus_urls_of_a_tenant_are_refused_unless_allowed"
_TENANT_CHANNEL_URL = _C + "test_tenant_text.py::test_escalation_channels_of_a_tenant_are_refused_unless_allowed"
_MISSING_RUNBOOK = _C + "test_engine.py::test_missing_runbook_fails_with_a_condition"
_MISSING_TARGET = _C + "test_engine.py::test_missing_target_is_skipped"
_NOT_APPLICABLE = _C + "test_engine.py::test_action_not_applicable_to_the_target_kind"
_OTHER_NS = _C + "test_engine.py::test_runbook_cannot_reach_into_another_namespace"
_ALLOWED_NS = _C + "test_engine.py::test_cluster_runbook_only_from_allowed_namespaces"
_TARGET_SELECTOR = _C + "test_engine.py::test_target_must_match_the_runbook_selector"
_DRY_RUN = _C + "test_engine.py::test_dry_run_records_the_plan_and_writes_nothing"
_APPROVAL = _C + "test_engine.py::test_approval_gates_the_action"
_UNTIL_VERIFIED = _C + "test_engine.py::test_until_verified_restart_fails_then_rollback_fixes"
_ALL_IN_ORDER = _C + "test_engine.py::test_all_in_order_stops_at_the_first_failure"
_IMMUTABLE = _C + "test_engine.py::test_remediation_identity_is_immutable"
_NODE_KINDS = _C + "test_crds.py::test_node_actions_need_node_in_target_kinds"
_SELECTOR_ON_NODE = _C + "test_tenancy.py::test_the_selector_is_checked_on_the_node_acted_on"
_STEP_TARGET_NS = _C + "test_tenancy.py::test_a_step_target_in_another_namespace_is_refused_before_the_step"
_TARGET_NAMESPACES = _C + "test_tenancy.py::test_target_namespaces_must_admit_another_namespace_explicitly"
_SHARED_BUDGET = _C + "test_tenancy.py::test_a_tenant_using_a_shared_cluster_runbook_spends_its_budget"
_P0 = _C + (
    "test_seed_investigation.py::test_p0_failing_pods_are_recorded_then_router_and_frontend_restarted_under_a_silence"
)
_TENANT_JOB = (_C + "test_tenant_jobs.py::test_a_runbook_job_runs_as_the_namespace_default_without_a_token",)
_CLUSTER_JOB = _C + "test_tenant_jobs.py::test_a_cluster_runbook_job_keeps_the_full_job_spec"
_RDS = _C + "test_cloud.py::test_rds_reboot_after_a_snapshot"
_AWS_ERRORS = _C + "test_cloud.py::test_aws_errors_fail_the_step_with_their_code"
_EKS = _C + "test_cloud.py::test_node_group_scales_within_its_caps"
_EC2 = _C + "test_cloud.py::test_replace_node_example_cordons_drains_and_terminates_the_instance"
_EC2_UNDRAINED = _C + "test_cloud.py::test_terminating_an_undrained_node_is_refused"
_ELASTICACHE = _C + "test_cloud.py::test_elasticache_replicas_are_planned_within_the_cap"
_STORM_BUDGET = _C + "test_safety.py::test_storm_of_50_crashloops_with_a_budget_of_3_acts_exactly_3_times"
_STORM_BREAKER = _C + "test_safety.py::test_storm_breaker_stops_acting_when_most_of_the_fleet_fails"
_SMALL_SCOPES = _U + "test_ratelimit.py::test_the_default_breaker_can_trip_for_one_or_two_targets"
_IN_FLIGHT_ELSEWHERE = _U + "test_ratelimit.py::test_in_flight_counts_what_runs_elsewhere_once"
_CLUSTER_BOUND = _C + "test_budgets.py::test_two_policies_with_cluster_bounds_hold_the_bound_together"
_BY_HAND = _C + "test_budgets.py::test_a_remediation_created_by_hand_takes_an_in_flight_place"
_COOLDOWN = _C + "test_safety.py::test_cooldown_per_target"
_FREEZE = _C + "test_safety.py::test_freeze_window_stops_automatic_actions"
_WINDOWS = _C + "test_windows.py::test_a_window_written_with_offsets_or_a_time_zone_freezes"
_WINDOWS_U = _U + "test_windows.py::"
_LEVELS = _C + "test_escalation.py::test_levels_fire_in_order_with_their_delays_then_resolve"
_ESCALATE_ON = _C + "test_escalation.py::test_rate_limited_pages_only_when_the_policy_escalates_on_it"
_APPROVAL_TIMEOUT = _C + "test_escalation.py::test_waiting_too_long_for_approval_escalates"
_PAGING = _C + "test_escalation.py::test_a_page_honours_retry_after_and_a_failing_channel_is_retried_and_counted"
_ONLY_APPROVER_RESOLVES = _C + "test_admission.py::test_only_an_approver_resolves_an_escalation"
_APPROVER_ONLY = _C + "test_admission.py::test_a_manual_remediation_is_approved_by_an_approver_only"
_TENANT_CANNOT_SET = _C + "test_admission.py::test_tenant_cannot_create_what_only_others_may_set"
_IMMUTABLE_TRIGGER = _C + "test_admission.py::test_dry_run_and_trigger_cannot_change_after_creation"

_POD = "spec.steps[].runJob.template.spec.template"

# runJob of a Runbook: every allowed field of tests/tenant_jobs.py:allowed_step reaches the Job as written
# (the Job controller and kubelet then do with it what Kubernetes documents).
_JOB = _TENANT_JOB
_JOB_DETAILS = (_NEW_U + "test_run_job_volume_items_modes_and_requests_reach_the_job",)


FIELDS: dict[str, Coverage] = {
    # -- Runbook and ClusterRunbook -------------------------------------------------------------------------
    "*Runbook spec.description": (_NEW_C + "test_description_is_shown_by_kubectl_get_wide",),
    "*Runbook spec.trigger": (_CRASH, _PENDING, _ALERT),
    "*Runbook spec.trigger.manual": (_NEW_C + "test_a_manual_runbook_is_never_started_by_a_trigger",),
    "*Runbook spec.trigger.podCrashLoop": (_CRASH, _CRASH_UNIT),
    "*Runbook spec.trigger.podCrashLoop.reasons": (_NEW_U + "test_crash_loop_reasons_and_containers_narrow_it",),
    "*Runbook spec.trigger.podCrashLoop.minRestarts": (_CRASH, _CRASH_UNIT),
    "*Runbook spec.trigger.podCrashLoop.containers": (_NEW_U + "test_crash_loop_reasons_and_containers_narrow_it",),
    "*Runbook spec.trigger.podOOMKilled": (_OOM, _OOM_UNIT),
    "*Runbook spec.trigger.podOOMKilled.containers": (_NEW_U + "test_oom_kill_containers_and_within",),
    "*Runbook spec.trigger.podOOMKilled.within": (_NEW_U + "test_oom_kill_containers_and_within", _OOM),
    "*Runbook spec.trigger.podPending": (_PENDING, _PENDING_UNIT),
    "*Runbook spec.trigger.podPending.for": (_PENDING, _PENDING_UNIT),
    "*Runbook spec.trigger.podPending.reasons": (_NEW_U + "test_pending_reasons_narrow_it",),
    "*Runbook spec.trigger.nodeNotReady": (_NODE_NOT_READY, _EC2),
    "*Runbook spec.trigger.nodeNotReady.for": (_NEW_U + "test_node_not_ready_and_hpa_at_max_wait_their_for",),
    "*Runbook spec.trigger.hpaAtMax": (_HPA_AT_MAX, _HPA_UNIT),
    "*Runbook spec.trigger.hpaAtMax.for": (_NEW_U + "test_node_not_ready_and_hpa_at_max_wait_their_for",),
    "*Runbook spec.trigger.prometheus": (_PROMQL,),
    "*Runbook spec.trigger.prometheus.url": (_PROMQL, _PROM_DOWN, _TENANT_PROM_URL),
    "*Runbook spec.trigger.prometheus.query": (_PROMQL,),
    "*Runbook spec.trigger.prometheus.for": (_PROMQL,),
    "*Runbook spec.trigger.prometheus.interval": (_NEW_U + "test_prometheus_interval_spaces_the_evaluations", _PROMQL),
    "*Runbook spec.trigger.prometheus.timeout": (_STUCK_PROM,),
    "*Runbook spec.trigger.prometheus.bearerToken": (_PROM_TOKEN,),
    "*Runbook spec.trigger.prometheus.bearerToken.name": (_PROM_TOKEN,),
    "*Runbook spec.trigger.prometheus.bearerToken.key": (_PROM_TOKEN,),
    "*Runbook spec.trigger.prometheus.targetLabels": (_NEW_U + "test_target_labels_name_the_target_as_configured",),
    "*Runbook spec.trigger.prometheus.targetLabels.kind": (
        _NEW_U + "test_target_labels_name_the_target_as_configured",
    ),
    "*Runbook spec.trigger.prometheus.targetLabels.name": (
        _NEW_U + "test_target_labels_name_the_target_as_configured",
    ),
    "*Runbook spec.trigger.prometheus.targetLabels.namespace": (
        _NEW_U + "test_target_labels_name_the_target_as_configured",
    ),
    "*Runbook spec.trigger.alertmanager": (_ALERT,),
    "*Runbook spec.trigger.alertmanager.alertnames": (_ALERT,),
    "*Runbook spec.trigger.alertmanager.matchers": (_ALERT, _MATCHERS_UNIT),
    "*Runbook spec.trigger.alertmanager.matchers[].name": (_ALERT, _MATCHERS_UNIT),
    "*Runbook spec.trigger.alertmanager.matchers[].value": (_ALERT, _MATCHERS_UNIT, _WHOLE_VALUE),
    "*Runbook spec.trigger.alertmanager.matchers[].isRegex": (_ALERT, _MATCHERS_UNIT, _WHOLE_VALUE),
    "*Runbook spec.trigger.alertmanager.matchers[].isEqual": (_MATCHERS_UNIT,),
    "*Runbook spec.trigger.alertmanager.targetLabels": (_NEW_U + "test_target_labels_name_the_target_as_configured",),
    "*Runbook spec.trigger.alertmanager.targetLabels.kind": (
        _NEW_U + "test_target_labels_name_the_target_as_configured",
    ),
    "*Runbook spec.trigger.alertmanager.targetLabels.name": (
        _NEW_U + "test_target_labels_name_the_target_as_configured",
    ),
    "*Runbook spec.trigger.alertmanager.targetLabels.namespace": (
        _NEW_U + "test_target_labels_name_the_target_as_configured",
    ),
    "*Runbook spec.target": (_TARGET_SELECTOR, _CRASH_WORKLOAD),
    "*Runbook spec.target.kinds": (_CRASH_WORKLOAD, _CRASH_UNIT, _NODE_KINDS),
    "*Runbook spec.target.selector": (_TARGET_SELECTOR, _SELECTOR_SCOPE, _SELECTOR_ON_NODE),
    "*Runbook spec.target.selector.matchLabels": (_TARGET_SELECTOR, _SELECTOR_SCOPE, _SELECTOR_LABELS),
    "*Runbook spec.target.selector.matchExpressions": (_SELECTOR_EXPR,),
    "*Runbook spec.target.selector.matchExpressions[].key": (_SELECTOR_EXPR,),
    "*Runbook spec.target.selector.matchExpressions[].operator": (_SELECTOR_EXPR,),
    "*Runbook spec.target.selector.matchExpressions[].values": (_SELECTOR_EXPR,),
    "*Runbook spec.target.namespaces": (_TARGET_NAMESPACES,),
    "*Runbook spec.target.namespaces.matchLabels": (_TARGET_NAMESPACES,),
    "*Runbook spec.target.namespaces.matchExpressions": (_SELECTOR_EXPR,),
    "*Runbook spec.target.namespaces.matchExpressions[].key": (_SELECTOR_EXPR,),
    "*Runbook spec.target.namespaces.matchExpressions[].operator": (_SELECTOR_EXPR,),
    "*Runbook spec.target.namespaces.matchExpressions[].values": (_SELECTOR_EXPR,),
    "ClusterRunbook spec.allowedNamespaces": (_ALLOWED_NS, _ALLOWED_NS_UNIT),
    "ClusterRunbook spec.allowedNamespaces.matchLabels": (_ALLOWED_NS, _ALLOWED_NS_UNIT),
    "ClusterRunbook spec.allowedNamespaces.matchExpressions": (_SELECTOR_EXPR,),
    "ClusterRunbook spec.allowedNamespaces.matchExpressions[].key": (_SELECTOR_EXPR,),
    "ClusterRunbook spec.allowedNamespaces.matchExpressions[].operator": (_SELECTOR_EXPR,),
    "ClusterRunbook spec.allowedNamespaces.matchExpressions[].values": (_SELECTOR_EXPR,),
    "*Runbook spec.steps": (_ALL_IN_ORDER, _UNTIL_VERIFIED),
    "*Runbook spec.steps[].name": (_UNTIL_VERIFIED,),
    "*Runbook spec.steps[].rolloutRestart": (_ROLLOUT,),
    "*Runbook spec.steps[].rolloutRestart.reason": (_U + "test_fields.py::test_a_steps_reason_is_kept_in_its_history",),
    "*Runbook spec.steps[].scale": (_SCALE_BY,),
    "*Runbook spec.steps[].scale.replicas": (_APPROVAL, _SCALE_HPA),
    "*Runbook spec.steps[].scale.by": (_SCALE_BY, _DRY_RUN),
    "*Runbook spec.steps[].scale.min": (_NEW_C + "test_scale_never_goes_below_min",),
    "*Runbook spec.steps[].scale.max": (_SCALE_BY,),
    "*Runbook spec.steps[].scale.hpaPolicy": (_SCALE_HPA,),
    "*Runbook spec.steps[].patchHPA": (_PATCH_HPA,),
    "*Runbook spec.steps[].patchHPA.minReplicas": (_NEW_C + "test_patch_hpa_sets_min_and_max_replicas",),
    "*Runbook spec.steps[].patchHPA.maxReplicas": (_NEW_C + "test_patch_hpa_sets_min_and_max_replicas",),
    "*Runbook spec.steps[].patchHPA.raiseMaxBy": (_PATCH_HPA, _HPA_AT_MAX),
    "*Runbook spec.steps[].patchHPA.cap": (_PATCH_HPA,),
    "*Runbook spec.steps[].deletePod": (_DELETE_POD,),
    "*Runbook spec.steps[].deletePod.gracePeriodSeconds": (_NEW_C + "test_delete_pod_uses_the_grace_period",),
    "*Runbook spec.steps[].rollback": (_ROLLBACK, _UNTIL_VERIFIED),
    "*Runbook spec.steps[].rollback.toRevision": (_NEW_C + "test_rollback_to_a_named_revision",),
    "*Runbook spec.steps[].raiseMemoryLimit": (_MEMORY,),
    "*Runbook spec.steps[].raiseMemoryLimit.factor": (_MEMORY, _OOM),
    "*Runbook spec.steps[].raiseMemoryLimit.cap": (_MEMORY,),
    "*Runbook spec.steps[].raiseMemoryLimit.container": (_NEW_C + "test_raise_memory_limit_of_one_container",),
    "*Runbook spec.steps[].cordon": (_CORDON, _NODE_NOT_READY),
    "*Runbook spec.steps[].cordon.reason": (_U + "test_fields.py::test_a_steps_reason_is_kept_in_its_history",),
    "*Runbook spec.steps[].uncordon": (_CORDON,),
    "*Runbook spec.steps[].uncordon.reason": (_U + "test_fields.py::test_a_steps_reason_is_kept_in_its_history",),
    "*Runbook spec.steps[].drain": (_DRAIN, _EC2),
    "*Runbook spec.steps[].drain.deleteEmptyDirData": (_DRAIN_UNIT,),
    "*Runbook spec.steps[].drain.force": (_DRAIN_UNIT,),
    "*Runbook spec.steps[].drain.gracePeriodSeconds": (_NEW_C + "test_drain_uses_the_grace_period",),
    "*Runbook spec.steps[].scale.restoreFrom": _RESTORE,
    "*Runbook spec.steps[].isolate": (_BREACH, _VARIANTS, _TENANT_BREACH),
    "*Runbook spec.steps[].isolate.mode": (_BREACH, _VARIANTS, _BLOCK_UNIT),
    "*Runbook spec.steps[].isolate.directions": (_VARIANTS, _DENY_UNIT),
    "*Runbook spec.steps[].isolate.allow": (_VARIANTS, _ALLOW_UNIT),
    "*Runbook spec.steps[].isolate.allow[].direction": (_VARIANTS, _ALLOW_UNIT),
    "*Runbook spec.steps[].isolate.allow[].cidr": (_ALLOW_UNIT,),
    "*Runbook spec.steps[].isolate.allow[].ports": (_VARIANTS, _ALLOW_UNIT),
    "*Runbook spec.steps[].isolate.allow[].protocol": (_VARIANTS, _ALLOW_UNIT),
    "*Runbook spec.steps[].isolate.allow[].podSelector": (_ALLOW_UNIT, _SELECTORS_UNIT),
    "*Runbook spec.steps[].isolate.allow[].podSelector.matchLabels": (_ALLOW_UNIT, _SELECTORS_UNIT),
    "*Runbook spec.steps[].isolate.allow[].podSelector.matchExpressions": (_ALLOW_UNIT, _SELECTORS_UNIT),
    "*Runbook spec.steps[].isolate.allow[].podSelector.matchExpressions[].key": (_ALLOW_UNIT, _SELECTORS_UNIT),
    "*Runbook spec.steps[].isolate.allow[].podSelector.matchExpressions[].operator": (_ALLOW_UNIT, _SELECTORS_UNIT),
    "*Runbook spec.steps[].isolate.allow[].podSelector.matchExpressions[].values": (_ALLOW_UNIT, _SELECTORS_UNIT),
    "*Runbook spec.steps[].isolate.podSelector": (_VARIANTS, _SELECTORS_UNIT),
    "*Runbook spec.steps[].isolate.podSelector.matchLabels": (_VARIANTS, _SELECTORS_UNIT),
    "*Runbook spec.steps[].isolate.podSelector.matchExpressions": (_VARIANTS, _SELECTORS_UNIT),
    "*Runbook spec.steps[].isolate.podSelector.matchExpressions[].key": (_VARIANTS, _SELECTORS_UNIT),
    "*Runbook spec.steps[].isolate.podSelector.matchExpressions[].operator": (_VARIANTS, _SELECTORS_UNIT),
    "*Runbook spec.steps[].isolate.podSelector.matchExpressions[].values": (_VARIANTS, _SELECTORS_UNIT),
    "*Runbook spec.steps[].isolate.blockCidrs": (_VARIANTS, _BLOCK_UNIT),
    "*Runbook spec.steps[].isolate.keep": (_VARIANTS, _BREACH),
    "*Runbook spec.steps[].release": (_BREACH, _RELEASE_ONLY_OURS),
    "*Runbook spec.steps[].release.fromStep": (_BREACH, _RELEASE_ONLY_OURS),
    "*Runbook spec.steps[].restartConsumersOf": (_BREACH, _CM_CONSUMERS, _TENANT_BREACH),
    "*Runbook spec.steps[].restartConsumersOf.secret": (_BREACH, _TENANT_BREACH, _CONSUMERS_UNIT),
    "*Runbook spec.steps[].restartConsumersOf.configMap": (_CM_CONSUMERS, _CONSUMERS_UNIT),
    "*Runbook spec.steps[].applyManifest": (_P0_INGRESS, _FORBIDDEN_KIND, _TENANT_MANIFEST),
    "*Runbook spec.steps[].applyManifest.configMap": (_P0_INGRESS,),
    "*Runbook spec.steps[].applyManifest.key": (_P0_INGRESS,),
    "*Runbook spec.steps[].applyManifest.forceConflicts": (_P0_INGRESS,),
    "*Runbook spec.steps[].applyManifest.kinds": (
        _FORBIDDEN_KIND,
        _TENANT_MANIFEST,
        _CLUSTER_MANIFEST,
        _MANIFEST_LINT,
        _MANIFEST_SCOPE,
    ),
    "*Runbook spec.steps[].runJob": (_RUN_JOB, _CLUSTER_JOB),
    "*Runbook spec.steps[].runJob.template": (*_TENANT_JOB, _CLUSTER_JOB),
    "*Runbook spec.steps[].runJob.template.labels": _TENANT_JOB,
    "*Runbook spec.steps[].runJob.template.annotations": _TENANT_JOB,
    "*Runbook spec.steps[].runJob.template.spec": (*_TENANT_JOB, _CLUSTER_JOB),
    "Runbook spec.steps[].runJob.template.spec.backoffLimit": _TENANT_JOB,
    "Runbook spec.steps[].runJob.template.spec.activeDeadlineSeconds": (_RUN_JOB,),
    "*Runbook spec.steps[].runJob.ttlSecondsAfterFinished": _TENANT_JOB,
    f"Runbook {_POD}": _JOB,
    f"Runbook {_POD}.metadata": _JOB,
    f"Runbook {_POD}.metadata.labels": _JOB,
    f"Runbook {_POD}.spec": _JOB,
    f"Runbook {_POD}.spec.containers": _JOB,
    f"Runbook {_POD}.spec.containers[].name": _JOB,
    f"Runbook {_POD}.spec.containers[].image": _JOB,
    f"Runbook {_POD}.spec.containers[].imagePullPolicy": _JOB,
    f"Runbook {_POD}.spec.containers[].command": _JOB,
    f"Runbook {_POD}.spec.containers[].args": _JOB,
    f"Runbook {_POD}.spec.containers[].workingDir": _JOB,
    f"Runbook {_POD}.spec.containers[].env": _JOB,
    f"Runbook {_POD}.spec.containers[].env[].name": _JOB,
    f"Runbook {_POD}.spec.containers[].env[].value": _JOB,
    f"Runbook {_POD}.spec.containers[].env[].valueFrom": _JOB,
    f"Runbook {_POD}.spec.containers[].env[].valueFrom.configMapKeyRef": _JOB,
    f"Runbook {_POD}.spec.containers[].env[].valueFrom.configMapKeyRef.name": _JOB,
    f"Runbook {_POD}.spec.containers[].env[].valueFrom.configMapKeyRef.key": _JOB,
    f"Runbook {_POD}.spec.containers[].env[].valueFrom.configMapKeyRef.optional": _JOB,
    f"Runbook {_POD}.spec.containers[].env[].valueFrom.secretKeyRef": _JOB,
    f"Runbook {_POD}.spec.containers[].env[].valueFrom.secretKeyRef.name": _JOB,
    f"Runbook {_POD}.spec.containers[].env[].valueFrom.secretKeyRef.key": _JOB,
    f"Runbook {_POD}.spec.containers[].env[].valueFrom.secretKeyRef.optional": _JOB,
    f"Runbook {_POD}.spec.containers[].envFrom": _JOB,
    f"Runbook {_POD}.spec.containers[].envFrom[].prefix": _JOB,
    f"Runbook {_POD}.spec.containers[].envFrom[].configMapRef": _JOB,
    f"Runbook {_POD}.spec.containers[].envFrom[].configMapRef.name": _JOB,
    f"Runbook {_POD}.spec.containers[].envFrom[].configMapRef.optional": _JOB,
    f"Runbook {_POD}.spec.containers[].envFrom[].secretRef": _JOB,
    f"Runbook {_POD}.spec.containers[].envFrom[].secretRef.name": _JOB,
    f"Runbook {_POD}.spec.containers[].envFrom[].secretRef.optional": _JOB,
    f"Runbook {_POD}.spec.containers[].resources": _JOB,
    f"Runbook {_POD}.spec.containers[].resources.limits": _JOB,
    f"Runbook {_POD}.spec.containers[].resources.limits.cpu": _JOB,
    f"Runbook {_POD}.spec.containers[].resources.limits.memory": _JOB,
    f"Runbook {_POD}.spec.containers[].resources.limits.ephemeral-storage": _EPHEMERAL,
    f"Runbook {_POD}.spec.containers[].resources.requests": _JOB,
    f"Runbook {_POD}.spec.containers[].resources.requests.cpu": _JOB,
    f"Runbook {_POD}.spec.containers[].resources.requests.memory": _JOB,
    f"Runbook {_POD}.spec.containers[].resources.requests.ephemeral-storage": _JOB_DETAILS,
    f"Runbook {_POD}.spec.containers[].volumeMounts": _JOB,
    f"Runbook {_POD}.spec.containers[].volumeMounts[].name": _JOB,
    f"Runbook {_POD}.spec.containers[].volumeMounts[].mountPath": _JOB,
    f"Runbook {_POD}.spec.containers[].volumeMounts[].subPath": _JOB,
    f"Runbook {_POD}.spec.containers[].volumeMounts[].readOnly": _JOB,
    f"Runbook {_POD}.spec.containers[].securityContext": _JOB,
    f"Runbook {_POD}.spec.containers[].securityContext.runAsUser": _JOB,
    f"Runbook {_POD}.spec.containers[].securityContext.runAsGroup": _JOB,
    f"Runbook {_POD}.spec.containers[].securityContext.runAsNonRoot": _JOB,
    f"Runbook {_POD}.spec.containers[].securityContext.readOnlyRootFilesystem": _JOB,
    f"Runbook {_POD}.spec.containers[].securityContext.allowPrivilegeEscalation": _JOB,
    f"Runbook {_POD}.spec.containers[].securityContext.capabilities": _JOB,
    f"Runbook {_POD}.spec.containers[].securityContext.capabilities.drop": _JOB,
    f"Runbook {_POD}.spec.containers[].securityContext.seccompProfile": _JOB,
    f"Runbook {_POD}.spec.containers[].securityContext.seccompProfile.type": _JOB,
    f"Runbook {_POD}.spec.restartPolicy": _JOB,
    f"Runbook {_POD}.spec.activeDeadlineSeconds": _JOB,
    f"Runbook {_POD}.spec.nodeSelector": _JOB,
    f"Runbook {_POD}.spec.securityContext": _JOB,
    f"Runbook {_POD}.spec.securityContext.runAsUser": _JOB,
    f"Runbook {_POD}.spec.securityContext.runAsGroup": _JOB,
    f"Runbook {_POD}.spec.securityContext.runAsNonRoot": _JOB,
    f"Runbook {_POD}.spec.securityContext.fsGroup": _JOB,
    f"Runbook {_POD}.spec.securityContext.seccompProfile": _JOB,
    f"Runbook {_POD}.spec.securityContext.seccompProfile.type": _JOB,
    f"Runbook {_POD}.spec.volumes": _JOB,
    f"Runbook {_POD}.spec.volumes[].name": _JOB,
    f"Runbook {_POD}.spec.volumes[].configMap": _JOB,
    f"Runbook {_POD}.spec.volumes[].configMap.name": _JOB,
    f"Runbook {_POD}.spec.volumes[].configMap.items": _JOB,
    f"Runbook {_POD}.spec.volumes[].configMap.items[].key": _JOB,
    f"Runbook {_POD}.spec.volumes[].configMap.items[].path": _JOB,
    f"Runbook {_POD}.spec.volumes[].configMap.items[].mode": _JOB_DETAILS,
    f"Runbook {_POD}.spec.volumes[].configMap.optional": _JOB,
    f"Runbook {_POD}.spec.volumes[].configMap.defaultMode": _JOB_DETAILS,
    f"Runbook {_POD}.spec.volumes[].secret": _JOB,
    f"Runbook {_POD}.spec.volumes[].secret.secretName": _JOB,
    f"Runbook {_POD}.spec.volumes[].secret.items": _JOB_DETAILS,
    f"Runbook {_POD}.spec.volumes[].secret.items[].key": _JOB_DETAILS,
    f"Runbook {_POD}.spec.volumes[].secret.items[].path": _JOB_DETAILS,
    f"Runbook {_POD}.spec.volumes[].secret.items[].mode": _JOB_DETAILS,
    f"Runbook {_POD}.spec.volumes[].secret.optional": _JOB,
    f"Runbook {_POD}.spec.volumes[].secret.defaultMode": _JOB,
    f"Runbook {_POD}.spec.volumes[].emptyDir": _JOB,
    f"Runbook {_POD}.spec.volumes[].emptyDir.medium": _JOB,
    f"Runbook {_POD}.spec.volumes[].emptyDir.sizeLimit": _JOB,
    f"Runbook {_POD}.spec.volumes[].projected": _JOB,
    f"Runbook {_POD}.spec.volumes[].projected.sources": _JOB,
    f"Runbook {_POD}.spec.volumes[].projected.sources[].configMap": _JOB,
    f"Runbook {_POD}.spec.volumes[].projected.sources[].configMap.name": _JOB,
    f"Runbook {_POD}.spec.volumes[].projected.sources[].configMap.items": _JOB_DETAILS,
    f"Runbook {_POD}.spec.volumes[].projected.sources[].configMap.items[].key": _JOB_DETAILS,
    f"Runbook {_POD}.spec.volumes[].projected.sources[].configMap.items[].path": _JOB_DETAILS,
    f"Runbook {_POD}.spec.volumes[].projected.sources[].configMap.items[].mode": _JOB_DETAILS,
    f"Runbook {_POD}.spec.volumes[].projected.sources[].configMap.optional": _JOB,
    f"Runbook {_POD}.spec.volumes[].projected.sources[].secret": _JOB,
    f"Runbook {_POD}.spec.volumes[].projected.sources[].secret.name": _JOB,
    f"Runbook {_POD}.spec.volumes[].projected.sources[].secret.items": _JOB,
    f"Runbook {_POD}.spec.volumes[].projected.sources[].secret.items[].key": _JOB,
    f"Runbook {_POD}.spec.volumes[].projected.sources[].secret.items[].path": _JOB,
    f"Runbook {_POD}.spec.volumes[].projected.sources[].secret.items[].mode": _JOB,
    f"Runbook {_POD}.spec.volumes[].projected.sources[].secret.optional": _JOB,
    f"Runbook {_POD}.spec.volumes[].projected.defaultMode": _JOB,
    f"Runbook {_POD}.spec.imagePullSecrets": _JOB,
    f"Runbook {_POD}.spec.imagePullSecrets[].name": _JOB,
    "*Runbook spec.steps[].rdsSnapshot": (_RDS,),
    "*Runbook spec.steps[].rdsSnapshot.dbInstanceIdentifier": (_RDS,),
    "*Runbook spec.steps[].rdsReboot": (_RDS, _AWS_ERRORS),
    "*Runbook spec.steps[].rdsReboot.dbInstanceIdentifier": (_RDS, _AWS_ERRORS),
    "*Runbook spec.steps[].rdsReboot.forceFailover": (_NEW_C + "test_rds_reboot_with_failover",),
    "*Runbook spec.steps[].rdsReboot.requireSnapshot": (_RDS, _AWS_ERRORS),
    "*Runbook spec.steps[].rdsFailoverCluster": (_NEW_C + "test_rds_failover_cluster",),
    "*Runbook spec.steps[].rdsFailoverCluster.dbClusterIdentifier": (_NEW_C + "test_rds_failover_cluster",),
    "*Runbook spec.steps[].rdsFailoverCluster.targetDbInstanceIdentifier": (_NEW_C + "test_rds_failover_cluster",),
    "*Runbook spec.steps[].eksScaleNodegroup": (_EKS,),
    "*Runbook spec.steps[].eksScaleNodegroup.clusterName": (_EKS,),
    "*Runbook spec.steps[].eksScaleNodegroup.nodegroupName": (_EKS,),
    "*Runbook spec.steps[].eksScaleNodegroup.desiredSize": (_NEW_C + "test_node_group_desired_size_and_floor",),
    "*Runbook spec.steps[].eksScaleNodegroup.by": (_EKS,),
    "*Runbook spec.steps[].eksScaleNodegroup.maxDesired": (_EKS,),
    "*Runbook spec.steps[].eksScaleNodegroup.minDesired": (_NEW_C + "test_node_group_desired_size_and_floor",),
    "*Runbook spec.steps[].ec2TerminateNodeInstance": (_EC2, _EC2_UNDRAINED),
    "*Runbook spec.steps[].ec2TerminateNodeInstance.reason": (
        _U + "test_fields.py::test_a_steps_reason_is_kept_in_its_history",
    ),
    "*Runbook spec.steps[].elasticacheSetReplicas": (_ELASTICACHE,),
    "*Runbook spec.steps[].elasticacheSetReplicas.replicationGroupId": (_ELASTICACHE,),
    "*Runbook spec.steps[].elasticacheSetReplicas.replicas": (_ELASTICACHE,),
    "*Runbook spec.steps[].elasticacheSetReplicas.maxReplicas": (_ELASTICACHE,),
    "*Runbook spec.steps[].target": (_P0, _STEP_TARGET_NS),
    "*Runbook spec.steps[].target.apiVersion": (_P0,),
    "*Runbook spec.steps[].target.kind": (_P0,),
    "*Runbook spec.steps[].target.name": (_P0, _STEP_TARGET_NS),
    "*Runbook spec.steps[].target.namespace": (_STEP_TARGET_NS,),
    "*Runbook spec.steps[].verify": (_UNTIL_VERIFIED, _ROLLOUT),
    "*Runbook spec.steps[].verify.check": (_ROLLOUT, _UNTIL_VERIFIED),
    "*Runbook spec.steps[].verify.timeout": (_UNTIL_VERIFIED,),
    "*Runbook spec.steps[].verify.stableFor": (_NEW_C + "test_verify_holds_for_stable_for",),
    "*Runbook spec.steps[].timeout": (_STEP_TIMEOUT,),
    "*Runbook spec.steps[].verify.promql": (
        _C + "test_when.py::test_a_promql_verification_waits_until_the_condition_holds",
        _C + "test_when.py::test_a_promql_verification_that_never_holds_times_out_and_pages_with_the_evidence",
        _C + "test_when.py::test_the_api_server_bounds_a_tenants_condition_and_query",
    ),
    "*Runbook spec.steps[].when": (
        _C + "test_when.py::test_the_step_taken_follows_the_logs",
        _C + "test_when.py::test_a_condition_naming_no_recorded_collector_skips_with_the_error",
        _C + "test_when.py::test_a_when_that_does_not_compile_marks_the_runbook_invalid",
        _U + "test_when.py::test_the_model_and_lint_refuse_a_condition_that_does_not_compile",
        _C + "test_when.py::test_the_api_server_bounds_a_tenants_condition_and_query",
    ),
    "*Runbook spec.steps[].fanOut": (_FAN_EXAMPLE, _FAN_TENANT, _FAN_BUDGET, _FAN_SCOPE, _FAN_DRY),
    "*Runbook spec.steps[].fanOut.kinds": (_FAN_EXAMPLE, _FAN_SCOPE),
    "*Runbook spec.steps[].fanOut.selector": (_FAN_EXAMPLE, _FAN_TENANT, _FAN_SCOPE),
    "*Runbook spec.steps[].fanOut.selector.matchLabels": (_FAN_EXAMPLE, _FAN_ERRORS),
    "*Runbook spec.steps[].fanOut.selector.matchExpressions": (_FAN_KILL,),
    "*Runbook spec.steps[].fanOut.selector.matchExpressions[].key": (_FAN_KILL,),
    "*Runbook spec.steps[].fanOut.selector.matchExpressions[].operator": (_FAN_KILL,),
    "*Runbook spec.steps[].fanOut.selector.matchExpressions[].values": (_FAN_KILL,),
    "*Runbook spec.steps[].fanOut.maxConcurrency": (_FAN_EXAMPLE, _FAN_WALK, _FAN_AMOUNTS),
    "*Runbook spec.steps[].fanOut.maxErrors": (_FAN_ERRORS, _FAN_WALK, _FAN_AMOUNTS),
    "*Runbook spec.mode": (_UNTIL_VERIFIED, _ALL_IN_ORDER),
    "*Runbook spec.dryRun": (_NEW_C + "test_a_dry_run_runbook_changes_nothing",),
    "*Runbook spec.requiresApproval": (_APPROVAL, _APPROVER_ONLY),
    "*Runbook spec.approvers": (_APPROVER_ONLY, _APPROVER_USER),
    "*Runbook spec.approvers.users": (_APPROVER_USER,),
    "*Runbook spec.approvers.groups": (_APPROVER_ONLY, _APPROVAL),
    "*Runbook spec.rateLimitPolicyRef": (_STORM_BUDGET, _SHARED_BUDGET),
    "*Runbook spec.rateLimitPolicyRef.name": (_STORM_BUDGET, _SHARED_BUDGET),
    "*Runbook spec.escalationPolicyRef": (_LEVELS,),
    "*Runbook spec.escalationPolicyRef.name": (_LEVELS,),
    "*Runbook spec.onFailure": (_CAUSES, _LEVELS),
    "*Runbook spec.evidence": (_EV_CRASH, _EV_U + "test_everything_is_gathered_once_before_the_first_step"),
    "*Runbook spec.evidence[].name": (_EV_CRASH, _EV_NAMES),
    "*Runbook spec.evidence[].timeout": (_EV_HTTP,),
    "*Runbook spec.evidence[].logs": (_EV_CRASH, _EV_LOGS),
    "*Runbook spec.evidence[].logs.container": (_EV + "test_logs_of_a_container_and_of_its_previous_run",),
    "*Runbook spec.evidence[].logs.previous": (_EV + "test_logs_of_a_container_and_of_its_previous_run",),
    "*Runbook spec.evidence[].logs.tailLines": (_EV_LOGS, _EV + "test_logs_of_a_container_and_of_its_previous_run"),
    "*Runbook spec.evidence[].logs.filter": (_EV_LOGS, _EV_U + "test_a_catastrophic_filter_runs_in_linear_time"),
    "*Runbook spec.evidence[].logs.maxBytes": (_EV_CAP, _EV + "test_ten_megabytes_of_logs_yield_at_most_the_cap"),
    "*Runbook spec.evidence[].events": (_EV_CRASH,),
    "*Runbook spec.evidence[].summary": (_EV_CRASH, _EV_U + "test_summary_of_an_oom_killed_pod_and_its_node"),
    "*Runbook spec.evidence[].http": (_EV_HTTP, _EV_TENANT_HTTP),
    "*Runbook spec.evidence[].http.service": (_EV_HTTP, _EV_TENANT_HTTP),
    "*Runbook spec.evidence[].http.port": (_EV_HTTP,),
    "*Runbook spec.evidence[].http.path": (_EV_HTTP,),
    "ClusterRunbook spec.evidence[].http.namespace": (_EV_HTTP,),
    "ClusterRunbook spec.evidence[].promql": (_EV_PROMQL,),
    "ClusterRunbook spec.evidence[].promql.url": (_EV_PROMQL, _EV_LINK_LOCAL),
    "ClusterRunbook spec.evidence[].promql.query": (_EV_PROMQL,),
    "ClusterRunbook spec.evidence[].promql.range": (_EV_PROMQL,),
    "ClusterRunbook spec.evidence[].promql.step": (_EV_PROMQL,),
    "ClusterRunbook spec.evidence[].aws": (_EV_AWS,),
    "ClusterRunbook spec.evidence[].aws.rdsInstance": (_EV_AWS,),
    "ClusterRunbook spec.evidence[].aws.elasticacheReplicationGroup": (_EV_AWS,),
    "*Runbook spec.steps[].collect": (_EV_CRASH, _EV_WHEN),
    "*Runbook spec.silence": (_SILENCE_HELD, _SILENCE_KILLED, _SILENCE_DOWN),
    "*Runbook spec.silence.fromTrigger": (
        _SILENCE_ALERT,
        _U + "test_silences.py::test_no_alert_and_no_matcher_silences_nothing",
    ),
    "*Runbook spec.silence.matchers": (_SILENCE_HELD, _SILENCE_TENANT, _SILENCE_TENANT_C),
    "*Runbook spec.silence.matchers[].name": (_SILENCE_HELD,),
    "*Runbook spec.silence.matchers[].value": (_SILENCE_HELD,),
    "*Runbook spec.silence.matchers[].isRegex": (_SILENCE_HELD,),
    "*Runbook spec.silence.matchers[].isEqual": (_SILENCE_HELD,),
    "*Runbook spec.silence.ttl": (_SILENCE_HELD, _SILENCE_KILLED, _SILENCE_LEASE),
    "*Runbook spec.silence.maxDuration": (
        _SILENCE_LEASE,
        _U + "test_silences.py::test_a_silence_never_outlives_its_cap",
    ),
    "*Runbook spec.silence.comment": (_SILENCE_HELD,),
    # -- Remediation ---------------------------------------------------------------------------------------
    "Remediation spec.runbookRef": (_MISSING_RUNBOOK, _IMMUTABLE),
    "Remediation spec.runbookRef.kind": (_ALLOWED_NS, _CORDON),
    "Remediation spec.runbookRef.name": (_MISSING_RUNBOOK,),
    "Remediation spec.target": (_ROLLOUT, _MISSING_TARGET, _IMMUTABLE),
    "Remediation spec.target.apiVersion": (_NOT_APPLICABLE,),
    "Remediation spec.target.kind": (_ROLLOUT, _NOT_APPLICABLE),
    "Remediation spec.target.name": (_MISSING_TARGET,),
    "Remediation spec.target.namespace": (_OTHER_NS,),
    "Remediation spec.reason": (_TEMPLATE_UNIT,),
    "Remediation spec.dryRun": (_DRY_RUN, _IMMUTABLE_TRIGGER),
    "Remediation spec.requestedBy": (_REQUESTER, _TENANT_CANNOT_SET, _APPROVER_ONLY),
    "Remediation spec.approved": (_APPROVAL, _APPROVER_ONLY),
    "Remediation spec.approvedBy": (_APPROVER_ONLY,),
    "Remediation spec.trigger": (_CRASH, _IMMUTABLE_TRIGGER, _TENANT_CANNOT_SET),
    "Remediation spec.trigger.kind": (_CRASH,),
    "Remediation spec.trigger.evidence": (_CRASH, _EVIDENCE_CUT),
    "Remediation spec.trigger.firedAt": (_PENDING,),
    "Remediation spec.resolved": (_LEVELS, _ONLY_APPROVER_RESOLVES),
    "Remediation spec.resolvedBy": (_ONLY_APPROVER_RESOLVES,),
    # -- RateLimitPolicy -----------------------------------------------------------------------------------
    "RateLimitPolicy spec.windows": (_WINDOW, _STORM_BUDGET),
    "RateLimitPolicy spec.windows[].max": (_WINDOW, _BUDGET, _STORM_BUDGET),
    "RateLimitPolicy spec.windows[].per": (_WINDOW, _BUDGET),
    "RateLimitPolicy spec.windows[].scope": (_SCOPES,),
    "RateLimitPolicy spec.cooldown": (_COOLDOWN, _COOLDOWN_UNIT),
    "RateLimitPolicy spec.maxInFlight": (_COOLDOWN_UNIT,),
    "RateLimitPolicy spec.maxInFlight.max": (_COOLDOWN_UNIT, _IN_FLIGHT_ELSEWHERE, _CLUSTER_BOUND, _BY_HAND),
    "RateLimitPolicy spec.maxInFlight.scope": (
        _NEW_U + "test_in_flight_is_counted_per_scope",
        _IN_FLIGHT_ELSEWHERE,
        _CLUSTER_BOUND,
        _BY_HAND,
    ),
    "RateLimitPolicy spec.stormBreaker": (_STORM_BREAKER, _SHARE),
    "RateLimitPolicy spec.stormBreaker.enabled": (_STORM_BUDGET, _STORM_BREAKER),
    "RateLimitPolicy spec.stormBreaker.maxFailingPercent": (_SHARE, _STORM_BREAKER),
    "RateLimitPolicy spec.stormBreaker.maxFailing": (_NEW_U + "test_storm_breaker_trips_by_count", _SMALL_SCOPES),
    "RateLimitPolicy spec.stormBreaker.minTargets": (_SHARE, _SMALL_SCOPES),
    "RateLimitPolicy spec.stormBreaker.window": (_NEW_U + "test_storm_breaker_counts_failures_within_its_window",),
    "RateLimitPolicy spec.freezeWindows": (_FREEZE, _FREEZE_UNIT),
    "RateLimitPolicy spec.freezeWindows[].name": (_FREEZE,),
    "RateLimitPolicy spec.freezeWindows[].start": (_FREEZE_UNIT, _FREEZE, _WINDOWS),
    "RateLimitPolicy spec.freezeWindows[].end": (_FREEZE_UNIT, _FREEZE, _WINDOWS),
    "RateLimitPolicy spec.freezeWindows[].days": (
        _FREEZE_UNIT,
        _WINDOWS_U + "test_a_window_holds_only_on_its_days_or_the_morning_after",
    ),
    "RateLimitPolicy spec.freezeWindows[].from": (
        _FREEZE_UNIT,
        _WINDOWS_U + "test_a_window_is_decided_by_the_local_wall_clock",
    ),
    "RateLimitPolicy spec.freezeWindows[].to": (
        _FREEZE_UNIT,
        _WINDOWS_U + "test_a_window_across_midnight_ends_the_next_day",
    ),
    "RateLimitPolicy spec.freezeWindows[].timeZone": (
        _WINDOWS,
        _WINDOWS_U + "test_a_weekly_window_keeps_its_local_hours_across_dst",
        _WINDOWS_U + "test_lint_names_an_unknown_zone",
        _C + "test_windows.py::test_a_window_the_operator_cannot_read_fails_the_remediation_naming_the_field",
        _U + "test_cron_windows.py::test_a_start_in_the_hour_dst_skips_happens_when_the_clock_resumes",
    ),
    "RateLimitPolicy spec.freezeWindows[].cron": (
        _WINDOWS,
        _U + "test_cron_windows.py::test_a_weekend_freeze_from_friday_night",
        _U + "test_cron_windows.py::test_inside_iff_some_start_is_at_or_before_now_and_ends_after_it",
        _U + "test_cron_windows.py::test_lint_names_an_expression_the_schema_lets_through",
        _C + "test_windows.py::test_a_window_the_operator_cannot_read_fails_the_remediation_naming_the_field",
    ),
    "RateLimitPolicy spec.freezeWindows[].duration": (
        _WINDOWS,
        _U + "test_cron_windows.py::test_a_weekend_freeze_from_friday_night",
        _U + "test_cron_windows.py::test_the_schema_refuses_an_incomplete_recurrence",
    ),
    # -- EscalationPolicy ----------------------------------------------------------------------------------
    "EscalationPolicy spec.levels": (_LEVELS,),
    "EscalationPolicy spec.levels[].name": (_NEW_U + "test_every_channel_names_the_level",),
    "EscalationPolicy spec.levels[].after": (_LEVELS,),
    "EscalationPolicy spec.levels[].severity": (_PAGING, _U + "test_paging.py::test_severity_is_the_levels"),
    "EscalationPolicy spec.levels[].channels": (_LEVELS,),
    "EscalationPolicy spec.levels[].channels[].name": (_LEVELS,),
    "EscalationPolicy spec.levels[].channels[].webhook": (_LEVELS,),
    "EscalationPolicy spec.levels[].channels[].webhook.name": (_LEVELS,),
    "EscalationPolicy spec.levels[].channels[].webhook.key": (_LEVELS,),
    "EscalationPolicy spec.levels[].channels[].slack": (_LEVELS,),
    "EscalationPolicy spec.levels[].channels[].slack.name": (_LEVELS,),
    "EscalationPolicy spec.levels[].channels[].slack.key": (_LEVELS,),
    "EscalationPolicy spec.levels[].channels[].pagerduty": (_LEVELS,),
    "EscalationPolicy spec.levels[].channels[].pagerduty.name": (_LEVELS,),
    "EscalationPolicy spec.levels[].channels[].pagerduty.key": (_LEVELS,),
    "EscalationPolicy spec.levels[].channels[].url": (_LEVELS, _TENANT_CHANNEL_URL),
    "EscalationPolicy spec.repeatInterval": (_NEW_C + "test_the_current_level_is_sent_again_every_repeat_interval",),
    "EscalationPolicy spec.escalateOn": (_ESCALATE_ON,),
    "EscalationPolicy spec.approvalTimeout": (_APPROVAL_TIMEOUT,),
    "EscalationPolicy spec.template": (_LEVELS, _TEMPLATE_UNIT),
    "EscalationPolicy spec.template.incident": (_LEVELS,),
    "EscalationPolicy spec.template.impact": (_LEVELS,),
    "EscalationPolicy spec.template.services": (_LEVELS,),
    "EscalationPolicy spec.template.eta": (_NEW_U + "test_incident_eta_and_console_links",),
    "EscalationPolicy spec.template.consoleUrl": (_NEW_U + "test_incident_eta_and_console_links",),
}
