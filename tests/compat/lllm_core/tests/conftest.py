import pytest


@pytest.fixture
def log_config(tmp_path):
    return {
        "log_dir": tmp_path.as_posix(),
        "name": "test_agent",
        "log_type": "none",
    }


# --- LLLM glue (not part of lllm-core; see README.md) ---------------------------------------------------
import pathlib  # noqa: E402

import lllm.core.runtime as _runtime  # noqa: E402

# 0.1.x private Runtime attributes that some of these tests read or set; LLLM's names are public.
for _old, _new in (("_default_namespace", "default_namespace"), ("_discovery_done", "discovery_done"),
                   ("_loaded_package_paths", "loaded_package_paths"), ("_resources", "_nodes")):
    setattr(_runtime.Runtime, _old, property(lambda self, n=_new: getattr(self, n),
                                             lambda self, v, n=_new: setattr(self, n, v)))
# test_pkg_management patches ``lllm.core.runtime.Path.home`` (pathlib's, process-wide) to move ~/.lllm.
_runtime.Path = pathlib.Path


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No machine state: HOME (so ~/.lllm) and the working folder are temporary; LLLM_HOME is unset."""
    for var in ("LLLM_HOME", "LLLM_CONFIG", "LLLM_STRICT", "LLLM_TRUSTED_PACKAGES", "LLLM_CONFIG_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")


# lllm-core tests that are not run, and why (README.md lists the same). Each reason is a private helper
# or internal wiring of 0.1.x, or a deliberate change listed in docs/migrating.md.
EXCLUDED_BY_REASON = {
    "changed: `str(InvokeCost)` is the one-line summary the CLI prints (`N prompt + M completion tokens, $X`); the fields are those of 0.1.x": [
        "test_const.py::TestInvokeCost::test_str_contains_token_counts",
        "test_const.py::TestInvokeCost::test_str_shows_rates_when_nonzero",
    ],
    "private: reads `DialogTreeNode._children`": [
        "test_dialog.py::TestDialogTreeNode::test_add_child_wires_refs",
        "test_dialog.py::TestDialogTreeNode::test_multiple_children_all_recorded",
    ],
    "changed: assigns `usage` to a message already in a dialog; appended messages are frozen (issue 10 \u00a73)": [
        "test_dialog.py::TestDialog::test_cost_aggregates_messages",
    ],
    "changed: context pruning was rewritten (SPEC \u00a710.11); `ContextManagerConfig`, `SAFETY_BUFFER`, `_count`, `_to_raw` and the LiteLLM window lookup are gone, the agent's `context_manager` key configures it": [
        "test_dialog.py::TestDefaultContextManager::test_config_build_custom_type_from_runtime",
        "test_dialog.py::TestDefaultContextManager::test_config_build_default_type",
        "test_dialog.py::TestDefaultContextManager::test_config_build_null_type_returns_none",
        "test_dialog.py::TestDefaultContextManager::test_config_from_dict",
        "test_dialog.py::TestDefaultContextManager::test_config_from_dict_defaults",
        "test_dialog.py::TestDefaultContextManager::test_count_returns_positive_int",
        "test_dialog.py::TestDefaultContextManager::test_effective_limit_respects_safety_buffer",
        "test_dialog.py::TestDefaultContextManager::test_max_tokens_fallback_on_unknown_model",
        "test_dialog.py::TestDefaultContextManager::test_max_tokens_from_litellm_when_not_set",
        "test_dialog.py::TestDefaultContextManager::test_safety_buffer_default_is_5000",
        "test_dialog.py::TestDefaultContextManager::test_to_raw_produces_correct_format",
    ],
    "private: `_parse_path_entry` / `_parse_dependency_entry` (manifests are parsed by `lllm.core.manifest`)": [
        "test_package_system.py::TestParsing::test_dep_as_keyword",
        "test_package_system.py::TestParsing::test_dep_plain",
        "test_package_system.py::TestParsing::test_dep_table_alias",
        "test_package_system.py::TestParsing::test_dep_table_as_key",
        "test_package_system.py::TestParsing::test_path_plain",
        "test_package_system.py::TestParsing::test_path_table_prefix",
        "test_package_system.py::TestParsing::test_path_table_under_key",
        "test_package_system.py::TestParsing::test_path_under_keyword",
    ],
    "changed: `[tools]` is a standard section in LLLM (package tools register `Function`s), not a custom one": [
        "test_package_system.py::TestLoadPackage::test_custom_section_with_python_modules",
    ],
    "private: `_deep_merge` (the public `deep_merge` is kept)": [
        "test_package_system.py::TestDeepMerge::test_list_replacement",
        "test_package_system.py::TestDeepMerge::test_nested_dict_merge",
        "test_package_system.py::TestDeepMerge::test_no_mutation",
        "test_package_system.py::TestDeepMerge::test_scalar_override",
    ],
    "changed: `AgentSpec.system_prompt` keeps the inline text; `build()` makes the `_inline/<agent>/system` Prompt": [
        "test_package_system.py::TestAgentSpec::test_from_config_with_inline_prompt",
    ],
    "private wiring: patches `lllm.core.config.find_config_file`; LLLM finds the project manifest through `lllm.core.manifest`": [
        "test_pkg_management.py::TestListPackages::test_scope_project_only",
    ],
    "private wiring: patches `lllm.core.config.find_config_file` (as above)": [
        "test_pkg_management.py::TestRemovePackage::test_remove_in_multiple_scopes_raises",
    ],
    "private: `_collect_package_deps`": [
        "test_pkg_management.py::TestCollectPackageDeps::test_collects_direct_dep",
        "test_pkg_management.py::TestCollectPackageDeps::test_excludes_self",
        "test_pkg_management.py::TestCollectPackageDeps::test_no_deps_returns_empty",
        "test_pkg_management.py::TestCollectPackageDeps::test_transitive_deps",
    ],
    "private wiring: patches `lllm.core.runtime.get_default_runtime` / `lllm.load_runtime`, and expects `lllm.cli.main()` to raise `SystemExit`; LLLM's `main(argv)` returns the exit code (the `lllm` script exits with it)": [
        "test_pkg_management.py::TestCliPkg::test_cli_export",
        "test_pkg_management.py::TestCliPkg::test_cli_export_bundle_deps",
        "test_pkg_management.py::TestCliPkg::test_cli_export_unknown_pkg_exits_nonzero",
        "test_pkg_management.py::TestCliPkg::test_cli_install_duplicate_exits_nonzero",
        "test_pkg_management.py::TestCliPkg::test_cli_remove_nonexistent_exits_nonzero",
    ],
    "changed: bare `lllm pkg` prints its help and exits 0 (issue 10 \u00a73)": [
        "test_pkg_management.py::TestCliPkg::test_pkg_no_subcommand_exits_nonzero",
    ],
    "changed: listed tags are optional; `required_xml_tags`/`required_md_tags` make one required (SPEC \u00a710.9)": [
        "test_prompt.py::TestDefaultTagParser::test_missing_md_tag_raises_parse_error",
        "test_prompt.py::TestDefaultTagParser::test_missing_xml_tag_raises_parse_error",
    ],
    "changed: calling an unlinked tool raises `ToolBindingError` saying how to link it, not `AssertionError`": [
        "test_prompt.py::TestFunction::test_call_unlinked_raises_assertion",
    ],
    "changed: a strict schema lists every property as required, optional ones nullable (SPEC \u00a72.5, \u00a710.3)": [
        "test_prompt.py::TestFunction::test_to_tool_litellm",
    ],
    "changed: `to_tool(invoker)` accepts every invoker (all take this shape and convert it)": [
        "test_prompt.py::TestFunction::test_to_tool_unsupported_invoker_raises",
    ],
    "changed: `MCP.to_tool(invoker)` accepts every invoker (as above)": [
        "test_prompt.py::TestMCP::test_to_tool_unsupported_returns_none",
    ],
    "private: `_resolve_handler`": [
        "test_prompt.py::TestDefaultSimpleHandler::test_handler_with_prompt_object_returns_it_directly",
    ],
    "changed: the agent loop's recording methods (`exception`, `interrupt`, `llm_recall`, `new_invoke_trace`) take a step and an `InvokeTrace` (\u00a79.3), not `interrupt_step=` and an `InvokeResult`": [
        "test_prompt.py::TestAgentCallSession::test_cost_sums_traces",
        "test_prompt.py::TestAgentCallSession::test_exception_different_steps",
        "test_prompt.py::TestAgentCallSession::test_exception_increments_count",
        "test_prompt.py::TestAgentCallSession::test_interrupt_records",
        "test_prompt.py::TestAgentCallSession::test_llm_recall_increments",
        "test_prompt.py::TestAgentCallSession::test_new_invoke_trace",
        "test_prompt.py::TestAgentCallSession::test_not_reach_max_exception_retry",
        "test_prompt.py::TestAgentCallSession::test_reach_max_exception_retry",
        "test_prompt.py::TestAgentCallSession::test_reach_max_interrupt_steps",
        "test_prompt.py::TestAgentCallSession::test_reach_max_llm_recall",
    ],
    "changed: a bad `CALL_API` path raises `ProxyLookupError` naming the available proxies/endpoints, not `AttributeError`/`ValueError` (SPEC \u00a710.10)": [
        "test_proxy.py::TestProxyManager::test_call_dispatch_nonexistent_method_raises",
        "test_proxy.py::TestProxyManager::test_resolve_invalid_format_raises",
    ],
    "changed: auto-init runs at first use, not at `import lllm` (SPEC \u00a710.14: a broken manifest must not break the import)": [
        "test_runtime_boot.py::TestImportTimeControls::test_auto_init_does_not_load_shared_packages_when_disabled",
    ],
    "private: `_normalize_name`": [
        "test_tactic_session.py::TestNormalizeName::test_non_string_non_enum_raises",
        "test_tactic_session.py::TestNormalizeName::test_none_raises",
    ],
    "private: `_stable_tactic_id` (public: `stable_tactic_id`)": [
        "test_tactic_session.py::TestStableTacticId::test_no_namespace_returns_bare_name",
        "test_tactic_session.py::TestStableTacticId::test_single_namespace_component",
        "test_tactic_session.py::TestStableTacticId::test_with_deep_namespace",
        "test_tactic_session.py::TestStableTacticId::test_with_namespace_extracts_package_name",
    ],
    "changed: builds agent sessions with the 0.1.x recording methods (see TestAgentCallSession)": [
        "test_tactic_session.py::TestTacticCallSession::test_agent_cost_sums_sessions",
        "test_tactic_session.py::TestTacticCallSession::test_sub_tactic_cost",
        "test_tactic_session.py::TestTacticCallSession::test_total_cost_combines_agent_and_sub",
    ],
    "private: `_TrackedAgent` (sub-calls are recorded automatically)": [
        "test_tactic_session.py::TestTrackedAgent::test_getattr_delegates_to_agent",
        "test_tactic_session.py::TestTrackedAgent::test_repr",
        "test_tactic_session.py::TestTrackedAgent::test_respond_records_session",
        "test_tactic_session.py::TestTrackedAgent::test_respond_return_session_true",
        "test_tactic_session.py::TestTrackedAgent::test_setattr_delegates_to_agent",
    ],
    "undocumented internals of 0.1.x `lllm.utils` (response caching, string-matched rate-limit detection replaced by typed errors, `check_item`, `directory_tree`, `html_collapse`); LLLM keeps the documented helpers": [
        "test_utils.py::TestHtmlCollapse::test_contains_details_tags",
        "test_utils.py::TestHtmlCollapse::test_returns_string",
        "test_utils.py::TestDirectoryTree::test_directory_only_mode",
        "test_utils.py::TestDirectoryTree::test_level_limit",
        "test_utils.py::TestDirectoryTree::test_returns_string",
        "test_utils.py::TestDirectoryTree::test_shows_files",
        "test_utils.py::TestDirectoryTree::test_shows_subdirectory",
        "test_utils.py::TestCheckItem::test_empty_required_keys",
        "test_utils.py::TestCheckItem::test_missing_key_raises",
        "test_utils.py::TestCheckItem::test_only_required_keys_returned",
        "test_utils.py::TestCheckItem::test_valid_item",
        "test_utils.py::TestCheckItem::test_wrong_type_raises_parse_error",
        "test_utils.py::TestIsOpenAIRateLimitError::test_partial_match_please_wait",
        "test_utils.py::TestIsOpenAIRateLimitError::test_please_wait_message",
        "test_utils.py::TestIsOpenAIRateLimitError::test_rate_limit_exceeded_message",
        "test_utils.py::TestIsOpenAIRateLimitError::test_unrelated_error",
        "test_utils.py::TestCacheUtilities::test_cache_response_and_load",
        "test_utils.py::TestCacheUtilities::test_create_cache_key_deterministic",
        "test_utils.py::TestCacheUtilities::test_create_cache_key_different_func_keys",
        "test_utils.py::TestCacheUtilities::test_create_cache_key_different_params",
        "test_utils.py::TestCacheUtilities::test_load_nonexistent_returns_none",
        "test_utils.py::TestCacheUtilities::test_save_and_load_cache",
    ],
}

EXCLUDED = {test: reason for reason, tests in EXCLUDED_BY_REASON.items() for test in tests}


def pytest_collection_modifyitems(config, items):
    for item in items:
        rel = item.nodeid.split("/units/", 1)[-1]
        if rel in EXCLUDED:
            item.add_marker(pytest.mark.skip(reason=f"excluded: {EXCLUDED[rel]}"))
