/* The SDK's core: memory, formatting, errors, metrics, and the keyed-state writes
 * held back until their element succeeds. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* -- Memory ------------------------------------------------------------------------- */

MR_NORETURN void mr_trap(void) { __builtin_trap(); }

void *mr_xmalloc(size_t size) {
    void *p = malloc(size ? size : 1);
    if (!p) mr_trap(); /* out of memory: the host reports its memory limit */
    return p;
}

void *mr_xrealloc(void *p, size_t size) {
    void *q = realloc(p, size ? size : 1);
    if (!q) mr_trap();
    return q;
}

char *mr_strdup_n(const char *s, size_t len) {
    char *copy = mr_xmalloc(len + 1);
    if (len) memcpy(copy, s, len);
    copy[len] = 0;
    return copy;
}

#define CHUNK_SIZE ((size_t)64 * 1024)
#define CHUNK_HEADER ((sizeof(mr_chunk) + 15) & ~(size_t)15)

static mr_chunk *new_chunk(size_t size) {
    mr_chunk *chunk = mr_xmalloc(CHUNK_HEADER + size);
    chunk->next = NULL;
    chunk->size = size;
    chunk->used = 0;
    return chunk;
}

void *mr_arena_alloc(mr_arena *arena, size_t size) {
    size = (size + 15) & ~(size_t)15; /* 16: room for __int128 and long double */
    mr_chunk *head = arena->head;
    if (head && head->size - head->used >= size) {
        void *p = (char *)head + CHUNK_HEADER + head->used;
        head->used += size;
        return p;
    }
    if (size > CHUNK_SIZE / 4) {
        /* A large block gets a chunk of its own, behind the current one. */
        mr_chunk *chunk = new_chunk(size);
        chunk->used = size;
        if (head) {
            chunk->next = head->next;
            head->next = chunk;
        } else {
            arena->head = chunk;
        }
        return (char *)chunk + CHUNK_HEADER;
    }
    mr_chunk *chunk = new_chunk(CHUNK_SIZE);
    chunk->next = head;
    arena->head = chunk;
    chunk->used = size;
    return (char *)chunk + CHUNK_HEADER;
}

void mr_arena_reset(mr_arena *arena) {
    mr_chunk *keep = NULL;
    mr_chunk *chunk = arena->head;
    while (chunk) {
        mr_chunk *next = chunk->next;
        if (!keep && chunk->size == CHUNK_SIZE) {
            keep = chunk;
        } else {
            free(chunk);
        }
        chunk = next;
    }
    if (keep) {
        keep->used = 0;
        keep->next = NULL;
    }
    arena->head = keep;
}

mr_arena mr_call_arena;
mr_arena mr_instance_arena;
mr_ctx mr_the_ctx = {.arena = &mr_call_arena};

void *mr_alloc(mr_ctx *ctx, size_t size) {
    return mr_arena_alloc(ctx ? ctx->arena : mr_the_ctx.arena, size);
}

/* -- Buffers ------------------------------------------------------------------------ */

static void buf_reserve(mr_buf *buf, size_t more) {
    if (buf->cap - buf->len >= more) return;
    size_t cap = buf->cap ? buf->cap * 2 : 64;
    while (cap - buf->len < more) cap *= 2;
    buf->data = mr_xrealloc(buf->data, cap);
    buf->cap = cap;
}

void mr_buf_push(mr_buf *buf, const void *data, size_t len) {
    if (!len) return;
    buf_reserve(buf, len);
    memcpy(buf->data + buf->len, data, len);
    buf->len += len;
}

void mr_buf_byte(mr_buf *buf, uint8_t byte) {
    if (buf->len == buf->cap) buf_reserve(buf, 1);
    buf->data[buf->len++] = byte;
}

void mr_buf_free(mr_buf *buf) {
    free(buf->data);
    buf->data = NULL;
    buf->len = buf->cap = 0;
}

void mr_u32s_push(mr_u32s *v, uint32_t x) {
    if (v->len == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 16;
        v->data = mr_xrealloc(v->data, v->cap * sizeof *v->data);
    }
    v->data[v->len++] = x;
}

void mr_i64s_push(mr_i64s *v, int64_t x) {
    if (v->len == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 16;
        v->data = mr_xrealloc(v->data, v->cap * sizeof *v->data);
    }
    v->data[v->len++] = x;
}

