/* llorch.h - run Llama-family language models from a Hugging Face directory.
 *
 * One header for the API; the implementation is compiled once, in
 * llorch_cpu.c (which defines LLORCH_IMPLEMENTATION before including this).
 * Add llorch_cuda.cu and -DLLORCH_CUDA for the GPU backend. Needs libc,
 * libm, pthreads (and cudart for the GPU).
 *
 * Example (`make test` compiles it, so it stays true):
 * -- example --
 *   #include <stdio.h>
 *   #include <stdlib.h>
 *   #include <string.h>
 *   #include "llorch.h"
 *
 *   // each generated token, as complete UTF-8 (streaming); nonzero stops
 *   static int on_token(void *user, int seq, int id, const char *text, size_t len) {
 *       (void)user, (void)seq, (void)id;
 *       fwrite(text, 1, len, stdout);
 *       return 0;
 *   }
 *
 *   int main(void) {
 *       const char *dir = "models/TinyLlama-1.1B-Chat-v1.0";
 *       llorch_error err;
 *       llorch_model *m;
 *       llorch_session *s = NULL;
 *       char *prompt = NULL;
 *       int *ids = NULL, n, rc = 1;
 *       llorch_message chat[] = {{"user", "Write a haiku about the sea."}};
 *       if (llorch_load(&m, dir, NULL, &err)) {            // NULL: the CPU
 *           fprintf(stderr, "%s\n", err.msg);               // names the file and the problem
 *           return 1;
 *       }
 *       llorch_sampler_opts so = llorch_sampler_defaults(); // greedy
 *       if (!llorch_session_new(&s, m, NULL, &err) &&       // a KV cache for one sequence
 *           !llorch_chat_render(dir, chat, 1, 1, &prompt, &err) && // the model's chat template
 *           !llorch_tokenize(m, prompt, strlen(prompt), 0, &ids, &n, &err) && // the template wrote BOS
 *           !llorch_generate(s, ids, n, 256, &so, on_token, NULL, NULL, &err))
 *           rc = 0;
 *       else
 *           fprintf(stderr, "%s\n", err.msg);
 *       free(ids);
 *       free(prompt);
 *       llorch_session_free(s);
 *       llorch_free(m);
 *       return rc;
 *   }
 * -- end --
 *
 * Rules:
 * - Every function that can fail returns 0 or an llorch_status, and fills
 *   err (when not NULL) with the status and a one-line message. The library
 *   never prints, exits or aborts.
 * - A model is read-only after loading: any number of sessions, in any
 *   threads, can share it. A session (KV cache + scratch) belongs to one
 *   thread at a time.
 * - Weights are memory-mapped and used in their stored type (f32, f16, bf16);
 *   the GPU backend uploads them once at load.
 * - Every file may be hostile: only regular files are opened, safetensors
 *   are read by the `safetensors` library's rules, and loading takes memory
 *   and time linear in the file, within limits checked before the work
 *   (README lists them).
 */
#ifndef LLORCH_H
#define LLORCH_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Public API                                                                */
/* ------------------------------------------------------------------------ */

typedef enum {
    LLORCH_OK = 0,
    LLORCH_E_IO,          /* a file is missing or unreadable */
    LLORCH_E_FORMAT,      /* a file is malformed or contradicts another */
    LLORCH_E_UNSUPPORTED, /* valid, but something llorch cannot run */
    LLORCH_E_NOMEM,       /* out of host or device memory */
    LLORCH_E_DEVICE,      /* no such device, or a device error */
    LLORCH_E_ARG,         /* a bad argument (token id, length, option) */
    LLORCH_E_CONTEXT,     /* the tokens do not fit the session's context */
    LLORCH_E_BUSY,        /* an engine's queue is full: try again later */
    LLORCH_E_STOPPED      /* an engine is shutting down and takes no new requests */
} llorch_status;

typedef struct {
    llorch_status status;
    char msg[512];
} llorch_error;

typedef enum { LLORCH_F32, LLORCH_F16, LLORCH_BF16, LLORCH_DTYPE_OTHER } llorch_dtype;

#define LLORCH_MAX_EOS 64

/* Rotary position embedding: inverse frequencies as transformers computes
 * them (ROPE_INIT_FUNCTIONS), from rope_theta and the scaling config.json asks for. */
typedef enum { LLORCH_ROPE_DEFAULT, LLORCH_ROPE_LINEAR, LLORCH_ROPE_LLAMA3 } llorch_rope_type;
typedef struct {
    llorch_rope_type type;
    float theta;              /* rope_theta */
    float factor;             /* linear, llama3 */
    float low_freq_factor;    /* llama3 */
    float high_freq_factor;   /* llama3 */
    int original_max_pos;     /* llama3: original_max_position_embeddings */
} llorch_rope;

/* What config.json says, validated against the weights. */
typedef struct {
    int dim;          /* hidden_size */
    int hidden_dim;   /* intermediate_size */
    int n_layers;     /* num_hidden_layers */
    int n_heads;      /* num_attention_heads */
    int n_kv_heads;   /* num_key_value_heads */
    int head_dim;     /* head_dim, or dim / n_heads */
    int vocab_size;
    int max_seq_len;  /* max_position_embeddings */
    float norm_eps;   /* rms_norm_eps */
    int tied_embeddings; /* tie_word_embeddings: lm_head is embed_tokens */
    int bos_id;       /* bos_token_id (the first, when a list); -1 when none */
    /* generation stops at any of these: generation_config.json's
     * eos_token_id when it states one, else config.json's, else the
     * tokenizer's eos; more than LLORCH_MAX_EOS is refused at load */
    int eos_ids[LLORCH_MAX_EOS];
    int n_eos;
    llorch_dtype dtype; /* of the weight matrices */
    /* What sets one family's layer apart from another's. The forward pass of
     * every backend reads these flags; the tensors that go with a flag
     * (llorch_layer) are bound exactly when it is set. */
    char arch[48];      /* the family's class, e.g. "Qwen2ForCausalLM" (from model_type) */
    int qkv_bias;       /* q_proj, k_proj, v_proj have biases (Qwen2) */
    int qk_norm;        /* RMSNorm (eps norm_eps) over each q and k head before RoPE (Qwen3) */
    int sliding_window; /* W: a query at position i sees keys max(0, i-W+1)..i; 0 = all (Mistral) */
    llorch_rope rope;   /* the frequencies: llorch_rope_inv_freq (model->rope_inv_freq) */
} llorch_config;

/* More CPU threads than this many per core only slow decoding down. */
#define LLORCH_MAX_THREADS_PER_CORE 2

typedef struct {
    const char *device; /* "cpu" (default), "cuda", "cuda:N", or "auto": the
                           first GPU when the build has CUDA, a device is there
                           and it can run the model; else the CPU */
    int threads;        /* CPU threads per session; 0 = number of cores;
                           at most LLORCH_MAX_THREADS_PER_CORE a core */
} llorch_load_opts;

typedef struct {
    int ctx;   /* positions per sequence; 0 = max_position_embeddings */
    int n_seq; /* sequences decoded together (batch); 0 = 1 */
} llorch_session_opts;

typedef struct {
    float temperature;        /* 0 = greedy */
    int top_k;                /* 0 = off */
    float top_p;              /* 1 = off */
    float repetition_penalty; /* 1 = off; as Hugging Face: over prompt and output */
    uint64_t seed;
} llorch_sampler_opts;

typedef struct llorch_model llorch_model;
typedef struct llorch_session llorch_session;

/* Called with each generated token; text is its decoded bytes (complete
 * UTF-8, possibly empty). Return nonzero to stop that sequence. */
typedef int (*llorch_token_fn)(void *user, int seq, int token, const char *text, size_t len);

int llorch_load(llorch_model **out, const char *dir, const llorch_load_opts *opts, llorch_error *err);
void llorch_free(llorch_model *m);
const llorch_config *llorch_model_config(const llorch_model *m);
const tk_tokenizer *llorch_model_tokenizer(const llorch_model *m);
const char *llorch_model_device(const llorch_model *m);   /* "cpu", "cuda:0", ... */
size_t llorch_model_device_bytes(const llorch_model *m);  /* weights held on the device */

int llorch_session_new(llorch_session **out, llorch_model *m, const llorch_session_opts *opts, llorch_error *err);
void llorch_session_free(llorch_session *s);
int llorch_session_pos(const llorch_session *s, int seq);  /* tokens in sequence seq's cache */
int llorch_session_ctx(const llorch_session *s);
void llorch_session_reset(llorch_session *s);              /* forget every sequence */
void llorch_session_truncate(llorch_session *s, int seq, int n); /* keep sequence seq's first n tokens */
size_t llorch_session_bytes(const llorch_session *s);      /* KV cache + scratch */

/* Text <-> ids with the model's tokenizer. *ids / *text are malloc'd. */
int llorch_tokenize(const llorch_model *m, const char *text, size_t len, int add_bos, int **ids, int *n, llorch_error *err);
int llorch_detokenize(const llorch_model *m, const int *ids, int n, char **text, llorch_error *err);

/* Append n tokens to sequence seq; when logits is not NULL, write the
 * logits after the last one there (vocab_size floats). */
int llorch_forward(llorch_session *s, int seq, const int *ids, int n, float *logits, llorch_error *err);
/* Append tokens to several sequences: n[i] tokens ids[i] to sequence seq[i]
 * (each sequence at most once), without logits. The same as k calls of
 * llorch_forward, but the pieces run as the rows of shared passes, which
 * read the weights once for all of them (on the GPU, pieces under 64 tokens;
 * longer ones run alone, with flash attention). */
int llorch_forward_many(llorch_session *s, int k, const int *seq, const int *const *ids, const int *n,
                        llorch_error *err);

/* Sampling on the host, on logits you hold (llorch_generate samples on the
 * device the model runs on). u is a uniform number in [0,1); logits are
 * modified. history holds the tokens the repetition penalty applies to. */
llorch_sampler_opts llorch_sampler_defaults(void);
int llorch_sample(const llorch_sampler_opts *o, float *logits, int vocab, const int *history, int n_history, float u);
float llorch_rand(uint64_t *state); /* the generator llorch_generate draws u from */

/* Feed the prompt to sequence 0 and generate up to max_new tokens, stopping
 * at an EOS id, when the callback says so, or when the context is full.
 * *n_out (optional) gets the number of tokens generated. */
int llorch_generate(llorch_session *s, const int *prompt, int n_prompt, int max_new,
                    const llorch_sampler_opts *o, llorch_token_fn cb, void *user, int *n_out, llorch_error *err);

/* The same for every sequence of the session at once: prompts[i] of
 * n_prompt[i] tokens, sampler o[i]; one weight pass per step serves them all.
 * n_out (optional) gets each sequence's count. */
int llorch_generate_batch(llorch_session *s, const int *const *prompts, const int *n_prompt, int max_new,
                          const llorch_sampler_opts *o, llorch_token_fn cb, void *user, int *n_out, llorch_error *err);

/* A chat message: role ("system", "user", "assistant", ...) and content. */
typedef tk_message llorch_message;

/* Render a conversation with the model's chat template (DIR/chat_template.jinja,
 * else the chat_template of DIR/tokenizer_config.json) as transformers'
 * apply_chat_template(messages, add_generation_prompt) does. Tokenize the
 * text with add_bos 0: the template writes BOS where the model wants one.
 * *out is malloc'd. */
int llorch_chat_render(const char *dir, const llorch_message *msgs, int n, int add_generation_prompt, char **out,
                       llorch_error *err);
/* The same for one user message after an optional system message (NULL for none). */
int llorch_chat_prompt(const char *dir, const char *system, const char *user, char **out, llorch_error *err);


/* ------------------------------------------------------------------------ */
/* Serving: continuous batching                                              */
/* ------------------------------------------------------------------------ */
/* An engine serves requests from any number of threads on one model. It owns
 * a session of n_slots sequences (the KV pool: one slot of ctx positions per
 * running request) and one thread that loops: admit queued requests into
 * free slots (oldest first), prefill at most prefill_chunk prompt tokens
 * (oldest first, all of a prompt but its last token), then advance every
 * running request one token in one decode step (one pass over the weights
 * for all of them). A slot is free again the moment its request finishes or
 * is cancelled. A request's tokens are the ones llorch_generate gives for the
 * same prompt ids, max_tokens and sampler alone: the batch does not change
 * them (on the CPU bit for bit; a backend whose batched arithmetic rounds
 * differently may break near-ties differently). */
typedef struct llorch_engine llorch_engine;

typedef struct {
    int n_slots;       /* requests running at once; 0 = as many as fit in free memory, at most 256
                          (256, halved while the session is LLORCH_E_NOMEM) */
    int ctx;           /* positions per slot (prompt + output); 0 = max_position_embeddings, at most 4096 */
    int prefill_chunk; /* prompt tokens prefilled between two decode steps; 0 = 256 */
    int max_queue;     /* requests waiting for a slot; past that, submit fails with LLORCH_E_BUSY; 0 = 1024 */
} llorch_engine_opts;

typedef enum {
    LLORCH_RUNNING = 0,      /* more events follow */
    LLORCH_FINISH_STOP,      /* an EOS id, or a stop string (not part of the text) */
    LLORCH_FINISH_LENGTH,    /* max_tokens, or the slot's context is full */
    LLORCH_FINISH_CANCELLED, /* llorch_engine_cancel, the callback, or shutdown */
    LLORCH_FINISH_ERROR      /* the forward pass failed: error says why */
} llorch_finish;

/* What a request's callback receives, on the engine's thread. Each token
 * gives one event; the last event has finish set, and every accepted
 * request gets exactly one such event, after which its callback is never
 * called again. The last event carries the token that ended the request
 * (an EOS id, the one at max_tokens or a full context, the one completing a
 * stop string), or -1 when it ended otherwise. Concatenated, the events'
 * text is llorch_generate's streamed text, cut before the first stop string. */
typedef struct {
    uint64_t id;          /* llorch_engine_submit's id */
    int token;            /* the generated id, or -1 (the last event, flushed text) */
    const char *text;     /* new output text, complete UTF-8, valid during the call; text
                             that may begin a stop string is held back until it is known
                             not to */
    size_t len;
    llorch_finish finish;
    int n_prompt;         /* tokens in the prompt */
    int n_generated;      /* tokens generated so far */
    const char *error;    /* LLORCH_FINISH_ERROR: the message */
} llorch_event;

/* Return nonzero to cancel the request (its last event follows); ignored on
 * the last event. Runs on the engine's thread during a step: keep it short,
 * never block on I/O. It may call llorch_engine_submit, _cancel, _shutdown
 * and _get_stats, never _wait_idle or _free (they wait for this thread). */
typedef int (*llorch_event_fn)(void *user, const llorch_event *ev);

#define LLORCH_MAX_STOP 16       /* stop strings a request may have */
#define LLORCH_MAX_STOP_BYTES 256 /* bytes of each */

typedef struct {
    const int *prompt;            /* token ids, or NULL to use messages (one of the two) */
    int n_prompt;                 /* >= 1, and n_prompt + 1 <= ctx */
    const llorch_message *messages; /* rendered with the model's chat template (as
                                       llorch_chat_render with a generation prompt),
                                       tokenized without adding BOS */
    int n_messages;
    int max_tokens;               /* >= 0; generation also ends where the slot's context does */
    llorch_sampler_opts sampler;
    const char *const *stop;      /* n_stop strings (UTF-8, 1 to LLORCH_MAX_STOP_BYTES bytes); the
                                     output ends before the first that appears in its text */
    int n_stop;                   /* 0 to LLORCH_MAX_STOP */
    llorch_event_fn on_event;     /* may be NULL */
    void *user;
} llorch_request;

typedef struct {
    int n_slots, ctx;        /* as created */
    int running;             /* requests in slots (prefilling or decoding) */
    int queued;              /* requests waiting for a slot */
    long long positions;     /* KV positions held by running requests, of n_slots * ctx */
    unsigned long long submitted, finished; /* accepted requests; those whose last event is out */
    unsigned long long steps;               /* decode steps */
    unsigned long long prompt_tokens;       /* of requests given a slot */
    unsigned long long generated_tokens;
} llorch_engine_stats;

/* Create the engine and start its thread (signals blocked: they go to the
 * program's threads). The model must outlive it. */
int llorch_engine_new(llorch_engine **out, llorch_model *m, const llorch_engine_opts *opts, llorch_error *err);
/* Queue a request (copied: prompt, messages and stop strings may be freed on
 * return); *id (optional) gets its id, unique, increasing and never 0. Fails
 * with LLORCH_E_ARG (bad ids, options or stop strings), LLORCH_E_CONTEXT (the
 * prompt leaves no room in a slot), LLORCH_E_BUSY, LLORCH_E_STOPPED, or what
 * rendering and tokenizing messages fail with (a template's error is
 * LLORCH_E_FORMAT), and then *id is 0 and the callback is never called.
 * Thread-safe. */
