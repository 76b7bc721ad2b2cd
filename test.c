/* test.c - every llorch test. `make test` builds and runs it.
 *
 *   ./test [GROUP...]     run all groups, or those whose names contain GROUP
 *   ./test --write-seeds DIR
 *                         write the fuzzers' seed inputs (see make fuzz)
 *   ./test --read-bandwidth FILE [THREADS]
 *                         how fast THREADS threads read a mapped file (GB/s):
 *                         the ceiling for CPU decode
 *   ./test --write-model DIR [tinyllama|small] [BF16|F16|F32]
 *                         write a checkpoint with random weights (TinyLlama's
 *                         shapes by default: the benchmark model)
 *
 * Reference data comes from ../shared (or $LLORCH_SHARED): Hugging Face's
 * outputs for the tokenizer and for three tiny Llama checkpoints. Tests that
 * need it say they skipped when it is absent. The last line is
 * "N passed, N failed, N skipped"; the exit status is 1 on any failure.
 */
#ifdef LLORCH_FUZZ
#include "llorch_cpu.c" /* the fuzz targets call the parsers' internals */
#define main test_main  /* libFuzzer brings its own */
#else
#include "llorch.h"
#endif

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ======================================================================== */
/* A tiny test framework                                                     */
/* ======================================================================== */

static int g_pass, g_fail, g_skip;

#define CHECK(cond, ...)                                  \
    do {                                                  \
        if (cond) g_pass++;                               \
        else {                                            \
            g_fail++;                                     \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);   \
            printf(__VA_ARGS__);                          \
            printf("\n");                                 \
        }                                                 \
    } while (0)

#define SKIP(...)                \
    do {                         \
        g_skip++;                \
        printf("skip: ");        \
        printf(__VA_ARGS__);     \
        printf("\n");            \
    } while (0)

static const char *g_shared; /* the shared reference data, or NULL */

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *buf = n >= 0 ? (char *)malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    fclose(f);
    if (buf) { buf[n] = 0; if (len) *len = (size_t)n; }
    return buf;
}

static int write_all(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, len, f);
    return fclose(f) || w != len ? -1 : 0;
}

static char *shared_path(const char *rel) {
    static char buf[8][4096];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 4096, "%s/%s", g_shared, rel);
    return p;
}

/* Integers of a JSON array node. */
static int json_ints(const tk_json *j, int arr, int *out, int max) {
    int n = 0;
    long long v;
    for (int c = tk_json_child(j, arr); c >= 0 && n < max; c = tk_json_next(j, c))
        if (!tk_json_int(j, c, &v)) out[n++] = (int)v;
    return n;
}

static int json_floats(const tk_json *j, int arr, double *out, int max) {
    int n = 0;
    for (int c = tk_json_child(j, arr); c >= 0 && n < max; c = tk_json_next(j, c))
        if (!tk_json_number(j, c, &out[n])) n++;
    return n;
}

/* ======================================================================== */
/* Synthetic checkpoints: small ones to break on purpose, big ones to time    */
/* ======================================================================== */

typedef struct {
    int dim, hidden, layers, heads, kv_heads, head_dim, vocab, max_pos;
    const char *dtype; /* "F32", "F16" or "BF16" */
} ckpt_shape;

static const ckpt_shape small_shape = {16, 40, 2, 4, 2, 4, 300, 64, "F32"};
static const ckpt_shape tinyllama_shape = {2048, 5632, 22, 32, 4, 64, 32000, 2048, "BF16"};

static uint64_t g_rng = 88172645463325252ull;
static float rand_uniform(void) { /* in [-1, 1) */
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (float)((g_rng >> 40) / 8388608.0 - 1.0);
}

static uint16_t to_f16(float f) { /* round to nearest; values here are small and normal */
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000;
    int e = (int)((u >> 23) & 0xff) - 127 + 15;
    if (e <= 0) return (uint16_t)sign;
    uint32_t man = (u & 0x7fffff) + 0x1000;
    if (man & 0x800000) { man = 0; e++; }
    return (uint16_t)(sign | (uint32_t)e << 10 | man >> 13);
}

/* A safetensors file in memory: its header JSON and its data. */
typedef struct {
    char *header;
    size_t header_len;
    unsigned char *data;
    size_t data_len;
} st_file;

static void st_free(st_file *f) {
    free(f->header);
    free(f->data);
}

static void st_append(st_file *f, size_t *cap, const char *fmt, ...) {
    va_list ap;
    char tmp[512];
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (f->header_len + (size_t)n + 1 > *cap) {
        *cap = (*cap + (size_t)n) * 2;
        f->header = (char *)realloc(f->header, *cap);
    }
    memcpy(f->header + f->header_len, tmp, (size_t)n + 1);
    f->header_len += (size_t)n;
}

/* Every tensor of a Llama checkpoint of this shape, random weights of the
 * usual scale (norms near 1). */
static int st_build(st_file *f, const ckpt_shape *sh) {
    struct { char name[96]; int64_t rows, cols; } t[16 * 64 + 3];
    int n = 0;
    int64_t q = (int64_t)sh->heads * sh->head_dim, kv = (int64_t)sh->kv_heads * sh->head_dim;
#define ADD(R, C, ...) (snprintf(t[n].name, sizeof t[n].name, __VA_ARGS__), t[n].rows = (R), t[n].cols = (C), n++)
    ADD(sh->vocab, sh->dim, "model.embed_tokens.weight");
    for (int l = 0; l < sh->layers && l < 64; l++) {
        ADD(1, sh->dim, "model.layers.%d.input_layernorm.weight", l);
        ADD(q, sh->dim, "model.layers.%d.self_attn.q_proj.weight", l);
        ADD(kv, sh->dim, "model.layers.%d.self_attn.k_proj.weight", l);
        ADD(kv, sh->dim, "model.layers.%d.self_attn.v_proj.weight", l);
        ADD(sh->dim, q, "model.layers.%d.self_attn.o_proj.weight", l);
        ADD(1, sh->dim, "model.layers.%d.post_attention_layernorm.weight", l);
        ADD(sh->hidden, sh->dim, "model.layers.%d.mlp.gate_proj.weight", l);
        ADD(sh->hidden, sh->dim, "model.layers.%d.mlp.up_proj.weight", l);
        ADD(sh->dim, sh->hidden, "model.layers.%d.mlp.down_proj.weight", l);
    }
    ADD(1, sh->dim, "model.norm.weight");
    ADD(sh->vocab, sh->dim, "lm_head.weight");
#undef ADD
    size_t es = strcmp(sh->dtype, "F32") ? 2 : 4, total = 0, cap = 0;
    for (int i = 0; i < n; i++) total += (size_t)(t[i].rows * t[i].cols) * es;
    memset(f, 0, sizeof *f);
    f->data = (unsigned char *)malloc(total);
    if (!f->data) return -1;
    f->data_len = total;
    st_append(f, &cap, "{\"__metadata__\":{\"format\":\"pt\"}");
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        int64_t count = t[i].rows * t[i].cols;
        int is_norm = t[i].rows == 1;
        float scale = is_norm ? 0.1f : 1.7f / sqrtf((float)t[i].cols);
        for (int64_t k = 0; k < count; k++) {
            float v = (is_norm ? 1.0f : 0.0f) + scale * rand_uniform();
            unsigned char *p = f->data + off + (size_t)k * es;
            if (es == 4) memcpy(p, &v, 4);
            else {
                uint16_t h = strcmp(sh->dtype, "F16") ? llorch_f32_to_bf16(v) : to_f16(v);
                memcpy(p, &h, 2);
            }
        }
        if (is_norm)
            st_append(f, &cap, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%lld],\"data_offsets\":[%zu,%zu]}", t[i].name,
                      sh->dtype, (long long)t[i].cols, off, off + (size_t)count * es);
        else
            st_append(f, &cap, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%lld,%lld],\"data_offsets\":[%zu,%zu]}", t[i].name,
                      sh->dtype, (long long)t[i].rows, (long long)t[i].cols, off, off + (size_t)count * es);
        off += (size_t)count * es;
    }
    /* pad with spaces (room for the edits tests make) so the data starts 8-byte aligned */
    for (int i = 0; i < 64 || (f->header_len + 1) % 8; i++) st_append(f, &cap, " ");
    st_append(f, &cap, "}");
    return 0;
}

/* Write the file; header_len_field (if nonzero) replaces the true header
 * length, and keep (if nonzero) truncates the file to that many bytes. */
static int st_write(const char *path, const st_file *f, uint64_t header_len_field, size_t keep) {
    FILE *out = fopen(path, "wb");
    if (!out) return -1;
    uint64_t hl = header_len_field ? header_len_field : f->header_len;
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)(hl >> (8 * i));
    size_t total = 8 + f->header_len + f->data_len, limit = keep ? keep : total, done = 0;
    const void *parts[3] = {le, f->header, f->data};
    size_t lens[3] = {8, f->header_len, f->data_len};
    for (int i = 0; i < 3; i++) {
        size_t n = lens[i] < limit - done ? lens[i] : limit - done;
        if (fwrite(parts[i], 1, n, out) != n) { fclose(out); return -1; }
        done += n;
    }
    return fclose(out);
}

/* config.json for a shape; `edit` ("\"key\":value") replaces that key's
 * default or adds it. */
static int write_config(const char *dir, const ckpt_shape *sh, const char *edit) {
    char path[4096], text[4096], field[256];
    size_t n = 0;
    const char *ek = edit ? strchr(edit, '"') : NULL, *ee = ek ? strchr(ek + 1, '"') : NULL;
    struct { const char *key; char value[64]; } f[] = {
        {"model_type", "\"llama\""}, {"hidden_size", ""}, {"intermediate_size", ""}, {"num_hidden_layers", ""},
        {"num_attention_heads", ""}, {"num_key_value_heads", ""}, {"head_dim", ""}, {"vocab_size", ""},
        {"max_position_embeddings", ""}, {"rms_norm_eps", "1e-05"}, {"rope_theta", "10000.0"},
        {"tie_word_embeddings", "false"}, {"bos_token_id", "1"}, {"eos_token_id", "2"}, {"hidden_act", "\"silu\""},
    };
    int nums[] = {sh->dim, sh->hidden, sh->layers, sh->heads, sh->kv_heads, sh->head_dim, sh->vocab, sh->max_pos};
    for (int i = 0; i < 8; i++) snprintf(f[1 + i].value, sizeof f[1 + i].value, "%d", nums[i]);
    text[n++] = '{';
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        if (ee && strlen(f[i].key) == (size_t)(ee - ek - 1) && !strncmp(f[i].key, ek + 1, (size_t)(ee - ek - 1)))
            continue; /* the edit replaces it */
        int k = snprintf(field, sizeof field, "%s\"%s\":%s", n > 1 ? "," : "", f[i].key, f[i].value);
        memcpy(text + n, field, (size_t)k);
        n += (size_t)k;
    }
    n += (size_t)snprintf(text + n, sizeof text - n, "%s%s}", edit ? "," : "", edit ? edit : "");
    snprintf(path, sizeof path, "%s/config.json", dir);
    return write_all(path, text, n);
}

/* A minimal Llama-style tokenizer.json: specials, the 256 byte tokens, a
 * few words and one merge. */
static int write_small_tokenizer(const char *dir) {
    char path[4096];
    size_t cap = 1 << 16, n = 0;
    char *s = (char *)malloc(cap);
    if (!s) return -1;
    n += (size_t)snprintf(s + n, cap - n,
        "{\"version\":\"1.0\",\"added_tokens\":["
        "{\"id\":0,\"content\":\"<unk>\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true},"
        "{\"id\":1,\"content\":\"<s>\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true},"
        "{\"id\":2,\"content\":\"</s>\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true}],"
        "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\",\"prepend\":\"\u2581\"},"
        "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"\u2581\"}]},\"pre_tokenizer\":null,"
        "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\",\"type_id\":0}},"
        "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],\"pair\":[],\"special_tokens\":{\"<s>\":{\"id\":\"<s>\",\"ids\":[1],"
        "\"tokens\":[\"<s>\"]}}},\"decoder\":{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":"
        "{\"String\":\"\u2581\"},\"content\":\" \"},{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"},{\"type\":\"Strip\","
        "\"content\":\" \",\"start\":1,\"stop\":0}]},\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":\"<unk>\","
        "\"continuing_subword_prefix\":null,\"end_of_word_suffix\":null,\"fuse_unk\":true,\"byte_fallback\":true,"
        "\"vocab\":{\"<unk>\":0,\"<s>\":1,\"</s>\":2");
    for (int b = 0; b < 256; b++) n += (size_t)snprintf(s + n, cap - n, ",\"<0x%02X>\":%d", b, 3 + b);
    n += (size_t)snprintf(s + n, cap - n,
        ",\"\u2581\":259,\"a\":260,\"b\":261,\"\u2581a\":262,\"\u2581b\":263},\"merges\":[\"\u2581 a\",\"\u2581 b\"]}}");
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    int rc = write_all(path, s, n);
    free(s);
    return rc;
}

/* A complete small model directory (config, tokenizer, weights). */
static int write_small_model(const char *dir, const ckpt_shape *sh) {
    st_file f;
    char path[4096];
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (st_build(&f, sh)) return -1;
    int rc = write_config(dir, sh, NULL) || write_small_tokenizer(dir) || st_write(path, &f, 0, 0);
    st_free(&f);
    return rc;
}

/* ======================================================================== */
/* Tokenizer                                                                 */
/* ======================================================================== */

/* The tokenizer against Hugging Face on ../shared/tokenizers/llama2: every
 * case of encode_cases.jsonl (ids = encode(text) with BOS; decoded =
 * decode(ids[1:]); streaming decode, one id at a time, equals decode), then
 * the same tokenizer.json rewritten with merges as ["a", "b"] pairs (all
 * cases again), and rewritten to the newer form (normalizer null, Metaspace
 * pre-tokenizer, prepend_scheme "first", split false): there tokenizers
 * gives the same ids only to texts that start with neither " " nor "▁" and
 * hold no special token, and the ids listed below to the others (from
 * tokenizers 0.23). */
