/* llorch_cuda.cu - the CUDA backend: hand-written kernels, CUDA runtime only.
 *
 * What lives on the device
 *   Weights, uploaded once at load in the model's matrix type T (bf16 or f16;
 *   f32 checkpoints are converted to bf16 on upload, norms are kept in f32).
 *   Biases (Qwen2) and q/k norm weights (Qwen3) are kept in f32.
 *   The host only hands each tensor's bytes from the mapped file to the
 *   device; conversions and the two layout changes below are made there
 *   (k_place), both invisible in the results:
 *   - wq, wk, wv become one matrix wqkv, and inside every q and k head the
 *     rows are reordered (i, i + head_dim/2) -> (2i, 2i + 1), so that the two
 *     halves RoPE rotates together are neighbouring outputs. q and k get the
 *     same reordering, so q.k (and attention) is unchanged; the KV cache
 *     holds k in this order. The q/k biases and q/k norm weights are
 *     reordered the same way.
 *   - w_gate and w_up become one matrix wgu with gate row j at 2j and up row
 *     j at 2j + 1, so SwiGLU is a function of two neighbouring outputs.
 *   Every matrix kernel therefore produces outputs in neighbouring pairs and
 *   hands each pair to one epilogue (epi_pair): store, add to the residual,
 *   SwiGLU, or bias + RoPE + KV-cache write.
 *   The device buffers are laid out from tables of (pointer, size)
 *   (cu_layout): the model's (cu_model_slots) and a session's, which holds
 *   the KV cache ([layer][seq][kv_head][ctx][head_dim], T), scratch for a
 *   prefill chunk, and a mirror of each sequence's tokens for the
 *   repetition penalty.
 *
 * One layer function (cu_enqueue_layer) serves decode of one sequence,
 * decode of several and prefill; a cu_pass says which of them runs, and
 * cu_linear / cu_attend choose the kernels from it. Family differences are
 * flags of llorch_config read in the same places on every path:
 *   - q/k/v biases: added in the QKV epilogue, before RoPE;
 *   - q/k norm (Qwen3): the QKV epilogue leaves q and the new k unrotated;
 *     a norm needs a whole head, which no matrix kernel's epilogue holds.
 *     k_attn normalises and rotates them when it runs decoding rows (the
 *     new k then goes beside q, and k_attn caches it); elsewhere k_qk_norm
 *     (a warp per head and row) does, before the attention;
 *   - sliding window: the first key the attention kernels read.
 *
 * Decode, one sequence: a CUDA graph replayed every token (copy the step
 * record in, 5 kernels a layer, lm_head, and the
 * sampler's two (k_sample_chunks, k_sample), which write the chosen ids
 * straight to pinned host memory; 113 kernels for TinyLlama).
 * Per layer:
 *   gemv(wqkv, RMSNorm fused; layer 0 also looks up the embedding) -> RoPE + cache write
 *   attention (8 warps split the keys of a head; split over blocks past 512 keys,
 *   the grid set before each launch to the splits the step's positions need)
 *   gemv(wo) + residual   gemv(wgu, RMSNorm fused) -> SwiGLU   gemv(wdown) + residual
 * then gemv(lm_head, RMSNorm fused) with per-block argmax, and the sampler.
 * The GEMVs are weight streams (cp.async rings, 2 blocks per SM). Kernels are
 * chained with programmatic dependent launch: each lets its successor launch
 * at once; the successor queues its first weights and an L2 prefetch (a
 * GEMV also of its norm weight, the QKV one of the biases, the RoPE
 * frequencies and the keys and values of earlier positions that attention
 * reads next; the attention kernel loads those keys), and only then waits
 * (griddepcontrol.wait) for the activations it needs.
 * While generating, the next step is queued before this step's token reaches
 * the host: it takes its input token from the device (cu_decode), so the GPU
 * does not wait for the host between steps.
 * (Measured and dropped: a persistent kernel with grid barriers for the whole
 * step, and a bulk-copy (TMA) GEMV; both were slower here.)
 * Decode, n sequences: the active ones are the rows of a step (a sequence
 * keeps its row while it decodes; cu_assign_rows), and a graph is captured
 * for each bucket of 1, 2, 4, ... rows, so a step costs what its active
 * sequences need, whatever the session's size (one row: the GEMV path
 * above). Several rows: RMSNorm kernels (for 9-16 rows the skinny GEMM
 * applies the norm itself) and a GEMM that reads each weight once for all
 * rows, the tensor-core "skinny" one (up to 64 rows; on Hopper
 * only the attention projections past 32) or the Hopper / tiled GEMM;
 * attention by k_attn_group (a block per row and KV head) once the rows fill
 * the GPU, else k_attn.
 * Prompt pieces of several sequences (llorch_forward_many): pieces under 64
 * tokens are the rows of one pass laid out like a decode step's (each row
 * its own sequence and position; attention by k_attn_group, which loads no
 * key before the QKV kernel has written this pass's); longer ones prefill
 * alone.
 * Prefill, in chunks of up to 512 tokens: for chunks over 64 tokens, on
 * Hopper (cc 9.0) a persistent TMA + wgmma GEMM, elsewhere (or with
 * LLORCH_CUDA_GEMM=mma) the tiled mma.sync GEMM (both f32 accumulate,
 * deterministic split-K when the tiles don't fill the GPU); the skinny one
 * below; and a flash-attention kernel (head_dim 16, 32, 64 or 128; the
 * attention kernel above otherwise).
 */
#include "llorch.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <cudaTypedefs.h> /* CUtensorMap and the cuTensorMapEncodeTiled type only: libcuda is not linked */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef __nv_bfloat16 bf16;
typedef __half f16;

/* ======================================================================== */
/* Device helpers                                                            */
/* ======================================================================== */

/* Eight weights of type T in a uint4; conversions of pairs. */
template <class T> struct Ty;
template <> struct Ty<bf16> {
    static __device__ __forceinline__ float2 f2(uint32_t u) {
        return make_float2(__uint_as_float(u << 16), __uint_as_float(u & 0xffff0000u));
    }
    static __device__ __forceinline__ uint32_t pack(float a, float b) {
        __nv_bfloat162 v = __floats2bfloat162_rn(a, b);
        return *reinterpret_cast<uint32_t *>(&v);
    }
    static __device__ __forceinline__ float f(bf16 v) { return __bfloat162float(v); }
    static __device__ __forceinline__ bf16 from(float v) { return __float2bfloat16(v); }
};
template <> struct Ty<f16> {
    static __device__ __forceinline__ float2 f2(uint32_t u) {
        __half2 h = *reinterpret_cast<__half2 *>(&u);
        return __half22float2(h);
    }
    static __device__ __forceinline__ uint32_t pack(float a, float b) {
        __half2 v = __floats2half2_rn(a, b);
        return *reinterpret_cast<uint32_t *>(&v);
    }
    static __device__ __forceinline__ float f(f16 v) { return __half2float(v); }
    static __device__ __forceinline__ f16 from(float v) { return __float2half(v); }
};

template <class T>
__device__ __forceinline__ float dot8(uint4 w, float4 x0, float4 x1, float acc) {
    float2 a = Ty<T>::f2(w.x), b = Ty<T>::f2(w.y), c = Ty<T>::f2(w.z), d = Ty<T>::f2(w.w);
    acc = fmaf(a.x, x0.x, acc);
    acc = fmaf(a.y, x0.y, acc);
    acc = fmaf(b.x, x0.z, acc);
    acc = fmaf(b.y, x0.w, acc);
    acc = fmaf(c.x, x1.x, acc);
    acc = fmaf(c.y, x1.y, acc);
    acc = fmaf(d.x, x1.z, acc);
    acc = fmaf(d.y, x1.w, acc);
    return acc;
}

/* RoPE on the pair (a, b) of one head: HF's rotate_half, with the rows
 * placed so that the pair is adjacent (see the file comment). */
__device__ __forceinline__ float2 rope_pair(float a, float b, float c, float s) {
    return make_float2(a * c - b * s, b * c + a * s);
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Programmatic dependent launch (sm_90): wait for the previous kernel's
 * results / let the next kernel be scheduled. No-ops elsewhere. */
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
__device__ __forceinline__ void pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

/* Tensor-core primitives (sm_80+): D = A(16x16, row) * B(16x8, col) + D. */
template <class T>
__device__ __forceinline__ void mma16816(float *c, uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
                                         uint32_t b1);
template <>
__device__ __forceinline__ void mma16816<bf16>(float *c, uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
                                               uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}
template <>
__device__ __forceinline__ void mma16816<f16>(float *c, uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
                                              uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t smem_u32(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }

__device__ __forceinline__ void ldsm_x4(uint32_t *r, const void *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_u32(p)));
}
__device__ __forceinline__ void ldsm_x4_t(uint32_t *r, const void *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_u32(p)));
}

/* 16-byte global -> shared copy; zero-filled when !valid. */
__device__ __forceinline__ void cp_async16(void *smem, const void *gmem, bool valid) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(smem_u32(smem)), "l"(gmem),
                 "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;"); }
template <int N> __device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;" ::"n"(N)); }

/* ======================================================================== */
/* Epilogues: what a matrix kernel does with a pair of neighbouring outputs  */
/* ======================================================================== */

enum { EPI_STORE, EPI_ADD, EPI_SWIGLU, EPI_QKV };

/* Which sequence and position each activation row is: a decode step's rows
 * are the active sequences, each with its own position; a prefill chunk's are
 * consecutive positions of one sequence. */
struct Rows {
    const int *pos; /* per row (decode: -1 = an idle row), or NULL: pos0 + row */
    const int *seq; /* per row, or NULL: seq0 */
    int pos0, seq0;
};
__device__ __forceinline__ int row_pos(const Rows &r, int i) { return r.pos ? r.pos[i] : r.pos0 + i; }
__device__ __forceinline__ int row_seq(const Rows &r, int i) { return r.seq ? r.seq[i] : r.seq0; }

/* A decode step record's id CU_CHAIN means "the token the previous step
 * chose" (chosen[r]): that step may still be running when this one is queued. */
#define CU_CHAIN (-2)
__device__ __forceinline__ int step_id(const int *ids, const int *chosen, int r) {
    const int id = ids[r];
    return id == CU_CHAIN && chosen ? chosen[r] : id;
}

struct Epi {
    int mode, n;          /* n: output features (the vocabulary may be odd) */
    float *f;             /* f32 destination: STORE, ADD, SWIGLU or q (QKV) */
    int ldf;
    void *t;              /* T destination when f is NULL: SWIGLU or q (QKV); ADD: a copy of the sum in T */
    int ldt;
    Rows rows;
    void *kc, *vc;        /* QKV: this layer's cache [seq][kv_head][ctx][head_dim] */
    const float *inv_freq;
    const float *bias;    /* QKV: q, k, v biases in the device's row order, or NULL */
    int rope;             /* QKV: rotate q and k here (else they are normalised first, see k_qk_norm) */
    int k_in_f;           /* QKV: the new k goes beside q in f, not to the cache (k_attn's q/k norm) */
    int hd, q_dim, kv_dim, ctx;
    int window;           /* QKV: the attention's sliding window (0: none) */
};

/* Outputs n and n+1 (n even) of the NR activation rows r0, r0 + dr, ...
 * that are below M; v0[i], v1[i] belong to the i-th. Every load (residual,
 * position, sequence, bias) is issued before any is used, so a call waits
 * for memory once, not once per row: in a loop of single rows those waits
 * were most of a batched-decode GEMM's epilogue. */
template <class T, int NR>
__device__ __forceinline__ void epi_rows(const Epi &e, int r0, int dr, int M, int n, const float *v0, const float *v1) {
    switch (e.mode) {
    case EPI_STORE:
#pragma unroll
        for (int i = 0; i < NR; i++)
            if (r0 + i * dr < M) {
                float *o = e.f + (size_t)(r0 + i * dr) * e.ldf + n;
                o[0] = v0[i];
                if (n + 1 < e.n) o[1] = v1[i];
            }
        break;
    case EPI_ADD: {
        float2 x[NR];
#pragma unroll
        for (int i = 0; i < NR; i++)
            if (r0 + i * dr < M) x[i] = __ldcg(reinterpret_cast<const float2 *>(e.f + (size_t)(r0 + i * dr) * e.ldf + n));
#pragma unroll
        for (int i = 0; i < NR; i++)
            if (r0 + i * dr < M) {
                const size_t r = (size_t)(r0 + i * dr);
                const float a = x[i].x + v0[i], b = x[i].y + v1[i];
                *reinterpret_cast<float2 *>(e.f + r * e.ldf + n) = make_float2(a, b);
                if (e.t) *reinterpret_cast<uint32_t *>((T *)e.t + r * e.ldt + n) = Ty<T>::pack(a, b);
            }
        break;
    }
    case EPI_SWIGLU: /* gate at n, up at n + 1 */
#pragma unroll
        for (int i = 0; i < NR; i++)
            if (r0 + i * dr < M) {
                const size_t r = (size_t)(r0 + i * dr);
                const float h = v0[i] / (1.0f + expf(-v0[i])) * v1[i];
                if (e.f) e.f[r * e.ldf + (n >> 1)] = h;
                else ((T *)e.t)[r * e.ldt + (n >> 1)] = Ty<T>::from(h);
            }
        break;
    case EPI_QKV: {
        int pos[NR], seq[NR];
#pragma unroll
        for (int i = 0; i < NR; i++) {
            const bool in = r0 + i * dr < M;
            pos[i] = in ? row_pos(e.rows, r0 + i * dr) : -1; /* -1: an idle sequence, its cache left alone */
            seq[i] = in ? row_seq(e.rows, r0 + i * dr) : 0;
        }
        const int d = n % e.hd;
        const bool rot = e.rope && n < e.q_dim + e.kv_dim; /* q or k: rotate the pair (RoPE, HF's rotate_half) */
        const float b0 = e.bias ? e.bias[n] : 0.0f, b1 = e.bias ? e.bias[n + 1] : 0.0f;
        const float freq = rot ? e.inv_freq[d >> 1] : 0.0f;
        int nn = n - e.q_dim;
        T *cache = (T *)e.kc;
        if (nn >= e.kv_dim) nn -= e.kv_dim, cache = (T *)e.vc;
        const int n_kv = e.kv_dim / e.hd, kvh = nn / e.hd;
#pragma unroll
        for (int i = 0; i < NR; i++) {
            if (pos[i] < 0) continue;
            float a = v0[i], b = v1[i];
            if (e.bias) a += b0, b += b1;
            if (rot) {
                float s, c;
                sincosf((float)pos[i] * freq, &s, &c);
                const float2 ab = rope_pair(a, b, c, s);
                a = ab.x, b = ab.y;
            }
            const size_t r = (size_t)(r0 + i * dr);
            if (n < e.q_dim || (e.k_in_f && n < e.q_dim + e.kv_dim)) {
                if (e.f) *reinterpret_cast<float2 *>(e.f + r * e.ldf + n) = make_float2(a, b);
                else *reinterpret_cast<uint32_t *>((T *)e.t + r * e.ldt + n) = Ty<T>::pack(a, b);
            } else {
                const size_t idx = (((size_t)seq[i] * n_kv + kvh) * e.ctx + pos[i]) * e.hd + d;
                *reinterpret_cast<uint32_t *>(cache + idx) = Ty<T>::pack(a, b);
            }
        }
        break;
    }
    }
}

/* Outputs n and n+1 (n even) of activation row r. */
template <class T> __device__ __forceinline__ void epi_pair(const Epi &e, int r, int n, float v0, float v1) {
    epi_rows<T, 1>(e, r, 0, r + 1, n, &v0, &v1);
}

/* ======================================================================== */
/* GEMV: one activation row (decode of one sequence)                         */
/* ======================================================================== */
/* y = W x for W [N][K] in T and x f32, optionally RMS-normalised first.
 * Bandwidth is everything here, so the kernel is a weight stream:
 * - block b owns a contiguous range of row pairs (2p, 2p+1), the same number
 *   of bytes for every block; its work is cut into units of one row pair x
 *   GV_SEG columns, dealt round-robin to its warps;
 * - each lane streams its own 16-byte pieces of its units through a
 *   GV_S-deep cp.async ring in shared memory (a lane only reads what it
 *   copied itself, so the ring needs no barriers), keeping ~48 KB per block
 *   in flight all the time;
 * - before griddepcontrol.wait (programmatic dependent launch) it fills the
 *   ring and asks L2 to prefetch the start of its rows, so the next layer's
 *   weights stream while the previous kernel finishes;
 * - partial dot products land in shared memory and are added per pair in a
 *   fixed order (deterministic), then the epilogue runs on each pair.
 * Two blocks per SM, each under a quarter of an SM's registers and a third
 * of its shared memory (x is kept in T), so that a block of the next kernel
 * fits beside them. */
/* the configuration used: warps, 16-byte pieces per lane per row per unit, ring depth */
#define GV_NW 8
#define GV_U 2
#define GV_S 4

__device__ __forceinline__ void l2_prefetch(const void *p, unsigned bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(p), "r"(bytes) : "memory");
#endif
}

/* Before the wait, L2 prefetches of what a GEMV and the kernel after it read
 * that no kernel of the step writes: the norm weight, the QKV epilogue's
 * biases and RoPE frequencies, and (QKV) the keys and values of earlier
 * positions, which the attention kernel loads next. Under the weight stream a
 * miss on any of them waits behind it, on the step's critical path. */
template <class T> __device__ void gemv_prefetch_more(const float *normw, int K, const Epi &e) {
    if (blockIdx.x == 0) {
        if (normw) l2_prefetch(normw, (unsigned)K * 4);
        if (e.mode == EPI_QKV && e.bias) l2_prefetch(e.bias, (unsigned)e.n * 4);
        if (e.mode == EPI_QKV && e.rope) l2_prefetch(e.inv_freq, (unsigned)e.hd * 2);
    }
    if (e.mode != EPI_QKV || !e.rows.pos) return;
    const int pos = e.rows.pos[0], n_kv = e.kv_dim / e.hd; /* (set before the step's first kernel) */
    const int first = e.window > 0 && pos >= e.window ? pos - e.window + 1 : 0;
    if (pos <= first) return;
    const size_t at = (((size_t)row_seq(e.rows, 0) * n_kv) * e.ctx + first) * e.hd;
    for (int j = blockIdx.x; j < 2 * n_kv; j += gridDim.x) /* K and V of each KV head: one range each */
        l2_prefetch((const T *)(j & 1 ? e.vc : e.kc) + at + (size_t)(j >> 1) * e.ctx * e.hd,
                    (unsigned)((pos - first) * e.hd * sizeof(T)));
}

template <class T, int NW, int U, int S>
__global__ void __launch_bounds__(NW * 32, 1024 / (NW * 32)) /* at most 64 registers */
    k_gemv(const T *__restrict__ W, int N, int K, const float *__restrict__ x, const float *__restrict__ normw,
           float eps, Epi e, float2 *__restrict__ amax, int pf, int pf_more, int early, const T *__restrict__ embed,
           const int *__restrict__ ids, const int *__restrict__ chosen, int *__restrict__ hist) {
    constexpr int GV_THREADS = NW * 32, GV_SEG = 32 * U * 8, GV_RING = S * U * 2 * GV_THREADS * 16;
    extern __shared__ uint4 gvs[];
    uint4 *ring = gvs;                                          /* [GV_S][U][2][threads] */
    /* x in T: half the shared memory of f32, so that a block of the next
       kernel fits beside this kernel's two and starts early (measured: 1%) */
    T *xs = reinterpret_cast<T *>(gvs + GV_RING / 16);          /* [K] */
    float *part = reinterpret_cast<float *>(xs + K);            /* [units][2] */
    uint2 *xs2 = reinterpret_cast<uint2 *>(xs);
    const uint4 *xs8 = reinterpret_cast<const uint4 *>(xs);
    __shared__ float red[NW];
    __shared__ int redi[NW];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, nw = NW;
    const int pairs = (N + 1) >> 1, KC = K >> 3, nseg = (K + GV_SEG - 1) / GV_SEG;
    const int pb0 = (int)((long long)blockIdx.x * pairs / gridDim.x);
    const int pb1 = (int)((long long)(blockIdx.x + 1) * pairs / gridDim.x);
    const int units = (pb1 - pb0) * nseg;
    int iu = warp, si = 0;
    auto issue = [&]() {
        if (iu < units) {
            const int pl = iu / nseg, sg = iu - pl * nseg, p = pb0 + pl;
            const T *r0 = W + (size_t)(2 * p) * K, *r1 = 2 * p + 1 < N ? r0 + K : r0;
#pragma unroll
            for (int v = 0; v < U; v++) {
                const int ci = sg * 32 * U + v * 32 + lane;
                const bool ok = ci < KC;
                cp_async16(ring + ((si * U + v) * 2 + 0) * GV_THREADS + tid, ok ? r0 + (size_t)ci * 8 : W, ok);
                cp_async16(ring + ((si * U + v) * 2 + 1) * GV_THREADS + tid, ok ? r1 + (size_t)ci * 8 : W, ok);
            }
        }
        cp_async_commit();
        iu += nw;
        si = si + 1 == S ? 0 : si + 1;
    };
    if (early) pdl_trigger();
#pragma unroll
    for (int s = 0; s < S - 1; s++) issue();
    if (tid == 0 && pb1 > pb0) {
        size_t rows = (size_t)min(N, 2 * pb1) - 2 * (size_t)pb0, bytes = rows * K * sizeof(T);
        if (bytes > (size_t)pf) bytes = (size_t)pf;
        if (bytes >= 16) l2_prefetch(W + (size_t)2 * pb0 * K, (unsigned)(bytes & ~(size_t)15));
    }
    if (tid == 0 && pf_more) gemv_prefetch_more<T>(normw, K, e);
    pdl_wait();
    pdl_trigger();

    /* x -> shared memory, times the RMSNorm weight when normw is given; the
       norm's scale is a single number, applied to the dot products at the
       end, so the weights can be consumed as soon as x is staged */
    const float4 *g4 = reinterpret_cast<const float4 *>(normw);
    float ss = 0;
    auto stage = [&](int i4, float4 v) {
        ss += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
        if (normw) {
            const float4 g = g4[i4];
            v.x *= g.x, v.y *= g.y, v.z *= g.z, v.w *= g.w;
        }
        xs2[i4] = make_uint2(Ty<T>::pack(v.x, v.y), Ty<T>::pack(v.z, v.w));
    };
    if (embed) { /* layer 0 of a decode step: x is the token's embedding; each block stores its share of it */
        int id = step_id(ids, chosen, 0);
        const int pos = e.rows.pos[0];
        if (blockIdx.x == 0 && tid == 0 && pos >= 0 && id >= 0) hist[(size_t)row_seq(e.rows, 0) * e.ctx + pos] = id;
        if (id < 0) id = 0;
        const uint4 *er = reinterpret_cast<const uint4 *>(embed + (size_t)id * K);
        float4 *xg = reinterpret_cast<float4 *>(const_cast<float *>(x));
        const int q0 = (int)((long long)blockIdx.x * (K / 4) / gridDim.x), q1 = (int)((long long)(blockIdx.x + 1) * (K / 4) / gridDim.x);
        for (int i = tid; i < K / 8; i += GV_THREADS) {
            const uint4 v = er[i];
            const float2 p0 = Ty<T>::f2(v.x), p1 = Ty<T>::f2(v.y), p2 = Ty<T>::f2(v.z), p3 = Ty<T>::f2(v.w);
            const float4 a = make_float4(p0.x, p0.y, p1.x, p1.y), b = make_float4(p2.x, p2.y, p3.x, p3.y);
            if (2 * i >= q0 && 2 * i < q1) xg[2 * i] = a;
            if (2 * i + 1 >= q0 && 2 * i + 1 < q1) xg[2 * i + 1] = b;
            stage(2 * i, a);
            stage(2 * i + 1, b);
        }
    } else {
        const float4 *x4 = reinterpret_cast<const float4 *>(x);
        for (int i = tid; i < K / 4; i += GV_THREADS) stage(i, x4[i]);
    }
    if (normw) {
        ss = warp_sum(ss);
        if (lane == 0) red[warp] = ss;
    }
    __syncthreads();
    float rs = 1; /* the RMSNorm scale */
    if (normw) {
        ss = 0;
#pragma unroll
        for (int w = 0; w < nw; w++) ss += red[w];
        rs = rsqrtf(ss / (float)K + eps);
    }

    int sc = 0;
    for (int u = warp; u < units; u += nw) {
        issue();
        cp_async_wait<S - 1>();
        const int sg = u % nseg;
        float a0 = 0, a1 = 0;
#pragma unroll
        for (int v = 0; v < U; v++) {
            const int ci = sg * 32 * U + v * 32 + lane;
            if (ci < KC) {
                const uint4 w0 = ring[((sc * U + v) * 2 + 0) * GV_THREADS + tid];
                const uint4 w1 = ring[((sc * U + v) * 2 + 1) * GV_THREADS + tid];
                const uint4 xv = xs8[ci];
                const float2 p0 = Ty<T>::f2(xv.x), p1 = Ty<T>::f2(xv.y), p2 = Ty<T>::f2(xv.z), p3 = Ty<T>::f2(xv.w);
                const float4 x0 = make_float4(p0.x, p0.y, p1.x, p1.y), x1 = make_float4(p2.x, p2.y, p3.x, p3.y);
                a0 = dot8<T>(w0, x0, x1, a0);
                a1 = dot8<T>(w1, x0, x1, a1);
            }
        }
        a0 = warp_sum(a0);
        a1 = warp_sum(a1);
        if (lane == 0) part[2 * u] = a0, part[2 * u + 1] = a1;
        sc = sc + 1 == S ? 0 : sc + 1;
    }
    cp_async_wait<0>();
    __syncthreads();
    float best = -INFINITY;
    int besti = 0x7fffffff;
    for (int pl = tid; pl < pb1 - pb0; pl += GV_THREADS) {
        float v0 = 0, v1 = 0;
        for (int sg = 0; sg < nseg; sg++) v0 += part[2 * (pl * nseg + sg)], v1 += part[2 * (pl * nseg + sg) + 1];
        v0 *= rs;
        v1 *= rs;
        const int n = 2 * (pb0 + pl);
        epi_pair<T>(e, 0, n, v0, v1);
        if (amax) {
            if (v0 > best) best = v0, besti = n;
            if (n + 1 < N && v1 > best) best = v1, besti = n + 1;
        }
    }
    if (amax) { /* this block's largest output, lowest index on ties */
#pragma unroll
        for (int o = 16; o; o >>= 1) {
            float v2 = __shfl_xor_sync(0xffffffffu, best, o);
            int i2 = __shfl_xor_sync(0xffffffffu, besti, o);
            if (v2 > best || (v2 == best && i2 < besti)) best = v2, besti = i2;
        }
        if (lane == 0) red[warp] = best, redi[warp] = besti;
        __syncthreads();
        if (tid == 0) {
            for (int w = 1; w < nw; w++)
                if (red[w] > best || (red[w] == best && redi[w] < besti)) best = red[w], besti = redi[w];
            amax[blockIdx.x] = make_float2(best, __int_as_float(besti));
        }
    }
}

/* shared memory of one k_gemv block */
static size_t gemv_smem(int N, int K, int grid, int nw = GV_NW, int u = GV_U, int st = GV_S) {
    int pairs = (N + 1) / 2, ppb = (pairs + grid - 1) / grid, nseg = (K + 256 * u - 1) / (256 * u);
    return (size_t)st * u * 2 * nw * 32 * 16 + (size_t)K * 2 + (size_t)ppb * nseg * 8;
}

/* ======================================================================== */
/* Skinny GEMM: a few activation rows (batched decode, short prefill)        */
/* ======================================================================== */
/* Y[r][n] = sum_k X[r][k] W[n][k] for R <= 8*NT rows, on tensor cores with
 * the weights as the 16-row A operand and the activations as B. No shared
 * memory staging of operands: lane (g, t) loads the 8 consecutive k at 8t of
 * weight rows g and g+8 and of activation row g, and these 8 k fill the
 * slots {2t, 2t+1, 2t+8, 2t+9} of two m16n8k16 products; A and B use the
 * same k order, so the dot products are unchanged.
 * As in the GEMV, block b owns a contiguous, equal share of the rows, walks
 * it in tiles of 32 rows; its 8 warps split K in units of 32 columns; the
 * weights and the activations of each unit stream through a per-lane
 * cp.async ring, sk_stages() deep. Per tile the warps add up through shared
 * memory and the epilogue runs on row pairs.
 * NORM: X = RMSNorm(x) * normw, fused as in the GEMV. X holds x itself, in
 * T (the residual's copy that the kernels adding to it keep, Epi.t; its
 * mean square is taken from that copy, as transformers takes it from its
 * bf16 residual stream); on
 * their way into the products the activations are multiplied by the norm
 * weight (staged in shared memory once); each row's sum of squares is
 * gathered during the first tile and its scale applied to the sums in the
 * epilogue. This saves the RMSNorm kernel, a step of its own on the critical
 * path. (Streaming x in f32 instead doubled the bytes every block reads
 * again for each tile: slower than the norm kernel.) */
#define SK_THREADS 256
#define SK_NORM_ROWS 16 /* NORM runs for 9-16 rows (NT = 2), see cu_norm_fused */

template <int NT> __host__ __device__ constexpr int sk_stages() { return NT <= 4 ? 4 : 3; }
template <int NT> __host__ __device__ constexpr int sk_ring() { return sk_stages<NT>() * (4 + NT) * SK_THREADS * 16; }
/* the ring, the warps' sums, and (NORM) the norm weight */
template <int NT, bool NORM> static size_t skinny_smem(int K) {
    return sk_ring<NT>() + 8 * 32 * 8 * NT * 4 + (NORM ? (size_t)K * 4 : 0);
}

