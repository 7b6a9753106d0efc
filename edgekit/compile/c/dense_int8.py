"""int8 dense layers for the C target: integer dot products of int8 weights and int8 activations.

The scheme. Weights: one scale per output unit (w ~ wscale[o] * q, q in -127..127). Activations:
each layer's input is quantized per row, with one scale from that row's largest magnitude
(x ~ xscale * q, q in -127..127, rounded to nearest even). The products are summed in int32, which
is exact, and scaled once per output: ``bias[o] + ((float)sum * xscale) * wscale[o]``: the row's
scale first, so the intermediate is the float sum of codes times x that the row bound keeps
finite (compile/dense.py's float_limit counts codes), as float activations had it. The scale
belongs to a row, never to a block of rows, so a row's answer does not depend on its neighbours:
the batch entry point agrees bit for bit with edgekit_predict, and every kernel below computes the
same integers (exact arithmetic has no summation order), so all of them agree bit for bit too.

The kernels, one per instruction set, over blocks of rows stored [group of 4 inputs][row][4 bytes]
(one 32-bit lane per row) with each unit's 4 weights broadcast to every lane:
- x86-64 (picked per call from the CPU): AVX512-VNNI and AVX-VNNI ``vpdpbusd`` (unsigned x signed
  bytes: the activations go in as x + 128, and the accumulator starts at -128 * sum(w)); AVX2
  ``vpmaddubsw`` on |x| and w * sign(x), which never saturates int16 because |q| <= 127
  (2 * 127 * 127 < 32768), then ``vpmaddwd`` by ones into int32; and the portable C loop.
- aarch64: ``sdot`` where the compiler targets ARMv8.2 dot products, else ``smull`` + ``sadalp``.
- Cortex-M4/M7 (rows one at a time): two 16-bit products per ``SMLAD``, the weights unpacked by
  ``SXTB16`` as CMSIS-NN does; the activations are stored as int16 in the order it unpacks them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import BadInput
from ..dense import DenseModel
from ..int_scale import symmetric_rows
from .literals import array, float_literals, int_literals

GROUP = 4  # inputs per 32-bit lane of a dot-product instruction
MAX_INPUTS = 133_000  # 127 * 127 * inputs stays below 2**31: the int32 sum cannot overflow
ROUND = "12582912.0f"  # 1.5 * 2**23: adding and subtracting it rounds |t| < 2**22 to nearest even


def padded(inputs: int) -> int:
    return -(-inputs // GROUP) * GROUP


@dataclass(frozen=True)
class QuantizedLayer:
    codes: np.ndarray  # [units][padded inputs], zeros past the inputs
    scales: np.ndarray  # per unit
    inputs: int

    @property
    def units(self) -> int:
        return self.codes.shape[0]

    @property
    def groups(self) -> int:
        return self.codes.shape[1] // GROUP


def quantize_layers(model: DenseModel) -> list[QuantizedLayer]:
    layers = []
    for layer in model.layers:
        inputs, units = layer.weights.shape
        if inputs > MAX_INPUTS:
            raise BadInput(f"an int8 layer with {inputs} inputs could overflow its int32 sums (at most {MAX_INPUTS})",
                           "use --quantize none")
        q, scales = symmetric_rows(layer.weights.T, "int8")
        codes = np.zeros((units, padded(inputs)), dtype=np.int64)
        codes[:, :inputs] = q
        layers.append(QuantizedLayer(codes, scales, inputs))
    return layers


def declarations(model: DenseModel, layers: list[QuantizedLayer]) -> list[str]:
    lines = [
        "/* SMLAD takes the activations as int16, in the order SXTB16 unpacks a word of weights (bytes 0, 2 then 1, 3) */",
        "#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32) && !defined(__aarch64__) && defined(__GNUC__)",
        "#define SMLAD_DOTS 1",
        "#include <arm_acle.h>",
        "typedef int16_t code_t;",
        "#define CODE_AT(i) (((i) & ~3u) | (((i) & 1u) << 1) | (((i) >> 1) & 1u))",
        "#else",
        "typedef int8_t code_t;",
        "#define CODE_AT(i) (i)",
        "#endif",
        "#define SMALLEST_RANGE 1e-30f  /* a row's activations all below it quantize to 0 (127 / most stays finite) */",
        f"#define WIDEST_CODES {padded(max(model.n_features, *(layer.units for layer in layers)))}u  /* WIDEST rounded up to groups of 4 */",
    ]
    used = layers[0].codes[:, :model.n_features].any(axis=0)
    lines.append("/* 0 for a feature every first-layer code ignores: it adds nothing to any sum, and must not set a row's int8 range */")
    lines.append(array("uint8_t", "input_used", int_literals(used.astype(np.int64)), "NUM_FEATURES"))
    for index, (layer, quantized) in enumerate(zip(model.layers, layers)):
        lines += [
            array("int8_t", f"weight{index}", int_literals(quantized.codes), quantized.codes.size),
            array("float", f"wscale{index}", float_literals(quantized.scales), quantized.units),
            array("float", f"bias{index}", float_literals(layer.bias), quantized.units),
        ]
    return lines


def single_row(model: DenseModel, layers: list[QuantizedLayer], activations: dict[str, str]) -> list[str]:
    """quantize_row, the dot product of one unit, and each layer for one row (edgekit_predict)."""
    lines = [
        "/* x ~ scale * q per row: the block kernels quantize with the same arithmetic, in the same order */",
        "static float quantize_row(const float *x, uint32_t n, code_t *q) {",
        "    float most = 0.0f;",
        "    for (uint32_t i = 0; i < n; ++i) { const float m = fabsf(x[i]); most = m > most ? m : most; }",
        "    const float inverse = (most > SMALLEST_RANGE && most <= FLT_MAX) ? 127.0f / most : 0.0f;",
        "    for (uint32_t i = 0; i < ((n + 3u) & ~3u); ++i) {  /* |x| <= most: |t| rounds to 127 at most */",
        "        float t = i < n ? x[i] * inverse : 0.0f;",
        f"        t = (t + {ROUND}) - {ROUND};",
        "        q[CODE_AT(i)] = (code_t)(t == t ? t : 0.0f);",
        "    }",
        "    return most * (1.0f / 127.0f);",
        "}",
        "",
        "#ifdef SMLAD_DOTS",
        "static int32_t dot_row(const int8_t *w, const code_t *q, uint32_t groups) {",
        "    int32_t sum = 0;",
        "    for (uint32_t g = 0; g < groups; ++g, w += 4, q += 4) {",
        "        uint32_t word, even, odd, low, high;",
        "        __builtin_memcpy(&word, w, 4);",
        "        __builtin_memcpy(&low, q, 4);",
        "        __builtin_memcpy(&high, q + 2, 4);",
        "        even = __sxtb16(word);",
        '        __asm__("sxtb16 %0, %1, ror #8" : "=r"(odd) : "r"(word));',
        "        sum = __smlad(even, low, sum);",
        "        sum = __smlad(odd, high, sum);",
        "    }",
        "    return sum;",
        "}",
        "#else",
        "static int32_t dot_row(const int8_t *w, const code_t *q, uint32_t groups) {",
        "    int32_t sum = 0;",
        "    for (uint32_t i = 0; i < groups * 4u; ++i) sum += (int32_t)w[i] * q[i];",
        "    return sum;",
        "}",
        "#endif",
        "",
    ]
    for index, (layer, quantized) in enumerate(zip(model.layers, layers)):
        activation = activations[layer.activation]
        lines += [
            f"static void layer{index}(const float *in, float *out) {{",
            "    code_t q[WIDEST_CODES];",
            f"    const float scale = quantize_row(in, {quantized.inputs}u, q);",
            f"    for (uint32_t o = 0; o < {quantized.units}u; ++o) {{",
            f"        float sum = (float)dot_row(weight{index} + o * {quantized.groups * GROUP}u, q, {quantized.groups}u);",
            f"        sum = bias{index}[o] + sum * scale * wscale{index}[o];",
            *([activation] if activation else []),
            "        out[o] = sum;",
            "    }",
            "}",
            "",
        ]
    return lines


def block_pieces(model: DenseModel, layers: list[QuantizedLayer], block: int) -> list[str]:
    """The kernels and the kernel tables the int8 batch entry point picks from (``dots_*``: one
    kernel per layer)."""
    return ["typedef void (*dots_t)(const uint32_t *restrict packed, int32_t *restrict sums);", "", *_kernels(layers, block)]


def block_steps(model: DenseModel, layers: list[QuantizedLayer], lanes: int, vectors: int, attribute: str,
                activations: dict[str, str]) -> list[str]:
    """quantize_row and each layer's epilogue over a block, a vector of rows at a time: the same
    IEEE operations in the same order as the single-row code (selects for its conditionals)."""
    lane, mask, broadcast, select = f"lane{lanes}_t", f"mask{lanes}_t", f"broadcast{lanes}", f"select{lanes}"
    load = f"__builtin_memcpy(&{{0}}, {{1}} + v * {lanes}u, sizeof {{0}})"
    lines = [
        f"typedef uint32_t word{lanes}_t __attribute__((vector_size({4 * lanes})));",
        "/* packed [group of 4 inputs][row][4 bytes]; x's rows past n (to a whole group) become 0 */",
        f"{attribute}static void quantize_block{lanes}(float *restrict x, uint32_t n, uint32_t *restrict packed, float *restrict scale) {{",
        f"    {lane} partial[4][{vectors}], most[{vectors}], inverse[{vectors}];",
        f"    const {lane} absolute = ({lane})(~({mask}){broadcast}(-0.0f));",
        f"    for (uint32_t v = 0; v < 4u * {vectors}u; ++v) partial[v / {vectors}u][v % {vectors}u] = {broadcast}(0.0f);",
        "    /* four running maxima, not one: a chain of compare-and-select per input would set the pace */",
        "    for (uint32_t i = 0; i < n; ++i) {",
        f"        for (uint32_t v = 0; v < {vectors}u; ++v) {{",
        f"            {lane} m; {load.format('m', 'x + i * BLOCK')};",
        f"            m = ({lane})(({mask})m & ({mask})absolute);",
        f"            partial[i % 4u][v] = {select}(m > partial[i % 4u][v], m, partial[i % 4u][v]);",
        "        }",
        "    }",
        f"    for (uint32_t v = 0; v < {vectors}u; ++v) {{",
        f"        most[v] = {select}(partial[1][v] > partial[0][v], partial[1][v], partial[0][v]);",
        f"        most[v] = {select}(partial[2][v] > most[v], partial[2][v], most[v]);",
        f"        most[v] = {select}(partial[3][v] > most[v], partial[3][v], most[v]);",
        f"        const {mask} usable = (most[v] > {broadcast}(SMALLEST_RANGE)) & (most[v] <= {broadcast}(FLT_MAX));",
        f"        inverse[v] = {select}(usable, {broadcast}(127.0f) / most[v], {broadcast}(0.0f));",
        f"        const {lane} s = most[v] * {broadcast}(1.0f / 127.0f);",
        f"        __builtin_memcpy(scale + v * {lanes}u, &s, sizeof s);",
        "    }",
        "    for (uint32_t i = n * BLOCK; i < ((n + 3u) & ~3u) * BLOCK; ++i) x[i] = 0.0f;",
        f"    const {lane} round = {broadcast}({ROUND});",
        "    for (uint32_t g = 0; g < (n + 3u) / 4u; ++g) {",
        f"        for (uint32_t v = 0; v < {vectors}u; ++v) {{",
        f"            word{lanes}_t word = {{0}};",
        "            for (uint32_t k = 0; k < 4u; ++k) {",
        f"                {lane} t; {load.format('t', 'x + (4u * g + k) * BLOCK')};",
        "                t = t * inverse[v];",
        "                t = (t + round) - round;",
        f"                t = {select}(t == t, t, {broadcast}(0.0f));",
        f"                word |= ((word{lanes}_t)__builtin_convertvector(t, {mask}) & 0xffu) << (8u * k);",
        "            }",
        f"            __builtin_memcpy(packed + g * BLOCK + v * {lanes}u, &word, sizeof word);",
        "        }",
        "    }",
        "}",
        "",
    ]
    for index, (layer, quantized) in enumerate(zip(model.layers, layers)):
        activation = activations[layer.activation].strip()
        vector_activation = {"relu": f"sum = {select}(sum > {broadcast}(0.0f), sum, {broadcast}(0.0f));", "identity": ""}
        lines += [
            f"{attribute}static void epilogue{index}_{lanes}(const int32_t *restrict sums, const float *restrict scale, float *restrict out) {{",
            f"    {lane} xscale[{vectors}];",
            f"    for (uint32_t v = 0; v < {vectors}u; ++v) {load.format('xscale[v]', 'scale')};",
            f"    for (uint32_t o = 0; o < {quantized.units}u; ++o) {{",
            f"        const {lane} bias = {broadcast}(bias{index}[o]), wscale = {broadcast}(wscale{index}[o]);",
            f"        for (uint32_t v = 0; v < {vectors}u; ++v) {{",
            f"            {mask} total; {load.format('total', 'sums + o * BLOCK')};",
            f"            {lane} sum = __builtin_convertvector(total, {lane});",
            "            sum = bias + sum * xscale[v] * wscale;",
            *([f"            {vector_activation[layer.activation]}"] if vector_activation.get(layer.activation) else []),
            f"            __builtin_memcpy(out + o * BLOCK + v * {lanes}u, &sum, sizeof sum);",
            "        }",
            *([  # tanh and logistic: the libm call of edgekit_predict, lane by lane
                "        for (uint32_t r = 0; r < BLOCK; ++r) {",
                "            float sum = out[o * BLOCK + r];",
                f"    {activation}",
                "            out[o * BLOCK + r] = sum;",
                "        }",
            ] if layer.activation not in vector_activation else []),
            "    }",
            "}",
            "",
        ]
    return lines


@dataclass(frozen=True)
class Kernel:
    """One instruction set's inner step, as C text: {t} is a unit of the tile, {v} a vector of rows."""
    name: str
    lanes: int  # rows per vector (one int32 lane each)
    tile: int  # units computed together
    vector: str
    setup: tuple[str, ...]
    load: tuple[str, ...]  # the v-th vector of rows of group g: x{v} (and what the step needs of it)
    broadcast: str  # k{t}: the 4 weights (in word{t}) of unit t in every lane
    zero: tuple[str, ...]  # accumulators of unit t, vector v
    step: tuple[str, ...]
    store: tuple[str, ...]  # into sums + (o + t) * BLOCK + v * lanes
    attribute: str = ""