static void test_tokenizer_cases(const char *shared_dir) {
    static const char *names[2] = {"tokenizer.json", "encode_cases.jsonl"};
    char *file[2] = {NULL, NULL}, *variant[3] = {NULL, NULL, NULL}, path[1024], err[256];
    size_t flen[2] = {0, 0}, vlen[3] = {0, 0, 0};
    tk_json j;
    int parsed = 0;
    for (int f = 0; f < 2; f++) {
        snprintf(path, sizeof path, "%s/tokenizers/llama2/%s", shared_dir, names[f]);
        file[f] = read_all(path, &flen[f]);
        if (!file[f]) {
            SKIP("tokenizer cases: cannot read %s", path);
            goto done;
        }
    }

    /* The variants, spliced from the file's own text: the merges array
     * rewritten as pairs; then also the normalizer and pre_tokenizer values
     * replaced. Each edit: [from, to) of the source becomes text (or, for
     * the merges, the pairs). */
    parsed = tk_json_parse(&j, file[0], flen[0], err, sizeof err) == 0;
    CHECK(parsed, "tokenizer.json parses: %s", err);
    if (!parsed) goto done;
    {
        int model = tk_json_get(&j, 0, "model"), merges = tk_json_get(&j, model, "merges");
        int norm = tk_json_get(&j, 0, "normalizer"), pre = tk_json_get(&j, 0, "pre_tokenizer");
        CHECK(merges > 0 && norm > 0 && pre > 0 && norm < pre && pre < merges, "tokenizer.json has %s", "normalizer, pre_tokenizer, model.merges in this order");
        if (!(merges > 0 && norm > 0 && pre > 0 && norm < pre && pre < merges)) goto done;
        const char *meta = "{\"type\": \"Metaspace\", \"replacement\": \"\\u2581\", \"prepend_scheme\": \"first\", \"split\": false}";
        for (int v = 1; v <= 2; v++) {
            size_t cap = flen[0] + 8 * (size_t)j.nodes[merges].count + 256, o = 0, at = 0;
            char *out = (char *)malloc(cap);
            if (!out) break;
            struct { size_t from, to; const char *text; } ed[3] = {
                {j.nodes[norm].start, j.nodes[norm].end, v == 2 ? "null" : NULL},
                {j.nodes[pre].start, j.nodes[pre].end, v == 2 ? meta : NULL},
                {j.nodes[merges].start, j.nodes[merges].end, NULL}};
            for (int e = 0; e < 3; e++) {
                if (e < 2 && !ed[e].text) continue;
                memcpy(out + o, file[0] + at, ed[e].from - at);
                o += ed[e].from - at;
                if (e < 2) {
                    memcpy(out + o, ed[e].text, strlen(ed[e].text));
                    o += strlen(ed[e].text);
                } else { /* "a b" -> ["a", "b"], on the escaped text */
                    out[o++] = '[';
                    for (int m = tk_json_child(&j, merges); m >= 0; m = tk_json_next(&j, m)) {
                        const char *s = file[0] + j.nodes[m].start;
                        size_t n = j.nodes[m].end - j.nodes[m].start;
                        const char *sp = (const char *)memchr(s, ' ', n);
                        if (!sp) break;
                        o += (size_t)sprintf(out + o, "%s[\"%.*s\", \"%.*s\"]", m == tk_json_child(&j, merges) ? "" : ", ",
                                             (int)(sp - s), s, (int)(n - (size_t)(sp - s) - 1), sp + 1);
                    }
                    out[o++] = ']';
                }
                at = ed[e].to;
            }
            memcpy(out + o, file[0] + at, flen[0] - at);
            variant[v] = out;
            vlen[v] = o + flen[0] - at;
        }
    }
    variant[0] = file[0];
    vlen[0] = flen[0];

    for (int v = 0; v < 3; v++) {
        static const char *vname[3] = {"tokenizer.json", "pair merges", "Metaspace form"};
        tk_tokenizer *t = NULL;
        if (!variant[v]) continue;
        int rc = tk_load(&t, variant[v], vlen[v], vname[v], err, sizeof err);
        CHECK(rc == 0, "tokenizer load (%s): %s", vname[v], err);
        if (rc) continue;
        CHECK(tk_vocab_size(t) == 32000 && tk_bos_id(t) == 1 && tk_eos_id(t) == 2, "%s: vocab %d, bos %d, eos %d",
              vname[v], tk_vocab_size(t), tk_bos_id(t), tk_eos_id(t));
        int ncase = 0, nrun = 0;
        const char *p = file[1], *end = file[1] + flen[1];
        while (p < end) {
            const char *nl = (const char *)memchr(p, '\n', (size_t)(end - p));
            if (!nl) nl = end;
            tk_json c;
            if (nl > p && tk_json_parse(&c, p, (size_t)(nl - p), err, sizeof err) == 0) {
                size_t tl = 0, dl = 0;
                char *text = tk_json_strdup(&c, tk_json_get(&c, 0, "text"), &tl);
                char *want_dec = tk_json_strdup(&c, tk_json_get(&c, 0, "decoded"), &dl);
                int wids = tk_json_get(&c, 0, "ids"), nw = 0, want[512];
                for (int e = tk_json_child(&c, wids); e >= 0 && nw < 512; e = tk_json_next(&c, e)) {
                    long long x = -1;
                    tk_json_int(&c, e, &x);
                    want[nw++] = (int)x;
                }
                ncase++;
                /* the Metaspace form agrees on texts without a leading space
                 * or "▁" and without special tokens */
                int applies = v < 2 || (text && tl && text[0] != ' ' && strncmp(text, "\xE2\x96\x81", 3) != 0 &&
                                        !strstr(text, "<s>") && !strstr(text, "</s>") && !strstr(text, "<unk>"));
                if (text && want_dec && nw > 0 && applies) {
                    int *ids = NULL, n = 0, ok_ids, ok_dec = 0, ok_stream = 0;
                    char *dec = NULL;
                    size_t decl = 0;
                    nrun++;
                    ok_ids = tk_encode(t, text, tl, 1, &ids, &n, err, sizeof err) == 0 && n == nw &&
                             memcmp(ids, want, sizeof(int) * (size_t)n) == 0;
                    if (tk_decode(t, want + 1, nw - 1, 0, &dec, &decl, err, sizeof err) == 0) {
                        ok_dec = decl == dl && memcmp(dec, want_dec, dl) == 0;
                        tk_stream s; /* one id at a time, concatenated */
                        char piece[64], acc[4096];
                        size_t an = 0;
                        int k = 0;
                        tk_stream_init(&s, t, 1, 0);
                        for (int i = 1; i < nw && k >= 0; i++)
                            if ((k = tk_stream_push(&s, want[i], piece, sizeof piece)) > 0 && an + (size_t)k <= sizeof acc) {
                                memcpy(acc + an, piece, (size_t)k);
                                an += (size_t)k;
                            }
                        if (k >= 0 && (k = tk_stream_flush(&s, piece, sizeof piece)) >= 0 && an + (size_t)k <= sizeof acc) {
                            memcpy(acc + an, piece, (size_t)k);
                            an += (size_t)k;
                        }
                        ok_stream = k >= 0 && an == decl && memcmp(acc, dec, decl) == 0;
                    }
                    CHECK(ok_ids && ok_dec && ok_stream, "tokenizer case (%s) \"%.60s\": %s%s%s", vname[v], text,
                          ok_ids ? "" : "ids differ; ", ok_dec ? "" : "decode differs; ", ok_stream ? "" : "stream differs");
                    free(ids);
                    free(dec);
                }
                free(text);
                free(want_dec);
                tk_json_free(&c);
            }
            p = nl + 1;
        }
        CHECK(ncase == 191 && nrun == (v < 2 ? 191 : 74), "%s: ran %d of %d tokenizer cases", vname[v], nrun, ncase);
        if (v == 2) { /* where the Metaspace form differs, as tokenizers 0.23 gives it */
            static const struct { const char *text; int n, ids[6]; } ms[] = {
                {" ", 2, {1, 29871}}, {" a", 2, {1, 263}}, {"  a  ", 4, {1, 29871, 263, 259}},
                {"a</s>b", 4, {1, 263, 2, 29890}}, {"<s>Hello", 3, {1, 1, 10994}}, {"\xE2\x96\x81\xE2\x96\x81" "a", 3, {1, 29871, 263}}};
            for (size_t i = 0; i < sizeof ms / sizeof *ms; i++) {
                int *ids = NULL, n = 0;
                int ok = tk_encode(t, ms[i].text, strlen(ms[i].text), 1, &ids, &n, err, sizeof err) == 0 && n == ms[i].n &&
                         memcmp(ids, ms[i].ids, sizeof(int) * (size_t)n) == 0;
                CHECK(ok, "Metaspace form: \"%s\" encodes as tokenizers does", ms[i].text);
                free(ids);
            }
        }
        tk_free(t);
    }

done:
    if (parsed) tk_json_free(&j);
    free(variant[1]);
    free(variant[2]);
    for (int f = 0; f < 2; f++) free(file[f]);
}

static void test_tokenizer(void) {
    if (!g_shared) { SKIP("tokenizer cases: no shared data"); return; }
    test_tokenizer_cases(g_shared);
}

/* ======================================================================== */
/* The forward pass against Hugging Face's reference logits                 */
/* ======================================================================== */

typedef struct {
    int ids[64], n_ids;
    int argmax[64];
    int greedy[32], n_greedy;
    double margins[32];
    int logits_row;
} ref_prompt;

static int load_reference(const char *model_dir, ref_prompt *out, int max) {
    char path[8192];
    snprintf(path, sizeof path, "%s/reference.json", model_dir);
    size_t len;
    char *text = read_all(path, &len);
    tk_json j;
    char msg[256];
    if (!text || tk_json_parse(&j, text, len, msg, sizeof msg)) { free(text); return -1; }
    int n = 0, prompts = tk_json_get(&j, 0, "prompts");
    for (int p = tk_json_child(&j, prompts); p >= 0 && n < max; p = tk_json_next(&j, p), n++) {
        ref_prompt *r = &out[n];
        long long row = 0;
        r->n_ids = json_ints(&j, tk_json_get(&j, p, "ids"), r->ids, 64);
        json_ints(&j, tk_json_get(&j, p, "all_positions_argmax"), r->argmax, 64);
        r->n_greedy = json_ints(&j, tk_json_get(&j, p, "greedy_ids"), r->greedy, 32);
        json_floats(&j, tk_json_get(&j, p, "greedy_margins"), r->margins, 32);
        tk_json_int(&j, tk_json_get(&j, p, "last_logits_file_index"), &row);
        r->logits_row = (int)row;
    }
    tk_json_free(&j);
    free(text);
    return n;
}

/* max |a - b| over max |b| */
static double rel_err(const float *a, const float *b, int n) {
    double num = 0, den = 0;
    for (int i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > num || d != d) num = d;
        if (fabs(b[i]) > den) den = fabs(b[i]);
    }
    return den > 0 ? num / den : num;
}

static int argmax_f(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

typedef struct {
    int ids[256];
    int n;
} collected;

static int collect(void *user, int seq, int token, const char *text, size_t len) {
    collected *c = (collected *)user + seq;
    (void)text; (void)len;
    if (token >= 0 && c->n < 256) c->ids[c->n++] = token;
    return 0;
}

/* Greedy ids agree up to the first step whose reference margin is below tol. */
static int greedy_agrees(const ref_prompt *r, const int *ids, int n, double tol, int *upto) {
    for (int i = 0; i < r->n_greedy; i++) {
        if (r->margins[i] < tol) { *upto = i; return 1; }
        if (i >= n || ids[i] != r->greedy[i]) { *upto = i; return 0; }
    }
    *upto = r->n_greedy;
    return 1;
}

/* Logits (prefill and token-by-token), per-position argmax and greedy ids of
 * one shared tiny model on a device, against transformers within tol. */
static void check_model_reference(const char *name, const char *device, double tol, double margin_tol) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/models/%s", g_shared, name);
    ref_prompt refs[8];
    int n_ref = load_reference(dir, refs, 8);
    size_t flen;
    char lpath[8192];
    snprintf(lpath, sizeof lpath, "%s/reference_logits.f32", dir);
    float *ref_logits = (float *)read_all(lpath, &flen);
    llorch_model *m = NULL;
    llorch_session *s = NULL;
    llorch_error err;
    llorch_load_opts lo = {device, 2};
    CHECK(n_ref > 0 && ref_logits, "%s: reference data", name);
    int st = n_ref > 0 && ref_logits ? llorch_load(&m, dir, &lo, &err) : -1;
    CHECK(st == 0, "%s on %s: load: %s", name, device, err.msg);
    if (st) { free(ref_logits); return; }
    int vocab = llorch_model_config(m)->vocab_size;
    float *logits = (float *)malloc((size_t)vocab * sizeof *logits);
    st = llorch_session_new(&s, m, NULL, &err);
    CHECK(st == 0, "%s: session: %s", name, err.msg);
    for (int p = 0; p < n_ref && !st; p++) {
        const ref_prompt *r = &refs[p];
        const float *want = ref_logits + (size_t)r->logits_row * vocab;
        /* the whole prompt in one pass */
        llorch_session_reset(s);
        st = llorch_forward(s, 0, r->ids, r->n_ids, logits, &err);
        double e = rel_err(logits, want, vocab);
        CHECK(st == 0 && e <= tol, "%s/%s prompt %d prefill: relative error %.3g > %.3g (%s)", name, device, p, e, tol,
              st ? err.msg : "");
        /* one token at a time: each position's argmax */
        llorch_session_reset(s);
        int bad = -1;
        for (int i = 0; i < r->n_ids && !st; i++) {
            st = llorch_forward(s, 0, &r->ids[i], 1, logits, &err);
            if (argmax_f(logits, vocab) != r->argmax[i] && bad < 0) bad = i;
        }
        e = rel_err(logits, want, vocab);
        CHECK(st == 0 && bad < 0 && e <= tol, "%s/%s prompt %d step by step: argmax differs at %d, error %.3g", name,
              device, p, bad, e);
        /* greedy generation */
        llorch_session_reset(s);
        collected got;
        got.n = 0;
        llorch_sampler_opts so = llorch_sampler_defaults();
        st = llorch_generate(s, r->ids, r->n_ids, r->n_greedy, &so, collect, &got, NULL, &err);
        int upto = 0;
        int ok = st == 0 && greedy_agrees(r, got.ids, got.n, margin_tol, &upto);
        CHECK(ok, "%s/%s prompt %d greedy ids differ at step %d (%s)", name, device, p, upto, st ? err.msg : "");
    }
    free(logits);
    free(ref_logits);
    llorch_session_free(s);
    llorch_free(m);
}