template <class T, int NT, bool NORM>
__global__ void __launch_bounds__(SK_THREADS)
    k_skinny(const T *__restrict__ W, int N, int K, const T *__restrict__ X, int ldx, int R, Epi e,
             const float *__restrict__ normw, float eps) {
    constexpr int CB = 8 * NT, SK_S = sk_stages<NT>(), Q = 4 + NT;
    extern __shared__ uint4 sks[];
    uint4 *ring = sks;                                             /* [SK_S][4 + NT][threads] */
    float *red = reinterpret_cast<float *>(sks + sk_ring<NT>() / 16); /* [8 warps][32][CB] */
    float *gs = red + 8 * 32 * CB;                                 /* NORM: [K] */
    __shared__ float ssq[NORM ? 8 : 1][NORM ? CB : 1], rsd[NORM ? CB : 1]; /* NORM: sums of squares per warp and row, scales */
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t = lane & 3;
    const int pairs = (N + 1) >> 1;
    const int rb0 = 2 * (int)((long long)blockIdx.x * pairs / gridDim.x);
    const int rb1 = min(N, 2 * (int)((long long)(blockIdx.x + 1) * pairs / gridDim.x));
    const int ntiles = (rb1 - rb0 + 31) >> 5, units = (K + 31) >> 5;
    int it = 0, iu = warp, si = 0;
    auto issue = [&](bool dow, bool dox, bool commit) {
        if (it < ntiles && iu < units) {
            const int k = iu * 32 + t * 8;
#pragma unroll
            for (int q = 0; q < 4; q++) { /* rows g, g+8, g+16, g+24 of the tile */
                if (!dow) break;
                const int row = rb0 + it * 32 + q * 8 + g;
                const bool ok = k < K && row < rb1;
                cp_async16(ring + (si * Q + q) * SK_THREADS + tid, ok ? W + (size_t)row * K + k : W, ok);
            }
#pragma unroll
            for (int j = 0; j < NT; j++) { /* activation rows g, g+8, ... */
                if (!dox) break;
                const int rr = j * 8 + g;
                const bool ok = k < K && rr < R;
                cp_async16(ring + (si * Q + 4 + j) * SK_THREADS + tid, ok ? X + (size_t)rr * ldx + k : X, ok);
            }
        }
        if (commit) cp_async_commit();
        iu += 8;
        if (iu >= units) iu = warp, it++;
        si = si + 1 == SK_S ? 0 : si + 1;
    };
    /* the norm weight (its own cp.async group) and the first units' weights
       before griddepcontrol.wait, their activations (the previous kernel's
       output) after it; one cp.async group per unit */
    if (NORM) {
        for (int i = tid; i < K / 4; i += SK_THREADS) cp_async16(gs + 4 * i, normw + 4 * i, true);
        cp_async_commit();
    }
#pragma unroll
    for (int s = 0; s < SK_S - 1; s++) issue(true, false, false);
    it = 0, iu = warp, si = 0;
    pdl_wait();
    pdl_trigger();
#pragma unroll
    for (int s = 0; s < SK_S - 1; s++) issue(false, true, true);
    if (NORM) { /* the norm weight landed (groups complete in order), for every thread */
        cp_async_wait<SK_S - 1>();
        __syncthreads();
    }
    int sc = 0;
    for (int tile = 0; tile < ntiles; tile++) {
        float acc[2][NT][4];
#pragma unroll
        for (int m = 0; m < 2; m++)
#pragma unroll
            for (int j = 0; j < NT; j++) acc[m][j][0] = acc[m][j][1] = acc[m][j][2] = acc[m][j][3] = 0;
        float ss[NT]; /* NORM, first tile: this lane's share of each row's sum of squares */
#pragma unroll
        for (int j = 0; j < NT; j++) ss[j] = 0;
        for (int u = warp; u < units; u += 8) {
            issue(true, true, true);
            cp_async_wait<SK_S - 1>();
            float4 g0, g1; /* NORM: the norm weight at this lane's 8 k */
            if (NORM) {
                const int k = u * 32 + t * 8;
                const float4 *g4 = reinterpret_cast<const float4 *>(gs + k);
                g0 = k < K ? g4[0] : make_float4(0, 0, 0, 0);
                g1 = k < K ? g4[1] : make_float4(0, 0, 0, 0);
            }
            uint4 w[4], xa[NT];
#pragma unroll
            for (int q = 0; q < 4; q++) w[q] = ring[(sc * Q + q) * SK_THREADS + tid];
#pragma unroll
            for (int j = 0; j < NT; j++) {
                xa[j] = ring[(sc * Q + 4 + j) * SK_THREADS + tid];
                if (NORM) {
                    const float2 a = Ty<T>::f2(xa[j].x), b = Ty<T>::f2(xa[j].y), c = Ty<T>::f2(xa[j].z), d = Ty<T>::f2(xa[j].w);
                    if (tile == 0)
                        ss[j] += a.x * a.x + a.y * a.y + b.x * b.x + b.y * b.y + c.x * c.x + c.y * c.y + d.x * d.x + d.y * d.y;
                    xa[j] = make_uint4(Ty<T>::pack(a.x * g0.x, a.y * g0.y), Ty<T>::pack(b.x * g0.z, b.y * g0.w),
                                       Ty<T>::pack(c.x * g1.x, c.y * g1.y), Ty<T>::pack(d.x * g1.z, d.y * g1.w));
                }
            }
#pragma unroll
            for (int m = 0; m < 2; m++)
#pragma unroll
                for (int j = 0; j < NT; j++) {
                    mma16816<T>(acc[m][j], w[2 * m].x, w[2 * m + 1].x, w[2 * m].y, w[2 * m + 1].y, xa[j].x, xa[j].y);
                    mma16816<T>(acc[m][j], w[2 * m].z, w[2 * m + 1].z, w[2 * m].w, w[2 * m + 1].w, xa[j].z, xa[j].w);
                }
            sc = sc + 1 == SK_S ? 0 : sc + 1;
        }
        float *rw = red + warp * 32 * CB;
#pragma unroll
        for (int m = 0; m < 2; m++)
#pragma unroll
            for (int j = 0; j < NT; j++) {
                const int r = m * 16 + g, c = j * 8 + 2 * t;
                rw[r * CB + c] = acc[m][j][0];
                rw[r * CB + c + 1] = acc[m][j][1];
                rw[(r + 8) * CB + c] = acc[m][j][2];
                rw[(r + 8) * CB + c + 1] = acc[m][j][3];
            }
        if (NORM && tile == 0) {
#pragma unroll
            for (int j = 0; j < NT; j++) {
                float v = ss[j];
                v += __shfl_xor_sync(0xffffffffu, v, 1);
                v += __shfl_xor_sync(0xffffffffu, v, 2);
                if (t == 0) ssq[warp][j * 8 + g] = v;
            }
        }
        __syncthreads();
        if (NORM && tile == 0) {
            if (tid < CB) {
                float v = 0;
#pragma unroll
                for (int w2 = 0; w2 < 8; w2++) v += ssq[w2][tid];
                rsd[tid] = rsqrtf(v / (float)K + eps);
            }
            __syncthreads();
        }
        for (int idx = tid; idx < 16 * R; idx += SK_THREADS) {
            const int pi = idx / R, b = idx - pi * R, n = rb0 + tile * 32 + 2 * pi;
            if (n >= rb1) continue;
            float v0 = 0, v1 = 0;
#pragma unroll
            for (int w2 = 0; w2 < 8; w2++) {
                v0 += red[(w2 * 32 + 2 * pi) * CB + b];
                v1 += red[(w2 * 32 + 2 * pi + 1) * CB + b];
            }
            if (NORM) v0 *= rsd[b], v1 *= rsd[b];
            epi_pair<T>(e, b, n, v0, v1);
        }
        __syncthreads();
    }
    cp_async_wait<0>();
}

/* ======================================================================== */
/* Tiled GEMM: prefill chunks over 64 tokens, batches over 64 sequences      */
/* ======================================================================== */
/* Y[m][n] = sum_k X[m][k] W[n][k]: a BM x 128 tile per block, 8 warps (2 x 4),
 * k in steps of 32 through a 4-stage cp.async pipeline; mma.sync m16n8k16
 * with f32 accumulators, operands from shared memory by ldmatrix. Rows of 32
 * elements (64 bytes) are stored with their four 16-byte chunks XOR-swizzled
 * by (row >> 1) & 3, which makes every ldmatrix phase conflict-free.
 * gridDim.z > 1 splits K: every split parks its partial tile in ws and the
 * last one to finish (an atomic per tile) adds them in split order, so the
 * result does not depend on which finished last. */
#define GM_BN 128
#define GM_BK 32
#define GM_STAGES 4
#define GM_THREADS 256

__device__ __forceinline__ int gm_swz(int row, int c) { return row * GM_BK + ((c ^ ((row >> 1) & 3)) << 3); }

template <int BM> constexpr int gemm_smem() { return GM_STAGES * (BM + GM_BN) * GM_BK * 2; }

template <class T, int BM>
__global__ void __launch_bounds__(GM_THREADS, 2)
    k_gemm(const T *__restrict__ X, int ldx, const T *__restrict__ W, int M, int N, int K, Epi e, float *__restrict__ ws,
           int *__restrict__ flags) {
    extern __shared__ __align__(128) unsigned char gsm[];
    T *As = reinterpret_cast<T *>(gsm);
    T *Bs = As + GM_STAGES * BM * GM_BK;
    constexpr int WM = BM / 2, MI = WM / 16, NJ = 4;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, wm = warp >> 2, wn = warp & 3;
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * GM_BN, kall = (K + GM_BK - 1) / GM_BK, splits = gridDim.z;
    /* split-K: this block's share of the k tiles */
    const int kt0 = (int)((long long)blockIdx.z * kall / splits), ktiles = (int)((long long)(blockIdx.z + 1) * kall / splits) - kt0;

    auto load_a = [&](int s, int kt) {
        T *as = As + s * BM * GM_BK;
#pragma unroll
        for (int i = 0; i < BM * 4 / GM_THREADS; i++) {
            int id = tid + i * GM_THREADS, row = id >> 2, c = id & 3, gk = kt * GM_BK + c * 8;
            bool ok = m0 + row < M && gk < K;
            cp_async16(as + gm_swz(row, c), ok ? X + (size_t)(m0 + row) * ldx + gk : X, ok);
        }
    };
    auto load_b = [&](int s, int kt) {
        T *bs = Bs + s * GM_BN * GM_BK;
#pragma unroll
        for (int i = 0; i < GM_BN * 4 / GM_THREADS; i++) {
            int id = tid + i * GM_THREADS, row = id >> 2, c = id & 3, gk = kt * GM_BK + c * 8;
            bool ok = n0 + row < N && gk < K;
            cp_async16(bs + gm_swz(row, c), ok ? W + (size_t)(n0 + row) * K + gk : W, ok);
        }
    };

    float acc[MI][NJ][4];
#pragma unroll
    for (int i = 0; i < MI; i++)
#pragma unroll
        for (int j = 0; j < NJ; j++) acc[i][j][0] = acc[i][j][1] = acc[i][j][2] = acc[i][j][3] = 0;

    /* the first stages' weights before griddepcontrol.wait, the activations after */
#pragma unroll
    for (int s = 0; s < GM_STAGES - 1; s++)
        if (s < ktiles) load_b(s, kt0 + s);
    pdl_wait();
#pragma unroll
    for (int s = 0; s < GM_STAGES - 1; s++) {
        if (s < ktiles) load_a(s, kt0 + s);
        cp_async_commit();
    }
    for (int kt = 0; kt < ktiles; kt++) {
        cp_async_wait<GM_STAGES - 2>();
        __syncthreads();
        int nk = kt + GM_STAGES - 1;
        if (nk < ktiles) load_a(nk % GM_STAGES, kt0 + nk), load_b(nk % GM_STAGES, kt0 + nk);
        cp_async_commit();
        const T *as = As + (kt % GM_STAGES) * BM * GM_BK, *bs = Bs + (kt % GM_STAGES) * GM_BN * GM_BK;
#pragma unroll
        for (int kk = 0; kk < 2; kk++) {
            uint32_t af[MI][4], bfr[NJ][2];
#pragma unroll
            for (int i = 0; i < MI; i++) {
                int row = wm * WM + i * 16 + (lane & 15), c = kk * 2 + (lane >> 4);
                ldsm_x4(af[i], as + gm_swz(row, c));
            }
#pragma unroll
            for (int jj = 0; jj < NJ / 2; jj++) {
                uint32_t r[4];
                int row = wn * 32 + jj * 16 + (lane & 7) + ((lane >> 4) << 3), c = kk * 2 + ((lane >> 3) & 1);
                ldsm_x4(r, bs + gm_swz(row, c));
                bfr[2 * jj][0] = r[0];
                bfr[2 * jj][1] = r[1];
                bfr[2 * jj + 1][0] = r[2];
                bfr[2 * jj + 1][1] = r[3];
            }
#pragma unroll
            for (int i = 0; i < MI; i++)
#pragma unroll
                for (int j = 0; j < NJ; j++)
                    mma16816<T>(acc[i][j], af[i][0], af[i][1], af[i][2], af[i][3], bfr[j][0], bfr[j][1]);
        }
    }
    cp_async_wait<0>();
    pdl_trigger();
    if (splits > 1) { /* every split parks its partial tile; the last one adds them in split order */
        __shared__ int s_last;
        const int tile = blockIdx.y * gridDim.x + blockIdx.x;
        float *mine = ws + (size_t)(tile * splits + blockIdx.z) * (MI * NJ * 4) * GM_THREADS + tid;
#pragma unroll
        for (int i = 0; i < MI; i++)
#pragma unroll
            for (int j = 0; j < NJ; j++)
#pragma unroll
                for (int q = 0; q < 4; q++) mine[((i * NJ + j) * 4 + q) * GM_THREADS] = acc[i][j][q];
        __threadfence();
        __syncthreads();
        if (tid == 0) {
            s_last = atomicAdd(flags + tile, 1) == splits - 1;
            if (s_last) flags[tile] = 0;
        }
        __syncthreads();
        if (!s_last) return;
        __threadfence();
        const float *all = ws + (size_t)tile * splits * (MI * NJ * 4) * GM_THREADS + tid;
#pragma unroll
        for (int i = 0; i < MI; i++)
#pragma unroll
            for (int j = 0; j < NJ; j++)
#pragma unroll
                for (int q = 0; q < 4; q++) acc[i][j][q] = 0;
        for (int z = 0; z < splits; z++) /* in split order: the same sums whichever block is last */
#pragma unroll
            for (int i = 0; i < MI; i++) {
                float v[NJ * 4];
#pragma unroll
                for (int jq = 0; jq < NJ * 4; jq++)
                    v[jq] = __ldcg(all + ((size_t)z * (MI * NJ * 4) + i * NJ * 4 + jq) * GM_THREADS);
#pragma unroll
                for (int jq = 0; jq < NJ * 4; jq++) acc[i][jq >> 2][jq & 3] += v[jq];
            }
    }
#pragma unroll
    for (int i = 0; i < MI; i++)
#pragma unroll
        for (int j = 0; j < NJ; j++) {
            int row = m0 + wm * WM + i * 16 + (lane >> 2), col = n0 + wn * 32 + j * 8 + (lane & 3) * 2;
            const float v0[2] = {acc[i][j][0], acc[i][j][2]}, v1[2] = {acc[i][j][1], acc[i][j][3]};
            if (col < N) epi_rows<T, 2>(e, row, 8, M, col, v0, v1);
        }
}

/* ======================================================================== */
/* Hopper GEMM (sm_90a): TMA + wgmma, warp-specialised, persistent          */
/* ======================================================================== */
/* Y[m][n] = sum_k X[m][k] W[n][k] with the contract of k_gemm (every output
 * pair goes through epi_pair exactly once), for cc 9.0.
 * - Block tile BM x BN (BM = 64 or 128, BN = 128 .. 256), k in steps of 64;
 *   the host picks the tile per shape so the tiles fill the SMs.
 * - 3 warpgroups. Warpgroup 0 produces: one thread issues bulk tensor copies
 *   (TMA) of X and W into a ring of stages, each guarded by a "full" and an
 *   "empty" mbarrier. Warpgroups 1 and 2 consume with wgmma straight from
 *   shared memory (K-major, 128-byte swizzle, as TMA writes it): for BM = 128
 *   each takes 64 rows (m64nBNk16), for BM = 64 each takes BN/2 columns.
 * - Persistent: at most one block per SM, each walking the work units
 *   blockIdx.x, + gridDim.x, ...; the producer runs ahead into the next unit
 *   while the consumers do the epilogue of this one.
 * - Split-K (a unit is a tile and a range of k): each split parks its
 *   partial tile in ws, the last to finish adds them in split order, so the
 *   result does not depend on which one finished last.
 * - The epilogue passes the accumulators through shared memory, so that a
 *   half-warp hands epi_pair 16 consecutive pairs of one row.
 * - Ragged edges: TMA reads zeros past the matrix; the epilogue skips rows
 *   >= M and columns >= N.
 * Shared memory bandwidth bounds the main loop (TMA writes plus wgmma reads
 * of both operands: 128 x 256 tiles reach the tensor cores' peak, 128 x 128
 * about 80%), the epilogue and the split-K round trip cost several us a tile:
 * hence few, large units, and 64-row tiles rather than split-K for narrow
 * matrices. Measured on an H100 (M = 512, us, f32 store epilogue; k_gemm in
 * brackets): qkv 20.3 (34.8), o 16.2 (30.6), gate_up 52.7 (107.7), down 28.4
 * (52.4); 264, 265, 448, 415 TFLOP/s.
 * (Tried and dropped: clusters of 2 or 4 blocks sharing the weight tile by
 * TMA multicast, 1.5-2x slower as measured.) */

#define WG_BK 64 /* 64 elements = 128 bytes: one swizzle row */
#define WG_THREADS 384
#define WG_SMEM_MAX (232448 - 64) /* the sm_90 limit per block, less room for static shared memory */
#define WG_EPI_LD 40              /* epilogue staging row, floats: conflict-free float2 writes and reads */
#define WG_EPI_BYTES (8 * 16 * WG_EPI_LD * 4) /* 16 rows for each of the 8 consumer warps */

template <int BM, int BN> struct WgCfg {
    static constexpr int WN = BM == 128 ? BN : BN / 2; /* columns of a consumer warpgroup: the wgmma N */
    static constexpr int R = WN / 2;                   /* accumulators per consumer thread */
    static constexpr int A_BYTES = BM * WG_BK * 2, B_BYTES = BN * WG_BK * 2, STAGE = A_BYTES + B_BYTES;
    /* 1024 to align the stages (the 128-byte swizzle repeats every 1024 bytes), 256 for the mbarriers */
    static constexpr int FIT = (WG_SMEM_MAX - 1024 - 256 - WG_EPI_BYTES) / STAGE;
    static constexpr int STAGES = FIT > 8 ? 8 : FIT;
    static constexpr int SMEM = 1024 + STAGES * STAGE + 256 + WG_EPI_BYTES;
};

/* Work unit u -> tile (m0, n0), split z, k blocks [kb0, kb1). The m tiles of
 * one (n, z) are neighbours in u, so blocks running together share weights in L2. */
struct WgUnit {
    int tile, z, m0, n0, kb0, kb1;
};
__device__ __forceinline__ WgUnit wg_unit(int u, int mt, int splits, int kall, int bm, int bn) {
    WgUnit w;
    const int m = u % mt, r = u / mt;
    w.z = r % splits;
    const int n = r / splits;
    w.tile = n * mt + m;
    w.m0 = m * bm;
    w.n0 = n * bn;
    w.kb0 = (int)((long long)w.z * kall / splits);
    w.kb1 = (int)((long long)(w.z + 1) * kall / splits);
    return w;
}

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
/* mbarriers (shared::cta addresses) */
__device__ __forceinline__ void mbar_init(uint32_t bar, int count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_expect_tx(uint32_t bar, int bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(bar), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(bar) : "memory");
}
/* Wait until the phase of the given parity has completed. */
__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity) {
    uint32_t done;
    do {
        asm volatile("{ .reg .pred p; mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2; selp.u32 %0, 1, 0, p; }"
                     : "=r"(done)
                     : "r"(bar), "r"(parity)
                     : "memory");
    } while (!done);
}

/* TMA: the box of the tensor at (c0 = k, c1 = row) into shared memory; the
 * bytes are counted on bar. */
__device__ __forceinline__ void tma_load_2d(uint32_t dst, const CUtensorMap *map, int c0, int c1, uint32_t bar) {
    asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];"
                 ::"r"(dst), "l"(map), "r"(c0), "r"(c1), "r"(bar)
                 : "memory");
}

/* wgmma shared-memory descriptor: K-major, 128-byte swizzle, 8-row groups
 * 1024 bytes apart (SBO); the leading offset is unused for this layout. The
 * next 16 k (32 bytes) of a swizzled row is start address + 32 bytes. */
__device__ __forceinline__ uint64_t wg_desc(uint32_t addr) {
    return (uint64_t)((addr & 0x3FFFF) >> 4) | (uint64_t)1 << 16 | (uint64_t)(1024 >> 4) << 32 | (uint64_t)1 << 62;
}
__device__ __forceinline__ void wg_fence() { asm volatile("wgmma.fence.sync.aligned;" ::: "memory"); }
__device__ __forceinline__ void wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory"); }
template <int N> __device__ __forceinline__ void wg_wait() {
    asm volatile("wgmma.wait_group.sync.aligned %0;" ::"n"(N) : "memory");
}
/* Keep the compiler from moving accumulator reads above wg_wait. */
template <int R> __device__ __forceinline__ void wg_fence_acc(float *d) {
#pragma unroll
    for (int i = 0; i < R; i++) asm volatile("" : "+f"(d[i])::"memory");
}

/* wgmma operand lists: the N/2 f32 accumulators of a thread, then the two
 * descriptors and the scale-d flag. WG_P/WG_F name eight accumulators,
 * WG_Q/WG_G thirty-two. */
#define WG_P0 "%0,%1,%2,%3,%4,%5,%6,%7"
#define WG_P1 "%8,%9,%10,%11,%12,%13,%14,%15"
#define WG_P2 "%16,%17,%18,%19,%20,%21,%22,%23"
#define WG_P3 "%24,%25,%26,%27,%28,%29,%30,%31"
#define WG_P4 "%32,%33,%34,%35,%36,%37,%38,%39"
#define WG_P5 "%40,%41,%42,%43,%44,%45,%46,%47"
#define WG_P6 "%48,%49,%50,%51,%52,%53,%54,%55"
#define WG_P7 "%56,%57,%58,%59,%60,%61,%62,%63"
#define WG_P8 "%64,%65,%66,%67,%68,%69,%70,%71"
#define WG_P9 "%72,%73,%74,%75,%76,%77,%78,%79"
#define WG_P10 "%80,%81,%82,%83,%84,%85,%86,%87"
#define WG_P11 "%88,%89,%90,%91,%92,%93,%94,%95"
#define WG_P12 "%96,%97,%98,%99,%100,%101,%102,%103"
#define WG_P13 "%104,%105,%106,%107,%108,%109,%110,%111"
#define WG_P14 "%112,%113,%114,%115,%116,%117,%118,%119"
#define WG_P15 "%120,%121,%122,%123,%124,%125,%126,%127"
#define WG_Q0 WG_P0 "," WG_P1 "," WG_P2 "," WG_P3
#define WG_Q1 WG_P4 "," WG_P5 "," WG_P6 "," WG_P7
#define WG_Q2 WG_P8 "," WG_P9 "," WG_P10 "," WG_P11
#define WG_Q3 WG_P12 "," WG_P13 "," WG_P14 "," WG_P15
#define WG_F(d, i) "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), "+f"(d[i + 6]), "+f"(d[i + 7])
#define WG_G(d, i) WG_F(d, i), WG_F(d, i + 8), WG_F(d, i + 16), WG_F(d, i + 24)
#define WG_D64 "{" WG_Q0 "}, %32, %33, p"
#define WG_S64 "%34"
#define WG_O64(d) WG_G(d, 0)
#define WG_D80 "{" WG_Q0 "," WG_P4 "}, %40, %41, p"
#define WG_S80 "%42"
#define WG_O80(d) WG_G(d, 0), WG_F(d, 32)
#define WG_D96 "{" WG_Q0 "," WG_P4 "," WG_P5 "}, %48, %49, p"
#define WG_S96 "%50"
#define WG_O96(d) WG_G(d, 0), WG_F(d, 32), WG_F(d, 40)
#define WG_D128 "{" WG_Q0 "," WG_Q1 "}, %64, %65, p"
#define WG_S128 "%66"
#define WG_O128(d) WG_G(d, 0), WG_G(d, 32)
#define WG_D160 "{" WG_Q0 "," WG_Q1 "," WG_P8 "," WG_P9 "}, %80, %81, p"
#define WG_S160 "%82"
#define WG_O160(d) WG_G(d, 0), WG_G(d, 32), WG_F(d, 64), WG_F(d, 72)
#define WG_D176 "{" WG_Q0 "," WG_Q1 "," WG_P8 "," WG_P9 "," WG_P10 "}, %88, %89, p"
#define WG_S176 "%90"
#define WG_O176(d) WG_G(d, 0), WG_G(d, 32), WG_F(d, 64), WG_F(d, 72), WG_F(d, 80)
#define WG_D192 "{" WG_Q0 "," WG_Q1 "," WG_Q2 "}, %96, %97, p"
#define WG_S192 "%98"
#define WG_O192(d) WG_G(d, 0), WG_G(d, 32), WG_G(d, 64)
#define WG_D256 "{" WG_Q0 "," WG_Q1 "," WG_Q2 "," WG_Q3 "}, %128, %129, p"
#define WG_S256 "%130"
#define WG_O256(d) WG_G(d, 0), WG_G(d, 32), WG_G(d, 64), WG_G(d, 96)
/* D(64 x N) (+)= A(64 x 16) B(N x 16)^T, both from shared memory; acc = 0: D = A B. */
template <class T, int N> __device__ void wg_mma(float *d, uint64_t a, uint64_t b, int acc);
#define WG_MMA(T, TY, N)                                                                                           \
    template <> __device__ __forceinline__ void wg_mma<T, N>(float *d, uint64_t a, uint64_t b, int acc) {          \
        asm volatile("{ .reg .pred p; setp.ne.b32 p, " WG_S##N ", 0;\n"                                            \
                     "wgmma.mma_async.sync.aligned.m64n" #N "k16.f32." TY "." TY " " WG_D##N ", 1, 1, 0, 0; }"    \
                     : WG_O##N(d)                                                                                  \
                     : "l"(a), "l"(b), "r"(acc)                                                                    \
                     : "memory");                                                                                  \
    }
#define WG_MMA_N(N) WG_MMA(bf16, "bf16", N) WG_MMA(f16, "f16", N)
WG_MMA_N(64)
WG_MMA_N(80)
WG_MMA_N(96)
WG_MMA_N(128)
WG_MMA_N(160)
WG_MMA_N(176)
WG_MMA_N(192)
WG_MMA_N(256)
#undef WG_MMA_N
#undef WG_MMA

/* Producer (one thread): TMA loads for every (unit, k block) of this block,
 * in the order the consumers use them; load i goes to stage i % STAGES. The
 * weights of the first round of stages are requested before waiting for the
 * previous kernel, the activations after. */
template <int BM, int BN>
__device__ __forceinline__ void wg_produce(const CUtensorMap *tx, const CUtensorMap *tw, uint32_t smem, uint32_t full,
                                           uint32_t empty, int units, int mt, int splits, int kall) {
    typedef WgCfg<BM, BN> C;
    int pre = 0; /* loads whose weights went out before pdl_wait */
    for (int u = blockIdx.x; u < units && pre < C::STAGES; u += gridDim.x) {
        const WgUnit w = wg_unit(u, mt, splits, kall, BM, BN);
        for (int kb = w.kb0; kb < w.kb1 && pre < C::STAGES; kb++, pre++) {
            mbar_expect_tx(full + 8 * pre, C::STAGE);
            tma_load_2d(smem + pre * C::STAGE + C::A_BYTES, tw, kb * WG_BK, w.n0, full + 8 * pre);
        }
    }
    pdl_wait();
    int i = 0;
    for (int u = blockIdx.x; u < units; u += gridDim.x) {
        const WgUnit w = wg_unit(u, mt, splits, kall, BM, BN);
        for (int kb = w.kb0; kb < w.kb1; kb++, i++) {
            const int s = i % C::STAGES;
            const uint32_t st = smem + s * C::STAGE, fb = full + 8 * s;
            if (i >= pre) {
                mbar_wait(empty + 8 * s, ((i / C::STAGES) & 1) ^ 1); /* the consumers freed the stage */
                mbar_expect_tx(fb, C::STAGE);
                tma_load_2d(st + C::A_BYTES, tw, kb * WG_BK, w.n0, fb);
            }
            tma_load_2d(st, tx, kb * WG_BK, w.m0, fb);
        }
    }
}

/* Split-K: park this split's partial tile (acc) in ws; the last split of the
 * tile to arrive gets the sum of all splits, in split order, back in acc and
 * returns true. ct: consumer thread 0..255. */
template <int R>
__device__ __forceinline__ bool wg_split_reduce(float *acc, const WgUnit &w, int splits, int ct, float *ws,
                                                int *flags, int *s_last) {
    constexpr int TILE = 256 * R; /* floats of a tile */
    float *mine = ws + ((size_t)w.tile * splits + w.z) * TILE + ct;
#pragma unroll
    for (int i = 0; i < R; i++) __stcg(mine + i * 256, acc[i]);
    __threadfence();
    asm volatile("bar.sync 1, 256;" ::: "memory"); /* the consumer warpgroups only */
    if (ct == 0) {
        const int last = atomicAdd(flags + w.tile, 1) == splits - 1;
        if (last) flags[w.tile] = 0; /* ready for the next GEMM */
        *s_last = last;
    }
    asm volatile("bar.sync 1, 256;" ::: "memory");
    if (!*(volatile int *)s_last) return false;
    __threadfence();
    const float *all = ws + (size_t)w.tile * splits * TILE + ct;
#pragma unroll
    for (int i = 0; i < R; i++) acc[i] = __ldcg(all + i * 256);
    for (int z = 1; z < splits; z++)
#pragma unroll
        for (int i = 0; i < R; i++) acc[i] += __ldcg(all + (size_t)z * TILE + i * 256);
    return true;
}

/* The four accumulators of column group j: columns 8j + 2(lane%4) + {0, 1}
 * of rows lane/4 (x, y) and lane/4 + 8 (z, w) of the warp's 16. A switch, as
 * registers cannot be indexed at run time; zeros past the end. */
