/* Shared by the end-to-end tests of exstress (test_exstress*.c): run the
 * real binary and read what it wrote. */
#ifndef EXSTRESS_TESTLIB_H
#define EXSTRESS_TESTLIB_H

#include <sys/types.h>

#ifdef __SANITIZE_THREAD__
#define STACKS 0
#else
#define STACKS 1
#endif

#ifndef EXS_BIN
#error "EXS_BIN: path of build/bin/exstress"
#endif

struct run {
	int rc;
	char *json; /* NULL when no JSON was written */
	char *err;  /* stderr */
	char *out;  /* stdout */
	char csv[64];
};

/* The whole file, NUL-terminated (malloc'ed), or NULL. */
char *slurp(const char *path);
/* "require" when CI says BPF must work (FDTRACK_REQUIRE_BPF=1), else "auto". */
const char *probe_mode(void);
/* Non-zero: run() drops to this uid/gid in the child (root only). */
extern uid_t run_uid;
/* Run bin with args (NULL-terminated); fault = EXS_TEST_FAULT or NULL;
 * nofile > 0 sets RLIMIT_NOFILE; leaks = the run leaks on purpose (no
 * LeakSanitizer then). Adds --json unless args have one. */
struct run run(const char *bin, const char *fault, long nofile, int leaks,
	       const char *const *args);
void run_free(struct run *r);
/* The number right after `key` at or after the first `section`; -1 for null. */
double num_after(const char *text, const char *section, const char *key);
/* Every kind's count in the first "fd_growth" object is 0. */
void assert_no_fd_growth(const char *json);
/* A check's pass flag from the JSON checks array. */
int check_passed(const char *json, const char *name);
/* Fields of a CSV line. */
int fields(const char *line);
/* Files in dir whose name contains sub. */
int count_files(const char *dir, const char *sub);

#endif
