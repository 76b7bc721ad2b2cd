/* demo.c - the llorch command line: generate text from a prompt.
 *
 *   ./demo [options] PROMPT        (PROMPT "-" reads it from stdin)
 *   ./demo --chat [options] PROMPT the prompt as a user message in the model's chat template
 *   ./demo --messages FILE         a conversation from a JSON file, rendered by the template
 *   ./demo -i  (or --chat on a terminal without a prompt)
 *                                  a conversation: each line is a user message
 *   ./demo --serve [HOST:]PORT     an OpenAI-compatible HTTP server (README: Serving)
 *
 * Run ./demo -h for the options. Errors print one line on stderr and exit 1.
 */
#include "llorch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
/* ======================================================================== */
/* Server: HTTP/1.1 requests                                                 */
/* ======================================================================== */
/* This part and the next two are pure functions over bytes (test.c fuzzes
 * them with DEMO_PARSERS_ONLY defined, which leaves the rest of demo.c out). */

#define HTTP_MAX_LINE 8192         /* the request line */
#define HTTP_MAX_HEAD 32768        /* the request line and the headers */
#define HTTP_MAX_HEADERS 100
#define HTTP_MAX_BODY (4 << 20)    /* a request body: a context of 4096 tokens is ~100 KiB of text */

/* A parsed request head; the pointers are into the caller's buffer. */
typedef struct {
    const char *method, *target; /* target: the path and query as sent */
    size_t method_len, target_len;
    int minor;                   /* HTTP/1.minor */
    size_t head_len;             /* bytes up to and with the empty line */
    long long content_length;    /* -1: no Content-Length */
    int keep_alive, expect_continue;
    const char *auth;            /* the Authorization value, or NULL */
    size_t auth_len;
} http_request;

/* A refusal: the status, a message, and the OpenAI error code and param. */
typedef struct {
    int status;
    char msg[320];
    const char *code, *param;
} api_error;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int refuse(api_error *e, int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->status = status;
    return -1;
}

/* RFC 9110 token characters (methods and header names). */
static int is_tchar(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int ieq(const char *a, size_t n, const char *b) {
    return strlen(b) == n && !strncasecmp(a, b, n);
}

/* The next line of buf[at..len) without its LF (and CR): its length in *n;
 * the offset after it, or 0 when no LF has arrived yet. */
static size_t http_line(const char *buf, size_t len, size_t at, size_t *n) {
    const char *lf = (const char *)memchr(buf + at, '\n', len - at);
    if (!lf) return 0;
    *n = (size_t)(lf - (buf + at));
    if (*n && buf[at + *n - 1] == '\r') --*n;
    return (size_t)(lf - buf) + 1;
}

/* "GET /path HTTP/1.1" */
static int http_request_line(const char *l, size_t n, http_request *r, api_error *e) {
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)l[i])) i++;
    if (i == 0 || i > 16 || i >= n || l[i] != ' ') return refuse(e, 400, "malformed request line");
    r->method = l;
    r->method_len = i;
    size_t t = ++i;
    while (i < n && (unsigned char)l[i] > ' ' && (unsigned char)l[i] < 0x7F) i++;
    if (i == t || i >= n || l[i] != ' ') return refuse(e, 400, "malformed request target");
    r->target = l + t;
    r->target_len = i - t;
    /* absolute-form (what a proxy sends) stands for its path */
    size_t scheme = r->target_len > 7 && !strncasecmp(r->target, "http://", 7) ? 7
                    : r->target_len > 8 && !strncasecmp(r->target, "https://", 8) ? 8 : 0;
    const char *slash = scheme ? (const char *)memchr(r->target + scheme, '/', r->target_len - scheme) : NULL;
    if (slash) {
        r->target_len -= (size_t)(slash - r->target);
        r->target = slash;
    }
    if (r->target[0] != '/') return refuse(e, 400, "the request target must be a path or an absolute URL with one");
    const char *v = l + i + 1;
    size_t vn = n - i - 1;
    if (vn != 8 || memcmp(v, "HTTP/", 5) || v[6] != '.' || v[5] < '0' || v[5] > '9' || v[7] < '0' || v[7] > '9')
        return refuse(e, 400, "malformed HTTP version");
    if (v[5] != '1') return refuse(e, 505, "only HTTP/1.0 and HTTP/1.1 are served");
    r->minor = v[7] - '0';
    return 0;
}

/* Content-Length: digits; the same value when given twice. */
static int http_content_length(const char *v, size_t n, http_request *r, api_error *e) {
    long long x = 0;
    if (!n) return refuse(e, 400, "empty Content-Length");
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') return refuse(e, 400, "Content-Length is not a number");
        x = x > (1LL << 50) ? x : x * 10 + (v[i] - '0'); /* past any limit: stays too large */
    }
    if (r->content_length >= 0 && r->content_length != x) return refuse(e, 400, "two different Content-Length headers");
    r->content_length = x;
    return 0;
}

/* Connection: a comma-separated list of options. */
static void http_connection(const char *v, size_t n, http_request *r) {
    for (size_t i = 0; i < n;) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
        size_t s = i;
        while (i < n && v[i] != ',' && v[i] != ' ' && v[i] != '\t') i++;
        if (ieq(v + s, i - s, "close")) r->keep_alive = 0;
        else if (ieq(v + s, i - s, "keep-alive") && r->keep_alive < 0) r->keep_alive = 2;
    }
}

/* One "Name: value" line. */
static int http_header(const char *l, size_t n, http_request *r, int *hosts, api_error *e) {
    size_t c = 0;
    while (c < n && is_tchar((unsigned char)l[c])) c++;
    if (c == 0 || c >= n || l[c] != ':') return refuse(e, 400, "malformed header line");
    size_t s = c + 1, t = n;
    while (s < t && (l[s] == ' ' || l[s] == '\t')) s++;
    while (t > s && (l[t - 1] == ' ' || l[t - 1] == '\t')) t--;
    for (size_t i = s; i < t; i++)
        if (((unsigned char)l[i] < 0x20 && l[i] != '\t') || l[i] == 0x7F)
            return refuse(e, 400, "a control character in a header value");
    const char *v = l + s;
    size_t vn = t - s;
    if (ieq(l, c, "content-length")) return http_content_length(v, vn, r, e);
    if (ieq(l, c, "transfer-encoding"))
        return refuse(e, 501, "Transfer-Encoding (a chunked request body) is not supported: send Content-Length");
    if (ieq(l, c, "connection")) http_connection(v, vn, r);
    else if (ieq(l, c, "host")) ++*hosts;
    else if (ieq(l, c, "authorization")) { r->auth = v; r->auth_len = vn; }
    else if (ieq(l, c, "expect")) {
        if (!ieq(v, vn, "100-continue")) return refuse(e, 417, "only Expect: 100-continue is understood");
        r->expect_continue = 1;
    }
    return 0;
}

/* Parse the request head at the start of buf (len bytes received so far).
 * 1: complete (r filled); 0: incomplete, read more; -1: refused (e says
 * why; the connection closes after the error). Blank lines before the
 * request line are skipped (RFC 9112), a bare LF ends a line as CRLF does. */
static int http_parse(const char *buf, size_t len, http_request *r, api_error *e) {
    memset(r, 0, sizeof *r);
    r->content_length = -1;
    r->keep_alive = -1;
    e->code = e->param = NULL;
    size_t at = 0, n, next;
    int lines = 0, hosts = 0;
    while (at < len && at < 64 && (buf[at] == '\r' || buf[at] == '\n')) at++;
    size_t start = at;
    for (;;) {
        if (!(next = http_line(buf, len, at, &n))) {
            if (lines == 0 && len - start > HTTP_MAX_LINE) return refuse(e, 414, "the request line is longer than %d bytes", HTTP_MAX_LINE);
            if (len > HTTP_MAX_HEAD) return refuse(e, 431, "the request head is longer than %d bytes", HTTP_MAX_HEAD);
            /* a request line that cannot become valid is refused before it ends */
            for (size_t i = start; lines == 0 && i < len && i < start + 17; i++) {
                if (buf[i] == ' ') break;
                if (!is_tchar((unsigned char)buf[i])) return refuse(e, 400, "malformed request line");
            }
            return 0;
        }
        if (next - start > HTTP_MAX_HEAD) return refuse(e, 431, "the request head is longer than %d bytes", HTTP_MAX_HEAD);
        const char *l = buf + at;
        if (memchr(l, 0, n)) return refuse(e, 400, "a NUL byte in the request head");
        at = next;
        if (lines == 0) {
            if (n > HTTP_MAX_LINE) return refuse(e, 414, "the request line is longer than %d bytes", HTTP_MAX_LINE);
            if (http_request_line(l, n, r, e)) return -1;
        } else if (n == 0) {
            break;
        } else if (l[0] == ' ' || l[0] == '\t') {
            return refuse(e, 400, "folded header lines are not allowed");
        } else {
            if (lines > HTTP_MAX_HEADERS) return refuse(e, 431, "more than %d header lines", HTTP_MAX_HEADERS);
            if (http_header(l, n, r, &hosts, e)) return -1;
        }
        lines++;
    }
    if (r->minor == 1 && hosts != 1) return refuse(e, 400, hosts ? "more than one Host header" : "no Host header");
    r->keep_alive = r->keep_alive == 0 ? 0 : r->minor >= 1 || r->keep_alive == 2;
    r->head_len = at;
    return 1;
}

/* ======================================================================== */
/* Server: JSON and text output                                              */
/* ======================================================================== */

/* A growing byte buffer; after a failed allocation it stays as it was and
 * oom is set (checked once, at the end). */
typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap * 2 + n + 256;
        char *p = (char *)realloc(b->p, cap);
        if (!p) { b->oom = 1; return; }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sb_puts(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void sb_printf(sbuf *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= (int)sizeof tmp) { b->oom = 1; return; } /* only short, fixed formats come here */
    sb_put(b, tmp, (size_t)n);
}

