/*
 * tbtool.columnar._columnar: frames TFRecord records, verifies both CRCs and decodes the Event /
 * Summary wire format of a whole buffer into column arrays, in one call without the GIL.
 *
 * It is an accelerator for tbtool.columnar.index.IndexBuilder and must produce exactly the
 * same index (tests compare them). It only decodes what it fully understands: any record
 * holding something else (unknown fields, a field twice, session_log / log_message /
 * tagged_run_metadata events, malformed bytes, bad UTF-8) stops the scan with STOP_PYTHON
 * at that record, after both CRCs were checked, and the Python side decodes it with protobuf.
 * So the protobuf runtime stays the judge of what is valid.
 *
 * Wire format: https://protobuf.dev/programming-guides/encoding/ ; field numbers: format.md §2.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define HAVE_SSE42_PATH 1
#endif

/* ARMv8 CRC32C instructions (Graviton, Apple silicon, Ampere...): optional in ARMv8.0, so
 * compiled for with a target attribute and used only when the CPU says it has them. */
#if defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_ARMV8_PATH 1
#include <arm_acle.h> /* __crc32cd, __crc32cb (GCC >= 10 and clang declare them for any target) */
#if defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_CRC32
#define HWCAP_CRC32 (1 << 7)
#endif
#endif
#if defined(__clang__)
#define ARMV8_CRC_TARGET __attribute__((target("crc")))
#else
#define ARMV8_CRC_TARGET __attribute__((target("+crc")))
#endif
#endif

/* The small readers and writers of the hot loop: inlined, whatever the compiler's guess. */
#if defined(__GNUC__) || defined(__clang__)
#define HOT static inline __attribute__((always_inline))
#else
#define HOT static inline
#endif

enum { STOP_END = 0, STOP_LENGTH_CRC = 1, STOP_TOO_LARGE = 2, STOP_DATA_CRC = 3, STOP_PYTHON = 4 };
enum { ONEOF_NONE, ONEOF_SIMPLE, ONEOF_HISTO, ONEOF_IMAGE, ONEOF_AUDIO, ONEOF_TENSOR, ONEOF_OBSOLETE };
enum { COL_NONE = 0, COL_SCALAR = 1, COL_HISTO = 2, COL_SCALAR64 = 3, COL_IMAGE = 4, COL_AUDIO = 5,
       COL_STRINGS = 6 };
enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

/* ---- masked CRC-32C (format.md §1.2) ---------------------------------------------------- */
/* Which CRC-32C code runs: the CPU's instruction when it has one, else slicing-by-8.
 * TBTOOL_SOFTWARE_CRC=1 (read at import) or set_hardware_crc(False) forces the software path,
 * so tests and the fuzzer exercise it on machines that have the instruction. */
enum { CRC_SOFTWARE = 0, CRC_SSE42 = 1, CRC_ARMV8 = 2 };
static uint32_t crc_table[8][256];
static int crc_hw_kind = CRC_SOFTWARE; /* what the CPU offers */
static int crc_impl = CRC_SOFTWARE;    /* what masked_crc uses */

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xFF];
#ifdef HAVE_SSE42_PATH
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2")) crc_hw_kind = CRC_SSE42;
#endif
#ifdef HAVE_ARMV8_PATH
#if defined(__APPLE__)
    crc_hw_kind = CRC_ARMV8; /* every arm64 Apple CPU has the CRC32 extension */
#elif defined(__linux__)
    if (getauxval(AT_HWCAP) & HWCAP_CRC32) crc_hw_kind = CRC_ARMV8;
#endif
#endif
    const char *force = getenv("TBTOOL_SOFTWARE_CRC");
    crc_impl = (force && *force && strcmp(force, "0") != 0) ? CRC_SOFTWARE : crc_hw_kind;
}

static uint32_t crc_sw(uint32_t c, const uint8_t *p, size_t n) {
    while (n >= 8) {
        uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                           (uint32_t)p[3] << 24);
        c = crc_table[7][lo & 0xFF] ^ crc_table[6][(lo >> 8) & 0xFF] ^
            crc_table[5][(lo >> 16) & 0xFF] ^ crc_table[4][lo >> 24] ^ crc_table[3][p[4]] ^
            crc_table[2][p[5]] ^ crc_table[1][p[6]] ^ crc_table[0][p[7]];
        p += 8;
        n -= 8;
    }
    while (n--) c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xFF];
    return c;
}

#ifdef HAVE_SSE42_PATH
__attribute__((target("sse4.2"))) static uint32_t crc_sse42(uint32_t c, const uint8_t *p,
                                                             size_t n) {
    uint64_t c64 = c;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c64 = _mm_crc32_u64(c64, v);
        p += 8;
        n -= 8;
    }
    c = (uint32_t)c64;
    while (n--) c = _mm_crc32_u8(c, *p++);
    return c;
}
#endif

#ifdef HAVE_ARMV8_PATH
ARMV8_CRC_TARGET static uint32_t crc_armv8(uint32_t c, const uint8_t *p, size_t n) {
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __crc32cd(c, v);
        p += 8;
        n -= 8;
    }
    while (n--) c = __crc32cb(c, *p++);
    return c;
}
#endif

static uint32_t masked_crc(const uint8_t *p, size_t n) {
    uint32_t c;
    switch (crc_impl) {
#ifdef HAVE_SSE42_PATH
    case CRC_SSE42:
        c = crc_sse42(0xFFFFFFFFu, p, n) ^ 0xFFFFFFFFu;
        break;
#endif
#ifdef HAVE_ARMV8_PATH
    case CRC_ARMV8:
        c = crc_armv8(0xFFFFFFFFu, p, n) ^ 0xFFFFFFFFu;
        break;
#endif
    default:
        c = crc_sw(0xFFFFFFFFu, p, n) ^ 0xFFFFFFFFu;
    }
    return ((c >> 15) | (c << 17)) + 0xA282EAD8u;
}

static uint32_t load_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t load_u64(const uint8_t *p) {
    return (uint64_t)load_u32(p) | (uint64_t)load_u32(p + 4) << 32;
}

static double load_f64(const uint8_t *p) {
    uint64_t u = load_u64(p);
    double d;
    memcpy(&d, &u, 8);
    return d;
}

