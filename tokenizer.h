/* tokenizer.h - a small JSON reader, a BPE tokenizer for Hugging Face
 * tokenizer.json files (Llama / SentencePiece style) and an interpreter of
 * Jinja chat templates, in one header.
 *
 * Standalone, stb-style: include it anywhere for the declarations; in exactly
 * one C file write
 *
 *     #define TOKENIZER_IMPLEMENTATION
 *     #include "tokenizer.h"
 *
 * to compile the implementation. No global state; every function that can
 * fail returns 0 on success or -1 and writes a one-line message into the
 * caller's err buffer. Nothing here prints, exits or aborts.
 *
 * JSON reader
 *   tk_json j;
 *   if (tk_json_parse(&j, text, len, err, sizeof err)) ...;
 *   int cfg = 0;                                  // node 0 is the root
 *   int v = tk_json_get(&j, cfg, "hidden_size");  // -1 when absent
 *   long long x; tk_json_int(&j, v, &x);
 *   for (int c = tk_json_child(&j, arr); c >= 0; c = tk_json_next(&j, c)) ...
 *   tk_json_free(&j);
 *
 * The parser validates the whole document (RFC 8259 syntax, UTF-8 in strings,
 * escapes, nesting depth) and records it as a flat array of nodes; string
 * contents are unescaped on demand.
 *
 * Tokenizer
 *   tk_tokenizer *t;
 *   if (tk_load_file(&t, "dir/tokenizer.json", err, sizeof err)) ...;
 *   int *ids, n;
 *   tk_encode(t, text, strlen(text), 1, &ids, &n, err, sizeof err); // BOS + ids
 *   tk_stream s;                       // decode generated ids as they come
 *   tk_stream_init(&s, t, 0, 1);       // after a prompt, dropping specials
 *   char buf[256];                     // >= tk_max_token_bytes(t)
 *   int k = tk_stream_push(&s, id, buf, sizeof buf); fwrite(buf, 1, k, stdout);
 *   tk_free(t);
 *
 * Chat template (a Jinja interpreter, see its section below)
 *   tk_message msgs[] = {{"system", "Be brief."}, {"user", "Hi"}};
 *   char *prompt;                      // tokenizer_config.json's bytes in cfg
 *   tk_chat_render(cfg, cfg_len, "tokenizer_config.json", NULL, msgs, 2, 1, &prompt, err, sizeof err);
 *   tk_encode(t, prompt, strlen(prompt), 0, &ids, &n, err, sizeof err); // the template wrote BOS
 *
 * Encoding and decoding follow Hugging Face tokenizers exactly for the
 * components it supports (checked against tokenizers 0.23 on Llama 2's
 * tokenizer.json and variants of it); it refuses files with anything else.
 * BPE merging uses a min-heap over a linked list of symbols, O(n log n).
 */
#ifndef TOKENIZER_H
#define TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------------ */
/* JSON                                                                      */
/* ------------------------------------------------------------------------ */

typedef enum {
    TK_JSON_NULL, TK_JSON_FALSE, TK_JSON_TRUE, TK_JSON_NUMBER,
    TK_JSON_STRING, TK_JSON_ARRAY, TK_JSON_OBJECT
} tk_json_type;

typedef struct {
    tk_json_type type;
    size_t start, end; /* bytes of the value in the source; strings exclude quotes */
    int count;         /* arrays: elements; objects: key/value pairs */
    int next;          /* index of the node after this value's subtree */
    int parent;        /* enclosing array/object, -1 for the root */
    int has_escape;    /* strings: contains a backslash */
} tk_json_node;

typedef struct {
    const char *src;
    size_t len;
    tk_json_node *nodes;
    int n, cap;
} tk_json;

/* Parse len bytes of src (which must outlive j). Node 0 is the root value. */
int tk_json_parse(tk_json *j, const char *src, size_t len, char *err, size_t errlen);
void tk_json_free(tk_json *j);

/* Object member lookup by exact key; returns the value's node or -1. */
int tk_json_get(const tk_json *j, int obj, const char *key);
/* First child of an array (the first key of an object) or -1; next sibling or -1. */
int tk_json_child(const tk_json *j, int node);
int tk_json_next(const tk_json *j, int node);
/* The unescaped UTF-8 of a string node, in a new malloc'd NUL-terminated
 * buffer (its length in *outlen when not NULL); NULL when not a string or
 * out of memory. Strings may contain NUL (\u0000): use *outlen. */
char *tk_json_strdup(const tk_json *j, int node, size_t *outlen);
/* Compare a string node's unescaped contents with s. */
int tk_json_streq(const tk_json *j, int node, const char *s);
/* Numbers: 0 on success; -1 when the node is not a number (or, for
 * tk_json_int, not an integer that fits). */
int tk_json_number(const tk_json *j, int node, double *out);
int tk_json_int(const tk_json *j, int node, long long *out);

/* ------------------------------------------------------------------------ */
/* BPE tokenizer                                                             */
/* ------------------------------------------------------------------------ */

/* A Hugging Face tokenizer.json with a BPE model, SentencePiece style (Llama
 * 2, TinyLlama, Mistral): byte fallback, unk, added and special tokens, and
 * the normalizer, pre-tokenizer, post-processor and decoder steps those
 * files use (Prepend/Replace normalizers, Metaspace, TemplateProcessing,
 * Replace/ByteFallback/Fuse/Strip/Metaspace decoders). Any other component
 * is refused at load with an error, never tokenized differently from
 * Hugging Face `tokenizers`; so is a file that contradicts itself (an added
 * token whose id is not the one tokenizers would give it). A loaded
 * tokenizer is read-only: share it between threads freely. Errors read
 * "NAME: problem". */
typedef struct tk_tokenizer tk_tokenizer;

/* Load from the bytes of a tokenizer.json; name (e.g. the path) prefixes errors. */
int tk_load(tk_tokenizer **out, const char *json, size_t len, const char *name, char *err, size_t errlen);
/* Read and load a file; errors name the path ("PATH: problem"). */
int tk_load_file(tk_tokenizer **out, const char *path, char *err, size_t errlen);
void tk_free(tk_tokenizer *t);

int tk_vocab_size(const tk_tokenizer *t);  /* number of ids (max id + 1) */
int tk_bos_id(const tk_tokenizer *t);      /* first id the post-processor puts before the text, or -1 */
int tk_eos_id(const tk_tokenizer *t);      /* "</s>" or another end-of-text token, or -1 */
/* Exact lookup of an added token or vocabulary piece; -1 when none. */
int tk_token_id(const tk_tokenizer *t, const char *piece);
int tk_is_special(const tk_tokenizer *t, int id); /* a special token (what skip_special drops) */
/* The raw string of a token ("▁Hello", "<0x0A>", "</s>"), NUL-terminated,
 * its length in *len when not NULL; NULL for an id that is no token. */
const char *tk_piece(const tk_tokenizer *t, int id, size_t *len);

/* Encode UTF-8 text. add_special != 0 adds what the post-processor says
 * (BOS for Llama). *ids is malloc'd (caller frees), *n its length. Text
 * that is not valid UTF-8 is an error ("text is not valid UTF-8 at byte N"). */
int tk_encode(const tk_tokenizer *t, const char *text, size_t len, int add_special, int **ids, int *n,
              char *err, size_t errlen);
/* Decode ids as the file's decoder says (for Llama: "▁" -> " ", byte
 * tokens -> bytes, strip one leading space). skip_special != 0 drops special
 * tokens. A run of byte tokens that is not valid UTF-8 becomes one U+FFFD
 * per byte, as in Hugging Face. An id that is no token is an error. *out is
 * malloc'd and NUL-terminated; *len (when not NULL) excludes the NUL. */
int tk_decode(const tk_tokenizer *t, const int *ids, int n, int skip_special, char **out, size_t *len,
              char *err, size_t errlen);

/* Streaming decode: push one id at a time and get the bytes that are now
 * complete UTF-8. The outputs of all pushes plus tk_stream_flush equal
 * tk_decode of the whole sequence when at_start was 1 (the leading-space
 * strip then applies to the start of the output); with at_start 0
 * (continuing after a prompt) nothing is stripped. One exception: a run of
 * byte tokens holding a complete character followed by invalid bytes; the
 * stream has already emitted that character where tk_decode gives U+FFFD.
 * Fields are internal state: set them with tk_stream_init only. */
typedef struct {
    const tk_tokenizer *t;
    int at_start, skip_special;
    unsigned char pend[8];
    int npend;
} tk_stream;
void tk_stream_init(tk_stream *s, const tk_tokenizer *t, int at_start, int skip_special);
/* Writes at most cap bytes into out (no NUL) and returns their count; -1 for
 * an id that is no token, or when cap is too small for this output (then
 * nothing is consumed: call again with more room). cap >=
 * tk_max_token_bytes(t) is always enough (64 is for Llama 2). */
int tk_stream_push(tk_stream *s, int id, char *out, size_t cap);
/* Pending bytes of an incomplete character, as U+FFFD each (at most 9 bytes). */
int tk_stream_flush(tk_stream *s, char *out, size_t cap);
/* The most bytes one tk_stream_push or tk_stream_flush can write. */
int tk_max_token_bytes(const tk_tokenizer *t);

/* ------------------------------------------------------------------------ */
/* Chat template                                                             */
/* ------------------------------------------------------------------------ */

/* Chat templates are Jinja; a small interpreter of the part of Jinja that
 * Hugging Face chat templates use renders them exactly as transformers'
 * apply_chat_template(messages, add_generation_prompt=..., tokenize=False)
 * does (jinja2's sandbox with trim_blocks and lstrip_blocks, loop controls,
 * tojson, raise_exception, strftime_now). A construct it does not implement,
 * an error the template raises, or a template that runs too long or writes
 * too much is an error naming the line and column, never a different text.
 * The result is tokenized without adding special tokens: the template writes
 * BOS itself where the model wants one. *out is malloc'd and NUL-terminated. */
typedef struct {
    const char *role, *content; /* UTF-8, NUL-terminated */
} tk_message;

/* Render n messages with the chat_template of a tokenizer_config.json (its
 * bytes; name prefixes errors), or with tpl when it is not NULL (the
 * chat_template.jinja file newer model folders have). The template also sees
 * bos_token, eos_token, unk_token, pad_token, ... and additional_special_tokens
 * from the config (strings or AddedToken objects), tools and documents (None). */
int tk_chat_render(const char *config_json, size_t len, const char *name, const char *tpl, const tk_message *msgs,
                   int n, int add_generation_prompt, char **out, char *err, size_t errlen);

/* Render any template with the members of a JSON object as its variables. */
int tk_template_render(const char *tpl, size_t tlen, const char *vars_json, size_t vlen, char **out, char *err,
                       size_t errlen);

#endif /* TOKENIZER_H */

#ifdef TOKENIZER_IMPLEMENTATION
#ifndef TOKENIZER_IMPLEMENTATION_DONE
#define TOKENIZER_IMPLEMENTATION_DONE

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ======================================================================== */
/* JSON reader                                                               */
/* ======================================================================== */

#define TK_JSON_MAX_DEPTH 128

typedef struct {
    tk_json *j;
    int parent; /* the container being filled */
    size_t pos;
    char *err;
    size_t errlen;
} tk_json_parser;

static int tk_json_fail(tk_json_parser *p, const char *what) {
    if (p->err && p->errlen)
        snprintf(p->err, p->errlen, "invalid JSON at byte %zu: %s", p->pos, what);
    return -1;
}

static void tk_json_skip_ws(tk_json_parser *p) {
    const char *s = p->j->src;
    while (p->pos < p->j->len &&
           (s[p->pos] == ' ' || s[p->pos] == '\t' || s[p->pos] == '\n' || s[p->pos] == '\r'))
        p->pos++;
}

static int tk_json_push(tk_json_parser *p, tk_json_type type) {
    tk_json *j = p->j;
    if (j->n == j->cap) {
        if (j->cap > INT_MAX / 2) return tk_json_fail(p, "too many values");
        int cap = j->cap ? j->cap * 2 : 256;
        tk_json_node *nn = (tk_json_node *)realloc(j->nodes, (size_t)cap * sizeof *nn);
        if (!nn) return tk_json_fail(p, "out of memory");
        j->nodes = nn;
        j->cap = cap;
    }
    tk_json_node *nd = &j->nodes[j->n];
    memset(nd, 0, sizeof *nd);
    nd->type = type;
    nd->start = p->pos;
    nd->next = -1;
    nd->parent = p->parent;
    return j->n++;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static int tk_utf8_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    int len;
    unsigned min;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; min = 0x80; }
    else if ((c & 0xF0) == 0xE0) { len = 3; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; min = 0x10000; }
    else return 0;
    if ((size_t)len > n) return 0;
    unsigned cp = c & (0x3F >> (len - 1));
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

