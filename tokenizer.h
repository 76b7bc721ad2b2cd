/* tokenizer.h - a small JSON reader and a BPE tokenizer for Hugging Face
 * tokenizer.json files (Llama / SentencePiece style), in one header.
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

/* Render a system message (NULL for none) and a user message with the chat
 * template of a tokenizer_config.json (its bytes), as Hugging Face
 * transformers' apply_chat_template(add_generation_prompt=True) does. The
 * template is recognised by family, not interpreted:
 *   Zephyr/TinyLlama  "<|system|>\nSYS</s>\n<|user|>\nMSG</s>\n<|assistant|>\n"
 *   Llama 2           "<s>[INST] <<SYS>>\nSYS\n<</SYS>>\n\nMSG [/INST]" (stripped)
 *   ChatML            "<|im_start|>system\nSYS<|im_end|>\n<|im_start|>user\nMSG<|im_end|>\n<|im_start|>assistant\n"
 *                     (with the template's default system message, if it has one)
 *   Llama 3           "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nSYS<|eot_id|>..."
 * bos_token/eos_token come from the config. An unrecognised template or a
 * missing chat_template is an error naming `name`. *out is malloc'd. */
int tk_chat_render(const char *config_json, size_t len, const char *name, const char *system, const char *user,
                   char **out, char *err, size_t errlen);

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

/* A string rewrite: Prepend a, Replace a by b, or Unicode NFC. A decoder's
 * Metaspace step is Replace(replacement, " ") that drops the replacement
 * instead in the first token when drop_first. */
enum { TK_PREPEND, TK_REPLACE, TK_NFC };
typedef struct {
    int kind, drop_first;
    char *a, *b;
    size_t alen, blen;
} tk_step;

enum { TK_SCHEME_ALWAYS, TK_SCHEME_FIRST, TK_SCHEME_NEVER };

/* One pre-tokenizer stage: a piece of text goes in, pieces come out, each
 * handed to the next stage (the last one hands them to BPE). A Split cuts at
 * the matches of a literal or a regex (Digits is a Split on \p{N}); ByteLevel
 * prepends a space, may split with its own regex and maps bytes to the
 * characters of the GPT-2 alphabet; Metaspace replaces spaces. */
enum { TK_PRE_SPLIT, TK_PRE_BYTELEVEL, TK_PRE_METASPACE };
enum { TK_SPLIT_REMOVED, TK_SPLIT_ISOLATED, TK_SPLIT_PREVIOUS, TK_SPLIT_NEXT, TK_SPLIT_CONTIGUOUS };
#define TK_MAX_PRE 16 /* stages, after flattening nested Sequences */
typedef struct tk_regex tk_regex;
/* The regex engine and NFC live in their own section. tk_regex_find: the
 * leftmost match at or after byte start of s[0,n): 1 and [*mb,*me) when
 * found, 0 when none, -1 (message in err) when its step budget runs out. */
static int tk_regex_compile(tk_regex **out, const char *pat, size_t n, char *err, size_t errlen);
static void tk_regex_free(tk_regex *re);
static int tk_regex_find(const tk_regex *re, const char *s, size_t n, size_t start, size_t *mb, size_t *me, char *err,
                         size_t errlen);
static int tk_nfc(const char *s, size_t n, tk_buf *out); /* NFC of valid UTF-8, appended to out */

/* Until the regex engine and the Unicode tables are built in: every regex
 * and the NFC normalizer are refused at load. */
#define TK_NO_UNICODE 1
struct tk_regex { int unused; };
static int tk_regex_compile(tk_regex **out, const char *pat, size_t n, char *err, size_t errlen) {
    (void)pat; (void)n;
    *out = NULL;
    snprintf(err, errlen, "regular expressions are not supported");
    return -1;
}
static void tk_regex_free(tk_regex *re) { (void)re; }
static int tk_regex_find(const tk_regex *re, const char *s, size_t n, size_t start, size_t *mb, size_t *me, char *err,
                         size_t errlen) {
    (void)re; (void)s; (void)n; (void)start; (void)mb; (void)me;
    snprintf(err, errlen, "regular expressions are not supported");
    return -1;
}
static int tk_nfc(const char *s, size_t n, tk_buf *out) { return tk_buf_put(out, s, n); }

