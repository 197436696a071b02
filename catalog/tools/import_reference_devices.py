"""Historical importer: ../shared/reference/devices.csv -> a devices YAML.

Kept for provenance: it records how the sourced reference sheet became the first catalog
entries (ids, families, segments, default links and memory options are assigned here).

``catalog/data/devices.yaml`` is now the source of truth: it has since been edited by hand
(aliases, default-variant choices, corrected Apple memory options, 50 added devices, two sheet
rows dropped because a required figure could not be sourced). Do not re-run this script over
it; write to another path to compare:
``python catalog/tools/import_reference_devices.py ../shared/reference/devices.csv /tmp/x.yaml``.
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

import yaml

FAMILY_RULES: list[tuple[str, str, str, str]] = [
    # (regex on name, family, segment, default_link)
    (r"RTX 20", "nvidia-turing", "consumer", "pcie3-x16"),
    (r"GeForce RTX 30", "nvidia-ampere", "consumer", "pcie4-x16"),
    (r"GeForce RTX 40", "nvidia-ada", "consumer", "pcie4-x16"),
    (r"GeForce RTX 50", "nvidia-blackwell", "consumer", "pcie5-x16"),
    (r"RTX A\d", "nvidia-ampere", "workstation", "pcie4-x16"),
    (r"RTX \d+ Ada", "nvidia-ada", "workstation", "pcie4-x16"),
    (r"RTX PRO", "nvidia-blackwell", "workstation", "pcie5-x16"),
    (r"^L4$|^L40", "nvidia-ada", "datacenter", "pcie4-x16"),
    (r"^A10", "nvidia-ampere", "datacenter", "pcie4-x16"),
    (r"A100", "nvidia-ampere-hbm", "datacenter", "pcie4-x16"),
    (r"H100|H200", "nvidia-hopper", "datacenter", "pcie5-x16"),
    (r"B200|GB200", "nvidia-blackwell-hbm", "datacenter", "pcie5-x16"),
    (r"DGX Spark", "nvidia-gb10", "desktop", "cx7-dgx-spark"),
    (r"Jetson", "nvidia-jetson", "edge", "10gbe"),
    (r"MI250", "amd-cdna2", "datacenter", "pcie4-x16"),
    (r"MI3", "amd-cdna3", "datacenter", "pcie5-x16"),
    (r"RX 7", "amd-rdna3", "consumer", "pcie4-x16"),
    (r"RX 9", "amd-rdna4", "consumer", "pcie5-x16"),
    (r"Strix Halo", "amd-rdna3.5", "desktop", "usb4"),
    (r"Gaudi", "intel-gaudi", "datacenter", "gaudi3-roce"),
    (r"TPU", "google-tpu", "datacenter", "tpu-v5e-ici"),
    (r"Apple M1", "apple-m1", "mac", "tb4"),
    (r"Apple M2", "apple-m2", "mac", "tb4"),
    (r"Apple M3 Ultra", "apple-m3", "mac", "tb5"),
    (r"Apple M3", "apple-m3", "mac", "tb4"),
    (r"Apple M4 Pro|Apple M4 Max", "apple-m4", "mac", "tb5"),
    (r"Apple M4", "apple-m4", "mac", "tb4"),
    (r"Apple M5 Pro|Apple M5 Max", "apple-m5", "mac", "tb5"),
    (r"Apple M5", "apple-m5", "mac", "tb4"),
]

NVLINK = {
    "A100 40GB SXM4": "nvlink3",
    "A100 80GB SXM4": "nvlink3",
    "H100 SXM5 80GB": "nvlink4",
    "H200 SXM 141GB": "nvlink4",
    "H100 NVL 94GB": "nvlink4-bridge",
    "H100 PCIe 80GB": "nvlink4-bridge",
    "H200 NVL 141GB": "nvlink4-bridge",
    "B200 (HGX, 1000 W)": "nvlink5",
    "GB200 (per Blackwell GPU, 1200 W)": "nvlink5",
    "GeForce RTX 3090": "nvlink-bridge-ga102",
    "RTX A6000": "nvlink-bridge-ga102",
    "Instinct MI300X": "infinity-fabric",
    "Instinct MI325X": "infinity-fabric",
}


# Short ids people type, where the generic rule below would keep noise from the sheet's names.
ID_OVERRIDES = {
    "RTX 6000 Ada Generation": "rtx-6000-ada",
    "RTX PRO 6000 Blackwell Workstation Edition": "rtx-pro-6000",
    "A100 40GB SXM4": "a100-40gb-sxm",
    "A100 80GB SXM4": "a100-80gb-sxm",
    "H100 SXM5 80GB": "h100-sxm",
    "H100 PCIe 80GB": "h100-pcie",
    "H100 NVL 94GB": "h100-nvl",
    "H200 SXM 141GB": "h200-sxm",
    "H200 NVL 141GB": "h200-nvl",
    "B200 (HGX, 1000 W)": "b200",
    "GB200 (per Blackwell GPU, 1200 W)": "gb200",
    "DGX Spark (GB10 Grace Blackwell)": "dgx-spark",
    "Jetson AGX Thor (T5000)": "jetson-agx-thor",
    "Radeon RX 7900 XTX": "rx-7900-xtx",
    "Ryzen AI Max+ 395 (Strix Halo, Radeon 8060S)": "ryzen-ai-max-395",
    "Gaudi 3 (OAM)": "gaudi3",
    "TPU v5e (per chip)": "tpu-v5e",
}


def slug(name: str) -> str:
    """Clean lowercase id: 'GeForce RTX 4090' -> rtx-4090, 'Apple M1 (8-core GPU)' -> m1-8c."""
    if name in ID_OVERRIDES:
        return ID_OVERRIDES[name]
    s = name.lower()
    s = s.replace("geforce ", "").replace("apple ", "").replace("instinct ", "")
    s = re.sub(r"\((\d+)-core gpu\)", r" \1c ", s)
    s = re.sub(r"\(([^)]*)\)", r" \1 ", s)
    s = re.sub(r"[^a-z0-9.]+", "-", s).strip("-")
    return s


def num(v: str) -> float | None:
    v = v.strip()
    return float(v) if v else None


def memory_options(notes: str, memory_gb: float) -> list[float]:
    m = re.search(r"Options(?: per HF:)? ([\d/]+) ?GB", notes)
    if not m:
        return []
    opts = sorted({float(x) for x in m.group(1).split("/") if x})
    return [o for o in opts if o <= memory_gb]


def convert(row: dict[str, str]) -> dict:
    name = row["name"]
    rule = next((r for r in FAMILY_RULES if re.search(r[0], name)), None)
    if rule is None:
        raise SystemExit(f"no family rule for {name}")
    _, family, segment, link = rule
    mem = float(row["memory_gb"])
    entry: dict = {
        "id": slug(name),
        "name": name,
        "vendor": row["vendor"],
        "family": family,
        "kind": row["kind"],
        "segment": segment,
        "memory_gb": mem,
    }
    opts = memory_options(row["notes"], mem)
    if len(opts) > 1:
        entry["memory_options"] = [{"memory_gb": o} for o in opts]
    entry["memory_type"] = row["memory_type"]
    entry["bandwidth_gb_s"] = float(row["bandwidth_gb_s"])
    tf = {
        "fp32": num(row["fp32_tflops"]),
        "fp16": num(row["fp16_tflops_dense(tensor)"]),
        "bf16": num(row["bf16_tflops_dense"]),
        "fp8": num(row["fp8_tflops_dense"]),
        "int8": num(row["int8_tops_dense"]),
        "fp4": num(row["fp4_tflops_dense"]),
    }
    entry["tflops"] = {k: v for k, v in tf.items() if v is not None}
    cores = re.search(r"\((\d+)-core GPU\)", name)
    if cores:
        entry["gpu_cores"] = int(cores.group(1))
    entry["tdp_w"] = float(row["tdp_w"]) if row["tdp_w"] else None
    if row["idle_w"]:
        entry["idle_w"] = float(row["idle_w"])
    if row["launch_price_usd"]:
        entry["price_usd"] = float(row["launch_price_usd"])
    entry["year"] = int(row["year"])
    entry["default_link"] = link
    if name in NVLINK:
        entry["nvlink"] = NVLINK[name]
    entry["sources"] = [s.strip() for s in row["sources"].split("; ") if s.strip()] + [
        "shared/reference/devices.csv (project reference sheet, compiled with the sources above)"
    ]
    entry["notes"] = row["notes"]
    return entry


def main(src: Path, dst: Path) -> None:
    rows = list(csv.DictReader(src.open()))
    out = [convert(r) for r in rows]
    dst.write_text(yaml.safe_dump(out, sort_keys=False, allow_unicode=True, width=100))
    print(f"wrote {len(out)} devices to {dst}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