static float load_f32(const uint8_t *p) {
    uint32_t u = load_u32(p);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* ---- growable output columns ------------------------------------------------------------- */
typedef struct {
    char *p;
    size_t n, cap;
} Buf;

static int buf_grow(Buf *b, size_t extra);

HOT int buf_reserve(Buf *b, size_t extra) {
    if (extra <= b->cap - b->n) return 0; /* cap >= n always: no wrap */
    return buf_grow(b, extra);
}

static int buf_grow(Buf *b, size_t extra) {
    if (extra > SIZE_MAX / 2 - b->n) return -1; /* no size computation below can wrap */
    if (b->n + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->n + extra) cap *= 2;
    char *q = PyMem_RawRealloc(b->p, cap);
    if (!q) return -1;
    b->p = q;
    b->cap = cap;
    return 0;
}

HOT int buf_put(Buf *b, const void *v, size_t size) {
    if (buf_reserve(b, size)) return -1;
    memcpy(b->p + b->n, v, size);
    b->n += size;
    return 0;
}

#define PUT(b, T, v)                                     \
    do {                                                 \
        T _tmp = (v);                                    \
        if (buf_put(&(b), &_tmp, sizeof(T))) return -1;  \
    } while (0)

/* ---- interning of tags and metadata (open addressing over copies of the bytes) ------------ */
typedef struct {
    uint64_t hash;
    char *data;
    size_t len;
    int32_t id;
} Slot;

typedef struct {
    Slot *slots;
    size_t cap, count;
    Slot **order; /* by id */
    size_t order_cap;
} Intern;

/* A hash of the bytes, 8 at a time (tags are short: one or two words). */
static uint64_t hash_bytes(const uint8_t *p, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    if (n) {
        uint64_t w = 0;
        memcpy(&w, p, n);
        h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
    }
    return h ^ (h >> 29);
}

static void intern_free(Intern *t) {
    for (size_t i = 0; i < t->cap; i++) PyMem_RawFree(t->slots[i].data);
    PyMem_RawFree(t->slots);
    PyMem_RawFree(t->order);
    memset(t, 0, sizeof(*t));
}

/* Empty slots have data == NULL; zero-length keys are stored as a 1-byte allocation. */
static int32_t intern_get(Intern *t, const uint8_t *p, size_t n) {
    if ((t->count + 1) * 2 > t->cap) {
        if (t->order_cap < t->count + 1) {
            size_t oc = t->order_cap ? t->order_cap * 2 : 64;
            Slot **o = PyMem_RawRealloc(t->order, oc * sizeof(Slot *));
            if (!o) return -1;
            t->order = o;
            t->order_cap = oc;
        }
        /* grow: rehash only occupied slots */
        size_t cap = t->cap ? t->cap * 2 : 64;
        Slot *slots = PyMem_RawCalloc(cap, sizeof(Slot));
        if (!slots) return -1;
        for (size_t i = 0; i < t->cap; i++) {
            if (!t->slots[i].data) continue;
            size_t j = t->slots[i].hash & (cap - 1);
            while (slots[j].data) j = (j + 1) & (cap - 1);
            slots[j] = t->slots[i];
        }
        PyMem_RawFree(t->slots);
        t->slots = slots;
        t->cap = cap;
        for (size_t i = 0; i < cap; i++)
            if (slots[i].data) t->order[slots[i].id] = &slots[i];
    }
    uint64_t h = hash_bytes(p, n);
    size_t j = h & (t->cap - 1);
    while (t->slots[j].data) {
        Slot *s = &t->slots[j];
        if (s->hash == h && s->len == n && memcmp(s->data, p, n) == 0) return s->id;
        j = (j + 1) & (t->cap - 1);
    }
    if (t->order_cap < t->count + 1) {
        size_t oc = t->order_cap ? t->order_cap * 2 : 64;
        Slot **o = PyMem_RawRealloc(t->order, oc * sizeof(Slot *));
        if (!o) return -1;
        t->order = o;
        t->order_cap = oc;
    }
    char *copy = PyMem_RawMalloc(n ? n : 1);
    if (!copy) return -1;
    memcpy(copy, p, n);
    Slot *s = &t->slots[j];
    s->hash = h;
    s->data = copy;
    s->len = n;
    s->id = (int32_t)t->count;
    t->order[t->count] = s;
    t->count++;
    return s->id;
}

/* ---- wire-format reading ----------------------------------------------------------------- */
typedef struct {
    const uint8_t *p, *end;
} Rd;

static int rd_varint_long(Rd *r, uint64_t *out);

HOT int rd_varint(Rd *r, uint64_t *out) {
    if (r->p < r->end && !(*r->p & 0x80)) { /* one byte: most keys, lengths and steps */
        *out = *r->p++;
        return 0;
    }
    return rd_varint_long(r, out);
}

static int rd_varint_long(Rd *r, uint64_t *out) {
    uint64_t x = 0;
    for (int i = 0; i < 10; i++) {
        if (r->p >= r->end) return -1;
        uint8_t b = *r->p++;
        x |= (uint64_t)(b & 0x7F) << (7 * i);
        if (!(b & 0x80)) {
            if (i == 9 && b > 1) return -1; /* let protobuf judge */
            *out = x;
            return 0;
        }
    }
    return -1;
}

/* Field keys and length prefixes: protobuf (upb) rejects their varints beyond 5 bytes as
 * "Wire format was corrupt", even when the value would fit (values, unlike keys and lengths,
 * may take all 10 bytes). Accepting them would decode records protobuf calls corrupt. */
#define MAX_KEY_LEN_BYTES 5

HOT int rd_varint5(Rd *r, uint64_t *out) {
    const uint8_t *start = r->p;
    if (rd_varint(r, out)) return -1;
    return r->p - start > MAX_KEY_LEN_BYTES ? -1 : 0;
}

HOT int rd_key(Rd *r, uint32_t *field, int *wt) {
    uint64_t k;
    if (rd_varint5(r, &k) || k > 0xFFFFFFFFu) return -1;
    *field = (uint32_t)(k >> 3);
    *wt = (int)(k & 7);
    return *field == 0 ? -1 : 0;
}

/* upb also rejects lengths of INT32_MAX or more (records may be up to 2^31 bytes). */
HOT int rd_len(Rd *r, Rd *sub) {
    uint64_t n;
    if (rd_varint5(r, &n) || n >= 0x7FFFFFFFu || n > (uint64_t)(r->end - r->p)) return -1;
    sub->p = r->p;
    sub->end = r->p + n;
    r->p += n;
    return 0;
}

HOT int rd_fixed(Rd *r, size_t n, const uint8_t **at) {
    if ((size_t)(r->end - r->p) < n) return -1;
    *at = r->p;
    r->p += n;
    return 0;
}

/* Strict UTF-8 (no overlongs, surrogates or values above U+10FFFF), as protobuf requires
 * of proto3 string fields. */
static int utf8_ok(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        while (i + 8 <= n) {
            uint64_t v;
            memcpy(&v, s + i, 8);
            if (v & 0x8080808080808080ull) break;
            i += 8;
        }
        if (i >= n) break;
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            cp = c & 0x07;
        } else
            return 0;
        if (i + need >= n) return 0;
        for (size_t k = 1; k <= need; k++) {
            uint8_t d = s[i + k];
            if ((d & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (d & 0x3F);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += need + 1;
    }
    return 1;
}

HOT int rd_string(Rd *r, Rd *sub) {
    if (rd_len(r, sub)) return -1;
    return utf8_ok(sub->p, (size_t)(sub->end - sub->p)) ? 0 : -1;
}

/* Skip a field of a known-valid wire type (only used for repeated/packed scalar fields). */
static int skip_varints(Rd *r) {
    uint64_t v;
    while (r->p < r->end)
        if (rd_varint(r, &v)) return -1;
    return 0;
}

#define ONCE(flag)               \
    do {                         \
        if (seen & (1u << (flag))) return -1; \
        seen |= 1u << (flag);    \
    } while (0)

/* ---- messages ---------------------------------------------------------------------------- */
static int check_plugin_data(Rd r) {
    uint32_t seen = 0, f;
    int wt;
    Rd s;
    while (r.p < r.end) {
        if (rd_key(&r, &f, &wt)) return -1;
        if (f == 1 && wt == WT_LEN) {
            ONCE(1);
            if (rd_string(&r, &s)) return -1;
        } else if (f == 2 && wt == WT_LEN) {
            ONCE(2);
            if (rd_len(&r, &s)) return -1;
        } else
            return -1;
    }
    return 0;
}

static int check_metadata(Rd r) {
    uint32_t seen = 0, f;
    int wt;
    Rd s;
    uint64_t v;
    while (r.p < r.end) {
        if (rd_key(&r, &f, &wt)) return -1;
        if (f == 1 && wt == WT_LEN) {
            ONCE(1);
            if (rd_len(&r, &s) || check_plugin_data(s)) return -1;
        } else if ((f == 2 || f == 3) && wt == WT_LEN) {
            ONCE(f);
            if (rd_string(&r, &s)) return -1;
        } else if (f == 4 && wt == WT_VARINT) {
            ONCE(4);
            if (rd_varint(&r, &v)) return -1;
        } else
            return -1;
    }
    return 0;
}

/* Summary.Image: validates as protobuf would and gives its fields; the encoded bytes stay
 * where they are (a pointer into the record). */
typedef struct {
    int64_t height, width, colorspace;
    const uint8_t *blob;
    size_t blob_len;
} ImageInfo;

static int read_image(Rd r, ImageInfo *img) {
    uint32_t seen = 0, f;
    int wt;
    Rd s;
    uint64_t v;
    memset(img, 0, sizeof(*img));
    img->blob = r.p; /* an image without encoded bytes: empty, at its start */
    while (r.p < r.end) {
        if (rd_key(&r, &f, &wt)) return -1;
        if (f >= 1 && f <= 3 && wt == WT_VARINT) {
            ONCE(f);
            if (rd_varint(&r, &v)) return -1;
            /* int32 fields: protobuf keeps the low 32 bits, sign-extended */
            int64_t x = (int64_t)(int32_t)(uint32_t)v;
            if (f == 1)
                img->height = x;
            else if (f == 2)
                img->width = x;
            else
                img->colorspace = x;
        } else if (f == 4 && wt == WT_LEN) {
            ONCE(4);
            if (rd_len(&r, &s)) return -1;
            img->blob = s.p;
            img->blob_len = (size_t)(s.end - s.p);
        } else
            return -1;
    }
    return 0;
}

/* Summary.Audio: validates as protobuf would and gives its fields; the encoded bytes and the
 * content type stay where they are. */
typedef struct {
    double sample_rate;
    int64_t channels, frames;
    const uint8_t *blob, *type;
    size_t blob_len, type_len;
} AudioInfo;

static int read_audio(Rd r, AudioInfo *a) {
    uint32_t seen = 0, f;
    int wt;
    Rd s;
    uint64_t v;
    const uint8_t *at;
    memset(a, 0, sizeof(*a));
    a->blob = a->type = r.p; /* absent: empty, at the start */
    while (r.p < r.end) {
        if (rd_key(&r, &f, &wt)) return -1;
        if (f == 1 && wt == WT_I32) {
            ONCE(1);
            if (rd_fixed(&r, 4, &at)) return -1;
            a->sample_rate = (double)load_f32(at);
        } else if ((f == 2 || f == 3) && wt == WT_VARINT) {
            ONCE(f);
            if (rd_varint(&r, &v)) return -1;
            if (f == 2)
                a->channels = (int64_t)v;
            else
                a->frames = (int64_t)v;
        } else if (f == 4 && wt == WT_LEN) {
            ONCE(4);
            if (rd_len(&r, &s)) return -1;
            a->blob = s.p;
            a->blob_len = (size_t)(s.end - s.p);
        } else if (f == 5 && wt == WT_LEN) {
            ONCE(5);
            if (rd_string(&r, &s)) return -1;
            a->type = s.p;
            a->type_len = (size_t)(s.end - s.p);
        } else
            return -1;
    }
    return 0;
}

/* k little-endian doubles from p to the end of out (room reserved): one copy on a
 * little-endian machine. */
static void append_doubles(Buf *out, const uint8_t *p, size_t k) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (!k) return; /* out->p may still be NULL */
    memcpy(out->p + out->n, p, k * 8);
    out->n += k * 8;
#else
    for (size_t i = 0; i < k; i++) {
        double d = load_f64(p + 8 * i);
        memcpy(out->p + out->n, &d, 8);
        out->n += 8;
    }
#endif
}

/* HistogramProto: validates, counts bucket_limit (6) and bucket (7) elements; with `out`
 * non-NULL also appends them. */
typedef struct {
    double stats[5];
    size_t nlimits, nbuckets;
} Histo;

static int read_histo(Rd r, Histo *h, Buf *limits, Buf *buckets) {
    uint32_t seen = 0, f;
    int wt;
    const uint8_t *at;
    Rd s;
    memset(h, 0, sizeof(*h));
    while (r.p < r.end) {
        if (rd_key(&r, &f, &wt)) return -1;
        if (f >= 1 && f <= 5 && wt == WT_I64) {
            ONCE(f);
            if (rd_fixed(&r, 8, &at)) return -1;
            h->stats[f - 1] = load_f64(at);
        } else if ((f == 6 || f == 7) && (wt == WT_LEN || wt == WT_I64)) {
            Buf *out = f == 6 ? limits : buckets;
            size_t *count = f == 6 ? &h->nlimits : &h->nbuckets;
            if (wt == WT_LEN) {
                if (rd_len(&r, &s) || (s.end - s.p) % 8) return -1;
            } else {
                if (rd_fixed(&r, 8, &at)) return -1;
                s.p = at;
                s.end = at + 8;
            }
            size_t k = (size_t)(s.end - s.p) / 8;
            *count += k;
            if (out) {
                if (buf_reserve(out, k * 8)) return -2;
                append_doubles(out, s.p, k);
            }
        } else
            return -1;
    }
    return 0;
}

/* Element counts at or above this are all alike to the text rule (a record holds fewer
 * strings), so a shape's product saturates here instead of overflowing. */
#define SIZE_CAP ((uint64_t)1 << 40)

/* TensorShapeProto: all dims known and of size 1 -> *ones = 1; *rank = its number of dims,
 * -1 when unknown_rank is set; *size = the product of the dims (saturating at SIZE_CAP),
 * UINT64_MAX when a dim is unknown (negative). */
static int read_shape(Rd r, int *ones, int64_t *rank, uint64_t *size_out) {
    uint32_t seen = 0, f;
    int wt;
    Rd s, d;
    uint64_t v;
    int negative = 0;
    *ones = 1;
    *rank = 0;
    *size_out = 1;
    while (r.p < r.end) {
        if (rd_key(&r, &f, &wt)) return -1;
        if (f == 2 && wt == WT_LEN) {
            if (rd_len(&r, &d)) return -1;
            if (*rank >= 0) ++*rank;
            uint32_t dseen = 0, df;
            int64_t size = 0;
            while (d.p < d.end) {
                if (rd_key(&d, &df, &wt)) return -1;
                if (df == 1 && wt == WT_VARINT) {
                    if (dseen & 2u) return -1;
                    dseen |= 2u;
                    if (rd_varint(&d, &v)) return -1;
                    size = (int64_t)v;
                } else if (df == 2 && wt == WT_LEN) {
                    if (dseen & 4u) return -1;
                    dseen |= 4u;
                    if (rd_string(&d, &s)) return -1;
                } else
                    return -1;
            }
            if (size != 1) *ones = 0;
            if (size < 0)
                negative = 1;
            else if (*size_out && (uint64_t)size >= SIZE_CAP / *size_out)
                *size_out = size ? SIZE_CAP : 0;
            else
                *size_out *= (uint64_t)size;
        } else if (f == 3 && wt == WT_VARINT) {
            ONCE(3);
            if (rd_varint(&r, &v)) return -1;
            if (v) {
                *ones = 0;
                *rank = -1;
            }
        } else
            return -1;
    }
    if (negative) *size_out = UINT64_MAX;
    return 0;
}

/* Text tensors the index decodes: DT_STRING of a known shape of at most this many dims
 * whose string_val lists exactly its elements (index.text_shape, the same rule). */
#define DT_STRING 7
#define MAX_TEXT_RANK 32

/* TensorProto: validates; a one-element DT_FLOAT/DT_DOUBLE tensor in its plainest encodings
 * gives *value and *is_scalar = 1 (float) or 2 (double), the rule of
 * index._simple_tensor_scalar; a text tensor (MAX_TEXT_RANK) sets *is_text. */
static int read_tensor(Rd r, int *is_scalar, double *value, int *is_text) {
    uint32_t seen = 0, f;
    int wt;
    Rd s;
    uint64_t v;
    const uint8_t *at;
    int32_t dtype = 0;
    int ones = 1;
    int64_t rank = 0;
    const uint8_t *content = NULL;
    size_t content_len = 0;
    size_t nfloat = 0, ndouble = 0, nstring = 0;
    uint64_t size = 1;
    const uint8_t *first_float = NULL, *first_double = NULL;
    *is_scalar = 0;
    *is_text = 0;
    while (r.p < r.end) {
        if (rd_key(&r, &f, &wt)) return -1;
        switch (f) {
        case 1: /* dtype */
        case 3: /* version_number */
            if (wt != WT_VARINT) return -1;
            ONCE(f);
            if (rd_varint(&r, &v)) return -1;
            if (f == 1) dtype = (int32_t)(uint32_t)v;
            break;
        case 2:
            if (wt != WT_LEN) return -1;
            ONCE(2);
            if (rd_len(&r, &s) || read_shape(s, &ones, &rank, &size)) return -1;
            break;
        case 4:
        case 18: /* tensor_content, float8_val */
            if (wt != WT_LEN) return -1;
            ONCE(f);
            if (rd_len(&r, &s)) return -1;
            if (f == 4) {
                content = s.p;
                content_len = (size_t)(s.end - s.p);
            }
            break;
        case 5:
        case 9: /* float_val, scomplex_val */
            if (wt == WT_LEN) {
                if (rd_len(&r, &s) || (s.end - s.p) % 4) return -1;
                if (f == 5) {
                    if (!nfloat && s.end > s.p) first_float = s.p;
                    nfloat += (size_t)(s.end - s.p) / 4;
                }
            } else if (wt == WT_I32) {
                if (rd_fixed(&r, 4, &at)) return -1;
                if (f == 5) {
                    if (!nfloat) first_float = at;
                    nfloat++;
                }
            } else
                return -1;
            break;
        case 6:
        case 12: /* double_val, dcomplex_val */
            if (wt == WT_LEN) {
                if (rd_len(&r, &s) || (s.end - s.p) % 8) return -1;
                if (f == 6) {
                    if (!ndouble && s.end > s.p) first_double = s.p;
                    ndouble += (size_t)(s.end - s.p) / 8;
                }
            } else if (wt == WT_I64) {
                if (rd_fixed(&r, 8, &at)) return -1;
                if (f == 6) {
                    if (!ndouble) first_double = at;
                    ndouble++;
                }
            } else
                return -1;
            break;
        case 7:
        case 10:
        case 11:
        case 13:
        case 16:
        case 17: /* int_val, int64_val, bool_val, half_val, uint32_val, uint64_val */
            if (wt == WT_LEN) {
                if (rd_len(&r, &s) || skip_varints(&s)) return -1;
            } else if (wt == WT_VARINT) {
                if (rd_varint(&r, &v)) return -1;
            } else
                return -1;
            break;
        case 8: /* string_val (bytes: any contents) */
            if (wt != WT_LEN || rd_len(&r, &s)) return -1;
            nstring++;
            break;
        default:
            return -1;
        }
    }
    if (dtype == DT_STRING && rank >= 0 && rank <= MAX_TEXT_RANK && size == (uint64_t)nstring)
        *is_text = 1;
    if ((dtype == 1 || dtype == 2) && ones) {
        if (content_len) {
            if (dtype == 1 && content_len == 4) {
                *is_scalar = 1;
                *value = (double)load_f32(content);
            } else if (dtype == 2 && content_len == 8) {
                *is_scalar = 2;
                *value = load_f64(content);
            }
        } else if (dtype == 1 && nfloat == 1) {
            *is_scalar = 1;
            *value = (double)load_f32(first_float);
        } else if (dtype == 2 && ndouble == 1) {
            *is_scalar = 2;
            *value = load_f64(first_double);
        }
    }
    return 0;
}

typedef struct {
    const uint8_t *tag;
    size_t tag_len;
    const uint8_t *meta;
    size_t meta_len; /* meta == NULL: absent */
    uint8_t oneof, col;
    double scalar;
    Rd histo, tensor; /* a COL_HISTO's HistogramProto, a COL_STRINGS's TensorProto */
    ImageInfo image;
    AudioInfo audio;
} Value;

typedef struct {
    Value *items;
    size_t n, cap;
} Values;

static int read_value(Rd r, Value *out) {
    uint32_t seen = 0, f;
    int wt, oneofs = 0;
    Rd s, tag = {NULL, NULL}, node = {NULL, NULL};
    const uint8_t *at;
    memset(out, 0, sizeof(*out));
    out->scalar = __builtin_nan("");
    while (r.p < r.end) {
        if (rd_key(&r, &f, &wt)) return -1;
        switch (f) {
        case 1:
        case 7:
            if (wt != WT_LEN) return -1;
            ONCE(f);
            if (rd_string(&r, f == 1 ? &tag : &node)) return -1;
            break;
        case 9:
            if (wt != WT_LEN) return -1;
            ONCE(9);
            if (rd_len(&r, &s) || check_metadata(s)) return -1;
            out->meta = s.p;
            out->meta_len = (size_t)(s.end - s.p);
            break;
        case 2:
            if (wt != WT_I32 || rd_fixed(&r, 4, &at)) return -1;
            oneofs++;
            out->oneof = ONEOF_SIMPLE;
            out->col = COL_SCALAR;
            out->scalar = (double)load_f32(at);
            break;
        case 3:
        case 4:
        case 5:
        case 6:
        case 8: {
            if (wt != WT_LEN || rd_len(&r, &s)) return -1;
            oneofs++;
            if (f == 3) {
                out->oneof = ONEOF_OBSOLETE;
            } else if (f == 4) {
                out->oneof = ONEOF_IMAGE;
                if (read_image(s, &out->image)) return -1;
                out->col = COL_IMAGE;
            } else if (f == 6) {
                out->oneof = ONEOF_AUDIO;
                if (read_audio(s, &out->audio)) return -1;
                out->col = COL_AUDIO;
            } else if (f == 5) {
                Histo h;
                out->oneof = ONEOF_HISTO;
                if (read_histo(s, &h, NULL, NULL)) return -1;
                out->histo = s;
                out->col = h.nlimits == h.nbuckets ? COL_HISTO : COL_NONE;
            } else {
                int is_scalar = 0, is_text = 0;
                double value = 0;
                out->oneof = ONEOF_TENSOR;
                if (read_tensor(s, &is_scalar, &value, &is_text)) return -1;
                if (is_scalar) {
                    out->col = is_scalar == 2 ? COL_SCALAR64 : COL_SCALAR;
                    out->scalar = value;
                } else if (is_text) {
                    out->col = COL_STRINGS;
                    out->tensor = s;
                }
            }
            break;
        }
        default:
            return -1;
        }
    }
    if (oneofs > 1) return -1; /* a oneof set twice: protobuf keeps the last; let it decide */
    if (tag.p && tag.end > tag.p) {
        out->tag = tag.p;
        out->tag_len = (size_t)(tag.end - tag.p);
    } else if (node.p) {
        out->tag = node.p;
        out->tag_len = (size_t)(node.end - node.p);
    } else {
        out->tag = (const uint8_t *)"";
        out->tag_len = 0;
    }
    return 0;
}

typedef struct {
    double wall_time;
    int64_t step;
    uint8_t what;
} EventInfo;

static int read_event(Rd r, EventInfo *ev, Values *values) {
    uint32_t seen = 0, f;
    int wt, whats = 0;
    Rd s, m, w;
    const uint8_t *at;
    uint64_t v;
    ev->wall_time = 0;
    ev->step = 0;
    ev->what = 0;
    values->n = 0;
    while (r.p < r.end) {
        if (rd_key(&r, &f, &wt)) return -1;
        switch (f) {
        case 1:
            if (wt != WT_I64 || rd_fixed(&r, 8, &at)) return -1;
            ev->wall_time = load_f64(at);
            break;
        case 2:
            if (wt != WT_VARINT || rd_varint(&r, &v)) return -1;
            ev->step = (int64_t)v;
            break;
        case 3:
            if (wt != WT_LEN || rd_string(&r, &s)) return -1;
            whats++;
            ev->what = 1;
            break;
        case 4:
        case 9:
            if (wt != WT_LEN || rd_len(&r, &s)) return -1;
            whats++;
            ev->what = f == 4 ? 2 : 7;
            break;
        case 5:
            if (wt != WT_LEN || rd_len(&r, &s)) return -1;
            whats++;
            ev->what = 3;
            while (s.p < s.end) {
                uint32_t sf;
                if (rd_key(&s, &sf, &wt) || sf != 1 || wt != WT_LEN || rd_len(&s, &m)) return -1;
                if (values->n == values->cap) {
                    size_t cap = values->cap ? values->cap * 2 : 16;
                    Value *items = PyMem_RawRealloc(values->items, cap * sizeof(Value));
                    if (!items) return -2;
                    values->items = items;
                    values->cap = cap;
                }
                if (read_value(m, &values->items[values->n])) return -1;
                values->n++;
            }
            break;
        case 10:
            if (wt != WT_LEN) return -1;
            ONCE(10);
            if (rd_len(&r, &s)) return -1;
            while (s.p < s.end) {
                uint32_t sf;
                if (rd_key(&s, &sf, &wt) || sf != 1 || wt != WT_LEN || rd_string(&s, &w))
                    return -1;
            }
            break;
        default:
            return -1; /* session_log, log_message, tagged_run_metadata, unknown fields */
        }
    }
    return whats > 1 ? -1 : 0;
}

/* ---- the scan ---------------------------------------------------------------------------- */
enum {
    R_OFFSET, R_LENGTH, R_WALL, R_STEP, R_WHAT,
    V_REC, V_WIDX, V_TAG, V_META, V_ONEOF, V_COL, V_SCALAR,
    H_MIN, H_MAX, H_NUM, H_SUM, H_SUMSQ, H_COUNT, H_LIMITS, H_BUCKETS,
    I_HEIGHT, I_WIDTH, I_COLORSPACE, I_START, I_LENGTH,
    A_RATE, A_CHANNELS, A_FRAMES, A_START, A_LENGTH, A_TYPE_START, A_TYPE_LENGTH,
    T_RANK, T_DIMS, T_COUNT, T_START, T_LENGTH,
    NCOLS
};

typedef struct {
    Buf col[NCOLS];
    Intern tags, metas;
    Values values;
} Scan;

/* A validated text tensor's dims and where each of its strings lies in the payload. */
static int push_text(Scan *sc, Rd r, const uint8_t *payload) {
    Buf *c = sc->col;
    uint32_t f;
    int wt;
    Rd s, d, name;
    uint64_t v;
    const uint8_t *at;
    int64_t rank = 0, count = 0;
    while (r.p < r.end) {
        if (rd_key(&r, &f, &wt)) return -1;
        if (wt == WT_LEN) {
            if (rd_len(&r, &s)) return -1;
            if (f == 8) {
                PUT(c[T_START], int64_t, (int64_t)(s.p - payload));
                PUT(c[T_LENGTH], int64_t, (int64_t)(s.end - s.p));
                count++;
            } else if (f == 2) { /* TensorShapeProto: each dim's size */
                while (s.p < s.end) {
                    if (rd_key(&s, &f, &wt)) return -1;
                    if (wt == WT_VARINT) {
                        if (rd_varint(&s, &v)) return -1;
                        continue;
                    }
                    if (wt != WT_LEN || rd_len(&s, &d)) return -1;
                    int64_t size = 0;
                    while (d.p < d.end) {
                        if (rd_key(&d, &f, &wt)) return -1;
                        if (wt == WT_VARINT) {
                            if (rd_varint(&d, &v)) return -1;
                            if (f == 1) size = (int64_t)v;
                        } else if (wt != WT_LEN || rd_len(&d, &name)) {
                            return -1;
                        }
                    }
                    PUT(c[T_DIMS], int64_t, size);
                    rank++;
                }
            }
        } else if (wt == WT_VARINT) {
            if (rd_varint(&r, &v)) return -1;
        } else if (rd_fixed(&r, wt == WT_I64 ? 8 : 4, &at)) {
            return -1;
        }
    }
    PUT(c[T_RANK], int64_t, rank);
    PUT(c[T_COUNT], int64_t, count);
    return 0;
}

static void scan_free(Scan *sc) {
    for (int i = 0; i < NCOLS; i++) PyMem_RawFree(sc->col[i].p);
    intern_free(&sc->tags);
    intern_free(&sc->metas);
    PyMem_RawFree(sc->values.items);
}

static int push_record(Scan *sc, int64_t offset, int64_t length, const EventInfo *ev,
                       int64_t rec, const uint8_t *payload) {
    Buf *c = sc->col;
    PUT(c[R_OFFSET], int64_t, offset);
    PUT(c[R_LENGTH], int64_t, length);
    PUT(c[R_WALL], double, ev->wall_time);
    PUT(c[R_STEP], int64_t, ev->step);
    PUT(c[R_WHAT], uint8_t, ev->what);
    for (size_t i = 0; i < sc->values.n; i++) {
        Value *v = &sc->values.items[i];
        int32_t tag = intern_get(&sc->tags, v->tag, v->tag_len);
        int32_t meta = -1;
        if (tag < 0) return -1;
        if (v->meta && v->meta_len) {
            meta = intern_get(&sc->metas, v->meta, v->meta_len);
            if (meta < 0) return -1;
        }
        PUT(c[V_REC], int64_t, rec);
        PUT(c[V_WIDX], int32_t, (int32_t)i);
        PUT(c[V_TAG], int32_t, tag);
        PUT(c[V_META], int32_t, meta);
        PUT(c[V_ONEOF], uint8_t, v->oneof);
        PUT(c[V_COL], uint8_t, v->col);
        PUT(c[V_SCALAR], double, v->scalar);
        if (v->col == COL_HISTO) {
            Histo h;
            if (read_histo(v->histo, &h, &c[H_LIMITS], &c[H_BUCKETS])) return -1;
            PUT(c[H_MIN], double, h.stats[0]);
            PUT(c[H_MAX], double, h.stats[1]);
            PUT(c[H_NUM], double, h.stats[2]);
            PUT(c[H_SUM], double, h.stats[3]);
            PUT(c[H_SUMSQ], double, h.stats[4]);
            PUT(c[H_COUNT], int64_t, (int64_t)h.nbuckets);
        } else if (v->col == COL_IMAGE) {
            PUT(c[I_HEIGHT], int64_t, v->image.height);
            PUT(c[I_WIDTH], int64_t, v->image.width);
            PUT(c[I_COLORSPACE], int64_t, v->image.colorspace);
            PUT(c[I_START], int64_t, (int64_t)(v->image.blob - payload));
            PUT(c[I_LENGTH], int64_t, (int64_t)v->image.blob_len);
        } else if (v->col == COL_AUDIO) {
            PUT(c[A_RATE], double, v->audio.sample_rate);
            PUT(c[A_CHANNELS], int64_t, v->audio.channels);
            PUT(c[A_FRAMES], int64_t, v->audio.frames);
            PUT(c[A_START], int64_t, (int64_t)(v->audio.blob - payload));
            PUT(c[A_LENGTH], int64_t, (int64_t)v->audio.blob_len);
            PUT(c[A_TYPE_START], int64_t, (int64_t)(v->audio.type - payload));
            PUT(c[A_TYPE_LENGTH], int64_t, (int64_t)v->audio.type_len);
        } else if (v->col == COL_STRINGS) {
            if (push_text(sc, v->tensor, payload)) return -1;
        }
    }
    return 0;
}

/* Room for about `rows` records and values in their columns from the start: growing them by
 * doubling would copy each several times. Failing to reserve is not an error here; the
 * columns grow as they need then. */
static void reserve_rows(Scan *sc, size_t rows) {
    static const size_t sizes[] = {8, 8, 8, 8, 1, 8, 4, 4, 4, 1, 1, 8}; /* R_OFFSET..V_SCALAR */
    for (int i = R_OFFSET; i <= V_SCALAR; i++) (void)buf_reserve(&sc->col[i], rows * sizes[i]);
}

static PyObject *intern_list(Intern *t, int as_str) {
    PyObject *list = PyList_New((Py_ssize_t)t->count);
    if (!list) return NULL;
    for (size_t i = 0; i < t->count; i++) {
        Slot *s = t->order[i];
        PyObject *o = as_str ? PyUnicode_DecodeUTF8(s->data, (Py_ssize_t)s->len, "strict")
                             : PyBytes_FromStringAndSize(s->data, (Py_ssize_t)s->len);
        if (!o) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, o);
    }
    return list;
}

