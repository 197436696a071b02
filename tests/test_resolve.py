"""Names resolve as people write them; unknown names get a did-you-mean."""

import pytest

from catalog.resolve import UnknownNameError, normalize, resolver

R = resolver()


@pytest.mark.parametrize(
    ("query", "device_id_part"),
    [
        ("RTX 4090", "4090"),
        ("rtx4090", "4090"),
        ("NVIDIA GeForce RTX 4090 24GB", "4090"),
        ("Apple M2 Ultra (76-core GPU, 192GB)", "m2-ultra"),
        ("M3 Ultra 512GB", "m3-ultra"),
        ("Apple M1 (7-core GPU, 68 GB/s)", "m1"),
    ],
)
def test_device_names(query, device_id_part):
    assert device_id_part in R.device(query).entry.id


def test_memory_option_is_selected():
    assert R.device("M3 Ultra 256GB").memory_gb == 256
    assert R.device("M3 Ultra 512GB").memory_gb == 512


def test_ambiguous_name_says_which_default():
    r = R.device("M3 Ultra")
    assert r.note and "default" in r.note


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Llama 3 8B", "llama-3-8b"),
        ("meta-llama/Meta-Llama-3-8B-Instruct", "llama-3-8b"),
        ("Llama 2 13B Chat", "llama-2-13b"),
        ("qwen 2.5 14B (MLX 4-bit)", "qwen2.5-14b"),
        ("mlx-community/Phi-4-reasoning-plus-4bit", "phi-4"),
        ("phi-4-mini-4bit (mlx-community Phi-4-mini, 3.8B)", "phi-4-mini"),  # not Phi-4 or Phi-3 mini
    ],
)
def test_model_names(query, expected):
    assert R.model(query).entry.id == expected


@pytest.mark.parametrize(
    ("query", "expected"), [("Q4_K_M", "q4_k_m"), ("MLX 4-bit", "mlx-4bit"), ("q4f16_1", "q4f16_1")]
)
def test_quant_names(query, expected):
    assert R.quant(query).id == expected


@pytest.mark.parametrize(("query", "expected"), [("llama.cpp (CUDA)", "llama.cpp-cuda"), ("Ollama", "ollama")])
def test_runtime_names(query, expected):
    assert R.runtime(query).id == expected


@pytest.mark.parametrize(("query", "expected"), [("10GbE", "10gbe"), ("TB5 RDMA", "tb5-rdma"), ("NVLink 4", "nvlink4")])
def test_link_names(query, expected):
    assert R.link(query).id == expected


def test_exo_model_ids_resolve():
    assert R.model("mlx-community/Meta-Llama-3.1-8B-Instruct-4bit").entry.id == "llama-3.1-8b"


def test_unknown_name_suggests():
    with pytest.raises(UnknownNameError) as exc:
        R.device("RTX 4099")
    assert "did you mean" in str(exc.value)
    assert "4090" in str(exc.value)


def test_normalize_is_case_and_punctuation_insensitive():
    assert normalize("NVIDIA GeForce RTX-4090") == normalize("rtx 4090")