void mr_blobs_push(mr_blobs *b, const void *data, size_t len) {
    mr_buf_push(&b->bytes, data, len);
    mr_u32s_push(&b->ends, (uint32_t)b->bytes.len);
}

void mr_blobs_end(mr_blobs *b) { mr_u32s_push(&b->ends, (uint32_t)b->bytes.len); }

const uint8_t *mr_item(const mr_blobs_in *b, size_t i, size_t *len) {
    size_t start = i ? b->ends[i - 1] : 0;
    size_t end = b->ends[i];
    if (end > b->bytes_len) end = b->bytes_len;
    if (start > end) start = end;
    *len = end - start;
    return b->bytes + start;
}

/* -- Doubles as text ----------------------------------------------------------------- */

/* The exact decimal digits of a positive finite double: value = 0.DIGITS x 10^exp10.
 * Returns the number of digits (no leading zeros). */
static size_t exact_digits(double d, char *digits, int *exp10) {
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    int biased = (int)((bits >> 52) & 0x7ff);
    uint64_t m = bits & ((1ULL << 52) - 1);
    if (biased == 0) {
        biased = 1;
    } else {
        m |= 1ULL << 52;
    }
    int e = biased - 1075; /* d = m x 2^e */
    uint32_t limbs[100];   /* base 1e9, least significant first */
    size_t n = 0;
    while (m) {
        limbs[n++] = (uint32_t)(m % 1000000000u);
        m /= 1000000000u;
    }
    int left = e > 0 ? e : -e;
    while (left > 0) {
        /* multiply by 2^k (e > 0) or 5^k (e < 0) */
        uint64_t factor;
        int k;
        if (e > 0) {
            k = left < 29 ? left : 29;
            factor = 1ULL << k;
        } else {
            k = left < 13 ? left : 13;
            factor = 1;
            for (int j = 0; j < k; j++) factor *= 5;
        }
        left -= k;
        uint64_t carry = 0;
        for (size_t i = 0; i < n; i++) {
            uint64_t x = (uint64_t)limbs[i] * factor + carry;
            limbs[i] = (uint32_t)(x % 1000000000u);
            carry = x / 1000000000u;
        }
        while (carry) {
            limbs[n++] = (uint32_t)(carry % 1000000000u);
            carry /= 1000000000u;
        }
    }
    size_t len = 0;
    for (size_t i = n; i-- > 0;) {
        char group[9];
        uint32_t limb = limbs[i];
        for (int j = 8; j >= 0; j--) {
            group[j] = (char)('0' + limb % 10);
            limb /= 10;
        }
        int from = 0;
        if (i == n - 1) {
            while (from < 8 && group[from] == '0') from++;
        }
        for (int j = from; j < 9; j++) digits[len++] = group[j];
    }
    *exp10 = (int)len + (e < 0 ? e : 0);
    return len;
}

/* Rounds the exact digits to `p` significant ones (half to even), in out[0..p). */
static void round_digits(const char *digits, size_t len, size_t p, char *out, int *exp10) {
    if (len <= p) {
        memcpy(out, digits, len);
        memset(out + len, '0', p - len);
        return;
    }
    memcpy(out, digits, p);
    bool up;
    if (digits[p] > '5') {
        up = true;
    } else if (digits[p] < '5') {
        up = false;
    } else {
        bool rest = false;
        for (size_t i = p + 1; i < len; i++) {
            if (digits[i] != '0') {
                rest = true;
                break;
            }
        }
        up = rest || ((out[p - 1] - '0') & 1);
    }
    if (!up) return;
    for (size_t i = p; i-- > 0;) {
        if (out[i] == '9') {
            out[i] = '0';
        } else {
            out[i]++;
            return;
        }
    }
    /* 999 became 000: it is 100 with one more digit before the point. */
    out[0] = '1';
    (*exp10)++;
}

