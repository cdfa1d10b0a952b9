/* www.c - static files of the web console (www.h).  Opens files only
 * below www-dir, by a path www_path() checked segment by segment, never
 * following a symbolic link out of it (O_NOFOLLOW on the last segment,
 * and every segment checked against '..'). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "util.h"
#include "www.h"

int
www_path(const char *url, char *out, size_t outsz)
{
	const char *p = url, *seg;
	size_t n;

	if (!url || url[0] != '/')
		return -EINVAL;
	for (const char *c = url; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f || *c == '\\')
			return -EINVAL;
	if (streq(url, "/")) {
		out[0] = '\0';
		return outsz ? 0 : -ENAMETOOLONG;
	}
	while (*p == '/') {
		seg = ++p;
		p += strcspn(p, "/");
		n = (size_t)(p - seg);
		if (n == 0 && *p)
			return -EINVAL;	/* "//" */
		if ((n == 1 && seg[0] == '.') ||
		    (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return -EINVAL;
	}
	if (strlen(url + 1) >= outsz)
		return -ENAMETOOLONG;
	strcpy(out, url + 1);
	n = strlen(out);
	if (n > 0 && out[n - 1] == '/')
		out[n - 1] = '\0';	/* a directory: its index.html */
	return 0;
}

const char *
www_content_type(const char *name)
{
	static const char *const types[][2] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".mjs", "text/javascript; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".json", "application/json" },
		{ ".map", "application/json" },
		{ ".webmanifest", "application/manifest+json" },
		{ ".svg", "image/svg+xml" },
		{ ".png", "image/png" },
		{ ".jpg", "image/jpeg" },
		{ ".ico", "image/x-icon" },
		{ ".woff2", "font/woff2" },
		{ ".woff", "font/woff" },
		{ ".txt", "text/plain; charset=utf-8" },
	};
	const char *dot = strrchr(name, '.');

	for (size_t i = 0; dot && i < ARRAY_SIZE(types); i++)
		if (streq(dot, types[i][0]))
			return types[i][1];
	return "application/octet-stream";
}

bool
www_is_route(const char *rel)
{
	const char *slash = strrchr(rel, '/');

	return !strchr(slash ? slash + 1 : rel, '.');
}

static void
www_headers(struct http_req *req, const char *rel)
{
	http_req_add_header(req, "Content-Security-Policy", "default-src "
	    "'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
	    "frame-ancestors 'none'");
	http_req_add_header(req, "X-Content-Type-Options", "nosniff");
	http_req_add_header(req, "Referrer-Policy", "no-referrer");
	http_req_add_header(req, "Cache-Control",
	    strncmp(rel, "assets/", 7) == 0 ?
	    "max-age=31536000, immutable" : "no-cache");
}

/* Open dir/rel as a regular file: fd and size, or -errno. */
static int
www_open(const char *dir, const char *rel, off_t *size)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir,
	    rel[0] ? rel : "index.html");
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd == -1)
		return -errno;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -ENOENT;
	}
	*size = st.st_size;
	return fd;
}

void
www_serve(const char *dir, struct http_req *req)
{
	char rel[1024];
	off_t size = 0;
	int fd = -1;

	if (www_path(req->url, rel, sizeof(rel)) < 0) {
		www_headers(req, "");
		api_reply_error_code(req, 400, "invalid", "bad file path "
		    "(no '..', '.', backslash or empty segments)");
		return;
	}
	fd = www_open(dir, rel, &size);
	if (fd == -ENOENT && rel[0] && www_is_route(rel)) {
		rel[0] = '\0';	/* client-side routing: index.html */
		fd = www_open(dir, rel, &size);
	}
	www_headers(req, rel);
	if (fd < 0) {
		api_reply_error_code(req, 404, "not_found", "no such file; is "
		    "the web console installed in www-dir?");
		return;
	}
	http_reply_fd(req, 200, fd, (uint64_t)size,
	    www_content_type(rel[0] ? rel : "index.html"));
}
