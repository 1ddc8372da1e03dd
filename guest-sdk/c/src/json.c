/* JSON: a small parser (errors worded as Rust's serde_json words them), a writer
 * (compact, as serde_json writes), values built in the call's arena, accessors. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct {
    const char *name;
    uint32_t name_len;
    const mr_json *value;
} mr_member;

struct mr_json {
    uint8_t type;
    bool is_int;      /* an integer literal (or built) that fits int64_t */
    uint32_t len;     /* string bytes, array items, object members */
    uint32_t cap;     /* for built arrays and objects */
    union {
        bool b;
        struct {
            double d;
            int64_t i;
            const char *raw; /* the text it was parsed from, written back as it was */
            uint32_t raw_len;
        } num;
        const char *str;
        const mr_json **items;
        mr_member *members;
    } u;
};

/* -- Accessors ------------------------------------------------------------------------ */

mr_json_type_t mr_json_type(const mr_json *v) { return v ? (mr_json_type_t)v->type : MR_JSON_MISSING; }

const char *mr_json_type_name(const mr_json *v) {
    switch (mr_json_type(v)) {
    case MR_JSON_NULL: return "null";
    case MR_JSON_BOOL: return "a boolean";
    case MR_JSON_NUMBER: return v->is_int ? "an integer" : "a number";
    case MR_JSON_STRING: return "a string";
    case MR_JSON_ARRAY: return "a list";
    case MR_JSON_OBJECT: return "a map";
    default: return "nothing";
    }
}

bool mr_json_is_null(const mr_json *v) { return v && v->type == MR_JSON_NULL; }
bool mr_json_is_bool(const mr_json *v) { return v && v->type == MR_JSON_BOOL; }
bool mr_json_is_number(const mr_json *v) { return v && v->type == MR_JSON_NUMBER; }
bool mr_json_is_int(const mr_json *v) { return v && v->type == MR_JSON_NUMBER && v->is_int; }
bool mr_json_is_string(const mr_json *v) { return v && v->type == MR_JSON_STRING; }
bool mr_json_is_array(const mr_json *v) { return v && v->type == MR_JSON_ARRAY; }
bool mr_json_is_object(const mr_json *v) { return v && v->type == MR_JSON_OBJECT; }

bool mr_json_bool(const mr_json *v) { return mr_json_is_bool(v) && v->u.b; }
int64_t mr_json_int(const mr_json *v) { return mr_json_is_int(v) ? v->u.num.i : 0; }
double mr_json_double(const mr_json *v) {
    if (!mr_json_is_number(v)) return 0;
    return v->is_int ? (double)v->u.num.i : v->u.num.d;
}
const char *mr_json_string(const mr_json *v) { return mr_json_is_string(v) ? v->u.str : NULL; }
size_t mr_json_string_len(const mr_json *v) { return mr_json_is_string(v) ? v->len : 0; }
bool mr_json_string_is(const mr_json *v, const char *s) {
    size_t len = strlen(s);
    return mr_json_is_string(v) && v->len == len && !memcmp(v->u.str, s, len);
}

size_t mr_json_len(const mr_json *v) {
    return v && (v->type == MR_JSON_ARRAY || v->type == MR_JSON_OBJECT) ? v->len : 0;
}
const mr_json *mr_json_at(const mr_json *v, size_t i) {
    return mr_json_is_array(v) && i < v->len ? v->u.items[i] : NULL;
}
const char *mr_json_key_at(const mr_json *v, size_t i) {
    return mr_json_is_object(v) && i < v->len ? v->u.members[i].name : NULL;
}
const mr_json *mr_json_value_at(const mr_json *v, size_t i) {
    return mr_json_is_object(v) && i < v->len ? v->u.members[i].value : NULL;
}