static void test_reference_cpu(void) {
    if (!g_shared) { SKIP("reference logits: no shared data"); return; }
    const char *models[] = {"tiny-llama-f32", "tiny-llama-bf16", "tiny-llama-f16"};
    for (int i = 0; i < 3; i++) check_model_reference(models[i], "cpu", 1e-4, 1e-3);
}

/* ------------------------------------------------------------------------ */
/* The CUDA backend, when this build has it and the machine has a GPU (it skips
 * otherwise, saying why): on each shared tiny model, prefill logits within
 * 2e-2 of transformers (relative to the largest logit) and greedy ids up to the
 * first step whose reference margin is under 0.25; decode logits step by step,
 * and a batch of three sequences with one idle, against the CPU backend; the
 * device sampler against llorch_sample_logits on the logits it returns; a
 * device that does not exist. */
static int cuda_step(llorch_session *s, const int *ids, const llorch_sample_params *sp, int *next, float *logits,
                     llorch_error *err) {
    for (int i = 0; i < s->n_seq; i++)
        if (ids[i] >= 0) s->tokens[(size_t)i * s->ctx + s->pos[i]] = ids[i];
    int st = s->m->backend->decode(s, ids, sp, next, logits, err);
    for (int i = 0; i < s->n_seq && !st; i++)
        if (ids[i] >= 0) s->pos[i]++;
    return st;
}

/* Three sequences stopped by the callback after 5, 12 and 20 tokens. */
typedef struct {
    int ids[32], n, stop;
} stopping;

static int collect_until(void *user, int seq, int token, const char *text, size_t len) {
    stopping *c = (stopping *)user + seq;
    (void)text; (void)len;
    if (token >= 0 && c->n < 32) c->ids[c->n++] = token;
    return c->n >= c->stop;
}

/* Batch generation, with its queued steps, against the same steps run one at
 * a time (logits asked for), as llorch_generate_batch defines them: each
 * sequence draws from its own seed and stops on its own. */
static void check_cuda_queued_batch(llorch_model *g, const ref_prompt *r, float *logits) {
    const llorch_config *cfg = llorch_model_config(g);
    llorch_session *sa = NULL, *sb = NULL;
    llorch_session_opts so = {96, 3};
    llorch_error err;
    int st = llorch_session_new(&sa, g, &so, &err) || llorch_session_new(&sb, g, &so, &err);
    CHECK(st == 0, "queued batch: sessions: %s", err.msg);
    llorch_sampler_opts o[3];
    stopping got[3], want[3];
    const int *prompts[3];
    int n_prompt[3], cur[3], nx[3];
    uint64_t rng[3];
    float u[3];
    memset(got, 0, sizeof got);
    memset(want, 0, sizeof want);
    for (int i = 0; i < 3; i++) {
        o[i] = llorch_sampler_defaults();
        o[i].temperature = 0.9f;
        o[i].top_k = 50;
        o[i].seed = 21 + (uint64_t)i;
        got[i].stop = want[i].stop = i == 0 ? 5 : i == 1 ? 12 : 20;
        prompts[i] = r->ids;
        n_prompt[i] = r->n_ids;
    }
    if (!st) st = llorch_generate_batch(sa, prompts, n_prompt, 20, o, collect_until, got, NULL, &err);
    for (int i = 0; i < 3 && !st; i++) {
        st = llorch_forward(sb, i, r->ids, r->n_ids - 1, NULL, &err);
        cur[i] = r->ids[r->n_ids - 1];
        rng[i] = o[i].seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
        u[i] = llorch_rand(&rng[i]);
    }
    for (int active = 3; active && !st;) {
        llorch_sample_params p[3];
        for (int i = 0; i < 3; i++) {
            p[i] = (llorch_sample_params){o[i].temperature, o[i].top_p, o[i].repetition_penalty, o[i].top_k, u[i], -1};
            if (cur[i] >= 0) u[i] = llorch_rand(&rng[i]);
        }
        st = cuda_step(sb, cur, p, nx, logits, &err);
        active = 0;
        for (int i = 0; i < 3 && !st; i++) {
            if (cur[i] < 0) continue;
            want[i].ids[want[i].n++] = nx[i];
            int eos = 0;
            for (int e = 0; e < cfg->n_eos; e++) eos |= cfg->eos_ids[e] == nx[i];
            cur[i] = eos || want[i].n >= want[i].stop ? -1 : nx[i];
            active += cur[i] >= 0;
        }
    }
    int same = st == 0;
    for (int i = 0; i < 3 && same; i++) same = got[i].n == want[i].n && !memcmp(got[i].ids, want[i].ids, sizeof(int) * (size_t)got[i].n);
    CHECK(same, "batch generation with queued steps equals steps one at a time (%s)", st ? err.msg : "");
    llorch_session_free(sa);
    llorch_session_free(sb);
}

/* Generation queues each decode step before the previous one's token reaches
 * the host. The tokens must equal those of the same steps run one at a time
 * (asking for logits queues nothing), and a step queued for a token the
 * caller then overrides must be recomputed for the caller's token. */
static void check_cuda_queued_steps(llorch_model *g, const ref_prompt *r, float *logits) {
    llorch_session *sa = NULL, *sb = NULL;
    llorch_session_opts so = {96, 1};
    llorch_error err;
    int st = llorch_session_new(&sa, g, &so, &err) || llorch_session_new(&sb, g, &so, &err);
    CHECK(st == 0, "queued steps: sessions: %s", err.msg);
    llorch_sampler_opts o = llorch_sampler_defaults();
    o.temperature = 0.9f;
    o.top_k = 50;
    o.seed = 11;
    collected got;
    got.n = 0;
    if (!st) st = llorch_generate(sa, r->ids, r->n_ids, 40, &o, collect, &got, NULL, &err);
    if (!st) st = llorch_forward(sb, 0, r->ids, r->n_ids - 1, NULL, &err);
    uint64_t rng = o.seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull; /* llorch_generate's draws */
    int id = r->ids[r->n_ids - 1], same = 0;
    for (int t = 0; t < got.n && !st; t++) {
        llorch_sample_params p = {o.temperature, o.top_p, o.repetition_penalty, o.top_k, llorch_rand(&rng), -1};
        int nx;
        st = cuda_step(sb, &id, &p, &nx, logits, &err);
        same += nx == got.ids[t];
        id = nx;
    }
    CHECK(st == 0 && got.n > 0 && same == got.n, "generation with queued steps equals steps one at a time: %d of %d (%s)",
          same, got.n, st ? err.msg : "");
    /* every fourth token overridden: queued (no logits) against one at a time */
    int seq[2][30], vocab = llorch_model_config(g)->vocab_size;
    for (int run = 0; run < 2 && !st; run++) {
        llorch_session_reset(sb);
        st = llorch_forward(sb, 0, r->ids, r->n_ids - 1, NULL, &err);
        rng = 5;
        float u = llorch_rand(&rng);
        id = r->ids[r->n_ids - 1];
        for (int t = 0; t < 30 && !st; t++) {
            float un = llorch_rand(&rng);
            llorch_sample_params p = {0.8f, 0.95f, 1.1f, 0, u, un};
            st = cuda_step(sb, &id, &p, &seq[run][t], run ? logits : NULL, &err);
            id = t % 4 == 3 ? (seq[run][t] + 7) % vocab : seq[run][t];
            u = un;
        }
    }
    CHECK(st == 0 && !memcmp(seq[0], seq[1], sizeof seq[0]), "overridden tokens: queued steps equal steps one at a time (%s)",
          st ? err.msg : "");
    llorch_session_free(sa);
    llorch_session_free(sb);
    if (!st) check_cuda_queued_batch(g, r, logits);
}

static void check_cuda_model(const char *name) {
    char dir[4096], lpath[8192];
    snprintf(dir, sizeof dir, "%s/models/%s", g_shared, name);
    snprintf(lpath, sizeof lpath, "%s/reference_logits.f32", dir);
    ref_prompt refs[8];
    int n_ref = load_reference(dir, refs, 8);
    size_t flen;
    float *ref_logits = (float *)read_all(lpath, &flen);
    llorch_model *g = NULL, *c = NULL;
    llorch_error err;
    llorch_load_opts lg = {"cuda", 0}, lc = {"cpu", 2};
    CHECK(n_ref > 0 && ref_logits, "%s: reference data", name);
    int st = n_ref > 0 && ref_logits ? llorch_load(&g, dir, &lg, &err) : -1;
    CHECK(st == 0, "%s on cuda: load: %s", name, err.msg);
    if (!st) st = llorch_load(&c, dir, &lc, &err);
    if (st) { free(ref_logits); llorch_free(g); return; }
    const int vocab = llorch_model_config(g)->vocab_size;
    float *lgp = (float *)malloc((size_t)3 * vocab * sizeof *lgp), *lcp = (float *)malloc((size_t)3 * vocab * sizeof *lcp);
    for (int p = 0; p < n_ref; p++) {
        const ref_prompt *r = &refs[p];
        llorch_session *sg = NULL, *sc = NULL;
        llorch_session_opts so = {64, 1};
        st = llorch_session_new(&sg, g, &so, &err) || llorch_session_new(&sc, c, &so, &err);
        CHECK(st == 0, "%s: sessions: %s", name, err.msg);
        if (st) { llorch_session_free(sg); llorch_session_free(sc); break; }
        /* the whole prompt in one pass, against transformers */
        st = llorch_forward(sg, 0, r->ids, r->n_ids, lgp, &err);
        double e = rel_err(lgp, ref_logits + (size_t)r->logits_row * vocab, vocab);
        CHECK(st == 0 && e <= 2e-2, "%s/cuda prompt %d prefill: relative error %.3g > 2e-2 (%s)", name, p, e,
              st ? err.msg : "");
        /* decode 8 tokens (the CPU's greedy choice fed to both) against the CPU backend */
        llorch_session_reset(sg);
        st = llorch_forward(sg, 0, r->ids, r->n_ids - 1, NULL, &err);
        if (!st) st = llorch_forward(sc, 0, r->ids, r->n_ids - 1, NULL, &err);
        int id = r->ids[r->n_ids - 1], nx;
        double worst = 0;
        for (int t = 0; t < 8 && !st; t++) {
            st = cuda_step(sg, &id, NULL, &nx, lgp, &err);
            if (!st) st = cuda_step(sc, &id, NULL, &nx, lcp, &err);
            e = rel_err(lgp, lcp, vocab);
            if (e > worst) worst = e;
            id = argmax_f(lcp, vocab);
        }
        CHECK(st == 0 && worst <= 2e-2, "%s prompt %d decode: cuda vs cpu relative error %.3g (%s)", name, p, worst,
              st ? err.msg : "");
        llorch_session_free(sc);
        /* greedy generation on the GPU */
        llorch_session_reset(sg);
        collected got;
        got.n = 0;
        llorch_sampler_opts sopt = llorch_sampler_defaults();
        st = llorch_generate(sg, r->ids, r->n_ids, r->n_greedy, &sopt, collect, &got, NULL, &err);
        int upto = 0, ok = st == 0 && greedy_agrees(r, got.ids, got.n, 0.25, &upto);
        CHECK(ok, "%s/cuda prompt %d greedy ids differ at step %d (%s)", name, p, upto, st ? err.msg : "");
        llorch_session_free(sg);
    }
    /* three sequences decoded together, the middle one idle for two steps */
    {
        llorch_session *sg = NULL, *sc = NULL;
        llorch_session_opts so = {64, 3};
        st = llorch_session_new(&sg, g, &so, &err) || llorch_session_new(&sc, c, &so, &err);
        CHECK(st == 0, "%s: batch sessions: %s", name, err.msg);
        for (int i = 0; i < 3 && !st; i++) {
            const ref_prompt *r = &refs[i % n_ref];
            st = llorch_forward(sg, i, r->ids, r->n_ids, NULL, &err) || llorch_forward(sc, i, r->ids, r->n_ids, NULL, &err);
        }
        int ids[3] = {100, 200, 300}, cur[3], nx[3];
        double worst = 0;
        for (int t = 0; t < 5 && !st; t++) {
            for (int i = 0; i < 3; i++) cur[i] = i == 1 && (t == 1 || t == 2) ? -1 : ids[i];
            st = cuda_step(sg, cur, NULL, nx, lgp, &err);
            if (!st) st = cuda_step(sc, cur, NULL, nx, lcp, &err);
            for (int i = 0; i < 3 && !st; i++) {
                if (cur[i] < 0) continue;
                double e = rel_err(lgp + (size_t)i * vocab, lcp + (size_t)i * vocab, vocab);
                if (e > worst) worst = e;
                ids[i] = argmax_f(lcp + (size_t)i * vocab, vocab);
            }
        }
        CHECK(st == 0 && worst <= 2e-2, "%s batch of 3 (one idle): cuda vs cpu relative error %.3g (%s)", name, worst,
              st ? err.msg : "");
        llorch_session_free(sg);
        llorch_session_free(sc);
    }
    /* the device sampler against the host's on the same logits and history */
    {
        llorch_session *sg = NULL;
        llorch_session_opts so = {96, 3};
        st = llorch_session_new(&sg, g, &so, &err);
        for (int i = 0; i < 3 && !st; i++) st = llorch_forward(sg, i, refs[0].ids, refs[0].n_ids, NULL, &err);
        llorch_sample_params sp[3] = {{0.8f, 0.9f, 1.3f, 40, 0, -1}, {1.0f, 1.0f, 1.0f, 0, 0, -1}, {0.0f, 1.0f, 1.5f, 0, 0, -1}};
        int ids[3] = {5, 6, 7}, nx[3], mism = 0, total = 0;
        uint64_t rng = 7;
        float *tmp = (float *)malloc((size_t)vocab * sizeof *tmp);
        for (int t = 0; t < 30 && !st; t++) {
            for (int i = 0; i < 3; i++) sp[i].u = llorch_rand(&rng);
            sp[0].top_k = t % 3 ? 40 : 1 + t;
            sp[1].top_p = t % 2 ? 1.0f : 0.6f;
            st = cuda_step(sg, ids, sp, nx, lgp, &err);
            for (int i = 0; i < 3 && !st; i++) {
                memcpy(tmp, lgp + (size_t)i * vocab, (size_t)vocab * sizeof *tmp);
                int want = llorch_sample_logits(tmp, vocab, &sp[i], sg->tokens + (size_t)i * sg->ctx, sg->pos[i]);
                mism += want != nx[i];
                total++;
                ids[i] = nx[i];
            }
        }
        CHECK(st == 0 && mism <= 1, "%s: device sampler differs from llorch_sample_logits in %d of %d draws (%s)", name,
              mism, total, st ? err.msg : "");
        free(tmp);
        llorch_session_free(sg);
    }
    check_cuda_queued_steps(g, &refs[0], lgp);
    free(lgp);
    free(lcp);
    free(ref_logits);
    llorch_free(g);
    llorch_free(c);
}

