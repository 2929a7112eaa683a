"""Which compilation-cache folder the commands choose (`pgjax.cli.compile_cache`). That a second
run loads its programs from it: tests/runs/test_driver.py."""

from pathlib import Path

from pgjax.cli import compile_cache


def test_the_flag_then_the_variable_then_jax_then_the_per_user_default(monkeypatch, tmp_path):
    monkeypatch.delenv("PGJAX_COMPILE_CACHE", raising=False)
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert compile_cache.choose(None) == tmp_path / "xdg" / "pgjax" / "jax"
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "jax"))
    assert compile_cache.choose(None) is None  # JAX's own variable stays in force
    monkeypatch.setenv("PGJAX_COMPILE_CACHE", str(tmp_path / "env"))
    assert compile_cache.choose(None) == tmp_path / "env"
    assert compile_cache.choose(str(tmp_path / "flag")) == tmp_path / "flag"
    assert compile_cache.choose("off") is None and compile_cache.choose("OFF") is None
    monkeypatch.setenv("PGJAX_COMPILE_CACHE", "off")
    assert compile_cache.choose(None) is None
    assert compile_cache.choose("~/c") == Path.home() / "c"


def test_off_leaves_jax_without_a_cache_folder(monkeypatch):
    import jax

    monkeypatch.setenv("PGJAX_COMPILE_CACHE", "/nonexistent/should-not-be-used")
    before = jax.config.jax_compilation_cache_dir
    assert compile_cache.enable("off") is None
    assert jax.config.jax_compilation_cache_dir == before