const mr_json *mr_json_get_n(const mr_json *v, const char *name, size_t len) {
    if (!mr_json_is_object(v)) return NULL;
    for (uint32_t i = 0; i < v->len; i++) {
        const mr_member *m = &v->u.members[i];
        if (m->name_len == len && !memcmp(m->name, name, len)) return m->value;
    }
    return NULL;
}

const mr_json *mr_json_get(const mr_json *v, const char *name) {
    return mr_json_get_n(v, name, strlen(name));
}

const mr_json *mr_json_path(const mr_json *v, const char *path) {
    const char *part = path;
    for (;;) {
        const char *dot = strchr(part, '.');
        size_t len = dot ? (size_t)(dot - part) : strlen(part);
        v = mr_json_get_n(v, part, len);
        if (!v || !dot) return v;
        part = dot + 1;
    }
}

bool mr_json_equal(const mr_json *a, const mr_json *b) {
    if (!a || !b) return a == b;
    if (a->type != b->type) return false;
    switch (a->type) {
    case MR_JSON_NULL: return true;
    case MR_JSON_BOOL: return a->u.b == b->u.b;
    case MR_JSON_NUMBER:
        if (a->is_int != b->is_int) return false;
        return a->is_int ? a->u.num.i == b->u.num.i : a->u.num.d == b->u.num.d;
    case MR_JSON_STRING: return a->len == b->len && !memcmp(a->u.str, b->u.str, a->len);
    case MR_JSON_ARRAY:
        if (a->len != b->len) return false;
        for (uint32_t i = 0; i < a->len; i++) {
            if (!mr_json_equal(a->u.items[i], b->u.items[i])) return false;
        }
        return true;
    case MR_JSON_OBJECT:
        if (a->len != b->len) return false;
        for (uint32_t i = 0; i < a->len; i++) {
            const mr_member *m = &a->u.members[i];
            if (!mr_json_equal(m->value, mr_json_get_n(b, m->name, m->name_len))) return false;
        }
        return true;
    }
    return false;
}

/* -- Building ----------------------------------------------------------------------- */

static mr_json *node(mr_arena *arena, mr_json_type_t type) {
    mr_json *v = mr_arena_alloc(arena, sizeof *v);
    memset(v, 0, sizeof *v);
    v->type = (uint8_t)type;
    return v;
}

static mr_arena *arena_of(mr_ctx *ctx) { return (ctx ? ctx : &mr_the_ctx)->arena; }

mr_json *mr_json_new_null(mr_ctx *ctx) { return node(arena_of(ctx), MR_JSON_NULL); }

mr_json *mr_json_new_bool(mr_ctx *ctx, bool b) {
    mr_json *v = node(arena_of(ctx), MR_JSON_BOOL);
    v->u.b = b;
    return v;
}

mr_json *mr_json_new_int(mr_ctx *ctx, int64_t i) {
    mr_json *v = node(arena_of(ctx), MR_JSON_NUMBER);
    v->is_int = true;
    v->u.num.i = i;
    v->u.num.d = (double)i;
    return v;
}

mr_json *mr_json_new_double(mr_ctx *ctx, double d) {
    mr_json *v = node(arena_of(ctx), MR_JSON_NUMBER);
    v->u.num.d = d;
    return v;
}

mr_json *mr_json_new_string_n(mr_ctx *ctx, const char *s, size_t len) {
    mr_arena *arena = arena_of(ctx);
    mr_json *v = node(arena, MR_JSON_STRING);
    char *copy = mr_arena_alloc(arena, len + 1);
    if (len) memcpy(copy, s, len);
    copy[len] = 0;
    v->u.str = copy;
    v->len = (uint32_t)len;
    return v;
}

mr_json *mr_json_new_string(mr_ctx *ctx, const char *s) { return mr_json_new_string_n(ctx, s, strlen(s)); }

mr_json *mr_json_new_array(mr_ctx *ctx) { return node(arena_of(ctx), MR_JSON_ARRAY); }

mr_json *mr_json_new_object(mr_ctx *ctx) { return node(arena_of(ctx), MR_JSON_OBJECT); }