static void check_cuda_long_context(const char *dtype);

static void test_reference_cuda(void) {
    if (!g_shared) { SKIP("cuda: no shared data"); return; }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/models/tiny-llama-bf16", g_shared);
    llorch_model *m = NULL;
    llorch_error err;
    llorch_load_opts lo = {"cuda", 0};
    if (llorch_load(&m, dir, &lo, &err)) { /* no CUDA in this build, or no GPU here */
        CHECK(err.status == LLORCH_E_DEVICE, "cuda unavailable, but not as a device error: %s", err.msg);
        SKIP("cuda: %s", err.msg);
        return;
    }
    llorch_free(m);
    const char *models[] = {"tiny-llama-f32", "tiny-llama-bf16", "tiny-llama-f16"};
    for (int i = 0; i < 3; i++) check_cuda_model(models[i]);
    check_cuda_long_context("BF16");
    check_cuda_long_context("F16");
    llorch_load_opts bad = {"cuda:999", 0};
    int st = llorch_load(&m, dir, &bad, &err);
    CHECK(st == LLORCH_E_DEVICE && strstr(err.msg, "cuda:999"), "cuda:999 gives a device error naming it: %s", err.msg);
    llorch_free(m);
}

/* ======================================================================== */
/* Bad input: every broken file gives an error naming it, never a crash      */
/* ======================================================================== */

/* Replace the first `from` in the header (which has 64 bytes of room past
 * its end), keeping its length: the padding before the closing brace
 * absorbs the difference. */
static int hdr_replace(st_file *f, const char *from, const char *to) {
    char *p = strstr(f->header, from);
    size_t a = strlen(from), b = strlen(to), len = f->header_len;
    if (!p || b > a + 60) return -1;
    memmove(p + b, p + a, len - (size_t)(p - f->header) - a + 1);
    memcpy(p, to, b);
    len = len - a + b;
    if (len > f->header_len) /* drop spaces before the closing brace */
        memmove(f->header + f->header_len - 1, f->header + len - 1, 2);
    for (; len < f->header_len; len++) { /* or add some */
        f->header[len - 1] = ' ';
        f->header[len] = '}';
        f->header[len + 1] = 0;
    }
    return 0;
}

static char g_tmp[4096]; /* a scratch directory for this run */

static void make_tmpdir(void) {
    if (g_tmp[0]) return;
    const char *base = getenv("TMPDIR");
    snprintf(g_tmp, sizeof g_tmp, "%s/llorch-test-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(g_tmp)) g_tmp[0] = 0;
}

static void remove_tree(const char *dir) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) {}
}

/* Load dir and expect failure with a message containing want. */
static void expect_load_error(const char *dir, const char *what, const char *want) {
    llorch_model *m = NULL;
    llorch_error err;
    int st = llorch_load(&m, dir, NULL, &err);
    CHECK(st != 0 && m == NULL && strstr(err.msg, want), "%s: expected an error naming '%s', got status %d: %s", what,
          want, st, st ? err.msg : "(loaded)");
    llorch_free(m);
}

typedef struct {
    const char *what, *from, *to; /* a header edit */
    uint64_t header_len;         /* or a header length field */
    size_t keep;                 /* or a truncation */
    const char *want;            /* in the message */
} st_case;

