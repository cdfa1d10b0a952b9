/* list_routes.c - prints ternd's route table (src/api/api.c), "METHOD
 * PATTERN" per line, for tests/openapi/check_routes.py: the table ternd
 * serves is the source the OpenAPI document is checked against. */
#include <stdio.h>

#include "api.h"

int
main(void)
{
	const char *method, *pattern;

	for (size_t i = 0; (pattern = api_route_at(i, &method)); i++)
		printf("%s %s\n", method, pattern);
	return 0;
}
