/* demo.c - the llorch command line: generate text from a prompt.
 *
 *   ./demo [options] PROMPT        (PROMPT "-" reads it from stdin)
 *   ./demo --chat [options] PROMPT the prompt as a user message in the model's chat template
 *   ./demo --messages FILE         a conversation from a JSON file, rendered by the template
 *   ./demo -i  (or --chat on a terminal without a prompt)
 *                                  a conversation: each line is a user message
 *
 * Run ./demo -h for the options. Errors print one line on stderr and exit 1.
 */
#include "llorch.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_MODEL "TinyLlama/TinyLlama-1.1B-Chat-v1.0"
#define DEFAULT_DIR "models/TinyLlama-1.1B-Chat-v1.0"
#ifdef LLORCH_CUDA
#define DEFAULT_DEVICE "auto"
#else
#define DEFAULT_DEVICE "cpu"
#endif

typedef struct {
    const char *model_dir, *device, *prompt, *system, *dump_logits, *messages;
    int n_new, threads, ctx, batch;
    int chat, ids, tokenize, bench, interactive;
    llorch_sampler_opts sampler;
} demo_args;

static void usage(FILE *f) {
    fprintf(f,
            "usage: demo [options] PROMPT      (PROMPT - reads it from stdin)\n"
            "  -m DIR            model directory (default $LLORCH_MODEL, else " DEFAULT_DIR ")\n"
            "  -n N              tokens to generate (default 256; 0 = only run the prompt)\n"
            "  -t T              temperature (default 0 = greedy)\n"
            "  -k K              top-k (default 0 = off)\n"
            "  -p P              top-p (default 1 = off)\n"
            "  -r R              repetition penalty (default 1 = off)\n"
            "  -s SEED           random seed (default 0)\n"
            "  --device D        auto, cpu, cuda or cuda:N (default " DEFAULT_DEVICE "; auto: the GPU when there is one)\n"
            "  --threads N       CPU threads (default: all cores; at most 2 a core)\n"
            "  --ctx N           context length (default: prompt + N, up to the model's maximum)\n"
            "  --batch N         decode N copies of the prompt together (seeds SEED, SEED+1, ...)\n"
            "  --chat            wrap the prompt in the model's chat template (no prompt on a terminal: as -i)\n"
            "  --system TEXT     system message for --chat and -i\n"
            "  --messages FILE   render a conversation, a JSON array of {\"role\", \"content\"}, with the template\n"
            "  -i                chat interactively: each line of input is a user message (EOF ends)\n"
            "  --ids             print generated token ids instead of text\n"
            "  --tokenize        print the prompt's token ids and exit (needs only tokenizer.json)\n"
            "  --dump-logits F   write the last prompt position's logits to F (float32 little-endian)\n"
            "  --bench           print timings to stderr\n");
}

/* One line on stderr, "error: " and the message with control characters
 * escaped (it may quote arguments); returns 1, the exit status. */
#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static int die(const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fputs("error: ", stderr);
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++)
        if (*p < 0x20 || *p == 0x7F) fprintf(stderr, "\\x%02X", *p);
        else fputc(*p, stderr);
    fputc('\n', stderr);
    return 1;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Numbers in options must be whole and in range; anything else is an error. */
static int parse_int(const char *s, long lo, long hi, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

static int parse_float(const char *s, float lo, float hi, float *out) {
    char *end;
    float v = strtof(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi)) return -1;
    *out = v;
    return 0;
}