static void test_bad_weights(void) {
    make_tmpdir();
    char dir[4200], path[4300];
    snprintf(dir, sizeof dir, "%s/bad-weights", g_tmp);
    CHECK(write_small_model(dir, &small_shape) == 0, "write a small model");
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    llorch_model *m = NULL;
    llorch_error err;
    int st = llorch_load(&m, dir, NULL, &err);
    CHECK(st == 0, "the unbroken small model loads: %s", st ? err.msg : "");
    llorch_free(m);
    st_file f;
    st_build(&f, &small_shape);
    static const st_case cases[] = {
        {"empty file", NULL, NULL, 0, 1, "too short"},
        {"truncated data", NULL, NULL, 0, 4000, "model.safetensors"},
        {"header length past the end", NULL, NULL, 1u << 30, 0, "header length"},
        {"absurd header length", NULL, NULL, ~0ull >> 1, 0, "header length"},
        {"malformed header JSON", "\"__metadata__\":", "\"__metadata__\"", 0, 0, "header"},
        {"offsets outside the data", "\"data_offsets\":[0,", "\"data_offsets\":[99999990,", 0, 0, "data_offsets"},
        {"reversed offsets", "\"data_offsets\":[0,19200]", "\"data_offsets\":[19200,0]", 0, 0, "data_offsets"},
        {"shape and size disagree", "\"shape\":[300,16]", "\"shape\":[301,16]", 0, 0, "bytes"},
        {"missing tensor", "\"lm_head.weight\"", "\"lm_head.weighX\"", 0, 0, "lm_head.weight"},
        {"unsupported dtype", "\"dtype\":\"F32\",\"shape\":[300,16]", "\"dtype\":\"I32\",\"shape\":[300,16]", 0, 0, "I32"},
        {"unknown dtype", "\"dtype\":\"F32\"", "\"dtype\":\"Q4\"", 0, 0, "dtype"},
        {"negative shape", "\"shape\":[300,16]", "\"shape\":[-300,16]", 0, 0, "shape"},
        {"a tensor named twice", "\"lm_head.weight\"", "\"model.norm.weight\"", 0, 0, "twice"},
        {"header is not an object", "{\"__metadata__\":{\"format\":\"pt\"}", "[{\"__metadata__\":{\"format\":\"pt\"}]", 0, 0, "header"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const st_case *c = &cases[i];
        st_file g = f;
        g.header = (char *)malloc(f.header_len + 64);
        memcpy(g.header, f.header, f.header_len + 1);
        int edited = !c->from || hdr_replace(&g, c->from, c->to) == 0;
        CHECK(edited, "%s: the edit applies", c->what);
        st_write(path, &g, c->header_len, c->keep == 1 ? 0 : c->keep);
        if (c->keep == 1) write_all(path, "", 0);
        expect_load_error(dir, c->what, c->want);
        free(g.header);
    }
    st_free(&f);
    remove_tree(dir);
}

/* The small model split in two shards with an index loads and computes the
 * same logits; an index naming a file outside the directory is refused. */
static void test_sharded(void) {
    make_tmpdir();
    char one[4200], two[4200], path[4400];
    snprintf(one, sizeof one, "%s/single", g_tmp);
    snprintf(two, sizeof two, "%s/sharded", g_tmp);
    write_small_model(one, &small_shape);
    write_small_model(two, &small_shape);
    /* shard 1: everything, with lm_head renamed away; shard 2: lm_head alone */
    st_file a, b;
    st_build(&a, &small_shape); /* the same seed state is not needed: shard 2 copies a's bytes */
    size_t head = (size_t)small_shape.vocab * small_shape.dim * 4;
    memset(&b, 0, sizeof b);
    b.data = (unsigned char *)malloc(head);
    memcpy(b.data, a.data + a.data_len - head, head);
    b.data_len = head;
    b.header = (char *)malloc(256);
    b.header_len = (size_t)snprintf(b.header, 256, "{\"lm_head.weight\":{\"dtype\":\"F32\",\"shape\":[%d,%d],\"data_offsets\":[0,%zu]}",
                                    small_shape.vocab, small_shape.dim, head);
    while ((b.header_len + 1) % 8) b.header[b.header_len++] = ' ';
    b.header[b.header_len++] = '}';
    b.header[b.header_len] = 0;
    char *hdr = (char *)malloc(a.header_len + 64);
    memcpy(hdr, a.header, a.header_len + 1);
    free(a.header);
    a.header = hdr;
    hdr_replace(&a, "\"lm_head.weight\"", "\"unused.weight\"");
    snprintf(path, sizeof path, "%s/model.safetensors", one);
    st_write(path, &a, 0, 0); /* the single file holds the same values, named normally */
    {
        st_file c = a;
        c.header = (char *)malloc(a.header_len + 64);
        memcpy(c.header, a.header, a.header_len + 1);
        hdr_replace(&c, "\"unused.weight\"", "\"lm_head.weight\"");
        st_write(path, &c, 0, 0);
        free(c.header);
    }
    snprintf(path, sizeof path, "%s/model.safetensors", two);
    remove(path);
    snprintf(path, sizeof path, "%s/model-00001-of-00002.safetensors", two);
    st_write(path, &a, 0, 0);
    snprintf(path, sizeof path, "%s/model-00002-of-00002.safetensors", two);
    st_write(path, &b, 0, 0);
    char index[4096];
    size_t n = (size_t)snprintf(index, sizeof index, "{\"metadata\":{},\"weight_map\":{\"lm_head.weight\":\"model-00002-of-00002.safetensors\"");
    static const char *names[] = {"input_layernorm", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                  "self_attn.o_proj", "post_attention_layernorm", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};
    for (int l = 0; l < small_shape.layers; l++)
        for (int k = 0; k < 9; k++)
            n += (size_t)snprintf(index + n, sizeof index - n, ",\"model.layers.%d.%s.weight\":\"model-00001-of-00002.safetensors\"", l, names[k]);
    n += (size_t)snprintf(index + n, sizeof index - n, ",\"model.embed_tokens.weight\":\"model-00001-of-00002.safetensors\","
                          "\"model.norm.weight\":\"model-00001-of-00002.safetensors\"}}");
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", two);
    write_all(path, index, n);
    llorch_model *m1 = NULL, *m2 = NULL;
    llorch_session *s1 = NULL, *s2 = NULL;
    llorch_error err;
    CHECK(llorch_load(&m1, one, NULL, &err) == 0, "single file: %s", err.msg);
    CHECK(llorch_load(&m2, two, NULL, &err) == 0, "sharded: %s", err.msg);
    if (m1 && m2 && !llorch_session_new(&s1, m1, NULL, &err) && !llorch_session_new(&s2, m2, NULL, &err)) {
        int ids[] = {1, 262, 263, 40};
        float l1[300], l2[300];
        llorch_forward(s1, 0, ids, 4, l1, &err);
        llorch_forward(s2, 0, ids, 4, l2, &err);
        CHECK(!memcmp(l1, l2, sizeof l1), "sharded and single-file logits are equal");
    }
    llorch_session_free(s1);
    llorch_session_free(s2);
    llorch_free(m1);
    llorch_free(m2);
    /* an index that points outside the directory */
    char *evil = strstr(index, "model-00002-of-00002.safetensors");
    memcpy(evil, "../../../../../../../etc/passwd\"", 32);
    memmove(evil + 32, evil + 33, strlen(evil + 33) + 1);
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", two);
    write_all(path, index, strlen(index));
    expect_load_error(two, "an index naming a file outside the directory", "weight_map");
    write_all(path, "{\"weight_map\": 3}", 17);
    expect_load_error(two, "an index without a weight map", "weight_map");
    st_free(&a);
    st_free(&b);
    remove_tree(one);
    remove_tree(two);
}

static void test_bad_config(void) {
    make_tmpdir();
    char dir[4200], path[4300];
    snprintf(dir, sizeof dir, "%s/bad-config", g_tmp);
    write_small_model(dir, &small_shape);
    snprintf(path, sizeof path, "%s/config.json", dir);
    static const struct { const char *what, *extra, *want; } cases[] = {
        {"another architecture", "\"model_type\":\"gpt2\"", "model_type"},
        {"rope scaling", "\"rope_scaling\":{\"type\":\"linear\",\"factor\":2.0}", "rope_scaling"},
        {"another activation", "\"hidden_act\":\"gelu\"", "hidden_act"},
        {"attention biases", "\"attention_bias\":true", "attention_bias"},
        {"zero heads", "\"num_attention_heads\":0", "num_attention_heads"},
        {"heads not a multiple of kv heads", "\"num_key_value_heads\":3", "num_key_value_heads"},
        {"contradicts the weights", "\"hidden_size\":32", "config.json implies"},
        {"a string for a number", "\"vocab_size\":\"300\"", "vocab_size"},
        {"a missing field", "\"hidden_size\":null", "hidden_size"},
        {"a huge layer count", "\"num_hidden_layers\":100000", "num_hidden_layers"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_config(dir, &small_shape, cases[i].extra);
        expect_load_error(dir, cases[i].what, cases[i].want);
    }
    write_all(path, "{\"hidden_size\": 16,", 19);
    expect_load_error(dir, "malformed config.json", "config.json");
    remove(path);
    expect_load_error(dir, "missing config.json", "config.json");
    write_config(dir, &small_shape, NULL);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    write_all(path, "{\"model\": [", 11);
    expect_load_error(dir, "malformed tokenizer.json", "tokenizer.json");
    remove(path);
    expect_load_error(dir, "missing tokenizer.json", "tokenizer.json");
    remove_tree(dir);
    snprintf(dir, sizeof dir, "%s/empty", g_tmp);
    mkdir(dir, 0755);
    expect_load_error(dir, "an empty directory", "config.json");
    remove_tree(dir);
    expect_load_error("/nonexistent/llorch-model", "a directory that does not exist", "/nonexistent/llorch-model");
}

/* ======================================================================== */
/* Sampling                                                                  */
/* ======================================================================== */

static void test_sampler(void) {
    enum { V = 1000 };
    float base[V], work[V];
    uint64_t rng = 7;
    for (int i = 0; i < V; i++) base[i] = 4.0f * llorch_rand(&rng);
    /* the top-k set by value */
    float sorted[V];
    memcpy(sorted, base, sizeof sorted);
    for (int i = 0; i < V; i++) /* selection of the 10 largest is enough */
        for (int j = i + 1; j < V && i < 10; j++)
            if (sorted[j] > sorted[i]) { float t = sorted[i]; sorted[i] = sorted[j]; sorted[j] = t; }
    llorch_sampler_opts o = llorch_sampler_defaults();
    memcpy(work, base, sizeof work);
    CHECK(llorch_sample(&o, work, V, NULL, 0, 0.5f) == argmax_f(base, V), "greedy picks the argmax");
    o.temperature = 1.0f;
    o.top_k = 10;
    int outside = 0, seen_many = 0, hist[V] = {0};
    for (int d = 0; d < 2000; d++) {
        memcpy(work, base, sizeof work);
        int t = llorch_sample(&o, work, V, NULL, 0, llorch_rand(&rng));
        if (base[t] < sorted[9]) outside++;
        if (!hist[t]++) seen_many++;
    }
    CHECK(outside == 0, "top-k 10 picked %d tokens outside the top 10", outside);
    CHECK(seen_many > 1 && seen_many <= 10, "top-k 10 drew %d distinct tokens", seen_many);
    /* top-p: probabilities 0.5, 0.3, 0.2 (and nothing else) with p = 0.7 keep two tokens */
    float three[3] = {logf(0.5f), logf(0.3f), logf(0.2f)};
    llorch_sampler_opts tp = llorch_sampler_defaults();
    tp.temperature = 1.0f;
    tp.top_p = 0.7f;
    int picked[3] = {0};
    for (int d = 0; d < 2000; d++) {
        float w3[3];
        memcpy(w3, three, sizeof w3);
        picked[llorch_sample(&tp, w3, 3, NULL, 0, llorch_rand(&rng))]++;
    }
    CHECK(picked[2] == 0 && picked[0] > picked[1] && picked[1] > 0, "top-p 0.7 of (0.5, 0.3, 0.2) drew %d %d %d",
          picked[0], picked[1], picked[2]);
    /* the same u picks the same token */
    memcpy(work, base, sizeof work);
    int a = llorch_sample(&o, work, V, NULL, 0, 0.25f);
    memcpy(work, base, sizeof work);
    CHECK(a == llorch_sample(&o, work, V, NULL, 0, 0.25f), "same draw, same token");
    /* repetition penalty as Hugging Face: positive logits divided, negative multiplied, once per token */
    float rp[4] = {2.0f, -1.0f, 3.0f, 2.5f};
    int hist2[] = {0, 1, 1, 2};
    llorch_sampler_opts r = llorch_sampler_defaults();
    r.repetition_penalty = 2.0f;
    int t = llorch_sample(&r, rp, 4, hist2, 4, 0);
    CHECK(rp[0] == 1.0f && rp[1] == -2.0f && rp[2] == 1.5f && rp[3] == 2.5f && t == 3,
          "repetition penalty gave %g %g %g %g -> %d", rp[0], rp[1], rp[2], rp[3], t);
}

/* ======================================================================== */
/* Generation: sessions, batches, limits, streaming                          */
/* ======================================================================== */

typedef struct {
    char text[8192];
    size_t len;
    int ids[256], n;
    int stop_after;
} stream_sink;

static int on_text(void *user, int seq, int token, const char *text, size_t len) {
    stream_sink *s = (stream_sink *)user + seq;
    if (s->len + len < sizeof s->text) { memcpy(s->text + s->len, text, len); s->len += len; s->text[s->len] = 0; }
    if (token >= 0 && s->n < 256) s->ids[s->n++] = token;
    return s->stop_after && s->n >= s->stop_after;
}

static llorch_model *load_small(const char *name, const char *device) {
    make_tmpdir();
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/%s", g_tmp, name);
    struct stat sb;
    if (stat(dir, &sb)) write_small_model(dir, &small_shape);
    llorch_model *m = NULL;
    llorch_error err;
    llorch_load_opts lo = {device, 2};
    if (llorch_load(&m, dir, &lo, &err)) printf("load %s: %s\n", dir, err.msg);
    return m;
}

/* Past the tiny models' 512 positions: a synthetic model (head_dim 64, bf16
 * or f16) fed a 1300-token prompt (prefill in chunks of 512: the large-tile
 * GEMMs and flash attention) then decoded at positions where attention
 * splits the keys over blocks, against the CPU. */
static void check_cuda_long_context(const char *dtype) {
    const ckpt_shape sh = {256, 512, 2, 4, 2, 64, 300, 2048, dtype};
    make_tmpdir();
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/long-%s", g_tmp, dtype);
    CHECK(write_small_model(dir, &sh) == 0, "write a %s model of 2048 positions", dtype);
    llorch_model *g = NULL, *c = NULL;
    llorch_session *sg = NULL, *sc = NULL;
    llorch_error err;
    llorch_load_opts lg = {"cuda", 0}, lc = {"cpu", 2};
    llorch_session_opts so = {1400, 1};
    int st = llorch_load(&g, dir, &lg, &err) || llorch_load(&c, dir, &lc, &err) ||
             llorch_session_new(&sg, g, &so, &err) || llorch_session_new(&sc, c, &so, &err);
    CHECK(st == 0, "long context (%s): load and sessions: %s", dtype, err.msg);
    enum { N = 1300 };
    int *ids = (int *)malloc(N * sizeof *ids);
    float *lg_ = (float *)malloc(300 * sizeof *lg_), *lc_ = (float *)malloc(300 * sizeof *lc_);
    for (int i = 0; i < N; i++) ids[i] = i ? 3 + (int)((rand_uniform() + 1) * 148) : 1;
    if (!st) st = llorch_forward(sg, 0, ids, N, lg_, &err) || llorch_forward(sc, 0, ids, N, lc_, &err);
    double worst = st ? 1 : rel_err(lg_, lc_, 300);
    int id = argmax_f(lc_, 300), nx;
    for (int t = 0; t < 4 && !st; t++) {
        st = cuda_step(sg, &id, NULL, &nx, lg_, &err) || cuda_step(sc, &id, NULL, &nx, lc_, &err);
        double e = rel_err(lg_, lc_, 300);
        if (e > worst) worst = e;
        id = argmax_f(lc_, 300);
    }
    CHECK(st == 0 && worst <= 2e-2, "long context (%s, 1300 positions): cuda vs cpu relative error %.3g (%s)", dtype,
          worst, st ? err.msg : "");
    free(ids);
    free(lg_);
    free(lc_);
    llorch_session_free(sg);
    llorch_session_free(sc);
    llorch_free(g);
    llorch_free(c);
}

static void test_generation(void) {
    llorch_model *m = load_small("gen", "cpu");
    CHECK(m != NULL, "the small model loads");
    if (!m) return;
    llorch_error err;
    llorch_session *s = NULL, *b = NULL;
    int prompt[] = {1, 262, 263, 40, 50};
    llorch_sampler_opts o = llorch_sampler_defaults();
    o.temperature = 0.9f;
    o.top_k = 40;
    o.top_p = 0.95f;
    o.seed = 42;
    CHECK(llorch_session_new(&s, m, NULL, &err) == 0, "session: %s", err.msg);
    /* the same seed gives the same tokens; the text streams as the tokens decode */
    stream_sink one, two;
    memset(&one, 0, sizeof one);
    memset(&two, 0, sizeof two);
    CHECK(llorch_generate(s, prompt, 5, 24, &o, on_text, &one, NULL, &err) == 0, "generate: %s", err.msg);
    llorch_session_reset(s);
    CHECK(llorch_generate(s, prompt, 5, 24, &o, on_text, &two, NULL, &err) == 0, "generate: %s", err.msg);
    CHECK(one.n == two.n && !memcmp(one.ids, two.ids, sizeof(int) * (size_t)one.n) && !strcmp(one.text, two.text),
          "same seed, same output");
    char *whole = NULL;
    llorch_detokenize(m, one.ids, one.n, &whole, &err);
    const char *streamed = one.text[0] == ' ' ? one.text + 1 : one.text; /* decode strips one leading space */
    /* A run of byte tokens that mixes whole characters with invalid bytes
     * decodes to U+FFFD throughout, but a stream has printed the characters
     * by then: compare exactly unless the model produced such bytes. */
    int mixed = whole && strstr(whole, "\xEF\xBF\xBD");
    CHECK(whole && (mixed ? strlen(streamed) > 0 : !strcmp(whole, streamed)), "streamed text '%s' equals the decoded ids '%s'",
          streamed, whole ? whole : "");
    free(whole);
    /* a batch gives each sequence what it gives alone */
    llorch_session_opts bo = {0, 3};
    CHECK(llorch_session_new(&b, m, &bo, &err) == 0, "batch session: %s", err.msg);
    const int *prompts[3] = {prompt, prompt + 1, prompt};
    int lens[3] = {5, 3, 5};
    llorch_sampler_opts os[3] = {o, o, o};
    os[1].seed = 7;
    os[2].temperature = 0;
    stream_sink many[3];
    memset(many, 0, sizeof many);
    CHECK(llorch_generate_batch(b, prompts, lens, 20, os, on_text, many, NULL, &err) == 0, "batch: %s", err.msg);
    for (int i = 0; i < 3; i++) {
        stream_sink alone;
        memset(&alone, 0, sizeof alone);
        llorch_session_reset(s);
        llorch_generate(s, prompts[i], lens[i], 20, &os[i], on_text, &alone, NULL, &err);
        CHECK(alone.n == many[i].n && !memcmp(alone.ids, many[i].ids, sizeof(int) * (size_t)alone.n),
              "sequence %d: batched and alone agree", i);
    }
    /* the callback stops generation */
    stream_sink stop;
    memset(&stop, 0, sizeof stop);
    stop.stop_after = 3;
    llorch_session_reset(s);
    int n_out = 0;
    llorch_generate(s, prompt, 5, 20, &o, on_text, &stop, &n_out, &err);
    CHECK(n_out == 3 && stop.n == 3, "the callback stopped after 3 tokens (%d)", n_out);
    llorch_session_free(s);
    llorch_session_free(b);
    /* context limits: a prompt too long is refused, -n past the context stops cleanly */
    llorch_session_opts small = {8, 1};
    CHECK(llorch_session_new(&s, m, &small, &err) == 0, "session of 8: %s", err.msg);
    int longp[9] = {1, 3, 4, 5, 6, 7, 8, 9, 10};
    CHECK(llorch_generate(s, longp, 9, 4, &o, NULL, NULL, NULL, &err) == LLORCH_E_CONTEXT, "a prompt past the context");
    CHECK(llorch_generate(s, longp, 5, 100, &o, NULL, NULL, &n_out, &err) == 0 && n_out == 4,
          "generation stops when the context is full (%d tokens)", n_out);
    int bad_id = 100000;
    llorch_session_reset(s);
    CHECK(llorch_forward(s, 0, &bad_id, 1, NULL, &err) == LLORCH_E_ARG, "an id outside the vocabulary");
    int *ids = NULL, n;
    CHECK(llorch_tokenize(m, "a\xff\xfe b", 5, 1, &ids, &n, &err) != 0, "invalid UTF-8 is an error");
    free(ids);
    llorch_session_free(s);
    llorch_session_opts too_long = {65, 1};
    CHECK(llorch_session_new(&s, m, &too_long, &err) == LLORCH_E_ARG && s == NULL, "a context past the model's maximum");
    llorch_free(m);
}

/* ======================================================================== */
/* Concurrency and long use                                                  */
/* ======================================================================== */

typedef struct {
    llorch_model *m;
    int seed, rc;
    stream_sink out;
} thread_job;

static void *generate_in_thread(void *arg) {
    thread_job *j = (thread_job *)arg;
    llorch_session *s;
    llorch_error err;
    int prompt[] = {1, 262, 263, 40, 50};
    llorch_sampler_opts o = llorch_sampler_defaults();
    o.temperature = 0.8f;
    o.top_p = 0.9f;
    o.seed = (uint64_t)j->seed;
    memset(&j->out, 0, sizeof j->out);
    j->rc = llorch_session_new(&s, j->m, NULL, &err);
    if (!j->rc) j->rc = llorch_generate(s, prompt, 5, 40, &o, on_text, &j->out, NULL, &err);
    llorch_session_free(s);
    return NULL;
}

/* Several sessions of one model in several threads give what they give one
 * after another (run under ThreadSanitizer by make tsan). */
static void test_concurrency(void) {
    enum { N = 4 };
    llorch_model *m = load_small("conc", "cpu");
    CHECK(m != NULL, "the small model loads");
    if (!m) return;
    thread_job alone[N], together[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        alone[i].m = together[i].m = m;
        alone[i].seed = together[i].seed = 100 + i;
        generate_in_thread(&alone[i]);
    }
    for (int i = 0; i < N; i++) pthread_create(&th[i], NULL, generate_in_thread, &together[i]);
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++)
        CHECK(alone[i].rc == 0 && together[i].rc == 0 && alone[i].out.n == together[i].out.n &&
                  !memcmp(alone[i].out.ids, together[i].out.ids, sizeof(int) * (size_t)alone[i].out.n),
              "thread %d: concurrent and sequential outputs agree", i);
    llorch_free(m);
}

static long resident_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) break;
    if (f) fclose(f);
    return kb;
}