/* As Rust's ryu (serde_json) lays out digits D (value 0.D x 10^kk). */
static size_t layout(char *buf, bool negative, const char *d, size_t len, int kk) {
    size_t at = 0;
    if (negative) buf[at++] = '-';
    int k = kk - (int)len;
    if (k >= 0 && kk <= 16) {
        memcpy(buf + at, d, len);
        at += len;
        for (int i = 0; i < k; i++) buf[at++] = '0';
        buf[at++] = '.';
        buf[at++] = '0';
    } else if (kk > 0 && kk <= 16) {
        memcpy(buf + at, d, (size_t)kk);
        at += (size_t)kk;
        buf[at++] = '.';
        memcpy(buf + at, d + kk, len - (size_t)kk);
        at += len - (size_t)kk;
    } else if (kk > -5 && kk <= 0) {
        buf[at++] = '0';
        buf[at++] = '.';
        for (int i = 0; i < -kk; i++) buf[at++] = '0';
        memcpy(buf + at, d, len);
        at += len;
    } else {
        buf[at++] = d[0];
        if (len > 1) {
            buf[at++] = '.';
            memcpy(buf + at, d + 1, len - 1);
            at += len - 1;
        }
        buf[at++] = 'e';
        int x = kk - 1;
        if (x < 0) {
            buf[at++] = '-';
            x = -x;
        }
        char tmp[8];
        int t = 0;
        do {
            tmp[t++] = (char)('0' + x % 10);
            x /= 10;
        } while (x);
        while (t) buf[at++] = tmp[--t];
    }
    buf[at] = 0;
    return at;
}

size_t mr_format_double(char *buf, double d) {
    bool negative = d < 0 || (d == 0 && 1 / d < 0);
    double a = negative ? -d : d;
    if (a == 0) return layout(buf, negative, "0", 1, 1);
    char digits[800];
    int exp10;
    size_t len = exact_digits(a, digits, &exp10);
    char rounded[20];
    for (size_t p = 15; p <= 17; p++) {
        int kk = exp10;
        round_digits(digits, len, p, rounded, &kk);
        size_t used = p;
        while (used > 1 && rounded[used - 1] == '0') used--;
        size_t n = layout(buf, negative, rounded, used, kk);
        if (p == 17 || strtod(buf, NULL) == d) return n;
    }
    return 0; /* not reached */
}

/* Fixed notation with `precision` digits after the point (for %.Nf). */
static void format_fixed(mr_buf *out, double d, int precision) {
    bool negative = d < 0 || (d == 0 && 1 / d < 0);
    double a = negative ? -d : d;
    if (negative) mr_buf_byte(out, '-');
    char digits[800];
    int exp10 = 1;
    size_t len = 1;
    digits[0] = '0';
    if (a != 0) len = exact_digits(a, digits, &exp10);
    /* keep exp10 + precision significant digits */
    long keep = (long)exp10 + precision;
    char *r = mr_alloc(NULL, (size_t)(keep > 0 ? keep : 0) + 2);
    if (keep <= 0) {
        /* below the last digit shown: 0.000, or 0.001 if it rounds up */
        bool up = keep == 0 && (digits[0] > '5' || (digits[0] == '5' && len > 1));
        mr_buf_byte(out, '0');
        if (precision > 0) {
            mr_buf_byte(out, '.');
            for (int i = 0; i < precision - 1; i++) mr_buf_byte(out, '0');
            mr_buf_byte(out, up ? '1' : '0');
        } else if (up) {
            out->data[out->len - 1] = '1';
        }
        return;
    }
    int kk = exp10;
    round_digits(digits, len, (size_t)keep, r, &kk);
    size_t total = (size_t)keep + (size_t)(kk - exp10); /* one more digit after a carry */
    if (kk != exp10) r[total - 1] = '0';
    long before = kk; /* digits before the point */
    if (before <= 0) {
        mr_buf_byte(out, '0');
    } else {
        mr_buf_push(out, r, (size_t)before);
    }
    if (precision > 0) {
        mr_buf_byte(out, '.');
        for (long i = 0; i < precision; i++) {
            long at = before + i;
            mr_buf_byte(out, at < 0 ? '0' : (uint8_t)r[at]);
        }
    }
}

/* -- printf-style formatting ----------------------------------------------------------- */

static void pad(mr_buf *out, int width, size_t len, char with) {
    for (int i = (int)len; i < width; i++) mr_buf_byte(out, (uint8_t)with);
}

static size_t utoa(char *tmp, unsigned long long v, unsigned base, bool upper) {
    const char *set = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    size_t n = 0;
    do {
        tmp[n++] = set[v % base];
        v /= base;
    } while (v);
    return n;
}

