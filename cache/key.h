/* key.h - object keys: XXH3-128 in canonical (big-endian) hex, and recipes.
 *
 * A source object's key is the hash of its bytes; a derived object's key is the hash of its
 * recipe, a canonical text listing the stage, its algorithm version, every parameter that can
 * change the result and the keys of its inputs (DESIGN.md "Objects and keys"). */
#ifndef AWQ_KEY_H
#define AWQ_KEY_H

#include <stddef.h>
#include <stdint.h>

#include "../base/error.h"

#define AWQ_KEY_HEX 32 /* hex digits of a key, without the terminating NUL */

typedef struct awq_key { uint8_t b[16]; } awq_key; /* canonical byte order (XXH128_canonical_t) */

/* Hash of a byte range. */
awq_key awq_key_of_bytes(const void *data, size_t len);
/* hex: 33 bytes (32 digits + NUL), lower case. */
void awq_key_hex(const awq_key *k, char hex[AWQ_KEY_HEX + 1]);
/* Parse exactly 32 hex digits (either case). AWQ_ERR_ARG with a message when malformed. */
awq_err awq_key_parse(awq_key *k, const char *hex);
int awq_key_equal(const awq_key *a, const awq_key *b);

/* Streaming hash (for files too big to hold): init, update..., final. */
typedef struct awq_hasher awq_hasher;
awq_hasher *awq_hasher_new(void);              /* NULL on allocation failure */
void awq_hasher_update(awq_hasher *h, const void *data, size_t len);
awq_key awq_hasher_final(awq_hasher *h);
void awq_hasher_free(awq_hasher *h);           /* NULL is a no-op */

/* Hash of a whole file (streamed). */
awq_err awq_key_of_file(awq_key *k, const char *path);

/* A recipe: "name=value" lines, sorted and newline-terminated, hashed as text.
 * The text is kept so it can be stored in the object header for people to read. */
typedef struct awq_recipe awq_recipe;
/* A recipe holding "stage=<stage>" and "algo_version=<n>". NULL on allocation failure. */
awq_recipe *awq_recipe_new(const char *stage, int algo_version);
/* Add one parameter; values are canonical text (use %.9g for floats). Names must not contain
 * '=' or '\n' and values must not contain '\n' (AWQ_ERR_ARG otherwise). Duplicate name: AWQ_ERR_ARG. */
awq_err awq_recipe_add(awq_recipe *r, const char *name, const char *value); /* r NULL: AWQ_ERR_NOMEM */
awq_err awq_recipe_addf(awq_recipe *r, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
awq_err awq_recipe_add_key(awq_recipe *r, const char *input_name, const awq_key *k); /* "input.<name>=<hex>" */
/* Sorted canonical text (owned by the recipe, valid until the next add or free) and its key.
 * Neither can fail: the text is rebuilt by each add (which reports allocation failure). r must
 * come from a successful awq_recipe_new; awq_recipe_text(NULL) is NULL. */
const char *awq_recipe_text(awq_recipe *r);
awq_key awq_recipe_key(awq_recipe *r);
void awq_recipe_free(awq_recipe *r);

#endif