/* 10,000 load/generate/free cycles, then one session filling its context
 * again and again: resident memory must not grow. Run with ./test soak. */
static void test_soak(void) {
    llorch_model *m = load_small("soak", "cpu");
    CHECK(m != NULL, "the small model loads");
    if (!m) return;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/soak", g_tmp);
    llorch_free(m);
    llorch_error err;
    int prompt[] = {1, 262, 263};
    llorch_sampler_opts o = llorch_sampler_defaults();
    o.temperature = 1.0f;
    long before = 0;
    for (int cycle = 0; cycle < 10000; cycle++) {
        if (cycle == 100) before = resident_kb(); /* after the allocator has settled */
        llorch_session *s = NULL;
        o.seed = (uint64_t)cycle;
        int st = llorch_load(&m, dir, NULL, &err);
        if (!st) st = llorch_session_new(&s, m, NULL, &err);
        if (!st) st = llorch_generate(s, prompt, 3, 8, &o, NULL, NULL, NULL, &err);
        llorch_session_free(s);
        llorch_free(m);
        if (st) { CHECK(0, "cycle %d: %s", cycle, err.msg); break; }
    }
    long after = resident_kb();
    printf("soak: 10000 load/generate/free cycles: resident %ld kB after 100, %ld kB after 10000\n", before, after);
    CHECK(after - before < 1024, "resident memory grew by %ld kB over 9,900 cycles", after - before);
    llorch_load(&m, dir, NULL, &err);
    llorch_session *s = NULL;
    llorch_session_new(&s, m, NULL, &err);
    for (int round = 0; round < 1000; round++) {
        if (round == 10) before = resident_kb();
        int n = 0;
        llorch_session_reset(s);
        o.seed = (uint64_t)round;
        llorch_generate(s, prompt, 3, 1000, &o, NULL, NULL, &n, &err);
    }
    after = resident_kb();
    printf("soak: 1000 generations to the full context: resident %ld kB after 10, %ld kB after 1000\n", before, after);
    CHECK(after - before < 256, "resident memory grew by %ld kB over 990 full-context generations", after - before);
    llorch_session_free(s);
    llorch_free(m);
}

/* A session that cannot fit is refused before anything is allocated. The
 * sizes asked for follow this machine's free memory. */
static void test_limits(void) {
    make_tmpdir();
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/limits", g_tmp);
    ckpt_shape big = small_shape;
    big.max_pos = 1 << 24;
    write_small_model(dir, &big);
    llorch_model *m = NULL;
    llorch_session *s = NULL;
    llorch_error err;
    CHECK(llorch_load(&m, dir, NULL, &err) == 0, "load: %s", err.msg);
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    unsigned long long kb = 0;
    while (f && fgets(line, sizeof line, f) && sscanf(line, "MemAvailable: %llu kB", &kb) != 1) {}
    if (f) fclose(f);
    if (!m || !kb) { SKIP("limits: no model or no /proc/meminfo"); llorch_free(m); return; }
    double tokens = kb * 1024.0 / 4; /* a token history (4 bytes a position) of all free memory */
    if (tokens * 2 > 4096.0 * (1 << 24)) { SKIP("limits: more memory than a session can ask for"); llorch_free(m); return; }
    llorch_session_opts huge = {1 << 24, (int)(tokens * 2 / (1 << 24)) + 1};
    int st = llorch_session_new(&s, m, &huge, &err);
    CHECK(st == LLORCH_E_NOMEM && s == NULL && strstr(err.msg, "needs") && strstr(err.msg, "available"),
          "a token history larger than memory is refused: %s", err.msg);
    /* a quarter of memory for the history, so 8x memory for the KV cache (128 bytes a position) */
    llorch_session_opts cache = {1 << 24, (int)(tokens / 4 / (1 << 24)) + 1};
    st = llorch_session_new(&s, m, &cache, &err);
    CHECK(st == LLORCH_E_NOMEM && s == NULL && strstr(err.msg, "KV cache") && strstr(err.msg, "available"),
          "a KV cache larger than memory is refused: %s", err.msg);
    llorch_session_free(s);
    llorch_free(m);
}

/* ======================================================================== */
/* Chat templates against Python's Jinja and transformers                    */
/* ======================================================================== */

/* The source bytes of a JSON node (objects and arrays with their brackets). */
static char *json_source(const tk_json *j, int node, size_t *len) {
    size_t a = j->nodes[node].start, b = j->nodes[node].end;
    if (j->nodes[node].type == TK_JSON_STRING) { a--; b++; }
    *len = b - a;
    return (char *)j->src + a;
}

/* tools/chat_cases.json (tools/make_chat_cases.py): templates of the model
 * families and short ones for each part of Jinja, rendered by jinja2 as
 * transformers sets it up. Where jinja2 fails, the interpreter must fail too
 * (with the template's own message when it raised one). */
static void test_chat_jinja_cases(void) {
    size_t len;
    char *text = read_all("tools/chat_cases.json", &len), err[512];
    tk_json j;
    if (!text) { SKIP("chat template cases: cannot read tools/chat_cases.json"); return; }
    int ok = tk_json_parse(&j, text, len, err, sizeof err) == 0;
    CHECK(ok, "tools/chat_cases.json parses: %s", err);
    if (!ok) { free(text); return; }
    int templates = tk_json_get(&j, 0, "templates"), cases = tk_json_get(&j, 0, "cases"), n = 0, n_err = 0;
    for (int c = tk_json_child(&j, cases); c >= 0; c = tk_json_next(&j, c), n++) {
        char *name = tk_json_strdup(&j, tk_json_get(&j, c, "template"), NULL), *out = NULL;
        size_t tl = 0, wl = 0, vl = 0;
        char *tpl = tk_json_strdup(&j, tk_json_get(&j, templates, name ? name : ""), &tl);
        char *want = tk_json_strdup(&j, tk_json_get(&j, c, "text"), &wl);
        char *jerr = tk_json_strdup(&j, tk_json_get(&j, c, "error"), NULL);
        const char *vars = json_source(&j, tk_json_get(&j, c, "vars"), &vl);
        CHECK(name && tpl && (want || jerr), "chat case %d is complete", n);
        if (name && tpl && (want || jerr)) {
            int rc = tk_template_render(tpl, tl, vars, vl, &out, err, sizeof err);
            if (want)
                CHECK(rc == 0 && strlen(out) == wl && !memcmp(out, want, wl), "chat case %d (%s): %s\n  got  '%s'\n  want '%s'", n,
                      name, rc ? err : "text differs", rc ? "" : out, want);
            else { /* jinja2 fails: so must we; a template's own message is kept */
                int own = strncmp(jerr, "TypeError", 9) && strncmp(jerr, "ZeroDivisionError", 17);
                CHECK(rc != 0 && (!own || strstr(err, jerr)), "chat case %d (%s) fails as jinja2 does (%s): %s", n, name,
                      jerr, rc ? err : out);
                n_err++;
            }
        }
        free(out);
        free(name);
        free(tpl);
        free(want);
        free(jerr);
    }
    CHECK(n >= 100 && n_err >= 5, "ran %d chat template cases (%d errors)", n, n_err);
    printf("chat templates: %d cases from jinja2 (%d of them errors)\n", n, n_err);
    tk_json_free(&j);
    free(text);
}

/* ../shared/tokenizers/{llama2,llama3,qwen3}/chat_cases.json: transformers'
 * apply_chat_template text and ids, through tk_chat_render with the real
 * tokenizer_config.json, and tokenized without special tokens. */
static void test_chat_shared_cases(void) {
    static const char *dirs[] = {"llama2", "llama3", "qwen3"};
    if (!g_shared) { SKIP("chat cases: no shared data"); return; }
    for (int d = 0; d < 3; d++) {
        char path[1024], err[512];
        size_t clen, jlen;
        snprintf(path, sizeof path, "%s/tokenizers/%s/tokenizer_config.json", g_shared, dirs[d]);
        char *cfg = read_all(path, &clen);
        snprintf(path, sizeof path, "%s/tokenizers/%s/chat_cases.json", g_shared, dirs[d]);
        char *cases = read_all(path, &jlen);
        snprintf(path, sizeof path, "%s/tokenizers/%s/tokenizer.json", g_shared, dirs[d]);
        tk_tokenizer *t = NULL;
        if (tk_load_file(&t, path, err, sizeof err)) {
            SKIP("chat ids (%s): the tokenizer does not load here: %s", dirs[d], err);
            t = NULL;
        }
        tk_json j;
        if (!cfg || !cases || tk_json_parse(&j, cases, jlen, err, sizeof err)) {
            CHECK(0, "chat cases of %s readable", dirs[d]);
            free(cfg);
            free(cases);
            tk_free(t);
            continue;
        }
        int n = 0;
        for (int c = tk_json_child(&j, 0); c >= 0; c = tk_json_next(&j, c), n++) {
            tk_message msgs[16];
            char *strs[32], *out = NULL;
            int nm = 0, ns = 0;
            for (int m = tk_json_child(&j, tk_json_get(&j, c, "messages")); m >= 0 && nm < 16; m = tk_json_next(&j, m), nm++) {
                msgs[nm].role = strs[ns++] = tk_json_strdup(&j, tk_json_get(&j, m, "role"), NULL);
                msgs[nm].content = strs[ns++] = tk_json_strdup(&j, tk_json_get(&j, m, "content"), NULL);
            }
            size_t wl = 0;
            char *want = tk_json_strdup(&j, tk_json_get(&j, c, "text"), &wl);
            int rc = tk_chat_render(cfg, clen, dirs[d], NULL, msgs, nm, 1, &out, err, sizeof err);
            CHECK(rc == 0 && want && strlen(out) == wl && !memcmp(out, want, wl), "chat (%s) case %d: %s\n  got  '%s'\n  want '%s'",
                  dirs[d], n, rc ? err : "text differs", rc ? "" : out, want ? want : "");
            if (!rc && t) {
                int *ids = NULL, nid = 0, wid[1024];
                int nw = json_ints(&j, tk_json_get(&j, c, "ids"), wid, 1024);
                int enc = tk_encode(t, out, strlen(out), 0, &ids, &nid, err, sizeof err);
                CHECK(enc == 0 && nid == nw && !memcmp(ids, wid, sizeof(int) * (size_t)nw), "chat (%s) case %d: ids differ%s%s",
                      dirs[d], n, enc ? ": " : "", enc ? err : "");
                free(ids);
            }
            free(out);
            free(want);
            for (int i = 0; i < ns; i++) free(strs[i]);
        }
        CHECK(n >= 5, "%s: %d chat cases", dirs[d], n);
        tk_json_free(&j);
        tk_free(t);
        free(cfg);
        free(cases);
    }
}