/* Bytes of the UTF-8 character at s (at most n bytes), or 0 when invalid. */
static int utf8_char_len(const unsigned char *s, size_t n) {
    int k = s[0] < 0x80 ? 1 : s[0] >= 0xC2 && s[0] <= 0xDF ? 2 : s[0] >= 0xE0 && s[0] <= 0xEF ? 3
            : s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : 0;
    if (!k || (size_t)k > n) return 0;
    for (int i = 1; i < k; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    if ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] > 0x9F) || (s[0] == 0xF0 && s[1] < 0x90) ||
        (s[0] == 0xF4 && s[1] > 0x8F))
        return 0; /* overlong, a surrogate, past U+10FFFF */
    return k;
}

/* s as a JSON string: quoted, escaped, and any byte that is not UTF-8 as U+FFFD. */
static void sb_json_str(sbuf *b, const char *s, size_t n) {
    sb_put(b, "\"", 1);
    size_t run = 0; /* bytes copied as they are, pending */
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        int k = utf8_char_len((const unsigned char *)s + i, n - i);
        if (k && c >= 0x20 && c != '"' && c != '\\') { i += (size_t)k; run += (size_t)k; continue; }
        sb_put(b, s + i - run, run);
        run = 0;
        char esc[8];
        if (!k) sb_puts(b, "\\ufffd");
        else if (c == '"') sb_puts(b, "\\\"");
        else if (c == '\\') sb_puts(b, "\\\\");
        else if (c == '\n') sb_puts(b, "\\n");
        else if (c == '\r') sb_puts(b, "\\r");
        else if (c == '\t') sb_puts(b, "\\t");
        else { snprintf(esc, sizeof esc, "\\u%04x", c); sb_puts(b, esc); }
        i++;
    }
    sb_put(b, s + n - run, run);
    sb_put(b, "\"", 1);
}

static void sb_json_cstr(sbuf *b, const char *s) { sb_json_str(b, s, strlen(s)); }

/* {"error": {"message", "type", "param", "code"}}, as the OpenAI API writes it. */
static void sb_error(sbuf *b, const api_error *e) {
    const char *type = e->status == 401 ? "authentication_error" : e->status == 429 ? "rate_limit_error"
                       : e->status >= 500 ? "server_error" : "invalid_request_error";
    sb_puts(b, "{\"error\":{\"message\":");
    sb_json_cstr(b, e->msg);
    sb_printf(b, ",\"type\":\"%s\",\"param\":", type);
    if (e->param) sb_json_cstr(b, e->param);
    else sb_puts(b, "null");
    sb_puts(b, ",\"code\":");
    if (e->code) sb_json_cstr(b, e->code);
    else sb_puts(b, "null");
    sb_puts(b, "}}\n");
}

/* ======================================================================== */
/* Server: request bodies                                                    */
/* ======================================================================== */

/* What a /v1/completions or /v1/chat/completions body asks for. */
typedef struct {
    int chat, stream, include_usage;
    int max_tokens;                 /* -1: not given */
    int has_temperature, has_seed;  /* else the defaults: 1, and a fresh seed */
    llorch_sampler_opts sampler;
    char *model;                    /* as given, or NULL */
    char *prompt;                   /* completions: a text, or */
    size_t prompt_len;
    int *ids, n_ids;                /* token ids */
    llorch_message *messages;       /* chat */
    int n_messages;
    char *stop[LLORCH_MAX_STOP];
    int n_stop;
} api_params;

static void api_params_free(api_params *p) {
    free(p->model);
    free(p->prompt);
    free(p->ids);
    for (int i = 0; p->messages && i < p->n_messages; i++) {
        free((char *)p->messages[i].role);
        free((char *)p->messages[i].content);
    }
    free(p->messages);
    for (int i = 0; i < p->n_stop; i++) free(p->stop[i]);
    memset(p, 0, sizeof *p);
}

/* The parser of one body: the document, the request being filled, the
 * error, and the parameter being read (named in errors). */
typedef struct {
    const tk_json *j;
    api_params *p;
    api_error *e;
    const char *param;
} api_reader;

