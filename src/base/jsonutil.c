/* jsonutil.c - strict JSON request reading.  Never logs. */
#include <string.h>

#include "jsonutil.h"
#include "util.h"

int
json_parse_object(const char *buf, size_t len, json_t **ret_obj,
    struct err *err)
{
	json_error_t je;
	json_t *v;

	if (len > JSON_MAX_BODY)
		return err_set(err, -E2BIG, "request body of %zu bytes is "
		    "over the limit of %d bytes", len, JSON_MAX_BODY);
	v = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!v)
		return err_set(err, -EINVAL, "malformed JSON at line %d "
		    "column %d: %s", je.line, je.column, je.text);
	if (!json_is_object(v)) {
		json_decref(v);
		return err_set(err, -EINVAL, "malformed request: expected "
		    "a JSON object");
	}
	*ret_obj = v;
	return 0;
}

/* The first member of obj not in allowed, or NULL. */
static const char *
json_unknown_field(const json_t *obj, const char *const *allowed)
{
	const char *key;
	json_t *val;

	json_object_foreach((json_t *)obj, key, val) {
		size_t i = 0;

		(void)val;
		while (allowed[i] && !streq(key, allowed[i]))
			i++;
		if (!allowed[i])
			return key;
	}
	return NULL;
}

int
json_check_fields(const json_t *obj, const char *const *allowed,
    const char *what, struct err *err)
{
	const char *key = json_unknown_field(obj, allowed);

	return key ? err_set(err, -EINVAL, "unknown field '%.64s' in %s "
	    "request", key, what) : 0;
}

int
json_check_fields_in(const json_t *obj, const char *const *allowed,
    const char *where, struct err *err)
{
	const char *key = json_unknown_field(obj, allowed);

	return key ? err_set(err, -EINVAL, "unknown field '%.64s'%s%s", key,
	    where ? " in " : "", where ? where : "") : 0;
}

int
json_get_str(const json_t *obj, const char *key, bool required,
    const char **ret, struct err *err)
{
	json_t *v = json_object_get(obj, key);

	if (!v || json_is_null(v)) {
		if (required)
			return err_set(err, -EINVAL, "missing field '%s'",
			    key);
		return 0;
	}
	if (!json_is_string(v))
		return err_set(err, -EINVAL, "field '%s' must be a string",
		    key);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return err_set(err, -EINVAL, "field '%s' contains a NUL byte",
		    key);
	*ret = json_string_value(v);
	return 0;
}

int
json_get_int(const json_t *obj, const char *key, bool required,
    int64_t min, int64_t max, int64_t *ret, struct err *err)
{
	json_t *v = json_object_get(obj, key);
	int64_t i;

	if (!v || json_is_null(v)) {
		if (required)
			return err_set(err, -EINVAL, "missing field '%s'",
			    key);
		return 0;
	}
	if (!json_is_integer(v))
		return err_set(err, -EINVAL, "field '%s' must be an integer",
		    key);
	i = json_integer_value(v);
	if (i < min || i > max)
		return err_set(err, -EINVAL, "field '%s' is %lld, must be "
		    "between %lld and %lld", key, (long long)i,
		    (long long)min, (long long)max);
	*ret = i;
	return 0;
}

int
json_get_bool(const json_t *obj, const char *key, bool *ret, struct err *err)
{
	json_t *v = json_object_get(obj, key);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return err_set(err, -EINVAL, "field '%s' must be true or "
		    "false", key);
	*ret = json_is_true(v);
	return 0;
}

char *
json_to_string(const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	return s ? s : xstrdup("null");
}
