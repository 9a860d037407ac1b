/* TL schema parser and registry (Lua-free).
 *
 * A registry holds the combinators (constructors and methods) of one or more
 * .tl texts: by id, by name, and per abstract type the list of its
 * constructors. Every name (combinator, type, parameter) is interned once and
 * gets a small dense integer, so bindings can keep one pre-made string per
 * name in an array. Later texts add to and override earlier ones: a
 * combinator whose name exists already replaces it (the old id keeps
 * decoding, under the same name).
 *
 * Lines marked "By hand" in mtproto.tl are comments here; the codec handles
 * message, msg_container, msg_copy, rpc_result and gzip_packed itself. The
 * built-in `vector` line is skipped: Vector<T>/vector<T> are type kinds. */
#ifndef MT_SCHEMA_H
#define MT_SCHEMA_H

#include <stddef.h>
#include <stdint.h>
#include "mt_map.h"
#include "mt_ids.h"

enum {
    MT_TL_INT, MT_TL_LONG, MT_TL_DOUBLE, MT_TL_INT128, MT_TL_INT256,
    MT_TL_STRING, MT_TL_BYTES,
    MT_TL_BOOL,    /* boxed Bool, a boolean to the user */
    MT_TL_TRUE,    /* bare `true`: a flag bit, no bytes */
    MT_TL_FLAGS,   /* `#`: computed from the optional fields */
    MT_TL_VECTOR,  /* Vector<elem>: id MT_ID_VECTOR, count, elements */
    MT_TL_BVECTOR, /* vector<elem>: count, elements */
    MT_TL_OBJECT,  /* boxed abstract type `ref` (a type index) */
    MT_TL_BARE,    /* bare constructor, `ref` = its name id (resolved on use) */
    MT_TL_BARET,   /* %Type: bare, `ref` = a type index with one constructor */
    MT_TL_ANY,     /* !X, X, Object: any boxed object or method */
};

typedef struct mt_tl_tref {
    uint8_t kind;  /* MT_TL_* */
    int32_t ref;   /* type index or name id, see the kinds */
    int32_t elem;  /* vectors: index of the element's tref */
} mt_tl_tref;

typedef struct mt_tl_param {
    int32_t name;       /* name id */
    int32_t tref;       /* index into s->trefs */
    int16_t flag_param; /* index (within the combinator) of its `#` field, or -1 */
    uint8_t bit;        /* bit in that field */
} mt_tl_param;

typedef struct mt_tl_comb {
    uint32_t id;
    int32_t name;         /* name id */
    int32_t type;         /* constructors: index of the result type; methods: -1 */
    int32_t result;       /* methods: tref of the result; constructors: -1 */
    uint32_t param0;      /* first parameter in s->params */
    uint16_t nparams;
    uint8_t is_method;
    uint8_t nflags;       /* number of `#` parameters */
} mt_tl_comb;

typedef struct mt_tl_type {
    int32_t name;     /* name id */
    int32_t *ctors;   /* constructor (combinator) indices */
    uint32_t n, cap;
} mt_tl_type;

typedef struct mt_schema {
    mt_tl_comb *combs;   size_t ncombs, capcombs;
    mt_tl_param *params; size_t nparams, capparams;
    mt_tl_tref *trefs;   size_t ntrefs, captrefs;
    mt_tl_type *types;   size_t ntypes, captypes;
    /* interned names: pool of NUL-terminated strings; offsets by name id */
    char *pool;          size_t npool, cappool;
    uint32_t *noff;      size_t nnames, capnames;
    uint32_t *nhash;     size_t nhashcap;   /* open addressing: name id + 1, 0 empty */
    /* by name id: combinator/type index + 1, 0 none */
    int32_t *ctor_by_name, *method_by_name, *type_by_name; size_t capbyname;
    mt_map ids;          /* constructor id (see id_key) -> combinator index */
    int layer;           /* from a "layer N" comment, 0 if none */
} mt_schema;

/* Initialises an empty registry. */
void mt_schema_init(mt_schema *s);
/* Frees everything the registry holds (it holds no secrets). */
void mt_schema_free(mt_schema *s);

/* Parses a .tl text (not NUL-terminated; `len` bytes) and adds or overrides
 * its combinators. Declarations without #id get the CRC32 of their canonical
 * line. Returns the number of combinators added, MT_ERR_NOMEM, or
 * MT_ERR_ARG for a malformed declaration; then, if errline is not NULL,
 * *errline is its 1-based line number. A failed parse may have added the
 * declarations before the bad one. */
int mt_schema_parse(mt_schema *s, const char *text, size_t len, int *errline);
/* Parses the two texts embedded at build time (schema/mtproto.tl, api.tl). */
int mt_schema_load_builtin(mt_schema *s);

/* Lookups: combinator index, or -1. */
int mt_schema_by_id(const mt_schema *s, uint32_t id);
int mt_schema_ctor(const mt_schema *s, const char *name, size_t len);
int mt_schema_method(const mt_schema *s, const char *name, size_t len);
int mt_schema_type(const mt_schema *s, const char *name, size_t len);
/* Name id of a string, or -1 if it was never interned. */
int mt_schema_name_id(const mt_schema *s, const char *name, size_t len);
/* Name id of a string, interning it if new (for names the codec uses that
 * the schema lacks); MT_ERR_NOMEM on failure. */
int mt_schema_intern(mt_schema *s, const char *name, size_t len);
/* (lookup only) */
int mt_schema_name_id(const mt_schema *s, const char *name, size_t len);
/* The string of a name id (NUL-terminated, valid until the next parse). */
static inline const char *mt_schema_name(const mt_schema *s, int32_t name_id)
{
    return s->pool + s->noff[name_id];
}
/* The only constructor of a type, or -1 when it has none or several. */
static inline int mt_schema_single_ctor(const mt_schema *s, int32_t type)
{
    return s->types[type].n == 1 ? s->types[type].ctors[0] : -1;
}

/* Writes the canonical form of one declaration (without the trailing ';')
 * into out (cap bytes, NUL-terminated): the #id dropped, `name:flags.N?true`
 * parameters dropped, bytes -> string, `<` -> ' ', `>` `{` `}` removed,
 * spaces collapsed. Returns its length, or MT_ERR_RANGE if it does not fit. */
int mt_schema_canonical(const char *decl, size_t len, char *out, size_t cap);
/* CRC32 of the canonical form: the constructor id the line should carry. */
uint32_t mt_schema_line_crc(const char *decl, size_t len);

#endif