/* What the interpreter refuses: each an error naming the problem and where. */
static void test_chat_errors(void) {
    static const struct { const char *tpl, *want; } bad[] = {
        {"{{ x | frobnicate }}", "line 1, column 8: no filter named 'frobnicate'"},
        {"{{ x is frobnicated }}", "no test named 'frobnicated'"},
        {"a\n{% for m in messages %}\n{{ m }}", "line 2, column 4: the 'for' block is not closed (no 'endfor')"},
        {"{% if true %}x", "the 'if' block is not closed (no 'endif')"},
        {"{% endif %}", "unexpected 'endif'"},
        {"{{ raise_exception('Only user and assistant roles are supported!') }}", "Only user and assistant roles are supported!"},
        {"{% include 'x' %}", "the tag 'include' is not supported"},
        {"{% frob %}", "unknown tag 'frob'"},
        {"{{ 'a' | upper }}{{ 'é' | upper }}", "non-ASCII"},
        {"{{ s.startswith }}", "without a call"},
        {"{{ 'a %5s' % 1 }}", "formatting"},
        {"{{ [1, '\xE2\x80\xA8'] }}", "U+2028"},
        {"{{ 'x' * 1000000000 }}", "too large"},
        {"{% set ns = namespace(s='x') %}{% for i in range(100) %}{% set ns.s = ns.s + ns.s %}{% endfor %}", "MiB"},
        {"{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "MiB"},
        {"{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "too deeply"},
        {"{{ 9223372036854775807 + 1 }}", "too large"},
        {"{% set a, b = 1, 2 %}", "several targets"},
        {"{{ 'abc", "not closed"},
        {"{{ x }", "not closed"},
        {"{# x", "comment that is not closed"},
        {"{% break %}", "outside a loop"},
        {"{{ range(1000000)|length }}", "range"},
        {"{{ ns.x }}{% set ns.x = 1 %}", "namespace"},
        {"a{{ '\\0' }}b", "NUL"},
    };
    char err[512], *out, deep[1024];
    for (size_t i = 0; i <= sizeof bad / sizeof *bad; i++) {
        const char *tpl = i < sizeof bad / sizeof *bad ? bad[i].tpl : deep, *want = tpl == deep ? "too deeply" : bad[i].want;
        if (tpl == deep) { /* {{ ((((...1...)))) }} */
            memset(deep, '(', 1000);
            memcpy(deep, "{{ ", 3);
            memcpy(deep + 500, "1", 1);
            memset(deep + 501, ')', 497);
            memcpy(deep + 998, "}}", 3);
        }
        int rc = tk_template_render(tpl, strlen(tpl), "{\"x\": 1, \"ns\": {}, \"s\": \"ab\"}", 29, &out, err, sizeof err);
        CHECK(rc != 0 && strstr(err, want), "template '%.40s' is refused with '%s': %s", tpl, want, rc ? err : out);
        if (!rc) free(out);
    }
    /* tk_chat_render: the config, the messages */
    static const char *cfg = "{\"chat_template\": \"{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}\", "
                             "\"bos_token\": {\"content\": \"<s>\", \"lstrip\": false}}";
    tk_message ok[1] = {{"user", "hi"}}, bad_utf8[1] = {{"user", "a\xffz"}}, no_content[1] = {{"user", NULL}};
    int rc = tk_chat_render(cfg, strlen(cfg), "cfg", NULL, ok, 1, 1, &out, err, sizeof err);
    CHECK(rc == 0 && !strcmp(out, "<user>hi"), "a small template renders: %s", rc ? err : out);
    if (!rc) free(out);
    rc = tk_chat_render(cfg, strlen(cfg), "cfg", "{{ bos_token }}|{{ eos_token is defined }}|{{ tools }}", ok, 1, 1, &out, err, sizeof err);
    CHECK(rc == 0 && !strcmp(out, "<s>|False|None"), "an AddedToken bos_token, no eos_token, tools None: %s", rc ? err : out);
    if (!rc) free(out);
    rc = tk_chat_render(cfg, strlen(cfg), "cfg", NULL, bad_utf8, 1, 1, &out, err, sizeof err);
    CHECK(rc != 0 && strstr(err, "cfg: ") && strstr(err, "UTF-8"), "a message that is not UTF-8: %s", err);
    rc = tk_chat_render(cfg, strlen(cfg), "cfg", NULL, no_content, 1, 1, &out, err, sizeof err);
    CHECK(rc != 0 && strstr(err, "no content"), "a message without content: %s", err);
    rc = tk_chat_render("{}", 2, "cfg", NULL, ok, 1, 1, &out, err, sizeof err);
    CHECK(rc != 0 && strstr(err, "cfg: no chat_template"), "no chat_template: %s", err);
    rc = tk_chat_render(cfg, strlen(cfg), "cfg", "{{ messages[0].content | frob }}", ok, 1, 1, &out, err, sizeof err);
    CHECK(rc != 0 && !strcmp(err, "cfg: chat_template line 1, column 26: no filter named 'frob'"), "the error names the file, line and column: %s", err);
}

static void test_chat(void) {
    test_chat_jinja_cases();
    test_chat_shared_cases();
    test_chat_errors();
}

/* ======================================================================== */
/* The demo program: exit status, one-line errors, the CLI's outputs         */
/* ======================================================================== */

/* Run a shell command; its stdout and stderr land in out/err (truncated). */
static int run_cmd(const char *cmd, char *out, size_t out_cap, char *err, size_t err_cap) {
    char full[16384], o[4200], e[4200];
    snprintf(o, sizeof o, "%s/stdout", g_tmp);
    snprintf(e, sizeof e, "%s/stderr", g_tmp);
    snprintf(full, sizeof full, "(%s) >'%s' 2>'%s' </dev/null", cmd, o, e);
    int rc = system(full);
    size_t len;
    char *so = read_all(o, &len), *se = read_all(e, &len);
    snprintf(out, out_cap, "%s", so ? so : "");
    snprintf(err, err_cap, "%s", se ? se : "");
    free(so);
    free(se);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* --chat, --messages and -i: the rendering tokenized as transformers does
 * (llama2/chat_cases.json: TinyLlama's template, ids without added BOS),
 * bad messages files, and a conversation keeping its KV cache. */
static void check_demo_chat(const char *model) {
    char cmd[8192], out[4096], err[4096], want[4096], path[4300];
    size_t len;
    char *cases = read_all(shared_path("tokenizers/llama2/chat_cases.json"), &len);
    tk_json j;
    if (!cases || tk_json_parse(&j, cases, len, err, sizeof err)) { CHECK(0, "llama2/chat_cases.json readable"); free(cases); return; }
    int c1 = tk_json_next(&j, tk_json_child(&j, 0)), c4 = c1; /* system + user; a multi-turn conversation */
    for (int k = 0; k < 3; k++) c4 = tk_json_next(&j, c4);
    for (int pass = 0; pass < 2; pass++) {
        int c = pass ? c4 : c1, ids[512], n = json_ints(&j, tk_json_get(&j, c, "ids"), ids, 512), o = 0;
        for (int i = 0; i < n; i++) o += snprintf(want + o, sizeof want - (size_t)o, "%s%d", i ? " " : "", ids[i]);
        snprintf(want + o, sizeof want - (size_t)o, "\n");
        if (!pass) {
            int m = tk_json_child(&j, tk_json_get(&j, c, "messages"));
            char *sys = tk_json_strdup(&j, tk_json_get(&j, m, "content"), NULL);
            char *user = tk_json_strdup(&j, tk_json_get(&j, tk_json_next(&j, m), "content"), NULL);
            snprintf(cmd, sizeof cmd, "./demo --chat --system '%s' --tokenize -m %s '%s'", sys, shared_path("tokenizers/llama2"), user);
            free(sys);
            free(user);
        } else {
            size_t ml;
            const char *msgs = json_source(&j, tk_json_get(&j, c, "messages"), &ml);
            snprintf(path, sizeof path, "%s/messages.json", g_tmp);
            write_all(path, msgs, ml);
            snprintf(cmd, sizeof cmd, "./demo --messages %s --tokenize -m %s", path, shared_path("tokenizers/llama2"));
        }
        int rc = run_cmd(cmd, out, sizeof out, err, sizeof err);
        CHECK(rc == 0 && !strcmp(out, want), "%s: ids as transformers' apply_chat_template: '%s' %s", pass ? "--messages" : "--chat", out, err);
    }
    tk_json_free(&j);
    free(cases);
    static const struct { const char *json, *want; } bad[] = {
        {"{\"role\": \"user\", \"content\": \"hi\"}", "not a JSON array"},
        {"[]", "no messages"},
        {"[{\"role\": \"user\", \"content\": 5}]", "message 0: \"content\" is not a string"},
        {"[{\"role\": \"user\", \"content\": \"a\"}, {\"content\": \"b\"}]", "message 1: \"role\" is missing"},
        {"[{\"role\": \"user\", \"content\": \"a\", \"name\": \"x\"}]", "unexpected key \"name\""},
        {"[\"hi\"]", "message 0 is not an object"},
        {"[{\"role\": \"user\", \"content\": \"a\"", "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(path, sizeof path, "%s/bad-messages.json", g_tmp);
        write_all(path, bad[i].json, strlen(bad[i].json));
        snprintf(cmd, sizeof cmd, "./demo --messages %s -m %s", path, shared_path("tokenizers/llama2"));
        int rc = run_cmd(cmd, out, sizeof out, err, sizeof err);
        CHECK(rc == 1 && count_lines(err) == 1 && strstr(err, path) && strstr(err, bad[i].want), "messages file %s: rc %d, '%s'",
              bad[i].json, rc, err);
    }
    /* a template that fails names the file, line and column */
    snprintf(path, sizeof path, "%s/tokenizer_config.json", model);
    const char *cfg = "{\"bos_token\": \"<s>\", \"chat_template\": \"{{ bos_token }}{% for m in messages %}"
                      "{% if m.role == 'system' %}{{ raise_exception('no system role') }}{% endif %}<{{ m.role }}>{{ m.content }}\\n"
                      "{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}\"}";
    write_all(path, cfg, strlen(cfg));
    snprintf(cmd, sizeof cmd, "./demo --chat --system S -n 2 -m %s hi", model);
    int rc = run_cmd(cmd, out, sizeof out, err, sizeof err);
    CHECK(rc == 1 && count_lines(err) == 1 && strstr(err, path) && strstr(err, "line 1, column ") && strstr(err, "no system role"),
          "a template's raise_exception: rc %d, '%s'", rc, err);
    /* chat_template.jinja, where a model folder has one, comes first */
    char jinja[4400];
    snprintf(jinja, sizeof jinja, "%s/chat_template.jinja", model);
    write_all(jinja, "{{ raise_exception('from the .jinja file') }}", 45);
    snprintf(cmd, sizeof cmd, "./demo --chat -n 2 -m %s hi", model);
    rc = run_cmd(cmd, out, sizeof out, err, sizeof err);
    CHECK(rc == 1 && count_lines(err) == 1 && strstr(err, jinja) && strstr(err, "from the .jinja file"),
          "chat_template.jinja is used: rc %d, '%s'", rc, err);
    unlink(jinja);
    /* -i: the second turn feeds only what the first did not leave in the cache */
    snprintf(cmd, sizeof cmd, "printf 'hi\\nthere\\n' | ./demo -i -n 0 --bench -m %s", model);
    rc = run_cmd(cmd, out, sizeof out, err, sizeof err);
    int n1 = -1, n2 = -1, k2 = -1;
    const char *t2 = strstr(err, "turn=2");
    if (strstr(err, "turn=1")) sscanf(strstr(err, "turn=1"), "turn=1 prompt_tokens=%d", &n1);
    if (t2) sscanf(t2, "turn=2 prompt_tokens=%d cached=%d", &n2, &k2);
    CHECK(rc == 0 && n1 > 0 && n2 > n1 && k2 == n1, "-i keeps the first turn's %d tokens for the second (%d cached of %d): %s", n1, k2,
          n2, err);
    snprintf(cmd, sizeof cmd, "printf 'hi\\n\\nthere\\n' | ./demo -i -n 3 -m %s", model);
    rc = run_cmd(cmd, out, sizeof out, err, sizeof err);
    CHECK(rc == 0 && !err[0], "-i generates replies: rc %d, '%s'", rc, err);
}

static void test_demo(void) {
    if (access("./demo", X_OK)) { SKIP("demo: ./demo is not built"); return; }
    make_tmpdir();
    char dir[4200], cmd[8192], out[4096], err[4096];
    snprintf(dir, sizeof dir, "%s/demo-model", g_tmp);
    write_small_model(dir, &small_shape);
    /* every broken input: exit status 1 and one line on stderr naming the file */
    snprintf(cmd, sizeof cmd, "./demo -m %s/nowhere -n 4 hello", g_tmp);
    int rc = run_cmd(cmd, out, sizeof out, err, sizeof err);
    CHECK(rc == 1 && count_lines(err) == 1 && strstr(err, "nowhere"), "missing model: rc %d, stderr '%s'", rc, err);
    snprintf(cmd, sizeof cmd, "printf 'a\\377b' | ./demo -m %s -n 4 -", dir);
    rc = run_cmd(cmd, out, sizeof out, err, sizeof err);
    CHECK(rc == 1 && count_lines(err) == 1 && strstr(err, "UTF-8"), "invalid UTF-8 prompt: rc %d, stderr '%s'", rc, err);
    snprintf(cmd, sizeof cmd, "./demo -m %s -n 1000 --ids ab", dir);
    rc = run_cmd(cmd, out, sizeof out, err, sizeof err);
    CHECK(rc == 0, "-n past the context stops cleanly: rc %d, stderr '%s'", rc, err);
    snprintf(cmd, sizeof cmd, "./demo -m %s -n 3 --ids -t 0.8 -s 5 ab", dir);
    rc = run_cmd(cmd, out, sizeof out, err, sizeof err);
    char again[4096];
    run_cmd(cmd, again, sizeof again, err, sizeof err);
    CHECK(rc == 0 && count_lines(out) == 1 && !strcmp(out, again), "--ids with a seed is reproducible: '%s' '%s'", out, again);
    CHECK(snprintf(cmd, sizeof cmd, "./demo -m %s -n 0 --dump-logits %s/logits.f32 ab", dir, g_tmp) < (int)sizeof cmd,
          "the --dump-logits command fits its buffer");
    rc = run_cmd(cmd, out, sizeof out, err, sizeof err);
    struct stat sb;
    snprintf(cmd, sizeof cmd, "%s/logits.f32", g_tmp);
    CHECK(rc == 0 && !stat(cmd, &sb) && sb.st_size == small_shape.vocab * 4, "--dump-logits writes vocab floats");
    snprintf(cmd, sizeof cmd, "./demo -m %s -n 2 --bench --batch 3 ab", dir);
    rc = run_cmd(cmd, out, sizeof out, err, sizeof err);
    CHECK(rc == 0 && strstr(err, "bench: load_s=") && strstr(err, "decode_tok_s=") && strstr(out, "sequence 2"),
          "--bench --batch 3: rc %d, stderr '%s'", rc, err);
    rc = run_cmd("./demo -n x hello", out, sizeof out, err, sizeof err);
    CHECK(rc == 1 && count_lines(err) == 1, "a bad option value: rc %d, stderr '%s'", rc, err);
    if (g_shared) {
        snprintf(cmd, sizeof cmd, "./demo --tokenize -m %s 'Hello world'", shared_path("tokenizers/llama2"));
        rc = run_cmd(cmd, out, sizeof out, err, sizeof err);
        CHECK(rc == 0 && !strcmp(out, "1 15043 3186\n"), "--tokenize: '%s' %s", out, err);
        check_demo_chat(dir);
    }
    remove_tree(dir);
}

/* ======================================================================== */
/* main                                                                      */
/* ======================================================================== */

typedef struct {
    const char *name;
    void (*fn)(void);
    int on_demand; /* slow: runs only when named */
} test_group;

/* --read-bandwidth: the best of five passes of every thread summing its
 * slice of the mapped file, the way decode streams the weights. */
typedef struct {
    const uint64_t *p;
    size_t n;
    uint64_t sum;
} bw_slice;

static void *bw_read(void *arg) {
    bw_slice *s = (bw_slice *)arg;
    uint64_t acc[16] = {0}; /* independent sums the compiler turns into vector adds */
    for (size_t i = 0; i + 16 <= s->n; i += 16)
        for (int k = 0; k < 16; k++) acc[k] += s->p[i + k];
    s->sum = 0;
    for (int k = 0; k < 16; k++) s->sum += acc[k];
    return NULL;
}

static int read_bandwidth_main(const char *path, int threads) {
    FILE *f = fopen(path, "rb");
    if (!f || threads < 1 || threads > 256) { fprintf(stderr, "%s: cannot open\n", path); return 1; }
    fseek(f, 0, SEEK_END);
    size_t size = (size_t)ftell(f);
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fileno(f), 0);
    fclose(f);
    if (map == MAP_FAILED) { fprintf(stderr, "%s: cannot map\n", path); return 1; }
    double best = 0;
    for (int pass = 0; pass < 5; pass++) {
        pthread_t th[256];
        bw_slice sl[256];
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        size_t words = size / 8, per = words / (size_t)threads;
        for (int i = 0; i < threads; i++) {
            sl[i].p = (const uint64_t *)map + per * (size_t)i;
            sl[i].n = per;
            pthread_create(&th[i], NULL, bw_read, &sl[i]);
        }
        for (int i = 0; i < threads; i++) pthread_join(th[i], NULL);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double s = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9, gbs = per * 8.0 * threads / s / 1e9;
        if (gbs > best) best = gbs;
    }
    printf("read_bandwidth: %s threads=%d GB/s=%.1f\n", path, threads, best);
    munmap(map, size);
    return 0;
}

/* --write-seeds: one folder of seed inputs per fuzz target. */
static int write_seeds_main(const char *dir) {
    static const char *targets[] = {"safetensors", "json", "config", "tokenizer", "encode", "template"};
    char path[4096], sub[4096];
    mkdir(dir, 0755);
    for (int i = 0; i < 6; i++) {
        snprintf(sub, sizeof sub, "%s/%s", dir, targets[i]);
        mkdir(sub, 0755);
    }
    /* a small model gives a safetensors file, a config and a tokenizer */
    snprintf(sub, sizeof sub, "%s/model", dir);
    ckpt_shape bf = small_shape;
    bf.dtype = "BF16";
    if (write_small_model(sub, &bf)) return 1;
    static const char *copies[][2] = {
        {"model/model.safetensors", "safetensors/small-bf16"}, {"model/config.json", "config/small"},
        {"model/config.json", "json/config"}, {"model/tokenizer.json", "tokenizer/small"},
        {"model/tokenizer.json", "json/tokenizer"},
    };
    for (int i = 0; i < 5; i++) {
        size_t len;
        snprintf(path, sizeof path, "%s/%s", dir, copies[i][0]);
        char *data = read_all(path, &len);
        snprintf(path, sizeof path, "%s/%s", dir, copies[i][1]);
        if (!data || write_all(path, data, len)) return 1;
        free(data);
    }
    remove_tree(sub);
    /* every text of the tokenizer cases, one file each */
    size_t len;
    char *cases = g_shared ? read_all(shared_path("tokenizers/llama2/encode_cases.jsonl"), &len) : NULL;
    int n = 0;
    for (char *line = cases; line && *line; n++) {
        char *end = strchr(line, '\n');
        size_t ll = end ? (size_t)(end - line) : strlen(line);
        tk_json j;
        char msg[128];
        if (!tk_json_parse(&j, line, ll, msg, sizeof msg)) {
            size_t tl;
            char *text = tk_json_strdup(&j, tk_json_get(&j, 0, "text"), &tl);
            snprintf(path, sizeof path, "%s/encode/case%03d", dir, n);
            if (text) write_all(path, text, tl);
            free(text);
            tk_json_free(&j);
        }
        line = end ? end + 1 : line + ll;
    }
    free(cases);
    /* every template of the chat cases, with its first case's variables */
    char *chat = read_all("tools/chat_cases.json", &len);
    tk_json j;
    char msg[128];
    if (chat && !tk_json_parse(&j, chat, len, msg, sizeof msg)) {
        int templates = tk_json_get(&j, 0, "templates"), k = 0;
        for (int t = tk_json_child(&j, templates); t >= 0; t = tk_json_next(&j, tk_json_next(&j, t)), k++) {
            size_t tl, vl = 2;
            char *tpl = tk_json_strdup(&j, tk_json_next(&j, t), &tl), *name = tk_json_strdup(&j, t, NULL);
            const char *vars = "{}";
            for (int c = tk_json_child(&j, tk_json_get(&j, 0, "cases")); c >= 0 && name; c = tk_json_next(&j, c))
                if (tk_json_streq(&j, tk_json_get(&j, c, "template"), name)) {
                    vars = json_source(&j, tk_json_get(&j, c, "vars"), &vl);
                    break;
                }
            char *seed = tpl ? (char *)malloc(tl + 1 + vl) : NULL;
            if (seed) {
                memcpy(seed, tpl, tl);
                seed[tl] = 0;
                memcpy(seed + tl + 1, vars, vl);
                snprintf(path, sizeof path, "%s/template/case%03d", dir, k);
                write_all(path, seed, tl + 1 + vl);
            }
            free(seed);
            free(tpl);
            free(name);
        }
        tk_json_free(&j);
    }
    free(chat);
    snprintf(path, sizeof path, "%s/encode/plain", dir);
    return write_all(path, "Hello world, \xe4\xb8\xad  a\tb\n", 19) ? 1 : 0;
}

/* --write-model: a checkpoint of TinyLlama's shapes and size, random weights. */
static int write_model_main(int argc, char **argv) {
    ckpt_shape sh = argc > 3 && !strcmp(argv[3], "small") ? small_shape : tinyllama_shape;
    if (argc > 4) sh.dtype = argv[4];
    if (strcmp(sh.dtype, "BF16") && strcmp(sh.dtype, "F16") && strcmp(sh.dtype, "F32")) {
        fprintf(stderr, "dtype must be BF16, F16 or F32\n");
        return 1;
    }
    const char *dir = argv[2];
    char path[4096];
    st_file f;
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (st_build(&f, &sh) || write_config(dir, &sh, NULL) || st_write(path, &f, 0, 0)) {
        fprintf(stderr, "%s: cannot write the model\n", dir);
        return 1;
    }
    st_free(&f);
    /* the Llama 2 tokenizer when the shared data has it, else a small one */
    size_t len;
    char *tok = g_shared && sh.vocab == 32000 ? read_all(shared_path("tokenizers/llama2/tokenizer.json"), &len) : NULL;
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    int rc = tok ? write_all(path, tok, len) : write_small_tokenizer(dir);
    free(tok);
    if (rc) fprintf(stderr, "%s: cannot write tokenizer.json\n", dir);
    return rc ? 1 : 0;
}

int main(int argc, char **argv) {
    static const test_group groups[] = {
        {"tokenizer", test_tokenizer, 0},
        {"chat", test_chat, 0},
        {"reference_cpu", test_reference_cpu, 0},
        {"reference_cuda", test_reference_cuda, 0},
        {"sampler", test_sampler, 0},
        {"generation", test_generation, 0},
        {"bad_weights", test_bad_weights, 0},
        {"bad_config", test_bad_config, 0},
        {"sharded", test_sharded, 0},
        {"demo", test_demo, 0},
        {"limits", test_limits, 0},
        {"concurrency", test_concurrency, 0},
        {"soak", test_soak, 1},
    };
    struct stat sb;
    g_shared = getenv("LLORCH_SHARED");
    if (!g_shared) g_shared = "../shared";
    if (stat(g_shared, &sb) || !S_ISDIR(sb.st_mode)) {
        printf("note: %s not found; tests that need reference data skip\n", g_shared);
        g_shared = NULL;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 2 && !strcmp(argv[1], "--write-model")) return write_model_main(argc, argv);
    if (argc > 2 && !strcmp(argv[1], "--write-seeds")) return write_seeds_main(argv[2]);
    if (argc > 2 && !strcmp(argv[1], "--read-bandwidth"))
        return read_bandwidth_main(argv[2], argc > 3 ? atoi(argv[3]) : (int)sysconf(_SC_NPROCESSORS_ONLN));
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
        int run = argc < 2 && !groups[g].on_demand;
        for (int a = 1; a < argc; a++) run |= strstr(groups[g].name, argv[a]) != NULL;
        if (!run) continue;
        int before = g_fail;
        groups[g].fn();
        printf("%-20s %s\n", groups[g].name, g_fail > before ? "FAILED" : "ok");
    }
    if (g_tmp[0]) remove_tree(g_tmp);
    printf("%d passed, %d failed, %d skipped\n", g_pass, g_fail, g_skip);
    return g_fail ? 1 : 0;
}

/* ======================================================================== */
/* Fuzz targets (make fuzz): one per parser; LLORCH_FUZZ=name picks it      */
/* ======================================================================== */
#ifdef LLORCH_FUZZ
#define FUZZ_safetensors 1
#define FUZZ_json 2
#define FUZZ_config 3
#define FUZZ_tokenizer 4
#define FUZZ_encode 5
#define FUZZ_template 6
#define FUZZ_PASTE(a, b) a##b
#define FUZZ_ID(name) FUZZ_PASTE(FUZZ_, name)
#define FUZZ_TARGET FUZZ_ID(LLORCH_FUZZ)

/* The tokenizer that encode round-trips through: the shared Llama 2 one, else
 * the small one the tests write. */
static tk_tokenizer *fuzz_tokenizer(void) {
    static tk_tokenizer *t;
    if (t) return t;
    char msg[256];
    const char *shared = getenv("LLORCH_SHARED") ? getenv("LLORCH_SHARED") : "../shared";
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizers/llama2/tokenizer.json", shared);
    if (tk_load_file(&t, path, msg, sizeof msg)) {
        make_tmpdir();
        write_small_tokenizer(g_tmp);
        snprintf(path, sizeof path, "%s/tokenizer.json", g_tmp);
        if (tk_load_file(&t, path, msg, sizeof msg)) abort();
    }
    return t;
}

/* decode(encode(x)) == x holds for valid UTF-8 without the characters the
 * normalizer rewrites (U+2581) or special-token text. */
static int round_trips(const tk_tokenizer *t, const char *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        int len = tk_utf8_len((const unsigned char *)x + i, n - i);
        if (!len) return 0;
        i += (size_t)len - 1;
    }
    if (memchr(x, 0, n)) return 0;
    for (size_t i = 0; i + 3 <= n; i++)
        if (!memcmp(x + i, "\xe2\x96\x81", 3)) return 0;
    for (int id = 0; id < tk_vocab_size(t); id++) {
        size_t plen;
        const char *p = tk_is_special(t, id) ? tk_piece(t, id, &plen) : NULL;
        if (p && plen && n >= plen)
            for (size_t i = 0; i + plen <= n; i++)
                if (!memcmp(x + i, p, plen)) return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    llorch_error err;
    char msg[256];
#if FUZZ_TARGET == FUZZ_safetensors
    llorch_st_table tab;
    memset(&tab, 0, sizeof tab);
    unsigned char *copy = (unsigned char *)malloc(size + 1); /* aligned like a mapping */
    if (!copy) return 0;
    memcpy(copy, data, size);
    llorch_st_parse(&tab, copy, size, "fuzz.safetensors", 0, &err);
    llorch_st_table_free(&tab);
    free(copy);
#elif FUZZ_TARGET == FUZZ_json
    tk_json j;
    if (!tk_json_parse(&j, (const char *)data, size, msg, sizeof msg)) {
        for (int i = 0; i < j.n; i++) { /* every accessor on every node */
            double d;
            long long v;
            size_t len;
            free(tk_json_strdup(&j, i, &len));
            tk_json_number(&j, i, &d);
            tk_json_int(&j, i, &v);
            tk_json_get(&j, i, "a");
            for (int c = tk_json_child(&j, i); c >= 0; c = tk_json_next(&j, c)) {}
        }
        tk_json_free(&j);
    }
#elif FUZZ_TARGET == FUZZ_config
    llorch_config c;
    llorch_parse_config(&c, (const char *)data, size, "config.json", &err);
#elif FUZZ_TARGET == FUZZ_tokenizer
    tk_tokenizer *t;
    if (!tk_load(&t, (const char *)data, size, "tokenizer.json", msg, sizeof msg)) {
        int *ids, n;
        char *text;
        size_t len;
        if (!tk_encode(t, "Hello <s>wor\\u00ffld</s> \xe4\xb8\xad", 24, 1, &ids, &n, msg, sizeof msg)) {
            if (!tk_decode(t, ids, n, 0, &text, &len, msg, sizeof msg)) free(text);
            free(ids);
        }
        tk_free(t);
    }
#elif FUZZ_TARGET == FUZZ_encode
    const tk_tokenizer *t = fuzz_tokenizer();
    int *ids, n;
    if (!tk_encode(t, (const char *)data, size, 0, &ids, &n, msg, sizeof msg)) {
        char *text;
        size_t len;
        if (!tk_decode(t, ids, n, 0, &text, &len, msg, sizeof msg)) {
            /* the decoder strips the space that the normalizer prepends */
            if (round_trips(t, (const char *)data, size) && (len != size || memcmp(text, data, size))) abort();
            free(text);
        }
        /* the streaming decoder gives the same bytes */
        free(ids);
    }
#elif FUZZ_TARGET == FUZZ_template
    /* a template, then optionally a NUL and the variables as a JSON object */
    const char *tpl = (const char *)data, *nul = (const char *)memchr(data, 0, size);
    static const char *vars = "{\"messages\": [{\"role\": \"system\", \"content\": \"S\"}, {\"role\": \"user\", "
                              "\"content\": \"Hi <think>\\nx\\n</think>\"}], \"bos_token\": \"<s>\", \"eos_token\": \"</s>\", "
                              "\"add_generation_prompt\": true, \"tools\": null}";
    char *out;
    if (!tk_template_render(tpl, nul ? (size_t)(nul - tpl) : size, nul ? nul + 1 : vars,
                            nul ? size - (size_t)(nul - tpl) - 1 : strlen(vars), &out, msg, sizeof msg))
        free(out);
#endif
    (void)err;
    (void)msg;
    return 0;
}
#endif /* LLORCH_FUZZ */
