/* Postcard (https://postcard.jamesmunns.com/wire-format), the bytes the Rust SDK
 * gives accumulators and state: integers as LEB128 varints (signed ones zigzagged
 * first), floats little-endian, strings length-prefixed, a bool one byte. */
#include <string.h>

#include "internal.h"

void mr_postcard_u64(mr_buf *out, uint64_t v) {
    while (v >= 0x80) {
        mr_buf_byte(out, (uint8_t)(v | 0x80));
        v >>= 7;
    }
    mr_buf_byte(out, (uint8_t)v);
}

void mr_postcard_i64(mr_buf *out, int64_t v) {
    mr_postcard_u64(out, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

void mr_postcard_f64(mr_buf *out, double v) {
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    uint8_t bytes[8];
    for (int i = 0; i < 8; i++) bytes[i] = (uint8_t)(bits >> (8 * i));
    mr_buf_push(out, bytes, 8);
}

void mr_postcard_bool(mr_buf *out, bool v) { mr_buf_byte(out, v ? 1 : 0); }

void mr_postcard_str(mr_buf *out, const char *s, size_t len) {
    mr_postcard_u64(out, len);
    mr_buf_push(out, s, len);
}

mr_reader mr_reader_of(const uint8_t *data, size_t len) {
    return (mr_reader){.data = data, .len = len, .at = 0, .failed = false};
}

/* A varint of at most 64 bits (10 bytes, the last holding one bit). */
static uint64_t read_varint(mr_reader *r) {
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if (r->at >= r->len) break;
        uint8_t byte = r->data[r->at++];
        if (i == 9 && byte > 1) break;
        v |= (uint64_t)(byte & 0x7f) << (7 * i);
        if (byte < 0x80) return v;
    }
    r->failed = true;
    return 0;
}

uint64_t mr_read_u64(mr_reader *r) { return read_varint(r); }

int64_t mr_read_i64(mr_reader *r) {
    uint64_t z = read_varint(r);
    return (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
}

double mr_read_f64(mr_reader *r) {
    if (r->len - r->at < 8 || r->at > r->len) {
        r->failed = true;
        return 0;
    }
    uint64_t bits = 0;
    for (int i = 0; i < 8; i++) bits |= (uint64_t)r->data[r->at + i] << (8 * i);
    r->at += 8;
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

bool mr_read_bool(mr_reader *r) {
    if (r->at >= r->len || r->data[r->at] > 1) {
        r->failed = true;
        return false;
    }
    return r->data[r->at++] == 1;
}

bool mr_reader_done(const mr_reader *r) { return !r->failed && r->at == r->len; }

#if defined(__SIZEOF_INT128__)
void mr_postcard_i128(mr_buf *out, __int128 v) {
    unsigned __int128 z = ((unsigned __int128)v << 1) ^ (unsigned __int128)(v >> 127);
    while (z >= 0x80) {
        mr_buf_byte(out, (uint8_t)(z | 0x80));
        z >>= 7;
    }
    mr_buf_byte(out, (uint8_t)z);
}

__int128 mr_read_i128(mr_reader *r) {
    unsigned __int128 z = 0;
    for (int i = 0; i < 19; i++) {
        if (r->at >= r->len) {
            r->failed = true;
            return 0;
        }
        uint8_t byte = r->data[r->at++];
        if (i == 18 && byte > 0x03) {
            r->failed = true; /* past 128 bits */
            return 0;
        }
        z |= (unsigned __int128)(byte & 0x7f) << (7 * i);
        if (byte < 0x80) return (__int128)(z >> 1) ^ -(__int128)(z & 1);
    }
    r->failed = true;
    return 0;
}
#endif

/* -- The codecs of single values ------------------------------------------------------- */

static mr_status enc_i64(mr_ctx *ctx, const void *v, mr_buf *out) {
    (void)ctx;
    mr_postcard_i64(out, *(const int64_t *)v);
    return MR_OK;
}
static mr_status dec_i64(mr_ctx *ctx, const uint8_t *data, size_t len, void *v) {
    mr_reader r = mr_reader_of(data, len);
    *(int64_t *)v = mr_read_i64(&r);
    return mr_reader_done(&r) ? MR_OK : mr_error(ctx, "not a postcard i64");
}
static mr_status enc_u64(mr_ctx *ctx, const void *v, mr_buf *out) {
    (void)ctx;
    mr_postcard_u64(out, *(const uint64_t *)v);
    return MR_OK;
}
static mr_status dec_u64(mr_ctx *ctx, const uint8_t *data, size_t len, void *v) {
    mr_reader r = mr_reader_of(data, len);
    *(uint64_t *)v = mr_read_u64(&r);
    return mr_reader_done(&r) ? MR_OK : mr_error(ctx, "not a postcard u64");
}
static mr_status enc_f64(mr_ctx *ctx, const void *v, mr_buf *out) {
    (void)ctx;
    mr_postcard_f64(out, *(const double *)v);
    return MR_OK;
}
static mr_status dec_f64(mr_ctx *ctx, const uint8_t *data, size_t len, void *v) {
    mr_reader r = mr_reader_of(data, len);
    *(double *)v = mr_read_f64(&r);
    return mr_reader_done(&r) ? MR_OK : mr_error(ctx, "not a postcard f64");
}
static mr_status enc_bool(mr_ctx *ctx, const void *v, mr_buf *out) {
    (void)ctx;
    mr_postcard_bool(out, *(const bool *)v);
    return MR_OK;
}
static mr_status dec_bool(mr_ctx *ctx, const uint8_t *data, size_t len, void *v) {
    mr_reader r = mr_reader_of(data, len);
    *(bool *)v = mr_read_bool(&r);
    return mr_reader_done(&r) ? MR_OK : mr_error(ctx, "not a postcard bool");
}

/* Named as the Rust SDK names them ("postcard/<Rust type name>"). */
const mr_codec MR_POSTCARD_I64 = {"postcard/i64", sizeof(int64_t), enc_i64, dec_i64};
const mr_codec MR_POSTCARD_U64 = {"postcard/u64", sizeof(uint64_t), enc_u64, dec_u64};
const mr_codec MR_POSTCARD_F64 = {"postcard/f64", sizeof(double), enc_f64, dec_f64};
const mr_codec MR_POSTCARD_BOOL = {"postcard/bool", sizeof(bool), enc_bool, dec_bool};