void mr_json_push(mr_ctx *ctx, mr_json *array, const mr_json *item) {
    if (!mr_json_is_array(array)) return;
    if (array->len == array->cap) {
        uint32_t cap = array->cap ? array->cap * 2 : 4;
        const mr_json **items = mr_arena_alloc(arena_of(ctx), cap * sizeof *items);
        if (array->len) memcpy(items, array->u.items, array->len * sizeof *items);
        array->u.items = items;
        array->cap = cap;
    }
    array->u.items[array->len++] = item;
}

void mr_json_set(mr_ctx *ctx, mr_json *object, const char *name, const mr_json *value) {
    if (!mr_json_is_object(object)) return;
    size_t len = strlen(name);
    for (uint32_t i = 0; i < object->len; i++) {
        mr_member *m = &object->u.members[i];
        if (m->name_len == len && !memcmp(m->name, name, len)) {
            m->value = value;
            return;
        }
    }
    mr_arena *arena = arena_of(ctx);
    if (object->len == object->cap) {
        uint32_t cap = object->cap ? object->cap * 2 : 4;
        mr_member *members = mr_arena_alloc(arena, cap * sizeof *members);
        if (object->len) memcpy(members, object->u.members, object->len * sizeof *members);
        object->u.members = members;
        object->cap = cap;
    }
    char *copy = mr_arena_alloc(arena, len + 1);
    memcpy(copy, name, len + 1);
    object->u.members[object->len++] = (mr_member){copy, (uint32_t)len, value};
}

/* -- Parsing ------------------------------------------------------------------------ */

typedef struct {
    const char *s;
    size_t len, pos;
    mr_arena *arena;
    const char *error; /* serde_json's words */
    size_t error_at;   /* offset of the byte the error is about */
    bool at_end;       /* the error is the end of input */
    int depth;
    /* A stack of items and members being read, shared by all levels. */
    void **stack;
    size_t stack_len, stack_cap;
} parser;

static void *fail(parser *p, const char *message, size_t at) {
    if (!p->error) {
        p->error = message;
        p->error_at = at;
        p->at_end = at >= p->len;
    }
    return NULL;
}

static void skip_space(parser *p) {
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\n' && c != '\t' && c != '\r') break;
        p->pos++;
    }
}

static void stack_push(parser *p, void *item) {
    if (p->stack_len == p->stack_cap) {
        p->stack_cap = p->stack_cap ? p->stack_cap * 2 : 64;
        p->stack = mr_xrealloc(p->stack, p->stack_cap * sizeof *p->stack);
    }
    p->stack[p->stack_len++] = item;
}

static const mr_json *parse_value(parser *p);

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Reads 4 hex digits at p->pos. */
static int read_hex4(parser *p, uint32_t *out) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        if (p->pos >= p->len) {
            fail(p, "EOF while parsing a string", p->len);
            return -1;
        }
        int d = hex_digit(p->s[p->pos]);
        if (d < 0) {
            fail(p, "invalid escape", p->pos);
            return -1;
        }
        v = v * 16 + (uint32_t)d;
        p->pos++;
    }
    *out = v;
    return 0;
}

static void put_utf8(mr_buf *out, uint32_t c) {
    if (c < 0x80) {
        mr_buf_byte(out, (uint8_t)c);
    } else if (c < 0x800) {
        mr_buf_byte(out, (uint8_t)(0xc0 | (c >> 6)));
        mr_buf_byte(out, (uint8_t)(0x80 | (c & 0x3f)));
    } else if (c < 0x10000) {
        mr_buf_byte(out, (uint8_t)(0xe0 | (c >> 12)));
        mr_buf_byte(out, (uint8_t)(0x80 | ((c >> 6) & 0x3f)));
        mr_buf_byte(out, (uint8_t)(0x80 | (c & 0x3f)));
    } else {
        mr_buf_byte(out, (uint8_t)(0xf0 | (c >> 18)));
        mr_buf_byte(out, (uint8_t)(0x80 | ((c >> 12) & 0x3f)));
        mr_buf_byte(out, (uint8_t)(0x80 | ((c >> 6) & 0x3f)));
        mr_buf_byte(out, (uint8_t)(0x80 | (c & 0x3f)));
    }
}