/* The record at data[p..n) as far as its header tells: its length CRC, its size against
 * max_len, and whether it is complete. Returns 1 with *length set for a complete record
 * (its payload CRC not checked yet), 0 where framing stops (*stop: STOP_END for an
 * incomplete record or none, else why). Lengths come from the file: they are compared with
 * what is left (n - p, never negative), never added to an offset, which can wrap for
 * lengths near 2^64. */
static int frame_header(const uint8_t *data, size_t n, size_t p, uint64_t max_len,
                        uint64_t *length, int *stop) {
    *stop = STOP_END;
    if (p > n || n - p < 12) return 0;
    *length = load_u64(data + p);
    if (masked_crc(data + p, 8) != load_u32(data + p + 8)) {
        *stop = STOP_LENGTH_CRC;
        return 0;
    }
    if (*length > max_len) {
        *stop = STOP_TOO_LARGE;
        return 0;
    }
    return !(n - p < 16 || *length > n - p - 16);
}

/* frame_header, and then the payload CRC: 1 for a good record. */
static int frame_record(const uint8_t *data, size_t n, size_t p, uint64_t max_len,
                        uint64_t *length, int *stop) {
    if (!frame_header(data, n, p, max_len, length, stop)) return 0;
    const uint8_t *payload = data + p + 12;
    if (masked_crc(payload, (size_t)*length) != load_u32(payload + *length)) {
        *stop = STOP_DATA_CRC;
        return 0;
    }
    return 1;
}