static int tk_hex4(const char *s, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

static int tk_json_parse_string(tk_json_parser *p) {
    const char *s = p->j->src;
    size_t len = p->j->len;
    p->pos++; /* opening quote */
    int idx = tk_json_push(p, TK_JSON_STRING);
    if (idx < 0) return -1;
    int esc = 0;
    while (p->pos < len) {
        unsigned char c = (unsigned char)s[p->pos];
        if (c == '"') {
            p->j->nodes[idx].end = p->pos;
            p->j->nodes[idx].has_escape = esc;
            p->j->nodes[idx].next = p->j->n;
            p->pos++;
            return idx;
        }
        if (c < 0x20) return tk_json_fail(p, "control character in string");
        if (c == '\\') {
            esc = 1;
            if (p->pos + 1 >= len) break;
            char e = s[p->pos + 1];
            if (e == 'u') {
                unsigned u;
                if (p->pos + 6 > len || tk_hex4(s + p->pos + 2, &u)) return tk_json_fail(p, "bad \\u escape");
                p->pos += 6;
                if (u >= 0xD800 && u <= 0xDBFF) { /* must be followed by a low surrogate */
                    unsigned lo;
                    if (p->pos + 6 > len || s[p->pos] != '\\' || s[p->pos + 1] != 'u' ||
                        tk_hex4(s + p->pos + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                        return tk_json_fail(p, "unpaired surrogate");
                    p->pos += 6;
                } else if (u >= 0xDC00 && u <= 0xDFFF) {
                    return tk_json_fail(p, "unpaired surrogate");
                }
                continue;
            }
            if (!strchr("\"\\/bfnrt", e) || e == 0) return tk_json_fail(p, "bad escape");
            p->pos += 2;
            continue;
        }
        int n = tk_utf8_len((const unsigned char *)s + p->pos, len - p->pos);
        if (!n) return tk_json_fail(p, "invalid UTF-8 in string");
        p->pos += (size_t)n;
    }
    return tk_json_fail(p, "unterminated string");
}

static int tk_json_parse_number(tk_json_parser *p) {
    const char *s = p->j->src;
    size_t len = p->j->len, i = p->pos;
    int idx = tk_json_push(p, TK_JSON_NUMBER);
    if (idx < 0) return -1;
    if (i < len && s[i] == '-') i++;
    if (i < len && s[i] == '0') i++;
    else if (i < len && s[i] >= '1' && s[i] <= '9') while (i < len && s[i] >= '0' && s[i] <= '9') i++;
    else return tk_json_fail(p, "bad number");
    if (i < len && s[i] == '.') {
        i++;
        if (!(i < len && s[i] >= '0' && s[i] <= '9')) return tk_json_fail(p, "bad number");
        while (i < len && s[i] >= '0' && s[i] <= '9') i++;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-')) i++;
        if (!(i < len && s[i] >= '0' && s[i] <= '9')) return tk_json_fail(p, "bad number");
        while (i < len && s[i] >= '0' && s[i] <= '9') i++;
    }
    p->pos = i;
    p->j->nodes[idx].end = i;
    p->j->nodes[idx].next = p->j->n;
    return idx;
}

static int tk_json_parse_value(tk_json_parser *p, int depth);

static int tk_json_parse_container(tk_json_parser *p, int depth, int is_obj) {
    int idx = tk_json_push(p, is_obj ? TK_JSON_OBJECT : TK_JSON_ARRAY);
    if (idx < 0) return -1;
    char close = is_obj ? '}' : ']';
    int count = 0, outer = p->parent;
    p->parent = idx;
    p->pos++;
    tk_json_skip_ws(p);
    if (p->pos < p->j->len && p->j->src[p->pos] == close) {
        p->pos++;
    } else {
        for (;;) {
            tk_json_skip_ws(p);
            if (is_obj) {
                if (p->pos >= p->j->len || p->j->src[p->pos] != '"') return tk_json_fail(p, "expected a key");
                if (tk_json_parse_string(p) < 0) return -1;
                tk_json_skip_ws(p);
                if (p->pos >= p->j->len || p->j->src[p->pos] != ':') return tk_json_fail(p, "expected ':'");
                p->pos++;
            }
            if (tk_json_parse_value(p, depth + 1) < 0) return -1;
            if (count == INT_MAX) return tk_json_fail(p, "too many values");
            count++;
            tk_json_skip_ws(p);
            if (p->pos >= p->j->len) return tk_json_fail(p, "unterminated container");
            char c = p->j->src[p->pos++];
            if (c == close) break;
            if (c != ',') return tk_json_fail(p, "expected ',' or a closing bracket");
        }
    }
    p->parent = outer;
    p->j->nodes[idx].count = count;
    p->j->nodes[idx].end = p->pos;
    p->j->nodes[idx].next = p->j->n;
    return idx;
}

static int tk_json_parse_literal(tk_json_parser *p, const char *word, tk_json_type type) {
    size_t n = strlen(word);
    if (p->j->len - p->pos < n || memcmp(p->j->src + p->pos, word, n)) return tk_json_fail(p, "unexpected character");
    int idx = tk_json_push(p, type);
    if (idx < 0) return -1;
    p->pos += n;
    p->j->nodes[idx].end = p->pos;
    p->j->nodes[idx].next = p->j->n;
    return idx;
}

static int tk_json_parse_value(tk_json_parser *p, int depth) {
    if (depth > TK_JSON_MAX_DEPTH) return tk_json_fail(p, "nested too deeply");
    tk_json_skip_ws(p);
    if (p->pos >= p->j->len) return tk_json_fail(p, "unexpected end");
    char c = p->j->src[p->pos];
    switch (c) {
    case '{': return tk_json_parse_container(p, depth, 1);
    case '[': return tk_json_parse_container(p, depth, 0);
    case '"': return tk_json_parse_string(p);
    case 't': return tk_json_parse_literal(p, "true", TK_JSON_TRUE);
    case 'f': return tk_json_parse_literal(p, "false", TK_JSON_FALSE);
    case 'n': return tk_json_parse_literal(p, "null", TK_JSON_NULL);
    default:
        if (c == '-' || (c >= '0' && c <= '9')) return tk_json_parse_number(p);
        return tk_json_fail(p, "unexpected character");
    }
}

int tk_json_parse(tk_json *j, const char *src, size_t len, char *err, size_t errlen) {
    memset(j, 0, sizeof *j);
    j->src = src;
    j->len = len;
    tk_json_parser p = {j, -1, 0, err, errlen};
    if (!src) { tk_json_fail(&p, "no input"); return -1; }
    if (len >= 3 && (unsigned char)src[0] == 0xEF && (unsigned char)src[1] == 0xBB && (unsigned char)src[2] == 0xBF)
        p.pos = 3; /* a UTF-8 byte-order mark */
    if (tk_json_parse_value(&p, 0) < 0) goto fail;
    tk_json_skip_ws(&p);
    if (p.pos != len) { tk_json_fail(&p, "trailing characters"); goto fail; }
    return 0;
fail:
    tk_json_free(j);
    return -1;
}

void tk_json_free(tk_json *j) {
    free(j->nodes);
    j->nodes = NULL;
    j->n = j->cap = 0;
}

int tk_json_child(const tk_json *j, int node) {
    if (node < 0 || node >= j->n) return -1;
    const tk_json_node *nd = &j->nodes[node];
    if ((nd->type != TK_JSON_ARRAY && nd->type != TK_JSON_OBJECT) || nd->count == 0) return -1;
    return node + 1;
}

/* The next value in the same container (for objects: key, value, key, ...). */
int tk_json_next(const tk_json *j, int node) {
    if (node < 0 || node >= j->n) return -1;
    int nx = j->nodes[node].next;
    if (nx <= 0 || nx >= j->n || j->nodes[nx].parent != j->nodes[node].parent) return -1;
    return nx;
}

int tk_json_get(const tk_json *j, int obj, const char *key) {
    if (obj < 0 || obj >= j->n || j->nodes[obj].type != TK_JSON_OBJECT) return -1;
    for (int k = tk_json_child(j, obj); k >= 0; k = tk_json_next(j, tk_json_next(j, k)))
        if (tk_json_streq(j, k, key)) return tk_json_next(j, k);
    return -1;
}

/* Decode the string node into out (which has room for end-start bytes: an
 * unescaped string is never longer than its source). Returns the length. */
static size_t tk_json_unescape(const tk_json *j, int node, char *out) {
    const tk_json_node *nd = &j->nodes[node];
    const char *s = j->src;
    size_t o = 0;
    for (size_t i = nd->start; i < nd->end;) {
        if (s[i] != '\\') { out[o++] = s[i++]; continue; }
        char e = s[i + 1];
        if (e != 'u') {
            const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
            out[o++] = to[strchr(from, e) - from];
            i += 2;
            continue;
        }
        unsigned u = 0, lo = 0xDC00;
        tk_hex4(s + i + 2, &u);
        i += 6;
        if (u >= 0xD800 && u <= 0xDBFF) {
            tk_hex4(s + i + 2, &lo);
            i += 6;
            u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
        }
        if (u < 0x80) out[o++] = (char)u;
        else if (u < 0x800) { out[o++] = (char)(0xC0 | (u >> 6)); out[o++] = (char)(0x80 | (u & 0x3F)); }
        else if (u < 0x10000) {
            out[o++] = (char)(0xE0 | (u >> 12)); out[o++] = (char)(0x80 | ((u >> 6) & 0x3F));
            out[o++] = (char)(0x80 | (u & 0x3F));
        } else {
            out[o++] = (char)(0xF0 | (u >> 18)); out[o++] = (char)(0x80 | ((u >> 12) & 0x3F));
            out[o++] = (char)(0x80 | ((u >> 6) & 0x3F)); out[o++] = (char)(0x80 | (u & 0x3F));
        }
    }
    return o;
}

char *tk_json_strdup(const tk_json *j, int node, size_t *outlen) {
    if (node < 0 || node >= j->n || j->nodes[node].type != TK_JSON_STRING) return NULL;
    const tk_json_node *nd = &j->nodes[node];
    char *out = (char *)malloc(nd->end - nd->start + 1);
    if (!out) return NULL;
    size_t n = nd->has_escape ? tk_json_unescape(j, node, out) : (memcpy(out, j->src + nd->start, nd->end - nd->start), nd->end - nd->start);
    out[n] = 0;
    if (outlen) *outlen = n;
    return out;
}

int tk_json_streq(const tk_json *j, int node, const char *str) {
    if (node < 0 || node >= j->n || j->nodes[node].type != TK_JSON_STRING) return 0;
    const tk_json_node *nd = &j->nodes[node];
    size_t n = strlen(str);
    if (!nd->has_escape) return nd->end - nd->start == n && memcmp(j->src + nd->start, str, n) == 0;
    size_t len;
    char *tmp = tk_json_strdup(j, node, &len);
    int eq = tmp && len == n && memcmp(tmp, str, n) == 0;
    free(tmp);
    return eq;
}

int tk_json_number(const tk_json *j, int node, double *out) {
    if (node < 0 || node >= j->n || j->nodes[node].type != TK_JSON_NUMBER) return -1;
    char buf[64];
    size_t n = j->nodes[node].end - j->nodes[node].start;
    if (n >= sizeof buf) {
        /* very long numbers: parse a copy */
        char *tmp = (char *)malloc(n + 1);
        if (!tmp) return -1;
        memcpy(tmp, j->src + j->nodes[node].start, n);
        tmp[n] = 0;
        *out = strtod(tmp, NULL);
        free(tmp);
        return 0;
    }
    memcpy(buf, j->src + j->nodes[node].start, n);
    buf[n] = 0;
    *out = strtod(buf, NULL);
    return 0;
}

int tk_json_int(const tk_json *j, int node, long long *out) {
    if (node < 0 || node >= j->n || j->nodes[node].type != TK_JSON_NUMBER) return -1;
    const tk_json_node *nd = &j->nodes[node];
    char buf[32];
    size_t n = nd->end - nd->start;
    if (n >= sizeof buf) return -1;
    memcpy(buf, j->src + nd->start, n);
    buf[n] = 0;
    if (strpbrk(buf, ".eE")) { /* 2.0 or 1e3 are integers too, if exact */
        double d = strtod(buf, NULL);
        if (!(d >= -9.0e15 && d <= 9.0e15) || d != floor(d)) return -1;
        *out = (long long)d;
        return 0;
    }
    errno = 0;
    long long v = strtoll(buf, NULL, 10);
    if (errno) return -1;
    *out = v;
    return 0;
}

/* ======================================================================== */
/* Tokenizer: helpers                                                        */
/* ======================================================================== */

#define TK_MAX_IDS (1 << 24)               /* vocabulary ids must lie below this */
#define TK_MAX_FILE ((size_t)1 << 30)      /* tk_load_file refuses bigger files */
#define TK_MAX_TEXT ((size_t)INT_MAX / 8)  /* tk_encode refuses longer texts */
#define TK_MAX_PIECE ((size_t)INT_MAX / 2) /* longest string after normalizing */
#define TK_MAX_BLOB ((size_t)1 << 31)      /* all decoded token strings together */
#define TK_NONE UINT32_MAX                 /* "no token" in per-id offset arrays */
#define TK_FFFD "\xEF\xBF\xBD"             /* U+FFFD REPLACEMENT CHARACTER */

/* Writes "NAME: message" (just "message" when name is NULL); returns -1. */
static int tk_fail(char *err, size_t errlen, const char *name, const char *fmt, ...) {
    if (err && errlen) {
        size_t k = 0;
        if (name) {
            int w = snprintf(err, errlen, "%s: ", name);
            k = w < 0 ? 0 : (size_t)w;
        }
        if (k < errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err + k, errlen - k, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

/* A growable byte buffer. */
typedef struct {
    char *p;
    size_t n, cap;
} tk_buf;

static int tk_buf_reserve(tk_buf *b, size_t extra) {
    if (extra > SIZE_MAX / 4 - b->n) return -1;
    size_t need = b->n + extra;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap *= 2;
    char *p = (char *)realloc(b->p, cap);
    if (!p) return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

static int tk_buf_put(tk_buf *b, const void *s, size_t n) {
    if (tk_buf_reserve(b, n)) return -1;
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    return 0;
}

/* A growable int array. */
typedef struct {
    int *p;
    size_t n, cap;
} tk_ivec;

static int tk_ivec_push(tk_ivec *v, int x) {
    if (v->n == v->cap) {
        if (v->cap > (size_t)INT_MAX / 2) return -1;
        size_t cap = v->cap ? v->cap * 2 : 64;
        int *p = (int *)realloc(v->p, cap * sizeof *p);
        if (!p) return -1;
        v->p = p;
        v->cap = cap;
    }
    v->p[v->n++] = x;
    return 0;
}

static char *tk_memdup(const char *s, size_t n) {
    char *p = (char *)malloc(n + 1);
    if (!p) return NULL;
    if (n) memcpy(p, s, n);
    p[n] = 0;
    return p;
}

static int tk_eq(const char *s, size_t n, const char *lit) {
    return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

/* The code point of the character at s (n >= 1 bytes); invalid UTF-8 reads
 * as U+FFFD of length 1. */
static unsigned tk_utf8_cp(const char *s, size_t n, size_t *len) {
    const unsigned char *u = (const unsigned char *)s;
    int l = tk_utf8_len(u, n);
    if (!l) { *len = 1; return 0xFFFD; }
    unsigned cp = l == 1 ? u[0] : (u[0] & (0x3Fu >> (l - 1)));
    for (int i = 1; i < l; i++) cp = (cp << 6) | (u[i] & 0x3Fu);
    *len = (size_t)l;
    return cp;
}

/* Offset of the first invalid UTF-8 byte in s, or n when it is all valid. */
static size_t tk_utf8_check(const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        int l = tk_utf8_len((const unsigned char *)s + i, n - i);
        if (!l) return i;
        i += (size_t)l;
    }
    return n;
}

/* Rust's char::is_whitespace (Unicode White_Space), which tokenizers uses
 * for the lstrip/rstrip of added tokens. */
static int tk_is_ws(unsigned c) {
    return (c >= 9 && c <= 13) || c == 32 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

/* Python's str.isspace, which Jinja's strip()/trim use. */
static int tk_is_pyspace(unsigned c) { return tk_is_ws(c) || (c >= 0x1C && c <= 0x1F); }

/* Start of the run of whitespace characters that ends at s[n]. */
static size_t tk_ws_left(const char *s, size_t n, int (*is_ws)(unsigned)) {
    size_t i = n;
    while (i > 0) {
        size_t b = i - 1, l;
        while (b > 0 && i - b < 4 && ((unsigned char)s[b] & 0xC0) == 0x80) b--;
        unsigned c = tk_utf8_cp(s + b, i - b, &l);
        if (l != i - b || !is_ws(c)) break;
        i = b;
    }
    return i;
}

/* Length of the run of whitespace characters that starts s. */
static size_t tk_ws_right(const char *s, size_t n, int (*is_ws)(unsigned)) {
    size_t i = 0, l;
    while (i < n && is_ws(tk_utf8_cp(s + i, n - i, &l))) i += l;
    return i;
}

/* A short printable form of s for error messages. */
static const char *tk_quote(char *q, size_t cap, const char *s, size_t n) {
    size_t o = 0;
    for (size_t i = 0; i < n && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == '"' || c == '\\' || c == 0x7F) o += (size_t)snprintf(q + o, cap - o, "\\x%02X", c);
        else q[o++] = (char)c;
        if (i + 1 < n && o + 8 >= cap) { memcpy(q + o, "...", 3); o += 3; }
    }
    q[o] = 0;
    return q;
}

/* Replace every occurrence of pat (non-empty, left to right, not
 * overlapping) in s by rep, into out (cleared first). */
static int tk_replace(tk_buf *out, const char *s, size_t n, const char *pat, size_t plen, const char *rep,
                      size_t rlen) {
    out->n = 0;
    size_t from = 0, i = 0;
    while (plen && i + plen <= n) {
        if (s[i] == pat[0] && memcmp(s + i, pat, plen) == 0) {
            if (tk_buf_put(out, s + from, i - from) || tk_buf_put(out, rep, rlen)) return -1;
            i += plen;
            from = i;
        } else {
            i++;
        }
    }
    return tk_buf_put(out, s + from, n - from);
}

/* ======================================================================== */
/* Tokenizer: hash tables                                                    */
/* ======================================================================== */

/* Open addressing with linear probing; tables are at least twice as big as
 * what they hold, so probes stay short and never run out of empty slots. */

static uint32_t tk_hash(const char *s, size_t n) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

static size_t tk_table_size(size_t n) {
    size_t c = 16;
    while (c < 2 * n) c *= 2;
    return c;
}

/* String -> id; the strings live in a blob the caller passes to each call. */
typedef struct {
    uint32_t off, len, hash;
    int32_t id; /* -1: empty slot */
} tk_sslot;

typedef struct {
    tk_sslot *slots;
    size_t mask;
} tk_strmap;

static int tk_strmap_init(tk_strmap *m, size_t n) {
    size_t cap = tk_table_size(n);
    m->slots = (tk_sslot *)malloc(cap * sizeof *m->slots);
    if (!m->slots) return -1;
    for (size_t i = 0; i < cap; i++) m->slots[i].id = -1;
    m->mask = cap - 1;
    return 0;
}

static int tk_strmap_find(const tk_strmap *m, const char *blob, const char *s, size_t n) {
    if (!m->slots) return -1;
    uint32_t h = tk_hash(s, n);
    for (size_t i = h & m->mask;; i = (i + 1) & m->mask) {
        const tk_sslot *e = &m->slots[i];
        if (e->id < 0) return -1;
        if (e->hash == h && e->len == n && memcmp(blob + e->off, s, n) == 0) return e->id;
    }
}

/* Adds blob[off, off+len) -> id; 1 (and nothing added) if the key is there. */
static int tk_strmap_add(tk_strmap *m, const char *blob, uint32_t off, uint32_t len, int id) {
    uint32_t h = tk_hash(blob + off, len);
    for (size_t i = h & m->mask;; i = (i + 1) & m->mask) {
        tk_sslot *e = &m->slots[i];
        if (e->id < 0) {
            e->off = off;
            e->len = len;
            e->hash = h;
            e->id = id;
            return 0;
        }
        if (e->hash == h && e->len == len && memcmp(blob + e->off, blob + off, len) == 0) return 1;
    }
}

/* (left id, right id) -> (rank, merged id). */
typedef struct {
    uint64_t key; /* UINT64_MAX: empty slot */
    int32_t rank, id;
} tk_mslot;

typedef struct {
    tk_mslot *slots;
    size_t mask;
} tk_mergemap;

static uint64_t tk_mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static int tk_merges_init(tk_mergemap *m, size_t n) {
    size_t cap = tk_table_size(n);
    m->slots = (tk_mslot *)malloc(cap * sizeof *m->slots);
    if (!m->slots) return -1;
    for (size_t i = 0; i < cap; i++) m->slots[i].key = UINT64_MAX;
    m->mask = cap - 1;
    return 0;
}

/* A pair listed twice keeps its last rank, as in tokenizers. */
static void tk_merges_put(tk_mergemap *m, int a, int b, int rank, int id) {
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    for (size_t i = tk_mix64(key) & m->mask;; i = (i + 1) & m->mask) {
        tk_mslot *e = &m->slots[i];
        if (e->key == UINT64_MAX || e->key == key) {
            e->key = key;
            e->rank = rank;
            e->id = id;
            return;
        }
    }
}

static int tk_merges_get(const tk_mergemap *m, int a, int b, int *rank, int *id) {
    if (!m->slots) return -1;
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    for (size_t i = tk_mix64(key) & m->mask;; i = (i + 1) & m->mask) {
        const tk_mslot *e = &m->slots[i];
        if (e->key == UINT64_MAX) return -1;
        if (e->key == key) {
            *rank = e->rank;
            *id = e->id;
            return 0;
        }
    }
}

/* ======================================================================== */
/* Tokenizer: the loaded form                                                */
/* ======================================================================== */

/* A byte trie of added-token contents, for leftmost-longest matching. */
typedef struct {
    int child, sibling, tok; /* tok: index into added[], -1 when no token ends here */
    unsigned char c;
} tk_tnode;

typedef struct {
    tk_tnode *v;
    int n, cap;
} tk_trie;

typedef struct {
    int id;
    uint32_t off, len;  /* content, in blob */
    char *norm;         /* normalized=true: the content after the normalizer */
    size_t nlen;
    int special, lstrip, rstrip, normalized;
} tk_added;

/* A string rewrite: Prepend a, or Replace a by b. A decoder's Metaspace step
 * is Replace(replacement, " ") that drops the replacement instead in the
 * first token when drop_first. */
enum { TK_PREPEND, TK_REPLACE };
typedef struct {
    int kind, drop_first;
    char *a, *b;
    size_t alen, blen;
} tk_step;

enum { TK_SCHEME_ALWAYS, TK_SCHEME_FIRST, TK_SCHEME_NEVER };

/* special[] flags */
#define TK_F_SPECIAL 1  /* decodes to a special token's content: skip_special drops it */
#define TK_F_ADDED 2    /* an added token */
#define TK_F_ADDED_SPECIAL 4 /* an added token marked special */

struct tk_tokenizer {
    int n_ids;                /* max id + 1 */
    char *blob;               /* vocabulary and added-token strings, each NUL-terminated */
    size_t blob_len;
    uint32_t *poff, *plen;    /* per id: its piece in blob (poff TK_NONE: no token) */
    unsigned char *special;   /* per id: TK_F_* */
    int n_vocab;              /* entries in the model's vocabulary */
    tk_strmap vocab;          /* the model's vocabulary: piece -> id */
    tk_strmap added_map;      /* added-token content -> id */
    tk_mergemap merges;
    int unk_id, byte_fallback, fuse_unk, ignore_merges;
    int byte_id[256];         /* id of "<0xXX>", -1 when absent */
    tk_step *norm;            /* normalizer */
    int n_norm;
    int meta, meta_scheme, meta_split; /* Metaspace pre-tokenizer */
    char meta_rep[8];
    size_t meta_replen;
    tk_added *added;
    int n_added;
    tk_trie raw_trie, norm_trie; /* added tokens matched before / after normalizing */
    int *prefix, *suffix;     /* post-processor: ids around the text */
    int n_prefix, n_suffix;
    tk_step *dsteps;          /* decoder: per-token rewrites before ByteFallback */
    int n_dsteps;
    int dec_bytes;            /* decoder has ByteFallback */
    char strip[8];            /* decoder Strip: the leading character removed */
    size_t strip_len;
    char *dblob;              /* per id: the token's text after dsteps; *0: as the first token */
    uint32_t *doff, *dlen, *doff0, *dlen0; /* doff0 NULL: same as doff */
    int max_out, eos_id;
};

static void tk_free_steps(tk_step *s, int n) {
    for (int i = 0; i < n; i++) {
        free(s[i].a);
        free(s[i].b);
    }
    free(s);
}

void tk_free(tk_tokenizer *t) {
    if (!t) return;
    free(t->blob);
    free(t->poff);
    free(t->plen);
    free(t->special);
    free(t->vocab.slots);
    free(t->added_map.slots);
    free(t->merges.slots);
    tk_free_steps(t->norm, t->n_norm);
    tk_free_steps(t->dsteps, t->n_dsteps);
    for (int i = 0; i < t->n_added; i++) free(t->added[i].norm);
    free(t->added);
    free(t->raw_trie.v);
    free(t->norm_trie.v);
    free(t->prefix);
    free(t->suffix);
    free(t->dblob);
    free(t->doff);
    free(t->dlen);
    free(t->doff0);
    free(t->dlen0);
    free(t);
}

static int tk_valid_id(const tk_tokenizer *t, int id) {
    return t && id >= 0 && id < t->n_ids && t->poff[id] != TK_NONE;
}

static int tk_trie_add(tk_trie *tr, const char *s, size_t n, int tok) {
    if (tr->n + (size_t)n + 1 > (size_t)INT_MAX / 2) return -1;
    if (tr->cap < tr->n + (int)n + 1) {
        int cap = tr->cap ? tr->cap : 64;
        while (cap < tr->n + (int)n + 1) cap *= 2;
        tk_tnode *v = (tk_tnode *)realloc(tr->v, (size_t)cap * sizeof *v);
        if (!v) return -1;
        tr->v = v;
        tr->cap = cap;
    }
    if (!tr->n) {
        tr->v[0].child = tr->v[0].sibling = tr->v[0].tok = -1;
        tr->v[0].c = 0;
        tr->n = 1;
    }
    int node = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int ch = tr->v[node].child;
        while (ch >= 0 && tr->v[ch].c != c) ch = tr->v[ch].sibling;
        if (ch < 0) {
            ch = tr->n++;
            tr->v[ch].child = tr->v[ch].tok = -1;
            tr->v[ch].sibling = tr->v[node].child;
            tr->v[ch].c = c;
            tr->v[node].child = ch;
        }
        node = ch;
    }
    if (tr->v[node].tok < 0) tr->v[node].tok = tok;
    return 0;
}

/* The longest added token that starts s: its index (length in *mlen) or -1. */
static int tk_trie_match(const tk_trie *tr, const char *s, size_t n, size_t *mlen) {
    if (!tr->n) return -1;
    int node = 0, best = -1;
    for (size_t i = 0; i < n; i++) {
        int ch = tr->v[node].child;
        while (ch >= 0 && tr->v[ch].c != (unsigned char)s[i]) ch = tr->v[ch].sibling;
        if (ch < 0) break;
        node = ch;
        if (tr->v[node].tok >= 0) {
            best = tr->v[node].tok;
            *mlen = i + 1;
        }
    }
    return best;
}

/* Apply rewrite steps to s. The result is s itself or lies in one of the two
 * buffers; first selects the drop_first variant. -1: out of memory or
 * longer than limit. */
static int tk_apply_steps(const tk_step *st, int nst, int first, const char *s, size_t n, tk_buf bufs[2],
                          size_t limit, const char **out, size_t *outn) {
    const char *cur = s;
    size_t cn = n;
    int which = 0;
    for (int k = 0; k < nst; k++) {
        tk_buf *d = &bufs[which];
        d->n = 0;
        if (st[k].kind == TK_PREPEND) {
            if (cn && (tk_buf_put(d, st[k].a, st[k].alen) || tk_buf_put(d, cur, cn))) return -1;
        } else {
            int drop = first && st[k].drop_first;
            if (tk_replace(d, cur, cn, st[k].a, st[k].alen, drop ? "" : st[k].b, drop ? 0 : st[k].blen)) return -1;
        }
        if (d->n > limit) return -1;
        cur = d->p ? d->p : "";
        cn = d->n;
        which ^= 1;
    }
    *out = cur ? cur : "";
    *outn = cn;
    return 0;
}

/* ======================================================================== */
/* Tokenizer: loading tokenizer.json                                         */
/* ======================================================================== */

typedef struct {
    tk_tokenizer *t;
    const tk_json *j;
    const char *name;
    char *err;
    size_t errlen;
    tk_buf s1, s2, s3; /* scratch for unescaped strings */
} tk_loader;

#define TK_LFAIL(L, ...) tk_fail((L)->err, (L)->errlen, (L)->name, __VA_ARGS__)

static int tk_is_null(const tk_json *j, int node) { return node < 0 || j->nodes[node].type == TK_JSON_NULL; }
static int tk_is_type(const tk_json *j, int node, tk_json_type ty) { return node >= 0 && j->nodes[node].type == ty; }

/* A string node's unescaped bytes: in the source when it has no escapes,
 * else in b. -1 when not a string or out of memory. */
static int tk_jstr(const tk_json *j, int node, tk_buf *b, const char **s, size_t *n) {
    if (!tk_is_type(j, node, TK_JSON_STRING)) return -1;
    const tk_json_node *nd = &j->nodes[node];
    if (!nd->has_escape) {
        *s = j->src + nd->start;
        *n = nd->end - nd->start;
        return 0;
    }
    b->n = 0;
    if (tk_buf_reserve(b, nd->end - nd->start + 1)) return -1;
    *n = tk_json_unescape(j, node, b->p);
    *s = b->p;
    return 0;
}

/* Optional boolean member; dflt when absent or null. */
static int tk_lbool(tk_loader *L, int obj, const char *key, const char *where, int dflt, int *out) {
    int v = tk_json_get(L->j, obj, key);
    if (tk_is_null(L->j, v)) { *out = dflt; return 0; }
    if (!tk_is_type(L->j, v, TK_JSON_TRUE) && !tk_is_type(L->j, v, TK_JSON_FALSE))
        return TK_LFAIL(L, "%s.%s is not a boolean", where, key);
    *out = tk_is_type(L->j, v, TK_JSON_TRUE);
    return 0;
}

/* Optional string member: 1 with *s, *n set; 0 when absent or null; -1 error. */
static int tk_lstr(tk_loader *L, int obj, const char *key, const char *where, tk_buf *b, const char **s, size_t *n) {
    int v = tk_json_get(L->j, obj, key);
    if (tk_is_null(L->j, v)) return 0;
    if (!tk_is_type(L->j, v, TK_JSON_STRING)) return TK_LFAIL(L, "%s.%s is not a string", where, key);
    if (tk_jstr(L->j, v, b, s, n)) return TK_LFAIL(L, "out of memory");
    return 1;
}

/* The "type" of a component object. */
static int tk_ltype(tk_loader *L, int obj, const char *where, const char **s, size_t *n) {
    if (!tk_is_type(L->j, obj, TK_JSON_OBJECT)) return TK_LFAIL(L, "%s is not an object", where);
    int r = tk_lstr(L, obj, "type", where, &L->s3, s, n);
    if (r < 0) return -1;
    if (!r) return TK_LFAIL(L, "%s has no \"type\"", where);
    return 0;
}

/* A member holding exactly one character (a Metaspace replacement, a Strip content). */
static int tk_lchar(tk_loader *L, int obj, const char *key, const char *where, char out[8], size_t *outn) {
    const char *s;
    size_t n;
    int r = tk_lstr(L, obj, key, where, &L->s1, &s, &n);
    if (r < 0) return -1;
    if (!r || !n || tk_utf8_len((const unsigned char *)s, n) != (int)n)
        return TK_LFAIL(L, "%s.%s is not a single character", where, key);
    memcpy(out, s, n);
    *outn = n;
    return 0;
}

static int tk_add_step(tk_loader *L, tk_step **steps, int *n, int kind, const char *a, size_t alen, const char *b,
                       size_t blen, int drop_first) {
    tk_step *v = (tk_step *)realloc(*steps, (size_t)(*n + 1) * sizeof *v);
    if (!v) return TK_LFAIL(L, "out of memory");
    *steps = v;
    tk_step *s = &v[*n];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->drop_first = drop_first;
    s->a = tk_memdup(a, alen);
    s->b = tk_memdup(b ? b : "", b ? blen : 0);
    s->alen = alen;
    s->blen = b ? blen : 0;
    (*n)++;
    if (!s->a || !s->b) return TK_LFAIL(L, "out of memory");
    return 0;
}

/* A Metaspace's prepend scheme: "prepend_scheme", or the older
 * "add_prefix_space" (false means never), default always. */
static int tk_lscheme(tk_loader *L, int obj, const char *where, int *scheme) {
    int aps;
    const char *s;
    size_t n;
    if (tk_lbool(L, obj, "add_prefix_space", where, -1, &aps)) return -1;
    int r = tk_lstr(L, obj, "prepend_scheme", where, &L->s2, &s, &n);
    if (r < 0) return -1;
    *scheme = TK_SCHEME_ALWAYS;
    if (r) {
        if (tk_eq(s, n, "first")) *scheme = TK_SCHEME_FIRST;
        else if (tk_eq(s, n, "always")) *scheme = TK_SCHEME_ALWAYS;
        else if (tk_eq(s, n, "never")) *scheme = TK_SCHEME_NEVER;
        else return TK_LFAIL(L, "%s.prepend_scheme is not first, always or never", where);
    }
    if (aps == 0) {
        if (r && *scheme != TK_SCHEME_NEVER)
            return TK_LFAIL(L, "%s: add_prefix_space false contradicts prepend_scheme", where);
        *scheme = TK_SCHEME_NEVER;
    }
    return 0;
}

/* A Replace's pattern: only the literal {"String": ...} form. */
static int tk_lpattern(tk_loader *L, int obj, const char *where, const char **s, size_t *n) {
    int p = tk_json_get(L->j, obj, "pattern");
    if (!tk_is_type(L->j, p, TK_JSON_OBJECT)) return TK_LFAIL(L, "%s.pattern is not an object", where);
    if (tk_json_get(L->j, p, "Regex") >= 0) return TK_LFAIL(L, "%s: a Regex pattern is not supported", where);
    int r = tk_lstr(L, p, "String", where, &L->s1, s, n);
    if (r < 0) return -1;
    if (!r || !*n) return TK_LFAIL(L, "%s.pattern has no non-empty \"String\"", where);
    return 0;
}

/* Pass 1 over the vocabulary and added tokens: ids in range, the largest id,
 * and how many bytes their strings take. */
static int tk_load_sizes(tk_loader *L, int vocab, int added, size_t *blob, int *nvocab) {
    const tk_json *j = L->j;
    long long maxid = -1;
    size_t total = 0;
    int count = 0;
    char q[64];
    const char *s;
    size_t n;
    for (int k = tk_json_child(j, vocab); k >= 0; k = tk_json_next(j, tk_json_next(j, k))) {
        long long id;
        if (tk_json_int(j, tk_json_next(j, k), &id) || id < 0 || id >= TK_MAX_IDS) {
            if (tk_jstr(j, k, &L->s1, &s, &n)) return TK_LFAIL(L, "out of memory");
            return TK_LFAIL(L, "model.vocab: the id of \"%s\" is not an integer in [0, %d)", tk_quote(q, sizeof q, s, n),
                            TK_MAX_IDS);
        }
        if (id > maxid) maxid = id;
        total += j->nodes[k].end - j->nodes[k].start + 1;
        count++;
    }
    if (!count) return TK_LFAIL(L, "model.vocab is empty");
    if (tk_is_type(j, added, TK_JSON_ARRAY)) {
        int i = 0;
        for (int a = tk_json_child(j, added); a >= 0; a = tk_json_next(j, a), i++) {
            long long id;
            int c = tk_json_get(j, a, "content");
            if (!tk_is_type(j, a, TK_JSON_OBJECT)) return TK_LFAIL(L, "added_tokens[%d] is not an object", i);
            if (tk_json_int(j, tk_json_get(j, a, "id"), &id) || id < 0 || id >= TK_MAX_IDS)
                return TK_LFAIL(L, "added_tokens[%d].id is not an integer in [0, %d)", i, TK_MAX_IDS);
            if (!tk_is_type(j, c, TK_JSON_STRING) || j->nodes[c].end == j->nodes[c].start)
                return TK_LFAIL(L, "added_tokens[%d].content is not a non-empty string", i);
            if (id > maxid) maxid = id;
            total += j->nodes[c].end - j->nodes[c].start + 1;
        }
    } else if (!tk_is_null(j, added)) {
        return TK_LFAIL(L, "added_tokens is not an array");
    }
    if (total >= TK_NONE) return TK_LFAIL(L, "the vocabulary is too large");
    *blob = total;
    *nvocab = count;
    L->t->n_ids = (int)maxid + 1;
    return 0;
}

/* Copy a string node into the blob; its offset and length. */
static void tk_blob_put(tk_tokenizer *t, const tk_json *j, int node, uint32_t *off, uint32_t *len) {
    const tk_json_node *nd = &j->nodes[node];
    char *dst = t->blob + t->blob_len;
    size_t n = nd->has_escape ? tk_json_unescape(j, node, dst)
                              : (memcpy(dst, j->src + nd->start, nd->end - nd->start), nd->end - nd->start);
    dst[n] = 0;
    *off = (uint32_t)t->blob_len;
    *len = (uint32_t)n;
    t->blob_len += n + 1;
}

static int tk_load_vocab(tk_loader *L, int model, int added) {
    const tk_json *j = L->j;
    tk_tokenizer *t = L->t;
    char q[64];
    int vocab = tk_json_get(j, model, "vocab");
    if (!tk_is_type(j, vocab, TK_JSON_OBJECT)) return TK_LFAIL(L, "model.vocab is missing or not an object");
    size_t blob = 0;
    int nvocab = 0;
    if (tk_load_sizes(L, vocab, added, &blob, &nvocab)) return -1;
    t->n_vocab = nvocab;
    size_t nid = (size_t)t->n_ids;
    t->blob = (char *)malloc(blob + 1);
    t->poff = (uint32_t *)malloc(nid * sizeof *t->poff);
    t->plen = (uint32_t *)calloc(nid, sizeof *t->plen);
    t->special = (unsigned char *)calloc(nid, 1);
    if (!t->blob || !t->poff || !t->plen || !t->special || tk_strmap_init(&t->vocab, (size_t)nvocab))
        return TK_LFAIL(L, "out of memory");
    for (size_t i = 0; i < nid; i++) t->poff[i] = TK_NONE;

    for (int k = tk_json_child(j, vocab); k >= 0; k = tk_json_next(j, tk_json_next(j, k))) {
        long long id;
        uint32_t off, len;
        tk_json_int(j, tk_json_next(j, k), &id);
        tk_blob_put(t, j, k, &off, &len);
        if (tk_strmap_add(&t->vocab, t->blob, off, len, (int)id))
            return TK_LFAIL(L, "model.vocab: \"%s\" is listed twice", tk_quote(q, sizeof q, t->blob + off, len));
        if (t->poff[id] != TK_NONE) return TK_LFAIL(L, "model.vocab: id %lld is used twice", id);
        t->poff[id] = off;
        t->plen[id] = len;
    }

    if (!tk_is_type(j, added, TK_JSON_ARRAY)) return 0;
    int na = j->nodes[added].count;
    t->added = (tk_added *)calloc((size_t)na + 1, sizeof *t->added);
    if (!t->added || tk_strmap_init(&t->added_map, (size_t)na)) return TK_LFAIL(L, "out of memory");
    char where[48];
    int i = 0, maxadded = -1;
    for (int a = tk_json_child(j, added); a >= 0; a = tk_json_next(j, a), i++) {
        long long id;
        int single_word = 0;
        tk_added *ad = &t->added[i];
        snprintf(where, sizeof where, "added_tokens[%d]", i);
        tk_json_int(j, tk_json_get(j, a, "id"), &id);
        ad->id = (int)id;
        if (tk_lbool(L, a, "special", where, 0, &ad->special) || tk_lbool(L, a, "lstrip", where, 0, &ad->lstrip) ||
            tk_lbool(L, a, "rstrip", where, 0, &ad->rstrip) ||
            tk_lbool(L, a, "normalized", where, !ad->special, &ad->normalized) ||
            tk_lbool(L, a, "single_word", where, 0, &single_word))
            return -1;
        tk_blob_put(t, j, tk_json_get(j, a, "content"), &ad->off, &ad->len);
        t->n_added = i + 1;
        const char *c = t->blob + ad->off;
        if (single_word) return TK_LFAIL(L, "%s: single_word added tokens are not supported", where);
        if (tk_strmap_add(&t->added_map, t->blob, ad->off, ad->len, ad->id))
            return TK_LFAIL(L, "added_tokens: \"%s\" is listed twice", tk_quote(q, sizeof q, c, ad->len));
        /* tokenizers ignores the id in the file: a token that is in the
         * vocabulary gets its id there, a new one the next free id. Where the
         * file says otherwise it is inconsistent: refuse it. */
        int want = tk_strmap_find(&t->vocab, t->blob, c, ad->len);
        if (want < 0) want = maxadded + 1 > t->n_vocab ? maxadded + 1 : t->n_vocab;
        if (id != want)
            return TK_LFAIL(L, "%s: \"%s\" has id %lld, but tokenizers gives it id %d", where,
                            tk_quote(q, sizeof q, c, ad->len), id, want);
        if (t->poff[id] != TK_NONE && (t->plen[id] != ad->len || memcmp(t->blob + t->poff[id], c, ad->len)))
            return TK_LFAIL(L, "%s: id %lld is also the vocabulary's \"%s\"", where, id,
                            tk_quote(q, sizeof q, t->blob + t->poff[id], t->plen[id]));
        if (t->special[id] & TK_F_ADDED) return TK_LFAIL(L, "added_tokens: id %lld is used twice", id);
        if (ad->id > maxadded) maxadded = ad->id;
        t->poff[id] = ad->off;
        t->plen[id] = ad->len;
        t->special[id] = (unsigned char)(TK_F_ADDED | (ad->special ? TK_F_ADDED_SPECIAL : 0));
    }
    return 0;
}

static int tk_load_merges(tk_loader *L, int model) {
    const tk_json *j = L->j;
    tk_tokenizer *t = L->t;
    char q[64];
    int m = tk_json_get(j, model, "merges");
    if (!tk_is_type(j, m, TK_JSON_ARRAY)) return TK_LFAIL(L, "model.merges is missing or not an array");
    if (tk_merges_init(&t->merges, (size_t)j->nodes[m].count)) return TK_LFAIL(L, "out of memory");
    int i = 0;
    for (int e = tk_json_child(j, m); e >= 0; e = tk_json_next(j, e), i++) {
        const char *a, *b, *s;
        size_t an, bn, n;
        if (tk_is_type(j, e, TK_JSON_STRING)) { /* "a b": exactly one space */
            if (tk_jstr(j, e, &L->s1, &s, &n)) return TK_LFAIL(L, "out of memory");
            const char *sp = (const char *)memchr(s, ' ', n);
            if (!sp || memchr(sp + 1, ' ', n - (size_t)(sp - s) - 1))
                return TK_LFAIL(L, "model.merges[%d] is not \"a b\" with one space", i);
            a = s;
            an = (size_t)(sp - s);
            b = sp + 1;
            bn = n - an - 1;
        } else if (tk_is_type(j, e, TK_JSON_ARRAY) && j->nodes[e].count == 2 &&
                   tk_is_type(j, tk_json_child(j, e), TK_JSON_STRING) &&
                   tk_is_type(j, tk_json_next(j, tk_json_child(j, e)), TK_JSON_STRING)) {
            if (tk_jstr(j, tk_json_child(j, e), &L->s1, &a, &an) ||
                tk_jstr(j, tk_json_next(j, tk_json_child(j, e)), &L->s2, &b, &bn))
                return TK_LFAIL(L, "out of memory");
        } else {
            return TK_LFAIL(L, "model.merges[%d] is neither \"a b\" nor [\"a\", \"b\"]", i);
        }
        int ia = tk_strmap_find(&t->vocab, t->blob, a, an);
        int ib = tk_strmap_find(&t->vocab, t->blob, b, bn);
        if (ia < 0) return TK_LFAIL(L, "model.merges[%d]: \"%s\" is not in the vocabulary", i, tk_quote(q, sizeof q, a, an));
        if (ib < 0) return TK_LFAIL(L, "model.merges[%d]: \"%s\" is not in the vocabulary", i, tk_quote(q, sizeof q, b, bn));
        L->s3.n = 0;
        if (tk_buf_put(&L->s3, a, an) || tk_buf_put(&L->s3, b, bn)) return TK_LFAIL(L, "out of memory");
        int im = tk_strmap_find(&t->vocab, t->blob, L->s3.p, L->s3.n);
        if (im < 0)
            return TK_LFAIL(L, "model.merges[%d]: the merged token \"%s\" is not in the vocabulary", i,
                            tk_quote(q, sizeof q, L->s3.p, L->s3.n));
        tk_merges_put(&t->merges, ia, ib, i, im);
    }
    return 0;
}

static int tk_load_model(tk_loader *L, int root) {
    const tk_json *j = L->j;
    tk_tokenizer *t = L->t;
    const char *s;
    size_t n;
    char q[64];
    int model = tk_json_get(j, root, "model");
    if (!tk_is_type(j, model, TK_JSON_OBJECT)) return TK_LFAIL(L, "\"model\" is missing or not an object");
    int r = tk_lstr(L, model, "type", "model", &L->s1, &s, &n);
    if (r < 0) return -1;
    if (r && !tk_eq(s, n, "BPE")) return TK_LFAIL(L, "model type \"%s\" is not supported (only BPE)", tk_quote(q, sizeof q, s, n));
    int v = tk_json_get(j, model, "dropout");
    double d;
    if (!tk_is_null(j, v) && (tk_json_number(j, v, &d) || d != 0.0))
        return TK_LFAIL(L, "model.dropout is not supported");
    const char *affixes[2] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int k = 0; k < 2; k++) {
        r = tk_lstr(L, model, affixes[k], "model", &L->s1, &s, &n);
        if (r < 0) return -1;
        if (r && n) return TK_LFAIL(L, "model.%s is not supported", affixes[k]);
    }
    if (tk_lbool(L, model, "fuse_unk", "model", 0, &t->fuse_unk) ||
        tk_lbool(L, model, "byte_fallback", "model", 0, &t->byte_fallback) ||
        tk_lbool(L, model, "ignore_merges", "model", 0, &t->ignore_merges))
        return -1;
    int added = tk_json_get(j, root, "added_tokens");
    if (tk_load_vocab(L, model, added) || tk_load_merges(L, model)) return -1;
    t->unk_id = -1;
    r = tk_lstr(L, model, "unk_token", "model", &L->s1, &s, &n);
    if (r < 0) return -1;
    if (r && (t->unk_id = tk_strmap_find(&t->vocab, t->blob, s, n)) < 0)
        return TK_LFAIL(L, "model.unk_token \"%s\" is not in the vocabulary", tk_quote(q, sizeof q, s, n));
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        t->byte_id[b] = tk_strmap_find(&t->vocab, t->blob, name, 6);
    }
    return 0;
}

static int tk_load_normalizer(tk_loader *L, int node, const char *where, int depth) {
    const char *s, *c;
    size_t n, cn;
    char q[64], sub[64];
    if (tk_is_null(L->j, node)) return 0;
    if (depth > 8) return TK_LFAIL(L, "%s is nested too deeply", where);
    if (tk_ltype(L, node, where, &s, &n)) return -1;
    if (tk_eq(s, n, "Sequence")) {
        int list = tk_json_get(L->j, node, "normalizers");
        if (!tk_is_type(L->j, list, TK_JSON_ARRAY)) return TK_LFAIL(L, "%s.normalizers is not an array", where);
        int i = 0;
        for (int e = tk_json_child(L->j, list); e >= 0; e = tk_json_next(L->j, e), i++) {
            snprintf(sub, sizeof sub, "normalizer[%d]", i);
            if (tk_load_normalizer(L, e, sub, depth + 1)) return -1;
        }
        return 0;
    }
    if (tk_eq(s, n, "Prepend")) {
        int r = tk_lstr(L, node, "prepend", where, &L->s1, &c, &cn);
        if (r <= 0) return r < 0 ? -1 : TK_LFAIL(L, "%s has no \"prepend\"", where);
        return tk_add_step(L, &L->t->norm, &L->t->n_norm, TK_PREPEND, c, cn, NULL, 0, 0);
    }
    if (tk_eq(s, n, "Replace")) {
        if (tk_lpattern(L, node, where, &s, &n)) return -1;
        int r = tk_lstr(L, node, "content", where, &L->s2, &c, &cn);
        if (r <= 0) return r < 0 ? -1 : TK_LFAIL(L, "%s has no \"content\"", where);
        return tk_add_step(L, &L->t->norm, &L->t->n_norm, TK_REPLACE, s, n, c, cn, 0);
    }
    return TK_LFAIL(L, "%s type \"%s\" is not supported (only Sequence, Prepend, Replace)", where, tk_quote(q, sizeof q, s, n));
}

static int tk_load_pretokenizer(tk_loader *L, int node) {
    tk_tokenizer *t = L->t;
    const char *s;
    size_t n;
    char q[64];
    if (tk_is_null(L->j, node)) return 0;
    if (tk_ltype(L, node, "pre_tokenizer", &s, &n)) return -1;
    if (tk_eq(s, n, "Sequence")) { /* only a sequence of one Metaspace */
        int list = tk_json_get(L->j, node, "pretokenizers");
        if (!tk_is_type(L->j, list, TK_JSON_ARRAY) || L->j->nodes[list].count > 1)
            return TK_LFAIL(L, "pre_tokenizer: a Sequence other than one Metaspace is not supported");
        node = tk_json_child(L->j, list);
        if (node < 0) return 0;
        if (tk_ltype(L, node, "pre_tokenizer", &s, &n)) return -1;
    }
    if (!tk_eq(s, n, "Metaspace"))
        return TK_LFAIL(L, "pre_tokenizer type \"%s\" is not supported (only Metaspace)", tk_quote(q, sizeof q, s, n));
    t->meta = 1;
    if (tk_lchar(L, node, "replacement", "pre_tokenizer", t->meta_rep, &t->meta_replen) ||
        tk_lscheme(L, node, "pre_tokenizer", &t->meta_scheme) ||
        tk_lbool(L, node, "split", "pre_tokenizer", 1, &t->meta_split))
        return -1;
    return 0;
}

/* TemplateProcessing "single": special tokens around one $A. */
static int tk_load_template(tk_loader *L, int node) {
    const tk_json *j = L->j;
    tk_tokenizer *t = L->t;
    const char *s;
    size_t n;
    char q[64];
    int single = tk_json_get(j, node, "single");
    int specials = tk_json_get(j, node, "special_tokens");
    if (!tk_is_type(j, single, TK_JSON_ARRAY)) return TK_LFAIL(L, "post_processor.single is not an array");
    int seq = 0, i = 0;
    for (int e = tk_json_child(j, single); e >= 0; e = tk_json_next(j, e), i++) {
        int sq = tk_json_get(j, e, "Sequence"), st = tk_json_get(j, e, "SpecialToken");
        if (tk_is_type(j, sq, TK_JSON_OBJECT)) {
            if (tk_jstr(j, tk_json_get(j, sq, "id"), &L->s1, &s, &n) || !tk_eq(s, n, "A") || seq)
                return TK_LFAIL(L, "post_processor.single[%d]: only one sequence $A is supported", i);
            seq = 1;
            continue;
        }
        if (!tk_is_type(j, st, TK_JSON_OBJECT) || tk_jstr(j, tk_json_get(j, st, "id"), &L->s1, &s, &n))
            return TK_LFAIL(L, "post_processor.single[%d] is neither a Sequence nor a SpecialToken", i);
        char *key = tk_memdup(s, n);
        if (!key) return TK_LFAIL(L, "out of memory");
        int entry = strlen(key) == n ? tk_json_get(j, specials, key) : -1;
        free(key);
        int ids = tk_json_get(j, entry, "ids");
        if (!tk_is_type(j, ids, TK_JSON_ARRAY))
            return TK_LFAIL(L, "post_processor.special_tokens has no ids for \"%s\"", tk_quote(q, sizeof q, s, n));
        for (int e2 = tk_json_child(j, ids); e2 >= 0; e2 = tk_json_next(j, e2)) {
            long long id;
            if (tk_json_int(j, e2, &id) || id < 0 || id >= t->n_ids || !tk_valid_id(t, (int)id))
                return TK_LFAIL(L, "post_processor: an id of \"%s\" is not a token", tk_quote(q, sizeof q, s, n));
            int **arr = seq ? &t->suffix : &t->prefix;
            int *cnt = seq ? &t->n_suffix : &t->n_prefix;
            int *p = (int *)realloc(*arr, (size_t)(*cnt + 1) * sizeof *p);
            if (!p) return TK_LFAIL(L, "out of memory");
            p[(*cnt)++] = (int)id;
            *arr = p;
        }
    }
    if (!seq) return TK_LFAIL(L, "post_processor.single has no $A");
    return 0;
}

static int tk_load_postprocessor(tk_loader *L, int node) {
    const char *s;
    size_t n;
    char q[64];
    if (tk_is_null(L->j, node)) return 0;
    if (tk_ltype(L, node, "post_processor", &s, &n)) return -1;
    if (tk_eq(s, n, "TemplateProcessing")) return tk_load_template(L, node);
    if (tk_eq(s, n, "Sequence")) { /* ByteLevel only edits offsets: skip it */
        int list = tk_json_get(L->j, node, "processors"), seen = 0;
        if (!tk_is_type(L->j, list, TK_JSON_ARRAY)) return TK_LFAIL(L, "post_processor.processors is not an array");
        for (int e = tk_json_child(L->j, list); e >= 0; e = tk_json_next(L->j, e)) {
            if (tk_ltype(L, e, "post_processor", &s, &n)) return -1;
            if (tk_eq(s, n, "ByteLevel")) continue;
            if (!tk_eq(s, n, "TemplateProcessing") || seen++)
                return TK_LFAIL(L, "post_processor: \"%s\" in a Sequence is not supported", tk_quote(q, sizeof q, s, n));
            if (tk_load_template(L, e)) return -1;
        }
        return 0;
    }
    return TK_LFAIL(L, "post_processor type \"%s\" is not supported (only TemplateProcessing)", tk_quote(q, sizeof q, s, n));
}

/* Supported decoders: per-token Replace/Metaspace steps, then ByteFallback,
 * Fuse and a Strip of one leading character, in that order. */
static int tk_load_decoder(tk_loader *L, int node) {
    const tk_json *j = L->j;
    tk_tokenizer *t = L->t;
    const char *s, *c;
    size_t n, cn;
    char q[64], where[48];
    if (tk_is_null(j, node)) return TK_LFAIL(L, "decoder is missing (a tokenizer without one is not supported)");
    if (tk_ltype(L, node, "decoder", &s, &n)) return -1;
    int list = -1, count = 1, phase = 0; /* 0 token steps, 1 ByteFallback, 2 Fuse, 3 Strip */
    if (tk_eq(s, n, "Sequence")) {
        list = tk_json_get(j, node, "decoders");
        if (!tk_is_type(j, list, TK_JSON_ARRAY)) return TK_LFAIL(L, "decoder.decoders is not an array");
        count = j->nodes[list].count;
    }
    int e = list >= 0 ? tk_json_child(j, list) : node;
    for (int i = 0; i < count; i++, e = tk_json_next(j, e)) {
        if (list >= 0) snprintf(where, sizeof where, "decoder[%d]", i);
        else strcpy(where, "decoder");
        if (tk_ltype(L, e, where, &s, &n)) return -1;
        int want; /* the phase this step may not come after */
        if (tk_eq(s, n, "Replace") || tk_eq(s, n, "Metaspace")) want = 0;
        else if (tk_eq(s, n, "ByteFallback")) want = 1;
        else if (tk_eq(s, n, "Fuse")) want = 2;
        else if (tk_eq(s, n, "Strip")) want = 3;
        else return TK_LFAIL(L, "%s type \"%s\" is not supported", where, tk_quote(q, sizeof q, s, n));
        if (phase >= (want ? want : 1) || (want == 3 && phase != 2))
            return TK_LFAIL(L, "%s: \"%s\" in this position is not supported", where, tk_quote(q, sizeof q, s, n));
        if (tk_eq(s, n, "Replace")) {
            if (tk_lpattern(L, e, where, &s, &n)) return -1;
            int r = tk_lstr(L, e, "content", where, &L->s2, &c, &cn);
            if (r <= 0) return r < 0 ? -1 : TK_LFAIL(L, "%s has no \"content\"", where);
            if (tk_add_step(L, &t->dsteps, &t->n_dsteps, TK_REPLACE, s, n, c, cn, 0)) return -1;
        } else if (tk_eq(s, n, "Metaspace")) {
            char rep[8];
            size_t rn = 0;
            int scheme = 0;
            if (tk_lchar(L, e, "replacement", where, rep, &rn) || tk_lscheme(L, e, where, &scheme)) return -1;
            if (tk_add_step(L, &t->dsteps, &t->n_dsteps, TK_REPLACE, rep, rn, " ", 1, scheme != TK_SCHEME_NEVER))
                return -1;
        } else if (want == 1) {
            t->dec_bytes = 1;
            phase = 1;
        } else if (want == 2) {
            phase = 2;
        } else {
            long long start, stop;
            if (tk_json_int(j, tk_json_get(j, e, "start"), &start) || tk_json_int(j, tk_json_get(j, e, "stop"), &stop))
                return TK_LFAIL(L, "%s needs integer start and stop", where);
            if (start < 0 || start > 1 || stop != 0)
                return TK_LFAIL(L, "%s: only start 0 or 1 and stop 0 are supported", where);
            if (tk_lchar(L, e, "content", where, t->strip, &t->strip_len)) return -1;
            if (!start) t->strip_len = 0;
            phase = 3;
        }
    }
    return 0;
}

/* Added tokens: the trie for the raw text, and for the normalized text
 * (normalized=true tokens, their content normalized the same way). */
static int tk_build_added(tk_loader *L) {
    tk_tokenizer *t = L->t;
    tk_buf bufs[2] = {{0}};
    int rc = 0;
    char q[64];
    for (int i = 0; i < t->n_added && !rc; i++) {
        tk_added *a = &t->added[i];
        const char *c = t->blob + a->off, *s = c;
        size_t n = a->len;
        if (a->normalized && tk_apply_steps(t->norm, t->n_norm, 0, c, a->len, bufs, TK_MAX_PIECE, &s, &n)) {
            rc = TK_LFAIL(L, "out of memory");
            break;
        }
        if (!n) {
            rc = TK_LFAIL(L, "added token \"%s\" normalizes to nothing", tk_quote(q, sizeof q, c, a->len));
            break;
        }
        /* keep the normalized form where the normalizer changed it: it is
         * what the text is matched against, and what the decoder sees */
        if (a->normalized && (n != a->len || memcmp(s, c, n))) {
            if (!(a->norm = tk_memdup(s, n))) rc = TK_LFAIL(L, "out of memory");
            a->nlen = n;
        }
        if (!rc && tk_trie_add(a->normalized ? &t->norm_trie : &t->raw_trie, s, n, i)) rc = TK_LFAIL(L, "out of memory");
    }
    free(bufs[0].p);
    free(bufs[1].p);
    return rc;
}

/* Each token's text after the decoder's per-token steps, as a later and as
 * the first token (they differ only for a Metaspace decoder). As in
 * tokenizers, the decoder sees a normalized=true added token in its
 * normalized form, and skip_special drops the ids whose text (before the
 * decoder) is the content of a special added token. */
static int tk_build_decoded(tk_loader *L) {
    tk_tokenizer *t = L->t;
    size_t nid = (size_t)t->n_ids, maxlen = 0;
    int two = 0;
    for (int k = 0; k < t->n_dsteps; k++) two |= t->dsteps[k].drop_first;
    t->doff = (uint32_t *)malloc(nid * sizeof *t->doff);
    t->dlen = (uint32_t *)calloc(nid, sizeof *t->dlen);
    if (two) {
        t->doff0 = (uint32_t *)malloc(nid * sizeof *t->doff0);
        t->dlen0 = (uint32_t *)calloc(nid, sizeof *t->dlen0);
    }
    int *norm_of = (int *)malloc(nid * sizeof *norm_of); /* id -> added token with a normalized form */
    if (!t->doff || !t->dlen || (two && (!t->doff0 || !t->dlen0)) || !norm_of) {
        free(norm_of);
        return TK_LFAIL(L, "out of memory");
    }
    for (size_t id = 0; id < nid; id++) norm_of[id] = -1;
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].norm) norm_of[t->added[i].id] = i;
    tk_buf blob = {0}, bufs[2] = {{0}};
    int rc = 0;
    for (size_t id = 0; id < nid && !rc; id++) {
        t->doff[id] = TK_NONE;
        if (two) t->doff0[id] = TK_NONE;
        if (t->poff[id] == TK_NONE) continue;
        const char *src = t->blob + t->poff[id];
        size_t sn = t->plen[id];
        if (norm_of[id] >= 0) {
            src = t->added[norm_of[id]].norm;
            sn = t->added[norm_of[id]].nlen;
        }
        int sid = tk_strmap_find(&t->added_map, t->blob, src, sn);
        t->special[id] &= (unsigned char)~TK_F_SPECIAL;
        if (sid >= 0 && (t->special[sid] & TK_F_ADDED_SPECIAL)) t->special[id] |= TK_F_SPECIAL;
        for (int first = 0; first <= two && !rc; first++) {
            const char *s;
            size_t n;
            if (tk_apply_steps(t->dsteps, t->n_dsteps, first, src, sn, bufs, TK_MAX_PIECE, &s, &n) ||
                blob.n + n + 1 > TK_MAX_BLOB) {
                rc = TK_LFAIL(L, "the decoded vocabulary is too large");
                break;
            }
            (first ? t->doff0 : t->doff)[id] = (uint32_t)blob.n;
            (first ? t->dlen0 : t->dlen)[id] = (uint32_t)n;
            if (tk_buf_put(&blob, s, n) || tk_buf_put(&blob, "", 1)) rc = TK_LFAIL(L, "out of memory");
            if (n > maxlen) maxlen = n;
        }
    }
    free(norm_of);
    free(bufs[0].p);
    free(bufs[1].p);
    t->dblob = blob.p;
    if (rc) return rc;
    /* one push: up to 3 pending bytes as U+FFFD each, then the token */
    t->max_out = maxlen + 9 > (size_t)INT_MAX ? INT_MAX : (int)(maxlen + 9);
    if (t->max_out < 12) t->max_out = 12;
    return 0;
}

static int tk_load_all(tk_loader *L) {
    const tk_json *j = L->j;
    tk_tokenizer *t = L->t;
    if (!tk_is_type(j, 0, TK_JSON_OBJECT)) return TK_LFAIL(L, "the top level is not an object");
    if (tk_load_model(L, 0) || tk_load_normalizer(L, tk_json_get(j, 0, "normalizer"), "normalizer", 0) ||
        tk_load_pretokenizer(L, tk_json_get(j, 0, "pre_tokenizer")) ||
        tk_load_postprocessor(L, tk_json_get(j, 0, "post_processor")) ||
        tk_load_decoder(L, tk_json_get(j, 0, "decoder")) || tk_build_added(L) || tk_build_decoded(L))
        return -1;
    static const char *eos[] = {"</s>", "<|endoftext|>", "<|im_end|>", "<|eot_id|>", "<|end_of_text|>", "<eos>", "<|end|>"};
    t->eos_id = -1;
    for (size_t k = 0; k < sizeof eos / sizeof *eos && t->eos_id < 0; k++) t->eos_id = tk_token_id(t, eos[k]);
    return 0;
}

int tk_load(tk_tokenizer **out, const char *json, size_t len, const char *name, char *err, size_t errlen) {
    if (!name) name = "tokenizer.json";
    if (out) *out = NULL;
    if (!out || !json) return tk_fail(err, errlen, name, "no input");
    tk_json j;
    char jerr[128];
    if (tk_json_parse(&j, json, len, jerr, sizeof jerr)) return tk_fail(err, errlen, name, "%s", jerr);
    tk_tokenizer *t = (tk_tokenizer *)calloc(1, sizeof *t);
    tk_loader L;
    memset(&L, 0, sizeof L);
    L.t = t;
    L.j = &j;
    L.name = name;
    L.err = err;
    L.errlen = errlen;
    int rc = t ? tk_load_all(&L) : TK_LFAIL(&L, "out of memory");
    free(L.s1.p);
    free(L.s2.p);
    free(L.s3.p);
    tk_json_free(&j);
    if (rc) {
        tk_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

/* The whole file at path, malloc'd; errors name the path. */
static int tk_read_file(const char *path, char **data, size_t *len, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) return tk_fail(err, errlen, path, "cannot open: %s", strerror(errno));
    tk_buf b = {0};
    int rc = 0;
    for (;;) {
        if (tk_buf_reserve(&b, 1 << 16)) { rc = tk_fail(err, errlen, path, "out of memory"); break; }
        size_t got = fread(b.p + b.n, 1, b.cap - b.n, f);
        b.n += got;
        if (b.n > TK_MAX_FILE) { rc = tk_fail(err, errlen, path, "file is larger than %zu bytes", TK_MAX_FILE); break; }
        if (got == 0) {
            if (ferror(f)) rc = tk_fail(err, errlen, path, "read error");
            break;
        }
    }
    fclose(f);
    if (rc) { free(b.p); return -1; }
    *data = b.p;
    *len = b.n;
    return 0;
}

int tk_load_file(tk_tokenizer **out, const char *path, char *err, size_t errlen) {
    char *data = NULL;
    size_t len = 0;
    if (out) *out = NULL;
    if (!path) return tk_fail(err, errlen, "tokenizer", "no path");
    if (tk_read_file(path, &data, &len, err, errlen)) return -1;
    int rc = tk_load(out, data, len, path, err, errlen);
    free(data);
    return rc;
}

int tk_vocab_size(const tk_tokenizer *t) { return t ? t->n_ids : 0; }
int tk_bos_id(const tk_tokenizer *t) { return t && t->n_prefix ? t->prefix[0] : -1; }
int tk_eos_id(const tk_tokenizer *t) { return t ? t->eos_id : -1; }
int tk_max_token_bytes(const tk_tokenizer *t) { return t ? t->max_out : 0; }
int tk_is_special(const tk_tokenizer *t, int id) { return tk_valid_id(t, id) && (t->special[id] & TK_F_SPECIAL); }

int tk_token_id(const tk_tokenizer *t, const char *piece) {
    if (!t || !piece) return -1;
    size_t n = strlen(piece);
    int id = tk_strmap_find(&t->added_map, t->blob, piece, n);
    return id >= 0 ? id : tk_strmap_find(&t->vocab, t->blob, piece, n);
}

const char *tk_piece(const tk_tokenizer *t, int id, size_t *len) {
    if (!tk_valid_id(t, id)) return NULL;
    if (len) *len = t->plen[id];
    return t->blob + t->poff[id];
}

/* ======================================================================== */
/* Tokenizer: encoding                                                       */
/* ======================================================================== */

/* The pipeline of Hugging Face tokenizers, for the components loaded above:
 *   1. split the text at added tokens (normalized=false ones);
 *   2. normalize each other segment, split it at normalized=true added tokens;
 *   3. pre-tokenize (Metaspace) each remaining piece into words;
 *   4. BPE each word: characters -> ids (byte fallback or unk for unknown
 *      ones), then apply merges lowest rank first;
 *   5. put the post-processor's special tokens around it all. */

typedef struct {
    int id, prev, next; /* id -1: merged into its left neighbour */
} tk_sym;

typedef struct {
    int rank, pos, id; /* merge sym[pos] with its right neighbour into id */
} tk_cand;

typedef struct {
    const tk_tokenizer *t;
    tk_ivec out;
    tk_sym *sym;
    tk_cand *heap;
    size_t sym_cap, heap_cap;
    tk_buf nb[2], pb; /* normalizer and pre-tokenizer output */
} tk_enc;

/* Min-heap ordered by rank, then position: the leftmost of the best merges. */
static int tk_cand_before(const tk_cand *a, const tk_cand *b) {
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void tk_heap_push(tk_cand *h, size_t *n, tk_cand c) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!tk_cand_before(&c, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = c;
}

static tk_cand tk_heap_pop(tk_cand *h, size_t *n) {
    tk_cand top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && tk_cand_before(&h[c + 1], &h[c])) c++;
        if (!tk_cand_before(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = last;
    return top;
}

/* Queue the merge of sym[pos] with its right neighbour, if there is one. */
static void tk_bpe_offer(tk_enc *e, size_t *nh, int pos) {
    int rank, id, next = e->sym[pos].next;
    if (next >= 0 && !tk_merges_get(&e->t->merges, e->sym[pos].id, e->sym[next].id, &rank, &id)) {
        tk_cand c = {rank, pos, id};
        tk_heap_push(e->heap, nh, c);
    }
}

/* BPE-encode one word (tokenizers' BPE::merge_word and Word::merge_all). */
static int tk_bpe_word(tk_enc *e, const char *s, size_t n) {
    const tk_tokenizer *t = e->t;
    if (!n) return 0;
    if (t->ignore_merges) {
        int id = tk_strmap_find(&t->vocab, t->blob, s, n);
        if (id >= 0) return tk_ivec_push(&e->out, id);
    }
    if (n > SIZE_MAX / (3 * sizeof(tk_cand))) return -1;
    if (n > e->sym_cap) { /* a word has at most one symbol per byte */
        free(e->sym);
        free(e->heap);
        e->heap = NULL;
        e->sym = (tk_sym *)malloc(n * sizeof *e->sym);
        e->heap = (tk_cand *)malloc(3 * n * sizeof *e->heap); /* n initial + 2 per merge */
        e->sym_cap = e->sym && e->heap ? n : 0;
        if (!e->sym_cap) return -1;
    }
    tk_sym *sym = e->sym;
    int ns = 0, unk = 0;
    for (size_t i = 0; i < n;) {
        size_t l;
        tk_utf8_cp(s + i, n - i, &l);
        int id = tk_strmap_find(&t->vocab, t->blob, s + i, l);
        if (id >= 0) {
            if (unk) sym[ns++].id = t->unk_id;
            unk = 0;
            sym[ns++].id = id;
        } else {
            int ok = t->byte_fallback;
            for (size_t k = 0; k < l && ok; k++) ok = t->byte_id[(unsigned char)s[i + k]] >= 0;
            if (ok) { /* as tokenizers: a pending unk is not flushed here */
                for (size_t k = 0; k < l; k++) sym[ns++].id = t->byte_id[(unsigned char)s[i + k]];
            } else if (t->unk_id >= 0) {
                if (unk && !t->fuse_unk) sym[ns++].id = t->unk_id;
                unk = 1;
            } /* no byte token and no unk: the character is dropped */
        }
        i += l;
    }
    if (unk) sym[ns++].id = t->unk_id;
    for (int i = 0; i < ns; i++) {
        sym[i].prev = i - 1;
        sym[i].next = i + 1 < ns ? i + 1 : -1;
    }
    size_t nh = 0;
    for (int i = 0; i + 1 < ns; i++) tk_bpe_offer(e, &nh, i);
    while (nh) {
        tk_cand c = tk_heap_pop(e->heap, &nh);
        tk_sym *a = &sym[c.pos];
        if (a->id < 0 || a->next < 0) continue;
        int rank, id;
        /* a stale entry: the pair changed since it was queued (tokenizers
         * compares only the merged id, and so do we) */
        if (tk_merges_get(&t->merges, a->id, sym[a->next].id, &rank, &id) || id != c.id) continue;
        tk_sym *b = &sym[a->next];
        a->id = c.id;
        a->next = b->next;
        b->id = -1;
        if (a->next >= 0) sym[a->next].prev = c.pos;
        if (a->prev >= 0) tk_bpe_offer(e, &nh, a->prev);
        tk_bpe_offer(e, &nh, c.pos);
    }
    for (int i = ns ? 0 : -1; i >= 0; i = sym[i].next)
        if (tk_ivec_push(&e->out, sym[i].id)) return -1;
    return 0;
}

/* Metaspace: spaces become the replacement, which may be prepended, and
 * (split) every replacement starts a new word. */
static int tk_pretokenize(tk_enc *e, const char *s, size_t n, int at_origin) {
    const tk_tokenizer *t = e->t;
    if (!n) return 0;
    if (!t->meta) return tk_bpe_word(e, s, n);
    const char *rep = t->meta_rep;
    size_t rn = t->meta_replen;
    tk_buf *b = &e->pb;
    b->n = 0;
    /* tokenizers replaces first, then prepends unless it already starts with one */
    int starts = s[0] == ' ' || (n >= rn && memcmp(s, rep, rn) == 0);
    if (!starts && (t->meta_scheme == TK_SCHEME_ALWAYS || (t->meta_scheme == TK_SCHEME_FIRST && at_origin)) &&
        tk_buf_put(b, rep, rn))
        return -1;
    size_t from = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] == ' ') {
            if (tk_buf_put(b, s + from, i - from) || tk_buf_put(b, rep, rn)) return -1;
            from = i + 1;
        }
    if (tk_buf_put(b, s + from, n - from)) return -1;
    if (b->n > TK_MAX_PIECE) return -1;
    if (!t->meta_split) return tk_bpe_word(e, b->p, b->n);
    size_t start = 0;
    for (size_t i = 0; i + rn <= b->n; i++)
        if (memcmp(b->p + i, rep, rn) == 0 && i > start) {
            if (tk_bpe_word(e, b->p + start, i - start)) return -1;
            start = i;
        }
    return tk_bpe_word(e, b->p + start, b->n - start);
}

typedef int (*tk_segment_fn)(tk_enc *e, const char *s, size_t n, int at_origin);

/* Split s at added tokens of the trie (tokenizers' AddedVocabulary::
 * find_matches: leftmost-longest, lstrip/rstrip take the whitespace next to
 * the token), handing the text between them to fn. at_origin: s starts
 * the original text. */
static int tk_split_added(tk_enc *e, const tk_trie *tr, const char *s, size_t n, int at_origin, tk_segment_fn fn) {
    size_t done = 0, mlen = 0;
    for (size_t i = 0; i < n && tr->n > 1;) {
        int k = tk_trie_match(tr, s + i, n - i, &mlen);
        if (k < 0) {
            i++;
            continue;
        }
        const tk_added *a = &e->t->added[k];
        size_t start = i, stop = i + mlen;
        if (a->lstrip) {
            size_t ws = tk_ws_left(s, start, tk_is_ws);
            start = ws > done ? ws : done;
        }
        if (a->rstrip) stop += tk_ws_right(s + stop, n - stop, tk_is_ws);
        if (start > done && fn(e, s + done, start - done, at_origin && done == 0)) return -1;
        if (tk_ivec_push(&e->out, a->id)) return -1;
        done = stop;
        i += mlen;
    }
    if (done < n) return fn(e, s + done, n - done, at_origin && done == 0);
    return 0;
}

/* A segment of the raw text between added tokens. */
static int tk_encode_segment(tk_enc *e, const char *s, size_t n, int at_origin) {
    const tk_tokenizer *t = e->t;
    if (tk_apply_steps(t->norm, t->n_norm, 0, s, n, e->nb, TK_MAX_PIECE, &s, &n)) return -1;
    return tk_split_added(e, &t->norm_trie, s, n, at_origin, tk_pretokenize);
}

int tk_encode(const tk_tokenizer *t, const char *text, size_t len, int add_special, int **ids, int *n, char *err,
              size_t errlen) {
    if (ids) *ids = NULL;
    if (n) *n = 0;
    if (!t || !ids || !n || (!text && len)) return tk_fail(err, errlen, NULL, "tk_encode: bad arguments");
    if (len > TK_MAX_TEXT) return tk_fail(err, errlen, NULL, "text is too long (%zu bytes)", len);
    size_t bad = tk_utf8_check(text, len);
    if (bad < len) return tk_fail(err, errlen, NULL, "text is not valid UTF-8 at byte %zu", bad);
    tk_enc e;
    memset(&e, 0, sizeof e);
    e.t = t;
    int rc = tk_ivec_push(&e.out, 0); /* keeps out.p non-NULL for empty results */
    e.out.n = 0;
    for (int i = 0; add_special && i < t->n_prefix && !rc; i++) rc = tk_ivec_push(&e.out, t->prefix[i]);
    if (!rc && len) rc = tk_split_added(&e, &t->raw_trie, text, len, 1, tk_encode_segment);
    for (int i = 0; add_special && i < t->n_suffix && !rc; i++) rc = tk_ivec_push(&e.out, t->suffix[i]);
    free(e.sym);
    free(e.heap);
    free(e.nb[0].p);
    free(e.nb[1].p);
    free(e.pb.p);
    if (rc || e.out.n > (size_t)INT_MAX) {
        free(e.out.p);
        return tk_fail(err, errlen, NULL, "out of memory encoding %zu bytes", len);
    }
    *ids = e.out.p;
    *n = (int)e.out.n;
    return 0;
}

/* ======================================================================== */
/* Tokenizer: decoding                                                       */
/* ======================================================================== */

/* A token's text after the decoder's per-token steps. */
static const char *tk_dec_text(const tk_tokenizer *t, int id, int first, size_t *n) {
    if (first && t->doff0) {
        *n = t->dlen0[id];
        return t->dblob + t->doff0[id];
    }
    *n = t->dlen[id];
    return t->dblob + t->doff[id];
}

static int tk_hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* ByteFallback's test: "<0xHH>" gives byte HH, else -1. (Rust's
 * u8::from_str_radix also takes "+H", so "<0x+A>" is byte 10.) */
static int tk_byte_token(const char *s, size_t n) {
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    int lo = tk_hexval(s[4]), hi = s[3] == '+' ? 0 : tk_hexval(s[3]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

/* End a run of byte tokens: its bytes if valid UTF-8, else U+FFFD per byte. */
static int tk_flush_run(tk_buf *o, tk_buf *run) {
    int rc = 0;
    if (tk_utf8_check(run->p, run->n) == run->n) rc = tk_buf_put(o, run->p, run->n);
    else
        for (size_t i = 0; i < run->n && !rc; i++) rc = tk_buf_put(o, TK_FFFD, 3);
    run->n = 0;
    return rc;
}

int tk_decode(const tk_tokenizer *t, const int *ids, int n, int skip_special, char **out, size_t *len, char *err,
              size_t errlen) {
    if (out) *out = NULL;
    if (len) *len = 0;
    if (!t || !out || n < 0 || (n && !ids)) return tk_fail(err, errlen, NULL, "tk_decode: bad arguments");
    tk_buf o = {0}, run = {0};
    int first = 1, rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        int id = ids[i];
        if (!tk_valid_id(t, id)) {
            rc = tk_fail(err, errlen, NULL, "id %d (at position %d) is not a token", id, i);
            break;
        }
        if (skip_special && (t->special[id] & TK_F_SPECIAL)) continue;
        size_t dn;
        const char *d = tk_dec_text(t, id, first, &dn);
        int b = t->dec_bytes ? tk_byte_token(d, dn) : -1;
        first = 0;
        if (b >= 0) {
            char c = (char)b;
            if (tk_buf_put(&run, &c, 1)) rc = -2;
        } else if (tk_flush_run(&o, &run) || tk_buf_put(&o, d, dn)) {
            rc = -2;
        }
    }
    if (!rc && tk_flush_run(&o, &run)) rc = -2;
    if (!rc && t->strip_len && o.n >= t->strip_len && memcmp(o.p, t->strip, t->strip_len) == 0) {
        memmove(o.p, o.p + t->strip_len, o.n - t->strip_len);
        o.n -= t->strip_len;
    }
    if (!rc && tk_buf_put(&o, "", 1)) rc = -2;
    free(run.p);
    if (rc) {
        free(o.p);
        return rc == -2 ? tk_fail(err, errlen, NULL, "out of memory decoding %d ids", n) : -1;
    }
    *out = o.p;
    if (len) *len = o.n - 1;
    return 0;
}

/* ======================================================================== */
/* Tokenizer: streaming decode                                               */
/* ======================================================================== */

/* State: pend holds the bytes of a character not yet complete (at most 3),
 * pend[7] says the current run of byte tokens went invalid (tk_decode turns
 * such a run into U+FFFDs, so the rest of it becomes U+FFFD too). at_start
 * bit 0: the next token is the first (Metaspace decoder); bit 1: the leading
 * Strip has not happened yet. */
#define TK_POISON 7

void tk_stream_init(tk_stream *s, const tk_tokenizer *t, int at_start, int skip_special) {
    if (!s) return;
    memset(s, 0, sizeof *s);
    s->t = t;
    s->at_start = at_start ? 3 : 0;
    s->skip_special = skip_special;
}

/* 0: bytes p[0..n) form an invalid sequence; 1: a valid but incomplete
 * prefix of a character; 2: exactly one complete character. */
static int tk_utf8_prefix(const unsigned char *p, int n) {
    unsigned c = p[0];
    int len;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c < 0x80) return n == 1 ? 2 : 0;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else return 0;
    if (n > len) return 0;
    if (n > 1 && (p[1] < lo || p[1] > hi)) return 0;
    for (int i = 2; i < n; i++)
        if ((p[i] & 0xC0) != 0x80) return 0;
    return n == len ? 2 : 1;
}

/* Feed one byte of a byte-token run; what becomes output goes to out (<= 12 bytes). */
static size_t tk_stream_byte(tk_stream *s, unsigned char b, char *out) {
    size_t k = 0;
    if (s->pend[TK_POISON]) {
        memcpy(out, TK_FFFD, 3);
        return 3;
    }
    s->pend[s->npend++] = b;
    int st = tk_utf8_prefix(s->pend, s->npend);
    if (st == 1) return 0;
    if (st == 2) {
        memcpy(out, s->pend, (size_t)s->npend);
        k = (size_t)s->npend;
    } else {
        for (int i = 0; i < s->npend; i++, k += 3) memcpy(out + k, TK_FFFD, 3);
        s->pend[TK_POISON] = 1;
    }
    s->npend = 0;
    return k;
}

/* End the current byte run: pending bytes become U+FFFD. */
static size_t tk_stream_endrun(tk_stream *s, char *out) {
    size_t k = 0;
    for (int i = 0; i < s->npend; i++, k += 3) memcpy(out + k, TK_FFFD, 3);
    s->npend = 0;
    s->pend[TK_POISON] = 0;
    return k;
}

/* Output pre[0..np) then txt[0..nt) into out, after the leading Strip;
 * commits ns into s. -1 (nothing changed) when it does not fit. */
static int tk_stream_emit(tk_stream *s, tk_stream *ns, const char *pre, size_t np, const char *txt, size_t nt,
                          char *out, size_t cap) {
    const tk_tokenizer *t = s->t;
    size_t skip = 0;
    if ((ns->at_start & 2) && np + nt > 0) {
        ns->at_start &= ~2;
        size_t sl = t->strip_len, i = 0;
        if (sl && np + nt >= sl) {
            while (i < sl && (i < np ? pre[i] : txt[i - np]) == t->strip[i]) i++;
            if (i == sl) skip = sl;
        }
    }
    size_t total = np + nt - skip;
    if (total > cap || total > (size_t)INT_MAX || (total && !out)) return -1;
    size_t k = 0;
    for (size_t i = skip; i < np; i++) out[k++] = pre[i];
    size_t from = skip > np ? skip - np : 0;
    if (nt > from) memcpy(out + k, txt + from, nt - from);
    *s = *ns;
    return (int)total;
}

int tk_stream_push(tk_stream *s, int id, char *out, size_t cap) {
    if (!s || !tk_valid_id(s->t, id)) return -1;
    const tk_tokenizer *t = s->t;
    if (s->skip_special && (t->special[id] & TK_F_SPECIAL)) return 0;
    tk_stream ns = *s;
    char pre[16];
    size_t np, dn;
    const char *d = tk_dec_text(t, id, ns.at_start & 1, &dn);
    ns.at_start &= ~1;
    int b = t->dec_bytes ? tk_byte_token(d, dn) : -1;
    if (b >= 0) {
        np = tk_stream_byte(&ns, (unsigned char)b, pre);
        d = "";
        dn = 0;
    } else {
        np = tk_stream_endrun(&ns, pre);
    }
    return tk_stream_emit(s, &ns, pre, np, d, dn, out, cap);
}

int tk_stream_flush(tk_stream *s, char *out, size_t cap) {
    if (!s || !s->t) return -1;
    tk_stream ns = *s;
    char pre[16];
    size_t np = tk_stream_endrun(&ns, pre);
    return tk_stream_emit(s, &ns, pre, np, "", 0, out, cap);
}

/* ======================================================================== */
/* Chat templates: a small Jinja interpreter                                 */
/* ======================================================================== */

/* Hugging Face chat templates are Jinja. transformers renders them with
 * jinja2's ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
 * and the loopcontrols extension, a `tojson` filter that does not escape for
 * HTML, and the globals raise_exception(msg) and strftime_now(fmt). This is an
 * interpreter of the part of Jinja those templates use, with jinja2's
 * meaning: Python values (str, int, float, list, dict, None), the default
 * Undefined (prints as "", is false, fails when used further), scopes (a loop
 * iteration's `set` stays in that iteration; namespace() carries state out).
 * Whatever it does not implement is an error that names it and its line and
 * column, never a different text.
 *
 * Three stages: the lexer cuts the source into text and tag tokens (applying
 * the whitespace control), the parser builds a tree of tj_node, and the
 * evaluator walks the tree over tj_value. Everything one render allocates
 * comes from one arena, freed at the end; the arena, the output, the number of
 * evaluation steps and the nesting depth are bounded, so a hostile template
 * cannot hang or exhaust the host. */

#define TJ_MAX_OUTPUT ((size_t)16 << 20)  /* rendered text */
#define TJ_MAX_MEMORY ((size_t)64 << 20)  /* all that one render allocates */
#define TJ_MAX_STEPS 10000000L            /* expressions evaluated + loop iterations */
#define TJ_MAX_DEPTH 200                  /* nesting of expressions, blocks and macro calls */
#define TJ_MAX_RANGE 100000               /* range(): jinja2's sandbox limit (MAX_RANGE) */
#define TJ_MAX_ARGS 16                    /* arguments of one call */
#define TJ_NOPOS ((size_t)-1)             /* an error with no place in the source */

typedef enum {
    TJ_UNDEF, TJ_NONE, TJ_BOOL, TJ_INT, TJ_FLOAT, TJ_STR, TJ_LIST, TJ_DICT, TJ_NS, TJ_MACRO, TJ_FUNC
} tj_kind;

typedef struct tj_list tj_list;
typedef struct tj_dict tj_dict;
typedef struct tj_node tj_node;

/* A Python value. Strings are UTF-8, not NUL-terminated; an undefined value
 * keeps the name it was looked up by (for the error when it is used). */
typedef struct {
    tj_kind kind;
    union {
        long long i; /* bool, int */
        double f;
        struct { const char *p; size_t n; } s; /* str; undefined: its name */
        tj_list *l;  /* list, tuple */
        tj_dict *d;  /* dict, namespace */
        const tj_node *m; /* macro */
        int fn;      /* global function: index in tj_globals */
    } u;
} tj_value;

struct tj_list { tj_value *v; int n, tuple; };
struct tj_dict { tj_value *k, *v; int n, cap; }; /* insertion order, as Python's */

typedef enum {
    /* expressions */
    TJ_N_LIT, TJ_N_NAME, TJ_N_LIST, TJ_N_TUPLE, TJ_N_DICT, TJ_N_ATTR, TJ_N_ITEM, TJ_N_SLICE, TJ_N_CALL,
    TJ_N_FILTER, TJ_N_TEST, TJ_N_NOT, TJ_N_NEG, TJ_N_POS, TJ_N_BINOP, TJ_N_AND, TJ_N_OR, TJ_N_COND,
    /* statements */
    TJ_N_TEXT, TJ_N_OUTPUT, TJ_N_IF, TJ_N_FOR, TJ_N_SET, TJ_N_SETBLOCK, TJ_N_MACRO, TJ_N_BREAK,
    TJ_N_CONTINUE, TJ_N_BODY
} tj_nkind;

struct tj_node {
    tj_nkind kind;
    size_t at;          /* offset in the source, for errors */
    char op[4];         /* operator: "+", "//", "==", "in", "!in", ... */
    int negate;         /* tests: `is not` */
    tj_value lit;       /* literals, text */
    const char *name;   /* names, attributes, filters, tests, macros */
    size_t nlen;
    const char *kw;     /* a keyword argument's name */
    size_t kwlen;
    tj_node *a, *b, *c, *d; /* operands (see the parser for each kind) */
    tj_node **kids;     /* arguments, elements, targets, a block's statements */
    int nkids;
    tj_node **alt;      /* else branch */
    int nalt;
};

typedef enum {
    TJ_T_TEXT, TJ_T_VAR, TJ_T_VAR_END, TJ_T_BLOCK, TJ_T_BLOCK_END, TJ_T_NAME, TJ_T_STR, TJ_T_INT, TJ_T_FLOAT,
    TJ_T_OP, TJ_T_EOF
} tj_tkind;

typedef struct {
    tj_tkind kind;
    size_t at;
    const char *p; /* text, name, operator, or a string literal's value */
    size_t n;
    long long i;
    double f;
} tj_token;

typedef struct tj_chunk { struct tj_chunk *next; size_t used, cap; } tj_chunk;

typedef struct {
    const char *name;
    size_t n;
    tj_value v;
} tj_var;

typedef struct {
    /* memory */
    tj_chunk *arena;
    size_t mem;
    /* errors: the first one wins */
    char *err;
    size_t errlen;
    int failed;
    const char *src;   /* the template (newlines normalized), for line and column */
    /* lexer and parser */
    tj_token *tok;
    int ntok, captok, at, loops;
    /* evaluator: variables, innermost last; a scope is a suffix of vars */
    tj_var *vars;
    int nvars, capvars;
    int scope;         /* first variable of the innermost scope */
    int barrier;       /* first variable of the macro being run: lookups go from there to the root scope */
    int root_end;      /* variables of the root scope: [0, root_end) */
    tk_buf *out;
    long steps;
    int depth;
} tj_ctx;

/* ------------------------------------------------------------------------ */
/* Errors and memory                                                         */
/* ------------------------------------------------------------------------ */

/* "line L, column C: message" for the source offset at; returns -1. */
static int tj_fail(tj_ctx *c, size_t at, const char *fmt, ...) {
    if (c->failed++) return -1;
    int line = 1, col = 1, k = 0;
    for (size_t i = 0; c->src && i < at && c->src[i]; i++) {
        if (c->src[i] == '\n') { line++; col = 1; }
        else if (((unsigned char)c->src[i] & 0xC0) != 0x80) col++;
    }
    if (at != TJ_NOPOS) k = snprintf(c->err, c->errlen, "line %d, column %d: ", line, col);
    if (k >= 0 && (size_t)k < c->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err + k, c->errlen - (size_t)k, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Zeroed memory from the arena; NULL (and the error set) past TJ_MAX_MEMORY. */
static void *tj_alloc(tj_ctx *c, size_t n) {
    n = (n + 15) & ~(size_t)15;
    const size_t hdr = (sizeof(tj_chunk) + 15) & ~(size_t)15;
    tj_chunk *h = c->arena;
    if (!h || h->cap - h->used < n) {
        size_t cap = n > ((size_t)1 << 16) ? n : ((size_t)1 << 16);
        if (n > TJ_MAX_MEMORY || c->mem + cap + hdr > TJ_MAX_MEMORY) {
            tj_fail(c, TJ_NOPOS, "the template needs more than %d MiB of memory", (int)(TJ_MAX_MEMORY >> 20));
            return NULL;
        }
        h = (tj_chunk *)calloc(1, hdr + cap);
        if (!h) { tj_fail(c, TJ_NOPOS, "out of memory"); return NULL; }
        h->cap = cap;
        h->next = c->arena;
        c->arena = h;
        c->mem += hdr + cap;
    }
    void *p = (char *)h + hdr + h->used;
    h->used += n;
    return p;
}

static char *tj_strdup(tj_ctx *c, const char *s, size_t n) {
    char *p = (char *)tj_alloc(c, n + 1);
    if (p && n) memcpy(p, s, n);
    return p;
}

/* ------------------------------------------------------------------------ */
/* Values                                                                    */
/* ------------------------------------------------------------------------ */

static tj_value tj_v(tj_kind k) { tj_value v; memset(&v, 0, sizeof v); v.kind = k; return v; }
static tj_value tj_vint(long long i) { tj_value v = tj_v(TJ_INT); v.u.i = i; return v; }
static tj_value tj_vbool(int b) { tj_value v = tj_v(TJ_BOOL); v.u.i = b != 0; return v; }
static tj_value tj_vfloat(double f) { tj_value v = tj_v(TJ_FLOAT); v.u.f = f; return v; }
static tj_value tj_vstr(const char *p, size_t n) { tj_value v = tj_v(TJ_STR); v.u.s.p = p; v.u.s.n = n; return v; }
static tj_value tj_vundef(const char *name, size_t n) { tj_value v = tj_v(TJ_UNDEF); v.u.s.p = name; v.u.s.n = n; return v; }

static int tj_list_new(tj_ctx *c, int n, int tuple, tj_value *out) {
    tj_list *l = (tj_list *)tj_alloc(c, sizeof *l);
    if (!l || (n && !(l->v = (tj_value *)tj_alloc(c, (size_t)n * sizeof *l->v)))) return -1;
    l->n = n;
    l->tuple = tuple;
    *out = tj_v(TJ_LIST);
    out->u.l = l;
    return 0;
}

static int tj_dict_new(tj_ctx *c, tj_kind kind, tj_value *out) {
    tj_dict *d = (tj_dict *)tj_alloc(c, sizeof *d);
    if (!d) return -1;
    *out = tj_v(kind);
    out->u.d = d;
    return 0;
}

static int tj_is_num(const tj_value *v) { return v->kind == TJ_BOOL || v->kind == TJ_INT || v->kind == TJ_FLOAT; }
static double tj_num(const tj_value *v) { return v->kind == TJ_FLOAT ? v->u.f : (double)v->u.i; }

static const char *tj_type(const tj_value *v) {
    switch (v->kind) {
    case TJ_UNDEF: return "Undefined";
    case TJ_NONE: return "NoneType";
    case TJ_BOOL: return "bool";
    case TJ_INT: return "int";
    case TJ_FLOAT: return "float";
    case TJ_STR: return "str";
    case TJ_LIST: return v->u.l->tuple ? "tuple" : "list";
    case TJ_DICT: return "dict";
    case TJ_NS: return "Namespace";
    case TJ_MACRO: return "Macro";
    default: return "function";
    }
}

static int tj_truthy(const tj_value *v) {
    switch (v->kind) {
    case TJ_UNDEF: case TJ_NONE: return 0;
    case TJ_BOOL: case TJ_INT: return v->u.i != 0;
    case TJ_FLOAT: return v->u.f != 0;
    case TJ_STR: return v->u.s.n > 0;
    case TJ_LIST: return v->u.l->n > 0;
    case TJ_DICT: return v->u.d->n > 0;
    default: return 1;
    }
}

/* Python's ==: numbers by value (True == 1), a tuple never equals a list,
 * dicts regardless of order, Undefined equals only Undefined. */
static int tj_eq(const tj_value *a, const tj_value *b) {
    if (tj_is_num(a) && tj_is_num(b)) {
        if (a->kind != TJ_FLOAT && b->kind != TJ_FLOAT) return a->u.i == b->u.i;
        return tj_num(a) == tj_num(b);
    }
    if (a->kind != b->kind) return 0;
    switch (a->kind) {
    case TJ_UNDEF: case TJ_NONE: return 1;
    case TJ_STR: return a->u.s.n == b->u.s.n && !memcmp(a->u.s.p, b->u.s.p, a->u.s.n);
    case TJ_LIST:
        if (a->u.l->n != b->u.l->n || a->u.l->tuple != b->u.l->tuple) return 0;
        for (int i = 0; i < a->u.l->n; i++)
            if (!tj_eq(&a->u.l->v[i], &b->u.l->v[i])) return 0;
        return 1;
    case TJ_DICT: {
        const tj_dict *x = a->u.d, *y = b->u.d;
        if (x->n != y->n) return 0;
        for (int i = 0; i < x->n; i++) {
            int j = 0;
            while (j < y->n && !tj_eq(&x->k[i], &y->k[j])) j++;
            if (j == y->n || !tj_eq(&x->v[i], &y->v[j])) return 0;
        }
        return 1;
    }
    case TJ_NS: return a->u.d == b->u.d;
    case TJ_MACRO: return a->u.m == b->u.m;
    default: return a->u.fn == b->u.fn;
    }
}

static int tj_dict_find(const tj_dict *d, const tj_value *key) {
    for (int i = 0; i < d->n; i++)
        if (tj_eq(&d->k[i], key)) return i;
    return -1;
}

static int tj_dict_find_str(const tj_dict *d, const char *s, size_t n) {
    for (int i = 0; i < d->n; i++)
        if (d->k[i].kind == TJ_STR && d->k[i].u.s.n == n && !memcmp(d->k[i].u.s.p, s, n)) return i;
    return -1;
}

/* Insert or replace (namespaces and dicts being built). */
static int tj_dict_set(tj_ctx *c, tj_dict *d, tj_value key, tj_value val) {
    int i = tj_dict_find(d, &key);
    if (i >= 0) { d->v[i] = val; return 0; }
    if (d->n == d->cap) {
        int cap = d->cap ? d->cap * 2 : 8;
        tj_value *k = (tj_value *)tj_alloc(c, (size_t)cap * sizeof *k), *v = (tj_value *)tj_alloc(c, (size_t)cap * sizeof *v);
        if (!k || !v) return -1;
        if (d->n) { memcpy(k, d->k, (size_t)d->n * sizeof *k); memcpy(v, d->v, (size_t)d->n * sizeof *v); }
        d->k = k;
        d->v = v;
        d->cap = cap;
    }
    d->k[d->n] = key;
    d->v[d->n++] = val;
    return 0;
}

/* Number of characters (code points) of valid UTF-8. */
static size_t tj_nchars(const char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += ((unsigned char)s[i] & 0xC0) != 0x80;
    return k;
}

/* Byte offset of character ci (ci <= number of characters). */
static size_t tj_char_at(const char *s, size_t n, size_t ci) {
    size_t i = 0;
    while (i < n && ci) {
        i++;
        while (i < n && ((unsigned char)s[i] & 0xC0) == 0x80) i++;
        ci--;
    }
    return i;
}

static int tj_put(tj_ctx *c, tk_buf *b, const char *s, size_t n) {
    if (b->n + n > TJ_MAX_OUTPUT) return tj_fail(c, TJ_NOPOS, "the template writes more than %d MiB", (int)(TJ_MAX_OUTPUT >> 20));
    if (tk_buf_put(b, s, n)) return tj_fail(c, TJ_NOPOS, "out of memory");
    return 0;
}
static int tj_puts(tj_ctx *c, tk_buf *b, const char *s) { return tj_put(c, b, s, strlen(s)); }

/* Python's repr() of a float: the shortest digits that read back exactly,
 * positional for exponents -4..15, else d.ddde+XX. */
static void tj_float_repr(double x, char out[40]) {
    if (x != x) { strcpy(out, "nan"); return; }
    if (x == HUGE_VAL || x == -HUGE_VAL) { strcpy(out, x > 0 ? "inf" : "-inf"); return; }
    char e[40], dig[24];
    for (int p = 1; p <= 17; p++) {
        snprintf(e, sizeof e, "%.*e", p - 1, x);
        if (strtod(e, NULL) == x) break;
    }
    const char *s = e;
    int neg = *s == '-', nd = 0;
    if (neg) s++;
    for (; *s && *s != 'e'; s++)
        if (*s != '.') dig[nd++] = *s;
    dig[nd] = 0;
    int ex = atoi(s + 1), o = 0;
    while (nd > 1 && dig[nd - 1] == '0') dig[--nd] = 0;
    if (neg) out[o++] = '-';
    if (ex < -4 || ex >= 16) {
        out[o++] = dig[0];
        if (nd > 1) { out[o++] = '.'; memcpy(out + o, dig + 1, (size_t)nd - 1); o += nd - 1; }
        snprintf(out + o, 40 - (size_t)o, "e%c%02d", ex < 0 ? '-' : '+', ex < 0 ? -ex : ex);
        return;
    }
    if (ex < 0) {
        o += snprintf(out + o, 40 - (size_t)o, "0.");
        for (int i = 0; i < -ex - 1; i++) out[o++] = '0';
        memcpy(out + o, dig, (size_t)nd);
        o += nd;
    } else {
        for (int i = 0; i <= ex; i++) out[o++] = i < nd ? dig[i] : '0';
        out[o++] = '.';
        if (nd > ex + 1) { memcpy(out + o, dig + ex + 1, (size_t)(nd - ex - 1)); o += nd - ex - 1; }
        else out[o++] = '0';
    }
    out[o] = 0;
}

static int tj_repr(tj_ctx *c, size_t at, const tj_value *v, tk_buf *b, int depth);

/* str(v) appended to b, as print and ~ write it. */
static int tj_text(tj_ctx *c, size_t at, const tj_value *v, tk_buf *b) {
    switch (v->kind) {
    case TJ_UNDEF: return 0;
    case TJ_STR: return tj_put(c, b, v->u.s.p, v->u.s.n);
    default: return tj_repr(c, at, v, b, 0);
    }
}

/* Python's repr(), for values printed inside lists and dicts. */
static int tj_repr(tj_ctx *c, size_t at, const tj_value *v, tk_buf *b, int depth) {
    char num[40];
    if (depth > TJ_MAX_DEPTH) return tj_fail(c, at, "a value nested too deeply to print");
    switch (v->kind) {
    case TJ_UNDEF: return tj_puts(c, b, "Undefined");
    case TJ_NONE: return tj_puts(c, b, "None");
    case TJ_BOOL: return tj_puts(c, b, v->u.i ? "True" : "False");
    case TJ_INT: snprintf(num, sizeof num, "%lld", v->u.i); return tj_puts(c, b, num);
    case TJ_FLOAT: tj_float_repr(v->u.f, num); return tj_puts(c, b, num);
    case TJ_STR: {
        const char *s = v->u.s.p;
        size_t n = v->u.s.n;
        char q = memchr(s, '\'', n) && !memchr(s, '"', n) ? '"' : '\'';
        if (tj_put(c, b, &q, 1)) return -1;
        for (size_t i = 0; i < n; i++) {
            unsigned char ch = (unsigned char)s[i];
            if (ch >= 0x80) { /* kept as is where Python's str.isprintable() is sure to be true */
                size_t l;
                unsigned cp = tk_utf8_cp(s + i, n - i, &l);
                if (!((cp >= 0xA1 && cp <= 0x377 && cp != 0xAD) || (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0xAC00 && cp <= 0xD7A3)))
                    return tj_fail(c, at, "printing a list or dict holding the character U+%04X is not supported", cp);
                if (tj_put(c, b, s + i, l)) return -1;
                i += l - 1;
                continue;
            }
            const char *esc = ch == '\\' ? "\\\\" : ch == '\n' ? "\\n" : ch == '\r' ? "\\r" : ch == '\t' ? "\\t" : NULL;
            if (ch == (unsigned char)q) { num[0] = '\\'; num[1] = q; num[2] = 0; esc = num; }
            else if (!esc && (ch < 0x20 || ch == 0x7F)) { snprintf(num, sizeof num, "\\x%02x", ch); esc = num; }
            if (esc ? tj_puts(c, b, esc) : tj_put(c, b, s + i, 1)) return -1;
        }
        return tj_put(c, b, &q, 1);
    }
    case TJ_LIST: {
        const tj_list *l = v->u.l;
        if (tj_puts(c, b, l->tuple ? "(" : "[")) return -1;
        for (int i = 0; i < l->n; i++)
            if ((i && tj_puts(c, b, ", ")) || tj_repr(c, at, &l->v[i], b, depth + 1)) return -1;
        return tj_puts(c, b, l->tuple ? (l->n == 1 ? ",)" : ")") : "]");
    }
    case TJ_DICT: {
        const tj_dict *d = v->u.d;
        if (tj_puts(c, b, "{")) return -1;
        for (int i = 0; i < d->n; i++)
            if ((i && tj_puts(c, b, ", ")) || tj_repr(c, at, &d->k[i], b, depth + 1) || tj_puts(c, b, ": ") ||
                tj_repr(c, at, &d->v[i], b, depth + 1))
                return -1;
        return tj_puts(c, b, "}");
    }
    default: return tj_fail(c, at, "printing a %s is not supported", tj_type(v));
    }
}

/* A JSON string, as Python's json.dumps(ensure_ascii=False) writes it. */
static int tj_json_str(tj_ctx *c, const char *s, size_t n, tk_buf *b) {
    char e[8];
    if (tj_put(c, b, "\"", 1)) return -1;
    size_t from = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch != '"' && ch != '\\') continue;
        if (tj_put(c, b, s + from, i - from)) return -1;
        const char *esc = ch == '"' ? "\\\"" : ch == '\\' ? "\\\\" : ch == '\n' ? "\\n" : ch == '\r' ? "\\r" :
                          ch == '\t' ? "\\t" : ch == '\b' ? "\\b" : ch == '\f' ? "\\f" : NULL;
        if (!esc) { snprintf(e, sizeof e, "\\u%04x", ch); esc = e; }
        if (tj_puts(c, b, esc)) return -1;
        from = i + 1;
    }
    return tj_put(c, b, s + from, n - from) || tj_put(c, b, "\"", 1);
}

typedef struct {
    const char *indent; /* NULL: all on one line */
    const char *item_sep, *key_sep;
} tj_json_fmt;

static int tj_json_nl(tj_ctx *c, const tj_json_fmt *f, int level, tk_buf *b) {
    if (tj_put(c, b, "\n", 1)) return -1;
    for (int i = 0; i < level; i++)
        if (tj_puts(c, b, f->indent)) return -1;
    return 0;
}

/* json.dumps(v, ensure_ascii=False, indent=..., separators=...). */
static int tj_json(tj_ctx *c, size_t at, const tj_value *v, const tj_json_fmt *f, int level, tk_buf *b) {
    char num[40];
    if (level > TJ_MAX_DEPTH) return tj_fail(c, at, "tojson: a value nested too deeply");
    switch (v->kind) {
    case TJ_NONE: return tj_puts(c, b, "null");
    case TJ_BOOL: return tj_puts(c, b, v->u.i ? "true" : "false");
    case TJ_INT: snprintf(num, sizeof num, "%lld", v->u.i); return tj_puts(c, b, num);
    case TJ_FLOAT:
        if (v->u.f != v->u.f) return tj_puts(c, b, "NaN");
        if (v->u.f == HUGE_VAL || v->u.f == -HUGE_VAL) return tj_puts(c, b, v->u.f > 0 ? "Infinity" : "-Infinity");
        tj_float_repr(v->u.f, num);
        return tj_puts(c, b, num);
    case TJ_STR: return tj_json_str(c, v->u.s.p, v->u.s.n, b);
    case TJ_LIST: case TJ_DICT: {
        int dict = v->kind == TJ_DICT, n = dict ? v->u.d->n : v->u.l->n;
        if (tj_puts(c, b, dict ? "{" : "[")) return -1;
        for (int i = 0; i < n; i++) {
            if (i && tj_puts(c, b, f->item_sep)) return -1;
            if (f->indent && tj_json_nl(c, f, level + 1, b)) return -1;
            if (dict) {
                const tj_value *k = &v->u.d->k[i];
                if (k->kind == TJ_STR) { if (tj_json_str(c, k->u.s.p, k->u.s.n, b)) return -1; }
                else if (k->kind == TJ_INT) { snprintf(num, sizeof num, "\"%lld\"", k->u.i); if (tj_puts(c, b, num)) return -1; }
                else return tj_fail(c, at, "tojson: a dict key of type %s is not supported", tj_type(k));
                if (tj_puts(c, b, f->key_sep)) return -1;
            }
            if (tj_json(c, at, dict ? &v->u.d->v[i] : &v->u.l->v[i], f, level + 1, b)) return -1;
        }
        if (n && f->indent && tj_json_nl(c, f, level, b)) return -1;
        return tj_puts(c, b, dict ? "}" : "]");
    }
    default: return tj_fail(c, at, "tojson: an object of type %s is not JSON serializable", tj_type(v));
    }
}

/* A buffer's bytes as a string value in the arena; frees the buffer. */
static int tj_buf_value(tj_ctx *c, tk_buf *b, tj_value *out) {
    char *p = tj_strdup(c, b->p ? b->p : "", b->n);
    size_t n = b->n;
    free(b->p);
    memset(b, 0, sizeof *b);
    if (!p) return -1;
    *out = tj_vstr(p, n);
    return 0;
}

/* str(v) as a value. */
static int tj_to_str(tj_ctx *c, size_t at, const tj_value *v, tj_value *out) {
    if (v->kind == TJ_STR) { *out = *v; return 0; }
    tk_buf b = {0};
    if (tj_text(c, at, v, &b)) { free(b.p); return -1; }
    return tj_buf_value(c, &b, out);
}

/* Python's fmt % args for %s, %d, %i, %r and %%, without flags or widths:
 * args is a tuple, or one value. */
static int tj_percent(tj_ctx *c, size_t at, const tj_value *fmt, const tj_value *args, tj_value *out) {
    int n = args->kind == TJ_LIST && args->u.l->tuple ? args->u.l->n : 1, used = 0;
    const char *p = fmt->u.s.p, *end = p + fmt->u.s.n;
    tk_buf b = {0};
    while (p < end) {
        const char *pc = memchr(p, '%', (size_t)(end - p));
        if (tj_put(c, &b, p, pc ? (size_t)(pc - p) : (size_t)(end - p))) goto fail;
        if (!pc) break;
        char conv = pc + 1 < end ? pc[1] : 0;
        p = pc + 2;
        if (conv == '%') { if (tj_put(c, &b, "%", 1)) goto fail; continue; }
        if (!conv || !strchr("sdir", conv)) {
            tj_fail(c, at, "string formatting: only %%s, %%d, %%i, %%r and %%%% are supported");
            goto fail;
        }
        if (used == n) { tj_fail(c, at, "not enough arguments for format string"); goto fail; }
        const tj_value *v = n == 1 && !(args->kind == TJ_LIST && args->u.l->tuple) ? args : &args->u.l->v[used];
        used++;
        if (conv == 's' ? tj_text(c, at, v, &b) : conv == 'r' ? tj_repr(c, at, v, &b, 0) : 0) goto fail;
        if (conv == 'd' || conv == 'i') {
            char num[32];
            if (!tj_is_num(v) || (v->kind == TJ_FLOAT && !(v->u.f > -9.2e18 && v->u.f < 9.2e18))) {
                tj_fail(c, at, "%%%c format: a number is required, not %s", conv, tj_type(v));
                goto fail;
            }
            snprintf(num, sizeof num, "%lld", v->kind == TJ_FLOAT ? (long long)v->u.f : v->u.i);
            if (tj_puts(c, &b, num)) goto fail;
        }
    }
    if (used < n) { tj_fail(c, at, "not all arguments converted during string formatting"); goto fail; }
    return tj_buf_value(c, &b, out);
fail:
    free(b.p);
    return -1;
}

/* ------------------------------------------------------------------------ */
/* Lexer                                                                     */
/* ------------------------------------------------------------------------ */

static int tj_push_tok(tj_ctx *c, tj_tkind kind, size_t at, const char *p, size_t n) {
    if (c->ntok == c->captok) {
        int cap = c->captok ? c->captok * 2 : 256;
        tj_token *t = (tj_token *)tj_alloc(c, (size_t)cap * sizeof *t);
        if (!t) return -1;
        if (c->ntok) memcpy(t, c->tok, (size_t)c->ntok * sizeof *t);
        c->tok = t;
        c->captok = cap;
    }
    tj_token *t = &c->tok[c->ntok++];
    memset(t, 0, sizeof *t);
    t->kind = kind;
    t->at = at;
    t->p = p;
    t->n = n;
    return 0;
}

/* jinja2's lexer reads "\r\n" and "\r" as "\n" and drops one final line
 * break (keep_trailing_newline is off). */
static char *tj_normalize(tj_ctx *c, const char *s, size_t n, size_t *outn) {
    char *o = (char *)tj_alloc(c, n + 1);
    size_t k = 0;
    if (!o) return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        size_t brk = 0;
        if (ch == '\r') brk = i + 1 < n && s[i + 1] == '\n' ? 2 : 1;
        else if (ch == '\n') brk = 1;
        if (brk) { o[k++] = '\n'; i += brk - 1; }
        else o[k++] = (char)ch;
    }
    if (k && o[k - 1] == '\n') k--;
    o[k] = 0;
    *outn = k;
    return o;
}

static void tj_put_cp(char *o, size_t *k, unsigned cp) {
    if (cp < 0x80) o[(*k)++] = (char)cp;
    else if (cp < 0x800) { o[(*k)++] = (char)(0xC0 | cp >> 6); o[(*k)++] = (char)(0x80 | (cp & 63)); }
    else if (cp < 0x10000) {
        o[(*k)++] = (char)(0xE0 | cp >> 12); o[(*k)++] = (char)(0x80 | ((cp >> 6) & 63)); o[(*k)++] = (char)(0x80 | (cp & 63));
    } else {
        o[(*k)++] = (char)(0xF0 | cp >> 18); o[(*k)++] = (char)(0x80 | ((cp >> 12) & 63));
        o[(*k)++] = (char)(0x80 | ((cp >> 6) & 63)); o[(*k)++] = (char)(0x80 | (cp & 63));
    }
}

/* A string literal's body with Python's escapes (jinja2 decodes it with
 * "unicode-escape"); an unknown escape keeps its backslash. */
static int tj_unescape(tj_ctx *c, size_t at, const char *s, size_t n, tj_token *t) {
    char *o = (char *)tj_alloc(c, n + 1);
    size_t k = 0;
    if (!o) return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\' || i + 1 == n) { o[k++] = s[i]; continue; }
        char e = s[++i];
        const char *simple = strchr("\\'\"abfnrtv", e);
        if (e && simple) { o[k++] = "\\'\"\a\b\f\n\r\t\v"[simple - "\\'\"abfnrtv"]; continue; }
        if (e == '\n') continue;
        if (e >= '0' && e <= '7') {
            unsigned v = 0;
            for (int d = 0; d < 3 && i < n && s[i] >= '0' && s[i] <= '7'; d++) v = v * 8 + (unsigned)(s[i++] - '0');
            i--;
            tj_put_cp(o, &k, v);
            continue;
        }
        int digits = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
        if (digits) {
            unsigned v = 0;
            for (int d = 1; d <= digits; d++) {
                int h = i + (size_t)d < n ? tk_hexval(s[i + (size_t)d]) : -1;
                if (h < 0) return tj_fail(c, at, "a truncated \\%c escape in a string", e);
                v = v * 16 + (unsigned)h;
            }
            if (v > 0x10FFFF || (v >= 0xD800 && v < 0xE000)) return tj_fail(c, at, "the escape \\%c%.*s is no character", e, digits, s + i + 1);
            i += (size_t)digits;
            tj_put_cp(o, &k, v);
            continue;
        }
        if (e == 'N' || (unsigned char)e >= 0x80) return tj_fail(c, at, "the escape \\%c in a string is not supported", e);
        o[k++] = '\\';
        o[k++] = e;
    }
    t->p = o;
    t->n = k;
    return 0;
}