/* A string after its opening quote: its bytes in the arena, NUL-terminated. */
static const char *parse_string(parser *p, uint32_t *out_len) {
    size_t start = p->pos;
    /* The common case: no escapes. */
    while (p->pos < p->len) {
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '"') {
            size_t len = p->pos - start;
            char *copy = mr_arena_alloc(p->arena, len + 1);
            memcpy(copy, p->s + start, len);
            copy[len] = 0;
            p->pos++;
            *out_len = (uint32_t)len;
            return copy;
        }
        if (c == '\\') break;
        if (c < 0x20) return fail(p, "control character (\\u0000-\\u001F) found while parsing a string", p->pos);
        p->pos++;
    }
    if (p->pos >= p->len) return fail(p, "EOF while parsing a string", p->len);
    mr_buf buf = {0};
    mr_buf_push(&buf, p->s + start, p->pos - start);
    while (p->pos < p->len) {
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '"') {
            p->pos++;
            char *copy = mr_arena_alloc(p->arena, buf.len + 1);
            if (buf.len) memcpy(copy, buf.data, buf.len);
            copy[buf.len] = 0;
            *out_len = (uint32_t)buf.len;
            mr_buf_free(&buf);
            return copy;
        }
        if (c < 0x20) {
            mr_buf_free(&buf);
            return fail(p, "control character (\\u0000-\\u001F) found while parsing a string", p->pos);
        }
        if (c != '\\') {
            mr_buf_byte(&buf, c);
            p->pos++;
            continue;
        }
        p->pos++;
        if (p->pos >= p->len) break;
        char e = p->s[p->pos++];
        switch (e) {
        case '"': mr_buf_byte(&buf, '"'); break;
        case '\\': mr_buf_byte(&buf, '\\'); break;
        case '/': mr_buf_byte(&buf, '/'); break;
        case 'b': mr_buf_byte(&buf, '\b'); break;
        case 'f': mr_buf_byte(&buf, '\f'); break;
        case 'n': mr_buf_byte(&buf, '\n'); break;
        case 'r': mr_buf_byte(&buf, '\r'); break;
        case 't': mr_buf_byte(&buf, '\t'); break;
        case 'u': {
            uint32_t c1;
            if (read_hex4(p, &c1)) {
                mr_buf_free(&buf);
                return NULL;
            }
            if (c1 >= 0xdc00 && c1 <= 0xdfff) {
                mr_buf_free(&buf);
                return fail(p, "lone leading surrogate in hex escape", p->pos - 1);
            }
            if (c1 >= 0xd800 && c1 <= 0xdbff) {
                if (p->pos + 1 >= p->len) {
                    mr_buf_free(&buf);
                    return fail(p, "unexpected end of hex escape", p->len);
                }
                if (p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') {
                    mr_buf_free(&buf);
                    return fail(p, "unexpected end of hex escape", p->pos);
                }
                p->pos += 2;
                uint32_t c2;
                if (read_hex4(p, &c2)) {
                    mr_buf_free(&buf);
                    return NULL;
                }
                if (c2 < 0xdc00 || c2 > 0xdfff) {
                    mr_buf_free(&buf);
                    return fail(p, "lone leading surrogate in hex escape", p->pos - 1);
                }
                c1 = 0x10000 + ((c1 - 0xd800) << 10) + (c2 - 0xdc00);
            }
            put_utf8(&buf, c1);
            break;
        }
        default:
            mr_buf_free(&buf);
            return fail(p, "invalid escape", p->pos - 1);
        }
    }
    mr_buf_free(&buf);
    return fail(p, "EOF while parsing a string", p->len);
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static const mr_json *parse_number(parser *p) {
    size_t start = p->pos;
    bool negative = false;
    if (p->s[p->pos] == '-') {
        negative = true;
        p->pos++;
    }
    if (p->pos >= p->len) return fail(p, "EOF while parsing a value", p->len);
    if (!is_digit(p->s[p->pos])) return fail(p, "invalid number", p->pos);
    uint64_t magnitude = 0;
    bool overflow = false;
    if (p->s[p->pos] == '0') {
        p->pos++;
        if (p->pos < p->len && is_digit(p->s[p->pos])) return fail(p, "invalid number", p->pos);
    } else {
        while (p->pos < p->len && is_digit(p->s[p->pos])) {
            uint64_t d = (uint64_t)(p->s[p->pos] - '0');
            if (magnitude > (UINT64_MAX - d) / 10) overflow = true;
            else magnitude = magnitude * 10 + d;
            p->pos++;
        }
    }
    bool integral = true;
    if (p->pos < p->len && p->s[p->pos] == '.') {
        integral = false;
        p->pos++;
        if (p->pos >= p->len) return fail(p, "EOF while parsing a value", p->len);
        if (!is_digit(p->s[p->pos])) return fail(p, "invalid number", p->pos);
        while (p->pos < p->len && is_digit(p->s[p->pos])) p->pos++;
    }
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        integral = false;
        p->pos++;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-')) p->pos++;
        if (p->pos >= p->len) return fail(p, "EOF while parsing a value", p->len);
        if (!is_digit(p->s[p->pos])) return fail(p, "invalid number", p->pos);
        while (p->pos < p->len && is_digit(p->s[p->pos])) p->pos++;
    }
    mr_json *v = node(p->arena, MR_JSON_NUMBER);
    size_t len = p->pos - start;
    v->u.num.raw = p->s + start;
    v->u.num.raw_len = (uint32_t)len;
    if (integral && !overflow) {
        if (!negative && magnitude <= (uint64_t)INT64_MAX) {
            v->is_int = true;
            v->u.num.i = (int64_t)magnitude;
            v->u.num.d = (double)v->u.num.i;
            return v;
        }
        if (negative && magnitude <= (uint64_t)INT64_MAX + 1) {
            v->is_int = true;
            v->u.num.i = magnitude == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)magnitude;
            v->u.num.d = (double)v->u.num.i;
            return v;
        }
    }
    char small[64];
    char *text = len < sizeof small ? small : mr_arena_alloc(p->arena, len + 1);
    memcpy(text, p->s + start, len);
    text[len] = 0;
    double d = strtod(text, NULL);
    if (d > 1.7976931348623157e308 || d < -1.7976931348623157e308) {
        return fail(p, "number out of range", start);
    }
    v->u.num.d = d;
    return v;
}

