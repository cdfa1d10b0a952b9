/* util.h - allocation that aborts on exhaustion, cleanup attributes, time,
 * and small string helpers.  Knows nothing about VMs. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define _cleanup_(f) __attribute__((cleanup(f)))
#define TAKE_PTR(p) ({ __typeof__(p) t_ = (p); (p) = NULL; t_; })
#define TAKE_FD(fd) ({ int t_ = (fd); (fd) = -1; t_; })
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

void *xmalloc(size_t n);
void *xzalloc(size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static inline void
freep(void *p)
{
	free(*(void **)p);
}

static inline void
closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)

static inline bool
streq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/* Monotonic milliseconds: the one time type for timeouts and durations. */
uint64_t now_ms(void);
/* Wall clock in milliseconds since the epoch, for records people read. */
uint64_t wall_ms(void);
/* "2026-11-22T04:00:00.123Z" into buf (at least 32 bytes). */
const char *wall_ms_format(uint64_t ms, char *buf, size_t len);

/* A random RFC 4122 version 4 UUID in canonical text form (37 bytes). */
void uuid_generate_text(char out[37]);
bool uuid_is_valid(const char *s);
/* The 16 raw bytes of a uuid in its text form; -EINVAL if it is not. */
int uuid_parse_raw(const char *s, uint8_t out[16]);

/* A name operators give objects: 1..63 of [A-Za-z0-9._-], not starting with
 * '.' or '-'. */
bool name_is_valid(const char *s);

/* Lower-case hex of len bytes into out (2*len+1 bytes). */
void hex_encode(const uint8_t *in, size_t len, char *out);

/* A certificate fingerprint as operators write it ("sha256:" and 64 hex
 * digits, any case) into libcurl's pinned-key form "sha256//BASE64", in
 * buf of at least TLS_PIN_LEN bytes.  -EINVAL when malformed. */
#define TLS_PIN_LEN 64		/* "sha256//" + base64 of 32 bytes + NUL */
int tls_pin_from_fingerprint(const char *fingerprint, char *buf, size_t len);