/* A seed: decimal digits that fit 64 bits. */
static int parse_seed(const char *s, uint64_t *out) {
    char *end;
    if (*s < '0' || *s > '9') return -1; /* strtoull would take "-1" as 2^64 - 1 */
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno) return -1;
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, demo_args *a) {
    memset(a, 0, sizeof *a);
    a->model_dir = getenv("LLORCH_MODEL");
    if (!a->model_dir || !*a->model_dir) a->model_dir = DEFAULT_DIR;
    a->device = DEFAULT_DEVICE;
    a->n_new = 256;
    a->batch = 1;
    a->sampler = llorch_sampler_defaults();
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0, takes = 1;
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) { usage(stdout); exit(0); }
        else if (!strcmp(o, "--chat")) { a->chat = 1; takes = 0; }
        else if (!strcmp(o, "-i")) { a->interactive = a->chat = 1; takes = 0; }
        else if (!strcmp(o, "--ids")) { a->ids = 1; takes = 0; }
        else if (!strcmp(o, "--tokenize")) { a->tokenize = 1; takes = 0; }
        else if (!strcmp(o, "--bench")) { a->bench = 1; takes = 0; }
        else if (o[0] == '-' && o[1] && !v) return die("%s needs a value", o);
        else if (!strcmp(o, "-m")) a->model_dir = v;
        else if (!strcmp(o, "-n")) bad = parse_int(v, 0, 1 << 24, &a->n_new);
        else if (!strcmp(o, "-t")) bad = parse_float(v, 0, 100, &a->sampler.temperature);
        else if (!strcmp(o, "-k")) bad = parse_int(v, 0, 1 << 24, &a->sampler.top_k);
        else if (!strcmp(o, "-p")) bad = parse_float(v, 0, 1, &a->sampler.top_p);
        else if (!strcmp(o, "-r")) bad = parse_float(v, 0.01f, 100, &a->sampler.repetition_penalty);
        else if (!strcmp(o, "-s")) bad = parse_seed(v, &a->sampler.seed);
        else if (!strcmp(o, "--device")) a->device = v;
        else if (!strcmp(o, "--threads")) bad = parse_int(v, 1, 1 << 20, &a->threads);
        else if (!strcmp(o, "--ctx")) bad = parse_int(v, 1, 1 << 24, &a->ctx);
        else if (!strcmp(o, "--batch")) bad = parse_int(v, 1, 4096, &a->batch);
        else if (!strcmp(o, "--system")) a->system = v;
        else if (!strcmp(o, "--messages")) a->messages = v;
        else if (!strcmp(o, "--dump-logits")) a->dump_logits = v;
        else if (o[0] == '-' && o[1]) return die("unknown option %s (see demo -h)", o);
        else {
            if (a->prompt) return die("more than one prompt (quote it)");
            a->prompt = o;
            takes = 0;
        }
        if (bad) return die("bad value '%s' for %s", v, o);
        i += takes;
    }
    if (a->chat && !a->prompt && !a->messages && isatty(fileno(stdin))) a->interactive = 1;
    if (a->interactive && (a->prompt || a->messages || a->batch > 1 || a->tokenize || a->dump_logits))
        return die("-i takes no prompt, --messages, --batch, --tokenize or --dump-logits");
    if (a->prompt && a->messages) return die("a prompt and --messages together");
    if (!a->prompt && !a->messages && !a->interactive)
        return die("no prompt: demo [options] PROMPT (PROMPT - reads stdin; demo -h lists the options)");
    if (a->system && !a->chat) return die("--system needs --chat or -i (the system message goes into the chat template)");
    return 0;
}

/* The prompt's bytes: the argument, or all of stdin for "-"; NULL when
 * stdin cannot be read (a directory, a closed descriptor) or out of memory. */
static char *read_prompt(const char *arg, size_t *len) {
    if (strcmp(arg, "-")) {
        *len = strlen(arg);
        return strdup(arg);
    }
    size_t cap = 4096, n = 0, got;
    char *buf = (char *)malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n - 1, stdin)) > 0) {
        n += got;
        if (n + 1 == cap) {
            char *nb = (char *)realloc(buf, cap *= 2);
            if (!nb) { free(buf); return NULL; }
            buf = nb;
        }
    }
    if (buf && ferror(stdin)) {
        int e = errno;
        free(buf);
        errno = e;
        return NULL;
    }
    if (buf) buf[n] = 0;
    *len = n;
    return buf;
}

/* A missing model directory: say how to get the default model. */
static int no_model(const char *dir) {
    return die("no model directory %s: get one with `huggingface-cli download " DEFAULT_MODEL
               " --local-dir %s`, or point -m DIR at a Hugging Face model directory", dir, dir);
}