X86 = [
    Kernel("avx512vnni", 16, 8, "__m512i", ("const __m512i flip = _mm512_set1_epi8((char)0x80);",),
           ("const __m512i x{v} = _mm512_xor_si512(_mm512_loadu_si512(packed + g * BLOCK + {row}u), flip);",),
           "const __m512i k{t} = _mm512_set1_epi32((int)word{t});",
           ("__m512i s{t}_{v} = _mm512_set1_epi32(offset{index}[o + {t}u]);",),
           ("s{t}_{v} = _mm512_dpbusd_epi32(s{t}_{v}, x{v}, k{t});",),
           ("_mm512_storeu_si512(sums + (o + {t}u) * BLOCK + {row}u, s{t}_{v});",),
           '__attribute__((target("avx512f,avx512vnni"))) '),
    Kernel("avxvnni", 8, 4, "__m256i", ("const __m256i flip = _mm256_set1_epi8((char)0x80);",),
           ("const __m256i x{v} = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(packed + g * BLOCK + {row}u)), flip);",),
           "const __m256i k{t} = _mm256_set1_epi32((int)word{t});",
           ("__m256i s{t}_{v} = _mm256_set1_epi32(offset{index}[o + {t}u]);",),
           ("s{t}_{v} = _mm256_dpbusd_avx_epi32(s{t}_{v}, x{v}, k{t});",),
           ("_mm256_storeu_si256((__m256i *)(sums + (o + {t}u) * BLOCK + {row}u), s{t}_{v});",),
           '__attribute__((target("avx2,avxvnni"))) '),
    Kernel("avx2", 8, 4, "__m256i", ("const __m256i ones = _mm256_set1_epi16(1);",),
           ("const __m256i x{v} = _mm256_loadu_si256((const __m256i *)(packed + g * BLOCK + {row}u));",
            "const __m256i m{v} = _mm256_abs_epi8(x{v});"),
           "const __m256i k{t} = _mm256_set1_epi32((int)word{t});",
           ("__m256i s{t}_{v} = _mm256_setzero_si256();",),
           ("s{t}_{v} = _mm256_add_epi32(s{t}_{v}, _mm256_madd_epi16(_mm256_maddubs_epi16(m{v}, _mm256_sign_epi8(k{t}, x{v})), ones));",),
           ("_mm256_storeu_si256((__m256i *)(sums + (o + {t}u) * BLOCK + {row}u), s{t}_{v});",),
           '__attribute__((target("avx2"))) '),
]
NEON_DOT = Kernel("neon", 4, 4, "int32x4_t", (),
                  ("const int8x16_t x{v} = vld1q_s8((const int8_t *)(packed + g * BLOCK + {row}u));",),
                  "const int8x16_t k{t} = vreinterpretq_s8_u32(vdupq_n_u32(word{t}));",
                  ("int32x4_t s{t}_{v} = vdupq_n_s32(0);",),
                  ("s{t}_{v} = vdotq_s32(s{t}_{v}, x{v}, k{t});",),
                  ("vst1q_s32(sums + (o + {t}u) * BLOCK + {row}u, s{t}_{v});",))