static const mr_json *parse_literal(parser *p, const char *word, mr_json_type_t type, bool b) {
    size_t n = strlen(word);
    for (size_t i = 0; i < n; i++) {
        if (p->pos + i >= p->len) return fail(p, "EOF while parsing a value", p->len);
        if (p->s[p->pos + i] != word[i]) return fail(p, "expected ident", p->pos + i);
    }
    p->pos += n;
    mr_json *v = node(p->arena, type);
    v->u.b = b;
    return v;
}

static const mr_json *parse_array(parser *p) {
    size_t base = p->stack_len;
    skip_space(p);
    if (p->pos < p->len && p->s[p->pos] == ']') {
        p->pos++;
        return node(p->arena, MR_JSON_ARRAY);
    }
    for (;;) {
        const mr_json *item = parse_value(p);
        if (!item) return NULL;
        stack_push(p, (void *)item);
        skip_space(p);
        if (p->pos >= p->len) return fail(p, "EOF while parsing a list", p->len);
        char c = p->s[p->pos];
        if (c == ',') {
            p->pos++;
            skip_space(p);
            if (p->pos < p->len && p->s[p->pos] == ']') return fail(p, "trailing comma", p->pos);
            continue;
        }
        if (c == ']') {
            p->pos++;
            break;
        }
        return fail(p, "expected `,` or `]`", p->pos);
    }
    mr_json *v = node(p->arena, MR_JSON_ARRAY);
    size_t n = p->stack_len - base;
    v->u.items = mr_arena_alloc(p->arena, n * sizeof *v->u.items);
    memcpy(v->u.items, p->stack + base, n * sizeof *v->u.items);
    v->len = v->cap = (uint32_t)n;
    p->stack_len = base;
    return v;
}