/* --threads beyond what the library runs: say so. */
static void note_threads(int asked) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores >= 1 && asked > LLORCH_MAX_THREADS_PER_CORE * cores)
        fprintf(stderr, "note: --threads %d is more than %d a core; running %ld\n", asked, LLORCH_MAX_THREADS_PER_CORE,
                LLORCH_MAX_THREADS_PER_CORE * cores);
}

/* --tokenize: only the tokenizer is loaded. */
static int print_tokens(const char *dir, const char *text, size_t len, int add_bos) {
    char path[4096], msg[512];
    if (snprintf(path, sizeof path, "%s/tokenizer.json", dir) >= (int)sizeof path) return die("%s: path too long", dir);
    tk_tokenizer *t;
    int *ids, n;
    if (tk_load_file(&t, path, msg, sizeof msg)) return die("%s", msg);
    if (tk_encode(t, text, len, add_bos, &ids, &n, msg, sizeof msg)) {
        tk_free(t);
        return die("%s", msg);
    }
    for (int i = 0; i < n; i++) printf("%s%d", i ? " " : "", ids[i]);
    printf("\n");
    free(ids);
    tk_free(t);
    return 0;
}

static void free_messages(llorch_message *m, int n) {
    for (int i = 0; m && i < n; i++) {
        free((char *)m[i].role);
        free((char *)m[i].content);
    }
    free(m);
}

/* --messages FILE: a JSON array of {"role": string, "content": string}. */
static int read_messages(const char *path, llorch_message **out, int *n_out) {
    FILE *f = fopen(path, "rb");
    char *text = NULL, msg[256];
    size_t len = 0, cap = 0, got;
    *out = NULL;
    *n_out = 0;
    if (!f) { fprintf(stderr, "error: %s: cannot open\n", path); return -1; }
    do {
        if (len + 4096 > cap) {
            char *nt = (char *)realloc(text, cap = 2 * cap + 4096);
            if (!nt) { free(text); fclose(f); fprintf(stderr, "error: %s: out of memory\n", path); return -1; }
            text = nt;
        }
        got = fread(text + len, 1, cap - len, f);
        len += got;
    } while (got > 0 && len <= ((size_t)64 << 20));
    fclose(f);
    if (len > ((size_t)64 << 20)) {
        fprintf(stderr, "error: %s: larger than 64 MiB\n", path);
        free(text);
        return -1;
    }
    tk_json j;
    if (tk_json_parse(&j, text ? text : "", len, msg, sizeof msg)) {
        fprintf(stderr, "error: %s: %s\n", path, msg);
        free(text);
        return -1;
    }
    int n = j.nodes[0].type == TK_JSON_ARRAY ? j.nodes[0].count : -1, k = 0, bad = n < 1;
    llorch_message *m = n > 0 ? (llorch_message *)calloc((size_t)n, sizeof *m) : NULL;
    if (n < 0) snprintf(msg, sizeof msg, "not a JSON array of messages");
    else if (n == 0) snprintf(msg, sizeof msg, "no messages");
    else if (!m) { snprintf(msg, sizeof msg, "out of memory"); bad = 1; }
    for (int e = bad ? -1 : tk_json_child(&j, 0); e >= 0 && !bad; e = tk_json_next(&j, e), k++) {
        static const char *const keys[2] = {"role", "content"};
        if (j.nodes[e].type != TK_JSON_OBJECT) { snprintf(msg, sizeof msg, "message %d is not an object", k); bad = 1; break; }
        for (int f2 = tk_json_child(&j, e); f2 >= 0 && !bad; f2 = tk_json_next(&j, tk_json_next(&j, f2))) {
            if (!tk_json_streq(&j, f2, "role") && !tk_json_streq(&j, f2, "content")) {
                char *key = tk_json_strdup(&j, f2, NULL);
                snprintf(msg, sizeof msg, "message %d: unexpected key \"%.40s\" (only role and content)", k, key ? key : "");
                free(key);
                bad = 1;
            }
        }
        for (int q = 0; q < 2 && !bad; q++) {
            int v = tk_json_get(&j, e, keys[q]);
            size_t sl;
            char *str = v >= 0 && j.nodes[v].type == TK_JSON_STRING ? tk_json_strdup(&j, v, &sl) : NULL;
            if (!str || strlen(str) != sl) {
                snprintf(msg, sizeof msg, "message %d: \"%s\" is %s", k, keys[q],
                         v < 0 ? "missing" : str ? "a string with a NUL character" : "not a string");
                free(str);
                bad = 1;
            } else if (q) m[k].content = str;
            else m[k].role = str;
        }
    }
    tk_json_free(&j);
    free(text);
    if (bad) {
        fprintf(stderr, "error: %s: %s\n", path, msg);
        free_messages(m, n);
        return -1;
    }
    *out = m;
    *n_out = n;
    return 0;
}