template <int R> __device__ __forceinline__ float4 wg_pick(const float *acc, int j) {
    switch (j) {
#define WG_PICK(k)                                                                                                 \
    case k:                                                                                                        \
        if (4 * (k) < R) return make_float4(acc[4 * (k)], acc[4 * (k) + 1], acc[4 * (k) + 2], acc[4 * (k) + 3]);   \
        break;
#define WG_PICK8(k) WG_PICK(k) WG_PICK(k + 1) WG_PICK(k + 2) WG_PICK(k + 3) WG_PICK(k + 4) WG_PICK(k + 5) WG_PICK(k + 6) WG_PICK(k + 7)
        WG_PICK8(0) WG_PICK8(8) WG_PICK8(16) WG_PICK8(24)
#undef WG_PICK8
#undef WG_PICK
    }
    return make_float4(0.f, 0.f, 0.f, 0.f);
}

/* A warp's 16 x 2R accumulators (rows row0.., columns col0..) to epi_pair,
 * 32 columns at a time through stg (16 rows x WG_EPI_LD floats), so that a
 * half-warp takes 16 consecutive pairs of a row: 2 lines per store
 * instruction rather than 8 (measured: 4-8% faster GEMMs). Each lane hands
 * its 8 rows of a column pair to one epi_rows call; the column loop stays
 * rolled, as unrolled copies of all the epilogue modes overflow the
 * instruction cache (measured: ~6 us a 128 x 128 tile). */
template <class T, int R>
__device__ __forceinline__ void wg_epilogue(const float *acc, float *stg, int row0, int col0, int M, int N,
                                            const Epi &e, int lane) {
    constexpr int WN = 2 * R;
    constexpr int NR = R >= 128 ? 1 : R >= 96 ? 2 : 4; /* rows a lane hands over at once: more would spill */
#pragma unroll 1
    for (int c = 0; c < WN; c += 32) {
#pragma unroll
        for (int jj = 0; jj < 4; jj++) {
            const float4 v = wg_pick<R>(acc, c / 8 + jj);
            float *p = stg + (lane >> 2) * WG_EPI_LD + jj * 8 + (lane & 3) * 2;
            *reinterpret_cast<float2 *>(p) = make_float2(v.x, v.y);
            *reinterpret_cast<float2 *>(p + 8 * WG_EPI_LD) = make_float2(v.z, v.w);
        }
        __syncwarp();
        const int cc = c + 2 * (lane & 15), col = col0 + cc;
#pragma unroll 1
        for (int h = 0; h < 16; h += 2 * NR) { /* rows h + 2 i + lane / 16, i < NR */
            float v0[NR], v1[NR];
#pragma unroll
            for (int i = 0; i < NR; i++) {
                const float2 v = *reinterpret_cast<const float2 *>(stg + (h + 2 * i + (lane >> 4)) * WG_EPI_LD + 2 * (lane & 15));
                v0[i] = v.x, v1[i] = v.y;
            }
            if (cc < WN && col < N) epi_rows<T, NR>(e, row0 + h + (lane >> 4), 2, M, col, v0, v1);
        }
        __syncwarp();
    }
}

/* Consumer warpgroups (g = 0, 1): per k block, wgmma on this warpgroup's
 * part of the stage, then hand the stage back; per unit, the epilogue. */
template <class T, int BM, int BN>
__device__ __forceinline__ void wg_consume(uint32_t smem, uint32_t full, uint32_t empty, float *stg, int units,
                                           int mt, int splits, int kall, int M, int N, const Epi &e, float *ws,
                                           int *flags, int *s_last) {
    typedef WgCfg<BM, BN> C;
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = (warp >> 2) - 1, ct = tid - 128;
    /* BM = 128: rows g*64 .. of the stage; BM = 64: weight rows (columns) g*WN .. */
    const uint32_t a_off = BM == 128 ? g * 64 * WG_BK * 2 : 0, b_off = C::A_BYTES + (BM == 128 ? 0 : g * C::WN * WG_BK * 2);
    pdl_wait(); /* the epilogue reads and writes the previous kernel's buffers */
    float acc[C::R];
    int i = 0; /* loads consumed, in the producer's order */
    for (int u = blockIdx.x; u < units; u += gridDim.x) {
        const WgUnit w = wg_unit(u, mt, splits, kall, BM, BN);
        for (int kb = w.kb0; kb < w.kb1; kb++, i++) {
            const int s = i % C::STAGES;
            const uint32_t st = smem + s * C::STAGE;
            mbar_wait(full + 8 * s, (i / C::STAGES) & 1);
            const uint64_t da = wg_desc(st + a_off), db = wg_desc(st + b_off);
            wg_fence();
#pragma unroll
            for (int kk = 0; kk < WG_BK / 16; kk++)
                wg_mma<T, C::WN>(acc, da + 2 * kk, db + 2 * kk, kb > w.kb0 || kk > 0);
            wg_commit();
            /* the previous stage's wgmmas are done: hand it back to the producer */
            wg_wait<1>();
            __syncwarp();
            if (kb > w.kb0 && lane == 0) mbar_arrive(empty + 8 * ((i - 1) % C::STAGES));
        }
        wg_wait<0>();
        wg_fence_acc<C::R>(acc);
        __syncwarp();
        if (lane == 0) mbar_arrive(empty + 8 * ((i - 1) % C::STAGES));

        if (splits > 1 && !wg_split_reduce<C::R>(acc, w, splits, ct, ws, flags, s_last)) continue;
        wg_epilogue<T, C::R>(acc, stg + (warp - 4) * 16 * WG_EPI_LD, w.m0 + (BM == 128 ? g * 64 : 0) + (warp & 3) * 16,
                             w.n0 + (BM == 128 ? 0 : g * C::WN), M, N, e, lane);
    }
}
#endif

template <class T, int BM, int BN>
__global__ void __launch_bounds__(WG_THREADS, 1)
    k_wg_gemm(const __grid_constant__ CUtensorMap tx, const __grid_constant__ CUtensorMap tw, int M, int N, int K,
              int splits, Epi e, float *__restrict__ ws, int *__restrict__ flags) {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
    typedef WgCfg<BM, BN> C;
    extern __shared__ unsigned char wsm[];
    __shared__ int s_last;
    /* [stages][full barriers, empty barriers][epilogue staging] */
    const int align = (int)(((smem_u32(wsm) + 1023) & ~1023u) - smem_u32(wsm));
    const uint32_t smem = smem_u32(wsm) + align, full = smem + C::STAGES * C::STAGE, empty = full + 8 * C::STAGES;
    float *stg = reinterpret_cast<float *>(wsm + align + C::STAGES * C::STAGE + 256);
    const int tid = threadIdx.x;
    const int mt = (M + BM - 1) / BM, nt = (N + BN - 1) / BN, kall = (K + WG_BK - 1) / WG_BK;
    const int units = mt * nt * splits;

    if (tid == 0) {
        for (int s = 0; s < C::STAGES; s++) {
            mbar_init(full + 8 * s, 1);  /* the producer's expect_tx; TMA completes the bytes */
            mbar_init(empty + 8 * s, 8); /* one arrival per consumer warp */
        }
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
        asm volatile("prefetch.tensormap [%0];" ::"l"(&tx) : "memory");
        asm volatile("prefetch.tensormap [%0];" ::"l"(&tw) : "memory");
    }
    __syncthreads();
    /* The next kernel may launch now: it can only take SMs this grid leaves,
     * and its own griddepcontrol.wait waits for all of this grid. */
    pdl_trigger();

    if (tid < 128) { /* producer warpgroup: one thread issues all copies */
        if (tid == 0) wg_produce<BM, BN>(&tx, &tw, smem, full, empty, units, mt, splits, kall);
    } else {
        wg_consume<T, BM, BN>(smem, full, empty, stg, units, mt, splits, kall, M, N, e, ws, flags, &s_last);
    }
#endif
}

/* ======================================================================== */
/* Attention over the KV cache (decode; prefill for other head sizes)        */
/* ======================================================================== */
/* One block per (split, query head, row); a row is a decoding sequence or a
 * prefill token and sees keys 0 .. pos, or with a sliding window of W keys
 * pos - W + 1 .. pos. The 8 warps of a block split the keys
 * of its split, 32 at a time (one key per lane for q.k, lanes own dimension
 * pairs for p.V, an online softmax per warp) and merge in shared memory, so up
 * to 256 keys cost one round trip to memory. Contexts over 512 keys are also
 * split over blocks (flash-decoding): the last block of a (row, head) to finish
 * merges the splits (an atomic counter, reset for the next step). All loads
 * of the tile (a key per lane, the values of KB keys) are issued together,
 * before the query is even staged.
 * QKN (Qwen3's q/k norm, decoding rows only): q and the row's new key arrive
 * biased but neither normalised nor rotated, the key after the n_heads query
 * heads in q's row. Each block normalises and rotates its query head; the
 * block holding the new key normalises and rotates it too, uses it, and (for
 * the group's first query head) writes it to the cache. This saves a kernel
 * between the QKV GEMV and the attention. */
struct QkNorm {
    const float *qn, *kn; /* per-head norm weights, in the device's row order */
    const float *inv_freq;
    float eps;
};

/* The blocks k_attn splits a row's keys at position pos over (the host
 * sizes the grid by it), the first key and the keys of each. One block up to
 * 2 min_chunk keys (measured: a second pass costs less than merging splits).
 * Beyond that splits of at most min_chunk keys (one pass each) where max
 * allows, and more of them, up to fill, down to min_chunk / 2 keys: spread
 * over more SMs the keys load sooner, but a split of fewer keys costs more
 * than it saves (measured: Qwen2.5-0.5B's 14 heads 2% faster at positions
 * 600 and 1,800, TinyLlama's 32 heads 4% at 1,000, 1% slower at 600).
 * Where one pass a split would need more blocks than the GPU holds at once
 * (more than wave splits for each (row, head) pair), the splits are as many
 * as one wave holds: another wave of blocks costs more than more passes
 * (H200: Llama-3.2-3B's 24 heads at head_dim 128, one block an SM,
 * positions 1,792-2,047, 8 splits 381 tok/s, 5 splits of two passes 404;
 * TinyLlama, 8 sequences at positions 1,792-1,855, 8 splits a (row, head)
 * 3,635, one split of up to 8 passes 4,375). */
struct AttnSplit {
    int max, fill, wave; /* splits at most, the fill target, one wave's splits */
    int min_chunk;       /* keys of a split's one pass */
};
__host__ __device__ inline int attn_splits(int pos, int window, const AttnSplit &a, int *first, int *chunk) {
    *first = window > 0 && pos >= window ? pos - window + 1 : 0;
    const int len = pos + 1 - *first;
    const int s_pass = (len + a.min_chunk - 1) / a.min_chunk, s_half = (len + a.min_chunk / 2 - 1) / (a.min_chunk / 2);
    const bool one_wave = s_pass > a.wave;
    const int s_want = len <= 2 * a.min_chunk ? 1
                       : one_wave            ? min(a.max, a.wave)
                                             : min(a.max, max(s_pass, min(a.fill, s_half)));
    *chunk = (len + s_want - 1) / s_want;
    return (len + *chunk - 1) / *chunk;
}

template <class T, int P, bool QKN> /* P: dimension pairs per lane, head_dim <= 64 * P */
__global__ void __launch_bounds__(256)
    k_attn(const float *__restrict__ qf, const T *__restrict__ qt, int ldq, T *__restrict__ kc,
           const T *__restrict__ vc, float *__restrict__ of, T *__restrict__ ot, int ldo, Rows rows, int n_heads,
           int n_kv, int hd, int ctx, int window, float scale, AttnSplit sp, float *__restrict__ part,
           int *__restrict__ counters, QkNorm qk) {
    constexpr int KB = P <= 2 ? 32 : 16; /* keys whose values are loaded at once */
    extern __shared__ float4 ash[];
    float *qs = reinterpret_cast<float *>(ash); /* [hd] */
    float *mb = qs + hd;                        /* [8 warps][hd + 2] */
    const float4 *qs4 = ash;
    __shared__ int s_last;
    __shared__ float s_ss[QKN ? 8 : 1];         /* the query's sum of squares, per warp */
    __shared__ uint4 s_key[QKN ? 8 * P : 1];    /* the new key, normalised and rotated */
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int split = blockIdx.x, h = blockIdx.y, r = blockIdx.z, kvh = h / (n_heads / n_kv);
    pdl_trigger();
    const int pos = row_pos(rows, r); /* (positions are set before the step's first kernel) */
    if (pos < 0) {                    /* idle sequence */
        pdl_wait();
        return;
    }
    int first, chunk;
    const int s_eff = attn_splits(pos, window, sp, &first, &chunk);
    if (split >= s_eff) return;
    const int k0 = first + split * chunk, k1 = min(pos + 1, k0 + chunk);
    const size_t base = ((size_t)row_seq(rows, r) * n_kv + kvh) * ctx * hd;
    const T *K = kc + base, *V = vc + base;
    const int HC = hd >> 3, np = hd >> 1; /* lanes own dimension pairs 2(lane + 32i), +1 */

    uint4 kv[8 * P];
    uint32_t vv[KB][P];
    auto load_k = [&](int kb, int last) {
        const uint4 *kr = reinterpret_cast<const uint4 *>(K + (size_t)min(kb + lane, last) * hd);
#pragma unroll
        for (int c = 0; c < 8 * P; c++) kv[c] = c < HC ? __ldcg(kr + c) : make_uint4(0, 0, 0, 0);
    };
    auto load_v = [&](int kb, int last) {
#pragma unroll
        for (int jj = 0; jj < KB; jj++) {
            const unsigned *vr = reinterpret_cast<const unsigned *>(V + (size_t)min(kb + jj, last) * hd);
#pragma unroll
            for (int i = 0; i < P; i++) vv[jj][i] = lane + 32 * i < np ? __ldcg(vr + lane + 32 * i) : 0u;
        }
    };
    /* Keys before `fresh` were cached by earlier steps or chunks: their first
       tile loads before waiting for the kernel that writes this row's query
       and its own keys. The tile's places from `fresh` on hold copies of key
       fresh - 1 until the wait; then keys fresh .. k1 - 1 (in decode one) are
       loaded. Places past k1 - 1 keep their copy: a key written before, so
       finite, as the value p = 0 multiplies must be (a score past k1 - 1 is
       masked). Only a row whose keys are all fresh has no such key. */
    const int kb0 = k0 + 32 * warp, fresh = rows.pos ? pos : rows.pos0;
    if (kb0 < k1) load_k(kb0, max(min(fresh, k1) - 1, 0)), load_v(kb0, max(min(fresh, k1) - 1, 0));
    /* q/k norm: the weights and the rotation of this thread's query element
       and of this lane's key pairs, before the wait */
    const bool key_warp = QKN && kb0 <= fresh && fresh < k1 && ((fresh - kb0) & 255) < 32; /* a tile of it holds the key */
    float qw = 0, qc = 0, qsn = 0, kw[2 * P], kcs[P], ksn[P];
    if (QKN) {
        if (tid < hd) qw = qk.qn[tid], sincosf((float)pos * qk.inv_freq[tid >> 1], &qsn, &qc);
#pragma unroll
        for (int i = 0; i < P; i++) {
            const int d = 2 * (lane + 32 * i);
            kw[2 * i] = kw[2 * i + 1] = kcs[i] = ksn[i] = 0;
            if (key_warp && d < hd)
                kw[2 * i] = qk.kn[d], kw[2 * i + 1] = qk.kn[d + 1], sincosf((float)pos * qk.inv_freq[d >> 1], &ksn[i], &kcs[i]);
        }
    }
    pdl_wait();
    if (key_warp) { /* QKN: the new key from q's row, normalised, rotated, rounded to T as the cache holds it */
        const float *kr = qf + (size_t)r * ldq + (size_t)(n_heads + kvh) * hd;
        float2 kp[P];
        float ss = 0;
#pragma unroll
        for (int i = 0; i < P; i++) {
            const int d = 2 * (lane + 32 * i);
            kp[i] = d < hd ? __ldcg(reinterpret_cast<const float2 *>(kr + d)) : make_float2(0, 0);
            ss += kp[i].x * kp[i].x + kp[i].y * kp[i].y;
        }
        const float rs = rsqrtf(warp_sum(ss) / (float)hd + qk.eps);
        uint32_t *key = reinterpret_cast<uint32_t *>(s_key);
#pragma unroll
        for (int i = 0; i < P; i++) {
            const int d = 2 * (lane + 32 * i);
            if (d >= hd) continue;
            const float a = kp[i].x * rs * kw[2 * i], b = kp[i].y * rs * kw[2 * i + 1];
            const float2 ab = rope_pair(a, b, kcs[i], ksn[i]);
            const uint32_t u = Ty<T>::pack(ab.x, ab.y);
            key[d >> 1] = u;
            if (h % (n_heads / n_kv) == 0) *reinterpret_cast<uint32_t *>(kc + base + (size_t)fresh * hd + d) = u;
        }
        __syncwarp();
    }
    if (kb0 < k1 && kb0 + 31 >= fresh) {
        if (kb0 + lane >= fresh && kb0 + lane < k1 && !QKN) {
            const uint4 *kr = reinterpret_cast<const uint4 *>(K + (size_t)(kb0 + lane) * hd);
#pragma unroll
            for (int c = 0; c < 8 * P; c++) kv[c] = c < HC ? __ldcg(kr + c) : make_uint4(0, 0, 0, 0);
        }
#pragma unroll
        for (int jj = 0; jj < KB; jj++)
            if (kb0 + jj >= fresh && (kb0 + jj < k1 || fresh == 0)) {
                const unsigned *vr = reinterpret_cast<const unsigned *>(V + (size_t)min(kb0 + jj, k1 - 1) * hd);
#pragma unroll
                for (int i = 0; i < P; i++) vv[jj][i] = lane + 32 * i < np ? __ldcg(vr + lane + 32 * i) : 0u;
            }
    }
    if (QKN) { /* hd <= 256: a thread per element; the pair's partner is the neighbouring lane */
        float v = tid < hd ? __ldcg(qf + (size_t)r * ldq + h * hd + tid) : 0.0f;
        const float ss = warp_sum(v * v);
        if (lane == 0) s_ss[warp] = ss;
        __syncthreads();
        float tot = 0;
#pragma unroll
        for (int w = 0; w < 8; w++) tot += s_ss[w];
        v *= rsqrtf(tot / (float)hd + qk.eps) * qw;
        const float u = __shfl_xor_sync(0xffffffffu, v, 1);
        if (tid < hd) qs[tid] = (tid & 1 ? v * qc + u * qsn : v * qc - u * qsn) * scale; /* rope_pair, an element a thread */
    } else {
        for (int d = tid; d < hd; d += 256)
            qs[d] = (qf ? __ldcg(qf + (size_t)r * ldq + h * hd + d) : Ty<T>::f(qt[(size_t)r * ldq + h * hd + d])) * scale;
    }
    __syncthreads();

    float m = -INFINITY, l = 0, acc[2 * P];
#pragma unroll
    for (int i = 0; i < 2 * P; i++) acc[i] = 0;
    for (int kb = kb0; kb < k1; kb += 256) {
        if (kb != kb0) load_k(kb, k1 - 1), load_v(kb, k1 - 1);
        const int key = kb + lane;
        if (QKN && key == fresh) {
#pragma unroll
            for (int c = 0; c < 8 * P; c++) kv[c] = c < HC ? s_key[c] : make_uint4(0, 0, 0, 0);
        }
        float t = 0;
#pragma unroll
        for (int c = 0; c < 8 * P; c++)
            if (c < HC) t = dot8<T>(kv[c], qs4[2 * c], qs4[2 * c + 1], t);
        const float sc = key < k1 ? t : -INFINITY;
        const float mn = fmaxf(m, warp_max(sc));
        const float p = key < k1 ? expf(sc - mn) : 0.0f, alpha = expf(m - mn);
        l = l * alpha + warp_sum(p);
        m = mn;
#pragma unroll
        for (int i = 0; i < 2 * P; i++) acc[i] *= alpha;
#pragma unroll
        for (int half = 0; half < 32 / KB; half++) {
            if (half) load_v(kb + KB, k1 - 1); /* head_dim > 128: the second 16 keys' values */
#pragma unroll
            for (int jj = 0; jj < KB; jj++) {
                const float pj = __shfl_sync(0xffffffffu, p, half * KB + jj);
#pragma unroll
                for (int i = 0; i < P; i++) {
                    const float2 v = Ty<T>::f2(vv[jj][i]);
                    acc[2 * i] = fmaf(pj, v.x, acc[2 * i]);
                    acc[2 * i + 1] = fmaf(pj, v.y, acc[2 * i + 1]);
                }
            }
        }
    }
    /* the 8 warps' states -> one (in shared memory) */
    {
        float *w = mb + warp * (hd + 2);
#pragma unroll
        for (int i = 0; i < P; i++) {
            const int d = 2 * (lane + 32 * i);
            if (d < hd) w[d] = acc[2 * i], w[d + 1] = acc[2 * i + 1];
        }
        if (lane == 0) w[hd] = m, w[hd + 1] = l;
    }
    __syncthreads();
    float M = -INFINITY, L = 0, o[2 * P];
    if (warp == 0) {
#pragma unroll
        for (int w = 0; w < 8; w++) M = fmaxf(M, mb[w * (hd + 2) + hd]);
#pragma unroll
        for (int i = 0; i < 2 * P; i++) o[i] = 0;
#pragma unroll
        for (int w = 0; w < 8; w++) {
            const float *src = mb + w * (hd + 2);
            const float f = src[hd] == -INFINITY ? 0.0f : expf(src[hd] - M);
            L += f * src[hd + 1];
#pragma unroll
            for (int i = 0; i < P; i++) {
                const int d = 2 * (lane + 32 * i);
                if (d < hd) o[2 * i] += f * src[d], o[2 * i + 1] += f * src[d + 1];
            }
        }
        if (s_eff > 1) { /* park this split's state */
            float *pp = part + (((size_t)r * n_heads + h) * sp.max + split) * (hd + 2);
#pragma unroll
            for (int i = 0; i < P; i++) {
                const int d = 2 * (lane + 32 * i);
                if (d < hd) *reinterpret_cast<float2 *>(pp + d) = make_float2(o[2 * i], o[2 * i + 1]);
            }
            if (lane == 0) pp[hd] = M, pp[hd + 1] = L;
        }
    }
    if (s_eff > 1) { /* the last split of this (row, head) to finish merges them all */
        __threadfence();
        __syncthreads();
        if (tid == 0) {
            int *cnt = counters + (size_t)r * n_heads + h;
            s_last = atomicAdd(cnt, 1) == s_eff - 1;
            if (s_last) *cnt = 0;
        }
        __syncthreads();
        if (!s_last || warp != 0) return;
        __threadfence();
        const float *pp = part + ((size_t)r * n_heads + h) * sp.max * (hd + 2);
        const float mv = lane < s_eff ? __ldcg(pp + lane * (hd + 2) + hd) : -INFINITY;
        const float lv = lane < s_eff ? __ldcg(pp + lane * (hd + 2) + hd + 1) : 0.0f;
        M = warp_max(mv);
        const float w = lane < s_eff ? expf(mv - M) : 0.0f;
        L = warp_sum(w * lv);
#pragma unroll
        for (int i = 0; i < 2 * P; i++) o[i] = 0;
        for (int s0 = 0; s0 < s_eff; s0 += 16) { /* 16 splits' values in flight at once */
            float2 pv[16][P];
#pragma unroll
            for (int j = 0; j < 16; j++) {
                const float *q = pp + min(s0 + j, s_eff - 1) * (hd + 2);
#pragma unroll
                for (int i = 0; i < P; i++) {
                    const int d = 2 * (lane + 32 * i);
                    pv[j][i] = d < hd ? __ldcg(reinterpret_cast<const float2 *>(q + d)) : make_float2(0, 0);
                }
            }
#pragma unroll
            for (int j = 0; j < 16; j++) {
                const float wj = __shfl_sync(0xffffffffu, w, (s0 + j) & 31) * (s0 + j < s_eff ? 1.0f : 0.0f);
#pragma unroll
                for (int i = 0; i < P; i++) o[2 * i] = fmaf(wj, pv[j][i].x, o[2 * i]), o[2 * i + 1] = fmaf(wj, pv[j][i].y, o[2 * i + 1]);
            }
        }
    } else if (warp != 0) {
        return;
    }
    const float inv = 1.0f / L;
#pragma unroll
    for (int i = 0; i < P; i++) {
        const int d = 2 * (lane + 32 * i);
        if (d < hd) {
            if (of) *reinterpret_cast<float2 *>(of + (size_t)r * ldo + h * hd + d) = make_float2(o[2 * i] * inv, o[2 * i + 1] * inv);
            else *reinterpret_cast<uint32_t *>(ot + (size_t)r * ldo + h * hd + d) = Ty<T>::pack(o[2 * i] * inv, o[2 * i + 1] * inv);
        }
    }
}

/* ======================================================================== */
/* Attention of many decoding sequences (batched decode)                     */
/* ======================================================================== */
/* A block per (row, KV head) runs every query head of that group, so each
 * cached key and value is read once for all of them (k_attn reads them once
 * per query head, and spends a block of 8 warps on each). Tiles of AG_KT keys
 * and their values are staged in shared memory by cp.async, two deep; each of
 * the 4 warps takes query heads warp, warp + 4, ... (up to AG_MAXH of them)
 * with an online softmax per head: a key per lane for the scores, then the
 * lanes' dimension pairs for p.V. Used when the rows fill the GPU (there is
 * no split of a row's keys over blocks). */
#define AG_KT 32
#define AG_WARPS 4
#define AG_MAXH 4 /* query heads a warp holds: groups of up to 16 */

template <int HD> constexpr int attn_group_tiles_smem() { return 2 * AG_KT * ((HD + 8) + HD) * 2; }
static size_t attn_group_smem(int hd, int group) {
    const int tiles = hd == 16 ? attn_group_tiles_smem<16>() : hd == 32 ? attn_group_tiles_smem<32>()
                    : hd == 64 ? attn_group_tiles_smem<64>() : attn_group_tiles_smem<128>();
    return (size_t)tiles + (size_t)group * hd * 4;
}