static int bad_param(api_reader *r, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static int bad_param(api_reader *r, const char *fmt, ...) {
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    r->e->param = r->param;
    r->e->code = "invalid_value";
    return refuse(r->e, 400, "%s: %s", r->param, what);
}

static int is_null(const api_reader *r, int v) { return r->j->nodes[v].type == TK_JSON_NULL; }

static int json_is(const api_reader *r, int v, tk_json_type t) { return r->j->nodes[v].type == (unsigned)t; }

static int read_bool(api_reader *r, int v, int *out) {
    if (json_is(r, v, TK_JSON_TRUE) || json_is(r, v, TK_JSON_FALSE)) *out = json_is(r, v, TK_JSON_TRUE);
    else if (!is_null(r, v)) return bad_param(r, "must be true or false");
    return 0;
}

static int read_int(api_reader *r, int v, long long lo, long long hi, long long *out) {
    long long x;
    if (tk_json_int(r->j, v, &x) || x < lo || x > hi) return bad_param(r, "must be an integer from %lld to %lld", lo, hi);
    *out = x;
    return 0;
}

static int read_float(api_reader *r, int v, double lo, double hi, float *out) {
    double x;
    if (tk_json_number(r->j, v, &x) || !(x >= lo && x <= hi)) return bad_param(r, "must be a number from %g to %g", lo, hi);
    *out = (float)x;
    return 0;
}

/* A string without NUL (the library takes C strings). */
static int read_string(api_reader *r, int v, char **out, size_t *len) {
    size_t n;
    char *s = json_is(r, v, TK_JSON_STRING) ? tk_json_strdup(r->j, v, &n) : NULL;
    if (!s) return json_is(r, v, TK_JSON_STRING) ? refuse(r->e, 500, "out of memory") : bad_param(r, "must be a string");
    if (strlen(s) != n) { free(s); return bad_param(r, "holds a NUL character"); }
    *out = s;
    if (len) *len = n;
    return 0;
}

/* A parameter llorch does not implement is accepted only at the value that
 * means "off" (what OpenAI clients send by default); any other is refused. */
static int only_default(api_reader *r, int v, const char *what) {
    const tk_json_node *nd = &r->j->nodes[v];
    double x;
    long long i;
    int off = nd->type == TK_JSON_NULL || nd->type == TK_JSON_FALSE ||
              (!strcmp(what, "0") && !tk_json_number(r->j, v, &x) && x == 0) ||
              (!strcmp(what, "1") && !tk_json_int(r->j, v, &i) && i == 1) ||
              ((nd->type == TK_JSON_ARRAY || nd->type == TK_JSON_OBJECT) && nd->count == 0) ||
              (nd->type == TK_JSON_STRING && (tk_json_streq(r->j, v, "") || tk_json_streq(r->j, v, what)));
    if (off) return 0;
    r->e->param = r->param;
    r->e->code = "unsupported_parameter";
    return refuse(r->e, 400, "%s is not supported by this server%s%s%s", r->param, *what ? " (only " : "",
                  what, *what ? ")" : "");
}

/* stop: a string or an array of strings. */
static int read_stop(api_reader *r, int v) {
    api_params *p = r->p;
    for (int i = 0; i < p->n_stop; i++) free(p->stop[i]);
    p->n_stop = 0;
    if (is_null(r, v)) return 0;
    int one = json_is(r, v, TK_JSON_STRING);
    if (!one && !json_is(r, v, TK_JSON_ARRAY)) return bad_param(r, "must be a string or an array of strings");
    if (!one && r->j->nodes[v].count > LLORCH_MAX_STOP) return bad_param(r, "at most %d strings", LLORCH_MAX_STOP);
    for (int c = one ? v : tk_json_child(r->j, v); c >= 0; c = one ? -1 : tk_json_next(r->j, c)) {
        size_t n;
        if (read_string(r, c, &p->stop[p->n_stop], &n)) return -1;
        p->n_stop++;
        if (n == 0 || n > LLORCH_MAX_STOP_BYTES) return bad_param(r, "each string must have 1 to %d bytes", LLORCH_MAX_STOP_BYTES);
    }
    return 0;
}

/* Token ids: an array of integers. */
static int read_ids(api_reader *r, int v) {
    api_params *p = r->p;
    int n = (int)r->j->nodes[v].count;
    if (n == 0) return bad_param(r, "is empty");
    free(p->ids);
    p->n_ids = 0;
    if (!(p->ids = (int *)malloc((size_t)n * sizeof *p->ids))) return refuse(r->e, 500, "out of memory");
    for (int c = tk_json_child(r->j, v); c >= 0; c = tk_json_next(r->j, c)) {
        long long x;
        if (tk_json_int(r->j, c, &x) || x < 0 || x > INT32_MAX) return bad_param(r, "token ids must be integers >= 0");
        p->ids[p->n_ids++] = (int)x;
    }
    return 0;
}

/* prompt: a string, an array of token ids, or an array holding one of those. */
static int read_prompt_param(api_reader *r, int v) {
    api_params *p = r->p;
    free(p->prompt); /* a key given twice means its last value */
    free(p->ids);
    p->prompt = NULL;
    p->ids = NULL;
    p->n_ids = 0;
    if (json_is(r, v, TK_JSON_STRING)) return read_string(r, v, &p->prompt, &p->prompt_len);
    if (!json_is(r, v, TK_JSON_ARRAY)) return bad_param(r, "must be a string, an array of token ids, or an array of one of those");
    int c = tk_json_child(r->j, v);
    if (c < 0) return bad_param(r, "is empty");
    if (json_is(r, c, TK_JSON_NUMBER)) return read_ids(r, v);
    if (r->j->nodes[v].count > 1) return bad_param(r, "more than one prompt in a request is not supported (send one a request)");
    if (json_is(r, c, TK_JSON_STRING)) return read_string(r, c, &p->prompt, &p->prompt_len);
    if (json_is(r, c, TK_JSON_ARRAY)) return read_ids(r, c);
    return bad_param(r, "must be a string, an array of token ids, or an array of one of those");
}

/* A message's content: a string, null, or an array of {"type": "text",
 * "text": ...} parts, joined by newlines. */
static int read_content(api_reader *r, int v, char **out) {
    if (is_null(r, v)) return (*out = strdup("")) ? 0 : refuse(r->e, 500, "out of memory");
    if (json_is(r, v, TK_JSON_STRING)) return read_string(r, v, out, NULL);
    if (!json_is(r, v, TK_JSON_ARRAY)) return bad_param(r, "content must be a string or an array of text parts");
    sbuf b = {0};
    sb_puts(&b, "");
    for (int c = tk_json_child(r->j, v); c >= 0; c = tk_json_next(r->j, c)) {
        int type = json_is(r, c, TK_JSON_OBJECT) ? tk_json_get(r->j, c, "type") : -1;
        int text = json_is(r, c, TK_JSON_OBJECT) ? tk_json_get(r->j, c, "text") : -1;
        char *s = NULL;
        if (type < 0 || !tk_json_streq(r->j, type, "text") || text < 0) {
            free(b.p);
            return bad_param(r, "content parts other than {\"type\": \"text\", \"text\": ...} are not supported");
        }
        if (read_string(r, text, &s, NULL)) { free(b.p); return -1; }
        if (b.len) sb_put(&b, "\n", 1);
        sb_puts(&b, s);
        free(s);
    }
    if (b.oom) { free(b.p); return refuse(r->e, 500, "out of memory"); }
    *out = b.p;
    return 0;
}

/* messages: an array of {"role": string, "content": ...}. */
static int read_messages_param(api_reader *r, int v) {
    api_params *p = r->p;
    if (!json_is(r, v, TK_JSON_ARRAY) || r->j->nodes[v].count == 0) return bad_param(r, "must be a non-empty array of messages");
    for (int i = 0; p->messages && i < p->n_messages; i++) {
        free((char *)p->messages[i].role);
        free((char *)p->messages[i].content);
    }
    free(p->messages);
    p->n_messages = 0;
    if (!(p->messages = (llorch_message *)calloc(r->j->nodes[v].count, sizeof *p->messages)))
        return refuse(r->e, 500, "out of memory");
    for (int c = tk_json_child(r->j, v); c >= 0; c = tk_json_next(r->j, c)) {
        llorch_message *m = &p->messages[p->n_messages];
        if (!json_is(r, c, TK_JSON_OBJECT)) return bad_param(r, "message %d is not an object", p->n_messages);
        for (int k = tk_json_child(r->j, c); k >= 0; k = tk_json_next(r->j, tk_json_next(r->j, k)))
            if (!tk_json_streq(r->j, k, "role") && !tk_json_streq(r->j, k, "content")) {
                char *key = tk_json_strdup(r->j, k, NULL);
                int rc = bad_param(r, "message %d: \"%.40s\" is not supported (only role and content)", p->n_messages,
                                   key ? key : "");
                free(key);
                return rc;
            }
        int role = tk_json_get(r->j, c, "role"), content = tk_json_get(r->j, c, "content");
        if (role < 0 || content < 0) return bad_param(r, "message %d has no %s", p->n_messages, role < 0 ? "role" : "content");
        char *rs = NULL, *cs = NULL;
        if (read_string(r, role, &rs, NULL)) return -1;
        if (read_content(r, content, &cs)) { free(rs); return -1; }
        m->role = rs;
        m->content = cs;
        p->n_messages++;
    }
    return 0;
}

/* stream_options: {"include_usage": bool}. */
static int read_stream_options(api_reader *r, int v) {
    if (is_null(r, v)) return 0;
    if (!json_is(r, v, TK_JSON_OBJECT)) return bad_param(r, "must be an object");
    for (int k = tk_json_child(r->j, v); k >= 0; k = tk_json_next(r->j, tk_json_next(r->j, k))) {
        if (!tk_json_streq(r->j, k, "include_usage")) return bad_param(r, "only include_usage is supported");
        if (read_bool(r, tk_json_next(r->j, k), &r->p->include_usage)) return -1;
    }
    return 0;
}

/* One member of the body. */
static int read_param(api_reader *r, const char *key, int v) {
    api_params *p = r->p;
    long long x = 0;
    r->param = key;
    if (!strcmp(key, "model")) { free(p->model); p->model = NULL; return is_null(r, v) ? 0 : read_string(r, v, &p->model, NULL); }
    if (!strcmp(key, "stream")) return read_bool(r, v, &p->stream);
    if (!strcmp(key, "stream_options")) return read_stream_options(r, v);
    if (!strcmp(key, "max_tokens") || (p->chat && !strcmp(key, "max_completion_tokens"))) {
        if (is_null(r, v)) return 0;
        if (read_int(r, v, 0, INT32_MAX, &x)) return -1;
        p->max_tokens = (int)x;
        return 0;
    }
    if (!strcmp(key, "temperature")) {
        p->has_temperature = !is_null(r, v);
        return p->has_temperature ? read_float(r, v, 0, 2, &p->sampler.temperature) : 0;
    }
    if (!strcmp(key, "top_p")) return is_null(r, v) ? 0 : read_float(r, v, 0, 1, &p->sampler.top_p);
    if (!strcmp(key, "top_k")) {
        if (is_null(r, v)) return 0;
        if (read_int(r, v, -1, INT32_MAX, &x)) return -1;
        p->sampler.top_k = x < 0 ? 0 : (int)x; /* -1: off, as vLLM */
        return 0;
    }
    if (!strcmp(key, "repetition_penalty")) return is_null(r, v) ? 0 : read_float(r, v, 0.01, 100, &p->sampler.repetition_penalty);
    if (!strcmp(key, "seed")) {
        p->has_seed = !is_null(r, v);
        if (!p->has_seed) return 0;
        if (read_int(r, v, INT64_MIN, INT64_MAX, &x)) return -1;
        p->sampler.seed = (uint64_t)x;
        return 0;
    }
    if (!strcmp(key, "stop")) return read_stop(r, v);
    if (!strcmp(key, "user")) return is_null(r, v) || json_is(r, v, TK_JSON_STRING) ? 0 : bad_param(r, "must be a string");
    if (!strcmp(key, "n") || !strcmp(key, "best_of")) return only_default(r, v, "1");
    if (!strcmp(key, "presence_penalty") || !strcmp(key, "frequency_penalty")) return only_default(r, v, "0");
    if (!strcmp(key, "logit_bias") || !strcmp(key, "logprobs") || !strcmp(key, "top_logprobs")) return only_default(r, v, "");
    if (!p->chat) {
        if (!strcmp(key, "prompt")) return read_prompt_param(r, v);
        if (!strcmp(key, "echo") || !strcmp(key, "suffix")) return only_default(r, v, "");
    } else {
        if (!strcmp(key, "messages")) return read_messages_param(r, v);
        if (!strcmp(key, "tools") || !strcmp(key, "functions")) return only_default(r, v, "");
        if (!strcmp(key, "tool_choice") || !strcmp(key, "function_call")) return only_default(r, v, "none");
        if (!strcmp(key, "parallel_tool_calls") || !strcmp(key, "store")) return read_bool(r, v, &(int){0}); /* nothing to do */
        if (!strcmp(key, "response_format")) {
            int t = json_is(r, v, TK_JSON_OBJECT) ? tk_json_get(r->j, v, "type") : -1;
            if (is_null(r, v) || (t >= 0 && tk_json_streq(r->j, t, "text") && r->j->nodes[v].count == 1)) return 0;
            return only_default(r, v, "{\"type\": \"text\"}");
        }
    }
    r->e->param = key;
    r->e->code = "unknown_parameter";
    return refuse(r->e, 400, "unrecognized request argument: %s", key);
}

/* Parse and check a request body; 0, or -1 with e filled (status 400). */
static int api_parse(const char *body, size_t len, int chat, api_params *p, api_error *e) {
    memset(p, 0, sizeof *p);
    memset(e, 0, sizeof *e);
    p->chat = chat;
    p->max_tokens = -1;
    p->sampler = llorch_sampler_defaults();
    p->sampler.temperature = 1; /* OpenAI's default: sampled */
    tk_json j;
    char msg[256];
    if (tk_json_parse(&j, body, len, msg, sizeof msg)) {
        e->code = "invalid_json";
        return refuse(e, 400, "the body is not valid JSON: %s", msg);
    }
    api_reader r = {&j, p, e, NULL};
    int rc = 0;
    if (j.nodes[0].type != TK_JSON_OBJECT) rc = refuse(e, 400, "the body must be a JSON object");
    for (int k = rc ? -1 : tk_json_child(&j, 0); k >= 0 && !rc; k = tk_json_next(&j, tk_json_next(&j, k))) {
        char *key = tk_json_strdup(&j, k, NULL);
        if (!key) { rc = refuse(e, 500, "out of memory"); break; }
        /* the parameter's name outlives key: errors point at a static copy */
        static const char *const names[] = {"model", "stream", "stream_options", "max_tokens", "max_completion_tokens",
            "temperature", "top_p", "top_k", "repetition_penalty", "seed", "stop", "user", "n", "best_of",
            "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs", "prompt", "echo",
            "suffix", "messages", "tools", "functions", "tool_choice", "function_call", "parallel_tool_calls", "store",
            "response_format"};
        const char *name = NULL;
        for (size_t i = 0; i < sizeof names / sizeof *names; i++)
            if (!strcmp(names[i], key)) name = names[i];
        if (name) rc = read_param(&r, name, tk_json_next(&j, k));
        else {
            e->code = "unknown_parameter";
            rc = refuse(e, 400, "unrecognized request argument: %.60s", key);
        }
        free(key);
    }
    if (!rc && chat && !p->messages) { e->param = "messages"; rc = refuse(e, 400, "messages: missing"); }
    if (!rc && !chat && !p->prompt && !p->ids) { e->param = "prompt"; rc = refuse(e, 400, "prompt: missing"); }
    if (!rc && p->include_usage && !p->stream) {
        e->param = "stream_options";
        rc = refuse(e, 400, "stream_options: only allowed when stream is true");
    }
    tk_json_free(&j);
    if (rc) api_params_free(p);
    return rc;
}

#ifndef DEMO_PARSERS_ONLY

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
    int sampling_set;                 /* -n, -t, -k, -p, -r or -s given */
    const char *serve, *api_key;      /* --serve [HOST:]PORT */
    int parallel, queue, max_conns, timeout;
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
            "  --bench           print timings to stderr\n"
            "  --serve [HOST:]PORT  serve the OpenAI API over HTTP (default 127.0.0.1:8080; port 0: any free one)\n"
            "                    (requests choose their own sampling; --ctx is each request's context)\n"
            "  --parallel N      --serve: requests generated at once (default: as many as fit in memory, at most 256)\n"
            "  --queue N         --serve: requests waiting for a slot at most (default 1024; more are answered 429)\n"
            "  --api-key KEY     --serve: require the header Authorization: Bearer KEY\n"
            "  --max-conns N     --serve: open connections at most (default 512; more are answered 503)\n"
            "  --timeout S       --serve: seconds a request has to arrive, and a client to take a response (default 30)\n");
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
    a->max_conns = 512;
    a->timeout = 30;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0, takes = 1;
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) { usage(stdout); exit(0); }
        else if (!strcmp(o, "--chat")) { a->chat = 1; takes = 0; }
        else if (!strcmp(o, "-i")) { a->interactive = a->chat = 1; takes = 0; }
        else if (!strcmp(o, "--ids")) { a->ids = 1; takes = 0; }
        else if (!strcmp(o, "--tokenize")) { a->tokenize = 1; takes = 0; }
        else if (!strcmp(o, "--bench")) { a->bench = 1; takes = 0; }
        else if (!strcmp(o, "--serve")) { /* the address is optional */
            takes = v && v[0] != '-';
            a->serve = takes ? v : "127.0.0.1:8080";
        }
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
        else if (!strcmp(o, "--parallel")) bad = parse_int(v, 1, 256, &a->parallel);
        else if (!strcmp(o, "--queue")) bad = parse_int(v, 1, 1 << 20, &a->queue);
        else if (!strcmp(o, "--api-key")) bad = !*(a->api_key = v);
        else if (!strcmp(o, "--max-conns")) bad = parse_int(v, 1, 65536, &a->max_conns);
        else if (!strcmp(o, "--timeout")) bad = parse_int(v, 1, 86400, &a->timeout);
        else if (o[0] == '-' && o[1]) return die("unknown option %s (see demo -h)", o);
        else {
            if (a->prompt) return die("more than one prompt (quote it)");
            a->prompt = o;
            takes = 0;
        }
        if (bad) return die("bad value '%s' for %s", v, o);
        if (o[0] == '-' && o[1] && !o[2] && strchr("ntkprs", o[1])) a->sampling_set = 1;
        i += takes;
    }
    if (a->serve) {
        if (a->prompt || a->messages || a->chat || a->batch > 1 || a->tokenize || a->dump_logits || a->ids || a->bench)
            return die("--serve takes no prompt, --chat, -i, --messages, --batch, --tokenize, --dump-logits, --ids or --bench");
        if (a->sampling_set) return die("--serve: -n, -t, -k, -p, -r and -s do not apply (each request sets its own)");
        return 0;
    }
    if (a->parallel || a->queue || a->api_key) return die("--parallel, --queue and --api-key go with --serve");
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