# Without sdot: 8 products per smull into int16 (|q| <= 127: no overflow), added in pairs into
# int32 by sadalp; lanes (row 0 pair, row 0 pair, row 1 pair, row 1 pair), folded by addp at the end.
NEON = Kernel("neon", 4, 2, "int32x4_t", (),
              ("const int8x16_t x{v} = vld1q_s8((const int8_t *)(packed + g * BLOCK + {row}u));",),
              "const int8x16_t k{t} = vreinterpretq_s8_u32(vdupq_n_u32(word{t}));",
              ("int32x4_t s{t}_{v} = vdupq_n_s32(0);", "int32x4_t h{t}_{v} = vdupq_n_s32(0);"),
              ("s{t}_{v} = vpadalq_s16(s{t}_{v}, vmull_s8(vget_low_s8(x{v}), vget_low_s8(k{t})));",
               "h{t}_{v} = vpadalq_s16(h{t}_{v}, vmull_high_s8(x{v}, k{t}));"),
              ("vst1q_s32(sums + (o + {t}u) * BLOCK + {row}u, vpaddq_s32(s{t}_{v}, h{t}_{v}));",))


def _kernels(layers: list[QuantizedLayer], block: int) -> list[str]:
    count = len(layers)
    lines = ["#ifdef WIDE_KERNELS"]
    for index, layer in enumerate(layers):
        offsets = -128 * layer.codes.sum(axis=1)
        lines.append(array("int32_t", f"offset{index}", int_literals(offsets), layer.units) + "  /* -128 * sum(w): x goes in as x + 128 */")
    for kernel in X86:
        if block % kernel.lanes:
            continue
        for index, layer in enumerate(layers):
            lines += _kernel(kernel, index, layer, block)
        lines.append(f"static const dots_t dots_{kernel.name}[{count}] = {{{', '.join(f'dot{i}_{kernel.name}' for i in range(count))}}};")
    lines += ["#endif", "", "#if defined(__aarch64__) && defined(__ARM_NEON)", "#include <arm_neon.h>", "#if defined(__ARM_FEATURE_DOTPROD)"]
    for index, layer in enumerate(layers):
        lines += _kernel(NEON_DOT, index, layer, block)
    lines.append("#else")
    for index, layer in enumerate(layers):
        lines += _kernel(NEON, index, layer, block)
    lines += ["#endif", "#else", "/* the portable kernel: plain C over the rows of the block */"]
    for index, layer in enumerate(layers):
        lines += [
            f"static void dot{index}_portable(const uint32_t *restrict packed, int32_t *restrict sums) {{",
            f"    for (uint32_t o = 0; o < {layer.units}u; ++o) {{",
            f"        const int8_t *w = weight{index} + o * {layer.groups * GROUP}u;",
            "        int32_t s[BLOCK] = {0};",
            f"        for (uint32_t g = 0; g < {layer.groups}u; ++g) {{",
            "            const int16_t w0 = w[4u * g], w1 = w[4u * g + 1u], w2 = w[4u * g + 2u], w3 = w[4u * g + 3u];",
            "            for (uint32_t r = 0; r < BLOCK; ++r) {  /* over rows, so the compiler can use vectors */",
            "                const uint32_t word = packed[g * BLOCK + r];",
            "                /* int16 pairs: 2 * 127 * 127 < 32768, and 16-bit multiplies are the ones SSE2 has */",
            "                const int16_t low = (int16_t)(w0 * (int16_t)(int8_t)word + w1 * (int16_t)(int8_t)(word >> 8));",
            "                const int16_t high = (int16_t)(w2 * (int16_t)(int8_t)(word >> 16) + w3 * (int16_t)(int8_t)(word >> 24));",
            "                s[r] += (int32_t)low + high;",
            "            }",
            "        }",
            "        for (uint32_t r = 0; r < BLOCK; ++r) sums[o * BLOCK + r] = s[r];",
            "    }",
            "}",
        ]
    lines.append("#endif")
    base = "neon_or_portable"
    lines += [
        "#if defined(__aarch64__) && defined(__ARM_NEON)",
        f"static const dots_t dots_{base}[{count}] = {{{', '.join(f'dot{i}_neon' for i in range(count))}}};",
        "#else",
        f"static const dots_t dots_{base}[{count}] = {{{', '.join(f'dot{i}_portable' for i in range(count))}}};",
        "#endif",
        "",
    ]
    return lines