static PyObject *growing_from_buf(Buf *b);

PyDoc_STRVAR(scan_doc,
"scan(buffer, pos, base, max_record_length) -> (pos, stop, columns, tags, metas)\n\n"
"Frame, CRC-check and decode the complete records of buffer from pos. base is the file\n"
"offset of buffer[0]. columns is a tuple of bytes-like Growing objects, handed over without\n"
"a copy (see tbtool.columnar.native).");

static PyObject *scan(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t pos;
    long long base, max_len;
    if (!PyArg_ParseTuple(args, "y*nLL", &view, &pos, &base, &max_len)) return NULL;
    /* A negative limit would turn into a huge unsigned one and disable the size check. */
    if (pos < 0 || base < 0 || max_len < 0 || base > INT64_MAX - (long long)view.len) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError,
                        "scan: pos, base and max_record_length must be >= 0 (and base + "
                        "len(buffer) fit in 63 bits)");
        return NULL;
    }
    const uint8_t *data = view.buf;
    size_t n = (size_t)view.len;
    size_t p = (size_t)pos;
    int stop = STOP_END, failed = 0;
    int64_t rec = 0;
    Scan sc;
    memset(&sc, 0, sizeof(sc));
    Py_BEGIN_ALLOW_THREADS
    if (n > p && n - p >= 8) { /* as many rows as records the size of the first would fill */
        uint64_t first = load_u64(data + p); /* unchecked yet: only a guess, bounded by n */
        uint64_t size = first < 24 ? 40 : first > (1u << 20) ? (1u << 20) : first + 16;
        reserve_rows(&sc, (n - p) / size);
    }
    uint64_t length;
    while (frame_record(data, n, p, (uint64_t)max_len, &length, &stop)) {
        const uint8_t *payload = data + p + 12;
        EventInfo ev;
        Rd r = {payload, payload + length};
        int rc = read_event(r, &ev, &sc.values);
        if (rc == -2) {
            failed = 1;
            break;
        }
        if (rc) {
            stop = STOP_PYTHON;
            break;
        }
        if (push_record(&sc, base + (int64_t)p, (int64_t)length, &ev, rec, payload)) {
            failed = 1;
            break;
        }
        rec++;
        p += 16 + (size_t)length;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (failed) {
        scan_free(&sc);
        return PyErr_NoMemory();
    }
    PyObject *cols = PyTuple_New(NCOLS);
    PyObject *tags = intern_list(&sc.tags, 1);
    PyObject *metas = intern_list(&sc.metas, 0);
    if (!cols || !tags || !metas) goto error;
    for (int i = 0; i < NCOLS; i++) {
        PyObject *b = growing_from_buf(&sc.col[i]); /* takes the column over: no copy */
        if (!b) goto error;
        PyTuple_SET_ITEM(cols, i, b);
    }
    scan_free(&sc);
    return Py_BuildValue("(niNNN)", (Py_ssize_t)p, stop, cols, tags, metas);
error:
    Py_XDECREF(cols);
    Py_XDECREF(tags);
    Py_XDECREF(metas);
    scan_free(&sc);
    return NULL;
}