int llorch_engine_submit(llorch_engine *e, const llorch_request *r, uint64_t *id, llorch_error *err);
/* Cancel a queued or running request; an unknown or finished id is ignored. Thread-safe. */
void llorch_engine_cancel(llorch_engine *e, uint64_t id);
/* Take no new requests. cancel_running = 0: queued and running requests
 * finish as they would; else they end now as LLORCH_FINISH_CANCELLED. Thread-safe. */
void llorch_engine_shutdown(llorch_engine *e, int cancel_running);
/* Block until every accepted request has had its last event. Thread-safe. */
void llorch_engine_wait_idle(llorch_engine *e);
void llorch_engine_get_stats(llorch_engine *e, llorch_engine_stats *st);
/* Cancel whatever remains (each gets its last event), stop the thread, free
 * the session. No other call on e may be in progress or follow. NULL is
 * ignored. */
void llorch_engine_free(llorch_engine *e);

#ifdef __cplusplus
}
#endif

/* ------------------------------------------------------------------------ */
/* Backend interface: the model and session internals a backend works on.     */
/* ------------------------------------------------------------------------ */
#ifdef __cplusplus
extern "C" {
#endif

/* One weight tensor, as mapped from its file. 1-D tensors have rows = 1. */
typedef struct {
    const void *data;
    llorch_dtype dtype;
    int64_t rows, cols;
} llorch_tensor;

/* One decoder layer. Optional tensors have data == NULL when the family has
 * none (see the flags in llorch_config). */
typedef struct {
    llorch_tensor attn_norm;      /* [dim] */
    llorch_tensor wq, wk, wv;     /* [n_heads * head_dim, dim], [n_kv_heads * head_dim, dim] x2 */
    llorch_tensor bq, bk, bv;     /* optional (qkv_bias): [n_heads * head_dim], [n_kv_heads * head_dim] x2 */
    llorch_tensor q_norm, k_norm; /* optional (qk_norm): [head_dim] each */
    llorch_tensor wo;             /* [dim, n_heads * head_dim] */
    llorch_tensor ffn_norm;       /* [dim] */
    llorch_tensor w_gate, w_up;   /* [hidden_dim, dim] */
    llorch_tensor w_down;         /* [dim, hidden_dim] */
} llorch_layer;

typedef struct {
    llorch_tensor embed;   /* [vocab, dim] */
    llorch_layer *layers;  /* n_layers */
    llorch_tensor norm;    /* [dim] */
    llorch_tensor lm_head; /* [vocab, dim]; the embedding when tied */
} llorch_weights;

/* Per-sequence sampling for one decode step. */
typedef struct {
    float temperature, top_p, repetition_penalty;
    int top_k;
    float u;      /* uniform in [0,1), drawn on the host */
    float u_next; /* u of this sequence's next step if it will follow with the
                     token sampled now, else -1: lets a backend start that step
                     before this one's token reaches the host */
} llorch_sample_params;

typedef struct llorch_backend llorch_backend;

typedef struct {
    void *base;
    size_t size;
} llorch_mapping;

struct llorch_model {
    llorch_config cfg;
    llorch_weights w;
    float *rope_inv_freq; /* [head_dim / 2], from llorch_rope_inv_freq */
    char *dir;
    tk_tokenizer *tok;
    llorch_mapping *maps; /* the mapped safetensors files */
    int n_maps;
    const llorch_backend *backend;
    void *backend_data;   /* the backend's per-model state (device weights) */
    int device_index;
    int threads;
    size_t device_bytes;
    char device_name[32];
};

struct llorch_session {
    llorch_model *m;
    int ctx, n_seq;
    int *pos;            /* [n_seq]: tokens in each sequence's cache */
    int *tokens;         /* [n_seq][ctx]: each sequence's tokens so far */
    void *backend_data;  /* KV cache, scratch */
    size_t bytes;        /* memory the backend holds for this session */
};

/* A backend computes the forward pass. Both calls read each sequence's
 * position from s->pos and its history from s->tokens (the caller has
 * already stored the new ids there); the caller advances s->pos after
 * success. */
struct llorch_backend {
    const char *name;
    int (*model_init)(llorch_model *m, llorch_error *err);
    void (*model_free)(llorch_model *m);
    int (*session_init)(llorch_session *s, llorch_error *err);
    void (*session_free)(llorch_session *s);
    /* n tokens of sequence seq at positions pos[seq] ... pos[seq]+n-1.
     * logits (host, vocab floats) of the last position, when not NULL. */
    int (*prefill)(llorch_session *s, int seq, const int *ids, int n, float *logits, llorch_error *err);
    /* One token for every sequence (ids[i] < 0: sequence i is idle; its
     * cache must not be written and next[i] is ignored). With sp, samples
     * next[i] per sp[i]; with logits, writes n_seq x vocab floats (host). */
    int (*decode)(llorch_session *s, const int *ids, const llorch_sample_params *sp, int *next, float *logits,
                  llorch_error *err);
    /* k pieces at once, as llorch_forward_many; NULL: prefill runs each */
    int (*prefill_many)(llorch_session *s, int k, const int *seq, const int *const *ids, const int *n,
                        llorch_error *err);
};

extern const llorch_backend llorch_cpu_backend;
#ifdef LLORCH_CUDA
extern const llorch_backend llorch_cuda_backend;
#endif

/* Shared helpers that backends use. */
int llorch_fail(llorch_error *err, llorch_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
size_t llorch_dtype_size(llorch_dtype t);
float llorch_bf16_to_f32(uint16_t h);
float llorch_f16_to_f32(uint16_t h);
uint16_t llorch_f32_to_bf16(float f);
/* The head_dim / 2 RoPE inverse frequencies of c, in float32 as
 * transformers computes them; every backend rotates with these. */
void llorch_rope_inv_freq(const llorch_config *c, float *inv_freq);
/* The reference sampler: mutates logits, returns the chosen id. */
int llorch_sample_logits(float *logits, int vocab, const llorch_sample_params *p, const int *history, int n_history);

#ifdef __cplusplus
}
#endif

#endif /* LLORCH_H */

/* ======================================================================== */
/* Implementation                                                            */
/* ======================================================================== */
#ifdef LLORCH_IMPLEMENTATION
#ifndef LLORCH_IMPLEMENTATION_DONE
#define LLORCH_IMPLEMENTATION_DONE

#define TOKENIZER_IMPLEMENTATION
#include "tokenizer.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* Errors and small helpers                                                  */
/* ------------------------------------------------------------------------ */

/* The message is one line: control characters it quotes from files are
 * escaped (tk_escape_controls). */
int llorch_fail(llorch_error *err, llorch_status st, const char *fmt, ...) {
    if (err) {
        char raw[2 * sizeof err->msg];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(raw, sizeof raw, fmt, ap);
        va_end(ap);
        tk_escape_controls(err->msg, sizeof err->msg, raw);
        err->status = st;
    }
    return (int)st;
}

static void llorch_ok(llorch_error *err) {
    if (err) {
        err->status = LLORCH_OK;
        err->msg[0] = 0;
    }
}

size_t llorch_dtype_size(llorch_dtype t) {
    return t == LLORCH_F32 ? 4 : (t == LLORCH_F16 || t == LLORCH_BF16) ? 2 : 0;
}

float llorch_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t llorch_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* NaN stays NaN */
    u += 0x7fffu + ((u >> 16) & 1);                                           /* round to nearest even */
    return (uint16_t)(u >> 16);
}

float llorch_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
    if (exp == 0x1f) u = sign | 0x7f800000u | (man << 13); /* inf, nan */
    else if (exp) u = sign | ((exp + 112) << 23) | (man << 13);
    else if (!man) u = sign;
    else { /* subnormal: normalize */
        int e = -1;
        do { man <<= 1; e++; } while (!(man & 0x400));
        u = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ff) << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* ------------------------------------------------------------------------ */
/* RoPE frequencies                                                          */
/* ------------------------------------------------------------------------ */

void llorch_rope_inv_freq(const llorch_config *c, float *inv_freq) {
    const llorch_rope *r = &c->rope;
    const int hd = c->head_dim;
    for (int i = 0; i < hd / 2; i++) {
        /* 1 / theta^(2i / head_dim), each step rounded to float32 as torch does */
        float f = 1.0f / powf(r->theta, (float)(2 * i) / (float)hd);
        if (r->type == LLORCH_ROPE_LINEAR) f /= r->factor;
        if (r->type == LLORCH_ROPE_LLAMA3) {
            /* long wavelengths slowed by factor, short ones kept, a smooth ramp between */
            const float old_len = (float)r->original_max_pos, wavelen = 2.0f * (float)M_PI / f;
            const float low_wavelen = old_len / r->low_freq_factor, high_wavelen = old_len / r->high_freq_factor;
            if (wavelen > low_wavelen) f = f / r->factor;
            else if (!(wavelen < high_wavelen)) {
                float smooth = (old_len / wavelen - r->low_freq_factor) / (r->high_freq_factor - r->low_freq_factor);
                f = (1.0f - smooth) * f / r->factor + smooth * f;
            }
        }
        inv_freq[i] = f;
    }
}

/* Open a file for reading only if it is a regular file: O_NONBLOCK so that a
 * FIFO or device fails the check at once instead of blocking in open or read.
 * The caller closes *fd. */
static int llorch_open_regular(const char *path, int *fd, uint64_t *size, llorch_error *err) {
    *fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (*fd < 0) return llorch_fail(err, LLORCH_E_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(*fd, &st) || !S_ISREG(st.st_mode)) {
        close(*fd);
        *fd = -1;
        return llorch_fail(err, LLORCH_E_IO, "%s: not a regular file", path);
    }
    *size = (uint64_t)st.st_size;
    return 0;
}

/* Read a whole (small) regular file into a NUL-terminated buffer. */
static int llorch_read_file(const char *path, char **out, size_t *len, size_t max, llorch_error *err) {
    char msg[sizeof err->msg];
    *out = NULL;
    switch (tk_read_file(path, max, out, len, msg, sizeof msg)) {
    case 0: return 0;
    case TK_READ_TOO_BIG: return llorch_fail(err, LLORCH_E_FORMAT, "%s", msg);
    case TK_READ_NOMEM: return llorch_fail(err, LLORCH_E_NOMEM, "%s", msg);
    default: return llorch_fail(err, LLORCH_E_IO, "%s", msg);
    }
}

/* Memory the system can still give us, from /proc/meminfo (0 = unknown). */
static uint64_t llorch_host_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    unsigned long long kb = 0;
    if (!f) return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
    fclose(f);
    return (uint64_t)kb * 1024;
}

