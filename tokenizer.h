/* tokenizer.h - a small JSON reader, a BPE tokenizer for Hugging Face
 * tokenizer.json files (SentencePiece style as Llama 2 and Mistral, byte
 * level as GPT-2, Llama 3, Qwen2.5/3 and SmolLM2) and an interpreter of
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
 * escapes, nesting depth) and records it as a flat array of 16-byte nodes,
 * one a value; string contents are unescaped on demand.
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
 * components it supports (checked against tokenizers 0.23 on the Llama 2,
 * Llama 3.1 and Qwen3 tokenizer.json and small byte-level variants); it
 * refuses files with anything else.
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

typedef struct {                /* 16 bytes a value */
    uint32_t start, end;        /* bytes of the value in the source; strings exclude quotes */
    uint32_t next;              /* the next value in the same array/object (keys and values alternate); 0: none */
    uint32_t count : 28;        /* arrays: elements; objects: key/value pairs */
    uint32_t type : 3;          /* a tk_json_type */
    uint32_t has_escape : 1;    /* strings: contains a backslash */
} tk_json_node;

typedef struct {
    const char *src;
    size_t len;
    tk_json_node *nodes;
    int n, cap;
} tk_json;

/* Parse len bytes of src (which must outlive j). Node 0 is the root value.
 * Each value costs one 16-byte node; a document of more than
 * TK_JSON_MAX_VALUES values (or of 4 GiB or more) is refused before its
 * nodes are allocated. */
int tk_json_parse(tk_json *j, const char *src, size_t len, char *err, size_t errlen);
void tk_json_free(tk_json *j);

/* Object member lookup by exact key; returns the value's node or -1. A key
 * given twice gives its last value, as Python's json does. One pass over
 * the object: callers that look up many keys of a big object hash it. */
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

/* A Hugging Face tokenizer.json with a BPE model: SentencePiece style (Llama
 * 2, TinyLlama, Mistral: byte fallback, unk, Prepend/Replace normalizers,
 * Metaspace, Replace/ByteFallback/Fuse/Strip/Metaspace decoders) or byte
 * level (GPT-2, Llama 3, Qwen, SmolLM2: vocabularies in GPT-2's byte
 * alphabet, ignore_merges, the NFC normalizer, Split on a String or Regex
 * with every behavior and invert, Digits, ByteLevel pre-tokenizer and
 * decoder), with Sequences of normalizers and pre-tokenizers, added and
 * special tokens (lstrip, rstrip, normalized, single_word), and
 * TemplateProcessing and ByteLevel post-processors. Any other component
 * (and continuing_subword_prefix, end_of_word_suffix, a regex construct
 * outside the supported subset) is refused at load with an error, never
 * tokenized differently from Hugging Face `tokenizers`; so is a file that
 * contradicts itself (an added token whose id is not the one tokenizers
 * would give it). A loaded tokenizer is read-only: share it between threads
 * freely. Errors read "NAME: problem". */
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
/* Decode ids as the file's decoder says (for Llama 2: "▁" -> " ", byte
 * tokens -> bytes, strip one leading space; for byte level: characters ->
 * bytes). skip_special != 0 drops special tokens. A run of byte tokens that
 * is not valid UTF-8 becomes one U+FFFD per byte; byte-level output that is
 * not valid UTF-8 gets one U+FFFD per maximal invalid part (Rust's
 * from_utf8_lossy); both as in Hugging Face. An id that is no token is an
 * error. *out is malloc'd and NUL-terminated; *len (when not NULL) excludes
 * the NUL. */
int tk_decode(const tk_tokenizer *t, const int *ids, int n, int skip_special, char **out, size_t *len,
              char *err, size_t errlen);

/* Streaming decode: push one id at a time and get the bytes that are now
 * complete UTF-8. The outputs of all pushes plus tk_stream_flush equal
 * tk_decode of the whole sequence when at_start was 1 (the leading-space
 * strip then applies to the start of the output); with at_start 0
 * (continuing after a prompt) nothing is stripped. One exception, for byte
 * fallback (Llama 2) only: a run of byte tokens holding a complete character
 * followed by invalid bytes; the stream has already emitted that character
 * where tk_decode gives U+FFFD. Byte-level streams always equal tk_decode.
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
 * tk_max_token_bytes(t) is always enough (64 is for Llama 2, a few hundred
 * for byte-level vocabularies). */
int tk_stream_push(tk_stream *s, int id, char *out, size_t cap);
/* Pending bytes of an incomplete character, as U+FFFD each (one U+FFFD for
 * byte level; at most 9 bytes). */
int tk_stream_flush(tk_stream *s, char *out, size_t cap);
/* The most bytes one tk_stream_push or tk_stream_flush can write. */
int tk_max_token_bytes(const tk_tokenizer *t);

/* ------------------------------------------------------------------------ */
/* Unicode text: NFC and regexes                                             */
/* ------------------------------------------------------------------------ */

/* What the normalizers and pre-tokenizers are built on, for tests and tools.
 * tk_nfc_string: the NFC form of UTF-8 text (Unicode tables of the version
 * named in the implementation), malloc'd and NUL-terminated; invalid UTF-8
 * is an error. tk_regex_find_all: the spans [b, e) of every successive
 * leftmost match of an Oniguruma pattern (the subset pre-tokenizers use;
 * anything else is refused naming the construct) in s, as spans[2*i],
 * spans[2*i+1]; after an empty match the search resumes one character on.
 * The search gives up with an error when the pattern backtracks too much
 * (the steps of all the matches together are linear in n). */
int tk_nfc_string(const char *s, size_t n, char **out, size_t *outlen, char *err, size_t errlen);
int tk_regex_find_all(const char *pat, size_t plen, const char *s, size_t n, size_t **spans, size_t *nspans, char *err,
                      size_t errlen);
/* One search: the leftmost match at or after byte `start`, 1 and [*mb, *me)
 * when found, 0 when none, -1 on a refused pattern or an exhausted budget. */
int tk_regex_search(const char *pat, size_t plen, const char *s, size_t n, size_t start, size_t *mb, size_t *me,
                    char *err, size_t errlen);

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
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ======================================================================== */
/* JSON reader                                                               */
/* ======================================================================== */

#define TK_JSON_MAX_DEPTH 128
/* Values a document may hold: 256 MiB of nodes at most. The biggest real
 * files (tokenizer.json of a 256k vocabulary, a safetensors header of 100k
 * tensors) hold a few million. */
#define TK_JSON_MAX_VALUES (1 << 24)

typedef struct {
    tk_json *j;
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

/* Bounds on the number of values from one pass over the characters outside
 * strings: each ',' follows a value and each ':' a key (lo); each value is
 * the root, the first in a container, or after a ',' or ':' (hi). */
static void tk_json_bounds(const char *s, size_t n, size_t *lo, size_t *hi) {
    size_t seps = 0, opens = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '"') { /* skip the string */
            for (i++; i < n && s[i] != '"'; i++)
                if (s[i] == '\\') i++;
        } else if (c == ',' || c == ':') {
            seps++;
        } else if (c == '[' || c == '{') {
            opens++;
        }
    }
    *lo = seps;
    *hi = 1 + seps + opens;
}

static int tk_json_push(tk_json_parser *p, tk_json_type type) {
    tk_json *j = p->j;
    if (j->n == j->cap) return tk_json_fail(p, "more values than counted"); /* the bounds rule this out */
    tk_json_node *nd = &j->nodes[j->n];
    memset(nd, 0, sizeof *nd);
    nd->type = type;
    nd->start = (uint32_t)p->pos;
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
            p->j->nodes[idx].end = (uint32_t)p->pos;
            p->j->nodes[idx].has_escape = (unsigned)esc;
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
        int n = c < 0x80 ? 1 : tk_utf8_len((const unsigned char *)s + p->pos, len - p->pos);
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
    p->j->nodes[idx].end = (uint32_t)i;
    return idx;
}

static int tk_json_parse_value(tk_json_parser *p, int depth);

/* Chain the values of one container: prev (-1 for none) gets idx as its next. */
static void tk_json_link(tk_json *j, int *prev, int idx) {
    if (*prev >= 0) j->nodes[*prev].next = (uint32_t)idx;
    *prev = idx;
}

static int tk_json_parse_container(tk_json_parser *p, int depth, int is_obj) {
    int idx = tk_json_push(p, is_obj ? TK_JSON_OBJECT : TK_JSON_ARRAY);
    if (idx < 0) return -1;
    char close = is_obj ? '}' : ']';
    int count = 0, prev = -1;
    p->pos++;
    tk_json_skip_ws(p);
    if (p->pos < p->j->len && p->j->src[p->pos] == close) {
        p->pos++;
    } else {
        for (;;) {
            tk_json_skip_ws(p);
            if (is_obj) {
                if (p->pos >= p->j->len || p->j->src[p->pos] != '"') return tk_json_fail(p, "expected a key");
                int key = tk_json_parse_string(p);
                if (key < 0) return -1;
                tk_json_link(p->j, &prev, key);
                tk_json_skip_ws(p);
                if (p->pos >= p->j->len || p->j->src[p->pos] != ':') return tk_json_fail(p, "expected ':'");
                p->pos++;
            }
            int val = tk_json_parse_value(p, depth + 1);
            if (val < 0) return -1;
            tk_json_link(p->j, &prev, val);
            count++; /* below TK_JSON_MAX_VALUES, so it fits the node's count */
            tk_json_skip_ws(p);
            if (p->pos >= p->j->len) return tk_json_fail(p, "unterminated container");
            char c = p->j->src[p->pos++];
            if (c == close) break;
            if (c != ',') return tk_json_fail(p, "expected ',' or a closing bracket");
        }
    }
    p->j->nodes[idx].count = (uint32_t)count;
    p->j->nodes[idx].end = (uint32_t)p->pos;
    return idx;
}

static int tk_json_parse_literal(tk_json_parser *p, const char *word, tk_json_type type) {
    size_t n = strlen(word);
    if (p->j->len - p->pos < n || memcmp(p->j->src + p->pos, word, n)) return tk_json_fail(p, "unexpected character");
    int idx = tk_json_push(p, type);
    if (idx < 0) return -1;
    p->pos += n;
    p->j->nodes[idx].end = (uint32_t)p->pos;
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
    tk_json_parser p = {j, 0, err, errlen};
    if (!src) { tk_json_fail(&p, "no input"); return -1; }
    if (len >= UINT32_MAX) { tk_json_fail(&p, "4 GiB or more"); return -1; }
    if (len >= 3 && (unsigned char)src[0] == 0xEF && (unsigned char)src[1] == 0xBB && (unsigned char)src[2] == 0xBF)
        p.pos = 3; /* a UTF-8 byte-order mark */
    /* the limit is checked, and the nodes allocated, before parsing */
    size_t lo, hi;
    tk_json_bounds(src, len, &lo, &hi);
    if (lo > TK_JSON_MAX_VALUES) { tk_json_fail(&p, "more than 2^24 values"); return -1; }
    j->cap = (int)(hi < TK_JSON_MAX_VALUES ? hi : TK_JSON_MAX_VALUES);
    if (!(j->nodes = (tk_json_node *)malloc((size_t)j->cap * sizeof *j->nodes))) {
        tk_json_fail(&p, "out of memory");
        return -1;
    }
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
    uint32_t nx = j->nodes[node].next;
    return nx ? (int)nx : -1;
}

int tk_json_get(const tk_json *j, int obj, const char *key) {
    if (obj < 0 || obj >= j->n || j->nodes[obj].type != TK_JSON_OBJECT) return -1;
    int last = -1;
    for (int k = tk_json_child(j, obj); k >= 0; k = tk_json_next(j, tk_json_next(j, k)))
        if (tk_json_streq(j, k, key)) last = tk_json_next(j, k);
    return last;
}

/* The bytes of one character of a validated string source at s[*i] (an
 * escape decoded to UTF-8) into out; advances *i and returns their count. */
static size_t tk_json_char(const char *s, size_t *i, char out[4]) {
    if (s[*i] != '\\') { out[0] = s[(*i)++]; return 1; }
    char e = s[*i + 1];
    if (e != 'u') {
        const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
        out[0] = to[strchr(from, e) - from];
        *i += 2;
        return 1;
    }
    unsigned u = 0, lo = 0xDC00;
    tk_hex4(s + *i + 2, &u);
    *i += 6;
    if (u >= 0xD800 && u <= 0xDBFF) {
        tk_hex4(s + *i + 2, &lo);
        *i += 6;
        u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
    }
    if (u < 0x80) { out[0] = (char)u; return 1; }
    if (u < 0x800) { out[0] = (char)(0xC0 | (u >> 6)); out[1] = (char)(0x80 | (u & 0x3F)); return 2; }
    if (u < 0x10000) {
        out[0] = (char)(0xE0 | (u >> 12)); out[1] = (char)(0x80 | ((u >> 6) & 0x3F));
        out[2] = (char)(0x80 | (u & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (u >> 18)); out[1] = (char)(0x80 | ((u >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((u >> 6) & 0x3F)); out[3] = (char)(0x80 | (u & 0x3F));
    return 4;
}

/* Decode the string node into out (which has room for end-start bytes: an
 * unescaped string is never longer than its source). Returns the length. */
static size_t tk_json_unescape(const tk_json *j, int node, char *out) {
    size_t o = 0;
    for (size_t i = j->nodes[node].start; i < j->nodes[node].end;) o += tk_json_char(j->src, &i, out + o);
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
    size_t k = 0; /* compared so far, decoding as it goes: no copy */
    char c[4];
    for (size_t i = nd->start; i < nd->end;) {
        size_t m = tk_json_char(j->src, &i, c);
        if (k + m > n || memcmp(str + k, c, m)) return 0;
        k += m;
    }
    return k == n;
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

#define TK_MAX_IDS (1 << 21)               /* ids lie below this: 8x the largest vocabularies */
#define TK_MAX_FILE ((size_t)256 << 20)    /* tk_load_file refuses bigger files (7x the biggest published) */
#define TK_MAX_TEXT ((size_t)INT_MAX / 8)  /* tk_encode refuses longer texts */
#define TK_MAX_PIECE ((size_t)INT_MAX / 2) /* longest string after normalizing */
#define TK_MAX_BLOB ((size_t)1 << 31)      /* all decoded token strings together */
/* Normalizer and decoder steps (real files have at most 5): each is applied
 * to every token at load, so their number multiplies the load time. */
#define TK_MAX_STEPS 64
/* How much longer the normalizer may make a text (Replace " " by "▁"
 * triples it, NFC at most triples it), and what its Prepends may add: this
 * bounds the work and memory of normalizing a text before any is done. */
#define TK_MAX_GROWTH 64
#define TK_MAX_GROWTH_ADD 4096
/* What normalizing the added tokens and decoding every token may build,
 * beside the vocabulary's own text of n bytes (decoding mostly shrinks it). */
#define TK_BUDGET(n) (8 * (size_t)(n) + ((size_t)16 << 20))
#define TK_NONE UINT32_MAX                 /* "no token" in per-id offset arrays */
#define TK_FFFD "\xEF\xBF\xBD"             /* U+FFFD REPLACEMENT CHARACTER */

/* Copy the NUL-terminated s into out (cap bytes, cap > 0) with every byte
 * that could break the line or drive a terminal written as \xNN: control
 * characters (C0, DEL, and C1 as UTF-8), and bytes that are not UTF-8. Error
 * messages quote file contents; this keeps each one a single plain line. */
static void tk_escape_controls(char *out, size_t cap, const char *s) {
    size_t o = 0, n = strlen(s);
    for (size_t i = 0; i < n;) {
        const unsigned char *u = (const unsigned char *)s + i;
        int l = tk_utf8_len(u, n - i);
        int c1 = l == 2 && u[0] == 0xC2 && u[1] < 0xA0;
        if (l && !c1 && (u[0] >= 0x20 && u[0] != 0x7F)) {
            if (o + (size_t)l >= cap) break;
            memcpy(out + o, u, (size_t)l);
            o += (size_t)l;
            i += (size_t)l;
            continue;
        }
        int k = c1 ? 2 : 1; /* the escaped bytes */
        if (o + 4 * (size_t)k >= cap) break;
        for (int b = 0; b < k; b++, o += 4) snprintf(out + o, 5, "\\x%02X", u[b]);
        i += (size_t)k;
    }
    out[o] = 0;
}

/* Writes "NAME: message" (just "message" when name is NULL), control
 * characters escaped; returns -1. */
static int tk_fail(char *err, size_t errlen, const char *name, const char *fmt, ...) {
    if (err && errlen) {
        char raw[1024];
        size_t k = 0;
        if (name) {
            int w = snprintf(raw, sizeof raw, "%s: ", name);
            k = w < 0 ? 0 : (size_t)w < sizeof raw ? (size_t)w : sizeof raw - 1;
        }
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(raw + k, sizeof raw - k, fmt, ap);
        va_end(ap);
        tk_escape_controls(err, errlen, raw);
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
 * overlapping) in s by rep, into out (cleared first). -1 as soon as the
 * output would pass limit bytes (or out of memory). */
static int tk_replace(tk_buf *out, const char *s, size_t n, const char *pat, size_t plen, const char *rep,
                      size_t rlen, size_t limit) {
    out->n = 0;
    size_t from = 0, i = 0;
    while (plen && i + plen <= n) {
        if (s[i] == pat[0] && memcmp(s + i, pat, plen) == 0) {
            if (out->n + (i - from) + rlen > limit) return -1;
            if (tk_buf_put(out, s + from, i - from) || tk_buf_put(out, rep, rlen)) return -1;
            i += plen;
            from = i;
        } else {
            i++;
        }
    }
    if (out->n + (n - from) > limit) return -1;
    return tk_buf_put(out, s + from, n - from);
}

/* ======================================================================== */
/* Unicode: tables                                                           */
/* ======================================================================== */

/* BEGIN Unicode tables: generated by tools/unicode_tables.py; do not edit */
/* 57715 bytes of tables, Unicode 15.0.0 */
enum { TK_GC_Lu, TK_GC_Ll, TK_GC_Lt, TK_GC_Lm, TK_GC_Lo, TK_GC_Mn, TK_GC_Mc, TK_GC_Me, TK_GC_Nd, TK_GC_Nl, TK_GC_No, TK_GC_Pc, TK_GC_Pd, TK_GC_Ps, TK_GC_Pe, TK_GC_Pi, TK_GC_Pf, TK_GC_Po, TK_GC_Sm, TK_GC_Sc, TK_GC_Sk, TK_GC_So, TK_GC_Zs, TK_GC_Zl, TK_GC_Zp, TK_GC_Cc, TK_GC_Cf, TK_GC_Cs, TK_GC_Co, TK_GC_Cn };
static const uint32_t tk_gc_runs[4007] = {
    0x0000019, 0x0000416, 0x0000431, 0x0000493, 0x00004B1, 0x000050D, 0x000052E, 0x0000551,
    0x0000572, 0x0000591, 0x00005AC, 0x00005D1, 0x0000608, 0x0000751, 0x0000792, 0x00007F1,
    0x0000820, 0x0000B6D, 0x0000B91, 0x0000BAE, 0x0000BD4, 0x0000BEB, 0x0000C14, 0x0000C21,
    0x0000F6D, 0x0000F92, 0x0000FAE, 0x0000FD2, 0x0000FF9, 0x0001416, 0x0001431, 0x0001453,
    0x00014D5, 0x00014F1, 0x0001514, 0x0001535, 0x0001544, 0x000156F, 0x0001592, 0x00015BA,
    0x00015D5, 0x00015F4, 0x0001615, 0x0001632, 0x000164A, 0x0001694, 0x00016A1, 0x00016D1,
    0x0001714, 0x000172A, 0x0001744, 0x0001770, 0x000178A, 0x00017F1, 0x0001800, 0x0001AF2,
    0x0001B00, 0x0001BE1, 0x0001EF2, 0x0001F01, 0x0002000, 0x0002021, 0x0002040, 0x0002061,
    0x0002080, 0x00020A1, 0x00020C0, 0x00020E1, 0x0002100, 0x0002121, 0x0002140, 0x0002161,
    0x0002180, 0x00021A1, 0x00021C0, 0x00021E1, 0x0002200, 0x0002221, 0x0002240, 0x0002261,
    0x0002280, 0x00022A1, 0x00022C0, 0x00022E1, 0x0002300, 0x0002321, 0x0002340, 0x0002361,
    0x0002380, 0x00023A1, 0x00023C0, 0x00023E1, 0x0002400, 0x0002421, 0x0002440, 0x0002461,
    0x0002480, 0x00024A1, 0x00024C0, 0x00024E1, 0x0002500, 0x0002521, 0x0002540, 0x0002561,
    0x0002580, 0x00025A1, 0x00025C0, 0x00025E1, 0x0002600, 0x0002621, 0x0002640, 0x0002661,
    0x0002680, 0x00026A1, 0x00026C0, 0x00026E1, 0x0002720, 0x0002741, 0x0002760, 0x0002781,
    0x00027A0, 0x00027C1, 0x00027E0, 0x0002801, 0x0002820, 0x0002841, 0x0002860, 0x0002881,
    0x00028A0, 0x00028C1, 0x00028E0, 0x0002901, 0x0002940, 0x0002961, 0x0002980, 0x00029A1,
    0x00029C0, 0x00029E1, 0x0002A00, 0x0002A21, 0x0002A40, 0x0002A61, 0x0002A80, 0x0002AA1,
    0x0002AC0, 0x0002AE1, 0x0002B00, 0x0002B21, 0x0002B40, 0x0002B61, 0x0002B80, 0x0002BA1,
    0x0002BC0, 0x0002BE1, 0x0002C00, 0x0002C21, 0x0002C40, 0x0002C61, 0x0002C80, 0x0002CA1,
    0x0002CC0, 0x0002CE1, 0x0002D00, 0x0002D21, 0x0002D40, 0x0002D61, 0x0002D80, 0x0002DA1,
    0x0002DC0, 0x0002DE1, 0x0002E00, 0x0002E21, 0x0002E40, 0x0002E61, 0x0002E80, 0x0002EA1,
    0x0002EC0, 0x0002EE1, 0x0002F00, 0x0002F41, 0x0002F60, 0x0002F81, 0x0002FA0, 0x0002FC1,
    0x0003020, 0x0003061, 0x0003080, 0x00030A1, 0x00030C0, 0x0003101, 0x0003120, 0x0003181,
    0x00031C0, 0x0003241, 0x0003260, 0x00032A1, 0x00032C0, 0x0003321, 0x0003380, 0x00033C1,
    0x00033E0, 0x0003421, 0x0003440, 0x0003461, 0x0003480, 0x00034A1, 0x00034C0, 0x0003501,
    0x0003520, 0x0003541, 0x0003580, 0x00035A1, 0x00035C0, 0x0003601, 0x0003620, 0x0003681,
    0x00036A0, 0x00036C1, 0x00036E0, 0x0003721, 0x0003764, 0x0003780, 0x00037A1, 0x0003804,
    0x0003880, 0x00038A2, 0x00038C1, 0x00038E0, 0x0003902, 0x0003921, 0x0003940, 0x0003962,
    0x0003981, 0x00039A0, 0x00039C1, 0x00039E0, 0x0003A01, 0x0003A20, 0x0003A41, 0x0003A60,
    0x0003A81, 0x0003AA0, 0x0003AC1, 0x0003AE0, 0x0003B01, 0x0003B20, 0x0003B41, 0x0003B60,
    0x0003B81, 0x0003BC0, 0x0003BE1, 0x0003C00, 0x0003C21, 0x0003C40, 0x0003C61, 0x0003C80,
    0x0003CA1, 0x0003CC0, 0x0003CE1, 0x0003D00, 0x0003D21, 0x0003D40, 0x0003D61, 0x0003D80,
    0x0003DA1, 0x0003DC0, 0x0003DE1, 0x0003E20, 0x0003E42, 0x0003E61, 0x0003E80, 0x0003EA1,
    0x0003EC0, 0x0003F21, 0x0003F40, 0x0003F61, 0x0003F80, 0x0003FA1, 0x0003FC0, 0x0003FE1,
    0x0004000, 0x0004021, 0x0004040, 0x0004061, 0x0004080, 0x00040A1, 0x00040C0, 0x00040E1,
    0x0004100, 0x0004121, 0x0004140, 0x0004161, 0x0004180, 0x00041A1, 0x00041C0, 0x00041E1,
    0x0004200, 0x0004221, 0x0004240, 0x0004261, 0x0004280, 0x00042A1, 0x00042C0, 0x00042E1,
    0x0004300, 0x0004321, 0x0004340, 0x0004361, 0x0004380, 0x00043A1, 0x00043C0, 0x00043E1,
    0x0004400, 0x0004421, 0x0004440, 0x0004461, 0x0004480, 0x00044A1, 0x00044C0, 0x00044E1,
    0x0004500, 0x0004521, 0x0004540, 0x0004561, 0x0004580, 0x00045A1, 0x00045C0, 0x00045E1,
    0x0004600, 0x0004621, 0x0004640, 0x0004661, 0x0004740, 0x0004781, 0x00047A0, 0x00047E1,
    0x0004820, 0x0004841, 0x0004860, 0x00048E1, 0x0004900, 0x0004921, 0x0004940, 0x0004961,
    0x0004980, 0x00049A1, 0x00049C0, 0x00049E1, 0x0005284, 0x00052A1, 0x0005603, 0x0005854,
    0x00058C3, 0x0005A54, 0x0005C03, 0x0005CB4, 0x0005D83, 0x0005DB4, 0x0005DC3, 0x0005DF4,
    0x0006005, 0x0006E00, 0x0006E21, 0x0006E40, 0x0006E61, 0x0006E83, 0x0006EB4, 0x0006EC0,
    0x0006EE1, 0x0006F1D, 0x0006F43, 0x0006F61, 0x0006FD1, 0x0006FE0, 0x000701D, 0x0007094,
    0x00070C0, 0x00070F1, 0x0007100, 0x000717D, 0x0007180, 0x00071BD, 0x00071C0, 0x0007201,
    0x0007220, 0x000745D, 0x0007460, 0x0007581, 0x00079E0, 0x0007A01, 0x0007A40, 0x0007AA1,
    0x0007B00, 0x0007B21, 0x0007B40, 0x0007B61, 0x0007B80, 0x0007BA1, 0x0007BC0, 0x0007BE1,
    0x0007C00, 0x0007C21, 0x0007C40, 0x0007C61, 0x0007C80, 0x0007CA1, 0x0007CC0, 0x0007CE1,
    0x0007D00, 0x0007D21, 0x0007D40, 0x0007D61, 0x0007D80, 0x0007DA1, 0x0007DC0, 0x0007DE1,
    0x0007E80, 0x0007EA1, 0x0007ED2, 0x0007EE0, 0x0007F01, 0x0007F20, 0x0007F61, 0x0007FA0,
    0x0008601, 0x0008C00, 0x0008C21, 0x0008C40, 0x0008C61, 0x0008C80, 0x0008CA1, 0x0008CC0,
    0x0008CE1, 0x0008D00, 0x0008D21, 0x0008D40, 0x0008D61, 0x0008D80, 0x0008DA1, 0x0008DC0,
    0x0008DE1, 0x0008E00, 0x0008E21, 0x0008E40, 0x0008E61, 0x0008E80, 0x0008EA1, 0x0008EC0,
    0x0008EE1, 0x0008F00, 0x0008F21, 0x0008F40, 0x0008F61, 0x0008F80, 0x0008FA1, 0x0008FC0,
    0x0008FE1, 0x0009000, 0x0009021, 0x0009055, 0x0009065, 0x0009107, 0x0009140, 0x0009161,
    0x0009180, 0x00091A1, 0x00091C0, 0x00091E1, 0x0009200, 0x0009221, 0x0009240, 0x0009261,
    0x0009280, 0x00092A1, 0x00092C0, 0x00092E1, 0x0009300, 0x0009321, 0x0009340, 0x0009361,
    0x0009380, 0x00093A1, 0x00093C0, 0x00093E1, 0x0009400, 0x0009421, 0x0009440, 0x0009461,
    0x0009480, 0x00094A1, 0x00094C0, 0x00094E1, 0x0009500, 0x0009521, 0x0009540, 0x0009561,
    0x0009580, 0x00095A1, 0x00095C0, 0x00095E1, 0x0009600, 0x0009621, 0x0009640, 0x0009661,
    0x0009680, 0x00096A1, 0x00096C0, 0x00096E1, 0x0009700, 0x0009721, 0x0009740, 0x0009761,
    0x0009780, 0x00097A1, 0x00097C0, 0x00097E1, 0x0009800, 0x0009841, 0x0009860, 0x0009881,
    0x00098A0, 0x00098C1, 0x00098E0, 0x0009901, 0x0009920, 0x0009941, 0x0009960, 0x0009981,
    0x00099A0, 0x00099C1, 0x0009A00, 0x0009A21, 0x0009A40, 0x0009A61, 0x0009A80, 0x0009AA1,
    0x0009AC0, 0x0009AE1, 0x0009B00, 0x0009B21, 0x0009B40, 0x0009B61, 0x0009B80, 0x0009BA1,
    0x0009BC0, 0x0009BE1, 0x0009C00, 0x0009C21, 0x0009C40, 0x0009C61, 0x0009C80, 0x0009CA1,
    0x0009CC0, 0x0009CE1, 0x0009D00, 0x0009D21, 0x0009D40, 0x0009D61, 0x0009D80, 0x0009DA1,
    0x0009DC0, 0x0009DE1, 0x0009E00, 0x0009E21, 0x0009E40, 0x0009E61, 0x0009E80, 0x0009EA1,
    0x0009EC0, 0x0009EE1, 0x0009F00, 0x0009F21, 0x0009F40, 0x0009F61, 0x0009F80, 0x0009FA1,
    0x0009FC0, 0x0009FE1, 0x000A000, 0x000A021, 0x000A040, 0x000A061, 0x000A080, 0x000A0A1,
    0x000A0C0, 0x000A0E1, 0x000A100, 0x000A121, 0x000A140, 0x000A161, 0x000A180, 0x000A1A1,
    0x000A1C0, 0x000A1E1, 0x000A200, 0x000A221, 0x000A240, 0x000A261, 0x000A280, 0x000A2A1,
    0x000A2C0, 0x000A2E1, 0x000A300, 0x000A321, 0x000A340, 0x000A361, 0x000A380, 0x000A3A1,
    0x000A3C0, 0x000A3E1, 0x000A400, 0x000A421, 0x000A440, 0x000A461, 0x000A480, 0x000A4A1,
    0x000A4C0, 0x000A4E1, 0x000A500, 0x000A521, 0x000A540, 0x000A561, 0x000A580, 0x000A5A1,
    0x000A5C0, 0x000A5E1, 0x000A61D, 0x000A620, 0x000AAFD, 0x000AB23, 0x000AB51, 0x000AC01,
    0x000B131, 0x000B14C, 0x000B17D, 0x000B1B5, 0x000B1F3, 0x000B21D, 0x000B225, 0x000B7CC,
    0x000B7E5, 0x000B811, 0x000B825, 0x000B871, 0x000B885, 0x000B8D1, 0x000B8E5, 0x000B91D,
    0x000BA04, 0x000BD7D, 0x000BDE4, 0x000BE71, 0x000BEBD, 0x000C01A, 0x000C0D2, 0x000C131,
    0x000C173, 0x000C191, 0x000C1D5, 0x000C205, 0x000C371, 0x000C39A, 0x000C3B1, 0x000C404,
    0x000C803, 0x000C824, 0x000C965, 0x000CC08, 0x000CD51, 0x000CDC4, 0x000CE05, 0x000CE24,
    0x000DA91, 0x000DAA4, 0x000DAC5, 0x000DBBA, 0x000DBD5, 0x000DBE5, 0x000DCA3, 0x000DCE5,
    0x000DD35, 0x000DD45, 0x000DDC4, 0x000DE08, 0x000DF44, 0x000DFB5, 0x000DFE4, 0x000E011,
    0x000E1DD, 0x000E1FA, 0x000E204, 0x000E225, 0x000E244, 0x000E605, 0x000E97D, 0x000E9A4,
    0x000F4C5, 0x000F624, 0x000F65D, 0x000F808, 0x000F944, 0x000FD65, 0x000FE83, 0x000FED5,
    0x000FEF1, 0x000FF43, 0x000FF7D, 0x000FFA5, 0x000FFD3, 0x0010004, 0x00102C5, 0x0010343,
    0x0010365, 0x0010483, 0x00104A5, 0x0010503, 0x0010525, 0x00105DD, 0x0010611, 0x00107FD,
    0x0010804, 0x0010B25, 0x0010B9D, 0x0010BD1, 0x0010BFD, 0x0010C04, 0x0010D7D, 0x0010E04,
    0x0011114, 0x0011124, 0x00111FD, 0x001121A, 0x001125D, 0x0011305, 0x0011404, 0x0011923,
    0x0011945, 0x0011C5A, 0x0011C65, 0x0012066, 0x0012084, 0x0012745, 0x0012766, 0x0012785,
    0x00127A4, 0x00127C6, 0x0012825, 0x0012926, 0x00129A5, 0x00129C6, 0x0012A04, 0x0012A25,
    0x0012B04, 0x0012C45, 0x0012C91, 0x0012CC8, 0x0012E11, 0x0012E23, 0x0012E44, 0x0013025,
    0x0013046, 0x001309D, 0x00130A4, 0x00131BD, 0x00131E4, 0x001323D, 0x0013264, 0x001353D,
    0x0013544, 0x001363D, 0x0013644, 0x001367D, 0x00136C4, 0x001375D, 0x0013785, 0x00137A4,
    0x00137C6, 0x0013825, 0x00138BD, 0x00138E6, 0x001393D, 0x0013966, 0x00139A5, 0x00139C4,
    0x00139FD, 0x0013AE6, 0x0013B1D, 0x0013B84, 0x0013BDD, 0x0013BE4, 0x0013C45, 0x0013C9D,
    0x0013CC8, 0x0013E04, 0x0013E53, 0x0013E8A, 0x0013F55, 0x0013F73, 0x0013F84, 0x0013FB1,
    0x0013FC5, 0x0013FFD, 0x0014025, 0x0014066, 0x001409D, 0x00140A4, 0x001417D, 0x00141E4,
    0x001423D, 0x0014264, 0x001453D, 0x0014544, 0x001463D, 0x0014644, 0x001469D, 0x00146A4,
    0x00146FD, 0x0014704, 0x001475D, 0x0014785, 0x00147BD, 0x00147C6, 0x0014825, 0x001487D,
    0x00148E5, 0x001493D, 0x0014965, 0x00149DD, 0x0014A25, 0x0014A5D, 0x0014B24, 0x0014BBD,
    0x0014BC4, 0x0014BFD, 0x0014CC8, 0x0014E05, 0x0014E44, 0x0014EA5, 0x0014ED1, 0x0014EFD,
    0x0015025, 0x0015066, 0x001509D, 0x00150A4, 0x00151DD, 0x00151E4, 0x001525D, 0x0015264,
    0x001553D, 0x0015544, 0x001563D, 0x0015644, 0x001569D, 0x00156A4, 0x001575D, 0x0015785,
    0x00157A4, 0x00157C6, 0x0015825, 0x00158DD, 0x00158E5, 0x0015926, 0x001595D, 0x0015966,
    0x00159A5, 0x00159DD, 0x0015A04, 0x0015A3D, 0x0015C04, 0x0015C45, 0x0015C9D, 0x0015CC8,
    0x0015E11, 0x0015E33, 0x0015E5D, 0x0015F24, 0x0015F45, 0x001601D, 0x0016025, 0x0016046,
    0x001609D, 0x00160A4, 0x00161BD, 0x00161E4, 0x001623D, 0x0016264, 0x001653D, 0x0016544,
    0x001663D, 0x0016644, 0x001669D, 0x00166A4, 0x001675D, 0x0016785, 0x00167A4, 0x00167C6,
    0x00167E5, 0x0016806, 0x0016825, 0x00168BD, 0x00168E6, 0x001693D, 0x0016966, 0x00169A5,
    0x00169DD, 0x0016AA5, 0x0016AE6, 0x0016B1D, 0x0016B84, 0x0016BDD, 0x0016BE4, 0x0016C45,
    0x0016C9D, 0x0016CC8, 0x0016E15, 0x0016E24, 0x0016E4A, 0x0016F1D, 0x0017045, 0x0017064,
    0x001709D, 0x00170A4, 0x001717D, 0x00171C4, 0x001723D, 0x0017244, 0x00172DD, 0x0017324,
    0x001737D, 0x0017384, 0x00173BD, 0x00173C4, 0x001741D, 0x0017464, 0x00174BD, 0x0017504,
    0x001757D, 0x00175C4, 0x001775D, 0x00177C6, 0x0017805, 0x0017826, 0x001787D, 0x00178C6,
    0x001793D, 0x0017946, 0x00179A5, 0x00179DD, 0x0017A04, 0x0017A3D, 0x0017AE6, 0x0017B1D,
    0x0017CC8, 0x0017E0A, 0x0017E75, 0x0017F33, 0x0017F55, 0x0017F7D, 0x0018005, 0x0018026,
    0x0018085, 0x00180A4, 0x00181BD, 0x00181C4, 0x001823D, 0x0018244, 0x001853D, 0x0018544,
    0x001875D, 0x0018785, 0x00187A4, 0x00187C5, 0x0018826, 0x00188BD, 0x00188C5, 0x001893D,
    0x0018945, 0x00189DD, 0x0018AA5, 0x0018AFD, 0x0018B04, 0x0018B7D, 0x0018BA4, 0x0018BDD,
    0x0018C04, 0x0018C45, 0x0018C9D, 0x0018CC8, 0x0018E1D, 0x0018EF1, 0x0018F0A, 0x0018FF5,
    0x0019004, 0x0019025, 0x0019046, 0x0019091, 0x00190A4, 0x00191BD, 0x00191C4, 0x001923D,
    0x0019244, 0x001953D, 0x0019544, 0x001969D, 0x00196A4, 0x001975D, 0x0019785, 0x00197A4,
    0x00197C6, 0x00197E5, 0x0019806, 0x00198BD, 0x00198C5, 0x00198E6, 0x001993D, 0x0019946,
    0x0019985, 0x00199DD, 0x0019AA6, 0x0019AFD, 0x0019BA4, 0x0019BFD, 0x0019C04, 0x0019C45,
    0x0019C9D, 0x0019CC8, 0x0019E1D, 0x0019E24, 0x0019E66, 0x0019E9D, 0x001A005, 0x001A046,
    0x001A084, 0x001A1BD, 0x001A1C4, 0x001A23D, 0x001A244, 0x001A765, 0x001A7A4, 0x001A7C6,
    0x001A825, 0x001A8BD, 0x001A8C6, 0x001A93D, 0x001A946, 0x001A9A5, 0x001A9C4, 0x001A9F5,
    0x001AA1D, 0x001AA84, 0x001AAE6, 0x001AB0A, 0x001ABE4, 0x001AC45, 0x001AC9D, 0x001ACC8,
    0x001AE0A, 0x001AF35, 0x001AF44, 0x001B01D, 0x001B025, 0x001B046, 0x001B09D, 0x001B0A4,
    0x001B2FD, 0x001B344, 0x001B65D, 0x001B664, 0x001B79D, 0x001B7A4, 0x001B7DD, 0x001B804,
    0x001B8FD, 0x001B945, 0x001B97D, 0x001B9E6, 0x001BA45, 0x001BABD, 0x001BAC5, 0x001BAFD,
    0x001BB06, 0x001BC1D, 0x001BCC8, 0x001BE1D, 0x001BE46, 0x001BE91, 0x001BEBD, 0x001C024,
    0x001C625, 0x001C644, 0x001C685, 0x001C77D, 0x001C7F3, 0x001C804, 0x001C8C3, 0x001C8E5,
    0x001C9F1, 0x001CA08, 0x001CB51, 0x001CB9D, 0x001D024, 0x001D07D, 0x001D084, 0x001D0BD,
    0x001D0C4, 0x001D17D, 0x001D184, 0x001D49D, 0x001D4A4, 0x001D4DD, 0x001D4E4, 0x001D625,
    0x001D644, 0x001D685, 0x001D7A4, 0x001D7DD, 0x001D804, 0x001D8BD, 0x001D8C3, 0x001D8FD,
    0x001D905, 0x001D9FD, 0x001DA08, 0x001DB5D, 0x001DB84, 0x001DC1D, 0x001E004, 0x001E035,
    0x001E091, 0x001E275, 0x001E291, 0x001E2B5, 0x001E305, 0x001E355, 0x001E408, 0x001E54A,
    0x001E695, 0x001E6A5, 0x001E6D5, 0x001E6E5, 0x001E715, 0x001E725, 0x001E74D, 0x001E76E,
    0x001E78D, 0x001E7AE, 0x001E7C6, 0x001E804, 0x001E91D, 0x001E924, 0x001EDBD, 0x001EE25,
    0x001EFE6, 0x001F005, 0x001F0B1, 0x001F0C5, 0x001F104, 0x001F1A5, 0x001F31D, 0x001F325,
    0x001F7BD, 0x001F7D5, 0x001F8C5, 0x001F8F5, 0x001F9BD, 0x001F9D5, 0x001FA11, 0x001FAB5,
    0x001FB31, 0x001FB7D, 0x0020004, 0x0020566, 0x00205A5, 0x0020626, 0x0020645, 0x0020706,
    0x0020725, 0x0020766, 0x00207A5, 0x00207E4, 0x0020808, 0x0020951, 0x0020A04, 0x0020AC6,
    0x0020B05, 0x0020B44, 0x0020BC5, 0x0020C24, 0x0020C46, 0x0020CA4, 0x0020CE6, 0x0020DC4,
    0x0020E25, 0x0020EA4, 0x0021045, 0x0021066, 0x00210A5, 0x00210E6, 0x00211A5, 0x00211C4,
    0x00211E6, 0x0021208, 0x0021346, 0x00213A5, 0x00213D5, 0x0021400, 0x00218DD, 0x00218E0,
    0x002191D, 0x00219A0, 0x00219DD, 0x0021A01, 0x0021F71, 0x0021F83, 0x0021FA1, 0x0022004,
    0x002493D, 0x0024944, 0x00249DD, 0x0024A04, 0x0024AFD, 0x0024B04, 0x0024B3D, 0x0024B44,
    0x0024BDD, 0x0024C04, 0x002513D, 0x0025144, 0x00251DD, 0x0025204, 0x002563D, 0x0025644,
    0x00256DD, 0x0025704, 0x00257FD, 0x0025804, 0x002583D, 0x0025844, 0x00258DD, 0x0025904,
    0x0025AFD, 0x0025B04, 0x002623D, 0x0026244, 0x00262DD, 0x0026304, 0x0026B7D, 0x0026BA5,
    0x0026C11, 0x0026D2A, 0x0026FBD, 0x0027004, 0x0027215, 0x002735D, 0x0027400, 0x0027EDD,
    0x0027F01, 0x0027FDD, 0x002800C, 0x0028024, 0x002CDB5, 0x002CDD1, 0x002CDE4, 0x002D016,
    0x002D024, 0x002D36D, 0x002D38E, 0x002D3BD, 0x002D404, 0x002DD71, 0x002DDC9, 0x002DE24,
    0x002DF3D, 0x002E004, 0x002E245, 0x002E2A6, 0x002E2DD, 0x002E3E4, 0x002E645, 0x002E686,
    0x002E6B1, 0x002E6FD, 0x002E804, 0x002EA45, 0x002EA9D, 0x002EC04, 0x002EDBD, 0x002EDC4,
    0x002EE3D, 0x002EE45, 0x002EE9D, 0x002F004, 0x002F685, 0x002F6C6, 0x002F6E5, 0x002F7C6,
    0x002F8C5, 0x002F8E6, 0x002F925, 0x002FA91, 0x002FAE3, 0x002FB11, 0x002FB73, 0x002FB84,
    0x002FBA5, 0x002FBDD, 0x002FC08, 0x002FD5D, 0x002FE0A, 0x002FF5D, 0x0030011, 0x00300CC,
    0x00300F1, 0x0030165, 0x00301DA, 0x00301E5, 0x0030208, 0x003035D, 0x0030404, 0x0030863,
    0x0030884, 0x0030F3D, 0x0031004, 0x00310A5, 0x00310E4, 0x0031525, 0x0031544, 0x003157D,
    0x0031604, 0x0031EDD, 0x0032004, 0x00323FD, 0x0032405, 0x0032466, 0x00324E5, 0x0032526,
    0x003259D, 0x0032606, 0x0032645, 0x0032666, 0x0032725, 0x003279D, 0x0032815, 0x003283D,
    0x0032891, 0x00328C8, 0x0032A04, 0x0032DDD, 0x0032E04, 0x0032EBD, 0x0033004, 0x003359D,
    0x0033604, 0x003395D, 0x0033A08, 0x0033B4A, 0x0033B7D, 0x0033BD5, 0x0034004, 0x00342E5,
    0x0034326, 0x0034365, 0x003439D, 0x00343D1, 0x0034404, 0x0034AA6, 0x0034AC5, 0x0034AE6,
    0x0034B05, 0x0034BFD, 0x0034C05, 0x0034C26, 0x0034C45, 0x0034C66, 0x0034CA5, 0x0034DA6,
    0x0034E65, 0x0034FBD, 0x0034FE5, 0x0035008, 0x003515D, 0x0035208, 0x003535D, 0x0035411,
    0x00354E3, 0x0035511, 0x00355DD, 0x0035605, 0x00357C7, 0x00357E5, 0x00359FD, 0x0036005,
    0x0036086, 0x00360A4, 0x0036685, 0x00366A6, 0x00366C5, 0x0036766, 0x0036785, 0x00367A6,
    0x0036845, 0x0036866, 0x00368A4, 0x00369BD, 0x0036A08, 0x0036B51, 0x0036C35, 0x0036D65,
    0x0036E95, 0x0036FB1, 0x0036FFD, 0x0037005, 0x0037046, 0x0037064, 0x0037426, 0x0037445,
    0x00374C6, 0x0037505, 0x0037546, 0x0037565, 0x00375C4, 0x0037608, 0x0037744, 0x0037CC5,
    0x0037CE6, 0x0037D05, 0x0037D46, 0x0037DA5, 0x0037DC6, 0x0037DE5, 0x0037E46, 0x0037E9D,
    0x0037F91, 0x0038004, 0x0038486, 0x0038585, 0x0038686, 0x00386C5, 0x003871D, 0x0038771,
    0x0038808, 0x003895D, 0x00389A4, 0x0038A08, 0x0038B44, 0x0038F03, 0x0038FD1, 0x0039001,
    0x003913D, 0x0039200, 0x003977D, 0x00397A0, 0x0039811, 0x003991D, 0x0039A05, 0x0039A71,
    0x0039A85, 0x0039C26, 0x0039C45, 0x0039D24, 0x0039DA5, 0x0039DC4, 0x0039E85, 0x0039EA4,
    0x0039EE6, 0x0039F05, 0x0039F44, 0x0039F7D, 0x003A001, 0x003A583, 0x003AD61, 0x003AF03,
    0x003AF21, 0x003B363, 0x003B805, 0x003C000, 0x003C021, 0x003C040, 0x003C061, 0x003C080,
    0x003C0A1, 0x003C0C0, 0x003C0E1, 0x003C100, 0x003C121, 0x003C140, 0x003C161, 0x003C180,
    0x003C1A1, 0x003C1C0, 0x003C1E1, 0x003C200, 0x003C221, 0x003C240, 0x003C261, 0x003C280,
    0x003C2A1, 0x003C2C0, 0x003C2E1, 0x003C300, 0x003C321, 0x003C340, 0x003C361, 0x003C380,
    0x003C3A1, 0x003C3C0, 0x003C3E1, 0x003C400, 0x003C421, 0x003C440, 0x003C461, 0x003C480,
    0x003C4A1, 0x003C4C0, 0x003C4E1, 0x003C500, 0x003C521, 0x003C540, 0x003C561, 0x003C580,
    0x003C5A1, 0x003C5C0, 0x003C5E1, 0x003C600, 0x003C621, 0x003C640, 0x003C661, 0x003C680,
    0x003C6A1, 0x003C6C0, 0x003C6E1, 0x003C700, 0x003C721, 0x003C740, 0x003C761, 0x003C780,
    0x003C7A1, 0x003C7C0, 0x003C7E1, 0x003C800, 0x003C821, 0x003C840, 0x003C861, 0x003C880,
    0x003C8A1, 0x003C8C0, 0x003C8E1, 0x003C900, 0x003C921, 0x003C940, 0x003C961, 0x003C980,
    0x003C9A1, 0x003C9C0, 0x003C9E1, 0x003CA00, 0x003CA21, 0x003CA40, 0x003CA61, 0x003CA80,
    0x003CAA1, 0x003CAC0, 0x003CAE1, 0x003CB00, 0x003CB21, 0x003CB40, 0x003CB61, 0x003CB80,
    0x003CBA1, 0x003CBC0, 0x003CBE1, 0x003CC00, 0x003CC21, 0x003CC40, 0x003CC61, 0x003CC80,
    0x003CCA1, 0x003CCC0, 0x003CCE1, 0x003CD00, 0x003CD21, 0x003CD40, 0x003CD61, 0x003CD80,
    0x003CDA1, 0x003CDC0, 0x003CDE1, 0x003CE00, 0x003CE21, 0x003CE40, 0x003CE61, 0x003CE80,
    0x003CEA1, 0x003CEC0, 0x003CEE1, 0x003CF00, 0x003CF21, 0x003CF40, 0x003CF61, 0x003CF80,
    0x003CFA1, 0x003CFC0, 0x003CFE1, 0x003D000, 0x003D021, 0x003D040, 0x003D061, 0x003D080,
    0x003D0A1, 0x003D0C0, 0x003D0E1, 0x003D100, 0x003D121, 0x003D140, 0x003D161, 0x003D180,
    0x003D1A1, 0x003D1C0, 0x003D1E1, 0x003D200, 0x003D221, 0x003D240, 0x003D261, 0x003D280,
    0x003D2A1, 0x003D3C0, 0x003D3E1, 0x003D400, 0x003D421, 0x003D440, 0x003D461, 0x003D480,
    0x003D4A1, 0x003D4C0, 0x003D4E1, 0x003D500, 0x003D521, 0x003D540, 0x003D561, 0x003D580,
    0x003D5A1, 0x003D5C0, 0x003D5E1, 0x003D600, 0x003D621, 0x003D640, 0x003D661, 0x003D680,
    0x003D6A1, 0x003D6C0, 0x003D6E1, 0x003D700, 0x003D721, 0x003D740, 0x003D761, 0x003D780,
    0x003D7A1, 0x003D7C0, 0x003D7E1, 0x003D800, 0x003D821, 0x003D840, 0x003D861, 0x003D880,
    0x003D8A1, 0x003D8C0, 0x003D8E1, 0x003D900, 0x003D921, 0x003D940, 0x003D961, 0x003D980,
    0x003D9A1, 0x003D9C0, 0x003D9E1, 0x003DA00, 0x003DA21, 0x003DA40, 0x003DA61, 0x003DA80,
    0x003DAA1, 0x003DAC0, 0x003DAE1, 0x003DB00, 0x003DB21, 0x003DB40, 0x003DB61, 0x003DB80,
    0x003DBA1, 0x003DBC0, 0x003DBE1, 0x003DC00, 0x003DC21, 0x003DC40, 0x003DC61, 0x003DC80,
    0x003DCA1, 0x003DCC0, 0x003DCE1, 0x003DD00, 0x003DD21, 0x003DD40, 0x003DD61, 0x003DD80,
    0x003DDA1, 0x003DDC0, 0x003DDE1, 0x003DE00, 0x003DE21, 0x003DE40, 0x003DE61, 0x003DE80,
    0x003DEA1, 0x003DEC0, 0x003DEE1, 0x003DF00, 0x003DF21, 0x003DF40, 0x003DF61, 0x003DF80,
    0x003DFA1, 0x003DFC0, 0x003DFE1, 0x003E100, 0x003E201, 0x003E2DD, 0x003E300, 0x003E3DD,
    0x003E401, 0x003E500, 0x003E601, 0x003E700, 0x003E801, 0x003E8DD, 0x003E900, 0x003E9DD,
    0x003EA01, 0x003EB1D, 0x003EB20, 0x003EB5D, 0x003EB60, 0x003EB9D, 0x003EBA0, 0x003EBDD,
    0x003EBE0, 0x003EC01, 0x003ED00, 0x003EE01, 0x003EFDD, 0x003F001, 0x003F102, 0x003F201,
    0x003F302, 0x003F401, 0x003F502, 0x003F601, 0x003F6BD, 0x003F6C1, 0x003F700, 0x003F782,
    0x003F7B4, 0x003F7C1, 0x003F7F4, 0x003F841, 0x003F8BD, 0x003F8C1, 0x003F900, 0x003F982,
    0x003F9B4, 0x003FA01, 0x003FA9D, 0x003FAC1, 0x003FB00, 0x003FB9D, 0x003FBB4, 0x003FC01,
    0x003FD00, 0x003FDB4, 0x003FE1D, 0x003FE41, 0x003FEBD, 0x003FEC1, 0x003FF00, 0x003FF82,
    0x003FFB4, 0x003FFFD, 0x0040016, 0x004017A, 0x004020C, 0x00402D1, 0x004030F, 0x0040330,
    0x004034D, 0x004036F, 0x00403B0, 0x00403CD, 0x00403EF, 0x0040411, 0x0040517, 0x0040538,
    0x004055A, 0x00405F6, 0x0040611, 0x004072F, 0x0040750, 0x0040771, 0x00407EB, 0x0040831,
    0x0040892, 0x00408AD, 0x00408CE, 0x00408F1, 0x0040A52, 0x0040A71, 0x0040A8B, 0x0040AB1,
    0x0040BF6, 0x0040C1A, 0x0040CBD, 0x0040CDA, 0x0040E0A, 0x0040E23, 0x0040E5D, 0x0040E8A,
    0x0040F52, 0x0040FAD, 0x0040FCE, 0x0040FE3, 0x004100A, 0x0041152, 0x00411AD, 0x00411CE,
    0x00411FD, 0x0041203, 0x00413BD, 0x0041413, 0x004183D, 0x0041A05, 0x0041BA7, 0x0041C25,
    0x0041C47, 0x0041CA5, 0x0041E3D, 0x0042015, 0x0042040, 0x0042075, 0x00420E0, 0x0042115,
    0x0042141, 0x0042160, 0x00421C1, 0x0042200, 0x0042261, 0x0042295, 0x00422A0, 0x00422D5,
    0x0042312, 0x0042320, 0x00423D5, 0x0042480, 0x00424B5, 0x00424C0, 0x00424F5, 0x0042500,
    0x0042535, 0x0042540, 0x00425D5, 0x00425E1, 0x0042600, 0x0042681, 0x00426A4, 0x0042721,
    0x0042755, 0x0042781, 0x00427C0, 0x0042812, 0x00428A0, 0x00428C1, 0x0042955, 0x0042972,
    0x0042995, 0x00429C1, 0x00429F5, 0x0042A0A, 0x0042C09, 0x0043060, 0x0043081, 0x00430A9,
    0x004312A, 0x0043155, 0x004319D, 0x0043212, 0x00432B5, 0x0043352, 0x0043395, 0x0043412,
    0x0043435, 0x0043472, 0x0043495, 0x00434D2, 0x00434F5, 0x00435D2, 0x00435F5, 0x00439D2,
    0x0043A15, 0x0043A52, 0x0043A75, 0x0043A92, 0x0043AB5, 0x0043E92, 0x0046015, 0x004610D,
    0x004612E, 0x004614D, 0x004616E, 0x0046195, 0x0046412, 0x0046455, 0x004652D, 0x004654E,
    0x0046575, 0x0046F92, 0x0046FB5, 0x0047372, 0x0047695, 0x0047B92, 0x0047C55, 0x00484FD,
    0x0048815, 0x004897D, 0x0048C0A, 0x0049395, 0x0049D4A, 0x004A015, 0x004B6F2, 0x004B715,
    0x004B832, 0x004B855, 0x004BF12, 0x004C015, 0x004CDF2, 0x004CE15, 0x004ED0D, 0x004ED2E,
    0x004ED4D, 0x004ED6E, 0x004ED8D, 0x004EDAE, 0x004EDCD, 0x004EDEE, 0x004EE0D, 0x004EE2E,
    0x004EE4D, 0x004EE6E, 0x004EE8D, 0x004EEAE, 0x004EECA, 0x004F295, 0x004F812, 0x004F8AD,
    0x004F8CE, 0x004F8F2, 0x004FCCD, 0x004FCEE, 0x004FD0D, 0x004FD2E, 0x004FD4D, 0x004FD6E,
    0x004FD8D, 0x004FDAE, 0x004FDCD, 0x004FDEE, 0x004FE12, 0x0050015, 0x0052012, 0x005306D,
    0x005308E, 0x00530AD, 0x00530CE, 0x00530ED, 0x005310E, 0x005312D, 0x005314E, 0x005316D,
    0x005318E, 0x00531AD, 0x00531CE, 0x00531ED, 0x005320E, 0x005322D, 0x005324E, 0x005326D,
    0x005328E, 0x00532AD, 0x00532CE, 0x00532ED, 0x005330E, 0x0053332, 0x0053B0D, 0x0053B2E,
    0x0053B4D, 0x0053B6E, 0x0053B92, 0x0053F8D, 0x0053FAE, 0x0053FD2, 0x0056015, 0x0056612,
    0x00568B5, 0x00568F2, 0x00569B5, 0x0056E9D, 0x0056ED5, 0x00572DD, 0x00572F5, 0x0058000,
    0x0058601, 0x0058C00, 0x0058C21, 0x0058C40, 0x0058CA1, 0x0058CE0, 0x0058D01, 0x0058D20,
    0x0058D41, 0x0058D60, 0x0058D81, 0x0058DA0, 0x0058E21, 0x0058E40, 0x0058E61, 0x0058EA0,
    0x0058EC1, 0x0058F83, 0x0058FC0, 0x0059021, 0x0059040, 0x0059061, 0x0059080, 0x00590A1,
    0x00590C0, 0x00590E1, 0x0059100, 0x0059121, 0x0059140, 0x0059161, 0x0059180, 0x00591A1,
    0x00591C0, 0x00591E1, 0x0059200, 0x0059221, 0x0059240, 0x0059261, 0x0059280, 0x00592A1,
    0x00592C0, 0x00592E1, 0x0059300, 0x0059321, 0x0059340, 0x0059361, 0x0059380, 0x00593A1,
    0x00593C0, 0x00593E1, 0x0059400, 0x0059421, 0x0059440, 0x0059461, 0x0059480, 0x00594A1,
    0x00594C0, 0x00594E1, 0x0059500, 0x0059521, 0x0059540, 0x0059561, 0x0059580, 0x00595A1,
    0x00595C0, 0x00595E1, 0x0059600, 0x0059621, 0x0059640, 0x0059661, 0x0059680, 0x00596A1,
    0x00596C0, 0x00596E1, 0x0059700, 0x0059721, 0x0059740, 0x0059761, 0x0059780, 0x00597A1,
    0x00597C0, 0x00597E1, 0x0059800, 0x0059821, 0x0059840, 0x0059861, 0x0059880, 0x00598A1,
    0x00598C0, 0x00598E1, 0x0059900, 0x0059921, 0x0059940, 0x0059961, 0x0059980, 0x00599A1,
    0x00599C0, 0x00599E1, 0x0059A00, 0x0059A21, 0x0059A40, 0x0059A61, 0x0059A80, 0x0059AA1,
    0x0059AC0, 0x0059AE1, 0x0059B00, 0x0059B21, 0x0059B40, 0x0059B61, 0x0059B80, 0x0059BA1,
    0x0059BC0, 0x0059BE1, 0x0059C00, 0x0059C21, 0x0059C40, 0x0059C61, 0x0059CB5, 0x0059D60,
    0x0059D81, 0x0059DA0, 0x0059DC1, 0x0059DE5, 0x0059E40, 0x0059E61, 0x0059E9D, 0x0059F31,
    0x0059FAA, 0x0059FD1, 0x005A001, 0x005A4DD, 0x005A4E1, 0x005A51D, 0x005A5A1, 0x005A5DD,
    0x005A604, 0x005AD1D, 0x005ADE3, 0x005AE11, 0x005AE3D, 0x005AFE5, 0x005B004, 0x005B2FD,
    0x005B404, 0x005B4FD, 0x005B504, 0x005B5FD, 0x005B604, 0x005B6FD, 0x005B704, 0x005B7FD,
    0x005B804, 0x005B8FD, 0x005B904, 0x005B9FD, 0x005BA04, 0x005BAFD, 0x005BB04, 0x005BBFD,
    0x005BC05, 0x005C011, 0x005C04F, 0x005C070, 0x005C08F, 0x005C0B0, 0x005C0D1, 0x005C12F,
    0x005C150, 0x005C171, 0x005C18F, 0x005C1B0, 0x005C1D1, 0x005C2EC, 0x005C311, 0x005C34C,
    0x005C371, 0x005C38F, 0x005C3B0, 0x005C3D1, 0x005C40F, 0x005C430, 0x005C44D, 0x005C46E,
    0x005C48D, 0x005C4AE, 0x005C4CD, 0x005C4EE, 0x005C50D, 0x005C52E, 0x005C551, 0x005C5E3,
    0x005C611, 0x005C74C, 0x005C791, 0x005C80C, 0x005C831, 0x005C84D, 0x005C871, 0x005CA15,
    0x005CA51, 0x005CAAD, 0x005CACE, 0x005CAED, 0x005CB0E, 0x005CB2D, 0x005CB4E, 0x005CB6D,
    0x005CB8E, 0x005CBAC, 0x005CBDD, 0x005D015, 0x005D35D, 0x005D375, 0x005DE9D, 0x005E015,
    0x005FADD, 0x005FE15, 0x005FF9D, 0x0060016, 0x0060031, 0x0060095, 0x00600A3, 0x00600C4,
    0x00600E9, 0x006010D, 0x006012E, 0x006014D, 0x006016E, 0x006018D, 0x00601AE, 0x00601CD,
    0x00601EE, 0x006020D, 0x006022E, 0x0060255, 0x006028D, 0x00602AE, 0x00602CD, 0x00602EE,
    0x006030D, 0x006032E, 0x006034D, 0x006036E, 0x006038C, 0x00603AD, 0x00603CE, 0x0060415,
    0x0060429, 0x0060545, 0x00605C6, 0x006060C, 0x0060623, 0x00606D5, 0x0060709, 0x0060763,
    0x0060784, 0x00607B1, 0x00607D5, 0x006081D, 0x0060824, 0x00612FD, 0x0061325, 0x0061374,
    0x00613A3, 0x00613E4, 0x006140C, 0x0061424, 0x0061F71, 0x0061F83, 0x0061FE4, 0x006201D,
    0x00620A4, 0x006261D, 0x0062624, 0x00631FD, 0x0063215, 0x006324A, 0x00632D5, 0x0063404,
    0x0063815, 0x0063C9D, 0x0063E04, 0x0064015, 0x00643FD, 0x006440A, 0x0064555, 0x006490A,
    0x0064A15, 0x0064A2A, 0x0064C15, 0x006500A, 0x0065155, 0x006562A, 0x0065815, 0x0068004,
    0x009B815, 0x009C004, 0x01402A3, 0x01402C4, 0x01491BD, 0x0149215, 0x01498FD, 0x0149A04,
    0x0149F03, 0x0149FD1, 0x014A004, 0x014C183, 0x014C1B1, 0x014C204, 0x014C408, 0x014C544,
    0x014C59D, 0x014C800, 0x014C821, 0x014C840, 0x014C861, 0x014C880, 0x014C8A1, 0x014C8C0,
    0x014C8E1, 0x014C900, 0x014C921, 0x014C940, 0x014C961, 0x014C980, 0x014C9A1, 0x014C9C0,
    0x014C9E1, 0x014CA00, 0x014CA21, 0x014CA40, 0x014CA61, 0x014CA80, 0x014CAA1, 0x014CAC0,
    0x014CAE1, 0x014CB00, 0x014CB21, 0x014CB40, 0x014CB61, 0x014CB80, 0x014CBA1, 0x014CBC0,
    0x014CBE1, 0x014CC00, 0x014CC21, 0x014CC40, 0x014CC61, 0x014CC80, 0x014CCA1, 0x014CCC0,
    0x014CCE1, 0x014CD00, 0x014CD21, 0x014CD40, 0x014CD61, 0x014CD80, 0x014CDA1, 0x014CDC4,
    0x014CDE5, 0x014CE07, 0x014CE71, 0x014CE85, 0x014CFD1, 0x014CFE3, 0x014D000, 0x014D021,
    0x014D040, 0x014D061, 0x014D080, 0x014D0A1, 0x014D0C0, 0x014D0E1, 0x014D100, 0x014D121,
    0x014D140, 0x014D161, 0x014D180, 0x014D1A1, 0x014D1C0, 0x014D1E1, 0x014D200, 0x014D221,
    0x014D240, 0x014D261, 0x014D280, 0x014D2A1, 0x014D2C0, 0x014D2E1, 0x014D300, 0x014D321,
    0x014D340, 0x014D361, 0x014D383, 0x014D3C5, 0x014D404, 0x014DCC9, 0x014DE05, 0x014DE51,
    0x014DF1D, 0x014E014, 0x014E2E3, 0x014E414, 0x014E440, 0x014E461, 0x014E480, 0x014E4A1,
    0x014E4C0, 0x014E4E1, 0x014E500, 0x014E521, 0x014E540, 0x014E561, 0x014E580, 0x014E5A1,
    0x014E5C0, 0x014E5E1, 0x014E640, 0x014E661, 0x014E680, 0x014E6A1, 0x014E6C0, 0x014E6E1,
    0x014E700, 0x014E721, 0x014E740, 0x014E761, 0x014E780, 0x014E7A1, 0x014E7C0, 0x014E7E1,
    0x014E800, 0x014E821, 0x014E840, 0x014E861, 0x014E880, 0x014E8A1, 0x014E8C0, 0x014E8E1,
    0x014E900, 0x014E921, 0x014E940, 0x014E961, 0x014E980, 0x014E9A1, 0x014E9C0, 0x014E9E1,
    0x014EA00, 0x014EA21, 0x014EA40, 0x014EA61, 0x014EA80, 0x014EAA1, 0x014EAC0, 0x014EAE1,
    0x014EB00, 0x014EB21, 0x014EB40, 0x014EB61, 0x014EB80, 0x014EBA1, 0x014EBC0, 0x014EBE1,
    0x014EC00, 0x014EC21, 0x014EC40, 0x014EC61, 0x014EC80, 0x014ECA1, 0x014ECC0, 0x014ECE1,
    0x014ED00, 0x014ED21, 0x014ED40, 0x014ED61, 0x014ED80, 0x014EDA1, 0x014EDC0, 0x014EDE1,
    0x014EE03, 0x014EE21, 0x014EF20, 0x014EF41, 0x014EF60, 0x014EF81, 0x014EFA0, 0x014EFE1,
    0x014F000, 0x014F021, 0x014F040, 0x014F061, 0x014F080, 0x014F0A1, 0x014F0C0, 0x014F0E1,
    0x014F103, 0x014F134, 0x014F160, 0x014F181, 0x014F1A0, 0x014F1C1, 0x014F1E4, 0x014F200,
    0x014F221, 0x014F240, 0x014F261, 0x014F2C0, 0x014F2E1, 0x014F300, 0x014F321, 0x014F340,
    0x014F361, 0x014F380, 0x014F3A1, 0x014F3C0, 0x014F3E1, 0x014F400, 0x014F421, 0x014F440,
    0x014F461, 0x014F480, 0x014F4A1, 0x014F4C0, 0x014F4E1, 0x014F500, 0x014F521, 0x014F540,
    0x014F5E1, 0x014F600, 0x014F6A1, 0x014F6C0, 0x014F6E1, 0x014F700, 0x014F721, 0x014F740,
    0x014F761, 0x014F780, 0x014F7A1, 0x014F7C0, 0x014F7E1, 0x014F800, 0x014F821, 0x014F840,
    0x014F861, 0x014F880, 0x014F901, 0x014F920, 0x014F941, 0x014F97D, 0x014FA00, 0x014FA21,
    0x014FA5D, 0x014FA61, 0x014FA9D, 0x014FAA1, 0x014FAC0, 0x014FAE1, 0x014FB00, 0x014FB21,
    0x014FB5D, 0x014FE43, 0x014FEA0, 0x014FEC1, 0x014FEE4, 0x014FF03, 0x014FF41, 0x014FF64,
    0x0150045, 0x0150064, 0x01500C5, 0x01500E4, 0x0150165, 0x0150184, 0x0150466, 0x01504A5,
    0x01504E6, 0x0150515, 0x0150585, 0x01505BD, 0x015060A, 0x01506D5, 0x0150713, 0x0150735,
    0x015075D, 0x0150804, 0x0150E91, 0x0150F1D, 0x0151006, 0x0151044, 0x0151686, 0x0151885,
    0x01518DD, 0x01519D1, 0x0151A08, 0x0151B5D, 0x0151C05, 0x0151E44, 0x0151F11, 0x0151F64,
    0x0151F91, 0x0151FA4, 0x0151FE5, 0x0152008, 0x0152144, 0x01524C5, 0x01525D1, 0x0152604,
    0x01528E5, 0x0152A46, 0x0152A9D, 0x0152BF1, 0x0152C04, 0x0152FBD, 0x0153005, 0x0153066,
    0x0153084, 0x0153665, 0x0153686, 0x01536C5, 0x0153746, 0x0153785, 0x01537C6, 0x0153831,
    0x01539DD, 0x01539E3, 0x0153A08, 0x0153B5D, 0x0153BD1, 0x0153C04, 0x0153CA5, 0x0153CC3,
    0x0153CE4, 0x0153E08, 0x0153F44, 0x0153FFD, 0x0154004, 0x0154525, 0x01545E6, 0x0154625,
    0x0154666, 0x01546A5, 0x01546FD, 0x0154804, 0x0154865, 0x0154884, 0x0154985, 0x01549A6,
    0x01549DD, 0x0154A08, 0x0154B5D, 0x0154B91, 0x0154C04, 0x0154E03, 0x0154E24, 0x0154EF5,
    0x0154F44, 0x0154F66, 0x0154F85, 0x0154FA6, 0x0154FC4, 0x0155605, 0x0155624, 0x0155645,
    0x01556A4, 0x01556E5, 0x0155724, 0x01557C5, 0x0155804, 0x0155825, 0x0155844, 0x015587D,
    0x0155B64, 0x0155BA3, 0x0155BD1, 0x0155C04, 0x0155D66, 0x0155D85, 0x0155DC6, 0x0155E11,
    0x0155E44, 0x0155E63, 0x0155EA6, 0x0155EC5, 0x0155EFD, 0x0156024, 0x01560FD, 0x0156124,
    0x01561FD, 0x0156224, 0x01562FD, 0x0156404, 0x01564FD, 0x0156504, 0x01565FD, 0x0156601,
    0x0156B74, 0x0156B83, 0x0156C01, 0x0156D23, 0x0156D54, 0x0156D9D, 0x0156E01, 0x0157804,
    0x0157C66, 0x0157CA5, 0x0157CC6, 0x0157D05, 0x0157D26, 0x0157D71, 0x0157D86, 0x0157DA5,
    0x0157DDD, 0x0157E08, 0x0157F5D, 0x0158004, 0x01AF49D, 0x01AF604, 0x01AF8FD, 0x01AF964,
    0x01AFF9D, 0x01B001B, 0x01C001C, 0x01F2004, 0x01F4DDD, 0x01F4E04, 0x01F5B5D, 0x01F6001,
    0x01F60FD, 0x01F6261, 0x01F631D, 0x01F63A4, 0x01F63C5, 0x01F63E4, 0x01F6532, 0x01F6544,
    0x01F66FD, 0x01F6704, 0x01F67BD, 0x01F67C4, 0x01F67FD, 0x01F6804, 0x01F685D, 0x01F6864,
    0x01F68BD, 0x01F68C4, 0x01F7654, 0x01F787D, 0x01F7A64, 0x01FA7CE, 0x01FA7ED, 0x01FA815,
    0x01FAA04, 0x01FB21D, 0x01FB244, 0x01FB91D, 0x01FB9F5, 0x01FBA1D, 0x01FBE04, 0x01FBF93,
    0x01FBFB5, 0x01FC005, 0x01FC211, 0x01FC2ED, 0x01FC30E, 0x01FC331, 0x01FC35D, 0x01FC405,
    0x01FC611, 0x01FC62C, 0x01FC66B, 0x01FC6AD, 0x01FC6CE, 0x01FC6ED, 0x01FC70E, 0x01FC72D,
    0x01FC74E, 0x01FC76D, 0x01FC78E, 0x01FC7AD, 0x01FC7CE, 0x01FC7ED, 0x01FC80E, 0x01FC82D,
    0x01FC84E, 0x01FC86D, 0x01FC88E, 0x01FC8B1, 0x01FC8ED, 0x01FC90E, 0x01FC931, 0x01FC9AB,
    0x01FCA11, 0x01FCA7D, 0x01FCA91, 0x01FCB0C, 0x01FCB2D, 0x01FCB4E, 0x01FCB6D, 0x01FCB8E,
    0x01FCBAD, 0x01FCBCE, 0x01FCBF1, 0x01FCC52, 0x01FCC6C, 0x01FCC92, 0x01FCCFD, 0x01FCD11,
    0x01FCD33, 0x01FCD51, 0x01FCD9D, 0x01FCE04, 0x01FCEBD, 0x01FCEC4, 0x01FDFBD, 0x01FDFFA,
    0x01FE01D, 0x01FE031, 0x01FE093, 0x01FE0B1, 0x01FE10D, 0x01FE12E, 0x01FE151, 0x01FE172,
    0x01FE191, 0x01FE1AC, 0x01FE1D1, 0x01FE208, 0x01FE351, 0x01FE392, 0x01FE3F1, 0x01FE420,
    0x01FE76D, 0x01FE791, 0x01FE7AE, 0x01FE7D4, 0x01FE7EB, 0x01FE814, 0x01FE821, 0x01FEB6D,
    0x01FEB92, 0x01FEBAE, 0x01FEBD2, 0x01FEBED, 0x01FEC0E, 0x01FEC31, 0x01FEC4D, 0x01FEC6E,
    0x01FEC91, 0x01FECC4, 0x01FEE03, 0x01FEE24, 0x01FF3C3, 0x01FF404, 0x01FF7FD, 0x01FF844,
    0x01FF91D, 0x01FF944, 0x01FFA1D, 0x01FFA44, 0x01FFB1D, 0x01FFB44, 0x01FFBBD, 0x01FFC13,
    0x01FFC52, 0x01FFC74, 0x01FFC95, 0x01FFCB3, 0x01FFCFD, 0x01FFD15, 0x01FFD32, 0x01FFDB5,
    0x01FFDFD, 0x01FFF3A, 0x01FFF95, 0x01FFFDD, 0x0200004, 0x020019D, 0x02001A4, 0x02004FD,
    0x0200504, 0x020077D, 0x0200784, 0x02007DD, 0x02007E4, 0x02009DD, 0x0200A04, 0x0200BDD,
    0x0201004, 0x0201F7D, 0x0202011, 0x020207D, 0x02020EA, 0x020269D, 0x02026F5, 0x0202809,
    0x0202EAA, 0x0202F35, 0x020314A, 0x0203195, 0x02031FD, 0x0203215, 0x02033BD, 0x0203415,
    0x020343D, 0x0203A15, 0x0203FA5, 0x0203FDD, 0x0205004, 0x02053BD, 0x0205404, 0x0205A3D,
    0x0205C05, 0x0205C2A, 0x0205F9D, 0x0206004, 0x020640A, 0x020649D, 0x02065A4, 0x0206829,
    0x0206844, 0x0206949, 0x020697D, 0x0206A04, 0x0206EC5, 0x0206F7D, 0x0207004, 0x02073DD,
    0x02073F1, 0x0207404, 0x020789D, 0x0207904, 0x0207A11, 0x0207A29, 0x0207ADD, 0x0208000,
    0x0208501, 0x0208A04, 0x02093DD, 0x0209408, 0x020955D, 0x0209600, 0x0209A9D, 0x0209B01,
    0x0209F9D, 0x020A004, 0x020A51D, 0x020A604, 0x020AC9D, 0x020ADF1, 0x020AE00, 0x020AF7D,
    0x020AF80, 0x020B17D, 0x020B180, 0x020B27D, 0x020B280, 0x020B2DD, 0x020B2E1, 0x020B45D,
    0x020B461, 0x020B65D, 0x020B661, 0x020B75D, 0x020B761, 0x020B7BD, 0x020C004, 0x020E6FD,
    0x020E804, 0x020EADD, 0x020EC04, 0x020ED1D, 0x020F003, 0x020F0DD, 0x020F0E3, 0x020F63D,
    0x020F643, 0x020F77D, 0x0210004, 0x02100DD, 0x0210104, 0x021013D, 0x0210144, 0x02106DD,
    0x02106E4, 0x021073D, 0x0210784, 0x02107BD, 0x02107E4, 0x0210ADD, 0x0210AF1, 0x0210B0A,
    0x0210C04, 0x0210EF5, 0x0210F2A, 0x0211004, 0x02113FD, 0x02114EA, 0x021161D, 0x0211C04,
    0x0211E7D, 0x0211E84, 0x0211EDD, 0x0211F6A, 0x0212004, 0x02122CA, 0x021239D, 0x02123F1,
    0x0212404, 0x021275D, 0x02127F1, 0x021281D, 0x0213004, 0x021371D, 0x021378A, 0x02137C4,
    0x021380A, 0x0213A1D, 0x0213A4A, 0x0214004, 0x0214025, 0x021409D, 0x02140A5, 0x02140FD,
    0x0214185, 0x0214204, 0x021429D, 0x02142A4, 0x021431D, 0x0214324, 0x02146DD, 0x0214705,
    0x021477D, 0x02147E5, 0x021480A, 0x021493D, 0x0214A11, 0x0214B3D, 0x0214C04, 0x0214FAA,
    0x0214FF1, 0x0215004, 0x02153AA, 0x021541D, 0x0215804, 0x0215915, 0x0215924, 0x0215CA5,
    0x0215CFD, 0x0215D6A, 0x0215E11, 0x0215EFD, 0x0216004, 0x02166DD, 0x0216731, 0x0216804,
    0x0216ADD, 0x0216B0A, 0x0216C04, 0x0216E7D, 0x0216F0A, 0x0217004, 0x021725D, 0x0217331,
    0x02173BD, 0x021752A, 0x021761D, 0x0218004, 0x021893D, 0x0219000, 0x021967D, 0x0219801,
    0x0219E7D, 0x0219F4A, 0x021A004, 0x021A485, 0x021A51D, 0x021A608, 0x021A75D, 0x021CC0A,
    0x021CFFD, 0x021D004, 0x021D55D, 0x021D565, 0x021D5AC, 0x021D5DD, 0x021D604, 0x021D65D,
    0x021DFA5, 0x021E004, 0x021E3AA, 0x021E4E4, 0x021E51D, 0x021E604, 0x021E8C5, 0x021EA2A,
    0x021EAB1, 0x021EB5D, 0x021EE04, 0x021F045, 0x021F0D1, 0x021F15D, 0x021F604, 0x021F8AA,
    0x021F99D, 0x021FC04, 0x021FEFD, 0x0220006, 0x0220025, 0x0220046, 0x0220064, 0x0220705,
    0x02208F1, 0x02209DD, 0x0220A4A, 0x0220CC8, 0x0220E05, 0x0220E24, 0x0220E65, 0x0220EA4,
    0x0220EDD, 0x0220FE5, 0x0221046, 0x0221064, 0x0221606, 0x0221665, 0x02216E6, 0x0221725,
    0x0221771, 0x02217BA, 0x02217D1, 0x0221845, 0x022187D, 0x02219BA, 0x02219DD, 0x0221A04,
    0x0221D3D, 0x0221E08, 0x0221F5D, 0x0222005, 0x0222064, 0x02224E5, 0x0222586, 0x02225A5,
    0x02226BD, 0x02226C8, 0x0222811, 0x0222884, 0x02228A6, 0x02228E4, 0x022291D, 0x0222A04,
    0x0222E65, 0x0222E91, 0x0222EC4, 0x0222EFD, 0x0223005, 0x0223046, 0x0223064, 0x0223666,
    0x02236C5, 0x02237E6, 0x0223824, 0x02238B1, 0x0223925, 0x02239B1, 0x02239C6, 0x02239E5,
    0x0223A08, 0x0223B44, 0x0223B71, 0x0223B84, 0x0223BB1, 0x0223C1D, 0x0223C2A, 0x0223EBD,
    0x0224004, 0x022425D, 0x0224264, 0x0224586, 0x02245E5, 0x0224646, 0x0224685, 0x02246A6,
    0x02246C5, 0x0224711, 0x02247C5, 0x02247E4, 0x0224825, 0x022485D, 0x0225004, 0x02250FD,
    0x0225104, 0x022513D, 0x0225144, 0x02251DD, 0x02251E4, 0x02253DD, 0x02253E4, 0x0225531,
    0x022555D, 0x0225604, 0x0225BE5, 0x0225C06, 0x0225C65, 0x0225D7D, 0x0225E08, 0x0225F5D,
    0x0226005, 0x0226046, 0x022609D, 0x02260A4, 0x02261BD, 0x02261E4, 0x022623D, 0x0226264,
    0x022653D, 0x0226544, 0x022663D, 0x0226644, 0x022669D, 0x02266A4, 0x022675D, 0x0226765,
    0x02267A4, 0x02267C6, 0x0226805, 0x0226826, 0x02268BD, 0x02268E6, 0x022693D, 0x0226966,
    0x02269DD, 0x0226A04, 0x0226A3D, 0x0226AE6, 0x0226B1D, 0x0226BA4, 0x0226C46, 0x0226C9D,
    0x0226CC5, 0x0226DBD, 0x0226E05, 0x0226EBD, 0x0228004, 0x02286A6, 0x0228705, 0x0228806,
    0x0228845, 0x02288A6, 0x02288C5, 0x02288E4, 0x0228971, 0x0228A08, 0x0228B51, 0x0228B9D,
    0x0228BB1, 0x0228BC5, 0x0228BE4, 0x0228C5D, 0x0229004, 0x0229606, 0x0229665, 0x0229726,
    0x0229745, 0x0229766, 0x02297E5, 0x0229826, 0x0229845, 0x0229884, 0x02298D1, 0x02298E4,
    0x022991D, 0x0229A08, 0x0229B5D, 0x022B004, 0x022B5E6, 0x022B645, 0x022B6DD, 0x022B706,
    0x022B785, 0x022B7C6, 0x022B7E5, 0x022B831, 0x022BB04, 0x022BB85, 0x022BBDD, 0x022C004,
    0x022C606, 0x022C665, 0x022C766, 0x022C7A5, 0x022C7C6, 0x022C7E5, 0x022C831, 0x022C884,
    0x022C8BD, 0x022CA08, 0x022CB5D, 0x022CC11, 0x022CDBD, 0x022D004, 0x022D565, 0x022D586,
    0x022D5A5, 0x022D5C6, 0x022D605, 0x022D6C6, 0x022D6E5, 0x022D704, 0x022D731, 0x022D75D,
    0x022D808, 0x022D95D, 0x022E004, 0x022E37D, 0x022E3A5, 0x022E406, 0x022E445, 0x022E4C6,
    0x022E4E5, 0x022E59D, 0x022E608, 0x022E74A, 0x022E791, 0x022E7F5, 0x022E804, 0x022E8FD,
    0x0230004, 0x0230586, 0x02305E5, 0x0230706, 0x0230725, 0x0230771, 0x023079D, 0x0231400,
    0x0231801, 0x0231C08, 0x0231D4A, 0x0231E7D, 0x0231FE4, 0x02320FD, 0x0232124, 0x023215D,
    0x0232184, 0x023229D, 0x02322A4, 0x02322FD, 0x0232304, 0x0232606, 0x02326DD, 0x02326E6,
    0x023273D, 0x0232765, 0x02327A6, 0x02327C5, 0x02327E4, 0x0232806, 0x0232824, 0x0232846,
    0x0232865, 0x0232891, 0x02328FD, 0x0232A08, 0x0232B5D, 0x0233404, 0x023351D, 0x0233544,
    0x0233A26, 0x0233A85, 0x0233B1D, 0x0233B45, 0x0233B86, 0x0233C05, 0x0233C24, 0x0233C51,
    0x0233C64, 0x0233C86, 0x0233CBD, 0x0234004, 0x0234025, 0x0234164, 0x0234665, 0x0234726,
    0x0234744, 0x0234765, 0x02347F1, 0x02348E5, 0x023491D, 0x0234A04, 0x0234A25, 0x0234AE6,
    0x0234B25, 0x0234B84, 0x0235145, 0x02352E6, 0x0235305, 0x0235351, 0x02353A4, 0x02353D1,
    0x023547D, 0x0235604, 0x0235F3D, 0x0236011, 0x023615D, 0x0238004, 0x023813D, 0x0238144,
    0x02385E6, 0x0238605, 0x02386FD, 0x0238705, 0x02387C6, 0x02387E5, 0x0238804, 0x0238831,
    0x02388DD, 0x0238A08, 0x0238B4A, 0x0238DBD, 0x0238E11, 0x0238E44, 0x023921D, 0x0239245,
    0x023951D, 0x0239526, 0x0239545, 0x0239626, 0x0239645, 0x0239686, 0x02396A5, 0x02396FD,
    0x023A004, 0x023A0FD, 0x023A104, 0x023A15D, 0x023A164, 0x023A625, 0x023A6FD, 0x023A745,
    0x023A77D, 0x023A785, 0x023A7DD, 0x023A7E5, 0x023A8C4, 0x023A8E5, 0x023A91D, 0x023AA08,
    0x023AB5D, 0x023AC04, 0x023ACDD, 0x023ACE4, 0x023AD3D, 0x023AD44, 0x023B146, 0x023B1FD,
    0x023B205, 0x023B25D, 0x023B266, 0x023B2A5, 0x023B2C6, 0x023B2E5, 0x023B304, 0x023B33D,
    0x023B408, 0x023B55D, 0x023DC04, 0x023DE65, 0x023DEA6, 0x023DEF1, 0x023DF3D, 0x023E005,
    0x023E044, 0x023E066, 0x023E084, 0x023E23D, 0x023E244, 0x023E686, 0x023E6C5, 0x023E77D,
    0x023E7C6, 0x023E805, 0x023E826, 0x023E845, 0x023E871, 0x023EA08, 0x023EB5D, 0x023F604,
    0x023F63D, 0x023F80A, 0x023FAB5, 0x023FBB3, 0x023FC35, 0x023FE5D, 0x023FFF1, 0x0240004,
    0x024735D, 0x0248009, 0x0248DFD, 0x0248E11, 0x0248EBD, 0x0249004, 0x024A89D, 0x025F204,
    0x025FE31, 0x025FE7D, 0x0260004, 0x026861A, 0x0268805, 0x0268824, 0x02688E5, 0x0268ADD,
    0x0288004, 0x028C8FD, 0x02D0004, 0x02D473D, 0x02D4804, 0x02D4BFD, 0x02D4C08, 0x02D4D5D,
    0x02D4DD1, 0x02D4E04, 0x02D57FD, 0x02D5808, 0x02D595D, 0x02D5A04, 0x02D5DDD, 0x02D5E05,
    0x02D5EB1, 0x02D5EDD, 0x02D6004, 0x02D6605, 0x02D66F1, 0x02D6795, 0x02D6803, 0x02D6891,
    0x02D68B5, 0x02D68DD, 0x02D6A08, 0x02D6B5D, 0x02D6B6A, 0x02D6C5D, 0x02D6C64, 0x02D6F1D,
    0x02D6FA4, 0x02D721D, 0x02DC800, 0x02DCC01, 0x02DD00A, 0x02DD2F1, 0x02DD37D, 0x02DE004,
    0x02DE97D, 0x02DE9E5, 0x02DEA04, 0x02DEA26, 0x02DF11D, 0x02DF1E5, 0x02DF263, 0x02DF41D,
    0x02DFC03, 0x02DFC51, 0x02DFC63, 0x02DFC85, 0x02DFCBD, 0x02DFE06, 0x02DFE5D, 0x02E0004,
    0x030FF1D, 0x0310004, 0x0319ADD, 0x031A004, 0x031A13D, 0x035FE03, 0x035FE9D, 0x035FEA3,
    0x035FF9D, 0x035FFA3, 0x035FFFD, 0x0360004, 0x036247D, 0x0362644, 0x036267D, 0x0362A04,
    0x0362A7D, 0x0362AA4, 0x0362ADD, 0x0362C84, 0x0362D1D, 0x0362E04, 0x0365F9D, 0x0378004,
    0x0378D7D, 0x0378E04, 0x0378FBD, 0x0379004, 0x037913D, 0x0379204, 0x037935D, 0x0379395,
    0x03793A5, 0x03793F1, 0x037941A, 0x037949D, 0x039E005, 0x039E5DD, 0x039E605, 0x039E8FD,
    0x039EA15, 0x039F89D, 0x03A0015, 0x03A1EDD, 0x03A2015, 0x03A24FD, 0x03A2535, 0x03A2CA6,
    0x03A2CE5, 0x03A2D55, 0x03A2DA6, 0x03A2E7A, 0x03A2F65, 0x03A3075, 0x03A30A5, 0x03A3195,
    0x03A3545, 0x03A35D5, 0x03A3D7D, 0x03A4015, 0x03A4845, 0x03A48B5, 0x03A48DD, 0x03A580A,
    0x03A5A9D, 0x03A5C0A, 0x03A5E9D, 0x03A6015, 0x03A6AFD, 0x03A6C0A, 0x03A6F3D, 0x03A8000,
    0x03A8341, 0x03A8680, 0x03A89C1, 0x03A8ABD, 0x03A8AC1, 0x03A8D00, 0x03A9041, 0x03A9380,
    0x03A93BD, 0x03A93C0, 0x03A941D, 0x03A9440, 0x03A947D, 0x03A94A0, 0x03A94FD, 0x03A9520,
    0x03A95BD, 0x03A95C0, 0x03A96C1, 0x03A975D, 0x03A9761, 0x03A979D, 0x03A97A1, 0x03A989D,
    0x03A98A1, 0x03A9A00, 0x03A9D41, 0x03AA080, 0x03AA0DD, 0x03AA0E0, 0x03AA17D, 0x03AA1A0,
    0x03AA2BD, 0x03AA2C0, 0x03AA3BD, 0x03AA3C1, 0x03AA700, 0x03AA75D, 0x03AA760, 0x03AA7FD,
    0x03AA800, 0x03AA8BD, 0x03AA8C0, 0x03AA8FD, 0x03AA940, 0x03AAA3D, 0x03AAA41, 0x03AAD80,
    0x03AB0C1, 0x03AB400, 0x03AB741, 0x03ABA80, 0x03ABDC1, 0x03AC100, 0x03AC441, 0x03AC780,
    0x03ACAC1, 0x03ACE00, 0x03AD141, 0x03AD4DD, 0x03AD500, 0x03AD832, 0x03AD841, 0x03ADB72,
    0x03ADB81, 0x03ADC40, 0x03ADF72, 0x03ADF81, 0x03AE2B2, 0x03AE2C1, 0x03AE380, 0x03AE6B2,
    0x03AE6C1, 0x03AE9F2, 0x03AEA01, 0x03AEAC0, 0x03AEDF2, 0x03AEE01, 0x03AF132, 0x03AF141,
    0x03AF200, 0x03AF532, 0x03AF541, 0x03AF872, 0x03AF881, 0x03AF940, 0x03AF961, 0x03AF99D,
    0x03AF9C8, 0x03B0015, 0x03B4005, 0x03B46F5, 0x03B4765, 0x03B4DB5, 0x03B4EA5, 0x03B4ED5,
    0x03B5085, 0x03B50B5, 0x03B50F1, 0x03B519D, 0x03B5365, 0x03B541D, 0x03B5425, 0x03B561D,
    0x03BE001, 0x03BE144, 0x03BE161, 0x03BE3FD, 0x03BE4A1, 0x03BE57D, 0x03C0005, 0x03C00FD,
    0x03C0105, 0x03C033D, 0x03C0365, 0x03C045D, 0x03C0465, 0x03C04BD, 0x03C04C5, 0x03C057D,
    0x03C0603, 0x03C0DDD, 0x03C11E5, 0x03C121D, 0x03C2004, 0x03C25BD, 0x03C2605, 0x03C26E3,
    0x03C27DD, 0x03C2808, 0x03C295D, 0x03C29C4, 0x03C29F5, 0x03C2A1D, 0x03C5204, 0x03C55C5,
    0x03C55FD, 0x03C5804, 0x03C5D85, 0x03C5E08, 0x03C5F5D, 0x03C5FF3, 0x03C601D, 0x03C9A04,
    0x03C9D63, 0x03C9D85, 0x03C9E08, 0x03C9F5D, 0x03CFC04, 0x03CFCFD, 0x03CFD04, 0x03CFD9D,
    0x03CFDA4, 0x03CFDFD, 0x03CFE04, 0x03CFFFD, 0x03D0004, 0x03D18BD, 0x03D18EA, 0x03D1A05,
    0x03D1AFD, 0x03D2000, 0x03D2441, 0x03D2885, 0x03D2963, 0x03D299D, 0x03D2A08, 0x03D2B5D,
    0x03D2BD1, 0x03D2C1D, 0x03D8E2A, 0x03D9595, 0x03D95AA, 0x03D9613, 0x03D962A, 0x03D96BD,
    0x03DA02A, 0x03DA5D5, 0x03DA5EA, 0x03DA7DD, 0x03DC004, 0x03DC09D, 0x03DC0A4, 0x03DC41D,
    0x03DC424, 0x03DC47D, 0x03DC484, 0x03DC4BD, 0x03DC4E4, 0x03DC51D, 0x03DC524, 0x03DC67D,
    0x03DC684, 0x03DC71D, 0x03DC724, 0x03DC75D, 0x03DC764, 0x03DC79D, 0x03DC844, 0x03DC87D,
    0x03DC8E4, 0x03DC91D, 0x03DC924, 0x03DC95D, 0x03DC964, 0x03DC99D, 0x03DC9A4, 0x03DCA1D,
    0x03DCA24, 0x03DCA7D, 0x03DCA84, 0x03DCABD, 0x03DCAE4, 0x03DCB1D, 0x03DCB24, 0x03DCB5D,
    0x03DCB64, 0x03DCB9D, 0x03DCBA4, 0x03DCBDD, 0x03DCBE4, 0x03DCC1D, 0x03DCC24, 0x03DCC7D,
    0x03DCC84, 0x03DCCBD, 0x03DCCE4, 0x03DCD7D, 0x03DCD84, 0x03DCE7D, 0x03DCE84, 0x03DCF1D,
    0x03DCF24, 0x03DCFBD, 0x03DCFC4, 0x03DCFFD, 0x03DD004, 0x03DD15D, 0x03DD164, 0x03DD39D,
    0x03DD424, 0x03DD49D, 0x03DD4A4, 0x03DD55D, 0x03DD564, 0x03DD79D, 0x03DDE12, 0x03DDE5D,
    0x03E0015, 0x03E059D, 0x03E0615, 0x03E129D, 0x03E1415, 0x03E15FD, 0x03E1635, 0x03E181D,
    0x03E1835, 0x03E1A1D, 0x03E1A35, 0x03E1EDD, 0x03E200A, 0x03E21B5, 0x03E35DD, 0x03E3CD5,
    0x03E407D, 0x03E4215, 0x03E479D, 0x03E4815, 0x03E493D, 0x03E4A15, 0x03E4A5D, 0x03E4C15,
    0x03E4CDD, 0x03E6015, 0x03E7F74, 0x03E8015, 0x03EDB1D, 0x03EDB95, 0x03EDDBD, 0x03EDE15,
    0x03EDFBD, 0x03EE015, 0x03EEEFD, 0x03EEF75, 0x03EFB5D, 0x03EFC15, 0x03EFD9D, 0x03EFE15,
    0x03EFE3D, 0x03F0015, 0x03F019D, 0x03F0215, 0x03F091D, 0x03F0A15, 0x03F0B5D, 0x03F0C15,
    0x03F111D, 0x03F1215, 0x03F15DD, 0x03F1615, 0x03F165D, 0x03F2015, 0x03F4A9D, 0x03F4C15,
    0x03F4DDD, 0x03F4E15, 0x03F4FBD, 0x03F5015, 0x03F513D, 0x03F5215, 0x03F57DD, 0x03F57F5,
    0x03F58DD, 0x03F59D5, 0x03F5B9D, 0x03F5C15, 0x03F5D3D, 0x03F5E15, 0x03F5F3D, 0x03F6015,
    0x03F727D, 0x03F7295, 0x03F797D, 0x03F7E08, 0x03F7F5D, 0x0400004, 0x054DC1D, 0x054E004,
    0x056E75D, 0x056E804, 0x05703DD, 0x0570404, 0x059D45D, 0x059D604, 0x05D7C3D, 0x05F0004,
    0x05F43DD, 0x0600004, 0x062697D, 0x0626A04, 0x064761D, 0x1C0003A, 0x1C0005D, 0x1C0041A,
    0x1C0101D, 0x1C02005, 0x1C03E1D, 0x1E0001C, 0x1FFFFDD, 0x200001C, 0x21FFFDD,
};
static const struct { const char *name; uint32_t mask; } tk_gc_names[76] = {
    {"c", 0x3E000000},
    {"other", 0x3E000000},
    {"cc", 0x02000000},
    {"control", 0x02000000},
    {"cf", 0x04000000},
    {"format", 0x04000000},
    {"cn", 0x20000000},
    {"unassigned", 0x20000000},
    {"co", 0x10000000},
    {"privateuse", 0x10000000},
    {"cs", 0x08000000},
    {"surrogate", 0x08000000},
    {"l", 0x0000001F},
    {"letter", 0x0000001F},
    {"lc", 0x00000007},
    {"casedletter", 0x00000007},
    {"ll", 0x00000002},
    {"lowercaseletter", 0x00000002},
    {"lm", 0x00000008},
    {"modifierletter", 0x00000008},
    {"lo", 0x00000010},
    {"otherletter", 0x00000010},
    {"lt", 0x00000004},
    {"titlecaseletter", 0x00000004},
    {"lu", 0x00000001},
    {"uppercaseletter", 0x00000001},
    {"m", 0x000000E0},
    {"mark", 0x000000E0},
    {"mc", 0x00000040},
    {"spacingmark", 0x00000040},
    {"me", 0x00000080},
    {"enclosingmark", 0x00000080},
    {"mn", 0x00000020},
    {"nonspacingmark", 0x00000020},
    {"n", 0x00000700},
    {"number", 0x00000700},
    {"nd", 0x00000100},
    {"decimalnumber", 0x00000100},
    {"nl", 0x00000200},
    {"letternumber", 0x00000200},
    {"no", 0x00000400},
    {"othernumber", 0x00000400},
    {"p", 0x0003F800},
    {"punctuation", 0x0003F800},
    {"pc", 0x00000800},
    {"connectorpunctuation", 0x00000800},
    {"pd", 0x00001000},
    {"dashpunctuation", 0x00001000},
    {"pe", 0x00004000},
    {"closepunctuation", 0x00004000},
    {"pf", 0x00010000},
    {"finalpunctuation", 0x00010000},
    {"pi", 0x00008000},
    {"initialpunctuation", 0x00008000},
    {"po", 0x00020000},
    {"otherpunctuation", 0x00020000},
    {"ps", 0x00002000},
    {"openpunctuation", 0x00002000},
    {"s", 0x003C0000},
    {"symbol", 0x003C0000},
    {"sc", 0x00080000},
    {"currencysymbol", 0x00080000},
    {"sk", 0x00100000},
    {"modifiersymbol", 0x00100000},
    {"sm", 0x00040000},
    {"mathsymbol", 0x00040000},
    {"so", 0x00200000},
    {"othersymbol", 0x00200000},
    {"z", 0x01C00000},
    {"separator", 0x01C00000},
    {"zl", 0x00800000},
    {"lineseparator", 0x00800000},
    {"zp", 0x01000000},
    {"paragraphseparator", 0x01000000},
    {"zs", 0x00400000},
    {"spaceseparator", 0x00400000},
};
static const uint32_t tk_space_ranges[20] = {
    0x00009, 0x0000D, 0x00020, 0x00020, 0x00085, 0x00085, 0x000A0, 0x000A0, 0x01680, 0x01680, 0x02000, 0x0200A,
    0x02028, 0x02029, 0x0202F, 0x0202F, 0x0205F, 0x0205F, 0x03000, 0x03000,
};
static const uint32_t tk_word_ranges[1544] = {
    0x00030, 0x00039, 0x00041, 0x0005A, 0x0005F, 0x0005F, 0x00061, 0x0007A, 0x000AA, 0x000AA, 0x000B2, 0x000B3,
    0x000B5, 0x000B5, 0x000B9, 0x000BA, 0x000BC, 0x000BE, 0x000C0, 0x000D6, 0x000D8, 0x000F6, 0x000F8, 0x002C1,
    0x002C6, 0x002D1, 0x002E0, 0x002E4, 0x002EC, 0x002EC, 0x002EE, 0x002EE, 0x00300, 0x00374, 0x00376, 0x00377,
    0x0037A, 0x0037D, 0x0037F, 0x0037F, 0x00386, 0x00386, 0x00388, 0x0038A, 0x0038C, 0x0038C, 0x0038E, 0x003A1,
    0x003A3, 0x003F5, 0x003F7, 0x00481, 0x00483, 0x0052F, 0x00531, 0x00556, 0x00559, 0x00559, 0x00560, 0x00588,
    0x00591, 0x005BD, 0x005BF, 0x005BF, 0x005C1, 0x005C2, 0x005C4, 0x005C5, 0x005C7, 0x005C7, 0x005D0, 0x005EA,
    0x005EF, 0x005F2, 0x00610, 0x0061A, 0x00620, 0x00669, 0x0066E, 0x006D3, 0x006D5, 0x006DC, 0x006DF, 0x006E8,
    0x006EA, 0x006FC, 0x006FF, 0x006FF, 0x00710, 0x0074A, 0x0074D, 0x007B1, 0x007C0, 0x007F5, 0x007FA, 0x007FA,
    0x007FD, 0x007FD, 0x00800, 0x0082D, 0x00840, 0x0085B, 0x00860, 0x0086A, 0x00870, 0x00887, 0x00889, 0x0088E,
    0x00898, 0x008E1, 0x008E3, 0x00963, 0x00966, 0x0096F, 0x00971, 0x00983, 0x00985, 0x0098C, 0x0098F, 0x00990,
    0x00993, 0x009A8, 0x009AA, 0x009B0, 0x009B2, 0x009B2, 0x009B6, 0x009B9, 0x009BC, 0x009C4, 0x009C7, 0x009C8,
    0x009CB, 0x009CE, 0x009D7, 0x009D7, 0x009DC, 0x009DD, 0x009DF, 0x009E3, 0x009E6, 0x009F1, 0x009FC, 0x009FC,
    0x009FE, 0x009FE, 0x00A01, 0x00A03, 0x00A05, 0x00A0A, 0x00A0F, 0x00A10, 0x00A13, 0x00A28, 0x00A2A, 0x00A30,
    0x00A32, 0x00A33, 0x00A35, 0x00A36, 0x00A38, 0x00A39, 0x00A3C, 0x00A3C, 0x00A3E, 0x00A42, 0x00A47, 0x00A48,
    0x00A4B, 0x00A4D, 0x00A51, 0x00A51, 0x00A59, 0x00A5C, 0x00A5E, 0x00A5E, 0x00A66, 0x00A75, 0x00A81, 0x00A83,
    0x00A85, 0x00A8D, 0x00A8F, 0x00A91, 0x00A93, 0x00AA8, 0x00AAA, 0x00AB0, 0x00AB2, 0x00AB3, 0x00AB5, 0x00AB9,
    0x00ABC, 0x00AC5, 0x00AC7, 0x00AC9, 0x00ACB, 0x00ACD, 0x00AD0, 0x00AD0, 0x00AE0, 0x00AE3, 0x00AE6, 0x00AEF,
    0x00AF9, 0x00AFF, 0x00B01, 0x00B03, 0x00B05, 0x00B0C, 0x00B0F, 0x00B10, 0x00B13, 0x00B28, 0x00B2A, 0x00B30,
    0x00B32, 0x00B33, 0x00B35, 0x00B39, 0x00B3C, 0x00B44, 0x00B47, 0x00B48, 0x00B4B, 0x00B4D, 0x00B55, 0x00B57,
    0x00B5C, 0x00B5D, 0x00B5F, 0x00B63, 0x00B66, 0x00B6F, 0x00B71, 0x00B71, 0x00B82, 0x00B83, 0x00B85, 0x00B8A,
    0x00B8E, 0x00B90, 0x00B92, 0x00B95, 0x00B99, 0x00B9A, 0x00B9C, 0x00B9C, 0x00B9E, 0x00B9F, 0x00BA3, 0x00BA4,
    0x00BA8, 0x00BAA, 0x00BAE, 0x00BB9, 0x00BBE, 0x00BC2, 0x00BC6, 0x00BC8, 0x00BCA, 0x00BCD, 0x00BD0, 0x00BD0,
    0x00BD7, 0x00BD7, 0x00BE6, 0x00BEF, 0x00C00, 0x00C0C, 0x00C0E, 0x00C10, 0x00C12, 0x00C28, 0x00C2A, 0x00C39,
    0x00C3C, 0x00C44, 0x00C46, 0x00C48, 0x00C4A, 0x00C4D, 0x00C55, 0x00C56, 0x00C58, 0x00C5A, 0x00C5D, 0x00C5D,
    0x00C60, 0x00C63, 0x00C66, 0x00C6F, 0x00C80, 0x00C83, 0x00C85, 0x00C8C, 0x00C8E, 0x00C90, 0x00C92, 0x00CA8,
    0x00CAA, 0x00CB3, 0x00CB5, 0x00CB9, 0x00CBC, 0x00CC4, 0x00CC6, 0x00CC8, 0x00CCA, 0x00CCD, 0x00CD5, 0x00CD6,
    0x00CDD, 0x00CDE, 0x00CE0, 0x00CE3, 0x00CE6, 0x00CEF, 0x00CF1, 0x00CF3, 0x00D00, 0x00D0C, 0x00D0E, 0x00D10,
    0x00D12, 0x00D44, 0x00D46, 0x00D48, 0x00D4A, 0x00D4E, 0x00D54, 0x00D57, 0x00D5F, 0x00D63, 0x00D66, 0x00D6F,
    0x00D7A, 0x00D7F, 0x00D81, 0x00D83, 0x00D85, 0x00D96, 0x00D9A, 0x00DB1, 0x00DB3, 0x00DBB, 0x00DBD, 0x00DBD,
    0x00DC0, 0x00DC6, 0x00DCA, 0x00DCA, 0x00DCF, 0x00DD4, 0x00DD6, 0x00DD6, 0x00DD8, 0x00DDF, 0x00DE6, 0x00DEF,
    0x00DF2, 0x00DF3, 0x00E01, 0x00E3A, 0x00E40, 0x00E4E, 0x00E50, 0x00E59, 0x00E81, 0x00E82, 0x00E84, 0x00E84,
    0x00E86, 0x00E8A, 0x00E8C, 0x00EA3, 0x00EA5, 0x00EA5, 0x00EA7, 0x00EBD, 0x00EC0, 0x00EC4, 0x00EC6, 0x00EC6,
    0x00EC8, 0x00ECE, 0x00ED0, 0x00ED9, 0x00EDC, 0x00EDF, 0x00F00, 0x00F00, 0x00F18, 0x00F19, 0x00F20, 0x00F29,
    0x00F35, 0x00F35, 0x00F37, 0x00F37, 0x00F39, 0x00F39, 0x00F3E, 0x00F47, 0x00F49, 0x00F6C, 0x00F71, 0x00F84,
    0x00F86, 0x00F97, 0x00F99, 0x00FBC, 0x00FC6, 0x00FC6, 0x01000, 0x01049, 0x01050, 0x0109D, 0x010A0, 0x010C5,
    0x010C7, 0x010C7, 0x010CD, 0x010CD, 0x010D0, 0x010FA, 0x010FC, 0x01248, 0x0124A, 0x0124D, 0x01250, 0x01256,
    0x01258, 0x01258, 0x0125A, 0x0125D, 0x01260, 0x01288, 0x0128A, 0x0128D, 0x01290, 0x012B0, 0x012B2, 0x012B5,
    0x012B8, 0x012BE, 0x012C0, 0x012C0, 0x012C2, 0x012C5, 0x012C8, 0x012D6, 0x012D8, 0x01310, 0x01312, 0x01315,
    0x01318, 0x0135A, 0x0135D, 0x0135F, 0x01380, 0x0138F, 0x013A0, 0x013F5, 0x013F8, 0x013FD, 0x01401, 0x0166C,
    0x0166F, 0x0167F, 0x01681, 0x0169A, 0x016A0, 0x016EA, 0x016EE, 0x016F8, 0x01700, 0x01715, 0x0171F, 0x01734,
    0x01740, 0x01753, 0x01760, 0x0176C, 0x0176E, 0x01770, 0x01772, 0x01773, 0x01780, 0x017D3, 0x017D7, 0x017D7,
    0x017DC, 0x017DD, 0x017E0, 0x017E9, 0x0180B, 0x0180D, 0x0180F, 0x01819, 0x01820, 0x01878, 0x01880, 0x018AA,
    0x018B0, 0x018F5, 0x01900, 0x0191E, 0x01920, 0x0192B, 0x01930, 0x0193B, 0x01946, 0x0196D, 0x01970, 0x01974,
    0x01980, 0x019AB, 0x019B0, 0x019C9, 0x019D0, 0x019D9, 0x01A00, 0x01A1B, 0x01A20, 0x01A5E, 0x01A60, 0x01A7C,
    0x01A7F, 0x01A89, 0x01A90, 0x01A99, 0x01AA7, 0x01AA7, 0x01AB0, 0x01ACE, 0x01B00, 0x01B4C, 0x01B50, 0x01B59,
    0x01B6B, 0x01B73, 0x01B80, 0x01BF3, 0x01C00, 0x01C37, 0x01C40, 0x01C49, 0x01C4D, 0x01C7D, 0x01C80, 0x01C88,
    0x01C90, 0x01CBA, 0x01CBD, 0x01CBF, 0x01CD0, 0x01CD2, 0x01CD4, 0x01CFA, 0x01D00, 0x01F15, 0x01F18, 0x01F1D,
    0x01F20, 0x01F45, 0x01F48, 0x01F4D, 0x01F50, 0x01F57, 0x01F59, 0x01F59, 0x01F5B, 0x01F5B, 0x01F5D, 0x01F5D,
    0x01F5F, 0x01F7D, 0x01F80, 0x01FB4, 0x01FB6, 0x01FBC, 0x01FBE, 0x01FBE, 0x01FC2, 0x01FC4, 0x01FC6, 0x01FCC,
    0x01FD0, 0x01FD3, 0x01FD6, 0x01FDB, 0x01FE0, 0x01FEC, 0x01FF2, 0x01FF4, 0x01FF6, 0x01FFC, 0x0203F, 0x02040,
    0x02054, 0x02054, 0x02071, 0x02071, 0x0207F, 0x0207F, 0x02090, 0x0209C, 0x020D0, 0x020F0, 0x02102, 0x02102,
    0x02107, 0x02107, 0x0210A, 0x02113, 0x02115, 0x02115, 0x02119, 0x0211D, 0x02124, 0x02124, 0x02126, 0x02126,
    0x02128, 0x02128, 0x0212A, 0x0212D, 0x0212F, 0x02139, 0x0213C, 0x0213F, 0x02145, 0x02149, 0x0214E, 0x0214E,
    0x02160, 0x02188, 0x024B6, 0x024E9, 0x02C00, 0x02CE4, 0x02CEB, 0x02CF3, 0x02D00, 0x02D25, 0x02D27, 0x02D27,
    0x02D2D, 0x02D2D, 0x02D30, 0x02D67, 0x02D6F, 0x02D6F, 0x02D7F, 0x02D96, 0x02DA0, 0x02DA6, 0x02DA8, 0x02DAE,
    0x02DB0, 0x02DB6, 0x02DB8, 0x02DBE, 0x02DC0, 0x02DC6, 0x02DC8, 0x02DCE, 0x02DD0, 0x02DD6, 0x02DD8, 0x02DDE,
    0x02DE0, 0x02DFF, 0x02E2F, 0x02E2F, 0x03005, 0x03007, 0x03021, 0x0302F, 0x03031, 0x03035, 0x03038, 0x0303C,
    0x03041, 0x03096, 0x03099, 0x0309A, 0x0309D, 0x0309F, 0x030A1, 0x030FA, 0x030FC, 0x030FF, 0x03105, 0x0312F,
    0x03131, 0x0318E, 0x031A0, 0x031BF, 0x031F0, 0x031FF, 0x03400, 0x04DBF, 0x04E00, 0x0A48C, 0x0A4D0, 0x0A4FD,
    0x0A500, 0x0A60C, 0x0A610, 0x0A62B, 0x0A640, 0x0A672, 0x0A674, 0x0A67D, 0x0A67F, 0x0A6F1, 0x0A717, 0x0A71F,
    0x0A722, 0x0A788, 0x0A78B, 0x0A7CA, 0x0A7D0, 0x0A7D1, 0x0A7D3, 0x0A7D3, 0x0A7D5, 0x0A7D9, 0x0A7F2, 0x0A827,
    0x0A82C, 0x0A82C, 0x0A840, 0x0A873, 0x0A880, 0x0A8C5, 0x0A8D0, 0x0A8D9, 0x0A8E0, 0x0A8F7, 0x0A8FB, 0x0A8FB,
    0x0A8FD, 0x0A92D, 0x0A930, 0x0A953, 0x0A960, 0x0A97C, 0x0A980, 0x0A9C0, 0x0A9CF, 0x0A9D9, 0x0A9E0, 0x0A9FE,
    0x0AA00, 0x0AA36, 0x0AA40, 0x0AA4D, 0x0AA50, 0x0AA59, 0x0AA60, 0x0AA76, 0x0AA7A, 0x0AAC2, 0x0AADB, 0x0AADD,
    0x0AAE0, 0x0AAEF, 0x0AAF2, 0x0AAF6, 0x0AB01, 0x0AB06, 0x0AB09, 0x0AB0E, 0x0AB11, 0x0AB16, 0x0AB20, 0x0AB26,
    0x0AB28, 0x0AB2E, 0x0AB30, 0x0AB5A, 0x0AB5C, 0x0AB69, 0x0AB70, 0x0ABEA, 0x0ABEC, 0x0ABED, 0x0ABF0, 0x0ABF9,
    0x0AC00, 0x0D7A3, 0x0D7B0, 0x0D7C6, 0x0D7CB, 0x0D7FB, 0x0F900, 0x0FA6D, 0x0FA70, 0x0FAD9, 0x0FB00, 0x0FB06,
    0x0FB13, 0x0FB17, 0x0FB1D, 0x0FB28, 0x0FB2A, 0x0FB36, 0x0FB38, 0x0FB3C, 0x0FB3E, 0x0FB3E, 0x0FB40, 0x0FB41,
    0x0FB43, 0x0FB44, 0x0FB46, 0x0FBB1, 0x0FBD3, 0x0FD3D, 0x0FD50, 0x0FD8F, 0x0FD92, 0x0FDC7, 0x0FDF0, 0x0FDFB,
    0x0FE00, 0x0FE0F, 0x0FE20, 0x0FE2F, 0x0FE33, 0x0FE34, 0x0FE4D, 0x0FE4F, 0x0FE70, 0x0FE74, 0x0FE76, 0x0FEFC,
    0x0FF10, 0x0FF19, 0x0FF21, 0x0FF3A, 0x0FF3F, 0x0FF3F, 0x0FF41, 0x0FF5A, 0x0FF66, 0x0FFBE, 0x0FFC2, 0x0FFC7,
    0x0FFCA, 0x0FFCF, 0x0FFD2, 0x0FFD7, 0x0FFDA, 0x0FFDC, 0x10000, 0x1000B, 0x1000D, 0x10026, 0x10028, 0x1003A,
    0x1003C, 0x1003D, 0x1003F, 0x1004D, 0x10050, 0x1005D, 0x10080, 0x100FA, 0x10140, 0x10174, 0x101FD, 0x101FD,
    0x10280, 0x1029C, 0x102A0, 0x102D0, 0x102E0, 0x102E0, 0x10300, 0x1031F, 0x1032D, 0x1034A, 0x10350, 0x1037A,
    0x10380, 0x1039D, 0x103A0, 0x103C3, 0x103C8, 0x103CF, 0x103D1, 0x103D5, 0x10400, 0x1049D, 0x104A0, 0x104A9,
    0x104B0, 0x104D3, 0x104D8, 0x104FB, 0x10500, 0x10527, 0x10530, 0x10563, 0x10570, 0x1057A, 0x1057C, 0x1058A,
    0x1058C, 0x10592, 0x10594, 0x10595, 0x10597, 0x105A1, 0x105A3, 0x105B1, 0x105B3, 0x105B9, 0x105BB, 0x105BC,
    0x10600, 0x10736, 0x10740, 0x10755, 0x10760, 0x10767, 0x10780, 0x10785, 0x10787, 0x107B0, 0x107B2, 0x107BA,
    0x10800, 0x10805, 0x10808, 0x10808, 0x1080A, 0x10835, 0x10837, 0x10838, 0x1083C, 0x1083C, 0x1083F, 0x10855,
    0x10860, 0x10876, 0x10880, 0x1089E, 0x108E0, 0x108F2, 0x108F4, 0x108F5, 0x10900, 0x10915, 0x10920, 0x10939,
    0x10980, 0x109B7, 0x109BE, 0x109BF, 0x10A00, 0x10A03, 0x10A05, 0x10A06, 0x10A0C, 0x10A13, 0x10A15, 0x10A17,
    0x10A19, 0x10A35, 0x10A38, 0x10A3A, 0x10A3F, 0x10A3F, 0x10A60, 0x10A7C, 0x10A80, 0x10A9C, 0x10AC0, 0x10AC7,
    0x10AC9, 0x10AE6, 0x10B00, 0x10B35, 0x10B40, 0x10B55, 0x10B60, 0x10B72, 0x10B80, 0x10B91, 0x10C00, 0x10C48,
    0x10C80, 0x10CB2, 0x10CC0, 0x10CF2, 0x10D00, 0x10D27, 0x10D30, 0x10D39, 0x10E80, 0x10EA9, 0x10EAB, 0x10EAC,
    0x10EB0, 0x10EB1, 0x10EFD, 0x10F1C, 0x10F27, 0x10F27, 0x10F30, 0x10F50, 0x10F70, 0x10F85, 0x10FB0, 0x10FC4,
    0x10FE0, 0x10FF6, 0x11000, 0x11046, 0x11066, 0x11075, 0x1107F, 0x110BA, 0x110C2, 0x110C2, 0x110D0, 0x110E8,
    0x110F0, 0x110F9, 0x11100, 0x11134, 0x11136, 0x1113F, 0x11144, 0x11147, 0x11150, 0x11173, 0x11176, 0x11176,
    0x11180, 0x111C4, 0x111C9, 0x111CC, 0x111CE, 0x111DA, 0x111DC, 0x111DC, 0x11200, 0x11211, 0x11213, 0x11237,
    0x1123E, 0x11241, 0x11280, 0x11286, 0x11288, 0x11288, 0x1128A, 0x1128D, 0x1128F, 0x1129D, 0x1129F, 0x112A8,
    0x112B0, 0x112EA, 0x112F0, 0x112F9, 0x11300, 0x11303, 0x11305, 0x1130C, 0x1130F, 0x11310, 0x11313, 0x11328,
    0x1132A, 0x11330, 0x11332, 0x11333, 0x11335, 0x11339, 0x1133B, 0x11344, 0x11347, 0x11348, 0x1134B, 0x1134D,
    0x11350, 0x11350, 0x11357, 0x11357, 0x1135D, 0x11363, 0x11366, 0x1136C, 0x11370, 0x11374, 0x11400, 0x1144A,
    0x11450, 0x11459, 0x1145E, 0x11461, 0x11480, 0x114C5, 0x114C7, 0x114C7, 0x114D0, 0x114D9, 0x11580, 0x115B5,
    0x115B8, 0x115C0, 0x115D8, 0x115DD, 0x11600, 0x11640, 0x11644, 0x11644, 0x11650, 0x11659, 0x11680, 0x116B8,
    0x116C0, 0x116C9, 0x11700, 0x1171A, 0x1171D, 0x1172B, 0x11730, 0x11739, 0x11740, 0x11746, 0x11800, 0x1183A,
    0x118A0, 0x118E9, 0x118FF, 0x11906, 0x11909, 0x11909, 0x1190C, 0x11913, 0x11915, 0x11916, 0x11918, 0x11935,
    0x11937, 0x11938, 0x1193B, 0x11943, 0x11950, 0x11959, 0x119A0, 0x119A7, 0x119AA, 0x119D7, 0x119DA, 0x119E1,
    0x119E3, 0x119E4, 0x11A00, 0x11A3E, 0x11A47, 0x11A47, 0x11A50, 0x11A99, 0x11A9D, 0x11A9D, 0x11AB0, 0x11AF8,
    0x11C00, 0x11C08, 0x11C0A, 0x11C36, 0x11C38, 0x11C40, 0x11C50, 0x11C59, 0x11C72, 0x11C8F, 0x11C92, 0x11CA7,
    0x11CA9, 0x11CB6, 0x11D00, 0x11D06, 0x11D08, 0x11D09, 0x11D0B, 0x11D36, 0x11D3A, 0x11D3A, 0x11D3C, 0x11D3D,
    0x11D3F, 0x11D47, 0x11D50, 0x11D59, 0x11D60, 0x11D65, 0x11D67, 0x11D68, 0x11D6A, 0x11D8E, 0x11D90, 0x11D91,
    0x11D93, 0x11D98, 0x11DA0, 0x11DA9, 0x11EE0, 0x11EF6, 0x11F00, 0x11F10, 0x11F12, 0x11F3A, 0x11F3E, 0x11F42,
    0x11F50, 0x11F59, 0x11FB0, 0x11FB0, 0x12000, 0x12399, 0x12400, 0x1246E, 0x12480, 0x12543, 0x12F90, 0x12FF0,
    0x13000, 0x1342F, 0x13440, 0x13455, 0x14400, 0x14646, 0x16800, 0x16A38, 0x16A40, 0x16A5E, 0x16A60, 0x16A69,
    0x16A70, 0x16ABE, 0x16AC0, 0x16AC9, 0x16AD0, 0x16AED, 0x16AF0, 0x16AF4, 0x16B00, 0x16B36, 0x16B40, 0x16B43,
    0x16B50, 0x16B59, 0x16B63, 0x16B77, 0x16B7D, 0x16B8F, 0x16E40, 0x16E7F, 0x16F00, 0x16F4A, 0x16F4F, 0x16F87,
    0x16F8F, 0x16F9F, 0x16FE0, 0x16FE1, 0x16FE3, 0x16FE4, 0x16FF0, 0x16FF1, 0x17000, 0x187F7, 0x18800, 0x18CD5,
    0x18D00, 0x18D08, 0x1AFF0, 0x1AFF3, 0x1AFF5, 0x1AFFB, 0x1AFFD, 0x1AFFE, 0x1B000, 0x1B122, 0x1B132, 0x1B132,
    0x1B150, 0x1B152, 0x1B155, 0x1B155, 0x1B164, 0x1B167, 0x1B170, 0x1B2FB, 0x1BC00, 0x1BC6A, 0x1BC70, 0x1BC7C,
    0x1BC80, 0x1BC88, 0x1BC90, 0x1BC99, 0x1BC9D, 0x1BC9E, 0x1CF00, 0x1CF2D, 0x1CF30, 0x1CF46, 0x1D165, 0x1D169,
    0x1D16D, 0x1D172, 0x1D17B, 0x1D182, 0x1D185, 0x1D18B, 0x1D1AA, 0x1D1AD, 0x1D242, 0x1D244, 0x1D400, 0x1D454,
    0x1D456, 0x1D49C, 0x1D49E, 0x1D49F, 0x1D4A2, 0x1D4A2, 0x1D4A5, 0x1D4A6, 0x1D4A9, 0x1D4AC, 0x1D4AE, 0x1D4B9,
    0x1D4BB, 0x1D4BB, 0x1D4BD, 0x1D4C3, 0x1D4C5, 0x1D505, 0x1D507, 0x1D50A, 0x1D50D, 0x1D514, 0x1D516, 0x1D51C,
    0x1D51E, 0x1D539, 0x1D53B, 0x1D53E, 0x1D540, 0x1D544, 0x1D546, 0x1D546, 0x1D54A, 0x1D550, 0x1D552, 0x1D6A5,
    0x1D6A8, 0x1D6C0, 0x1D6C2, 0x1D6DA, 0x1D6DC, 0x1D6FA, 0x1D6FC, 0x1D714, 0x1D716, 0x1D734, 0x1D736, 0x1D74E,
    0x1D750, 0x1D76E, 0x1D770, 0x1D788, 0x1D78A, 0x1D7A8, 0x1D7AA, 0x1D7C2, 0x1D7C4, 0x1D7CB, 0x1D7CE, 0x1D7FF,
    0x1DA00, 0x1DA36, 0x1DA3B, 0x1DA6C, 0x1DA75, 0x1DA75, 0x1DA84, 0x1DA84, 0x1DA9B, 0x1DA9F, 0x1DAA1, 0x1DAAF,
    0x1DF00, 0x1DF1E, 0x1DF25, 0x1DF2A, 0x1E000, 0x1E006, 0x1E008, 0x1E018, 0x1E01B, 0x1E021, 0x1E023, 0x1E024,
    0x1E026, 0x1E02A, 0x1E030, 0x1E06D, 0x1E08F, 0x1E08F, 0x1E100, 0x1E12C, 0x1E130, 0x1E13D, 0x1E140, 0x1E149,
    0x1E14E, 0x1E14E, 0x1E290, 0x1E2AE, 0x1E2C0, 0x1E2F9, 0x1E4D0, 0x1E4F9, 0x1E7E0, 0x1E7E6, 0x1E7E8, 0x1E7EB,
    0x1E7ED, 0x1E7EE, 0x1E7F0, 0x1E7FE, 0x1E800, 0x1E8C4, 0x1E8D0, 0x1E8D6, 0x1E900, 0x1E94B, 0x1E950, 0x1E959,
    0x1EE00, 0x1EE03, 0x1EE05, 0x1EE1F, 0x1EE21, 0x1EE22, 0x1EE24, 0x1EE24, 0x1EE27, 0x1EE27, 0x1EE29, 0x1EE32,
    0x1EE34, 0x1EE37, 0x1EE39, 0x1EE39, 0x1EE3B, 0x1EE3B, 0x1EE42, 0x1EE42, 0x1EE47, 0x1EE47, 0x1EE49, 0x1EE49,
    0x1EE4B, 0x1EE4B, 0x1EE4D, 0x1EE4F, 0x1EE51, 0x1EE52, 0x1EE54, 0x1EE54, 0x1EE57, 0x1EE57, 0x1EE59, 0x1EE59,
    0x1EE5B, 0x1EE5B, 0x1EE5D, 0x1EE5D, 0x1EE5F, 0x1EE5F, 0x1EE61, 0x1EE62, 0x1EE64, 0x1EE64, 0x1EE67, 0x1EE6A,
    0x1EE6C, 0x1EE72, 0x1EE74, 0x1EE77, 0x1EE79, 0x1EE7C, 0x1EE7E, 0x1EE7E, 0x1EE80, 0x1EE89, 0x1EE8B, 0x1EE9B,
    0x1EEA1, 0x1EEA3, 0x1EEA5, 0x1EEA9, 0x1EEAB, 0x1EEBB, 0x1F130, 0x1F149, 0x1F150, 0x1F169, 0x1F170, 0x1F189,
    0x1FBF0, 0x1FBF9, 0x20000, 0x2A6DF, 0x2A700, 0x2B739, 0x2B740, 0x2B81D, 0x2B820, 0x2CEA1, 0x2CEB0, 0x2EBE0,
    0x2F800, 0x2FA1D, 0x30000, 0x3134A, 0x31350, 0x323AF, 0xE0100, 0xE01EF,
};
static const uint32_t tk_ccc_runs[581] = {
    0x0000000, 0x00300E6, 0x00315E8, 0x00316DC, 0x0031AE8, 0x0031BD8, 0x0031CDC, 0x00321CA,
    0x00323DC, 0x00327CA, 0x00329DC, 0x0033401, 0x00339DC, 0x0033DE6, 0x00345F0, 0x00346E6,
    0x00347DC, 0x0034AE6, 0x0034DDC, 0x0034F00, 0x00350E6, 0x00353DC, 0x00357E6, 0x00358E8,
    0x00359DC, 0x0035BE6, 0x0035CE9, 0x0035DEA, 0x0035FE9, 0x00360EA, 0x00362E9, 0x00363E6,
    0x0037000, 0x00483E6, 0x0048800, 0x00591DC, 0x00592E6, 0x00596DC, 0x00597E6, 0x0059ADE,
    0x0059BDC, 0x0059CE6, 0x005A2DC, 0x005A8E6, 0x005AADC, 0x005ABE6, 0x005ADDE, 0x005AEE4,
    0x005AFE6, 0x005B00A, 0x005B10B, 0x005B20C, 0x005B30D, 0x005B40E, 0x005B50F, 0x005B610,
    0x005B711, 0x005B812, 0x005B913, 0x005BB14, 0x005BC15, 0x005BD16, 0x005BE00, 0x005BF17,
    0x005C000, 0x005C118, 0x005C219, 0x005C300, 0x005C4E6, 0x005C5DC, 0x005C600, 0x005C712,
    0x005C800, 0x00610E6, 0x006181E, 0x006191F, 0x0061A20, 0x0061B00, 0x0064B1B, 0x0064C1C,
    0x0064D1D, 0x0064E1E, 0x0064F1F, 0x0065020, 0x0065121, 0x0065222, 0x00653E6, 0x00655DC,
    0x00657E6, 0x0065CDC, 0x0065DE6, 0x0065FDC, 0x0066000, 0x0067023, 0x0067100, 0x006D6E6,
    0x006DD00, 0x006DFE6, 0x006E3DC, 0x006E4E6, 0x006E500, 0x006E7E6, 0x006E900, 0x006EADC,
    0x006EBE6, 0x006EDDC, 0x006EE00, 0x0071124, 0x0071200, 0x00730E6, 0x00731DC, 0x00732E6,
    0x00734DC, 0x00735E6, 0x00737DC, 0x0073AE6, 0x0073BDC, 0x0073DE6, 0x0073EDC, 0x0073FE6,
    0x00742DC, 0x00743E6, 0x00744DC, 0x00745E6, 0x00746DC, 0x00747E6, 0x00748DC, 0x00749E6,
    0x0074B00, 0x007EBE6, 0x007F2DC, 0x007F3E6, 0x007F400, 0x007FDDC, 0x007FE00, 0x00816E6,
    0x0081A00, 0x0081BE6, 0x0082400, 0x00825E6, 0x0082800, 0x00829E6, 0x0082E00, 0x00859DC,
    0x0085C00, 0x00898E6, 0x00899DC, 0x0089CE6, 0x008A000, 0x008CAE6, 0x008CFDC, 0x008D4E6,
    0x008E200, 0x008E3DC, 0x008E4E6, 0x008E6DC, 0x008E7E6, 0x008E9DC, 0x008EAE6, 0x008EDDC,
    0x008F01B, 0x008F11C, 0x008F21D, 0x008F3E6, 0x008F6DC, 0x008F7E6, 0x008F9DC, 0x008FBE6,
    0x0090000, 0x0093C07, 0x0093D00, 0x0094D09, 0x0094E00, 0x00951E6, 0x00952DC, 0x00953E6,
    0x0095500, 0x009BC07, 0x009BD00, 0x009CD09, 0x009CE00, 0x009FEE6, 0x009FF00, 0x00A3C07,
    0x00A3D00, 0x00A4D09, 0x00A4E00, 0x00ABC07, 0x00ABD00, 0x00ACD09, 0x00ACE00, 0x00B3C07,
    0x00B3D00, 0x00B4D09, 0x00B4E00, 0x00BCD09, 0x00BCE00, 0x00C3C07, 0x00C3D00, 0x00C4D09,
    0x00C4E00, 0x00C5554, 0x00C565B, 0x00C5700, 0x00CBC07, 0x00CBD00, 0x00CCD09, 0x00CCE00,
    0x00D3B09, 0x00D3D00, 0x00D4D09, 0x00D4E00, 0x00DCA09, 0x00DCB00, 0x00E3867, 0x00E3A09,
    0x00E3B00, 0x00E486B, 0x00E4C00, 0x00EB876, 0x00EBA09, 0x00EBB00, 0x00EC87A, 0x00ECC00,
    0x00F18DC, 0x00F1A00, 0x00F35DC, 0x00F3600, 0x00F37DC, 0x00F3800, 0x00F39D8, 0x00F3A00,
    0x00F7181, 0x00F7282, 0x00F7300, 0x00F7484, 0x00F7500, 0x00F7A82, 0x00F7E00, 0x00F8082,
    0x00F8100, 0x00F82E6, 0x00F8409, 0x00F8500, 0x00F86E6, 0x00F8800, 0x00FC6DC, 0x00FC700,
    0x0103707, 0x0103800, 0x0103909, 0x0103B00, 0x0108DDC, 0x0108E00, 0x0135DE6, 0x0136000,
    0x0171409, 0x0171600, 0x0173409, 0x0173500, 0x017D209, 0x017D300, 0x017DDE6, 0x017DE00,
    0x018A9E4, 0x018AA00, 0x01939DE, 0x0193AE6, 0x0193BDC, 0x0193C00, 0x01A17E6, 0x01A18DC,
    0x01A1900, 0x01A6009, 0x01A6100, 0x01A75E6, 0x01A7D00, 0x01A7FDC, 0x01A8000, 0x01AB0E6,
    0x01AB5DC, 0x01ABBE6, 0x01ABDDC, 0x01ABE00, 0x01ABFDC, 0x01AC1E6, 0x01AC3DC, 0x01AC5E6,
    0x01ACADC, 0x01ACBE6, 0x01ACF00, 0x01B3407, 0x01B3500, 0x01B4409, 0x01B4500, 0x01B6BE6,
    0x01B6CDC, 0x01B6DE6, 0x01B7400, 0x01BAA09, 0x01BAC00, 0x01BE607, 0x01BE700, 0x01BF209,
    0x01BF400, 0x01C3707, 0x01C3800, 0x01CD0E6, 0x01CD300, 0x01CD401, 0x01CD5DC, 0x01CDAE6,
    0x01CDCDC, 0x01CE0E6, 0x01CE100, 0x01CE201, 0x01CE900, 0x01CEDDC, 0x01CEE00, 0x01CF4E6,
    0x01CF500, 0x01CF8E6, 0x01CFA00, 0x01DC0E6, 0x01DC2DC, 0x01DC3E6, 0x01DCADC, 0x01DCBE6,
    0x01DCDEA, 0x01DCED6, 0x01DCFDC, 0x01DD0CA, 0x01DD1E6, 0x01DF6E8, 0x01DF7E4, 0x01DF9DC,
    0x01DFADA, 0x01DFBE6, 0x01DFCE9, 0x01DFDDC, 0x01DFEE6, 0x01DFFDC, 0x01E0000, 0x020D0E6,
    0x020D201, 0x020D4E6, 0x020D801, 0x020DBE6, 0x020DD00, 0x020E1E6, 0x020E200, 0x020E501,
    0x020E7E6, 0x020E8DC, 0x020E9E6, 0x020EA01, 0x020ECDC, 0x020F0E6, 0x020F100, 0x02CEFE6,
    0x02CF200, 0x02D7F09, 0x02D8000, 0x02DE0E6, 0x02E0000, 0x0302ADA, 0x0302BE4, 0x0302CE8,
    0x0302DDE, 0x0302EE0, 0x0303000, 0x0309908, 0x0309B00, 0x0A66FE6, 0x0A67000, 0x0A674E6,
    0x0A67E00, 0x0A69EE6, 0x0A6A000, 0x0A6F0E6, 0x0A6F200, 0x0A80609, 0x0A80700, 0x0A82C09,
    0x0A82D00, 0x0A8C409, 0x0A8C500, 0x0A8E0E6, 0x0A8F200, 0x0A92BDC, 0x0A92E00, 0x0A95309,
    0x0A95400, 0x0A9B307, 0x0A9B400, 0x0A9C009, 0x0A9C100, 0x0AAB0E6, 0x0AAB100, 0x0AAB2E6,
    0x0AAB4DC, 0x0AAB500, 0x0AAB7E6, 0x0AAB900, 0x0AABEE6, 0x0AAC000, 0x0AAC1E6, 0x0AAC200,
    0x0AAF609, 0x0AAF700, 0x0ABED09, 0x0ABEE00, 0x0FB1E1A, 0x0FB1F00, 0x0FE20E6, 0x0FE27DC,
    0x0FE2EE6, 0x0FE3000, 0x101FDDC, 0x101FE00, 0x102E0DC, 0x102E100, 0x10376E6, 0x1037B00,
    0x10A0DDC, 0x10A0E00, 0x10A0FE6, 0x10A1000, 0x10A38E6, 0x10A3901, 0x10A3ADC, 0x10A3B00,
    0x10A3F09, 0x10A4000, 0x10AE5E6, 0x10AE6DC, 0x10AE700, 0x10D24E6, 0x10D2800, 0x10EABE6,
    0x10EAD00, 0x10EFDDC, 0x10F0000, 0x10F46DC, 0x10F48E6, 0x10F4BDC, 0x10F4CE6, 0x10F4DDC,
    0x10F5100, 0x10F82E6, 0x10F83DC, 0x10F84E6, 0x10F85DC, 0x10F8600, 0x1104609, 0x1104700,
    0x1107009, 0x1107100, 0x1107F09, 0x1108000, 0x110B909, 0x110BA07, 0x110BB00, 0x11100E6,
    0x1110300, 0x1113309, 0x1113500, 0x1117307, 0x1117400, 0x111C009, 0x111C100, 0x111CA07,
    0x111CB00, 0x1123509, 0x1123607, 0x1123700, 0x112E907, 0x112EA09, 0x112EB00, 0x1133B07,
    0x1133D00, 0x1134D09, 0x1134E00, 0x11366E6, 0x1136D00, 0x11370E6, 0x1137500, 0x1144209,
    0x1144300, 0x1144607, 0x1144700, 0x1145EE6, 0x1145F00, 0x114C209, 0x114C307, 0x114C400,
    0x115BF09, 0x115C007, 0x115C100, 0x1163F09, 0x1164000, 0x116B609, 0x116B707, 0x116B800,
    0x1172B09, 0x1172C00, 0x1183909, 0x1183A07, 0x1183B00, 0x1193D09, 0x1193F00, 0x1194307,
    0x1194400, 0x119E009, 0x119E100, 0x11A3409, 0x11A3500, 0x11A4709, 0x11A4800, 0x11A9909,
    0x11A9A00, 0x11C3F09, 0x11C4000, 0x11D4207, 0x11D4300, 0x11D4409, 0x11D4600, 0x11D9709,
    0x11D9800, 0x11F4109, 0x11F4300, 0x16AF001, 0x16AF500, 0x16B30E6, 0x16B3700, 0x16FF006,
    0x16FF200, 0x1BC9E01, 0x1BC9F00, 0x1D165D8, 0x1D16701, 0x1D16A00, 0x1D16DE2, 0x1D16ED8,
    0x1D17300, 0x1D17BDC, 0x1D18300, 0x1D185E6, 0x1D18ADC, 0x1D18C00, 0x1D1AAE6, 0x1D1AE00,
    0x1D242E6, 0x1D24500, 0x1E000E6, 0x1E00700, 0x1E008E6, 0x1E01900, 0x1E01BE6, 0x1E02200,
    0x1E023E6, 0x1E02500, 0x1E026E6, 0x1E02B00, 0x1E08FE6, 0x1E09000, 0x1E130E6, 0x1E13700,
    0x1E2AEE6, 0x1E2AF00, 0x1E2ECE6, 0x1E2F000, 0x1E4ECE8, 0x1E4EEDC, 0x1E4EFE6, 0x1E4F000,
    0x1E8D0DC, 0x1E8D700, 0x1E944E6, 0x1E94A07, 0x1E94B00,
};
static const uint64_t tk_decomp[2061] = {
    0x0003000008200300, 0x0003040008200301, 0x0003080008200302, 0x00030C0008200303,
    0x0003100008200308, 0x000314000820030A, 0x00031C0008600327, 0x0003200008A00300,
    0x0003240008A00301, 0x0003280008A00302, 0x00032C0008A00308, 0x0003300009200300,
    0x0003340009200301, 0x0003380009200302, 0x00033C0009200308, 0x0003440009C00303,
    0x0003480009E00300, 0x00034C0009E00301, 0x0003500009E00302, 0x0003540009E00303,
    0x0003580009E00308, 0x000364000AA00300, 0x000368000AA00301, 0x00036C000AA00302,
    0x000370000AA00308, 0x000374000B200301, 0x000380000C200300, 0x000384000C200301,
    0x000388000C200302, 0x00038C000C200303, 0x000390000C200308, 0x000394000C20030A,
    0x00039C000C600327, 0x0003A0000CA00300, 0x0003A4000CA00301, 0x0003A8000CA00302,
    0x0003AC000CA00308, 0x0003B0000D200300, 0x0003B4000D200301, 0x0003B8000D200302,
    0x0003BC000D200308, 0x0003C4000DC00303, 0x0003C8000DE00300, 0x0003CC000DE00301,
    0x0003D0000DE00302, 0x0003D4000DE00303, 0x0003D8000DE00308, 0x0003E4000EA00300,
    0x0003E8000EA00301, 0x0003EC000EA00302, 0x0003F0000EA00308, 0x0003F4000F200301,
    0x0003FC000F200308, 0x0004000008200304, 0x000404000C200304, 0x0004080008200306,
    0x00040C000C200306, 0x0004100008200328, 0x000414000C200328, 0x0004180008600301,
    0x00041C000C600301, 0x0004200008600302, 0x000424000C600302, 0x0004280008600307,
    0x00042C000C600307, 0x000430000860030C, 0x000434000C60030C, 0x000438000880030C,
    0x00043C000C80030C, 0x0004480008A00304, 0x00044C000CA00304, 0x0004500008A00306,
    0x000454000CA00306, 0x0004580008A00307, 0x00045C000CA00307, 0x0004600008A00328,
    0x000464000CA00328, 0x0004680008A0030C, 0x00046C000CA0030C, 0x0004700008E00302,
    0x000474000CE00302, 0x0004780008E00306, 0x00047C000CE00306, 0x0004800008E00307,
    0x000484000CE00307, 0x0004880008E00327, 0x00048C000CE00327, 0x0004900009000302,
    0x000494000D000302, 0x0004A00009200303, 0x0004A4000D200303, 0x0004A80009200304,
    0x0004AC000D200304, 0x0004B00009200306, 0x0004B4000D200306, 0x0004B80009200328,
    0x0004BC000D200328, 0x0004C00009200307, 0x0004D00009400302, 0x0004D4000D400302,
    0x0004D80009600327, 0x0004DC000D600327, 0x0004E40009800301, 0x0004E8000D800301,
    0x0004EC0009800327, 0x0004F0000D800327, 0x0004F4000980030C, 0x0004F8000D80030C,
    0x00050C0009C00301, 0x000510000DC00301, 0x0005140009C00327, 0x000518000DC00327,
    0x00051C0009C0030C, 0x000520000DC0030C, 0x0005300009E00304, 0x000534000DE00304,
    0x0005380009E00306, 0x00053C000DE00306, 0x0005400009E0030B, 0x000544000DE0030B,
    0x000550000A400301, 0x000554000E400301, 0x000558000A400327, 0x00055C000E400327,
    0x000560000A40030C, 0x000564000E40030C, 0x000568000A600301, 0x00056C000E600301,
    0x000570000A600302, 0x000574000E600302, 0x000578000A600327, 0x00057C000E600327,
    0x000580000A60030C, 0x000584000E60030C, 0x000588000A800327, 0x00058C000E800327,
    0x000590000A80030C, 0x000594000E80030C, 0x0005A0000AA00303, 0x0005A4000EA00303,
    0x0005A8000AA00304, 0x0005AC000EA00304, 0x0005B0000AA00306, 0x0005B4000EA00306,
    0x0005B8000AA0030A, 0x0005BC000EA0030A, 0x0005C0000AA0030B, 0x0005C4000EA0030B,
    0x0005C8000AA00328, 0x0005CC000EA00328, 0x0005D0000AE00302, 0x0005D4000EE00302,
    0x0005D8000B200302, 0x0005DC000F200302, 0x0005E0000B200308, 0x0005E4000B400301,
    0x0005E8000F400301, 0x0005EC000B400307, 0x0005F0000F400307, 0x0005F4000B40030C,
    0x0005F8000F40030C, 0x0006800009E0031B, 0x000684000DE0031B, 0x0006BC000AA0031B,
    0x0006C0000EA0031B, 0x000734000820030C, 0x000738000C20030C, 0x00073C000920030C,
    0x000740000D20030C, 0x0007440009E0030C, 0x000748000DE0030C, 0x00074C000AA0030C,
    0x000750000EA0030C, 0x000754001B800304, 0x000758001F800304, 0x00075C001B800301,
    0x000760001F800301, 0x000764001B80030C, 0x000768001F80030C, 0x00076C001B800300,
    0x000770001F800300, 0x0007780018800304, 0x00077C001C800304, 0x0007800044C00304,
    0x0007840044E00304, 0x0007880018C00304, 0x00078C001CC00304, 0x0007980008E0030C,
    0x00079C000CE0030C, 0x0007A0000960030C, 0x0007A4000D60030C, 0x0007A80009E00328,
    0x0007AC000DE00328, 0x0007B0003D400304, 0x0007B4003D600304, 0x0007B80036E0030C,
    0x0007BC005240030C, 0x0007C0000D40030C, 0x0007D00008E00301, 0x0007D4000CE00301,
    0x0007E00009C00300, 0x0007E4000DC00300, 0x0007E80018A00301, 0x0007EC001CA00301,
    0x0007F00018C00301, 0x0007F4001CC00301, 0x0007F8001B000301, 0x0007FC001F000301,
    0x000800000820030F, 0x000804000C20030F, 0x0008080008200311, 0x00080C000C200311,
    0x0008100008A0030F, 0x000814000CA0030F, 0x0008180008A00311, 0x00081C000CA00311,
    0x000820000920030F, 0x000824000D20030F, 0x0008280009200311, 0x00082C000D200311,
    0x0008300009E0030F, 0x000834000DE0030F, 0x0008380009E00311, 0x00083C000DE00311,
    0x000840000A40030F, 0x000844000E40030F, 0x000848000A400311, 0x00084C000E400311,
    0x000850000AA0030F, 0x000854000EA0030F, 0x000858000AA00311, 0x00085C000EA00311,
    0x000860000A600326, 0x000864000E600326, 0x000868000A800326, 0x00086C000E800326,
    0x000878000900030C, 0x00087C000D00030C, 0x0008980008200307, 0x00089C000C200307,
    0x0008A00008A00327, 0x0008A4000CA00327, 0x0008A8001AC00304, 0x0008AC001EC00304,
    0x0008B0001AA00304, 0x0008B4001EA00304, 0x0008B80009E00307, 0x0008BC000DE00307,
    0x0008C00045C00304, 0x0008C40045E00304, 0x0008C8000B200304, 0x0008CC000F200304,
    0x000D000060000000, 0x000D040060200000, 0x000D0C0062600000, 0x000D100061000301,
    0x000DD00057200000, 0x000DF80007600000, 0x000E140015000301, 0x000E180072200301,
    0x000E1C0016E00000, 0x000E200072A00301, 0x000E240072E00301, 0x000E280073200301,
    0x000E300073E00301, 0x000E380074A00301, 0x000E3C0075200301, 0x000E400079400301,
    0x000EA80073200308, 0x000EAC0074A00308, 0x000EB00076200301, 0x000EB40076A00301,
    0x000EB80076E00301, 0x000EBC0077200301, 0x000EC00079600301, 0x000F280077200308,
    0x000F2C0078A00308, 0x000F300077E00301, 0x000F340078A00301, 0x000F380079200301,
    0x000F4C007A400301, 0x000F50007A400308, 0x0010000082A00300, 0x0010040082A00308,
    0x00100C0082600301, 0x00101C0080C00308, 0x0010300083400301, 0x0010340083000300,
    0x0010380084600306, 0x0010640083000306, 0x0010E40087000306, 0x0011400086A00300,
    0x0011440086A00308, 0x00114C0086600301, 0x00115C008AC00308, 0x0011700087400301,
    0x0011740087000300, 0x0011780088600306, 0x0011D8008E80030F, 0x0011DC008EA0030F,
    0x0013040082C00306, 0x0013080086C00306, 0x0013400082000306, 0x0013440086000306,
    0x0013480082000308, 0x00134C0086000308, 0x0013580082A00306, 0x00135C0086A00306,
    0x001368009B000308, 0x00136C009B200308, 0x0013700082C00308, 0x0013740086C00308,
    0x0013780082E00308, 0x00137C0086E00308, 0x0013880083000304, 0x00138C0087000304,
    0x0013900083000308, 0x0013940087000308, 0x0013980083C00308, 0x00139C0087C00308,
    0x0013A8009D000308, 0x0013AC009D200308, 0x0013B00085A00308, 0x0013B40089A00308,
    0x0013B80084600304, 0x0013BC0088600304, 0x0013C00084600308, 0x0013C40088600308,
    0x0013C8008460030B, 0x0013CC008860030B, 0x0013D00084E00308, 0x0013D40088E00308,
    0x0013E00085600308, 0x0013E40089600308, 0x00188800C4E00653, 0x00188C00C4E00654,
    0x00189000C9000654, 0x00189400C4E00655, 0x00189800C9400654, 0x001B0000DAA00654,
    0x001B0800D8200654, 0x001B4C00DA400654, 0x0024A4012500093C, 0x0024C4012600093C,
    0x0024D0012660093C, 0x0025600122A0093C, 0x0025640122C0093C, 0x0025680122E0093C,
    0x00256C012380093C, 0x002570012420093C, 0x002574012440093C, 0x002578012560093C,
    0x00257C0125E0093C, 0x00272C0138E009BE, 0x0027300138E009D7, 0x00277001342009BC,
    0x00277401344009BC, 0x00277C0135E009BC, 0x0028CC0146400A3C, 0x0028D80147000A3C,
    0x0029640142C00A3C, 0x0029680142E00A3C, 0x00296C0143800A3C, 0x0029780145600A3C,
    0x002D200168E00B56, 0x002D2C0168E00B3E, 0x002D300168E00B57, 0x002D700164200B3C,
    0x002D740164400B3C, 0x002E500172400BD7, 0x002F280178C00BBE, 0x002F2C0178E00BBE,
    0x002F300178C00BD7, 0x0031200188C00C56, 0x0033000197E00CD5, 0x00331C0198C00CD5,
    0x0033200198C00CD6, 0x0033280198C00CC2, 0x00332C0199400CD5, 0x00352801A8C00D3E,
    0x00352C01A8E00D3E, 0x00353001A8C00D57, 0x00376801BB200DCA, 0x00377001BB200DCF,
    0x00377401BB800DCA, 0x00377801BB200DDF, 0x003D0C01E8400FB7, 0x003D3401E9800FB7,
    0x003D4801EA200FB7, 0x003D5C01EAC00FB7, 0x003D7001EB600FB7, 0x003DA401E8000FB5,
    0x003DCC01EE200F72, 0x003DD401EE200F74, 0x003DD801F6400F80, 0x003DE001F6600F80,
    0x003E0401EE200F80, 0x003E4C01F2400FB7, 0x003E7401F3800FB7, 0x003E8801F4200FB7,
    0x003E9C01F4C00FB7, 0x003EB001F5600FB7, 0x003EE401F2000FB5, 0x0040980204A0102E,
    0x006C180360A01B35, 0x006C200360E01B35, 0x006C280361201B35, 0x006C300361601B35,
    0x006C380361A01B35, 0x006C480362201B35, 0x006CEC0367401B35, 0x006CF40367801B35,
    0x006D000367C01B35, 0x006D040367E01B35, 0x006D0C0368401B35, 0x0078000008200325,
    0x007804000C200325, 0x0078080008400307, 0x00780C000C400307, 0x0078100008400323,
    0x007814000C400323, 0x0078180008400331, 0x00781C000C400331, 0x0078200018E00301,
    0x007824001CE00301, 0x0078280008800307, 0x00782C000C800307, 0x0078300008800323,
    0x007834000C800323, 0x0078380008800331, 0x00783C000C800331, 0x0078400008800327,
    0x007844000C800327, 0x007848000880032D, 0x00784C000C80032D, 0x0078500022400300,
    0x0078540022600300, 0x0078580022400301, 0x00785C0022600301, 0x0078600008A0032D,
    0x007864000CA0032D, 0x0078680008A00330, 0x00786C000CA00330, 0x0078700045000306,
    0x0078740045200306, 0x0078780008C00307, 0x00787C000CC00307, 0x0078800008E00304,
    0x007884000CE00304, 0x0078880009000307, 0x00788C000D000307, 0x0078900009000323,
    0x007894000D000323, 0x0078980009000308, 0x00789C000D000308, 0x0078A00009000327,
    0x0078A4000D000327, 0x0078A8000900032E, 0x0078AC000D00032E, 0x0078B00009200330,
    0x0078B4000D200330, 0x0078B80019E00301, 0x0078BC001DE00301, 0x0078C00009600301,
    0x0078C4000D600301, 0x0078C80009600323, 0x0078CC000D600323, 0x0078D00009600331,
    0x0078D4000D600331, 0x0078D80009800323, 0x0078DC000D800323, 0x0078E003C6C00304,
    0x0078E403C6E00304, 0x0078E80009800331, 0x0078EC000D800331, 0x0078F0000980032D,
    0x0078F4000D80032D, 0x0078F80009A00301, 0x0078FC000DA00301, 0x0079000009A00307,
    0x007904000DA00307, 0x0079080009A00323, 0x00790C000DA00323, 0x0079100009C00307,
    0x007914000DC00307, 0x0079180009C00323, 0x00791C000DC00323, 0x0079200009C00331,
    0x007924000DC00331, 0x0079280009C0032D, 0x00792C000DC0032D, 0x007930001AA00301,
    0x007934001EA00301, 0x007938001AA00308, 0x00793C001EA00308, 0x0079400029800300,
    0x0079440029A00300, 0x0079480029800301, 0x00794C0029A00301, 0x007950000A000301,
    0x007954000E000301, 0x007958000A000307, 0x00795C000E000307, 0x007960000A400307,
    0x007964000E400307, 0x007968000A400323, 0x00796C000E400323, 0x00797003CB400304,
    0x00797403CB600304, 0x007978000A400331, 0x00797C000E400331, 0x007980000A600307,
    0x007984000E600307, 0x007988000A600323, 0x00798C000E600323, 0x007990002B400307,
    0x007994002B600307, 0x007998002C000307, 0x00799C002C200307, 0x0079A003CC400307,
    0x0079A403CC600307, 0x0079A8000A800307, 0x0079AC000E800307, 0x0079B0000A800323,
    0x0079B4000E800323, 0x0079B8000A800331, 0x0079BC000E800331, 0x0079C0000A80032D,
    0x0079C4000E80032D, 0x0079C8000AA00324, 0x0079CC000EA00324, 0x0079D0000AA00330,
    0x0079D4000EA00330, 0x0079D8000AA0032D, 0x0079DC000EA0032D, 0x0079E0002D000301,
    0x0079E4002D200301, 0x0079E8002D400308, 0x0079EC002D600308, 0x0079F0000AC00303,
    0x0079F4000EC00303, 0x0079F8000AC00323, 0x0079FC000EC00323, 0x007A00000AE00300,
    0x007A04000EE00300, 0x007A08000AE00301, 0x007A0C000EE00301, 0x007A10000AE00308,
    0x007A14000EE00308, 0x007A18000AE00307, 0x007A1C000EE00307, 0x007A20000AE00323,
    0x007A24000EE00323, 0x007A28000B000307, 0x007A2C000F000307, 0x007A30000B000308,
    0x007A34000F000308, 0x007A38000B200307, 0x007A3C000F200307, 0x007A40000B400302,
    0x007A44000F400302, 0x007A48000B400323, 0x007A4C000F400323, 0x007A50000B400331,
    0x007A54000F400331, 0x007A58000D000331, 0x007A5C000E800308, 0x007A60000EE0030A,
    0x007A64000F20030A, 0x007A6C002FE00307, 0x007A800008200323, 0x007A84000C200323,
    0x007A880008200309, 0x007A8C000C200309, 0x007A900018400301, 0x007A94001C400301,
    0x007A980018400300, 0x007A9C001C400300, 0x007AA00018400309, 0x007AA4001C400309,
    0x007AA80018400303, 0x007AAC001C400303, 0x007AB003D4000302, 0x007AB403D4200302,
    0x007AB80020400301, 0x007ABC0020600301, 0x007AC00020400300, 0x007AC40020600300,
    0x007AC80020400309, 0x007ACC0020600309, 0x007AD00020400303, 0x007AD40020600303,
    0x007AD803D4000306, 0x007ADC03D4200306, 0x007AE00008A00323, 0x007AE4000CA00323,
    0x007AE80008A00309, 0x007AEC000CA00309, 0x007AF00008A00303, 0x007AF4000CA00303,
    0x007AF80019400301, 0x007AFC001D400301, 0x007B000019400300, 0x007B04001D400300,
    0x007B080019400309, 0x007B0C001D400309, 0x007B100019400303, 0x007B14001D400303,
    0x007B1803D7000302, 0x007B1C03D7200302, 0x007B200009200309, 0x007B24000D200309,
    0x007B280009200323, 0x007B2C000D200323, 0x007B300009E00323, 0x007B34000DE00323,
    0x007B380009E00309, 0x007B3C000DE00309, 0x007B40001A800301, 0x007B44001E800301,
    0x007B48001A800300, 0x007B4C001E800300, 0x007B50001A800309, 0x007B54001E800309,
    0x007B58001A800303, 0x007B5C001E800303, 0x007B6003D9800302, 0x007B6403D9A00302,
    0x007B680034000301, 0x007B6C0034200301, 0x007B700034000300, 0x007B740034200300,
    0x007B780034000309, 0x007B7C0034200309, 0x007B800034000303, 0x007B840034200303,
    0x007B880034000323, 0x007B8C0034200323, 0x007B90000AA00323, 0x007B94000EA00323,
    0x007B98000AA00309, 0x007B9C000EA00309, 0x007BA00035E00301, 0x007BA40036000301,
    0x007BA80035E00300, 0x007BAC0036000300, 0x007BB00035E00309, 0x007BB40036000309,
    0x007BB80035E00303, 0x007BBC0036000303, 0x007BC00035E00323, 0x007BC40036000323,
    0x007BC8000B200300, 0x007BCC000F200300, 0x007BD0000B200323, 0x007BD4000F200323,
    0x007BD8000B200309, 0x007BDC000F200309, 0x007BE0000B200303, 0x007BE4000F200303,
    0x007C000076200313, 0x007C040076200314, 0x007C0803E0000300, 0x007C0C03E0200300,
    0x007C1003E0000301, 0x007C1403E0200301, 0x007C1803E0000342, 0x007C1C03E0200342,
    0x007C200072200313, 0x007C240072200314, 0x007C2803E1000300, 0x007C2C03E1200300,
    0x007C3003E1000301, 0x007C3403E1200301, 0x007C3803E1000342, 0x007C3C03E1200342,
    0x007C400076A00313, 0x007C440076A00314, 0x007C4803E2000300, 0x007C4C03E2200300,
    0x007C5003E2000301, 0x007C5403E2200301, 0x007C600072A00313, 0x007C640072A00314,
    0x007C6803E3000300, 0x007C6C03E3200300, 0x007C7003E3000301, 0x007C7403E3200301,
    0x007C800076E00313, 0x007C840076E00314, 0x007C8803E4000300, 0x007C8C03E4200300,
    0x007C9003E4000301, 0x007C9403E4200301, 0x007C9803E4000342, 0x007C9C03E4200342,
    0x007CA00072E00313, 0x007CA40072E00314, 0x007CA803E5000300, 0x007CAC03E5200300,
    0x007CB003E5000301, 0x007CB403E5200301, 0x007CB803E5000342, 0x007CBC03E5200342,
    0x007CC00077200313, 0x007CC40077200314, 0x007CC803E6000300, 0x007CCC03E6200300,
    0x007CD003E6000301, 0x007CD403E6200301, 0x007CD803E6000342, 0x007CDC03E6200342,
    0x007CE00073200313, 0x007CE40073200314, 0x007CE803E7000300, 0x007CEC03E7200300,
    0x007CF003E7000301, 0x007CF403E7200301, 0x007CF803E7000342, 0x007CFC03E7200342,
    0x007D000077E00313, 0x007D040077E00314, 0x007D0803E8000300, 0x007D0C03E8200300,
    0x007D1003E8000301, 0x007D1403E8200301, 0x007D200073E00313, 0x007D240073E00314,
    0x007D2803E9000300, 0x007D2C03E9200300, 0x007D3003E9000301, 0x007D3403E9200301,
    0x007D400078A00313, 0x007D440078A00314, 0x007D4803EA000300, 0x007D4C03EA200300,
    0x007D5003EA000301, 0x007D5403EA200301, 0x007D5803EA000342, 0x007D5C03EA200342,
    0x007D640074A00314, 0x007D6C03EB200300, 0x007D7403EB200301, 0x007D7C03EB200342,
    0x007D800079200313, 0x007D840079200314, 0x007D8803EC000300, 0x007D8C03EC200300,
    0x007D9003EC000301, 0x007D9403EC200301, 0x007D9803EC000342, 0x007D9C03EC200342,
    0x007DA00075200313, 0x007DA40075200314, 0x007DA803ED000300, 0x007DAC03ED200300,
    0x007DB003ED000301, 0x007DB403ED200301, 0x007DB803ED000342, 0x007DBC03ED200342,
    0x007DC00076200300, 0x007DC40075800000, 0x007DC80076A00300, 0x007DCC0075A00000,
    0x007DD00076E00300, 0x007DD40075C00000, 0x007DD80077200300, 0x007DDC0075E00000,
    0x007DE00077E00300, 0x007DE40079800000, 0x007DE80078A00300, 0x007DEC0079A00000,
    0x007DF00079200300, 0x007DF40079C00000, 0x007E0003E0000345, 0x007E0403E0200345,
    0x007E0803E0400345, 0x007E0C03E0600345, 0x007E1003E0800345, 0x007E1403E0A00345,
    0x007E1803E0C00345, 0x007E1C03E0E00345, 0x007E2003E1000345, 0x007E2403E1200345,
    0x007E2803E1400345, 0x007E2C03E1600345, 0x007E3003E1800345, 0x007E3403E1A00345,
    0x007E3803E1C00345, 0x007E3C03E1E00345, 0x007E4003E4000345, 0x007E4403E4200345,
    0x007E4803E4400345, 0x007E4C03E4600345, 0x007E5003E4800345, 0x007E5403E4A00345,
    0x007E5803E4C00345, 0x007E5C03E4E00345, 0x007E6003E5000345, 0x007E6403E5200345,
    0x007E6803E5400345, 0x007E6C03E5600345, 0x007E7003E5800345, 0x007E7403E5A00345,
    0x007E7803E5C00345, 0x007E7C03E5E00345, 0x007E8003EC000345, 0x007E8403EC200345,
    0x007E8803EC400345, 0x007E8C03EC600345, 0x007E9003EC800345, 0x007E9403ECA00345,
    0x007E9803ECC00345, 0x007E9C03ECE00345, 0x007EA003ED000345, 0x007EA403ED200345,
    0x007EA803ED400345, 0x007EAC03ED600345, 0x007EB003ED800345, 0x007EB403EDA00345,
    0x007EB803EDC00345, 0x007EBC03EDE00345, 0x007EC00076200306, 0x007EC40076200304,
    0x007EC803EE000345, 0x007ECC0076200345, 0x007ED00075800345, 0x007ED80076200342,
    0x007EDC03F6C00345, 0x007EE00072200306, 0x007EE40072200304, 0x007EE80072200300,
    0x007EEC0070C00000, 0x007EF00072200345, 0x007EF80077200000, 0x007F040015000342,
    0x007F0803EE800345, 0x007F0C0076E00345, 0x007F100075C00345, 0x007F180076E00342,
    0x007F1C03F8C00345, 0x007F200072A00300, 0x007F240071000000, 0x007F280072E00300,
    0x007F2C0071200000, 0x007F300072E00345, 0x007F3403F7E00300, 0x007F3803F7E00301,
    0x007F3C03F7E00342, 0x007F400077200306, 0x007F440077200304, 0x007F480079400300,
    0x007F4C0072000000, 0x007F580077200342, 0x007F5C0079400342, 0x007F600073200306,
    0x007F640073200304, 0x007F680073200300, 0x007F6C0071400000, 0x007F7403FFC00300,
    0x007F7803FFC00301, 0x007F7C03FFC00342, 0x007F800078A00306, 0x007F840078A00304,
    0x007F880079600300, 0x007F8C0076000000, 0x007F900078200313, 0x007F940078200314,
    0x007F980078A00342, 0x007F9C0079600342, 0x007FA00074A00306, 0x007FA40074A00304,
    0x007FA80074A00300, 0x007FAC0071C00000, 0x007FB00074200314, 0x007FB40015000300,
    0x007FB80070A00000, 0x007FBC000C000000, 0x007FC803EF800345, 0x007FCC0079200345,
    0x007FD00079C00345, 0x007FD80079200342, 0x007FDC03FEC00345, 0x007FE00073E00300,
    0x007FE40071800000, 0x007FE80075200300, 0x007FEC0071E00000, 0x007FF00075200345,
    0x007FF40016800000, 0x0080000400400000, 0x0080040400600000, 0x0084980075200000,
    0x0084A80009600000, 0x0084AC0018A00000, 0x0086680432000338, 0x00866C0432400338,
    0x0086B80432800338, 0x008734043A000338, 0x008738043A800338, 0x00873C043A400338,
    0x0088100440600338, 0x0088240441000338, 0x0088300441600338, 0x0088900444600338,
    0x0088980444A00338, 0x0089040447800338, 0x0089100448600338, 0x00891C0448A00338,
    0x0089240449000338, 0x0089800007A00338, 0x008988044C200338, 0x0089B40449A00338,
    0x0089B80007800338, 0x0089BC0007C00338, 0x0089C0044C800338, 0x0089C4044CA00338,
    0x0089D0044E400338, 0x0089D4044E600338, 0x0089E0044EC00338, 0x0089E4044EE00338,
    0x008A00044F400338, 0x008A04044F600338, 0x008A100450400338, 0x008A140450600338,
    0x008A200450C00338, 0x008A240450E00338, 0x008AB00454400338, 0x008AB40455000338,
    0x008AB80455200338, 0x008ABC0455600338, 0x008B80044F800338, 0x008B84044FA00338,
    0x008B880452200338, 0x008B8C0452400338, 0x008BA80456400338, 0x008BAC0456600338,
    0x008BB00456800338, 0x008BB40456A00338, 0x008CA40601000000, 0x008CA80601200000,
    0x00AB70055BA00338, 0x00C1300609603099, 0x00C1380609A03099, 0x00C1400609E03099,
    0x00C148060A203099, 0x00C150060A603099, 0x00C158060AA03099, 0x00C160060AE03099,
    0x00C168060B203099, 0x00C170060B603099, 0x00C178060BA03099, 0x00C180060BE03099,
    0x00C188060C203099, 0x00C194060C803099, 0x00C19C060CC03099, 0x00C1A4060D003099,
    0x00C1C0060DE03099, 0x00C1C4060DE0309A, 0x00C1CC060E403099, 0x00C1D0060E40309A,
    0x00C1D8060EA03099, 0x00C1DC060EA0309A, 0x00C1E4060F003099, 0x00C1E8060F00309A,
    0x00C1F0060F603099, 0x00C1F4060F60309A, 0x00C2500608C03099, 0x00C2780613A03099,
    0x00C2B00615603099, 0x00C2B80615A03099, 0x00C2C00615E03099, 0x00C2C80616203099,
    0x00C2D00616603099, 0x00C2D80616A03099, 0x00C2E00616E03099, 0x00C2E80617203099,
    0x00C2F00617603099, 0x00C2F80617A03099, 0x00C3000617E03099, 0x00C3080618203099,
    0x00C3140618803099, 0x00C31C0618C03099, 0x00C3240619003099, 0x00C3400619E03099,
    0x00C3440619E0309A, 0x00C34C061A403099, 0x00C350061A40309A, 0x00C358061AA03099,
    0x00C35C061AA0309A, 0x00C364061B003099, 0x00C368061B00309A, 0x00C370061B603099,
    0x00C374061B60309A, 0x00C3D00614C03099, 0x00C3DC061DE03099, 0x00C3E0061E003099,
    0x00C3E4061E203099, 0x00C3E8061E403099, 0x00C3F8061FA03099, 0x03E4001189000000,
    0x03E4040CDE800000, 0x03E40811D9400000, 0x03E40C1199000000, 0x03E4100DDA200000,
    0x03E41409C6400000, 0x03E4180A7CA00000, 0x03E41C13F3800000, 0x03E42013F3800000,
    0x03E4240B2A200000, 0x03E428123A200000, 0x03E42C0AB0E00000, 0x03E4300B29000000,
    0x03E4340C3EC00000, 0x03E4380ECD200000, 0x03E43C0FF0A00000, 0x03E44010C7E00000,
    0x03E44410F7400000, 0x03E448111F000000, 0x03E44C1211E00000, 0x03E4500D40400000,
    0x03E4540DA3600000, 0x03E4580E1B200000, 0x03E45C0E7BC00000, 0x03E4601087A00000,
    0x03E464122D400000, 0x03E468133E200000, 0x03E46C09D0400000, 0x03E4700A6EA00000,
    0x03E4740D60800000, 0x03E4780E43600000, 0x03E47C10C5A00000, 0x03E48013C3C00000,
    0x03E4840BAA000000, 0x03E4880DFD600000, 0x03E48C10B9A00000, 0x03E490112C800000,
    0x03E4940C59200000, 0x03E498103B000000, 0x03E49C1103E00000, 0x03E4A00BD9400000,
    0x03E4A40CE2E00000, 0x03E4A80DAD400000, 0x03E4AC0E5F800000, 0x03E4B01219C00000,
    0x03E4B409F0C00000, 0x03E4B80A36E00000, 0x03E4BC0A5BC00000, 0x03E4C00C98800000,
    0x03E4C40D5A600000, 0x03E4C80E42000000, 0x03E4CC0EDCE00000, 0x03E4D01000200000,
    0x03E4D410C0C00000, 0x03E4D810CB800000, 0x03E4DC11BDE00000, 0x03E4E012E6400000,
    0x03E4E4136DE00000, 0x03E4E813BF400000, 0x03E4EC0F11800000, 0x03E4F00F2FE00000,
    0x03E4F40FB4000000, 0x03E4F81079200000, 0x03E4FC1260800000, 0x03E50013CFE00000,
    0x03E504115AC00000, 0x03E5080B1BE00000, 0x03E50C0BE0800000, 0x03E5100F8C000000,
    0x03E514100FC00000, 0x03E5180E4C400000, 0x03E51C0F19400000, 0x03E5201198400000,
    0x03E52412DEE00000, 0x03E5280B1B000000, 0x03E52C0B8C400000, 0x03E5300D42600000,
    0x03E5340DBB400000, 0x03E5380DE1E00000, 0x03E53C0FA5E00000, 0x03E5400FC6E00000,
    0x03E54412C9600000, 0x03E5480A5A400000, 0x03E54C1011600000, 0x03E5500A3B800000,
    0x03E5540A39800000, 0x03E5580F43800000, 0x03E55C0FB7C00000, 0x03E560107E200000,
    0x03E56412CEA00000, 0x03E5681170000000, 0x03E56C0C59E00000, 0x03E5700D40400000,
    0x03E574115FC00000, 0x03E57809C7200000, 0x03E57C0B7CE00000, 0x03E5800C02400000,
    0x03E5840E70E00000, 0x03E5880EAE000000, 0x03E58C0A62E00000, 0x03E5900F1F600000,
    0x03E59409F7E00000, 0x03E5980BF5200000, 0x03E59C09C1A00000, 0x03E5A00D99800000,
    0x03E5A40CAF000000, 0x03E5A80FA4400000, 0x03E5AC0A78600000, 0x03E5B00B0BC00000,
    0x03E5B40EE0200000, 0x03E5B81089200000, 0x03E5BC1155400000, 0x03E5C00D77400000,
    0x03E5C411F6000000, 0x03E5C80D91000000, 0x03E5CC0C5FC00000, 0x03E5D0105CA00000,
    0x03E5D40C74000000, 0x03E5D80EACA00000, 0x03E5DC09D5C00000, 0x03E5E00A2D200000,
    0x03E5E40A39200000, 0x03E5E80D10200000, 0x03E5EC0F9CE00000, 0x03E5F0104DE00000,
    0x03E5F4115A400000, 0x03E5F81239E00000, 0x03E5FC0A5EA00000, 0x03E6000A88400000,
    0x03E6040B2E600000, 0x03E6080BDD800000, 0x03E60C0CB8A00000, 0x03E6100DFFC00000,
    0x03E6140F25400000, 0x03E61812B5A00000, 0x03E61C134D400000, 0x03E62013D2E00000,
    0x03E62413D9C00000, 0x03E6280A53600000, 0x03E62C0CD8C00000, 0x03E6300D6EE00000,
    0x03E63411EC400000, 0x03E6380BCE800000, 0x03E63C0C32000000, 0x03E6400C40000000,
    0x03E6440C93400000, 0x03E6480DE4600000, 0x03E64C0E29200000, 0x03E6500E91200000,
    0x03E6540F39400000, 0x03E6580FBE800000, 0x03E65C100DE00000, 0x03E66011E4C00000,
    0x03E664109DC00000, 0x03E6681204600000, 0x03E66C1269400000, 0x03E6700A42E00000,
    0x03E6740A54600000, 0x03E6780A97A00000, 0x03E67C0E19000000, 0x03E6801118400000,
    0x03E6841155400000, 0x03E6880BD9200000, 0x03E68C0BFEA00000, 0x03E6900C6F600000,
    0x03E6940D75C00000, 0x03E6980F87C00000, 0x03E69C0E6EA00000, 0x03E6A009DC800000,
    0x03E6A40ADF200000, 0x03E6A80B7CE00000, 0x03E6AC0BB7400000, 0x03E6B00C03800000,
    0x03E6B40E76400000, 0x03E6B80E8D200000, 0x03E6BC0FF3400000, 0x03E6C01008C00000,
    0x03E6C41246800000, 0x03E6C812DEC00000, 0x03E6CC12E9000000, 0x03E6D01303000000,
    0x03E6D409F1600000, 0x03E6D80F35C00000, 0x03E6DC1236800000, 0x03E6E012D7000000,
    0x03E6E40C1C200000, 0x03E6E809D0C00000, 0x03E6EC0A1B400000, 0x03E6F00B7DC00000,
    0x03E6F40B87E00000, 0x03E6F80CB3200000, 0x03E6FC0D40400000, 0x03E7000E39C00000,
    0x03E7040EC8400000, 0x03E708109F800000, 0x03E70C120F800000, 0x03E71013F1A00000,
    0x03E7140CD1000000, 0x03E71812C5C00000, 0x03E71C0A51200000, 0x03E7200CEF600000,
    0x03E7240CFE600000, 0x03E7280DA8200000, 0x03E72C0DD3800000, 0x03E7300E81200000,
    0x03E7340EAB200000, 0x03E7380F0D600000, 0x03E73C0FA2000000, 0x03E740130BC00000,
    0x03E7440A2DA00000, 0x03E7480C45C00000, 0x03E74C12CF000000, 0x03E7500A05600000,
    0x03E7540BA3200000, 0x03E7580DBD400000, 0x03E75C11E5400000, 0x03E7600BF1600000,
    0x03E7640C28800000, 0x03E7680D02E00000, 0x03E76C0E70E00000, 0x03E77012D0C00000,
    0x03E7740A45200000, 0x03E7780A81E00000, 0x03E77C0B8CA00000, 0x03E7800CC2600000,
    0x03E7840CE9C00000, 0x03E7880D15000000, 0x03E78C0D9CA00000, 0x03E7900E80C00000,
    0x03E7940EBC400000, 0x03E7980FEF200000, 0x03E79C1119E00000, 0x03E7A0111C200000,
    0x03E7A41239800000, 0x03E7A812DC400000, 0x03E7AC0A67E00000, 0x03E7B00DD7400000,
    0x03E7B40A83A00000, 0x03E7B80E3A000000, 0x03E7BC0E93000000, 0x03E7C010BF400000,
    0x03E7C412D4600000, 0x03E7C8138AE00000, 0x03E7CC13D3E00000, 0x03E7D00CF2E00000,
    0x03E7D40DB9600000, 0x03E7D8103D000000, 0x03E7DC0F59600000, 0x03E7E00F64000000,
    0x03E7E40F92400000, 0x03E7E80E58000000, 0x03E7EC0E13200000, 0x03E7F0116B000000,
    0x03E7F409D8000000, 0x03E7F81066C00000, 0x03E7FC0A47400000, 0x03E8000A40E00000,
    0x03E8040BD4C00000, 0x03E8080C5A600000, 0x03E80C0F9AC00000, 0x03E8100B70A00000,
    0x03E8140DA3C00000, 0x03E8180CD6800000, 0x03E81C11E7600000, 0x03E8201109800000,
    0x03E82412C9A00000, 0x03E8281131600000, 0x03E82C0BDA600000, 0x03E8300A28000000,
    0x03E8340AB8000000, 0x03E8400B0B400000, 0x03E8480CCE800000, 0x03E8540A3BC00000,
    0x03E8580E65400000, 0x03E85C0ED9400000, 0x03E8600F27800000, 0x03E8640F2BC00000,
    0x03E8680F2CA00000, 0x03E86C0F31E00000, 0x03E87012EAC00000, 0x03E8740F97C00000,
    0x03E8780FF7A00000, 0x03E88010C2400000, 0x03E888115F000000, 0x03E8941207000000,
    0x03E898121FA00000, 0x03E8A8131DE00000, 0x03E8AC131F800000, 0x03E8B01325000000,
    0x03E8B413B6800000, 0x03E8B8121BC00000, 0x03E8BC12D6E00000, 0x03E8C009F5C00000,
    0x03E8C40A1CE00000, 0x03E8C80A29A00000, 0x03E8CC0A59200000, 0x03E8D00A5C800000,
    0x03E8D40A6A200000, 0x03E8D80AB3A00000, 0x03E8DC0AC0C00000, 0x03E8E00ACD000000,
    0x03E8E40B08000000, 0x03E8E80B15000000, 0x03E8EC0B8C800000, 0x03E8F00B8DC00000,
    0x03E8F40C12800000, 0x03E8F80C2D000000, 0x03E8FC0C31C00000, 0x03E9000C3E400000,
    0x03E9040CA9E00000, 0x03E9080CBC400000, 0x03E90C0CD2200000, 0x03E9100D10A00000,
    0x03E9140DAEE00000, 0x03E9180DC3400000, 0x03E91C0DE4400000, 0x03E9200E2DC00000,
    0x03E9240E45600000, 0x03E9280E84400000, 0x03E92C0F12200000, 0x03E9300F27C00000,
    0x03E9340F29200000, 0x03E9380F29000000, 0x03E93C0F2A000000, 0x03E9400F2AC00000,
    0x03E9440F2BA00000, 0x03E9480F31A00000, 0x03E94C0F31C00000, 0x03E9500F48000000,
    0x03E9540F50200000, 0x03E9580F78000000, 0x03E95C0FBE800000, 0x03E9600FC1200000,
    0x03E9640FC8200000, 0x03E9680FEE400000, 0x03E96C1000A00000, 0x03E970103DA00000,
    0x03E974104F200000, 0x03E978104F200000, 0x03E97C108AE00000, 0x03E9801122000000,
    0x03E9841132C00000, 0x03E9881160200000, 0x03E98C1167200000, 0x03E990119A600000,
    0x03E99411A1000000, 0x03E99811F6C00000, 0x03E99C1207000000, 0x03E9A012DC600000,
    0x03E9A412FFE00000, 0x03E9A81307600000, 0x03E9AC0C0EA00000, 0x03E9B0485DC00000,
    0x03E9B41043000000, 0x03E9C009C4C00000, 0x03E9C40A36A00000, 0x03E9C80A2D000000,
    0x03E9CC09F0000000, 0x03E9D00A28A00000, 0x03E9D40A30000000, 0x03E9D80A58E00000,
    0x03E9DC0A5F400000, 0x03E9E00AB3A00000, 0x03E9E40AAAA00000, 0x03E9E80AB3200000,
    0x03E9EC0ABC400000, 0x03E9F00B0B400000, 0x03E9F40B16600000, 0x03E9F80B28800000,
    0x03E9FC0B2A800000, 0x03EA000B4C400000, 0x03EA040B65000000, 0x03EA080BDA400000,
    0x03EA0C0BDB200000, 0x03EA100BED200000, 0x03EA140BF5A00000, 0x03EA180C1B000000,
    0x03EA1C0C29C00000, 0x03EA200C21000000, 0x03EA240C31C00000, 0x03EA280C2C000000,
    0x03EA2C0C3E400000, 0x03EA300C46800000, 0x03EA340C78800000, 0x03EA380C83800000,
    0x03EA3C0C8A400000, 0x03EA400CAAC00000, 0x03EA440CCE800000, 0x03EA480CE2E00000,
    0x03EA4C0CE3600000, 0x03EA500CEAC00000, 0x03EA540D6F200000, 0x03EA580D77400000,
    0x03EA5C0DA8200000, 0x03EA600DDB600000, 0x03EA640DD9600000, 0x03EA680DE4400000,
    0x03EA6C0E03C00000, 0x03EA700E2DC00000, 0x03EA740EF4E00000, 0x03EA780E46A00000,
    0x03EA7C0E55E00000, 0x03EA800E65400000, 0x03EA840E8E200000, 0x03EA880EA0C00000,
    0x03EA8C0EA7600000, 0x03EA900EC3A00000, 0x03EA940EC3E00000, 0x03EA980ED9400000,
    0x03EA9C0EDB600000, 0x03EAA00EDE800000, 0x03EAA40EE9400000, 0x03EAA80EE8000000,
    0x03EAAC0F19800000, 0x03EAB00F56200000, 0x03EAB40F78000000, 0x03EAB80F8F600000,
    0x03EABC0FAB600000, 0x03EAC00FBE800000, 0x03EAC40FE7C00000, 0x03EAC81000A00000,
    0x03EACC106A400000, 0x03EAD0107DE00000, 0x03EAD410EF200000, 0x03EAD81128200000,
    0x03EADC1130C00000, 0x03EAE01132C00000, 0x03EAE41157E00000, 0x03EAE8115F000000,
    0x03EAEC1159600000, 0x03EAF01160200000, 0x03EAF4115FC00000, 0x03EAF8115DA00000,
    0x03EAFC1167200000, 0x03EB001171400000, 0x03EB0411A1000000, 0x03EB0811E7000000,
    0x03EB0C120E400000, 0x03EB101233200000, 0x03EB14124EC00000, 0x03EB1812CF800000,
    0x03EB1C12DC600000, 0x03EB2012EAC00000, 0x03EB2412FB600000, 0x03EB2812FFE00000,
    0x03EB2C1301600000, 0x03EB301307600000, 0x03EB341362400000, 0x03EB3813F3800000,
    0x03EB3C4509400000, 0x03EB404508800000, 0x03EB44467AA00000, 0x03EB480773A00000,
    0x03EB4C0803000000, 0x03EB500807200000, 0x03EB544A49200000, 0x03EB584B9A000000,
    0x03EB5C4FDA600000, 0x03EB6013E8600000, 0x03EB6413F1C00000, 0x03EC7400BB2005B4,
    0x03EC7C00BE4005B7, 0x03ECA800BD2005C1, 0x03ECAC00BD2005C2, 0x03ECB01F692005C1,
    0x03ECB41F692005C2, 0x03ECB800BA0005B7, 0x03ECBC00BA0005B8, 0x03ECC000BA0005BC,
    0x03ECC400BA2005BC, 0x03ECC800BA4005BC, 0x03ECCC00BA6005BC, 0x03ECD000BA8005BC,
    0x03ECD400BAA005BC, 0x03ECD800BAC005BC, 0x03ECE000BB0005BC, 0x03ECE400BB2005BC,
    0x03ECE800BB4005BC, 0x03ECEC00BB6005BC, 0x03ECF000BB8005BC, 0x03ECF800BBC005BC,
    0x03ED0000BC0005BC, 0x03ED0400BC2005BC, 0x03ED0C00BC6005BC, 0x03ED1000BC8005BC,
    0x03ED1800BCC005BC, 0x03ED1C00BCE005BC, 0x03ED2000BD0005BC, 0x03ED2400BD2005BC,
    0x03ED2800BD4005BC, 0x03ED2C00BAA005B9, 0x03ED3000BA2005BF, 0x03ED3400BB6005BF,
    0x03ED3800BC8005BF, 0x04426822132110BA, 0x04427022136110BA, 0x0442AC2214A110BA,
    0x0444B82226211127, 0x0444BC2226411127, 0x044D2C2268E1133E, 0x044D302268E11357,
    0x0452EC22972114BA, 0x0452F022972114B0, 0x0452F822972114BD, 0x0456E822B70115AF,
    0x0456EC22B72115AF, 0x0464E02326A11930, 0x0745783A2AE1D165, 0x07457C3A2B01D165,
    0x0745803A2BE1D16E, 0x0745843A2BE1D16F, 0x0745883A2BE1D170, 0x07458C3A2BE1D171,
    0x0745903A2BE1D172, 0x0746EC3A3721D165, 0x0746F03A3741D165, 0x0746F43A3761D16E,
    0x0746F83A3781D16E, 0x0746FC3A3761D16F, 0x0747003A3781D16F, 0x0BE00009C7A00000,
    0x0BE00409C7000000, 0x0BE00809C8200000, 0x0BE00C4024400000, 0x0BE01009EC000000,
    0x0BE01409F5C00000, 0x0BE01809F7600000, 0x0BE01C0A00400000, 0x0BE0200A0F400000,
    0x0BE0240A13200000, 0x0BE0280A1CE00000, 0x0BE02C0A19E00000, 0x0BE0300693C00000,
    0x0BE03440C7400000, 0x0BE0380A29A00000, 0x0BE03C0A2A800000, 0x0BE0400A2C800000,
    0x0BE0440A2EE00000, 0x0BE04840A3800000, 0x0BE04C0697200000, 0x0BE0500A2CE00000,
    0x0BE0540A31A00000, 0x0BE05840A9600000, 0x0BE05C0A32E00000, 0x0BE0600A34800000,
    0x0BE06409D9800000, 0x0BE0680A35800000, 0x0BE06C0A36A00000, 0x0BE070523BE00000,
    0x0BE0740A3EA00000, 0x0BE0780A40600000, 0x0BE07C069BE00000, 0x0BE0800A47600000,
    0x0BE0840A48C00000, 0x0BE0880A4E400000, 0x0BE08C0A4EE00000, 0x0BE09006A2A00000,
    0x0BE0940A58E00000, 0x0BE0980A59200000, 0x0BE09C0A5C800000, 0x0BE0A00A5F400000,
    0x0BE0A40A60A00000, 0x0BE0A80A60C00000, 0x0BE0AC0A62E00000, 0x0BE0B00A69200000,
    0x0BE0B40A6A200000, 0x0BE0B80A6B400000, 0x0BE0BC0A6E600000, 0x0BE0C00A6FA00000,
    0x0BE0C40A6FE00000, 0x0BE0C80A6FE00000, 0x0BE0CC0A6FE00000, 0x0BE0D04145800000,
    0x0BE0D40E0E000000, 0x0BE0D80A79400000, 0x0BE0DC0A7BE00000, 0x0BE0E0416C600000,
    0x0BE0E40A7D600000, 0x0BE0E80A7E200000, 0x0BE0EC0A80C00000, 0x0BE0F00A93C00000,
    0x0BE0F40A87000000, 0x0BE0F80A89000000, 0x0BE0FC0A8D000000, 0x0BE1000A94400000,
    0x0BE1040A9EC00000, 0x0BE1080AA2000000, 0x0BE10C0AAA600000, 0x0BE1100AAC600000,
    0x0BE1140AB0800000, 0x0BE1180AB0800000, 0x0BE11C0AB3200000, 0x0BE1200AB5600000,
    0x0BE1240AB6600000, 0x0BE1280AB8400000, 0x0BE12C0AE2C00000, 0x0BE1300AC0C00000,
    0x0BE1340AE2E00000, 0x0BE1380ACA200000, 0x0BE13C0ACE800000, 0x0BE1400A40E00000,
    0x0BE1440B1DC00000, 0x0BE1480AF9C00000, 0x0BE14C0AFE800000, 0x0BE1500B01A00000,
    0x0BE1540AF1600000, 0x0BE1580B06400000, 0x0BE15C0B06200000, 0x0BE1600B15800000,
    0x0BE164429C800000, 0x0BE1680B1E400000, 0x0BE16C0B1EE00000, 0x0BE1700B20C00000,
    0x0BE1740B23400000, 0x0BE1780B24400000, 0x0BE17C0B2C400000, 0x0BE18042D5000000,
    0x0BE18442DD400000, 0x0BE1880B3D800000, 0x0BE18C0B43600000, 0x0BE1900B44E00000,
    0x0BE1940B3B000000, 0x0BE1980B4CC00000, 0x0BE19C06DDC00000, 0x0BE1A006DF800000,
    0x0BE1A40B61000000, 0x0BE1A80B67C00000, 0x0BE1AC0B67C00000, 0x0BE1B04339000000,
    0x0BE1B40B78600000, 0x0BE1B80B7B000000, 0x0BE1BC0B7CE00000, 0x0BE1C00B7E600000,
    0x0BE1C44363000000, 0x0BE1C80B7FE00000, 0x0BE1CC0B80C00000, 0x0BE1D00BEA600000,
    0x0BE1D40B84400000, 0x0BE1D806F0200000, 0x0BE1DC0B8C000000, 0x0BE1E00B8DC00000,
    0x0BE1E40B98000000, 0x0BE1E80B91A00000, 0x0BE1EC43BC800000, 0x0BE1F00BA8600000,
    0x0BE1F443BCC00000, 0x0BE1F80BADC00000, 0x0BE1FC0BAD600000, 0x0BE2000BAF800000,
    0x0BE2040BBC200000, 0x0BE2080BBC400000, 0x0BE20C0705E00000, 0x0BE2100BBFA00000,
    0x0BE2140BC5000000, 0x0BE2180BC7A00000, 0x0BE21C0BCD200000, 0x0BE220070C400000,
    0x0BE2244430600000, 0x0BE228070F800000, 0x0BE22C0BD6000000, 0x0BE2300BD6600000,
    0x0BE2340BD6C00000, 0x0BE2380BD9400000, 0x0BE23C5472400000, 0x0BE2400BDFC00000,
    0x0BE2444466200000, 0x0BE2484466200000, 0x0BE24C1040200000, 0x0BE2500BE4400000,
    0x0BE2540BE4400000, 0x0BE2580718E00000, 0x0BE25C4657000000, 0x0BE2604C3B400000,
    0x0BE2640BEC400000, 0x0BE2680BED600000, 0x0BE26C071C600000, 0x0BE2700BF3400000,
    0x0BE2740BF9A00000, 0x0BE2780BFAE00000, 0x0BE27C0BFF200000, 0x0BE2800C10200000,
    0x0BE2840727400000, 0x0BE2880723800000, 0x0BE28C0C12800000, 0x0BE29044DA800000,
    0x0BE2940C18E00000, 0x0BE2980C29000000, 0x0BE29C0C29800000, 0x0BE2A00C29C00000,
    0x0BE2A40C29800000, 0x0BE2A80C2F400000, 0x0BE2AC0C31C00000, 0x0BE2B00C36400000,
    0x0BE2B40C34800000, 0x0BE2B80C35E00000, 0x0BE2BC0C3BC00000, 0x0BE2C00C3E400000,
    0x0BE2C40C3EC00000, 0x0BE2C80C42000000, 0x0BE2CC0C43600000, 0x0BE2D00C4BA00000,
    0x0BE2D40C56200000, 0x0BE2D80C5A800000, 0x0BE2DC0C6A000000, 0x0BE2E04561800000,
    0x0BE2E40C67A00000, 0x0BE2E80C5F800000, 0x0BE2EC0C6D000000, 0x0BE2F00C70600000,
    0x0BE2F40C7C800000, 0x0BE2F8457E200000, 0x0BE2FC0C84400000, 0x0BE3000C78A00000,
    0x0BE3040C75200000, 0x0BE3080745C00000, 0x0BE30C0C8D200000, 0x0BE3100C8FC00000,
    0x0BE3140C93A00000, 0x0BE3180C8EE00000, 0x0BE31C074D800000, 0x0BE3200CA9E00000,
    0x0BE3240CAD800000, 0x0BE3284601400000, 0x0BE32C0CBC600000, 0x0BE3300CDF000000,
    0x0BE3340CC9200000, 0x0BE3380763200000, 0x0BE33C0CD2200000, 0x0BE3400761000000,
    0x0BE344075C800000, 0x0BE3480A32400000, 0x0BE34C0A32A00000, 0x0BE3500CE0000000,
    0x0BE3540CD3800000, 0x0BE3581015A00000, 0x0BE35C087B200000, 0x0BE3600CE2E00000,
    0x0BE3640CE3600000, 0x0BE3680CE4200000, 0x0BE36C0CEBC00000, 0x0BE3700CEA600000,
    0x0BE3744678600000, 0x0BE3780769200000, 0x0BE37C0CFF400000, 0x0BE3800CF0A00000,
    0x0BE3840D0A400000, 0x0BE3880D10A00000, 0x0BE38C468DA00000, 0x0BE3900D11C00000,
    0x0BE3940D03E00000, 0x0BE3980D22800000, 0x0BE39C0773A00000, 0x0BE3A00D28400000,
    0x0BE3A40D34600000, 0x0BE3A80D3D400000, 0x0BE3AC0D55000000, 0x0BE3B046D4600000,
    0x0BE3B40D5B600000, 0x0BE3B80783000000, 0x0BE3BC0D64200000, 0x0BE3C04714E00000,
    0x0BE3C40D6A800000, 0x0BE3C80789C00000, 0x0BE3CC0D6E400000, 0x0BE3D00D73E00000,
    0x0BE3D40D77400000, 0x0BE3D80D77600000, 0x0BE3DC4751A00000, 0x0BE3E043A1600000,
    0x0BE3E4475F400000, 0x0BE3E80D89C00000, 0x0BE3EC4797800000, 0x0BE3F00D97E00000,
    0x0BE3F40D99A00000, 0x0BE3F80D8CE00000, 0x0BE3FC0DA2C00000, 0x0BE4000DA7C00000,
    0x0BE4040DAEE00000, 0x0BE4080DA8200000, 0x0BE40C0DAD200000, 0x0BE4100DAF000000,
    0x0BE4140DB0A00000, 0x0BE41847A3C00000, 0x0BE41C0DA6800000, 0x0BE4200DC5E00000,
    0x0BE4240DCDC00000, 0x0BE42807A6600000, 0x0BE42C0DD9600000, 0x0BE4300DD8E00000,
    0x0BE43447DA200000, 0x0BE4380DBF200000, 0x0BE43C0DEDC00000, 0x0BE44047EBC00000,
    0x0BE44447F1C00000, 0x0BE4480DF8C00000, 0x0BE44C0E07200000, 0x0BE4500E03C00000,
    0x0BE4540E03600000, 0x0BE45807B2C00000, 0x0BE45C0E09400000, 0x0BE4600E0FA00000,
    0x0BE4640E0EE00000, 0x0BE4680E15A00000, 0x0BE46C40A4A00000, 0x0BE4700E28A00000,
    0x0BE474484C600000, 0x0BE4780E33800000, 0x0BE47C4875600000, 0x0BE4800E45000000,
    0x0BE4840E46A00000, 0x0BE4880E4A000000, 0x0BE48C48C1000000, 0x0BE4900E50000000,
    0x0BE4940E52A00000, 0x0BE49848E6A00000, 0x0BE49C4902800000, 0x0BE4A00E6F400000,
    0x0BE4A40E71600000, 0x0BE4A807D5800000, 0x0BE4AC0E74A00000, 0x0BE4B007D7000000,
    0x0BE4B407D7000000, 0x0BE4B80E88E00000, 0x0BE4BC0E8B800000, 0x0BE4C00E8E200000,
    0x0BE4C40E90A00000, 0x0BE4C80E99400000, 0x0BE4CC07E3600000, 0x0BE4D00EA4800000,
    0x0BE4D44986C00000, 0x0BE4D80EA7C00000, 0x0BE4DC4992400000, 0x0BE4E00EAE000000,
    0x0BE4E44433E00000, 0x0BE4E80EC2000000, 0x0BE4EC49F4200000, 0x0BE4F049F7000000,
    0x0BE4F44A08800000, 0x0BE4F807FF800000, 0x0BE4FC0801000000, 0x0BE5000EDE800000,
    0x0BE5044A1E600000, 0x0BE5084A1E400000, 0x0BE50C4A23200000, 0x0BE5104A26600000,
    0x0BE5140EE3C00000, 0x0BE5180EE3E00000, 0x0BE51C0EE3E00000, 0x0BE5200EE9400000,
    0x0BE5240807200000, 0x0BE5280EF1600000, 0x0BE52C0808C00000, 0x0BE5300812C00000,
    0x0BE5344A83A00000, 0x0BE5380F09C00000, 0x0BE53C0F11800000, 0x0BE5400F19800000,
    0x0BE544081C600000, 0x0BE5484AC4C00000, 0x0BE54C0F2AC00000, 0x0BE5504AD3400000,
    0x0BE5544AD8A00000, 0x0BE5580F31E00000, 0x0BE55C0F3D600000, 0x0BE5600825E00000,
    0x0BE5640F48000000, 0x0BE5680F49400000, 0x0BE56C0F49E00000, 0x0BE5704B2F800000,
    0x0BE5744B54E00000, 0x0BE5784B54E00000, 0x0BE57C0F5DC00000, 0x0BE5800840400000,
    0x0BE5844B75600000, 0x0BE5880F78C00000, 0x0BE58C0F79200000, 0x0BE5900844E00000,
    0x0BE5944B90000000, 0x0BE5980F9A400000, 0x0BE59C0854000000, 0x0BE5A00F9D000000,
    0x0BE5A40F9C600000, 0x0BE5A80FA0000000, 0x0BE5AC4BF0C00000, 0x0BE5B00FAC600000,
    0x0BE5B40860200000, 0x0BE5B80FB8E00000, 0x0BE5BC0FC0400000, 0x0BE5C00FC8A00000,
    0x0BE5C40866800000, 0x0BE5C84C45000000, 0x0BE5CC4C48E00000, 0x0BE5D0086B200000,
    0x0BE5D44C5B200000, 0x0BE5D80FEF400000, 0x0BE5DC4C67C00000, 0x0BE5E00FF2A00000,
    0x0BE5E40FFF400000, 0x0BE5E81000A00000, 0x0BE5EC4C9B400000, 0x0BE5F04CA4600000,
    0x0BE5F4100C000000, 0x0BE5F84CB5000000, 0x0BE5FC100E000000, 0x0BE600466BE00000,
    0x0BE604087AA00000, 0x0BE6081016400000, 0x0BE60C1020600000, 0x0BE6100881600000,
    0x0BE6141027C00000, 0x0BE6180B56A00000, 0x0BE61C4CF4E00000, 0x0BE6204CF6A00000,
    0x0BE6244672600000, 0x0BE6284673800000, 0x0BE62C1040200000, 0x0BE6301040800000,
    0x0BE63411F3C00000, 0x0BE638088D600000, 0x0BE63C1052200000, 0x0BE6401051600000,
    0x0BE6441053A00000, 0x0BE6480A56600000, 0x0BE64C1056200000, 0x0BE6501056600000,
    0x0BE6541057A00000, 0x0BE658105CC00000, 0x0BE65C4D67800000, 0x0BE660105CA00000,
    0x0BE6641063A00000, 0x0BE668106C600000, 0x0BE66C1075A00000, 0x0BE6701064600000,
    0x0BE6741077A00000, 0x0BE678107CE00000, 0x0BE67C108AE00000, 0x0BE680106A600000,
    0x0BE6841079400000, 0x0BE6881079800000, 0x0BE68C107B800000, 0x0BE6904D86C00000,
    0x0BE6944DAD600000, 0x0BE6984D9AA00000, 0x0BE69C08A5600000, 0x0BE6A0109E200000,
    0x0BE6A4109E600000, 0x0BE6A810A2C00000, 0x0BE6AC4E79400000, 0x0BE6B010AC800000,
    0x0BE6B44DE5800000, 0x0BE6B808ABA00000, 0x0BE6BC08AC200000, 0x0BE6C04DF6200000,
    0x0BE6C44E1A400000, 0x0BE6C808AD600000, 0x0BE6CC10CA000000, 0x0BE6D010CB800000,
    0x0BE6D410CCE00000, 0x0BE6D810CD200000, 0x0BE6DC10D5200000, 0x0BE6E010D1000000,
    0x0BE6E410E1C00000, 0x0BE6E810DC400000, 0x0BE6EC10EF200000, 0x0BE6F010E5000000,
    0x0BE6F410ED600000, 0x0BE6F810F0C00000, 0x0BE6FC08BAE00000, 0x0BE70010FC200000,
    0x0BE7041100200000, 0x0BE70808BF200000, 0x0BE70C110C000000, 0x0BE710110C600000,
    0x0BE7144ECCE00000, 0x0BE718111AE00000, 0x0BE71C111BC00000, 0x0BE72008C6A00000,
    0x0BE724111F400000, 0x0BE7280697600000, 0x0BE72C4F15C00000, 0x0BE7304F2CC00000,
    0x0BE73408D7C00000, 0x0BE73808D8E00000, 0x0BE73C1154000000, 0x0BE740115DA00000,
    0x0BE7441171400000, 0x0BE748118AA00000, 0x0BE74C4F95000000, 0x0BE7501195600000,
    0x0BE7541198200000, 0x0BE75811A3600000, 0x0BE75C11AEE00000, 0x0BE7604FE5E00000,
    0x0BE7644100800000, 0x0BE76811B9600000, 0x0BE76C11B7800000, 0x0BE77011BE000000,
    0x0BE774411BC00000, 0x0BE77811DA800000, 0x0BE77C11E7000000, 0x0BE78050BA400000,
    0x0BE78450BDA00000, 0x0BE7881212800000, 0x0BE78C121E200000, 0x0BE7901222200000,
    0x0BE79450E5C00000, 0x0BE7981223600000, 0x0BE79C1247000000, 0x0BE7A0125AE00000,
    0x0BE7A4125B000000, 0x0BE7A8124F800000, 0x0BE7AC127F200000, 0x0BE7B01282A00000,
    0x0BE7B4517F400000, 0x0BE7B812B1600000, 0x0BE7BC0932A00000, 0x0BE7C012B6E00000,
    0x0BE7C451AEE00000, 0x0BE7C8093CC00000, 0x0BE7CC12D8600000, 0x0BE7D00BB6400000,
    0x0BE7D412E4600000, 0x0BE7D85228A00000, 0x0BE7DC5243400000, 0x0BE7E0094DC00000,
    0x0BE7E4094EC00000, 0x0BE7E812FC000000, 0x0BE7EC5281400000, 0x0BE7F00956400000,
    0x0BE7F45292C00000, 0x0BE7F81301600000, 0x0BE7FC1301600000, 0x0BE8001305200000,
    0x0BE80452B6C00000, 0x0BE808131C400000, 0x0BE80C0966600000, 0x0BE8101325200000,
    0x0BE8141334E00000, 0x0BE8181338400000, 0x0BE81C133FC00000, 0x0BE8200979C00000,
    0x0BE8245366000000, 0x0BE8281362400000, 0x0BE82C1388000000, 0x0BE830139FA00000,
    0x0BE8340999C00000, 0x0BE838099DA00000, 0x0BE83C13ACE00000, 0x0BE8405419C00000,
    0x0BE844099F000000, 0x0BE8485420A00000, 0x0BE84C5441C00000, 0x0BE8505452200000,
    0x0BE85413D7600000, 0x0BE85809AAC00000, 0x0BE85C13DF200000, 0x0BE86013DFC00000,
    0x0BE86413E0A00000, 0x0BE86813E1E00000, 0x0BE86C13E2C00000, 0x0BE87013E7600000,
    0x0BE87454C0000000,
};
static const uint16_t tk_comp[941] = {
    912, 909, 913, 0, 1, 2, 3, 53, 55, 238, 4, 572,
    5, 165, 208, 210, 570, 415, 57, 417, 419, 421, 59, 61,
    63, 65, 6, 425, 67, 427, 431, 433, 429, 7, 8, 9,
    598, 69, 71, 73, 10, 596, 77, 212, 214, 594, 240, 75,
    439, 441, 445, 198, 79, 447, 81, 83, 187, 85, 87, 449,
    453, 236, 451, 455, 457, 11, 12, 13, 89, 91, 93, 97,
    14, 610, 167, 216, 218, 612, 95, 459, 98, 463, 189, 465,
    100, 467, 102, 106, 469, 104, 475, 473, 477, 479, 481, 200,
    108, 15, 483, 112, 485, 110, 489, 487, 16, 17, 18, 19,
    114, 116, 246, 20, 616, 118, 169, 220, 222, 161, 614, 191,
    499, 501, 120, 503, 124, 224, 226, 505, 122, 509, 126, 128,
    511, 132, 513, 232, 130, 521, 136, 523, 234, 134, 527, 525,
    21, 22, 23, 138, 140, 142, 24, 640, 144, 146, 171, 228,
    230, 163, 638, 529, 148, 533, 531, 539, 541, 543, 545, 150,
    549, 547, 551, 553, 555, 652, 25, 152, 658, 250, 557, 154,
    656, 654, 155, 559, 157, 159, 561, 563, 26, 27, 28, 29,
    54, 56, 239, 30, 573, 31, 166, 209, 211, 571, 416, 58,
    418, 420, 422, 60, 62, 64, 66, 32, 426, 68, 428, 432,
    434, 430, 33, 34, 35, 599, 70, 72, 74, 36, 597, 78,
    213, 215, 595, 241, 76, 440, 442, 446, 199, 80, 448, 82,
    84, 188, 86, 88, 450, 454, 237, 452, 456, 458, 565, 37,
    38, 39, 90, 92, 94, 40, 611, 168, 217, 219, 613, 96,
    460, 99, 197, 464, 190, 466, 101, 468, 103, 107, 470, 105,
    476, 474, 478, 480, 482, 201, 109, 41, 484, 113, 486, 111,
    490, 488, 42, 43, 44, 45, 115, 117, 247, 46, 617, 119,
    170, 221, 223, 162, 615, 192, 500, 502, 121, 504, 125, 225,
    227, 506, 123, 510, 127, 129, 512, 133, 514, 233, 131, 522,
    566, 137, 524, 235, 135, 528, 526, 47, 48, 49, 139, 141,
    143, 50, 641, 145, 147, 172, 229, 231, 164, 639, 530, 149,
    534, 532, 540, 542, 544, 546, 151, 550, 548, 567, 552, 554,
    556, 653, 51, 153, 659, 251, 558, 52, 657, 568, 655, 156,
    560, 158, 160, 562, 564, 875, 258, 835, 576, 574, 580, 578,
    181, 202, 204, 185, 423, 602, 600, 606, 604, 461, 620, 618,
    624, 622, 491, 244, 493, 242, 206, 179, 175, 173, 177, 577,
    575, 581, 579, 182, 203, 205, 186, 424, 603, 601, 607, 605,
    462, 621, 619, 625, 623, 492, 245, 494, 243, 207, 180, 176,
    174, 178, 586, 584, 590, 588, 587, 585, 591, 589, 435, 437,
    436, 438, 495, 497, 496, 498, 515, 516, 517, 518, 535, 536,
    537, 538, 569, 630, 628, 634, 632, 636, 631, 629, 635, 633,
    637, 644, 642, 648, 646, 650, 645, 643, 649, 647, 651, 195,
    193, 194, 183, 184, 443, 444, 248, 249, 196, 831, 259, 830,
    829, 668, 669, 833, 841, 261, 682, 683, 843, 262, 696, 697,
    845, 857, 263, 856, 855, 268, 712, 713, 883, 264, 726, 727,
    874, 872, 265, 871, 870, 269, 740, 885, 266, 752, 753, 887,
    826, 838, 760, 270, 823, 822, 660, 661, 827, 825, 762, 271,
    676, 677, 764, 272, 688, 689, 839, 837, 766, 273, 850, 849,
    275, 704, 705, 853, 768, 277, 720, 721, 866, 867, 770, 278,
    863, 862, 276, 732, 733, 868, 772, 279, 744, 745, 881, 879,
    851, 267, 854, 864, 274, 869, 880, 280, 281, 285, 302, 304,
    284, 282, 306, 283, 300, 310, 312, 287, 314, 289, 316, 286,
    318, 324, 288, 326, 328, 330, 332, 322, 303, 305, 293, 291,
    307, 292, 301, 311, 313, 296, 315, 290, 317, 295, 319, 325,
    297, 327, 329, 331, 333, 323, 294, 298, 299, 308, 309, 320,
    321, 334, 335, 337, 336, 338, 340, 341, 339, 342, 343, 344,
    353, 354, 365, 364, 366, 369, 370, 372, 371, 373, 374, 377,
    375, 376, 378, 379, 381, 380, 382, 383, 385, 384, 403, 404,
    405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 471, 472,
    507, 508, 519, 520, 582, 592, 583, 593, 608, 609, 626, 627,
    662, 664, 666, 774, 663, 665, 667, 775, 776, 777, 778, 779,
    780, 781, 670, 672, 674, 782, 671, 673, 675, 783, 784, 785,
    786, 787, 788, 789, 678, 680, 679, 681, 684, 686, 685, 687,
    690, 692, 694, 790, 691, 693, 695, 791, 792, 793, 794, 795,
    796, 797, 698, 700, 702, 798, 699, 701, 703, 799, 800, 801,
    802, 803, 804, 805, 706, 708, 710, 707, 709, 711, 714, 716,
    718, 715, 717, 719, 722, 724, 723, 725, 728, 730, 729, 731,
    734, 736, 738, 735, 737, 739, 741, 742, 743, 746, 748, 750,
    806, 747, 749, 751, 807, 808, 809, 810, 811, 812, 813, 754,
    756, 758, 814, 755, 757, 759, 815, 816, 817, 818, 819, 820,
    821, 824, 836, 878, 828, 846, 847, 848, 840, 882, 859, 860,
    861, 894, 895, 896, 897, 899, 898, 900, 901, 902, 903, 904,
    905, 906, 907, 908, 911, 910, 914, 915, 916, 917, 918, 919,
    920, 921, 930, 931, 922, 923, 924, 925, 932, 933, 926, 927,
    928, 929, 934, 935, 936, 937, 966, 941, 942, 943, 944, 945,
    946, 947, 948, 949, 950, 951, 952, 953, 954, 955, 956, 957,
    958, 959, 960, 961, 962, 963, 964, 965, 967, 993, 968, 969,
    970, 971, 972, 973, 974, 975, 976, 977, 978, 979, 980, 981,
    982, 983, 984, 985, 986, 987, 988, 989, 990, 991, 992, 994,
    995, 996, 997, 998, 1493, 1494, 1495, 1496, 1497, 1498, 1499, 1501,
    1500, 1502, 1503, 1504, 1505,
};
static const uint32_t tk_nfc_maybe[556] = {
    0x00300, 0x0034E, 0x00350, 0x0036F, 0x00374, 0x00374, 0x0037E, 0x0037E, 0x00387, 0x00387, 0x00483, 0x00487,
    0x00591, 0x005BD, 0x005BF, 0x005BF, 0x005C1, 0x005C2, 0x005C4, 0x005C5, 0x005C7, 0x005C7, 0x00610, 0x0061A,
    0x0064B, 0x0065F, 0x00670, 0x00670, 0x006D6, 0x006DC, 0x006DF, 0x006E4, 0x006E7, 0x006E8, 0x006EA, 0x006ED,
    0x00711, 0x00711, 0x00730, 0x0074A, 0x007EB, 0x007F3, 0x007FD, 0x007FD, 0x00816, 0x00819, 0x0081B, 0x00823,
    0x00825, 0x00827, 0x00829, 0x0082D, 0x00859, 0x0085B, 0x00898, 0x0089F, 0x008CA, 0x008E1, 0x008E3, 0x008FF,
    0x0093C, 0x0093C, 0x0094D, 0x0094D, 0x00951, 0x00954, 0x00958, 0x0095F, 0x009BC, 0x009BC, 0x009BE, 0x009BE,
    0x009CD, 0x009CD, 0x009D7, 0x009D7, 0x009DC, 0x009DD, 0x009DF, 0x009DF, 0x009FE, 0x009FE, 0x00A33, 0x00A33,
    0x00A36, 0x00A36, 0x00A3C, 0x00A3C, 0x00A4D, 0x00A4D, 0x00A59, 0x00A5B, 0x00A5E, 0x00A5E, 0x00ABC, 0x00ABC,
    0x00ACD, 0x00ACD, 0x00B3C, 0x00B3C, 0x00B3E, 0x00B3E, 0x00B4D, 0x00B4D, 0x00B56, 0x00B57, 0x00B5C, 0x00B5D,
    0x00BBE, 0x00BBE, 0x00BCD, 0x00BCD, 0x00BD7, 0x00BD7, 0x00C3C, 0x00C3C, 0x00C4D, 0x00C4D, 0x00C55, 0x00C56,
    0x00CBC, 0x00CBC, 0x00CC2, 0x00CC2, 0x00CCD, 0x00CCD, 0x00CD5, 0x00CD6, 0x00D3B, 0x00D3C, 0x00D3E, 0x00D3E,
    0x00D4D, 0x00D4D, 0x00D57, 0x00D57, 0x00DCA, 0x00DCA, 0x00DCF, 0x00DCF, 0x00DDF, 0x00DDF, 0x00E38, 0x00E3A,
    0x00E48, 0x00E4B, 0x00EB8, 0x00EBA, 0x00EC8, 0x00ECB, 0x00F18, 0x00F19, 0x00F35, 0x00F35, 0x00F37, 0x00F37,
    0x00F39, 0x00F39, 0x00F43, 0x00F43, 0x00F4D, 0x00F4D, 0x00F52, 0x00F52, 0x00F57, 0x00F57, 0x00F5C, 0x00F5C,
    0x00F69, 0x00F69, 0x00F71, 0x00F76, 0x00F78, 0x00F78, 0x00F7A, 0x00F7D, 0x00F80, 0x00F84, 0x00F86, 0x00F87,
    0x00F93, 0x00F93, 0x00F9D, 0x00F9D, 0x00FA2, 0x00FA2, 0x00FA7, 0x00FA7, 0x00FAC, 0x00FAC, 0x00FB9, 0x00FB9,
    0x00FC6, 0x00FC6, 0x0102E, 0x0102E, 0x01037, 0x01037, 0x01039, 0x0103A, 0x0108D, 0x0108D, 0x01161, 0x01175,
    0x011A8, 0x011C2, 0x0135D, 0x0135F, 0x01714, 0x01715, 0x01734, 0x01734, 0x017D2, 0x017D2, 0x017DD, 0x017DD,
    0x018A9, 0x018A9, 0x01939, 0x0193B, 0x01A17, 0x01A18, 0x01A60, 0x01A60, 0x01A75, 0x01A7C, 0x01A7F, 0x01A7F,
    0x01AB0, 0x01ABD, 0x01ABF, 0x01ACE, 0x01B34, 0x01B35, 0x01B44, 0x01B44, 0x01B6B, 0x01B73, 0x01BAA, 0x01BAB,
    0x01BE6, 0x01BE6, 0x01BF2, 0x01BF3, 0x01C37, 0x01C37, 0x01CD0, 0x01CD2, 0x01CD4, 0x01CE0, 0x01CE2, 0x01CE8,
    0x01CED, 0x01CED, 0x01CF4, 0x01CF4, 0x01CF8, 0x01CF9, 0x01DC0, 0x01DFF, 0x01F71, 0x01F71, 0x01F73, 0x01F73,
    0x01F75, 0x01F75, 0x01F77, 0x01F77, 0x01F79, 0x01F79, 0x01F7B, 0x01F7B, 0x01F7D, 0x01F7D, 0x01FBB, 0x01FBB,
    0x01FBE, 0x01FBE, 0x01FC9, 0x01FC9, 0x01FCB, 0x01FCB, 0x01FD3, 0x01FD3, 0x01FDB, 0x01FDB, 0x01FE3, 0x01FE3,
    0x01FEB, 0x01FEB, 0x01FEE, 0x01FEF, 0x01FF9, 0x01FF9, 0x01FFB, 0x01FFB, 0x01FFD, 0x01FFD, 0x02000, 0x02001,
    0x020D0, 0x020DC, 0x020E1, 0x020E1, 0x020E5, 0x020F0, 0x02126, 0x02126, 0x0212A, 0x0212B, 0x02329, 0x0232A,
    0x02ADC, 0x02ADC, 0x02CEF, 0x02CF1, 0x02D7F, 0x02D7F, 0x02DE0, 0x02DFF, 0x0302A, 0x0302F, 0x03099, 0x0309A,
    0x0A66F, 0x0A66F, 0x0A674, 0x0A67D, 0x0A69E, 0x0A69F, 0x0A6F0, 0x0A6F1, 0x0A806, 0x0A806, 0x0A82C, 0x0A82C,
    0x0A8C4, 0x0A8C4, 0x0A8E0, 0x0A8F1, 0x0A92B, 0x0A92D, 0x0A953, 0x0A953, 0x0A9B3, 0x0A9B3, 0x0A9C0, 0x0A9C0,
    0x0AAB0, 0x0AAB0, 0x0AAB2, 0x0AAB4, 0x0AAB7, 0x0AAB8, 0x0AABE, 0x0AABF, 0x0AAC1, 0x0AAC1, 0x0AAF6, 0x0AAF6,
    0x0ABED, 0x0ABED, 0x0F900, 0x0FA0D, 0x0FA10, 0x0FA10, 0x0FA12, 0x0FA12, 0x0FA15, 0x0FA1E, 0x0FA20, 0x0FA20,
    0x0FA22, 0x0FA22, 0x0FA25, 0x0FA26, 0x0FA2A, 0x0FA6D, 0x0FA70, 0x0FAD9, 0x0FB1D, 0x0FB1F, 0x0FB2A, 0x0FB36,
    0x0FB38, 0x0FB3C, 0x0FB3E, 0x0FB3E, 0x0FB40, 0x0FB41, 0x0FB43, 0x0FB44, 0x0FB46, 0x0FB4E, 0x0FE20, 0x0FE2F,
    0x101FD, 0x101FD, 0x102E0, 0x102E0, 0x10376, 0x1037A, 0x10A0D, 0x10A0D, 0x10A0F, 0x10A0F, 0x10A38, 0x10A3A,
    0x10A3F, 0x10A3F, 0x10AE5, 0x10AE6, 0x10D24, 0x10D27, 0x10EAB, 0x10EAC, 0x10EFD, 0x10EFF, 0x10F46, 0x10F50,
    0x10F82, 0x10F85, 0x11046, 0x11046, 0x11070, 0x11070, 0x1107F, 0x1107F, 0x110B9, 0x110BA, 0x11100, 0x11102,
    0x11127, 0x11127, 0x11133, 0x11134, 0x11173, 0x11173, 0x111C0, 0x111C0, 0x111CA, 0x111CA, 0x11235, 0x11236,
    0x112E9, 0x112EA, 0x1133B, 0x1133C, 0x1133E, 0x1133E, 0x1134D, 0x1134D, 0x11357, 0x11357, 0x11366, 0x1136C,
    0x11370, 0x11374, 0x11442, 0x11442, 0x11446, 0x11446, 0x1145E, 0x1145E, 0x114B0, 0x114B0, 0x114BA, 0x114BA,
    0x114BD, 0x114BD, 0x114C2, 0x114C3, 0x115AF, 0x115AF, 0x115BF, 0x115C0, 0x1163F, 0x1163F, 0x116B6, 0x116B7,
    0x1172B, 0x1172B, 0x11839, 0x1183A, 0x11930, 0x11930, 0x1193D, 0x1193E, 0x11943, 0x11943, 0x119E0, 0x119E0,
    0x11A34, 0x11A34, 0x11A47, 0x11A47, 0x11A99, 0x11A99, 0x11C3F, 0x11C3F, 0x11D42, 0x11D42, 0x11D44, 0x11D45,
    0x11D97, 0x11D97, 0x11F41, 0x11F42, 0x16AF0, 0x16AF4, 0x16B30, 0x16B36, 0x16FF0, 0x16FF1, 0x1BC9E, 0x1BC9E,
    0x1D15E, 0x1D169, 0x1D16D, 0x1D172, 0x1D17B, 0x1D182, 0x1D185, 0x1D18B, 0x1D1AA, 0x1D1AD, 0x1D1BB, 0x1D1C0,
    0x1D242, 0x1D244, 0x1E000, 0x1E006, 0x1E008, 0x1E018, 0x1E01B, 0x1E021, 0x1E023, 0x1E024, 0x1E026, 0x1E02A,
    0x1E08F, 0x1E08F, 0x1E130, 0x1E136, 0x1E2AE, 0x1E2AE, 0x1E2EC, 0x1E2EF, 0x1E4EC, 0x1E4EF, 0x1E8D0, 0x1E8D6,
    0x1E944, 0x1E94A, 0x2F800, 0x2FA1D,
};
static const uint64_t tk_fold[1454] = {
    0x00008200061, 0x00008400062, 0x00008600063, 0x00008800064, 0x00008A00065, 0x00008C00066,
    0x00008E00067, 0x00009000068, 0x00009200069, 0x0000940006A, 0x0000960006B, 0x0000980006C,
    0x00009A0006D, 0x00009C0006E, 0x00009E0006F, 0x0000A000070, 0x0000A200071, 0x0000A400072,
    0x0000A600073, 0x0000A800074, 0x0000AA00075, 0x0000AC00076, 0x0000AE00077, 0x0000B000078,
    0x0000B200079, 0x0000B40007A, 0x00016A003BC, 0x000180000E0, 0x000182000E1, 0x000184000E2,
    0x000186000E3, 0x000188000E4, 0x00018A000E5, 0x00018C000E6, 0x00018E000E7, 0x000190000E8,
    0x000192000E9, 0x000194000EA, 0x000196000EB, 0x000198000EC, 0x00019A000ED, 0x00019C000EE,
    0x00019E000EF, 0x0001A0000F0, 0x0001A2000F1, 0x0001A4000F2, 0x0001A6000F3, 0x0001A8000F4,
    0x0001AA000F5, 0x0001AC000F6, 0x0001B0000F8, 0x0001B2000F9, 0x0001B4000FA, 0x0001B6000FB,
    0x0001B8000FC, 0x0001BA000FD, 0x0001BC000FE, 0x00020000101, 0x00020400103, 0x00020800105,
    0x00020C00107, 0x00021000109, 0x0002140010B, 0x0002180010D, 0x00021C0010F, 0x00022000111,
    0x00022400113, 0x00022800115, 0x00022C00117, 0x00023000119, 0x0002340011B, 0x0002380011D,
    0x00023C0011F, 0x00024000121, 0x00024400123, 0x00024800125, 0x00024C00127, 0x00025000129,
    0x0002540012B, 0x0002580012D, 0x00025C0012F, 0x00026400133, 0x00026800135, 0x00026C00137,
    0x0002720013A, 0x0002760013C, 0x00027A0013E, 0x00027E00140, 0x00028200142, 0x00028600144,
    0x00028A00146, 0x00028E00148, 0x0002940014B, 0x0002980014D, 0x00029C0014F, 0x0002A000151,
    0x0002A400153, 0x0002A800155, 0x0002AC00157, 0x0002B000159, 0x0002B40015B, 0x0002B80015D,
    0x0002BC0015F, 0x0002C000161, 0x0002C400163, 0x0002C800165, 0x0002CC00167, 0x0002D000169,
    0x0002D40016B, 0x0002D80016D, 0x0002DC0016F, 0x0002E000171, 0x0002E400173, 0x0002E800175,
    0x0002EC00177, 0x0002F0000FF, 0x0002F20017A, 0x0002F60017C, 0x0002FA0017E, 0x0002FE00073,
    0x00030200253, 0x00030400183, 0x00030800185, 0x00030C00254, 0x00030E00188, 0x00031200256,
    0x00031400257, 0x0003160018C, 0x00031C001DD, 0x00031E00259, 0x0003200025B, 0x00032200192,
    0x00032600260, 0x00032800263, 0x00032C00269, 0x00032E00268, 0x00033000199, 0x0003380026F,
    0x00033A00272, 0x00033E00275, 0x000340001A1, 0x000344001A3, 0x000348001A5, 0x00034C00280,
    0x00034E001A8, 0x00035200283, 0x000358001AD, 0x00035C00288, 0x00035E001B0, 0x0003620028A,
    0x0003640028B, 0x000366001B4, 0x00036A001B6, 0x00036E00292, 0x000370001B9, 0x000378001BD,
    0x000388001C6, 0x00038A001C6, 0x00038E001C9, 0x000390001C9, 0x000394001CC, 0x000396001CC,
    0x00039A001CE, 0x00039E001D0, 0x0003A2001D2, 0x0003A6001D4, 0x0003AA001D6, 0x0003AE001D8,
    0x0003B2001DA, 0x0003B6001DC, 0x0003BC001DF, 0x0003C0001E1, 0x0003C4001E3, 0x0003C8001E5,
    0x0003CC001E7, 0x0003D0001E9, 0x0003D4001EB, 0x0003D8001ED, 0x0003DC001EF, 0x0003E2001F3,
    0x0003E4001F3, 0x0003E8001F5, 0x0003EC00195, 0x0003EE001BF, 0x0003F0001F9, 0x0003F4001FB,
    0x0003F8001FD, 0x0003FC001FF, 0x00040000201, 0x00040400203, 0x00040800205, 0x00040C00207,
    0x00041000209, 0x0004140020B, 0x0004180020D, 0x00041C0020F, 0x00042000211, 0x00042400213,
    0x00042800215, 0x00042C00217, 0x00043000219, 0x0004340021B, 0x0004380021D, 0x00043C0021F,
    0x0004400019E, 0x00044400223, 0x00044800225, 0x00044C00227, 0x00045000229, 0x0004540022B,
    0x0004580022D, 0x00045C0022F, 0x00046000231, 0x00046400233, 0x00047402C65, 0x0004760023C,
    0x00047A0019A, 0x00047C02C66, 0x00048200242, 0x00048600180, 0x00048800289, 0x00048A0028C,
    0x00048C00247, 0x00049000249, 0x0004940024B, 0x0004980024D, 0x00049C0024F, 0x00068A003B9,
    0x0006E000371, 0x0006E400373, 0x0006EC00377, 0x0006FE003F3, 0x00070C003AC, 0x000710003AD,
    0x000712003AE, 0x000714003AF, 0x000718003CC, 0x00071C003CD, 0x00071E003CE, 0x000722003B1,
    0x000724003B2, 0x000726003B3, 0x000728003B4, 0x00072A003B5, 0x00072C003B6, 0x00072E003B7,
    0x000730003B8, 0x000732003B9, 0x000734003BA, 0x000736003BB, 0x000738003BC, 0x00073A003BD,
    0x00073C003BE, 0x00073E003BF, 0x000740003C0, 0x000742003C1, 0x000746003C3, 0x000748003C4,
    0x00074A003C5, 0x00074C003C6, 0x00074E003C7, 0x000750003C8, 0x000752003C9, 0x000754003CA,
    0x000756003CB, 0x000784003C3, 0x00079E003D7, 0x0007A0003B2, 0x0007A2003B8, 0x0007AA003C6,
    0x0007AC003C0, 0x0007B0003D9, 0x0007B4003DB, 0x0007B8003DD, 0x0007BC003DF, 0x0007C0003E1,
    0x0007C4003E3, 0x0007C8003E5, 0x0007CC003E7, 0x0007D0003E9, 0x0007D4003EB, 0x0007D8003ED,
    0x0007DC003EF, 0x0007E0003BA, 0x0007E2003C1, 0x0007E8003B8, 0x0007EA003B5, 0x0007EE003F8,
    0x0007F2003F2, 0x0007F4003FB, 0x0007FA0037B, 0x0007FC0037C, 0x0007FE0037D, 0x00080000450,
    0x00080200451, 0x00080400452, 0x00080600453, 0x00080800454, 0x00080A00455, 0x00080C00456,
    0x00080E00457, 0x00081000458, 0x00081200459, 0x0008140045A, 0x0008160045B, 0x0008180045C,
    0x00081A0045D, 0x00081C0045E, 0x00081E0045F, 0x00082000430, 0x00082200431, 0x00082400432,
    0x00082600433, 0x00082800434, 0x00082A00435, 0x00082C00436, 0x00082E00437, 0x00083000438,
    0x00083200439, 0x0008340043A, 0x0008360043B, 0x0008380043C, 0x00083A0043D, 0x00083C0043E,
    0x00083E0043F, 0x00084000440, 0x00084200441, 0x00084400442, 0x00084600443, 0x00084800444,
    0x00084A00445, 0x00084C00446, 0x00084E00447, 0x00085000448, 0x00085200449, 0x0008540044A,
    0x0008560044B, 0x0008580044C, 0x00085A0044D, 0x00085C0044E, 0x00085E0044F, 0x0008C000461,
    0x0008C400463, 0x0008C800465, 0x0008CC00467, 0x0008D000469, 0x0008D40046B, 0x0008D80046D,
    0x0008DC0046F, 0x0008E000471, 0x0008E400473, 0x0008E800475, 0x0008EC00477, 0x0008F000479,
    0x0008F40047B, 0x0008F80047D, 0x0008FC0047F, 0x00090000481, 0x0009140048B, 0x0009180048D,
    0x00091C0048F, 0x00092000491, 0x00092400493, 0x00092800495, 0x00092C00497, 0x00093000499,
    0x0009340049B, 0x0009380049D, 0x00093C0049F, 0x000940004A1, 0x000944004A3, 0x000948004A5,
    0x00094C004A7, 0x000950004A9, 0x000954004AB, 0x000958004AD, 0x00095C004AF, 0x000960004B1,
    0x000964004B3, 0x000968004B5, 0x00096C004B7, 0x000970004B9, 0x000974004BB, 0x000978004BD,
    0x00097C004BF, 0x000980004CF, 0x000982004C2, 0x000986004C4, 0x00098A004C6, 0x00098E004C8,
    0x000992004CA, 0x000996004CC, 0x00099A004CE, 0x0009A0004D1, 0x0009A4004D3, 0x0009A8004D5,
    0x0009AC004D7, 0x0009B0004D9, 0x0009B4004DB, 0x0009B8004DD, 0x0009BC004DF, 0x0009C0004E1,
    0x0009C4004E3, 0x0009C8004E5, 0x0009CC004E7, 0x0009D0004E9, 0x0009D4004EB, 0x0009D8004ED,
    0x0009DC004EF, 0x0009E0004F1, 0x0009E4004F3, 0x0009E8004F5, 0x0009EC004F7, 0x0009F0004F9,
    0x0009F4004FB, 0x0009F8004FD, 0x0009FC004FF, 0x000A0000501, 0x000A0400503, 0x000A0800505,
    0x000A0C00507, 0x000A1000509, 0x000A140050B, 0x000A180050D, 0x000A1C0050F, 0x000A2000511,
    0x000A2400513, 0x000A2800515, 0x000A2C00517, 0x000A3000519, 0x000A340051B, 0x000A380051D,
    0x000A3C0051F, 0x000A4000521, 0x000A4400523, 0x000A4800525, 0x000A4C00527, 0x000A5000529,
    0x000A540052B, 0x000A580052D, 0x000A5C0052F, 0x000A6200561, 0x000A6400562, 0x000A6600563,
    0x000A6800564, 0x000A6A00565, 0x000A6C00566, 0x000A6E00567, 0x000A7000568, 0x000A7200569,
    0x000A740056A, 0x000A760056B, 0x000A780056C, 0x000A7A0056D, 0x000A7C0056E, 0x000A7E0056F,
    0x000A8000570, 0x000A8200571, 0x000A8400572, 0x000A8600573, 0x000A8800574, 0x000A8A00575,
    0x000A8C00576, 0x000A8E00577, 0x000A9000578, 0x000A9200579, 0x000A940057A, 0x000A960057B,
    0x000A980057C, 0x000A9A0057D, 0x000A9C0057E, 0x000A9E0057F, 0x000AA000580, 0x000AA200581,
    0x000AA400582, 0x000AA600583, 0x000AA800584, 0x000AAA00585, 0x000AAC00586, 0x00214002D00,
    0x00214202D01, 0x00214402D02, 0x00214602D03, 0x00214802D04, 0x00214A02D05, 0x00214C02D06,
    0x00214E02D07, 0x00215002D08, 0x00215202D09, 0x00215402D0A, 0x00215602D0B, 0x00215802D0C,
    0x00215A02D0D, 0x00215C02D0E, 0x00215E02D0F, 0x00216002D10, 0x00216202D11, 0x00216402D12,
    0x00216602D13, 0x00216802D14, 0x00216A02D15, 0x00216C02D16, 0x00216E02D17, 0x00217002D18,
    0x00217202D19, 0x00217402D1A, 0x00217602D1B, 0x00217802D1C, 0x00217A02D1D, 0x00217C02D1E,
    0x00217E02D1F, 0x00218002D20, 0x00218202D21, 0x00218402D22, 0x00218602D23, 0x00218802D24,
    0x00218A02D25, 0x00218E02D27, 0x00219A02D2D, 0x0027F0013F0, 0x0027F2013F1, 0x0027F4013F2,
    0x0027F6013F3, 0x0027F8013F4, 0x0027FA013F5, 0x00390000432, 0x00390200434, 0x0039040043E,
    0x00390600441, 0x00390800442, 0x00390A00442, 0x00390C0044A, 0x00390E00463, 0x0039100A64B,
    0x003920010D0, 0x003922010D1, 0x003924010D2, 0x003926010D3, 0x003928010D4, 0x00392A010D5,
    0x00392C010D6, 0x00392E010D7, 0x003930010D8, 0x003932010D9, 0x003934010DA, 0x003936010DB,
    0x003938010DC, 0x00393A010DD, 0x00393C010DE, 0x00393E010DF, 0x003940010E0, 0x003942010E1,
    0x003944010E2, 0x003946010E3, 0x003948010E4, 0x00394A010E5, 0x00394C010E6, 0x00394E010E7,
    0x003950010E8, 0x003952010E9, 0x003954010EA, 0x003956010EB, 0x003958010EC, 0x00395A010ED,
    0x00395C010EE, 0x00395E010EF, 0x003960010F0, 0x003962010F1, 0x003964010F2, 0x003966010F3,
    0x003968010F4, 0x00396A010F5, 0x00396C010F6, 0x00396E010F7, 0x003970010F8, 0x003972010F9,
    0x003974010FA, 0x00397A010FD, 0x00397C010FE, 0x00397E010FF, 0x003C0001E01, 0x003C0401E03,
    0x003C0801E05, 0x003C0C01E07, 0x003C1001E09, 0x003C1401E0B, 0x003C1801E0D, 0x003C1C01E0F,
    0x003C2001E11, 0x003C2401E13, 0x003C2801E15, 0x003C2C01E17, 0x003C3001E19, 0x003C3401E1B,
    0x003C3801E1D, 0x003C3C01E1F, 0x003C4001E21, 0x003C4401E23, 0x003C4801E25, 0x003C4C01E27,
    0x003C5001E29, 0x003C5401E2B, 0x003C5801E2D, 0x003C5C01E2F, 0x003C6001E31, 0x003C6401E33,
    0x003C6801E35, 0x003C6C01E37, 0x003C7001E39, 0x003C7401E3B, 0x003C7801E3D, 0x003C7C01E3F,
    0x003C8001E41, 0x003C8401E43, 0x003C8801E45, 0x003C8C01E47, 0x003C9001E49, 0x003C9401E4B,
    0x003C9801E4D, 0x003C9C01E4F, 0x003CA001E51, 0x003CA401E53, 0x003CA801E55, 0x003CAC01E57,
    0x003CB001E59, 0x003CB401E5B, 0x003CB801E5D, 0x003CBC01E5F, 0x003CC001E61, 0x003CC401E63,
    0x003CC801E65, 0x003CCC01E67, 0x003CD001E69, 0x003CD401E6B, 0x003CD801E6D, 0x003CDC01E6F,
    0x003CE001E71, 0x003CE401E73, 0x003CE801E75, 0x003CEC01E77, 0x003CF001E79, 0x003CF401E7B,
    0x003CF801E7D, 0x003CFC01E7F, 0x003D0001E81, 0x003D0401E83, 0x003D0801E85, 0x003D0C01E87,
    0x003D1001E89, 0x003D1401E8B, 0x003D1801E8D, 0x003D1C01E8F, 0x003D2001E91, 0x003D2401E93,
    0x003D2801E95, 0x003D3601E61, 0x003D3C000DF, 0x003D4001EA1, 0x003D4401EA3, 0x003D4801EA5,
    0x003D4C01EA7, 0x003D5001EA9, 0x003D5401EAB, 0x003D5801EAD, 0x003D5C01EAF, 0x003D6001EB1,
    0x003D6401EB3, 0x003D6801EB5, 0x003D6C01EB7, 0x003D7001EB9, 0x003D7401EBB, 0x003D7801EBD,
    0x003D7C01EBF, 0x003D8001EC1, 0x003D8401EC3, 0x003D8801EC5, 0x003D8C01EC7, 0x003D9001EC9,
    0x003D9401ECB, 0x003D9801ECD, 0x003D9C01ECF, 0x003DA001ED1, 0x003DA401ED3, 0x003DA801ED5,
    0x003DAC01ED7, 0x003DB001ED9, 0x003DB401EDB, 0x003DB801EDD, 0x003DBC01EDF, 0x003DC001EE1,
    0x003DC401EE3, 0x003DC801EE5, 0x003DCC01EE7, 0x003DD001EE9, 0x003DD401EEB, 0x003DD801EED,
    0x003DDC01EEF, 0x003DE001EF1, 0x003DE401EF3, 0x003DE801EF5, 0x003DEC01EF7, 0x003DF001EF9,
    0x003DF401EFB, 0x003DF801EFD, 0x003DFC01EFF, 0x003E1001F00, 0x003E1201F01, 0x003E1401F02,
    0x003E1601F03, 0x003E1801F04, 0x003E1A01F05, 0x003E1C01F06, 0x003E1E01F07, 0x003E3001F10,
    0x003E3201F11, 0x003E3401F12, 0x003E3601F13, 0x003E3801F14, 0x003E3A01F15, 0x003E5001F20,
    0x003E5201F21, 0x003E5401F22, 0x003E5601F23, 0x003E5801F24, 0x003E5A01F25, 0x003E5C01F26,
    0x003E5E01F27, 0x003E7001F30, 0x003E7201F31, 0x003E7401F32, 0x003E7601F33, 0x003E7801F34,
    0x003E7A01F35, 0x003E7C01F36, 0x003E7E01F37, 0x003E9001F40, 0x003E9201F41, 0x003E9401F42,
    0x003E9601F43, 0x003E9801F44, 0x003E9A01F45, 0x003EB201F51, 0x003EB601F53, 0x003EBA01F55,
    0x003EBE01F57, 0x003ED001F60, 0x003ED201F61, 0x003ED401F62, 0x003ED601F63, 0x003ED801F64,
    0x003EDA01F65, 0x003EDC01F66, 0x003EDE01F67, 0x003F1001F80, 0x003F1201F81, 0x003F1401F82,
    0x003F1601F83, 0x003F1801F84, 0x003F1A01F85, 0x003F1C01F86, 0x003F1E01F87, 0x003F3001F90,
    0x003F3201F91, 0x003F3401F92, 0x003F3601F93, 0x003F3801F94, 0x003F3A01F95, 0x003F3C01F96,
    0x003F3E01F97, 0x003F5001FA0, 0x003F5201FA1, 0x003F5401FA2, 0x003F5601FA3, 0x003F5801FA4,
    0x003F5A01FA5, 0x003F5C01FA6, 0x003F5E01FA7, 0x003F7001FB0, 0x003F7201FB1, 0x003F7401F70,
    0x003F7601F71, 0x003F7801FB3, 0x003F7C003B9, 0x003F9001F72, 0x003F9201F73, 0x003F9401F74,
    0x003F9601F75, 0x003F9801FC3, 0x003FB001FD0, 0x003FB201FD1, 0x003FB401F76, 0x003FB601F77,
    0x003FD001FE0, 0x003FD201FE1, 0x003FD401F7A, 0x003FD601F7B, 0x003FD801FE5, 0x003FF001F78,
    0x003FF201F79, 0x003FF401F7C, 0x003FF601F7D, 0x003FF801FF3, 0x00424C003C9, 0x0042540006B,
    0x004256000E5, 0x0042640214E, 0x0042C002170, 0x0042C202171, 0x0042C402172, 0x0042C602173,
    0x0042C802174, 0x0042CA02175, 0x0042CC02176, 0x0042CE02177, 0x0042D002178, 0x0042D202179,
    0x0042D40217A, 0x0042D60217B, 0x0042D80217C, 0x0042DA0217D, 0x0042DC0217E, 0x0042DE0217F,
    0x00430602184, 0x00496C024D0, 0x00496E024D1, 0x004970024D2, 0x004972024D3, 0x004974024D4,
    0x004976024D5, 0x004978024D6, 0x00497A024D7, 0x00497C024D8, 0x00497E024D9, 0x004980024DA,
    0x004982024DB, 0x004984024DC, 0x004986024DD, 0x004988024DE, 0x00498A024DF, 0x00498C024E0,
    0x00498E024E1, 0x004990024E2, 0x004992024E3, 0x004994024E4, 0x004996024E5, 0x004998024E6,
    0x00499A024E7, 0x00499C024E8, 0x00499E024E9, 0x00580002C30, 0x00580202C31, 0x00580402C32,
    0x00580602C33, 0x00580802C34, 0x00580A02C35, 0x00580C02C36, 0x00580E02C37, 0x00581002C38,
    0x00581202C39, 0x00581402C3A, 0x00581602C3B, 0x00581802C3C, 0x00581A02C3D, 0x00581C02C3E,
    0x00581E02C3F, 0x00582002C40, 0x00582202C41, 0x00582402C42, 0x00582602C43, 0x00582802C44,
    0x00582A02C45, 0x00582C02C46, 0x00582E02C47, 0x00583002C48, 0x00583202C49, 0x00583402C4A,
    0x00583602C4B, 0x00583802C4C, 0x00583A02C4D, 0x00583C02C4E, 0x00583E02C4F, 0x00584002C50,
    0x00584202C51, 0x00584402C52, 0x00584602C53, 0x00584802C54, 0x00584A02C55, 0x00584C02C56,
    0x00584E02C57, 0x00585002C58, 0x00585202C59, 0x00585402C5A, 0x00585602C5B, 0x00585802C5C,
    0x00585A02C5D, 0x00585C02C5E, 0x00585E02C5F, 0x0058C002C61, 0x0058C40026B, 0x0058C601D7D,
    0x0058C80027D, 0x0058CE02C68, 0x0058D202C6A, 0x0058D602C6C, 0x0058DA00251, 0x0058DC00271,
    0x0058DE00250, 0x0058E000252, 0x0058E402C73, 0x0058EA02C76, 0x0058FC0023F, 0x0058FE00240,
    0x00590002C81, 0x00590402C83, 0x00590802C85, 0x00590C02C87, 0x00591002C89, 0x00591402C8B,
    0x00591802C8D, 0x00591C02C8F, 0x00592002C91, 0x00592402C93, 0x00592802C95, 0x00592C02C97,
    0x00593002C99, 0x00593402C9B, 0x00593802C9D, 0x00593C02C9F, 0x00594002CA1, 0x00594402CA3,
    0x00594802CA5, 0x00594C02CA7, 0x00595002CA9, 0x00595402CAB, 0x00595802CAD, 0x00595C02CAF,
    0x00596002CB1, 0x00596402CB3, 0x00596802CB5, 0x00596C02CB7, 0x00597002CB9, 0x00597402CBB,
    0x00597802CBD, 0x00597C02CBF, 0x00598002CC1, 0x00598402CC3, 0x00598802CC5, 0x00598C02CC7,
    0x00599002CC9, 0x00599402CCB, 0x00599802CCD, 0x00599C02CCF, 0x0059A002CD1, 0x0059A402CD3,
    0x0059A802CD5, 0x0059AC02CD7, 0x0059B002CD9, 0x0059B402CDB, 0x0059B802CDD, 0x0059BC02CDF,
    0x0059C002CE1, 0x0059C402CE3, 0x0059D602CEC, 0x0059DA02CEE, 0x0059E402CF3, 0x014C800A641,
    0x014C840A643, 0x014C880A645, 0x014C8C0A647, 0x014C900A649, 0x014C940A64B, 0x014C980A64D,
    0x014C9C0A64F, 0x014CA00A651, 0x014CA40A653, 0x014CA80A655, 0x014CAC0A657, 0x014CB00A659,
    0x014CB40A65B, 0x014CB80A65D, 0x014CBC0A65F, 0x014CC00A661, 0x014CC40A663, 0x014CC80A665,
    0x014CCC0A667, 0x014CD00A669, 0x014CD40A66B, 0x014CD80A66D, 0x014D000A681, 0x014D040A683,
    0x014D080A685, 0x014D0C0A687, 0x014D100A689, 0x014D140A68B, 0x014D180A68D, 0x014D1C0A68F,
    0x014D200A691, 0x014D240A693, 0x014D280A695, 0x014D2C0A697, 0x014D300A699, 0x014D340A69B,
    0x014E440A723, 0x014E480A725, 0x014E4C0A727, 0x014E500A729, 0x014E540A72B, 0x014E580A72D,
    0x014E5C0A72F, 0x014E640A733, 0x014E680A735, 0x014E6C0A737, 0x014E700A739, 0x014E740A73B,
    0x014E780A73D, 0x014E7C0A73F, 0x014E800A741, 0x014E840A743, 0x014E880A745, 0x014E8C0A747,
    0x014E900A749, 0x014E940A74B, 0x014E980A74D, 0x014E9C0A74F, 0x014EA00A751, 0x014EA40A753,
    0x014EA80A755, 0x014EAC0A757, 0x014EB00A759, 0x014EB40A75B, 0x014EB80A75D, 0x014EBC0A75F,
    0x014EC00A761, 0x014EC40A763, 0x014EC80A765, 0x014ECC0A767, 0x014ED00A769, 0x014ED40A76B,
    0x014ED80A76D, 0x014EDC0A76F, 0x014EF20A77A, 0x014EF60A77C, 0x014EFA01D79, 0x014EFC0A77F,
    0x014F000A781, 0x014F040A783, 0x014F080A785, 0x014F0C0A787, 0x014F160A78C, 0x014F1A00265,
    0x014F200A791, 0x014F240A793, 0x014F2C0A797, 0x014F300A799, 0x014F340A79B, 0x014F380A79D,
    0x014F3C0A79F, 0x014F400A7A1, 0x014F440A7A3, 0x014F480A7A5, 0x014F4C0A7A7, 0x014F500A7A9,
    0x014F5400266, 0x014F560025C, 0x014F5800261, 0x014F5A0026C, 0x014F5C0026A, 0x014F600029E,
    0x014F6200287, 0x014F640029D, 0x014F660AB53, 0x014F680A7B5, 0x014F6C0A7B7, 0x014F700A7B9,
    0x014F740A7BB, 0x014F780A7BD, 0x014F7C0A7BF, 0x014F800A7C1, 0x014F840A7C3, 0x014F880A794,
    0x014F8A00282, 0x014F8C01D8E, 0x014F8E0A7C8, 0x014F920A7CA, 0x014FA00A7D1, 0x014FAC0A7D7,
    0x014FB00A7D9, 0x014FEA0A7F6, 0x0156E0013A0, 0x0156E2013A1, 0x0156E4013A2, 0x0156E6013A3,
    0x0156E8013A4, 0x0156EA013A5, 0x0156EC013A6, 0x0156EE013A7, 0x0156F0013A8, 0x0156F2013A9,
    0x0156F4013AA, 0x0156F6013AB, 0x0156F8013AC, 0x0156FA013AD, 0x0156FC013AE, 0x0156FE013AF,
    0x015700013B0, 0x015702013B1, 0x015704013B2, 0x015706013B3, 0x015708013B4, 0x01570A013B5,
    0x01570C013B6, 0x01570E013B7, 0x015710013B8, 0x015712013B9, 0x015714013BA, 0x015716013BB,
    0x015718013BC, 0x01571A013BD, 0x01571C013BE, 0x01571E013BF, 0x015720013C0, 0x015722013C1,
    0x015724013C2, 0x015726013C3, 0x015728013C4, 0x01572A013C5, 0x01572C013C6, 0x01572E013C7,
    0x015730013C8, 0x015732013C9, 0x015734013CA, 0x015736013CB, 0x015738013CC, 0x01573A013CD,
    0x01573C013CE, 0x01573E013CF, 0x015740013D0, 0x015742013D1, 0x015744013D2, 0x015746013D3,
    0x015748013D4, 0x01574A013D5, 0x01574C013D6, 0x01574E013D7, 0x015750013D8, 0x015752013D9,
    0x015754013DA, 0x015756013DB, 0x015758013DC, 0x01575A013DD, 0x01575C013DE, 0x01575E013DF,
    0x015760013E0, 0x015762013E1, 0x015764013E2, 0x015766013E3, 0x015768013E4, 0x01576A013E5,
    0x01576C013E6, 0x01576E013E7, 0x015770013E8, 0x015772013E9, 0x015774013EA, 0x015776013EB,
    0x015778013EC, 0x01577A013ED, 0x01577C013EE, 0x01577E013EF, 0x01FE420FF41, 0x01FE440FF42,
    0x01FE460FF43, 0x01FE480FF44, 0x01FE4A0FF45, 0x01FE4C0FF46, 0x01FE4E0FF47, 0x01FE500FF48,
    0x01FE520FF49, 0x01FE540FF4A, 0x01FE560FF4B, 0x01FE580FF4C, 0x01FE5A0FF4D, 0x01FE5C0FF4E,
    0x01FE5E0FF4F, 0x01FE600FF50, 0x01FE620FF51, 0x01FE640FF52, 0x01FE660FF53, 0x01FE680FF54,
    0x01FE6A0FF55, 0x01FE6C0FF56, 0x01FE6E0FF57, 0x01FE700FF58, 0x01FE720FF59, 0x01FE740FF5A,
    0x02080010428, 0x02080210429, 0x0208041042A, 0x0208061042B, 0x0208081042C, 0x02080A1042D,
    0x02080C1042E, 0x02080E1042F, 0x02081010430, 0x02081210431, 0x02081410432, 0x02081610433,
    0x02081810434, 0x02081A10435, 0x02081C10436, 0x02081E10437, 0x02082010438, 0x02082210439,
    0x0208241043A, 0x0208261043B, 0x0208281043C, 0x02082A1043D, 0x02082C1043E, 0x02082E1043F,
    0x02083010440, 0x02083210441, 0x02083410442, 0x02083610443, 0x02083810444, 0x02083A10445,
    0x02083C10446, 0x02083E10447, 0x02084010448, 0x02084210449, 0x0208441044A, 0x0208461044B,
    0x0208481044C, 0x02084A1044D, 0x02084C1044E, 0x02084E1044F, 0x020960104D8, 0x020962104D9,
    0x020964104DA, 0x020966104DB, 0x020968104DC, 0x02096A104DD, 0x02096C104DE, 0x02096E104DF,
    0x020970104E0, 0x020972104E1, 0x020974104E2, 0x020976104E3, 0x020978104E4, 0x02097A104E5,
    0x02097C104E6, 0x02097E104E7, 0x020980104E8, 0x020982104E9, 0x020984104EA, 0x020986104EB,
    0x020988104EC, 0x02098A104ED, 0x02098C104EE, 0x02098E104EF, 0x020990104F0, 0x020992104F1,
    0x020994104F2, 0x020996104F3, 0x020998104F4, 0x02099A104F5, 0x02099C104F6, 0x02099E104F7,
    0x0209A0104F8, 0x0209A2104F9, 0x0209A4104FA, 0x0209A6104FB, 0x020AE010597, 0x020AE210598,
    0x020AE410599, 0x020AE61059A, 0x020AE81059B, 0x020AEA1059C, 0x020AEC1059D, 0x020AEE1059E,
    0x020AF01059F, 0x020AF2105A0, 0x020AF4105A1, 0x020AF8105A3, 0x020AFA105A4, 0x020AFC105A5,
    0x020AFE105A6, 0x020B00105A7, 0x020B02105A8, 0x020B04105A9, 0x020B06105AA, 0x020B08105AB,
    0x020B0A105AC, 0x020B0C105AD, 0x020B0E105AE, 0x020B10105AF, 0x020B12105B0, 0x020B14105B1,
    0x020B18105B3, 0x020B1A105B4, 0x020B1C105B5, 0x020B1E105B6, 0x020B20105B7, 0x020B22105B8,
    0x020B24105B9, 0x020B28105BB, 0x020B2A105BC, 0x02190010CC0, 0x02190210CC1, 0x02190410CC2,
    0x02190610CC3, 0x02190810CC4, 0x02190A10CC5, 0x02190C10CC6, 0x02190E10CC7, 0x02191010CC8,
    0x02191210CC9, 0x02191410CCA, 0x02191610CCB, 0x02191810CCC, 0x02191A10CCD, 0x02191C10CCE,
    0x02191E10CCF, 0x02192010CD0, 0x02192210CD1, 0x02192410CD2, 0x02192610CD3, 0x02192810CD4,
    0x02192A10CD5, 0x02192C10CD6, 0x02192E10CD7, 0x02193010CD8, 0x02193210CD9, 0x02193410CDA,
    0x02193610CDB, 0x02193810CDC, 0x02193A10CDD, 0x02193C10CDE, 0x02193E10CDF, 0x02194010CE0,
    0x02194210CE1, 0x02194410CE2, 0x02194610CE3, 0x02194810CE4, 0x02194A10CE5, 0x02194C10CE6,
    0x02194E10CE7, 0x02195010CE8, 0x02195210CE9, 0x02195410CEA, 0x02195610CEB, 0x02195810CEC,
    0x02195A10CED, 0x02195C10CEE, 0x02195E10CEF, 0x02196010CF0, 0x02196210CF1, 0x02196410CF2,
    0x023140118C0, 0x023142118C1, 0x023144118C2, 0x023146118C3, 0x023148118C4, 0x02314A118C5,
    0x02314C118C6, 0x02314E118C7, 0x023150118C8, 0x023152118C9, 0x023154118CA, 0x023156118CB,
    0x023158118CC, 0x02315A118CD, 0x02315C118CE, 0x02315E118CF, 0x023160118D0, 0x023162118D1,
    0x023164118D2, 0x023166118D3, 0x023168118D4, 0x02316A118D5, 0x02316C118D6, 0x02316E118D7,
    0x023170118D8, 0x023172118D9, 0x023174118DA, 0x023176118DB, 0x023178118DC, 0x02317A118DD,
    0x02317C118DE, 0x02317E118DF, 0x02DC8016E60, 0x02DC8216E61, 0x02DC8416E62, 0x02DC8616E63,
    0x02DC8816E64, 0x02DC8A16E65, 0x02DC8C16E66, 0x02DC8E16E67, 0x02DC9016E68, 0x02DC9216E69,
    0x02DC9416E6A, 0x02DC9616E6B, 0x02DC9816E6C, 0x02DC9A16E6D, 0x02DC9C16E6E, 0x02DC9E16E6F,
    0x02DCA016E70, 0x02DCA216E71, 0x02DCA416E72, 0x02DCA616E73, 0x02DCA816E74, 0x02DCAA16E75,
    0x02DCAC16E76, 0x02DCAE16E77, 0x02DCB016E78, 0x02DCB216E79, 0x02DCB416E7A, 0x02DCB616E7B,
    0x02DCB816E7C, 0x02DCBA16E7D, 0x02DCBC16E7E, 0x02DCBE16E7F, 0x03D2001E922, 0x03D2021E923,
    0x03D2041E924, 0x03D2061E925, 0x03D2081E926, 0x03D20A1E927, 0x03D20C1E928, 0x03D20E1E929,
    0x03D2101E92A, 0x03D2121E92B, 0x03D2141E92C, 0x03D2161E92D, 0x03D2181E92E, 0x03D21A1E92F,
    0x03D21C1E930, 0x03D21E1E931, 0x03D2201E932, 0x03D2221E933, 0x03D2241E934, 0x03D2261E935,
    0x03D2281E936, 0x03D22A1E937, 0x03D22C1E938, 0x03D22E1E939, 0x03D2301E93A, 0x03D2321E93B,
    0x03D2341E93C, 0x03D2361E93D, 0x03D2381E93E, 0x03D23A1E93F, 0x03D23C1E940, 0x03D23E1E941,
    0x03D2401E942, 0x03D2421E943,
};
static const char tk_fold_multi[] =
    "\303\237ss\000\304\260i\314\207\000\305\211\312\274n\000\307\260j\314\214\000\316\220\316\271"
    "\314\210\314\201\000\316\260\317\205\314\210\314\201\000\326\207\325\245\326\202\000\341\272\226"
    "h\314\261\000\341\272\227t\314\210\000\341\272\230w\314\212\000\341\272\231y\314\212\000\341\272\232"
    "a\312\276\000\341\272\236ss\000\341\275\220\317\205\314\223\000\341\275\222\317\205\314\223"
    "\314\200\000\341\275\224\317\205\314\223\314\201\000\341\275\226\317\205\314\223\315\202\000"
    "\341\276\200\341\274\200\316\271\000\341\276\201\341\274\201\316\271\000\341\276\202\341\274\202"
    "\316\271\000\341\276\203\341\274\203\316\271\000\341\276\204\341\274\204\316\271\000\341\276\205"
    "\341\274\205\316\271\000\341\276\206\341\274\206\316\271\000\341\276\207\341\274\207\316\271"
    "\000\341\276\210\341\274\200\316\271\000\341\276\211\341\274\201\316\271\000\341\276\212\341\274\202"
    "\316\271\000\341\276\213\341\274\203\316\271\000\341\276\214\341\274\204\316\271\000\341\276\215"
    "\341\274\205\316\271\000\341\276\216\341\274\206\316\271\000\341\276\217\341\274\207\316\271"
    "\000\341\276\220\341\274\240\316\271\000\341\276\221\341\274\241\316\271\000\341\276\222\341\274\242"
    "\316\271\000\341\276\223\341\274\243\316\271\000\341\276\224\341\274\244\316\271\000\341\276\225"
    "\341\274\245\316\271\000\341\276\226\341\274\246\316\271\000\341\276\227\341\274\247\316\271"
    "\000\341\276\230\341\274\240\316\271\000\341\276\231\341\274\241\316\271\000\341\276\232\341\274\242"
    "\316\271\000\341\276\233\341\274\243\316\271\000\341\276\234\341\274\244\316\271\000\341\276\235"
    "\341\274\245\316\271\000\341\276\236\341\274\246\316\271\000\341\276\237\341\274\247\316\271"
    "\000\341\276\240\341\275\240\316\271\000\341\276\241\341\275\241\316\271\000\341\276\242\341\275\242"
    "\316\271\000\341\276\243\341\275\243\316\271\000\341\276\244\341\275\244\316\271\000\341\276\245"
    "\341\275\245\316\271\000\341\276\246\341\275\246\316\271\000\341\276\247\341\275\247\316\271"
    "\000\341\276\250\341\275\240\316\271\000\341\276\251\341\275\241\316\271\000\341\276\252\341\275\242"
    "\316\271\000\341\276\253\341\275\243\316\271\000\341\276\254\341\275\244\316\271\000\341\276\255"
    "\341\275\245\316\271\000\341\276\256\341\275\246\316\271\000\341\276\257\341\275\247\316\271"
    "\000\341\276\262\341\275\260\316\271\000\341\276\263\316\261\316\271\000\341\276\264\316\254"
    "\316\271\000\341\276\266\316\261\315\202\000\341\276\267\316\261\315\202\316\271\000\341\276\274"
    "\316\261\316\271\000\341\277\202\341\275\264\316\271\000\341\277\203\316\267\316\271\000\341\277\204"
    "\316\256\316\271\000\341\277\206\316\267\315\202\000\341\277\207\316\267\315\202\316\271\000"
    "\341\277\214\316\267\316\271\000\341\277\222\316\271\314\210\314\200\000\341\277\223\316\271"
    "\314\210\314\201\000\341\277\226\316\271\315\202\000\341\277\227\316\271\314\210\315\202\000"
    "\341\277\242\317\205\314\210\314\200\000\341\277\243\317\205\314\210\314\201\000\341\277\244"
    "\317\201\314\223\000\341\277\246\317\205\315\202\000\341\277\247\317\205\314\210\315\202\000"
    "\341\277\262\341\275\274\316\271\000\341\277\263\317\211\316\271\000\341\277\264\317\216\316\271"
    "\000\341\277\266\317\211\315\202\000\341\277\267\317\211\315\202\316\271\000\341\277\274\317\211"
    "\316\271\000\357\254\200ff\000\357\254\201fi\000\357\254\202fl\000\357\254\203ffi\000\357\254\204"
    "ffl\000\357\254\205st\000\357\254\206st\000\357\254\223\325\264\325\266\000\357\254\224\325\264"
    "\325\245\000\357\254\225\325\264\325\253\000\357\254\226\325\276\325\266\000\357\254\227\325\264"
    "\325\255\000";
/* END Unicode tables */

/* ======================================================================== */
/* Unicode: properties                                                       */
/* ======================================================================== */

#define TK_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The value of the run holding c in a table of (first << shift | value)
 * runs whose first run starts at 0. */
static unsigned tk_run_value(const uint32_t *runs, size_t n, unsigned shift, unsigned c) {
    size_t lo = 0, hi = n;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if ((runs[mid] >> shift) <= c) lo = mid;
        else hi = mid;
    }
    return runs[lo] & ((1u << shift) - 1);
}

/* Whether c lies in a table of sorted, disjoint (first, last) pairs. */
static int tk_in_ranges(const uint32_t *r, size_t n, unsigned c) {
    size_t lo = 0, hi = n / 2;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r[2 * mid + 1] < c) lo = mid + 1;
        else hi = mid;
    }
    return lo < n / 2 && r[2 * lo] <= c;
}

static unsigned tk_gc(unsigned c) {
    return c > 0x10FFFF ? (unsigned)TK_GC_Cn : tk_run_value(tk_gc_runs, TK_COUNT(tk_gc_runs), 5, c);
}

static unsigned tk_ccc(unsigned c) {
    return c < (tk_ccc_runs[1] >> 8) ? 0 : tk_run_value(tk_ccc_runs, TK_COUNT(tk_ccc_runs), 8, c); /* run 1: the first class */
}

static int tk_is_space(unsigned c) {
    return c < 0x80 ? (c >= 9 && c <= 13) || c == ' ' : tk_in_ranges(tk_space_ranges, TK_COUNT(tk_space_ranges), c);
}

static int tk_is_word(unsigned c) { return tk_in_ranges(tk_word_ranges, TK_COUNT(tk_word_ranges), c); }

/* Simple case folding (one character to one). */
static unsigned tk_fold_cp(unsigned c) {
    if (c < 0x80) return c >= 'A' && c <= 'Z' ? c + 32 : c;
    size_t lo = 0, hi = TK_COUNT(tk_fold);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if ((tk_fold[mid] >> 21) < c) lo = mid + 1;
        else hi = mid;
    }
    return lo < TK_COUNT(tk_fold) && (tk_fold[lo] >> 21) == c ? (unsigned)(tk_fold[lo] & 0x1FFFFF) : c;
}

/* The category mask of a \p{NAME}, compared as Oniguruma does (ignoring
 * case, spaces, '_' and '-'); 0 when the name is not a General_Category. */
static uint32_t tk_gc_mask(const char *name, size_t n) {
    char key[64];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (c == ' ' || c == '_' || c == '-') continue;
        if (k + 1 >= sizeof key) return 0;
        key[k++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    key[k] = 0;
    for (size_t i = 0; i < TK_COUNT(tk_gc_names); i++)
        if (!strcmp(tk_gc_names[i].name, key)) return tk_gc_names[i].mask;
    return 0;
}

/* Appends the UTF-8 of code point c. */
static int tk_utf8_put(tk_buf *b, unsigned c) {
    char u[4];
    size_t n;
    if (c < 0x80) { u[0] = (char)c; n = 1; }
    else if (c < 0x800) { u[0] = (char)(0xC0 | c >> 6); u[1] = (char)(0x80 | (c & 0x3F)); n = 2; }
    else if (c < 0x10000) {
        u[0] = (char)(0xE0 | c >> 12); u[1] = (char)(0x80 | (c >> 6 & 0x3F)); u[2] = (char)(0x80 | (c & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | c >> 18); u[1] = (char)(0x80 | (c >> 12 & 0x3F));
        u[2] = (char)(0x80 | (c >> 6 & 0x3F)); u[3] = (char)(0x80 | (c & 0x3F));
        n = 4;
    }
    return tk_buf_put(b, u, n);
}

/* ======================================================================== */
/* Unicode: NFC normalization                                                */
/* ======================================================================== */

/* Hangul syllables decompose and compose by arithmetic (Unicode 3.12). */
#define TK_HANGUL_S 0xAC00u
#define TK_HANGUL_L 0x1100u
#define TK_HANGUL_V 0x1161u
#define TK_HANGUL_T 0x11A7u
#define TK_HANGUL_VN 21u
#define TK_HANGUL_TN 28u
#define TK_HANGUL_SN 11172u

/* A growable array of code points; while normalizing each entry holds
 * ccc << 24 | code point. */
typedef struct {
    uint32_t *p;
    size_t n, cap;
} tk_cps;

static int tk_cps_push(tk_cps *v, uint32_t x) {
    if (v->n == v->cap) {
        if (v->cap > SIZE_MAX / 8) return -1;
        size_t cap = v->cap ? v->cap * 2 : 64;
        uint32_t *p = (uint32_t *)realloc(v->p, cap * sizeof *p);
        if (!p) return -1;
        v->p = p;
        v->cap = cap;
    }
    v->p[v->n++] = x;
    return 0;
}

/* Index into tk_decomp of c's one-level canonical decomposition, or -1. */
static long tk_decomp_index(unsigned c) {
    size_t lo = 0, hi = TK_COUNT(tk_decomp);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if ((tk_decomp[mid] >> 42) < c) lo = mid + 1;
        else hi = mid;
    }
    return lo < TK_COUNT(tk_decomp) && (tk_decomp[lo] >> 42) == c ? (long)lo : -1;
}

/* Appends the full canonical decomposition of c (recursion depth is bounded
 * by the data: decompositions nest at most a few levels). */
static int tk_decompose(tk_cps *v, unsigned c) {
    if (c - TK_HANGUL_S < TK_HANGUL_SN) {
        unsigned s = c - TK_HANGUL_S, t = s % TK_HANGUL_TN;
        if (tk_cps_push(v, TK_HANGUL_L + s / (TK_HANGUL_VN * TK_HANGUL_TN)) ||
            tk_cps_push(v, TK_HANGUL_V + s % (TK_HANGUL_VN * TK_HANGUL_TN) / TK_HANGUL_TN))
            return -1;
        return t ? tk_cps_push(v, TK_HANGUL_T + t) : 0;
    }
    long i = c < 0xC0 ? -1 : tk_decomp_index(c);
    if (i < 0) return tk_cps_push(v, tk_ccc(c) << 24 | c);
    unsigned a = (unsigned)(tk_decomp[i] >> 21 & 0x1FFFFF), b = (unsigned)(tk_decomp[i] & 0x1FFFFF);
    if (tk_decompose(v, a)) return -1;
    return b ? tk_decompose(v, b) : 0;
}

/* The primary composite of the pair (a, b), or 0. */
static unsigned tk_compose(unsigned a, unsigned b) {
    if (a - TK_HANGUL_L < 19 && b - TK_HANGUL_V < TK_HANGUL_VN)
        return TK_HANGUL_S + ((a - TK_HANGUL_L) * TK_HANGUL_VN + b - TK_HANGUL_V) * TK_HANGUL_TN;
    if (a - TK_HANGUL_S < TK_HANGUL_SN && (a - TK_HANGUL_S) % TK_HANGUL_TN == 0 && b - TK_HANGUL_T - 1 < TK_HANGUL_TN - 1)
        return a + b - TK_HANGUL_T;
    uint64_t key = (uint64_t)a << 21 | b;
    size_t lo = 0, hi = TK_COUNT(tk_comp);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if ((tk_decomp[tk_comp[mid]] & 0x3FFFFFFFFFFull) < key) lo = mid + 1;
        else hi = mid;
    }
    if (lo < TK_COUNT(tk_comp) && (tk_decomp[tk_comp[lo]] & 0x3FFFFFFFFFFull) == key)
        return (unsigned)(tk_decomp[tk_comp[lo]] >> 42);
    return 0;
}

/* Stable sort of a run of non-starters by combining class: insertion sort
 * for short runs, a counting sort (linear) for long ones. */
static int tk_sort_marks(uint32_t *x, size_t n, tk_cps *tmp) {
    if (n <= 32) {
        for (size_t i = 1; i < n; i++) {
            uint32_t v = x[i];
            size_t j = i;
            for (; j > 0 && (x[j - 1] >> 24) > (v >> 24); j--) x[j] = x[j - 1];
            x[j] = v;
        }
        return 0;
    }
    size_t count[257] = {0};
    tmp->n = 0;
    for (size_t i = 0; i < n; i++) {
        count[(x[i] >> 24) + 1]++;
        if (tk_cps_push(tmp, x[i])) return -1;
    }
    for (int c = 1; c < 257; c++) count[c] += count[c - 1];
    for (size_t i = 0; i < n; i++) x[count[tmp->p[i] >> 24]++] = tmp->p[i];
    return 0;
}

/* Canonical ordering then canonical composition of v, in place (UAX #15). */
static int tk_reorder_compose(tk_cps *v, tk_cps *tmp) {
    for (size_t i = 0; i < v->n;) {
        size_t j = i;
        while (j < v->n && v->p[j] >> 24) j++;
        if (j - i > 1 && tk_sort_marks(v->p + i, j - i, tmp)) return -1;
        i = j + 1;
    }
    size_t starter = SIZE_MAX, o = 0;
    for (size_t i = 0; i < v->n; i++) {
        uint32_t x = v->p[i];
        unsigned cc = x >> 24;
        if (starter != SIZE_MAX) {
            unsigned last = o > starter + 1 ? v->p[o - 1] >> 24 : 0;
            int blocked = o > starter + 1 && (last == 0 || last >= cc);
            unsigned comp = blocked ? 0 : tk_compose(v->p[starter] & 0xFFFFFF, x & 0xFFFFFF);
            if (comp) {
                v->p[starter] = comp; /* primary composites are starters */
                continue;
            }
        }
        if (cc == 0) starter = o;
        v->p[o++] = x;
    }
    v->n = o;
    return 0;
}

/* Whether a character may interact with the one before it under NFC (it
 * has a combining class or is not NFC_Quick_Check=Yes). A text splits into
 * independent pieces before each character that may not. */
static int tk_nfc_maybe_cp(unsigned c) {
    return c >= tk_nfc_maybe[0] && tk_in_ranges(tk_nfc_maybe, TK_COUNT(tk_nfc_maybe), c);
}

/* Appends the NFC form of s (valid UTF-8) to out. Pieces made of one
 * character that interacts with nothing are copied; the others are
 * decomposed, reordered and composed. Linear time. */
static int tk_nfc(const char *s, size_t n, tk_buf *out) {
    tk_cps v = {0}, tmp = {0};
    int rc = -1;
    size_t i = 0;
    if (tk_utf8_check(s, n) != n) return -1;
    while (i < n) {
        if ((unsigned char)s[i] < 0x80) { /* ASCII, but its last byte may compose with what follows */
            size_t j = i + 1;
            while (j < n && (unsigned char)s[j] < 0x80) j++;
            if (j < n) j--;
            if (j > i) {
                if (tk_buf_put(out, s + i, j - i)) goto done;
                i = j;
                continue;
            }
        }
        size_t l, j;
        unsigned c = tk_utf8_cp(s + i, n - i, &l);
        int plain = !tk_nfc_maybe_cp(c);
        for (j = i + l; j < n; j += l) {
            unsigned d = tk_utf8_cp(s + j, n - j, &l);
            if (!tk_nfc_maybe_cp(d)) break;
            plain = 0;
        }
        if (plain) {
            if (tk_buf_put(out, s + i, j - i)) goto done;
        } else {
            v.n = 0;
            for (size_t k = i; k < j; k += l)
                if (tk_decompose(&v, tk_utf8_cp(s + k, j - k, &l))) goto done;
            if (tk_reorder_compose(&v, &tmp)) goto done;
            for (size_t k = 0; k < v.n; k++)
                if (tk_utf8_put(out, v.p[k] & 0xFFFFFF)) goto done;
        }
        i = j;
    }
    rc = 0;
done:
    free(v.p);
    free(tmp.p);
    return rc;
}

/* ======================================================================== */
/* Regex: parsing                                                            */
/* ======================================================================== */

/* The subset of Oniguruma's syntax (as Hugging Face tokenizers runs it:
 * UTF-8, default options) that pre-tokenizer patterns use, with its
 * semantics: backtracking, leftmost match, the first alternative that leads
 * to a match wins. Supported: literals and escapes, '.', classes with
 * ranges, \p{..} \P{..} (General_Category names), \s \S \d \D \w \W,
 * groups (...) (?:...) (?i:...), lookahead (?=...) (?!...), atomic groups
 * (?>...), alternation, greedy/lazy/possessive quantifiers ? * + {n} {n,}
 * {n,m} {,m}, anchors ^ $ (at line ends, as Oniguruma's default) \A \z.
 * Everything else is refused at compile time by name. Inside (?i:...) only
 * literals, '.' and '|' are supported, and literals match under Unicode
 * simple case folding (CaseFolding.txt C+S: 'k' matches U+212A); a
 * sequence of literals that Oniguruma would match with a multi-character
 * folding ("ss" and U+00DF match each other) is refused. Oniguruma folds
 * across nested groups, which is why they are refused there. */

#define TK_RE_MAX_NODES 100000 /* pattern size limits */
#define TK_RE_MAX_PROG 100000
#define TK_RE_MAX_DEPTH 64
#define TK_RE_MAX_REPEAT 1000
#define TK_RE_STEPS_PER_BYTE 512 /* step budget of one search: this per byte searched ... */
#define TK_RE_STEPS_MIN 10000    /* ... plus this */
#define TK_RE_FRAMES_PER_BYTE 8  /* backtracking stack: this per byte, plus TK_RE_STEPS_MIN */

enum { TK_RN_CHAR, TK_RN_ANY, TK_RN_CLASS, TK_RN_CAT, TK_RN_ALT, TK_RN_REPEAT, TK_RN_LOOK, TK_RN_ASSERT };
enum { TK_LOOK_AHEAD, TK_LOOK_NOT_AHEAD, TK_LOOK_ATOMIC };
enum { TK_AT_BOL, TK_AT_EOL, TK_AT_BOT, TK_AT_EOT };
enum { TK_REPEAT_GREEDY, TK_REPEAT_LAZY, TK_REPEAT_POSSESSIVE };

typedef struct {
    int kind;
    int a, b, c;      /* CHAR: cp, icase; CLASS: class; REPEAT: min, max (-1: none), mode; LOOK/ASSERT: kind */
    int child, next;  /* first child, next sibling (-1: none) */
} tk_rnode;

/* One member of a class: a range, a category mask, or a property. */
enum { TK_CI_RANGE, TK_CI_GC, TK_CI_SPACE, TK_CI_WORD };
typedef struct {
    uint8_t kind, neg;
    uint32_t lo, hi; /* RANGE: first, last; GC: category mask */
} tk_citem;

typedef struct {
    uint32_t ascii[4]; /* membership of the code points below 128 */
    int first, n;      /* items */
    int neg;
} tk_class;

enum { TK_OP_CHAR, TK_OP_CHARI, TK_OP_ANY, TK_OP_CLASS, TK_OP_SPLIT, TK_OP_SPLIT_IF, TK_OP_JMP, TK_OP_MATCH, TK_OP_LOOK,
       TK_OP_ASSERT, TK_OP_MARK, TK_OP_PROGRESS };
typedef struct {
    int op;
    /* CHAR(I): x = code point (folded); CLASS: x = class; SPLIT: x = first
     * choice, y = second; SPLIT_IF: a SPLIT that goes straight to y when the
     * next character is an ASCII one that class z does not hold (it cannot
     * start x's match); JMP: x = target; LOOK: x = kind, y = the instruction
     * after the look's program; ASSERT: x = kind; MARK/PROGRESS: x = register */
    int x, y, z;
} tk_rinst;

struct tk_regex {
    tk_rinst *prog;
    int nprog, nregs;
    tk_class *cls;
    int ncls, cls_cap;
    tk_citem *items;
    int nitems, items_cap;
};
typedef struct tk_regex tk_regex;

typedef struct {
    const char *s;
    size_t n, pos;
    tk_regex *re;
    tk_rnode *nodes;
    int nn, cap;
    char *err;
    size_t errlen;
} tk_reparser;

static int tk_re_fail(tk_reparser *p, const char *fmt, const char *what) {
    char msg[160];
    snprintf(msg, sizeof msg, fmt, what);
    return tk_fail(p->err, p->errlen, NULL, "regex at byte %zu: %s", p->pos, msg);
}

static int tk_re_node(tk_reparser *p, int kind, int a, int b, int c) {
    if (p->nn == p->cap) {
        if (p->cap >= TK_RE_MAX_NODES) return tk_re_fail(p, "%s", "pattern too long");
        int cap = p->cap ? p->cap * 2 : 64;
        tk_rnode *nn = (tk_rnode *)realloc(p->nodes, (size_t)cap * sizeof *nn);
        if (!nn) return tk_re_fail(p, "%s", "out of memory");
        p->nodes = nn;
        p->cap = cap;
    }
    tk_rnode *nd = &p->nodes[p->nn];
    nd->kind = kind;
    nd->a = a;
    nd->b = b;
    nd->c = c;
    nd->child = nd->next = -1;
    return p->nn++;
}

static int tk_re_item(tk_reparser *p, int kind, int neg, uint32_t lo, uint32_t hi) {
    if (p->re->nitems == p->re->items_cap) {
        if (p->re->nitems >= TK_RE_MAX_NODES) return tk_re_fail(p, "%s", "pattern too long");
        int cap = p->re->items_cap ? p->re->items_cap * 2 : 16;
        tk_citem *ni = (tk_citem *)realloc(p->re->items, (size_t)cap * sizeof *ni);
        if (!ni) return tk_re_fail(p, "%s", "out of memory");
        p->re->items = ni;
        p->re->items_cap = cap;
    }
    tk_citem *it = &p->re->items[p->re->nitems++];
    it->kind = (uint8_t)kind;
    it->neg = (uint8_t)neg;
    it->lo = lo;
    it->hi = hi;
    return 0;
}

/* Whether c (of General_Category gc) is in the item. */
static int tk_citem_has(const tk_citem *it, unsigned c, unsigned gc) {
    int in;
    switch (it->kind) {
    case TK_CI_RANGE: in = c >= it->lo && c <= it->hi; break;
    case TK_CI_GC: in = (it->lo >> gc) & 1; break;
    case TK_CI_SPACE: in = tk_is_space(c); break;
    default: in = tk_is_word(c); break;
    }
    return in ^ it->neg;
}

static int tk_class_has_slow(const tk_regex *re, const tk_class *k, unsigned c, unsigned gc) {
    for (int i = 0; i < k->n; i++)
        if (tk_citem_has(&re->items[k->first + i], c, gc)) return !k->neg;
    return k->neg;
}

/* A new class (zeroed) of the items added since `first`; its index. */
static int tk_re_new_class(tk_reparser *p, int first) {
    tk_regex *re = p->re;
    if (re->ncls == re->cls_cap) {
        if (re->ncls >= TK_RE_MAX_NODES) return tk_re_fail(p, "%s", "pattern too long");
        int cap = re->cls_cap ? re->cls_cap * 2 : 16;
        tk_class *nc = (tk_class *)realloc(re->cls, (size_t)cap * sizeof *nc);
        if (!nc) return tk_re_fail(p, "%s", "out of memory");
        re->cls = nc;
        re->cls_cap = cap;
    }
    tk_class *k = &re->cls[re->ncls];
    memset(k, 0, sizeof *k);
    k->first = first;
    k->n = re->nitems - first;
    return re->ncls++;
}

/* A class of the items added since `first`, with its ASCII bitmap. */
static int tk_re_class(tk_reparser *p, int first, int neg) {
    int i = tk_re_new_class(p, first);
    if (i < 0) return -1;
    tk_class *k = &p->re->cls[i];
    k->neg = neg;
    for (unsigned c = 0; c < 128; c++)
        if (tk_class_has_slow(p->re, k, c, tk_gc(c))) k->ascii[c >> 5] |= 1u << (c & 31);
    return i;
}

static int tk_re_more(const tk_reparser *p) { return p->pos < p->n; }
static int tk_re_peek(const tk_reparser *p, char c) { return p->pos < p->n && p->s[p->pos] == c; }
static int tk_re_starts(const tk_reparser *p, const char *lit) {
    size_t k = strlen(lit);
    return p->n - p->pos >= k && memcmp(p->s + p->pos, lit, k) == 0;
}

/* Reads hex digits: exactly `count` of them, or up to '}' when count is 0. */
static int tk_re_hex(tk_reparser *p, int count, unsigned *out) {
    unsigned v = 0;
    int k = 0;
    while (tk_re_more(p) && (count ? k < count : p->s[p->pos] != '}')) {
        char c = p->s[p->pos];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0 || k >= 8) return tk_re_fail(p, "%s", "bad hexadecimal escape");
        v = v * 16 + (unsigned)d;
        p->pos++;
        k++;
    }
    if (!k || (count && k < count)) return tk_re_fail(p, "%s", "bad hexadecimal escape");
    if (!count) p->pos++; /* '}' */
    if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return tk_re_fail(p, "%s", "escape is not a code point");
    *out = v;
    return 0;
}

/* Parses the escape after a backslash. A single character sets *cp and
 * returns 0; a set of characters (\s, \p{L}, ...) becomes items and
 * returns 1; an anchor sets *cp to its TK_AT_ kind and returns 2. */
static int tk_re_escape(tk_reparser *p, unsigned *cp, int in_class) {
    if (!tk_re_more(p)) return tk_re_fail(p, "%s", "pattern ends with a backslash");
    char c = p->s[p->pos++];
    switch (c) {
    case 't': *cp = '\t'; return 0;
    case 'n': *cp = '\n'; return 0;
    case 'r': *cp = '\r'; return 0;
    case 'f': *cp = '\f'; return 0;
    case 'v': *cp = '\v'; return 0;
    case 'a': *cp = 7; return 0;
    case 'e': *cp = 27; return 0;
    case 'x':
        if (tk_re_peek(p, '{')) { p->pos++; return tk_re_hex(p, 0, cp); }
        return tk_re_hex(p, 2, cp);
    case 'u': return tk_re_hex(p, 4, cp);
    case 's': case 'S': return tk_re_item(p, TK_CI_SPACE, c == 'S', 0, 0) ? -1 : 1;
    case 'w': case 'W': return tk_re_item(p, TK_CI_WORD, c == 'W', 0, 0) ? -1 : 1;
    case 'd': case 'D': return tk_re_item(p, TK_CI_GC, c == 'D', 1u << TK_GC_Nd, 0) ? -1 : 1;
    case 'p': case 'P': {
        size_t b = p->pos + 1, e = b;
        if (!tk_re_peek(p, '{')) return tk_re_fail(p, "%s", "\\p without {NAME}");
        while (e < p->n && p->s[e] != '}') e++;
        if (e >= p->n) return tk_re_fail(p, "%s", "unterminated \\p{");
        int neg = c == 'P';
        if (p->s[b] == '^') { neg = !neg; b++; }
        uint32_t mask = tk_gc_mask(p->s + b, e - b);
        if (!mask) {
            char name[48];
            snprintf(name, sizeof name, "%.*s", (int)(e - b < 40 ? e - b : 40), p->s + b);
            return tk_re_fail(p, "unsupported property \\p{%s} (only General_Category names)", name);
        }
        p->pos = e + 1;
        return tk_re_item(p, TK_CI_GC, neg, mask, 0) ? -1 : 1;
    }
    case 'A': case 'z':
        if (in_class) break;
        *cp = c == 'A' ? TK_AT_BOT : TK_AT_EOT;
        return 2;
    default:
        if ((unsigned char)c < 0x80 && !(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z')) {
            *cp = (unsigned char)c; /* escaped punctuation stands for itself */
            return 0;
        }
    }
    char name[8];
    snprintf(name, sizeof name, "\\%c", (unsigned char)c < 0x80 ? c : '?');
    p->pos--;
    return tk_re_fail(p, "unsupported escape %s", name);
}

/* One literal character of the pattern (UTF-8). */
static int tk_re_literal(tk_reparser *p, unsigned *cp) {
    int l = tk_utf8_len((const unsigned char *)p->s + p->pos, p->n - p->pos);
    if (!l) return tk_re_fail(p, "%s", "pattern is not valid UTF-8");
    size_t len;
    *cp = tk_utf8_cp(p->s + p->pos, p->n - p->pos, &len);
    p->pos += len;
    return 0;
}

/* [...] after the '['; returns a CLASS node. */
static int tk_re_parse_class(tk_reparser *p) {
    int neg = 0, first = p->re->nitems, count = 0;
    if (tk_re_peek(p, '^')) { neg = 1; p->pos++; }
    for (;;) {
        if (!tk_re_more(p)) return tk_re_fail(p, "%s", "unterminated [");
        char c = p->s[p->pos];
        if (c == ']' && count) { p->pos++; break; }
        if (c == '[') return tk_re_fail(p, "%s", "nested class or [:posix:] bracket in a class");
        if (c == '&' && p->pos + 1 < p->n && p->s[p->pos + 1] == '&') return tk_re_fail(p, "%s", "class intersection &&");
        unsigned lo = 0, hi;
        int r;
        if (c == '\\') {
            p->pos++;
            if ((r = tk_re_escape(p, &lo, 1)) < 0) return -1;
            if (r == 1) { count++; continue; }
        } else if (tk_re_literal(p, &lo)) {
            return -1;
        }
        hi = lo;
        if (tk_re_peek(p, '-') && p->pos + 1 < p->n && p->s[p->pos + 1] != ']') {
            p->pos++;
            if (tk_re_peek(p, '[')) return tk_re_fail(p, "%s", "nested class in a range");
            if (tk_re_peek(p, '\\')) {
                p->pos++;
                if ((r = tk_re_escape(p, &hi, 1)) < 0) return -1;
                if (r) return tk_re_fail(p, "%s", "a range ending in a set (like a-\\d)");
            } else if (tk_re_literal(p, &hi)) {
                return -1;
            }
            if (hi < lo) return tk_re_fail(p, "%s", "range out of order in a class");
        }
        if (tk_re_item(p, TK_CI_RANGE, 0, lo, hi)) return -1;
        count++;
    }
    int k = tk_re_class(p, first, neg);
    return k < 0 ? -1 : tk_re_node(p, TK_RN_CLASS, k, 0, 0);
}

static int tk_re_parse_alt(tk_reparser *p, int icase, int depth);

/* Whether x[0..n) starts with a character that folds to several, or with
 * the folding of one (tk_fold_multi holds each such character then its
 * folding). */
static int tk_re_fold_multi_at(const unsigned *x, size_t n) {
    for (const char *f = tk_fold_multi; *f; f += strlen(f) + 1) {
        size_t fl = strlen(f), i, l, k = 0;
        if (tk_utf8_cp(f, fl, &i) == x[0]) return 1;
        while (i < fl && k < n) {
            unsigned c = tk_utf8_cp(f + i, fl - i, &l);
            if (x[k] != c) break;
            i += l;
            k++;
        }
        if (i == fl) return 1;
    }
    return 0;
}

/* Refuses a case-insensitive sequence of literals (already folded) that
 * Oniguruma would match with a multi-character folding ("ss" and U+00DF
 * match each other). */
static int tk_re_check_fold(tk_reparser *p, int first) {
    unsigned run[64];
    size_t n = 0;
    for (int i = first;; i = p->nodes[i].next) {
        int lit = i >= 0 && p->nodes[i].kind == TK_RN_CHAR && p->nodes[i].b;
        if (lit && n < TK_COUNT(run)) { run[n++] = (unsigned)p->nodes[i].a; continue; }
        for (size_t k = 0; k < n; k++)
            if (tk_re_fold_multi_at(run + k, n - k))
                return tk_re_fail(p, "%s", "case-insensitive literals that match a multi-character case folding");
        n = 0;
        if (lit) run[n++] = (unsigned)p->nodes[i].a;
        if (i < 0) return 0;
    }
}

/* {n}, {n,}, {n,m}, {,m} after the '{'; 1 when it is one, 0 when not. */
static int tk_re_interval(tk_reparser *p, int *min, int *max) {
    size_t i = p->pos;
    long v[2] = {-1, -1};
    int k = 0, comma = 0;
    for (; i < p->n && p->s[i] != '}'; i++) {
        char c = p->s[i];
        if (c == ',' && !comma) { comma = 1; k = 1; continue; }
        if (c < '0' || c > '9') return 0;
        v[k] = (v[k] < 0 ? 0 : v[k]) * 10 + (c - '0');
        if (v[k] > TK_RE_MAX_REPEAT) return -1;
    }
    if (i >= p->n || (v[0] < 0 && v[1] < 0)) return 0;
    *min = v[0] < 0 ? 0 : (int)v[0];
    *max = comma ? (int)v[1] : *min;
    p->pos = i + 1;
    return 1;
}

/* An atom and its quantifiers. Returns the node or -1. */
static int tk_re_parse_piece(tk_reparser *p, int icase, int depth) {
    char c = p->s[p->pos];
    int node;
    unsigned cp;
    if (icase && (c == '(' || c == '[' || c == '^' || c == '$'))
        return tk_re_fail(p, "%s", "only literals, '.' and '|' are supported inside (?i:...)");
    if (c == '(') {
        p->pos++;
        int kind = -1, ic = icase;
        if (tk_re_peek(p, '?')) {
            p->pos++;
            char g = tk_re_more(p) ? p->s[p->pos] : 0;
            if (g == ':') p->pos++;
            else if (g == '=') { kind = TK_LOOK_AHEAD; p->pos++; }
            else if (g == '!') { kind = TK_LOOK_NOT_AHEAD; p->pos++; }
            else if (g == '>') { kind = TK_LOOK_ATOMIC; p->pos++; }
            else if (tk_re_starts(p, "i:") || tk_re_starts(p, "-i:")) {
                ic = g == 'i';
                p->pos += g == 'i' ? 2 : 3;
            } else if (g == '<' && p->pos + 1 < p->n && (p->s[p->pos + 1] == '=' || p->s[p->pos + 1] == '!')) {
                return tk_re_fail(p, "%s", "lookbehind (?<= / (?<!");
            } else if (g == '<' || g == 'P' || g == '\'') {
                return tk_re_fail(p, "%s", "named group");
            } else {
                return tk_re_fail(p, "%s", "group option or extension (?...) other than ?: ?i: ?= ?! ?>");
            }
        }
        int inner = tk_re_parse_alt(p, ic, depth + 1);
        if (inner < 0) return -1;
        if (!tk_re_peek(p, ')')) return tk_re_fail(p, "%s", "missing )");
        p->pos++;
        if (kind < 0) node = inner;
        else if ((node = tk_re_node(p, TK_RN_LOOK, kind, 0, 0)) >= 0) p->nodes[node].child = inner;
    } else if (c == '[') {
        p->pos++;
        if (icase) return tk_re_fail(p, "%s", "class inside (?i:...)");
        node = tk_re_parse_class(p);
    } else if (c == '.') {
        p->pos++;
        node = tk_re_node(p, TK_RN_ANY, 0, 0, 0);
    } else if (c == '^') {
        p->pos++;
        node = tk_re_node(p, TK_RN_ASSERT, TK_AT_BOL, 0, 0);
    } else if (c == '$') {
        p->pos++;
        node = tk_re_node(p, TK_RN_ASSERT, TK_AT_EOL, 0, 0);
    } else if (c == '*' || c == '+' || c == '?' || c == '{') {
        return tk_re_fail(p, "%s", "quantifier without an operand");
    } else if (c == '\\') {
        p->pos++;
        int first = p->re->nitems;
        int r = tk_re_escape(p, &cp, 0);
        if (r < 0) return -1;
        if (r == 1 && icase) return tk_re_fail(p, "%s", "class escape inside (?i:...)");
        if (r == 1) {
            int k = tk_re_class(p, first, 0);
            node = k < 0 ? -1 : tk_re_node(p, TK_RN_CLASS, k, 0, 0);
        } else if (r == 2) {
            if (icase) return tk_re_fail(p, "%s", "only literals, '.' and '|' are supported inside (?i:...)");
            node = tk_re_node(p, TK_RN_ASSERT, (int)cp, 0, 0);
        } else {
            node = tk_re_node(p, TK_RN_CHAR, (int)(icase ? tk_fold_cp(cp) : cp), icase, 0);
        }
    } else {
        if (tk_re_literal(p, &cp)) return -1;
        node = tk_re_node(p, TK_RN_CHAR, (int)(icase ? tk_fold_cp(cp) : cp), icase, 0);
    }
    if (node < 0) return -1;
    /* quantifiers */
    while (tk_re_more(p)) {
        char q = p->s[p->pos];
        int min, max, interval = 0;
        if (q == '?') { min = 0; max = 1; }
        else if (q == '*') { min = 0; max = -1; }
        else if (q == '+') { min = 1; max = -1; }
        else if (q == '{') {
            p->pos++;
            int r = tk_re_interval(p, &min, &max);
            if (r < 0) return tk_re_fail(p, "repeat count over %s", "1000");
            if (!r) { p->pos--; return tk_re_fail(p, "%s", "'{' that is not a repeat count (write \\{)"); }
            if (max >= 0 && max < min) return tk_re_fail(p, "%s", "repeat {n,m} with m < n");
            interval = 1;
            p->pos--;
        } else break;
        p->pos++;
        if (icase) return tk_re_fail(p, "%s", "only literals, '.' and '|' are supported inside (?i:...)");
        int mode = TK_REPEAT_GREEDY;
        if (tk_re_peek(p, '?')) {
            if (interval && min == max) return tk_re_fail(p, "%s", "{n}? (its meaning differs between syntaxes)");
            mode = TK_REPEAT_LAZY;
            p->pos++;
        } else if (tk_re_peek(p, '+') && !interval) {
            mode = TK_REPEAT_POSSESSIVE;
            p->pos++;
        }
        if (p->nodes[node].kind == TK_RN_REPEAT || p->nodes[node].kind == TK_RN_ASSERT ||
            p->nodes[node].kind == TK_RN_LOOK)
            return tk_re_fail(p, "%s", "a quantifier on a quantifier, anchor or lookahead (use a group)");
        int r = tk_re_node(p, TK_RN_REPEAT, min, max, mode);
        if (r < 0) return -1;
        p->nodes[r].child = node;
        node = r;
    }
    return node;
}

/* A sequence of pieces; returns a CAT node. */
static int tk_re_parse_cat(tk_reparser *p, int icase, int depth) {
    int cat = tk_re_node(p, TK_RN_CAT, 0, 0, 0), last = -1;
    if (cat < 0) return -1;
    while (tk_re_more(p) && p->s[p->pos] != '|' && p->s[p->pos] != ')') {
        int piece = tk_re_parse_piece(p, icase, depth);
        if (piece < 0) return -1;
        if (last < 0) p->nodes[cat].child = piece;
        else p->nodes[last].next = piece;
        last = piece;
    }
    if (icase && p->nodes[cat].child >= 0 && tk_re_check_fold(p, p->nodes[cat].child)) return -1;
    return cat;
}

/* Alternatives separated by '|'; returns an ALT node. */
static int tk_re_parse_alt(tk_reparser *p, int icase, int depth) {
    if (depth > TK_RE_MAX_DEPTH) return tk_re_fail(p, "%s", "groups nested too deeply");
    int alt = tk_re_node(p, TK_RN_ALT, 0, 0, 0), last = -1;
    if (alt < 0) return -1;
    for (;;) {
        int cat = tk_re_parse_cat(p, icase, depth);
        if (cat < 0) return -1;
        if (last < 0) p->nodes[alt].child = cat;
        else p->nodes[last].next = cat;
        last = cat;
        if (!tk_re_peek(p, '|')) return alt;
        p->pos++;
    }
}

/* ======================================================================== */
/* Regex: compiling to a backtracking program                                */
/* ======================================================================== */

typedef struct {
    tk_reparser *p;
    tk_rinst *prog;
    int n, cap, nregs;
} tk_recomp;

static int tk_re_emit(tk_recomp *c, int op, int x, int y) {
    if (c->n == c->cap) {
        if (c->cap >= TK_RE_MAX_PROG) return tk_re_fail(c->p, "%s", "pattern too long once repeats are expanded");
        int cap = c->cap ? c->cap * 2 : 64;
        tk_rinst *np = (tk_rinst *)realloc(c->prog, (size_t)cap * sizeof *np);
        if (!np) return tk_re_fail(c->p, "%s", "out of memory");
        c->prog = np;
        c->cap = cap;
    }
    c->prog[c->n].op = op;
    c->prog[c->n].x = x;
    c->prog[c->n].y = y;
    c->prog[c->n].z = 0;
    return c->n++;
}

/* Whether node i can match the empty string. */
static int tk_re_nullable(const tk_rnode *nd, int i) {
    switch (nd[i].kind) {
    case TK_RN_CHAR: case TK_RN_ANY: case TK_RN_CLASS: return 0;
    case TK_RN_CAT:
        for (int k = nd[i].child; k >= 0; k = nd[k].next)
            if (!tk_re_nullable(nd, k)) return 0;
        return 1;
    case TK_RN_ALT:
        for (int k = nd[i].child; k >= 0; k = nd[k].next)
            if (tk_re_nullable(nd, k)) return 1;
        return 0;
    case TK_RN_REPEAT: return nd[i].a == 0 || tk_re_nullable(nd, nd[i].child);
    case TK_RN_LOOK: return nd[i].a != TK_LOOK_ATOMIC || tk_re_nullable(nd, nd[i].child);
    default: return 1;
    }
}

static int tk_re_gen(tk_recomp *c, int i);

/* x* (greedy or lazy); a body that can match empty must advance to loop. */
static int tk_re_gen_star(tk_recomp *c, int body, int lazy) {
    int reg = tk_re_nullable(c->p->nodes, body) ? c->nregs++ : -1;
    int split = tk_re_emit(c, TK_OP_SPLIT, 0, 0);
    if (split < 0) return -1;
    if (reg >= 0 && tk_re_emit(c, TK_OP_MARK, reg, 0) < 0) return -1;
    if (tk_re_gen(c, body)) return -1;
    if (reg >= 0 && tk_re_emit(c, TK_OP_PROGRESS, reg, 0) < 0) return -1;
    if (tk_re_emit(c, TK_OP_JMP, split, 0) < 0) return -1;
    c->prog[split].x = lazy ? c->n : split + 1;
    c->prog[split].y = lazy ? split + 1 : c->n;
    return 0;
}

static int tk_re_gen_repeat(tk_recomp *c, int i) {
    const tk_rnode *nd = &c->p->nodes[i];
    int body = nd->child, min = nd->a, max = nd->b, mode = nd->c, look = -1;
    if (mode == TK_REPEAT_POSSESSIVE && (look = tk_re_emit(c, TK_OP_LOOK, TK_LOOK_ATOMIC, 0)) < 0) return -1;
    for (int k = 0; k < min; k++)
        if (tk_re_gen(c, body)) return -1;
    if (max < 0) {
        if (tk_re_gen_star(c, body, mode == TK_REPEAT_LAZY)) return -1;
    } else if (max > min) {
        int first = c->n;
        for (int k = min; k < max; k++) { /* nested optionals: x(x(x)?)? */
            if (tk_re_emit(c, TK_OP_SPLIT, 0, 0) < 0 || tk_re_gen(c, body)) return -1;
        }
        for (int k = first; k < c->n; k++) /* every SPLIT of these copies' own level */
            if (c->prog[k].op == TK_OP_SPLIT && c->prog[k].x == 0 && c->prog[k].y == 0) {
                c->prog[k].x = mode == TK_REPEAT_LAZY ? c->n : k + 1;
                c->prog[k].y = mode == TK_REPEAT_LAZY ? k + 1 : c->n;
            }
    }
    if (look >= 0) {
        if (tk_re_emit(c, TK_OP_MATCH, 0, 0) < 0) return -1;
        c->prog[look].y = c->n;
    }
    return 0;
}

/* Adds to bits the ASCII characters that can start a match of node i;
 * returns whether it can match empty (then what follows it can start the
 * match as well). */
static int tk_re_first(const tk_regex *re, const tk_rnode *nd, int i, uint32_t bits[4]) {
    switch (nd[i].kind) {
    case TK_RN_CHAR: {
        unsigned c = (unsigned)nd[i].a;
        if (c < 128) bits[c >> 5] |= 1u << (c & 31);
        if (nd[i].b && c >= 'a' && c <= 'z') bits[(c - 32) >> 5] |= 1u << ((c - 32) & 31);
        return 0;
    }
    case TK_RN_ANY:
        for (int k = 0; k < 4; k++) bits[k] = ~0u;
        return 0;
    case TK_RN_CLASS:
        for (int k = 0; k < 4; k++) bits[k] |= re->cls[nd[i].a].ascii[k];
        return 0;
    case TK_RN_CAT:
        for (int k = nd[i].child; k >= 0; k = nd[k].next)
            if (!tk_re_first(re, nd, k, bits)) return 0;
        return 1;
    case TK_RN_ALT: {
        int empty = 0;
        for (int k = nd[i].child; k >= 0; k = nd[k].next) empty |= tk_re_first(re, nd, k, bits);
        return empty;
    }
    case TK_RN_REPEAT: return tk_re_first(re, nd, nd[i].child, bits) || nd[i].a == 0;
    case TK_RN_LOOK:
        for (int k = 0; k < 4; k++) bits[k] = ~0u;
        return 1;
    default: return 1;
    }
}

/* A SPLIT before alternative k: SPLIT_IF with a class of the ASCII
 * characters that can start k, when that rules some out. */
static int tk_re_emit_split(tk_recomp *c, int k) {
    uint32_t bits[4] = {0, 0, 0, 0};
    if (tk_re_first(c->p->re, c->p->nodes, k, bits) || (bits[0] & bits[1] & bits[2] & bits[3]) == ~0u)
        return tk_re_emit(c, TK_OP_SPLIT, 0, 0);
    int cls = tk_re_new_class(c->p, c->p->re->nitems); /* only its ASCII bitmap is read */
    if (cls < 0) return -1;
    memcpy(c->p->re->cls[cls].ascii, bits, sizeof bits);
    int at = tk_re_emit(c, TK_OP_SPLIT_IF, 0, 0);
    if (at >= 0) c->prog[at].z = cls;
    return at;
}

/* Emits the program of node i. */
static int tk_re_gen(tk_recomp *c, int i) {
    const tk_rnode *nd = &c->p->nodes[i];
    switch (nd->kind) {
    case TK_RN_CHAR: return tk_re_emit(c, nd->b ? TK_OP_CHARI : TK_OP_CHAR, nd->a, 0) < 0 ? -1 : 0;
    case TK_RN_ANY: return tk_re_emit(c, TK_OP_ANY, 0, 0) < 0 ? -1 : 0;
    case TK_RN_CLASS: return tk_re_emit(c, TK_OP_CLASS, nd->a, 0) < 0 ? -1 : 0;
    case TK_RN_ASSERT: return tk_re_emit(c, TK_OP_ASSERT, nd->a, 0) < 0 ? -1 : 0;
    case TK_RN_CAT:
        for (int k = nd->child; k >= 0; k = c->p->nodes[k].next)
            if (tk_re_gen(c, k)) return -1;
        return 0;
    case TK_RN_ALT: {
        /* SPLIT a, next; a; JMP end; next: SPLIT b, next2; ... ; last */
        int jumps = -1; /* chain of JMPs to patch, linked through x */
        for (int k = nd->child; k >= 0; k = c->p->nodes[k].next) {
            int last = c->p->nodes[k].next < 0, split = -1;
            if (!last && (split = tk_re_emit_split(c, k)) < 0) return -1;
            if (tk_re_gen(c, k)) return -1;
            if (!last) {
                int j = tk_re_emit(c, TK_OP_JMP, jumps, 0);
                if (j < 0) return -1;
                jumps = j;
                c->prog[split].x = split + 1;
                c->prog[split].y = c->n;
            }
        }
        while (jumps >= 0) {
            int prev = c->prog[jumps].x;
            c->prog[jumps].x = c->n;
            jumps = prev;
        }
        return 0;
    }
    case TK_RN_REPEAT: return tk_re_gen_repeat(c, i);
    case TK_RN_LOOK: {
        int look = tk_re_emit(c, TK_OP_LOOK, nd->a, 0);
        if (look < 0 || tk_re_gen(c, nd->child) || tk_re_emit(c, TK_OP_MATCH, 0, 0) < 0) return -1;
        c->prog[look].y = c->n;
        return 0;
    }
    default: return 0;
    }
}

static void tk_regex_free(tk_regex *re) {
    if (!re) return;
    free(re->prog);
    free(re->cls);
    free(re->items);
    free(re);
}

/* Compiles an Oniguruma pattern of n bytes; -1 and a message naming the
 * construct for anything outside the supported subset. */
static int tk_regex_compile(tk_regex **out, const char *pat, size_t n, char *err, size_t errlen) {
    *out = NULL;
    tk_regex *re = (tk_regex *)calloc(1, sizeof *re);
    if (!re) return tk_fail(err, errlen, NULL, "out of memory");
    tk_reparser p = {pat, n, 0, re, NULL, 0, 0, err, errlen};
    tk_recomp c = {&p, NULL, 0, 0, 0};
    int root = tk_re_parse_alt(&p, 0, 0);
    if (root >= 0 && p.pos < n) root = tk_re_fail(&p, "%s", "unmatched )");
    if (root < 0 || tk_re_gen(&c, root) || tk_re_emit(&c, TK_OP_MATCH, 0, 0) < 0) {
        free(p.nodes);
        free(c.prog);
        tk_regex_free(re);
        return -1;
    }
    free(p.nodes);
    re->prog = c.prog;
    re->nprog = c.n;
    re->nregs = c.nregs;
    *out = re;
    return 0;
}

/* ======================================================================== */
/* Regex: matching                                                           */
/* ======================================================================== */

/* Backtracking with an explicit stack: each choice point pushes the other
 * branch; a register restore is pushed as pc = -1 - register. Lookaheads
 * and atomic groups run a nested search over the same stack (nesting is
 * bounded by the pattern). Every step counts against a budget. */
typedef struct {
    int pc;
    size_t pos;
} tk_rframe;

typedef struct {
    const tk_regex *re;
    const char *s;
    size_t n;
    tk_rframe *stack;
    size_t sp, cap;
    size_t *regs;
    uint64_t steps, budget;
    size_t max_frames; /* the stack's share of the budget */
    uint32_t gc_cp[64]; /* General_Category of recently seen characters, */
    uint8_t gc[64];     /* by code point modulo 64 */
} tk_rmatch;

static int tk_rm_push(tk_rmatch *m, int pc, size_t pos) {
    if (m->sp == m->cap) {
        if (m->cap >= m->max_frames) {
            m->steps = m->budget + 1; /* reported as the budget */
            return -1;
        }
        size_t cap = m->cap ? m->cap * 2 : 256;
        tk_rframe *ns = (tk_rframe *)realloc(m->stack, cap * sizeof *ns);
        if (!ns) return -1;
        m->stack = ns;
        m->cap = cap;
    }
    m->stack[m->sp].pc = pc;
    m->stack[m->sp].pos = pos;
    m->sp++;
    return 0;
}

/* Whether c is in class k; alternatives retest the same characters, so
 * categories are cached. */
static inline int tk_rm_class(tk_rmatch *m, const tk_class *k, unsigned c) {
    if (c < 128) return (k->ascii[c >> 5] >> (c & 31)) & 1;
    if (m->gc_cp[c & 63] != c) {
        m->gc_cp[c & 63] = c;
        m->gc[c & 63] = (uint8_t)tk_gc(c);
    }
    return tk_class_has_slow(m->re, k, c, m->gc[c & 63]);
}

/* The character at pos (pos < n). */
static inline unsigned tk_rm_char(const tk_rmatch *m, size_t pos, size_t *len) {
    unsigned char b = (unsigned char)m->s[pos];
    if (b < 0x80) { *len = 1; return b; }
    return tk_utf8_cp(m->s + pos, m->n - pos, len);
}

static int tk_rm_assert(const tk_rmatch *m, int kind, size_t pos) {
    switch (kind) {
    case TK_AT_BOL: return pos == 0 || m->s[pos - 1] == '\n';
    case TK_AT_EOL: return pos == m->n || m->s[pos] == '\n';
    case TK_AT_BOT: return pos == 0;
    default: return pos == m->n;
    }
}

/* Runs the program from pc at pos: 1 and *end at the first match, 0 when
 * none, -1 when the budget is spent or memory runs out. */
static int tk_rm_run(tk_rmatch *m, int pc, size_t pos, size_t *end) {
    const tk_rinst *prog = m->re->prog;
    size_t base = m->sp, len;
    for (;;) {
        if (++m->steps > m->budget) return -1;
        const tk_rinst *in = &prog[pc];
        int ok = 1;
        switch (in->op) {
        case TK_OP_CHAR:
            ok = pos < m->n && tk_rm_char(m, pos, &len) == (unsigned)in->x;
            if (ok) { pos += len; pc++; }
            break;
        case TK_OP_CHARI:
            ok = pos < m->n && tk_fold_cp(tk_rm_char(m, pos, &len)) == (unsigned)in->x;
            if (ok) { pos += len; pc++; }
            break;
        case TK_OP_ANY: /* Oniguruma's '.' excludes only '\n' */
            ok = pos < m->n && tk_rm_char(m, pos, &len) != '\n';
            if (ok) { pos += len; pc++; }
            break;
        case TK_OP_CLASS:
            ok = pos < m->n && tk_rm_class(m, &m->re->cls[in->x], tk_rm_char(m, pos, &len));
            if (ok) { pos += len; pc++; }
            break;
        case TK_OP_SPLIT_IF:
            if (pos < m->n && (unsigned char)m->s[pos] < 128) {
                unsigned char b = (unsigned char)m->s[pos];
                if (!((m->re->cls[in->z].ascii[b >> 5] >> (b & 31)) & 1)) {
                    pc = in->y;
                    break;
                }
            }
            /* fall through */
        case TK_OP_SPLIT:
            if (tk_rm_push(m, in->y, pos)) return -1;
            pc = in->x;
            break;
        case TK_OP_JMP: pc = in->x; break;
        case TK_OP_MATCH:
            *end = pos;
            m->sp = base;
            return 1;
        case TK_OP_ASSERT:
            ok = tk_rm_assert(m, in->x, pos);
            pc++;
            break;
        case TK_OP_LOOK: {
            size_t e;
            int r = tk_rm_run(m, pc + 1, pos, &e);
            if (r < 0) return -1;
            ok = in->x == TK_LOOK_NOT_AHEAD ? !r : r;
            if (r && in->x == TK_LOOK_ATOMIC) pos = e;
            pc = in->y;
            break;
        }
        case TK_OP_MARK:
            if (tk_rm_push(m, -1 - in->x, m->regs[in->x])) return -1;
            m->regs[in->x] = pos;
            pc++;
            break;
        case TK_OP_PROGRESS: /* an iteration that matched empty ends the loop */
            ok = pos != m->regs[in->x];
            pc++;
            break;
        }
        while (!ok) {
            if (m->sp == base) return 0;
            tk_rframe f = m->stack[--m->sp];
            if (f.pc < 0) {
                m->regs[-1 - f.pc] = f.pos;
                continue;
            }
            pc = f.pc;
            pos = f.pos;
            ok = 1;
        }
    }
}

/* The step budget for searching n bytes: linear in n. */
static uint64_t tk_regex_budget(size_t n) { return (uint64_t)TK_RE_STEPS_PER_BYTE * n + TK_RE_STEPS_MIN; }

/* tk_regex_find drawing on a budget shared by several searches (all the
 * matches in one text): *budget is decreased by the steps this one took.
 * Finding every match of a text with one budget of tk_regex_budget(n)
 * keeps the whole in linear time. */
static int tk_regex_find_budget(const tk_regex *re, const char *s, size_t n, size_t start, uint64_t *budget,
                                size_t *mb, size_t *me, char *err, size_t errlen) {
    tk_rmatch m;
    memset(&m, 0, sizeof m);
    m.re = re;
    m.s = s;
    m.n = n;
    memset(m.gc_cp, 0xFF, sizeof m.gc_cp); /* no code point */
    if (start > n) return 0;
    m.budget = *budget;
    m.max_frames = TK_RE_FRAMES_PER_BYTE * (n - start) + TK_RE_STEPS_MIN;
    if (re->nregs && !(m.regs = (size_t *)calloc((size_t)re->nregs, sizeof *m.regs)))
        return tk_fail(err, errlen, NULL, "out of memory");
    int r = 0;
    for (size_t pos = start;;) {
        size_t end, len;
        r = tk_rm_run(&m, 0, pos, &end);
        if (r) {
            *mb = pos;
            *me = end;
            break;
        }
        if (pos >= n) break;
        tk_rm_char(&m, pos, &len);
        pos += len;
    }
    free(m.stack);
    free(m.regs);
    *budget = m.steps >= m.budget ? 0 : m.budget - m.steps;
    if (r < 0) {
        if (m.steps > m.budget)
            return tk_fail(err, errlen, NULL, "regex: step budget exhausted (pattern backtracks too much on this text)");
        return tk_fail(err, errlen, NULL, "out of memory");
    }
    return r;
}

/* Leftmost match starting at or after byte `start` of s[0,n): 1 and
 * [*mb,*me) when found, 0 when none, -1 (message in err) when the step
 * budget, tk_regex_budget(n - start), is exhausted. */
static int tk_regex_find(const tk_regex *re, const char *s, size_t n, size_t start, size_t *mb, size_t *me, char *err,
                         size_t errlen) {
    uint64_t budget = tk_regex_budget(start < n ? n - start : 0);
    return tk_regex_find_budget(re, s, n, start, &budget, mb, me, err, errlen);
}

/* ======================================================================== */
/* Regex and NFC: entry points for tests                                     */
/* ======================================================================== */

int tk_nfc_string(const char *s, size_t n, char **out, size_t *outlen, char *err, size_t errlen) {
    tk_buf b = {0};
    *out = NULL;
    if (tk_nfc(s, n, &b) || tk_buf_put(&b, "", 1)) {
        free(b.p);
        return tk_utf8_check(s, n) != n ? tk_fail(err, errlen, NULL, "text is not valid UTF-8 at byte %zu", tk_utf8_check(s, n))
                                        : tk_fail(err, errlen, NULL, "out of memory");
    }
    *out = b.p;
    if (outlen) *outlen = b.n - 1;
    return 0;
}

int tk_regex_search(const char *pat, size_t plen, const char *s, size_t n, size_t start, size_t *mb, size_t *me,
                    char *err, size_t errlen) {
    tk_regex *re;
    if (tk_regex_compile(&re, pat, plen, err, errlen)) return -1;
    int r = tk_regex_find(re, s, n, start, mb, me, err, errlen);
    tk_regex_free(re);
    return r;
}

int tk_regex_find_all(const char *pat, size_t plen, const char *s, size_t n, size_t **spans, size_t *nspans, char *err,
                      size_t errlen) {
    tk_regex *re;
    size_t *v = NULL, cnt = 0, cap = 0, pos = 0, b = 0, e = 0, step;
    *spans = NULL;
    *nspans = 0;
    if (tk_regex_compile(&re, pat, plen, err, errlen)) return -1;
    uint64_t budget = tk_regex_budget(n);
    int r;
    while ((r = tk_regex_find_budget(re, s, n, pos, &budget, &b, &e, err, errlen)) == 1) {
        if (cnt + 2 > cap) {
            cap = cap ? cap * 2 : 64;
            size_t *nv = (size_t *)realloc(v, cap * sizeof *nv);
            if (!nv) { r = tk_fail(err, errlen, NULL, "out of memory"); break; }
            v = nv;
        }
        v[cnt++] = b;
        v[cnt++] = e;
        if (e > b) pos = e;
        else if (e >= n) break;
        else { /* one character past an empty match */
            tk_utf8_cp(s + e, n - e, &step);
            pos = e + step;
        }
    }
    tk_regex_free(re);
    if (r < 0) {
        free(v);
        return -1;
    }
    *spans = v;
    *nspans = cnt / 2;
    return 0;
}

/* ======================================================================== */
/* Tokenizer: hash tables                                                    */
/* ======================================================================== */

/* Open addressing with linear probing; tables are at least twice as big as
 * what they hold, so probes stay short and never run out of empty slots. */

static uint64_t tk_mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* FNV-1a from a per-table seed, mixed so every bit reaches the low ones a
 * table indexes by. */
static uint32_t tk_hash(const char *s, size_t n, uint64_t seed) {
    uint64_t h = seed ^ 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    return (uint32_t)tk_mix64(h);
}

/* A table's seed: the address of its slots, random under ASLR, so a file
 * cannot be made of keys that all land in one run of slots. */
static uint64_t tk_seed(const void *slots) { return tk_mix64((uint64_t)(uintptr_t)slots); }

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
    uint64_t seed;
} tk_strmap;

static int tk_strmap_init(tk_strmap *m, size_t n) {
    size_t cap = tk_table_size(n);
    m->slots = (tk_sslot *)malloc(cap * sizeof *m->slots);
    if (!m->slots) return -1;
    for (size_t i = 0; i < cap; i++) m->slots[i].id = -1;
    m->mask = cap - 1;
    m->seed = tk_seed(m->slots);
    return 0;
}

static int tk_strmap_find(const tk_strmap *m, const char *blob, const char *s, size_t n) {
    if (!m->slots) return -1;
    uint32_t h = tk_hash(s, n, m->seed);
    for (size_t i = h & m->mask;; i = (i + 1) & m->mask) {
        const tk_sslot *e = &m->slots[i];
        if (e->id < 0) return -1;
        if (e->hash == h && e->len == n && memcmp(blob + e->off, s, n) == 0) return e->id;
    }
}

/* Adds blob[off, off+len) -> id; 1 (and nothing added) if the key is there. */
static int tk_strmap_add(tk_strmap *m, const char *blob, uint32_t off, uint32_t len, int id) {
    uint32_t h = tk_hash(blob + off, len, m->seed);
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

/* Sets the id of a key that is in the map. */
static void tk_strmap_set(tk_strmap *m, const char *blob, const char *s, size_t n, int id) {
    uint32_t h = tk_hash(s, n, m->seed);
    for (size_t i = h & m->mask;; i = (i + 1) & m->mask) {
        tk_sslot *e = &m->slots[i];
        if (e->id < 0) return;
        if (e->hash == h && e->len == n && memcmp(blob + e->off, s, n) == 0) { e->id = id; return; }
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
    uint64_t seed;
} tk_mergemap;

static int tk_merges_init(tk_mergemap *m, size_t n) {
    size_t cap = tk_table_size(n);
    m->slots = (tk_mslot *)malloc(cap * sizeof *m->slots);
    if (!m->slots) return -1;
    for (size_t i = 0; i < cap; i++) m->slots[i].key = UINT64_MAX;
    m->mask = cap - 1;
    m->seed = tk_seed(m->slots);
    return 0;
}

/* A pair listed twice keeps its last rank, as in tokenizers. */
static void tk_merges_put(tk_mergemap *m, int a, int b, int rank, int id) {
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    for (size_t i = tk_mix64(key ^ m->seed) & m->mask;; i = (i + 1) & m->mask) {
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
    for (size_t i = tk_mix64(key ^ m->seed) & m->mask;; i = (i + 1) & m->mask) {
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
    int special, lstrip, rstrip, normalized, single_word;
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
            if (cn && (cn + st[k].alen > limit || tk_buf_put(d, st[k].a, st[k].alen) || tk_buf_put(d, cur, cn)))
                return -1;
        } else if (st[k].kind == TK_NFC) {
            if (tk_nfc(cur, cn, d)) return -1; /* at most 3x: checked below */
        } else {
            int drop = first && st[k].drop_first;
            if (tk_replace(d, cur, cn, st[k].a, st[k].alen, drop ? "" : st[k].b, drop ? 0 : st[k].blen, limit))
                return -1;
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

/* How long a text of length x can get through the steps: at most
 * mul * x + add (Replace multiplies by |b| / |a| when that is more than 1,
 * Prepend adds |a|, NFC at most triples). */
static void tk_steps_growth(const tk_step *st, int n, double *mul, double *add) {
    *mul = 1;
    *add = 0;
    for (int k = 0; k < n; k++) {
        double f = st[k].kind == TK_NFC ? 3 : st[k].kind == TK_REPLACE && st[k].blen > st[k].alen
                                                  ? (double)st[k].blen / (double)st[k].alen : 1;
        *mul *= f;
        *add = *add * f + (st[k].kind == TK_PREPEND ? (double)st[k].alen : 0);
    }
}

static int tk_add_step(tk_loader *L, tk_step **steps, int *n, int kind, const char *a, size_t alen, const char *b,
                       size_t blen, int drop_first) {
    if (*n >= TK_MAX_STEPS) return TK_LFAIL(L, "more than %d normalizer or decoder steps", TK_MAX_STEPS);
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

/* The normalizer runs on every text encoded: refuse one that could blow a
 * text up (decoder steps run only at load, within TK_BUDGET). */
static int tk_check_growth(tk_loader *L) {
    double mul, add;
    tk_steps_growth(L->t->norm, L->t->n_norm, &mul, &add);
    if (mul > TK_MAX_GROWTH || add > TK_MAX_GROWTH_ADD)
        return TK_LFAIL(L, "the normalizer can make a text %.3g times longer (at most %d allowed)", mul, TK_MAX_GROWTH);
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
        tk_added *ad = &t->added[i];
        snprintf(where, sizeof where, "added_tokens[%d]", i);
        tk_json_int(j, tk_json_get(j, a, "id"), &id);
        ad->id = (int)id;
        if (tk_lbool(L, a, "special", where, 0, &ad->special) || tk_lbool(L, a, "lstrip", where, 0, &ad->lstrip) ||
            tk_lbool(L, a, "rstrip", where, 0, &ad->rstrip) ||
            tk_lbool(L, a, "normalized", where, !ad->special, &ad->normalized) ||
            tk_lbool(L, a, "single_word", where, 0, &ad->single_word))
            return -1;
        tk_blob_put(t, j, tk_json_get(j, a, "content"), &ad->off, &ad->len);
        t->n_added = i + 1;
        const char *c = t->blob + ad->off;
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
    if (p->behavior < 0)
        return TK_LFAIL(L, "%s.behavior is not one of Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous",
                        where);
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
/* The keys of the special_tokens object, unescaped into keys, hashed to
 * their value nodes (the last of duplicates, as serde reads them): the
 * template may name thousands of them. */
static int tk_special_tokens_map(tk_loader *L, int specials, tk_buf *keys, tk_strmap *map) {
    const tk_json *j = L->j;
    if (!tk_is_type(j, specials, TK_JSON_OBJECT)) return 0;
    if (tk_strmap_init(map, (size_t)j->nodes[specials].count)) return TK_LFAIL(L, "out of memory");
    for (int k = tk_json_child(j, specials); k >= 0; k = tk_json_next(j, tk_json_next(j, k))) {
        const char *s;
        size_t n, off = keys->n;
        if (tk_jstr(j, k, &L->s1, &s, &n) || tk_buf_put(keys, s, n)) return TK_LFAIL(L, "out of memory");
        if (keys->n >= TK_NONE) return TK_LFAIL(L, "post_processor.special_tokens is too large");
        if (tk_strmap_add(map, keys->p, (uint32_t)off, (uint32_t)n, tk_json_next(j, k)))
            tk_strmap_set(map, keys->p, s, n, tk_json_next(j, k));
    }
    return 0;
}

static int tk_load_template(tk_loader *L, int node) {
    const tk_json *j = L->j;
    tk_tokenizer *t = L->t;
    const char *s;
    size_t n;
    char q[64];
    int single = tk_json_get(j, node, "single");
    if (!tk_is_type(j, single, TK_JSON_ARRAY)) return TK_LFAIL(L, "post_processor.single is not an array");
    tk_buf keys = {0};
    tk_strmap specials = {0};
    tk_ivec ids_of[2] = {{0}}; /* before and after $A */
    int seq = 0, i = 0, rc = tk_special_tokens_map(L, tk_json_get(j, node, "special_tokens"), &keys, &specials);
    for (int e = tk_json_child(j, single); e >= 0 && !rc; e = tk_json_next(j, e), i++) {
        int sq = tk_json_get(j, e, "Sequence"), st = tk_json_get(j, e, "SpecialToken");
        if (tk_is_type(j, sq, TK_JSON_OBJECT)) {
            if (tk_jstr(j, tk_json_get(j, sq, "id"), &L->s1, &s, &n) || !tk_eq(s, n, "A") || seq)
                rc = TK_LFAIL(L, "post_processor.single[%d]: only one sequence $A is supported", i);
            seq = 1;
            continue;
        }
        if (!tk_is_type(j, st, TK_JSON_OBJECT) || tk_jstr(j, tk_json_get(j, st, "id"), &L->s1, &s, &n)) {
            rc = TK_LFAIL(L, "post_processor.single[%d] is neither a Sequence nor a SpecialToken", i);
            break;
        }
        int ids = tk_json_get(j, tk_strmap_find(&specials, keys.p, s, n), "ids");
        if (!tk_is_type(j, ids, TK_JSON_ARRAY)) {
            rc = TK_LFAIL(L, "post_processor.special_tokens has no ids for \"%s\"", tk_quote(q, sizeof q, s, n));
            break;
        }
        for (int e2 = tk_json_child(j, ids); e2 >= 0 && !rc; e2 = tk_json_next(j, e2)) {
            long long id;
            if (tk_json_int(j, e2, &id) || id < 0 || id >= t->n_ids || !tk_valid_id(t, (int)id))
                rc = TK_LFAIL(L, "post_processor: an id of \"%s\" is not a token", tk_quote(q, sizeof q, s, n));
            else if (tk_ivec_push(&ids_of[seq], (int)id))
                rc = TK_LFAIL(L, "out of memory");
        }
    }
    if (!rc && !seq) rc = TK_LFAIL(L, "post_processor.single has no $A");
    free(keys.p);
    free(specials.slots);
    t->prefix = ids_of[0].p; /* tk_free frees them */
    t->n_prefix = (int)ids_of[0].n;
    t->suffix = ids_of[1].p;
    t->n_suffix = (int)ids_of[1].n;
    return rc;
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
    size_t budget = TK_BUDGET(t->blob_len), used = 0;
    for (int i = 0; i < t->n_added && !rc; i++) {
        tk_added *a = &t->added[i];
        const char *c = t->blob + a->off, *s = c;
        size_t n = a->len;
        if (a->normalized && tk_apply_steps(t->norm, t->n_norm, 0, c, a->len, bufs, budget - used, &s, &n)) {
            rc = TK_LFAIL(L, "the normalized added tokens are too large (or out of memory)");
            break;
        }
        used += n;
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
    size_t budget = TK_BUDGET(t->blob_len) < TK_MAX_BLOB ? TK_BUDGET(t->blob_len) : TK_MAX_BLOB;
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
            if (tk_apply_steps(t->dsteps, t->n_dsteps, first, src, sn, bufs, budget - blob.n, &s, &n) ||
                (t->dec_lossy && tk_bytelevel_bytes(byte_of, &raw, &s, &n)) || blob.n + n + 1 > budget) {
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
        tk_check_growth(L) ||
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

/* Read a whole regular file of at most max bytes into a NUL-terminated
 * malloc'd buffer; errors name the path. O_NONBLOCK: a FIFO or device fails
 * the regular-file check at once instead of blocking in open or read.
 * Returns 0 or what went wrong (llorch.h maps these to its statuses). */
enum { TK_READ_IO = -1, TK_READ_TOO_BIG = -2, TK_READ_NOMEM = -3 };
static int tk_read_file(const char *path, size_t max, char **data, size_t *len, char *err, size_t errlen) {
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return tk_fail(err, errlen, path, "%s", strerror(errno)), TK_READ_IO;
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        return tk_fail(err, errlen, path, "not a regular file"), TK_READ_IO;
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        tk_fail(err, errlen, path, "%llu bytes is larger than the %zu allowed", (unsigned long long)st.st_size, max);
        return TK_READ_TOO_BIG;
    }
    size_t size = (size_t)st.st_size, n = 0;
    char *buf = (char *)malloc(size + 1);
    if (!buf) {
        close(fd);
        return tk_fail(err, errlen, path, "out of memory"), TK_READ_NOMEM;
    }
    while (n < size) {
        ssize_t got = read(fd, buf + n, size - n);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break; /* an error, or the file shrank */
        n += (size_t)got;
    }
    close(fd);
    if (n != size) {
        free(buf);
        return tk_fail(err, errlen, path, "read error"), TK_READ_IO;
    }
    buf[n] = 0;
    *data = buf;
    *len = n;
    return 0;
}

int tk_load_file(tk_tokenizer **out, const char *path, char *err, size_t errlen) {
    char *data = NULL;
    size_t len = 0;
    if (out) *out = NULL;
    if (!path) return tk_fail(err, errlen, "tokenizer", "no path");
    if (tk_read_file(path, TK_MAX_FILE, &data, &len, err, errlen)) return -1;
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
 *   3. pre-tokenize each remaining piece into words, stage by stage (Split,
 *      ByteLevel, Metaspace), each stage handing its pieces to the next;
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
 * skipped. All the searches share one step budget, linear in n. */
static int tk_find_matches(tk_enc *e, const tk_pre *p, const char *s, size_t n, tk_spans *v) {
    size_t prev = 0, pos = 0, mb, me, last_end = SIZE_MAX;
    uint64_t budget = tk_regex_budget(n);
    v->n = 0;
    while (pos <= n) {
        if (p->lit) {
            if ((mb = tk_find_lit(s, n, pos, p->lit, p->litlen)) == n) break;
            me = mb + p->litlen;
        } else {
            int r = tk_regex_find_budget(p->re, s, n, pos, &budget, &mb, &me, e->msg, sizeof e->msg);
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
    for (size_t i = 0; i < v->n; i++) { /* Isolated: every span is a piece */
        const tk_span *sp = &v->v[i];
        if (sp->b > sp->a && tk_pre_bytes(e, k, s + sp->a, sp->b - sp->a, at_origin && sp->a == 0)) return -1;
    }
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

static int tk_pretokenize(tk_enc *e, const char *s, size_t n, int at_origin) {
    return tk_pre_run(e, 0, s, n, at_origin);
}

typedef int (*tk_segment_fn)(tk_enc *e, const char *s, size_t n, int at_origin);

/* A word character for tokenizers' single_word test: Rust regex's \w
 * (Alphabetic, Mark, Decimal_Number, Connector_Punctuation, Join_Control).
 * The word table is Oniguruma's \w, which also counts Latin-1's other
 * numbers (superscripts, fractions) and not the joiners. */
static int tk_is_word_char(unsigned c) {
    if (c == 0x200C || c == 0x200D) return 1;
    if (c < 0x100 && tk_gc(c) == TK_GC_No) return 0;
    return tk_is_word(c);
}

/* Whether an added token at s[i, i+len) stands alone as single_word wants:
 * no word character right before or after it. */
static int tk_single_word(const char *s, size_t n, size_t i, size_t len) {
    size_t b = i, l;
    while (b > 0 && ((unsigned char)s[--b] & 0xC0) == 0x80) {}
    if (i > 0 && tk_is_word_char(tk_utf8_cp(s + b, i - b, &l))) return 0;
    return i + len == n || !tk_is_word_char(tk_utf8_cp(s + i + len, n - i - len, &l));
}

/* Split s at added tokens of the trie (tokenizers' AddedVocabulary::
 * find_matches: leftmost-longest, a single_word token only where it stands
 * alone, lstrip/rstrip take the whitespace next to the token), handing the
 * text between them to fn. at_origin: s starts the original text. */
static int tk_split_added(tk_enc *e, const tk_trie *tr, const char *s, size_t n, int at_origin, tk_segment_fn fn) {
    size_t done = 0, mlen = 0;
    for (size_t i = 0; i < n && tr->n > 1;) {
        int k = tk_trie_match(tr, s + i, n - i, &mlen);
        if (k < 0) {
            i++;
            continue;
        }
        const tk_added *a = &e->t->added[k];
        if (a->single_word && !tk_single_word(s, n, i, mlen)) { /* tokenizers skips past the match */
            i += mlen;
            continue;
        }
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
#define TJ_MAX_STEPS 4000000L             /* expressions evaluated + loop iterations */
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
static const char *const tj_globals[] = {"raise_exception", "strftime_now", "namespace", "range", "dict",
                                         "lipsum", "cycler", "joiner", NULL}; /* the last three: defined, not callable here */

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
    if (strcmp(name, "namespace") && strcmp(name, "dict")) return tj_fail(c, at->at, "%s() is not supported", name);
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

/* The loop variable at iteration i: index, index0, revindex, revindex0,
 * first, last, length, previtem, nextitem (Undefined at the ends), depth,
 * depth0. Like jinja2's LoopContext it is one object updated in place, so
 * an iteration costs no memory. */
static int tj_loop_var(tj_ctx *c, const tj_list *items, int i, tj_value *loop) {
    static const char *const keys[] = {"index", "index0", "revindex", "revindex0", "first", "last", "length",
                                       "previtem", "nextitem", "depth", "depth0"};
    long long n = items->n;
    tj_value vals[11] = {tj_vint(i + 1), tj_vint(i), tj_vint(n - i), tj_vint(n - i - 1), tj_vbool(i == 0),
                         tj_vbool(i == n - 1), tj_vint(n), i > 0 ? items->v[i - 1] : tj_vundef("previtem", 8),
                         i + 1 < n ? items->v[i + 1] : tj_vundef("nextitem", 8), tj_vint(1), tj_vint(0)};
    if (i == 0) {
        if (tj_dict_new(c, TJ_DICT, loop)) return -1;
        for (int k = 0; k < 11; k++)
            if (tj_dict_set(c, loop->u.d, tj_vstr(keys[k], strlen(keys[k])), vals[k])) return -1;
    }
    memcpy(loop->u.d->v, vals, sizeof vals); /* the keys stay in this order: templates cannot change a dict */
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
    tj_value loop;
    for (int i = 0; i < items.u.l->n; i++) {
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