PyDoc_STRVAR(frame_doc,
"frame(buffer, pos, max_record_length) -> (pos, stop, records)\n\n"
"Frame and CRC-check (both CRCs) the complete records of buffer from pos without decoding\n"
"them: how verification reads back a rewritten file at I/O speed. stop says why framing\n"
"ended (STOP_* of tbtool.columnar.framing; STOP_END: at an incomplete or no record).");

/* The arguments (buffer, pos, max_record_length) of frame and session_logs; 0 when they
 * do not parse or are negative (the error set; a negative limit would turn into a huge
 * unsigned one and disable the size check, as for scan). */
static int framing_args(PyObject *args, const char *name, Py_buffer *view, Py_ssize_t *pos,
                        long long *max_len) {
    if (!PyArg_ParseTuple(args, "y*nL", view, pos, max_len)) return 0;
    if (*pos < 0 || *max_len < 0) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_ValueError, "%s: pos and max_record_length must be >= 0", name);
        return 0;
    }
    return 1;
}

static PyObject *frame(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t pos;
    long long max_len;
    if (!framing_args(args, "frame", &view, &pos, &max_len)) return NULL;
    const uint8_t *data = view.buf;
    size_t n = (size_t)view.len;
    size_t p = (size_t)pos;
    int stop = STOP_END;
    long long records = 0;
    uint64_t length;
    Py_BEGIN_ALLOW_THREADS
    while (frame_record(data, n, p, (uint64_t)max_len, &length, &stop)) {
        records++;
        p += 16 + (size_t)length;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return Py_BuildValue("(niL)", (Py_ssize_t)p, stop, records);
}

/* ---- records that may hold a SessionLog (restarts, without decoding the rest) ------------ */
/* 0 only if the Event in r certainly holds no session_log (field 7): its top-level fields
 * all parse and none is field 7, whatever their order. Anything unusual answers 1, and
 * protobuf decides. */
static int may_hold_session_log(Rd r) {
    uint32_t f;
    int wt;
    uint64_t v;
    Rd s;
    const uint8_t *at;
    while (r.p < r.end) {
        if (rd_key(&r, &f, &wt) || f == 7) return 1;
        if (wt == WT_VARINT) {
            if (rd_varint(&r, &v)) return 1;
        } else if (wt == WT_I64 || wt == WT_I32) {
            if (rd_fixed(&r, wt == WT_I64 ? 8 : 4, &at)) return 1;
        } else if (wt == WT_LEN) {
            if (rd_len(&r, &s)) return 1;
        } else
            return 1;
    }
    return 0;
}

PyDoc_STRVAR(session_logs_doc,
"session_logs(buffer, pos, max_record_length) -> (pos, stop, records, offsets, numbers)\n\n"
"Frame the complete records of buffer from pos (length CRC and size, as scan) and skim each\n"
"Event's top level: offsets (int64 buffer positions) and numbers (int64, counted from pos)\n"
"of the records that may hold a session_log in any field order, whose payload CRC holds.\n"
"A record with a bad payload CRC is passed over, as reading with skip_corrupt passes it.\n"
"How purge semantics find restarts ahead of a read at about I/O speed.");

static PyObject *session_logs(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t pos;
    long long max_len;
    if (!framing_args(args, "session_logs", &view, &pos, &max_len)) return NULL;
    const uint8_t *data = view.buf;
    size_t n = (size_t)view.len;
    size_t p = (size_t)pos;
    int stop = STOP_END, failed = 0;
    long long records = 0;
    uint64_t length;
    Buf offsets = {NULL, 0, 0}, numbers = {NULL, 0, 0};
    Py_BEGIN_ALLOW_THREADS
    while (frame_header(data, n, p, (uint64_t)max_len, &length, &stop)) {
        const uint8_t *payload = data + p + 12;
        Rd r = {payload, payload + length};
        if (may_hold_session_log(r) &&
            masked_crc(payload, (size_t)length) == load_u32(payload + length)) {
            int64_t at = (int64_t)p, number = (int64_t)records;
            if (buf_put(&offsets, &at, 8) || buf_put(&numbers, &number, 8)) {
                failed = 1;
                break;
            }
        }
        records++;
        p += 16 + (size_t)length;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    PyObject *result = NULL;
    if (failed)
        PyErr_NoMemory();
    else
        result = Py_BuildValue("(niLy#y#)", (Py_ssize_t)p, stop, records,
                               offsets.p ? offsets.p : "", (Py_ssize_t)offsets.n,
                               numbers.p ? numbers.p : "", (Py_ssize_t)numbers.n);
    PyMem_RawFree(offsets.p);
    PyMem_RawFree(numbers.p);
    return result;
}

static PyObject *masked_crc32c(PyObject *self, PyObject *args) {
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "y*", &view)) return NULL;
    uint32_t c = masked_crc(view.buf, (size_t)view.len);
    PyBuffer_Release(&view);
    return PyLong_FromUnsignedLong(c);
}

