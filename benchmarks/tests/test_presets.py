"""benchmarks/presets: the guards that run before any training."""

import pytest

from benchmarks import presets


@pytest.mark.parametrize("out", [None, "presets.txt"])
def test_presets_set_needs_an_out_of_its_own(out, monkeypatch, capsys):
    # Nothing may be trained or written: the guard comes first.
    monkeypatch.setattr(presets, "measure", lambda *args, **kwargs: pytest.fail("trained before the guard"))
    argv = ["--algos", "ppo_kl", "--envs", "CartPole-v1", "--set", "gamma=0.995"]
    if out:  # same stem: it would write benchmarks/presets.json
        argv += ["--out", str(presets.HERE / out)]
    with pytest.raises(SystemExit) as raised:
        presets.main(argv)
    assert raised.value.code == 2
    assert "--set: give an --out of its own (not benchmarks/presets.*)" in capsys.readouterr().err