typedef struct {
    int ids_only, n_seq, interactive;
    double first_token_s;
    char **text; /* batch: each sequence's text, printed at the end */
    size_t *text_len;
    int *count;
} demo_out;

static int on_token(void *user, int seq, int token, const char *text, size_t len) {
    demo_out *o = (demo_out *)user;
    if (token >= 0 && o->first_token_s == 0) o->first_token_s = now_s();
    if (o->n_seq == 1) {
        if (o->ids_only) {
            if (token >= 0) printf("%s%d", o->count[0]++ ? " " : "", token);
        } else {
            fwrite(text, 1, len, stdout);
        }
        if (o->interactive) fflush(stdout); /* a pipe or file gets whole buffers */
        return 0;
    }
    char num[16];
    if (o->ids_only) {
        if (token < 0) return 0;
        len = (size_t)snprintf(num, sizeof num, "%s%d", o->count[seq]++ ? " " : "", token);
        text = num;
    }
    char *nb = (char *)realloc(o->text[seq], o->text_len[seq] + len + 1);
    if (!nb) return 1;
    memcpy(nb + o->text_len[seq], text, len);
    o->text[seq] = nb;
    o->text_len[seq] += len;
    nb[o->text_len[seq]] = 0;
    return 0;
}

/* -i: one reply, printed as it comes. Its text as the KV cache will hold it
 * (special tokens kept, no leading space stripped) is kept for the
 * conversation, without the end-of-turn token that stops it (never fed). */
typedef struct {
    const llorch_model *m;
    tk_stream fed;     /* decodes the reply as it is fed */
    char *text;        /* the reply's text so far (NUL-terminated) */
    size_t len, cap;
    int *ids, n_ids, ids_cap;
    int last, eos;     /* the last token; whether it ended the turn */
} chat_reply;

/* Room for n more bytes and a NUL. */
static int reply_reserve(chat_reply *r, size_t n) {
    if (r->len + n + 1 <= r->cap) return 0;
    size_t cap = 2 * r->cap + n + 64;
    char *p = (char *)realloc(r->text, cap);
    if (!p) return 1;
    r->text = p;
    r->cap = cap;
    return 0;
}

static int is_eos(const llorch_config *c, int token) {
    for (int i = 0; i < c->n_eos; i++)
        if (c->eos_ids[i] == token) return 1;
    return 0;
}

static int on_reply(void *user, int seq, int token, const char *text, size_t len) {
    chat_reply *r = (chat_reply *)user;
    (void)seq;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    if (token < 0) return 0;
    if (r->n_ids == r->ids_cap) {
        int *p = (int *)realloc(r->ids, (size_t)(r->ids_cap = 2 * r->ids_cap + 64) * sizeof *p);
        if (!p) return 1;
        r->ids = p;
    }
    r->ids[r->n_ids++] = token;
    r->last = token;
    r->eos = is_eos(llorch_model_config(r->m), token);
    if (r->eos) return 0;
    if (reply_reserve(r, (size_t)tk_max_token_bytes(llorch_model_tokenizer(r->m)))) return 1;
    int n = tk_stream_push(&r->fed, token, r->text + r->len, r->cap - r->len - 1);
    if (n > 0) r->len += (size_t)n; /* an id that is no token has no text */
    r->text[r->len] = 0;
    return 0;
}