/* ======================================================================== */
/* Server: metrics                                                           */
/* ======================================================================== */

static const double ttft_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
static const double tpot_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
#define N_TTFT (int)(sizeof ttft_bounds / sizeof *ttft_bounds)
#define N_TPOT (int)(sizeof tpot_bounds / sizeof *tpot_bounds)

/* Observations per bucket (not cumulative; the last is +Inf), their sum. */
typedef struct {
    unsigned long long bucket[16], count;
    double sum;
} histogram;

static void hist_observe(histogram *h, const double *bounds, int n, double x) {
    int i = 0;
    while (i < n && x > bounds[i]) i++;
    h->bucket[i]++;
    h->count++;
    h->sum += x;
}

static void hist_add(histogram *to, const histogram *h) {
    for (int i = 0; i < 16; i++) to->bucket[i] += h->bucket[i];
    to->count += h->count;
    to->sum += h->sum;
}

typedef enum { EP_COMPLETIONS, EP_CHAT, EP_MODELS, EP_HEALTH, EP_METRICS, EP_OTHER, N_ENDPOINTS } endpoint;
static const char *const endpoint_names[N_ENDPOINTS] = {"/v1/completions", "/v1/chat/completions", "/v1/models",
                                                        "/health", "/metrics", "other"};

#define MAX_STATUS_SERIES 64

typedef struct {
    pthread_mutex_t mu;
    struct { int ep, status; unsigned long long n; } requests[MAX_STATUS_SERIES];
    int n_series;
    histogram ttft, tpot;
    unsigned long long prompt_tokens, generated_tokens, cancelled;
} metrics;

static void metrics_request(metrics *mx, endpoint ep, int status) {
    pthread_mutex_lock(&mx->mu);
    int i = 0;
    while (i < mx->n_series && (mx->requests[i].ep != (int)ep || mx->requests[i].status != status)) i++;
    if (i == mx->n_series && i < MAX_STATUS_SERIES) {
        mx->requests[i].ep = (int)ep;
        mx->requests[i].status = status;
        mx->n_series++;
    }
    if (i < mx->n_series) mx->requests[i].n++;
    pthread_mutex_unlock(&mx->mu);
}

static void sb_histogram(sbuf *b, const char *name, const char *help, const histogram *h, const double *bounds, int n) {
    sb_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    unsigned long long cum = 0;
    for (int i = 0; i <= n; i++) {
        cum += h->bucket[i];
        if (i < n) sb_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i], cum);
        else sb_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, cum);
    }
    sb_printf(b, "%s_sum %.6f\n%s_count %llu\n", name, h->sum, name, h->count);
}

/* ======================================================================== */
/* Server: connections                                                       */
/* ======================================================================== */

typedef struct {
    const demo_args *a;
    llorch_model *m;
    llorch_engine *e;
    char model_id[256];
    int ctx, n_slots, listen_fd, max_conns;
    int stop_pipe[2];     /* written once shutdown begins: wakes idle connections */
    atomic_int stopping;
    pthread_mutex_t mu;   /* guards the counts */
    int n_conns, n_extra; /* connections served; over the limit, answered 503 */
    atomic_ullong next_id;
    long long created;
    metrics mx;
} server;

typedef struct {
    server *s;
    int fd, over_limit;
    int wake[2];          /* the engine's callback writes here when output arrives */
    char peer[80];
    char *buf;            /* bytes received and not consumed yet */
    size_t len, cap;
    int served;
} conn;

/* One request and its response. */
typedef struct {
    conn *c;
    http_request h;
    const char *body;
    size_t body_len;
    char path[256];       /* the target without its query */
    endpoint ep;
    int status, keep_alive, n_in, n_out;
    double t0;
} exchange;

static const char *reason(int status) {
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 417: return "Expectation Failed";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Internal Server Error";
    }
}

/* All of p, or -1 (the client is gone or stopped reading for the send timeout). */
static int send_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* "Date: ...\r\n" now, as HTTP wants of a server with a clock. */
static void http_date(char *out, size_t cap) {
    time_t t = time(NULL);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(out, cap, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm)) out[0] = 0;
}

/* A whole response with a Content-Length body. */
static int respond(exchange *x, int status, const char *type, const char *body, size_t len, const char *extra) {
    char head[600], date[64];
    x->status = status;
    http_date(date, sizeof date);
    int n = snprintf(head, sizeof head, "HTTP/1.%d %d %s\r\n%sContent-Type: %s\r\nContent-Length: %zu\r\n%s%s\r\n",
                     x->h.minor, status, reason(status), date, type, len, extra ? extra : "",
                     x->keep_alive ? (x->h.minor ? "" : "Connection: keep-alive\r\n") : "Connection: close\r\n");
    if (n < 0 || n >= (int)sizeof head) return -1;
    if (send_all(x->c->fd, head, (size_t)n) || send_all(x->c->fd, body, len)) {
        x->keep_alive = 0;
        return -1;
    }
    return 0;
}

static int respond_json(exchange *x, int status, sbuf *b) {
    if (b->oom) {
        free(b->p);
        memset(b, 0, sizeof *b);
        sb_puts(b, "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n");
        status = 500;
    }
    int rc = respond(x, status, "application/json", b->p ? b->p : "", b->len, NULL);
    free(b->p);
    return rc;
}

static int respond_error(exchange *x, const api_error *e) {
    sbuf b = {0};
    sb_error(&b, e);
    if (e->status == 401) {
        int rc = respond(x, 401, "application/json", b.p ? b.p : "", b.len, "WWW-Authenticate: Bearer\r\n");
        free(b.p);
        return rc;
    }
    return respond_json(x, e->status, &b);
}

