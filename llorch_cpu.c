/* llorch_cpu.c - the CPU backend, and the one translation unit that compiles
 * the llorch.h implementation.
 *
 * The forward pass works on "rows": each row is one token of one sequence at
 * one position. A prompt is many rows of one sequence (so every weight read
 * serves all of them), prompt pieces of several sequences are rows of each,
 * and a batched decode step is one row per sequence. Matrix
 * products stream the weights in their stored type (f32, f16, bf16) and
 * convert in registers, split over a small pthread pool per session.
 */
#define LLORCH_IMPLEMENTATION
#include "llorch.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

/* ======================================================================== */
/* SIMD: a few vector operations, for AVX-512, AVX2 (+FMA, F16C) or plain C  */
/* ======================================================================== */

#if defined(__AVX512F__)
#define VL 16
typedef __m512 vf;
static inline vf vzero(void) { return _mm512_setzero_ps(); }
static inline vf vload(const float *p) { return _mm512_loadu_ps(p); }
static inline vf vload_bf16(const uint16_t *p) {
    __m512i h = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(h, 16));
}
static inline vf vload_f16(const uint16_t *p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)); }
static inline vf vfma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
static inline float vsum(vf a) { return _mm512_reduce_add_ps(a); }
static inline void vstore(float *p, vf a) { _mm512_storeu_ps(p, a); }
static inline vf vset1(float a) { return _mm512_set1_ps(a); }
#elif defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define VL 8
typedef __m256 vf;
static inline vf vzero(void) { return _mm256_setzero_ps(); }
static inline vf vload(const float *p) { return _mm256_loadu_ps(p); }
static inline vf vload_bf16(const uint16_t *p) {
    __m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(h, 16));
}
static inline vf vload_f16(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }
static inline vf vfma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
static inline float vsum(vf a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
static inline void vstore(float *p, vf a) { _mm256_storeu_ps(p, a); }
static inline vf vset1(float a) { return _mm256_set1_ps(a); }
#else
#define VL 1
typedef float vf;
static inline vf vzero(void) { return 0.0f; }
static inline vf vload(const float *p) { return *p; }
static inline vf vload_bf16(const uint16_t *p) { return llorch_bf16_to_f32(*p); }
static inline vf vload_f16(const uint16_t *p) { return llorch_f16_to_f32(*p); }
static inline vf vfma(vf a, vf b, vf c) { return a * b + c; }
static inline float vsum(vf a) { return a; }
static inline void vstore(float *p, vf a) { *p = a; }
static inline vf vset1(float a) { return a; }
#endif

/* sum a[i] * b[i] */
static float vec_dot(const float *a, const float *b, int n) {
    vf acc = vzero();
    int i = 0;
    for (; i + VL <= n; i += VL) acc = vfma(vload(a + i), vload(b + i), acc);
    float s = vsum(acc);
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

/* y += a * x */
static void vec_axpy(float *y, float a, const float *x, int n) {
    vf av = vset1(a);
    int i = 0;
    for (; i + VL <= n; i += VL) vstore(y + i, vfma(av, vload(x + i), vload(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

static inline float f32_at(const float *p) { return *p; }
static inline float bf16_at(const uint16_t *p) { return llorch_bf16_to_f32(*p); }
static inline float f16_at(const uint16_t *p) { return llorch_f16_to_f32(*p); }

/* One weight element as f32. */
static float weight_at(const llorch_tensor *t, int64_t i) {
    switch (t->dtype) {
    case LLORCH_F32: return ((const float *)t->data)[i];
    case LLORCH_BF16: return llorch_bf16_to_f32(((const uint16_t *)t->data)[i]);
    default: return llorch_f16_to_f32(((const uint16_t *)t->data)[i]);
    }
}

/* ======================================================================== */
/* Thread pool: one per session; the calling thread is thread 0               */
/* ======================================================================== */

/* A task is n items in chunks, and each thread has an equal share of
 * consecutive chunks. A thread runs its own share in order (one long run of
 * memory), then takes what is left of the others' shares; the caller waits
 * for the chunks, not for the threads. On a machine shared with other
 * programs (or with more threads than cores) a thread the system has put
 * aside delays a task by the one chunk it holds, not by its whole share. */
typedef void (*cpu_task)(void *arg, int64_t lo, int64_t hi, int ith);

typedef struct {
    _Alignas(64) atomic_llong next; /* the share's next chunk (a cache line each: threads claim concurrently) */
} cpu_share;

typedef struct {
    int n; /* threads, the caller included */
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t wake;     /* workers: a task is open, or quit */
    pthread_cond_t finished; /* the caller: the last chunk is done */
    atomic_uint generation;  /* even: a task is open; odd: the caller is replacing it */
    atomic_int active;       /* workers looking at the open task */
    cpu_share *share;        /* [n]: thread i's share ends where share i + 1 begins */
    atomic_llong done;       /* chunks finished */
    atomic_int quit;
    /* the open task, written only while the generation is odd and no worker is active */
    cpu_task fn;
    void *arg;
    int64_t n_items, chunk, n_chunks;
} cpu_pool;

typedef struct {
    cpu_pool *pool;
    int ith;
} cpu_worker_arg;

/* Pauses a thread spins before it sleeps: waiting for the next task (the
 * forward pass hands one out every few microseconds), and the caller waiting
 * for the chunks other threads hold (a few microseconds each). Sleeping soon
 * matters when cores are shared: an idle core takes over a thread waiting for
 * one. */
#define SPIN_IDLE 2000
#define SPIN_FINISH 2000

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* The first chunk of thread t's share. */
static int64_t cpu_share_begin(const cpu_pool *pool, int t) { return pool->n_chunks * t / pool->n; }

/* The next chunk for thread ith, from its own share first; -1 when none are left. */
static int64_t cpu_pool_claim(cpu_pool *pool, int ith) {
    for (int k = 0; k < pool->n; k++) {
        int t = (ith + k) % pool->n;
        int64_t end = cpu_share_begin(pool, t + 1);
        if (atomic_load(&pool->share[t].next) >= end) continue;
        int64_t c = atomic_fetch_add(&pool->share[t].next, 1);
        if (c < end) return c;
    }
    return -1;
}

/* Claim and run chunks of the open task until none are left. */
static void cpu_pool_work(cpu_pool *pool, int ith) {
    for (int64_t c; (c = cpu_pool_claim(pool, ith)) >= 0;) {
        int64_t lo = c * pool->chunk, hi = lo + pool->chunk < pool->n_items ? lo + pool->chunk : pool->n_items;
        pool->fn(pool->arg, lo, hi, ith);
        if (atomic_fetch_add(&pool->done, 1) + 1 == pool->n_chunks) {
            pthread_mutex_lock(&pool->mu);
            pthread_cond_signal(&pool->finished);
            pthread_mutex_unlock(&pool->mu);
        }
    }
}

static int cpu_pool_opened(cpu_pool *pool, unsigned seen, unsigned *g) {
    *g = atomic_load(&pool->generation);
    return *g != seen && !(*g & 1);
}

static void *cpu_worker(void *p) {
    cpu_worker_arg *wa = (cpu_worker_arg *)p;
    cpu_pool *pool = wa->pool;
    int ith = wa->ith;
    unsigned seen = 0, g;
    free(wa);
    for (;;) {
        for (int spin = 0; !cpu_pool_opened(pool, seen, &g) && !atomic_load(&pool->quit) && spin < SPIN_IDLE; spin++)
            cpu_relax();
        if (!cpu_pool_opened(pool, seen, &g)) {
            pthread_mutex_lock(&pool->mu);
            while (!cpu_pool_opened(pool, seen, &g) && !atomic_load(&pool->quit)) pthread_cond_wait(&pool->wake, &pool->mu);
            pthread_mutex_unlock(&pool->mu);
        }
        if (atomic_load(&pool->quit)) return NULL;
        seen = g;
        /* announce before reading the task; if the caller began replacing it
         * meanwhile (it is finished), leave it alone */
        atomic_fetch_add(&pool->active, 1);
        if (atomic_load(&pool->generation) == g) cpu_pool_work(pool, ith);
        atomic_fetch_sub(&pool->active, 1);
    }
}

static void cpu_pool_stop(cpu_pool *pool, int started) {
    pthread_mutex_lock(&pool->mu);
    atomic_store(&pool->quit, 1);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mu);
    for (int i = 0; i < started; i++) pthread_join(pool->threads[i], NULL);
    free(pool->threads);
    free(pool->share);
    pthread_mutex_destroy(&pool->mu);
    pthread_cond_destroy(&pool->wake);
    pthread_cond_destroy(&pool->finished);
}

static int cpu_pool_start(cpu_pool *pool, int n) {
    memset(pool, 0, sizeof *pool);
    pool->n = n;
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pthread_cond_init(&pool->finished, NULL);
    pool->threads = (pthread_t *)calloc((size_t)n, sizeof *pool->threads);
    pool->share = (cpu_share *)aligned_alloc(_Alignof(cpu_share), (size_t)n * sizeof *pool->share);
    if (!pool->threads || !pool->share) { cpu_pool_stop(pool, 0); return -1; }
    for (int i = 1; i < n; i++) {
        cpu_worker_arg *wa = (cpu_worker_arg *)malloc(sizeof *wa);
        if (wa) { wa->pool = pool; wa->ith = i; }
        if (!wa || pthread_create(&pool->threads[i - 1], NULL, cpu_worker, wa)) {
            free(wa);
            cpu_pool_stop(pool, i - 1);
            return -1;
        }
    }
    return 0;
}

/* Run fn(arg, lo, hi, thread) over items [0, n) in chunks of `chunk` on
 * every thread that is running, and return when all are done. */
static void cpu_parallel(cpu_pool *pool, cpu_task fn, void *arg, int64_t n, int64_t chunk) {
    if (n <= 0) return;
    if (pool->n == 1) { fn(arg, 0, n, 0); return; }
    /* close the finished task and wait out workers still looking at it */
    unsigned g = atomic_load(&pool->generation);
    atomic_store(&pool->generation, g + 1);
    while (atomic_load(&pool->active)) sched_yield();
    pool->fn = fn;
    pool->arg = arg;
    pool->n_items = n;
    pool->chunk = chunk;
    pool->n_chunks = (n + chunk - 1) / chunk;
    for (int t = 0; t < pool->n; t++) atomic_store(&pool->share[t].next, cpu_share_begin(pool, t));
    atomic_store(&pool->done, 0);
    pthread_mutex_lock(&pool->mu);
    atomic_store(&pool->generation, g + 2);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mu);
    cpu_pool_work(pool, 0);
    for (int spin = 0; atomic_load(&pool->done) < pool->n_chunks && spin < SPIN_FINISH; spin++) cpu_relax();
    if (atomic_load(&pool->done) < pool->n_chunks) {
        pthread_mutex_lock(&pool->mu);
        while (atomic_load(&pool->done) < pool->n_chunks) pthread_cond_wait(&pool->finished, &pool->mu);
        pthread_mutex_unlock(&pool->mu);
    }
}

/* ======================================================================== */
/* Matrix products: out[t][r] (+)= sum_c x[t][c] * W[r][c]                   */
/* ======================================================================== */

/* Decode streams each weight row once; the hardware prefetcher stops at
 * page boundaries, so ask for the data a page ahead (measured: +5-10%),
 * into the caches (locality 1), not as a non-temporal prefetch (locality
 * 0): on an Intel Xeon that bypasses the L2 cache and cost 14-35% of the
 * decode rate; on an AMD EPYC the two are the same. */
#define PREFETCH_BYTES 4096
#define PREFETCH_LOCALITY 1
#define MM_TOKENS 4 /* tokens that share one pass over a weight row */
#define MM_ROWS 16  /* rows whose weights stay in cache across token tiles */

/* Dot products of one weight row with NT token vectors (NT a compile-time
 * constant after inlining, so the accumulators live in registers). Every
 * kernel sums a (row, token) product in the same order, one chain of VL-wide
 * FMAs over the columns then the tail, whatever NT and the tile: a token's
 * result does not depend on the other tokens in its batch, so a sequence
 * decodes the same alone and batched, and a prompt prefills the same in
 * chunks of any size. */
#define DEFINE_DOT(NAME, WT, LOADW, ATW)                                                                     \
    static inline __attribute__((always_inline)) void NAME(const WT *w, const float *x, int64_t cols, int NT, \
                                                           float *res) {                                      \
        vf acc[MM_TOKENS];                                                                                    \
        for (int t = 0; t < NT; t++) acc[t] = vzero();                                                        \
        int64_t c = 0;                                                                                        \
        for (; c + VL <= cols; c += VL) {                                                                     \
            if (NT == 1 && !(c & VL)) /* every other block: about a cache line */                            \
                __builtin_prefetch((const char *)(w + c) + PREFETCH_BYTES, 0, PREFETCH_LOCALITY);             \
            vf wv = LOADW(w + c);                                                                             \
            for (int t = 0; t < NT; t++) acc[t] = vfma(wv, vload(x + t * cols + c), acc[t]);                  \
        }                                                                                                     \
        for (int t = 0; t < NT; t++) {                                                                        \
            float s = vsum(acc[t]);                                                                           \
            for (int64_t k = c; k < cols; k++) s += ATW(w + k) * x[t * cols + k];                             \
            res[t] = s;                                                                                       \
        }                                                                                                     \
    }
DEFINE_DOT(dot_f32, float, vload, f32_at)
DEFINE_DOT(dot_bf16, uint16_t, vload_bf16, bf16_at)
DEFINE_DOT(dot_f16, uint16_t, vload_f16, f16_at)

/* Four weight rows by four tokens: 16 accumulators, 8 loads per 16 FMAs, so
 * the prompt's matrix products are bound by arithmetic, not loads. */
#define DEFINE_DOT4(NAME, WT, LOADW, ATW)                                                                \
    static inline void NAME(const WT *w, const float *x, int64_t cols, float *res) {                      \
        vf acc[4][4];                                                                                     \
        for (int r = 0; r < 4; r++)                                                                       \
            for (int t = 0; t < 4; t++) acc[r][t] = vzero();                                              \
        int64_t c = 0;                                                                                    \
        for (; c + VL <= cols; c += VL) {                                                                 \
            vf wv[4], xv[4];                                                                              \
            for (int r = 0; r < 4; r++) wv[r] = LOADW(w + r * cols + c);                                  \
            for (int t = 0; t < 4; t++) xv[t] = vload(x + t * cols + c);                                  \
            for (int r = 0; r < 4; r++)                                                                   \
                for (int t = 0; t < 4; t++) acc[r][t] = vfma(wv[r], xv[t], acc[r][t]);                    \
        }                                                                                                 \
        for (int r = 0; r < 4; r++)                                                                       \
            for (int t = 0; t < 4; t++) {                                                                 \
                float s = vsum(acc[r][t]);                                                                \
                for (int64_t k = c; k < cols; k++) s += ATW(w + r * cols + k) * x[t * cols + k];          \
                res[r * MM_TOKENS + t] = s;                                                               \
            }                                                                                             \
    }
DEFINE_DOT4(dot4_f32, float, vload, f32_at)
DEFINE_DOT4(dot4_bf16, uint16_t, vload_bf16, bf16_at)
DEFINE_DOT4(dot4_f16, uint16_t, vload_f16, f16_at)

/* Rows [r0, r1) of one weight for nt <= MM_TOKENS tokens. */
#define DEFINE_TILE(NAME, WT, DOT, DOT4)                                                                   \
    static void NAME(const WT *w, int64_t cols, const float *x, int nt, int64_t r0, int64_t r1, float *res) { \
        int64_t r = r0;                                                                                     \
        if (nt == MM_TOKENS)                                                                                \
            for (; r + 4 <= r1; r += 4) DOT4(w + r * cols, x, cols, res + (r - r0) * MM_TOKENS);           \
        for (; r < r1; r++) {                                                                               \
            float *o = res + (r - r0) * MM_TOKENS;                                                          \
            const WT *wr = w + r * cols;                                                                    \
            switch (nt) {                                                                                   \
            case 1: DOT(wr, x, cols, 1, o); break;                                                          \
            case 2: DOT(wr, x, cols, 2, o); break;                                                          \
            case 3: DOT(wr, x, cols, 3, o); break;                                                          \
            default: DOT(wr, x, cols, 4, o); break;                                                         \
            }                                                                                               \
        }                                                                                                   \
    }
DEFINE_TILE(tile_f32, float, dot_f32, dot4_f32)
DEFINE_TILE(tile_bf16, uint16_t, dot_bf16, dot4_bf16)
DEFINE_TILE(tile_f16, uint16_t, dot_f16, dot4_f16)

typedef struct {
    const llorch_tensor *w;
    const float *x; /* [n_tok][w->cols] */
    float *out;     /* [n_tok][w->rows] */
    int accumulate; /* add to out (residual connections) */
} cpu_mm;

typedef struct {
    cpu_mm mm[3]; /* products that share one parallel region (q, k, v) */
    int n_mm, n_tok;
} cpu_mm_task;

static void cpu_mm_range(const cpu_mm *mm, int n_tok, int64_t r0, int64_t r1) {
    const llorch_tensor *w = mm->w;
    int64_t rows = w->rows, cols = w->cols;
    float res[MM_ROWS * MM_TOKENS];
    for (int64_t rb = r0; rb < r1; rb += MM_ROWS) {
        int64_t re = rb + MM_ROWS < r1 ? rb + MM_ROWS : r1;
        for (int t0 = 0; t0 < n_tok; t0 += MM_TOKENS) {
            int nt = n_tok - t0 < MM_TOKENS ? n_tok - t0 : MM_TOKENS;
            const float *x = mm->x + (int64_t)t0 * cols;
            switch (w->dtype) {
            case LLORCH_F32: tile_f32((const float *)w->data, cols, x, nt, rb, re, res); break;
            case LLORCH_BF16: tile_bf16((const uint16_t *)w->data, cols, x, nt, rb, re, res); break;
            default: tile_f16((const uint16_t *)w->data, cols, x, nt, rb, re, res); break;
            }
            for (int64_t r = rb; r < re; r++)
                for (int t = 0; t < nt; t++) {
                    float *o = mm->out + (int64_t)(t0 + t) * rows + r;
                    *o = mm->accumulate ? *o + res[(r - rb) * MM_TOKENS + t] : res[(r - rb) * MM_TOKENS + t];
                }
        }
    }
}

/* Rows [lo, hi) of the task's products, counted through all of them. */
static void cpu_mm_run(void *arg, int64_t lo, int64_t hi, int ith) {
    const cpu_mm_task *task = (const cpu_mm_task *)arg;
    int64_t base = 0;
    (void)ith;
    for (int i = 0; i < task->n_mm; i++) {
        int64_t rows = task->mm[i].w->rows;
        int64_t a = lo > base ? lo - base : 0, b = hi - base < rows ? hi - base : rows;
        if (a < b) cpu_mm_range(&task->mm[i], task->n_tok, a, b);
        base += rows;
    }
}

/* The task's products on all threads, in chunks of about MM_CHUNK_BYTES of
 * weights: small enough that threads share the work evenly whenever they
 * run, large enough that each streams a long run of memory. */
#define MM_CHUNK_BYTES (64 << 10)
static void cpu_mm_parallel(cpu_pool *pool, cpu_mm_task *task) {
    const llorch_tensor *w = task->mm[0].w;
    int64_t total = 0, chunk = MM_CHUNK_BYTES / (w->cols * (int64_t)llorch_dtype_size(w->dtype)) / MM_ROWS * MM_ROWS;
    for (int i = 0; i < task->n_mm; i++) total += task->mm[i].w->rows;
    cpu_parallel(pool, cpu_mm_run, task, total, chunk > MM_ROWS ? chunk : MM_ROWS);
}

/* ======================================================================== */
/* Session state                                                             */
/* ======================================================================== */

typedef struct {
    cpu_pool pool;
    int max_rows;     /* rows per forward chunk */
    float *key_cache; /* [layer][seq][ctx][kv_dim] */
    float *value_cache;
    /* per-row activations, each [max_rows][width] */
    float *x, *xb, *q, *k, *v, *att, *gate, *up;
    float *rope;     /* [max_rows][head_dim / 2][cos, sin] */
    float *scores;   /* [threads][ctx] */
    float *logits;   /* [max(n_seq, 1)][vocab] */
    int *row_seq, *row_pos, *row_tok;
} cpu_state;

static void cpu_session_free(llorch_session *s) {
    cpu_state *st = (cpu_state *)s->backend_data;
    if (!st) return;
    if (st->pool.threads) cpu_pool_stop(&st->pool, st->pool.n - 1);
    float *bufs[] = {st->key_cache, st->value_cache, st->x, st->xb, st->q, st->k, st->v,
                     st->att, st->gate, st->up, st->rope, st->scores, st->logits};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    free(st->row_seq);
    free(st->row_pos);
    free(st->row_tok);
    free(st);
    s->backend_data = NULL;
}

static int cpu_session_init(llorch_session *s, llorch_error *err) {
    const llorch_config *c = &s->m->cfg;
    int64_t kv = (int64_t)c->n_kv_heads * c->head_dim, qd = (int64_t)c->n_heads * c->head_dim;
    int rows = s->n_seq > 64 ? s->n_seq : 64; /* a prompt runs in chunks of 64 tokens */
    int64_t widths[] = {c->dim, c->dim, qd, kv, kv, qd, c->hidden_dim, c->hidden_dim};
    uint64_t cache = 2ull * (uint64_t)c->n_layers * (uint64_t)s->n_seq * (uint64_t)s->ctx * (uint64_t)kv * 4;
    uint64_t scratch = 0;
    for (size_t i = 0; i < 8; i++) scratch += (uint64_t)rows * (uint64_t)widths[i] * 4;
    scratch += (uint64_t)rows * (uint64_t)c->head_dim * 4 + (uint64_t)s->m->threads * (uint64_t)s->ctx * 4 +
               (uint64_t)s->n_seq * (uint64_t)c->vocab_size * 4;
    uint64_t avail = llorch_host_available();
    /* refuse before allocating anything that would not fit */
    if (avail && cache + scratch > avail)
        return llorch_fail(err, LLORCH_E_NOMEM,
                           "a session of %d x %d tokens needs %.1f MiB (KV cache %.1f MiB + scratch %.1f MiB) but only "
                           "%.1f MiB of memory are available",
                           s->n_seq, s->ctx, (cache + scratch) / 1048576.0, cache / 1048576.0, scratch / 1048576.0,
                           avail / 1048576.0);
    cpu_state *st = (cpu_state *)calloc(1, sizeof *st);
    if (!st) return llorch_fail(err, LLORCH_E_NOMEM, "out of memory");
    s->backend_data = st;
    st->max_rows = rows;
    size_t cache_floats = (size_t)(cache / 8);
    st->key_cache = (float *)malloc(cache_floats * 4);
    st->value_cache = (float *)malloc(cache_floats * 4);
    float **act[] = {&st->x, &st->xb, &st->q, &st->k, &st->v, &st->att, &st->gate, &st->up};
    int ok = st->key_cache && st->value_cache;
    for (size_t i = 0; i < 8; i++) ok &= (*act[i] = (float *)calloc((size_t)rows * (size_t)widths[i], 4)) != NULL;
    ok &= (st->rope = (float *)malloc((size_t)rows * (size_t)c->head_dim * 4)) != NULL;
    ok &= (st->scores = (float *)malloc((size_t)s->m->threads * (size_t)s->ctx * 4)) != NULL;
    ok &= (st->logits = (float *)malloc((size_t)s->n_seq * (size_t)c->vocab_size * 4)) != NULL;
    ok &= (st->row_seq = (int *)malloc((size_t)rows * sizeof(int))) != NULL;
    ok &= (st->row_pos = (int *)malloc((size_t)rows * sizeof(int))) != NULL;
    ok &= (st->row_tok = (int *)malloc((size_t)rows * sizeof(int))) != NULL;
    if (!ok || cpu_pool_start(&st->pool, s->m->threads)) {
        if (ok) st->pool.threads = NULL; /* the pool cleaned up after itself */
        cpu_session_free(s);
        return llorch_fail(err, LLORCH_E_NOMEM, "out of memory for a session of %d x %d tokens", s->n_seq, s->ctx);
    }
    s->bytes = (size_t)(cache + scratch);
    return 0;
}

/* ======================================================================== */
/* The forward pass                                                          */
/* ======================================================================== */

/* x * rsqrt(mean(x^2) + eps) * weight, as Hugging Face's LlamaRMSNorm. */
static void cpu_rmsnorm(float *out, const float *x, const llorch_tensor *w, int dim, float eps) {
    double ss = 0;
    for (int i = 0; i < dim; i++) ss += (double)x[i] * x[i];
    float scale = (float)(1.0 / sqrt(ss / dim + eps));
    for (int i = 0; i < dim; i++) out[i] = x[i] * scale * weight_at(w, i);
}

/* x += b (a projection's bias). */
static void cpu_add_bias(float *x, const llorch_tensor *b, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] += weight_at(b, i);
}

/* cos and sin of every rotation angle of one position, computed as Hugging
 * Face does: angles in float32. */
static void cpu_rope_table(float *cs, int pos, int head_dim, const float *inv_freq) {
    for (int i = 0; i < head_dim / 2; i++) {
        float angle = (float)pos * inv_freq[i];
        cs[2 * i] = (float)cos((double)angle);
        cs[2 * i + 1] = (float)sin((double)angle);
    }
}

/* Rotate-half RoPE: pairs (i, i + head_dim/2) of each head. */
static void cpu_rope(float *v, int n_heads, int head_dim, const float *cs) {
    int half = head_dim / 2;
    for (int h = 0; h < n_heads; h++) {
        float *x = v + h * head_dim;
        for (int i = 0; i < half; i++) {
            float a = x[i], b = x[i + half], co = cs[2 * i], si = cs[2 * i + 1];
            x[i] = a * co - b * si;
            x[i + half] = b * co + a * si;
        }
    }
}

typedef struct {
    llorch_session *s;
    int layer, n_rows;
} cpu_attn_task;

static float *cpu_cache_row(const llorch_session *s, float *cache, int layer, int seq, int pos) {
    const llorch_config *c = &s->m->cfg;
    int64_t kv = (int64_t)c->n_kv_heads * c->head_dim;
    return cache + (((int64_t)layer * s->n_seq + seq) * s->ctx + pos) * kv;
}

/* Causal grouped-query attention of each (row, head) over its sequence's
 * cache: a query at position i sees keys max(0, i - W + 1)..i, W = sliding_window
 * (transformers' mask), or all keys 0..i when there is no window. */
static void cpu_attention(void *arg, int64_t lo, int64_t hi, int ith) {
    cpu_attn_task *t = (cpu_attn_task *)arg;
    llorch_session *s = t->s;
    cpu_state *st = (cpu_state *)s->backend_data;
    const llorch_config *c = &s->m->cfg;
    int hd = c->head_dim, group = c->n_heads / c->n_kv_heads;
    int64_t kv = (int64_t)c->n_kv_heads * hd;
    float *scores = st->scores + (int64_t)ith * s->ctx, scale = 1.0f / sqrtf((float)hd);
    for (int64_t job = lo; job < hi; job++) {
        int r = (int)(job / c->n_heads), h = (int)(job % c->n_heads), kvh = h / group;
        int seq = st->row_seq[r], pos = st->row_pos[r];
        const float *q = st->q + (int64_t)r * c->n_heads * hd + (int64_t)h * hd;
        const float *keys = cpu_cache_row(s, st->key_cache, t->layer, seq, 0) + kvh * hd;
        const float *vals = cpu_cache_row(s, st->value_cache, t->layer, seq, 0) + kvh * hd;
        /* keys first..pos: all of them, or the last sliding_window (Mistral) */
        int first = c->sliding_window && pos >= c->sliding_window ? pos - c->sliding_window + 1 : 0;
        float mx = -INFINITY;
        for (int p = first; p <= pos; p++) {
            scores[p] = vec_dot(q, keys + p * kv, hd) * scale;
            if (scores[p] > mx) mx = scores[p];
        }
        float sum = 0;
        for (int p = first; p <= pos; p++) sum += scores[p] = expf(scores[p] - mx);
        float *out = st->att + (int64_t)r * c->n_heads * hd + (int64_t)h * hd;
        for (int i = 0; i < hd; i++) out[i] = 0;
        for (int p = first; p <= pos; p++) vec_axpy(out, scores[p] / sum, vals + p * kv, hd);
    }
}

static void cpu_matmul(cpu_state *st, int n_rows, const llorch_tensor *w, const float *x, float *out, int acc) {
    cpu_mm_task task = {{{w, x, out, acc}}, 1, n_rows};
    cpu_mm_parallel(&st->pool, &task);
}

/* One pass over the layers for st->row_* (n rows); logits of the rows from
 * first_logit on go to st->logits. */
static void cpu_forward_rows(llorch_session *s, int n, int first_logit) {
    cpu_state *st = (cpu_state *)s->backend_data;
    const llorch_model *m = s->m;
    const llorch_config *c = &m->cfg;
    int dim = c->dim, hd = c->head_dim;
    int64_t qd = (int64_t)c->n_heads * hd, kv = (int64_t)c->n_kv_heads * hd;
    for (int r = 0; r < n; r++) {
        for (int i = 0; i < dim; i++) st->x[(int64_t)r * dim + i] = weight_at(&m->w.embed, (int64_t)st->row_tok[r] * dim + i);
        cpu_rope_table(st->rope + (int64_t)r * hd, st->row_pos[r], hd, m->rope_inv_freq);
    }
    for (int l = 0; l < c->n_layers; l++) {
        const llorch_layer *L = &m->w.layers[l];
        for (int r = 0; r < n; r++) cpu_rmsnorm(st->xb + (int64_t)r * dim, st->x + (int64_t)r * dim, &L->attn_norm, dim, c->norm_eps);
        cpu_mm_task qkv = {{{&L->wq, st->xb, st->q, 0}, {&L->wk, st->xb, st->k, 0}, {&L->wv, st->xb, st->v, 0}}, 3, n};
        cpu_mm_parallel(&st->pool, &qkv);
        for (int r = 0; r < n; r++) {
            float *q = st->q + r * qd, *k = st->k + r * kv;
            if (c->qkv_bias) { /* q_proj(x) + bq, ... (Qwen2) */
                cpu_add_bias(q, &L->bq, qd);
                cpu_add_bias(k, &L->bk, kv);
                cpu_add_bias(st->v + r * kv, &L->bv, kv);
            }
            if (c->qk_norm) { /* RMSNorm over each head of q and k, before RoPE (Qwen3) */
                for (int h = 0; h < c->n_heads; h++) cpu_rmsnorm(q + h * hd, q + h * hd, &L->q_norm, hd, c->norm_eps);
                for (int h = 0; h < c->n_kv_heads; h++) cpu_rmsnorm(k + h * hd, k + h * hd, &L->k_norm, hd, c->norm_eps);
            }
            const float *cs = st->rope + (int64_t)r * hd;
            cpu_rope(q, c->n_heads, hd, cs);
            cpu_rope(k, c->n_kv_heads, hd, cs);
            memcpy(cpu_cache_row(s, st->key_cache, l, st->row_seq[r], st->row_pos[r]), st->k + r * kv, (size_t)kv * 4);
            memcpy(cpu_cache_row(s, st->value_cache, l, st->row_seq[r], st->row_pos[r]), st->v + r * kv, (size_t)kv * 4);
        }
        cpu_attn_task at = {s, l, n};
        cpu_parallel(&st->pool, cpu_attention, &at, (int64_t)n * c->n_heads, 1); /* one (row, head) a chunk */
        cpu_matmul(st, n, &L->wo, st->att, st->x, 1);
        for (int r = 0; r < n; r++) cpu_rmsnorm(st->xb + (int64_t)r * dim, st->x + (int64_t)r * dim, &L->ffn_norm, dim, c->norm_eps);
        cpu_mm_task gu = {{{&L->w_gate, st->xb, st->gate, 0}, {&L->w_up, st->xb, st->up, 0}}, 2, n};
        cpu_mm_parallel(&st->pool, &gu);
        for (int64_t i = 0; i < (int64_t)n * c->hidden_dim; i++) {
            float g = st->gate[i];
            st->gate[i] = g / (1.0f + expf(-g)) * st->up[i]; /* SwiGLU */
        }
        cpu_matmul(st, n, &L->w_down, st->gate, st->x, 1);
    }
    int nl = n - first_logit;
    for (int r = 0; r < nl; r++)
        cpu_rmsnorm(st->xb + (int64_t)r * dim, st->x + (int64_t)(first_logit + r) * dim, &m->w.norm, dim, c->norm_eps);
    if (nl > 0) cpu_matmul(st, nl, &m->w.lm_head, st->xb, st->logits, 0);
}

/* ======================================================================== */
/* Backend entry points                                                      */
/* ======================================================================== */

static int cpu_model_init(llorch_model *m, llorch_error *err) {
    (void)err;
    m->device_bytes = 0; /* the weights stay in the mapped files */
    return 0;
}

static void cpu_model_free(llorch_model *m) { (void)m; }

static int cpu_prefill(llorch_session *s, int seq, const int *ids, int n, float *logits, llorch_error *err) {
    cpu_state *st = (cpu_state *)s->backend_data;
    (void)err;
    for (int done = 0; done < n;) {
        int rows = n - done < st->max_rows ? n - done : st->max_rows;
        for (int r = 0; r < rows; r++) {
            st->row_seq[r] = seq;
            st->row_pos[r] = s->pos[seq] + done + r;
            st->row_tok[r] = ids[done + r];
        }
        done += rows;
        cpu_forward_rows(s, rows, done == n && logits ? rows - 1 : rows);
    }
    if (logits) memcpy(logits, st->logits, (size_t)s->m->cfg.vocab_size * sizeof *logits);
    return 0;
}

/* Prompt pieces of several sequences: their tokens are the rows of passes of
 * up to max_rows, as a chunk of one sequence's are (a piece may straddle two
 * passes: its later rows see the keys the earlier pass wrote). The rows are
 * computed one by one in every product, so the results are those of one
 * cpu_prefill per piece, bit for bit. */
static int cpu_prefill_many(llorch_session *s, int k, const int *seq, const int *const *ids, const int *n,
                            llorch_error *err) {
    cpu_state *st = (cpu_state *)s->backend_data;
    int rows = 0;
    (void)err;
    for (int i = 0; i < k; i++)
        for (int j = 0; j < n[i]; j++) {
            st->row_seq[rows] = seq[i];
            st->row_pos[rows] = s->pos[seq[i]] + j;
            st->row_tok[rows] = ids[i][j];
            if (++rows == st->max_rows) cpu_forward_rows(s, rows, rows), rows = 0;
        }
    if (rows) cpu_forward_rows(s, rows, rows);
    return 0;
}

static int cpu_decode(llorch_session *s, const int *ids, const llorch_sample_params *sp, int *next, float *logits,
                      llorch_error *err) {
    cpu_state *st = (cpu_state *)s->backend_data;
    int vocab = s->m->cfg.vocab_size, n = 0;
    (void)err;
    for (int i = 0; i < s->n_seq; i++) {
        if (ids[i] < 0) continue;
        st->row_seq[n] = i;
        st->row_pos[n] = s->pos[i];
        st->row_tok[n] = ids[i];
        n++;
    }
    if (!n) return 0;
    cpu_forward_rows(s, n, 0);
    for (int r = 0; r < n; r++) {
        int i = st->row_seq[r];
        float *row = st->logits + (int64_t)r * vocab;
        if (logits) memcpy(logits + (int64_t)i * vocab, row, (size_t)vocab * sizeof *row);
        if (sp) next[i] = llorch_sample_logits(row, vocab, &sp[i], s->tokens + (int64_t)i * s->ctx, s->pos[i] + 1);
    }
    return 0;
}

const llorch_backend llorch_cpu_backend = {
    "cpu", cpu_model_init, cpu_model_free, cpu_session_init, cpu_session_free, cpu_prefill, cpu_decode,
    cpu_prefill_many,
};