def _kernel(kernel: Kernel, index: int, layer: QuantizedLayer, block: int) -> list[str]:
    """One layer's sums over a block: ``tile`` units at a time, their accumulators in registers, each
    vector of rows loaded once per tile."""
    vectors = block // kernel.lanes

    def fill(template: str, t: int = 0, v: int = 0) -> str:
        return template.format(t=t, v=v, row=v * kernel.lanes, index=index)

    def units_loop(tile: int) -> list[str]:
        return [
            *[fill(line, t, v) for t in range(tile) for v in range(vectors) for line in kernel.zero],
            *[f"        const int8_t *w{t} = weight{index} + (o + {t}u) * {layer.groups * GROUP}u;" for t in range(tile)],
            f"        for (uint32_t g = 0; g < {layer.groups}u; ++g) {{",
            *["            " + fill(line, 0, v) for v in range(vectors) for line in kernel.load],
            *[f"            uint32_t word{t}; __builtin_memcpy(&word{t}, w{t} + 4u * g, 4);" for t in range(tile)],
            *["            " + fill(kernel.broadcast, t) for t in range(tile)],
            *["            " + fill(line, t, v) for t in range(tile) for v in range(vectors) for line in kernel.step],
            "        }",
            *["        " + fill(line, t, v) for t in range(tile) for v in range(vectors) for line in kernel.store],
        ]

    tile = kernel.tile
    return [
        f"{kernel.attribute}static void dot{index}_{kernel.name}(const uint32_t *restrict packed, int32_t *restrict sums) {{",
        *["    " + line for line in kernel.setup],
        "    uint32_t o = 0;",
        *([f"    for (; o + {tile}u <= {layer.units}u; o += {tile}u) {{", *["    " + line for line in units_loop(tile)], "    }"]
          if layer.units >= tile else []),
        *([f"    for (; o < {layer.units}u; ++o) {{", *["    " + line for line in units_loop(1)], "    }"] if layer.units % tile else []),
        "}",
        "",
    ]