static char *llorch_path(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = (char *)malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

/* Parse a small JSON file; the caller frees *text and tk_json_free(j). */
static int llorch_read_json(const char *path, char **text, tk_json *j, llorch_error *err) {
    size_t len;
    int st = llorch_read_file(path, text, &len, (size_t)64 << 20, err);
    if (st) return st;
    char msg[256];
    if (tk_json_parse(j, *text, len, msg, sizeof msg)) {
        free(*text);
        *text = NULL;
        return llorch_fail(err, LLORCH_E_FORMAT, "%s: %s", path, msg);
    }
    if (j->nodes[0].type != TK_JSON_OBJECT) {
        tk_json_free(j);
        free(*text);
        *text = NULL;
        return llorch_fail(err, LLORCH_E_FORMAT, "%s: not a JSON object", path);
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* safetensors: mapped files and a table of every tensor in them             */
/* ------------------------------------------------------------------------ */
/* A file is: u64 header length N, N bytes of JSON
 *   {"name": {"dtype": "BF16", "shape": [r, c], "data_offsets": [begin, end]}, ...}
 * then the data, with offsets relative to its start. The rules are the
 * `safetensors` library's: N <= 100,000,000; each entry gives dtype, shape and
 * data_offsets once, as non-negative integers; sorted by offsets, the tensors
 * cover the data exactly once (contiguous from 0, no gap, no overlap, nothing
 * after the last); "__metadata__" is a string-to-string map. Tensor names
 * must also hold no NUL, and none may appear twice. */

#define LLORCH_ST_MAX_HEADER 100000000u

/* A hash map from strings the caller owns to ints: open addressing, linear
 * probing, at most half full; each lookup is O(1) on average. The hash is
 * keyed by the address of the slots (random under ASLR), so a file cannot be
 * made of names that all collide. */
typedef struct {
    const char **key; /* NULL: empty */
    int *value;
    size_t cap, n;
    uint64_t seed;
} llorch_strmap;

static uint64_t llorch_hash(const char *s, uint64_t seed) {
    uint64_t h = seed ^ 0xcbf29ce484222325ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    h ^= h >> 33; /* every bit into the low ones the table uses */
    h *= 0xff51afd7ed558ccdull;
    return h ^ (h >> 33);
}

static void llorch_strmap_free(llorch_strmap *m) {
    free(m->key);
    free(m->value);
    memset(m, 0, sizeof *m);
}

static int llorch_strmap_find(const llorch_strmap *m, const char *key) {
    if (!m->cap) return -1;
    for (size_t i = llorch_hash(key, m->seed) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->key[i]) return -1;
        if (!strcmp(m->key[i], key)) return m->value[i];
    }
}

static void llorch_strmap_put(llorch_strmap *m, const char *key, int value) {
    size_t i = llorch_hash(key, m->seed) & (m->cap - 1);
    while (m->key[i]) i = (i + 1) & (m->cap - 1);
    m->key[i] = key;
    m->value[i] = value;
    m->n++;
}

/* Add a key that is not in the map yet; -1 when out of memory. */
static int llorch_strmap_add(llorch_strmap *m, const char *key, int value) {
    if (2 * (m->n + 1) > m->cap) {
        llorch_strmap old = *m;
        m->cap = old.cap ? old.cap * 2 : 64;
        m->n = 0;
        m->key = (const char **)calloc(m->cap, sizeof *m->key);
        m->value = (int *)malloc(m->cap * sizeof *m->value);
        if (!m->key || !m->value) {
            free(m->key);
            free(m->value);
            *m = old;
            return -1;
        }
        m->seed = (uint64_t)(uintptr_t)m->key * 0x9E3779B97F4A7C15ull;
        for (size_t i = 0; i < old.cap; i++)
            if (old.key[i]) llorch_strmap_put(m, old.key[i], old.value[i]);
        llorch_strmap_free(&old);
    }
    llorch_strmap_put(m, key, value);
    return 0;
}

typedef struct {
    char *name;
    llorch_dtype dtype;
    char dtype_name[12];
    int64_t shape[2];
    int ndim;
    uint64_t begin, end; /* data_offsets */
    const void *data;
    int file; /* index into the model's maps */
} llorch_st_tensor;

typedef struct {
    llorch_st_tensor *t;
    int n, cap;
    llorch_strmap by_name; /* name -> index into t */
} llorch_st_table;

static void llorch_st_table_free(llorch_st_table *tab) {
    for (int i = 0; i < tab->n; i++) free(tab->t[i].name);
    free(tab->t);
    llorch_strmap_free(&tab->by_name);
    memset(tab, 0, sizeof *tab);
}

static const llorch_st_tensor *llorch_st_find(const llorch_st_table *tab, const char *name) {
    int i = llorch_strmap_find(&tab->by_name, name);
    return i >= 0 ? &tab->t[i] : NULL;
}

static int llorch_st_dtype(const char *s, llorch_dtype *dt, size_t *size) {
    static const struct { const char *name; int size; llorch_dtype dt; } k[] = {
        {"F32", 4, LLORCH_F32}, {"F16", 2, LLORCH_F16}, {"BF16", 2, LLORCH_BF16},
        {"F64", 8, LLORCH_DTYPE_OTHER}, {"I64", 8, LLORCH_DTYPE_OTHER}, {"U64", 8, LLORCH_DTYPE_OTHER},
        {"I32", 4, LLORCH_DTYPE_OTHER}, {"U32", 4, LLORCH_DTYPE_OTHER}, {"I16", 2, LLORCH_DTYPE_OTHER},
        {"U16", 2, LLORCH_DTYPE_OTHER}, {"I8", 1, LLORCH_DTYPE_OTHER}, {"U8", 1, LLORCH_DTYPE_OTHER},
        {"BOOL", 1, LLORCH_DTYPE_OTHER}, {"F8_E4M3", 1, LLORCH_DTYPE_OTHER}, {"F8_E5M2", 1, LLORCH_DTYPE_OTHER},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (!strcmp(s, k[i].name)) {
            *dt = k[i].dt;
            *size = (size_t)k[i].size;
            return 0;
        }
    return -1;
}

/* A JSON integer >= 0 written without fraction or exponent (what the
 * reference reads as usize): 0, or -1 for anything else. */
static int llorch_st_uint(const tk_json *j, int node, uint64_t *out) {
    if (node < 0 || j->nodes[node].type != TK_JSON_NUMBER) return -1;
    uint64_t v = 0;
    for (uint32_t i = j->nodes[node].start; i < j->nodes[node].end; i++) {
        unsigned d = (unsigned)(j->src[i] - '0');
        if (d > 9 || v > (UINT64_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* The value of each of an entry's fields, each given at most once; the
 * reference ignores fields it does not know. */
static int llorch_st_fields(const tk_json *j, int val, int *dt, int *sh, int *of, const char **twice) {
    static const char *names[3] = {"dtype", "shape", "data_offsets"};
    int *slot[3] = {dt, sh, of};
    *dt = *sh = *of = -1;
    for (int k = tk_json_child(j, val); k >= 0; k = tk_json_next(j, tk_json_next(j, k)))
        for (int f = 0; f < 3; f++)
            if (tk_json_streq(j, k, names[f])) {
                if (*slot[f] >= 0) { *twice = names[f]; return -1; }
                *slot[f] = tk_json_next(j, k);
            }
    return 0;
}

/* Validate one header entry and add it to the table. */
static int llorch_st_add(llorch_st_table *tab, const tk_json *j, int key, int val, const char *path,
                         const unsigned char *data, uint64_t data_len, int file, llorch_error *err) {
    size_t name_len;
    char *name = tk_json_strdup(j, key, &name_len);
    if (!name) return llorch_fail(err, LLORCH_E_NOMEM, "%s: out of memory", path);
    if (strlen(name) != name_len) {
        llorch_fail(err, LLORCH_E_FORMAT, "%s: tensor name '%s\\u0000...' holds a NUL", path, name);
        free(name);
        return LLORCH_E_FORMAT;
    }
    if (llorch_st_find(tab, name)) {
        llorch_fail(err, LLORCH_E_FORMAT, "%s: tensor '%s' appears twice", path, name);
        free(name);
        return LLORCH_E_FORMAT;
    }
    llorch_st_tensor t;
    memset(&t, 0, sizeof t);
    t.name = name;
    t.file = file;
    int dt = -1, sh = -1, of = -1;
    int st = 0;
    size_t esize = 0;
    char *dts = NULL;
    const char *twice = NULL;
    if (j->nodes[val].type != TK_JSON_OBJECT) {
        st = llorch_fail(err, LLORCH_E_FORMAT, "%s: tensor '%s' is not an object", path, name);
        goto out;
    }
    if (llorch_st_fields(j, val, &dt, &sh, &of, &twice)) {
        st = llorch_fail(err, LLORCH_E_FORMAT, "%s: tensor '%s' gives %s twice", path, name, twice);
        goto out;
    }
    if (dt < 0 || sh < 0 || of < 0 || j->nodes[sh].type != TK_JSON_ARRAY || j->nodes[of].type != TK_JSON_ARRAY ||
        j->nodes[of].count != 2) {
        st = llorch_fail(err, LLORCH_E_FORMAT, "%s: tensor '%s' needs dtype, shape and two data_offsets", path, name);
        goto out;
    }
    dts = tk_json_strdup(j, dt, NULL);
    if (!dts || llorch_st_dtype(dts, &t.dtype, &esize)) {
        st = llorch_fail(err, LLORCH_E_FORMAT, "%s: tensor '%s' has an unknown dtype", path, name);
        goto out;
    }
    snprintf(t.dtype_name, sizeof t.dtype_name, "%s", dts);
    /* elements = product of the shape, checked for overflow */
    uint64_t count = 1;
    int ndim = 0;
    for (int c = tk_json_child(j, sh); c >= 0; c = tk_json_next(j, c), ndim++) {
        uint64_t d;
        if (llorch_st_uint(j, c, &d)) {
            st = llorch_fail(err, LLORCH_E_FORMAT, "%s: tensor '%s' has a bad shape", path, name);
            goto out;
        }
        if (d && count > UINT64_MAX / 16 / d) {
            st = llorch_fail(err, LLORCH_E_FORMAT, "%s: tensor '%s' is impossibly large", path, name);
            goto out;
        }
        count *= d;
        if (ndim < 2) t.shape[ndim] = (int64_t)d;
    }
    t.ndim = ndim;
    int c0 = tk_json_child(j, of);
    if (llorch_st_uint(j, c0, &t.begin) || llorch_st_uint(j, tk_json_next(j, c0), &t.end) || t.end < t.begin ||
        t.end > data_len) {
        st = llorch_fail(err, LLORCH_E_FORMAT,
                         "%s: tensor '%s' data_offsets are reversed or outside the %llu data bytes", path, name,
                         (unsigned long long)data_len);
        goto out;
    }
    if (t.end - t.begin != count * esize) {
        st = llorch_fail(err, LLORCH_E_FORMAT, "%s: tensor '%s' holds %llu bytes but its shape needs %llu", path,
                         name, (unsigned long long)(t.end - t.begin), (unsigned long long)(count * esize));
        goto out;
    }
    t.data = data + t.begin;
    if (esize && ((uintptr_t)t.data % esize)) {
        st = llorch_fail(err, LLORCH_E_FORMAT, "%s: tensor '%s' is not aligned to its element size", path, name);
        goto out;
    }
    if (tab->n == tab->cap) {
        int cap = tab->cap ? tab->cap * 2 : 64;
        llorch_st_tensor *nt = (llorch_st_tensor *)realloc(tab->t, (size_t)cap * sizeof *nt);
        if (!nt) {
            st = llorch_fail(err, LLORCH_E_NOMEM, "%s: out of memory", path);
            goto out;
        }
        tab->t = nt;
        tab->cap = cap;
    }
    if (llorch_strmap_add(&tab->by_name, name, tab->n)) {
        st = llorch_fail(err, LLORCH_E_NOMEM, "%s: out of memory", path);
        goto out;
    }
    tab->t[tab->n++] = t;
    name = NULL;
out:
    free(dts);
    free(name);
    return st;
}

/* "__metadata__": null, or an object whose values are all strings. */
static int llorch_st_metadata(const tk_json *j, int val) {
    if (j->nodes[val].type == TK_JSON_NULL) return 0;
    if (j->nodes[val].type != TK_JSON_OBJECT) return -1;
    for (int k = tk_json_child(j, val); k >= 0; k = tk_json_next(j, tk_json_next(j, k)))
        if (j->nodes[tk_json_next(j, k)].type != TK_JSON_STRING) return -1;
    return 0;
}

static int llorch_cmp_offsets(const void *a, const void *b) {
    const llorch_st_tensor *x = *(const llorch_st_tensor *const *)a, *y = *(const llorch_st_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return (x->end > y->end) - (x->end < y->end);
}

/* Tensors first..tab->n of one file, sorted by offsets, must cover its
 * data_len bytes exactly once. */
static int llorch_st_coverage(const llorch_st_table *tab, int first, uint64_t data_len, const char *path,
                              llorch_error *err) {
    int n = tab->n - first, st = 0;
    const llorch_st_tensor **order = (const llorch_st_tensor **)malloc((size_t)(n ? n : 1) * sizeof *order);
    if (!order) return llorch_fail(err, LLORCH_E_NOMEM, "%s: out of memory", path);
    for (int i = 0; i < n; i++) order[i] = &tab->t[first + i];
    qsort(order, (size_t)n, sizeof *order, llorch_cmp_offsets);
    uint64_t at = 0;
    for (int i = 0; i < n && !st; i++) {
        if (order[i]->begin != at)
            st = llorch_fail(err, LLORCH_E_FORMAT, "%s: tensor '%s' starts at data byte %llu, not %llu: %s", path,
                             order[i]->name, (unsigned long long)order[i]->begin, (unsigned long long)at,
                             order[i]->begin > at ? "a gap" : "it overlaps another");
        at = order[i]->end;
    }
    if (!st && at != data_len)
        st = llorch_fail(err, LLORCH_E_FORMAT, "%s: %llu data bytes after the last tensor", path,
                         (unsigned long long)(data_len - at));
    free(order);
    return st;
}

/* Parse a safetensors header that sits at the start of the size bytes at base. */
static int llorch_st_parse(llorch_st_table *tab, const unsigned char *base, uint64_t size, const char *path,
                           int file, llorch_error *err) {
    if (size < 8) return llorch_fail(err, LLORCH_E_FORMAT, "%s: %llu bytes is too short for a safetensors file", path,
                                     (unsigned long long)size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | base[i];
    if (hlen == 0 || hlen > size - 8 || hlen > LLORCH_ST_MAX_HEADER)
        return llorch_fail(err, LLORCH_E_FORMAT, "%s: header length %llu does not fit the file's %llu bytes", path,
                           (unsigned long long)hlen, (unsigned long long)size);
    if (base[8] == 0xEF) /* a byte-order mark, which tk_json would skip and the reference refuses */
        return llorch_fail(err, LLORCH_E_FORMAT, "%s: header: invalid JSON at byte 0", path);
    tk_json j;
    char msg[256];
    if (tk_json_parse(&j, (const char *)base + 8, (size_t)hlen, msg, sizeof msg))
        return llorch_fail(err, LLORCH_E_FORMAT, "%s: header: %s", path, msg);
    int st = 0, first = tab->n, meta = 0;
    const unsigned char *data = base + 8 + hlen;
    uint64_t data_len = size - 8 - hlen;
    if (j.nodes[0].type != TK_JSON_OBJECT) {
        st = llorch_fail(err, LLORCH_E_FORMAT, "%s: header is not a JSON object", path);
    } else {
        for (int k = tk_json_child(&j, 0); k >= 0 && !st; k = tk_json_next(&j, tk_json_next(&j, k))) {
            int val = tk_json_next(&j, k);
            if (!tk_json_streq(&j, k, "__metadata__"))
                st = llorch_st_add(tab, &j, k, val, path, data, data_len, file, err);
            else if (meta++ || llorch_st_metadata(&j, val))
                st = llorch_fail(err, LLORCH_E_FORMAT, "%s: __metadata__ is not one map of strings to strings", path);
        }
    }
    if (!st) st = llorch_st_coverage(tab, first, data_len, path, err);
    tk_json_free(&j);
    return st;
}

static int llorch_map_file(llorch_model *m, const char *path, llorch_st_table *tab, llorch_error *err) {
    uint64_t size = 0;
    int fd, st = llorch_open_regular(path, &fd, &size, err);
    if (st) return st;
    if (size < 8) {
        close(fd);
        return llorch_fail(err, LLORCH_E_FORMAT, "%s: %llu bytes is too short for a safetensors file", path,
                           (unsigned long long)size);
    }
    void *p = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) return llorch_fail(err, LLORCH_E_IO, "%s: mmap: %s", path, strerror(errno));
    llorch_mapping *maps = (llorch_mapping *)realloc(m->maps, (size_t)(m->n_maps + 1) * sizeof *maps);
    if (!maps) {
        munmap(p, (size_t)size);
        return llorch_fail(err, LLORCH_E_NOMEM, "%s: out of memory", path);
    }
    m->maps = maps;
    m->maps[m->n_maps].base = p;
    m->maps[m->n_maps].size = (size_t)size;
    m->n_maps++;
    return llorch_st_parse(tab, (const unsigned char *)p, size, path, m->n_maps - 1, err);
}

/* A shard name from the index must be a plain file name in the directory. */
static int llorch_shard_name_ok(const char *s) {
    return s[0] && s[0] != '.' && !strchr(s, '/') && !strchr(s, '\\');
}

/* model.safetensors, or model.safetensors.index.json and its shards. */
static int llorch_map_weights(llorch_model *m, llorch_st_table *tab, llorch_error *err) {
    char *single = llorch_path(m->dir, "model.safetensors");
    char *index = llorch_path(m->dir, "model.safetensors.index.json");
    int st = 0;
    char *text = NULL;
    char **shards = NULL;
    int n_shards = 0;
    llorch_strmap seen;
    tk_json j;
    memset(&j, 0, sizeof j);
    memset(&seen, 0, sizeof seen);
    if (!single || !index) { st = llorch_fail(err, LLORCH_E_NOMEM, "out of memory"); goto out; }
    if (access(single, F_OK) == 0) { st = llorch_map_file(m, single, tab, err); goto out; }
    if (access(index, F_OK) != 0) {
        st = llorch_fail(err, LLORCH_E_IO, "%s: no model.safetensors or model.safetensors.index.json", m->dir);
        goto out;
    }
    if ((st = llorch_read_json(index, &text, &j, err))) goto out;
    int wm = tk_json_get(&j, 0, "weight_map");
    if (wm < 0 || j.nodes[wm].type != TK_JSON_OBJECT) {
        st = llorch_fail(err, LLORCH_E_FORMAT, "%s: no weight_map object", index);
        goto out;
    }
    shards = (char **)calloc((size_t)j.nodes[wm].count + 1, sizeof *shards);
    if (!shards) { st = llorch_fail(err, LLORCH_E_NOMEM, "out of memory"); goto out; }
    /* map each distinct shard once, in order of first mention */
    for (int k = tk_json_child(&j, wm); k >= 0 && !st; k = tk_json_next(&j, tk_json_next(&j, k))) {
        char *f = tk_json_strdup(&j, tk_json_next(&j, k), NULL);
        if (!f || !llorch_shard_name_ok(f)) {
            free(f);
            st = llorch_fail(err, LLORCH_E_FORMAT, "%s: a weight_map entry is not a file name in the directory", index);
            break;
        }
        if (llorch_strmap_find(&seen, f) >= 0) { free(f); continue; }
        shards[n_shards++] = f;
        if (llorch_strmap_add(&seen, f, n_shards - 1)) { st = llorch_fail(err, LLORCH_E_NOMEM, "out of memory"); break; }
        char *p = llorch_path(m->dir, f);
        st = p ? llorch_map_file(m, p, tab, err) : llorch_fail(err, LLORCH_E_NOMEM, "out of memory");
        free(p);
    }
    /* every tensor the index names must be in its shard */
    for (int k = tk_json_child(&j, wm); k >= 0 && !st; k = tk_json_next(&j, tk_json_next(&j, k))) {
        char *name = tk_json_strdup(&j, k, NULL);
        const llorch_st_tensor *t = name ? llorch_st_find(tab, name) : NULL;
        if (!t) st = llorch_fail(err, LLORCH_E_FORMAT, "%s: tensor '%s' is not in any shard", index, name ? name : "?");
        free(name);
    }
out:
    llorch_strmap_free(&seen);
    for (int i = 0; i < n_shards; i++) free(shards[i]);
    free(shards);
    tk_json_free(&j);
    free(text);
    free(single);
    free(index);
    return st;
}

/* ------------------------------------------------------------------------ */
/* config.json                                                               */
/* ------------------------------------------------------------------------ */

/* The families llorch runs, as transformers' config classes define them:
 * the flags that set each one's layer apart, and the defaults its class
 * gives fields config.json leaves out (-1: refused when missing, where the
 * default is not one to guess). */
typedef struct {
    const char *model_type, *arch;
    int qkv_bias, qk_norm;
    int windowed;      /* reads sliding_window (Mistral); the others refuse use_sliding_window */
    int kv_heads;      /* num_key_value_heads: 0 = num_attention_heads */
    int head_dim;      /* head_dim: 0 = hidden_size / num_attention_heads */
    double rope_theta; /* rope_theta */
} llorch_family;

static const llorch_family llorch_families[] = {
    {"llama", "LlamaForCausalLM", 0, 0, 0, 0, 0, 10000},
    {"qwen2", "Qwen2ForCausalLM", 1, 0, 0, -1, 0, 10000},
    {"qwen3", "Qwen3ForCausalLM", 0, 1, 0, -1, -1, -1},
    {"mistral", "MistralForCausalLM", 0, 0, 1, 8, 0, 10000},
};
#define LLORCH_N_FAMILIES (int)(sizeof llorch_families / sizeof llorch_families[0])

/* A member of an object, or -1 when absent or null (as transformers reads
 * a null: the same as leaving the field out). */
static int llorch_cfg_get(const tk_json *j, int obj, const char *key) {
    int v = obj >= 0 ? tk_json_get(j, obj, key) : -1;
    return v >= 0 && j->nodes[v].type == TK_JSON_NULL ? -1 : v;
}

/* A string value for a message: "text" (cut short), or what it is instead. */
static const char *llorch_cfg_quote(const tk_json *j, int v, char *buf, size_t cap) {
    size_t n;
    char *s = tk_json_strdup(j, v, &n);
    if (!s) snprintf(buf, cap, "(not a string)");
    else snprintf(buf, cap, "\"%.48s%s\"", s, n > 48 ? "..." : "");
    free(s);
    return buf;
}

/* An integer field of obj (named `in` in messages, NULL at the top) in
 * [lo, hi]; absent -> def (or an error when def < lo). */
static int llorch_cfg_int(const tk_json *j, int obj, const char *in, const char *key, long long lo, long long hi,
                          long long def, int *out, const char *path, llorch_error *err) {
    int v = llorch_cfg_get(j, obj, key);
    long long x;
    if (v < 0) {
        if (def < lo) return llorch_fail(err, LLORCH_E_FORMAT, "%s: missing \"%s%s%s\"", path, in ? in : "", in ? "." : "", key);
        *out = (int)def;
        return 0;
    }
    if (tk_json_int(j, v, &x) || x < lo || x > hi)
        return llorch_fail(err, LLORCH_E_FORMAT, "%s: \"%s%s%s\" must be an integer in [%lld, %lld]", path,
                           in ? in : "", in ? "." : "", key, lo, hi);
    *out = (int)x;
    return 0;
}

/* The same for a number. */
static int llorch_cfg_number(const tk_json *j, int obj, const char *in, const char *key, double lo, double hi,
                             double def, double *out, const char *path, llorch_error *err) {
    int v = llorch_cfg_get(j, obj, key);
    if (v < 0) {
        if (def < lo) return llorch_fail(err, LLORCH_E_FORMAT, "%s: missing \"%s%s%s\"", path, in ? in : "", in ? "." : "", key);
        *out = def;
        return 0;
    }
    if (tk_json_number(j, v, out) || !(*out >= lo && *out <= hi))
        return llorch_fail(err, LLORCH_E_FORMAT, "%s: \"%s%s%s\" must be a number in [%g, %g]", path, in ? in : "",
                           in ? "." : "", key, lo, hi);
    return 0;
}

/* A flag as transformers reads it: Python's truthiness of the value
 * (absent, null, false, 0, "", [] and {} are false; 1, "false", [0] true). */
static int llorch_cfg_truthy(const tk_json *j, int v) {
    double x;
    if (v < 0) return 0;
    switch ((tk_json_type)j->nodes[v].type) {
    case TK_JSON_TRUE: return 1;
    case TK_JSON_NUMBER: return !tk_json_number(j, v, &x) && x != 0;
    case TK_JSON_STRING: return j->nodes[v].end > j->nodes[v].start;
    case TK_JSON_ARRAY:
    case TK_JSON_OBJECT: return tk_json_child(j, v) >= 0;
    default: return 0;
    }
}

/* The family from model_type (what transformers' Auto classes go by) and
 * architectures, which must agree with it. */
static int llorch_cfg_family(const tk_json *j, const llorch_family **out, const char *path, llorch_error *err) {
    const llorch_family *f = NULL;
    char q[64];
    int mt = llorch_cfg_get(j, 0, "model_type"), ar = llorch_cfg_get(j, 0, "architectures");
    if (mt >= 0) {
        for (int i = 0; i < LLORCH_N_FAMILIES && !f; i++)
            if (tk_json_streq(j, mt, llorch_families[i].model_type)) f = &llorch_families[i];
        if (!f)
            return llorch_fail(err, LLORCH_E_UNSUPPORTED,
                               "%s: \"model_type\" %s is not one llorch runs (llama, qwen2, qwen3, mistral)", path,
                               llorch_cfg_quote(j, mt, q, sizeof q));
    }
    if (ar >= 0 && j->nodes[ar].type != TK_JSON_ARRAY)
        return llorch_fail(err, LLORCH_E_FORMAT, "%s: \"architectures\" must be a list", path);
    for (int c = ar >= 0 ? tk_json_child(j, ar) : -1; c >= 0; c = tk_json_next(j, c)) {
        const llorch_family *g = NULL;
        for (int i = 0; i < LLORCH_N_FAMILIES && !g; i++)
            if (tk_json_streq(j, c, llorch_families[i].arch)) g = &llorch_families[i];
        if (!g)
            return llorch_fail(err, LLORCH_E_UNSUPPORTED, "%s: \"architectures\" names %s, which llorch does not run",
                               path, llorch_cfg_quote(j, c, q, sizeof q));
        if (f && g != f)
            return llorch_fail(err, LLORCH_E_FORMAT, "%s: \"architectures\" names %s but \"model_type\" is \"%s\"", path,
                               g->arch, f->model_type);
        f = g;
    }
    if (!f) return llorch_fail(err, LLORCH_E_FORMAT, "%s: missing \"model_type\"", path);
    *out = f;
    return 0;
}

/* Refuse what llorch would run wrongly: activations, biases, quantization
 * and tensor parallel slicing the families it runs do not have. (Qwen2's q/k/v biases
 * are fixed by its class, which reads no attention_bias.) */
static int llorch_cfg_supported(const tk_json *j, const llorch_family *f, const char *path, llorch_error *err) {
    int v = llorch_cfg_get(j, 0, "hidden_act");
    char q[64];
    if (v >= 0 && !tk_json_streq(j, v, "silu"))
        return llorch_fail(err, LLORCH_E_UNSUPPORTED, "%s: \"hidden_act\" %s is not implemented (silu)", path,
                           llorch_cfg_quote(j, v, q, sizeof q));
    static const char *biases[] = {"attention_bias", "mlp_bias"};
    for (int i = f->qkv_bias ? 1 : 0; i < 2; i++)
        if (llorch_cfg_truthy(j, tk_json_get(j, 0, biases[i])))
            return llorch_fail(err, LLORCH_E_UNSUPPORTED,
                               "%s: \"%s\" is set; biases other than Qwen2's q/k/v are not implemented", path, biases[i]);
    if (llorch_cfg_get(j, 0, "quantization_config") >= 0)
        return llorch_fail(err, LLORCH_E_UNSUPPORTED, "%s: \"quantization_config\": quantized checkpoints are not implemented",
                           path);
    v = llorch_cfg_get(j, 0, "pretraining_tp");
    long long tp;
    if (v >= 0 && (tk_json_int(j, v, &tp) || tp != 1))
        return llorch_fail(err, LLORCH_E_UNSUPPORTED, "%s: \"pretraining_tp\" other than 1", path);
    return 0;
}

/* ---- RoPE ----------------------------------------------------------------
 * transformers 4.x writes rope_theta at the top and the scaling in
 * rope_scaling ({"rope_type" or "type", "factor", ...}); 5.x writes one
 * rope_parameters holding rope_theta, rope_type and the scaling fields.
 * Either form (or both, when they agree) gives the same llorch_rope; a field
 * stated in one form is never defaulted from the other. */

static const struct { const char *name; llorch_rope_type type; } llorch_rope_types[] = {
    {"default", LLORCH_ROPE_DEFAULT}, {"linear", LLORCH_ROPE_LINEAR}, {"llama3", LLORCH_ROPE_LLAMA3}};

/* The scaling one dictionary asks for (its rope_theta aside). */
static int llorch_cfg_rope_dict(const tk_json *j, int obj, const char *name, int type_required, llorch_rope *r,
                                const char *path, llorch_error *err) {
    char q[64];
    memset(r, 0, sizeof *r);
    if (j->nodes[obj].type != TK_JSON_OBJECT)
        return llorch_fail(err, LLORCH_E_FORMAT, "%s: \"%s\" must be an object or null", path, name);
    for (int k = tk_json_child(j, obj); k >= 0; k = tk_json_next(j, tk_json_next(j, k))) {
        int v = tk_json_next(j, k);
        if (v >= 0 && j->nodes[v].type == TK_JSON_OBJECT)
            return llorch_fail(err, LLORCH_E_UNSUPPORTED, "%s: \"%s\" per layer type is not implemented", path, name);
    }
    int t = tk_json_get(j, obj, "rope_type");
    if (t < 0) t = tk_json_get(j, obj, "type"); /* the older key */
    if (t < 0 || j->nodes[t].type == TK_JSON_NULL) {
        if (type_required) return llorch_fail(err, LLORCH_E_FORMAT, "%s: \"%s\" has no \"rope_type\"", path, name);
        r->type = LLORCH_ROPE_DEFAULT;
    } else {
        int found = 0;
        for (size_t i = 0; i < sizeof llorch_rope_types / sizeof llorch_rope_types[0] && !found; i++)
            if (tk_json_streq(j, t, llorch_rope_types[i].name)) r->type = llorch_rope_types[i].type, found = 1;
        if (!found)
            return llorch_fail(err, LLORCH_E_UNSUPPORTED,
                               "%s: \"%s\" rope_type %s is not implemented (default, linear, llama3)", path, name,
                               llorch_cfg_quote(j, t, q, sizeof q));
    }
    double factor = 1, low = 0, high = 0;
    int st = 0, omp = 0;
    if (r->type != LLORCH_ROPE_DEFAULT) st = llorch_cfg_number(j, obj, name, "factor", 1e-6, 1e6, -1, &factor, path, err);
    if (!st && r->type == LLORCH_ROPE_LLAMA3)
        (void)((st = llorch_cfg_number(j, obj, name, "low_freq_factor", 1e-6, 1e6, -1, &low, path, err)) ||
               (st = llorch_cfg_number(j, obj, name, "high_freq_factor", 1e-6, 1e6, -1, &high, path, err)) ||
               (st = llorch_cfg_int(j, obj, name, "original_max_position_embeddings", 1, 1 << 30, -1, &omp, path, err)));
    if (st) return st;
    if (r->type == LLORCH_ROPE_LLAMA3 && !(high > low))
        return llorch_fail(err, LLORCH_E_FORMAT, "%s: \"%s.high_freq_factor\" must be above low_freq_factor", path, name);
    r->factor = (float)factor;
    r->low_freq_factor = (float)low;
    r->high_freq_factor = (float)high;
    r->original_max_pos = omp;
    return 0;
}

/* rope_theta and the scaling, from either form. */
static int llorch_cfg_rope(const tk_json *j, const llorch_family *f, llorch_rope *r, const char *path,
                           llorch_error *err) {
    static const char *dicts[2] = {"rope_scaling", "rope_parameters"};
    llorch_rope got[2];
    int d[2] = {-1, -1}, st = 0, n_theta = 0;
    double theta = 0, t;
    memset(r, 0, sizeof *r);
    r->type = LLORCH_ROPE_DEFAULT;
    for (int i = 0; i < 2 && !st; i++)
        if ((d[i] = llorch_cfg_get(j, 0, dicts[i])) >= 0) st = llorch_cfg_rope_dict(j, d[i], dicts[i], i == 0, &got[i], path, err);
    if (st) return st;
    if (d[0] >= 0 && d[1] >= 0 && memcmp(&got[0], &got[1], sizeof got[0]))
        return llorch_fail(err, LLORCH_E_FORMAT, "%s: \"rope_scaling\" and \"rope_parameters\" disagree", path);
    if (d[0] >= 0) *r = got[0];
    else if (d[1] >= 0) *r = got[1];
    /* rope_theta wherever it is stated; every statement must agree */
    const int holders[3] = {0, d[0], d[1]};
    const char *names[3] = {NULL, dicts[0], dicts[1]};
    const char *first = NULL;
    for (int i = 0; i < 3; i++) {
        if (holders[i] < 0 || llorch_cfg_get(j, holders[i], "rope_theta") < 0) continue;
        if ((st = llorch_cfg_number(j, holders[i], names[i], "rope_theta", 1, 1e12, 0, &t, path, err))) return st;
        if (n_theta++ && t != theta)
            return llorch_fail(err, LLORCH_E_FORMAT, "%s: \"%s%srope_theta\" %g and \"%s.rope_theta\" %g disagree", path,
                               first ? first : "", first ? "." : "", theta, names[i], t);
        theta = t;
        first = names[i];
    }
    if (!n_theta && f->rope_theta < 0) return llorch_fail(err, LLORCH_E_FORMAT, "%s: missing \"rope_theta\"", path);
    r->theta = (float)(n_theta ? theta : f->rope_theta);
    /* a rotation of only part of each head: none of these families has it */
    for (int i = 0; i < 3; i++) {
        double p;
        if (holders[i] < 0) continue;
        if ((st = llorch_cfg_number(j, holders[i], names[i], "partial_rotary_factor", 0, 1, 1, &p, path, err))) return st;
        if (p != 1)
            return llorch_fail(err, LLORCH_E_UNSUPPORTED, "%s: \"partial_rotary_factor\" other than 1 is not implemented", path);
    }
    return 0;
}

/* Sliding-window attention: Mistral's sliding_window (null: every key);
 * the Qwen families' use_sliding_window (windows on some layers only) and
 * per-layer attention types are refused. */
static int llorch_cfg_window(const tk_json *j, const llorch_family *f, int *window, const char *path,
                             llorch_error *err) {
    *window = 0;
    if (f->windowed) {
        if (llorch_cfg_get(j, 0, "layer_types") >= 0)
            return llorch_fail(err, LLORCH_E_UNSUPPORTED, "%s: \"layer_types\" is not implemented for %s", path, f->model_type);
        return llorch_cfg_int(j, 0, NULL, "sliding_window", 1, 1 << 30, 0, window, path, err);
    }
    if (llorch_cfg_truthy(j, tk_json_get(j, 0, "use_sliding_window")))
        return llorch_fail(err, LLORCH_E_UNSUPPORTED, "%s: \"use_sliding_window\" is set; %s's sliding-window layers are not implemented",
                           path, f->model_type);
    int lt = llorch_cfg_get(j, 0, "layer_types");
    if (lt >= 0 && j->nodes[lt].type != TK_JSON_ARRAY)
        return llorch_fail(err, LLORCH_E_FORMAT, "%s: \"layer_types\" must be a list", path);
    for (int c = lt >= 0 ? tk_json_child(j, lt) : -1; c >= 0; c = tk_json_next(j, c))
        if (!tk_json_streq(j, c, "full_attention")) {
            char q[64];
            return llorch_fail(err, LLORCH_E_UNSUPPORTED, "%s: \"layer_types\" entry %s is not implemented (full_attention)",
                               path, llorch_cfg_quote(j, c, q, sizeof q));
        }
    return 0;
}

/* bos/eos ids: an integer or a list of integers (more than max refused). */
static int llorch_cfg_ids(const tk_json *j, const char *key, int *ids, int max, int *n, const char *path,
                          llorch_error *err) {
    int v = llorch_cfg_get(j, 0, key);
    *n = 0;
    if (v < 0) return 0;
    int one = j->nodes[v].type == TK_JSON_NUMBER;
    if (!one && j->nodes[v].type != TK_JSON_ARRAY)
        return llorch_fail(err, LLORCH_E_FORMAT, "%s: \"%s\" must be an id or a list of ids", path, key);
    for (int c = one ? v : tk_json_child(j, v); c >= 0; c = one ? -1 : tk_json_next(j, c)) {
        long long x;
        if (tk_json_int(j, c, &x) || x < 0 || x > INT32_MAX)
            return llorch_fail(err, LLORCH_E_FORMAT, "%s: \"%s\" must be an id or a list of ids", path, key);
        if (*n == max)
            return llorch_fail(err, LLORCH_E_UNSUPPORTED, "%s: \"%s\" lists more than %d ids", path, key, max);
        ids[(*n)++] = (int)x;
    }
    return 0;
}

/* Parse config.json's text (path names it in messages). */
static int llorch_parse_config(llorch_config *c, const char *text, size_t len, const char *path, llorch_error *err) {
    tk_json j;
    char msg[256];
    if (tk_json_parse(&j, text, len, msg, sizeof msg)) return llorch_fail(err, LLORCH_E_FORMAT, "%s: %s", path, msg);
    memset(c, 0, sizeof *c);
    const llorch_family *f = NULL;
    int bos[LLORCH_MAX_EOS], n_bos = 0, st = 0;
    double eps = 0;
    const int big = 1 << 20;
    if (j.nodes[0].type != TK_JSON_OBJECT) st = llorch_fail(err, LLORCH_E_FORMAT, "%s: not a JSON object", path);
    else (void)((st = llorch_cfg_family(&j, &f, path, err)) ||
           (st = llorch_cfg_supported(&j, f, path, err)) ||
           (st = llorch_cfg_int(&j, 0, NULL, "hidden_size", 1, big, -1, &c->dim, path, err)) ||
           (st = llorch_cfg_int(&j, 0, NULL, "intermediate_size", 1, big, -1, &c->hidden_dim, path, err)) ||
           (st = llorch_cfg_int(&j, 0, NULL, "num_hidden_layers", 1, 4096, -1, &c->n_layers, path, err)) ||
           (st = llorch_cfg_int(&j, 0, NULL, "num_attention_heads", 1, 4096, -1, &c->n_heads, path, err)) ||
           (st = llorch_cfg_int(&j, 0, NULL, "num_key_value_heads", 1, 4096, f->kv_heads ? f->kv_heads : c->n_heads,
                                &c->n_kv_heads, path, err)) ||
           (st = llorch_cfg_int(&j, 0, NULL, "head_dim", 2, 1024, f->head_dim ? f->head_dim : c->dim / c->n_heads,
                                &c->head_dim, path, err)) ||
           (st = llorch_cfg_int(&j, 0, NULL, "vocab_size", 1, 1 << 24, -1, &c->vocab_size, path, err)) ||
           (st = llorch_cfg_int(&j, 0, NULL, "max_position_embeddings", 1, 1 << 24, 2048, &c->max_seq_len, path, err)) ||
           (st = llorch_cfg_number(&j, 0, NULL, "rms_norm_eps", 0, 1, 1e-6, &eps, path, err)) ||
           (st = llorch_cfg_rope(&j, f, &c->rope, path, err)) ||
           (st = llorch_cfg_window(&j, f, &c->sliding_window, path, err)) ||
           (st = llorch_cfg_ids(&j, "bos_token_id", bos, LLORCH_MAX_EOS, &n_bos, path, err)) ||
           (st = llorch_cfg_ids(&j, "eos_token_id", c->eos_ids, LLORCH_MAX_EOS, &c->n_eos, path, err)));
    if (!st) {
        snprintf(c->arch, sizeof c->arch, "%s", f->arch);
        c->qkv_bias = f->qkv_bias;
        c->qk_norm = f->qk_norm;
        c->norm_eps = (float)eps;
        c->tied_embeddings = llorch_cfg_truthy(&j, tk_json_get(&j, 0, "tie_word_embeddings"));
        c->bos_id = n_bos ? bos[0] : -1;
        if (c->n_heads % c->n_kv_heads)
            st = llorch_fail(err, LLORCH_E_FORMAT, "%s: num_attention_heads %d is not a multiple of num_key_value_heads %d",
                             path, c->n_heads, c->n_kv_heads);
        else if (c->head_dim % 2)
            st = llorch_fail(err, LLORCH_E_FORMAT, "%s: head_dim %d must be even for RoPE", path, c->head_dim);
        else if ((int64_t)c->n_heads * c->head_dim > big)
            st = llorch_fail(err, LLORCH_E_FORMAT, "%s: num_attention_heads x head_dim is too large", path);
    }
    tk_json_free(&j);
    return st;
}

/* generation_config.json, when the directory has one: transformers'
 * generate stops at its eos_token_id (Llama 3 Instruct's <|eot_id|>, Qwen's
 * <|im_end|>), so where it states one, it replaces config.json's. */
static int llorch_read_generation_config(llorch_config *c, const char *dir, llorch_error *err) {
    char *path = llorch_path(dir, "generation_config.json"), *text = NULL;
    int ids[LLORCH_MAX_EOS], n = 0, st;
    tk_json j;
    struct stat sb;
    if (!path) return llorch_fail(err, LLORCH_E_NOMEM, "out of memory");
    if (lstat(path, &sb) && errno == ENOENT) {
        free(path);
        return 0;
    }
    if (!(st = llorch_read_json(path, &text, &j, err))) {
        st = llorch_cfg_ids(&j, "eos_token_id", ids, LLORCH_MAX_EOS, &n, path, err);
        tk_json_free(&j);
    }
    if (!st && n > 0) {
        memcpy(c->eos_ids, ids, (size_t)n * sizeof *ids);
        c->n_eos = n;
    }
    free(text);
    free(path);
    return st;
}

static int llorch_read_config(llorch_config *c, const char *dir, llorch_error *err) {
    char *path = llorch_path(dir, "config.json"), *text = NULL;
    size_t len;
    if (!path) return llorch_fail(err, LLORCH_E_NOMEM, "out of memory");
    int st = llorch_read_file(path, &text, &len, (size_t)64 << 20, err);
    if (!st) st = llorch_parse_config(c, text, len, path, err);
    if (!st) st = llorch_read_generation_config(c, dir, err);
    free(text);
    free(path);
    return st;
}

/* ------------------------------------------------------------------------ */
/* Model: bind the tensors the config needs, checking their shapes           */
/* ------------------------------------------------------------------------ */

/* "[a, b]", "[a]", "[]": a shape as safetensors writes it (of which
 * tensors keep two sizes: "[a, b, ...]" beyond). */
static const char *llorch_shape_str(char *buf, size_t cap, int ndim, const int64_t *shape) {
    if (ndim == 0) snprintf(buf, cap, "[]");
    else if (ndim == 1) snprintf(buf, cap, "[%lld]", (long long)shape[0]);
    else snprintf(buf, cap, "[%lld, %lld%s]", (long long)shape[0], (long long)shape[1], ndim > 2 ? ", ..." : "");
    return buf;
}

/* Bind tensor `name`, which must have exactly ndim (1 or 2) dimensions of
 * the sizes shape[]; a vector binds as one row. */
static int llorch_bind(llorch_tensor *out, const llorch_st_table *tab, const char *name, int ndim, int64_t d0,
                       int64_t d1, const char *dir, llorch_error *err) {
    const llorch_st_tensor *t = llorch_st_find(tab, name);
    const int64_t want[2] = {d0, d1};
    char has[64], implied[64];
    if (!t) return llorch_fail(err, LLORCH_E_FORMAT, "%s: tensor '%s' is missing from the weights", dir, name);
    int same = t->ndim == ndim;
    for (int i = 0; i < ndim && same; i++) same = t->shape[i] == want[i];
    if (!same)
        return llorch_fail(err, LLORCH_E_FORMAT, "%s: tensor '%s' has shape %s but config.json implies %s", dir, name,
                           llorch_shape_str(has, sizeof has, t->ndim, t->shape),
                           llorch_shape_str(implied, sizeof implied, ndim, want));
    if (t->dtype == LLORCH_DTYPE_OTHER)
        return llorch_fail(err, LLORCH_E_UNSUPPORTED, "%s: tensor '%s' has dtype %s; llorch runs F32, F16 and BF16",
                           dir, name, t->dtype_name);
    out->data = t->data;
    out->dtype = t->dtype;
    out->rows = ndim == 2 ? d0 : 1;
    out->cols = ndim == 2 ? d1 : d0;
    return 0;
}

/* Tied embeddings: transformers computes the logits with the embedding
 * matrix. A file that also holds a different lm_head.weight contradicts
 * its config.json. */
static int llorch_bind_tied_head(llorch_model *m, const llorch_st_table *tab, llorch_error *err) {
    llorch_weights *w = &m->w;
    const llorch_st_tensor *t = llorch_st_find(tab, "lm_head.weight");
    w->lm_head = w->embed;
    if (!t) return 0;
    llorch_tensor head;
    int st = llorch_bind(&head, tab, "lm_head.weight", 2, m->cfg.vocab_size, m->cfg.dim, m->dir, err);
    if (st) return st;
    if (head.dtype != w->embed.dtype ||
        memcmp(head.data, w->embed.data, (size_t)head.rows * (size_t)head.cols * llorch_dtype_size(head.dtype)))
        return llorch_fail(err, LLORCH_E_FORMAT,
                           "%s: config.json sets tie_word_embeddings but the weights hold an lm_head.weight that differs "
                           "from model.embed_tokens.weight", m->dir);
    return 0;
}

static int llorch_bind_weights(llorch_model *m, const llorch_st_table *tab, llorch_error *err) {
    const llorch_config *c = &m->cfg;
    llorch_weights *w = &m->w;
    int64_t q = (int64_t)c->n_heads * c->head_dim, kv = (int64_t)c->n_kv_heads * c->head_dim;
    int st;
    w->layers = (llorch_layer *)calloc((size_t)c->n_layers, sizeof *w->layers);
    if (!w->layers) return llorch_fail(err, LLORCH_E_NOMEM, "out of memory");
    if ((st = llorch_bind(&w->embed, tab, "model.embed_tokens.weight", 2, c->vocab_size, c->dim, m->dir, err)) ||
        (st = llorch_bind(&w->norm, tab, "model.norm.weight", 1, c->dim, 0, m->dir, err)))
        return st;
    if (c->tied_embeddings) st = llorch_bind_tied_head(m, tab, err);
    else st = llorch_bind(&w->lm_head, tab, "lm_head.weight", 2, c->vocab_size, c->dim, m->dir, err);
    if (st) return st;
    for (int i = 0; i < c->n_layers; i++) {
        llorch_layer *l = &w->layers[i];
        /* every tensor of a layer; the optional ones exactly when their flag is set */
        struct { llorch_tensor *t; const char *name; int wanted, ndim; int64_t d0, d1; } need[] = {
            {&l->attn_norm, "input_layernorm.weight", 1, 1, c->dim, 0},
            {&l->wq, "self_attn.q_proj.weight", 1, 2, q, c->dim},
            {&l->wk, "self_attn.k_proj.weight", 1, 2, kv, c->dim},
            {&l->wv, "self_attn.v_proj.weight", 1, 2, kv, c->dim},
            {&l->bq, "self_attn.q_proj.bias", c->qkv_bias, 1, q, 0},
            {&l->bk, "self_attn.k_proj.bias", c->qkv_bias, 1, kv, 0},
            {&l->bv, "self_attn.v_proj.bias", c->qkv_bias, 1, kv, 0},
            {&l->q_norm, "self_attn.q_norm.weight", c->qk_norm, 1, c->head_dim, 0},
            {&l->k_norm, "self_attn.k_norm.weight", c->qk_norm, 1, c->head_dim, 0},
            {&l->wo, "self_attn.o_proj.weight", 1, 2, c->dim, q},
            {&l->ffn_norm, "post_attention_layernorm.weight", 1, 1, c->dim, 0},
            {&l->w_gate, "mlp.gate_proj.weight", 1, 2, c->hidden_dim, c->dim},
            {&l->w_up, "mlp.up_proj.weight", 1, 2, c->hidden_dim, c->dim},
            {&l->w_down, "mlp.down_proj.weight", 1, 2, c->dim, c->hidden_dim},
        };
        for (size_t k = 0; k < sizeof need / sizeof need[0]; k++) {
            char name[128];
            if (!need[k].wanted) continue;
            snprintf(name, sizeof name, "model.layers.%d.%s", i, need[k].name);
            if ((st = llorch_bind(need[k].t, tab, name, need[k].ndim, need[k].d0, need[k].d1, m->dir, err))) return st;
        }
    }
    m->cfg.dtype = w->layers[0].wq.dtype;
    return 0;
}

static void llorch_use_cpu(llorch_model *m) {
    m->backend = &llorch_cpu_backend;
    snprintf(m->device_name, sizeof m->device_name, "cpu");
}

/* "cpu", "cuda", "cuda:N", "auto" -> a backend and a device index. */
static int llorch_pick_backend(llorch_model *m, const char *dev, llorch_error *err) {
    if (!dev || !strcmp(dev, "cpu")) {
        llorch_use_cpu(m);
        return 0;
    }
    if (!strcmp(dev, "auto")) {
#ifdef LLORCH_CUDA
        dev = "cuda"; /* llorch_load falls back to the CPU when there is no device */
#else
        llorch_use_cpu(m);
        return 0;
#endif
    }
    if (strncmp(dev, "cuda", 4) || (dev[4] && dev[4] != ':'))
        return llorch_fail(err, LLORCH_E_ARG, "device '%s': expected auto, cpu, cuda or cuda:N", dev);
    int idx = 0;
    if (dev[4] == ':') {
        char *end;
        long v = strtol(dev + 5, &end, 10);
        if (end == dev + 5 || *end || v < 0 || v > 1024)
            return llorch_fail(err, LLORCH_E_ARG, "device '%s': expected auto, cpu, cuda or cuda:N", dev);
        idx = (int)v;
    }
#ifdef LLORCH_CUDA
    m->backend = &llorch_cuda_backend;
    m->device_index = idx;
    snprintf(m->device_name, sizeof m->device_name, "cuda:%d", idx);
    return 0;
#else
    (void)idx;
    return llorch_fail(err, LLORCH_E_DEVICE, "device '%s': this build has no CUDA backend (build with make CUDA=1)", dev);
#endif
}

int llorch_load(llorch_model **out, const char *dir, const llorch_load_opts *opts, llorch_error *err) {
    *out = NULL;
    llorch_ok(err);
    if (!dir) return llorch_fail(err, LLORCH_E_ARG, "no model directory given");
    struct stat sb;
    if (stat(dir, &sb)) return llorch_fail(err, LLORCH_E_IO, "%s: %s", dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode)) return llorch_fail(err, LLORCH_E_IO, "%s: not a directory", dir);
    llorch_model *m = (llorch_model *)calloc(1, sizeof *m);
    if (!m || !(m->dir = strdup(dir))) {
        free(m);
        return llorch_fail(err, LLORCH_E_NOMEM, "out of memory");
    }
    llorch_st_table tab;
    memset(&tab, 0, sizeof tab);
    int st;
    char *tokpath = NULL;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores < 1) cores = 1;
    m->threads = opts && opts->threads > 0 ? opts->threads : (int)(cores < 4096 ? cores : 4096);
    if (m->threads > LLORCH_MAX_THREADS_PER_CORE * cores) m->threads = (int)(LLORCH_MAX_THREADS_PER_CORE * cores);
    if ((st = llorch_pick_backend(m, opts ? opts->device : NULL, err))) goto fail;
    if ((st = llorch_read_config(&m->cfg, dir, err))) goto fail;
    if (!(m->rope_inv_freq = (float *)malloc((size_t)m->cfg.head_dim / 2 * sizeof(float)))) {
        st = llorch_fail(err, LLORCH_E_NOMEM, "out of memory");
        goto fail;
    }
    llorch_rope_inv_freq(&m->cfg, m->rope_inv_freq);
    if (!(tokpath = llorch_path(dir, "tokenizer.json"))) { st = llorch_fail(err, LLORCH_E_NOMEM, "out of memory"); goto fail; }
    {
        char msg[sizeof err->msg];
        if (tk_load_file(&m->tok, tokpath, msg, sizeof msg)) {
            st = llorch_fail(err, access(tokpath, F_OK) ? LLORCH_E_IO : LLORCH_E_FORMAT, "%s", msg);
            goto fail;
        }
    }
    if (tk_vocab_size(m->tok) > m->cfg.vocab_size) {
        st = llorch_fail(err, LLORCH_E_FORMAT, "%s: %d tokens, more than config.json's vocab_size %d", tokpath,
                         tk_vocab_size(m->tok), m->cfg.vocab_size);
        goto fail;
    }
    if (m->cfg.n_eos == 0 && tk_eos_id(m->tok) >= 0) m->cfg.eos_ids[m->cfg.n_eos++] = tk_eos_id(m->tok);
    if ((st = llorch_map_weights(m, &tab, err))) goto fail;
    if ((st = llorch_bind_weights(m, &tab, err))) goto fail;
    st = m->backend->model_init(m, err);
    /* auto: the CPU when there is no usable GPU, or the GPU cannot hold or run this model */
    if ((st == LLORCH_E_DEVICE || st == LLORCH_E_UNSUPPORTED || st == LLORCH_E_NOMEM) && opts && opts->device &&
        !strcmp(opts->device, "auto")) {
        llorch_use_cpu(m);
        st = m->backend->model_init(m, err);
    }
    if (st) {
        m->backend = NULL; /* nothing for model_free to release */
        goto fail;
    }
    llorch_st_table_free(&tab);
    free(tokpath);
    *out = m;
    return 0;
fail:
    llorch_st_table_free(&tab);
    free(tokpath);
    llorch_free(m);
    return st;
}

void llorch_free(llorch_model *m) {
    if (!m) return;
    if (m->backend) m->backend->model_free(m);
    for (int i = 0; i < m->n_maps; i++) munmap(m->maps[i].base, m->maps[i].size);
    free(m->maps);
    free(m->w.layers);
    free(m->rope_inv_freq);
    tk_free(m->tok);
    free(m->dir);
    free(m);
}

const llorch_config *llorch_model_config(const llorch_model *m) { return &m->cfg; }
const tk_tokenizer *llorch_model_tokenizer(const llorch_model *m) { return m->tok; }
const char *llorch_model_device(const llorch_model *m) { return m->device_name; }
size_t llorch_model_device_bytes(const llorch_model *m) { return m->device_bytes; }

/* ------------------------------------------------------------------------ */
/* Sessions                                                                  */
/* ------------------------------------------------------------------------ */

int llorch_session_new(llorch_session **out, llorch_model *m, const llorch_session_opts *o, llorch_error *err) {
    *out = NULL;
    llorch_ok(err);
    int ctx = o && o->ctx > 0 ? o->ctx : m->cfg.max_seq_len;
    int n_seq = o && o->n_seq > 0 ? o->n_seq : 1;
    if (ctx > m->cfg.max_seq_len)
        return llorch_fail(err, LLORCH_E_ARG, "context %d is longer than the model's max_position_embeddings %d", ctx,
                           m->cfg.max_seq_len);
    if (n_seq > 4096) return llorch_fail(err, LLORCH_E_ARG, "%d sequences is more than the 4096 allowed", n_seq);
    uint64_t history = (uint64_t)n_seq * (uint64_t)ctx * sizeof(int), avail = llorch_host_available();
    if (avail && history > avail) /* refused before anything is allocated; the backend checks its own part */
        return llorch_fail(err, LLORCH_E_NOMEM,
                           "a session of %d x %d tokens needs %.1f MiB for its token history but only %.1f MiB of "
                           "memory are available", n_seq, ctx, history / 1048576.0, avail / 1048576.0);
    llorch_session *s = (llorch_session *)calloc(1, sizeof *s);
    if (!s) return llorch_fail(err, LLORCH_E_NOMEM, "out of memory");
    s->m = m;
    s->ctx = ctx;
    s->n_seq = n_seq;
    s->pos = (int *)calloc((size_t)n_seq, sizeof *s->pos);
    s->tokens = (int *)calloc((size_t)n_seq * (size_t)ctx, sizeof *s->tokens);
    if (!s->pos || !s->tokens) {
        llorch_session_free(s);
        return llorch_fail(err, LLORCH_E_NOMEM, "out of memory for a session of %d x %d tokens", n_seq, ctx);
    }
    int st = m->backend->session_init(s, err);
    if (st) {
        s->backend_data = NULL; /* session_init released what it took */
        llorch_session_free(s);
        return st;
    }
    *out = s;
    return 0;
}

void llorch_session_free(llorch_session *s) {
    if (!s) return;
    if (s->backend_data) s->m->backend->session_free(s);
    free(s->pos);
    free(s->tokens);
    free(s);
}

int llorch_session_pos(const llorch_session *s, int seq) { return seq >= 0 && seq < s->n_seq ? s->pos[seq] : -1; }
int llorch_session_ctx(const llorch_session *s) { return s->ctx; }
size_t llorch_session_bytes(const llorch_session *s) { return s->bytes; }
void llorch_session_reset(llorch_session *s) { memset(s->pos, 0, (size_t)s->n_seq * sizeof *s->pos); }
/* The cache is indexed by position: what lies past n is overwritten by the next tokens. */
void llorch_session_truncate(llorch_session *s, int seq, int n) {
    if (seq >= 0 && seq < s->n_seq && n >= 0 && n < s->pos[seq]) s->pos[seq] = n;
}

static int llorch_check_ids(const llorch_model *m, const int *ids, int n, llorch_error *err) {
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= m->cfg.vocab_size)
            return llorch_fail(err, LLORCH_E_ARG, "token id %d is outside the vocabulary of %d", ids[i], m->cfg.vocab_size);
    return 0;
}

int llorch_forward(llorch_session *s, int seq, const int *ids, int n, float *logits, llorch_error *err) {
    llorch_ok(err);
    if (seq < 0 || seq >= s->n_seq) return llorch_fail(err, LLORCH_E_ARG, "sequence %d of %d", seq, s->n_seq);
    if (n < 1) return llorch_fail(err, LLORCH_E_ARG, "no tokens to run");
    int st = llorch_check_ids(s->m, ids, n, err);
    if (st) return st;
    if (n > s->ctx - s->pos[seq])
        return llorch_fail(err, LLORCH_E_CONTEXT, "%d tokens at position %d do not fit the context of %d", n,
                           s->pos[seq], s->ctx);
    memcpy(s->tokens + (size_t)seq * s->ctx + s->pos[seq], ids, (size_t)n * sizeof *ids);
    if ((st = s->m->backend->prefill(s, seq, ids, n, logits, err))) return st;
    s->pos[seq] += n;
    return 0;
}

int llorch_forward_many(llorch_session *s, int k, const int *seq, const int *const *ids, const int *n,
                        llorch_error *err) {
    const llorch_backend *b = s->m->backend;
    int st;
    llorch_ok(err);
    if (k < 1) return llorch_fail(err, LLORCH_E_ARG, "no sequences to run");
    for (int i = 0; i < k; i++) {
        if (seq[i] < 0 || seq[i] >= s->n_seq) return llorch_fail(err, LLORCH_E_ARG, "sequence %d of %d", seq[i], s->n_seq);
        for (int j = 0; j < i; j++)
            if (seq[j] == seq[i]) return llorch_fail(err, LLORCH_E_ARG, "sequence %d given twice", seq[i]);
        if (n[i] < 1) return llorch_fail(err, LLORCH_E_ARG, "sequence %d: no tokens to run", seq[i]);
        if ((st = llorch_check_ids(s->m, ids[i], n[i], err))) return st;
        if (n[i] > s->ctx - s->pos[seq[i]])
            return llorch_fail(err, LLORCH_E_CONTEXT, "sequence %d: %d tokens at position %d do not fit the context of %d",
                               seq[i], n[i], s->pos[seq[i]], s->ctx);
    }
    if (k == 1 || !b->prefill_many) {
        for (int i = 0; i < k; i++)
            if ((st = llorch_forward(s, seq[i], ids[i], n[i], NULL, err))) return st;
        return 0;
    }
    for (int i = 0; i < k; i++)
        memcpy(s->tokens + (size_t)seq[i] * s->ctx + s->pos[seq[i]], ids[i], (size_t)n[i] * sizeof **ids);
    if ((st = b->prefill_many(s, k, seq, ids, n, err))) return st;
    for (int i = 0; i < k; i++) s->pos[seq[i]] += n[i];
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Tokens and text                                                           */
/* ------------------------------------------------------------------------ */

int llorch_tokenize(const llorch_model *m, const char *text, size_t len, int add_bos, int **ids, int *n,
                    llorch_error *err) {
    char msg[sizeof err->msg];
    llorch_ok(err);
    if (tk_encode(m->tok, text, len, add_bos, ids, n, msg, sizeof msg)) return llorch_fail(err, LLORCH_E_ARG, "%s", msg);
    return 0;
}

int llorch_detokenize(const llorch_model *m, const int *ids, int n, char **text, llorch_error *err) {
    char msg[sizeof err->msg];
    size_t len;
    llorch_ok(err);
    *text = NULL;
    /* ids past the tokenizer's (padding rows of a larger embedding) have no text */
    int *known = (int *)malloc((size_t)(n > 0 ? n : 1) * sizeof *known), k = 0;
    if (!known) return llorch_fail(err, LLORCH_E_NOMEM, "out of memory");
    for (int i = 0; i < n; i++)
        if (ids[i] >= 0 && ids[i] < tk_vocab_size(m->tok)) known[k++] = ids[i];
    int st = tk_decode(m->tok, known, k, 1, text, &len, msg, sizeof msg) ? llorch_fail(err, LLORCH_E_ARG, "%s", msg) : 0;
    free(known);
    return st;
}

int llorch_chat_render(const char *dir, const llorch_message *msgs, int n, int add_generation_prompt, char **out,
                       llorch_error *err) {
    char *cfg_path = llorch_path(dir, "tokenizer_config.json"), *tpl_path = llorch_path(dir, "chat_template.jinja");
    char *cfg = NULL, *tpl = NULL, msg[sizeof err->msg];
    size_t len, tlen = 0;
    int st = 0;
    *out = NULL;
    llorch_ok(err);
    if (!cfg_path || !tpl_path) st = llorch_fail(err, LLORCH_E_NOMEM, "out of memory");
    if (!st && !access(tpl_path, F_OK) && !(st = llorch_read_file(tpl_path, &tpl, &len, (size_t)16 << 20, err)))
        tlen = len;
    if (!st && tpl && strlen(tpl) != tlen) st = llorch_fail(err, LLORCH_E_FORMAT, "%s: contains a NUL byte", tpl_path);
    if (!st) st = llorch_read_file(cfg_path, &cfg, &len, (size_t)64 << 20, err);
    if (!st && tk_chat_render(cfg, len, tpl ? tpl_path : cfg_path, tpl, msgs, n, add_generation_prompt, out, msg, sizeof msg))
        st = llorch_fail(err, LLORCH_E_FORMAT, "%s", msg);
    free(cfg);
    free(tpl);
    free(cfg_path);
    free(tpl_path);
    return st;
}

int llorch_chat_prompt(const char *dir, const char *system, const char *user, char **out, llorch_error *err) {
    llorch_message m[2] = {{"system", system}, {"user", user}};
    return system ? llorch_chat_render(dir, m, 2, 1, out, err) : llorch_chat_render(dir, m + 1, 1, 1, out, err);
}

/* ------------------------------------------------------------------------ */
/* Sampling                                                                  */
/* ------------------------------------------------------------------------ */
/* The reference every backend matches: repetition penalty; then greedy, or
 * softmax(logits / T) cut to the top-k tokens and to the top-p nucleus, and
 * a draw u over the kept tokens in id order. Defined for every value: top_p
 * 0 keeps only the top token (greedy), as transformers does; the largest
 * logits weigh exactly 1, so a temperature so small that 1/T overflows
 * draws among them instead of producing NaN. */

llorch_sampler_opts llorch_sampler_defaults(void) {
    llorch_sampler_opts o = {0.0f, 0, 1.0f, 1.0f, 0};
    return o;
}

float llorch_rand(uint64_t *state) { /* xorshift64*, 24 random bits */
    uint64_t x = *state ? *state : 0x9E3779B97F4A7C15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return (float)((x * 0x2545F4914F6CDD1Dull) >> 40) / 16777216.0f;
}

static void llorch_repetition_penalty(float *logits, int vocab, float r, const int *history, int n) {
    unsigned char *seen = (unsigned char *)calloc((size_t)vocab / 8 + 1, 1);
    for (int i = 0; i < n; i++) {
        int t = history[i];
        if (t < 0 || t >= vocab) continue;
        if (seen) { /* each distinct token once, as Hugging Face does */
            if (seen[t >> 3] & (1 << (t & 7))) continue;
            seen[t >> 3] |= (unsigned char)(1 << (t & 7));
        }
        logits[t] = logits[t] > 0 ? logits[t] / r : logits[t] * r;
    }
    free(seen);
}

static int llorch_argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* Three-way partition of v[0..n) around pivot: the values above it first,
 * then those equal to it; *n_above and *n_equal count them. */
static void llorch_partition3(float *v, int n, float pivot, int *n_above, int *n_equal) {
    int a = 0, e = 0; /* v[0..a) above, v[a..a+e) equal, v[i..n) not yet seen */
    for (int i = 0; i < n; i++) {
        float x = v[i];
        if (x > pivot) {
            v[i] = v[a + e];
            v[a + e] = v[a];
            v[a++] = x;
        } else if (x == pivot) {
            v[i] = v[a + e];
            v[a + e++] = x;
        }
    }
    *n_above = a;
    *n_equal = e;
}

static float llorch_pivot(const float *v, int n) { /* the median of three */
    float x = v[0], y = v[n / 2], z = v[n - 1];
    return x < y ? (y < z ? y : x < z ? z : x) : (x < z ? x : y < z ? z : y);
}

/* The k-th largest of v[0..n) (1 <= k <= n), in expected linear time; v is reordered. */
static float llorch_kth_largest(float *v, int n, int k) {
    for (;;) {
        int above, equal;
        float pivot = llorch_pivot(v, n);
        llorch_partition3(v, n, pivot, &above, &equal);
        if (k <= above) {
            n = above;
        } else if (k <= above + equal) {
            return pivot;
        } else {
            k -= above + equal;
            v += above + equal;
            n -= above + equal;
        }
    }
}

/* The top-p cut of the values v[0..n) (all > 0): the value at which their
 * sum, largest first, reaches target, so that every value >= it is kept;
 * 0 (keep all) when the sum never does. Expected linear time; v is reordered. */
static float llorch_nucleus_cut(float *v, int n, double target) {
    while (n > 0) {
        int above, equal;
        float pivot = llorch_pivot(v, n);
        llorch_partition3(v, n, pivot, &above, &equal);
        double sum_above = 0;
        for (int i = 0; i < above; i++) sum_above += v[i];
        if (sum_above >= target && above > 0) {
            n = above;
        } else if (sum_above + (double)pivot * equal >= target) {
            return pivot;
        } else {
            target -= sum_above + (double)pivot * equal;
            v += above + equal;
            n -= above + equal;
        }
    }
    return 0;
}

int llorch_sample_logits(float *logits, int vocab, const llorch_sample_params *p, const int *history, int n_history) {
    if (p->repetition_penalty > 0 && p->repetition_penalty != 1.0f)
        llorch_repetition_penalty(logits, vocab, p->repetition_penalty, history, n_history);
    int best = llorch_argmax(logits, vocab);
    if (!(p->temperature > 0) || p->top_p == 0) return best;
    /* unnormalized probabilities */
    float mx = logits[best], inv_t = 1.0f / p->temperature;
    double total = 0;
    for (int i = 0; i < vocab; i++) total += logits[i] = logits[i] == mx ? 1.0f : expf((logits[i] - mx) * inv_t);
    /* keep tokens with probability >= tau: the k-th largest (ties at it stay),
       then the value at which the kept ones, largest first, reach top_p of
       their sum; found by selection, not by sorting the vocabulary */
    float tau = 0;
    int need_k = p->top_k > 0 && p->top_k < vocab, need_p = p->top_p > 0 && p->top_p < 1;
    if (need_k || need_p) {
        float *kept = (float *)malloc((size_t)vocab * sizeof *kept);
        if (!kept) return best; /* out of memory: fall back to greedy */
        memcpy(kept, logits, (size_t)vocab * sizeof *kept);
        int n = vocab;
        if (need_k) {
            tau = llorch_kth_largest(kept, vocab, p->top_k);
            n = 0;
            for (int i = 0; i < vocab; i++)
                if (logits[i] >= tau) kept[n++] = logits[i];
        }
        total = 0;
        for (int i = 0; i < n; i++) total += kept[i];
        if (need_p) {
            float cut = llorch_nucleus_cut(kept, n, p->top_p * total);
            if (cut > tau) tau = cut;
            total = 0;
            for (int i = 0; i < vocab; i++)
                if (logits[i] >= tau) total += logits[i];
        }
        free(kept);
    }
    double r = p->u * total, acc = 0;
    int last = best;
    for (int i = 0; i < vocab; i++) {
        if (logits[i] < tau) continue;
        acc += logits[i];
        last = i;
        if (acc > r) return i;
    }
    return last;
}

static llorch_sample_params llorch_params(const llorch_sampler_opts *o, float u, float u_next) {
    llorch_sample_params p;
    p.temperature = o->temperature;
    p.top_k = o->top_k;
    p.top_p = o->top_p;
    p.repetition_penalty = o->repetition_penalty;
    p.u = u;
    p.u_next = u_next;
    return p;
}

int llorch_sample(const llorch_sampler_opts *o, float *logits, int vocab, const int *history, int n_history, float u) {
    llorch_sample_params p = llorch_params(o, u, -1);
    return llorch_sample_logits(logits, vocab, &p, history, n_history);
}

/* ------------------------------------------------------------------------ */
/* Generation                                                                */
/* ------------------------------------------------------------------------ */

static int llorch_is_eos(const llorch_config *c, int t) {
    for (int i = 0; i < c->n_eos; i++)
        if (c->eos_ids[i] == t) return 1;
    return 0;
}

/* Per-sequence state of a generation loop: llorch_generate_batch's and the
 * engine's, which share the functions below so that a sequence gets the same
 * tokens from both. */
typedef struct {
    llorch_sampler_opts o;
    int max_new;  /* tokens to generate at most */
    int cur;      /* the token to feed next */
    int active;   /* takes part in the next decode step */
    int produced;
    uint64_t rng;
    float u;      /* the draw for the next step */
    tk_stream text;
} llorch_gen_seq;

/* Start a sequence whose prompt is in the cache but for its last token,
 * last: the first decode step feeds it and samples the first new token. */
static void llorch_gen_begin(llorch_gen_seq *g, const llorch_model *m, const llorch_sampler_opts *o, int max_new,
                             int last) {
    memset(g, 0, sizeof *g);
    g->o = *o;
    g->max_new = max_new;
    g->cur = last;
    g->active = max_new > 0;
    g->rng = o->seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
    g->u = llorch_rand(&g->rng);
    tk_stream_init(&g->text, m->tok, 0, 1);
}

/* One decode step for the n_seq sequences of s (g[i] is sequence i): every
 * active one feeds its current token and samples the next into cur, in one
 * pass over the weights. ids, sp and next are n_seq entries of scratch.
 * *ran (optional) says whether any sequence was active. */
static int llorch_gen_step(llorch_session *s, llorch_gen_seq *g, int *ids, llorch_sample_params *sp, int *next,
                           int *ran, llorch_error *err) {
    int any = 0, st;
    for (int i = 0; i < s->n_seq; i++) {
        ids[i] = g[i].active ? g[i].cur : -1;
        if (!g[i].active) continue;
        any = 1;
        s->tokens[(size_t)i * s->ctx + s->pos[i]] = g[i].cur;
        /* one draw ahead, so the backend knows the next step's u */
        float u = g[i].u;
        g[i].u = llorch_rand(&g[i].rng);
        int more = g[i].produced + 1 < g[i].max_new && s->pos[i] + 1 < s->ctx;
        sp[i] = llorch_params(&g[i].o, u, more ? g[i].u : -1.0f);
    }
    if (ran) *ran = any;
    if (!any) return 0;
    if ((st = s->m->backend->decode(s, ids, sp, next, NULL, err))) return st;
    for (int i = 0; i < s->n_seq; i++) {
        if (!g[i].active) continue;
        s->pos[i]++;
        g[i].cur = next[i];
        g[i].produced++;
    }
    return 0;
}

/* Why sequence i ends with the token it just sampled (g->cur), or
 * LLORCH_RUNNING when it goes on. */
static llorch_finish llorch_gen_finish(const llorch_session *s, int i, const llorch_gen_seq *g) {
    if (llorch_is_eos(&s->m->cfg, g->cur)) return LLORCH_FINISH_STOP;
    if (g->produced >= g->max_new || s->pos[i] >= s->ctx) return LLORCH_FINISH_LENGTH;
    return LLORCH_RUNNING;
}

/* The text of the token just sampled, into buf (cap >= tk_max_token_bytes):
 * complete UTF-8, maybe none. */
static size_t llorch_gen_text(llorch_gen_seq *g, char *buf, size_t cap) {
    int n = tk_stream_push(&g->text, g->cur, buf, cap);
    return n > 0 ? (size_t)n : 0; /* an id that is no token (padding rows): no text */
}

int llorch_generate_batch(llorch_session *s, const int *const *prompts, const int *n_prompt, int max_new,
                          const llorch_sampler_opts *o, llorch_token_fn cb, void *user, int *n_out, llorch_error *err) {
    int n_seq = s->n_seq, st = 0;
    llorch_ok(err);
    if (max_new < 0) return llorch_fail(err, LLORCH_E_ARG, "a negative number of tokens to generate");
    for (int i = 0; i < n_seq; i++) {
        if (n_prompt[i] < 1) return llorch_fail(err, LLORCH_E_ARG, "sequence %d: empty prompt", i);
        if ((st = llorch_check_ids(s->m, prompts[i], n_prompt[i], err))) return st;
        if (n_prompt[i] > s->ctx - s->pos[i])
            return llorch_fail(err, LLORCH_E_CONTEXT, "the prompt of %d tokens does not fit the context of %d (%d used)",
                               n_prompt[i], s->ctx, s->pos[i]);
    }
    llorch_gen_seq *g = (llorch_gen_seq *)calloc((size_t)n_seq, sizeof *g);
    int *ids = (int *)malloc((size_t)n_seq * sizeof *ids), *next = (int *)malloc((size_t)n_seq * sizeof *next);
    llorch_sample_params *sp = (llorch_sample_params *)malloc((size_t)n_seq * sizeof *sp);
    size_t text_cap = (size_t)tk_max_token_bytes(s->m->tok) + 16;
    char *text = (char *)malloc(text_cap);
    if (!g || !ids || !next || !sp || !text) { st = llorch_fail(err, LLORCH_E_NOMEM, "out of memory"); goto out; }
    /* the prompt but its last token in one pass; the last one goes through the
       decode step, which samples the first new token */
    {
        int k = 0;
        for (int i = 0; i < n_seq; i++) {
            int run = max_new ? n_prompt[i] - 1 : n_prompt[i];
            if (run > 0) ids[k] = i, next[k++] = run; /* (ids, next: scratch here) */
            llorch_gen_begin(&g[i], s->m, &o[i], max_new, prompts[i][n_prompt[i] - 1]);
        }
        const int **from = (const int **)malloc((size_t)(k ? k : 1) * sizeof *from);
        if (!from) { st = llorch_fail(err, LLORCH_E_NOMEM, "out of memory"); goto out; }
        for (int i = 0; i < k; i++) from[i] = prompts[ids[i]];
        if (k) st = llorch_forward_many(s, k, ids, from, next, err);
        free((void *)from);
    }
    for (int ran = 1; !st && ran;) {
        if ((st = llorch_gen_step(s, g, ids, sp, next, &ran, err)) || !ran) break;
        for (int i = 0; i < n_seq; i++) {
            if (!g[i].active) continue;
            size_t n = llorch_gen_text(&g[i], text, text_cap);
            if ((cb && cb(user, i, g[i].cur, text, n)) || llorch_gen_finish(s, i, &g[i]) != LLORCH_RUNNING)
                g[i].active = 0;
        }
    }
    for (int i = 0; i < n_seq && g && !st; i++) { /* bytes of an unfinished character */
        char buf[16];
        int n = tk_stream_flush(&g[i].text, buf, sizeof buf);
        if (n > 0 && cb) cb(user, i, -1, buf, (size_t)n);
    }
    if (n_out && g)
        for (int i = 0; i < n_seq; i++) n_out[i] = g[i].produced;
out:
    free(g);
    free(ids);
    free(next);
    free(sp);
    free(text);
    return st;
}

int llorch_generate(llorch_session *s, const int *prompt, int n_prompt, int max_new, const llorch_sampler_opts *o,
                    llorch_token_fn cb, void *user, int *n_out, llorch_error *err) {
    if (s->n_seq != 1)
        return llorch_fail(err, LLORCH_E_ARG, "llorch_generate runs one sequence; this session has %d", s->n_seq);
    return llorch_generate_batch(s, &prompt, &n_prompt, max_new, o, cb, user, n_out, err);
}

/* ------------------------------------------------------------------------ */
/* Serving: continuous batching                                              */
/* ------------------------------------------------------------------------ */
/* The engine's thread owns the session and every running request's state.
 * The mutex guards what other threads touch: the queue, which request holds
 * which slot, the cancel flags and the counters. The thread takes the mutex
 * once a step ("a turn": publish counters, free the slots of finished
 * requests, take cancellations, admit queued requests), then works without
 * it; callbacks run without it, so they may submit and cancel. */

/* One request, from submit to its last event; immutable once queued but
 * for cancel (under the mutex). */
typedef struct llorch_job {
    struct llorch_job *next; /* in a list */
    uint64_t id;
    int *prompt, n_prompt, max_tokens;
    llorch_sampler_opts sampler;
    const char *stop[LLORCH_MAX_STOP];
    size_t stop_len[LLORCH_MAX_STOP];
    int n_stop;
    llorch_event_fn on_event;
    void *user;
    int cancel;        /* asked for */
    llorch_finish end; /* why it ends unrun */
} llorch_job;

static void llorch_job_free(llorch_job *j) {
    if (j) free(j->prompt);
    free(j);
}

/* A FIFO of requests. */
typedef struct {
    llorch_job *head, *tail;
} llorch_job_list;

static void llorch_list_push(llorch_job_list *l, llorch_job *j) {
    j->next = NULL;
    if (l->tail) l->tail->next = j;
    else l->head = j;
    l->tail = j;
}

static llorch_job *llorch_list_pop(llorch_job_list *l) {
    llorch_job *j = l->head;
    if (j && !(l->head = j->next)) l->tail = NULL;
    return j;
}

/* One sequence of the session. */
typedef struct {
    llorch_job *job; /* NULL: free; changed under the mutex */
    int prefilled;   /* prompt tokens in the cache (the prompt but its last is the goal) */
    int picked;      /* a piece of its prompt is in the prefill being gathered */
    int cancel;      /* job->cancel, as of the last turn */
    int done;        /* its last event is out: the slot is freed at the next turn */
    char *text;      /* output not yet emitted: what may begin a stop string */
    size_t n_text;
} llorch_slot;

struct llorch_engine {
    llorch_model *m;
    llorch_session *s;
    int n_slots, ctx, prefill_chunk, max_queue;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t wake; /* the thread: work arrived */
    pthread_cond_t idle; /* wait_idle: every request has ended */
    /* under the mutex */
    llorch_job_list queue;   /* oldest first */
    int n_queued;
    int stopping, cancel_all, quit;
    uint64_t last_id;
    llorch_engine_stats stats;
    /* the thread's own */
    llorch_slot *slots;
    llorch_gen_seq *gen; /* [n_slots]: the slots' generation state */
    int *ids, *next;
    llorch_sample_params *sp;
    int *piece_seq, *piece_n; /* [n_slots]: the prompt pieces of a prefill */
    const int **piece_ids;
    char *text;      /* the slots' text buffers, text_cap each */
    size_t text_cap;
    unsigned long long ended, prompt_tokens, generated, steps; /* since the last turn */
    llorch_error err; /* the last backend failure */
};

/* A request's callback, when it has one; returns what it returns. */
static int llorch_job_event(const llorch_job *j, int token, const char *text, size_t len, llorch_finish fin,
                            int produced, const char *error) {
    if (!j->on_event) return 0;
    llorch_event ev;
    ev.id = j->id;
    ev.token = token;
    ev.text = text ? text : "";
    ev.len = len;
    ev.finish = fin;
    ev.n_prompt = j->n_prompt;
    ev.n_generated = produced;
    ev.error = error;
    return j->on_event(j->user, &ev);
}

/* Where text[0, n) stops: 1 and *keep = the start of the first stop string
 * in it; else 0 and *keep = what may be emitted, all but the longest end that
 * a stop string begins with. text[0, checked) held no stop string. Stop
 * strings are valid UTF-8, so both cuts fall between characters. */
static int llorch_stop_find(const llorch_job *j, const char *text, size_t n, size_t checked, size_t *keep) {
    size_t first = n, hold = 0;
    for (int k = 0; k < j->n_stop; k++) { /* a new one ends past checked */
        size_t len = j->stop_len[k], from = checked >= len ? checked - len + 1 : 0;
        for (size_t p = from; p + len <= n && p < first; p++)
            if (text[p] == j->stop[k][0] && !memcmp(text + p, j->stop[k], len)) first = p;
    }
    if (first < n) {
        *keep = first;
        return 1;
    }
    for (int k = 0; k < j->n_stop; k++) {
        size_t len = j->stop_len[k];
        for (size_t l = len - 1 < n ? len - 1 : n; l > hold; l--)
            if (text[n - l] == j->stop[k][0] && !memcmp(text + n - l, j->stop[k], l)) { hold = l; break; }
    }
    *keep = n - hold;
    return 0;
}

/* The last event of the request in slot i, with the text held back. Unless
 * a stop string ended it (cut), the bytes of an unfinished character follow,
 * and the text stops short of a stop string they complete. */
static void llorch_slot_end(llorch_engine *e, int i, llorch_finish why, int token, int cut) {
    llorch_slot *sl = &e->slots[i];
    llorch_gen_seq *g = &e->gen[i];
    if (!cut) {
        size_t checked = sl->n_text, keep;
        int n = tk_stream_flush(&g->text, sl->text + sl->n_text, e->text_cap - sl->n_text);
        if (n > 0) sl->n_text += (size_t)n;
        if (llorch_stop_find(sl->job, sl->text, sl->n_text, checked, &keep)) {
            if (why == LLORCH_FINISH_LENGTH) why = LLORCH_FINISH_STOP;
            sl->n_text = keep;
        }
    }
    llorch_job_event(sl->job, token, sl->text, sl->n_text, why, g->produced,
                     why == LLORCH_FINISH_ERROR ? e->err.msg : NULL);
    g->active = 0;
    sl->done = 1;
    sl->n_text = 0;
    e->ended++;
}

/* The token slot i just sampled: its event, or its last. */
static void llorch_slot_token(llorch_engine *e, int i) {
    llorch_slot *sl = &e->slots[i];
    llorch_gen_seq *g = &e->gen[i];
    size_t checked = sl->n_text, keep;
    sl->n_text += llorch_gen_text(g, sl->text + sl->n_text, e->text_cap - sl->n_text);
    if (llorch_stop_find(sl->job, sl->text, sl->n_text, checked, &keep)) {
        sl->n_text = keep;
        llorch_slot_end(e, i, LLORCH_FINISH_STOP, g->cur, 1);
        return;
    }
    llorch_finish why = llorch_gen_finish(e->s, i, g);
    if (why != LLORCH_RUNNING) {
        llorch_slot_end(e, i, why, g->cur, 0);
        return;
    }
    int rc = llorch_job_event(sl->job, g->cur, sl->text, keep, LLORCH_RUNNING, g->produced, NULL);
    memmove(sl->text, sl->text + keep, sl->n_text - keep);
    sl->n_text -= keep;
    if (rc) llorch_slot_end(e, i, LLORCH_FINISH_CANCELLED, -1, 0);
}

/* Every running request ends with the error in e->err. */
static void llorch_engine_fail(llorch_engine *e) {
    for (int i = 0; i < e->n_slots; i++)
        if (e->slots[i].job && !e->slots[i].done) llorch_slot_end(e, i, LLORCH_FINISH_ERROR, -1, 0);
}

/* The slot whose prompt is still prefilling and came first, or -1; slots
 * already picked for this prefill do not count. */
static int llorch_engine_prefilling(const llorch_engine *e) {
    int best = -1;
    for (int i = 0; i < e->n_slots; i++) {
        const llorch_slot *sl = &e->slots[i];
        if (sl->job && !sl->done && !sl->picked && sl->prefilled < sl->job->n_prompt - 1 &&
            (best < 0 || sl->job->id < e->slots[best].job->id))
            best = i;
    }
    return best;
}

/* Up to prefill_chunk prompt tokens, oldest request first, in one
 * llorch_forward_many; a prompt whose all but last token are in joins the
 * decode steps. */
static int llorch_engine_prefill(llorch_engine *e) {
    int k = 0, i;
    for (int budget = e->prefill_chunk; budget > 0 && (i = llorch_engine_prefilling(e)) >= 0; k++) {
        llorch_slot *sl = &e->slots[i];
        int n = sl->job->n_prompt - 1 - sl->prefilled;
        if (n > budget) n = budget;
        sl->picked = 1;
        e->piece_seq[k] = i;
        e->piece_ids[k] = sl->job->prompt + sl->prefilled;
        e->piece_n[k] = n;
        budget -= n;
    }
    if (!k) return 0;
    const int st = llorch_forward_many(e->s, k, e->piece_seq, e->piece_ids, e->piece_n, &e->err);
    for (int j = 0; j < k; j++) {
        llorch_slot *sl = &e->slots[e->piece_seq[j]];
        sl->picked = 0;
        if (st) continue;
        sl->prefilled += e->piece_n[j];
        if (sl->prefilled == sl->job->n_prompt - 1) e->gen[e->piece_seq[j]].active = 1;
    }
    return st;
}

/* The work of one step, without the mutex: the last events of requests that
 * end unrun or were cancelled, prefill, one decode step for every decoding
 * slot, and its events. */
static void llorch_engine_step(llorch_engine *e, llorch_job_list *ending) {
    for (llorch_job *j; (j = llorch_list_pop(ending));) {
        llorch_job_event(j, -1, "", 0, j->end, 0, NULL);
        llorch_job_free(j);
        e->ended++;
    }
    for (int i = 0; i < e->n_slots; i++)
        if (e->slots[i].job && !e->slots[i].done && e->slots[i].cancel)
            llorch_slot_end(e, i, LLORCH_FINISH_CANCELLED, -1, 0);
    if (llorch_engine_prefill(e)) {
        llorch_engine_fail(e);
        return;
    }
    int ran;
    if (llorch_gen_step(e->s, e->gen, e->ids, e->sp, e->next, &ran, &e->err)) {
        llorch_engine_fail(e);
        return;
    }
    if (!ran) return;
    e->steps++;
    for (int i = 0; i < e->n_slots; i++)
        if (e->gen[i].active) {
            e->generated++;
            llorch_slot_token(e, i);
        }
}

/* Under the mutex, between steps: publish the counters, free the slots of
 * finished requests, take cancellations, admit queued requests into free
 * slots. Queued requests that end unrun go to ending. Returns whether there
 * is work. */
static int llorch_engine_turn(llorch_engine *e, llorch_job_list *ending) {
    llorch_engine_stats *st = &e->stats;
    st->finished += e->ended;
    st->prompt_tokens += e->prompt_tokens;
    st->generated_tokens += e->generated;
    st->steps += e->steps;
    e->ended = e->prompt_tokens = e->generated = e->steps = 0;
    for (int i = 0; i < e->n_slots; i++) {
        llorch_slot *sl = &e->slots[i];
        if (!sl->done) continue;
        llorch_job_free(sl->job);
        sl->job = NULL;
        sl->done = 0;
        llorch_session_truncate(e->s, i, 0);
        st->running--;
    }
    /* cancellations: queued requests end unrun, running ones at the step */
    llorch_job_list keep = {NULL, NULL};
    for (llorch_job *j; (j = llorch_list_pop(&e->queue));) {
        if (j->cancel || e->cancel_all) {
            j->end = LLORCH_FINISH_CANCELLED;
            llorch_list_push(ending, j);
            e->n_queued--;
        } else {
            llorch_list_push(&keep, j);
        }
    }
    e->queue = keep;
    for (int i = 0; i < e->n_slots; i++)
        if (e->slots[i].job) e->slots[i].cancel = e->slots[i].job->cancel || e->cancel_all;
    /* admit, oldest first; max_tokens 0 ends at once, without a slot */
    for (int i = 0; e->queue.head;) {
        llorch_job *j = e->queue.head;
        if (j->max_tokens > 0) {
            while (i < e->n_slots && e->slots[i].job) i++;
            if (i == e->n_slots) break;
        }
        llorch_list_pop(&e->queue);
        e->n_queued--;
        if (j->max_tokens == 0) {
            j->end = LLORCH_FINISH_LENGTH;
            llorch_list_push(ending, j);
            continue;
        }
        llorch_slot *sl = &e->slots[i];
        sl->job = j;
        sl->prefilled = 0;
        sl->cancel = 0;
        sl->n_text = 0;
        llorch_gen_begin(&e->gen[i], e->m, &j->sampler, j->max_tokens, j->prompt[j->n_prompt - 1]);
        e->gen[i].active = j->n_prompt == 1; /* else once the prompt is in */
        st->running++;
        st->prompt_tokens += (unsigned long long)j->n_prompt;
    }
    st->queued = e->n_queued;
    st->positions = 0;
    for (int i = 0; i < e->n_slots; i++)
        if (e->slots[i].job) st->positions += e->s->pos[i];
    if (st->submitted == st->finished) pthread_cond_broadcast(&e->idle);
    return ending->head || st->running > 0;
}

static void *llorch_engine_main(void *arg) {
    llorch_engine *e = (llorch_engine *)arg;
    pthread_mutex_lock(&e->mu);
    for (;;) {
        llorch_job_list ending = {NULL, NULL};
        if (!llorch_engine_turn(e, &ending)) {
            if (e->quit) break;
            pthread_cond_wait(&e->wake, &e->mu);
            continue;
        }
        pthread_mutex_unlock(&e->mu);
        llorch_engine_step(e, &ending);
        pthread_mutex_lock(&e->mu);
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

/* The session: n_slots sequences, or as many as fit (at most 256), halving on
 * LLORCH_E_NOMEM. */
static int llorch_engine_session(llorch_engine *e, int n_slots, llorch_error *err) {
    llorch_session_opts so = {e->ctx, n_slots ? n_slots : 256};
    int st;
    while ((st = llorch_session_new(&e->s, e->m, &so, err)) == LLORCH_E_NOMEM && !n_slots && so.n_seq > 1)
        so.n_seq /= 2;
    if (!st) e->n_slots = so.n_seq;
    return st;
}

/* What the engine holds beside its thread and its mutex and conditions. */
static void llorch_engine_release(llorch_engine *e) {
    llorch_session_free(e->s);
    free(e->slots);
    free(e->gen);
    free(e->ids);
    free(e->next);
    free(e->sp);
    free(e->piece_seq);
    free(e->piece_n);
    free((void *)e->piece_ids);
    free(e->text);
    free(e);
}

/* The engine, its session and its thread. */
static int llorch_engine_create(llorch_engine **out, llorch_model *m, const llorch_engine_opts *opts, llorch_error *err) {
    const llorch_engine_opts o = *opts;
    int st;
    llorch_engine *e = (llorch_engine *)calloc(1, sizeof *e);
    if (!e) return llorch_fail(err, LLORCH_E_NOMEM, "out of memory");
    e->m = m;
    e->ctx = o.ctx ? o.ctx : m->cfg.max_seq_len < 4096 ? m->cfg.max_seq_len : 4096;
    e->prefill_chunk = o.prefill_chunk ? o.prefill_chunk : 256;
    e->max_queue = o.max_queue ? o.max_queue : 1024;
    if ((st = llorch_engine_session(e, o.n_slots, err))) {
        free(e);
        return st;
    }
    /* a slot's text: what a stop string may begin (< LLORCH_MAX_STOP_BYTES),
       one token's, and the flush of an unfinished character */
    e->text_cap = LLORCH_MAX_STOP_BYTES + (size_t)tk_max_token_bytes(m->tok) + 16;
    e->stats.n_slots = e->n_slots;
    e->stats.ctx = e->ctx;
    size_t n = (size_t)e->n_slots;
    e->slots = (llorch_slot *)calloc(n, sizeof *e->slots);
    e->gen = (llorch_gen_seq *)calloc(n, sizeof *e->gen);
    e->ids = (int *)malloc(n * sizeof *e->ids);
    e->next = (int *)malloc(n * sizeof *e->next);
    e->sp = (llorch_sample_params *)malloc(n * sizeof *e->sp);
    e->piece_seq = (int *)malloc(n * sizeof *e->piece_seq);
    e->piece_n = (int *)malloc(n * sizeof *e->piece_n);
    e->piece_ids = (const int **)malloc(n * sizeof *e->piece_ids);
    e->text = (char *)malloc(n * e->text_cap);
    int sync = 0; /* how many of mu, wake, idle exist */
    if (e->slots && e->gen && e->ids && e->next && e->sp && e->piece_seq && e->piece_n && e->piece_ids && e->text) {
        for (size_t i = 0; i < n; i++) e->slots[i].text = e->text + i * e->text_cap;
        if (!pthread_mutex_init(&e->mu, NULL) && ++sync && !pthread_cond_init(&e->wake, NULL) && ++sync &&
            !pthread_cond_init(&e->idle, NULL) && ++sync && !pthread_create(&e->thread, NULL, llorch_engine_main, e))
            sync = 4;
    }
    if (sync < 4) {
        if (sync > 2) pthread_cond_destroy(&e->idle);
        if (sync > 1) pthread_cond_destroy(&e->wake);
        if (sync > 0) pthread_mutex_destroy(&e->mu);
        st = llorch_fail(err, LLORCH_E_NOMEM, "out of memory for an engine of %d slots", e->n_slots);
        llorch_engine_release(e);
        return st;
    }
    *out = e;
    return 0;
}

/* The session's threads and the engine's start with every signal blocked, so
 * that signals go to the program's own threads. */
int llorch_engine_new(llorch_engine **out, llorch_model *m, const llorch_engine_opts *opts, llorch_error *err) {
    llorch_engine_opts o = {0, 0, 0, 0};
    sigset_t all, old;
    *out = NULL;
    llorch_ok(err);
    if (opts) o = *opts;
    if (o.n_slots < 0 || o.ctx < 0 || o.prefill_chunk < 0 || o.max_queue < 0)
        return llorch_fail(err, LLORCH_E_ARG, "engine options: n_slots %d, ctx %d, prefill_chunk %d, max_queue %d: "
                           "none may be negative", o.n_slots, o.ctx, o.prefill_chunk, o.max_queue);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int st = llorch_engine_create(out, m, &o, err);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return st;
}

/* A request's sampler, stop strings and max_tokens, as submit takes them. */
static int llorch_check_request(const llorch_request *r, llorch_error *err) {
    const llorch_sampler_opts *o = &r->sampler;
    if (r->max_tokens < 0) return llorch_fail(err, LLORCH_E_ARG, "max_tokens %d is negative", r->max_tokens);
    if (!(o->temperature >= 0) || isinf(o->temperature))
        return llorch_fail(err, LLORCH_E_ARG, "temperature %g is not a finite number >= 0", (double)o->temperature);
    if (!(o->top_p >= 0 && o->top_p <= 1))
        return llorch_fail(err, LLORCH_E_ARG, "top_p %g is not in [0, 1]", (double)o->top_p);
    if (o->top_k < 0) return llorch_fail(err, LLORCH_E_ARG, "top_k %d is negative", o->top_k);
    if (!(o->repetition_penalty > 0) || isinf(o->repetition_penalty))
        return llorch_fail(err, LLORCH_E_ARG, "repetition_penalty %g is not a finite number > 0",
                           (double)o->repetition_penalty);
    if (r->n_stop < 0 || r->n_stop > LLORCH_MAX_STOP || (r->n_stop && !r->stop))
        return llorch_fail(err, LLORCH_E_ARG, "%d stop strings: from 0 to %d are allowed", r->n_stop, LLORCH_MAX_STOP);
    for (int k = 0; k < r->n_stop; k++) {
        const char *s = r->stop[k], *nul = s ? (const char *)memchr(s, 0, LLORCH_MAX_STOP_BYTES + 1) : NULL;
        if (!nul || nul == s)
            return llorch_fail(err, LLORCH_E_ARG, "stop string %d is %s: from 1 to %d bytes are allowed", k,
                               !s ? "NULL" : nul ? "empty" : "too long", LLORCH_MAX_STOP_BYTES);
        if (tk_utf8_check(s, (size_t)(nul - s)) != (size_t)(nul - s))
            return llorch_fail(err, LLORCH_E_ARG, "stop string %d is not valid UTF-8", k);
    }
    return 0;
}

/* A prompt of n tokens leaves room for output in a context of ctx. */
static int llorch_prompt_fits(int n, int ctx, llorch_error *err) {
    if (n < ctx) return 0;
    return llorch_fail(err, LLORCH_E_CONTEXT, "a prompt of %d tokens leaves no room for output in a context of %d", n,
                       ctx);
}

/* The request's prompt ids, checked, or its messages rendered with the chat
 * template and tokenized: *ids is malloc'd. */
static int llorch_request_prompt(const llorch_model *m, const llorch_request *r, int ctx, int **ids, int *n,
                                 llorch_error *err) {
    int st;
    *ids = NULL;
    if (r->prompt && r->messages) return llorch_fail(err, LLORCH_E_ARG, "a request has both prompt ids and messages");
    if (r->prompt) {
        if (r->n_prompt < 1) return llorch_fail(err, LLORCH_E_ARG, "a prompt of %d tokens", r->n_prompt);
        if ((st = llorch_prompt_fits(r->n_prompt, ctx, err)) || (st = llorch_check_ids(m, r->prompt, r->n_prompt, err)))
            return st;
        if (!(*ids = (int *)malloc((size_t)r->n_prompt * sizeof **ids))) return llorch_fail(err, LLORCH_E_NOMEM, "out of memory");
        memcpy(*ids, r->prompt, (size_t)r->n_prompt * sizeof **ids);
        *n = r->n_prompt;
        return 0;
    }
    if (!r->messages || r->n_messages < 1)
        return llorch_fail(err, LLORCH_E_ARG, "a request without prompt ids or messages");
    char *text = NULL;
    if (!(st = llorch_chat_render(m->dir, r->messages, r->n_messages, 1, &text, err)))
        st = llorch_tokenize(m, text, strlen(text), 0, ids, n, err); /* the template wrote BOS */
    free(text);
    if (!st && *n < 1) st = llorch_fail(err, LLORCH_E_ARG, "the messages render to no tokens");
    if (!st) st = llorch_prompt_fits(*n, ctx, err);
    if (st) {
        free(*ids);
        *ids = NULL;
    }
    return st;
}

/* A job holding copies of everything the request points to. */
static int llorch_job_new(llorch_job **out, const llorch_request *r, int *ids, int n, llorch_error *err) {
    size_t bytes = sizeof(llorch_job);
    for (int k = 0; k < r->n_stop; k++) bytes += strlen(r->stop[k]) + 1;
    llorch_job *j = (llorch_job *)calloc(1, bytes);
    *out = NULL;
    if (!j) return llorch_fail(err, LLORCH_E_NOMEM, "out of memory");
    char *p = (char *)(j + 1);
    j->prompt = ids;
    j->n_prompt = n;
    j->max_tokens = r->max_tokens;
    j->sampler = r->sampler;
    j->n_stop = r->n_stop;
    for (int k = 0; k < r->n_stop; k++) {
        j->stop_len[k] = strlen(r->stop[k]);
        memcpy(p, r->stop[k], j->stop_len[k] + 1);
        j->stop[k] = p;
        p += j->stop_len[k] + 1;
    }
    j->on_event = r->on_event;
    j->user = r->user;
    *out = j;
    return 0;
}

int llorch_engine_submit(llorch_engine *e, const llorch_request *r, uint64_t *id, llorch_error *err) {
    int *ids = NULL, n = 0, st;
    llorch_job *j = NULL;
    llorch_ok(err);
    if (id) *id = 0;
    if (!r) return llorch_fail(err, LLORCH_E_ARG, "no request");
    if ((st = llorch_check_request(r, err)) || (st = llorch_request_prompt(e->m, r, e->ctx, &ids, &n, err))) return st;
    if ((st = llorch_job_new(&j, r, ids, n, err))) {
        free(ids);
        return st;
    }
    pthread_mutex_lock(&e->mu);
    if (e->stopping)
        st = llorch_fail(err, LLORCH_E_STOPPED, "the engine is shutting down");
    else if (e->n_queued >= e->max_queue)
        st = llorch_fail(err, LLORCH_E_BUSY, "%d requests are waiting already, the most allowed", e->n_queued);
    else {
        j->id = ++e->last_id;
        llorch_list_push(&e->queue, j);
        e->n_queued++;
        e->stats.submitted++;
        e->stats.queued = e->n_queued;
        if (id) *id = j->id;
        pthread_cond_signal(&e->wake);
    }
    pthread_mutex_unlock(&e->mu);
    if (st) llorch_job_free(j);
    return st;
}

void llorch_engine_cancel(llorch_engine *e, uint64_t id) {
    pthread_mutex_lock(&e->mu);
    for (llorch_job *j = e->queue.head; j; j = j->next)
        if (j->id == id) j->cancel = 1;
    for (int i = 0; i < e->n_slots; i++)
        if (e->slots[i].job && e->slots[i].job->id == id) e->slots[i].job->cancel = 1;
    pthread_cond_signal(&e->wake);
    pthread_mutex_unlock(&e->mu);
}

void llorch_engine_shutdown(llorch_engine *e, int cancel_running) {
    pthread_mutex_lock(&e->mu);
    e->stopping = 1;
    if (cancel_running) e->cancel_all = 1;
    pthread_cond_signal(&e->wake);
    pthread_mutex_unlock(&e->mu);
}

void llorch_engine_wait_idle(llorch_engine *e) {
    pthread_mutex_lock(&e->mu);
    while (e->stats.submitted != e->stats.finished) pthread_cond_wait(&e->idle, &e->mu);
    pthread_mutex_unlock(&e->mu);
}

void llorch_engine_get_stats(llorch_engine *e, llorch_engine_stats *st) {
    pthread_mutex_lock(&e->mu);
    *st = e->stats;
    pthread_mutex_unlock(&e->mu);
}

void llorch_engine_free(llorch_engine *e) {
    if (!e) return;
    pthread_mutex_lock(&e->mu);
    e->stopping = e->cancel_all = e->quit = 1;
    pthread_cond_signal(&e->wake);
    pthread_mutex_unlock(&e->mu);
    pthread_join(e->thread, NULL);
    for (llorch_job *j; (j = llorch_list_pop(&e->queue));) llorch_job_free(j); /* none: the thread ended them */
    for (int i = 0; i < e->n_slots; i++) llorch_job_free(e->slots[i].job);
    pthread_cond_destroy(&e->idle);
    pthread_cond_destroy(&e->wake);
    pthread_mutex_destroy(&e->mu);
    llorch_engine_release(e);
}

#endif /* LLORCH_IMPLEMENTATION_DONE */
#endif /* LLORCH_IMPLEMENTATION */