static PyObject *hardware_crc(PyObject *self, PyObject *noargs) {
    return PyBool_FromLong(crc_impl != CRC_SOFTWARE);
}

static const char *const crc_names[] = {"software", "sse4.2", "armv8"};

static PyObject *crc_path(PyObject *self, PyObject *noargs) {
    return PyUnicode_FromString(crc_names[crc_impl]);
}

/* Not synchronized with running scans: meant for tests, between calls. */
static PyObject *set_hardware_crc(PyObject *self, PyObject *arg) {
    int on = PyObject_IsTrue(arg);
    if (on < 0) return NULL;
    crc_impl = on ? crc_hw_kind : CRC_SOFTWARE;
    return PyUnicode_FromString(crc_names[crc_impl]);
}

/* ---- tensor ranks (for tbtool.compat: a scalar tensor of shape [] vs [1]) ---------------- */
/* The last length-delimited field `field` of message `r`, skipping every other field;
 * returns how many there were, -1 on bytes that do not parse. */
static int last_len_field(Rd r, uint32_t field, Rd *out) {
    uint32_t f;
    int wt, count = 0;
    Rd s;
    uint64_t v;
    const uint8_t *at;
    while (r.p < r.end) {
        if (rd_key(&r, &f, &wt)) return -1;
        if (wt == WT_LEN) {
            if (rd_len(&r, &s)) return -1;
            if (f == field) {
                *out = s;
                count++;
            }
        } else if (wt == WT_VARINT) {
            if (rd_varint(&r, &v)) return -1;
        } else if (wt == WT_I64 || wt == WT_I32) {
            if (rd_fixed(&r, wt == WT_I64 ? 8 : 4, &at)) return -1;
        } else
            return -1;
    }
    return count;
}

/* The rank of the TensorProto of value `widx` of the Event in `r`: the number of dims of its
 * shape, or -1 if the value is not a tensor, the rank is unknown or above 127, or anything
 * about the bytes is unusual (a field twice, another wire type): the caller then asks
 * protobuf. */
static int value_tensor_rank(Rd r, int64_t widx) {
    uint32_t f;
    int wt, ones;
    int64_t rank;
    Rd s, summary = {NULL, NULL}, value = {NULL, NULL}, tensor = {NULL, NULL};
    Rd shape = {NULL, NULL};
    if (last_len_field(r, 5, &summary) != 1) return -1; /* Event.summary */
    int64_t i = 0;
    while (summary.p < summary.end) { /* Summary: repeated Value value = 1 */
        if (rd_key(&summary, &f, &wt) || f != 1 || wt != WT_LEN || rd_len(&summary, &s)) return -1;
        if (i++ == widx) value = s;
    }
    if (!value.p) return -1;
    int tensors = 0;
    while (value.p < value.end) { /* Summary.Value */
        if (rd_key(&value, &f, &wt)) return -1;
        if (wt == WT_LEN) {
            if (rd_len(&value, &s)) return -1;
            if (f == 8) {
                tensor = s;
                tensors++;
            } else if (f >= 3 && f <= 6) {
                return -1; /* another oneof case: protobuf keeps the last one */
            }
        } else
            return -1; /* simple_value (another oneof case) or unusual bytes */
    }
    if (tensors != 1) return -1;
    int shapes = last_len_field(tensor, 2, &shape); /* TensorProto.tensor_shape */
    if (shapes < 0 || shapes > 1) return -1;
    if (!shapes) return 0; /* no shape: rank 0 */
    uint64_t size;
    if (read_shape(shape, &ones, &rank, &size) || rank > 127) return -1;
    return (int)rank;
}