/* One line a request on stderr, written at once (threads share stderr). */
static void log_request(const exchange *x) {
    char line[600], target[200];
    size_t t = 0;
    for (size_t i = 0; x->h.target && i < x->h.target_len && t + 5 < sizeof target; i++) {
        unsigned char ch = (unsigned char)x->h.target[i];
        if (ch < 0x20 || ch >= 0x7F || ch == '"') t += (size_t)snprintf(target + t, sizeof target - t, "\\x%02X", ch);
        else target[t++] = (char)ch;
    }
    target[t] = 0;
    int n = snprintf(line, sizeof line, "%s \"%.*s %s\" %d in=%d out=%d %.3fs\n", x->c->peer,
                     x->h.method ? (int)x->h.method_len : 1, x->h.method ? x->h.method : "-", x->h.method ? target : "-",
                     x->status, x->n_in, x->n_out, now_s() - x->t0);
    if (n > 0) (void)!write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    metrics_request(&x->c->s->mx, x->ep, x->status);
}

/* ======================================================================== */
/* Server: generation                                                        */
/* ======================================================================== */

/* What the engine's callback hands to the connection (on the engine's
 * thread: it only copies and signals; the connection's thread writes). */
typedef struct {
    pthread_mutex_t mu;
    int wake_fd, signalled;
    sbuf text;            /* output the connection has not taken yet */
    int done, n_prompt, n_generated;
    llorch_finish finish;
    char error[256];
    double t_start, t_first, t_last;
    histogram tpot;       /* this request's times between tokens */
} gen_state;

static int on_event(void *user, const llorch_event *ev) {
    gen_state *g = (gen_state *)user;
    double t = now_s();
    pthread_mutex_lock(&g->mu);
    if (ev->token >= 0) {
        if (g->t_first == 0) g->t_first = t;
        else hist_observe(&g->tpot, tpot_bounds, N_TPOT, t - g->t_last);
        g->t_last = t;
    }
    sb_put(&g->text, ev->text, ev->len);
    g->n_prompt = ev->n_prompt;
    g->n_generated = ev->n_generated;
    if (ev->finish != LLORCH_RUNNING) {
        g->done = 1;
        g->finish = ev->finish;
        if (ev->error) snprintf(g->error, sizeof g->error, "%s", ev->error);
    }
    if (!g->signalled) { /* under the lock: once done is seen, the pipe is no longer ours to write */
        g->signalled = 1;
        (void)!write(g->wake_fd, "", 1);
    }
    pthread_mutex_unlock(&g->mu);
    return 0;
}

/* Whether the client has hung up (a read of EOF or an error); pipelined
 * bytes waiting to be read are not a hang-up (*watch stops watching them). */
