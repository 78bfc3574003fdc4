"""The kind of CPU training runs on, told by its instruction sets, for the automatic training choices.

Two kinds differ in what is fastest (bench/README.md, "Automatic choices"): a CPU whose oneDNN
computes convolutions in bfloat16 (AVX512-BF16 or AMX), and any other (AVX2, or AVX-512 without
bfloat16), which trains in float32. `config.AUTO_TRAINING` holds each kind's choices.
"""

import os

# The kinds of CPU, in `config.AUTO_TRAINING`'s keys.
BFLOAT16_CPU = "bfloat16"
FLOAT32_CPU = "float32"
CPU_KINDS = (BFLOAT16_CPU, FLOAT32_CPU)
# The /proc/cpuinfo flags of the instructions oneDNN computes bfloat16 convolutions with.
BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")
# oneDNN's instruction sets below AVX512_CORE_BF16: limited to one of them (ONEDNN_MAX_CPU_ISA),
# oneDNN refuses bfloat16 convolutions even on a CPU that has the instructions.
ISAS_WITHOUT_BFLOAT16 = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI")


def cpu_flags() -> frozenset[str]:
    """The instruction-set flags of this machine's CPU (/proc/cpuinfo); none off Linux."""
    try:
        with open("/proc/cpuinfo") as handle:
            return frozenset(next((line.split(":", 1)[1].split() for line in handle if line.startswith("flags")), []))
    except OSError:
        return frozenset()


def cpu_kind() -> str:
    """`BFLOAT16_CPU` when the CPU has AVX512-BF16 or AMX and oneDNN may use them (``ONEDNN_MAX_CPU_ISA``,
    when set, names a bfloat16 instruction set), else `FLOAT32_CPU`."""
    if os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper() in ISAS_WITHOUT_BFLOAT16:
        return FLOAT32_CPU
    return BFLOAT16_CPU if set(BFLOAT16_FLAGS) & cpu_flags() else FLOAT32_CPU