void mr_vformat(mr_buf *out, const char *fmt, va_list args) {
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') {
            const char *run = p;
            while (p[1] && p[1] != '%') p++;
            mr_buf_push(out, run, (size_t)(p - run + 1));
            continue;
        }
        p++;
        bool left = false, zero = false, plus = false;
        for (;; p++) {
            if (*p == '-') left = true;
            else if (*p == '0') zero = true;
            else if (*p == '+') plus = true;
            else if (*p == ' ' || *p == '#') continue;
            else break;
        }
        int width = 0;
        if (*p == '*') {
            width = va_arg(args, int);
            p++;
        } else {
            while (*p >= '0' && *p <= '9') width = width * 10 + (*p++ - '0');
        }
        int precision = -1;
        if (*p == '.') {
            p++;
            precision = 0;
            if (*p == '*') {
                precision = va_arg(args, int);
                p++;
            } else {
                while (*p >= '0' && *p <= '9') precision = precision * 10 + (*p++ - '0');
            }
        }
        int size = 0; /* 0 int, 1 long, 2 long long, 3 size_t, 4 intmax_t, 5 ptrdiff_t */
        for (;; p++) {
            if (*p == 'h') continue;
            if (*p == 'l') size = size == 1 ? 2 : 1;
            else if (*p == 'z') size = 3;
            else if (*p == 'j') size = 4;
            else if (*p == 't') size = 5;
            else if (*p == 'L' || *p == 'q') size = 2;
            else break;
        }
        char tmp[40];
        size_t n;
        switch (*p) {
        case 'd':
        case 'i': {
            long long v;
            switch (size) {
            case 1: v = va_arg(args, long); break;
            case 2: v = va_arg(args, long long); break;
            case 3: v = (long long)va_arg(args, size_t); break;
            case 4: v = (long long)va_arg(args, intmax_t); break;
            case 5: v = (long long)va_arg(args, ptrdiff_t); break;
            default: v = va_arg(args, int);
            }
            unsigned long long magnitude = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
            n = utoa(tmp, magnitude, 10, false);
            bool sign = v < 0 || plus;
            size_t shown = n + sign;
            if (!left && !zero) pad(out, width, shown, ' ');
            if (sign) mr_buf_byte(out, v < 0 ? '-' : '+');
            if (!left && zero) pad(out, width, shown, '0');
            while (n) mr_buf_byte(out, (uint8_t)tmp[--n]);
            if (left) pad(out, width, shown, ' ');
            break;
        }
        case 'u':
        case 'x':
        case 'X':
        case 'o': {
            unsigned long long v;
            switch (size) {
            case 1: v = va_arg(args, unsigned long); break;
            case 2: v = va_arg(args, unsigned long long); break;
            case 3: v = va_arg(args, size_t); break;
            case 4: v = (unsigned long long)va_arg(args, uintmax_t); break;
            case 5: v = (unsigned long long)va_arg(args, ptrdiff_t); break;
            default: v = va_arg(args, unsigned);
            }
            n = utoa(tmp, v, *p == 'u' ? 10 : *p == 'o' ? 8 : 16, *p == 'X');
            size_t shown = n;
            if (!left) pad(out, width, shown, zero ? '0' : ' ');
            while (n) mr_buf_byte(out, (uint8_t)tmp[--n]);
            if (left) pad(out, width, shown, ' ');
            break;
        }
        case 'p': {
            uintptr_t v = (uintptr_t)va_arg(args, void *);
            mr_buf_push(out, "0x", 2);
            n = utoa(tmp, v, 16, false);
            while (n) mr_buf_byte(out, (uint8_t)tmp[--n]);
            break;
        }
        case 'c': {
            char c = (char)va_arg(args, int);
            if (!left) pad(out, width, 1, ' ');
            mr_buf_byte(out, (uint8_t)c);
            if (left) pad(out, width, 1, ' ');
            break;
        }
        case 's': {
            const char *s = va_arg(args, const char *);
            if (!s) s = "(null)";
            size_t len = 0;
            if (precision >= 0) {
                while (len < (size_t)precision && s[len]) len++;
            } else {
                len = strlen(s);
            }
            if (!left) pad(out, width, len, ' ');
            mr_buf_push(out, s, len);
            if (left) pad(out, width, len, ' ');
            break;
        }
        case 'f':
        case 'F':
        case 'e':
        case 'E':
        case 'g':
        case 'G': {
            double d = va_arg(args, double);
            if (d != d) {
                mr_buf_push(out, "NaN", 3);
            } else if (d > 1.7976931348623157e308 || d < -1.7976931348623157e308) {
                if (d < 0) mr_buf_byte(out, '-');
                mr_buf_push(out, "inf", 3);
            } else if ((*p == 'f' || *p == 'F') && precision >= 0) {
                format_fixed(out, d, precision);
            } else {
                char text[40];
                size_t len = mr_format_double(text, d);
                /* %g of an integral double: "3", as printf writes it */
                if (len > 2 && text[len - 2] == '.' && text[len - 1] == '0') len -= 2;
                if (!left) pad(out, width, len, ' ');
                mr_buf_push(out, text, len);
                if (left) pad(out, width, len, ' ');
            }
            break;
        }
        case '%':
            mr_buf_byte(out, '%');
            break;
        case 0:
            return;
        default:
            mr_buf_byte(out, '%');
            mr_buf_byte(out, (uint8_t)*p);
        }
    }
}