static int client_gone(int fd, short revents, int *watch) {
    if (revents & (POLLHUP | POLLERR | POLLNVAL)) return 1;
    if (!(revents & POLLIN)) return 0;
    char ch;
    ssize_t k = recv(fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT);
    if (k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return 1;
    if (k > 0) *watch = 0;
    return 0;
}

static const char *finish_reason(llorch_finish f) { return f == LLORCH_FINISH_LENGTH ? "length" : "stop"; }

/* The response's id, object, created and model fields. */
static void sb_head_fields(sbuf *b, const exchange *x, const char *id, const char *object) {
    sb_printf(b, "{\"id\":\"%s\",\"object\":\"%s\",\"created\":%lld,\"model\":", id, object, x->c->s->created);
    sb_json_cstr(b, x->c->s->model_id);
}

static void sb_usage(sbuf *b, int n_prompt, int n_generated) {
    sb_printf(b, "\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":%d,\"total_tokens\":%d}", n_prompt, n_generated,
              n_prompt + n_generated);
}

/* One server-sent event "data: ...\n\n", in a chunk of the chunked body
 * (HTTP/1.1) or as it is (HTTP/1.0, whose connection then closes). */
static int send_event(exchange *x, const char *data, size_t len) {
    sbuf b = {0};
    if (x->h.minor) sb_printf(&b, "%zx\r\n", len + 8);
    sb_puts(&b, "data: ");
    sb_put(&b, data, len);
    sb_puts(&b, "\n\n");
    if (x->h.minor) sb_puts(&b, "\r\n");
    int rc = b.oom || send_all(x->c->fd, b.p, b.len);
    free(b.p);
    return rc ? -1 : 0;
}

/* A streamed chunk: text (or none), and the finish reason on the last. */
static int send_chunk(exchange *x, const api_params *p, const char *id, const char *text, size_t len,
                      const char *finish, int role) {
    sbuf b = {0};
    sb_head_fields(&b, x, id, p->chat ? "chat.completion.chunk" : "text_completion");
    sb_puts(&b, ",\"choices\":[{\"index\":0,");
    if (p->chat) {
        sb_puts(&b, "\"delta\":{");
        if (role) sb_puts(&b, "\"role\":\"assistant\",\"content\":\"\"");
        else if (text) { sb_puts(&b, "\"content\":"); sb_json_str(&b, text, len); }
        sb_puts(&b, "},");
    } else {
        sb_puts(&b, "\"text\":");
        sb_json_str(&b, text ? text : "", text ? len : 0);
        sb_puts(&b, ",");
    }
    sb_puts(&b, "\"logprobs\":null,\"finish_reason\":");
    sb_puts(&b, finish ? finish : "null");
    sb_puts(&b, "}]");
    if (p->include_usage) sb_puts(&b, ",\"usage\":null");
    sb_puts(&b, "}");
    int rc = b.oom ? -1 : send_event(x, b.p, b.len);
    free(b.p);
    return rc;
}

static int send_usage_chunk(exchange *x, const api_params *p, const char *id, const gen_state *g) {
    sbuf b = {0};
    sb_head_fields(&b, x, id, p->chat ? "chat.completion.chunk" : "text_completion");
    sb_puts(&b, ",\"choices\":[],");
    sb_usage(&b, g->n_prompt, g->n_generated);
    sb_puts(&b, "}");
    int rc = b.oom ? -1 : send_event(x, b.p, b.len);
    free(b.p);
    return rc;
}

static int send_stream_error(exchange *x, const api_error *e) {
    sbuf b = {0};
    sb_error(&b, e);
    if (b.len) b.len--; /* the newline */
    int rc = b.oom ? -1 : send_event(x, b.p, b.len);
    free(b.p);
    return rc;
}

/* The non-streamed response. */
static int respond_completion(exchange *x, const api_params *p, const char *id, const gen_state *g, const sbuf *text) {
    sbuf b = {0};
    sb_head_fields(&b, x, id, p->chat ? "chat.completion" : "text_completion");
    sb_puts(&b, ",\"choices\":[{\"index\":0,");
    if (p->chat) sb_puts(&b, "\"message\":{\"role\":\"assistant\",\"content\":");
    else sb_puts(&b, "\"text\":");
    sb_json_str(&b, text->p ? text->p : "", text->len);
    sb_printf(&b, "%s,\"logprobs\":null,\"finish_reason\":\"%s\"}],", p->chat ? "}" : "", finish_reason(g->finish));
    sb_usage(&b, g->n_prompt, g->n_generated);
    sb_puts(&b, "}\n");
    return respond_json(x, 200, &b);
}

/* A request the engine refused, as an HTTP error. */
static void submit_error(const llorch_error *err, const api_params *p, api_error *e) {
    int st = err->status;
    /* ARG: bad ids or options; CONTEXT: too long; FORMAT: the chat template's error on these messages */
    e->param = st == LLORCH_E_ARG || st == LLORCH_E_CONTEXT || st == LLORCH_E_FORMAT ? (p->chat ? "messages" : "prompt") : NULL;
    e->code = st == LLORCH_E_CONTEXT ? "context_length_exceeded" : st == LLORCH_E_BUSY ? "queue_full" : NULL;
    refuse(e, st == LLORCH_E_ARG || st == LLORCH_E_CONTEXT || st == LLORCH_E_FORMAT ? 400 : st == LLORCH_E_BUSY ? 429
              : st == LLORCH_E_STOPPED ? 503 : 500, "%s", err->msg);
}

/* Wait for the engine's events, streaming them when asked, until the
 * request's last event; a client that hangs up cancels the request. */
static void await_generation(exchange *x, const api_params *p, const char *id, uint64_t rid, gen_state *g, sbuf *all) {
    int fd = x->c->fd, watch = 1, gone = 0, done = 0, cancelled = 0;
    while (!done) {
        struct pollfd fds[2] = {{x->c->wake[0], POLLIN, 0}, {gone ? -1 : fd, (short)(watch ? POLLIN : 0), 0}};
        if (poll(fds, 2, 1000) < 0 && errno != EINTR) gone = 1;
        if (!gone && client_gone(fd, fds[1].revents, &watch)) gone = 1;
        char drain[64];
        while (read(x->c->wake[0], drain, sizeof drain) > 0) {}
        pthread_mutex_lock(&g->mu);
        sbuf text = g->text;
        memset(&g->text, 0, sizeof g->text);
        g->signalled = 0;
        done = g->done;
        pthread_mutex_unlock(&g->mu);
        if (p->stream && !gone && text.len) gone = send_chunk(x, p, id, text.p, text.len, NULL, 0) != 0;
        if (!p->stream) sb_put(all, text.p ? text.p : "", text.len);
        if (text.oom) all->oom = 1;
        free(text.p);
        if (gone && !cancelled) {
            x->keep_alive = 0;
            llorch_engine_cancel(x->c->s->e, rid);
            cancelled = 1;
        }
    }
    x->n_in = g->n_prompt;
    x->n_out = g->n_generated;
    if (gone) x->status = 499; /* the client closed the connection (logged as nginx does) */
}

/* The engine request for checked parameters: the served model, max_tokens
 * within the context, a seed, the prompt's ids (*ids, malloc'd) or the
 * messages. 0, or -1 with e filled. */
static int make_request(server *s, api_params *p, uint64_t n, llorch_request *rq, int **ids, api_error *e) {
    memset(rq, 0, sizeof *rq);
    *ids = NULL;
    if (p->model && strcmp(p->model, s->model_id) && strcmp(p->model, s->a->model_dir)) {
        e->param = "model";
        e->code = "model_not_found";
        return refuse(e, 404, "the model '%.100s' does not exist: this server serves '%s'", p->model, s->model_id);
    }
    if (p->max_tokens < 0) p->max_tokens = p->chat ? s->ctx : 16; /* OpenAI's defaults: to the end, and 16 */
    if (p->max_tokens > s->ctx) {
        e->param = "max_tokens";
        e->code = "invalid_value";
        return refuse(e, 400, "max_tokens: %d is more than the context of %d positions", p->max_tokens, s->ctx);
    }
    if (!p->has_seed) p->sampler.seed = n * 0x9E3779B97F4A7C15ull ^ (uint64_t)(now_s() * 1e9);
    rq->max_tokens = p->max_tokens;
    rq->sampler = p->sampler;
    rq->stop = (const char *const *)p->stop;
    rq->n_stop = p->n_stop;
    if (p->chat) {
        rq->messages = p->messages;
        rq->n_messages = p->n_messages;
        return 0;
    }
    if (p->ids) {
        rq->prompt = p->ids;
        rq->n_prompt = p->n_ids;
        return 0;
    }
    llorch_error err;
    e->param = "prompt";
    if (llorch_tokenize(s->m, p->prompt, p->prompt_len, 1, ids, &rq->n_prompt, &err)) return refuse(e, 400, "prompt: %s", err.msg);
    if (rq->n_prompt == 0) return refuse(e, 400, "prompt: empty, and the model has no BOS token");
    rq->prompt = *ids;
    e->param = NULL;
    return 0;
}

/* A stream's response head, and for chat the first chunk (the role). */
static void send_stream_head(exchange *x, const api_params *p, const char *id) {
    char head[320], date[64];
    x->keep_alive &= x->h.minor; /* HTTP/1.0: the body ends with the connection */
    http_date(date, sizeof date);
    int n = snprintf(head, sizeof head, "HTTP/1.%d 200 OK\r\n%sContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n%s\r\n",
                     x->h.minor, date, x->h.minor ? "Transfer-Encoding: chunked\r\n" : "Connection: close\r\n");
    x->status = 200;
    if (send_all(x->c->fd, head, (size_t)n) || (p->chat && send_chunk(x, p, id, NULL, 0, NULL, 1))) x->keep_alive = 0;
}

/* A request's time to first token and times between tokens, into the metrics. */
static void record_timings(server *s, const gen_state *g) {
    pthread_mutex_lock(&s->mx.mu);
    if (g->t_first > 0) hist_observe(&s->mx.ttft, ttft_bounds, N_TTFT, g->t_first - g->t_start);
    hist_add(&s->mx.tpot, &g->tpot);
    pthread_mutex_unlock(&s->mx.mu);
}

/* The end of the response once the request's last event is in: the whole
 * completion, or the stream's last chunks; an error when the request was
 * cancelled by a shutdown or failed. */
static void finish_response(exchange *x, const api_params *p, const char *id, const gen_state *g, const sbuf *all) {
    if (x->status == 499) return; /* nobody to send to */
    if (g->finish == LLORCH_FINISH_CANCELLED || g->finish == LLORCH_FINISH_ERROR) {
        api_error fe = {0};
        if (g->finish == LLORCH_FINISH_CANCELLED) refuse(&fe, 503, "the server is shutting down; the request was cancelled");
        else refuse(&fe, 500, "generation failed: %s", g->error);
        if (!p->stream) { respond_error(x, &fe); return; }
        if (send_stream_error(x, &fe) || (x->h.minor && send_all(x->c->fd, "0\r\n\r\n", 5))) x->keep_alive = 0;
        x->status = fe.status;
    } else if (p->stream) {
        int bad = send_chunk(x, p, id, NULL, 0, g->finish == LLORCH_FINISH_LENGTH ? "\"length\"" : "\"stop\"", 0) ||
                  (p->include_usage && send_usage_chunk(x, p, id, g)) || send_event(x, "[DONE]", 6) ||
                  (x->h.minor && send_all(x->c->fd, "0\r\n\r\n", 5));
        if (bad) x->keep_alive = 0;
    } else {
        respond_completion(x, p, id, g, all);
    }
}

/* POST /v1/completions and /v1/chat/completions. */
static void serve_generation(exchange *x, int chat) {
    server *s = x->c->s;
    api_params p;
    api_error e;
    llorch_request rq;
    int *ids = NULL;
    uint64_t n = atomic_fetch_add(&s->next_id, 1), rid;
    if (api_parse(x->body, x->body_len, chat, &p, &e)) { respond_error(x, &e); return; }
    if (make_request(s, &p, n, &rq, &ids, &e)) goto refused;
    gen_state g;
    memset(&g, 0, sizeof g);
    pthread_mutex_init(&g.mu, NULL);
    g.wake_fd = x->c->wake[1];
    g.t_start = now_s();
    rq.on_event = on_event;
    rq.user = &g;
    char id[48];
    snprintf(id, sizeof id, "%s-%016llx", chat ? "chatcmpl" : "cmpl",
             (unsigned long long)(n * 0xD1B54A32D192ED03ull ^ (uint64_t)s->created));
    llorch_error err;
    if (llorch_engine_submit(s->e, &rq, &rid, &err)) {
        pthread_mutex_destroy(&g.mu);
        submit_error(&err, &p, &e);
        goto refused;
    }
    if (p.stream) send_stream_head(x, &p, id); /* the body as the tokens come */
    sbuf all = {0};
    await_generation(x, &p, id, rid, &g, &all);
    record_timings(s, &g);
    finish_response(x, &p, id, &g, &all);
    free(all.p);
    free(g.text.p);
    pthread_mutex_destroy(&g.mu);
    free(ids);
    api_params_free(&p);
    return;
refused:
    free(ids);
    api_params_free(&p);
    respond_error(x, &e);
}

/* ======================================================================== */
/* Server: endpoints                                                         */
/* ======================================================================== */

static void serve_models(exchange *x, const char *one) {
    server *s = x->c->s;
    sbuf b = {0};
    if (one && strcmp(one, s->model_id)) {
        api_error e = {0};
        e.code = "model_not_found";
        refuse(&e, 404, "the model '%.100s' does not exist: this server serves '%s'", one, s->model_id);
        respond_error(x, &e);
        return;
    }
    if (!one) sb_puts(&b, "{\"object\":\"list\",\"data\":[");
    sb_puts(&b, "{\"id\":");
    sb_json_cstr(&b, s->model_id);
    sb_printf(&b, ",\"object\":\"model\",\"created\":%lld,\"owned_by\":\"llorch\",\"max_model_len\":%d}", s->created, s->ctx);
    sb_puts(&b, one ? "\n" : "]}\n");
    respond_json(x, 200, &b);
}

static void serve_metrics(exchange *x) {
    server *s = x->c->s;
    llorch_engine_stats st;
    llorch_engine_get_stats(s->e, &st);
    sbuf b = {0};
    metrics *mx = &s->mx;
    pthread_mutex_lock(&mx->mu);
    sb_puts(&b, "# HELP llorch_requests_total HTTP requests answered, by endpoint and status.\n"
                "# TYPE llorch_requests_total counter\n");
    for (int i = 0; i < mx->n_series; i++)
        sb_printf(&b, "llorch_requests_total{endpoint=\"%s\",status=\"%d\"} %llu\n", endpoint_names[mx->requests[i].ep],
                  mx->requests[i].status, mx->requests[i].n);
    sb_histogram(&b, "llorch_time_to_first_token_seconds", "Time from a request's submission to its first token.",
                 &mx->ttft, ttft_bounds, N_TTFT);
    sb_histogram(&b, "llorch_time_per_output_token_seconds", "Time between two tokens of a request.", &mx->tpot,
                 tpot_bounds, N_TPOT);
    pthread_mutex_unlock(&mx->mu);
    pthread_mutex_lock(&s->mu);
    int conns = s->n_conns;
    pthread_mutex_unlock(&s->mu);
    sb_printf(&b, "# HELP llorch_prompt_tokens_total Prompt tokens of the requests admitted.\n"
                  "# TYPE llorch_prompt_tokens_total counter\nllorch_prompt_tokens_total %llu\n", st.prompt_tokens);
    sb_printf(&b, "# HELP llorch_generated_tokens_total Tokens generated.\n"
                  "# TYPE llorch_generated_tokens_total counter\nllorch_generated_tokens_total %llu\n", st.generated_tokens);
    sb_printf(&b, "# HELP llorch_engine_steps_total Decode steps of the engine.\n"
                  "# TYPE llorch_engine_steps_total counter\nllorch_engine_steps_total %llu\n", st.steps);
    sb_printf(&b, "# HELP llorch_requests_running Requests in a slot (prefilling or decoding).\n"
                  "# TYPE llorch_requests_running gauge\nllorch_requests_running %d\n", st.running);
    sb_printf(&b, "# HELP llorch_requests_queued Requests waiting for a slot.\n"
                  "# TYPE llorch_requests_queued gauge\nllorch_requests_queued %d\n", st.queued);
    sb_printf(&b, "# HELP llorch_kv_positions_used KV cache positions held by running requests.\n"
                  "# TYPE llorch_kv_positions_used gauge\nllorch_kv_positions_used %lld\n", st.positions);
    sb_printf(&b, "# HELP llorch_kv_positions_total KV cache positions (slots times context).\n"
                  "# TYPE llorch_kv_positions_total gauge\nllorch_kv_positions_total %lld\n", (long long)st.n_slots * st.ctx);
    sb_printf(&b, "# HELP llorch_connections_open Open client connections.\n"
                  "# TYPE llorch_connections_open gauge\nllorch_connections_open %d\n", conns);
    if (b.oom) { respond_json(x, 500, &b); return; }
    respond(x, 200, "text/plain; version=0.0.4", b.p, b.len, NULL);
    free(b.p);
}

/* Authorization: Bearer KEY, compared in time independent of where it differs. */
static int authorized(const server *s, const http_request *h) {
    const char *key = s->a->api_key;
    if (!key) return 1;
    if (!h->auth || h->auth_len < 7 || strncasecmp(h->auth, "Bearer ", 7)) return 0;
    const char *got = h->auth + 7;
    size_t n = h->auth_len - 7, k = strlen(key);
    unsigned diff = n != k;
    for (size_t i = 0; i < n && i < k; i++) diff |= (unsigned char)(got[i] ^ key[i]);
    return !diff;
}

/* Route one request. */
static void serve_request(exchange *x) {
    server *s = x->c->s;
    const http_request *h = &x->h;
    size_t pl = 0;
    while (pl < h->target_len && h->target[pl] != '?') pl++;
    api_error e = {0};
    if (pl >= sizeof x->path) {
        x->ep = EP_OTHER;
        refuse(&e, 404, "no such path");
        respond_error(x, &e);
        return;
    }
    memcpy(x->path, h->target, pl);
    x->path[pl] = 0;
    const char *p = !strncmp(x->path, "/v1/", 4) ? x->path + 3 : x->path; /* "/v1/models" and "/models" alike */
    int get = ieq(h->method, h->method_len, "GET"), post = ieq(h->method, h->method_len, "POST");
    const char *allow = NULL;
    x->ep = !strcmp(p, "/completions") ? EP_COMPLETIONS : !strcmp(p, "/chat/completions") ? EP_CHAT
            : !strcmp(p, "/models") || !strncmp(p, "/models/", 8) ? EP_MODELS : !strcmp(x->path, "/health") ? EP_HEALTH
            : !strcmp(x->path, "/metrics") ? EP_METRICS : EP_OTHER;
    if (x->ep == EP_OTHER) {
        e.code = "not_found";
        refuse(&e, 404, "no such path: %.100s", x->path);
    } else if (x->ep <= EP_CHAT ? !post : !get) {
        allow = x->ep <= EP_CHAT ? "Allow: POST\r\n" : "Allow: GET\r\n";
        refuse(&e, 405, "%.100s takes %s", x->path, x->ep <= EP_CHAT ? "POST" : "GET");
    } else if (x->ep != EP_HEALTH && !authorized(s, h)) {
        e.code = "invalid_api_key";
        refuse(&e, 401, "a missing or wrong API key (Authorization: Bearer KEY)");
    } else if (atomic_load(&s->stopping) && x->ep != EP_METRICS) {
        e.code = "shutting_down";
        refuse(&e, 503, "the server is shutting down");
        x->keep_alive = 0;
    }
    if (e.status == 405) {
        sbuf b = {0};
        sb_error(&b, &e);
        respond(x, 405, "application/json", b.p ? b.p : "", b.len, allow);
        free(b.p);
    } else if (e.status) {
        respond_error(x, &e);
    } else if (x->ep == EP_HEALTH) {
        respond(x, 200, "application/json", "{\"status\":\"ok\"}\n", 16, NULL);
    } else if (x->ep == EP_METRICS) {
        serve_metrics(x);
    } else if (x->ep == EP_MODELS) {
        serve_models(x, p[7] == '/' ? p + 8 : NULL);
    } else {
        serve_generation(x, x->ep == EP_CHAT);
    }
}

/* Wait for more bytes until the deadline, into room for up to cap bytes.
 * 1: some arrived; 0: the client closed, or (idle) shutdown began; -2: the
 * deadline passed; -1: out of memory. */
static int recv_more(conn *c, double deadline, int idle, size_t cap) {
    for (;;) {
        double left = deadline - now_s();
        if (left <= 0) return -2;
        struct pollfd fds[2] = {{c->fd, POLLIN, 0}, {idle ? c->s->stop_pipe[0] : -1, POLLIN, 0}};
        int k = poll(fds, 2, (int)(left * 1000) + 1);
        if (k < 0 && errno != EINTR) return 0;
        if (fds[1].revents) return 0; /* shutting down: idle connections close */
        if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        if (c->len == c->cap) {
            size_t want = c->cap ? c->cap * 2 : 4096;
            if (want > cap) want = cap;
            if (want <= c->cap) return -1; /* callers never ask past what they need */
            char *nb = (char *)realloc(c->buf, want);
            if (!nb) return -1;
            c->buf = nb;
            c->cap = want;
        }
        ssize_t got = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (got <= 0) return 0;
        c->len += (size_t)got;
        return 1;
    }
}

/* Read until the next request's head and body are in c->buf. 1: a request
 * (h filled); 0: the client closed, or an idle connection ends (timeout,
 * shutdown); -1: a refusal to answer before closing (e filled). A request
 * has the timeout from its first byte to arrive whole. */
static int read_request(conn *c, http_request *h, api_error *e) {
    double timeout = c->s->a->timeout, deadline = now_s() + timeout;
    int started = c->len > 0, st = c->len ? http_parse(c->buf, c->len, h, e) : 0;
    while (st == 0) {
        size_t before = c->len;
        int got = recv_more(c, deadline, !started && c->served, HTTP_MAX_HEAD + 1);
        if (got == -2 && started) return refuse(e, 408, "the request did not arrive within %d seconds", c->s->a->timeout);
        if (got == -1) return refuse(e, 500, "out of memory");
        if (got <= 0) return 0;
        if (!started) { started = 1; deadline = now_s() + timeout; }
        /* parsed again only when a line ended, or where a limit may be passed */
        if (memchr(c->buf + before, '\n', c->len - before) || before < 17 || c->len > HTTP_MAX_LINE)
            st = http_parse(c->buf, c->len, h, e);
    }
    if (st < 0) return -1;
    if (h->content_length < 0 && ieq(h->method, h->method_len, "POST"))
        return refuse(e, 411, "a POST needs a Content-Length (chunked request bodies are not supported)");
    if (h->content_length > HTTP_MAX_BODY) return refuse(e, 413, "the body is larger than %d bytes", HTTP_MAX_BODY);
    size_t need = h->head_len + (size_t)(h->content_length > 0 ? h->content_length : 0);
    if (c->len < need && h->expect_continue) {
        char cont[32];
        int n = snprintf(cont, sizeof cont, "HTTP/1.%d 100 Continue\r\n\r\n", h->minor);
        if (send_all(c->fd, cont, (size_t)n)) return 0;
    }
    if (c->len >= need) return 1;
    while (c->len < need) {
        int got = recv_more(c, deadline, 0, need);
        if (got == -2) return refuse(e, 408, "the request body did not arrive within %d seconds", c->s->a->timeout);
        if (got == -1) return refuse(e, 500, "out of memory");
        if (got == 0) return 0;
    }
    return http_parse(c->buf, c->len, h, e); /* h pointed into the buffer, which may have moved for the body */
}

static void conn_close(conn *c) {
    server *s = c->s;
    close(c->fd);
    close(c->wake[0]);
    close(c->wake[1]);
    free(c->buf);
    pthread_mutex_lock(&s->mu);
    if (c->over_limit) s->n_extra--;
    else s->n_conns--;
    pthread_mutex_unlock(&s->mu);
    free(c);
}

/* A connection's thread: requests one after another (keep-alive, pipelined). */
static void *conn_main(void *arg) {
    conn *c = (conn *)arg;
    server *s = c->s;
    for (;;) {
        exchange x;
        memset(&x, 0, sizeof x);
        x.c = c;
        api_error e = {0};
        int st = read_request(c, &x.h, &e);
        x.t0 = now_s();
        if (st == 0) break;
        x.keep_alive = st > 0 && x.h.keep_alive && !c->over_limit && !atomic_load(&s->stopping);
        if (x.h.minor == 0 && !x.h.method) x.h.minor = 1;
        if (st < 0) {
            x.ep = EP_OTHER;
            x.keep_alive = 0;
            respond_error(&x, &e);
        } else if (c->over_limit) {
            x.ep = EP_OTHER;
            refuse(&e, 503, "too many connections (at most %d)", s->max_conns);
            e.code = "too_many_connections";
            respond_error(&x, &e);
        } else {
            x.body = c->buf + x.h.head_len;
            x.body_len = (size_t)(x.h.content_length > 0 ? x.h.content_length : 0);
            serve_request(&x);
        }
        log_request(&x);
        c->served++;
        if (!x.keep_alive) break;
        size_t used = x.h.head_len + x.body_len;
        memmove(c->buf, c->buf + used, c->len - used);
        c->len -= used;
    }
    /* a close with unread bytes would reset the connection and could take
     * the response with it: read what the client still sends, briefly */
    shutdown(c->fd, SHUT_WR);
    char sink[4096];
    double until = now_s() + 0.5;
    for (int i = 0; i < 64; i++) {
        struct pollfd pf = {c->fd, POLLIN, 0};
        double left = until - now_s();
        if (left <= 0 || poll(&pf, 1, (int)(left * 1000) + 1) <= 0 || recv(c->fd, sink, sizeof sink, 0) <= 0) break;
    }
    conn_close(c);
    return NULL;
}

/* ======================================================================== */
/* Server: listening, signals, shutdown                                      */
/* ======================================================================== */

static int g_signal_pipe[2] = {-1, -1};

/* SIGINT, SIGTERM: the accept loop reads the signal from a pipe. */
static void on_signal(int sig) {
    int saved = errno;
    unsigned char ch = (unsigned char)sig;
    (void)!write(g_signal_pipe[1], &ch, 1);
    errno = saved;
}

static int nonblocking_pipe(int fds[2]) {
    if (pipe(fds)) return -1;
    for (int i = 0; i < 2; i++)
        if (fcntl(fds[i], F_SETFL, O_NONBLOCK) || fcntl(fds[i], F_SETFD, FD_CLOEXEC)) {
            close(fds[0]);
            close(fds[1]);
            return -1;
        }
    return 0;
}

/* --serve's [HOST:]PORT (HOST may be [IPv6]); a bound, listening socket or -1. */
static int listen_on(const char *addr, char *shown, size_t shown_len) {
    char host[256] = "127.0.0.1";
    const char *port = addr, *colon = strrchr(addr, ':');
    if (colon) {
        size_t hl = (size_t)(colon - addr);
        if (hl >= 2 && addr[0] == '[' && addr[hl - 1] == ']') { addr++; hl -= 2; }
        if (hl == 0 || hl >= sizeof host) return die("--serve %s: a bad host", addr), -1;
        memcpy(host, addr, hl);
        host[hl] = 0;
        port = colon + 1;
    }
    int pn;
    if (parse_int(port, 0, 65535, &pn)) return die("--serve %s: the port must be a number from 0 to 65535", addr), -1;
    struct addrinfo hints, *res, *ai;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc) return die("--serve: %s: %s", host, gai_strerror(rc)), -1;
    int fd = -1, err = 0;
    for (ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) { err = errno; continue; }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 512)) {
            err = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) return die("--serve: cannot listen on %s port %s: %s", host, port, strerror(err)), -1;
    struct sockaddr_storage sa;
    socklen_t sl = sizeof sa;
    char num[INET6_ADDRSTRLEN] = "?";
    int bound = pn;
    if (!getsockname(fd, (struct sockaddr *)&sa, &sl)) {
        if (sa.ss_family == AF_INET6) {
            struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&sa;
            inet_ntop(AF_INET6, &a6->sin6_addr, num, sizeof num);
            bound = ntohs(a6->sin6_port);
        } else {
            struct sockaddr_in *a4 = (struct sockaddr_in *)&sa;
            inet_ntop(AF_INET, &a4->sin_addr, num, sizeof num);
            bound = ntohs(a4->sin_port);
        }
    }
    snprintf(shown, shown_len, sa.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", num, bound);
    return fd;
}