template <class T, int HD>
__global__ void __launch_bounds__(AG_WARPS * 32)
    k_attn_group(const float *__restrict__ qf, int ldq, const T *__restrict__ kc, const T *__restrict__ vc,
                 T *__restrict__ ot, int ldo, Rows rows, int n_heads, int n_kv, int ctx, int window, float scale) {
    constexpr int KS = HD + 8;       /* a key's row in shared memory: 8 lanes' 16-byte reads hit distinct banks */
    constexpr int C = HD / 8;        /* 16-byte pieces of a row */
    constexpr int P = (HD + 63) / 64; /* dimension pairs per lane: 2(lane + 32i), +1 */
    extern __shared__ float4 ag_sh[];
    T *ks = reinterpret_cast<T *>(ag_sh);               /* [2][AG_KT][KS] */
    T *vs = ks + 2 * AG_KT * KS;                         /* [2][AG_KT][HD] */
    float *qs = reinterpret_cast<float *>(vs + 2 * AG_KT * HD); /* [group][HD], scaled */
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int g = blockIdx.x, r = blockIdx.y, G = n_heads / n_kv;
    pdl_trigger();
    const int pos = row_pos(rows, r);
    pdl_wait();
    if (pos < 0) return; /* an idle row */
    const int first = window > 0 && pos >= window ? pos - window + 1 : 0, end = pos + 1;
    const size_t base = ((size_t)row_seq(rows, r) * n_kv + g) * ctx * HD;
    const T *K = kc + base, *V = vc + base;
    auto stage = [&](int buf, int kb) {
        for (int i = tid; i < AG_KT * C; i += AG_WARPS * 32) {
            const int j = i / C, c = i % C, key = kb + j;
            const size_t off = (size_t)(key < end ? key : first) * HD + c * 8;
            cp_async16(ks + (buf * AG_KT + j) * KS + c * 8, K + off, key < end);
            cp_async16(vs + (buf * AG_KT + j) * HD + c * 8, V + off, key < end);
        }
        cp_async_commit();
    };
    stage(0, first);
    for (int i = tid; i < G * HD; i += AG_WARPS * 32)
        qs[i] = __ldcg(qf + (size_t)r * ldq + (size_t)g * G * HD + i) * scale;

    float m[AG_MAXH], l[AG_MAXH], acc[AG_MAXH][2 * P];
#pragma unroll
    for (int t = 0; t < AG_MAXH; t++) {
        m[t] = -INFINITY, l[t] = 0;
#pragma unroll
        for (int i = 0; i < 2 * P; i++) acc[t][i] = 0;
    }
    int buf = 0;
    for (int kb = first; kb < end; kb += AG_KT, buf ^= 1) {
        if (kb + AG_KT < end) {
            stage(buf ^ 1, kb + AG_KT);
            cp_async_wait<1>();
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();
        const T *kt = ks + buf * AG_KT * KS, *vt = vs + buf * AG_KT * HD;
        const int n = min(AG_KT, end - kb);
        const bool valid = lane < n;
        const uint4 *kr = reinterpret_cast<const uint4 *>(kt + lane * KS);
#pragma unroll
        for (int t = 0; t < AG_MAXH; t++) {
            const int j = warp + AG_WARPS * t;
            if (j >= G) break;
            const float4 *q4 = reinterpret_cast<const float4 *>(qs + j * HD);
            float sc = 0;
#pragma unroll
            for (int c = 0; c < C; c++) sc = dot8<T>(kr[c], q4[2 * c], q4[2 * c + 1], sc);
            sc = valid ? sc : -INFINITY;
            const float mn = fmaxf(m[t], warp_max(sc)); /* lane 0's key is valid: finite */
            const float p = valid ? expf(sc - mn) : 0.0f, alpha = expf(m[t] - mn);
            l[t] = l[t] * alpha + warp_sum(p);
            m[t] = mn;
#pragma unroll
            for (int i = 0; i < 2 * P; i++) acc[t][i] *= alpha;
#pragma unroll 8
            for (int jj = 0; jj < n; jj++) {
                const float pj = __shfl_sync(0xffffffffu, p, jj);
                const uint32_t *vr = reinterpret_cast<const uint32_t *>(vt + jj * HD);
#pragma unroll
                for (int i = 0; i < P; i++)
                    if (lane + 32 * i < HD / 2) {
                        const float2 v = Ty<T>::f2(vr[lane + 32 * i]);
                        acc[t][2 * i] = fmaf(pj, v.x, acc[t][2 * i]);
                        acc[t][2 * i + 1] = fmaf(pj, v.y, acc[t][2 * i + 1]);
                    }
            }
        }
        __syncthreads(); /* this buffer is staged again two tiles on */
    }
#pragma unroll
    for (int t = 0; t < AG_MAXH; t++) {
        const int j = warp + AG_WARPS * t;
        if (j >= G) break;
        const float inv = 1.0f / l[t];
        T *o = ot + (size_t)r * ldo + (size_t)(g * G + j) * HD;
#pragma unroll
        for (int i = 0; i < P; i++)
            if (lane + 32 * i < HD / 2)
                reinterpret_cast<uint32_t *>(o)[lane + 32 * i] = Ty<T>::pack(acc[t][2 * i] * inv, acc[t][2 * i + 1] * inv);
    }
}

/* ======================================================================== */
/* Flash attention for prefill (head_dim 16, 32, 64 or 128)                 */
/* ======================================================================== */
/* Causal attention of a chunk of n queries at positions pos0.. over keys
 * 0 .. pos0+n-1 of the cache (the chunk's own keys were written by the QKV
 * epilogue); with a sliding window of W keys, query i sees keys i-W+1 .. i
 * and key tiles before the block's first visible key are skipped. A block
 * takes 64 queries of one head (4 warps x 16), walks the keys in tiles of 64
 * (double-buffered with cp.async), S = QK^T and O += PV on tensor cores,
 * online softmax in registers; P is reused from the S accumulators as the A
 * operand. The 16-byte pieces of a shared row are XOR-swizzled by the row
 * (row & 7, fewer bits when a row has fewer than 8 pieces). */
#define FA_BQ 64
#define FA_BKV 64

template <int HD> constexpr int flash_smem() { return (FA_BQ + 4 * FA_BKV) * HD * 2; }

template <class T, int HD>
__global__ void __launch_bounds__(128)
    k_flash(const T *__restrict__ Q, int ldq, const T *__restrict__ kc, const T *__restrict__ vc, T *__restrict__ O,
            int ldo, int n, int pos0, int seq, int n_heads, int n_kv, int ctx, int window, float scale_log2) {
    constexpr int CH = HD / 8, SW = CH < 8 ? CH - 1 : 7;
    extern __shared__ __align__(128) unsigned char fsm[];
    T *Qs = reinterpret_cast<T *>(fsm), *Ks = Qs + FA_BQ * HD, *Vs = Ks + 2 * FA_BKV * HD;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t = lane & 3;
    const int qtile = gridDim.x - 1 - blockIdx.x, h = blockIdx.y, kvh = h / (n_heads / n_kv);
    const int q0 = qtile * FA_BQ, nq = min(FA_BQ, n - q0), nkeys = pos0 + q0 + nq;
    const int ntiles = (nkeys + FA_BKV - 1) / FA_BKV;
    const int kt0 = window > 0 && pos0 + q0 >= window ? (pos0 + q0 - window + 1) / FA_BKV : 0; /* first tile any query sees */
    const size_t base = ((size_t)seq * n_kv + kvh) * ctx * HD;
    const T *Kb = kc + base, *Vb = vc + base;
    auto swz = [](int row, int c) { return row * HD + ((c ^ (row & SW)) << 3); };

    pdl_wait();
    for (int i = tid; i < FA_BQ * CH; i += 128) {
        int row = i / CH, c = i % CH;
        bool ok = row < nq;
        cp_async16(Qs + swz(row, c), ok ? Q + (size_t)(q0 + row) * ldq + h * HD + c * 8 : Q, ok);
    }
    auto load_kv = [&](int buf, int kt) {
        T *ks = Ks + buf * FA_BKV * HD, *vs = Vs + buf * FA_BKV * HD;
        for (int i = tid; i < FA_BKV * CH; i += 128) {
            int row = i / CH, c = i % CH, key = kt * FA_BKV + row;
            bool ok = key < nkeys;
            cp_async16(ks + swz(row, c), ok ? Kb + (size_t)key * HD + c * 8 : Kb, ok);
            cp_async16(vs + swz(row, c), ok ? Vb + (size_t)key * HD + c * 8 : Vb, ok);
        }
    };
    load_kv(kt0 & 1, kt0);
    cp_async_commit();
    cp_async_wait<0>();
    __syncthreads();

    uint32_t qf[HD / 16][4];
#pragma unroll
    for (int ks = 0; ks < HD / 16; ks++) {
        int row = warp * 16 + (lane & 15), c = ks * 2 + (lane >> 4);
        ldsm_x4(qf[ks], Qs + swz(row, c));
    }
    float o[HD / 8][4];
#pragma unroll
    for (int j = 0; j < HD / 8; j++) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0;
    float mrow[2] = {-INFINITY, -INFINITY}, lrow[2] = {0, 0};
    const int qpos = pos0 + q0 + warp * 16 + g; /* row g; row g + 8 is qpos + 8 */
    /* the first key each row sees (all of them without a window) */
    const int lo0 = window > 0 ? qpos - window + 1 : 0, lo1 = window > 0 ? qpos + 8 - window + 1 : 0;

    for (int kt = kt0; kt < ntiles; kt++) {
        if (kt + 1 < ntiles) load_kv((kt + 1) & 1, kt + 1);
        cp_async_commit();
        cp_async_wait<1>();
        __syncthreads();
        const T *ks = Ks + (kt & 1) * FA_BKV * HD, *vs = Vs + (kt & 1) * FA_BKV * HD;
        float s[8][4];
#pragma unroll
        for (int j = 0; j < 8; j++) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0;
#pragma unroll
        for (int kd = 0; kd < HD / 16; kd++)
#pragma unroll
            for (int jj = 0; jj < 4; jj++) {
                uint32_t b[4];
                int row = jj * 16 + (lane & 7) + ((lane >> 4) << 3), c = kd * 2 + ((lane >> 3) & 1);
                ldsm_x4(b, ks + swz(row, c));
                mma16816<T>(s[2 * jj], qf[kd][0], qf[kd][1], qf[kd][2], qf[kd][3], b[0], b[1]);
                mma16816<T>(s[2 * jj + 1], qf[kd][0], qf[kd][1], qf[kd][2], qf[kd][3], b[2], b[3]);
            }
        float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
        for (int j = 0; j < 8; j++) {
            int key = kt * FA_BKV + j * 8 + 2 * t;
            s[j][0] = key <= qpos && key >= lo0 ? s[j][0] * scale_log2 : -INFINITY;
            s[j][1] = key + 1 <= qpos && key + 1 >= lo0 ? s[j][1] * scale_log2 : -INFINITY;
            s[j][2] = key <= qpos + 8 && key >= lo1 ? s[j][2] * scale_log2 : -INFINITY;
            s[j][3] = key + 1 <= qpos + 8 && key + 1 >= lo1 ? s[j][3] * scale_log2 : -INFINITY;
            mx0 = fmaxf(mx0, fmaxf(s[j][0], s[j][1]));
            mx1 = fmaxf(mx1, fmaxf(s[j][2], s[j][3]));
        }
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
        /* (a row whose keys all lie in later tiles keeps m = -inf, l = 0, o = 0) */
        const float mn0 = fmaxf(mrow[0], mx0), mn1 = fmaxf(mrow[1], mx1);
        const float b0 = mn0 == -INFINITY ? 0.0f : mn0, b1 = mn1 == -INFINITY ? 0.0f : mn1;
        const float al0 = exp2f(mrow[0] - b0), al1 = exp2f(mrow[1] - b1);
        float ls0 = 0, ls1 = 0;
#pragma unroll
        for (int j = 0; j < 8; j++) {
            s[j][0] = exp2f(s[j][0] - b0);
            s[j][1] = exp2f(s[j][1] - b0);
            s[j][2] = exp2f(s[j][2] - b1);
            s[j][3] = exp2f(s[j][3] - b1);
            ls0 += s[j][0] + s[j][1];
            ls1 += s[j][2] + s[j][3];
        }
        lrow[0] = lrow[0] * al0 + ls0;
        lrow[1] = lrow[1] * al1 + ls1;
        mrow[0] = mn0;
        mrow[1] = mn1;
#pragma unroll
        for (int j = 0; j < HD / 8; j++) o[j][0] *= al0, o[j][1] *= al0, o[j][2] *= al1, o[j][3] *= al1;
#pragma unroll
        for (int kk = 0; kk < 4; kk++) {
            uint32_t a0 = Ty<T>::pack(s[2 * kk][0], s[2 * kk][1]), a1 = Ty<T>::pack(s[2 * kk][2], s[2 * kk][3]);
            uint32_t a2 = Ty<T>::pack(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                     a3 = Ty<T>::pack(s[2 * kk + 1][2], s[2 * kk + 1][3]);
#pragma unroll
            for (int dd = 0; dd < HD / 16; dd++) {
                uint32_t b[4];
                int row = kk * 16 + (lane & 7) + (((lane >> 3) & 1) << 3), c = dd * 2 + (lane >> 4);
                ldsm_x4_t(b, vs + swz(row, c));
                mma16816<T>(o[2 * dd], a0, a1, a2, a3, b[0], b[1]);
                mma16816<T>(o[2 * dd + 1], a0, a1, a2, a3, b[2], b[3]);
            }
        }
        __syncthreads(); /* before the next iteration refills this buffer */
    }
    pdl_trigger();
    lrow[0] += __shfl_xor_sync(0xffffffffu, lrow[0], 1);
    lrow[0] += __shfl_xor_sync(0xffffffffu, lrow[0], 2);
    lrow[1] += __shfl_xor_sync(0xffffffffu, lrow[1], 1);
    lrow[1] += __shfl_xor_sync(0xffffffffu, lrow[1], 2);
    const float i0 = 1.0f / lrow[0], i1 = 1.0f / lrow[1];
    const int r0 = q0 + warp * 16 + g;
#pragma unroll
    for (int j = 0; j < HD / 8; j++) {
        int col = h * HD + j * 8 + 2 * t;
        if (r0 < n) *reinterpret_cast<uint32_t *>(O + (size_t)r0 * ldo + col) = Ty<T>::pack(o[j][0] * i0, o[j][1] * i0);
        if (r0 + 8 < n)
            *reinterpret_cast<uint32_t *>(O + (size_t)(r0 + 8) * ldo + col) = Ty<T>::pack(o[j][2] * i1, o[j][3] * i1);
    }
}

/* ======================================================================== */
/* Small kernels: embedding, RMSNorm                                         */
/* ======================================================================== */

/* x[r] = embed[ids[r]] in f32 (and in T into xt, where the GEMMs fuse the norm);
 * records the id in the sequence's history. */
template <class T>
__global__ void k_embed(const T *__restrict__ E, int dim, const int *__restrict__ ids, const int *__restrict__ chosen,
                        Rows rows, float *__restrict__ x, T *__restrict__ xt, int *__restrict__ hist, int ctx) {
    const int r = blockIdx.x;
    pdl_wait();
    pdl_trigger();
    int id = step_id(ids, chosen, r);
    const int pos = row_pos(rows, r);
    if (threadIdx.x == 0 && pos >= 0 && id >= 0) hist[(size_t)row_seq(rows, r) * ctx + pos] = id;
    if (id < 0) id = 0; /* idle sequence: any row will do */
    const uint4 *src = reinterpret_cast<const uint4 *>(E + (size_t)id * dim);
    float4 *dst = reinterpret_cast<float4 *>(x + (size_t)r * dim);
    for (int i = threadIdx.x; i < dim / 8; i += blockDim.x) {
        uint4 v = src[i];
        float2 a = Ty<T>::f2(v.x), b = Ty<T>::f2(v.y), c = Ty<T>::f2(v.z), d = Ty<T>::f2(v.w);
        dst[2 * i] = make_float4(a.x, a.y, b.x, b.y);
        dst[2 * i + 1] = make_float4(c.x, c.y, d.x, d.y);
        if (xt) reinterpret_cast<uint4 *>(xt + (size_t)r * dim)[i] = v; /* the residual's copy in T (cu_norm_fused) */
    }
}

/* out[r] = x[r] * rsqrt(mean(x[r]^2) + eps) * w, in T (input of the GEMMs). */
template <class T>
__global__ void __launch_bounds__(256)
    k_rmsnorm(const float *__restrict__ x, int dim, const float *__restrict__ w, float eps, T *__restrict__ out) {
    __shared__ float red[8];
    const int r = blockIdx.x, lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    pdl_wait();
    pdl_trigger();
    const float4 *x4 = reinterpret_cast<const float4 *>(x + (size_t)r * dim);
    float ss = 0;
    for (int i = threadIdx.x; i < dim / 4; i += 256) {
        float4 v = x4[i];
        ss += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
    }
    ss = warp_sum(ss);
    if (lane == 0) red[warp] = ss;
    __syncthreads();
    ss = 0;
    for (int i = 0; i < 8; i++) ss += red[i];
    const float sc = rsqrtf(ss / (float)dim + eps);
    const float4 *w4 = reinterpret_cast<const float4 *>(w);
    uint2 *o = reinterpret_cast<uint2 *>(out + (size_t)r * dim);
    for (int i = threadIdx.x; i < dim / 4; i += 256) {
        float4 v = x4[i], g = w4[i];
        o[i] = make_uint2(Ty<T>::pack(v.x * sc * g.x, v.y * sc * g.y), Ty<T>::pack(v.z * sc * g.z, v.w * sc * g.w));
    }
}

/* Qwen3's q/k norm: an RMSNorm over each head of q and of the new k (weights
 * q_norm / k_norm, in the device's row order), then RoPE. The QKV epilogue
 * left q (in e's q destination) and k (in the cache) biased but unrotated; a
 * norm needs a whole head, which no matrix kernel's epilogue holds. One warp
 * per (head, row): heads 0 .. n_heads-1 are q, the next n_kv are k. Runs
 * where k_attn does not do this itself (prefill, k_attn_group). */
template <class T>
__global__ void __launch_bounds__(32)
    k_qk_norm(Epi e, const float *__restrict__ qn, const float *__restrict__ kn, float eps, int n_heads) {
    const int h = blockIdx.x, r = blockIdx.y, lane = threadIdx.x, hd = e.hd;
    pdl_wait();
    pdl_trigger();
    const int pos = row_pos(e.rows, r);
    if (pos < 0) return; /* idle sequence */
    float *pf = NULL;
    T *pt = NULL;
    const float *w = h < n_heads ? qn : kn;
    if (h < n_heads) {
        if (e.f) pf = e.f + (size_t)r * e.ldf + (size_t)h * hd;
        else pt = (T *)e.t + (size_t)r * e.ldt + (size_t)h * hd;
    } else {
        const int n_kv = e.kv_dim / hd;
        pt = (T *)e.kc + (((size_t)row_seq(e.rows, r) * n_kv + (h - n_heads)) * e.ctx + pos) * hd;
    }
    float ss = 0;
    for (int d = 2 * lane; d < hd; d += 64) {
        const float2 v = pf ? *reinterpret_cast<const float2 *>(pf + d) : Ty<T>::f2(*reinterpret_cast<const uint32_t *>(pt + d));
        ss += v.x * v.x + v.y * v.y;
    }
    const float rs = rsqrtf(warp_sum(ss) / (float)hd + eps);
    for (int d = 2 * lane; d < hd; d += 64) {
        float2 v = pf ? *reinterpret_cast<const float2 *>(pf + d) : Ty<T>::f2(*reinterpret_cast<const uint32_t *>(pt + d));
        const float v0 = v.x * rs * w[d], v1 = v.y * rs * w[d + 1];
        float sn, cs;
        sincosf((float)pos * e.inv_freq[d >> 1], &sn, &cs);
        v = rope_pair(v0, v1, cs, sn);
        if (pf) *reinterpret_cast<float2 *>(pf + d) = v;
        else *reinterpret_cast<uint32_t *>(pt + d) = Ty<T>::pack(v.x, v.y);
    }
}

/* How the rows of a weight tensor are placed on the device (see the file
 * comment): as they are; within each head of hd rows, row i at 2i for
 * i < hd/2 and at 2(i - hd/2) + 1 after (q and k); row r at 2r or 2r + 1
 * (gate and up). */
enum { PLACE_ROWS, PLACE_ROPE, PLACE_EVEN, PLACE_ODD };

template <class D> __device__ __forceinline__ D from_f32(float v) { return Ty<D>::from(v); }
template <> __device__ __forceinline__ float from_f32<float>(float v) { return v; }

/* src (rows x cols of type sdtype, as read from the file) -> dst in D. */
template <class D>
__global__ void k_place(const void *__restrict__ src, int sdtype, int64_t rows, int cols, D *__restrict__ dst, int how,
                        int hd) {
    const int64_t n = rows * cols;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t r = i / cols, c = i - r * cols, j = hd ? r % hd : 0;
        const int64_t d = how == PLACE_ROPE ? r - j + (j < hd / 2 ? 2 * j : 2 * (j - hd / 2) + 1)
                        : how == PLACE_EVEN ? 2 * r
                        : how == PLACE_ODD  ? 2 * r + 1
                                            : r;
        float v;
        if (sdtype == LLORCH_F32) v = reinterpret_cast<const float *>(src)[i];
        else if (sdtype == LLORCH_BF16) v = __uint_as_float((uint32_t)reinterpret_cast<const uint16_t *>(src)[i] << 16);
        else v = __half2float(reinterpret_cast<const f16 *>(src)[i]);
        dst[d * cols + c] = from_f32<D>(v);
    }
}

/* ======================================================================== */
/* Sampling on the device                                                    */
/* ======================================================================== */
/* Two kernels: k_sample_chunks (128 blocks a row, each a chunk of the
 * vocabulary; see "Sampling on chunks" below), then k_sample (a block of 1024
 * threads a row), which writes the chosen id; only the id leaves the GPU.
 * Mirrors llorch_sample_logits: repetition penalty over the distinct tokens
 * of the history, greedy argmax (lowest index on ties), or unnormalised
 * probabilities e = exp((l - max) / T), a top-k threshold (the k-th largest
 * e), a top-p threshold (the largest tau whose mass {e >= tau} reaches top_p
 * of the kept mass), both by radix_select on a row's own path and by
 * select_quadratic among the few tokens at a cut's bin on chunks, and the
 * first kept index, in index order, whose running sum exceeds
 * u * (kept mass). */
#define SAMPLE_THREADS 1024
#define SAMPLE_CHUNKS 128     /* chunks of a row's vocabulary, each read by a block of its own */
#define SAMPLE_CHUNK_MAX 4096 /* tokens of a chunk, at most (their penalty bits in shared memory) */
/* threads of a k_sample_chunks block: 512 for one sequence (0.6-1.9 us
   less a sampled Qwen2.5-0.5B step than 256, as many as still fit beside
   lm_head's blocks; 128 was slower), 256 for several (512: 64 sampled
   sequences 1.6-1.7% slower) */
#define SAMPLE_SUM_THREADS 256
#define SAMPLE_SUM_THREADS_ONE 512
#define SAMPLE_SUM_ROWS 8     /* rows of blocks k_sample_chunks launches; each takes every 8th row */
#define SAMPLE_CHUNK_ROWS 64  /* more rows than this sample a block a row (measured faster at 256) */

struct SampleArgs {
    const float *logits;
    int vocab;
    const float2 *amax; /* per-block (max, index) from the lm_head GEMV, or NULL */
    int n_amax;
    int rows;
    const int *pos;     /* per row; -1 idle */
    const int *seq;     /* per row: its sequence (the history to penalize) */
    const llorch_sample_params *sp;
    const int *hist;
    int ctx;
    float *work;        /* per row: wstride floats (see sample_scratch) */
    int wstride;
    unsigned *seen;
    int *next;          /* chosen ids: on the device (the next step's input), */
    int *next_host;     /* and in pinned host memory (the host reads them) */
};

/* Block-wide reductions, the result in all threads: each warp reduces its
 * lanes, then every warp reduces the warps' results with shuffles (not a
 * loop over them in every thread: at 1024 threads that loop was most of a
 * reduction's cost). */

/* Argmax with the lowest index on ties. */
__device__ __forceinline__ void warp_argmax(float &v, int &i) {
#pragma unroll
    for (int o = 16; o; o >>= 1) {
        const float v2 = __shfl_xor_sync(0xffffffffu, v, o);
        const int i2 = __shfl_xor_sync(0xffffffffu, i, o);
        if (v2 > v || (v2 == v && i2 < i)) v = v2, i = i2;
    }
}
__device__ void block_argmax(float &v, int &i) {
    __shared__ float sv[32];
    __shared__ int si[32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    warp_argmax(v, i);
    __syncthreads();
    if (lane == 0) sv[warp] = v, si[warp] = i;
    __syncthreads();
    v = lane < nw ? sv[lane] : -INFINITY;
    i = lane < nw ? si[lane] : 0x7fffffff;
    warp_argmax(v, i);
}

/* Each warp reduces its lanes with warp_op, then warp_op reduces the warps'
 * results (`none` fills the lanes past the last warp). */
template <class X, class WarpOp> __device__ __forceinline__ X block_reduce(X v, X none, WarpOp warp_op) {
    __shared__ X sv[32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_op(v);
    __syncthreads();
    if (lane == 0) sv[warp] = v;
    __syncthreads();
    return warp_op(lane < nw ? sv[lane] : none);
}
__device__ float block_sum(float v) { return block_reduce(v, 0.0f, [](float x) { return warp_sum(x); }); }
__device__ float block_max(float v) { return block_reduce(v, -INFINITY, [](float x) { return warp_max(x); }); }
__device__ int block_min_int(int v) {
    return block_reduce(v, 0x7fffffff, [](int x) { return __reduce_min_sync(0xffffffffu, x); });
}

/* Inclusive prefix sums over a warp's lanes: lane l gets the sum of lanes 0..l. */
template <class X> __device__ __forceinline__ X lane_prefix(X v) {
    const int lane = threadIdx.x & 31;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
        const X y = __shfl_up_sync(0xffffffffu, v, o);
        if (lane >= o) v += y;
    }
    return v;
}

/* Suffix sums over the 32 lanes of warp 0: lane l gets the sum of lanes l..31. */
template <class X> __device__ __forceinline__ X lane_suffix(X v) {
    const int lane = threadIdx.x & 31;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
        const X y = __shfl_down_sync(0xffffffffu, v, o);
        if (lane + o < 32) v += y;
    }
    return v;
}

/* Exclusive prefix sum over the block's threads (the warps' sums added in
 * warp order). */
__device__ float block_exscan(float v, float *total) {
    __shared__ float sv[32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    const float incl = lane_prefix(v);
    __syncthreads();
    if (lane == 31) sv[warp] = incl;
    __syncthreads();
    const float w = lane < nw ? sv[lane] : 0.0f, warps = lane_prefix(w);
    *total = __shfl_sync(0xffffffffu, warps, 31);
    return __shfl_sync(0xffffffffu, warps - w, warp) + incl - v;
}

/* The largest tau with measure{e >= tau, e >= lo} >= target, where the
 * measure is the count (by_mass false: tau is the target-th largest) or the
 * sum of e; all e >= 0, so their float bits order them. Each pass counts the
 * elements still in [kmin, kmax] (float bits) in up to SELECT_BINS bins
 * spread over that range and keeps the first non-empty bin from the top
 * where the measure reaches the target (none, by rounding: the lowest
 * non-empty one, which keeps everything). Spreading the bins over the range
 * keeps values that lie close together apart: fixed 8-bit digits of the
 * bits put a flat distribution's 152k weights in a few bins, whose shared
 * memory atomics then serialize (most of a top-p draw's cost). */
#define SELECT_LOG 10
#define SELECT_BINS (1 << SELECT_LOG) /* <= the block's threads: a thread per bin in the scan */
__device__ __noinline__ float radix_select(const float *e, int n, float lo, bool by_mass, float target) {
    __shared__ unsigned hc[SELECT_BINS];
    __shared__ float hm[SELECT_BINS];
    __shared__ int s_bin;
    __shared__ float s_above;
    const int tid = threadIdx.x, nt = blockDim.x;
    int kmin = 0x7fffffff, kmax = -1;
    for (int i = tid; i < n; i += nt) {
        const float v = e[i];
        if (v >= lo) kmin = min(kmin, __float_as_int(v)), kmax = max(kmax, __float_as_int(v));
    }
    kmin = block_min_int(kmin);
    kmax = -block_min_int(-kmax);
    if (kmax < kmin) return lo; /* nothing at or above lo */
    float above = 0;
    while (kmax > kmin) {
        const unsigned range = (unsigned)(kmax - kmin);
        const int shift = max(0, 32 - __clz(range) - SELECT_LOG), nb = (int)(range >> shift) + 1;
        for (int i = tid; i < nb; i += nt) hc[i] = 0, hm[i] = 0;
        __syncthreads();
        for (int i = tid; i < n; i += nt) {
            const float v = e[i];
            const int k = __float_as_int(v);
            if (v >= lo && k >= kmin && k <= kmax) {
                const int bin = (k - kmin) >> shift;
                atomicAdd(&hc[bin], 1u);
                if (by_mass) atomicAdd(&hm[bin], v);
            }
        }
        __syncthreads();
        const int bin = nb - 1 - tid; /* thread t: the t-th bin from the top */
        const bool full = bin >= 0 && hc[bin] > 0;
        const float mine = bin < 0 ? 0.0f : by_mass ? hm[bin] : (float)hc[bin];
        float all;
        const float before = above + block_exscan(mine, &all);
        const int first = block_min_int(full && before + mine >= target ? tid : 0x7fffffff);
        const int chosen = first != 0x7fffffff ? first : -block_min_int(full ? -tid : 1);
        if (tid == chosen) s_bin = bin, s_above = before;
        __syncthreads();
        kmin += s_bin << shift;
        kmax = min(kmax, kmin + ((1 << shift) - 1));
        above = s_above;
        __syncthreads();
    }
    return __int_as_float(kmin);
}

/* The candidates of the top-k / top-p cuts: bins of e's top 12 bits (1/8
 * of an octave; e <= 1, so bins 0 .. 1016), counted (and weighed, for top-p)
 * in one pass; from the top bin down, the first bin where the count reaches
 * k (with top-k: its survivors are all at or above that bin), or else the
 * mass reaches top_p of the total (and one bin more, for rounding). The
 * tokens at or above it go, in index order, to cv (e) and ci (index): a warp
 * per contiguous chunk, counted, then written at the chunk's offset. Returns
 * how many, or -1 when more than SAMPLE_CAND (the caller then works on the
 * whole vocabulary); *total gets the mass of the whole vocabulary. */
#define SAMPLE_CAND 2048
#define SAMPLE_BINS 1024
__device__ __noinline__ int sample_candidates(const float *e, int V, int k, float top_p, float *cv, int *ci, float *total) {
    __shared__ unsigned hc[SAMPLE_BINS];
    __shared__ float hm[SAMPLE_BINS];
    __shared__ int s_bin, s_n;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, nw = blockDim.x >> 5;
    const bool by_mass = k <= 0;
    for (int i = tid; i < SAMPLE_BINS; i += blockDim.x) hc[i] = 0, hm[i] = 0;
    __syncthreads();
    float all = 0;
    for (int i = tid; i < V; i += blockDim.x) {
        const float v = e[i];
        const unsigned bin = min(__float_as_uint(v) >> 20, (unsigned)SAMPLE_BINS - 1);
        atomicAdd(&hc[bin], 1u);
        if (by_mass) atomicAdd(&hm[bin], v);
        all += v;
    }
    *total = block_sum(all); /* (its barriers also order the histogram) */
    if (warp == 0) {
        constexpr int PER = SAMPLE_BINS / 32;
        unsigned mine = 0;
        float mass = 0;
        for (int j = 0; j < PER; j++) mine += hc[PER * lane + j], mass += hm[PER * lane + j];
        const unsigned incl = lane_suffix(mine);
        const float incl_m = lane_suffix(mass), target = top_p * *total;
        const unsigned hit = __ballot_sync(0xffffffffu, by_mass ? incl_m >= target : incl >= (unsigned)k);
        const int at = hit ? 31 - __clz(hit) : 0;
        if (lane == at) {
            unsigned cum = incl - mine;
            float cm = incl_m - mass;
            int d = PER * lane + PER - 1;
            for (; d > PER * lane; d--) {
                if (by_mass ? cm + hm[d] >= target : cum + hc[d] >= (unsigned)k) break;
                cum += hc[d], cm += hm[d];
            }
            if (by_mass && d > 0) d--; /* one bin lower: the sums above are rounded */
            s_bin = d;
        }
    }
    __syncthreads();
    const unsigned bound = (unsigned)s_bin;
    /* each warp's count in its chunk, then the offsets */
    const int chunk = ((V + nw - 1) / nw + 31) & ~31, c0 = min(V, warp * chunk), c1 = min(V, c0 + chunk);
    int count = 0;
    for (int i0 = c0; i0 < c1; i0 += 32) {
        const int i = i0 + lane;
        count += __popc(__ballot_sync(0xffffffffu, i < c1 && min(__float_as_uint(e[i]) >> 20, (unsigned)SAMPLE_BINS - 1) >= bound));
    }
    float n_all;
    int at = (int)__shfl_sync(0xffffffffu, block_exscan(lane == 0 ? (float)count : 0.0f, &n_all), 0);
    if (tid == 0) s_n = (int)n_all;
    __syncthreads();
    const int n = s_n;
    if (n > SAMPLE_CAND) return -1;
    for (int i0 = c0; i0 < c1; i0 += 32) {
        const int i = i0 + lane;
        const float v = i < c1 ? e[i] : 0.0f;
        const bool in = i < c1 && min(__float_as_uint(v) >> 20, (unsigned)SAMPLE_BINS - 1) >= bound;
        const unsigned take = __ballot_sync(0xffffffffu, in);
        if (in) {
            const int p = at + __popc(take & ((1u << lane) - 1));
            cv[p] = v, ci[p] = i;
        }
        at += __popc(take);
    }
    __syncthreads();
    return n;
}

/* What a row's parameters ask of the sampler (the same tests as
 * llorch_sample_logits). */
struct SampleMode {
    bool pen, greedy, cut_k, cut_p;
    bool chunks; /* sampled from what k_sample_chunks leaves (see there) */
};
__device__ __forceinline__ SampleMode sample_mode(const SampleArgs &a, const llorch_sample_params &sp) {
    SampleMode m;
    m.pen = sp.repetition_penalty > 0 && sp.repetition_penalty != 1.0f;
    m.greedy = !(sp.temperature > 0) || sp.top_p == 0; /* top_p 0 keeps one token */
    m.cut_k = sp.top_k > 0 && sp.top_k < a.vocab;
    m.cut_p = sp.top_p > 0 && sp.top_p < 1;
    m.chunks = !m.greedy && a.vocab >= 8 * SAMPLE_CHUNKS && a.vocab <= SAMPLE_CHUNKS * SAMPLE_CHUNK_MAX &&
               a.rows <= SAMPLE_CHUNK_ROWS;
    return m;
}

/* A logit's weight exp((x - max) / T); the largest weigh exactly 1, so there
 * is no 0 * inf when 1/T overflows. */
__device__ __forceinline__ float sample_weight(float x, float mx, float inv_t) {
    return x == mx ? 1.0f : expf((x - mx) * inv_t);
}

/* The largest logit, from the lm_head GEMV's per-block (max, index). */
__device__ __forceinline__ float2 sample_amax(const SampleArgs &a) {
    float v = -INFINITY;
    int bi = 0x7fffffff;
    for (int j = threadIdx.x; j < a.n_amax; j += blockDim.x) {
        const float2 c = a.amax[j];
        const int i = __float_as_int(c.y);
        if (c.x > v || (c.x == v && i < bi)) v = c.x, bi = i;
    }
    block_argmax(v, bi);
    return make_float2(v, __int_as_float(bi));
}

/* The cut (tau) of the top-k and top-p parameters over the weights
 * cv[0..n), which hold every token either may keep; total: their sum, or
 * < 0 when unknown. */
__device__ float sample_tau(const float *cv, int n, const SampleMode &m, const llorch_sample_params &sp, float total) {
    float tau = 0;
    if (m.cut_k) tau = radix_select(cv, n, 0.0f, false, (float)sp.top_k);
    if (m.cut_p) {
        if (m.cut_k || total < 0) { /* the mass the top-k cut keeps */
            float kept = 0;
            for (int i = threadIdx.x; i < n; i += blockDim.x) kept += cv[i] >= tau ? cv[i] : 0.0f;
            total = block_sum(kept);
        }
        tau = radix_select(cv, n, tau, true, sp.top_p * total);
    }
    return tau;
}

/* ------------------------------------------------------------------------ */
/* Sampling on chunks of the vocabulary                                      */
/* ------------------------------------------------------------------------ */
/* Rows of at most SAMPLE_CHUNK_ROWS rows that are not greedy. k_sample_chunks
 * spreads the reading of the logits over SAMPLE_CHUNKS blocks a row: each
 * takes a contiguous chunk, applies the repetition penalty and leaves its
 * largest logit m and the sum of exp((x - m) / T); for the cuts also its
 * heaviest tokens, at most SAMPLE_EMIT, in index order, with how deep on the
 * weight grid below they reach. k_sample merges them: without cuts it walks
 * only the chunk where the running sum crosses u * total; with cuts it finds
 * the cut among the chunks' heaviest tokens, which hold every token the cut
 * keeps when the cut lies above the depth every chunk reaches (one block
 * reading all 152k logits, and selecting among them, was most of the
 * sampler's cost). */

/* Chunk c of SAMPLE_CHUNKS contiguous chunks of the vocabulary. */
__device__ __forceinline__ int sample_chunk_start(int c, int V) { return (int)((long long)c * V / SAMPLE_CHUNKS); }

/* The weight grid: exp((x - M) / T) falls by half an octave per unit of
 * x * s, s = 2 log2(e) / T. A token's bin is how many units floor(x * s)
 * lies below its chunk's largest logit (k_sample_chunks) or its row's
 * (k_sample); the units are exact integers in float while |x * s| < 2^22,
 * which k_sample checks. Tokens two bins apart differ in weight by more than
 * half an octave, so no rounding makes them equal. */
#define SAMPLE_WIN 128 /* bins counted: 64 octaves of weight */
#define SAMPLE_EMIT 32 /* tokens a chunk leaves for the cuts, at most */
#define SAMPLE_SUBH 16 /* copies of the cuts' histogram */
#define SAMPLE_DEEP (1 << 20) /* the depth of a chunk that left all its tokens */
__device__ __forceinline__ float grid_scale(float inv_t) { return inv_t * 2.88539008f; }
__device__ __forceinline__ float grid_at(float x, float s) { return floorf(x * s); }

/* Row b's part of the sampler's work buffer: per chunk (largest logit, sum),
 * its depth (every token in its bins 0 .. depth was left) and how many it
 * left, then the tokens (penalized logit, index). */
#define SAMPLE_SCRATCH (4 * SAMPLE_CHUNKS + 2 * SAMPLE_CHUNKS * SAMPLE_EMIT)
struct SampleScratch {
    float *pairs;
    int *depth, *left;
    float *x;
    int *idx;
};
__device__ __forceinline__ SampleScratch sample_scratch(const SampleArgs &a, int b) {
    float *p = a.work + (size_t)b * a.wstride;
    SampleScratch s;
    s.pairs = p;
    s.depth = (int *)(p + 2 * SAMPLE_CHUNKS);
    s.left = s.depth + SAMPLE_CHUNKS;
    s.x = p + 4 * SAMPLE_CHUNKS;
    s.idx = (int *)(s.x + SAMPLE_CHUNKS * SAMPLE_EMIT);
    return s;
}

/* The logits of tokens n0 .. n1 of row b with the repetition penalty applied
 * once to every distinct token of its history (bits: a shared-memory bitmap
 * of tokens n0 .. n1). */
struct ChunkLogits {
    const float *src;
    const unsigned *bits; /* NULL: no penalty */
    int n0;
    float rp;
    __device__ __forceinline__ float operator()(int i) const {
        const float x = src[i];
        if (!bits || !((bits[(i - n0) >> 5] >> ((i - n0) & 31)) & 1u)) return x;
        return x > 0 ? x / rp : x * rp;
    }
};
__device__ ChunkLogits sample_chunk_logits(const SampleArgs &a, int b, int pos, const llorch_sample_params &sp,
                                           bool pen, int n0, int n1, unsigned *bits) {
    ChunkLogits l = {a.logits + (size_t)b * a.vocab, NULL, n0, sp.repetition_penalty};
    if (!pen) return l;
    for (int i = threadIdx.x; i < (n1 - n0 + 31) / 32; i += blockDim.x) bits[i] = 0;
    __syncthreads();
    const int *hist = a.hist + (size_t)a.seq[b] * a.ctx;
    for (int j = threadIdx.x; j <= pos; j += blockDim.x) {
        const int t = hist[j];
        if (t >= n0 && t < n1) atomicOr(&bits[(t - n0) >> 5], 1u << ((t - n0) & 31));
    }
    __syncthreads();
    l.bits = bits;
    return l;
}

/* A chunk's heaviest tokens: those in its bins 0 .. depth, the deepest bin
 * that keeps them within SAMPLE_EMIT (hc: the chunk's bin counts), written
 * in index order (each warp a contiguous part: counted, then written at its
 * offset). Returns the depth. */
__device__ int sample_emit(const ChunkLogits &logit, int n0, int n1, float top, float s, const unsigned *hc,
                           float *out_x, int *out_i, int *left) {
    __shared__ int s_depth, s_warp[32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    if (warp == 0) {
        constexpr int PER = SAMPLE_WIN / 32;
        unsigned c[PER], part = 0;
#pragma unroll
        for (int q = 0; q < PER; q++) c[q] = hc[PER * lane + q], part += c[q];
        unsigned cum = lane_prefix(part) - part, fit = 0; /* bins, from the top, within SAMPLE_EMIT */
#pragma unroll
        for (int q = 0; q < PER; q++) fit += (cum += c[q]) <= SAMPLE_EMIT;
        fit = __reduce_add_sync(0xffffffffu, fit);
        if (lane == 0) s_depth = n1 - n0 <= SAMPLE_EMIT ? SAMPLE_DEEP : (int)fit - 1;
    }
    __syncthreads();
    const int depth = s_depth;
    const int part = ((n1 - n0 + nw - 1) / nw + 31) & ~31, c0 = min(n1, n0 + warp * part), c1 = min(n1, c0 + part);
    auto in = [&](int i) { return i < c1 && top - grid_at(logit(i), s) <= (float)depth; };
    int count = 0;
    for (int i0 = c0; i0 < c1; i0 += 32) count += __popc(__ballot_sync(0xffffffffu, in(i0 + lane)));
    if (lane == 0) s_warp[warp] = count;
    __syncthreads();
    int at = 0, all = 0;
    for (int w = 0; w < nw; w++) at += w < warp ? s_warp[w] : 0, all += s_warp[w];
    for (int i0 = c0; i0 < c1; i0 += 32) {
        const int i = i0 + lane;
        const bool t = in(i);
        const unsigned take = __ballot_sync(0xffffffffu, t);
        if (t) {
            const int p = at + __popc(take & ((1u << lane) - 1));
            out_x[p] = logit(i), out_i[p] = i;
        }
        at += __popc(take);
    }
    if (threadIdx.x == 0) *left = all;
    return depth;
}

/* Each block takes chunk blockIdx.x of every SAMPLE_SUM_ROWS-th row from
 * blockIdx.y (a bounded grid: a block per chunk and row cost 1.5% of a
 * 256-row greedy step in launches), and reads at once which of its rows
 * sample on chunks. */
template <int NT> __global__ void __launch_bounds__(NT) k_sample_chunks(SampleArgs a) {
    __shared__ unsigned bits[SAMPLE_CHUNK_MAX / 32];
    __shared__ unsigned hc[SAMPLE_WIN];
    __shared__ bool wants[SAMPLE_CHUNK_ROWS / SAMPLE_SUM_ROWS];
    pdl_wait();
    pdl_trigger();
    if (a.rows > SAMPLE_CHUNK_ROWS) return;
    const int c = blockIdx.x, tid = threadIdx.x;
    const int n0 = sample_chunk_start(c, a.vocab), n1 = sample_chunk_start(c + 1, a.vocab);
    if (tid < SAMPLE_CHUNK_ROWS / SAMPLE_SUM_ROWS) {
        const int b = blockIdx.y + tid * gridDim.y;
        wants[tid] = b < a.rows && a.pos[b] >= 0 && sample_mode(a, a.sp[b]).chunks;
    }
    __syncthreads();
    for (int j = 0; j < SAMPLE_CHUNK_ROWS / SAMPLE_SUM_ROWS; j++) {
        if (!wants[j]) continue;
        const int b = blockIdx.y + j * gridDim.y, pos = a.pos[b];
        const llorch_sample_params sp = a.sp[b];
        const SampleMode mode = sample_mode(a, sp);
        const bool cuts = mode.cut_k || mode.cut_p;
        const ChunkLogits logit = sample_chunk_logits(a, b, pos, sp, mode.pen, n0, n1, bits);
        float m = -INFINITY;
        for (int i = n0 + tid; i < n1; i += blockDim.x) m = fmaxf(m, logit(i));
        if (cuts)
            for (int i = tid; i < SAMPLE_WIN; i += blockDim.x) hc[i] = 0;
        m = block_max(m); /* (its barriers also order the clearing) */
        const float inv_t = 1.0f / sp.temperature, s = grid_scale(inv_t), top = grid_at(m, s);
        float sum = 0;
        for (int i = n0 + tid; i < n1; i += blockDim.x) {
            const float x = logit(i), d = top - grid_at(x, s);
            sum += sample_weight(x, m, inv_t);
            if (cuts && d < SAMPLE_WIN) atomicAdd(&hc[(int)d], 1u); /* (NaN: not counted) */
        }
        sum = block_sum(sum); /* (its barriers also order the histogram) */
        const SampleScratch sc = sample_scratch(a, b);
        if (cuts) {
            const int depth = sample_emit(logit, n0, n1, top, s, hc, sc.x + c * SAMPLE_EMIT,
                                          sc.idx + c * SAMPLE_EMIT, sc.left + c);
            if (tid == 0) sc.depth[c] = depth;
        }
        if (tid == 0) sc.pairs[2 * c] = m, sc.pairs[2 * c + 1] = sum;
        __syncthreads(); /* before the next row clears the histogram */
    }
}

__device__ __forceinline__ void put_next(const SampleArgs &a, int b, int id) {
    a.next[b] = id;
    a.next_host[b] = id;
}

/* A row's chunks, merged by k_sample. */
struct RowChunks {
    float M, total;               /* the largest (penalized) logit, the sum of all weights */
    int deep;                     /* cuts: every token in the row's bins 0 .. deep was left by its chunk */
    float mass[SAMPLE_CHUNKS];    /* each chunk's weight */
    unsigned count[SAMPLE_WIN];   /* cuts: the left tokens' histogram below M */
    float bmass[SAMPLE_WIN];
};

/* M, the chunks' weights rescaled to it, their total, and (cuts) the depth
 * of the bins below M that every chunk's left tokens cover: a chunk's own
 * depth plus how far its top bin lies below M's. */
__device__ void sample_row_sums(const SampleScratch &sc, float inv_t, bool cuts, RowChunks &h) {
    constexpr int PER = SAMPLE_CHUNKS / 32;
    if (threadIdx.x < 32) { /* one warp: no block-wide barriers on the way */
        const int lane = threadIdx.x;
        float mc[PER], sum[PER], top = -INFINITY, part = 0;
        int depth[PER], deep = SAMPLE_DEEP;
#pragma unroll
        for (int q = 0; q < PER; q++) {
            const int c = PER * lane + q;
            mc[q] = __ldcg(sc.pairs + 2 * c), sum[q] = __ldcg(sc.pairs + 2 * c + 1);
            depth[q] = cuts ? __ldcg(sc.depth + c) : 0;
            top = fmaxf(top, mc[q]);
        }
        const float M = warp_max(top), s = grid_scale(inv_t);
#pragma unroll
        for (int q = 0; q < PER; q++) {
            h.mass[PER * lane + q] = sum[q] *= sample_weight(mc[q], M, inv_t);
            part += sum[q];
            const float below = grid_at(M, s) - grid_at(mc[q], s); /* (>= 0; NaN, inf: a chunk of -inf) */
            if (below < (float)SAMPLE_WIN) deep = min(deep, (int)below + min(depth[q], SAMPLE_WIN));
        }
        const float total = warp_sum(part);
        deep = __reduce_min_sync(0xffffffffu, deep);
        if (lane == 0) h.M = M, h.total = total, h.deep = deep;
    }
    __syncthreads();
}

/* The first bin from the top (M's) where the count (by_mass false) or the
 * mass reaches target, in every thread; -1: none within the window. *above:
 * the measure of the bins above it. */
__device__ int sample_cut_bin(const RowChunks &h, bool by_mass, float target, float *above) {
    __shared__ int s_bin;
    __shared__ float s_above;
    constexpr int PER = SAMPLE_WIN / 32;
    if (threadIdx.x < 32) {
        const int lane = threadIdx.x;
        float v[PER], part = 0;
#pragma unroll
        for (int q = 0; q < PER; q++) v[q] = by_mass ? h.bmass[PER * lane + q] : (float)h.count[PER * lane + q], part += v[q];
        const float incl = lane_prefix(part);
        const unsigned hit = __ballot_sync(0xffffffffu, incl >= target);
        if (lane == (hit ? __ffs(hit) - 1 : 0)) {
            int bin = hit ? PER * lane + PER - 1 : -1; /* (rounding: the lane's last bin) */
            float run = incl - part, before = run;
            for (int q = 0; hit && q < PER; q++) {
                before = run;
                if ((run += v[q]) >= target) {
                    bin = PER * lane + q;
                    break;
                }
            }
            s_bin = bin;
            s_above = before;
        }
    }
    __syncthreads();
    const int bin = s_bin;
    *above = s_above;
    __syncthreads();
    return bin;
}

/* A chunk found by sample_find_chunk. */
struct ChunkFound {
    int c;
    float before, total; /* the mass before it and of all */
};

/* The chunk whose running mass crosses u * total, in every thread (mass:
 * SAMPLE_CHUNKS chunks' masses). Rounding past the end: the last chunk with
 * mass. */
__device__ ChunkFound sample_find_chunk(const float *mass, float u) {
    __shared__ ChunkFound s_found;
    constexpr int PER = SAMPLE_CHUNKS / 32;
    if (threadIdx.x < 32) {
        const int lane = threadIdx.x;
        float mine[PER], part = 0;
#pragma unroll
        for (int j = 0; j < PER; j++) mine[j] = mass[lane * PER + j], part += mine[j];
        const float incl = lane_prefix(part);
        const float total = __shfl_sync(0xffffffffu, incl, 31), r = u * total;
        const unsigned over = __ballot_sync(0xffffffffu, incl > r), some = __ballot_sync(0xffffffffu, part > 0);
        const int at = over ? __ffs(over) - 1 : some ? 31 - __clz(some) : 31;
        if (lane == at) {
            float run = incl - part, before = 0, last_before = run;
            int c = -1, last = lane * PER;
#pragma unroll
            for (int j = 0; j < PER; j++) {
                if (mine[j] > 0) last = lane * PER + j, last_before = run;
                if (c < 0 && over && run + mine[j] > r) c = lane * PER + j, before = run;
                run += mine[j];
            }
            if (c < 0) c = last, before = last_before;
            s_found = {c, before, total};
        }
    }
    __syncthreads();
    const ChunkFound f = s_found;
    __syncthreads();
    return f;
}

/* The first index of [lo, hi), in index order, whose weight wt(i) is kept
 * (>= tau) and whose running sum, from base, exceeds u * total (total < 0:
 * the kept mass of [lo, hi)); rounding past the end: the last kept index;
 * none kept: -1. Warp w owns a contiguous part, read 32 elements at a time
 * (coalesced); the part holding the target walks it with warp scans. */
template <class W> __device__ int sample_walk(const W &wt, int lo, int hi, float tau, float base, float u, float total) {
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, nw = blockDim.x / 32;
    const int chunk = ((hi - lo + nw - 1) / nw + 31) & ~31, c0 = min(hi, lo + warp * chunk), c1 = min(hi, c0 + chunk);
    float local = 0;
    int lastkept = -1;
    for (int i = c0 + lane; i < c1; i += 32) {
        const float x = wt(i);
        if (x >= tau) local += x, lastkept = i;
    }
    local = warp_sum(local);
    float kept_all;
    const float before = base + __shfl_sync(0xffffffffu, block_exscan(lane == 0 ? local : 0.0f, &kept_all), 0);
    const float r = u * (total < 0 ? kept_all : total);
    int cand = 0x7fffffff;
    if (before <= r && r < before + local) { /* (the same sums as the scan's: one warp at most) */
        float run = before;
        int last = -1;
        for (int i0 = c0; i0 < c1; i0 += 32) {
            const int i = i0 + lane;
            const float xi = i < c1 ? wt(i) : 0.0f;
            const bool kept = i < c1 && xi >= tau;
            const float incl = lane_prefix(kept ? xi : 0.0f);
            const unsigned over = __ballot_sync(0xffffffffu, kept && run + incl > r), any = __ballot_sync(0xffffffffu, kept);
            if (over) {
                cand = i0 + __ffs(over) - 1;
                break;
            }
            if (any) last = i0 + 31 - __clz(any);
            run += __shfl_sync(0xffffffffu, incl, 31);
        }
        if (cand == 0x7fffffff) cand = last; /* rounding: the part's last kept index */
    }
    cand = block_min_int(cand);
    if (cand == 0x7fffffff) cand = -block_min_int(-lastkept); /* the last kept index */
    return cand;
}

/* The largest v of bv[0..nb) (shared memory, nb <= the block's threads) with
 * measure{bv >= v, bv >= lo} >= target, where the measure is the count or
 * above + the mass; none (rounding): the smallest v >= lo, which keeps them
 * all. By the definition itself: each thread measures one element against
 * all (read as broadcasts, in index order): nb^2 steps but no passes, so
 * only for the few tokens at a cut's bin. */
__device__ float select_quadratic(const float *bv, int nb, float lo, bool by_mass, float above, float target) {
    const int i = threadIdx.x;
    const float v = i < nb ? bv[i] : -1.0f;
    float ge = by_mass ? above : 0.0f;
    if (i - (i & 31) < nb) /* (warps without an element skip it) */
        for (int j = 0; j < nb; j++) ge += bv[j] >= v && bv[j] >= lo ? (by_mass ? bv[j] : 1.0f) : 0.0f;
    const bool in = i < nb && v >= lo;
    const float t = block_max(in && ge >= target ? v : -1.0f);
    return t >= 0 ? t : -block_max(in ? -v : -INFINITY);
}

/* The candidates cv[0..n) (two a thread) for which keep(value, bin) holds,
 * in order, to bv (the first SAMPLE_THREADS of them); returns how many. */
template <class K> __device__ int sample_compact(const float *cv, const unsigned short *cb, int n, float *bv, const K &keep) {
    const int i = 2 * threadIdx.x;
    const bool k0 = i < n && keep(cv[i], cb[i]), k1 = i + 1 < n && keep(cv[i + 1], cb[i + 1]);
    float all;
    const int at = (int)block_exscan((float)(k0 + k1), &all);
    if (k0 && at < SAMPLE_THREADS) bv[at] = cv[i];
    if (k1 && at + k0 < SAMPLE_THREADS) bv[at + k0] = cv[i + 1];
    __syncthreads();
    return (int)all;
}

/* The cuts on chunks, from the tokens the chunks left: their histogram on
 * the row's grid gives the bin where the count reaches k (top-k) or the mass
 * top_p of the total (top-p alone). Where that bin and the next lie within
 * the depth every chunk covers, the left tokens of the bins down to the
 * next hold every token the cut keeps, and every token that may weigh the
 * same as the last kept after rounding; they go, in index order, to cv, ci
 * (and their bins to cb). The exact cut is then found among the tokens of
 * the cut's bins only (and of the bins either side, for top-p: the
 * histogram's sums are rounded), those above it counted; top-p after top-k
 * among the tokens top-k keeps. Returns the id, or -1 (the cut lies deeper,
 * or on more than SAMPLE_CAND tokens, or top-k keeps more than
 * SAMPLE_THREADS for top-p): the row's own path then samples. */
__device__ __noinline__ int sample_cuts_on_chunks(const SampleScratch &sc, RowChunks &h, const SampleMode &mode,
                                                  const llorch_sample_params &sp, float *cv, int *ci) {
    constexpr int PER = SAMPLE_CHUNKS * SAMPLE_EMIT / SAMPLE_THREADS; /* left tokens a thread reads */
    __shared__ unsigned short cb[SAMPLE_CAND];
    __shared__ float bv[SAMPLE_THREADS];
    const int tid = threadIdx.x;
    const float inv_t = 1.0f / sp.temperature, s = grid_scale(inv_t), M = h.M, G = grid_at(M, s);
    if (!(fabsf(M * s) < 4194304.0f)) return -1; /* the grid's units are no longer exact */
    /* the histogram is counted in SAMPLE_SUBH copies (warp w adds to copy
       w % SAMPLE_SUBH), kept in the candidates' space until they are
       gathered, then added up: with one copy, a vocabulary whose left tokens
       crowd into a few bins serialized on their shared-memory atomics
       (TinyLlama: 10.9 us, 4.8 us with 16 copies) */
    static_assert(SAMPLE_SUBH * SAMPLE_WIN <= SAMPLE_CAND, "the copies fit in the candidates' space");
    unsigned *sub_count = reinterpret_cast<unsigned *>(ci);
    float *sub_mass = cv;
    for (int j = tid; j < SAMPLE_SUBH * SAMPLE_WIN; j += blockDim.x) sub_count[j] = 0, sub_mass[j] = 0;
    __syncthreads();
    float x[PER], bin[PER];
    int idx[PER];
#pragma unroll
    for (int q = 0; q < PER; q++) { /* thread t reads slots PER t .. PER t + PER - 1, in index order */
        const int slot = PER * tid + q, c = slot / SAMPLE_EMIT;
        x[q] = __ldcg(sc.x + slot); /* (read with the count, not after it) */
        idx[q] = __ldcg(sc.idx + slot);
        if (slot % SAMPLE_EMIT >= __ldcg(sc.left + c)) x[q] = -INFINITY; /* a slot its chunk did not fill */
        bin[q] = G - grid_at(x[q], s);
        if (bin[q] < SAMPLE_WIN) {
            const int j = (tid >> 5) % SAMPLE_SUBH * SAMPLE_WIN + (int)bin[q];
            atomicAdd(&sub_count[j], 1u);
            atomicAdd(&sub_mass[j], sample_weight(x[q], M, inv_t));
        }
    }
    __syncthreads();
    for (int j = tid; j < SAMPLE_WIN; j += blockDim.x) {
        unsigned c = 0;
        float m = 0;
        for (int u = 0; u < SAMPLE_SUBH; u++) c += sub_count[u * SAMPLE_WIN + j], m += sub_mass[u * SAMPLE_WIN + j];
        h.count[j] = c, h.bmass[j] = m;
    }
    __syncthreads();
    float counted; /* top-k: the tokens above the cut's bin (exact: counts in float) */
    int cut = sample_cut_bin(h, !mode.cut_k, mode.cut_k ? (float)sp.top_k : sp.top_p * h.total, &counted);
    /* Top-k whose cut lies below the window (a peaked row: Llama 3's 40th
       token may weigh 2^-80 of the largest) keeps every token of the window,
       once the chunks cover it (the depth check below). The tokens it then
       leaves out weigh under 2^-64 of the largest each: too little to change
       a float sum that reaches u * total for u in [2^-30, 0.999] (outside
       that range the row's own path samples). */
    const bool whole_window = mode.cut_k && cut < 0 && sp.u >= 0x1p-30f && sp.u <= 0.999f;
    if (whole_window) cut = SAMPLE_WIN - 2; /* (gathers bins 0 .. SAMPLE_WIN - 1) */
    if (cut < 0 || cut + 1 > h.deep) return -1;
    int mine = 0;
#pragma unroll
    for (int q = 0; q < PER; q++) mine += bin[q] <= (float)(cut + 1);
    float n_all;
    int at = (int)block_exscan((float)mine, &n_all);
    if (n_all > SAMPLE_CAND) return -1;
    const int n = (int)n_all;
#pragma unroll
    for (int q = 0; q < PER; q++)
        if (bin[q] <= (float)(cut + 1)) cv[at] = sample_weight(x[q], M, inv_t), cb[at] = (unsigned short)bin[q], ci[at++] = idx[q];
    __syncthreads();
    float tau;
    if (mode.cut_k) {
        tau = 0.0f; /* (the whole window: all of them) */
        if (!whole_window) {
            const int nb = sample_compact(cv, cb, n, bv, [&](float, int b) { return b >= cut; });
            if (nb > SAMPLE_THREADS) return -1;
            tau = select_quadratic(bv, nb, 0.0f, false, 0.0f, (float)sp.top_k - counted);
        }
        if (mode.cut_p) {
            const int nb = sample_compact(cv, cb, n, bv, [&](float v, int) { return v >= tau; });
            if (nb > SAMPLE_THREADS) return -1;
            float kept = 0;
            for (int j = 0; j < nb; j++) kept += bv[j]; /* (in index order, as select_quadratic's sums) */
            tau = select_quadratic(bv, nb, tau, true, 0.0f, sp.top_p * kept);
        }
    } else {
        float above = 0; /* the mass above the cut's bins, in index order */
        for (int i = 2 * tid; i < 2 * tid + 2 && i < n; i++) above += cb[i] + 1 < cut ? cv[i] : 0.0f;
        above = block_sum(above);
        const int nb = sample_compact(cv, cb, n, bv, [&](float, int b) { return b + 1 >= cut; });
        if (nb > SAMPLE_THREADS) return -1;
        tau = select_quadratic(bv, nb, 0.0f, true, above, sp.top_p * h.total);
    }
    const int cand = sample_walk([&](int i) { return cv[i]; }, 0, n, tau, 0.0f, sp.u, -1.0f);
    return cand < 0 ? -1 : ci[cand];
}

/* A row that samples on chunks; -1: by its own path after all. */
__device__ int sample_on_chunks(const SampleArgs &a, int b, int pos, const llorch_sample_params &sp,
                                const SampleMode &mode, float *cv, int *ci) {
    __shared__ unsigned bits[SAMPLE_CHUNK_MAX / 32];
    __shared__ RowChunks h;
    const SampleScratch sc = sample_scratch(a, b);
    const float inv_t = 1.0f / sp.temperature;
    const bool cuts = mode.cut_k || mode.cut_p;
    sample_row_sums(sc, inv_t, cuts, h);
    if (cuts) return sample_cuts_on_chunks(sc, h, mode, sp, cv, ci);
    const ChunkFound f = sample_find_chunk(h.mass, sp.u);
    const int lo = sample_chunk_start(f.c, a.vocab), hi = sample_chunk_start(f.c + 1, a.vocab);
    const ChunkLogits logit = sample_chunk_logits(a, b, pos, sp, mode.pen, lo, hi, bits);
    const float M = h.M;
    const int cand = sample_walk([&](int i) { return sample_weight(logit(i), M, inv_t); }, lo, hi, 0.0f, f.before, sp.u, f.total);
    return cand < 0 ? lo : cand;
}

__global__ void __launch_bounds__(SAMPLE_THREADS) k_sample(SampleArgs a) {
    pdl_wait();
    pdl_trigger();
    const int b = blockIdx.x, tid = threadIdx.x, V = a.vocab;
    const int pos = a.pos[b];
    if (pos < 0) {
        if (tid == 0) put_next(a, b, -1);
        return;
    }
    const llorch_sample_params sp = a.sp[b];
    const SampleMode mode = sample_mode(a, sp);
    __shared__ float cand_v[SAMPLE_CAND];
    __shared__ int cand_i[SAMPLE_CAND];
    if (mode.chunks) {
        const int id = sample_on_chunks(a, b, pos, sp, mode, cand_v, cand_i);
        if (id >= 0) {
            if (tid == 0) put_next(a, b, id);
            return;
        }
    }
    /* the row's own path: greedy, more than SAMPLE_CHUNK_ROWS rows, or a cut
       the chunks' heaviest tokens do not hold */
    const bool pen = mode.pen, greedy = mode.greedy;
    const float *src = a.logits + (size_t)b * V;
    float *w = a.work + (size_t)b * a.wstride;
    if (pen) {
        for (int i = tid; i < V; i += SAMPLE_THREADS) w[i] = src[i];
        __syncthreads();
        const int *hist = a.hist + (size_t)a.seq[b] * a.ctx;
        unsigned *seen = a.seen + (size_t)b * V;
        const float rp = sp.repetition_penalty;
        for (int j = tid; j <= pos; j += SAMPLE_THREADS) {
            int t = hist[j];
            if (t >= 0 && t < V && atomicExch(&seen[t], 1u) == 0) w[t] = w[t] > 0 ? w[t] / rp : w[t] * rp;
        }
        __syncthreads();
        for (int j = tid; j <= pos; j += SAMPLE_THREADS) {
            int t = hist[j];
            if (t >= 0 && t < V) seen[t] = 0;
        }
        __syncthreads();
        src = w;
    }
    float v = -INFINITY;
    int bi = 0x7fffffff;
    if (!pen && a.amax) { /* the lm_head GEMV left per-block maxima */
        const float2 m = sample_amax(a);
        v = m.x, bi = __float_as_int(m.y);
    } else {
        for (int i = tid; i < V; i += SAMPLE_THREADS)
            if (src[i] > v) v = src[i], bi = i;
        block_argmax(v, bi);
    }
    if (greedy) {
        if (tid == 0) put_next(a, b, bi == 0x7fffffff ? 0 : bi);
        return;
    }
    const float mx = v, inv_t = 1.0f / sp.temperature;
    auto weight = [&](float x) { return sample_weight(x, mx, inv_t); };
    /* the cuts work on the weights in w, or on candidates when they are few;
       without cuts the running sums compute the weights themselves: a pass
       writing them cost 6% of a 256-row step on Qwen2.5-0.5B's 152k
       vocabulary */
    int cand;
    if (!mode.cut_k && !mode.cut_p) {
        cand = sample_walk([&](int i) { return weight(src[i]); }, 0, V, 0.0f, 0.0f, sp.u, -1.0f);
    } else {
        for (int i = tid; i < V; i += SAMPLE_THREADS) w[i] = weight(src[i]);
        __syncthreads();
        float total_all = 0;
        const int nc = sample_candidates(w, V, mode.cut_k ? sp.top_k : 0, sp.top_p, cand_v, cand_i, &total_all);
        const float *cv = nc >= 0 ? cand_v : w;
        const int n = nc >= 0 ? nc : V;
        /* top-p alone over candidates: they are what reaches top_p of the whole mass */
        const float tau = sample_tau(cv, n, mode, sp, nc >= 0 ? total_all : -1.0f);
        cand = sample_walk([&](int i) { return cv[i]; }, 0, n, tau, 0.0f, sp.u, -1.0f);
        if (nc >= 0 && cand >= 0) cand = cand_i[cand]; /* a candidate's index in the vocabulary */
    }
    if (tid == 0) put_next(a, b, cand < 0 ? bi : cand);
}

/* ======================================================================== */
/* Host side: launching a kernel                                             */
/* ======================================================================== */

/* Floats of the sampler's work buffer a row: the logits' copy of the row's
 * own path, or the scratch of sampling on chunks. */
static size_t cu_sample_stride(int V) { return (size_t)V > SAMPLE_SCRATCH ? (size_t)V : SAMPLE_SCRATCH; }

/* Launch with programmatic dependent launch when pdl is set. */
template <typename... KArgs, typename... Args>
static void cu_launch(cudaError_t *err, int pdl, void (*k)(KArgs...), dim3 grid, dim3 block, size_t smem,
                      cudaStream_t st, Args... args) {
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = st;
    cudaLaunchAttribute at[1];
    int na = 0;
    if (pdl & 1) {
        at[na].id = cudaLaunchAttributeProgrammaticStreamSerialization;
        at[na++].val.programmaticStreamSerializationAllowed = 1;
    }
    cfg.attrs = at;
    cfg.numAttrs = na;
    cudaError_t e = cudaLaunchKernelEx(&cfg, k, ((KArgs)args)...);
    if (e != cudaSuccess && *err == cudaSuccess) *err = e;
}

/* ======================================================================== */
/* Host side: the Hopper GEMM's tensor maps, plan and launch                */
/* ======================================================================== */

/* cuTensorMapEncodeTiled through the runtime (we do not link libcuda). */
static PFN_cuTensorMapEncodeTiled_v12000 cu_wg_encoder() {
    static const PFN_cuTensorMapEncodeTiled_v12000 fn = []() { /* once, thread-safe */
        void *p = NULL;
        cudaDriverEntryPointQueryResult q;
        if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault, &q) ==
                cudaSuccess &&
            q == cudaDriverEntryPointSuccess)
            return (PFN_cuTensorMapEncodeTiled_v12000)p;
        cudaGetLastError();
        return (PFN_cuTensorMapEncodeTiled_v12000)NULL;
    }();
    return fn;
}

template <class T> static CUtensorMapDataType cu_wg_dtype();
template <> CUtensorMapDataType cu_wg_dtype<bf16>() { return CU_TENSOR_MAP_DATA_TYPE_BFLOAT16; }
template <> CUtensorMapDataType cu_wg_dtype<f16>() { return CU_TENSOR_MAP_DATA_TYPE_FLOAT16; }

/* rows x cols matrix of T (row stride ld elements), read in boxes of
 * box_rows x 64 with 128-byte swizzle; reads past the edges give zeros. */
template <class T>
static int cu_wg_map(CUtensorMap *map, const void *p, int rows, int cols, int ld, int box_rows) {
    PFN_cuTensorMapEncodeTiled_v12000 enc = cu_wg_encoder();
    if (!enc) return 0;
    cuuint64_t dim[2] = {(cuuint64_t)cols, (cuuint64_t)rows}, stride[1] = {(cuuint64_t)ld * sizeof(T)};
    cuuint32_t box[2] = {WG_BK, (cuuint32_t)box_rows}, one[2] = {1, 1};
    return enc(map, cu_wg_dtype<T>(), 2, (void *)p, dim, stride, box, one, CU_TENSOR_MAP_INTERLEAVE_NONE,
               CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
               CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

/* The tiles built (BM, BN). */
#define WG_FOR_EACH(X) X(128, 128) X(128, 160) X(128, 176) X(128, 192) X(128, 256) X(64, 128) X(64, 160) X(64, 192) X(64, 256)

/* Raise the shared-memory limit of the Hopper GEMM (once, with the other kernels). */
template <class T> static cudaError_t cu_wg_prepare() {
    cudaError_t e = cudaSuccess, x;
#define WG_PREP(BM, BN)                                                                                             \
    x = cudaFuncSetAttribute(k_wg_gemm<T, BM, BN>, cudaFuncAttributeMaxDynamicSharedMemorySize, WgCfg<BM, BN>::SMEM); \
    if (x && !e) e = x;
    WG_FOR_EACH(WG_PREP)
#undef WG_PREP
    return e;
}

/* A shape's plan: tile and split-K. */
struct WgPlan {
    int bm, bn, splits;
};

/* The tile and split-K with the least estimated time of the busiest block,
 * in us (fitted to measurements on an H100 and an H200): per unit, its k
 * blocks at the tile's shared-memory-bound rate (TMA writes + wgmma reads of
 * a k block at ~128 B/clk), the epilogue (~2.5 us per 64 x 128 tile) and,
 * when split, the partial tiles' round trip: ~3 us, plus ~1 us a split, as
 * the last block to finish reads every split's tile. (A flat 6 us a split
 * chose 8 splits where 3 or 4 are faster; measured on an H200, tok/s flat /
 * per split: TinyLlama --batch 64 39,655 / 40,177, --batch 128 70,199 /
 * 71,760, --batch 256 107,663 / 111,088, 512-token prefill 163,692 /
 * 165,134; Qwen2.5-0.5B 512-token prefill 228,021 / 240,028.) */
static WgPlan cu_wg_plan(int R, int N, int K, int sms, size_t ws_floats, int n_flags) {
#define WG_TILE(BM, BN) {BM, BN},
    static const int tiles_bm_bn[][2] = {WG_FOR_EACH(WG_TILE)};
#undef WG_TILE
    const int kall = (K + WG_BK - 1) / WG_BK;
    WgPlan best = {128, 128, 1};
    double best_t = 1e300;
    for (auto &t : tiles_bm_bn) {
        const int bm = t[0], bn = t[1], tiles = (R + bm - 1) / bm * ((N + bn - 1) / bn);
        /* shared-memory bytes a k block moves (TMA writes + wgmma reads) at ~128 B/clk, 1.75 GHz */
        const double kb_us = (bm == 128 ? 32768.0 + 384.0 * bn : 24576.0 + 256.0 * bn) / 128 / 1750;
        for (int s = 1; s <= 8; s++) {
            if (s > 1 && (s * 4 > kall || tiles > n_flags || (size_t)tiles * s * bm * bn > ws_floats)) break;
            const int units = tiles * s, per_block = (units + sms - 1) / sms;
            const double t_unit = (kall + s - 1) / s * kb_us + 2.5 * bm * bn / (64 * 128) + (s > 1 ? 3.0 + s : 0.0);
            const double total = per_block * t_unit;
            if (total < best_t * 0.999) best_t = total, best.bm = bm, best.bn = bn, best.splits = s;
        }
    }
    return best;
}

/* Y = X W^T on cc 9.0 (sm_90a code): R rows of X (row stride ldx), W [N][K].
 * ws / flags: split-K partial tiles (ws_floats floats) and per-tile counters
 * (n_flags ints, zero before the first call; left zero). X and W must be
 * 16-byte aligned, ldx and K multiples of 8. Returns 0 when it cannot run
 * (no tensor-map encoder, misaligned operands): use k_gemm then. */
template <class T>
static int cu_matmul_wg(cudaError_t *err, int pdl, int sms, const T *X, int ldx, int R, const void *W, int N, int K,
                        const Epi &e, cudaStream_t st, float *ws, size_t ws_floats, int *flags, int n_flags) {
    if (((uintptr_t)X & 15) || ((uintptr_t)W & 15) || (ldx & 7) || (K & 7) || R < 1 || N < 1) return 0;
    WgPlan p = cu_wg_plan(R, N, K, sms, ws_floats, n_flags);
    const int kall = (K + WG_BK - 1) / WG_BK;
    if (p.splits > kall) p.splits = kall; /* every split needs a k block */
    CUtensorMap tx, tw;
    if (!cu_wg_map<T>(&tx, X, R, K, ldx, p.bm) || !cu_wg_map<T>(&tw, W, N, K, K, p.bn)) return 0;
    const int units = (R + p.bm - 1) / p.bm * ((N + p.bn - 1) / p.bn) * p.splits, grid = units < sms ? units : sms;
#define WG_CASE(BM, BN)                                                                                              \
    if (p.bm == BM && p.bn == BN) {                                                                                  \
        cu_launch(err, pdl, k_wg_gemm<T, BM, BN>, dim3(grid), WG_THREADS, WgCfg<BM, BN>::SMEM, st, tx, tw, R, N, K,  \
                  p.splits, e, ws, flags);                                                                           \
        return 1;                                                                                                    \
    }
    WG_FOR_EACH(WG_CASE)
#undef WG_CASE
    return 0;
}

/* ======================================================================== */
/* Host side: model                                                          */
/* ======================================================================== */

/* One layer on the device: matrices in T, norms and biases in f32; the
 * optional tensors are NULL when the family has none. */
typedef struct {
    void *wqkv, *wo, *wgu, *wdown;
    float *attn_norm, *ffn_norm;
    float *bqkv;            /* q, k and v biases (qkv_bias) */
    float *q_norm, *k_norm; /* per-head q and k norm weights (qk_norm) */
} cu_layer;

typedef struct {
    int dev, sms, cc;
    int attn_per_sm;       /* k_attn blocks of this head size an SM holds at once (its registers decide) */
    int wgmma;             /* the Hopper GEMM: cc 9.0, unless LLORCH_CUDA_GEMM=mma asks for mma.sync */
    int attn_group;        /* batched decode attention: -1 k_attn_group when the rows fill the GPU,
                              0 always k_attn (LLORCH_CUDA_ATTN=split), 1 always k_attn_group (=group) */
    int is_f16;            /* matrices in f16; else bf16 */
    char *wbuf;            /* one allocation for everything below */
    size_t wbytes;
    cu_layer *L;
    void *embed, *lm_head; /* lm_head == embed when tied */
    float *norm, *inv_freq;
    int q_dim, kv_dim;
} cu_model;

static size_t align256(size_t x) { return (x + 255) & ~(size_t)255; }

/* A device buffer is laid out from a table of (pointer, size): the entries
 * follow one another in table order, each 256-byte aligned; an entry of size
 * 0 gets NULL. With base NULL nothing is pointed, only the total returned. */
typedef struct {
    void **ptr;
    size_t bytes;
} cu_slot;

static size_t cu_layout(const cu_slot *t, int n, char *base) {
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        if (base) *t[i].ptr = t[i].bytes ? base + off : NULL;
        off += align256(t[i].bytes);
    }
    return off;
}

/* The model's device tensors: per layer, then the embedding, lm_head (none
 * when tied), the final norm and the RoPE frequencies. Fills up to
 * cu_model_slots_max(c) entries; returns how many. */
#define CU_LAYER_SLOTS 9
static int cu_model_slots_max(const llorch_config *c) { return CU_LAYER_SLOTS * c->n_layers + 4; }
static int cu_model_slots(cu_model *M, const llorch_config *c, int tied, cu_slot *t) {
    const size_t dim = (size_t)c->dim, hid = (size_t)c->hidden_dim, hd = (size_t)c->head_dim, V = (size_t)c->vocab_size;
    const size_t qd = (size_t)M->q_dim, kvd = (size_t)M->kv_dim;
    int n = 0;
    for (int l = 0; l < c->n_layers; l++) {
        cu_layer *L = &M->L[l];
        t[n++] = {(void **)&L->wqkv, (qd + 2 * kvd) * dim * 2};
        t[n++] = {(void **)&L->wo, dim * qd * 2};
        t[n++] = {(void **)&L->wgu, 2 * hid * dim * 2};
        t[n++] = {(void **)&L->wdown, dim * hid * 2};
        t[n++] = {(void **)&L->attn_norm, dim * 4};
        t[n++] = {(void **)&L->ffn_norm, dim * 4};
        t[n++] = {(void **)&L->bqkv, c->qkv_bias ? (qd + 2 * kvd) * 4 : 0};
        t[n++] = {(void **)&L->q_norm, c->qk_norm ? hd * 4 : 0};
        t[n++] = {(void **)&L->k_norm, c->qk_norm ? hd * 4 : 0};
    }
    t[n++] = {(void **)&M->embed, V * dim * 2};
    t[n++] = {(void **)&M->lm_head, tied ? 0 : V * dim * 2};
    t[n++] = {(void **)&M->norm, dim * 4};
    t[n++] = {(void **)&M->inv_freq, hd / 2 * 4};
    return n;
}

/* What goes where at upload: a file tensor, the device address of its first
 * row, how its rows are placed, and whether it is kept in f32 (norms, biases)
 * rather than in the matrix type. */
typedef struct {
    const llorch_tensor *src;
    void *dst;
    int how, f32;
} cu_upload;

/* The uploads of the model, filling up to cu_uploads_max(c); returns how many. */
static int cu_uploads_max(const llorch_config *c) { return 14 * c->n_layers + 3; }
static int cu_uploads(const cu_model *M, const llorch_model *m, int tied, cu_upload *u) {
    const llorch_config *c = &m->cfg;
    const size_t dim = (size_t)c->dim, qd = (size_t)M->q_dim, kvd = (size_t)M->kv_dim;
    int n = 0;
    for (int l = 0; l < c->n_layers; l++) {
        const llorch_layer *ly = &m->w.layers[l];
        const cu_layer *L = &M->L[l];
        char *qkv = (char *)L->wqkv;
        /* q and k rows (i, i + hd/2) of each head become neighbours (2i, 2i+1), their biases and norm weights
           alike; gate row j goes to 2j, up row j to 2j + 1 */
        u[n++] = {&ly->wq, qkv, PLACE_ROPE, 0};
        u[n++] = {&ly->wk, qkv + qd * dim * 2, PLACE_ROPE, 0};
        u[n++] = {&ly->wv, qkv + (qd + kvd) * dim * 2, PLACE_ROWS, 0};
        u[n++] = {&ly->wo, L->wo, PLACE_ROWS, 0};
        u[n++] = {&ly->w_gate, L->wgu, PLACE_EVEN, 0};
        u[n++] = {&ly->w_up, L->wgu, PLACE_ODD, 0};
        u[n++] = {&ly->w_down, L->wdown, PLACE_ROWS, 0};
        u[n++] = {&ly->attn_norm, L->attn_norm, PLACE_ROWS, 1};
        u[n++] = {&ly->ffn_norm, L->ffn_norm, PLACE_ROWS, 1};
        if (c->qkv_bias) {
            u[n++] = {&ly->bq, L->bqkv, PLACE_ROPE, 1};
            u[n++] = {&ly->bk, L->bqkv + qd, PLACE_ROPE, 1};
            u[n++] = {&ly->bv, L->bqkv + qd + kvd, PLACE_ROWS, 1};
        }
        if (c->qk_norm) {
            u[n++] = {&ly->q_norm, L->q_norm, PLACE_ROPE, 1};
            u[n++] = {&ly->k_norm, L->k_norm, PLACE_ROPE, 1};
        }
    }
    u[n++] = {&m->w.embed, M->embed, PLACE_ROWS, 0};
    if (!tied) u[n++] = {&m->w.lm_head, M->lm_head, PLACE_ROWS, 0};
    u[n++] = {&m->w.norm, M->norm, PLACE_ROWS, 1};
    return n;
}

/* Upload: each tensor's bytes go from the mapped file to the device as they
 * are (straight into place when nothing moves or converts), and a kernel
 * puts the rows where the kernels want them, converting the type. */
static int cu_place_direct(const llorch_tensor *t, int how, llorch_dtype want) {
    return how == PLACE_ROWS && t->dtype == want;
}

static size_t cu_tensor_bytes(const llorch_tensor *t) {
    return (size_t)t->rows * (size_t)t->cols * llorch_dtype_size(t->dtype);
}

/* Tensor t into dst, of type D, its rows placed as `how` says; scratch holds
 * the tensor's bytes when it cannot go straight into place. A vector (one
 * row) is placed as a column: its elements are the rows. */
template <class D>
static cudaError_t cu_place(void *dst, const llorch_tensor *t, int how, int hd, llorch_dtype want, void *scratch) {
    if (cu_place_direct(t, how, want)) return cudaMemcpy(dst, t->data, cu_tensor_bytes(t), cudaMemcpyHostToDevice);
    cudaError_t e = cudaMemcpy(scratch, t->data, cu_tensor_bytes(t), cudaMemcpyHostToDevice);
    if (e != cudaSuccess) return e;
    const int64_t n = t->rows * t->cols, blocks = (n + 255) / 256;
    const int64_t rows = t->rows == 1 ? t->cols : t->rows, cols = t->rows == 1 ? 1 : t->cols;
    k_place<D><<<(unsigned)(blocks < 8192 ? blocks : 8192), 256>>>(scratch, t->dtype, rows, (int)cols, (D *)dst, how, hd);
    return cudaGetLastError();
}

/* Raise the shared-memory limit of every kernel the model can use. This also
 * loads each kernel now, rather than on its first launch. */
template <class T> static cudaError_t cu_prepare_kernels(int smem) {
    cudaError_t e = cudaSuccess, x;
    cudaFuncAttributes fa;
#define CU_SMEM(k)                                                                                   \
    if ((x = cudaFuncGetAttributes(&fa, k)) == cudaSuccess)                                          \
        x = cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, smem - (int)fa.sharedSizeBytes); \
    if (x && !e) e = x;
    CU_SMEM((k_gemv<T, GV_NW, GV_U, GV_S>));
    CU_SMEM((k_skinny<T, 1, false>));
    CU_SMEM((k_skinny<T, 2, false>));
    CU_SMEM((k_skinny<T, 4, false>));
    CU_SMEM((k_skinny<T, 8, false>));
    CU_SMEM((k_skinny<T, 2, true>));
    CU_SMEM((k_gemm<T, 128>));
    CU_SMEM((k_flash<T, 16>));
    CU_SMEM((k_flash<T, 32>));
    CU_SMEM((k_flash<T, 64>));
    CU_SMEM((k_flash<T, 128>));
    CU_SMEM((k_attn<T, 1, false>));
    CU_SMEM((k_attn<T, 2, false>));
    CU_SMEM((k_attn<T, 4, false>));
    CU_SMEM((k_attn<T, 1, true>));
    CU_SMEM((k_attn<T, 2, true>));
    CU_SMEM((k_attn<T, 4, true>));
    CU_SMEM((k_attn_group<T, 16>));
    CU_SMEM((k_attn_group<T, 32>));
    CU_SMEM((k_attn_group<T, 64>));
    CU_SMEM((k_attn_group<T, 128>));
    CU_SMEM(k_embed<T>);
    CU_SMEM(k_rmsnorm<T>);
    CU_SMEM(k_qk_norm<T>);
    CU_SMEM(k_sample);
#undef CU_SMEM
    return e;
}

/* The k_attn for head size hd, with the q/k norm or without. */
template <class T> static auto cu_attn_fn(int hd, int qkn) {
    return qkn ? (hd <= 64 ? k_attn<T, 1, true> : hd <= 128 ? k_attn<T, 2, true> : k_attn<T, 4, true>)
               : (hd <= 64 ? k_attn<T, 1, false> : hd <= 128 ? k_attn<T, 2, false> : k_attn<T, 4, false>);
}

/* k_attn's dynamic shared memory: the query and the 8 warps' states */
static size_t cu_attn_smem(int hd) { return (size_t)(hd + 8 * (hd + 2)) * 4; }

/* k_attn blocks for head size hd an SM holds (the q/k norm's variant uses
 * about as many registers). */
template <class T> static int cu_attn_per_sm(int hd) {
    int n = 0;
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, cu_attn_fn<T>(hd, 0), 256, cu_attn_smem(hd)) != cudaSuccess) {
        cudaGetLastError();
        n = 1;
    }
    return n > 0 ? n : 1;
}