char *mr_vprintf(mr_ctx *ctx, const char *fmt, va_list args) {
    mr_buf buf = {0};
    mr_vformat(&buf, fmt, args);
    char *text = mr_alloc(ctx, buf.len + 1);
    if (buf.len) memcpy(text, buf.data, buf.len);
    text[buf.len] = 0;
    mr_buf_free(&buf);
    return text;
}

char *mr_printf(mr_ctx *ctx, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    char *text = mr_vprintf(ctx, fmt, args);
    va_end(args);
    return text;
}

/* -- Errors ----------------------------------------------------------------------------- */

mr_status mr_error(mr_ctx *ctx, const char *fmt, ...) {
    if (!ctx) ctx = &mr_the_ctx;
    va_list args;
    va_start(args, fmt);
    ctx->error = mr_vprintf(ctx, fmt, args);
    va_end(args);
    return MR_ERROR;
}

const char *mr_last_error(const mr_ctx *ctx) { return (ctx ? ctx : &mr_the_ctx)->error; }

MR_NORETURN void mr_panic_at(const char *file, int line, const char *fmt, ...) {
    const char *base = file;
    for (const char *p = file; *p; p++) {
        if (*p == '/') base = p + 1;
    }
    mr_buf buf = {0};
    va_list args;
    va_start(args, fmt);
    char where[32];
    size_t n = utoa(where, (unsigned long long)(line < 0 ? 0 : line), 10, false);
    mr_buf_push(&buf, "panicked at ", 12);
    mr_buf_push(&buf, base, strlen(base));
    mr_buf_byte(&buf, ':');
    while (n) mr_buf_byte(&buf, (uint8_t)where[--n]);
    mr_buf_push(&buf, ": ", 2);
    mr_vformat(&buf, fmt, args);
    va_end(args);
    mr_flush_metrics();
    if (mr_current_host) mr_current_host->log(MR_LOG_ERROR, (const char *)buf.data, buf.len);
    mr_trap();
}

/* -- Log and metrics --------------------------------------------------------------------- */

const mr_host *mr_current_host;

void mr_log(mr_level level, const char *fmt, ...) {
    mr_buf buf = {0};
    va_list args;
    va_start(args, fmt);
    mr_vformat(&buf, fmt, args);
    va_end(args);
    if (mr_current_host) mr_current_host->log(level, buf.len ? (const char *)buf.data : "", buf.len);
    mr_buf_free(&buf);
}

static mr_metric *metrics;
static size_t metrics_len, metrics_cap;

static mr_metric *metric(const char *name, bool gauge) {
    size_t len = strlen(name);
    for (size_t i = 0; i < metrics_len; i++) {
        if (metrics[i].gauge == gauge && metrics[i].len == len && !memcmp(metrics[i].name, name, len)) {
            return &metrics[i];
        }
    }
    if (metrics_len == metrics_cap) {
        metrics_cap = metrics_cap ? metrics_cap * 2 : 8;
        metrics = mr_xrealloc(metrics, metrics_cap * sizeof *metrics);
    }
    mr_metric *m = &metrics[metrics_len++];
    m->name = mr_strdup_n(name, len);
    m->len = len;
    m->gauge = gauge;
    m->delta = 0;
    m->value = 0;
    return m;
}