typedef struct {
    int kind;
    char *lit;            /* Split: a String pattern (else re) */
    size_t litlen;
    tk_regex *re;         /* Split: a Regex pattern; ByteLevel: its regex when use_regex */
    int behavior, invert; /* Split; ByteLevel's regex splits Isolated */
    int prefix_space;     /* ByteLevel add_prefix_space */
    int scheme, split;    /* Metaspace */
    char rep[8];
    size_t replen;
} tk_pre;

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
    tk_pre pre[TK_MAX_PRE];   /* pre-tokenizer stages */
    int n_pre;
    char bl_utf8[256][2];     /* ByteLevel: byte -> its character's UTF-8 (2 bytes at most) */
    unsigned char bl_len[256];
    tk_added *added;
    int n_added;
    tk_trie raw_trie, norm_trie; /* added tokens matched before / after normalizing */
    int *prefix, *suffix;     /* post-processor: ids around the text */
    int n_prefix, n_suffix;
    tk_step *dsteps;          /* decoder: per-token rewrites before ByteFallback */
    int n_dsteps;
    int dec_bytes;            /* decoder has ByteFallback */
    int dec_lossy;            /* decoder is ByteLevel: tokens are bytes, the output lossy UTF-8 */
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
    for (int i = 0; i < t->n_pre; i++) {
        free(t->pre[i].lit);
        tk_regex_free(t->pre[i].re);
    }
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
        } else if (st[k].kind == TK_NFC) {
            if (tk_nfc(cur, cn, d)) return -1;
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
    int template_seen;
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
    if (tk_eq(s, n, "NFC") && TK_NO_UNICODE) return TK_LFAIL(L, "%s: the NFC normalizer is not supported", where);
    if (tk_eq(s, n, "NFC")) return tk_add_step(L, &L->t->norm, &L->t->n_norm, TK_NFC, "", 0, NULL, 0, 0);
    return TK_LFAIL(L, "%s type \"%s\" is not supported (only Sequence, Prepend, Replace, NFC)", where,
                    tk_quote(q, sizeof q, s, n));
}

/* A new pre-tokenizer stage. */
static tk_pre *tk_new_pre(tk_loader *L, int kind, const char *where) {
    if (L->t->n_pre == TK_MAX_PRE) {
        TK_LFAIL(L, "%s: more than %d pre-tokenizers", where, TK_MAX_PRE);
        return NULL;
    }
    tk_pre *p = &L->t->pre[L->t->n_pre++];
    memset(p, 0, sizeof *p);
    p->kind = kind;
    return p;
}

static int tk_compile(tk_loader *L, tk_regex **re, const char *pat, size_t n, const char *where) {
    char msg[160], q[64];
    if (tk_regex_compile(re, pat, n, msg, sizeof msg))
        return TK_LFAIL(L, "%s: regex \"%s\": %s", where, tk_quote(q, sizeof q, pat, n), msg);
    return 0;
}

