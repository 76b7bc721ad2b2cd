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
        unsigned u, lo;
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

#endif /* TOKENIZER_IMPLEMENTATION_DONE */
#endif /* TOKENIZER_IMPLEMENTATION */