/* The reply's bytes of an unfinished character, as the stream ends them. */
static int reply_finish(chat_reply *r) {
    if (reply_reserve(r, 16)) return 1;
    int n = tk_stream_flush(&r->fed, r->text + r->len, 16);
    if (n > 0) r->len += (size_t)n;
    r->text[r->len] = 0;
    return 0;
}

static int no_memory(llorch_error *err) {
    snprintf(err->msg, sizeof err->msg, "out of memory");
    return -1;
}

static int add_message(llorch_message **conv, int *n, const char *role, const char *content) {
    llorch_message *p = (llorch_message *)realloc(*conv, (size_t)(*n + 1) * sizeof *p);
    if (!p) return -1;
    *conv = p;
    p[*n].role = strdup(role);
    p[*n].content = strdup(content);
    if (!p[*n].role || !p[*n].content) { free((char *)p[*n].role); free((char *)p[*n].content); return -1; }
    ++*n;
    return 0;
}

/* -i: what the KV cache holds: its ids, and their text (the rendered
 * conversation up to the last reply, then that reply as it was fed). */
typedef struct {
    char *text;
    size_t len; /* 0: the text is not known (the reply's last token did not fit) */
    int *ids, n_ids, cap;
} chat_cache;

static int cache_append(chat_cache *c, const int *ids, int n) {
    if (c->n_ids + n > c->cap) {
        int cap = 2 * (c->n_ids + n) + 64, *p = (int *)realloc(c->ids, (size_t)cap * sizeof *p);
        if (!p) return -1;
        c->ids = p;
        c->cap = cap;
    }
    memcpy(c->ids + c->n_ids, ids, (size_t)n * sizeof *ids);
    c->n_ids += n;
    return 0;
}

/* Whether the rendering's tokens from byte at on are those of that part
 * alone, so the cached tokens before it can stay: true where the tokenizer
 * starts afresh (at a special token such as </s>, <|im_end|>, <|eot_id|>,
 * which end a message in the templates), false where a merge or the space
 * a SentencePiece normalizer prepends joins the two sides. Then *ids are
 * the rest's. 1 yes, 0 no, -1 error. */
static int tokenizes_apart(const llorch_model *m, const char *render, size_t at, const int *all, int n_all, int **ids,
                           int *n, llorch_error *err) {
    if (llorch_tokenize(m, render + at, strlen(render + at), 0, ids, n, err)) return -1;
    if (*n > 0 && *n <= n_all && !memcmp(all + n_all - *n, *ids, (size_t)*n * sizeof **ids)) return 1;
    free(*ids);
    return 0;
}

/* The ids to feed for this turn's rendering, *keep of the cached ones
 * staying before them. When the rendering starts with the cached text and
 * tokenizes apart from it there, only the rest is fed (the cache holds the
 * generated ids, which re-tokenizing the reply need not give). Otherwise
 * (the template trimmed the reply, or rewrote an earlier turn) the cache
 * keeps the ids it shares with the rendering's and the rest is fed. */
static int chat_feed(const llorch_model *m, const chat_cache *c, const char *render, int *keep, int **ids, int *n,
                     llorch_error *err) {
    size_t len = strlen(render);
    int *all, n_all, st = 0;
    if (llorch_tokenize(m, render, len, 0, &all, &n_all, err)) return -1;
    if (c->len && c->len < len && !memcmp(render, c->text, c->len))
        st = tokenizes_apart(m, render, c->len, all, n_all, ids, n, err);
    if (st) {
        *keep = c->n_ids;
        free(all);
        return st < 0 ? -1 : 0;
    }
    int k = 0;
    while (k < c->n_ids && k < n_all - 1 && c->ids[k] == all[k]) k++; /* at least one id to feed */
    memmove(all, all + k, (size_t)(n_all - k) * sizeof *all);
    *keep = k;
    *ids = all;
    *n = n_all - k;
    return 0;
}

/* After a turn the cache holds the rendering and the reply but its last
 * token; that one goes in too unless it ended the turn (the template
 * writes its own end of turn). */