#define MAX_OVER_LIMIT 64 /* connections past --max-conns answered 503 at once; more are closed */
#define FDS_PER_CONN 3      /* the socket and the wake pipe */

/* Connections need descriptors: raise the soft limit as far as the hard one
 * allows, and serve fewer connections (saying so) when that is not enough. */
static void fit_descriptors(server *s) {
    struct rlimit rl;
    rlim_t need = (rlim_t)(s->max_conns + MAX_OVER_LIMIT) * FDS_PER_CONN + 64;
    if (getrlimit(RLIMIT_NOFILE, &rl)) return;
    if (rl.rlim_cur < need) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < need) {
        long fit = ((long)rl.rlim_cur - 64) / FDS_PER_CONN - MAX_OVER_LIMIT;
        s->max_conns = fit > 1 ? (int)fit : 1;
        fprintf(stderr, "note: %llu open files allowed (ulimit -n): serving at most %d connections, not %d\n",
                (unsigned long long)rl.rlim_cur, s->max_conns, s->a->max_conns);
    }
}

/* A new connection's thread; over the connection limit it only answers 503. */
static void accept_one(server *s) {
    struct sockaddr_storage sa;
    socklen_t sl = sizeof sa;
    int fd = accept(s->listen_fd, (struct sockaddr *)&sa, &sl);
    if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) usleep(50000); /* let some close */
        return;
    }
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {s->a->timeout, 0}; /* a client that stops reading for this long is gone */
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    conn *c = (conn *)calloc(1, sizeof *c);
    if (!c || nonblocking_pipe(c->wake)) { free(c); close(fd); return; }
    c->s = s;
    c->fd = fd;
    char num[INET6_ADDRSTRLEN] = "?";
    if (sa.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&sa)->sin6_addr, num, sizeof num);
        snprintf(c->peer, sizeof c->peer, "[%s]:%d", num, ntohs(((struct sockaddr_in6 *)&sa)->sin6_port));
    } else {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&sa)->sin_addr, num, sizeof num);
        snprintf(c->peer, sizeof c->peer, "%s:%d", num, ntohs(((struct sockaddr_in *)&sa)->sin_port));
    }
    pthread_mutex_lock(&s->mu);
    int ok = 1;
    if (s->n_conns < s->max_conns) s->n_conns++;
    else if (s->n_extra < MAX_OVER_LIMIT) { s->n_extra++; c->over_limit = 1; }
    else ok = 0;
    pthread_mutex_unlock(&s->mu);
    pthread_attr_t at;
    pthread_t t;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&at, 1 << 21);
    if (ok && pthread_create(&t, &at, conn_main, c)) {
        conn_close(c); /* gives back the count */
    } else if (!ok) {
        close(c->wake[0]);
        close(c->wake[1]);
        close(fd);
        free(c);
    }
    pthread_attr_destroy(&at);
}