static PyObject *tensor_ranks(PyObject *self, PyObject *args) {
    Py_buffer data, offsets, lengths, widxs;
    long long base;
    if (!PyArg_ParseTuple(args, "y*Ly*y*y*", &data, &base, &offsets, &lengths, &widxs))
        return NULL;
    Py_ssize_t n = offsets.len / 8;
    PyObject *out = NULL;
    if (lengths.len / 8 != n || widxs.len / 4 != n) {
        PyErr_SetString(PyExc_ValueError, "offsets, lengths and widx differ in length");
        goto done;
    }
    out = PyBytes_FromStringAndSize(NULL, n);
    if (!out) goto done;
    int8_t *ranks = (int8_t *)PyBytes_AS_STRING(out);
    const uint8_t *buf = data.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t offset, length;
        int32_t widx;
        memcpy(&offset, (const char *)offsets.buf + 8 * i, 8);
        memcpy(&length, (const char *)lengths.buf + 8 * i, 8);
        memcpy(&widx, (const char *)widxs.buf + 4 * i, 4);
        int64_t start = offset - base + 12;
        if (start < 0 || length < 0 || start > (int64_t)data.len ||
            length > (int64_t)data.len - start) {
            ranks[i] = -1;
            continue;
        }
        Rd r = {buf + start, buf + start + length};
        ranks[i] = (int8_t)value_tensor_rank(r, widx);
    }
    Py_END_ALLOW_THREADS
done:
    PyBuffer_Release(&data);
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&lengths);
    PyBuffer_Release(&widxs);
    return out;
}

/* ---- histogram rows, as TensorBoard's Python loader shows them ---------------------------- */
PyDoc_STRVAR(decode_strings_doc,
"decode_strings(buffer, starts, lengths) -> list of str\n\n"
"buffer[starts[i]:starts[i] + lengths[i]] (int64 columns) decoded as UTF-8 with invalid\n"
"bytes replaced, as bytes.decode(\"utf-8\", \"replace\") does: text cells straight from a\n"
"read buffer, without a bytes object per string.");

static PyObject *decode_strings(PyObject *self, PyObject *args) {
    Py_buffer data, st, ln;
    if (!PyArg_ParseTuple(args, "y*y*y*", &data, &st, &ln)) return NULL;
    PyObject *list = NULL;
    if (st.len != ln.len || st.len % 8) {
        PyErr_SetString(PyExc_ValueError, "decode_strings: starts and lengths differ");
        goto done;
    }
    Py_ssize_t n = st.len / 8;
    const int64_t *starts = st.buf, *lengths = ln.buf;
    for (Py_ssize_t i = 0; i < n; i++) /* all in range before any is read */
        if (starts[i] < 0 || lengths[i] < 0 || starts[i] > data.len ||
            lengths[i] > data.len - starts[i]) {
            PyErr_SetString(PyExc_ValueError, "decode_strings: a string outside the buffer");
            goto done;
        }
    list = PyList_New(n);
    if (!list) goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *text = PyUnicode_DecodeUTF8((const char *)data.buf + starts[i],
                                              (Py_ssize_t)lengths[i], "replace");
        if (!text) {
            Py_CLEAR(list);
            goto done;
        }
        PyList_SET_ITEM(list, i, text);
    }
done:
    PyBuffer_Release(&data);
    PyBuffer_Release(&st);
    PyBuffer_Release(&ln);
    return list;
}

PyDoc_STRVAR(histogram_rows_doc,
"histogram_rows(limits, buckets, counts, mins, maxs, entries) -> (offsets, left, right, count)\n\n"
"The rows of the histogram entries `entries` (int64) of an index: entry e has counts[e]\n"
"(int64) buckets of limits/buckets (float64), in order. Each row keeps the buckets from\n"
"the first to the last that is not 0 (none if all are), with edges: left the previous\n"
"limit, right the bucket's limit; the first left is the entry's min, the last right its\n"
"max (the rule of normalize.histogram_from_proto). offsets (int64, one more than entries)\n"
"bound each row's part of left/right/count (float64).");

static PyObject *histogram_rows(PyObject *self, PyObject *args) {
    Py_buffer lim, buc, cnt, mn, mx, ent;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*", &lim, &buc, &cnt, &mn, &mx, &ent)) return NULL;
    PyObject *result = NULL;
    Buf offsets = {NULL, 0, 0}, left = {NULL, 0, 0}, right = {NULL, 0, 0}, count = {NULL, 0, 0};
    Py_ssize_t entries = cnt.len / 8, rows = ent.len / 8, values = lim.len / 8;
    int64_t *starts = NULL;
    if (buc.len != lim.len || mn.len != cnt.len || mx.len != cnt.len || lim.len % 8 ||
        cnt.len % 8 || ent.len % 8) {
        PyErr_SetString(PyExc_ValueError, "histogram_rows: columns of different lengths");
        goto done;
    }
    starts = PyMem_RawMalloc((size_t)(entries + 1) * 8);
    if (!starts) {
        PyErr_NoMemory();
        goto done;
    }
    const int64_t *counts = cnt.buf, *wanted = ent.buf;
    const double *limits = lim.buf, *bucket = buc.buf, *mins = mn.buf, *maxs = mx.buf;
    starts[0] = 0;
    for (Py_ssize_t e = 0; e < entries; e++) {
        if (counts[e] < 0 || counts[e] > values - starts[e]) {
            PyErr_SetString(PyExc_ValueError, "histogram_rows: counts exceed the buckets");
            goto done;
        }
        starts[e + 1] = starts[e] + counts[e];
    }
    int failed = 0;
    int64_t at = 0;
    if (buf_put(&offsets, &at, 8)) failed = 1;
    for (Py_ssize_t r = 0; r < rows && !failed; r++) {
        int64_t e = wanted[r];
        if (e < 0 || e >= entries) {
            PyErr_SetString(PyExc_ValueError, "histogram_rows: an entry out of range");
            goto done;
        }
        int64_t first = starts[e], last = starts[e + 1] - 1;
        while (first <= last && bucket[first] == 0.0) first++;
        while (last >= first && bucket[last] == 0.0) last--;
        size_t k = first <= last ? (size_t)(last - first + 1) : 0;
        if (k) {
            if (buf_reserve(&left, k * 8) || buf_reserve(&right, k * 8) ||
                buf_reserve(&count, k * 8)) {
                failed = 1;
                break;
            }
            double *l = (double *)(left.p + left.n), *rt = (double *)(right.p + right.n);
            memcpy(count.p + count.n, bucket + first, k * 8);
            memcpy(rt, limits + first, k * 8);
            l[0] = mins[e];
            if (k > 1) memcpy(l + 1, limits + first, (k - 1) * 8);
            rt[k - 1] = maxs[e];
            left.n += k * 8;
            right.n += k * 8;
            count.n += k * 8;
        }
        at += (int64_t)k;
        if (buf_put(&offsets, &at, 8)) failed = 1;
    }
    if (failed) {
        PyErr_NoMemory();
        goto done;
    }
    result = PyTuple_New(4);
    Buf *outs[4] = {&offsets, &left, &right, &count};
    for (int i = 0; result && i < 4; i++) {
        PyObject *column = growing_from_buf(outs[i]);
        if (!column) {
            Py_CLEAR(result);
            break;
        }
        PyTuple_SET_ITEM(result, i, column);
    }
done:
    PyMem_RawFree(starts);
    PyMem_RawFree(offsets.p);
    PyMem_RawFree(left.p);
    PyMem_RawFree(right.p);
    PyMem_RawFree(count.p);
    PyBuffer_Release(&lim);
    PyBuffer_Release(&buc);
    PyBuffer_Release(&cnt);
    PyBuffer_Release(&mn);
    PyBuffer_Release(&mx);
    PyBuffer_Release(&ent);
    return result;
}

