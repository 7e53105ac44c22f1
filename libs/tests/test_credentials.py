"""Credential references resolve from the environment or from the secrets directory."""

from __future__ import annotations

from pathlib import Path

from llmctl_libs.credentials import read_credential


def test_env_reference_reads_the_variable() -> None:
    env = {"OPENAI_API_KEY": "sk-test", "EMPTY": ""}
    assert read_credential("OPENAI_API_KEY", env) == "sk-test"
    assert read_credential("EMPTY", env) is None
    assert read_credential("MISSING", env) is None
    assert read_credential(None, env) is None


def test_secret_reference_reads_the_mounted_file(tmp_path: Path) -> None:
    (tmp_path / "anthropic-key").write_text("sk-ant\n")
    (tmp_path / "blank").write_text("  \n")
    env = {"LLMCTL_SECRETS_DIR": str(tmp_path)}
    assert read_credential("secret:anthropic-key", env) == "sk-ant"
    assert read_credential("secret:blank", env) is None
    assert read_credential("secret:absent", env) is None
    # a secret reference never falls back to an environment variable of that name
    assert read_credential("secret:X", {**env, "X": "from-env"}) is None