static const mr_json *parse_object(parser *p) {
    size_t base = p->stack_len;
    skip_space(p);
    if (p->pos < p->len && p->s[p->pos] == '}') {
        p->pos++;
        return node(p->arena, MR_JSON_OBJECT);
    }
    for (;;) {
        skip_space(p);
        if (p->pos >= p->len) return fail(p, "EOF while parsing an object", p->len);
        if (p->s[p->pos] != '"') return fail(p, "key must be a string", p->pos);
        p->pos++;
        uint32_t name_len;
        const char *name = parse_string(p, &name_len);
        if (!name) return NULL;
        skip_space(p);
        if (p->pos >= p->len) return fail(p, "EOF while parsing an object", p->len);
        if (p->s[p->pos] != ':') return fail(p, "expected `:`", p->pos);
        p->pos++;
        const mr_json *value = parse_value(p);
        if (!value) return NULL;
        /* A repeated name: the last one wins, as in serde_json. */
        bool replaced = false;
        for (size_t i = base; i < p->stack_len; i += 3) {
            if ((uint32_t)(uintptr_t)p->stack[i + 1] == name_len && !memcmp(p->stack[i], name, name_len)) {
                p->stack[i + 2] = (void *)value;
                replaced = true;
                break;
            }
        }
        if (!replaced) {
            stack_push(p, (void *)name);
            stack_push(p, (void *)(uintptr_t)name_len);
            stack_push(p, (void *)value);
        }
        skip_space(p);
        if (p->pos >= p->len) return fail(p, "EOF while parsing an object", p->len);
        char c = p->s[p->pos];
        if (c == ',') {
            p->pos++;
            skip_space(p);
            if (p->pos < p->len && p->s[p->pos] == '}') return fail(p, "trailing comma", p->pos);
            continue;
        }
        if (c == '}') {
            p->pos++;
            break;
        }
        return fail(p, "expected `,` or `}`", p->pos);
    }
    mr_json *v = node(p->arena, MR_JSON_OBJECT);
    size_t n = (p->stack_len - base) / 3;
    v->u.members = mr_arena_alloc(p->arena, n * sizeof *v->u.members);
    for (size_t i = 0; i < n; i++) {
        v->u.members[i].name = p->stack[base + 3 * i];
        v->u.members[i].name_len = (uint32_t)(uintptr_t)p->stack[base + 3 * i + 1];
        v->u.members[i].value = p->stack[base + 3 * i + 2];
    }
    v->len = v->cap = (uint32_t)n;
    p->stack_len = base;
    return v;
}

static const mr_json *parse_value(parser *p) {
    skip_space(p);
    if (p->pos >= p->len) return fail(p, "EOF while parsing a value", p->len);
    char c = p->s[p->pos];
    switch (c) {
    case 'n': return parse_literal(p, "null", MR_JSON_NULL, false);
    case 't': return parse_literal(p, "true", MR_JSON_BOOL, true);
    case 'f': return parse_literal(p, "false", MR_JSON_BOOL, false);
    case '"': {
        p->pos++;
        uint32_t len;
        const char *s = parse_string(p, &len);
        if (!s) return NULL;
        mr_json *v = node(p->arena, MR_JSON_STRING);
        v->u.str = s;
        v->len = len;
        return v;
    }
    case '[':
    case '{': {
        if (++p->depth > 128) return fail(p, "recursion limit exceeded", p->pos);
        p->pos++;
        const mr_json *v = c == '[' ? parse_array(p) : parse_object(p);
        p->depth--;
        return v;
    }
    default:
        if (c == '-' || is_digit(c)) return parse_number(p);
        return fail(p, "expected value", p->pos);
    }
}