static int chat_keep(llorch_session *s, chat_cache *c, char *render, const chat_reply *r, llorch_error *err) {
    free(c->text);
    c->text = render;
    c->len = 0;
    if (cache_append(c, r->ids, r->n_ids - 1 > 0 ? r->n_ids - 1 : 0)) return no_memory(err);
    if (r->n_ids && !r->eos) {
        if (llorch_session_pos(s, 0) >= llorch_session_ctx(s)) return 0; /* full: the next turn starts over */
        if (llorch_forward(s, 0, &r->last, 1, NULL, err)) return -1;
        if (cache_append(c, &r->last, 1)) return no_memory(err);
    }
    size_t n = strlen(render);
    char *p = (char *)realloc(render, n + r->len + 1);
    if (!p) return no_memory(err);
    memcpy(p + n, r->text, r->len + 1);
    c->text = p;
    c->len = n + r->len;
    return 0;
}

/* -i: a conversation. Every turn renders the whole conversation with the
 * chat template and feeds what the KV cache does not hold yet (chat_feed). */
static int chat_loop(const demo_args *a) {
    llorch_error err;
    llorch_model *m = NULL;
    llorch_session *s = NULL;
    llorch_message *conv = NULL;
    chat_cache cache = {NULL, 0, NULL, 0, 0};
    int n_conv = 0, rc = 1, tty = isatty(fileno(stdin)), turn = 0;
    char *line = NULL;
    size_t line_cap = 0;
    llorch_load_opts lo = {a->device, a->threads};
    if (llorch_load(&m, a->model_dir, &lo, &err)) goto fail;
    const llorch_config *cfg = llorch_model_config(m);
    llorch_session_opts so = {a->ctx ? a->ctx : cfg->max_seq_len < 4096 ? cfg->max_seq_len : 4096, 1};
    if (llorch_session_new(&s, m, &so, &err)) goto fail;
    if (a->system && add_message(&conv, &n_conv, "system", a->system)) goto oom;
    for (;;) {
        if (tty) { fputs("> ", stderr); fflush(stderr); }
        ssize_t got = getline(&line, &line_cap, stdin);
        if (got < 0) break;
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) line[--got] = 0;
        if (!got) continue;
        if (add_message(&conv, &n_conv, "user", line)) goto oom;
        char *render;
        int *ids, n, n_out = 0;
        if (llorch_chat_render(a->model_dir, conv, n_conv, 1, &render, &err)) goto fail;
        int kept;
        if (chat_feed(m, &cache, render, &kept, &ids, &n, &err)) { free(render); goto fail; }
        if (kept + n > so.ctx) {
            snprintf(err.msg, sizeof err.msg, "the conversation (%d tokens) no longer fits the context of %d (see --ctx)",
                     kept + n, so.ctx);
            free(render);
            free(ids);
            goto fail;
        }
        llorch_session_truncate(s, 0, kept);
        cache.n_ids = kept;
        if (cache_append(&cache, ids, n)) { free(render); free(ids); goto oom; }
        chat_reply r = {m, {0}, NULL, 0, 0, NULL, 0, 0, -1, 0};
        tk_stream_init(&r.fed, llorch_model_tokenizer(m), 0, 0);
        double t0 = now_s();
        int st = llorch_generate(s, ids, n, a->n_new, &a->sampler, on_reply, &r, &n_out, &err);
        double t1 = now_s();
        printf("\n");
        free(ids);
        if (!st && reply_finish(&r)) st = no_memory(&err);
        if (!st) st = chat_keep(s, &cache, render, &r, &err);
        else free(render);
        if (!st && a->bench)
            fprintf(stderr, "bench: turn=%d prompt_tokens=%d cached=%d new_tokens=%d held=%d tok_s=%.1f\n", ++turn,
                    kept + n, kept, n_out, llorch_session_pos(s, 0), n_out ? n_out / (t1 - t0) : 0.0);
        if (!st && add_message(&conv, &n_conv, "assistant", r.text)) st = no_memory(&err);
        free(r.text);
        free(r.ids);
        if (st) goto fail;
    }
    rc = 0;
    goto done;
