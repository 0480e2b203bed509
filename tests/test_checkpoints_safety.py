"""The restricted unpickler runs no code from a pickle: attacks are refused and leave no trace."""

import os
import pickle
import subprocess
import builtins
import importlib

import numpy as np
import pytest
import torch

import checkpoint_layouts as L
from editgan.cli import main as cli_main
from editgan.errors import UnsafePickleError
from editgan.io.nvidia_pkl import read_nvidia_pkl
from editgan.io.safe_pickle import safe_load


class Payload:
    """Pickles as a call of `func(*args)` (what an attacker's __reduce__ does)."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


def payloads(marker):
    return {
        "os.system": (Payload(os.system, f"touch {marker}"), f"{os.system.__module__}.system"),
        "builtins.eval": (Payload(builtins.eval, f"open({str(marker)!r}, 'w').close()"), "builtins.eval"),
        "builtins.exec": (Payload(builtins.exec, f"open({str(marker)!r}, 'w').close()"), "builtins.exec"),
        "subprocess.Popen": (Payload(subprocess.Popen, ["touch", str(marker)]), "subprocess.Popen"),
        "getattr": (Payload(builtins.getattr, Payload(importlib.import_module, "os"), "system"), "builtins.getattr"),
    }


@pytest.mark.parametrize("name", ["os.system", "builtins.eval", "builtins.exec", "subprocess.Popen", "getattr"])
@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_top_level_attack_is_refused(tmp_path, name, protocol):
    marker = tmp_path / "pwned"
    payload, global_name = payloads(marker)[name]
    blob = pickle.dumps({"G_ema": payload}, protocol=protocol)
    with pytest.raises(UnsafePickleError, match=f"'{global_name}'"):
        safe_load(blob)
    assert not marker.exists()


def test_payload_is_real(tmp_path):
    """Guard against a vacuous safety test: plain pickle.loads of the same bytes does run the code."""
    marker = tmp_path / "pwned"
    blob = pickle.dumps(payloads(marker)["os.system"][0])
    pickle.loads(blob)
    assert marker.exists()


@pytest.mark.parametrize("where", ["layer_attribute", "init_kwargs", "training_set_kwargs", "parameter_dict"])
def test_nested_attack_in_valid_network_pickle_is_refused(tmp_path, where):
    marker = tmp_path / "pwned"
    payload = payloads(marker)["os.system"][0]
    G = L.nvidia_generator()
    extra = {}
    if where == "layer_attribute":
        G.synthesis.b16.conv1.act_gain = payload
    elif where == "init_kwargs":
        G.mapping._init_kwargs["lr_multiplier"] = payload
    elif where == "training_set_kwargs":
        extra["training_set_kwargs"] = {"path": payload}
    else:
        G.synthesis.b8.torgb._buffers["evil"] = payload
    path = L.write_nvidia_pkl(tmp_path / "evil.pkl", G, extra=extra)
    with pytest.raises(UnsafePickleError, match="system"):
        read_nvidia_pkl(path)
    assert not marker.exists()
    code = cli_main(["convert", str(path), str(tmp_path / "out")])
    assert code == 1 and not marker.exists() and not (tmp_path / "out" / "generator.json").exists()


def test_module_source_in_records_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"

    class Sneaky(L._Persistent):
        _orig_module_src = f"open({str(marker)!r}, 'w').close()\nimport os; os.system('touch {marker}')\n"

    G = L.nvidia_generator()
    G.mapping.__class__ = type("MappingNetwork", (Sneaky,), {})
    config, _, _ = read_nvidia_pkl(L.write_nvidia_pkl(tmp_path / "n.pkl", G))
    assert config.resolution == 32 and not marker.exists()


def test_tensor_with_hooks_and_object_arrays_are_refused(tmp_path):
    with pytest.raises(UnsafePickleError, match="not a plain numeric"):
        safe_load(pickle.dumps(np.array([1, "a"], dtype=object)))
    safe_arr = safe_load(pickle.dumps(np.arange(6, dtype=np.float32).reshape(2, 3)))
    np.testing.assert_array_equal(safe_arr.array, np.arange(6, dtype=np.float32).reshape(2, 3))
    assert safe_load(pickle.dumps(torch.nn.Parameter(torch.ones(2)))).tolist() == [1.0, 1.0]
    with pytest.raises(UnsafePickleError, match="torch._tensor._rebuild_from_type_v2|torch.nn"):
        safe_load(pickle.dumps(torch.nn.Linear(2, 2)))
