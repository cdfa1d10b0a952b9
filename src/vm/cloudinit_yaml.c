/* cloudinit_yaml.c - the user-data check and the meta-data (see
 * cloudinit_yaml.h).  Never logs. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "cloudinit_yaml.h"
#include "util.h"

/* The next event's type; where the YAML is wrong, an error naming the
 * line and column. */
static int
ci_next(yaml_parser_t *p, yaml_event_type_t *ret, struct err *err)
{
	yaml_event_t ev;

	if (!yaml_parser_parse(p, &ev))
		return err_set(err, -EINVAL, "user-data is not valid YAML: "
		    "line %zu, column %zu: %.120s", p->problem_mark.line + 1,
		    p->problem_mark.column + 1,
		    p->problem ? p->problem : "syntax error");
	*ret = ev.type;
	yaml_event_delete(&ev);
	return 0;
}

/* Events read before the first document's root is known. */
static int
ci_root_kind(yaml_parser_t *p, yaml_event_type_t *ret, struct err *err)
{
	int r;

	for (;;) {
		yaml_event_type_t t = YAML_NO_EVENT;

		if ((r = ci_next(p, &t, err)) < 0)
			return r;
		if (t != YAML_STREAM_START_EVENT &&
		    t != YAML_DOCUMENT_START_EVENT) {
			*ret = t;
			return 0;
		}
	}
}

/* The rest of the stream parses, and holds one document at most. */
static int
ci_drain(yaml_parser_t *p, struct err *err)
{
	int r;

	for (;;) {
		yaml_event_type_t t = YAML_NO_EVENT;

		if ((r = ci_next(p, &t, err)) < 0)
			return r;
		if (t == YAML_DOCUMENT_START_EVENT)
			return err_set(err, -EINVAL, "user-data holds more "
			    "than one YAML document");
		if (t == YAML_STREAM_END_EVENT)
			return 0;
	}
}

int
ci_user_data_check(const char *buf, size_t len, struct err *err)
{
	yaml_parser_t p;
	yaml_event_type_t root = YAML_NO_EVENT;
	int r;

	if (len > CI_USER_DATA_MAX)
		return err_set(err, -E2BIG, "user-data is over %u KiB",
		    CI_USER_DATA_MAX >> 10);
	if (memchr(buf, '\0', len))
		return err_set(err, -EINVAL, "user-data is not text (it holds "
		    "a NUL byte)");
	if (!yaml_parser_initialize(&p))
		return err_set(err, -ENOMEM, "cannot read YAML");
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	r = ci_root_kind(&p, &root, err);
	if (r == 0 && root != YAML_MAPPING_START_EVENT &&
	    root != YAML_STREAM_END_EVENT)
		r = err_set(err, -EINVAL, "user-data must be a YAML mapping "
		    "(#cloud-config with keys such as users:, packages:)");
	if (r == 0 && root != YAML_STREAM_END_EVENT)
		r = ci_drain(&p, err);
	yaml_parser_delete(&p);
	return r;
}

/* An OpenSSH public key line: TYPE BASE64 [COMMENT], in characters that
 * need no escape inside a YAML double-quoted string. */
static bool
ci_key_ok(const char *k, size_t n)
{
	static const char *const types[] = { "ssh-", "ecdsa-", "sk-", NULL };
	bool typed = false;

	for (size_t i = 0; types[i]; i++)
		typed |= n > strlen(types[i]) &&
		    strncmp(k, types[i], strlen(types[i])) == 0;
	if (!typed || n > 16384 || !memchr(k, ' ', n))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)k[i] < 0x20 || k[i] == '"' ||
		    k[i] == '\\' || (unsigned char)k[i] == 0x7f)
			return false;
	return true;
}

int
ci_meta_data(const char *uuid, const char *hostname, const char *keys,
    size_t keys_len, char **ret, struct err *err)
{
	char *out = xasprintf("instance-id: %s\nlocal-hostname: %s\n", uuid,
	    hostname);
	size_t line = 0, n_keys = 0;

	if (keys_len > CI_SSH_KEYS_MAX) {
		free(out);
		return err_set(err, -E2BIG, "the SSH key file is over %u KiB",
		    CI_SSH_KEYS_MAX >> 10);
	}
	for (size_t i = 0; keys && i < keys_len; line++) {
		const char *k = keys + i, *nl = memchr(k, '\n', keys_len - i);
		size_t n = nl ? (size_t)(nl - k) : keys_len - i;
		char *next;

		i += n + 1;
		while (n > 0 && (k[n - 1] == '\r' || k[n - 1] == ' '))
			n--;
		if (n == 0 || k[0] == '#')
			continue;
		if (!ci_key_ok(k, n)) {
			free(out);
			return err_set(err, -EINVAL, "the SSH key file's line "
			    "%zu is not an OpenSSH public key (TYPE KEY "
			    "[COMMENT], such as ssh-ed25519 AAAA... you@host)",
			    line + 1);
		}
		next = xasprintf("%s%s  - \"%.*s\"\n", out, n_keys++ ? "" :
		    "public-keys:\n", (int)n, k);
		free(out);
		out = next;
	}
	*ret = out;
	return 0;
}
