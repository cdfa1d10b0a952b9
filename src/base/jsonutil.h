/* jsonutil.h - strict reading of JSON requests with jansson: bounded
 * parsing, unknown fields refused, typed getters that say what is wrong. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"

#define JSON_MAX_BODY (1024 * 1024)	/* largest request body accepted */

/* Parse len bytes as one JSON object.  Fails with -EINVAL (message names
 * the line and column) on malformed JSON or a non-object, -E2BIG over
 * JSON_MAX_BODY. */
int json_parse_object(const char *buf, size_t len, json_t **ret_obj,
    struct err *err);

/* Fail with -EINVAL naming the first key of obj not in the NULL-terminated
 * list allowed; what says whose field it is ("vm create"). */
int json_check_fields(const json_t *obj, const char *const *allowed,
    const char *what, struct err *err);
/* The same for a file, not a request: "unknown field 'k' in where"
 * ("disks[0]"), or without " in ..." when where is NULL. */
int json_check_fields_in(const json_t *obj, const char *const *allowed,
    const char *where, struct err *err);

/* Typed getters.  A missing key leaves *ret untouched and returns 0 unless
 * required (then -EINVAL); a key of the wrong type is -EINVAL. */
int json_get_str(const json_t *obj, const char *key, bool required,
    const char **ret, struct err *err);
int json_get_int(const json_t *obj, const char *key, bool required,
    int64_t min, int64_t max, int64_t *ret, struct err *err);
int json_get_bool(const json_t *obj, const char *key, bool *ret,
    struct err *err);

/* json_dumps() into a malloc'ed string; never NULL. */
char *json_to_string(const json_t *v);

/* jansson provides json_decrefp(). */
#define _cleanup_json_ __attribute__((cleanup(json_decrefp)))