static int tj_is_name_start(char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_'; }
static int tj_is_digit(char ch) { return ch >= '0' && ch <= '9'; }

/* One token of an expression at s[*i]; depth counts open brackets. */
static int tj_lex_token(tj_ctx *c, const char *s, size_t n, size_t *i, int *depth) {
    size_t st = *i, j = st;
    if (tj_is_name_start(s[j])) {
        while (j < n && (tj_is_name_start(s[j]) || tj_is_digit(s[j]))) j++;
        *i = j;
        return tj_push_tok(c, TJ_T_NAME, st, s + st, j - st);
    }
    if (tj_is_digit(s[j])) {
        char num[64];
        size_t k = 0;
        int isf = 0;
        while (j < n && (tj_is_digit(s[j]) || (s[j] == '_' && j + 1 < n && tj_is_digit(s[j + 1])))) j++;
        if (j + 1 < n && s[j] == '.' && tj_is_digit(s[j + 1])) {
            isf = 1;
            for (j++; j < n && (tj_is_digit(s[j]) || (s[j] == '_' && j + 1 < n && tj_is_digit(s[j + 1]))); j++) {}
        }
        if (j < n && (s[j] == 'e' || s[j] == 'E')) {
            size_t e = j + 1 + (j + 1 < n && (s[j + 1] == '+' || s[j + 1] == '-'));
            if (e < n && tj_is_digit(s[e])) {
                isf = 1;
                for (j = e; j < n && tj_is_digit(s[j]); j++) {}
            }
        }
        for (size_t q = st; q < j && k + 1 < sizeof num; q++)
            if (s[q] != '_') num[k++] = s[q];
        num[k] = 0;
        if (j - st >= sizeof num) return tj_fail(c, st, "a number too long");
        if (tj_push_tok(c, isf ? TJ_T_FLOAT : TJ_T_INT, st, s + st, j - st)) return -1;
        tj_token *t = &c->tok[c->ntok - 1];
        errno = 0;
        if (isf) t->f = strtod(num, NULL);
        else t->i = strtoll(num, NULL, 10);
        if (!isf && errno) return tj_fail(c, st, "the integer %s is too large", num);
        *i = j;
        return 0;
    }
    if (s[j] == '\'' || s[j] == '"') {
        char q = s[j];
        for (j++; j < n && s[j] != q; j++)
            if (s[j] == '\\') j++;
        if (j >= n) return tj_fail(c, st, "a string that is not closed");
        *i = j + 1;
        if (tj_push_tok(c, TJ_T_STR, st, NULL, 0)) return -1;
        return tj_unescape(c, st, s + st + 1, j - st - 1, &c->tok[c->ntok - 1]);
    }
    static const char *two[] = {"**", "//", "==", "!=", ">=", "<="};
    for (int k = 0; k < 6; k++)
        if (j + 1 < n && s[j] == two[k][0] && s[j + 1] == two[k][1]) {
            *i = j + 2;
            return tj_push_tok(c, TJ_T_OP, st, s + st, 2);
        }
    if (s[j] && strchr("+-*/%~[](){}<>=.:|,", s[j])) {
        if (strchr("([{", s[j])) ++*depth;
        if (strchr(")]}", s[j]) && *depth > 0) --*depth;
        *i = j + 1;
        return tj_push_tok(c, TJ_T_OP, st, s + st, 1);
    }
    return tj_fail(c, st, "unexpected character '%c'", s[j]);
}

/* The tokens of a {{ }} or {% %} tag whose body starts at s[*i]; on return
 * *i is past the tag and what trim_blocks and "-" remove after it. */
static int tj_lex_tag(tj_ctx *c, const char *s, size_t n, size_t *i, size_t open, int block) {
    int depth = 0;
    for (;;) {
        while (*i < n && strchr(" \t\n\r\f\v", s[*i])) ++*i;
        if (*i >= n) return tj_fail(c, open, "a %s tag that is not closed", block ? "{%" : "{{");
        const char *p = s + *i;
        char close = block ? '%' : '}';
        int mod = (*p == '-' || (block && *p == '+')) ? *p : 0;
        if (!depth && p[mod ? 1 : 0] == close && p[mod ? 2 : 1] == '}') {
            if (tj_push_tok(c, block ? TJ_T_BLOCK_END : TJ_T_VAR_END, *i, NULL, 0)) return -1;
            *i += mod ? 3 : 2;
            if (mod == '-') *i += tk_ws_right(s + *i, n - *i, tk_is_pyspace);
            else if (block && !mod && *i < n && s[*i] == '\n') ++*i; /* trim_blocks */
            return 0;
        }
        if (tj_lex_token(c, s, n, i, &depth)) return -1;
    }
}

static int tj_lex(tj_ctx *c, const char *s, size_t n) {
    size_t i = 0;
    int line_start = 1;
    for (;;) {
        size_t j = i;
        char kind = 0;
        for (; j + 1 < n; j++)
            if (s[j] == '{' && (s[j + 1] == '{' || s[j + 1] == '%' || s[j + 1] == '#')) { kind = s[j + 1]; break; }
        if (!kind) j = n;
        char mod = kind && j + 2 < n && (s[j + 2] == '-' || s[j + 2] == '+') ? s[j + 2] : 0;
        size_t end = j;
        if (mod == '-') end = i + tk_ws_left(s + i, j - i, tk_is_pyspace);
        else if (kind && kind != '{' && mod != '+') { /* lstrip_blocks */
            size_t k = j;
            while (k > i && (s[k - 1] == ' ' || s[k - 1] == '\t')) k--;
            if ((k > i && s[k - 1] == '\n') || (k == i && line_start)) end = k;
        }
        if (end > i && tj_push_tok(c, TJ_T_TEXT, i, s + i, end - i)) return -1;
        if (!kind) break;
        i = j + 2 + (mod != 0);
        if (kind == '#') {
            const char *e = NULL;
            for (size_t k = i; k + 1 < n && !e; k++)
                if (s[k] == '#' && s[k + 1] == '}') e = s + k;
            if (!e) return tj_fail(c, j, "a comment that is not closed");
            size_t after = (size_t)(e - s) + 2;
            if (e > s + i && e[-1] == '-') after += tk_ws_right(s + after, n - after, tk_is_pyspace);
            else if (after < n && s[after] == '\n') after++;
            i = after;
        } else {
            if (tj_push_tok(c, kind == '%' ? TJ_T_BLOCK : TJ_T_VAR, j, NULL, 0)) return -1;
            if (tj_lex_tag(c, s, n, &i, j, kind == '%')) return -1;
        }
        line_start = i > 0 && s[i - 1] == '\n';
    }
    return tj_push_tok(c, TJ_T_EOF, n, NULL, 0);
}

/* ------------------------------------------------------------------------ */
/* Parser                                                                    */
/* ------------------------------------------------------------------------ */

static int tj_is_filter(const char *name, size_t n); /* the filters are listed with the evaluator */
static const char *const tj_test_names[] = {
    "defined", "undefined", "none", "boolean", "true", "false", "integer", "float", "number", "string", "mapping",
    "sequence", "iterable", "callable", "odd", "even", "divisibleby", "eq", "equalto", "==", "ne", "!=", "lt", "<",
    "lessthan", "le", "<=", "gt", ">", "greaterthan", "ge", ">=", "in", "lower", "upper", "sameas", NULL};

static int tj_in_names(const char *const *names, const char *s, size_t n) {
    for (int i = 0; names[i]; i++)
        if (tk_eq(s, n, names[i])) return 1;
    return 0;
}

static tj_token *tj_cur(tj_ctx *c) { return &c->tok[c->at]; }
static int tj_is_op(const tj_token *t, const char *op) { return t->kind == TJ_T_OP && tk_eq(t->p, t->n, op); }
static int tj_is_kw(const tj_token *t, const char *kw) { return t->kind == TJ_T_NAME && tk_eq(t->p, t->n, kw); }

static const char *tj_tok_desc(const tj_token *t, char *buf, size_t cap) {
    switch (t->kind) {
    case TJ_T_EOF: return "the end of the template";
    case TJ_T_VAR_END: return "'}}'";
    case TJ_T_BLOCK_END: return "'%}'";
    case TJ_T_STR: return "a string";
    case TJ_T_TEXT: return "text";
    default: snprintf(buf, cap, "'%.*s'", (int)(t->n < 40 ? t->n : 40), t->p ? t->p : ""); return buf;
    }
}

static int tj_unexpected(tj_ctx *c, const char *what) {
    char b[64];
    tj_token *t = tj_cur(c);
    return tj_fail(c, t->at, "expected %s, found %s", what, tj_tok_desc(t, b, sizeof b));
}

static int tj_expect_op(tj_ctx *c, const char *op) {
    if (!tj_is_op(tj_cur(c), op)) {
        char w[16];
        snprintf(w, sizeof w, "'%s'", op);
        return tj_unexpected(c, w);
    }
    c->at++;
    return 0;
}

static tj_node *tj_node_new(tj_ctx *c, tj_nkind kind, size_t at) {
    tj_node *e = (tj_node *)tj_alloc(c, sizeof *e);
    if (e) { e->kind = kind; e->at = at; }
    return e;
}

/* A growing array of node pointers. */
typedef struct { tj_node **p; int n, cap; } tj_nodes;
static int tj_nodes_push(tj_ctx *c, tj_nodes *v, tj_node *e) {
    if (!e) return -1;
    if (v->n == v->cap) {
        int cap = v->cap ? v->cap * 2 : 4;
        tj_node **p = (tj_node **)tj_alloc(c, (size_t)cap * sizeof *p);
        if (!p) return -1;
        if (v->n) memcpy(p, v->p, (size_t)v->n * sizeof *p);
        v->p = p;
        v->cap = cap;
    }
    v->p[v->n++] = e;
    return 0;
}

static tj_node *tj_p_expr(tj_ctx *c, int condexpr);
static tj_node *tj_p_unary(tj_ctx *c, int with_filter);
static tj_node *tj_p_or(tj_ctx *c);

/* Arguments of a call, filter or test after its "(": positional, then name=value. */
static int tj_p_args(tj_ctx *c, tj_node *e) {
    tj_nodes args = {0};
    c->at++; /* ( */
    while (!tj_is_op(tj_cur(c), ")")) {
        if (args.n && tj_expect_op(c, ",")) return -1;
        if (tj_is_op(tj_cur(c), ")")) break;
        tj_token *t = tj_cur(c);
        if (tj_is_op(t, "*") || tj_is_op(t, "**")) return tj_fail(c, t->at, "*args and **kwargs in a call are not supported");
        const char *kw = NULL;
        size_t kwlen = 0;
        if (t->kind == TJ_T_NAME && tj_is_op(t + 1, "=")) { kw = t->p; kwlen = t->n; c->at += 2; }
        else if (args.n && args.p[args.n - 1]->kw) return tj_fail(c, t->at, "a positional argument after a keyword argument");
        tj_node *a = tj_p_expr(c, 1);
        if (!a) return -1;
        a->kw = kw;
        a->kwlen = kwlen;
        if (tj_nodes_push(c, &args, a)) return -1;
        if (args.n > TJ_MAX_ARGS) return tj_fail(c, t->at, "more than %d arguments", TJ_MAX_ARGS);
    }
    c->at++;
    e->kids = args.p;
    e->nkids = args.n;
    return 0;
}

/* Expressions separated by commas up to close: list, tuple, dict literals. */
static tj_node *tj_p_seq(tj_ctx *c, tj_nkind kind, const char *close, tj_node *first) {
    tj_node *e = tj_node_new(c, kind, tj_cur(c)->at);
    tj_nodes items = {0};
    if (!e || (first && tj_nodes_push(c, &items, first))) return NULL;
    while (!tj_is_op(tj_cur(c), close)) {
        if (items.n && tj_expect_op(c, ",")) return NULL;
        if (tj_is_op(tj_cur(c), close)) break;
        tj_node *k = tj_p_expr(c, 1);
        if (!k || tj_nodes_push(c, &items, k)) return NULL;
        if (kind == TJ_N_DICT) {
            if (tj_expect_op(c, ":")) return NULL;
            k->a = tj_p_expr(c, 1);
            if (!k->a) return NULL;
        }
    }
    c->at++;
    e->kids = items.p;
    e->nkids = items.n;
    return e;
}

static tj_node *tj_p_primary(tj_ctx *c) {
    tj_token *t = tj_cur(c);
    tj_node *e = NULL;
    if (t->kind == TJ_T_NAME) {
        c->at++;
        if (tk_eq(t->p, t->n, "true") || tk_eq(t->p, t->n, "True") || tk_eq(t->p, t->n, "false") ||
            tk_eq(t->p, t->n, "False")) {
            if ((e = tj_node_new(c, TJ_N_LIT, t->at))) e->lit = tj_vbool(t->p[0] == 't' || t->p[0] == 'T');
        } else if (tk_eq(t->p, t->n, "none") || tk_eq(t->p, t->n, "None")) {
            if ((e = tj_node_new(c, TJ_N_LIT, t->at))) e->lit = tj_v(TJ_NONE);
        } else if ((e = tj_node_new(c, TJ_N_NAME, t->at))) {
            e->name = t->p;
            e->nlen = t->n;
        }
        return e;
    }
    if (t->kind == TJ_T_STR) { /* adjacent strings are one */
        tk_buf b = {0};
        for (; tj_cur(c)->kind == TJ_T_STR; c->at++)
            if (tj_put(c, &b, tj_cur(c)->p, tj_cur(c)->n)) { free(b.p); return NULL; }
        if (!(e = tj_node_new(c, TJ_N_LIT, t->at)) || tj_buf_value(c, &b, &e->lit)) { free(b.p); return NULL; }
        return e;
    }
    if (t->kind == TJ_T_INT || t->kind == TJ_T_FLOAT) {
        c->at++;
        if ((e = tj_node_new(c, TJ_N_LIT, t->at))) e->lit = t->kind == TJ_T_INT ? tj_vint(t->i) : tj_vfloat(t->f);
        return e;
    }
    if (tj_is_op(t, "(")) {
        c->at++;
        if (tj_is_op(tj_cur(c), ")")) { c->at++; return tj_node_new(c, TJ_N_TUPLE, t->at); }
        tj_node *x = tj_p_expr(c, 1);
        if (!x) return NULL;
        if (tj_is_op(tj_cur(c), ",")) return tj_p_seq(c, TJ_N_TUPLE, ")", x);
        return tj_expect_op(c, ")") ? NULL : x;
    }
    if (tj_is_op(t, "[")) { c->at++; return tj_p_seq(c, TJ_N_LIST, "]", NULL); }
    if (tj_is_op(t, "{")) { c->at++; return tj_p_seq(c, TJ_N_DICT, "}", NULL); }
    tj_unexpected(c, "an expression");
    return NULL;
}

/* x[...]: an index or a slice a:b:c (each part optional). */
static tj_node *tj_p_subscript(tj_ctx *c, tj_node *obj) {
    tj_token *t = tj_cur(c);
    c->at++;
    tj_node *parts[3] = {NULL, NULL, NULL};
    int np = 0;
    for (;;) {
        if (!tj_is_op(tj_cur(c), ":") && !tj_is_op(tj_cur(c), "]") && !(parts[np] = tj_p_expr(c, 1))) return NULL;
        if (!tj_is_op(tj_cur(c), ":") || np == 2) break;
        c->at++;
        np++;
    }
    if (tj_expect_op(c, "]")) return NULL;
    tj_node *e = tj_node_new(c, np ? TJ_N_SLICE : TJ_N_ITEM, t->at);
    if (!e) return NULL;
    if (!np && !parts[0]) { tj_fail(c, t->at, "an empty subscript"); return NULL; }
    e->a = obj;
    e->b = parts[0];
    e->c = parts[1];
    e->d = parts[2];
    return e;
}

static tj_node *tj_p_postfix(tj_ctx *c, tj_node *e) {
    while (e) {
        tj_token *t = tj_cur(c);
        if (tj_is_op(t, ".")) {
            tj_token *n = t + 1;
            c->at += 2;
            if (n->kind == TJ_T_NAME) {
                tj_node *a = tj_node_new(c, TJ_N_ATTR, n->at);
                if (a) { a->a = e; a->name = n->p; a->nlen = n->n; }
                e = a;
            } else if (n->kind == TJ_T_INT) {
                tj_node *a = tj_node_new(c, TJ_N_ITEM, n->at), *k = tj_node_new(c, TJ_N_LIT, n->at);
                if (!a || !k) return NULL;
                k->lit = tj_vint(n->i);
                a->a = e;
                a->b = k;
                e = a;
            } else {
                c->at--;
                tj_unexpected(c, "a name after '.'");
                return NULL;
            }
        } else if (tj_is_op(t, "[")) {
            e = tj_p_subscript(c, e);
        } else if (tj_is_op(t, "(")) {
            tj_node *call = tj_node_new(c, TJ_N_CALL, t->at);
            if (!call) return NULL;
            call->a = e;
            e = tj_p_args(c, call) ? NULL : call;
        } else {
            break;
        }
    }
    return e;
}

/* A filter or test name (dotted names are not supported) and its arguments. */
static tj_node *tj_p_filter_or_test(tj_ctx *c, tj_node *subject, int test) {
    tj_token *t = tj_cur(c);
    int negate = 0;
    if (test && tj_is_kw(t, "not")) { negate = 1; c->at++; t = tj_cur(c); }
    if (t->kind != TJ_T_NAME && !(test && t->kind == TJ_T_OP)) { tj_unexpected(c, test ? "a test name" : "a filter name"); return NULL; }
    if (test ? !tj_in_names(tj_test_names, t->p, t->n) : !tj_is_filter(t->p, t->n)) {
        tj_fail(c, t->at, "no %s named '%.*s'", test ? "test" : "filter", (int)t->n, t->p);
        return NULL;
    }
    c->at++;
    tj_node *e = tj_node_new(c, test ? TJ_N_TEST : TJ_N_FILTER, t->at);
    if (!e) return NULL;
    e->a = subject;
    e->name = t->p;
    e->nlen = t->n;
    e->negate = negate;
    if (tj_is_op(tj_cur(c), "(")) return tj_p_args(c, e) ? NULL : e;
    tj_token *n = tj_cur(c);
    if (test && (n->kind == TJ_T_NAME || n->kind == TJ_T_STR || n->kind == TJ_T_INT || n->kind == TJ_T_FLOAT ||
                 tj_is_op(n, "[") || tj_is_op(n, "{")) &&
        !tj_is_kw(n, "else") && !tj_is_kw(n, "or") && !tj_is_kw(n, "and")) { /* one argument without parentheses */
        if (tj_is_kw(n, "is")) { tj_unexpected(c, "a test argument"); return NULL; }
        tj_node *arg = tj_p_postfix(c, tj_p_primary(c));
        if (!arg) return NULL;
        e->kids = (tj_node **)tj_alloc(c, sizeof *e->kids);
        if (!e->kids) return NULL;
        e->kids[0] = arg;
        e->nkids = 1;
    }
    return e;
}

static tj_node *tj_p_filters(tj_ctx *c, tj_node *e) {
    while (e) {
        tj_token *t = tj_cur(c);
        if (tj_is_op(t, "|")) { c->at++; e = tj_p_filter_or_test(c, e, 0); }
        else if (tj_is_kw(t, "is")) { c->at++; e = tj_p_filter_or_test(c, e, 1); }
        else if (tj_is_op(t, "(")) {
            tj_node *call = tj_node_new(c, TJ_N_CALL, t->at);
            if (!call) return NULL;
            call->a = e;
            e = tj_p_args(c, call) ? NULL : call;
        } else break;
    }
    return e;
}

static tj_node *tj_p_unary(tj_ctx *c, int with_filter) {
    tj_token *t = tj_cur(c);
    tj_node *e;
    if (++c->depth > TJ_MAX_DEPTH) { tj_fail(c, t->at, "expressions nested too deeply"); return NULL; }
    if (tj_is_op(t, "-") || tj_is_op(t, "+")) {
        c->at++;
        e = tj_node_new(c, t->p[0] == '-' ? TJ_N_NEG : TJ_N_POS, t->at);
        if (e && !(e->a = tj_p_unary(c, 0))) e = NULL;
    } else {
        e = tj_p_postfix(c, tj_p_primary(c));
    }
    if (with_filter) e = tj_p_filters(c, e);
    c->depth--;
    return e;
}

static tj_node *tj_binop(tj_ctx *c, const char *op, size_t at, tj_node *l, tj_node *r) {
    if (!l || !r) return NULL;
    tj_node *e = tj_node_new(c, TJ_N_BINOP, at);
    if (!e) return NULL;
    snprintf(e->op, sizeof e->op, "%s", op);
    e->a = l;
    e->b = r;
    return e;
}

/* Binary operators by precedence, loosest first; each level reads the next. */
static tj_node *tj_p_pow(tj_ctx *c) {
    tj_node *e = tj_p_unary(c, 1);
    while (e && tj_is_op(tj_cur(c), "**")) {
        size_t at = tj_cur(c)->at;
        c->at++;
        e = tj_binop(c, "**", at, e, tj_p_unary(c, 1));
    }
    return e;
}

static tj_node *tj_p_math2(tj_ctx *c) {
    tj_node *e = tj_p_pow(c);
    for (tj_token *t; e && ((t = tj_cur(c)), tj_is_op(t, "*") || tj_is_op(t, "/") || tj_is_op(t, "//") || tj_is_op(t, "%"));) {
        char op[4];
        snprintf(op, sizeof op, "%.*s", (int)t->n, t->p);
        c->at++;
        e = tj_binop(c, op, t->at, e, tj_p_pow(c));
    }
    return e;
}

static tj_node *tj_p_concat(tj_ctx *c) {
    tj_node *e = tj_p_math2(c);
    while (e && tj_is_op(tj_cur(c), "~")) {
        size_t at = tj_cur(c)->at;
        c->at++;
        e = tj_binop(c, "~", at, e, tj_p_math2(c));
    }
    return e;
}

static tj_node *tj_p_math1(tj_ctx *c) {
    tj_node *e = tj_p_concat(c);
    for (tj_token *t; e && ((t = tj_cur(c)), tj_is_op(t, "+") || tj_is_op(t, "-"));) {
        c->at++;
        e = tj_binop(c, t->p[0] == '+' ? "+" : "-", t->at, e, tj_p_concat(c));
    }
    return e;
}

/* a < b < c is (a < b) and (b < c), as in Python. */
static tj_node *tj_p_compare(tj_ctx *c) {
    tj_node *e = tj_p_math1(c), *prev = e, *all = NULL;
    static const char *const ops[] = {"==", "!=", "<", "<=", ">", ">=", NULL};
    while (prev) {
        tj_token *t = tj_cur(c);
        char op[4] = "";
        for (int k = 0; ops[k]; k++)
            if (tj_is_op(t, ops[k])) snprintf(op, sizeof op, "%s", ops[k]);
        if (op[0]) c->at++;
        else if (tj_is_kw(t, "in")) { strcpy(op, "in"); c->at++; }
        else if (tj_is_kw(t, "not") && tj_is_kw(t + 1, "in")) { strcpy(op, "!in"); c->at += 2; }
        else break;
        tj_node *r = tj_p_math1(c), *cmp = tj_binop(c, op, t->at, prev, r);
        if (!cmp) return NULL;
        if (all) {
            tj_node *and_ = tj_node_new(c, TJ_N_AND, t->at);
            if (!and_) return NULL;
            and_->a = all;
            and_->b = cmp;
            all = and_;
        } else {
            all = cmp;
        }
        prev = r;
    }
    return prev ? (all ? all : e) : NULL;
}

static tj_node *tj_p_not(tj_ctx *c) {
    tj_token *t = tj_cur(c);
    if (!tj_is_kw(t, "not")) return tj_p_compare(c);
    c->at++;
    if (++c->depth > TJ_MAX_DEPTH) { tj_fail(c, t->at, "expressions nested too deeply"); return NULL; }
    tj_node *e = tj_node_new(c, TJ_N_NOT, t->at);
    if (e && !(e->a = tj_p_not(c))) e = NULL;
    c->depth--;
    return e;
}

static tj_node *tj_p_logic(tj_ctx *c, int or_) {
    tj_node *e = or_ ? tj_p_logic(c, 0) : tj_p_not(c);
    while (e && tj_is_kw(tj_cur(c), or_ ? "or" : "and")) {
        tj_node *x = tj_node_new(c, or_ ? TJ_N_OR : TJ_N_AND, tj_cur(c)->at);
        c->at++;
        if (!x) return NULL;
        x->a = e;
        x->b = or_ ? tj_p_logic(c, 0) : tj_p_not(c);
        e = x->b ? x : NULL;
    }
    return e;
}
static tj_node *tj_p_or(tj_ctx *c) { return tj_p_logic(c, 1); }

/* An expression; with condexpr also "a if cond else b" (else optional). */
static tj_node *tj_p_expr(tj_ctx *c, int condexpr) {
    size_t at = tj_cur(c)->at;
    if (++c->depth > TJ_MAX_DEPTH) { tj_fail(c, at, "expressions nested too deeply"); return NULL; }
    tj_node *e = tj_p_or(c);
    while (condexpr && e && tj_is_kw(tj_cur(c), "if")) {
        c->at++;
        tj_node *x = tj_node_new(c, TJ_N_COND, at);
        if (!x || !(x->b = tj_p_or(c))) return NULL;
        x->a = e;
        if (tj_is_kw(tj_cur(c), "else")) {
            c->at++;
            if (!(x->c = tj_p_expr(c, 1))) return NULL;
        }
        e = x;
    }
    c->depth--;
    return e;
}

/* An expression or an unparenthesized tuple "a, b". */
static tj_node *tj_p_tuple(tj_ctx *c, int condexpr) {
    tj_node *e = tj_p_expr(c, condexpr);
    if (!e || !tj_is_op(tj_cur(c), ",")) return e;
    tj_node *t = tj_node_new(c, TJ_N_TUPLE, e->at);
    tj_nodes items = {0};
    if (!t || tj_nodes_push(c, &items, e)) return NULL;
    while (tj_is_op(tj_cur(c), ",")) {
        c->at++;
        tj_token *n = tj_cur(c);
        if (n->kind == TJ_T_VAR_END || n->kind == TJ_T_BLOCK_END || tj_is_op(n, ")")) break;
        if (tj_nodes_push(c, &items, tj_p_expr(c, condexpr))) return NULL;
    }
    t->kids = items.p;
    t->nkids = items.n;
    return t;
}

static int tj_expect_end(tj_ctx *c) {
    if (tj_cur(c)->kind != TJ_T_BLOCK_END) return tj_unexpected(c, "'%}'");
    c->at++;
    return 0;
}

static int tj_p_body(tj_ctx *c, const char *const *stops, const char *opener, size_t open_at, tj_nodes *body,
                     const char **stopped);

/* The body of a block up to one of its end tags; *stopped is which. */
static int tj_p_block_body(tj_ctx *c, const char *const *stops, const char *opener, size_t open_at, tj_node ***kids,
                           int *n, const char **stopped) {
    tj_nodes body = {0};
    if (tj_p_body(c, stops, opener, open_at, &body, stopped)) return -1;
    *kids = body.p;
    *n = body.n;
    return 0;
}

static tj_node *tj_p_if(tj_ctx *c, size_t at) {
    static const char *const stops[] = {"elif", "else", "endif", NULL};
    tj_node *e = tj_node_new(c, TJ_N_IF, at);
    const char *stop;
    if (!e || !(e->a = tj_p_tuple(c, 1)) || tj_expect_end(c) ||
        tj_p_block_body(c, stops, "if", at, &e->kids, &e->nkids, &stop))
        return NULL;
    if (!strcmp(stop, "elif")) { /* the rest is an if in the else branch */
        tj_node *sub = tj_p_if(c, tj_cur(c)->at);
        if (!sub || !(e->alt = (tj_node **)tj_alloc(c, sizeof *e->alt))) return NULL;
        e->alt[0] = sub;
        e->nalt = 1;
        return e;
    }
    if (!strcmp(stop, "else")) {
        static const char *const end[] = {"endif", NULL};
        if (tj_expect_end(c) || tj_p_block_body(c, end, "if", at, &e->alt, &e->nalt, &stop)) return NULL;
    }
    return tj_expect_end(c) ? NULL : e;
}

static tj_node *tj_p_for(tj_ctx *c, size_t at) {
    static const char *const stops[] = {"else", "endfor", NULL}, *const end[] = {"endfor", NULL};
    tj_node *e = tj_node_new(c, TJ_N_FOR, at);
    tj_nodes targets = {0};
    const char *stop;
    if (!e) return NULL;
    do {
        tj_token *t = tj_cur(c);
        if (t->kind != TJ_T_NAME) { tj_unexpected(c, "a loop variable"); return NULL; }
        tj_node *v = tj_node_new(c, TJ_N_NAME, t->at);
        if (!v) return NULL;
        v->name = t->p;
        v->nlen = t->n;
        if (tj_nodes_push(c, &targets, v)) return NULL;
        c->at++;
    } while (tj_is_op(tj_cur(c), ",") && ++c->at);
    e->b = NULL;
    if (!tj_is_kw(tj_cur(c), "in")) { tj_unexpected(c, "'in'"); return NULL; }
    c->at++;
    if (!(e->a = tj_p_tuple(c, 0))) return NULL;
    if (tj_is_kw(tj_cur(c), "if") && (++c->at, !(e->b = tj_p_expr(c, 1)))) return NULL;
    if (tj_is_kw(tj_cur(c), "recursive")) { tj_fail(c, tj_cur(c)->at, "recursive loops are not supported"); return NULL; }
    if (tj_expect_end(c)) return NULL;
    e->c = tj_node_new(c, TJ_N_BODY, at); /* holds the targets */
    if (!e->c) return NULL;
    e->c->kids = targets.p;
    e->c->nkids = targets.n;
    c->loops++;
    int rc = tj_p_block_body(c, stops, "for", at, &e->kids, &e->nkids, &stop);
    c->loops--;
    if (rc) return NULL;
    if (!strcmp(stop, "else") && (tj_expect_end(c) || tj_p_block_body(c, end, "for", at, &e->alt, &e->nalt, &stop)))
        return NULL;
    return tj_expect_end(c) ? NULL : e;
}

/* set NAME = expr, set NS.ATTR = expr, or set NAME %}...{% endset %}. */
static tj_node *tj_p_set(tj_ctx *c, size_t at) {
    tj_token *t = tj_cur(c);
    if (t->kind != TJ_T_NAME) { tj_unexpected(c, "a variable name"); return NULL; }
    tj_node *target = tj_node_new(c, TJ_N_NAME, t->at);
    if (!target) return NULL;
    target->name = t->p;
    target->nlen = t->n;
    c->at++;
    if (tj_is_op(tj_cur(c), ".") && (t + 2)->kind == TJ_T_NAME) {
        tj_node *attr = tj_node_new(c, TJ_N_ATTR, (t + 2)->at);
        if (!attr) return NULL;
        attr->a = target;
        attr->name = (t + 2)->p;
        attr->nlen = (t + 2)->n;
        target = attr;
        c->at += 2;
    }
    if (tj_cur(c)->kind == TJ_T_BLOCK_END && target->kind == TJ_N_NAME) {
        static const char *const end[] = {"endset", NULL};
        const char *stop;
        tj_node *e = tj_node_new(c, TJ_N_SETBLOCK, at);
        if (!e || tj_expect_end(c) || tj_p_block_body(c, end, "set", at, &e->kids, &e->nkids, &stop) || tj_expect_end(c))
            return NULL;
        e->a = target;
        return e;
    }
    if (tj_is_op(tj_cur(c), ",")) { tj_fail(c, tj_cur(c)->at, "'set' with several targets is not supported"); return NULL; }
    if (tj_expect_op(c, "=")) return NULL;
    tj_node *e = tj_node_new(c, TJ_N_SET, at);
    if (!e || !(e->b = tj_p_tuple(c, 1)) || tj_expect_end(c)) return NULL;
    e->a = target;
    return e;
}

/* macro NAME(a, b=default) %}...{% endmacro %} */
static tj_node *tj_p_macro(tj_ctx *c, size_t at) {
    static const char *const end[] = {"endmacro", NULL};
    tj_token *t = tj_cur(c);
    tj_nodes params = {0};
    const char *stop;
    if (t->kind != TJ_T_NAME) { tj_unexpected(c, "a macro name"); return NULL; }
    tj_node *e = tj_node_new(c, TJ_N_MACRO, at);
    if (!e) return NULL;
    e->name = t->p;
    e->nlen = t->n;
    c->at++;
    if (tj_expect_op(c, "(")) return NULL;
    while (!tj_is_op(tj_cur(c), ")")) {
        if (params.n && tj_expect_op(c, ",")) return NULL;
        tj_token *p = tj_cur(c);
        if (p->kind != TJ_T_NAME) { tj_unexpected(c, "a parameter name"); return NULL; }
        tj_node *v = tj_node_new(c, TJ_N_NAME, p->at);
        if (!v) return NULL;
        v->name = p->p;
        v->nlen = p->n;
        c->at++;
        if (tj_is_op(tj_cur(c), "=") && (++c->at, !(v->a = tj_p_expr(c, 1)))) return NULL;
        if (tj_nodes_push(c, &params, v)) return NULL;
    }
    c->at++;
    e->c = tj_node_new(c, TJ_N_BODY, at);
    if (!e->c || tj_expect_end(c)) return NULL;
    e->c->kids = params.p;
    e->c->nkids = params.n;
    int loops = c->loops;
    c->loops = 0; /* break in a macro body is outside any loop */
    int rc = tj_p_block_body(c, end, "macro", at, &e->kids, &e->nkids, &stop);
    c->loops = loops;
    return rc || tj_expect_end(c) ? NULL : e;
}

static tj_node *tj_p_statement(tj_ctx *c) {
    tj_token *t = tj_cur(c);
    size_t at = t->at;
    if (t->kind != TJ_T_NAME) { tj_unexpected(c, "a tag name"); return NULL; }
    c->at++;
    if (tj_is_kw(t, "if")) return tj_p_if(c, at);
    if (tj_is_kw(t, "for")) return tj_p_for(c, at);
    if (tj_is_kw(t, "set")) return tj_p_set(c, at);
    if (tj_is_kw(t, "macro")) return tj_p_macro(c, at);
    if (tj_is_kw(t, "break") || tj_is_kw(t, "continue")) {
        if (!c->loops) { tj_fail(c, at, "'%.*s' outside a loop", (int)t->n, t->p); return NULL; }
        tj_node *e = tj_node_new(c, t->p[0] == 'b' ? TJ_N_BREAK : TJ_N_CONTINUE, at);
        return e && !tj_expect_end(c) ? e : NULL;
    }
    if (tj_is_kw(t, "generation")) { /* transformers' tag marking assistant text: its body renders as is */
        static const char *const end[] = {"endgeneration", NULL};
        const char *stop;
        tj_node *e = tj_node_new(c, TJ_N_BODY, at);
        if (!e || tj_expect_end(c) || tj_p_block_body(c, end, "generation", at, &e->kids, &e->nkids, &stop) ||
            tj_expect_end(c))
            return NULL;
        return e;
    }
    static const char *const known[] = {"raw", "filter", "call", "include", "import", "from", "extends", "block",
                                        "with", "autoescape", "do", "trans", NULL};
    if (tj_in_names(known, t->p, t->n)) tj_fail(c, at, "the tag '%.*s' is not supported", (int)t->n, t->p);
    else tj_fail(c, at, "unknown tag '%.*s'", (int)(t->n < 40 ? t->n : 40), t->p);
    return NULL;
}

/* Statements up to a tag named in stops (consumed up to its name; NULL stops:
 * the end of the template). */
static int tj_p_body(tj_ctx *c, const char *const *stops, const char *opener, size_t open_at, tj_nodes *body,
                     const char **stopped) {
    if (++c->depth > TJ_MAX_DEPTH) return tj_fail(c, tj_cur(c)->at, "blocks nested too deeply");
    for (;;) {
        tj_token *t = tj_cur(c);
        if (t->kind == TJ_T_EOF) {
            if (stops) {
                int k = 0;
                while (stops[k + 1]) k++; /* the end tag is listed last */
                return tj_fail(c, open_at, "the '%s' block is not closed (no '%s')", opener, stops[k]);
            }
            break;
        }
        if (t->kind == TJ_T_TEXT) {
            tj_node *e = tj_node_new(c, TJ_N_TEXT, t->at);
            if (!e) return -1;
            e->lit = tj_vstr(t->p, t->n);
            if (tj_nodes_push(c, body, e)) return -1;
            c->at++;
        } else if (t->kind == TJ_T_VAR) {
            c->at++;
            tj_node *e = tj_node_new(c, TJ_N_OUTPUT, t->at);
            if (!e || !(e->a = tj_p_tuple(c, 1))) return -1;
            if (tj_cur(c)->kind != TJ_T_VAR_END) return tj_unexpected(c, "'}}'");
            c->at++;
            if (tj_nodes_push(c, body, e)) return -1;
        } else if (t->kind == TJ_T_BLOCK) {
            tj_token *name = t + 1;
            if (name->kind == TJ_T_NAME && stops)
                for (int k = 0; stops[k]; k++)
                    if (tk_eq(name->p, name->n, stops[k])) {
                        c->at += 2;
                        *stopped = stops[k];
                        c->depth--;
                        return 0;
                    }
            if (name->kind == TJ_T_NAME && (tj_in_names((const char *const[]){"endif", "endfor", "endset", "endmacro",
                                                                                 "endgeneration", "elif", "else", NULL},
                                                          name->p, name->n)))
                return opener ? tj_fail(c, name->at, "unexpected '%.*s' in a '%s' block", (int)name->n, name->p, opener)
                              : tj_fail(c, name->at, "unexpected '%.*s'", (int)name->n, name->p);
            c->at++;
            if (tj_nodes_push(c, body, tj_p_statement(c))) return -1;
        } else {
            return tj_unexpected(c, "text or a tag");
        }
    }
    c->depth--;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Evaluator: scopes                                                         */
/* ------------------------------------------------------------------------ */

/* Global functions: callable by name unless a variable shadows them. */
static const char *const tj_globals[] = {"raise_exception", "strftime_now", "namespace", "range", "dict", NULL};

static tj_value tj_lookup(const tj_ctx *c, const char *name, size_t n) {
    for (int i = c->nvars - 1; i >= c->barrier; i--)
        if (c->vars[i].n == n && !memcmp(c->vars[i].name, name, n)) return c->vars[i].v;
    if (c->barrier) /* in a macro: its own scope, then the root scope */
        for (int i = c->root_end - 1; i >= 0; i--)
            if (c->vars[i].n == n && !memcmp(c->vars[i].name, name, n)) return c->vars[i].v;
    for (int g = 0; tj_globals[g]; g++)
        if (tk_eq(name, n, tj_globals[g])) {
            tj_value v = tj_v(TJ_FUNC);
            v.u.fn = g;
            return v;
        }
    return tj_vundef(name, n);
}

/* Bind name in the innermost scope. */
static int tj_assign(tj_ctx *c, const char *name, size_t n, tj_value v) {
    for (int i = c->nvars - 1; i >= c->scope; i--)
        if (c->vars[i].n == n && !memcmp(c->vars[i].name, name, n)) { c->vars[i].v = v; return 0; }
    if (c->nvars == c->capvars) {
        int cap = c->capvars ? c->capvars * 2 : 64;
        tj_var *p = (tj_var *)tj_alloc(c, (size_t)cap * sizeof *p);
        if (!p) return -1;
        if (c->nvars) memcpy(p, c->vars, (size_t)c->nvars * sizeof *p);
        c->vars = p;
        c->capvars = cap;
    }
    c->vars[c->nvars].name = name;
    c->vars[c->nvars].n = n;
    c->vars[c->nvars++].v = v;
    if (c->scope == 0) c->root_end = c->nvars;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Evaluator: builtins (filters, tests, methods, global functions)           */
/* ------------------------------------------------------------------------ */

static int tj_eval(tj_ctx *c, const tj_node *e, tj_value *out);
static int tj_call_macro(tj_ctx *c, const tj_node *at, const tj_node *m, const tj_value *args, const tj_node *const *argn,
                         int n, tj_value *out);

/* Arguments evaluated: v[i], with the keyword of each (NULL: positional). */
typedef struct {
    tj_value v[TJ_MAX_ARGS + 1];
    const tj_node *src[TJ_MAX_ARGS + 1];
    int n;
} tj_args;

/* Match arguments to a parameter list "a,b,c": p[i] gets the value, set[i]
 * whether it was given. Unknown keywords and extra arguments are errors. */
static int tj_bind(tj_ctx *c, size_t at, const char *what, const tj_args *a, const char *params, tj_value *p, int *set) {
    const char *names[TJ_MAX_ARGS];
    size_t lens[TJ_MAX_ARGS];
    int np = 0;
    for (const char *s = params; *s && np < TJ_MAX_ARGS; np++) {
        const char *e = strchr(s, ',');
        names[np] = s;
        lens[np] = e ? (size_t)(e - s) : strlen(s);
        s = e ? e + 1 : s + lens[np];
    }
    for (int i = 0; i < np; i++) { set[i] = 0; p[i] = tj_vundef(names[i], lens[i]); }
    for (int i = 0; i < a->n; i++) {
        const tj_node *s = a->src[i];
        int k = i;
        if (s && s->kw) {
            for (k = 0; k < np && !(lens[k] == s->kwlen && !memcmp(names[k], s->kw, s->kwlen)); k++) {}
            if (k == np) return tj_fail(c, at, "%s: unexpected keyword argument '%.*s'", what, (int)s->kwlen, s->kw);
        }
        if (k >= np) return tj_fail(c, at, "%s: takes at most %d arguments", what, np);
        if (set[k]) return tj_fail(c, at, "%s: got two values for '%.*s'", what, (int)lens[k], names[k]);
        p[k] = a->v[i];
        set[k] = 1;
    }
    return 0;
}

static int tj_need(tj_ctx *c, size_t at, const char *what, const tj_value *v, tj_kind kind, const char *desc) {
    if (v->kind == kind || (kind == TJ_INT && v->kind == TJ_BOOL)) return 0;
    if (v->kind == TJ_UNDEF) return tj_fail(c, at, "'%.*s' is undefined", (int)v->u.s.n, v->u.s.p);
    return tj_fail(c, at, "%s: expected %s, got %s", what, desc, tj_type(v));
}

/* The items a for loop visits: a list, a dict's keys, a string's characters. */
static int tj_iterate(tj_ctx *c, size_t at, const tj_value *v, tj_value *out) {
    if (v->kind == TJ_LIST) { *out = *v; return 0; }
    if (v->kind == TJ_UNDEF) return tj_list_new(c, 0, 0, out);
    if (v->kind == TJ_DICT) {
        if (tj_list_new(c, v->u.d->n, 0, out)) return -1;
        for (int i = 0; i < v->u.d->n; i++) out->u.l->v[i] = v->u.d->k[i];
        return 0;
    }
    if (v->kind == TJ_STR) {
        size_t n = tj_nchars(v->u.s.p, v->u.s.n), o = 0;
        if (n > INT_MAX / 2 || tj_list_new(c, (int)n, 0, out)) return tj_fail(c, at, "a string too long to iterate");
        for (size_t i = 0; i < n; i++) {
            size_t len;
            tk_utf8_cp(v->u.s.p + o, v->u.s.n - o, &len);
            out->u.l->v[i] = tj_vstr(v->u.s.p + o, len);
            o += len;
        }
        return 0;
    }
    return tj_fail(c, at, "'%s' object is not iterable", tj_type(v));
}

/* Python's str.strip/lstrip/rstrip: whitespace, or the characters of chars. */
static int tj_in_chars(unsigned cp, const tj_value *chars) {
    if (!chars) return tk_is_pyspace(cp);
    for (size_t i = 0, l; i < chars->u.s.n; i += l)
        if (tk_utf8_cp(chars->u.s.p + i, chars->u.s.n - i, &l) == cp) return 1;
    return 0;
}

static tj_value tj_strip(const tj_value *s, const tj_value *chars, int left, int right) {
    const char *p = s->u.s.p;
    size_t a = 0, z = s->u.s.n, l;
    while (left && a < z && tj_in_chars(tk_utf8_cp(p + a, z - a, &l), chars)) a += l;
    while (right && z > a) {
        size_t b = z - 1;
        while (b > a && ((unsigned char)p[b] & 0xC0) == 0x80) b--;
        if (!tj_in_chars(tk_utf8_cp(p + b, z - b, &l), chars)) break;
        z = b;
    }
    return tj_vstr(p + a, z - a);
}

/* Case mappings of ASCII text; text with other letters is refused rather
 * than mapped differently from Python. mode: 'u'pper, 'l'ower, 'c'apitalize,
 * 't'itle (str.title), 'T'itle (the title filter: words split at -,space,([{<). */
static int tj_case(tj_ctx *c, size_t at, const tj_value *s, int mode, tj_value *out) {
    char *o = tj_strdup(c, s->u.s.p, s->u.s.n);
    if (!o) return -1;
    int start = 1;
    for (size_t i = 0; i < s->u.s.n; i++) {
        unsigned char ch = (unsigned char)o[i];
        if (ch >= 0x80) return tj_fail(c, at, "changing the case of non-ASCII text is not supported");
        int alpha = (ch | 0x20) >= 'a' && (ch | 0x20) <= 'z';
        int up = mode == 'u' || ((mode == 'c' && i == 0) || ((mode == 't' || mode == 'T') && start));
        if (alpha) o[i] = (char)(up ? (ch & ~0x20) : (ch | 0x20));
        if (mode == 'u' && alpha) o[i] = (char)(ch & ~0x20);
        if (mode == 'l' && alpha) o[i] = (char)(ch | 0x20);
        if (mode == 't') start = !alpha;
        else if (mode == 'T') start = ch == '-' || tk_is_pyspace(ch) || ch == '(' || ch == '{' || ch == '[' || ch == '<';
        else start = 0;
    }
    *out = tj_vstr(o, s->u.s.n);
    return 0;
}

/* Python's str.split(sep, maxsplit); sep None splits at runs of whitespace. */
static int tj_split(tj_ctx *c, size_t at, const tj_value *s, const tj_value *sep, long long maxsplit, tj_value *out) {
    const char *p = s->u.s.p;
    size_t n = s->u.s.n, i = 0, l;
    int np = 0, cap = 0;
    tj_value *v = NULL;
    if (sep && !sep->u.s.n) return tj_fail(c, at, "split: empty separator");
    for (;;) {
        size_t from, to, next;
        if (!sep) {
            while (i < n && tk_is_pyspace(tk_utf8_cp(p + i, n - i, &l))) i += l;
            if (i >= n) break;
            from = i;
            if (maxsplit >= 0 && np >= maxsplit) { /* the rest, trailing whitespace and all */
                to = next = n;
            } else {
                while (i < n && !tk_is_pyspace(tk_utf8_cp(p + i, n - i, &l))) i += l;
                to = next = i;
            }
        } else {
            from = i;
            const char *hit = NULL;
            if (maxsplit < 0 || np < maxsplit)
                for (size_t k = i; k + sep->u.s.n <= n && !hit; k++)
                    if (!memcmp(p + k, sep->u.s.p, sep->u.s.n)) hit = p + k;
            to = hit ? (size_t)(hit - p) : n;
            next = hit ? to + sep->u.s.n : n + 1;
        }
        if (np == cap) {
            cap = cap ? cap * 2 : 8;
            tj_value *nv = (tj_value *)tj_alloc(c, (size_t)cap * sizeof *nv);
            if (!nv) return -1;
            if (np) memcpy(nv, v, (size_t)np * sizeof *nv);
            v = nv;
        }
        v[np++] = tj_vstr(p + from, to - from);
        i = next;
        if (i > n || (!sep && i >= n)) break;
    }
    if (tj_list_new(c, 0, 0, out)) return -1;
    out->u.l->v = v;
    out->u.l->n = np;
    return 0;
}

static int tj_replace_str(tj_ctx *c, size_t at, const tj_value *s, const tj_value *old, const tj_value *new_,
                          long long count, tj_value *out) {
    tk_buf b = {0};
    size_t from = 0, i = 0, n = s->u.s.n, on = old->u.s.n;
    if (!on) return tj_fail(c, at, "replace: an empty search string is not supported");
    while (i + on <= n && count != 0) {
        if (!memcmp(s->u.s.p + i, old->u.s.p, on)) {
            if (tj_put(c, &b, s->u.s.p + from, i - from) || tj_put(c, &b, new_->u.s.p, new_->u.s.n)) { free(b.p); return -1; }
            i += on;
            from = i;
            if (count > 0) count--;
        } else {
            i++;
        }
    }
    if (tj_put(c, &b, s->u.s.p + from, n - from)) { free(b.p); return -1; }
    return tj_buf_value(c, &b, out);
}

/* Python's len(): characters of a string, items, 0 for Undefined. */
static int tj_len(tj_ctx *c, size_t at, const tj_value *v, long long *n) {
    *n = 0;
    switch (v->kind) {
    case TJ_STR: *n = (long long)tj_nchars(v->u.s.p, v->u.s.n); return 0;
    case TJ_LIST: *n = v->u.l->n; return 0;
    case TJ_DICT: *n = v->u.d->n; return 0;
    case TJ_UNDEF: *n = 0; return 0;
    default: return tj_fail(c, at, "object of type '%s' has no len()", tj_type(v));
    }
}

static int tj_item_index(tj_ctx *c, const tj_value *seq, long long i, tj_value *out) {
    long long n = 0;
    if (tj_len(c, 0, seq, &n)) return -1;
    if (i < 0) i += n;
    if (i < 0 || i >= n) { *out = tj_vundef("item", 4); return 0; }
    if (seq->kind == TJ_LIST) { *out = seq->u.l->v[i]; return 0; }
    size_t o = tj_char_at(seq->u.s.p, seq->u.s.n, (size_t)i), l;
    tk_utf8_cp(seq->u.s.p + o, seq->u.s.n - o, &l);
    *out = tj_vstr(seq->u.s.p + o, l);
    return 0;
}

static int tj_getattr(tj_ctx *c, size_t at, const tj_value *obj, const char *name, size_t n, tj_value *out);

/* value[key], or getattr when the key is no item (jinja2's getitem). */
static int tj_getitem(tj_ctx *c, size_t at, const tj_value *obj, const tj_value *key, tj_value *out) {
    if (obj->kind == TJ_UNDEF) return tj_fail(c, at, "'%.*s' is undefined", (int)obj->u.s.n, obj->u.s.p);
    if (obj->kind == TJ_DICT) {
        int i = tj_dict_find(obj->u.d, key);
        if (i < 0 && key->kind == TJ_STR) return tj_getattr(c, at, obj, key->u.s.p, key->u.s.n, out);
        *out = i >= 0 ? obj->u.d->v[i] : tj_vundef("item", 4);
        return 0;
    }
    if ((obj->kind == TJ_LIST || obj->kind == TJ_STR) && (key->kind == TJ_INT || key->kind == TJ_BOOL))
        return tj_item_index(c, obj, key->u.i, out);
    if (obj->kind == TJ_NS && key->kind == TJ_STR) {
        int i = tj_dict_find_str(obj->u.d, key->u.s.p, key->u.s.n);
        *out = i >= 0 ? obj->u.d->v[i] : tj_vundef(key->u.s.p, key->u.s.n);
        return 0;
    }
    *out = tj_vundef("item", 4);
    return 0;
}

/* The attributes Python's str, dict and list have (all methods): jinja2
 * finds these before a dict's items. Only some can be called here (see
 * tj_call_method); none is a value without a call. */
static const char *const tj_str_attrs[] = {
    "capitalize", "casefold", "center", "count", "encode", "endswith", "expandtabs", "find", "format", "format_map",
    "index", "isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "isidentifier", "islower", "isnumeric",
    "isprintable", "isspace", "istitle", "isupper", "join", "ljust", "lower", "lstrip", "maketrans", "partition",
    "removeprefix", "removesuffix", "replace", "rfind", "rindex", "rjust", "rpartition", "rsplit", "rstrip", "split",
    "splitlines", "startswith", "strip", "swapcase", "title", "translate", "upper", "zfill", NULL};
static const char *const tj_dict_attrs[] = {"clear", "copy", "fromkeys", "get", "items", "keys", "pop", "popitem",
                                            "setdefault", "update", "values", NULL};
static const char *const tj_list_attrs[] = {"append", "clear", "copy", "count", "extend", "index", "insert", "pop",
                                            "remove", "reverse", "sort", NULL};

static int tj_is_method(const tj_value *obj, const char *name, size_t n) {
    return (obj->kind == TJ_STR && tj_in_names(tj_str_attrs, name, n)) ||
           (obj->kind == TJ_DICT && tj_in_names(tj_dict_attrs, name, n)) ||
           (obj->kind == TJ_LIST && tj_in_names(tj_list_attrs, name, n));
}

/* value.name (jinja2's getattr: the attribute, else the item). */
static int tj_getattr(tj_ctx *c, size_t at, const tj_value *obj, const char *name, size_t n, tj_value *out) {
    if (obj->kind == TJ_UNDEF) return tj_fail(c, at, "'%.*s' is undefined", (int)obj->u.s.n, obj->u.s.p);
    if (tj_is_method(obj, name, n))
        return tj_fail(c, at, "the method %s.%.*s without a call is not supported", tj_type(obj), (int)n, name);
    if (obj->kind == TJ_DICT || obj->kind == TJ_NS) {
        int i = tj_dict_find_str(obj->u.d, name, n);
        *out = i >= 0 ? obj->u.d->v[i] : tj_vundef(name, n);
        return 0;
    }
    *out = tj_vundef(name, n);
    return 0;
}

/* value[a:b:c] of a list or a string, with Python's index rules. */
static int tj_slice(tj_ctx *c, size_t at, const tj_value *obj, const tj_value *lo, const tj_value *hi, const tj_value *st,
                    tj_value *out) {
    long long n, step = 1, start, stop;
    if (obj->kind != TJ_LIST && obj->kind != TJ_STR) return tj_fail(c, at, "slicing a %s is not supported", tj_type(obj));
    const tj_value *ix[3] = {lo, hi, st};
    for (int k = 0; k < 3; k++)
        if (ix[k] && ix[k]->kind != TJ_NONE && ix[k]->kind != TJ_INT && ix[k]->kind != TJ_BOOL)
            return tj_fail(c, at, "slice indices must be integers, not %s", tj_type(ix[k]));
    if (tj_len(c, at, obj, &n)) return -1;
    if (st && st->kind != TJ_NONE) step = st->u.i;
    if (step == 0) return tj_fail(c, at, "slice step cannot be zero");
    if (step == LLONG_MIN) step = -LLONG_MAX;
    if (!lo || lo->kind == TJ_NONE) start = step < 0 ? n - 1 : 0;
    else {
        start = lo->u.i;
        if (start < 0 && (start += n) < 0) start = step < 0 ? -1 : 0;
        else if (start >= n) start = step < 0 ? n - 1 : n;
    }
    if (!hi || hi->kind == TJ_NONE) stop = step < 0 ? -1 : n;
    else {
        stop = hi->u.i;
        if (stop < 0 && (stop += n) < 0) stop = step < 0 ? -1 : 0;
        else if (stop >= n) stop = step < 0 ? n - 1 : n;
    }
    long long count = step > 0 ? (stop > start ? (stop - start + step - 1) / step : 0)
                               : (start > stop ? (start - stop - step - 1) / -step : 0);
    if (obj->kind == TJ_LIST) {
        if (tj_list_new(c, (int)count, obj->u.l->tuple, out)) return -1;
        for (long long k = 0; k < count; k++) out->u.l->v[k] = obj->u.l->v[start + k * step];
        return 0;
    }
    size_t *off = (size_t *)tj_alloc(c, (size_t)(n + 1) * sizeof *off), o = 0;
    char *dst = tj_alloc(c, obj->u.s.n + 1);
    if (!off || !dst) return -1;
    for (long long k = 0; k <= n; k++) {
        off[k] = o;
        while (++o < obj->u.s.n && ((unsigned char)obj->u.s.p[o] & 0xC0) == 0x80) {}
    }
    size_t w = 0;
    for (long long k = 0; k < count; k++) {
        long long ci = start + k * step;
        size_t len = off[ci + 1] - off[ci];
        memcpy(dst + w, obj->u.s.p + off[ci], len);
        w += len;
    }
    *out = tj_vstr(dst, w);
    return 0;
}

static int tj_call_value(tj_ctx *c, const tj_node *at, const tj_value *fn, tj_args *a, tj_value *out);
static int tj_apply_filter(tj_ctx *c, const tj_node *at, const char *name, size_t nlen, tj_args *a, tj_value *out);
static int tj_apply_test(tj_ctx *c, const tj_node *at, const char *name, size_t nlen, tj_args *a, int *out);

/* A dict's keys ('k'), values ('v') or (key, value) pairs ('i') as a list. */
static int tj_dict_view(tj_ctx *c, const tj_dict *d, char which, tj_value *out) {
    if (tj_list_new(c, d->n, 0, out)) return -1;
    for (int i = 0; i < d->n; i++) {
        if (which == 'k') out->u.l->v[i] = d->k[i];
        else if (which == 'v') out->u.l->v[i] = d->v[i];
        else {
            if (tj_list_new(c, 2, 1, &out->u.l->v[i])) return -1;
            out->u.l->v[i].u.l->v[0] = d->k[i];
            out->u.l->v[i].u.l->v[1] = d->v[i];
        }
    }
    return 0;
}

/* obj.name(args) for the methods of str and dict. */
static int tj_call_method(tj_ctx *c, const tj_node *at, const tj_value *obj, const char *name, size_t n, tj_args *a,
                          tj_value *out) {
    tj_value p[4];
    int set[4] = {0};
    char what[48];
    snprintf(what, sizeof what, "%s.%.*s()", tj_type(obj), (int)(n < 20 ? n : 20), name);
    if (obj->kind == TJ_STR) {
        if (tk_eq(name, n, "strip") || tk_eq(name, n, "lstrip") || tk_eq(name, n, "rstrip")) {
            if (tj_bind(c, at->at, what, a, "chars", p, set)) return -1;
            if (set[0] && p[0].kind != TJ_NONE && tj_need(c, at->at, what, &p[0], TJ_STR, "a string")) return -1;
            *out = tj_strip(obj, set[0] && p[0].kind == TJ_STR ? &p[0] : NULL, name[0] != 'r', name[0] != 'l');
            return 0;
        }
        if (tk_eq(name, n, "split")) {
            if (tj_bind(c, at->at, what, a, "sep,maxsplit", p, set)) return -1;
            if (set[0] && p[0].kind != TJ_NONE && tj_need(c, at->at, what, &p[0], TJ_STR, "a string")) return -1;
            if (set[1] && tj_need(c, at->at, what, &p[1], TJ_INT, "an integer")) return -1;
            return tj_split(c, at->at, obj, set[0] && p[0].kind == TJ_STR ? &p[0] : NULL, set[1] ? p[1].u.i : -1, out);
        }
        if (tk_eq(name, n, "startswith") || tk_eq(name, n, "endswith")) {
            if (tj_bind(c, at->at, what, a, "prefix", p, set)) return -1;
            int k = p[0].kind == TJ_LIST ? p[0].u.l->n : 1, hit = 0;
            if (p[0].kind == TJ_LIST && !p[0].u.l->tuple) return tj_fail(c, at->at, "%s: expected a string or a tuple", what);
            for (int i = 0; i < k && !hit; i++) {
                const tj_value *x = p[0].kind == TJ_LIST ? &p[0].u.l->v[i] : &p[0];
                if (tj_need(c, at->at, what, x, TJ_STR, "a string")) return -1;
                hit = x->u.s.n <= obj->u.s.n &&
                      !memcmp(obj->u.s.p + (name[0] == 's' ? 0 : obj->u.s.n - x->u.s.n), x->u.s.p, x->u.s.n);
            }
            *out = tj_vbool(hit);
            return 0;
        }
        if (tk_eq(name, n, "replace")) {
            if (tj_bind(c, at->at, what, a, "old,new,count", p, set) || tj_need(c, at->at, what, &p[0], TJ_STR, "a string") ||
                tj_need(c, at->at, what, &p[1], TJ_STR, "a string") || (set[2] && tj_need(c, at->at, what, &p[2], TJ_INT, "an integer")))
                return -1;
            return tj_replace_str(c, at->at, obj, &p[0], &p[1], set[2] ? p[2].u.i : -1, out);
        }
        if (tk_eq(name, n, "upper") || tk_eq(name, n, "lower") || tk_eq(name, n, "title") || tk_eq(name, n, "capitalize")) {
            if (tj_bind(c, at->at, what, a, "", p, set)) return -1;
            return tj_case(c, at->at, obj, name[0] == 'c' ? 'c' : name[0] == 't' ? 't' : name[0] == 'u' ? 'u' : 'l', out);
        }
        if (tk_eq(name, n, "join")) {
            tj_value items;
            tk_buf b = {0};
            if (tj_bind(c, at->at, what, a, "iterable", p, set) || tj_iterate(c, at->at, &p[0], &items)) return -1;
            for (int i = 0; i < items.u.l->n; i++) {
                const tj_value *x = &items.u.l->v[i];
                if (x->kind != TJ_STR) { free(b.p); return tj_fail(c, at->at, "%s: item %d is a %s, not a string", what, i, tj_type(x)); }
                if ((i && tj_put(c, &b, obj->u.s.p, obj->u.s.n)) || tj_put(c, &b, x->u.s.p, x->u.s.n)) { free(b.p); return -1; }
            }
            return tj_buf_value(c, &b, out);
        }
        if (tk_eq(name, n, "find") || tk_eq(name, n, "count")) {
            if (tj_bind(c, at->at, what, a, "sub", p, set) || tj_need(c, at->at, what, &p[0], TJ_STR, "a string")) return -1;
            long long found = -1, cnt = 0;
            size_t sn = p[0].u.s.n;
            for (size_t i = 0; i + sn <= obj->u.s.n;) {
                if (!memcmp(obj->u.s.p + i, p[0].u.s.p, sn)) {
                    if (found < 0) found = (long long)tj_nchars(obj->u.s.p, i);
                    cnt++;
                    i += sn ? sn : 1;
                } else i++;
            }
            if (!sn) cnt = (long long)tj_nchars(obj->u.s.p, obj->u.s.n) + 1;
            *out = tj_vint(name[0] == 'f' ? found : cnt);
            return 0;
        }
    } else if (obj->kind == TJ_DICT) {
        const tj_dict *d = obj->u.d;
        if (tk_eq(name, n, "get")) {
            if (tj_bind(c, at->at, what, a, "key,default", p, set)) return -1;
            int i = tj_dict_find(d, &p[0]);
            *out = i >= 0 ? d->v[i] : set[1] ? p[1] : tj_v(TJ_NONE);
            return 0;
        }
        if (tk_eq(name, n, "items") || tk_eq(name, n, "keys") || tk_eq(name, n, "values"))
            return tj_bind(c, at->at, what, a, "", p, set) ? -1 : tj_dict_view(c, d, name[0], out);
    } else if (obj->kind == TJ_UNDEF) {
        return tj_fail(c, at->at, "'%.*s' is undefined", (int)obj->u.s.n, obj->u.s.p);
    }
    /* a namespace or dict member that is callable (a macro stored there) */
    tj_value member;
    if ((obj->kind == TJ_DICT || obj->kind == TJ_NS) && !tj_is_method(obj, name, n) &&
        tj_getattr(c, at->at, obj, name, n, &member) == 0 && (member.kind == TJ_MACRO || member.kind == TJ_FUNC))
        return tj_call_value(c, at, &member, a, out);
    return tj_fail(c, at->at, "the method %s.%.*s() is not supported", tj_type(obj), (int)n, name);
}

/* Seconds since the epoch as the local time strftime_now would format. */
static int tj_strftime_now(tj_ctx *c, size_t at, const tj_value *fmt, tj_value *out) {
    char buf[256];
    for (size_t i = 0; i + 1 < fmt->u.s.n; i++)
        if (fmt->u.s.p[i] == '%') {
            char f = fmt->u.s.p[++i];
            if (!strchr("aAbBdHIjmMpSUwWyYcxX%", f))
                return tj_fail(c, at, "strftime_now: the format %%%c is not supported", f);
        }
    if (fmt->u.s.n > 64 || memchr(fmt->u.s.p, 0, fmt->u.s.n)) return tj_fail(c, at, "strftime_now: format too long");
    char f[72];
    memcpy(f, fmt->u.s.p, fmt->u.s.n);
    f[fmt->u.s.n] = 0;
    time_t now = time(NULL);
    struct tm tm;
    if (!localtime_r(&now, &tm)) return tj_fail(c, at, "strftime_now: no local time");
    size_t n = strftime(buf, sizeof buf, f, &tm);
    char *p = tj_strdup(c, buf, n);
    if (!p) return -1;
    *out = tj_vstr(p, n);
    return 0;
}

static int tj_call_global(tj_ctx *c, const tj_node *at, int fn, tj_args *a, tj_value *out) {
    tj_value p[3];
    int set[3] = {0};
    const char *name = tj_globals[fn];
    if (!strcmp(name, "raise_exception")) {
        tj_value msg;
        if (tj_bind(c, at->at, name, a, "message", p, set) || tj_to_str(c, at->at, &p[0], &msg)) return -1;
        return tj_fail(c, at->at, "the template raised an error: %.*s", (int)(msg.u.s.n < 300 ? msg.u.s.n : 300), msg.u.s.p);
    }
    if (!strcmp(name, "strftime_now")) {
        if (tj_bind(c, at->at, name, a, "format", p, set) || tj_need(c, at->at, name, &p[0], TJ_STR, "a string")) return -1;
        return tj_strftime_now(c, at->at, &p[0], out);
    }
    if (!strcmp(name, "range")) {
        if (tj_bind(c, at->at, name, a, "a,b,step", p, set)) return -1;
        for (int i = 0; i < 3; i++)
            if (set[i] && tj_need(c, at->at, name, &p[i], TJ_INT, "an integer")) return -1;
        long long lo = set[1] ? p[0].u.i : 0, hi = set[1] ? p[1].u.i : p[0].u.i, st = set[2] ? p[2].u.i : 1;
        if (!set[0]) return tj_fail(c, at->at, "range: expected at least 1 argument");
        if (st == 0) return tj_fail(c, at->at, "range: step must not be zero");
        long long n = st > 0 ? (hi > lo ? (hi - lo + st - 1) / st : 0) : (lo > hi ? (lo - hi - st - 1) / -st : 0);
        if (hi - lo > 4LL * TJ_MAX_RANGE || lo - hi > 4LL * TJ_MAX_RANGE || n > TJ_MAX_RANGE)
            return tj_fail(c, at->at, "range: more than %d items", TJ_MAX_RANGE);
        if (tj_list_new(c, (int)n, 0, out)) return -1;
        for (long long i = 0; i < n; i++) out->u.l->v[i] = tj_vint(lo + i * st);
        return 0;
    }
    /* namespace(k=v, ...), dict(k=v, ...) */
    if (tj_dict_new(c, name[0] == 'n' ? TJ_NS : TJ_DICT, out)) return -1;
    for (int i = 0; i < a->n; i++) {
        if (!a->src[i] || !a->src[i]->kw) return tj_fail(c, at->at, "%s(): only keyword arguments are supported", name);
        if (tj_dict_set(c, out->u.d, tj_vstr(a->src[i]->kw, a->src[i]->kwlen), a->v[i])) return -1;
    }
    return 0;
}

static int tj_call_value(tj_ctx *c, const tj_node *at, const tj_value *fn, tj_args *a, tj_value *out) {
    if (fn->kind == TJ_FUNC) return tj_call_global(c, at, fn->u.fn, a, out);
    if (fn->kind == TJ_MACRO) return tj_call_macro(c, at, fn->u.m, a->v, a->src, a->n, out);
    if (fn->kind == TJ_UNDEF) return tj_fail(c, at->at, "'%.*s' is undefined", (int)fn->u.s.n, fn->u.s.p);
    return tj_fail(c, at->at, "'%s' object is not callable", tj_type(fn));
}

/* Python's round() of x to ndigits, half to even on the exact binary value
 * (printf's correctly rounded conversion gives that). */
static double tj_round(double x, long long nd) {
    char b[400];
    if (nd > 300 || x != x || x == HUGE_VAL || x == -HUGE_VAL) return x;
    if (nd < -300) return 0.0 * x;
    if (nd >= 0) { snprintf(b, sizeof b, "%.*f", (int)nd, x); return strtod(b, NULL); }
    double p = pow(10.0, (double)-nd);
    return nearbyint(x / p) * p;
}

/* attribute= of map/selectattr/rejectattr/join: "a.b" or "0" path. */
static int tj_attr_path(tj_ctx *c, size_t at, const tj_value *obj, const tj_value *path, tj_value *out) {
    *out = *obj;
    if (path->kind == TJ_INT) { tj_value k = *path; return tj_getitem(c, at, obj, &k, out); }
    const char *s = path->u.s.p, *end = s + path->u.s.n;
    while (s <= end) {
        const char *dot = memchr(s, '.', (size_t)(end - s));
        size_t n = dot ? (size_t)(dot - s) : (size_t)(end - s);
        tj_value key = tj_vstr(s, n), cur = *out;
        size_t digits = 0;
        while (digits < n && tj_is_digit(s[digits])) digits++;
        if (n && digits == n) { /* an all-digit part is an index, as jinja2 reads it */
            long long k = 0;
            if (n > 18) return tj_fail(c, at, "the index %.*s is too large", (int)n, s);
            for (size_t i = 0; i < n; i++) k = k * 10 + (s[i] - '0');
            key = tj_vint(k);
        }
        if (cur.kind == TJ_UNDEF) return tj_fail(c, at, "'%.*s' is undefined", (int)cur.u.s.n, cur.u.s.p);
        if (key.kind == TJ_STR) { if (tj_getattr(c, at, &cur, s, n, out)) return -1; }
        else if (tj_getitem(c, at, &cur, &key, out)) return -1;
        if (!dot) break;
        s = dot + 1;
    }
    return 0;
}

/* select/reject/selectattr/rejectattr (test by name with arguments, or
 * truthiness) and map (a filter by name, or attribute=). */
static int tj_filter_seq(tj_ctx *c, const tj_node *at, const char *name, tj_args *a, tj_value *out) {
    int attr = strstr(name, "attr") != NULL, map = !strcmp(name, "map"), reject = name[0] == 'r';
    tj_value items;
    if (a->n < 1 || tj_iterate(c, at->at, &a->v[0], &items)) return a->n < 1 ? tj_fail(c, at->at, "%s: no sequence", name) : -1;
    tj_value attrv = tj_v(TJ_UNDEF);
    int first = 1; /* index of the test/filter name among the arguments */
    if (map) {
        for (int i = 1; i < a->n; i++)
            if (a->src[i] && a->src[i]->kw) {
                if (!tk_eq(a->src[i]->kw, a->src[i]->kwlen, "attribute") || a->n != 2)
                    return tj_fail(c, at->at, "map: only map(attribute=NAME) or map(FILTER, ...) is supported");
                attrv = a->v[i];
                attr = 1;
            }
    } else if (attr) {
        if (a->n < 2) return tj_fail(c, at->at, "%s: no attribute", name);
        attrv = a->v[1];
        first = 2;
    }
    for (int i = first; i < a->n; i++)
        if (!map && a->src[i] && a->src[i]->kw) return tj_fail(c, at->at, "%s: keyword arguments are not supported", name);
    if (attr && attrv.kind != TJ_STR && attrv.kind != TJ_INT) return tj_fail(c, at->at, "%s: the attribute must be a string", name);
    const tj_value *fname = a->n > first && !(map && attr) ? &a->v[first] : NULL;
    if (fname && fname->kind != TJ_STR) return tj_fail(c, at->at, "%s: the %s name must be a string", name, map ? "filter" : "test");
    if (map && !attr && !fname) return tj_fail(c, at->at, "map: no filter");
    if (tj_list_new(c, items.u.l->n, 0, out)) return -1;
    out->u.l->n = 0;
    for (int i = 0; i < items.u.l->n; i++) {
        tj_value x = items.u.l->v[i];
        if (attr && tj_attr_path(c, at->at, &items.u.l->v[i], &attrv, &x)) return -1;
        if (map && attr) { out->u.l->v[out->u.l->n++] = x; continue; }
        tj_args sub;
        sub.n = 0;
        sub.v[sub.n] = x;
        sub.src[sub.n++] = NULL;
        for (int k = first + 1; k < a->n && fname; k++) { sub.v[sub.n] = a->v[k]; sub.src[sub.n++] = a->src[k]; }
        if (map) {
            if (!tj_is_filter(fname->u.s.p, fname->u.s.n))
                return tj_fail(c, at->at, "no filter named '%.*s'", (int)fname->u.s.n, fname->u.s.p);
            if (tj_apply_filter(c, at, fname->u.s.p, fname->u.s.n, &sub, &out->u.l->v[out->u.l->n++])) return -1;
            continue;
        }
        int ok;
        if (!fname) ok = tj_truthy(&x);
        else {
            if (!tj_in_names(tj_test_names, fname->u.s.p, fname->u.s.n))
                return tj_fail(c, at->at, "no test named '%.*s'", (int)fname->u.s.n, fname->u.s.p);
            if (tj_apply_test(c, at, fname->u.s.p, fname->u.s.n, &sub, &ok)) return -1;
        }
        if (ok != reject) out->u.l->v[out->u.l->n++] = items.u.l->v[i];
    }
    return 0;
}

/* Python's int() of a string in base 10 ("  -12 ", "1_000"); -1 if it is none. */
static int tj_parse_int(const tj_value *s, long long *out) {
    char b[64];
    tj_value t = tj_strip(s, NULL, 1, 1);
    size_t k = 0;
    if (!t.u.s.n || t.u.s.n >= sizeof b) return -1;
    for (size_t i = 0; i < t.u.s.n; i++) {
        char ch = t.u.s.p[i];
        if (ch == '_' && i > 0 && tj_is_digit(t.u.s.p[i - 1]) && i + 1 < t.u.s.n && tj_is_digit(t.u.s.p[i + 1])) continue;
        if (!(tj_is_digit(ch) || ((ch == '-' || ch == '+') && i == 0))) return -1;
        b[k++] = ch;
    }
    b[k] = 0;
    char *end;
    errno = 0;
    *out = strtoll(b, &end, 10);
    return errno || *end || end == b || !tj_is_digit(end[-1]) ? -1 : 0;
}

/* Python's float() of a string; -1 if it is none, -2 for the inf and nan
 * spellings (not supported). */
static int tj_parse_float(const tj_value *s, double *out) {
    char b[128];
    tj_value t = tj_strip(s, NULL, 1, 1);
    if (!t.u.s.n || t.u.s.n >= sizeof b) return -1;
    memcpy(b, t.u.s.p, t.u.s.n);
    b[t.u.s.n] = 0;
    for (size_t i = 0; i < t.u.s.n; i++)
        if (((b[i] | 0x20) == 'i' && (b[i + 1] | 0x20) == 'n') || ((b[i] | 0x20) == 'n' && (b[i + 1] | 0x20) == 'a')) return -2;
    for (size_t i = 0; i < t.u.s.n; i++) /* digits only: inf, nan, hex and '_' spellings differ from Python's */
        if (!strchr("0123456789+-.eE", b[i])) return -1;
    char *end;
    *out = strtod(b, &end);
    return *end || end == b ? -1 : 0;
}

/* A filter: its parameters (the first is the value it applies to) and the
 * function computing it; p[i] is Undefined and set[i] 0 where an argument
 * was not given. */
typedef struct tj_filter tj_filter;
typedef int (*tj_filter_fn)(tj_ctx *c, size_t at, const tj_filter *f, const tj_value *p, const int *set, tj_value *out);
struct tj_filter {
    const char *name, *params;
    tj_filter_fn fn;
};

static int tj_f_default(tj_ctx *c, size_t at, const tj_filter *f, const tj_value *p, const int *set, tj_value *out) {
    int use = p[0].kind == TJ_UNDEF || (set[2] && tj_truthy(&p[2]) && !tj_truthy(&p[0]));
    *out = !use ? p[0] : set[1] ? p[1] : tj_vstr("", 0);
    (void)c, (void)at, (void)f;
    return 0;
}

static int tj_f_length(tj_ctx *c, size_t at, const tj_filter *f, const tj_value *p, const int *set, tj_value *out) {
    long long n = 0;
    (void)f, (void)set;
    if (tj_len(c, at, &p[0], &n)) return -1;
    *out = tj_vint(n);
    return 0;
}

/* transformers' tojson: json.dumps(x, ensure_ascii=False, indent, separators). */
static int tj_f_tojson(tj_ctx *c, size_t at, const tj_filter *f, const tj_value *p, const int *set, tj_value *out) {
    tj_json_fmt fmt = {NULL, ", ", ": "};
    char ind[64], seps[2][32];
    tk_buf b = {0};
    (void)f;
    if (set[3] && tj_truthy(&p[3])) return tj_fail(c, at, "tojson: sort_keys is not supported");
    if (set[4] && tj_truthy(&p[4])) return tj_fail(c, at, "tojson: ensure_ascii is not supported");
    if (set[1] && p[1].kind != TJ_NONE) {
        if (p[1].kind == TJ_INT) {
            long long k = p[1].u.i < 0 ? 0 : p[1].u.i;
            if (k >= (long long)sizeof ind) return tj_fail(c, at, "tojson: indent too large");
            memset(ind, ' ', (size_t)k);
            ind[k] = 0;
        } else if (p[1].kind == TJ_STR && p[1].u.s.n < sizeof ind && !memchr(p[1].u.s.p, 0, p[1].u.s.n)) {
            memcpy(ind, p[1].u.s.p, p[1].u.s.n);
            ind[p[1].u.s.n] = 0;
        } else {
            return tj_fail(c, at, "tojson: indent must be an integer or a short string");
        }
        fmt.indent = ind;
        fmt.item_sep = ",";
    }
    if (set[2] && p[2].kind != TJ_NONE) {
        if (p[2].kind != TJ_LIST || p[2].u.l->n != 2) return tj_fail(c, at, "tojson: separators must be a pair of strings");
        for (int k = 0; k < 2; k++) {
            const tj_value *s = &p[2].u.l->v[k];
            if (s->kind != TJ_STR || s->u.s.n >= 32 || memchr(s->u.s.p, 0, s->u.s.n))
                return tj_fail(c, at, "tojson: separators must be a pair of short strings");
            memcpy(seps[k], s->u.s.p, s->u.s.n);
            seps[k][s->u.s.n] = 0;
        }
        fmt.item_sep = seps[0];
        fmt.key_sep = seps[1];
    }
    if (tj_json(c, at, &p[0], &fmt, 0, &b)) { free(b.p); return -1; }
    return tj_buf_value(c, &b, out);
}

/* first, last: of a list or string (Undefined when empty), else of its items */
static int tj_f_first_last(tj_ctx *c, size_t at, const tj_filter *f, const tj_value *p, const int *set, tj_value *out) {
    tj_value items = p[0];
    (void)set;
    if (p[0].kind != TJ_STR && p[0].kind != TJ_LIST && tj_iterate(c, at, &p[0], &items)) return -1;
    return tj_item_index(c, &items, f->name[0] == 'f' ? 0 : -1, out);
}

/* list, reverse (a string reverses to a string) */
static int tj_f_list(tj_ctx *c, size_t at, const tj_filter *f, const tj_value *p, const int *set, tj_value *out) {
    tj_value items;
    int rev = f->name[0] == 'r';
    (void)set;
    if (rev && p[0].kind == TJ_STR) {
        tj_value m1 = tj_vint(-1);
        return tj_slice(c, at, &p[0], NULL, NULL, &m1, out);
    }
    if (tj_iterate(c, at, &p[0], &items) || tj_list_new(c, items.u.l->n, 0, out)) return -1;
    for (int i = 0; i < items.u.l->n; i++) out->u.l->v[i] = items.u.l->v[rev ? items.u.l->n - 1 - i : i];
    return 0;
}

static int tj_f_items(tj_ctx *c, size_t at, const tj_filter *f, const tj_value *p, const int *set, tj_value *out) {
    (void)f, (void)set;
    if (p[0].kind == TJ_UNDEF) return tj_list_new(c, 0, 0, out);
    if (p[0].kind != TJ_DICT) return tj_fail(c, at, "filter items: expected a dict, got %s", tj_type(&p[0]));
    return tj_dict_view(c, p[0].u.d, 'i', out);
}

static int tj_f_join(tj_ctx *c, size_t at, const tj_filter *f, const tj_value *p, const int *set, tj_value *out) {
    tj_value items, sep = tj_vstr("", 0);
    tk_buf b = {0};
    (void)f;
    if (tj_iterate(c, at, &p[0], &items) || (set[1] && tj_to_str(c, at, &p[1], &sep))) return -1;
    for (int i = 0; i < items.u.l->n; i++) {
        tj_value x = items.u.l->v[i];
        if ((set[2] && tj_attr_path(c, at, &items.u.l->v[i], &p[2], &x)) || (i && tj_put(c, &b, sep.u.s.p, sep.u.s.n)) ||
            tj_text(c, at, &x, &b)) {
            free(b.p);
            return -1;
        }
    }
    return tj_buf_value(c, &b, out);
}

/* int(value, default, base 10), float(value, default): the default where the
 * value is no number */
static int tj_f_number(tj_ctx *c, size_t at, const tj_filter *f, const tj_value *p, const int *set, tj_value *out) {
    const tj_value *v = &p[0];
    int want_int = f->name[0] == 'i', ok = 1;
    long long i = 0;
    double x = 0;
    if (want_int && set[2] && !(p[2].kind == TJ_INT && p[2].u.i == 10)) return tj_fail(c, at, "filter int: only base 10 is supported");
    if (v->kind == TJ_INT || v->kind == TJ_BOOL) {
        i = v->u.i;
        x = (double)i;
    } else if (v->kind == TJ_FLOAT) {
        x = v->u.f;
        ok = !want_int || (x == x && x > -9.2e18 && x < 9.2e18);
        i = ok && want_int ? (long long)x : 0;
    } else if (v->kind == TJ_STR) {
        int fl = 0;
        ok = want_int && !tj_parse_int(v, &i);
        if (!ok && (fl = tj_parse_float(v, &x)) == 0) {
            ok = !want_int || (x == x && x > -9.2e18 && x < 9.2e18);
            i = ok && want_int ? (long long)x : 0;
        }
        if (fl == -2) return tj_fail(c, at, "filter %s: infinity and nan are not supported", f->name);
    } else {
        ok = 0;
    }
    if (!ok) *out = set[1] ? p[1] : want_int ? tj_vint(0) : tj_vfloat(0.0);
    else *out = want_int ? tj_vint(i) : tj_vfloat(x);
    return 0;
}

static int tj_f_abs(tj_ctx *c, size_t at, const tj_filter *f, const tj_value *p, const int *set, tj_value *out) {
    (void)f, (void)set;
    if (p[0].kind == TJ_FLOAT) *out = tj_vfloat(fabs(p[0].u.f));
    else if ((p[0].kind == TJ_INT || p[0].kind == TJ_BOOL) && p[0].u.i != LLONG_MIN) *out = tj_vint(p[0].u.i < 0 ? -p[0].u.i : p[0].u.i);
    else return tj_fail(c, at, "filter abs: expected a number, got %s", tj_type(&p[0]));
    return 0;
}

/* round(value, precision=0, method='common'|'floor'|'ceil') */
static int tj_f_round(tj_ctx *c, size_t at, const tj_filter *f, const tj_value *p, const int *set, tj_value *out) {
    (void)f;
    if (!tj_is_num(&p[0])) return tj_fail(c, at, "filter round: expected a number, got %s", tj_type(&p[0]));
    if (set[1] && tj_need(c, at, "filter round", &p[1], TJ_INT, "an integer")) return -1;
    if (set[2] && p[2].kind != TJ_STR) return tj_fail(c, at, "filter round: method must be a string");
    long long nd = set[1] ? p[1].u.i : 0;
    const char *m = set[2] ? p[2].u.s.p : "common";
    size_t ml = set[2] ? p[2].u.s.n : 6;
    if (tk_eq(m, ml, "common")) {
        if (p[0].kind != TJ_FLOAT && nd >= 0) { *out = tj_vint(p[0].u.i); return 0; }
        if (p[0].kind != TJ_FLOAT) return tj_fail(c, at, "filter round: negative precision of an int is not supported");
        *out = tj_vfloat(tj_round(p[0].u.f, nd));
        return 0;
    }
    if (!tk_eq(m, ml, "floor") && !tk_eq(m, ml, "ceil")) return tj_fail(c, at, "filter round: method must be common, floor or ceil");
    if (nd < 0 || nd > 300) return tj_fail(c, at, "filter round: this precision is not supported");
    double x = tj_num(&p[0]), s = pow(10.0, (double)nd);
    *out = tj_vfloat((m[0] == 'f' ? floor(x * s) : ceil(x * s)) / s);
    return 0;
}

static int tj_f_string(tj_ctx *c, size_t at, const tj_filter *f, const tj_value *p, const int *set, tj_value *out) {
    (void)f, (void)set;
    return tj_to_str(c, at, &p[0], out);
}

/* The string filters apply to str(value). */
static int tj_f_trim(tj_ctx *c, size_t at, const tj_filter *f, const tj_value *p, const int *set, tj_value *out) {
    tj_value s;
    (void)f;
    if (tj_to_str(c, at, &p[0], &s) || (set[1] && p[1].kind != TJ_NONE && tj_need(c, at, "filter trim", &p[1], TJ_STR, "a string")))
        return -1;
    *out = tj_strip(&s, set[1] && p[1].kind == TJ_STR ? &p[1] : NULL, 1, 1);
    return 0;
}

/* upper, lower, capitalize, title */
static int tj_f_case(tj_ctx *c, size_t at, const tj_filter *f, const tj_value *p, const int *set, tj_value *out) {
    tj_value s;
    (void)set;
    if (tj_to_str(c, at, &p[0], &s)) return -1;
    return tj_case(c, at, &s, f->name[0] == 't' ? 'T' : f->name[0], out);
}

static int tj_f_replace(tj_ctx *c, size_t at, const tj_filter *f, const tj_value *p, const int *set, tj_value *out) {
    tj_value s, o, n;
    (void)f;
    if (tj_to_str(c, at, &p[0], &s) || tj_to_str(c, at, &p[1], &o) || tj_to_str(c, at, &p[2], &n) ||
        (set[3] && tj_need(c, at, "filter replace", &p[3], TJ_INT, "an integer")))
        return -1;
    return tj_replace_str(c, at, &s, &o, &n, set[3] ? p[3].u.i : -1, out);
}

/* jinja2's indent: the lines after the first (all with first=true), blank
 * ones only with blank=true */
static int tj_f_indent(tj_ctx *c, size_t at, const tj_filter *f, const tj_value *p, const int *set, tj_value *out) {
    char pad[64];
    size_t pn;
    tj_value s;
    (void)f;
    if (tj_to_str(c, at, &p[0], &s)) return -1;
    if (!set[1]) { memset(pad, ' ', 4); pn = 4; }
    else if (p[1].kind == TJ_INT && p[1].u.i >= 0 && p[1].u.i < 64) { memset(pad, ' ', (size_t)p[1].u.i); pn = (size_t)p[1].u.i; }
    else if (p[1].kind == TJ_STR && p[1].u.s.n < 64) { memcpy(pad, p[1].u.s.p, p[1].u.s.n); pn = p[1].u.s.n; }
    else return tj_fail(c, at, "filter indent: width must be a small integer or string");
    int first = set[2] && tj_truthy(&p[2]), blank = set[3] && tj_truthy(&p[3]);
    tk_buf b = {0};
    const char *q = s.u.s.p, *end = q + s.u.s.n;
    for (int line = 0; q <= end; line++) {
        const char *nl = memchr(q, '\n', (size_t)(end - q));
        size_t ln = nl ? (size_t)(nl - q) : (size_t)(end - q);
        tj_value text = tj_vstr(q, ln);
        int want = (line > 0 || first) && (blank || tj_strip(&text, NULL, 1, 1).u.s.n);
        if ((line && tj_put(c, &b, "\n", 1)) || (want && tj_put(c, &b, pad, pn)) || tj_put(c, &b, q, ln)) {
            free(b.p);
            return -1;
        }
        if (!nl) break;
        q = nl + 1;
    }
    return tj_buf_value(c, &b, out);
}

static const tj_filter tj_filters[] = {
    {"abs", "x", tj_f_abs},
    {"capitalize", "s", tj_f_case},
    {"count", "value", tj_f_length},
    {"d", "value,default_value,boolean", tj_f_default},
    {"default", "value,default_value,boolean", tj_f_default},
    {"first", "seq", tj_f_first_last},
    {"float", "value,default", tj_f_number},
    {"indent", "s,width,first,blank", tj_f_indent},
    {"int", "value,default,base", tj_f_number},
    {"items", "value", tj_f_items},
    {"join", "value,d,attribute", tj_f_join},
    {"last", "seq", tj_f_first_last},
    {"length", "value", tj_f_length},
    {"list", "value", tj_f_list},
    {"lower", "s", tj_f_case},
    {"replace", "s,old,new,count", tj_f_replace},
    {"reverse", "value", tj_f_list},
    {"round", "value,precision,method", tj_f_round},
    {"string", "value", tj_f_string},
    {"title", "s", tj_f_case},
    {"tojson", "value,indent,separators,sort_keys,ensure_ascii", tj_f_tojson},
    {"trim", "value,chars", tj_f_trim},
    {"upper", "s", tj_f_case},
};

/* Filters that take any number of arguments bind them themselves. */
static const char *const tj_varargs_filters[] = {"format", "map", "select", "reject", "selectattr", "rejectattr", NULL};

static const tj_filter *tj_find_filter(const char *name, size_t n) {
    for (size_t i = 0; i < sizeof tj_filters / sizeof *tj_filters; i++)
        if (tk_eq(name, n, tj_filters[i].name)) return &tj_filters[i];
    return NULL;
}

static int tj_is_filter(const char *name, size_t n) { return tj_find_filter(name, n) || tj_in_names(tj_varargs_filters, name, n); }

/* value|format(a, b) is value % (a, b) */
static int tj_filter_format(tj_ctx *c, size_t at, tj_args *a, tj_value *out) {
    tj_value s, args;
    if (a->n < 1 || tj_to_str(c, at, &a->v[0], &s) || tj_list_new(c, a->n - 1, 1, &args)) return -1;
    for (int i = 1; i < a->n; i++) {
        if (a->src[i] && a->src[i]->kw) return tj_fail(c, at, "filter format: keyword arguments are not supported");
        args.u.l->v[i - 1] = a->v[i];
    }
    return tj_percent(c, at, &s, &args, out);
}

static int tj_apply_filter(tj_ctx *c, const tj_node *at, const char *name, size_t nlen, tj_args *a, tj_value *out) {
    tj_value p[5];
    int set[5] = {0};
    char what[40];
    if (tk_eq(name, nlen, "format")) return tj_filter_format(c, at->at, a, out);
    if (tj_in_names(tj_varargs_filters, name, nlen)) {
        snprintf(what, sizeof what, "%.*s", (int)nlen, name);
        return tj_filter_seq(c, at, what, a, out);
    }
    const tj_filter *f = tj_find_filter(name, nlen);
    if (!f) return tj_fail(c, at->at, "no filter named '%.*s'", (int)nlen, name);
    snprintf(what, sizeof what, "filter %s", f->name);
    return tj_bind(c, at->at, what, a, f->params, p, set) ? -1 : f->fn(c, at->at, f, p, set, out);
}

static int tj_compare(tj_ctx *c, size_t at, const char *op, const tj_value *a, const tj_value *b, int *out);

static int tj_apply_test(tj_ctx *c, const tj_node *at, const char *name, size_t nlen, tj_args *a, int *out) {
    tj_value p[2];
    int set[2] = {0};
    char what[40];
    size_t w = at->at;
    snprintf(what, sizeof what, "test %.*s", (int)nlen, name);
    if (tj_bind(c, w, what, a, "value,other", p, set)) return -1;
    const tj_value *v = &p[0];
    tj_kind k = v->kind;
#define TJ_IS(s) tk_eq(name, nlen, s)
    if (TJ_IS("defined")) *out = k != TJ_UNDEF;
    else if (TJ_IS("undefined")) *out = k == TJ_UNDEF;
    else if (TJ_IS("none")) *out = k == TJ_NONE;
    else if (TJ_IS("boolean")) *out = k == TJ_BOOL;
    else if (TJ_IS("true")) *out = k == TJ_BOOL && v->u.i;
    else if (TJ_IS("false")) *out = k == TJ_BOOL && !v->u.i;
    else if (TJ_IS("integer")) *out = k == TJ_INT;
    else if (TJ_IS("float")) *out = k == TJ_FLOAT;
    else if (TJ_IS("number")) *out = tj_is_num(v);
    else if (TJ_IS("string")) *out = k == TJ_STR;
    else if (TJ_IS("mapping")) *out = k == TJ_DICT;
    else if (TJ_IS("sequence")) *out = k == TJ_STR || k == TJ_LIST || k == TJ_DICT || k == TJ_UNDEF;
    else if (TJ_IS("iterable")) *out = k == TJ_STR || k == TJ_LIST || k == TJ_DICT || k == TJ_UNDEF;
    else if (TJ_IS("callable")) *out = k == TJ_MACRO || k == TJ_FUNC;
    else if (TJ_IS("odd") || TJ_IS("even")) {
        if (k != TJ_INT && k != TJ_BOOL) return tj_fail(c, w, "%s: expected an integer, got %s", what, tj_type(v));
        *out = (int)(v->u.i & 1) == (name[0] == 'o');
    } else if (TJ_IS("divisibleby")) {
        if (tj_need(c, w, what, v, TJ_INT, "an integer") || tj_need(c, w, what, &p[1], TJ_INT, "an integer")) return -1;
        if (p[1].u.i == 0) return tj_fail(c, w, "%s: division by zero", what);
        *out = p[1].u.i == -1 || v->u.i % p[1].u.i == 0;
    } else if (TJ_IS("lower") || TJ_IS("upper")) { /* str.islower/isupper of ASCII text */
        int cased = 0, bad = 0;
        if (k != TJ_STR) return tj_fail(c, w, "%s: expected a string, got %s", what, tj_type(v));
        for (size_t i = 0; i < v->u.s.n; i++) {
            unsigned char ch = (unsigned char)v->u.s.p[i];
            if (ch >= 0x80) return tj_fail(c, w, "%s of non-ASCII text is not supported", what);
            if (ch >= 'a' && ch <= 'z') { cased = 1; bad |= name[0] == 'u'; }
            if (ch >= 'A' && ch <= 'Z') { cased = 1; bad |= name[0] == 'l'; }
        }
        *out = cased && !bad;
    } else if (TJ_IS("sameas")) {
        if (!((k == TJ_NONE || k == TJ_BOOL) || (p[1].kind == TJ_NONE || p[1].kind == TJ_BOOL)))
            return tj_fail(c, w, "%s is only supported with none, true or false", what);
        *out = k == p[1].kind && (k == TJ_NONE || v->u.i == p[1].u.i);
    } else {
        const char *op = TJ_IS("eq") || TJ_IS("equalto") || TJ_IS("==") ? "==" : TJ_IS("ne") || TJ_IS("!=") ? "!=" :
                         TJ_IS("lt") || TJ_IS("<") || TJ_IS("lessthan") ? "<" : TJ_IS("le") || TJ_IS("<=") ? "<=" :
                         TJ_IS("gt") || TJ_IS(">") || TJ_IS("greaterthan") ? ">" : TJ_IS("ge") || TJ_IS(">=") ? ">=" :
                         TJ_IS("in") ? "in" : NULL;
        if (!op) return tj_fail(c, w, "no test named '%.*s'", (int)nlen, name);
        if (!set[1]) return tj_fail(c, w, "%s: needs an argument", what);
        return tj_compare(c, w, op, v, &p[1], out);
    }
#undef TJ_IS
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Evaluator: operators and expressions                                      */
/* ------------------------------------------------------------------------ */

/* ==, !=, <, <=, >, >=, in, !in (not in) with Python's rules. */
static int tj_compare(tj_ctx *c, size_t at, const char *op, const tj_value *a, const tj_value *b, int *out) {
    if (!strcmp(op, "==") || !strcmp(op, "!=")) { *out = tj_eq(a, b) == (op[0] == '='); return 0; }
    if (!strcmp(op, "in") || !strcmp(op, "!in")) {
        int found = 0;
        if (b->kind == TJ_STR) {
            if (a->kind != TJ_STR) return tj_fail(c, at, "'in <string>' requires a string as left operand, not %s", tj_type(a));
            for (size_t i = 0; i + a->u.s.n <= b->u.s.n && !found; i++) found = !memcmp(b->u.s.p + i, a->u.s.p, a->u.s.n);
        } else if (b->kind == TJ_LIST) {
            for (int i = 0; i < b->u.l->n && !found; i++) found = tj_eq(a, &b->u.l->v[i]);
        } else if (b->kind == TJ_DICT) {
            found = tj_dict_find(b->u.d, a) >= 0;
        } else if (b->kind != TJ_UNDEF) {
            return tj_fail(c, at, "argument of type '%s' is not iterable", tj_type(b));
        }
        *out = found == (op[0] != '!');
        return 0;
    }
    int cmp;
    if (tj_is_num(a) && tj_is_num(b)) {
        if (a->kind != TJ_FLOAT && b->kind != TJ_FLOAT) cmp = a->u.i < b->u.i ? -1 : a->u.i > b->u.i;
        else {
            double x = tj_num(a), y = tj_num(b);
            if (x != x || y != y) { *out = 0; return 0; }
            cmp = x < y ? -1 : x > y;
        }
    } else if (a->kind == TJ_STR && b->kind == TJ_STR) { /* UTF-8 byte order is code point order */
        size_t n = a->u.s.n < b->u.s.n ? a->u.s.n : b->u.s.n;
        int m = n ? memcmp(a->u.s.p, b->u.s.p, n) : 0;
        cmp = m ? (m < 0 ? -1 : 1) : a->u.s.n < b->u.s.n ? -1 : a->u.s.n > b->u.s.n;
    } else if (a->kind == TJ_LIST && b->kind == TJ_LIST && a->u.l->tuple == b->u.l->tuple) {
        int i = 0; /* the first items that differ decide, else the lengths */
        while (i < a->u.l->n && i < b->u.l->n && tj_eq(&a->u.l->v[i], &b->u.l->v[i])) i++;
        if (i < a->u.l->n && i < b->u.l->n) return tj_compare(c, at, op, &a->u.l->v[i], &b->u.l->v[i], out);
        cmp = a->u.l->n < b->u.l->n ? -1 : a->u.l->n > b->u.l->n;
    } else {
        if (a->kind == TJ_UNDEF || b->kind == TJ_UNDEF) {
            const tj_value *u = a->kind == TJ_UNDEF ? a : b;
            return tj_fail(c, at, "'%.*s' is undefined", (int)u->u.s.n, u->u.s.p);
        }
        return tj_fail(c, at, "'%s' not supported between instances of '%s' and '%s'", op, tj_type(a), tj_type(b));
    }
    *out = op[0] == '<' ? (op[1] ? cmp <= 0 : cmp < 0) : (op[1] ? cmp >= 0 : cmp > 0);
    return 0;
}

static int tj_overflow(tj_ctx *c, size_t at) { return tj_fail(c, at, "an integer too large (beyond 64 bits)"); }


/* + - * / // % ** ~ on two values. */
static int tj_arith(tj_ctx *c, size_t at, const char *op, const tj_value *a, const tj_value *b, tj_value *out) {
    if (op[0] == '~') {
        tk_buf buf = {0};
        if (tj_text(c, at, a, &buf) || tj_text(c, at, b, &buf)) { free(buf.p); return -1; }
        return tj_buf_value(c, &buf, out);
    }
    if (a->kind == TJ_UNDEF || b->kind == TJ_UNDEF) {
        const tj_value *u = a->kind == TJ_UNDEF ? a : b;
        return tj_fail(c, at, "'%.*s' is undefined", (int)u->u.s.n, u->u.s.p);
    }
    if (tj_is_num(a) && tj_is_num(b)) {
        int ints = a->kind != TJ_FLOAT && b->kind != TJ_FLOAT;
        long long x = a->u.i, y = b->u.i, r;
        double f = tj_num(a), g = tj_num(b);
        switch (op[0]) {
        case '+': if (!ints) { *out = tj_vfloat(f + g); return 0; }
            if (__builtin_add_overflow(x, y, &r)) return tj_overflow(c, at);
            *out = tj_vint(r); return 0;
        case '-': if (!ints) { *out = tj_vfloat(f - g); return 0; }
            if (__builtin_sub_overflow(x, y, &r)) return tj_overflow(c, at);
            *out = tj_vint(r); return 0;
        case '*':
            if (op[1]) { /* ** */
                if (!ints || y < 0) {
                    if (f == 0 && g < 0) return tj_fail(c, at, "0.0 cannot be raised to a negative power");
                    *out = tj_vfloat(pow(f, g));
                    return 0;
                }
                r = 1;
                for (long long e = y, base = x; e; e >>= 1) {
                    if ((e & 1) && __builtin_mul_overflow(r, base, &r)) return tj_overflow(c, at);
                    if ((e >> 1) && __builtin_mul_overflow(base, base, &base)) return tj_overflow(c, at);
                }
                *out = tj_vint(r);
                return 0;
            }
            if (!ints) { *out = tj_vfloat(f * g); return 0; }
            if (__builtin_mul_overflow(x, y, &r)) return tj_overflow(c, at);
            *out = tj_vint(r); return 0;
        case '/':
            if (g == 0) return tj_fail(c, at, "division by zero");
            if (!op[1]) { *out = tj_vfloat(f / g); return 0; }
            if (!ints) { *out = tj_vfloat(floor(f / g)); return 0; }
            if (x == LLONG_MIN && y == -1) return tj_overflow(c, at);
            r = x / y;
            if ((x % y != 0) && ((x < 0) != (y < 0))) r--;
            *out = tj_vint(r); return 0;
        case '%':
            if (g == 0) return tj_fail(c, at, "modulo by zero");
            if (!ints) { double m = fmod(f, g); if (m != 0 && ((m < 0) != (g < 0))) m += g; *out = tj_vfloat(m); return 0; }
            if (y == -1) { *out = tj_vint(0); return 0; }
            r = x % y;
            if (r != 0 && ((r < 0) != (y < 0))) r += y;
            *out = tj_vint(r); return 0;
        }
    }
    if (op[0] == '+' && a->kind == TJ_STR && b->kind == TJ_STR) {
        if (a->u.s.n + b->u.s.n > TJ_MAX_MEMORY) return tj_fail(c, at, "a string too long");
        char *p = (char *)tj_alloc(c, a->u.s.n + b->u.s.n + 1);
        if (!p) return -1;
        memcpy(p, a->u.s.p, a->u.s.n);
        memcpy(p + a->u.s.n, b->u.s.p, b->u.s.n);
        *out = tj_vstr(p, a->u.s.n + b->u.s.n);
        return 0;
    }
    if (op[0] == '+' && a->kind == TJ_LIST && b->kind == TJ_LIST && a->u.l->tuple == b->u.l->tuple) {
        if (tj_list_new(c, a->u.l->n + b->u.l->n, a->u.l->tuple, out)) return -1;
        if (a->u.l->n) memcpy(out->u.l->v, a->u.l->v, (size_t)a->u.l->n * sizeof *a->u.l->v);
        if (b->u.l->n) memcpy(out->u.l->v + a->u.l->n, b->u.l->v, (size_t)b->u.l->n * sizeof *b->u.l->v);
        return 0;
    }
    if (op[0] == '*' && !op[1] && ((a->kind == TJ_INT || a->kind == TJ_BOOL) != (b->kind == TJ_INT || b->kind == TJ_BOOL)) &&
        (a->kind == TJ_STR || a->kind == TJ_LIST || b->kind == TJ_STR || b->kind == TJ_LIST)) { /* repetition */
        const tj_value *seq = a->kind == TJ_STR || a->kind == TJ_LIST ? a : b, *times = seq == a ? b : a;
        long long k = times->u.i < 0 ? 0 : times->u.i;
        size_t unit = seq->kind == TJ_STR ? seq->u.s.n : (size_t)seq->u.l->n * sizeof(tj_value);
        if (unit && (unsigned long long)k > TJ_MAX_MEMORY / unit) return tj_fail(c, at, "a repetition too large");
        if (seq->kind == TJ_STR) {
            char *p = (char *)tj_alloc(c, unit * (size_t)k + 1);
            if (!p) return -1;
            for (long long i = 0; i < k; i++) memcpy(p + (size_t)i * unit, seq->u.s.p, unit);
            *out = tj_vstr(p, unit * (size_t)k);
            return 0;
        }
        if (tj_list_new(c, (int)(seq->u.l->n * k), seq->u.l->tuple, out)) return -1;
        for (long long i = 0; i < k && unit; i++) memcpy(out->u.l->v + i * seq->u.l->n, seq->u.l->v, unit);
        return 0;
    }
    if (op[0] == '%' && a->kind == TJ_STR) return tj_percent(c, at, a, b, out);
    return tj_fail(c, at, "unsupported operand types for %s: '%s' and '%s'", op, tj_type(a), tj_type(b));
}

/* Evaluate the arguments of a call, filter or test; first (when not NULL) is
 * the value a filter or test applies to. */
static int tj_eval_args(tj_ctx *c, const tj_node *e, const tj_value *first, tj_args *a) {
    a->n = 0;
    if (first) { a->v[0] = *first; a->src[0] = NULL; a->n = 1; }
    for (int i = 0; i < e->nkids; i++) {
        if (tj_eval(c, e->kids[i], &a->v[a->n])) return -1;
        a->src[a->n++] = e->kids[i];
    }
    return 0;
}

static int tj_eval_seq(tj_ctx *c, const tj_node *e, tj_value *out) {
    if (e->kind == TJ_N_DICT) {
        if (tj_dict_new(c, TJ_DICT, out)) return -1;
        for (int i = 0; i < e->nkids; i++) {
            tj_value k, v;
            if (tj_eval(c, e->kids[i], &k) || tj_eval(c, e->kids[i]->a, &v)) return -1;
            if (k.kind == TJ_LIST && !k.u.l->tuple) return tj_fail(c, e->kids[i]->at, "unhashable type: 'list'");
            if (k.kind == TJ_DICT || k.kind == TJ_UNDEF) return tj_fail(c, e->kids[i]->at, "a dict key of type %s", tj_type(&k));
            if (tj_dict_set(c, out->u.d, k, v)) return -1;
        }
        return 0;
    }
    if (tj_list_new(c, e->nkids, e->kind == TJ_N_TUPLE, out)) return -1;
    for (int i = 0; i < e->nkids; i++)
        if (tj_eval(c, e->kids[i], &out->u.l->v[i])) return -1;
    return 0;
}

static int tj_eval_call(tj_ctx *c, const tj_node *e, tj_value *out) {
    tj_args a;
    const tj_node *f = e->a;
    if (f->kind == TJ_N_ATTR) { /* a method: obj.name(args) */
        tj_value obj;
        if (tj_eval(c, f->a, &obj) || tj_eval_args(c, e, NULL, &a)) return -1;
        return tj_call_method(c, e, &obj, f->name, f->nlen, &a, out);
    }
    tj_value fn;
    if (tj_eval(c, f, &fn) || tj_eval_args(c, e, NULL, &a)) return -1;
    return tj_call_value(c, e, &fn, &a, out);
}

static int tj_eval(tj_ctx *c, const tj_node *e, tj_value *out) {
    tj_value a, b;
    int t;
    if (++c->steps > TJ_MAX_STEPS) return tj_fail(c, e->at, "the template runs too long (more than %ld steps)", TJ_MAX_STEPS);
    if (++c->depth > TJ_MAX_DEPTH) return tj_fail(c, e->at, "nested too deeply");
    int rc = 0;
    switch (e->kind) {
    case TJ_N_LIT: *out = e->lit; break;
    case TJ_N_NAME: *out = tj_lookup(c, e->name, e->nlen); break;
    case TJ_N_LIST: case TJ_N_TUPLE: case TJ_N_DICT: rc = tj_eval_seq(c, e, out); break;
    case TJ_N_ATTR: rc = tj_eval(c, e->a, &a) || tj_getattr(c, e->at, &a, e->name, e->nlen, out); break;
    case TJ_N_ITEM: rc = tj_eval(c, e->a, &a) || tj_eval(c, e->b, &b) || tj_getitem(c, e->at, &a, &b, out); break;
    case TJ_N_SLICE: {
        tj_value p[3];
        const tj_node *parts[3] = {e->b, e->c, e->d};
        rc = tj_eval(c, e->a, &a);
        for (int k = 0; k < 3 && !rc; k++) {
            p[k] = tj_v(TJ_NONE);
            if (parts[k]) rc = tj_eval(c, parts[k], &p[k]);
        }
        if (!rc && a.kind == TJ_UNDEF) rc = tj_fail(c, e->at, "'%.*s' is undefined", (int)a.u.s.n, a.u.s.p);
        rc = rc || tj_slice(c, e->at, &a, &p[0], &p[1], &p[2], out);
        break;
    }
    case TJ_N_CALL: rc = tj_eval_call(c, e, out); break;
    case TJ_N_FILTER: case TJ_N_TEST: {
        tj_args args;
        rc = tj_eval(c, e->a, &a) || tj_eval_args(c, e, &a, &args);
        if (!rc && e->kind == TJ_N_FILTER) rc = tj_apply_filter(c, e, e->name, e->nlen, &args, out);
        else if (!rc) {
            rc = tj_apply_test(c, e, e->name, e->nlen, &args, &t);
            *out = tj_vbool(t != e->negate);
        }
        break;
    }
    case TJ_N_NOT: rc = tj_eval(c, e->a, &a); *out = tj_vbool(!tj_truthy(&a)); break;
    case TJ_N_NEG: case TJ_N_POS:
        rc = tj_eval(c, e->a, &a);
        if (rc) break;
        if (a.kind == TJ_FLOAT) *out = tj_vfloat(e->kind == TJ_N_NEG ? -a.u.f : a.u.f);
        else if ((a.kind == TJ_INT || a.kind == TJ_BOOL) && a.u.i != LLONG_MIN) *out = tj_vint(e->kind == TJ_N_NEG ? -a.u.i : a.u.i);
        else if (a.kind == TJ_UNDEF) rc = tj_fail(c, e->at, "'%.*s' is undefined", (int)a.u.s.n, a.u.s.p);
        else rc = tj_fail(c, e->at, "bad operand type for unary %c: '%s'", e->kind == TJ_N_NEG ? '-' : '+', tj_type(&a));
        break;
    case TJ_N_AND: case TJ_N_OR: /* Python's: the deciding operand itself */
        rc = tj_eval(c, e->a, &a);
        if (!rc && tj_truthy(&a) == (e->kind == TJ_N_AND)) rc = tj_eval(c, e->b, &a);
        *out = a;
        break;
    case TJ_N_COND:
        rc = tj_eval(c, e->b, &a);
        if (rc) break;
        if (tj_truthy(&a)) rc = tj_eval(c, e->a, out);
        else if (e->c) rc = tj_eval(c, e->c, out);
        else *out = tj_vundef("the else branch", 15);
        break;
    case TJ_N_BINOP:
        rc = tj_eval(c, e->a, &a) || tj_eval(c, e->b, &b);
        if (rc) break;
        if (strchr("=!<>", e->op[0]) || !strcmp(e->op, "in")) {
            rc = tj_compare(c, e->at, e->op, &a, &b, &t);
            *out = tj_vbool(t);
        } else {
            rc = tj_arith(c, e->at, e->op, &a, &b, out);
        }
        break;
    default: rc = tj_fail(c, e->at, "a statement where an expression belongs");
    }
    c->depth--;
    return rc ? -1 : 0;
}

/* ------------------------------------------------------------------------ */
/* Evaluator: statements                                                     */
/* ------------------------------------------------------------------------ */

#define TJ_BREAK 1
#define TJ_CONTINUE 2

static int tj_exec(tj_ctx *c, tj_node *const *body, int n);

/* Run body with c->out redirected; the text it writes becomes *out. */
static int tj_capture(tj_ctx *c, tj_node *const *body, int n, tj_value *out) {
    tk_buf b = {0}, *saved = c->out;
    c->out = &b;
    int rc = tj_exec(c, body, n);
    c->out = saved;
    if (rc < 0) { free(b.p); return -1; }
    return tj_buf_value(c, &b, out);
}

static int tj_call_macro(tj_ctx *c, const tj_node *at, const tj_node *m, const tj_value *args, const tj_node *const *argn,
                         int n, tj_value *out) {
    const tj_node *params = m->c;
    int saved_scope = c->scope, saved_barrier = c->barrier, saved_n = c->nvars, rc = 0;
    tj_value bound[TJ_MAX_ARGS];
    int set[TJ_MAX_ARGS] = {0};
    if (params->nkids > TJ_MAX_ARGS) return tj_fail(c, m->at, "a macro with more than %d parameters", TJ_MAX_ARGS);
    for (int i = 0; i < n; i++) {
        int k = i;
        if (argn[i] && argn[i]->kw) {
            for (k = 0; k < params->nkids && !tk_eq(argn[i]->kw, argn[i]->kwlen, "") &&
                        !(params->kids[k]->nlen == argn[i]->kwlen && !memcmp(params->kids[k]->name, argn[i]->kw, argn[i]->kwlen));
                 k++) {}
            if (k == params->nkids)
                return tj_fail(c, at->at, "macro '%.*s' has no parameter '%.*s'", (int)m->nlen, m->name, (int)argn[i]->kwlen, argn[i]->kw);
        }
        if (k >= params->nkids) return tj_fail(c, at->at, "macro '%.*s' takes %d arguments", (int)m->nlen, m->name, params->nkids);
        bound[k] = args[i];
        set[k] = 1;
    }
    if (c->depth > TJ_MAX_DEPTH / 2) return tj_fail(c, at->at, "macro calls nested too deeply");
    c->scope = c->barrier = c->nvars;
    for (int k = 0; k < params->nkids && !rc; k++) {
        tj_value v = tj_vundef(params->kids[k]->name, params->kids[k]->nlen);
        if (set[k]) v = bound[k];
        else if (params->kids[k]->a) rc = tj_eval(c, params->kids[k]->a, &v);
        rc = rc || tj_assign(c, params->kids[k]->name, params->kids[k]->nlen, v);
    }
    c->depth += 8; /* a macro call costs more nesting than one expression */
    rc = rc || tj_capture(c, m->kids, m->nkids, out);
    c->depth -= 8;
    c->nvars = saved_n;
    c->scope = saved_scope;
    c->barrier = saved_barrier;
    return rc ? -1 : 0;
}

/* The loop variable of one iteration: index, index0, revindex, revindex0,
 * first, last, length, previtem, nextitem, depth, depth0. */
static int tj_loop_var(tj_ctx *c, const tj_list *items, int i, tj_value *out) {
    static const char *const keys[] = {"index", "index0", "revindex", "revindex0", "first", "last", "length", "depth", "depth0"};
    long long n = items->n;
    tj_value vals[9] = {tj_vint(i + 1), tj_vint(i), tj_vint(n - i), tj_vint(n - i - 1), tj_vbool(i == 0), tj_vbool(i == n - 1),
                        tj_vint(n), tj_vint(1), tj_vint(0)};
    if (tj_dict_new(c, TJ_DICT, out)) return -1;
    for (int k = 0; k < 9; k++)
        if (tj_dict_set(c, out->u.d, tj_vstr(keys[k], strlen(keys[k])), vals[k])) return -1;
    if (i > 0 && tj_dict_set(c, out->u.d, tj_vstr("previtem", 8), items->v[i - 1])) return -1;
    if (i + 1 < n && tj_dict_set(c, out->u.d, tj_vstr("nextitem", 8), items->v[i + 1])) return -1;
    return 0;
}

/* Bind the loop targets to one item (unpacking a pair for "k, v"). */
static int tj_bind_targets(tj_ctx *c, const tj_node *targets, const tj_value *item) {
    if (targets->nkids == 1) return tj_assign(c, targets->kids[0]->name, targets->kids[0]->nlen, *item);
    if (item->kind != TJ_LIST || item->u.l->n != targets->nkids)
        return tj_fail(c, targets->at, "cannot unpack a %s into %d loop variables", tj_type(item), targets->nkids);
    for (int k = 0; k < targets->nkids; k++)
        if (tj_assign(c, targets->kids[k]->name, targets->kids[k]->nlen, item->u.l->v[k])) return -1;
    return 0;
}

static int tj_exec_for(tj_ctx *c, const tj_node *e) {
    tj_value seq, items;
    int saved_scope = c->scope, saved_n = c->nvars, rc = 0;
    if (tj_eval(c, e->a, &seq) || tj_iterate(c, e->a->at, &seq, &items)) return -1;
    if (e->b) { /* "for x in xs if cond": filter first, as loop.length counts the kept items */
        tj_value kept;
        if (tj_list_new(c, items.u.l->n, 0, &kept)) return -1;
        kept.u.l->n = 0;
        for (int i = 0; i < items.u.l->n && !rc; i++) {
            tj_value ok;
            c->scope = c->nvars;
            rc = tj_bind_targets(c, e->c, &items.u.l->v[i]) || tj_eval(c, e->b, &ok);
            if (!rc && tj_truthy(&ok)) kept.u.l->v[kept.u.l->n++] = items.u.l->v[i];
            c->nvars = saved_n;
            c->scope = saved_scope;
        }
        if (rc) return -1;
        items = kept;
    }
    if (!items.u.l->n) return tj_exec(c, e->alt, e->nalt) < 0 ? -1 : 0;
    for (int i = 0; i < items.u.l->n; i++) {
        tj_value loop;
        if (++c->steps > TJ_MAX_STEPS) return tj_fail(c, e->at, "the template runs too long (more than %ld steps)", TJ_MAX_STEPS);
        c->scope = c->nvars; /* each iteration is a new scope */
        rc = tj_loop_var(c, items.u.l, i, &loop) || tj_assign(c, "loop", 4, loop) || tj_bind_targets(c, e->c, &items.u.l->v[i])
                 ? -1
                 : tj_exec(c, e->kids, e->nkids);
        c->nvars = saved_n;
        c->scope = saved_scope;
        if (rc < 0) return -1;
        if (rc == TJ_BREAK) break;
    }
    return 0;
}

static int tj_exec_set(tj_ctx *c, const tj_node *e, tj_value v) {
    const tj_node *t = e->a;
    if (t->kind == TJ_N_NAME) return tj_assign(c, t->name, t->nlen, v);
    tj_value ns = tj_lookup(c, t->a->name, t->a->nlen);
    if (ns.kind != TJ_NS) return tj_fail(c, t->at, "cannot assign an attribute of a %s (only of a namespace)", tj_type(&ns));
    return tj_dict_set(c, ns.u.d, tj_vstr(t->name, t->nlen), v);
}

/* Run statements; returns -1 on error, else 0 or TJ_BREAK/TJ_CONTINUE. */
static int tj_exec(tj_ctx *c, tj_node *const *body, int n) {
    int rc = 0;
    if (++c->depth > TJ_MAX_DEPTH) return tj_fail(c, n ? body[0]->at : 0, "blocks nested too deeply");
    for (int i = 0; i < n && !rc; i++) {
        const tj_node *e = body[i];
        tj_value v;
        switch (e->kind) {
        case TJ_N_TEXT: rc = tj_put(c, c->out, e->lit.u.s.p, e->lit.u.s.n); break;
        case TJ_N_OUTPUT: rc = tj_eval(c, e->a, &v) || tj_text(c, e->at, &v, c->out) ? -1 : 0; break;
        case TJ_N_IF:
            if (tj_eval(c, e->a, &v)) { rc = -1; break; }
            rc = tj_truthy(&v) ? tj_exec(c, e->kids, e->nkids) : tj_exec(c, e->alt, e->nalt);
            break;
        case TJ_N_FOR: rc = tj_exec_for(c, e); break;
        case TJ_N_SET: rc = tj_eval(c, e->b, &v) || tj_exec_set(c, e, v) ? -1 : 0; break;
        case TJ_N_SETBLOCK: rc = tj_capture(c, e->kids, e->nkids, &v) || tj_exec_set(c, e, v) ? -1 : 0; break;
        case TJ_N_MACRO:
            v = tj_v(TJ_MACRO);
            v.u.m = e;
            rc = tj_assign(c, e->name, e->nlen, v);
            break;
        case TJ_N_BREAK: rc = TJ_BREAK; break;
        case TJ_N_CONTINUE: rc = TJ_CONTINUE; break;
        case TJ_N_BODY: { /* {% generation %}: jinja2 runs it as a call block, so a set inside stays inside */
            int saved_scope = c->scope, saved_n = c->nvars;
            c->scope = c->nvars;
            rc = tj_exec(c, e->kids, e->nkids);
            c->nvars = saved_n;
            c->scope = saved_scope;
            break;
        }
        default: rc = tj_fail(c, e->at, "an expression where a statement belongs");
        }
    }
    c->depth--;
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Rendering                                                                 */
/* ------------------------------------------------------------------------ */

/* A JSON value as a template value (numbers with a fraction or exponent are
 * floats, as Python's json reads them). */
static int tj_from_json(tj_ctx *c, const tk_json *j, int node, tj_value *out) {
    const tk_json_node *nd = &j->nodes[node];
    switch (nd->type) {
    case TK_JSON_NULL: *out = tj_v(TJ_NONE); return 0;
    case TK_JSON_TRUE: case TK_JSON_FALSE: *out = tj_vbool(nd->type == TK_JSON_TRUE); return 0;
    case TK_JSON_NUMBER: {
        long long i;
        double f;
        int isf = 0;
        for (size_t k = nd->start; k < nd->end; k++) isf |= j->src[k] == '.' || j->src[k] == 'e' || j->src[k] == 'E';
        if (!isf && !tk_json_int(j, node, &i)) { *out = tj_vint(i); return 0; }
        if (!isf) return tj_fail(c, TJ_NOPOS, "a JSON integer beyond 64 bits");
        tk_json_number(j, node, &f);
        *out = tj_vfloat(f);
        return 0;
    }
    case TK_JSON_STRING: {
        size_t n;
        char *s = tk_json_strdup(j, node, &n), *p = s ? tj_strdup(c, s, n) : NULL;
        free(s);
        if (!p) return s ? -1 : tj_fail(c, TJ_NOPOS, "out of memory");
        *out = tj_vstr(p, n);
        return 0;
    }
    case TK_JSON_ARRAY: {
        int i = 0;
        if (tj_list_new(c, nd->count, 0, out)) return -1;
        for (int e = tk_json_child(j, node); e >= 0; e = tk_json_next(j, e))
            if (tj_from_json(c, j, e, &out->u.l->v[i++])) return -1;
        return 0;
    }
    default: {
        if (tj_dict_new(c, TJ_DICT, out)) return -1;
        for (int k = tk_json_child(j, node); k >= 0; k = tk_json_next(j, tk_json_next(j, k))) {
            tj_value key, val;
            if (tj_from_json(c, j, k, &key) || tj_from_json(c, j, tk_json_next(j, k), &val) || tj_dict_set(c, out->u.d, key, val)) return -1;
        }
        return 0;
    }
    }
}

static void tj_free(tj_ctx *c) {
    while (c->arena) {
        tj_chunk *n = c->arena->next;
        free(c->arena);
        c->arena = n;
    }
}

/* Lex, parse and run tpl with the root variables c->vars already bound. */
static int tj_run(tj_ctx *c, const char *tpl, size_t tlen, char **out) {
    size_t n, bad = tk_utf8_check(tpl, tlen);
    tk_buf b = {0};
    if (bad < tlen) return tj_fail(c, TJ_NOPOS, "the template is not valid UTF-8 at byte %zu", bad);
    char *src = tj_normalize(c, tpl, tlen, &n);
    if (!src) return -1;
    c->src = src;
    tj_nodes body = {0};
    c->depth = 0;
    if (tj_lex(c, src, n) || tj_p_body(c, NULL, NULL, 0, &body, NULL)) return -1;
    c->depth = 0;
    c->out = &b;
    int rc = tj_exec(c, body.p, body.n);
    if (rc >= 0 && b.n && memchr(b.p, 0, b.n)) /* the caller reads a C string */
        rc = tj_fail(c, TJ_NOPOS, "the rendered text contains a NUL character");
    if (rc >= 0 && tj_put(c, &b, "", 1) == 0) {
        *out = b.p;
        return 0;
    }
    free(b.p);
    return -1;
}

int tk_template_render(const char *tpl, size_t tlen, const char *vars_json, size_t vlen, char **out, char *err,
                       size_t errlen) {
    tj_ctx c;
    tk_json j;
    char jerr[128];
    memset(&c, 0, sizeof c);
    c.err = err;
    c.errlen = errlen;
    if (out) *out = NULL;
    if (!out || !tpl) return tk_fail(err, errlen, NULL, "tk_template_render: bad arguments");
    if (tk_json_parse(&j, vars_json ? vars_json : "{}", vars_json ? vlen : 2, jerr, sizeof jerr))
        return tk_fail(err, errlen, NULL, "variables: %s", jerr);
    int rc = j.nodes[0].type == TK_JSON_OBJECT ? 0 : tk_fail(err, errlen, NULL, "variables: not a JSON object");
    for (int k = tk_json_child(&j, 0); k >= 0 && !rc; k = tk_json_next(&j, tk_json_next(&j, k))) {
        tj_value v;
        size_t kn;
        char *key = tk_json_strdup(&j, k, &kn), *name = key ? tj_strdup(&c, key, kn) : NULL;
        free(key);
        rc = !name || tj_from_json(&c, &j, tk_json_next(&j, k), &v) || tj_assign(&c, name, kn, v) ? -1 : 0;
    }
    tk_json_free(&j);
    if (!rc) rc = tj_run(&c, tpl, tlen, out);
    tj_free(&c);
    return rc;
}

/* A special token of tokenizer_config.json: a string or an AddedToken
 * object {"content": ...}; absent or null: not passed to the template. */
static int tj_cfg_token(tj_ctx *c, const tk_json *j, int node, tj_value *out) {
    if (tk_is_type(j, node, TK_JSON_OBJECT)) node = tk_json_get(j, node, "content");
    if (!tk_is_type(j, node, TK_JSON_STRING)) return 1;
    return tj_from_json(c, j, node, out);
}

/* The variables transformers passes: messages, add_generation_prompt,
 * tools and documents (None), and the special tokens map. */
static int tj_chat_vars(tj_ctx *c, const tk_json *j, const tk_message *msgs, int n, int add_generation_prompt) {
    static const char *const specials[] = {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token",
                                           "mask_token", NULL};
    tj_value v, list;
    for (int k = 0; specials[k]; k++) {
        int rc = tj_cfg_token(c, j, tk_json_get(j, 0, specials[k]), &v);
        if (rc < 0 || (rc == 0 && tj_assign(c, specials[k], strlen(specials[k]), v))) return -1;
    }
    int extra = tk_json_get(j, 0, "additional_special_tokens");
    if (tk_is_type(j, extra, TK_JSON_ARRAY) && j->nodes[extra].count > 0) {
        int i = 0;
        if (tj_list_new(c, j->nodes[extra].count, 0, &list)) return -1;
        for (int e = tk_json_child(j, extra); e >= 0; e = tk_json_next(j, e))
            if (tj_cfg_token(c, j, e, &list.u.l->v[i++])) return tj_fail(c, TJ_NOPOS, "additional_special_tokens: not a list of tokens");
        if (tj_assign(c, "additional_special_tokens", 25, list)) return -1;
    }
    if (n < 0 || n > INT_MAX / 4 || tj_list_new(c, n, 0, &list)) return tj_fail(c, TJ_NOPOS, "bad number of messages");
    for (int i = 0; i < n; i++) {
        const char *f[2] = {msgs[i].role, msgs[i].content};
        static const char *const keys[2] = {"role", "content"};
        if (tj_dict_new(c, TJ_DICT, &list.u.l->v[i])) return -1;
        for (int k = 0; k < 2; k++) {
            size_t len = f[k] ? strlen(f[k]) : 0, bad;
            if (!f[k]) return tj_fail(c, TJ_NOPOS, "message %d has no %s", i, keys[k]);
            if ((bad = tk_utf8_check(f[k], len)) < len) return tj_fail(c, TJ_NOPOS, "the %s of message %d is not valid UTF-8 at byte %zu", keys[k], i, bad);
            if (tj_dict_set(c, list.u.l->v[i].u.d, tj_vstr(keys[k], 4 + 3 * k), tj_vstr(f[k], len))) return -1;
        }
    }
    return tj_assign(c, "messages", 8, list) || tj_assign(c, "add_generation_prompt", 21, tj_vbool(add_generation_prompt)) ||
                   tj_assign(c, "tools", 5, tj_v(TJ_NONE)) || tj_assign(c, "documents", 9, tj_v(TJ_NONE))
               ? -1
               : 0;
}

int tk_chat_render(const char *config_json, size_t len, const char *name, const char *tpl, const tk_message *msgs,
                   int n, int add_generation_prompt, char **out, char *err, size_t errlen) {
    char msg[400], jerr[128];
    tk_json j;
    tj_ctx c;
    if (!name) name = "tokenizer_config.json";
    if (out) *out = NULL;
    if (!out || !config_json || (n && !msgs)) return tk_fail(err, errlen, name, "tk_chat_render: bad arguments");
    if (tk_json_parse(&j, config_json, len, jerr, sizeof jerr)) return tk_fail(err, errlen, name, "%s", jerr);
    memset(&c, 0, sizeof c);
    c.err = msg;
    c.errlen = sizeof msg;
    int v = tk_json_get(&j, 0, "chat_template"), rc = 0;
    if (tk_is_type(&j, v, TK_JSON_ARRAY)) { /* [{"name": ..., "template": ...}]: the one named "default" */
        int e = tk_json_child(&j, v);
        while (e >= 0 && !tk_json_streq(&j, tk_json_get(&j, e, "name"), "default")) e = tk_json_next(&j, e);
        v = e >= 0 ? tk_json_get(&j, e, "template") : -1;
    }
    size_t tn = tpl ? strlen(tpl) : 0;
    char *own = tpl || !tk_is_type(&j, v, TK_JSON_STRING) ? NULL : tk_json_strdup(&j, v, &tn);
    if (!tk_is_type(&j, 0, TK_JSON_OBJECT)) rc = tk_fail(err, errlen, name, "not a JSON object");
    else if (!tpl && !own) rc = tk_fail(err, errlen, name, "no chat_template");
    else if (tj_chat_vars(&c, &j, msgs, n, add_generation_prompt))
        rc = tk_fail(err, errlen, name, "%s", msg);
    else if (tj_run(&c, tpl ? tpl : own, tn, out))
        rc = tk_fail(err, errlen, name, "chat_template %s", msg);
    free(own);
    tk_json_free(&j);
    tj_free(&c);
    return rc;
}

#endif /* TOKENIZER_IMPLEMENTATION_DONE */
#endif /* TOKENIZER_IMPLEMENTATION */