void mr_counter_add(const char *name, uint64_t delta) { metric(name, false)->delta += delta; }

void mr_gauge_set(const char *name, double value) { metric(name, true)->value = value; }

void mr_flush_metrics(void) {
    for (size_t i = 0; i < metrics_len; i++) {
        mr_metric *m = &metrics[i];
        if (mr_current_host) {
            if (m->gauge) {
                mr_current_host->gauge_set(m->name, m->len, m->value);
            } else {
                mr_current_host->counter_add(m->name, m->len, m->delta);
            }
        }
        free(m->name);
    }
    metrics_len = 0;
}

/* -- Calls ----------------------------------------------------------------------------- */

static void forget_ops(mr_ctx *ctx);

mr_ctx *mr_call_begin(void) {
    mr_ctx *ctx = &mr_the_ctx;
    ctx->arena = &mr_call_arena;
    ctx->error = NULL;
    memset(&ctx->keys, 0, sizeof ctx->keys);
    ctx->window_starts = ctx->window_ends = NULL;
    forget_ops(ctx);
    return ctx;
}

void mr_call_end(void) {
    mr_ctx *ctx = &mr_the_ctx;
    mr_flush_metrics();
    forget_ops(ctx);
    ctx->error = NULL;
    memset(&ctx->keys, 0, sizeof ctx->keys);
    mr_arena_reset(&mr_call_arena);
}

mr_ctx *mr_init_begin(void) {
    mr_ctx *ctx = mr_call_begin();
    ctx->arena = &mr_instance_arena;
    return ctx;
}

void mr_init_end(void) {
    mr_flush_metrics();
    mr_the_ctx.arena = &mr_call_arena;
    mr_the_ctx.error = NULL;
    mr_arena_reset(&mr_call_arena);
}

/* -- State and timers, held back ----------------------------------------------------------- */

