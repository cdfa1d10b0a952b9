/* www.h - the web console's static files (www-dir): a URL path made a
 * file name (pure: tests/unit/test_session.c), content types, security
 * and cache headers.  Never serves a file outside www-dir. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "http.h"

/* The file under www-dir for URL path url ("/", "/assets/x.js"): "" for
 * the root (index.html), the path without its leading '/' otherwise,
 * into out.  -EINVAL for a path with a ".." or "." segment, a backslash,
 * a control byte, an empty segment or none leading '/'; -ENAMETOOLONG
 * past outsz. */
int www_path(const char *url, char *out, size_t outsz);
/* Content type by the name's extension (application/octet-stream for an
 * unknown one). */
const char *www_content_type(const char *name);
/* A client-side route: no dot in the last segment (index.html serves it
 * when no such file exists). */
bool www_is_route(const char *rel);
/* Answer GET url of req from dir, with the contract's headers. */
void www_serve(const char *dir, struct http_req *req);
