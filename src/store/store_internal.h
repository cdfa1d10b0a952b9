/* store_internal.h - what the store's files share; not for other modules. */
#pragma once

#include <sqlite3.h>
#include <stdbool.h>

#include "store.h"

struct store {
	sqlite3 *db;
	int tx_depth;		/* nesting of store_begin() */
	bool tx_failed;		/* a nested level rolled back */
};

int store_sqlite_errno(int rc);
int store_exec(struct store *st, const char *sql);
/* NULL on error (a programming error in a constant statement). */
sqlite3_stmt *store_prepare(struct store *st, const char *sql);
void store_finalizep(sqlite3_stmt **s);
#define _cleanup_stmt_ __attribute__((cleanup(store_finalizep)))
/* Step a statement that returns no rows: 0 or -errno. */
int store_step_done(sqlite3_stmt *s);
char *store_col_str(sqlite3_stmt *s, int col);
void store_bind_str(sqlite3_stmt *s, int idx, const char *v);