static void put_number(mr_buf *out, size_t v) {
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) mr_buf_byte(out, (uint8_t)tmp[--n]);
}

mr_status mr_json_parse_quiet(mr_arena *arena, const char *text, size_t len, const mr_json **out,
                              char **message) {
    parser p = {.s = text, .len = len, .arena = arena};
    const mr_json *v = parse_value(&p);
    if (v) {
        skip_space(&p);
        if (p.pos < p.len) v = fail(&p, "trailing characters", p.pos);
    }
    free(p.stack);
    if (v) {
        *out = v;
        return MR_OK;
    }
    /* serde_json's position: line and column of the byte in question (of the last
     * byte, at the end of input). */
    size_t at = p.at_end ? (p.len ? p.len - 1 : 0) : p.error_at;
    size_t line = 1, line_start = 0;
    for (size_t i = 0; i < at && i < p.len; i++) {
        if (text[i] == '\n') {
            line++;
            line_start = i + 1;
        }
    }
    size_t column = p.len ? at - line_start + 1 : 0;
    if (p.at_end && p.len && text[p.len - 1] == '\n') {
        line++;
        column = 0;
    }
    mr_buf buf = {0};
    mr_buf_push(&buf, p.error, strlen(p.error));
    mr_buf_push(&buf, " at line ", 9);
    put_number(&buf, line);
    mr_buf_push(&buf, " column ", 8);
    put_number(&buf, column);
    char *copy = mr_arena_alloc(arena, buf.len + 1);
    memcpy(copy, buf.data, buf.len);
    copy[buf.len] = 0;
    mr_buf_free(&buf);
    *message = copy;
    return MR_ERROR;
}

mr_status mr_json_parse(mr_ctx *ctx, const char *text, size_t len, const mr_json **out) {
    if (!ctx) ctx = &mr_the_ctx;
    char *message;
    if (mr_json_parse_quiet(ctx->arena, text, len, out, &message) == MR_OK) return MR_OK;
    ctx->error = message;
    return MR_ERROR;
}

/* -- Writing ---------------------------------------------------------------------------- */

static void write_string(mr_buf *out, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    mr_buf_byte(out, '"');
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        mr_buf_push(out, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': mr_buf_push(out, "\\\"", 2); break;
        case '\\': mr_buf_push(out, "\\\\", 2); break;
        case '\b': mr_buf_push(out, "\\b", 2); break;
        case '\f': mr_buf_push(out, "\\f", 2); break;
        case '\n': mr_buf_push(out, "\\n", 2); break;
        case '\r': mr_buf_push(out, "\\r", 2); break;
        case '\t': mr_buf_push(out, "\\t", 2); break;
        default: {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            mr_buf_push(out, esc, 6);
        }
        }
    }
    mr_buf_push(out, s + run, len - run);
    mr_buf_byte(out, '"');
}

void mr_quote(mr_buf *out, const char *s, size_t len) { write_string(out, s, len); }

static bool write_value(mr_buf *out, const mr_json *v, bool canonical);

bool mr_json_write_to(mr_buf *out, const mr_json *v) { return write_value(out, v, false); }

/* An integer literal that fits a u64 (serde_json keeps those as integers). */
static bool u64_literal(const mr_json *v) {
    const char *r = v->u.num.raw;
    if (!r || r[0] == '-' || v->u.num.raw_len > 20) return false;
    for (uint32_t i = 0; i < v->u.num.raw_len; i++) {
        if (r[i] < '0' || r[i] > '9') return false;
    }
    return v->u.num.raw_len < 20 || memcmp(r, "18446744073709551615", 20) <= 0;
}