static uint32_t hash_bytes(uint32_t h, const void *data, size_t len) {
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

/* The batch item's key and window. */
static uint32_t identity_hash(mr_ctx *ctx, uint32_t index, const char *name, size_t name_len) {
    uint32_t h = 2166136261u;
    if (index < ctx->keys.count) {
        size_t len;
        const uint8_t *key = mr_item(&ctx->keys, index, &len);
        h = hash_bytes(h, key, len);
        h = hash_bytes(h, &ctx->window_starts[index], sizeof(int64_t));
        h = hash_bytes(h, &ctx->window_ends[index], sizeof(int64_t));
    } else {
        h = hash_bytes(h, &index, sizeof index);
    }
    return hash_bytes(h ^ 0xff, name, name_len);
}

static bool same_identity(mr_ctx *ctx, uint32_t a, uint32_t b) {
    if (a == b) return true;
    if (a >= ctx->keys.count || b >= ctx->keys.count) return false;
    if (ctx->window_starts[a] != ctx->window_starts[b] || ctx->window_ends[a] != ctx->window_ends[b]) {
        return false;
    }
    size_t la, lb;
    const uint8_t *ka = mr_item(&ctx->keys, a, &la);
    const uint8_t *kb = mr_item(&ctx->keys, b, &lb);
    return la == lb && !memcmp(ka, kb, la);
}

static bool op_matches(mr_ctx *ctx, const mr_op *op, uint32_t index, const char *name, size_t len) {
    return (op->kind == OP_SET || op->kind == OP_CLEAR) && op->name_len == len &&
           !memcmp(op->name, name, len) && same_identity(ctx, op->index, index);
}

static void forget_ops(mr_ctx *ctx) {
    if (ctx->table_used) {
        memset(ctx->table, 0xff, ctx->table_cap * sizeof *ctx->table);
        ctx->table_used = 0;
    }
    ctx->ops_len = 0;
    ctx->first_open = 0;
}

static void table_grow(mr_ctx *ctx) {
    size_t cap = ctx->table_cap ? ctx->table_cap * 2 : 64;
    free(ctx->table);
    ctx->table = mr_xmalloc(cap * sizeof *ctx->table);
    memset(ctx->table, 0xff, cap * sizeof *ctx->table);
    ctx->table_cap = cap;
    ctx->table_used = 0;
    for (size_t i = 0; i < ctx->ops_len; i++) {
        mr_op *op = &ctx->ops[i];
        if (op->kind != OP_SET && op->kind != OP_CLEAR) continue;
        size_t slot = identity_hash(ctx, op->index, op->name, op->name_len) & (cap - 1);
        while (ctx->table[slot] >= 0) {
            if (op_matches(ctx, &ctx->ops[ctx->table[slot]], op->index, op->name, op->name_len)) break;
            slot = (slot + 1) & (cap - 1);
        }
        if (ctx->table[slot] < 0) ctx->table_used++;
        ctx->table[slot] = (int32_t)i;
    }
}

static mr_op *push_op(mr_ctx *ctx, uint32_t index, mr_op_kind kind, const char *name) {
    if (ctx->ops_len == ctx->ops_cap) {
        ctx->ops_cap = ctx->ops_cap ? ctx->ops_cap * 2 : 16;
        ctx->ops = mr_xrealloc(ctx->ops, ctx->ops_cap * sizeof *ctx->ops);
    }
    size_t len = strlen(name);
    char *copy = mr_alloc(ctx, len + 1);
    memcpy(copy, name, len + 1);
    mr_op *op = &ctx->ops[ctx->ops_len++];
    memset(op, 0, sizeof *op);
    op->index = index;
    op->kind = (uint8_t)kind;
    op->name = copy;
    op->name_len = len;
    if (kind == OP_SET || kind == OP_CLEAR) {
        if ((ctx->table_used + 1) * 2 > ctx->table_cap) table_grow(ctx);
        size_t cap = ctx->table_cap;
        size_t slot = identity_hash(ctx, index, copy, len) & (cap - 1);
        while (ctx->table[slot] >= 0) {
            if (op_matches(ctx, &ctx->ops[ctx->table[slot]], index, copy, len)) break;
            slot = (slot + 1) & (cap - 1);
        }
        if (ctx->table[slot] < 0) ctx->table_used++;
        ctx->table[slot] = (int32_t)(ctx->ops_len - 1);
    }
    return op;
}

/* The latest held-back write of the cell, or NULL. */
static const mr_op *find_op(mr_ctx *ctx, uint32_t index, const char *name, size_t len) {
    if (!ctx->table_used) return NULL;
    size_t cap = ctx->table_cap;
    size_t slot = identity_hash(ctx, index, name, len) & (cap - 1);
    while (ctx->table[slot] >= 0) {
        const mr_op *op = &ctx->ops[ctx->table[slot]];
        if (op_matches(ctx, op, index, name, len)) {
            if (!op->dropped) return op;
            /* The latest write was taken back: an older one may still stand. */
            for (size_t i = (size_t)(op - ctx->ops); i-- > ctx->first_open;) {
                const mr_op *older = &ctx->ops[i];
                if (!older->dropped && op_matches(ctx, older, index, name, len)) return older;
            }
            return NULL;
        }
        slot = (slot + 1) & (cap - 1);
    }
    return NULL;
}

void mr_ops_commit(mr_ctx *ctx, const uint8_t *rejected) {
    const mr_host *host = mr_current_host;
    for (size_t i = ctx->first_open; i < ctx->ops_len; i++) {
        mr_op *op = &ctx->ops[i];
        if (op->dropped || (rejected && rejected[op->index])) continue;
        switch (op->kind) {
        case OP_SET: host->state_set(op->index, op->name, op->name_len, op->data, op->len); break;
        case OP_CLEAR: host->state_clear(op->index, op->name, op->name_len); break;
        case OP_EVENT: host->timer_set_event(op->index, op->name, op->name_len, op->time); break;
        case OP_PROCESSING:
            host->timer_set_processing(op->index, op->name, op->name_len, op->time);
            break;
        case OP_CLEAR_TIMER: host->timer_clear(op->index, op->name, op->name_len); break;
        }
    }
    forget_ops(ctx);
}

void mr_ops_drop(mr_ctx *ctx, int64_t index) {
    if (index < 0) {
        forget_ops(ctx);
        return;
    }
    for (size_t i = ctx->first_open; i < ctx->ops_len; i++) {
        if (ctx->ops[i].index == (uint32_t)index) ctx->ops[i].dropped = true;
    }
}

static void need_state(void) {
    if (!mr_current_host || !mr_current_host->state_get) {
        mr_panic("keyed state and timers are for DoFns only");
    }
}

bool mr_state_get(mr_ctx *ctx, uint32_t index, const char *name, const uint8_t **data, size_t *len) {
    if (!ctx) ctx = &mr_the_ctx;
    need_state();
    size_t name_len = strlen(name);
    const mr_op *op = find_op(ctx, index, name, name_len);
    if (op) {
        if (op->kind == OP_CLEAR) return false;
        if (data) *data = op->data;
        if (len) *len = op->len;
        return true;
    }
    const uint8_t *bytes = NULL;
    size_t n = 0;
    if (!mr_current_host->state_get(index, name, name_len, &bytes, &n)) return false;
    if (data) {
        uint8_t *copy = mr_alloc(ctx, n + 1);
        if (n) memcpy(copy, bytes, n);
        copy[n] = 0;
        *data = copy;
    }
    free((void *)bytes);
    if (len) *len = n;
    return true;
}

bool mr_state_has(mr_ctx *ctx, uint32_t index, const char *name) {
    return mr_state_get(ctx, index, name, NULL, NULL);
}

void mr_state_set(mr_ctx *ctx, uint32_t index, const char *name, const void *data, size_t len) {
    if (!ctx) ctx = &mr_the_ctx;
    need_state();
    mr_op *op = push_op(ctx, index, OP_SET, name);
    uint8_t *copy = mr_alloc(ctx, len + 1);
    if (len) memcpy(copy, data, len);
    copy[len] = 0;
    op->data = copy;
    op->len = len;
}

void mr_state_clear(mr_ctx *ctx, uint32_t index, const char *name) {
    if (!ctx) ctx = &mr_the_ctx;
    need_state();
    push_op(ctx, index, OP_CLEAR, name);
}

void mr_timer_set_event(mr_ctx *ctx, uint32_t index, const char *name, int64_t time) {
    if (!ctx) ctx = &mr_the_ctx;
    need_state();
    push_op(ctx, index, OP_EVENT, name)->time = time;
}

void mr_timer_set_processing(mr_ctx *ctx, uint32_t index, const char *name, int64_t time) {
    if (!ctx) ctx = &mr_the_ctx;
    need_state();
    push_op(ctx, index, OP_PROCESSING, name)->time = time;
}

void mr_timer_clear(mr_ctx *ctx, uint32_t index, const char *name) {
    if (!ctx) ctx = &mr_the_ctx;
    need_state();
    push_op(ctx, index, OP_CLEAR_TIMER, name);
}

const mr_json *mr_state_get_json(mr_ctx *ctx, uint32_t index, const char *name) {
    if (!ctx) ctx = &mr_the_ctx;
    const uint8_t *data;
    size_t len;
    if (!mr_state_get(ctx, index, name, &data, &len)) return NULL;
    const mr_json *value;
    char *message;
    if (mr_json_parse_quiet(ctx->arena, (const char *)data, len, &value, &message)) return NULL;
    return value;
}

mr_status mr_state_set_json(mr_ctx *ctx, uint32_t index, const char *name, const mr_json *value) {
    if (!ctx) ctx = &mr_the_ctx;
    size_t len;
    const char *text = mr_json_write(ctx, value, &len);
    if (!text) return MR_ERROR;
    mr_state_set(ctx, index, name, text, len);
    return MR_OK;
}

bool mr_state_get_i64(mr_ctx *ctx, uint32_t index, const char *name, int64_t *out) {
    const uint8_t *data;
    size_t len;
    if (!mr_state_get(ctx, index, name, &data, &len)) return false;
    mr_reader r = mr_reader_of(data, len);
    int64_t v = mr_read_i64(&r);
    if (!mr_reader_done(&r)) return false;
    if (out) *out = v;
    return true;
}

void mr_state_set_i64(mr_ctx *ctx, uint32_t index, const char *name, int64_t value) {
    uint8_t bytes[10];
    mr_buf buf = {0};
    mr_postcard_i64(&buf, value);
    memcpy(bytes, buf.data, buf.len);
    size_t len = buf.len;
    mr_buf_free(&buf);
    mr_state_set(ctx, index, name, bytes, len);
}

bool mr_window_is_global(mr_window w) { return w.start == MR_MIN_TIME && w.end == MR_MAX_TIME; }