/* A signal: the first stops taking requests and lets the running ones
 * finish; the second cancels them. */
static void on_shutdown_signal(server *s, int count) {
    if (count == 1) {
        fprintf(stderr, "shutting down: finishing the running requests (a second signal cancels them)\n");
        atomic_store(&s->stopping, 1);
        (void)!write(s->stop_pipe[1], "", 1);
        llorch_engine_shutdown(s->e, 0);
    } else if (count == 2) {
        fprintf(stderr, "shutting down: cancelling the running requests\n");
        llorch_engine_shutdown(s->e, 1);
    }
}

/* --serve: the OpenAI-compatible HTTP API on the engine. */
static int serve_main(const demo_args *a) {
    server *s = (server *)calloc(1, sizeof *s);
    llorch_error err;
    int rc = 1, signals = 0;
    if (!s) return die("out of memory");
    s->a = a;
    s->listen_fd = -1;
    s->stop_pipe[0] = s->stop_pipe[1] = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->mx.mu, NULL);
    s->created = (long long)time(NULL);
    /* the model's name: its directory's last component */
    size_t dl = strlen(a->model_dir);
    while (dl > 1 && a->model_dir[dl - 1] == '/') dl--;
    size_t b = dl;
    while (b > 0 && a->model_dir[b - 1] != '/') b--;
    snprintf(s->model_id, sizeof s->model_id, "%.*s", (int)(dl - b), a->model_dir + b);
    char shown[300];
    llorch_load_opts lo = {a->device, a->threads};
    note_threads(a->threads);
    if (nonblocking_pipe(g_signal_pipe) || nonblocking_pipe(s->stop_pipe)) { die("cannot create a pipe"); goto done; }
    s->max_conns = a->max_conns;
    fit_descriptors(s);
    if ((s->listen_fd = listen_on(a->serve, shown, sizeof shown)) < 0) goto done;
    if (llorch_load(&s->m, a->model_dir, &lo, &err)) { die("%s", err.msg); goto done; }
    llorch_engine_opts eo = {a->parallel, a->ctx, 0, a->queue};
    if (llorch_engine_new(&s->e, s->m, &eo, &err)) { die("%s", err.msg); goto done; }
    llorch_engine_stats st;
    llorch_engine_get_stats(s->e, &st);
    s->ctx = st.ctx;
    s->n_slots = st.n_slots;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    fprintf(stderr, "serving %s on %s: %d requests at once, %d positions each%s\n", s->model_id,
            llorch_model_device(s->m), s->n_slots, s->ctx, a->api_key ? ", API key required" : "");
    fprintf(stderr, "listening on http://%s\n", shown);
    for (;;) {
        if (atomic_load(&s->stopping)) {
            llorch_engine_get_stats(s->e, &st);
            if (s->listen_fd >= 0 && st.running == 0 && st.queued == 0) { /* drained: take no more connections */
                close(s->listen_fd);
                s->listen_fd = -1;
            }
            pthread_mutex_lock(&s->mu);
            int open = s->n_conns + s->n_extra;
            pthread_mutex_unlock(&s->mu);
            if (s->listen_fd < 0 && open == 0) break;
        }
        struct pollfd fds[2] = {{s->listen_fd, POLLIN, 0}, {g_signal_pipe[0], POLLIN, 0}};
        if (poll(fds, 2, 100) < 0 && errno != EINTR) { die("poll: %s", strerror(errno)); break; }
        unsigned char sig;
        while (read(g_signal_pipe[0], &sig, 1) == 1) on_shutdown_signal(s, ++signals);
        if (s->listen_fd >= 0 && (fds[0].revents & POLLIN)) accept_one(s);
    }
    fprintf(stderr, "stopped\n");
    rc = 0;
done:
    if (s->listen_fd >= 0) close(s->listen_fd);
    llorch_engine_free(s->e);
    llorch_free(s->m);
    for (int i = 0; i < 2; i++) /* the signal pipe stays: a late signal still finds it */
        if (s->stop_pipe[i] >= 0) close(s->stop_pipe[i]);
    pthread_mutex_destroy(&s->mx.mu);
    pthread_mutex_destroy(&s->mu);
    free(s);
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
    if (a.serve) return serve_main(&a);
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
    /* every sequence's prompt in one call: short ones go through the weights together
       (n_out holds the sequence numbers until llorch_generate_batch fills it) */
    const int run = a.n_new ? n_ids - 1 : n_ids;
    for (int i = 0; i < a.batch; i++) prompts[i] = ids, n_prompt[i] = run, n_out[i] = i;
    double t0 = now_s();
    int gen_rc = run > 0 ? llorch_forward_many(s, a.batch, n_out, prompts, n_prompt, &err) : 0;
    for (int i = 0; i < a.batch && !gen_rc; i++) {
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

#endif /* DEMO_PARSERS_ONLY */