static void cu_model_free(llorch_model *m) {
    cu_model *M = (cu_model *)m->backend_data;
    if (!M) return;
    cudaSetDevice(M->dev);
    if (M->wbuf) cudaFree(M->wbuf);
    free(M->L);
    free(M);
    m->backend_data = NULL;
    m->device_bytes = 0;
}

static int cu_check_tensor(const llorch_tensor *t, int64_t rows, int64_t cols, const char *what, int layer,
                           llorch_error *err) {
    if (!t->data) return llorch_fail(err, LLORCH_E_FORMAT, "cuda: layer %d %s is missing", layer, what);
    if (t->dtype != LLORCH_F32 && t->dtype != LLORCH_F16 && t->dtype != LLORCH_BF16)
        return llorch_fail(err, LLORCH_E_UNSUPPORTED, "cuda: layer %d %s: unsupported dtype", layer, what);
    if (t->rows != rows || t->cols != cols)
        return llorch_fail(err, LLORCH_E_FORMAT, "cuda: layer %d %s is [%lld, %lld], expected [%lld, %lld]", layer,
                           what, (long long)t->rows, (long long)t->cols, (long long)rows, (long long)cols);
    return 0;
}

/* The tensors of layer l against the config, the optional ones when its flags ask for them. */
static int cu_check_layer(const llorch_config *c, const llorch_layer *ly, int l, llorch_error *err) {
    const int64_t dim = c->dim, hid = c->hidden_dim, hd = c->head_dim;
    const int64_t qd = (int64_t)c->n_heads * hd, kvd = (int64_t)c->n_kv_heads * hd;
    int st;
    if ((st = cu_check_tensor(&ly->wq, qd, dim, "q_proj", l, err)) ||
        (st = cu_check_tensor(&ly->wk, kvd, dim, "k_proj", l, err)) ||
        (st = cu_check_tensor(&ly->wv, kvd, dim, "v_proj", l, err)) ||
        (st = cu_check_tensor(&ly->wo, dim, qd, "o_proj", l, err)) ||
        (st = cu_check_tensor(&ly->w_gate, hid, dim, "gate_proj", l, err)) ||
        (st = cu_check_tensor(&ly->w_up, hid, dim, "up_proj", l, err)) ||
        (st = cu_check_tensor(&ly->w_down, dim, hid, "down_proj", l, err)) ||
        (st = cu_check_tensor(&ly->attn_norm, 1, dim, "input_layernorm", l, err)) ||
        (st = cu_check_tensor(&ly->ffn_norm, 1, dim, "post_attention_layernorm", l, err)))
        return st;
    if (c->qkv_bias && ((st = cu_check_tensor(&ly->bq, 1, qd, "q_proj.bias", l, err)) ||
                        (st = cu_check_tensor(&ly->bk, 1, kvd, "k_proj.bias", l, err)) ||
                        (st = cu_check_tensor(&ly->bv, 1, kvd, "v_proj.bias", l, err))))
        return st;
    if (c->qk_norm && ((st = cu_check_tensor(&ly->q_norm, 1, hd, "q_norm", l, err)) ||
                       (st = cu_check_tensor(&ly->k_norm, 1, hd, "k_norm", l, err))))
        return st;
    return 0;
}