/* ---- growable columns: a table's final columns, built in place ----------------------------- */
/* Bytes appended at the end, grown with realloc (for large blocks glibc moves the mapping:
 * nothing is copied, and memory not yet written is never touched), never zero-filled. A
 * column read whole hands itself to numpy through the buffer protocol, writable and without
 * a copy; it cannot grow while such a view exists. */
typedef struct {
    PyObject_HEAD
    char *p;
    Py_ssize_t n, cap, exports;
} Growing;

static int growing_reserve(Growing *g, Py_ssize_t extra) {
    if (extra < 0 || extra > PY_SSIZE_T_MAX / 4 - g->n) {
        PyErr_NoMemory();
        return -1;
    }
    if (g->n + extra <= g->cap) return 0;
    if (g->exports) {
        PyErr_SetString(PyExc_BufferError, "Growing: cannot grow while a view of it exists");
        return -1;
    }
    Py_ssize_t cap = g->cap ? g->cap : 65536;
    while (cap < g->n + extra) cap *= 2;
    char *q = PyMem_RawRealloc(g->p, (size_t)cap);
    if (!q) {
        PyErr_NoMemory();
        return -1;
    }
    g->p = q;
    g->cap = cap;
    return 0;
}

static PyObject *growing_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    Growing *g = (Growing *)type->tp_alloc(type, 0);
    if (g) g->p = NULL;
    return (PyObject *)g;
}

static void growing_dealloc(Growing *g) {
    PyMem_RawFree(g->p);
    Py_TYPE(g)->tp_free((PyObject *)g);
}

static PyObject *growing_append(Growing *g, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_C_CONTIGUOUS) < 0) return NULL;
    int bad = growing_reserve(g, view.len);
    if (!bad && view.len) { /* g->p may still be NULL when nothing is added */
        memcpy(g->p + g->n, view.buf, (size_t)view.len);
        g->n += view.len;
    }
    PyBuffer_Release(&view);
    if (bad) return NULL;
    Py_RETURN_NONE;
}

static PyObject *growing_fill(Growing *g, PyObject *args) {
    Py_buffer item;
    Py_ssize_t count;
    if (!PyArg_ParseTuple(args, "y*n", &item, &count)) return NULL;
    int bad = count < 0 || item.len <= 0 || (count && item.len > PY_SSIZE_T_MAX / count);
    if (bad)
        PyErr_SetString(PyExc_ValueError, "fill: a non-empty item and a count >= 0");
    else
        bad = growing_reserve(g, item.len * count);
    if (!bad) {
        for (Py_ssize_t i = 0; i < count; i++) memcpy(g->p + g->n + i * item.len, item.buf, item.len);
        g->n += item.len * count;
    }
    PyBuffer_Release(&item);
    if (bad) return NULL;
    Py_RETURN_NONE;
}

static PyObject *growing_truncate(Growing *g, PyObject *arg) {
    Py_ssize_t n = PyNumber_AsSsize_t(arg, PyExc_OverflowError);
    if (n == -1 && PyErr_Occurred()) return NULL;
    if (n < 0 || n > g->n) {
        PyErr_SetString(PyExc_ValueError, "truncate: 0 <= size <= len");
        return NULL;
    }
    g->n = n;
    Py_RETURN_NONE;
}

/* compact(start, itemsize, keep): remove the items from byte start on whose keep byte (one
 * per item) is 0, in place, keeping the order. */
static PyObject *growing_compact(Growing *g, PyObject *args) {
    Py_ssize_t start, size;
    Py_buffer keep;
    if (!PyArg_ParseTuple(args, "nny*", &start, &size, &keep)) return NULL;
    if (size <= 0 || start < 0 || start > g->n || (g->n - start) % size ||
        keep.len != (g->n - start) / size) {
        PyBuffer_Release(&keep);
        PyErr_SetString(PyExc_ValueError, "compact: one keep byte per item from start on");
        return NULL;
    }
    const uint8_t *k = keep.buf;
    Py_ssize_t w = start;
    for (Py_ssize_t i = 0; i < keep.len; i++) {
        if (!k[i]) continue;
        Py_ssize_t r = start + i * size;
        if (r != w) memmove(g->p + w, g->p + r, (size_t)size);
        w += size;
    }
    g->n = w;
    PyBuffer_Release(&keep);
    Py_RETURN_NONE;
}

/* shrink(): give back the capacity not used (before the column is handed over). */
static PyObject *growing_shrink(Growing *g, PyObject *noargs) {
    if (g->n && g->n < g->cap && !g->exports) {
        char *q = PyMem_RawRealloc(g->p, (size_t)g->n);
        if (q) {
            g->p = q;
            g->cap = g->n;
        }
    }
    Py_RETURN_NONE;
}

static Py_ssize_t growing_len(Growing *g) { return g->n; }

static int growing_getbuffer(Growing *g, Py_buffer *view, int flags) {
    static char empty[1];
    int rc = PyBuffer_FillInfo(view, (PyObject *)g, g->p ? g->p : empty, g->n, 0, flags);
    if (rc == 0) g->exports++;
    return rc;
}

static void growing_releasebuffer(Growing *g, Py_buffer *view) { g->exports--; }

static PyMethodDef growing_methods[] = {
    {"append", (PyCFunction)growing_append, METH_O, "append(bytes-like): add its bytes."},
    {"fill", (PyCFunction)growing_fill, METH_VARARGS, "fill(item, count): add count copies."},
    {"truncate", (PyCFunction)growing_truncate, METH_O, "truncate(size): keep size bytes."},
    {"compact", (PyCFunction)growing_compact, METH_VARARGS,
     "compact(start, itemsize, keep): drop the items from byte start whose keep byte is 0."},
    {"shrink", (PyCFunction)growing_shrink, METH_NOARGS, "shrink(): release unused capacity."},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods growing_sequence = {.sq_length = (lenfunc)growing_len};
static PyBufferProcs growing_buffer = {(getbufferproc)growing_getbuffer,
                                       (releasebufferproc)growing_releasebuffer};

static PyTypeObject GrowingType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "tbtool.columnar._columnar.Growing",
    .tp_basicsize = sizeof(Growing),
    .tp_dealloc = (destructor)growing_dealloc,
    .tp_as_sequence = &growing_sequence,
    .tp_as_buffer = &growing_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Bytes appended in place (a table column being read whole); see tbtool.columnar.whole.",
    .tp_methods = growing_methods,
    .tp_new = growing_new,
};

/* A Growing that takes over b's memory (b is left empty). */
static PyObject *growing_from_buf(Buf *b) {
    Growing *g = (Growing *)GrowingType.tp_alloc(&GrowingType, 0);
    if (!g) return NULL;
    g->p = b->p;
    g->n = (Py_ssize_t)b->n;
    g->cap = (Py_ssize_t)b->cap;
    b->p = NULL;
    b->n = b->cap = 0;
    if (g->n * 2 < g->cap) { /* give back what doubling over-reserved */
        char *q = PyMem_RawRealloc(g->p, (size_t)(g->n ? g->n : 1));
        if (q) {
            g->p = q;
            g->cap = g->n;
        }
    }
    return (PyObject *)g;
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS, scan_doc},
    {"frame", frame, METH_VARARGS, frame_doc},
    {"session_logs", session_logs, METH_VARARGS, session_logs_doc},
    {"histogram_rows", histogram_rows, METH_VARARGS, histogram_rows_doc},
    {"decode_strings", decode_strings, METH_VARARGS, decode_strings_doc},
    {"masked_crc32c", masked_crc32c, METH_VARARGS, "Masked CRC-32C of a bytes-like object."},
    {"hardware_crc", hardware_crc, METH_NOARGS,
     "Whether CRC-32C uses a CPU instruction (SSE4.2 or ARMv8 CRC32)."},
    {"crc_path", crc_path, METH_NOARGS,
     "The CRC-32C code in use: 'sse4.2', 'armv8' or 'software' (slicing-by-8)."},
    {"set_hardware_crc", set_hardware_crc, METH_O,
     "set_hardware_crc(on) -> path: use the CPU's CRC-32C instruction if it has one (True) or\n"
     "the software path (False); returns crc_path(). For tests; not while a scan runs."},
    {"tensor_ranks", tensor_ranks, METH_VARARGS,
     "tensor_ranks(buf, base, offsets, lengths, widx): int8 rank of each value's tensor, -1 "
     "when unsure."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_columnar",
    "Bulk decoder of TensorBoard event records (see tbtool.columnar).", -1, methods,
};

PyMODINIT_FUNC PyInit__columnar(void) {
    crc_init();
    if (PyType_Ready(&GrowingType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&GrowingType);
    if (PyModule_AddObject(m, "Growing", (PyObject *)&GrowingType) < 0) {
        Py_DECREF(&GrowingType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