static int by_name(const void *a, const void *b) {
    const mr_member *x = *(const mr_member *const *)a, *y = *(const mr_member *const *)b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, n);
    if (c) return c;
    return x->name_len < y->name_len ? -1 : x->name_len > y->name_len;
}

static bool write_value(mr_buf *out, const mr_json *v, bool canonical) {
    if (!v) {
        mr_buf_push(out, "null", 4);
        return true;
    }
    switch (v->type) {
    case MR_JSON_NULL: mr_buf_push(out, "null", 4); return true;
    case MR_JSON_BOOL:
        if (v->u.b) mr_buf_push(out, "true", 4);
        else mr_buf_push(out, "false", 5);
        return true;
    case MR_JSON_NUMBER: {
        if (v->u.num.raw && (!canonical || v->is_int || u64_literal(v))) {
            mr_buf_push(out, v->u.num.raw, v->u.num.raw_len);
            return true;
        }
        char text[40];
        if (v->is_int) {
            int64_t i = v->u.num.i;
            uint64_t m = i < 0 ? 0 - (uint64_t)i : (uint64_t)i;
            size_t n = 0;
            do {
                text[n++] = (char)('0' + m % 10);
                m /= 10;
            } while (m);
            if (i < 0) mr_buf_byte(out, '-');
            while (n) mr_buf_byte(out, (uint8_t)text[--n]);
            return true;
        }
        double d = v->u.num.d;
        if (d != d || d > 1.7976931348623157e308 || d < -1.7976931348623157e308) return false;
        mr_buf_push(out, text, mr_format_double(text, d));
        return true;
    }
    case MR_JSON_STRING: write_string(out, v->u.str, v->len); return true;
    case MR_JSON_ARRAY:
        mr_buf_byte(out, '[');
        for (uint32_t i = 0; i < v->len; i++) {
            if (i) mr_buf_byte(out, ',');
            if (!write_value(out, v->u.items[i], canonical)) return false;
        }
        mr_buf_byte(out, ']');
        return true;
    case MR_JSON_OBJECT: {
        const mr_member **order = NULL;
        if (canonical && v->len > 1) {
            order = mr_xmalloc(v->len * sizeof *order);
            for (uint32_t i = 0; i < v->len; i++) order[i] = &v->u.members[i];
            qsort(order, v->len, sizeof *order, by_name);
        }
        mr_buf_byte(out, '{');
        bool ok = true;
        for (uint32_t i = 0; i < v->len && ok; i++) {
            const mr_member *m = order ? order[i] : &v->u.members[i];
            if (i) mr_buf_byte(out, ',');
            write_string(out, m->name, m->name_len);
            mr_buf_byte(out, ':');
            ok = write_value(out, m->value, canonical);
        }
        free(order);
        mr_buf_byte(out, '}');
        return ok;
    }
    }
    return false;
}

static const char *write_text(mr_ctx *ctx, const mr_json *v, size_t *len, bool canonical) {
    if (!ctx) ctx = &mr_the_ctx;
    mr_buf buf = {0};
    if (!write_value(&buf, v, canonical)) {
        mr_buf_free(&buf);
        mr_error(ctx, "a NaN or an infinity is not a JSON number");
        return NULL;
    }
    char *text = mr_alloc(ctx, buf.len + 1);
    if (buf.len) memcpy(text, buf.data, buf.len);
    text[buf.len] = 0;
    if (len) *len = buf.len;
    mr_buf_free(&buf);
    return text;
}

const char *mr_json_write(mr_ctx *ctx, const mr_json *v, size_t *len) {
    return write_text(ctx, v, len, false);
}

const char *mr_json_write_canonical(mr_ctx *ctx, const mr_json *v, size_t *len) {
    return write_text(ctx, v, len, true);
}