static int cu_model_init(llorch_model *m, llorch_error *err) {
    const llorch_config *c = &m->cfg;
    int ndev = 0;
    cudaError_t e = cudaGetDeviceCount(&ndev);
    if (e != cudaSuccess || ndev <= 0) {
        cudaGetLastError();
        return llorch_fail(err, LLORCH_E_DEVICE, "cuda: no CUDA device found (%s)",
                           e != cudaSuccess ? cudaGetErrorString(e) : "the driver reports none");
    }
    if (m->device_index < 0 || m->device_index >= ndev)
        return llorch_fail(err, LLORCH_E_DEVICE, "cuda: no device cuda:%d (this machine has %d CUDA device%s)",
                           m->device_index, ndev, ndev == 1 ? "" : "s");
    if ((e = cudaSetDevice(m->device_index)) != cudaSuccess)
        return llorch_fail(err, LLORCH_E_DEVICE, "cuda:%d: %s", m->device_index, cudaGetErrorString(e));
    cudaDeviceProp prop;
    if ((e = cudaGetDeviceProperties(&prop, m->device_index)) != cudaSuccess)
        return llorch_fail(err, LLORCH_E_DEVICE, "cuda:%d: %s", m->device_index, cudaGetErrorString(e));
    if (prop.major < 8)
        return llorch_fail(err, LLORCH_E_UNSUPPORTED,
                           "cuda:%d (%s) has compute capability %d.%d; the CUDA backend needs 8.0 or newer",
                           m->device_index, prop.name, prop.major, prop.minor);
    /* shapes the kernels take: 16-byte rows, even RoPE pairs, up to 256 per head */
    if (c->dim % 8) return llorch_fail(err, LLORCH_E_UNSUPPORTED, "cuda: hidden_size %d is not a multiple of 8", c->dim);
    if (c->hidden_dim % 8)
        return llorch_fail(err, LLORCH_E_UNSUPPORTED, "cuda: intermediate_size %d is not a multiple of 8", c->hidden_dim);
    if (c->head_dim % 8 || c->head_dim > 256)
        return llorch_fail(err, LLORCH_E_UNSUPPORTED, "cuda: head_dim %d is not a multiple of 8 up to 256", c->head_dim);
    if (c->n_kv_heads <= 0 || c->n_heads % c->n_kv_heads)
        return llorch_fail(err, LLORCH_E_UNSUPPORTED, "cuda: num_attention_heads %d is not a multiple of num_key_value_heads %d",
                           c->n_heads, c->n_kv_heads);
    if (c->sliding_window < 0)
        return llorch_fail(err, LLORCH_E_FORMAT, "cuda: sliding_window %d is negative", c->sliding_window);
    const int64_t dim = c->dim, hid = c->hidden_dim, hd = c->head_dim, V = c->vocab_size;
    const int64_t qd = (int64_t)c->n_heads * hd, kvd = (int64_t)c->n_kv_heads * hd;
    const llorch_weights *w = &m->w;
    int st;
    for (int l = 0; l < c->n_layers; l++)
        if ((st = cu_check_layer(c, &w->layers[l], l, err))) return st;
    if ((st = cu_check_tensor(&w->embed, V, dim, "embed_tokens", -1, err)) ||
        (st = cu_check_tensor(&w->lm_head, V, dim, "lm_head", -1, err)) ||
        (st = cu_check_tensor(&w->norm, 1, dim, "norm", -1, err)))
        return st;

    cu_model *M = (cu_model *)calloc(1, sizeof *M);
    const int nslots = cu_model_slots_max(c), nup = cu_uploads_max(c);
    cu_slot *slots = (cu_slot *)calloc((size_t)nslots, sizeof *slots);
    cu_upload *ups = (cu_upload *)calloc((size_t)nup, sizeof *ups);
    if (M) M->L = (cu_layer *)calloc((size_t)c->n_layers, sizeof *M->L);
    if (!M || !M->L || !slots || !ups) {
        if (M) free(M->L);
        free(M);
        free(slots);
        free(ups);
        return llorch_fail(err, LLORCH_E_NOMEM, "out of memory");
    }
    M->dev = m->device_index;
    M->sms = prop.multiProcessorCount;
    M->cc = prop.major * 10 + prop.minor;
    const char *gemm = getenv("LLORCH_CUDA_GEMM");
    M->wgmma = M->cc == 90 && !(gemm && !strcmp(gemm, "mma"));
    const char *attn = getenv("LLORCH_CUDA_ATTN");
    M->attn_group = attn && !strcmp(attn, "split") ? 0 : attn && !strcmp(attn, "group") ? 1 : -1;
    /* f16 checkpoints stay f16; bf16 stays bf16; f32 matrices become bf16 */
    M->is_f16 = c->dtype == LLORCH_F16;
    M->q_dim = (int)qd;
    M->kv_dim = (int)kvd;
    const int tied = w->lm_head.data == w->embed.data;

    /* one allocation, laid out from the table */
    const int ns = cu_model_slots(M, c, tied, slots);
    const size_t bytes = cu_layout(slots, ns, NULL);
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    if ((e = cudaMalloc((void **)&M->wbuf, bytes)) != cudaSuccess) {
        cudaGetLastError();
        free(M->L);
        free(M);
        free(slots);
        free(ups);
        return llorch_fail(err, LLORCH_E_NOMEM, "cuda:%d: out of device memory for the weights (%zu MB needed, %zu MB free)",
                           m->device_index, bytes >> 20, free_b >> 20);
    }
    cu_layout(slots, ns, M->wbuf);
    free(slots);
    if (tied) M->lm_head = M->embed;
    M->wbytes = bytes;
    m->backend_data = M;
    m->device_bytes = bytes;

    /* scratch for the tensors that do not go straight into place */
    const llorch_dtype want = M->is_f16 ? LLORCH_F16 : LLORCH_BF16;
    const int nu = cu_uploads(M, m, tied, ups);
    size_t scratch_bytes = 256;
    for (int i = 0; i < nu; i++)
        if (!cu_place_direct(ups[i].src, ups[i].how, ups[i].f32 ? LLORCH_F32 : want) && cu_tensor_bytes(ups[i].src) > scratch_bytes)
            scratch_bytes = cu_tensor_bytes(ups[i].src);
    void *scratch = NULL;
    if ((e = cudaMalloc(&scratch, scratch_bytes)) != cudaSuccess) {
        cudaGetLastError();
        free(ups);
        cu_model_free(m);
        return llorch_fail(err, LLORCH_E_NOMEM, "cuda:%d: out of device memory for loading (%zu MB more needed)",
                           m->device_index, scratch_bytes >> 20);
    }
    for (int i = 0; i < nu && e == cudaSuccess; i++) {
        const cu_upload *u = &ups[i];
        if (u->f32) e = cu_place<float>(u->dst, u->src, u->how, (int)hd, LLORCH_F32, scratch);
        else if (M->is_f16) e = cu_place<f16>(u->dst, u->src, u->how, (int)hd, want, scratch);
        else e = cu_place<bf16>(u->dst, u->src, u->how, (int)hd, want, scratch);
    } /* (each copy into scratch waits for the placing kernel before it: one stream) */
    free(ups);
    if (!e) e = cudaMemcpy(M->inv_freq, m->rope_inv_freq, (size_t)hd / 2 * 4, cudaMemcpyHostToDevice);
    if (!e) e = cudaDeviceSynchronize(); /* the placing kernels read scratch */
    cudaFree(scratch);
    /* the GEMV keeps its input vector in shared memory, the skinny GEMM with
       the norm fused its norm weight */
    const size_t sizes[] = {skinny_smem<2, true>((int)dim),         gemv_smem((int)(qd + 2 * kvd), (int)dim, M->sms),
                            gemv_smem((int)dim, (int)qd, M->sms),     gemv_smem((int)(2 * hid), (int)dim, M->sms),
                            gemv_smem((int)dim, (int)hid, M->sms),    gemv_smem((int)V, (int)dim, M->sms)};
    size_t need = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) need = sizes[i] > need ? sizes[i] : need;
    need += 1024; /* the kernels' static shared memory */
    if (!e && need > (size_t)prop.sharedMemPerBlockOptin) {
        cu_model_free(m);
        return llorch_fail(err, LLORCH_E_UNSUPPORTED,
                           "cuda: hidden_size %lld / intermediate_size %lld / vocab_size %lld need %zu bytes of shared "
                           "memory (the device has %zu)",
                           (long long)dim, (long long)hid, (long long)V, need, (size_t)prop.sharedMemPerBlockOptin);
    }
    if (!e) e = M->is_f16 ? cu_prepare_kernels<f16>((int)prop.sharedMemPerBlockOptin)
                          : cu_prepare_kernels<bf16>((int)prop.sharedMemPerBlockOptin);
    if (!e && M->wgmma) e = M->is_f16 ? cu_wg_prepare<f16>() : cu_wg_prepare<bf16>(); /* the sm_90a GEMM */
    if (!e) M->attn_per_sm = M->is_f16 ? cu_attn_per_sm<f16>(c->head_dim) : cu_attn_per_sm<bf16>(c->head_dim);
    if (e != cudaSuccess) {
        cudaGetLastError();
        cu_model_free(m);
        return llorch_fail(err, LLORCH_E_DEVICE, "cuda:%d: uploading the weights: %s", m->device_index,
                           cudaGetErrorString(e));
    }
    snprintf(m->device_name, sizeof m->device_name, "cuda:%d", M->dev);
    return 0;
}