/* Split: {"String": s} (a literal) or {"Regex": r}, a behavior, invert. */
static int tk_load_split(tk_loader *L, int node, const char *where) {
    static const char *behaviors[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
    const tk_json *j = L->j;
    const char *s;
    size_t n;
    tk_pre *p = tk_new_pre(L, TK_PRE_SPLIT, where);
    if (!p) return -1;
    int r = tk_lstr(L, node, "behavior", where, &L->s1, &s, &n);
    if (r <= 0) return r < 0 ? -1 : TK_LFAIL(L, "%s has no \"behavior\"", where);
    p->behavior = -1;
    for (int k = 0; k < 5; k++)
        if (tk_eq(s, n, behaviors[k])) p->behavior = k;
    if (p->behavior < 0) return TK_LFAIL(L, "%s.behavior is not one of Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous", where);
    if (tk_lbool(L, node, "invert", where, 0, &p->invert)) return -1;
    int pat = tk_json_get(j, node, "pattern");
    if (!tk_is_type(j, pat, TK_JSON_OBJECT)) return TK_LFAIL(L, "%s.pattern is not an object", where);
    if ((r = tk_lstr(L, pat, "String", where, &L->s1, &s, &n)) < 0) return -1;
    if (r) {
        if (!n) return TK_LFAIL(L, "%s: an empty String pattern is not supported", where);
        if (!(p->lit = tk_memdup(s, n))) return TK_LFAIL(L, "out of memory");
        p->litlen = n;
        return 0;
    }
    if ((r = tk_lstr(L, pat, "Regex", where, &L->s1, &s, &n)) < 0) return -1;
    if (!r) return TK_LFAIL(L, "%s.pattern has neither \"String\" nor \"Regex\"", where);
    return tk_compile(L, &p->re, s, n, where);
}

/* GPT-2's pre-tokenizer regex, which ByteLevel applies when use_regex. */
static const char tk_gpt2_regex[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/* GPT-2's bytes_to_unicode, which ByteLevel vocabularies are written in:
 * printable Latin-1 bytes stand for themselves, the others for U+0100
 * onwards, in byte order. */
static unsigned tk_bytelevel_cp(unsigned b) {
    unsigned extra = 0;
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE) return b;
    for (unsigned k = 0; k < b; k++) extra += !((k >= 0x21 && k <= 0x7E) || (k >= 0xA1 && k <= 0xAC) || k >= 0xAE);
    return 0x100 + extra;
}

static void tk_bytelevel_init(tk_tokenizer *t) {
    for (unsigned b = 0; b < 256; b++) {
        unsigned cp = tk_bytelevel_cp(b);
        t->bl_len[b] = cp < 0x80 ? 1 : 2;
        t->bl_utf8[b][0] = (char)(cp < 0x80 ? cp : 0xC0 | cp >> 6);
        t->bl_utf8[b][1] = (char)(0x80 | (cp & 0x3F));
    }
}

static int tk_load_bytelevel(tk_loader *L, int node, const char *where) {
    tk_tokenizer *t = L->t;
    int use_regex = 1, trim = 1;
    tk_pre *p = tk_new_pre(L, TK_PRE_BYTELEVEL, where);
    if (!p) return -1;
    if (tk_lbool(L, node, "add_prefix_space", where, -1, &p->prefix_space) ||
        tk_lbool(L, node, "trim_offsets", where, 1, &trim) || tk_lbool(L, node, "use_regex", where, 1, &use_regex))
        return -1;
    if (p->prefix_space < 0) return TK_LFAIL(L, "%s has no \"add_prefix_space\"", where);
    if (use_regex && tk_compile(L, &p->re, tk_gpt2_regex, sizeof tk_gpt2_regex - 1, where)) return -1;
    p->behavior = TK_SPLIT_ISOLATED;
    tk_bytelevel_init(t);
    return 0;
}

static int tk_load_pretokenizer(tk_loader *L, int node, const char *where, int depth) {
    const char *s;
    size_t n;
    char q[64], sub[64];
    if (tk_is_null(L->j, node)) return 0;
    if (depth > 8) return TK_LFAIL(L, "%s is nested too deeply", where);
    if (tk_ltype(L, node, where, &s, &n)) return -1;
    if (tk_eq(s, n, "Sequence")) {
        int list = tk_json_get(L->j, node, "pretokenizers"), i = 0;
        if (!tk_is_type(L->j, list, TK_JSON_ARRAY)) return TK_LFAIL(L, "%s.pretokenizers is not an array", where);
        for (int e = tk_json_child(L->j, list); e >= 0; e = tk_json_next(L->j, e), i++) {
            snprintf(sub, sizeof sub, "%s[%d]", where, i);
            if (tk_load_pretokenizer(L, e, sub, depth + 1)) return -1;
        }
        return 0;
    }
    if (tk_eq(s, n, "Split")) return tk_load_split(L, node, where);
    if (tk_eq(s, n, "ByteLevel")) return tk_load_bytelevel(L, node, where);
    if (tk_eq(s, n, "Digits")) { /* tokenizers splits at char::is_numeric, i.e. \p{N} */
        int single = 0;
        tk_pre *p = tk_new_pre(L, TK_PRE_SPLIT, where);
        if (!p || tk_lbool(L, node, "individual_digits", where, 0, &single)) return -1;
        p->behavior = single ? TK_SPLIT_ISOLATED : TK_SPLIT_CONTIGUOUS;
        return tk_compile(L, &p->re, "\\p{N}", 5, where);
    }
    if (tk_eq(s, n, "Metaspace")) {
        tk_pre *p = tk_new_pre(L, TK_PRE_METASPACE, where);
        if (!p || tk_lchar(L, node, "replacement", where, p->rep, &p->replen) || tk_lscheme(L, node, where, &p->scheme) ||
            tk_lbool(L, node, "split", where, 1, &p->split))
            return -1;
        return 0;
    }
    return TK_LFAIL(L, "%s type \"%s\" is not supported (only Sequence, Split, ByteLevel, Digits, Metaspace)", where,
                    tk_quote(q, sizeof q, s, n));
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

/* TemplateProcessing, ByteLevel (it only edits offsets: the ids stay as
 * they are), or a Sequence of them with at most one TemplateProcessing. */
static int tk_load_postprocessor(tk_loader *L, int node, const char *where, int depth) {
    const char *s;
    size_t n;
    char q[64], sub[64];
    if (tk_is_null(L->j, node)) return 0;
    if (depth > 8) return TK_LFAIL(L, "%s is nested too deeply", where);
    if (tk_ltype(L, node, where, &s, &n)) return -1;
    if (tk_eq(s, n, "ByteLevel")) return 0;
    if (tk_eq(s, n, "TemplateProcessing")) {
        if (L->template_seen++)
            return TK_LFAIL(L, "%s: a second TemplateProcessing is not supported", where);
        return tk_load_template(L, node);
    }
    if (tk_eq(s, n, "Sequence")) {
        int list = tk_json_get(L->j, node, "processors"), i = 0;
        if (!tk_is_type(L->j, list, TK_JSON_ARRAY)) return TK_LFAIL(L, "%s.processors is not an array", where);
        for (int e = tk_json_child(L->j, list); e >= 0; e = tk_json_next(L->j, e), i++) {
            snprintf(sub, sizeof sub, "%s[%d]", where, i);
            if (tk_load_postprocessor(L, e, sub, depth + 1)) return -1;
        }
        return 0;
    }
    return TK_LFAIL(L, "%s type \"%s\" is not supported (only TemplateProcessing, ByteLevel, Sequence)", where,
                    tk_quote(q, sizeof q, s, n));
}

/* Supported decoders: per-token Replace/Metaspace steps, then ByteFallback,
 * Fuse and a Strip of one leading character, in that order; or ByteLevel
 * alone (GPT-2 characters back to bytes, the whole made lossy UTF-8). */
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
        if (tk_eq(s, n, "ByteLevel")) { /* its options only concern offsets */
            if (count != 1) return TK_LFAIL(L, "%s: ByteLevel with other decoders is not supported", where);
            t->dec_lossy = 1;
            continue;
        }
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

/* The ByteLevel decoder's view of a token: the bytes its characters stand
 * for, or its own text when a character stands for no byte (an added token
 * like "<|eot_id|>" is plain ASCII and stands for itself either way). */
static int tk_bytelevel_bytes(const int byte_of[0x144], tk_buf *raw, const char **s, size_t *n) {
    raw->n = 0;
    for (size_t i = 0, l; i < *n; i += l) {
        unsigned c = tk_utf8_cp(*s + i, *n - i, &l);
        if (c >= 0x144 || byte_of[c] < 0) return 0;
        char b = (char)byte_of[c];
        if (tk_buf_put(raw, &b, 1)) return -1;
    }
    *s = raw->p ? raw->p : "";
    *n = raw->n;
    return 0;
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
    int byte_of[0x144]; /* ByteLevel decoder: character -> byte, -1 for none */
    for (unsigned c = 0; c < 0x144; c++) byte_of[c] = -1;
    for (unsigned b = 0; b < 256; b++) byte_of[tk_bytelevel_cp(b)] = (int)b;
    tk_buf blob = {0}, bufs[2] = {{0}}, raw = {0};
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
                (t->dec_lossy && tk_bytelevel_bytes(byte_of, &raw, &s, &n)) || blob.n + n + 1 > TK_MAX_BLOB) {
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
    free(raw.p);
    t->dblob = blob.p;
    if (rc) return rc;
    /* one push: up to 3 pending bytes as U+FFFD each, then the token; for
     * lossy UTF-8 each of the pending and the token's bytes may become one */
    size_t most = t->dec_lossy ? 3 * (maxlen + 3) : maxlen + 9;
    t->max_out = most > (size_t)INT_MAX ? INT_MAX : (int)most;
    if (t->max_out < 12) t->max_out = 12;
    return 0;
}

static int tk_load_all(tk_loader *L) {
    const tk_json *j = L->j;
    tk_tokenizer *t = L->t;
    if (!tk_is_type(j, 0, TK_JSON_OBJECT)) return TK_LFAIL(L, "the top level is not an object");
    if (tk_load_model(L, 0) || tk_load_normalizer(L, tk_json_get(j, 0, "normalizer"), "normalizer", 0) ||
        tk_load_pretokenizer(L, tk_json_get(j, 0, "pre_tokenizer"), "pre_tokenizer", 0) ||
        tk_load_postprocessor(L, tk_json_get(j, 0, "post_processor"), "post_processor", 0) ||
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
    size_t a, b; /* bytes [a, b) of a piece */
    int match;   /* a match of the Split's pattern (after invert) */
} tk_span;

typedef struct {
    tk_span *v;
    size_t n, cap;
} tk_spans;

typedef struct {
    const tk_tokenizer *t;
    tk_ivec out;
    tk_sym *sym;
    tk_cand *heap;
    size_t sym_cap, heap_cap;
    tk_buf nb[2];               /* normalizer output */
    tk_buf pb[TK_MAX_PRE][2];   /* per pre-tokenizer stage: its rewritten text */
    tk_spans sp[TK_MAX_PRE];    /* per pre-tokenizer stage: its pieces */
    char msg[160];              /* why encoding failed, when not out of memory */
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

static int tk_pre_run(tk_enc *e, int k, const char *s, size_t n, int at_origin);

static int tk_span_push(tk_spans *v, size_t a, size_t b, int match) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 16;
        tk_span *p = (tk_span *)realloc(v->v, cap * sizeof *p);
        if (!p) return -1;
        v->v = p;
        v->cap = cap;
    }
    tk_span sp = {a, b, match};
    v->v[v->n++] = sp;
    return 0;
}

/* The first occurrence of lit (non-empty) in s at or after from, or n. */
static size_t tk_find_lit(const char *s, size_t n, size_t from, const char *lit, size_t ln) {
    while (from < n && n - from >= ln) {
        const char *f = (const char *)memchr(s + from, lit[0], n - from - ln + 1);
        if (!f) break;
        if (memcmp(f, lit, ln) == 0) return (size_t)(f - s);
        from = (size_t)(f - s) + 1;
    }
    return n;
}

/* The matches of a stage's pattern in s and the text between them, in
 * order, covering s (tokenizers' Pattern::find_matches). As Oniguruma's
 * find_iter, an empty match right where the previous match ended is
 * skipped. */
static int tk_find_matches(tk_enc *e, const tk_pre *p, const char *s, size_t n, tk_spans *v) {
    size_t prev = 0, pos = 0, mb, me, last_end = SIZE_MAX;
    v->n = 0;
    while (pos <= n) {
        if (p->lit) {
            if ((mb = tk_find_lit(s, n, pos, p->lit, p->litlen)) == n) break;
            me = mb + p->litlen;
        } else {
            int r = tk_regex_find(p->re, s, n, pos, &mb, &me, e->msg, sizeof e->msg);
            if (r < 0) return -1;
            if (r == 0) break;
        }
        if (mb == me && me == last_end) { /* skip one character */
            size_t l;
            if (pos == n) break;
            tk_utf8_cp(s + pos, n - pos, &l);
            pos += l;
            continue;
        }
        if ((prev < mb && tk_span_push(v, prev, mb, p->invert)) || tk_span_push(v, mb, me, !p->invert)) return -1;
        prev = pos = last_end = me;
    }
    if (prev < n && tk_span_push(v, prev, n, p->invert)) return -1;
    return 0;
}

/* Turn the matches into pieces as the Split's behavior says
 * (tokenizers' NormalizedString::split), in place. */
static void tk_split_pieces(int behavior, tk_spans *v) {
    size_t out = 0, carry = SIZE_MAX;
    int prev_match = 0;
    for (size_t i = 0; i < v->n; i++) {
        tk_span c = v->v[i];
        int m = c.match;
        switch (behavior) {
        case TK_SPLIT_REMOVED:
            if (!m) v->v[out++] = c;
            break;
        case TK_SPLIT_ISOLATED:
            v->v[out++] = c;
            break;
        case TK_SPLIT_CONTIGUOUS:
        case TK_SPLIT_PREVIOUS: { /* a match joins the piece before it */
            int join = behavior == TK_SPLIT_CONTIGUOUS ? m == prev_match : m && !prev_match;
            if (join && out) v->v[out - 1].b = c.b;
            else v->v[out++] = c;
            break;
        }
        case TK_SPLIT_NEXT: /* a match joins the piece after it, unless that is a match too */
            if (m && i + 1 < v->n && !v->v[i + 1].match) {
                carry = c.a;
                break;
            }
            if (carry != SIZE_MAX) c.a = carry;
            carry = SIZE_MAX;
            v->v[out++] = c;
            break;
        }
        prev_match = m;
    }
    v->n = out;
}

/* Split: each piece goes to the next stage. at_origin: s starts the text. */
static int tk_pre_split(tk_enc *e, int k, const char *s, size_t n, int at_origin) {
    const tk_pre *p = &e->t->pre[k];
    tk_spans *v = &e->sp[k];
    if (tk_find_matches(e, p, s, n, v)) return -1;
    tk_split_pieces(p->behavior, v);
    for (size_t i = 0; i < v->n; i++)
        if (tk_pre_run(e, k + 1, s + v->v[i].a, v->v[i].b - v->v[i].a, at_origin && v->v[i].a == 0)) return -1;
    return 0;
}

/* ByteLevel: every byte becomes its GPT-2 character. */
static int tk_pre_bytes(tk_enc *e, int k, const char *s, size_t n, int at_origin) {
    const tk_tokenizer *t = e->t;
    tk_buf *b = &e->pb[k][1];
    b->n = 0;
    if (n > TK_MAX_PIECE / 2 || tk_buf_reserve(b, 2 * n)) return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        b->p[b->n++] = t->bl_utf8[c][0];
        if (t->bl_len[c] == 2) b->p[b->n++] = t->bl_utf8[c][1];
    }
    return tk_pre_run(e, k + 1, b->p, b->n, at_origin);
}

/* ByteLevel: a space in front unless there is one (add_prefix_space), GPT-2's
 * regex split (use_regex), then the characters. */
static int tk_pre_bytelevel(tk_enc *e, int k, const char *s, size_t n, int at_origin) {
    const tk_pre *p = &e->t->pre[k];
    if (p->prefix_space && s[0] != ' ') {
        tk_buf *b = &e->pb[k][0];
        b->n = 0;
        if (tk_buf_put(b, " ", 1) || tk_buf_put(b, s, n)) return -1;
        s = b->p;
        n = b->n;
    }
    if (!p->re) return tk_pre_bytes(e, k, s, n, at_origin);
    tk_spans *v = &e->sp[k];
    if (tk_find_matches(e, p, s, n, v)) return -1;
    for (size_t i = 0; i < v->n; i++) /* Isolated: every span is a piece */
        if (v->v[i].b > v->v[i].a && tk_pre_bytes(e, k, s + v->v[i].a, v->v[i].b - v->v[i].a, at_origin && v->v[i].a == 0))
            return -1;
    return 0;
}

/* Metaspace: spaces become the replacement, which may be prepended, and
 * (split) every replacement starts a new piece. */
static int tk_pre_metaspace(tk_enc *e, int k, const char *s, size_t n, int at_origin) {
    const tk_pre *p = &e->t->pre[k];
    const char *rep = p->rep;
    size_t rn = p->replen;
    tk_buf *b = &e->pb[k][0];
    b->n = 0;
    /* tokenizers replaces first, then prepends unless it already starts with one */
    int starts = s[0] == ' ' || (n >= rn && memcmp(s, rep, rn) == 0);
    if (!starts && (p->scheme == TK_SCHEME_ALWAYS || (p->scheme == TK_SCHEME_FIRST && at_origin)) &&
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
    if (!p->split) return tk_pre_run(e, k + 1, b->p, b->n, at_origin);
    size_t start = 0;
    for (size_t i = 0; i + rn <= b->n; i++)
        if (memcmp(b->p + i, rep, rn) == 0 && i > start) {
            if (tk_pre_run(e, k + 1, b->p + start, i - start, at_origin && start == 0)) return -1;
            start = i;
        }
    return tk_pre_run(e, k + 1, b->p + start, b->n - start, at_origin && start == 0);
}

/* Run pre-tokenizer stage k on a piece; after the last stage, BPE. Empty
 * pieces are dropped, as tokenizers drops them between stages. */
static int tk_pre_run(tk_enc *e, int k, const char *s, size_t n, int at_origin) {
    if (!n) return 0;
    if (k == e->t->n_pre) return tk_bpe_word(e, s, n);
    switch (e->t->pre[k].kind) {
    case TK_PRE_SPLIT: return tk_pre_split(e, k, s, n, at_origin);
    case TK_PRE_BYTELEVEL: return tk_pre_bytelevel(e, k, s, n, at_origin);
    default: return tk_pre_metaspace(e, k, s, n, at_origin);
    }
}

static int tk_pretokenize(tk_enc *e, const char *s, size_t n, int at_origin) { return tk_pre_run(e, 0, s, n, at_origin); }

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
    for (int k = 0; k < TK_MAX_PRE; k++) {
        free(e.pb[k][0].p);
        free(e.pb[k][1].p);
        free(e.sp[k].v);
    }
    if (rc || e.out.n > (size_t)INT_MAX) {
        free(e.out.p);
        if (e.msg[0]) return tk_fail(err, errlen, NULL, "encoding %zu bytes: %s", len, e.msg);
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

static int tk_utf8_prefix(const unsigned char *p, int n);

/* Rust's String::from_utf8_lossy, which the ByteLevel decoder ends with:
 * each maximal prefix of a valid sequence that cannot be completed (or a
 * byte that starts none) becomes one U+FFFD. */
static int tk_put_lossy(tk_buf *o, const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, from = 0;
    while (i < n) {
        int l = tk_utf8_len(u + i, n - i);
        if (l) {
            i += (size_t)l;
            continue;
        }
        size_t k = 1;
        while (k < 3 && i + k < n && tk_utf8_prefix(u + i, (int)k + 1) == 1) k++;
        if (tk_buf_put(o, s + from, i - from) || tk_buf_put(o, TK_FFFD, 3)) return -1;
        i += k;
        from = i;
    }
    return tk_buf_put(o, s + from, n - from);
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
    if (!rc && t->dec_lossy) { /* o holds bytes: make them UTF-8 */
        run.n = 0;
        if (tk_put_lossy(&run, o.p ? o.p : "", o.n)) rc = -2;
        tk_buf tmp = o;
        o = run;
        run = tmp;
    }
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

/* ByteLevel streams: bytes through Rust's lossy UTF-8 decoding, one at a
 * time (as tk_put_lossy: a maximal unfinishable prefix becomes one U+FFFD).
 * Writes to out unless it is NULL; returns the output's length. */
static size_t tk_stream_lossy(tk_stream *s, const char *d, size_t n, char *out) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        s->pend[s->npend++] = (unsigned char)d[i];
        int st = tk_utf8_prefix(s->pend, s->npend);
        if (st == 0 && s->npend > 1) { /* the bytes before this one end unfinished */
            if (out) memcpy(out + k, TK_FFFD, 3);
            k += 3;
            s->pend[0] = (unsigned char)d[i];
            s->npend = 1;
            st = tk_utf8_prefix(s->pend, 1);
        }
        if (st == 1) continue;
        if (st == 2 && out) memcpy(out + k, s->pend, (size_t)s->npend);
        if (st == 0 && out) memcpy(out + k, TK_FFFD, 3);
        k += st == 2 ? (size_t)s->npend : 3;
        s->npend = 0;
    }
    return k;
}

int tk_stream_push(tk_stream *s, int id, char *out, size_t cap) {
    if (!s || !tk_valid_id(s->t, id)) return -1;
    const tk_tokenizer *t = s->t;
    if (s->skip_special && (t->special[id] & TK_F_SPECIAL)) return 0;
    tk_stream ns = *s;
    if (t->dec_lossy) {
        size_t dn;
        const char *d = tk_dec_text(t, id, 0, &dn);
        size_t k = tk_stream_lossy(&ns, d, dn, NULL);
        if (k > cap || k > (size_t)INT_MAX || (k && !out)) return -1;
        tk_stream_lossy(s, d, dn, out);
        return (int)k;
    }
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
    if (s->t->dec_lossy) { /* an unfinished character is one U+FFFD */
        if (!s->npend) return 0;
        if (cap < 3 || !out) return -1;
        memcpy(out, TK_FFFD, 3);
        s->npend = 0;
        return 3;
    }
    tk_stream ns = *s;
    char pre[16];
    size_t np = tk_stream_endrun(&ns, pre);
    return tk_stream_emit(s, &ns, pre, np, "", 0, out, cap);
}

/* ======================================================================== */
/* Chat templates                                                            */
/* ======================================================================== */

/* Not a Jinja interpreter: the template's family is recognised from marker
 * strings, and that family's output written directly, as transformers
 * renders it (trim_blocks, lstrip_blocks, add_generation_prompt=True) for a
 * system message (or none) and one user message. Templates whose output
 * would depend on more than that (tools, dates, a system message where the
 * template has none) are refused. */

/* Python's str.strip(), as Jinja's .strip() and |trim apply it. */
static int tk_put_pystrip(tk_buf *b, const char *s, size_t n) {
    size_t a = tk_ws_right(s, n, tk_is_pyspace);
    size_t z = tk_ws_left(s, n, tk_is_pyspace);
    return tk_buf_put(b, s + a, z > a ? z - a : 0);
}

static int tk_puts(tk_buf *b, const char *s) { return tk_buf_put(b, s, strlen(s)); }

/* bos_token / eos_token: a string, or an AddedToken object with "content". */
static char *tk_cfg_token(const tk_json *j, const char *key) {
    int v = tk_json_get(j, 0, key);
    if (tk_is_type(j, v, TK_JSON_OBJECT)) v = tk_json_get(j, v, "content");
    return tk_json_strdup(j, v, NULL);
}

/* ChatML's default system message: the text in the template's literal
 * '<|im_start|>system\n...<|im_end|>' (Qwen 2 style). 0: none; -1: the
 * template writes a system turn in a way not recognised. */
static int tk_chatml_default(const char *tpl, char **out) {
    const char *p = strstr(tpl, "<|im_start|>system");
    *out = NULL;
    if (!p) return 0;
    p += strlen("<|im_start|>system");
    if (*p == '\n') p++;
    else if (p[0] == '\\' && p[1] == 'n') p += 2;
    else return -1;
    const char *end = strstr(p, "<|im_end|>");
    if (!end || end == p) return -1;
    for (const char *c = p; c < end; c++)
        if (strchr("'\"{}\\%\n", *c)) return -1;
    *out = tk_memdup(p, (size_t)(end - p));
    return *out ? 1 : -1;
}

int tk_chat_render(const char *config_json, size_t len, const char *name, const char *system, const char *user,
                   char **out, char *err, size_t errlen) {
    if (!name) name = "tokenizer_config.json";
    if (out) *out = NULL;
    if (!out || !config_json || !user) return tk_fail(err, errlen, name, "tk_chat_render: bad arguments");
    size_t ns = system ? strlen(system) : 0, nu = strlen(user), bad;
    if ((bad = tk_utf8_check(user, nu)) < nu) return tk_fail(err, errlen, NULL, "user message is not valid UTF-8 at byte %zu", bad);
    if (system && (bad = tk_utf8_check(system, ns)) < ns)
        return tk_fail(err, errlen, NULL, "system message is not valid UTF-8 at byte %zu", bad);
    tk_json j;
    char jerr[128];
    if (tk_json_parse(&j, config_json, len, jerr, sizeof jerr)) return tk_fail(err, errlen, name, "%s", jerr);
    char *tpl = NULL, *bos = NULL, *eos = NULL, *dflt = NULL;
    tk_buf b = {0};
    int rc = 0, oom = 0;
    int v = tk_json_get(&j, 0, "chat_template");
    if (tk_is_type(&j, v, TK_JSON_ARRAY)) { /* [{"name": ..., "template": ...}]: use "default" */
        int e = tk_json_child(&j, v);
        while (e >= 0 && !tk_json_streq(&j, tk_json_get(&j, e, "name"), "default")) e = tk_json_next(&j, e);
        v = e >= 0 ? tk_json_get(&j, e, "template") : -1;
    }
    if (!tk_is_type(&j, 0, TK_JSON_OBJECT) || !tk_is_type(&j, v, TK_JSON_STRING)) {
        rc = tk_fail(err, errlen, name, "no chat_template");
        goto done;
    }
    size_t tn;
    tpl = tk_json_strdup(&j, v, &tn);
    bos = tk_cfg_token(&j, "bos_token");
    eos = tk_cfg_token(&j, "eos_token");
    if (!tpl) { oom = 1; goto done; }
    if (strlen(tpl) != tn) { rc = tk_fail(err, errlen, name, "chat_template contains a NUL"); goto done; }

    if (strstr(tpl, "<|start_header_id|>")) { /* Llama 3 */
        if (strstr(tpl, "Cutting Knowledge Date") || strstr(tpl, "tools") || strstr(tpl, "date_string")) {
            rc = tk_fail(err, errlen, name, "this Llama 3 chat template (tools, dates) is not supported");
            goto done;
        }
        if (!bos) { rc = tk_fail(err, errlen, name, "bos_token is missing"); goto done; }
        oom |= tk_puts(&b, bos);
        if (system)
            oom |= tk_puts(&b, "<|start_header_id|>system<|end_header_id|>\n\n") || tk_put_pystrip(&b, system, ns) ||
                   tk_puts(&b, "<|eot_id|>");
        oom |= tk_puts(&b, "<|start_header_id|>user<|end_header_id|>\n\n") || tk_put_pystrip(&b, user, nu) ||
               tk_puts(&b, "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
    } else if (strstr(tpl, "<|im_start|>")) { /* ChatML */
        const char *lead = tpl + tk_ws_right(tpl, tn, tk_is_pyspace);
        int with_bos = !strncmp(lead, "{{ bos_token }}", 15) || !strncmp(lead, "{{bos_token}}", 13);
        int d = tk_chatml_default(tpl, &dflt);
        if (d < 0 || strstr(tpl, "tools") || strstr(tpl, "think") || (!with_bos && strstr(tpl, "bos_token"))) {
            rc = tk_fail(err, errlen, name, "this ChatML chat template (tools, reasoning, its system turn) is not supported");
            goto done;
        }
        if (with_bos && !bos) { rc = tk_fail(err, errlen, name, "bos_token is missing"); goto done; }
        if (with_bos) oom |= tk_puts(&b, bos);
        const char *sys = system ? system : dflt;
        if (sys) oom |= tk_puts(&b, "<|im_start|>system\n") || tk_puts(&b, sys) || tk_puts(&b, "<|im_end|>\n");
        oom |= tk_puts(&b, "<|im_start|>user\n") || tk_puts(&b, user) ||
               tk_puts(&b, "<|im_end|>\n<|im_start|>assistant\n");
    } else if (strstr(tpl, "[INST]")) { /* Llama 2 */
        if (!strstr(tpl, "<<SYS>>")) {
            rc = tk_fail(err, errlen, name, "this [INST] chat template (not Llama 2's, no <<SYS>>) is not supported");
            goto done;
        }
        if (!bos) { rc = tk_fail(err, errlen, name, "bos_token is missing"); goto done; }
        tk_buf c = {0};
        int coom = 0;
        if (system) coom = tk_puts(&c, "<<SYS>>\n") || tk_puts(&c, system) || tk_puts(&c, "\n<</SYS>>\n\n");
        coom = coom || tk_puts(&c, user);
        oom |= coom || tk_puts(&b, bos) || tk_puts(&b, "[INST] ") || tk_put_pystrip(&b, c.p ? c.p : "", c.n) ||
               tk_puts(&b, " [/INST]");
        free(c.p);
    } else if (strstr(tpl, "<|user|>") && strstr(tpl, "<|assistant|>") && strstr(tpl, "eos_token") &&
               !strstr(tpl, "<|end|>")) { /* Zephyr, TinyLlama-Chat */
        if (!eos) { rc = tk_fail(err, errlen, name, "eos_token is missing"); goto done; }
        if (system && !strstr(tpl, "<|system|>")) {
            rc = tk_fail(err, errlen, name, "the chat template has no system role");
            goto done;
        }
        if (system) oom |= tk_puts(&b, "<|system|>\n") || tk_puts(&b, system) || tk_puts(&b, eos) || tk_puts(&b, "\n");
        oom |= tk_puts(&b, "<|user|>\n") || tk_puts(&b, user) || tk_puts(&b, eos) || tk_puts(&b, "\n<|assistant|>\n");
    } else {
        rc = tk_fail(err, errlen, name,
                     "chat template not recognised (supported: Zephyr/TinyLlama, Llama 2, ChatML, Llama 3)");
        goto done;
    }
    oom |= tk_buf_put(&b, "", 1);
done:
    if (oom && !rc) rc = tk_fail(err, errlen, name, "out of memory");
    if (!rc) *out = b.p;
    else free(b.p);
    free(tpl);
    free(bos);
    free(eos);
    free(dflt);
    tk_json_free(&j);
    return rc;
}

#endif /* TOKENIZER_IMPLEMENTATION_DONE */
#endif /* TOKENIZER_IMPLEMENTATION */