oom:
    snprintf(err.msg, sizeof err.msg, "out of memory");
fail:
    fprintf(stderr, "error: %s\n", err.msg);
done:
    free(line);
    free(cache.text);
    free(cache.ids);
    free_messages(conv, n_conv);
    llorch_session_free(s);
    llorch_free(m);
    return rc;
}

static int write_logits(const char *path, const float *logits, int n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    /* little-endian float32, as every machine llorch runs on stores them */
    size_t w = fwrite(logits, sizeof *logits, (size_t)n, f);
    return fclose(f) || w != (size_t)n ? -1 : 0;
}

int main(int argc, char **argv) {
    double t_start = now_s();
    demo_args a;
    if (parse_args(argc, argv, &a)) return 1;
    struct stat sb;
    if (stat(a.model_dir, &sb) && errno == ENOENT) return no_model(a.model_dir);
    if (a.interactive) return chat_loop(&a);
    size_t len = 0;
    char *prompt = NULL;
    int add_bos = !a.chat && !a.messages; /* a chat template writes BOS itself */
    llorch_error err;
    if (a.messages) {
        llorch_message *msgs;
        int n;
        if (read_messages(a.messages, &msgs, &n)) return 1;
        int st = llorch_chat_render(a.model_dir, msgs, n, 1, &prompt, &err);
        free_messages(msgs, n);
        if (st) return die("%s", err.msg);
        len = strlen(prompt);
    } else {
        if (!(prompt = read_prompt(a.prompt, &len))) return die("cannot read the prompt from stdin: %s", strerror(errno));
        if (a.chat && strlen(prompt) != len) { /* the template takes C strings */
            size_t at = strlen(prompt);
            free(prompt);
            return die("the prompt holds a NUL byte at %zu, which --chat cannot pass on", at);
        }
        if (a.chat) { /* the template comes from the model directory */
            char *wrapped;
            if (llorch_chat_prompt(a.model_dir, a.system, prompt, &wrapped, &err)) {
                free(prompt);
                return die("%s", err.msg);
            }
            free(prompt);
            prompt = wrapped;
            len = strlen(prompt);
        }
    }

    if (a.tokenize) {
        int rc = print_tokens(a.model_dir, prompt, len, add_bos);
        free(prompt);
        return rc;
    }
    llorch_model *m = NULL;
    llorch_session *s = NULL;
    int *ids = NULL, n_ids = 0, rc = 1;
    float *logits = NULL;
    demo_out out = {a.ids, a.batch, isatty(fileno(stdout)), 0, NULL, NULL, NULL};
    llorch_load_opts lo = {a.device, a.threads};
    note_threads(a.threads);
    if (llorch_load(&m, a.model_dir, &lo, &err)) goto fail;
#ifdef LLORCH_CUDA
    if (!strcmp(a.device, "auto") && !strcmp(llorch_model_device(m), "cpu"))
        fprintf(stderr, "note: running on the CPU: no GPU here can run this model (--device cuda says why)\n");
#endif
    double t_loaded = now_s();
    const llorch_config *cfg = llorch_model_config(m);
    if (llorch_tokenize(m, prompt, len, add_bos, &ids, &n_ids, &err)) goto fail;
    if (n_ids == 0) {
        snprintf(err.msg, sizeof err.msg, "the prompt is empty and the model has no BOS token");
        goto fail;
    }
    if (n_ids > cfg->max_seq_len) {
        snprintf(err.msg, sizeof err.msg, "the prompt has %d tokens; the model's context is %d", n_ids, cfg->max_seq_len);
        goto fail;
    }
    /* the KV cache covers what this run uses, unless --ctx says otherwise */
    llorch_session_opts so = {a.ctx, a.batch};
    if (!so.ctx) so.ctx = (int)((long)n_ids + a.n_new < cfg->max_seq_len ? n_ids + a.n_new : cfg->max_seq_len);
    if (llorch_session_new(&s, m, &so, &err)) goto fail;

    if (a.dump_logits) {
        logits = (float *)malloc((size_t)cfg->vocab_size * sizeof *logits);
        if (!logits) { snprintf(err.msg, sizeof err.msg, "out of memory"); goto fail; }
        if (llorch_forward(s, 0, ids, n_ids, logits, &err)) goto fail;
        if (write_logits(a.dump_logits, logits, cfg->vocab_size)) {
            snprintf(err.msg, sizeof err.msg, "%s: cannot write the logits", a.dump_logits);
            goto fail;
        }
        llorch_session_reset(s);
    }
    if (a.n_new == 0 && a.dump_logits) { rc = 0; goto done; }

    /* the prompt but its last token, timed on its own; generation feeds the last one */
    out.text = (char **)calloc((size_t)a.batch, sizeof *out.text);
    out.text_len = (size_t *)calloc((size_t)a.batch, sizeof *out.text_len);
    out.count = (int *)calloc((size_t)a.batch, sizeof *out.count);
    llorch_sampler_opts *sopts = (llorch_sampler_opts *)calloc((size_t)a.batch, sizeof *sopts);
    const int **prompts = (const int **)calloc((size_t)a.batch, sizeof *prompts);
    int *n_prompt = (int *)calloc((size_t)a.batch, sizeof *n_prompt), *n_out = (int *)calloc((size_t)a.batch, sizeof *n_out);
    if (!out.text || !out.text_len || !out.count || !sopts || !prompts || !n_prompt || !n_out) {
        snprintf(err.msg, sizeof err.msg, "out of memory");
        free(sopts); free(prompts); free(n_prompt); free(n_out);
        goto fail;
    }
    double t0 = now_s();
    int gen_rc = 0;
    for (int i = 0; i < a.batch && !gen_rc; i++) {
        int run = a.n_new ? n_ids - 1 : n_ids;
        if (run > 0) gen_rc = llorch_forward(s, i, ids, run, NULL, &err);
        prompts[i] = a.n_new ? ids + n_ids - 1 : ids; /* with -n 0 everything ran already */
        n_prompt[i] = 1;
        sopts[i] = a.sampler;
        sopts[i].seed = a.sampler.seed + (uint64_t)i;
    }
    double t1 = now_s();
    if (!gen_rc && a.n_new)
        gen_rc = llorch_generate_batch(s, prompts, n_prompt, a.n_new, sopts, on_token, &out, n_out, &err);
    double t2 = now_s();
    free(sopts);
    free(prompts);
    free(n_prompt);
    if (gen_rc) { free(n_out); goto fail; }
    int total = 0;
    for (int i = 0; i < a.batch; i++) total += n_out[i];
    free(n_out);
    if (a.batch > 1)
        for (int i = 0; i < a.batch; i++) printf("--- sequence %d ---\n%s\n", i, out.text[i] ? out.text[i] : "");
    else if (a.ids || a.n_new)
        printf("\n");
    if (a.bench) {
        int pre = a.n_new ? n_ids - 1 : n_ids;
        fprintf(stderr,
                "bench: load_s=%.3f prompt_tokens=%d prefill_tok_s=%.1f decode_tokens=%d decode_tok_s=%.1f "
                "first_token_s=%.3f batch=%d device=%s weights_mb=%.1f session_mb=%.1f\n",
                t_loaded - t_start, n_ids, pre > 0 && t1 > t0 ? pre * a.batch / (t1 - t0) : 0.0, total,
                total && t2 > t1 ? total / (t2 - t1) : 0.0, out.first_token_s ? out.first_token_s - t_start : 0.0,
                a.batch, llorch_model_device(m), llorch_model_device_bytes(m) / 1048576.0,
                llorch_session_bytes(s) / 1048576.0);
    }
    rc = 0;
    goto done;
fail:
    die("%s", err.msg);
done:
    if (out.text)
        for (int i = 0; i < a.batch; i++) free(out.text[i]);
    free(out.text);
    free(out.text_len);
    free(out.count);
    free(logits);
    free(ids);
    free(prompt);
    llorch_session_free(s);
    llorch_free(m);
    return rc;
}