/* ======================================================================== */
/* Host side: session                                                        */
/* ======================================================================== */

#define CU_MAX_BUCKETS 16

/* The matrices of a one-sequence decode step, for their GEMVs' grids. */
enum { GV_QKV, GV_O, GV_GU, GV_DOWN, GV_LM, GV_N };

typedef struct {
    int B, ctx, PF, R;      /* sequences, positions, prefill chunk, activation rows */
    int s_max, min_chunk;   /* attention splits */
    int gemv_grid;          /* GEMV blocks, unless gv_grid says */
    int gv_grid[GV_N];      /* GEMV blocks of each matrix of a one-sequence step */
    int pdl;                /* programmatic dependent launch in use */
    int gv_pf, gv_early;    /* GEMV: L2 prefetch bytes per block; trigger the next launch before waiting */
    int gv_pf_more;         /* GEMV: prefetch the small vectors and the cached keys (gemv_prefetch_more) */
    cudaStream_t st;
    /* The decode step is captured for each bucket of active rows (1, 2, 4,
     * ..., B: a step runs the smallest that holds its active sequences), and
     * twice per bucket, once per slot: each slot has its own pinned step
     * record and result, so one step can be queued while the previous one
     * runs (see cu_decode). */
    int n_buckets, bucket[CU_MAX_BUCKETS];
    cudaGraphExec_t graph[CU_MAX_BUCKETS][2];
    /* Each launch sizes k_attn's grid to the splits its rows need, updating
     * the graph's attention nodes when that changes (cu_size_attention):
     * blocks past them would only exit, yet the next kernel may launch only
     * once every block has started. */
    cudaGraph_t captured[CU_MAX_BUCKETS][2];       /* whose nodes name the executable graph's */
    cudaGraphNode_t *attn_node[CU_MAX_BUCKETS][2]; /* each layer's k_attn, or NULL: none split */
    int attn_grid[CU_MAX_BUCKETS][2];              /* the splits their grids hold now */
    cudaEvent_t done[2];
    int graph_nodes;        /* of the largest bucket's graph */
    int last;               /* slot of the last step launched */
    int last_bucket;        /* and its bucket */
    int ahead;              /* the last launch is a step queued ahead, not yet claimed */
    int *rec;               /* host: the record a decode call asks for */
    int *row_seq;           /* host: the sequence in each row of the next step, or -1 */
    unsigned char *has_row; /* host: scratch of cu_assign_rows */
    char *buf;
    size_t bytes;
    void *kc, *vc;          /* [layer][seq][kv_head][ctx][head_dim] */
    size_t kv_layer;        /* elements per layer */
    float *x, *qf, *attf, *hf, *logits, *part, *work;
    void *xn, *att, *h, *qt;
    float2 *amax;
    float *gws;             /* split-K partial tiles */
    int *counters, *hist, *d_ids, *d_step, *d_next, *gflags;
    int *d_pieces;          /* rows of a pass of prompt pieces: positions [PF], sequences [PF] */
    int *h_pieces;          /* host: ids, positions, sequences of those rows (3 PF) */
    unsigned *seen;
    int *h_step[2], *h_next[2]; /* pinned step records (cu_step_*) and chosen ids per row */
} cu_session;

/* Sampling parameters of an idle sequence, or of logits-only steps: greedy,
 * every field set, so that records compare equal when they mean the same. */
static llorch_sample_params cu_plain_params(void) {
    llorch_sample_params p;
    memset(&p, 0, sizeof p);
    p.repetition_penalty = 1;
    p.top_p = 1;
    p.u_next = -1;
    return p;
}

/* A decode step record, per row (the active sequences first, then idle rows
 * to the bucket's size): ids[B], positions[B], sequences[B], sample params[B]. */
static int *cu_step_pos(int *step, int B) { return step + B; }
static int *cu_step_seq(int *step, int B) { return step + 2 * B; }
static llorch_sample_params *cu_step_sp(int *step, int B) { return (llorch_sample_params *)(step + 3 * B); }
static size_t cu_step_bytes(int B) { return (size_t)B * (3 * sizeof(int) + sizeof(llorch_sample_params)); }

static Epi cu_epi(int mode, int n) {
    Epi e;
    memset(&e, 0, sizeof e);
    e.mode = mode;
    e.n = n;
    return e;
}

/* split-K workspace of the tiled GEMMs: partial tiles, and a counter per tile */
static size_t cu_gws_floats(const cu_model *M) { return (size_t)2 * M->sms * 128 * GM_BN; }
static int cu_gflags(const cu_model *M) { return 2 * M->sms; }

/* Y = X W^T over R activation rows in T, by the skinny GEMM, the Hopper
 * GEMM (cc 9.0) or the tiled one. attn: W is an attention projection (QKV or
 * output). With normw (R <= SK_NORM_ROWS), X is the residual's copy in T
 * and the skinny GEMM applies RMSNorm(X) * normw. */
template <class T>
static void cu_matmul(cudaError_t *err, const cu_model *M, cu_session *S, int pdl, const T *X, int ldx, int R,
                      const void *W, int N, int K, const Epi &e, int attn, const float *normw = NULL, float eps = 0) {
    const T *Wt = (const T *)W;
    /* The skinny GEMM up to 64 rows; with the Hopper GEMM, up to 32 rows
       (measured on TinyLlama's shape on an H200, tok/s skinny / Hopper GEMM:
       32 sequences 20,430 / 19,160, 16 sequences 10,600 / 9,380) and up to 64
       for the attention projections, small matrices whose Hopper plan splits
       K and leaves the QKV epilogue (RoPE, cache writes) to the last split of
       each tile (--batch 64, Hopper GEMM / skinny for QKV / and for the
       output: TinyLlama 38,090 / 39,640 / 40,000, Qwen2.5-0.5B 48,637 /
       49,925 / 50,117). The FFN matrices stay on the Hopper GEMM (Qwen2.5's
       down projection on the skinny one: 45,000). */
    if (R <= (M->wgmma && !attn ? 32 : 64)) {
        const int pairs = (N + 1) / 2, grid = pairs < M->sms ? pairs : M->sms;
        const dim3 b(SK_THREADS);
        static_assert(SK_NORM_ROWS <= 16, "the fused norm runs on k_skinny<T, 2, true>");
        if (normw) cu_launch(err, pdl, k_skinny<T, 2, true>, dim3(grid), b, skinny_smem<2, true>(K), S->st, Wt, N, K, X, ldx, R, e, normw, eps);
        else if (R <= 8) cu_launch(err, pdl, k_skinny<T, 1, false>, dim3(grid), b, skinny_smem<1, false>(K), S->st, Wt, N, K, X, ldx, R, e, normw, eps);
        else if (R <= 16) cu_launch(err, pdl, k_skinny<T, 2, false>, dim3(grid), b, skinny_smem<2, false>(K), S->st, Wt, N, K, X, ldx, R, e, normw, eps);
        else if (R <= 32) cu_launch(err, pdl, k_skinny<T, 4, false>, dim3(grid), b, skinny_smem<4, false>(K), S->st, Wt, N, K, X, ldx, R, e, normw, eps);
        else cu_launch(err, pdl, k_skinny<T, 8, false>, dim3(grid), b, skinny_smem<8, false>(K), S->st, Wt, N, K, X, ldx, R, e, normw, eps);
        return;
    }
    if (M->wgmma && cu_matmul_wg<T>(err, pdl, M->sms, X, ldx, R, Wt, N, K, e, S->st, S->gws, cu_gws_floats(M),
                                       S->gflags, cu_gflags(M)))
        return;
    /* 128 x 128 tiles; when they do not fill the GPU twice over, split K too */
    const int nb = (N + GM_BN - 1) / GM_BN, mb = (R + 127) / 128, tiles = nb * mb, kall = (K + GM_BK - 1) / GM_BK;
    int splits = 1;
    if (tiles < M->sms) {
        splits = 2 * M->sms / tiles;
        if (splits > 4) splits = 4;
        if (splits > kall / 4) splits = kall / 4;
        if (splits < 1) splits = 1;
    }
    cu_launch(err, pdl, k_gemm<T, 128>, dim3(nb, mb, splits), GM_THREADS, gemm_smem<128>(), S->st, X, ldx, Wt, R, N, K,
              e, S->gws, S->gflags);
}

/* blocks of a GEMV over N rows: a pair of rows at least per block */
static int cu_gemv_grid(int N, int grid_max) { return (N + 1) / 2 < grid_max ? (N + 1) / 2 : grid_max; }

template <class T>
static void cu_gemv(cudaError_t *err, cu_session *S, int pdl, const void *W, int N, int K, const float *x,
                    const float *normw, float eps, const Epi &e, float2 *amax, const void *embed = NULL,
                    int grid_max = 0) {
    const int grid = cu_gemv_grid(N, grid_max ? grid_max : S->gemv_grid);
    cu_launch(err, pdl, k_gemv<T, GV_NW, GV_U, GV_S>, dim3(grid), GV_NW * 32, gemv_smem(N, K, grid), S->st,
              (const T *)W, N, K, x, normw, eps, e, amax, S->gv_pf, S->gv_pf_more, S->gv_early, (const T *)embed,
              (const int *)S->d_step, (const int *)S->d_next, S->hist);
}

/* ======================================================================== */
/* Host side: a forward pass, one layer at a time                            */
/* ======================================================================== */

/* How a forward pass over R activation rows runs. Decode and prefill differ
 * only here; cu_enqueue_layer reads it to choose the kernels:
 * - one decoding sequence (gemv): GEMVs with the RMSNorm fused, activations
 *   in f32, q in f32 for the attention kernel, whose keys may be split;
 * - several decoding sequences: RMSNorm kernels (or the norm in the skinny
 *   GEMM, cu_norm_fused) and the skinny GEMM (the tiled one past 64 rows),
 *   activations in T, q in f32, split attention;
 * - a prefill chunk of one sequence: as several, but q in T and flash
 *   attention where it has the head size (the attention kernel otherwise). */
typedef struct {
    int R;             /* activation rows */
    Rows rows;         /* their sequences and positions */
    int gemv;          /* one decoding sequence */
    int prefill;       /* a chunk of one sequence */
    int pieces;        /* prompt pieces of several sequences: rows as in decode, attention by k_attn_group only
                          (k_attn loads cached keys before the QKV kernel has written this pass's) */
    int splits;        /* attention: most blocks a row's keys are split over */
    const void *embed; /* gemv: layer 0's QKV GEMV looks up the token's embedding itself */
} cu_pass;

static cu_pass cu_pass_decode(const cu_model *M, const cu_session *S, int R) {
    cu_pass p;
    memset(&p, 0, sizeof p);
    p.R = R;
    p.rows = {cu_step_pos(S->d_step, S->B), cu_step_seq(S->d_step, S->B), 0, 0};
    p.gemv = R == 1;
    p.splits = S->s_max;
    p.embed = p.gemv ? M->embed : NULL;
    return p;
}

/* R rows of prompt pieces, their positions and sequences in d_pieces. */
static cu_pass cu_pass_pieces(const cu_session *S, int R) {
    cu_pass p;
    memset(&p, 0, sizeof p);
    p.R = R;
    p.rows = {S->d_pieces, S->d_pieces + S->PF, 0, 0};
    p.pieces = 1;
    p.splits = 1;
    return p;
}

static cu_pass cu_pass_prefill(int seq, int pos0, int n) {
    cu_pass p;
    memset(&p, 0, sizeof p);
    p.R = n;
    p.rows = {NULL, NULL, pos0, seq};
    p.prefill = 1;
    p.splits = 1;
    return p;
}

/* Whether the pass's GEMMs do the RMSNorm themselves (k_skinny NORM); the
 * kernels that add to x then also keep a copy of it in T (xn) for them.
 * 9-16 rows: measured on an H200, tok/s with the norm kernel / fused, 16
 * sequences: TinyLlama 11,390 / 13,230, Llama-3.2-1B 11,940 / 14,600,
 * Qwen2.5-0.5B 15,160 / 17,870. Fused for 2-8 rows too, those were 3-8%
 * slower (not understood); for 17-32 rows mixed (-6% to +4%). */
static int cu_norm_fused(const cu_pass *p) { return !p->gemv && p->R > 8 && p->R <= SK_NORM_ROWS; }

/* Y = X W^T for the pass's rows with epilogue e, X = RMSNorm(xf) * normw when
 * normw is given, else xf (one row, f32) or xt (rows in T). One row: the GEMV
 * (grid_max blocks at most, 0 = the default; amax: per-block argmax; embed:
 * x is that token's embedding). Several: the RMSNorm into xn, then a GEMM
 * (attn: W is an attention projection, see cu_matmul), or (cu_norm_fused)
 * the skinny GEMM with the norm on xn, x's copy in T. */
template <class T>
static void cu_linear(cudaError_t *err, const llorch_model *m, cu_session *S, const cu_pass *p, int pdl, const void *W,
                      int N, int K, const float *normw, const float *xf, const T *xt, const Epi &e, int grid_max,
                      int attn, float2 *amax = NULL, const void *embed = NULL) {
    const cu_model *M = (const cu_model *)m->backend_data;
    const float eps = m->cfg.norm_eps;
    if (p->gemv) {
        cu_gemv<T>(err, S, pdl, W, N, K, xf, normw, eps, e, amax, embed, grid_max);
        return;
    }
    if (normw && cu_norm_fused(p)) { /* the skinny GEMM does the norm, on x's copy in T */
        cu_matmul<T>(err, M, S, pdl, (const T *)S->xn, K, p->R, W, N, K, e, attn, normw, eps);
        return;
    }
    if (normw) {
        cu_launch(err, pdl, k_rmsnorm<T>, dim3(p->R), dim3(256), 0, S->st, xf, K, normw, eps, (T *)S->xn);
        xt = (const T *)S->xn;
        pdl = S->pdl;
    }
    cu_matmul<T>(err, M, S, pdl, xt, K, p->R, W, N, K, e, attn);
}

/* Flash attention of a prefill chunk for head size HD. */
template <class T, int HD>
static void cu_flash(cudaError_t *err, const llorch_config *c, cu_session *S, const cu_pass *p, const T *kc, const T *vc) {
    const float scale_log2 = 1.4426950408889634f / sqrtf((float)HD);
    cu_launch(err, S->pdl, k_flash<T, HD>, dim3((p->R + FA_BQ - 1) / FA_BQ, c->n_heads), dim3(128), flash_smem<HD>(),
              S->st, (const T *)S->qt, c->n_heads * HD, kc, vc, (T *)S->att, c->n_heads * HD, p->R, p->rows.pos0,
              p->rows.seq0, c->n_heads, c->n_kv_heads, S->ctx, c->sliding_window, scale_log2);
}

/* k_attn_group for the pass's rows, if it runs them: several decoding rows,
 * a supported head size and group, and blocks (rows x KV heads) for 7/8 of
 * the SMs at least (or as LLORCH_CUDA_ATTN says). Measured on TinyLlama (4
 * KV heads) on an H200, tok/s k_attn_group / k_attn: 16 rows 11,600 / 10,600
 * at position 20 but 3,570 / 4,100 at position 2,000; 32 rows 20,800 /
 * 16,900 and 5,540 / 5,470. */
static int cu_group_fits(const llorch_config *c) {
    const int hd = c->head_dim;
    return c->n_heads / c->n_kv_heads <= AG_WARPS * AG_MAXH && (hd == 16 || hd == 32 || hd == 64 || hd == 128);
}

static int cu_group_runs(const cu_model *M, const llorch_config *c, const cu_pass *p) {
    return p->pieces || !(p->prefill || p->gemv || M->attn_group == 0 || !cu_group_fits(c) ||
                          (M->attn_group < 0 && 8 * p->R * c->n_kv_heads < 7 * M->sms));
}

/* Whether the q/k norm (Qwen3) runs inside the attention kernel: k_attn on
 * decoding rows does it (QKN); elsewhere k_qk_norm runs before the attention. */
static int cu_qk_norm_in_attn(const cu_model *M, const llorch_config *c, const cu_pass *p) {
    return c->qk_norm && !p->prefill && !cu_group_runs(M, c, p);
}

/* A row of qf: the query, then the new keys (where the attention normalises them). */
static int cu_qf_ld(const cu_model *M) { return M->q_dim + M->kv_dim; }

template <class T>
static int cu_attend_group(cudaError_t *err, const cu_model *M, const llorch_config *c, cu_session *S, const cu_pass *p,
                           const T *kc, const T *vc) {
    const int hd = c->head_dim, qd = c->n_heads * hd, G = c->n_heads / c->n_kv_heads;
    if (!cu_group_runs(M, c, p)) return 0;
    void (*k)(const float *, int, const T *, const T *, T *, int, Rows, int, int, int, int, float) =
        hd == 16 ? k_attn_group<T, 16> : hd == 32 ? k_attn_group<T, 32> : hd == 64 ? k_attn_group<T, 64> : k_attn_group<T, 128>;
    cu_launch(err, S->pdl, k, dim3(c->n_kv_heads, p->R), dim3(AG_WARPS * 32), attn_group_smem(hd, G), S->st,
              (const float *)S->qf, cu_qf_ld(M), kc, vc, (T *)S->att, qd, p->rows, c->n_heads, c->n_kv_heads, S->ctx,
              c->sliding_window, 1.0f / sqrtf((float)hd));
    return 1;
}

/* How k_attn splits the keys of `pairs` (row, head) pairs, at most cap
 * splits (a decode pass gives the session's s_max; see attn_splits). The
 * fill target gives them three quarters of the k_attn blocks the GPU holds
 * at once. Measured on an H200: for head_dim 64 (two blocks an SM) 1.5
 * blocks an SM was best; for 128 (one block an SM) 1.5 an SM made a second
 * wave of blocks: Qwen3-0.6B at position 1,792 decoded 913 tok/s, 1,073
 * with 0.75 or 0.97 an SM. */
static AttnSplit cu_attn_split(const cu_model *M, const cu_session *S, int pairs, int cap) {
    const int held = M->attn_per_sm * M->sms;
    const AttnSplit a = {cap, min((3 * held + 4 * pairs - 1) / (4 * pairs), cap), held / pairs > 1 ? held / pairs : 1,
                         S->min_chunk};
    return a;
}

/* Attention of the pass's rows over this layer's cache: q from qf (decode)
 * or qt (prefill), the result into attf (one row, f32) or att (T). */
template <class T>
static void cu_attend(cudaError_t *err, const cu_model *M, const llorch_config *c, cu_session *S, const cu_pass *p,
                      int l, T *kc, const T *vc) {
    const int hd = c->head_dim, qd = c->n_heads * hd;
    if (cu_attend_group<T>(err, M, c, S, p, kc, vc)) return;
    if (p->prefill && (hd == 16 || hd == 32 || hd == 64 || hd == 128)) {
        if (hd == 16) cu_flash<T, 16>(err, c, S, p, kc, vc);
        else if (hd == 32) cu_flash<T, 32>(err, c, S, p, kc, vc);
        else if (hd == 64) cu_flash<T, 64>(err, c, S, p, kc, vc);
        else cu_flash<T, 128>(err, c, S, p, kc, vc);
        return;
    }
    const int qkn = cu_qk_norm_in_attn(M, c, p);
    const auto k = cu_attn_fn<T>(hd, qkn);
    const QkNorm qk = {qkn ? M->L[l].q_norm : NULL, qkn ? M->L[l].k_norm : NULL, M->inv_freq, c->norm_eps};
    cu_launch(err, S->pdl, k, dim3(p->splits, c->n_heads, p->R), dim3(256), cu_attn_smem(hd), S->st,
              p->prefill ? (const float *)NULL : (const float *)S->qf, p->prefill ? (const T *)S->qt : (const T *)NULL,
              p->prefill ? qd : cu_qf_ld(M), kc, vc, p->gemv ? S->attf : (float *)NULL, p->gemv ? (T *)NULL : (T *)S->att,
              qd, p->rows, c->n_heads, c->n_kv_heads, hd, S->ctx, c->sliding_window, 1.0f / sqrtf((float)hd),
              cu_attn_split(M, S, c->n_heads * p->R, p->splits), S->part, S->counters, qk);
}

/* The QKV epilogue of layer l: biases, RoPE (unless the q/k norm comes
 * first), q to qf (decode) or qt (prefill), k and v to the cache. */
static Epi cu_epi_qkv(const llorch_model *m, const cu_session *S, const cu_pass *p, int l) {
    const cu_model *M = (const cu_model *)m->backend_data;
    const llorch_config *c = &m->cfg;
    Epi e = cu_epi(EPI_QKV, M->q_dim + 2 * M->kv_dim);
    e.rows = p->rows;
    if (p->prefill) e.t = S->qt, e.ldt = M->q_dim;
    else e.f = S->qf, e.ldf = cu_qf_ld(M);
    e.kc = (char *)S->kc + (size_t)l * S->kv_layer * 2;
    e.vc = (char *)S->vc + (size_t)l * S->kv_layer * 2;
    e.inv_freq = M->inv_freq;
    e.bias = M->L[l].bqkv;
    e.rope = !c->qk_norm;
    e.k_in_f = cu_qk_norm_in_attn(M, c, p);
    e.hd = c->head_dim;
    e.q_dim = M->q_dim;
    e.kv_dim = M->kv_dim;
    e.ctx = S->ctx;
    e.window = c->sliding_window;
    return e;
}

/* Enqueue layer l of pass p: x (the residual stream, f32) goes through
 * attention and the MLP, each added back to it. */
template <class T> static void cu_enqueue_layer(cudaError_t *err, const llorch_model *m, cu_session *S, const cu_pass *p, int l) {
    const cu_model *M = (const cu_model *)m->backend_data;
    const llorch_config *c = &m->cfg;
    const cu_layer *L = &M->L[l];
    const int dim = c->dim, hid = c->hidden_dim, qd = M->q_dim, kvd = M->kv_dim, pdl = S->pdl;
    /* q, k, v (biases and RoPE in the epilogue; k and v into the cache), then the q/k norm if any */
    const Epi eq = cu_epi_qkv(m, S, p, l);
    const void *embed = l ? NULL : p->embed;
    cu_linear<T>(err, m, S, p, embed ? 0 : pdl, L->wqkv, qd + 2 * kvd, dim, L->attn_norm, S->x, NULL, eq,
                 S->gv_grid[GV_QKV], 1, NULL, embed);
    if (c->qk_norm && !eq.k_in_f)
        cu_launch(err, pdl, k_qk_norm<T>, dim3(c->n_heads + c->n_kv_heads, p->R), dim3(32), 0, S->st, eq,
                  (const float *)L->q_norm, (const float *)L->k_norm, c->norm_eps, c->n_heads);
    cu_attend<T>(err, M, c, S, p, l, (T *)eq.kc, (const T *)eq.vc);
    /* x += o_proj(attention) */
    Epi eo = cu_epi(EPI_ADD, dim);
    eo.f = S->x;
    eo.ldf = dim;
    if (cu_norm_fused(p)) eo.t = S->xn, eo.ldt = dim; /* x's copy in T for the next norm (k_skinny) */
    cu_linear<T>(err, m, S, p, pdl, L->wo, dim, qd, NULL, S->attf, (const T *)S->att, eo, S->gv_grid[GV_O], 1);
    /* x += down_proj(SwiGLU(gate_proj(xn), up_proj(xn))) */
    Epi eg = cu_epi(EPI_SWIGLU, 2 * hid);
    if (p->gemv) eg.f = S->hf, eg.ldf = hid;
    else eg.t = S->h, eg.ldt = hid;
    cu_linear<T>(err, m, S, p, pdl, L->wgu, 2 * hid, dim, L->ffn_norm, S->x, NULL, eg, S->gv_grid[GV_GU], 0);
    cu_linear<T>(err, m, S, p, pdl, L->wdown, dim, hid, NULL, S->hf, (const T *)S->h, eo, S->gv_grid[GV_DOWN], 0);
}

/* Enqueue one decode step of R rows (the step record already in d_step).
 * This is what a bucket's graph captures. */
template <class T> static cudaError_t cu_enqueue_decode(llorch_model *m, cu_session *S, int R, int *next_host) {
    const cu_model *M = (const cu_model *)m->backend_data;
    const llorch_config *c = &m->cfg;
    const int B = S->B, dim = c->dim, V = c->vocab_size;
    cudaError_t err = cudaSuccess;
    const cu_pass p = cu_pass_decode(M, S, R);
    if (!p.embed)
        cu_launch(&err, 0, k_embed<T>, dim3(R), dim3(128), 0, S->st, (const T *)M->embed, dim, (const int *)S->d_step,
                  (const int *)S->d_next, p.rows, S->x, cu_norm_fused(&p) ? (T *)S->xn : (T *)NULL, S->hist, S->ctx);
    for (int l = 0; l < c->n_layers; l++) cu_enqueue_layer<T>(&err, m, S, &p, l);
    /* logits, and (one sequence) each lm_head block's largest for a greedy sampler */
    Epi el = cu_epi(EPI_STORE, V);
    el.f = S->logits;
    el.ldf = V;
    cu_linear<T>(&err, m, S, &p, S->pdl, M->lm_head, V, dim, M->norm, S->x, NULL, el, S->gv_grid[GV_LM], 0,
                 p.gemv ? S->amax : NULL);
    SampleArgs sa;
    memset(&sa, 0, sizeof sa);
    sa.logits = S->logits;
    sa.vocab = V;
    sa.rows = R;
    sa.amax = p.gemv ? S->amax : NULL;
    sa.n_amax = p.gemv ? cu_gemv_grid(V, S->gv_grid[GV_LM]) : 0;
    sa.pos = cu_step_pos(S->d_step, B);
    sa.seq = cu_step_seq(S->d_step, B);
    sa.sp = cu_step_sp(S->d_step, B);
    sa.hist = S->hist;
    sa.ctx = S->ctx;
    sa.work = S->work;
    sa.seen = S->seen;
    sa.next = S->d_next;
    sa.next_host = next_host;
    sa.wstride = cu_sample_stride(V);
    const int nt = R == 1 ? SAMPLE_SUM_THREADS_ONE : SAMPLE_SUM_THREADS;
    cu_launch(&err, S->pdl, R == 1 ? k_sample_chunks<SAMPLE_SUM_THREADS_ONE> : k_sample_chunks<SAMPLE_SUM_THREADS>,
              dim3(SAMPLE_CHUNKS, R < SAMPLE_SUM_ROWS ? R : SAMPLE_SUM_ROWS), dim3(nt), 0, S->st, sa);
    cu_launch(&err, S->pdl, k_sample, dim3(R), dim3(SAMPLE_THREADS), 0, S->st, sa);
    return err;
}

/* Prefill n tokens of sequence seq at positions pos0.. (n <= S->PF). */
template <class T> static cudaError_t cu_enqueue_prefill(llorch_model *m, cu_session *S, int seq, int pos0, int n) {
    const cu_model *M = (const cu_model *)m->backend_data;
    const llorch_config *c = &m->cfg;
    cudaError_t err = cudaSuccess;
    const cu_pass p = cu_pass_prefill(seq, pos0, n);
    cu_launch(&err, 0, k_embed<T>, dim3(n), dim3(128), 0, S->st, (const T *)M->embed, c->dim, (const int *)S->d_ids,
              (const int *)NULL, p.rows, S->x, cu_norm_fused(&p) ? (T *)S->xn : (T *)NULL, S->hist, S->ctx);
    for (int l = 0; l < c->n_layers; l++) cu_enqueue_layer<T>(&err, m, S, &p, l);
    return err;
}

/* R rows of prompt pieces (ids in d_ids, positions and sequences in d_pieces). */
template <class T> static cudaError_t cu_enqueue_pieces(llorch_model *m, cu_session *S, int R) {
    const cu_model *M = (const cu_model *)m->backend_data;
    const llorch_config *c = &m->cfg;
    cudaError_t err = cudaSuccess;
    const cu_pass p = cu_pass_pieces(S, R);
    cu_launch(&err, 0, k_embed<T>, dim3(R), dim3(128), 0, S->st, (const T *)M->embed, c->dim, (const int *)S->d_ids,
              (const int *)NULL, p.rows, S->x, cu_norm_fused(&p) ? (T *)S->xn : (T *)NULL, S->hist, S->ctx);
    for (int l = 0; l < c->n_layers; l++) cu_enqueue_layer<T>(&err, m, S, &p, l);
    return err;
}

/* logits of activation row r (after the final norm) into S->logits. */
template <class T> static cudaError_t cu_enqueue_logits(llorch_model *m, cu_session *S, int r) {
    const cu_model *M = (const cu_model *)m->backend_data;
    const llorch_config *c = &m->cfg;
    cudaError_t err = cudaSuccess;
    Epi el = cu_epi(EPI_STORE, c->vocab_size);
    el.f = S->logits;
    el.ldf = c->vocab_size;
    cu_gemv<T>(&err, S, S->pdl, M->lm_head, c->vocab_size, c->dim, S->x + (size_t)r * c->dim, M->norm, c->norm_eps, el,
               (float2 *)NULL);
    return err;
}

/* Releases what bucket b's slot k holds: its executable graph, the captured
 * graph and the list of its attention nodes. */
static void cu_release_slot(cu_session *S, int b, int k) {
    if (S->graph[b][k]) cudaGraphExecDestroy(S->graph[b][k]);
    if (S->captured[b][k]) cudaGraphDestroy(S->captured[b][k]);
    free(S->attn_node[b][k]);
    S->graph[b][k] = NULL;
    S->captured[b][k] = NULL;
    S->attn_node[b][k] = NULL;
}

static void cu_session_free(llorch_session *s) {
    cu_session *S = (cu_session *)s->backend_data;
    if (!S) return;
    const cu_model *M = (const cu_model *)s->m->backend_data;
    cudaSetDevice(M->dev);
    if (S->st) cudaStreamSynchronize(S->st); /* a step queued ahead may still run */
    for (int b = 0; b < S->n_buckets; b++)
        for (int k = 0; k < 2; k++) cu_release_slot(S, b, k);
    for (int k = 0; k < 2; k++) {
        if (S->done[k]) cudaEventDestroy(S->done[k]);
        if (S->h_step[k]) cudaFreeHost(S->h_step[k]);
        if (S->h_next[k]) cudaFreeHost(S->h_next[k]);
    }
    if (S->st) cudaStreamDestroy(S->st);
    if (S->buf) cudaFree(S->buf);
    cudaGetLastError();
    free(S->rec);
    free(S->row_seq);
    free(S->has_row);
    free(S->h_pieces);
    free(S);
    s->backend_data = NULL;
    s->bytes = 0;
}

/* The k_attn nodes of graph g (slot k of bucket b), one a layer, whose grid
 * cu_size_attention sets; none where the step's attention is k_attn_group. */
static cudaError_t cu_find_attention(llorch_session *s, cu_session *S, cudaGraph_t g, int b, int k) {
    const cu_model *M = (const cu_model *)s->m->backend_data;
    const int hd = s->m->cfg.head_dim, layers = s->m->cfg.n_layers;
    const void *fn[2] = {M->is_f16 ? (const void *)cu_attn_fn<f16>(hd, 0) : (const void *)cu_attn_fn<bf16>(hd, 0),
                         M->is_f16 ? (const void *)cu_attn_fn<f16>(hd, 1) : (const void *)cu_attn_fn<bf16>(hd, 1)};
    size_t n = 0;
    cudaError_t e = cudaGraphGetNodes(g, NULL, &n);
    cudaGraphNode_t *all = e == cudaSuccess ? (cudaGraphNode_t *)malloc(n * sizeof *all) : NULL;
    cudaGraphNode_t *found = (cudaGraphNode_t *)calloc((size_t)layers, sizeof *found);
    if (e == cudaSuccess && (!all || !found)) e = cudaErrorMemoryAllocation;
    if (e == cudaSuccess) e = cudaGraphGetNodes(g, all, &n);
    int nf = 0;
    for (size_t i = 0; i < n && e == cudaSuccess; i++) {
        cudaGraphNodeType t;
        cudaKernelNodeParams kp;
        if (cudaGraphNodeGetType(all[i], &t) != cudaSuccess || t != cudaGraphNodeTypeKernel) continue;
        if ((e = cudaGraphKernelNodeGetParams(all[i], &kp)) != cudaSuccess) break;
        if (kp.func == fn[0] || kp.func == fn[1]) {
            if (nf < layers) found[nf] = all[i];
            nf++;
        }
    }
    free(all);
    if (e == cudaSuccess && nf == layers) { /* (else its grids stay as captured) */
        S->attn_node[b][k] = found;
        S->attn_grid[b][k] = S->s_max;
    } else {
        free(found);
    }
    return e;
}

/* Size the k_attn grids of slot k's graph of bucket b to the splits its rows
 * need, from the slot's step record. */
static cudaError_t cu_size_attention(const cu_model *M, const llorch_config *c, cu_session *S, int b, int k) {
    if (!S->attn_node[b][k]) return cudaSuccess;
    const int R = S->bucket[b], *pos = cu_step_pos(S->h_step[k], S->B);
    const AttnSplit sp = cu_attn_split(M, S, c->n_heads * R, S->s_max); /* (as cu_attend gives k_attn) */
    int need = 1, first, chunk;
    for (int r = 0; r < R; r++)
        if (pos[r] >= 0) need = max(need, attn_splits(pos[r], c->sliding_window, sp, &first, &chunk));
    cudaError_t e = cudaSuccess;
    for (int l = 0; l < c->n_layers && e == cudaSuccess && need != S->attn_grid[b][k]; l++) {
        cudaKernelNodeParams kp;
        e = cudaGraphKernelNodeGetParams(S->attn_node[b][k][l], &kp);
        kp.gridDim.x = need;
        if (e == cudaSuccess) e = cudaGraphExecKernelNodeSetParams(S->graph[b][k], S->attn_node[b][k][l], &kp);
    }
    S->attn_grid[b][k] = e == cudaSuccess ? need : 0; /* (0: set them all again next time) */
    return e;
}

/* Capture the decode step of bucket b in slot k as a graph: the slot's step
 * record in, kernels, chosen ids out to its result. */
static cudaError_t cu_capture_slot(llorch_session *s, cu_session *S, int b, int k) {
    const cu_model *M = (const cu_model *)s->m->backend_data;
    const int R = S->bucket[b];
    cudaGraph_t g = NULL;
    cudaGraphExec_t *exec = &S->graph[b][k];
    cu_release_slot(S, b, k);
    cudaError_t e = cudaStreamBeginCapture(S->st, cudaStreamCaptureModeThreadLocal);
    if (e != cudaSuccess) return e;
    cudaError_t e1 = cudaMemcpyAsync(S->d_step, S->h_step[k], cu_step_bytes(S->B), cudaMemcpyHostToDevice, S->st);
    /* (the sampler writes the chosen ids to h_next itself: pinned memory is mapped) */
    cudaError_t e2 = M->is_f16 ? cu_enqueue_decode<f16>(s->m, S, R, S->h_next[k])
                               : cu_enqueue_decode<bf16>(s->m, S, R, S->h_next[k]);
    e = cudaStreamEndCapture(S->st, &g);
    if (e == cudaSuccess) e = e1 ? e1 : e2;
    if (e == cudaSuccess) {
        size_t nodes = 0;
        cudaGraphGetNodes(g, NULL, &nodes);
        S->graph_nodes = (int)nodes;
        e = cudaGraphInstantiate(exec, g, 0);
    }
    if (e == cudaSuccess && S->s_max > 1) e = cu_find_attention(s, S, g, b, k);
    if (e != cudaSuccess) {
        if (g) cudaGraphDestroy(g);
        cu_release_slot(S, b, k);
        cudaGetLastError();
        return e;
    }
    if (S->attn_node[b][k]) S->captured[b][k] = g;
    else cudaGraphDestroy(g);
    return e;
}

static cudaError_t cu_capture(llorch_session *s, cu_session *S) {
    cudaError_t e = cudaSuccess;
    for (int b = 0; b < S->n_buckets && e == cudaSuccess; b++)
        for (int k = 0; k < 2 && e == cudaSuccess; k++) e = cu_capture_slot(s, S, b, k);
    return e;
}

static int cu_session_init(llorch_session *s, llorch_error *err) {
    llorch_model *m = s->m;
    const cu_model *M = (const cu_model *)m->backend_data;
    const llorch_config *c = &m->cfg;
    cudaSetDevice(M->dev);
    cu_session *S = (cu_session *)calloc(1, sizeof *S);
    if (!S) return llorch_fail(err, LLORCH_E_NOMEM, "out of memory");
    const int B = s->n_seq, ctx = s->ctx, dim = c->dim, hid = c->hidden_dim, hd = c->head_dim, V = c->vocab_size;
    const int qd = M->q_dim, kvd = M->kv_dim;
    S->B = B;
    S->ctx = ctx;
    for (int r = 1; r < B && S->n_buckets < CU_MAX_BUCKETS - 1; r *= 2) S->bucket[S->n_buckets++] = r;
    S->bucket[S->n_buckets++] = B;
    S->PF = ctx < 512 ? ctx : 512;
    S->R = S->PF > B ? S->PF : B;
    S->min_chunk = 256; /* keys of a split's one pass (contexts past 2 min_chunk are split) */
    /* attention splits: none up to 2 min_chunk keys (as k_attn decides), at most 32 */
    S->s_max = ctx <= 2 * S->min_chunk ? 1 : (ctx + S->min_chunk - 1) / S->min_chunk;
    const int fill = cu_attn_split(M, S, c->n_heads, 32).fill;
    if (S->s_max > 1 && S->s_max < fill) S->s_max = fill;
    if (S->s_max > 32) S->s_max = 32;
    /* GEMV blocks: 2 per SM, 3 for w_gate/w_up and lm_head (measured on an
       H100: 1001 -> 974 us/step; 3 for w_down or all of them was slower).
       The attention projections over rows of at most 1,024 take 1.5 an SM
       (measured on an H200, tok/s at positions 16 / 1,792: Qwen2.5-0.5B,
       QKV and output rows of 896, 1,769-1,771 -> 1,791-1,792 / 1,460 ->
       1,481; Qwen3-0.6B, QKV rows of 1,024, 1,336 -> 1,371 / 1,082 ->
       1,084; with rows of 2,048, TinyLlama's and Llama-3.2-1B's, fewer
       blocks were slower). */
    S->gemv_grid = 2 * M->sms;
    S->gv_grid[GV_QKV] = dim <= 1024 ? 3 * M->sms / 2 : 2 * M->sms;
    S->gv_grid[GV_O] = qd <= 1024 ? 3 * M->sms / 2 : 2 * M->sms;
    S->gv_grid[GV_GU] = 3 * M->sms;
    S->gv_grid[GV_DOWN] = 2 * M->sms;
    S->gv_grid[GV_LM] = 3 * M->sms;
    S->pdl = M->cc >= 90;
    S->gv_early = 1;      /* measured: letting the next kernel launch before waiting saves ~2% */
    S->gv_pf = 64 << 10; /* measured: 64 KB beats 0, 32 KB (by 1%) and 128 KB */
    S->gv_pf_more = 1;    /* measured: TinyLlama 1,181 -> 1,188 tok/s, Qwen2.5-0.5B 1,575 -> 1,592 */
    const size_t R = (size_t)S->R, Bz = (size_t)B;

    /* one allocation: KV cache, then scratch, laid out from the table */
    S->kv_layer = Bz * (size_t)kvd * (size_t)ctx;
    const size_t L = (size_t)c->n_layers;
    const cu_slot slots[] = {
        {(void **)&S->kc, S->kv_layer * 2 * L},
        {(void **)&S->vc, S->kv_layer * 2 * L},
        {(void **)&S->x, R * dim * 4},                /* the residual stream */
        {(void **)&S->xn, R * dim * 2},               /* its RMSNorm (the GEMMs' input), or x in T (cu_norm_fused) */
        {(void **)&S->att, R * qd * 2},               /* attention out (several rows) */
        {(void **)&S->h, R * hid * 2},                /* SwiGLU out (several rows) */
        {(void **)&S->qt, (size_t)S->PF * qd * 2},    /* q of a prefill chunk */
        {(void **)&S->qf, R * (qd + kvd) * 4},        /* q (and k, see cu_qf_ld) of a decode step or prompt pieces */
        {(void **)&S->attf, (size_t)qd * 4},          /* attention out (one row) */
        {(void **)&S->hf, (size_t)hid * 4},           /* SwiGLU out (one row) */
        {(void **)&S->logits, Bz * V * 4},
        {(void **)&S->work, Bz * cu_sample_stride(V) * 4}, /* the sampler's */
        {(void **)&S->seen, Bz * V * 4},
        {(void **)&S->amax, (size_t)4 * M->sms * 8},  /* up to 4 lm_head blocks per SM */
        {(void **)&S->part, Bz * c->n_heads * S->s_max * (hd + 2) * 4}, /* attention splits */
        {(void **)&S->counters, Bz * c->n_heads * 4},
        {(void **)&S->gws, cu_gws_floats(M) * 4},     /* split-K partial tiles */
        {(void **)&S->gflags, (size_t)cu_gflags(M) * 4},
        {(void **)&S->hist, Bz * ctx * 4},
        {(void **)&S->d_ids, (size_t)S->PF * 4},
        {(void **)&S->d_pieces, (size_t)S->PF * 2 * 4},
        {(void **)&S->d_step, cu_step_bytes(B)},
        {(void **)&S->d_next, Bz * 4},
    };
    const int ns = (int)(sizeof slots / sizeof slots[0]);
    const size_t off = cu_layout(slots, ns, NULL);

    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    cudaError_t e = cudaMalloc((void **)&S->buf, off);
    if (e != cudaSuccess) {
        cudaGetLastError();
        free(S);
        return llorch_fail(err, LLORCH_E_NOMEM,
                           "cuda:%d: out of device memory for a session of %d x %d positions (%zu MB needed, %zu MB free)",
                           M->dev, B, ctx, off >> 20, free_b >> 20);
    }
    cu_layout(slots, ns, S->buf);
    S->bytes = off;
    s->backend_data = S;
    s->bytes = off;

    const size_t step_bytes = cu_step_bytes(B);
    if ((e = cudaMemset(S->buf, 0, off)) == cudaSuccess)
        e = cudaStreamCreateWithFlags(&S->st, cudaStreamNonBlocking);
    for (int k = 0; k < 2 && e == cudaSuccess; k++)
        if ((e = cudaMallocHost((void **)&S->h_step[k], step_bytes)) == cudaSuccess &&
            (e = cudaMallocHost((void **)&S->h_next[k], Bz * 4)) == cudaSuccess)
            e = cudaEventCreateWithFlags(&S->done[k], cudaEventDisableTiming);
    if (e == cudaSuccess && (!(S->rec = (int *)malloc(step_bytes)) || !(S->row_seq = (int *)malloc(Bz * sizeof(int))) ||
                             !(S->has_row = (unsigned char *)malloc(Bz)) ||
                             !(S->h_pieces = (int *)malloc((size_t)S->PF * 3 * sizeof(int)))))
        e = cudaErrorMemoryAllocation;
    for (int r = 0; r < B && e == cudaSuccess; r++) S->row_seq[r] = -1;
    if (e != cudaSuccess) {
        cu_session_free(s);
        return llorch_fail(err, e == cudaErrorMemoryAllocation ? LLORCH_E_NOMEM : LLORCH_E_DEVICE, "cuda:%d: %s", M->dev,
                           cudaGetErrorString(e));
    }
    /* the decode graph; without programmatic launch if this runtime can't capture it */
    e = cu_capture(s, S);
    if (e != cudaSuccess && S->pdl) {
        S->pdl = 0;
        e = cu_capture(s, S);
    }
    /* warm-up: one step of each graph with every row idle (reads all
       weights, writes no cache) */
    for (int k = 0; k < 2 && e == cudaSuccess; k++) {
        for (int i = 0; i < B; i++) {
            S->h_step[k][i] = -1;
            cu_step_pos(S->h_step[k], B)[i] = -1;
            cu_step_seq(S->h_step[k], B)[i] = 0;
            cu_step_sp(S->h_step[k], B)[i] = cu_plain_params();
        }
        for (int b = 0; b < S->n_buckets && e == cudaSuccess; b++) e = cudaGraphLaunch(S->graph[b][k], S->st);
        if (e == cudaSuccess) e = cudaStreamSynchronize(S->st);
    }
    if (e != cudaSuccess) {
        cudaGetLastError();
        cu_session_free(s);
        return llorch_fail(err, e == cudaErrorMemoryAllocation ? LLORCH_E_NOMEM : LLORCH_E_DEVICE,
                           "cuda:%d: preparing the decode step: %s", M->dev, cudaGetErrorString(e));
    }
    return 0;
}

static int cu_prefill(llorch_session *s, int seq, const int *ids, int n, float *logits, llorch_error *err) {
    llorch_model *m = s->m;
    const cu_model *M = (const cu_model *)m->backend_data;
    cu_session *S = (cu_session *)s->backend_data;
    cudaSetDevice(M->dev);
    cudaError_t e = cudaSuccess;
    int done = 0;
    while (done < n && e == cudaSuccess) {
        int nc = n - done < S->PF ? n - done : S->PF;
        e = cudaMemcpyAsync(S->d_ids, ids + done, (size_t)nc * sizeof(int), cudaMemcpyHostToDevice, S->st);
        if (e == cudaSuccess)
            e = M->is_f16 ? cu_enqueue_prefill<f16>(m, S, seq, s->pos[seq] + done, nc)
                          : cu_enqueue_prefill<bf16>(m, S, seq, s->pos[seq] + done, nc);
        if (e == cudaSuccess && done + nc == n && logits)
            e = M->is_f16 ? cu_enqueue_logits<f16>(m, S, nc - 1) : cu_enqueue_logits<bf16>(m, S, nc - 1);
        done += nc;
        /* the next chunk's ids overwrite d_ids: finish this one first */
        if (e == cudaSuccess && done < n) e = cudaStreamSynchronize(S->st);
    }
    if (e == cudaSuccess && logits)
        e = cudaMemcpyAsync(logits, S->logits, (size_t)m->cfg.vocab_size * 4, cudaMemcpyDeviceToHost, S->st);
    if (e == cudaSuccess) e = cudaStreamSynchronize(S->st);
    S->ahead = 0; /* a step queued ahead (now finished) saw the cache before this prefill */
    if (e != cudaSuccess) {
        cudaGetLastError();
        return llorch_fail(err, LLORCH_E_DEVICE, "cuda:%d: prefill: %s", M->dev, cudaGetErrorString(e));
    }
    return 0;
}

/* Prompt pieces of several sequences. A piece of 64 tokens or more runs
 * alone (cu_prefill: flash attention shares each key among 64 queries);
 * shorter ones are gathered as the rows of passes of up to PF rows, which
 * read the weights once for all of them: a server admitting many short
 * prompts at once would otherwise pay a pass over the weights for each. */
static int cu_prefill_many(llorch_session *s, int k, const int *seq, const int *const *ids, const int *n,
                           llorch_error *err) {
    llorch_model *m = s->m;
    const cu_model *M = (const cu_model *)m->backend_data;
    cu_session *S = (cu_session *)s->backend_data;
    const int PF = S->PF, gather = cu_group_fits(&m->cfg);
    int *hid = S->h_pieces, *hpos = hid + PF, *hseq = hpos + PF, R = 0, st;
    cudaSetDevice(M->dev);
    cudaError_t e = cudaSuccess;
    for (int i = 0; i <= k && e == cudaSuccess; i++) {
        const int alone = i < k && (n[i] >= 64 || !gather);
        if (R > 0 && (i == k || (!alone && R + n[i] > PF))) { /* run the rows gathered so far */
            e = cudaMemcpyAsync(S->d_ids, hid, (size_t)R * sizeof(int), cudaMemcpyHostToDevice, S->st);
            if (e == cudaSuccess) e = cudaMemcpyAsync(S->d_pieces, hpos, (size_t)R * sizeof(int), cudaMemcpyHostToDevice, S->st);
            if (e == cudaSuccess)
                e = cudaMemcpyAsync(S->d_pieces + PF, hseq, (size_t)R * sizeof(int), cudaMemcpyHostToDevice, S->st);
            if (e == cudaSuccess) e = M->is_f16 ? cu_enqueue_pieces<f16>(m, S, R) : cu_enqueue_pieces<bf16>(m, S, R);
            if (e == cudaSuccess) e = cudaStreamSynchronize(S->st); /* before the host rows are refilled */
            R = 0;
        }
        if (i == k || e != cudaSuccess) break;
        if (alone) {
            if ((st = cu_prefill(s, seq[i], ids[i], n[i], NULL, err))) return st;
            continue;
        }
        for (int j = 0; j < n[i]; j++, R++) hid[R] = ids[i][j], hpos[R] = s->pos[seq[i]] + j, hseq[R] = seq[i];
    }
    S->ahead = 0; /* as in cu_prefill */
    if (e != cudaSuccess) {
        cudaGetLastError();
        cudaStreamSynchronize(S->st);
        return llorch_fail(err, LLORCH_E_DEVICE, "cuda:%d: prefill: %s", M->dev, cudaGetErrorString(e));
    }
    return 0;
}

/* The smallest bucket of at least n rows. */
static int cu_bucket(const cu_session *S, int n) {
    int b = 0;
    while (b < S->n_buckets - 1 && S->bucket[b] < n) b++;
    return b;
}

/* The rows of the next step (S->row_seq), and its bucket. A sequence keeps
 * its row while it decodes, so that the step queued ahead, whose rows are
 * this step's, is still the one asked for when other sequences stop; a new
 * sequence takes the lowest free row. When the active sequences would fit a
 * bucket a quarter the size, the rows are packed anew in sequence order. The
 * rows (and so the kernels, whose rounding differs between a GEMV and a
 * GEMM) depend only on which sequences were active at each step, whether or
 * not steps were queued ahead. */
static int cu_assign_rows(cu_session *S, const int *ids) {
    const int B = S->B;
    int *rs = S->row_seq, n = 0, top = 0, free_row = 0;
    memset(S->has_row, 0, (size_t)B);
    for (int r = 0; r < B; r++) {
        if (rs[r] >= 0 && ids[rs[r]] < 0) rs[r] = -1;
        if (rs[r] >= 0) S->has_row[rs[r]] = 1;
    }
    for (int i = 0; i < B; i++) {
        if (ids[i] < 0) continue;
        n++;
        if (S->has_row[i]) continue;
        while (rs[free_row] >= 0) free_row++; /* a row is free: no more than B sequences */
        rs[free_row] = i;
    }
    for (int r = 0; r < B; r++)
        if (rs[r] >= 0) top = r + 1;
    int b = cu_bucket(S, top);
    const int packed = cu_bucket(S, n);
    if (S->bucket[b] >= 4 * S->bucket[packed]) {
        int r = 0;
        for (int i = 0; i < B; i++)
            if (ids[i] >= 0) rs[r++] = i;
        for (; r < B; r++) rs[r] = -1;
        b = packed;
    }
    return b;
}

/* The step record of S->row_seq's rows into rec: each row's sequence, id,
 * position and sampling; free rows idle. */
static void cu_fill_record(const cu_session *S, int *rec, const int *ids, const int *pos, const llorch_sample_params *sp) {
    const int B = S->B;
    int *rpos = cu_step_pos(rec, B), *rseq = cu_step_seq(rec, B);
    llorch_sample_params *p = cu_step_sp(rec, B);
    for (int r = 0; r < B; r++) {
        const int q = S->row_seq[r];
        rec[r] = q >= 0 ? ids[q] : -1;
        rpos[r] = q >= 0 ? pos[q] : -1;
        rseq[r] = q >= 0 ? q : 0;
        p[r] = cu_plain_params();
        if (q >= 0 && sp) {
            p[r].temperature = sp[q].temperature;
            p[r].top_p = sp[q].top_p;
            p[r].repetition_penalty = sp[q].repetition_penalty;
            p[r].top_k = sp[q].top_k;
            p[r].u = sp[q].u;
        }
    }
}

static cudaError_t cu_launch_slot(const cu_model *M, const llorch_config *c, cu_session *S, int b, int k) {
    cudaError_t e = cu_size_attention(M, c, S, b, k);
    if (e == cudaSuccess) e = cudaGraphLaunch(S->graph[b][k], S->st);
    if (e == cudaSuccess) e = cudaEventRecord(S->done[k], S->st);
    S->last = k;
    S->last_bucket = b;
    return e;
}

/* Is the step queued ahead in slot k the one asked for in S->rec? Its ids are
 * CU_CHAIN where the previous step's choices (in slot k ^ 1) go in. */
static int cu_ahead_matches(const cu_session *S, int k) {
    const int B = S->B, *q = S->h_step[k], *chosen = S->h_next[k ^ 1];
    for (int i = 0; i < B; i++)
        if (S->rec[i] != (q[i] == CU_CHAIN ? chosen[i] : q[i])) return 0;
    return !memcmp(S->rec + B, q + B, cu_step_bytes(B) - (size_t)B * sizeof(int));
}

/* Queue in slot k the step that follows the one just launched, for every
 * sequence whose caller said it will go on (u_next >= 0) with the token this
 * step chooses: it runs while the host reads this step's tokens. Returns
 * whether it queued anything. */
static int cu_queue_ahead(cu_session *S, int k, const int *pos, const llorch_sample_params *sp, int ctx) {
    const int B = S->B, *rseq = cu_step_seq(S->rec, B);
    int *q = S->h_step[k], *qpos = cu_step_pos(q, B), any = 0;
    llorch_sample_params *qp = cu_step_sp(q, B);
    memcpy(q, S->rec, cu_step_bytes(B));
    for (int r = 0; r < B; r++) {
        const int i = rseq[r], go = S->rec[r] >= 0 && sp[i].u_next >= 0 && pos[i] + 1 < ctx;
        q[r] = go ? CU_CHAIN : -1;
        qpos[r] = go ? pos[i] + 1 : -1;
        if (go) qp[r].u = sp[i].u_next;
        else qp[r] = cu_plain_params();
        any |= go;
    }
    return any;
}

/* One decode step of the active sequences, as the rows of the smallest
 * bucket that holds them. With sampling and no logits asked for, the step
 * after it is queued before this one's tokens are read (its input token is
 * already on the device), so the GPU never waits for the host; the next call
 * claims it if it asks for exactly that step, and otherwise lets it finish
 * unused (it only wrote the cache positions that call writes again). */
static int cu_decode(llorch_session *s, const int *ids, const llorch_sample_params *sp, int *next, float *logits,
                     llorch_error *err) {
    const cu_model *M = (const cu_model *)s->m->backend_data;
    cu_session *S = (cu_session *)s->backend_data;
    const int B = S->B, V = s->m->cfg.vocab_size;
    cudaSetDevice(M->dev);
    int any = 0;
    for (int i = 0; i < B; i++) any |= ids[i] >= 0;
    if (!any) return 0;
    const int b = cu_assign_rows(S, ids);
    cu_fill_record(S, S->rec, ids, s->pos, sp);
    cudaError_t e = cudaSuccess;
    int k;
    if (S->ahead && S->last_bucket == b && cu_ahead_matches(S, S->last)) {
        k = S->last; /* already running */
    } else {
        if (S->ahead) e = cudaStreamSynchronize(S->st); /* not what is asked: let it finish, unused */
        k = S->last ^ 1;
        memcpy(S->h_step[k], S->rec, cu_step_bytes(B));
        if (e == cudaSuccess) e = cu_launch_slot(M, &s->m->cfg, S, b, k);
    }
    S->ahead = 0;
    if (e == cudaSuccess && sp && next && !logits && cu_queue_ahead(S, k ^ 1, s->pos, sp, s->ctx)) {
        e = cu_launch_slot(M, &s->m->cfg, S, b, k ^ 1);
        S->ahead = e == cudaSuccess;
    }
    if (e == cudaSuccess) e = cudaEventSynchronize(S->done[k]);
    const int *rseq = cu_step_seq(S->rec, B);
    for (int r = 0; r < B && e == cudaSuccess && logits; r++)
        if (S->rec[r] >= 0)
            e = cudaMemcpy(logits + (size_t)rseq[r] * V, S->logits + (size_t)r * V, (size_t)V * 4, cudaMemcpyDeviceToHost);
    if (e != cudaSuccess) {
        cudaGetLastError();
        cudaStreamSynchronize(S->st);
        S->ahead = 0;
        return llorch_fail(err, LLORCH_E_DEVICE, "cuda:%d: decode: %s", M->dev, cudaGetErrorString(e));
    }
    if (sp && next)
        for (int r = 0; r < B; r++)
            if (S->rec[r] >= 0) next[rseq[r]] = S->h_next[k][r];
    return 0;
}

extern "C" const llorch_backend llorch_cuda_backend = {"cuda",          cu_model_init, cu_model_free, cu_session_init,
                                                       cu_session_free, cu_prefill,    cu_decode,    cu_prefill_many};
